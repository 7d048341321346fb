"""How a question and its supervision become text, then token ids with a loss mask.

The prompt is the question followed by ``SEPARATOR``; the target (a rationale, or the answer
line alone) follows with a leading space and ends with the tokenizer's eos token. Training
and generation both use ``format_prompt``, so the student is asked exactly as it was taught.

Masking convention (the one HF models use): ``labels`` has the shape of ``input_ids``; a label
equals the input token where that token is supervised and ``IGNORE`` (-100) on the prompt, on
the first position (nothing predicts it) and on padding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

IGNORE = -100
SEPARATOR = "\nAnswer:"


def format_prompt(question: str, task: str | None = None) -> str:
    """``"[task] question\\nAnswer:"``; ``task`` is a multi-task prefix such as "[rationale]"."""
    return f"{task} {question}{SEPARATOR}" if task else f"{question}{SEPARATOR}"


def answer_text(answer: str) -> str:
    """The answer line every rationale ends with and the answer-only target: "The answer is N."."""
    return f"The answer is {answer}."


@dataclass(frozen=True)
class Tokenized:
    """One training sequence: ``input_ids`` and ``labels`` (same length), and whether the target was cut."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool

    @property
    def n_target(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def _assemble(tokenizer, prompt_ids: list[int], target_ids: list[int], max_len: int) -> Tokenized:
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    prompt = bos + prompt_ids
    target = target_ids + [tokenizer.eos_token_id]
    if len(prompt) + 1 > max_len or (not prompt and max_len < 2):
        raise ValueError(f"prompt of {len(prompt)} tokens leaves no room for a target within max_len={max_len}")
    room = max_len - len(prompt)
    truncated = len(target) > room
    target = target[:room]
    ids = prompt + target
    labels = [IGNORE] * len(prompt) + target
    labels[0] = IGNORE  # no token precedes position 0, so it is never predicted
    return Tokenized(ids, labels, truncated)


def tokenize_pairs(tokenizer, prompts: Sequence[str], targets: Sequence[str], max_len: int) -> list[Tokenized]:
    """``tokenize_example`` for many pairs at once (one batched tokenizer call per side)."""
    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos token; the student could never learn to stop")
    enc_p = tokenizer(list(prompts), add_special_tokens=False)["input_ids"] if prompts else []
    enc_t = tokenizer([" " + t for t in targets], add_special_tokens=False)["input_ids"] if targets else []
    return [_assemble(tokenizer, p, t, max_len) for p, t in zip(enc_p, enc_t)]


def tokenize_example(tokenizer, prompt: str, target: str, max_len: int) -> Tokenized:
    """``[bos] prompt target [eos]`` as ids, with ``labels`` = ids on ``target [eos]`` and -100 elsewhere.

    Prompt and target are tokenized separately, so no token straddles the boundary and the
    mask is exact. An empty prompt trains on the whole text (plain language modelling). When
    the sequence exceeds ``max_len`` the target is cut at the end (``truncated`` is set, eos is
    lost); a prompt that leaves no room for one target token is a ``ValueError``.
    """
    return tokenize_pairs(tokenizer, [prompt], [target], max_len)[0]


def pad_right(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Stack variable-length rows into a ``(B, T)`` long tensor, ``T`` = longest row, padded on the right."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out
