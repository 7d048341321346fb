"""Build a distillation method by name: ``get_strategy(name, options)``; ``register_strategy`` adds a new one
(e.g. a MIND variant) without touching the trainer, which never names a method."""
from __future__ import annotations

from typing import Any

from mind_lib.strategies.answer_only import AnswerOnly
from mind_lib.strategies.base import Strategy
from mind_lib.strategies.dss import Dss
from mind_lib.strategies.ftcot_diverse import FtcotDiverse
from mind_lib.strategies.mcc_kd import MccKd
from mind_lib.strategies.mind import Mind
from mind_lib.strategies import options
from mind_lib.strategies.options import method_names, resolve_method
from mind_lib.strategies.std_cot import StdCot

_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Make ``cls`` available to ``get_strategy`` under ``cls.name`` (usable as a class decorator)."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"strategy name {cls.name!r} is already registered by {_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    options.OPTIONS[cls.name] = cls.Options  # distill.methods validates its options without torch
    return cls


for _cls in (AnswerOnly, StdCot, FtcotDiverse, MccKd, Dss, Mind):
    register_strategy(_cls)


def strategy_names() -> list[str]:
    return method_names()


def get_strategy(name: str, options: dict[str, Any] | None = None) -> Strategy:
    """The strategy called ``name`` with validated ``options``; unknown names list the allowed ones."""
    base, merged = resolve_method(name, options)
    strategy = _REGISTRY[base](merged)
    strategy.name = name  # logs, checkpoints and reports carry the variant's name
    return strategy
