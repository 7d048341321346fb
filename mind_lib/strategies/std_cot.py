"""Standard CoT distillation: one golden rationale per question, from one chosen teacher."""
from __future__ import annotations

import logging
from typing import Sequence

from pydantic import Field, model_validator

from mind_lib.config import Section
from mind_lib.formatting import format_prompt
from mind_lib.rationales import Keep
from mind_lib.strategies.base import Strategy, TextItem, select_rows
from mind_lib.tasks.base import Example

log = logging.getLogger(__name__)


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


def golden_rows(examples: Sequence[Example], rows: Sequence[dict], options: StdCotOptions) -> dict[str, dict]:
    """question id -> the golden teacher's (or perspective's) kept rationale row with the lowest sample index.

    ``ValueError`` when it has no row at all (naming the teachers or perspectives that do) or none survives ``keep``.
    """
    field, teacher = options.golden()
    keep = options.keep
    ids = {e.id for e in examples}
    teachers = sorted({r[field] for r in rows if r["question_id"] in ids})
    if teacher not in teachers:
        raise ValueError(f"golden {field} {teacher!r} has no rationale for the training questions; "
                         f"{field}s in the data: {', '.join(teachers) or 'none'}")
    chosen: dict[str, dict] = {}
    for r in select_rows(examples, [r for r in rows if r[field] == teacher], keep):
        best = chosen.get(r["question_id"])
        if best is None or r["sample"] < best["sample"]:
            chosen[r["question_id"]] = r
    if len(chosen) < len(ids):
        log.info("golden %s %r: %d of %d questions have no %srationale and are skipped", field,
                 teacher, len(ids) - len(chosen), len(ids), "correct " if keep == "correct" else "")
    return chosen


class StdCot(Strategy):
    """question -> the golden teacher's rationale (which ends with "The answer is N.")."""

    name = "std_cot"
    Options = StdCotOptions

    def text_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        gold = golden_rows(examples, rows, self.options)
        return [TextItem(e.id, gold[e.id]["perspective"], format_prompt(e.question), gold[e.id]["rationale"])
                for e in examples if e.id in gold]
