"""What every distillation strategy shares: items, batches, the per-sequence loss, the interface.

A strategy is two small pieces the trainer calls without knowing which method it runs:

1. ``text_items(examples, rows)`` -> ``TextItem``s: which (prompt, target) pairs the student is
   trained on, with the question and perspective each comes from and a weight. Pure Python,
   testable without a model; ``build_items`` tokenizes them into an ``ItemSet``.
2. ``loss(logits, batch)`` -> ``StepLoss``: a pure function of the model's per-token logits
   and the batch. The default is the batch mean of ``weight * per_sequence_loss``.

Stateful methods (MIND's Teaching Assistant network, whose per-rationale weights multiply the
per-rationale losses) override ``forward_loss(model, batch)`` (e.g. to run their own step on
the feedback set), ``setup`` (to receive the model, the accelerator, the training and the
feedback items), ``log_row`` (their dynamics, written into the training log) and
``state_dict``/``load_state_dict`` (saved in every checkpoint). Batches carry each sequence's
question index and perspective id, so per-sequence losses can be grouped by question.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, Sequence

import torch
import torch.nn.functional as F

from mind_lib.config import Section
from mind_lib.strategies.options import NoOptions, validate_options
from mind_lib.formatting import IGNORE, format_prompt, pad_right, tokenize_pairs
from mind_lib.rationales import Keep, filter_rows
from mind_lib.tasks.base import Example


class TextItem(NamedTuple):
    """One training sequence before tokenization."""

    question_id: str
    perspective: str
    prompt: str
    target: str
    weight: float = 1.0


@dataclass(frozen=True)
class Item:
    """One tokenized training sequence. ``question`` and ``perspective`` index ``ItemSet``'s tables."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    question: int
    perspective: int
    weight: float
    n_target: int  # supervised tokens (labels != -100): the unit of the training budget
    answer_pos: int = -1  # index in input_ids of the answer value's first token; -1 = not located
    answer_len: int = 0

    def __len__(self) -> int:
        return len(self.input_ids)


@dataclass(frozen=True)
class ItemSet:
    """The items of one strategy on one set of questions, with the tables their indices point into."""

    items: list[Item]
    questions: list[str]
    perspectives: list[str]
    n_truncated: int = 0
    texts: list[tuple[str, str]] | None = None  # (prompt, target) per item, for encoders that read text

    def question_units(self) -> list[list[int]]:
        """Item indices grouped by question, in order of first appearance: the units of whole-question batches."""
        units: dict[int, list[int]] = {}
        for i, it in enumerate(self.items):
            units.setdefault(it.question, []).append(i)
        return list(units.values())

    def __len__(self) -> int:
        return len(self.items)

    def lengths(self) -> list[int]:
        return [len(it) for it in self.items]

    def target_counts(self) -> list[int]:
        return [it.n_target for it in self.items]

    def summary(self) -> dict:
        """Counts for logs and reports."""
        return {"items": len(self.items), "questions": len(self.questions), "perspectives": list(self.perspectives),
                "target_tokens": sum(self.target_counts()), "tokens": sum(self.lengths()),
                "truncated": self.n_truncated}


def build_item_set(tokenizer, text_items: Sequence[TextItem], max_len: int, answer_spans: bool = False) -> ItemSet:
    """Tokenize ``text_items``; question ids and perspectives get dense indices in order of appearance.

    ``answer_spans``: locate each target's answer value (for the answer-consistency losses, docs/method.md §2.4).
    """
    if not text_items:
        raise ValueError("no training items: the question list is empty")
    questions: dict[str, int] = {}
    perspectives: dict[str, int] = {}
    toks = tokenize_pairs(tokenizer, [t.prompt for t in text_items], [t.target for t in text_items], max_len,
                          answer_spans=answer_spans)
    items = []
    for t, tok in zip(text_items, toks):
        q = questions.setdefault(t.question_id, len(questions))
        p = perspectives.setdefault(t.perspective, len(perspectives))
        pos, n = tok.answer or (-1, 0)
        items.append(Item(tuple(tok.input_ids), tuple(tok.labels), q, p, float(t.weight), tok.n_target, pos, n))
    return ItemSet(items, list(questions), list(perspectives), sum(t.truncated for t in toks),
                   [(t.prompt, t.target) for t in text_items])


@dataclass
class Batch:
    """Right-padded sequences plus what a strategy needs to group or weight them.

    input_ids, labels: ``(B, T)`` long; labels are -100 on prompt and padding.
    question, perspective: ``(B,)`` long indices into the ``ItemSet`` tables.
    weight: ``(B,)`` float, the build-time weight of each sequence.
    answer_pos, answer_len: ``(B,)`` long, where the answer value's tokens are (-1, 0: not located).

    There is no attention mask: padding is on the right and attention is causal, so no real
    token ever attends to a pad, and leaving the mask out lets attention use its fused causal path.
    """

    input_ids: torch.Tensor
    labels: torch.Tensor
    question: torch.Tensor
    perspective: torch.Tensor
    weight: torch.Tensor
    answer_pos: torch.Tensor
    answer_len: torch.Tensor

    def to(self, device) -> "Batch":
        return Batch(**{k: v.to(device, non_blocking=True) for k, v in vars(self).items()})

    def __len__(self) -> int:
        return self.input_ids.shape[0]


def collate(items: Sequence[Item], pad_id: int) -> Batch:
    """Items -> ``Batch`` padded to the longest item (length-grouped batching keeps that short)."""
    return Batch(
        input_ids=pad_right([it.input_ids for it in items], pad_id),
        labels=pad_right([it.labels for it in items], IGNORE),
        question=torch.tensor([it.question for it in items], dtype=torch.long),
        perspective=torch.tensor([it.perspective for it in items], dtype=torch.long),
        weight=torch.tensor([it.weight for it in items], dtype=torch.float32),
        answer_pos=torch.tensor([it.answer_pos for it in items], dtype=torch.long),
        answer_len=torch.tensor([it.answer_len for it in items], dtype=torch.long),
    )


def per_sequence_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token NLL over each sequence's target tokens.

    logits: ``(B, T, V)``, position t predicts token t+1. labels: ``(B, T)``, -100 = not trained.
    Returns ``(B,)`` float32; a sequence without target tokens gets 0.
    """
    # Shift the labels, not the logits: slicing (B, T, V) logits would copy them.
    targets = F.pad(labels[:, 1:], (0, 1), value=IGNORE)
    nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                          ignore_index=IGNORE, reduction="none").view(targets.shape)
    count = (targets != IGNORE).sum(dim=1)
    return nll.sum(dim=1) / count.clamp(min=1)


def weighted_mean(per_sequence: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``mean_i(weight_i * loss_i)``: ``(B,)``, ``(B,)`` -> ``()``.

    Dividing by B (not by the weights' sum) keeps a batch's loss an unbiased estimate of the
    weighted loss over the whole item set when weights average 1 over that set.
    """
    return (weight * per_sequence).mean()


def question_rows(question: torch.Tensor) -> list[torch.Tensor]:
    """Row indices of each question in a batch, questions in order of first appearance: ``(B,)`` -> list."""
    order: dict[int, list[int]] = {}
    for row, q in enumerate(question.tolist()):
        order.setdefault(q, []).append(row)
    return [torch.tensor(rows, dtype=torch.long, device=question.device) for rows in order.values()]


def question_mean(per_question: Sequence[torch.Tensor], sizes: Sequence[int], n_sequences: int) -> torch.Tensor:
    """Batch loss of the whole-question methods: ``(1/N) sum_q |K_q| L_q`` (docs/method.md §2.5).

    ``per_question``: each question's loss ``L_q`` (scalar); ``sizes``: its number of sequences ``|K_q|`` in the
    batch; ``n_sequences``: N. A question weighs as many sequences as it holds, so a per-question mean CE gives
    exactly the plain mean over sequences.
    """
    return torch.stack([k * loss for k, loss in zip(sizes, per_question)]).sum() / n_sequences


@dataclass
class StepLoss:
    """``loss``: ``()`` the value to backpropagate; ``per_sequence``: ``(B,)`` detached, for logging."""

    loss: torch.Tensor
    per_sequence: torch.Tensor


def model_logits(model, batch: Batch) -> torch.Tensor:
    """``(B, T, V)`` logits of a causal LM for ``batch`` (no KV cache: nothing is generated)."""
    return model(input_ids=batch.input_ids, use_cache=False).logits


class RunInfo(NamedTuple):
    """What the trainer tells a strategy about the run it is set up for."""

    seed: int
    planned_steps: int
    planned_epochs: float  # passes over the training items the budget buys


def select_rows(examples: Sequence[Example], rows: Sequence[dict], keep: Keep) -> list[dict]:
    """The rationale rows of ``examples``' questions that pass ``keep``, in the order of ``rows``.

    Raises a ``ValueError`` that says how many rows there were and what removed them, when none is left.
    """
    ids = {e.id for e in examples}
    mine = [r for r in rows if r["question_id"] in ids]
    kept = filter_rows(mine, keep)
    if not kept:
        raise ValueError(f"no rationale rows left: {len(rows)} rows in, {len(mine)} for the {len(ids)} training "
                         f"questions, {len(kept)} after keep={keep!r}")
    return kept


class Strategy(ABC):
    """Base of every distillation method; see the module docstring for the contract."""

    name: ClassVar[str]
    Options: ClassVar[type[Section]] = NoOptions
    inference_task: ClassVar[str | None] = None  # task prefix of the prompt the trained student is asked with
    answers_directly: ClassVar[bool] = False  # evaluated without a rationale (a few decoded tokens per question)
    relative_cost: ClassVar[float] = 1.0  # wall time per trained token vs a plain run: the grid starts costly runs first
    whole_questions: ClassVar[bool] = False  # batches hold every item of a question (docs/method.md §2.5)
    needs_answer_span: ClassVar[bool] = False  # items locate their answer value (answer-consistency losses)

    def __init__(self, options: Section | dict[str, Any] | None = None):
        self.options = options if isinstance(options, Section) else validate_options(self.name, self.Options, options)

    def prompt(self, question: str) -> str:
        """The prompt a student trained by this strategy is evaluated with."""
        return format_prompt(question, self.inference_task)

    @abstractmethod
    def text_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        """The (prompt, target) pairs this method trains on for ``examples`` given rationale ``rows``."""

    def build_items(self, examples: Sequence[Example], rows: Sequence[dict], tokenizer, max_len: int) -> ItemSet:
        """``text_items`` tokenized."""
        return self.tokenize(tokenizer, self.text_items(examples, rows), max_len)

    def tokenize(self, tokenizer, text_items: Sequence[TextItem], max_len: int) -> ItemSet:
        """``text_items`` -> ``ItemSet``, with answer spans when this method needs them."""
        return build_item_set(tokenizer, text_items, max_len, answer_spans=self.needs_answer_span)

    def loss(self, logits: torch.Tensor, batch: Batch) -> StepLoss:
        """``(B, T, V)`` logits -> batch mean of ``weight * per_sequence_loss``."""
        per_seq = per_sequence_loss(logits, batch.labels)
        return StepLoss(weighted_mean(per_seq, batch.weight), per_seq.detach())

    def forward_loss(self, model, batch: Batch) -> StepLoss:
        """One training forward pass; override to add work around it (e.g. a meta-step)."""
        return self.loss(model_logits(model, batch), batch)

    def feedback_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        """Items of the held-out feedback/eval set (default: built like the training items)."""
        return self.text_items(examples, rows)

    def setup(self, model, accelerator, train_set: ItemSet, feedback: ItemSet | None, run: RunInfo) -> None:
        """Called once before training with the prepared model; stateless strategies need nothing."""

    def use_cache(self, folder) -> None:
        """Where to cache what the strategy computes once per data and base student (default: nothing to cache)."""

    def log_row(self) -> dict[str, Any]:
        """Extra fields for the training log (e.g. MIND's TA weights); read and reset at each log row."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must hold to resume this strategy exactly (empty when stateless)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"strategy {self.name!r} is stateless but the checkpoint holds state {sorted(state)}")


