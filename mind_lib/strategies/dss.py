"""Distilling Step-by-Step (Hsieh et al., 2023): predict the label and, as a second task, the rationale.

Each question with a golden rationale gives two items, told apart by a task prefix:
``[label] question -> The answer is N.`` and ``[rationale] question -> rationale``. The loss is
``alpha * L_label + (1 - alpha) * L_rationale``. At inference the student answers with the
``[label]`` prefix (no rationale is generated).
"""
from __future__ import annotations

from typing import Sequence


from mind_lib.formatting import answer_text, format_prompt
from mind_lib.strategies.answer_only import ANSWER_PERSPECTIVE
from mind_lib.strategies.base import Strategy, TextItem
from mind_lib.strategies.options import DssOptions
from mind_lib.strategies.std_cot import golden_rows
from mind_lib.tasks.base import Example

LABEL_TASK, RATIONALE_TASK = "[label]", "[rationale]"


class Dss(Strategy):
    """Both tasks go through the shared weighted mean: label items weigh ``2 * alpha`` and rationale
    items ``2 * (1 - alpha)``. Half of the items are of each task, so the weights average 1 and
    every batch's loss estimates ``alpha * L_label + (1 - alpha) * L_rationale`` without bias, whatever
    mix of the two tasks length-grouped batching puts into it (a batch with one item of each gives
    exactly that formula)."""

    name = "dss"
    answers_directly = True
    Options = DssOptions
    inference_task = LABEL_TASK

    def text_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        gold = golden_rows(examples, rows, self.options)
        w_label, w_rationale = 2 * self.options.alpha, 2 * (1 - self.options.alpha)
        items = []
        for e in examples:
            if e.id in gold:
                items.append(TextItem(e.id, ANSWER_PERSPECTIVE, format_prompt(e.question, LABEL_TASK),
                                      answer_text(e.answer), w_label))
                items.append(TextItem(e.id, gold[e.id]["perspective"], format_prompt(e.question, RATIONALE_TASK),
                                      gold[e.id]["rationale"], w_rationale))
        return items
