"""Each strategy's options, torch-free (TRL-style config classes), and the named variants.

The distill section validates ``distill.runs`` and ``distill.methods`` with ``validate_method`` before any
compute and without importing torch; the strategy classes (``mind_lib.strategies.<name>``) take these
models as their ``Options``.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from mind_lib.config import Section
from mind_lib.rationales import Keep
from mind_lib.styles import STYLES

class NoOptions(Section):
    """This strategy has no options."""


def validate_options(name: str, options_cls: type[Section], raw: dict[str, Any] | None) -> Section:
    """Validate a strategy's options; a ``ValueError`` names the key and what is allowed."""
    try:
        return options_cls.model_validate(raw or {})
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(options_cls.model_fields) or "none"
                lines.append(f"strategy {name!r}: unknown option {key!r}; allowed: {allowed}")
            else:
                lines.append(f"strategy {name!r}: option {key!r}: {err['msg']} (got {err.get('input')!r:.60})")
        raise ValueError("\n".join(lines)) from None


class StdCotOptions(Section):
    """Options of ``std_cot`` (and of ``dss``, which uses the same golden rationales)."""

    golden_teacher: str = Field("expert", min_length=1)
    """Teacher whose rationale is the single golden one; it must appear in the rationale rows."""
    golden_perspective: str | None = Field(None, min_length=1)
    """Instead of a teacher: the perspective (e.g. a paradigm) whose rationale is the golden one; the single-
    paradigm students ``std_cot_<paradigm>`` use it. Give this or ``golden_teacher``, not both."""
    keep: Keep = "correct"
    """Rationales used: all, or only those reaching the gold answer (a question without one is skipped)."""

    @model_validator(mode="after")
    def _one_golden_source(self):
        if self.golden_perspective is not None and "golden_teacher" in self.model_fields_set:
            raise ValueError("give golden_teacher or golden_perspective, not both")
        return self

    def golden(self) -> tuple[str, str]:
        """(row field, value) that picks the golden rationales."""
        return ("perspective", self.golden_perspective) if self.golden_perspective else ("teacher", self.golden_teacher)


class DssOptions(StdCotOptions):
    """Options of ``dss``: the golden rationale (as for ``std_cot``) and the task mix."""

    alpha: float = Field(0.5, gt=0.0, lt=1.0)
    """Weight of the label task; the rationale task gets ``1 - alpha``."""


class FtcotDiverseOptions(Section):
    """Options of ``ftcot_diverse``."""

    keep: Keep = "correct"
    """Rationales used: all, or only those reaching the gold answer (Fine-tune-CoT's filter)."""
    teachers: list[str] | None = None
    """Teachers whose rationales are used; null = all teachers in the data."""


class MccKdOptions(FtcotDiverseOptions):
    """Options of ``mcc_kd``."""

    consistency_weight: float = Field(0.1, ge=0.0, le=100.0)
    """lambda: weight of the answer-consistency term (mean bidirectional KL over a question's pairs)."""


class MindOptions(FtcotDiverseOptions):
    """Options of ``mind`` (and of its ablations and control, the same strategy with other options)."""

    beta: float = Field(0.5, ge=0.0, le=1.0)
    """Selection threshold: keep trajectories with s_k >= beta * max s (0 keeps all, 1 only the best)."""
    tau: float = Field(1.0, gt=0.0, le=1e4)
    """ListNet temperature of both distributions in the MetaNet's loss, and of the positive scores s."""
    tau_student: float = Field(0.5, gt=0.0, le=1e4)
    """Temperature of the fusion weights alpha = softmax(s / tau_student) over the selected trajectories."""
    consistency_weight: float = Field(0.1, ge=0.0, le=100.0)
    """lambda: weight of the pairwise answer-consistency (JSD) term."""
    fusion: Literal["metanet", "uniform"] = "metanet"
    """metanet: select and weight by the scores; uniform: every kept trajectory, equal alpha (no fusion)."""
    target: Literal["capability", "inverted"] = "capability"
    """capability: the MetaNet ranks low-loss trajectories first; inverted: high-loss first (the control)."""
    loss_ema: float = Field(0.5, ge=0.0, lt=1.0)
    """gamma of the long-term loss L_real (bias-corrected EMA over a pair's visits); 0 = the latest loss."""
    warmup_epochs: int = Field(1, ge=0, le=1000)
    """MetaNet passes over the training questions, alone, on the starting student's losses."""
    warmup_lr: float = Field(1e-3, gt=0.0, le=1.0)
    """Adam learning rate of the warm-up."""
    meta_lr: float = Field(2e-4, gt=0.0, le=1.0)
    """Adam learning rate of the MetaNet in the joint stage (smaller than warmup_lr: the inertia)."""
    meta_accum: int = Field(8, ge=1, le=100_000)
    """Training batches whose ListNet-KL gradients the MetaNet accumulates per step (the inertia window)."""
    meta_batch_size: int = Field(32, ge=1, le=65536)
    """Questions per warm-up step."""
    metanet_dim: int = Field(64, ge=4, le=8192)
    """Width of the MetaNet's aligned features."""
    attn_heads: int = Field(4, ge=1, le=64)
    """Heads of the synergy layer (self-attention across a question's trajectories)."""
    score_heads: int = Field(3, ge=1, le=64)
    """MLP scoring heads averaged into z."""
    synergy: bool = True
    """false: no self-attention layer (the no-synergy ablation)."""
    encoder: str = "student"
    """student: the base student's mean-pooled last-layer states; else a local AutoModel folder (e.g. BERT)."""
    probe_every: int = Field(50, ge=0, le=1_000_000)
    """Training batches between Spearman probes on held-out feedback questions; 0 = never."""
    probe_questions: int = Field(32, ge=1, le=100_000)
    """Feedback questions in the probe (the first ones with at least three trajectories)."""
    feedback_keep: Keep = "correct"
    """Which feedback rationales the probe reads."""


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


# Strategy name -> its options model; ``registry.register_strategy`` adds the options of a new strategy.
OPTIONS: dict[str, type[Section]] = {
    "answer_only": NoOptions,
    "std_cot": StdCotOptions,
    "dss": DssOptions,
    "ftcot_diverse": FtcotDiverseOptions,
    "mcc_kd": MccKdOptions,
    "mind": MindOptions,
}


def method_names() -> list[str]:
    """Every method ``distill.runs`` may name: the strategies and their variants."""
    return sorted([*OPTIONS, *VARIANTS])


def resolve_method(name: str, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """(strategy name, options) of method ``name``: a variant is its strategy with the variant's defaults,
    ``options`` on top. ``ValueError`` for an unknown name, listing the allowed ones."""
    if name in VARIANTS:
        base, defaults = VARIANTS[name]
        return base, {**defaults, **(options or {})}
    if name not in OPTIONS:
        raise ValueError(f"unknown method {name!r}; allowed: {', '.join(method_names())}")
    return name, dict(options or {})


def validate_method(name: str, options: dict[str, Any] | None = None) -> Section:
    """The validated options of method ``name`` (unknown names and bad options raise ``ValueError``)."""
    base, merged = resolve_method(name, options)
    return validate_options(name, OPTIONS[base], merged)
