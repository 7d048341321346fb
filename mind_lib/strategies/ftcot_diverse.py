"""Fine-tune-CoT with diverse reasoning: every kept rationale of every teacher is its own item."""
from __future__ import annotations

from typing import Sequence

from mind_lib.formatting import format_prompt
from mind_lib.rationales import Keep
from mind_lib.strategies.base import Strategy, TextItem, select_rows
from mind_lib.strategies.options import FtcotDiverseOptions
from mind_lib.tasks.base import Example


class FtcotDiverse(Strategy):
    """Uniform weights: each rationale counts as much as any other, whatever its teacher or question."""

    name = "ftcot_diverse"
    Options = FtcotDiverseOptions
    whole_questions = True  # the one batching rule of every multi-rationale method (docs/method.md §2.5)

    def text_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        return self.items_kept(examples, rows, self.options.keep)

    def items_kept(self, examples: Sequence[Example], rows: Sequence[dict], keep: Keep) -> list[TextItem]:
        """One item per rationale row of ``examples`` that passes ``keep`` (and the teacher filter)."""
        wanted = self.options.teachers
        if wanted is not None:
            present = {r["teacher"] for r in rows}
            missing = sorted(set(wanted) - present)
            if missing:
                raise ValueError(f"teachers {missing} have no rationale rows; teachers in the data: "
                                 f"{', '.join(sorted(present)) or 'none'}")
            rows = [r for r in rows if r["teacher"] in wanted]
        questions = {e.id: e.question for e in examples}
        return [TextItem(r["question_id"], r["perspective"], format_prompt(questions[r["question_id"]]), r["rationale"])
                for r in select_rows(examples, rows, keep)]
