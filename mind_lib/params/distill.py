"""The `distill` section: which methods and seeds, their shared training settings, each method's options."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from mind_lib.config import Section

from mind_lib.params.train import TrainParams
from mind_lib.strategies.options import validate_method

# params.yaml's default runs; answer_only (the label-only baseline) is left to the paper profile because at
# equal target tokens it needs ~5x a CoT run's wall time
# The default's core comparison: the single-path baseline (formal), the best single perspective of the eight
# (Socratic, docs/lab-notes.md 2026-12-01), uniform multi-path, MCC-KD and MIND; the paper profile runs all eight.
DEFAULT_RUNS = ["std_cot_formal", "std_cot_socratic", "ftcot_diverse", "mcc_kd", "mind"]


class DistillParams(Section):
    """Distillation runs: which methods and seeds, the training settings they share, each method's options."""

    runs: list[str] = Field(default_factory=lambda: list(DEFAULT_RUNS), min_length=1)
    """Methods the distill stage trains (each once per seed), e.g. baselines, controls and MIND ablations."""
    seeds: list[Annotated[int, Field(ge=0)]] = Field(default_factory=lambda: [0], min_length=1)
    """Run seeds (data order, init of strategy state); every method runs with every seed."""
    more_seeds: dict[str, list[Annotated[int, Field(ge=0)]]] = Field(default_factory=dict)
    """Further seeds for some methods, e.g. ``{mind: [3, 4]}``: the comparison's main methods get more seeds than
    the rest (``run_pairs``); a method not among ``runs`` is not trained."""
    workers: int = Field(2, ge=1, le=64)
    """Trainings at a time, each with ``train.num_threads`` threads (tiny students: 1 thread each,
    one run per core, is faster than one run on all cores). On a GPU use 1."""
    train: TrainParams = Field(default_factory=TrainParams)
    """Training loop settings (the same budget for every method, so they compare at equal exposure)."""
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Options per method name, e.g. ``{dss: {alpha: 0.5}}``; a method not listed uses its defaults."""
    epochs_reference: str | None = None
    """With ``train.budget_epochs``: the method whose training items count the epochs, e.g. ``ftcot_diverse`` (every
    kept rationale once per epoch). Every method then trains the target tokens of that many epochs of the
    reference's items, so they still compare at equal exposure (docs/method.md §3). null = each run counts epochs of
    its own items: methods then get different token budgets (no equal exposure)."""
    launcher: Literal["inline", "accelerate"] = "inline"
    """How the distill stage runs each training: ``inline`` in this process (``workers`` at a time); ``accelerate``
    as ``accelerate launch [--config_file accelerate_config] -m mind_lib.cli distill --method M --seed S --out DIR``,
    one run after another (several GPUs, FSDP, DeepSpeed: whatever the accelerate config says)."""
    accelerate_config: str | None = None
    """With ``launcher: accelerate``: the accelerate config file (``accelerate config`` writes one), absolute or
    relative to the repository; null = accelerate's default config."""

    @model_validator(mode="after")
    def _check_methods(self):
        for name in self.runs:
            validate_method(name, self.methods.get(name))  # unknown names and bad options fail here, before any compute
        for name, options in self.methods.items():
            validate_method(name, options)
        if self.epochs_reference is not None:
            if self.train.budget_epochs is None:
                raise ValueError(f"epochs_reference is {self.epochs_reference!r} but train.budget_epochs is null; set "
                                 f"train.budget_epochs or remove epochs_reference (a token budget needs no reference)")
            validate_method(self.epochs_reference, self.methods.get(self.epochs_reference))
        if self.accelerate_config is not None and self.launcher != "accelerate":
            raise ValueError(f"accelerate_config is set ({self.accelerate_config}) but launcher is {self.launcher!r}; "
                             f"set launcher: accelerate or remove accelerate_config")
        if len(set(self.runs)) != len(self.runs) or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"runs and seeds must not repeat, got runs={self.runs} seeds={self.seeds}")
        for name, extra in self.more_seeds.items():
            validate_method(name)  # a method that exists (a typo fails); one not among the runs is not trained
            if set(extra) & set(self.seeds) or len(set(extra)) != len(extra):
                raise ValueError(f"more_seeds.{name}: {extra} repeats a seed (seeds: {self.seeds})")
        return self


def seeds_of(distill, method: str) -> list[int]:
    """The seeds ``method`` runs with: ``seeds`` and its ``more_seeds``."""
    return [*distill.seeds, *distill.more_seeds.get(method, [])]


def run_pairs(distill) -> list[tuple[str, int]]:
    """Every (method, seed) the distill stage trains, in grid order (methods, then seeds)."""
    return [(m, s) for m in distill.runs for s in seeds_of(distill, m)]

