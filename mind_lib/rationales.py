"""The rationale row: the contract between collection (any teacher) and distillation.

One row per rationale: ``question_id, question, gold, kind, teacher, perspective, sample,
rationale, pred_answer, correct`` plus ``run`` (provenance: backend, model, sampling, seed).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Literal

from mind_lib.answers import answers_match, extract_answer
from mind_lib.io import DataError, read_jsonl
from mind_lib.tasks.base import Example

RATIONALE_FIELDS: dict[str, type | tuple[type, ...]] = {
    "question_id": str, "question": str, "gold": str, "kind": str, "teacher": str, "perspective": str,
    "sample": int, "rationale": str, "pred_answer": (str, type(None)), "correct": bool, "run": dict,
}
Keep = Literal["all", "correct"]


def make_row(example: Example, teacher: str, perspective: str, sample: int, rationale: str,
             run: dict[str, Any]) -> dict:
    """Build a rationale row, scoring the rationale's own answer against gold."""
    pred = extract_answer(rationale, example.kind)
    return {
        "question_id": example.id, "question": example.question, "gold": example.answer, "kind": example.kind,
        "teacher": teacher, "perspective": perspective, "sample": sample, "rationale": rationale,
        "pred_answer": pred, "correct": answers_match(pred, example.answer, example.kind), "run": run,
    }


def row_key(row: dict) -> tuple[str, str, str, int]:
    """What makes a row unique: a question, a teacher, one of its perspectives, a sample index."""
    return row["question_id"], row["teacher"], row["perspective"], row["sample"]


def load_rationales(path: str | Path, allow_empty: bool = False) -> list[dict]:
    """Read a rationale file, checking every row's fields and that no row is duplicated.

    An empty or whitespace-only rationale is a ``DataError`` naming the file and line: trained on, it
    would teach the student to answer without reasoning. ``allow_empty``: keep such rows (the raw
    collection log, where a teacher that wrote nothing is a fact to record, not an input to train on).
    """
    rows = read_jsonl(path, required=RATIONALE_FIELDS, nonblank=() if allow_empty else ("rationale",))
    seen: dict[tuple, int] = {}
    for i, row in enumerate(rows, start=1):
        key = row_key(row)
        if key in seen:
            raise DataError(path, i, "sample", f"duplicate of row {seen[key]} (question, teacher, perspective, sample) = {key}")
        seen[key] = i
    return rows


def filter_rows(rows: Iterable[dict], keep: Keep) -> list[dict]:
    """``keep='correct'`` drops rationales whose answer is wrong (Fine-tune-CoT's filtering)."""
    if keep not in ("all", "correct"):
        raise ValueError(f"keep must be 'all' or 'correct', got {keep!r}")
    return [r for r in rows if keep == "all" or r["correct"]]
