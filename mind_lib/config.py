"""Typed params: every section of ``params.yaml`` is validated before any compute.

- Each section is a pydantic model with ``extra='forbid'`` and a docstring per field (shown by
  ``mind params --explain``); range checks are ``Field`` bounds or validators.
- Types are strict: ``n_train: yes`` or ``n_train: "5"`` is an error, not 1 or 5 (an int for a float
  field is fine, and YAML lists fill tuple fields).
- A key given twice in one mapping is an error naming the key and both lines (plain YAML keeps the
  last silently); ``1e-3`` reads as a number, as in YAML 1.2 (PyYAML alone reads it as a string).
- Any problem raises ``ValueError`` naming the file, the dotted key and what is allowed.
- ``params.yaml`` holds the default profile's values; another profile is an override file
  ``profiles/<name>.yaml`` deep-merged onto it (lists are replaced whole). ``mind exp NAME`` runs one as a
  DVC experiment (each override a ``dvc exp run -S``); ``$MIND_PROFILE`` selects one for tests and nbmake,
  which write under ``$MIND_OUT_ROOT`` (``mind_lib.stages.open_stage`` refuses anything else).
- The section models live in ``mind_lib.params.<section>`` (torch-free); a caller passes the models of the
  sections it reads, so nothing here imports them.
"""
from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

ENV_PROFILE = "MIND_PROFILE"
PROFILES_DIR = "profiles"  # beside params.yaml
DEFAULT_PROFILE = "default"  # params.yaml as it is
# the top-level sections of params.yaml (their models: mind_lib.params.<name>, pretrain: params.train)
SECTION_NAMES = ("world", "collect", "student", "pretrain", "distill", "evaluate", "latent")


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


# ----------------------------------------------------------------------------------------------
# teachers and collection


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


class _Part:
    """A section of which a stage declares only some fields (``distill.runs``): reading any other field is an
    error, so a stage cannot depend on a key its DVC stage does not list."""

    def __init__(self, name: str, section: Section, fields: tuple[str, ...]):
        self._name, self._section, self._fields = name, section, fields

    def __getattr__(self, field: str):
        if field.startswith("_") or field in self._fields:
            return getattr(self._section, field)
        raise AttributeError(f"{self._name}.{field} is not among this stage's params "
                             f"({', '.join(f'{self._name}.{f}' for f in self._fields)}); add it to the stage's "
                             f"PARAMS and to its params in dvc.yaml")


class Params:
    """The validated sections of a params file (``params.world``, ``params.collect``, ...) and its profile.
    ``keys`` (dotted, e.g. ``distill.runs``) limits a section to the named fields."""

    def __init__(self, profile: str, sections: dict[str, Section], keys: tuple[str, ...] = ()):
        self.profile = profile
        self.sections = sections
        self.parts: dict[str, tuple[str, ...]] = {}
        for key in keys:
            name, _, field = key.partition(".")
            if field:
                self.parts[name] = (*self.parts.get(name, ()), field)

    def __getattr__(self, name: str):
        sections = self.__dict__.get("sections", {})
        if name in sections:
            parts = self.__dict__.get("parts", {})
            return _Part(name, sections[name], parts[name]) if name in parts else sections[name]
        raise AttributeError(f"params have no section {name!r}; loaded: {', '.join(sections)}")

    def to_dict(self) -> dict:
        return {"profile": self.profile, **{k: v.model_dump(mode="json") for k, v in self.sections.items()}}


def _deep_merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):  # as DVC's `-S` (Hydra, merge=True) does
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _format_error(source: str, section: str, model: type[Section], err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in (section, *e["loc"]))
        if e["type"] == "extra_forbidden":
            sub = model
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


def validate_section(name: str, model: type[Section], raw: dict | None, source: str = "params.yaml") -> Section:
    """Validate one section with its ``model``; ``ValueError`` names the dotted key and what is allowed."""
    if raw is not None and not isinstance(raw, dict):
        raise ValueError(f"{source}: {name}: expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw or {})
    except ValidationError as e:
        raise ValueError(_format_error(source, name, model, e)) from None


def profile_names(params_file: str | Path) -> list[str]:
    """``default`` and every ``profiles/<name>.yaml`` beside ``params_file``."""
    folder = Path(params_file).parent / PROFILES_DIR
    return [DEFAULT_PROFILE, *sorted(p.stem for p in folder.glob("*.yaml"))]


def read_profile(params_file: str | Path, profile: str) -> dict:
    """The overrides of ``profile`` (``{}`` for ``default``); ``ValueError`` for an unknown profile."""
    if profile == DEFAULT_PROFILE:
        return {}
    path = Path(params_file).parent / PROFILES_DIR / f"{profile}.yaml"
    if not path.exists():
        raise ValueError(f"profile {profile!r}: no file {path}; profiles: {', '.join(profile_names(params_file))}")
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of sections at the top level")
    unknown = set(raw) - set(SECTION_NAMES)
    if unknown:
        raise ValueError(f"{path}: unknown section(s) {sorted(unknown)}; allowed: {', '.join(SECTION_NAMES)}")
    return raw


def resolve_raw(params_file: str | Path, profile: str | None = None) -> tuple[str, dict]:
    """(profile, params.yaml with the profile's overrides). ``profile`` argument > ``$MIND_PROFILE`` > default."""
    raw = read_yaml(params_file) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{params_file}: expected a mapping of sections at the top level")
    unknown = set(raw) - set(SECTION_NAMES)
    if unknown:
        raise ValueError(f"{params_file}: unknown section(s) {sorted(unknown)}; allowed: {', '.join(SECTION_NAMES)} "
                         f"(profiles are files in {PROFILES_DIR}/)")
    chosen = profile or os.environ.get(ENV_PROFILE) or DEFAULT_PROFILE
    return chosen, _deep_merge(raw, read_profile(params_file, chosen))


def load_params(path: str | Path | None, profile: str | None, sections: dict[str, type[Section]],
                keys: tuple[str, ...] = ()) -> Params:
    """Read ``params.yaml`` (default: the repo's), apply the profile, validate ``sections`` (name -> model).

    ``keys``: the dotted keys a stage declares (``mind_lib.stages``); a section named only through
    ``section.field`` keys is validated whole but exposes only those fields.
    """
    from mind_lib.io import find_repo_root

    path = Path(path) if path else find_repo_root() / "params.yaml"
    chosen, merged = resolve_raw(path, profile)
    validated = {name: validate_section(name, model, merged.get(name), source=str(path))
                 for name, model in sections.items()}
    return Params(chosen, validated, keys)


def explain(section: str, model: type[Section]) -> str:
    """One line per field of a section: name, type, default and its docstring (for ``mind params``)."""
    out = [f"[{section}] {model.__doc__.strip()}"]
    for name, f in model.model_fields.items():
        default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
        out.append(f"  {name} (default {default}): {f.description or ''}")
    return "\n".join(out)


def dvc_overrides(overrides: dict, prefix: str = "") -> list[str]:
    """A profile's overrides as ``dvc exp run -S`` arguments (Hydra's override grammar): one ``++key=value``
    per leaf; a list or scalar is set whole, as the deep merge does."""
    out = []
    for key, value in overrides.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.extend(dvc_overrides(value, dotted + "."))
        else:
            out.append(f"++{dotted}={_hydra(value)}")
    return out


def _hydra(value: Any) -> str:
    """``value`` in Hydra's override grammar (quoted strings, ``null``, ``[..]``, ``{k: v}``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_hydra(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot pass {value!r} as a dvc -S override")
