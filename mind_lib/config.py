"""Typed params: every section of ``params.yaml`` is validated before any compute.

- Each section is a pydantic model with ``extra='forbid'`` and a docstring per field (shown by
  ``mind params --explain``); range checks are ``Field`` bounds or validators.
- Types are strict: ``n_train: yes`` or ``n_train: "5"`` is an error, not 1 or 5 (an int for a float
  field is fine, and YAML lists fill tuple fields).
- A key given twice in one mapping is an error naming the key and both lines (plain YAML keeps the
  last silently); ``1e-3`` reads as a number, as in YAML 1.2 (PyYAML alone reads it as a string).
- Any problem raises ``ValueError`` naming the file, the dotted key and what is allowed.
- ``profile`` picks a named set of overrides from ``profiles:`` in the same file; the environment
  variable ``MIND_PROFILE`` wins over the file, so notebooks, tests and the CLI can switch to
  ``smoke`` without editing params.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ENV_PROFILE = "MIND_PROFILE"


def _is_tuple_type(annotation: Any) -> bool:
    """``tuple[...]`` or ``tuple[...] | None``."""
    if get_origin(annotation) is tuple:
        return True
    return get_origin(annotation) in (Union, UnionType) and any(get_origin(a) is tuple for a in get_args(annotation))


class Section(BaseModel):
    """Base of every params section: unknown keys are errors, field docstrings are descriptions, and types
    are strict (no bool or string read as a number: ``n_train: yes`` would otherwise train on 1 question)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, validate_default=True, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _lists_to_tuples(cls, data: Any) -> Any:
        # YAML and JSON have no tuples and strict mode accepts only a tuple for a tuple field: a list there
        # (``betas: [0.9, 0.95]``) is what the file can say, so it becomes a tuple; its items stay strict.
        if isinstance(data, dict):
            lists = {name: tuple(data[name]) for name, f in cls.model_fields.items()
                     if isinstance(data.get(name), list) and _is_tuple_type(f.annotation)}
            if lists:
                data = {**data, **lists}
        return data


# ----------------------------------------------------------------------------------------------
# world


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
    max_value: int = Field(20, ge=10, le=10_000)
    """Largest number (start, operand, intermediate, answer) in distribution."""
    ood_max_value: int = Field(30, ge=20, le=100_000)
    """Largest number of the OOD-numbers split (its start always exceeds ``max_value``) and of the general
    suite: the base student's prior covers the larger amounts, distillation data never shows them."""
    max_operand: int = Field(6, ge=2, le=1000)
    """Largest operand of + and - in distribution (x and / use factors 2..5)."""

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


# ----------------------------------------------------------------------------------------------
# teachers and collection


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
        # check theirs against their constructors when they are built (``registry.spec_kwargs``).
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


# ----------------------------------------------------------------------------------------------
# reading YAML


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names the same key twice (``line`` and ``first_line`` are 1-based)."""

    def __init__(self, key: str, line: int, first_line: int):
        super().__init__(f"line {line}: key {key!r} given twice (first at line {first_line})")
        self.key, self.line, self.first_line = key, line, first_line


# YAML 1.2 floats that PyYAML (YAML 1.1) reads as strings: an exponent without a dot or without a sign
# (``1e-3``, ``1e3``, ``2.5e4``). Strict types would refuse those strings, so they are read as numbers.
_FLOAT_12 = r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping (plain YAML keeps the last one
    silently, so an override written twice would win or lose unnoticed) and reads ``1e-3`` as a float."""

    def construct_document(self, node):
        _check_unique_keys(node, (), set())
        return super().construct_document(node)


UniqueKeyLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(_FLOAT_12),
                                      list("-+0123456789"))


def _check_unique_keys(node, where: tuple, seen_nodes: set) -> None:
    """Walk the composed document; ``where`` is the dotted path of ``node`` (for the message)."""
    if id(node) in seen_nodes:  # anchors/aliases: each node once (also guards recursive anchors)
        return
    seen_nodes.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first: dict[tuple, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *base``; overriding merged keys is allowed
                continue
            if isinstance(key_node, yaml.ScalarNode):
                ident = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                if ident in first:
                    raise DuplicateKeyError(".".join(map(str, (*where, key_node.value))), line, first[ident])
                first[ident] = line
                _check_unique_keys(value_node, (*where, key_node.value), seen_nodes)
            else:
                _check_unique_keys(value_node, (*where, "?"), seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_unique_keys(item, (*where, i), seen_nodes)


def read_yaml(path: str | Path) -> Any:
    """Parse a params file with ``UniqueKeyLoader``; ``ValueError`` names the file (and line, key)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
    except DuplicateKeyError as e:
        raise ValueError(f"{path}:{e.line}: key '{e.key}' given twice (first at line {e.first_line}); "
                         f"remove one of them") from None
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML: {e}") from None


# ----------------------------------------------------------------------------------------------
# the whole file

# Section name -> its model. Sections whose models live next to the code they configure (TRL style)
# are named "module:Class" and imported on first use, so that reading params never imports torch
# unless a stage needs those sections.
SECTIONS: dict[str, type[Section] | str] = {
    "world": WorldParams,
    "collect": CollectParams,
    "student": "mind_lib.student:StudentParams",
    "pretrain": "mind_lib.trainer:TrainParams",
    "distill": "mind_lib.distill:DistillParams",
    "evaluate": "mind_lib.evaluate:EvaluateParams",
    "latent": "mind_lib.latent:LatentParams",
}
PROFILES = ("default", "smoke", "paper", "classic", "real")


def section_model(name: str) -> type[Section]:
    """The model class of a section (imported on first use)."""
    if name not in SECTIONS:
        raise ValueError(f"unknown section {name!r}; allowed sections: {', '.join(SECTIONS)}")
    model = SECTIONS[name]
    if isinstance(model, str):
        import importlib

        module, cls = model.split(":")
        model = SECTIONS[name] = getattr(importlib.import_module(module), cls)
    return model


class Params:
    """The validated sections of a params file (``params.world``, ``params.collect``, ...) and its profile."""

    def __init__(self, profile: str, sections: dict[str, Section]):
        self.profile = profile
        self.sections = sections

    def __getattr__(self, name: str) -> Section:
        sections = self.__dict__.get("sections", {})
        if name in sections:
            return sections[name]
        raise AttributeError(f"params have no section {name!r}; loaded: {', '.join(sections)}")

    def to_dict(self) -> dict:
        return {"profile": self.profile, **{k: v.model_dump(mode="json") for k, v in self.sections.items()}}


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _format_error(source: str, section: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in (section, *e["loc"]))
        if e["type"] == "extra_forbidden":
            sub = section_model(section)
            for p in e["loc"][:-1]:  # walk into nested sections (teachers.0 -> TeacherSpec)
                if isinstance(p, str) and p in getattr(sub, "model_fields", {}):
                    ann = sub.model_fields[p].annotation
                    sub = next((a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type)
                                and issubclass(a, BaseModel)), sub)
            allowed = ", ".join(sub.model_fields)
            lines.append(f"{source}: {key}: unknown key; allowed keys: {allowed}")
        else:
            got = e.get("input")
            got_s = "" if isinstance(got, dict) else f" (got {got!r:.80})"
            lines.append(f"{source}: {key}: {e['msg']}{got_s}")
    return "\n".join(lines)


def validate_section(name: str, raw: dict | None, source: str = "params.yaml") -> Section:
    """Validate one section; ``ValueError`` names the dotted key and what is allowed."""
    if name not in SECTIONS:
        raise ValueError(f"{source}: unknown section {name!r}; allowed sections: {', '.join(SECTIONS)}")
    if raw is not None and not isinstance(raw, dict):
        raise ValueError(f"{source}: {name}: expected a mapping, got {type(raw).__name__}")
    try:
        return section_model(name).model_validate(raw or {})
    except ValidationError as e:
        raise ValueError(_format_error(source, name, e)) from None


def resolve_raw(raw: dict, profile: str | None = None, source: str = "params.yaml") -> tuple[str, dict]:
    """Apply the chosen profile's overrides to the raw params dict: returns (profile, merged dict)."""
    raw = dict(raw or {})
    profiles = raw.pop("profiles", {}) or {}
    chosen = profile or os.environ.get(ENV_PROFILE) or raw.pop("profile", "default")
    raw.pop("profile", None)
    if chosen not in PROFILES:
        raise ValueError(f"{source}: profile: {chosen!r} is not a profile; allowed: {', '.join(PROFILES)}")
    unknown_profiles = set(profiles) - set(PROFILES)
    if unknown_profiles:
        raise ValueError(f"{source}: profiles: unknown {sorted(unknown_profiles)}; allowed: {', '.join(PROFILES)}")
    if chosen != "default":
        raw = _deep_merge(raw, profiles.get(chosen) or {})
    return chosen, raw


def load_params(path: str | Path | None = None, profile: str | None = None,
                sections: tuple[str, ...] | None = None) -> Params:
    """Read ``params.yaml`` (default: the repo's), apply the profile, validate the sections.

    ``profile`` argument > ``$MIND_PROFILE`` > ``profile:`` in the file > ``default``.
    ``sections``: validate only these (default: all); a stage reads what it needs, and unknown
    top-level keys are refused either way.
    """
    from mind_lib.io import find_repo_root

    path = Path(path) if path else find_repo_root() / "params.yaml"
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of sections at the top level")
    chosen, merged = resolve_raw(raw, profile, source=str(path))
    unknown = set(merged) - set(SECTIONS)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; allowed: profile, profiles, "
                         f"{', '.join(SECTIONS)}")
    wanted = SECTIONS if sections is None else sections
    validated = {name: validate_section(name, merged.get(name), source=str(path)) for name in wanted}
    _check_across_sections(validated, merged, str(path))
    return Params(chosen, validated)


def _check_across_sections(validated: dict[str, Section], merged: dict, source: str) -> None:
    """Checks that need two sections, on the params after the profile's overrides."""
    if "evaluate" in validated:
        # the paired tests compare every method with the reference: a reference that is not trained would
        # only fail at the end of the evaluate stage, after every student was decoded
        distill = validated.get("distill") or validate_section("distill", merged.get("distill"), source)
        reference = validated["evaluate"].reference
        if reference not in distill.runs:
            raise ValueError(f"{source}: evaluate.reference: {reference!r} is not one of the configured runs "
                             f"(distill.runs): {', '.join(distill.runs)}")


def explain(section: str) -> str:
    """One line per field of a section: name, type, default and its docstring (for ``mind params``)."""
    model = section_model(section)
    out = [f"[{section}] {model.__doc__.strip()}"]
    for name, f in model.model_fields.items():
        default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
        out.append(f"  {name} (default {default}): {f.description or ''}")
    return "\n".join(out)
