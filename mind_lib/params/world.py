"""The `world` section: the embedded reasoning world, or published rationales and public benchmarks."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mind_lib.config import Section


class RationaleSourceSpec(Section):
    """Published multi-teacher rationales (``mind_lib.tasks.rationale_files``)."""

    source: Literal["svamp_levels", "svamp_3sample"]
    """Which public layout the folder holds."""
    folder: str
    """The folder (relative paths are relative to the repository root)."""
    max_questions: int | None = Field(None, ge=1)
    """Keep only the first N questions (quick runs); null = all."""


class BenchmarkSpec(Section):
    """A public benchmark evaluated as its own suite (``mind_lib.tasks.benchmarks.load_benchmark``)."""

    name: str
    """Benchmark name (gsm8k, svamp, asdiv, multiarith, ...); also the suite's name."""
    path: str | None = None
    """Its file or folder in the original public layout; null = ``datasets.load_dataset`` (network)."""
    split: str = "test"
    """Which split of the benchmark."""
    max_examples: int | None = Field(None, ge=1)
    """Keep only the first N examples (quick runs); null = all."""


class PublicDataParams(Section):
    """Real data instead of the embedded world: training questions and their rationales from published
    rationale files, evaluation suites from public benchmarks."""

    rationales: list[RationaleSourceSpec] = Field(min_length=1)
    """Rationale sources; their questions become the train and feedback splits."""
    feedback_share: float = Field(0.1, gt=0.0, lt=1.0)
    """Share of those questions held out as the feedback split."""
    benchmarks: list[BenchmarkSpec] = Field(min_length=1)
    """Evaluation suites; questions also in the training data are removed from them (no leakage)."""
    seed: int = Field(0, ge=0)
    """Seed of the train/feedback split."""


STORY_STEPS = (1, 2)
"""Changes per general-suite story (the base student's prior); ID problems have more."""


class WorldParams(Section):
    """The data of the pipeline: the embedded reasoning world (``mind_lib.tasks.world``) or, with
    ``source: public``, published rationales and public benchmarks (``mind_lib.tasks.public``)."""

    source: Literal["world", "public"] = "world"
    """world: generate the embedded world from the fields below; public: read ``public``."""
    public: PublicDataParams | None = None
    """With ``source: public``: the files to read."""
    seed: int = Field(0, ge=0)
    """Seed of the generator; the same seed gives the same questions in every split."""
    n_train: int = Field(2000, ge=1, le=1_000_000)
    """Training questions (in distribution) for distillation."""
    n_feedback: int = Field(200, ge=1, le=100_000)
    """Held-out in-distribution questions: MIND's feedback set and the eval-loss set."""
    n_test: int = Field(400, ge=1, le=100_000)
    """Questions in each test split (ID and each OOD split)."""
    n_general_train: int = Field(3000, ge=1, le=1_000_000)
    """General-suite questions per skill used to pretrain the base student."""
    n_general_test: int = Field(200, ge=1, le=100_000)
    """General-suite test questions per skill (forgetting is measured on these)."""
    id_steps: tuple[int, int] = (3, 4)
    """Inclusive range of reasoning steps in distribution; above the general suite's stories
    (``STORY_STEPS``), so no ID problem is a pretraining story."""
    ood_steps: tuple[int, int] = (5, 6)
    """Inclusive range of steps of the OOD-steps split; must lie above ``id_steps``."""
    parse_steps: int | None = Field(None, ge=1, le=16)
    """Most changes a general-suite ``parse`` story lists (reading without computing, the prior's skill of
    finding the i-th change); null = ``id_steps`` max. Up to ``ood_steps`` max, the student has read stories as
    long as the OOD-steps problems (never one of them) and distillation has to teach it to compute them."""
    max_value: int = Field(20, ge=10, le=10_000)
    """Largest number (start, operand, intermediate, answer) in distribution."""
    ood_max_value: int = Field(30, ge=20, le=100_000)
    """Largest number of the OOD-numbers split (its start always exceeds ``max_value``) and of the general
    suite: the base student's prior covers the larger amounts, distillation data never shows them."""
    max_operand: int = Field(6, ge=2, le=1000)
    """Largest operand of + and - in distribution (x and / use factors 2..5)."""

    @property
    def parse_max(self) -> int:
        """Most changes of a general-suite ``parse`` story (``parse_steps``, or ``id_steps`` max when null)."""
        return self.id_steps[1] if self.parse_steps is None else self.parse_steps

    @model_validator(mode="after")
    def _check_ranges(self):
        if self.source == "public" and self.public is None:
            raise ValueError("world.source is 'public' but world.public is not set")
        lo, hi = self.id_steps
        if not STORY_STEPS[1] < lo <= hi <= 12:
            raise ValueError(f"id_steps must satisfy {STORY_STEPS[1]} < min <= max <= 12 (the general suite's "
                             f"stories have up to {STORY_STEPS[1]} steps), got {list(self.id_steps)}")
        olo, ohi = self.ood_steps
        if not hi < olo <= ohi <= 16:
            raise ValueError(f"ood_steps must lie above id_steps (max {hi}) and <= 16, got {list(self.ood_steps)}")
        if self.ood_max_value <= self.max_value:
            raise ValueError(f"ood_max_value ({self.ood_max_value}) must exceed max_value ({self.max_value})")
        if self.max_operand >= self.max_value:
            raise ValueError(f"max_operand ({self.max_operand}) must be below max_value ({self.max_value})")
        return self

