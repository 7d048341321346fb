"""Distillation strategies behind one interface (``mind_lib.strategies.base.Strategy``).

``get_strategy(name, options)`` builds one by name; ``register_strategy`` adds a new method
(e.g. MIND) without touching the trainer, which never names a method.
"""
from __future__ import annotations

from typing import Any

from mind_lib.strategies.answer_only import AnswerOnly
from mind_lib.styles import STYLES
from mind_lib.strategies.base import Strategy
from mind_lib.strategies.dss import Dss
from mind_lib.strategies.ftcot_diverse import FtcotDiverse
from mind_lib.strategies.mcc_kd import MccKd
from mind_lib.strategies.mind import Mind
from mind_lib.strategies.std_cot import StdCot

_REGISTRY: dict[str, type[Strategy]] = {}
# Named variants: a registered strategy with other default options (the ablations and controls).
# Options given for the variant itself are applied on top of these defaults.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    # the paper's ablations and the inverted-target control (docs/method.md §2.7)
    "mind_instant": ("mind", {"loss_ema": 0.0, "warmup_epochs": 0, "meta_accum": 1, "meta_lr": 1e-3}),
    "mind_no_synergy": ("mind", {"synergy": False}),
    "mind_no_fusion": ("mind", {"fusion": "uniform"}),
    "mind_no_consistency": ("mind", {"consistency_weight": 0.0}),
    "mind_inverted": ("mind", {"target": "inverted"}),
    # single-perspective students: the paper's specialised single-paradigm students, and the classic styles
    **{f"std_cot_{p}": ("std_cot", {"golden_perspective": p}) for p in STYLES},
}


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Make ``cls`` available to ``get_strategy`` under ``cls.name`` (usable as a class decorator)."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"strategy name {cls.name!r} is already registered by {_REGISTRY[cls.name].__name__}")
    _REGISTRY[cls.name] = cls
    return cls


for _cls in (AnswerOnly, StdCot, FtcotDiverse, MccKd, Dss, Mind):
    register_strategy(_cls)


def strategy_names() -> list[str]:
    return sorted([*_REGISTRY, *VARIANTS])


def get_strategy(name: str, options: dict[str, Any] | None = None) -> Strategy:
    """The strategy called ``name`` with validated ``options``; unknown names list the allowed ones."""
    if name in VARIANTS:
        base, defaults = VARIANTS[name]
        strategy = _REGISTRY[base]({**defaults, **(options or {})})
        strategy.name = name  # logs, checkpoints and reports carry the variant's name
        return strategy
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; allowed: {', '.join(strategy_names())}")
    return _REGISTRY[name](options)


__all__ = ["Strategy", "get_strategy", "register_strategy", "strategy_names"]
