"""The one teacher interface: built-in styles, local HF models and HTTP endpoints all implement it; plus the two
helpers every model backend shares (``spec_kwargs``, ``derive_seed``)."""
from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Sequence

from mind_lib.tasks.base import Example
from mind_lib.tasks.world import stable_rng
from mind_lib.teachers import prompts

if TYPE_CHECKING:
    from mind_lib.config import TeacherSpec


class Teacher(ABC):
    """Writes rationales for questions.

    ``name`` identifies the teacher in rationale rows (unique per collection); ``perspective``
    labels the reasoning style it stands for (several teachers may share one).
    Implementations must be deterministic given ``seed`` where the backend allows it, so that a
    resumed collection writes the rows an uninterrupted one would have written.
    """

    name: str
    perspective: str

    @abstractmethod
    def generate(self, examples: Sequence[Example], n: int, seed: int) -> list[list[str] | None]:
        """Return ``n`` rationale texts for each example (outer list aligned with ``examples``).

        A rationale ends with a line the answer extractor understands ("The answer is X.").
        An element is ``None`` when that example could not be answered after the backend's own
        retries (e.g. an unreachable endpoint): the collector keeps every other row, reports the
        missing questions, and collects them on the next run. Raising aborts the batch; rows
        written before it are kept.
        """

    def provenance(self) -> dict[str, Any]:
        """What produced the rows (backend, model, sampling settings), stored in each row's ``run``."""
        return {"backend": type(self).__name__}


class PromptedTeacher(Teacher):
    """A model teacher (local HF model, endpoint) asked through ``mind_lib.teachers.prompts``.

    ``paradigm`` (None = plain step-by-step) selects one of the paradigm prompts. ``for_paradigm`` gives a
    shallow copy writing another paradigm: it shares the loaded model or the HTTP client, so a spec listing
    eight paradigms loads its model once.
    """

    paradigm: str | None = None

    def messages(self, example: Example) -> list[dict[str, str]]:
        """The chat messages this teacher sends for ``example``."""
        return prompts.build_messages(example, self.paradigm)

    def plain_prompt(self, example: Example) -> str:
        """The plain few-shot prompt (models without a chat template)."""
        return prompts.build_prompt(example, self.paradigm)

    def prompt_version(self) -> str:
        """The prompt's name for ``provenance`` (the paradigm's text hashed in)."""
        return prompts.prompt_version(self.paradigm)

    def seed_parts(self, seed: int) -> tuple:
        """The collection seed, plus the paradigm when there is one: each paradigm samples its own stream
        (as each built-in teacher does), while a teacher without one keeps the seeds it always had."""
        return (seed,) if self.paradigm is None else (seed, self.paradigm)

    def for_paradigm(self, name: str, paradigm: str) -> "PromptedTeacher":
        """This teacher writing ``paradigm`` under ``name``, the paradigm as its perspective."""
        prompts.prompt_version(paradigm)  # an unknown paradigm is an error naming the allowed ones
        twin = copy.copy(self)
        twin.name, twin.perspective, twin.paradigm = name, paradigm, paradigm
        return twin


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
