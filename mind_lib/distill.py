"""The two training entry points the notebooks, the CLI and DVC call.

- ``pretrain_student``: build the embedded tiny student (tokenizer + random Llama) and pretrain it
  on the general suite (question -> answer line) and plain world text, never on rationales.
- ``distill``: train a student with one method (``mind_lib.strategies``) on rationale rows.

Both are thin: pick the items, load or build the model, call ``mind_lib.trainer.train``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Sequence

from pydantic import Field, model_validator

from mind_lib.config import Section
from mind_lib.strategies import get_strategy, strategy_names
from mind_lib.strategies.base import TextItem, build_item_set
from mind_lib.student import StudentParams, build_tiny_student, load_student, train_word_tokenizer
from mind_lib.tasks.base import Example
from mind_lib.trainer import TrainParams, train

log = logging.getLogger(__name__)
TEXT_PERSPECTIVE = "text"


class DistillParams(Section):
    """Distillation runs: the training settings shared by every method, and each method's options."""

    train: TrainParams = Field(default_factory=TrainParams)
    """Training loop settings (the same budget for every method, so they compare at equal exposure)."""
    methods: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Options per method name, e.g. ``{dss: {alpha: 0.5}}``; a method not listed uses its defaults."""

    @model_validator(mode="after")
    def _check_methods(self):
        for name, options in self.methods.items():
            get_strategy(name, options)  # unknown names and bad options fail here, before any compute
        return self


def distill(method: str, seed: int, out_dir: str | os.PathLike, *, train_examples: Sequence[Example],
            rows: Sequence[dict], student: StudentParams, params: TrainParams, options: dict[str, Any] | None = None,
            eval_examples: Sequence[Example] | None = None, eval_rows: Sequence[dict] | None = None,
            student_path: str | os.PathLike | None = None, max_steps: int | None = None,
            resume: bool = False) -> dict:
    """Distil ``method`` into the student at ``student_path`` (default ``student.path``); returns the summary.

    ``seed`` overrides ``params.seed`` (data order, dropout, LoRA init) and ``max_steps`` (if given)
    ``params.max_steps``. The eval loss is measured on ``eval_examples``/``eval_rows`` items built by
    the same method. The data are checked before the model is loaded.
    """
    from accelerate.utils import set_seed

    strategy = get_strategy(method, options)
    if not train_examples:
        raise ValueError("distill: no training questions")
    train_items = strategy.text_items(train_examples, rows)
    eval_items = strategy.feedback_items(eval_examples, eval_rows or []) if eval_examples else None
    update: dict[str, Any] = {"seed": seed} | ({"max_steps": max_steps} if max_steps is not None else {})
    params = TrainParams.model_validate(params.model_dump() | update)
    set_seed(seed)  # LoRA adapters are initialised randomly
    model, tokenizer = load_student(student_path or student.path, dtype=student.dtype, lora=student.lora)
    train_set = build_item_set(tokenizer, train_items, student.max_len)
    eval_set = build_item_set(tokenizer, eval_items, student.max_len) if eval_items else None
    log.info("distill %s seed %d: %s", method, seed, train_set.summary())
    return train(model, tokenizer, strategy, train_set, params, out_dir, eval_set=eval_set, resume=resume)


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
    answers = get_strategy("answer_only")  # its loss is the plain mean; its items are question -> answer line
    items = answers.text_items(examples, []) + [TextItem(f"text-{i}", TEXT_PERSPECTIVE, "", t)
                                                for i, t in enumerate(texts)]
    tokenizer = train_word_tokenizer([f"{it.prompt} {it.target}" for it in items] + list(vocab_texts),
                                     vocab_size=student.vocab_size, min_frequency=student.min_frequency,
                                     max_len=student.max_len)
    model = build_tiny_student(student, tokenizer)
    train_set = build_item_set(tokenizer, items, student.max_len)
    eval_set = (build_item_set(tokenizer, answers.text_items(eval_examples, []), student.max_len)
                if eval_examples else None)
    log.info("pretrain: %s", train_set.summary())
    return train(model, tokenizer, answers, train_set, params, Path(out_dir), eval_set=eval_set, resume=resume)


__all__ = ["DistillParams", "distill", "pretrain_student", "strategy_names"]
