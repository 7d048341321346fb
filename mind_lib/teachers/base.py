"""The one teacher interface: built-in styles, local HF models and HTTP endpoints all implement it."""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Sequence

from mind_lib.tasks.base import Example


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
