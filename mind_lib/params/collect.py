"""The `collect` section: teachers, the judge and the difficulty filter of rationale collection."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from mind_lib.config import Section


class TeacherSpec(Section):
    """One teacher of the collection. ``backend`` selects the implementation; the other fields
    apply to the backends named in their docstrings."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    """Unique teacher id written into every rationale row."""
    backend: Literal["builtin", "hf", "openai"] = "builtin"
    """builtin: programmatic styles of the world; hf: local causal LM; openai: OpenAI-compatible endpoint."""
    perspective: str | None = None
    """Perspective label; defaults to ``style`` (builtin) or ``name``."""
    style: str | None = None
    """builtin: the reasoning style, one paradigm or classic style of ``mind_lib.styles``."""
    paradigms: list[str] | None = None
    """One teacher writing every listed paradigm (``mind_lib.styles.PARADIGMS``), one rationale per paradigm and
    question, the paradigm as perspective; rows name the teacher ``<name>.<paradigm>``. builtin: each paradigm's
    own route; hf/openai: each paradigm's prompt (``mind_lib.teachers.prompts``), one model or client shared."""
    error_rate: float | None = Field(None, ge=0.0, le=1.0)
    """builtin: probability that a step's arithmetic is wrong; null = the style's own rate (each paradigm has
    one, docs/method.md §1.2; the classic styles are error-free)."""
    slip_share: float = Field(0.5, ge=0.0, le=1.0)
    """builtin: share of wrong steps that are slips (a wrong number written, the right one carried on),
    so the rationale reaches the right answer through a wrong step."""
    path: str | None = None
    """hf: local folder of the model (``from_pretrained(path)``)."""
    model: str | None = None
    """openai: model name sent to the endpoint."""
    base_url: str | None = None
    """openai: endpoint URL (or env ``OPENAI_BASE_URL``)."""
    api_key_env: str = "OPENAI_API_KEY"
    """openai: name of the environment variable holding the key (never the key itself)."""
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    """hf/openai: sampling temperature (0 = greedy)."""
    max_new_tokens: int = Field(256, ge=1, le=8192)
    """hf/openai: generation budget per rationale."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Backend-specific extra keyword arguments (e.g. dtype, device_map, max_concurrency, timeout_s)."""

    @model_validator(mode="after")
    def _check_backend_fields(self):
        from mind_lib.styles import PARADIGMS, STYLES

        need = {"builtin": "style", "hf": "path", "openai": "model"}[self.backend]
        if self.paradigms is not None:
            if self.style is not None:
                raise ValueError(f"teacher {self.name!r}: give 'style' or 'paradigms', not both")
            if self.perspective is not None:  # each paradigm teacher's perspective is its paradigm
                raise ValueError(f"teacher {self.name!r}: give 'perspective' or 'paradigms', not both")
            bad = [p for p in self.paradigms if p not in PARADIGMS]
            if bad or not self.paradigms or len(set(self.paradigms)) != len(self.paradigms):
                raise ValueError(f"teacher {self.name!r}: paradigms must be distinct names among "
                                 f"{', '.join(PARADIGMS)}; got {self.paradigms}")
        if getattr(self, need) is None and not (self.backend == "builtin" and self.paradigms is not None):
            raise ValueError(f"teacher {self.name!r}: backend {self.backend!r} needs '{need}'")
        if self.style is not None and self.style not in STYLES:
            raise ValueError(f"teacher {self.name!r}: unknown style {self.style!r}; allowed: {', '.join(STYLES)}")
        # A builtin teacher reads no options, so any would be silently ignored; the hf and openai backends
        # check theirs against their constructors when they are built (``teachers.base.spec_kwargs``).
        if self.backend == "builtin" and self.options:
            raise ValueError(f"teacher {self.name!r}: unknown option(s) {sorted(self.options)} for backend "
                             f"'builtin'; allowed options: none (its settings are the fields style, paradigms, error_rate, "
                             f"slip_share and perspective)")
        return self


class DifficultyParams(Section):
    """The difficulty filter of the training split (``mind_lib.difficulty``, docs/method.md §1.3)."""

    n_questions: int = Field(ge=1, le=1_000_000)
    """Training questions kept (the MIND paper keeps 497); the world's train split is the pool they come from."""
    seed: int = Field(0, ge=0)
    """Seed of the draw."""


class JudgeParams(Section):
    """An LLM judge of the collected rationales (``mind_lib.judge``, docs/method.md §1.3) behind an
    OpenAI-compatible endpoint; it reads every rationale the gold check passed and may reject it."""

    backend: Literal["openai"] = "openai"
    """Where the judge runs: an OpenAI-compatible endpoint (the only backend)."""
    model: str = Field(min_length=1)
    """Model name sent to the endpoint."""
    base_url: str | None = None
    """Endpoint URL (or env ``OPENAI_BASE_URL``)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (never the key itself)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Extra keyword arguments of the endpoint client (e.g. max_new_tokens, max_concurrency, timeout_s,
    extra_body); checked when the judge is built."""


class CollectParams(Section):
    """Rationale collection (``mind_lib.collect``, notebook 01)."""

    seed: int = Field(0, ge=0)
    """Sampling seed; each (question, teacher, sample) derives its own stream from it."""
    n_per_question: int = Field(1, ge=1, le=64)
    """Rationales per question from each teacher."""
    splits: list[Literal["train", "feedback"]] = ["train", "feedback"]
    """World splits to collect rationales for (feedback rationales serve MIND's feedback loss)."""
    keep: Literal["all", "correct"] = "correct"
    """Which rationales go into the training file: all, or only those reaching the gold answer."""
    batch_size: int = Field(64, ge=1, le=100_000)
    """Questions per teacher call; each finished batch is on disk before the next starts."""
    teachers: list[TeacherSpec] = Field(default_factory=list)
    """The teachers, each its own perspective, or one per paradigm (may be empty when the data stage brings
    published rationales)."""
    difficulty: DifficultyParams | None = None
    """Keep a few hundred hard training questions (easy ones downsampled); null = every training question."""
    judge: JudgeParams | None = None
    """An LLM judge confirming the rationales the gold check passed (``mind_lib.judge``); null = the gold
    check alone (``extract_answer`` against the gold answer)."""

    @model_validator(mode="after")
    def _unique_names(self):
        names = [t.name for t in self.teachers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"teacher names must be unique, repeated: {dup}")
        return self

