"""Build a teacher from its params entry.

Backends are imported lazily: the built-in world teacher must not pull in torch/transformers or
the HTTP client, and a machine without a GPU stack can still collect from an endpoint. The registry
imports the backends, never the other way round: what backends share (``spec_kwargs``, ``derive_seed``)
lives in ``mind_lib.teachers.base``.
"""
from __future__ import annotations

from mind_lib.params.collect import TeacherSpec
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
