"""Distillation strategies behind one interface (``mind_lib.strategies.base.Strategy``).

``get_strategy(name, options)`` builds one by name; ``register_strategy`` adds a new method
(e.g. MIND) without touching the trainer, which never names a method.
"""
from __future__ import annotations

from typing import Any

from mind_lib.strategies.answer_only import AnswerOnly
from mind_lib.strategies.base import Strategy
from mind_lib.strategies.dss import Dss
from mind_lib.strategies.ftcot_diverse import FtcotDiverse
from mind_lib.strategies.std_cot import StdCot

_REGISTRY: dict[str, type[Strategy]] = {}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Make ``cls`` available to ``get_strategy`` under ``cls.name`` (usable as a class decorator)."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"strategy name {cls.name!r} is already registered by {_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (AnswerOnly, StdCot, FtcotDiverse, Dss):
    register_strategy(_cls)


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)


def get_strategy(name: str, options: dict[str, Any] | None = None) -> Strategy:
    """The strategy called ``name`` with validated ``options``; unknown names list the allowed ones."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; allowed: {', '.join(strategy_names())}")
    return _REGISTRY[name](options)


__all__ = ["Strategy", "get_strategy", "register_strategy", "strategy_names"]
