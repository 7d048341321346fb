"""The embedded tiny student's pretraining: tokenizer + random Llama, trained on the general suite (question ->
answer line) and plain world text, never on rationales."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Sequence

from mind_lib.params.student import StudentParams
from mind_lib.params.train import TrainParams
from mind_lib.strategies.answer_only import AnswerOnly
from mind_lib.strategies.base import TextItem, build_item_set
from mind_lib.student import build_tiny_student, train_word_tokenizer
from mind_lib.tasks.base import Example
from mind_lib.trainer import train

log = logging.getLogger(__name__)

TEXT_PERSPECTIVE = "text"


def general_items(examples: Sequence[Example]) -> list[TextItem]:
    """General-suite pretraining items: question -> (worked equation, if the example has one) answer line."""
    from mind_lib.formatting import answer_text, format_prompt
    from mind_lib.strategies.answer_only import ANSWER_PERSPECTIVE

    return [TextItem(e.id, ANSWER_PERSPECTIVE, format_prompt(e.question),
                     f"{e.meta['worked']} {answer_text(e.answer)}" if e.meta.get("worked") else answer_text(e.answer))
            for e in examples]


def pretrain_items(examples: Sequence[Example], texts: Sequence[str]) -> list[TextItem]:
    """What the tiny student pretrains on: the general suite's items and the plain texts (language modelling)."""
    return general_items(examples) + [TextItem(f"text-{i}", TEXT_PERSPECTIVE, "", t) for i, t in enumerate(texts)]


def pretrain_tokenizer(student: StudentParams, items: Sequence[TextItem], vocab_texts: Sequence[str] = ()):
    """The tiny student's word-level tokenizer: the words of its pretraining items and of ``vocab_texts``."""
    return train_word_tokenizer([f"{it.prompt} {it.target}" for it in items] + list(vocab_texts),
                                vocab_size=student.vocab_size, min_frequency=student.min_frequency,
                                max_len=student.max_len)


def pretrain_student(out_dir: str | os.PathLike, *, examples: Sequence[Example], texts: Sequence[str],
                     student: StudentParams, params: TrainParams, vocab_texts: Sequence[str] = (),
                     eval_examples: Sequence[Example] | None = None, resume: bool = False) -> dict:
    """Build the tiny student and pretrain it; ``out_dir`` becomes an HF folder (``from_pretrained``).

    Trained on: ``examples`` (the general suite) as question -> "The answer is N.", and ``texts``
    (plain world language, e.g. the training questions without answers) as language modelling on
    every token. ``vocab_texts`` (e.g. teacher rationales) only add words to the tokenizer's
    vocabulary, so that distillation targets are not unknown words; the model never trains on
    them here. The eval loss is measured on ``eval_examples`` (e.g. the general test split).
    """
    if student.source != "tiny":
        raise ValueError(f"student.source is {student.source!r}: the student is loaded from {student.path}, "
                         f"there is nothing to pretrain (set source: tiny for the embedded student)")
    answers = AnswerOnly()  # the plain mean loss; the items are built by general_items
    items = pretrain_items(examples, texts)
    tokenizer = pretrain_tokenizer(student, items, vocab_texts)
    model = build_tiny_student(student, tokenizer)
    train_set = build_item_set(tokenizer, items, student.max_len)
    eval_set = (build_item_set(tokenizer, general_items(eval_examples), student.max_len)
                if eval_examples else None)
    log.info("pretrain: %s", train_set.summary())
    return train(model, tokenizer, answers, train_set, params, Path(out_dir), eval_set=eval_set, resume=resume,
                 desc="pretrain")

