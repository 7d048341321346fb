"""Answer-only fine-tuning: question -> "The answer is N." (no rationale; the no-CoT baseline)."""
from __future__ import annotations

from typing import Sequence

from mind_lib.formatting import answer_text, format_prompt
from mind_lib.strategies.base import Strategy, TextItem
from mind_lib.tasks.base import Example

ANSWER_PERSPECTIVE = "answer"


class AnswerOnly(Strategy):
    """One item per question; rationale rows are ignored."""

    name = "answer_only"
    answers_directly = True

    def text_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        return [TextItem(e.id, ANSWER_PERSPECTIVE, format_prompt(e.question), answer_text(e.answer))
                for e in examples]
