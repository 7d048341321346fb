"""Build a teacher from its params entry, plus the two helpers every model backend shares.

Backends are imported lazily: the built-in world teacher must not pull in torch/transformers or
the HTTP client, and a machine without a GPU stack can still collect from an endpoint.
"""
from __future__ import annotations

import inspect
from typing import Any

from mind_lib.params.collect import TeacherSpec
from mind_lib.tasks.world import stable_rng
from mind_lib.teachers.base import Teacher


def build_teachers(spec: TeacherSpec) -> list[Teacher]:
    """The teachers a ``collect.teachers`` entry describes: one, or one per paradigm when it lists ``paradigms``,
    named ``<name>.<paradigm>`` with the paradigm as perspective.

    A model backend is built once (one model load, one HTTP client) and copied per paradigm, each copy asking
    with its paradigm's prompt (``mind_lib.teachers.prompts.PARADIGM_INSTRUCTIONS``).
    """
    if spec.paradigms is None:
        return [build_teacher(spec)]
    if spec.backend == "builtin":
        from mind_lib.teachers.builtin import BuiltinTeacher
        return BuiltinTeacher.paradigm_teachers(spec)
    base = build_teacher(spec)
    return [base.for_paradigm(f"{spec.name}.{p}", p) for p in spec.paradigms]


def build_teacher(spec: TeacherSpec) -> Teacher:
    """The teacher a ``collect.teachers`` entry describes, dispatching on ``spec.backend``."""
    if spec.backend == "builtin":
        from mind_lib.teachers.builtin import BuiltinTeacher
        return BuiltinTeacher.from_spec(spec)
    if spec.backend == "hf":
        from mind_lib.teachers.hf import HFTeacher
        return HFTeacher.from_spec(spec)
    if spec.backend == "openai":
        from mind_lib.teachers.openai_compat import OpenAICompatTeacher
        return OpenAICompatTeacher.from_spec(spec)
    raise ValueError(f"teacher {spec.name!r}: unknown backend {spec.backend!r}; allowed: builtin, hf, openai")


def spec_kwargs(spec: TeacherSpec, cls: type, **from_fields: Any) -> dict[str, Any]:
    """Constructor keywords for ``cls``: values taken from ``spec``'s typed fields plus ``spec.options``.

    ``options`` is a free dict in params, so a typo there would otherwise be silently ignored or
    surface as a bare ``TypeError``; here an unknown option, or one that shadows a typed field
    (e.g. ``options.temperature``), is a ``ValueError`` naming the teacher and what is allowed.
    """
    params = inspect.signature(cls.__init__).parameters
    allowed = sorted(n for n, p in params.items() if p.kind is p.KEYWORD_ONLY and n not in from_fields)
    unknown = sorted(set(spec.options) - set(allowed))
    if unknown:
        raise ValueError(f"teacher {spec.name!r}: unknown option(s) {unknown} for backend {spec.backend!r}; "
                         f"allowed options: {', '.join(allowed)}")
    return {**from_fields, **spec.options}


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from ``parts`` (base seed, question ids, round, ...), the same in every process.

    Built on the world's ``stable_rng`` (a SHA-256 of the parts, not Python's salted ``hash``), so a
    resumed collection asks for the same samples; 31 bits fit every backend's seed field.
    """
    return stable_rng("teacher-seed", *parts).getrandbits(31)
