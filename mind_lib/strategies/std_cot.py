"""Standard CoT distillation: one golden rationale per question, from one chosen teacher."""
from __future__ import annotations

import logging
from typing import Sequence

from mind_lib.formatting import format_prompt
from mind_lib.strategies.base import Strategy, TextItem, select_rows
from mind_lib.strategies.options import StdCotOptions
from mind_lib.tasks.base import Example

log = logging.getLogger(__name__)


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
