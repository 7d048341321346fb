"""How a question and its supervision become text, then token ids with a loss mask.

The prompt is the question followed by ``SEPARATOR``; the target (a rationale, or the answer
line alone) follows with a leading space and ends with the tokenizer's eos token. Training
and generation both use ``format_prompt``, so the student is asked exactly as it was taught.
A tokenizer with a chat template (an instruct student) wraps the same texts as a conversation
instead: the prompt is the user turn, the target the assistant turn (``chat_text``).

This module owns two facts the rest of the library imports rather than restates: the answer line
(``ANSWER_PREFIX``, ``answer_text``: the built-in teachers write it, the model teachers' prompts ask for it)
and how a prompt becomes ids (``prompt_ids``: ``[bos] + prompt``, or the chat template's rendering of it as a user
turn, used by training, generation and the latent read-outs). It is torch-free at import (``pad_right`` imports
torch when called), so the built-in teachers can use it without pulling in torch.

Masking convention (the one HF models use): ``labels`` has the shape of ``input_ids``; a label
equals the input token where that token is supervised and ``IGNORE`` (-100) on the prompt, on
the first position (nothing predicts it) and on padding.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    import torch

IGNORE = -100
SEPARATOR = "\nAnswer:"
ANSWER_PREFIX = "The answer is"
"""How the answer line starts (``answer_text``); readers of model output match it loosely (any case, spacing)."""


def format_prompt(question: str, task: str | None = None) -> str:
    """``"[task] question\\nAnswer:"``; ``task`` is a multi-task prefix such as "[rationale]"."""
    return f"{task} {question}{SEPARATOR}" if task else f"{question}{SEPARATOR}"


def answer_text(answer: str) -> str:
    """The answer line every rationale ends with and the answer-only target: "The answer is N."."""
    return f"{ANSWER_PREFIX} {answer}."


# The value of the last answer line ("The answer is 12."), or else the last number of a text; digits may be
# spaced by a word-level tokenizer ("1 2"). Read by ``answer_char_span`` for the answer-consistency losses.
_ANSWER_VALUE = re.compile(r"answer is\s+(-?\d+(?:[ .,/]?\d+)*)", re.IGNORECASE)
_LAST_NUMBER = re.compile(r"-?\d+(?:[.,/]?\d+)*")


def answer_char_span(target: str) -> tuple[int, int] | None:
    """Character span ``[start, end)`` of the answer value a target commits to: the number after the last
    "answer is", else the last number of the text; None when the target holds no number."""
    found = list(_ANSWER_VALUE.finditer(target))
    if found:
        return found[-1].span(1)
    numbers = list(_LAST_NUMBER.finditer(target))
    return numbers[-1].span() if numbers else None


@dataclass(frozen=True)
class Tokenized:
    """One training sequence: ``input_ids`` and ``labels`` (same length), and whether the target was cut."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool
    answer: tuple[int, int] | None = None  # (index in input_ids of the answer value's first token, its token count)

    @property
    def n_target(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def has_chat_template(tokenizer) -> bool:
    """Whether prompts to this tokenizer's model go through its chat template (``chat_text``)."""
    return bool(getattr(tokenizer, "chat_template", None))


def chat_text(tokenizer, messages: Sequence[dict[str, str]], generation_prompt: bool = True) -> str:
    """``messages`` rendered by the tokenizer's chat template, for teachers and students alike; with
    ``generation_prompt`` it ends where the assistant's reply starts. The text holds the template's own special
    tokens (bos included where the template writes one): encode it with ``add_special_tokens=False``."""
    return tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation_prompt)


def _chat_prompts(tokenizer, prompts: Sequence[str]) -> list[str]:
    return [chat_text(tokenizer, [{"role": "user", "content": p}]) for p in prompts]


def prompt_ids(tokenizer, prompts: Sequence[str]) -> list[list[int]]:
    """Token ids of each prompt as the student reads it, in training and generation alike: ``[bos] + prompt``
    (bos when the tokenizer has one), the text encoded without the tokenizer's own special tokens; with a chat
    template (``has_chat_template``), the prompt as a user turn followed by the assistant's opening."""
    if has_chat_template(tokenizer):
        return tokenizer(_chat_prompts(tokenizer, prompts), add_special_tokens=False)["input_ids"] if prompts else []
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    enc = tokenizer(list(prompts), add_special_tokens=False)["input_ids"] if prompts else []
    return [bos + ids for ids in enc]


def _replies(tokenizer, prompts: Sequence[str], targets: Sequence[str]) -> tuple[list[str], list[int]]:
    """The text that follows each prompt in training, and where the target starts in it.

    Plain: " " + target. Chat template: the assistant turn as the template renders it after the prompt's user turn
    (the target, then the template's end of turn; trailing whitespace dropped), so the loss covers exactly the
    assistant's part and the student learns to close its turn as the template does."""
    if not has_chat_template(tokenizer):
        return [" " + t for t in targets], [1] * len(targets)
    replies, starts = [], []
    for p, head, t in zip(prompts, _chat_prompts(tokenizer, prompts), targets):
        whole = chat_text(tokenizer, [{"role": "user", "content": p}, {"role": "assistant", "content": t}],
                          generation_prompt=False)
        if not whole.startswith(head):
            raise ValueError("the student's chat template does not render a conversation as its prompt (user turn "
                             "and generation prompt) followed by the reply, so the reply cannot be trained alone; "
                             "set student.chat_template: false to use the plain prompt")
        reply = whole[len(head):].rstrip()
        replies.append(reply)
        starts.append(reply.find(t))
    return replies, starts


def _assemble(tokenizer, prompt: list[int], target_ids: list[int], max_len: int,
              answer: tuple[int, int] | None = None, eos_if_missing: bool = False) -> Tokenized:
    """``prompt`` (ids, bos included: ``prompt_ids``) and the target's ids -> one ``Tokenized``; eos is appended
    (``eos_if_missing``: only if the target does not end with it already, as a chat turn may)."""
    eos = tokenizer.eos_token_id
    target = target_ids if eos_if_missing and target_ids[-1:] == [eos] else target_ids + [eos]
    if len(prompt) + 1 > max_len or (not prompt and max_len < 2):
        raise ValueError(f"prompt of {len(prompt)} tokens leaves no room for a target within max_len={max_len}")
    room = max_len - len(prompt)
    truncated = len(target) > room
    target = target[:room]
    ids = prompt + target
    labels = [IGNORE] * len(prompt) + target
    labels[0] = IGNORE  # no token precedes position 0, so it is never predicted
    if answer is not None:  # target-relative token span -> input_ids span; a span cut by max_len is dropped
        start = len(prompt) + answer[0]
        answer = (start, answer[1]) if start + answer[1] <= len(prompt) + len(target) and start >= 1 else None
    return Tokenized(ids, labels, truncated, answer)


def _token_span(offsets: Sequence[tuple[int, int]], span: tuple[int, int] | None) -> tuple[int, int] | None:
    """Tokens whose character offsets overlap ``span`` -> (first token index, count); None when none do."""
    if span is None:
        return None
    hit = [i for i, (a, b) in enumerate(offsets) if a < span[1] and b > span[0] and b > a]
    return (hit[0], hit[-1] - hit[0] + 1) if hit else None


def tokenize_pairs(tokenizer, prompts: Sequence[str], targets: Sequence[str], max_len: int,
                   answer_spans: bool = False) -> list[Tokenized]:
    """``tokenize_example`` for many pairs at once (one batched tokenizer call per side).

    ``answer_spans``: also locate each target's answer value (``answer_char_span``) in tokens, through the
    tokenizer's character offsets (a fast tokenizer is needed); ``Tokenized.answer`` is None where none is found.
    """
    if len(prompts) != len(targets):
        raise ValueError(f"{len(prompts)} prompts but {len(targets)} targets")
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos token; the student could never learn to stop")
    enc_p = prompt_ids(tokenizer, prompts)
    texts, starts = _replies(tokenizer, prompts, targets)
    chat = has_chat_template(tokenizer)
    if not answer_spans or not targets:
        enc_t = tokenizer(texts, add_special_tokens=False)["input_ids"] if targets else []
        return [_assemble(tokenizer, p, t, max_len, eos_if_missing=chat) for p, t in zip(enc_p, enc_t)]
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("answer spans need a fast tokenizer (character offsets); this one is not")
    enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
    spans = []
    for offsets, target, start in zip(enc["offset_mapping"], targets, starts):
        span = answer_char_span(target) if start >= 0 else None  # in ``target``, which starts at ``start``
        spans.append(_token_span(offsets, (span[0] + start, span[1] + start) if span else None))
    return [_assemble(tokenizer, p, t, max_len, s, eos_if_missing=chat)
            for p, t, s in zip(enc_p, enc["input_ids"], spans)]


def tokenize_example(tokenizer, prompt: str, target: str, max_len: int) -> Tokenized:
    """``[bos] prompt target [eos]`` as ids, with ``labels`` = ids on ``target [eos]`` and -100 elsewhere (with a
    chat template: the user turn, then the assistant turn, labelled; ``prompt_ids``, ``_replies``).

    Prompt and target are tokenized separately, so no token straddles the boundary and the
    mask is exact. An empty prompt trains on the whole text (plain language modelling). When
    the sequence exceeds ``max_len`` the target is cut at the end (``truncated`` is set, eos is
    lost); a prompt that leaves no room for one target token is a ``ValueError``.
    """
    return tokenize_pairs(tokenizer, [prompt], [target], max_len)[0]


def pad_right(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    """Stack variable-length rows into a ``(B, T)`` long tensor, ``T`` = longest row, padded on the right."""
    import torch

    out = torch.full((len(seqs), max(len(s) for s in seqs)), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out
