"""The rationale row: the contract between collection (any teacher) and distillation.

One row per rationale: ``question_id, question, gold, kind, teacher, perspective, sample,
rationale, pred_answer, correct`` plus ``run`` (provenance: backend, model, sampling, seed). The collect
stage's per-split files add ``world``: the fingerprint of the world the rows were checked against
(``tasks.base.world_fingerprint``), so that distillation refuses rows of a world regenerated since.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from mind_lib.answers import answers_match, extract_answer
from mind_lib.io import DataError, read_jsonl
from mind_lib.tasks.base import Example, world_fingerprint

RERUN_COLLECT = "rerun the collect stage (dvc repro collect, or mind notebook 01_collect_rationales)"

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


def load_rationales(path: str | Path, allow_empty: bool = False, world: str | Path | None = None) -> list[dict]:
    """Read a rationale file, checking every row's fields and that no row is duplicated.

    An empty or whitespace-only rationale is a ``DataError`` naming the file and line: trained on, it
    would teach the student to answer without reasoning. ``allow_empty``: keep such rows (the raw
    collection log, where a teacher that wrote nothing is a fact to record, not an input to train on).
    ``world``: the world folder the rows must belong to (distillation passes it; ``world_rows_check``).
    """
    seen: dict[tuple, int] = {}
    belongs = world_rows_check(path, world) if world is not None else None

    def check(row: dict, line: int) -> None:
        key = row_key(row)
        if key in seen:
            raise DataError(path, line, "sample",
                            f"duplicate of line {seen[key]} (question, teacher, perspective, sample) = {key}")
        seen[key] = line
        if belongs is not None:
            belongs(row, line)

    return read_jsonl(path, required=RATIONALE_FIELDS, nonblank=() if allow_empty else ("rationale",), check=check)


def world_rows_check(path: str | Path, world: str | Path) -> Callable[[dict, int], None]:
    """A row check (``read_jsonl``'s ``check``) that refuses rows of ``path`` made from another world than ``world``.

    A row stamped with a world fingerprint (``world``, written by the collect stage) must carry the world's
    current one. An older row without the stamp is compared with the world's example of its ``question_id``
    in the split the file is named after (``train.jsonl``: the ``train`` split), read only for such rows:
    its question text and gold answer must be the world's. The ``DataError`` names the line and the stage
    to rerun (the world was regenerated, e.g. with another seed, and the rationales were not collected again).
    """
    from mind_lib.tasks.world import load_split

    path, world = Path(path), Path(world)
    fingerprint = world_fingerprint(world)
    examples: dict[str, Example] | None = None

    def check(row: dict, line: int) -> None:
        nonlocal examples
        stamp = row.get("world")
        if stamp is not None:
            if stamp != fingerprint:
                raise DataError(path, line, "world", f"collected from another world (fingerprint {stamp!r}; "
                                                     f"{world} is now {fingerprint!r}): {RERUN_COLLECT}")
            return
        if examples is None:
            examples = {e.id: e for e in load_split(world, path.stem)}
        example = examples.get(row["question_id"])
        if example is None:
            raise DataError(path, line, "question_id", f"{row['question_id']!r} is not a question of "
                                                       f"{world / path.name}: {RERUN_COLLECT}")
        for field, value in (("question", example.question), ("gold", example.answer)):
            if row[field] != value:
                raise DataError(path, line, field, f"{_clip(row[field])} is not the world's {_clip(value)} "
                                                   f"({world / path.name}, {example.id}): {RERUN_COLLECT}")

    return check


def _clip(text: str, width: int = 60) -> str:
    """``text`` quoted, cut to ``width`` characters (a question in a one-line message)."""
    return repr(text if len(text) <= width else text[:width - 3] + "...")


def filter_rows(rows: Iterable[dict], keep: Keep) -> list[dict]:
    """``keep='correct'`` drops rationales whose answer is wrong (Fine-tune-CoT's filtering)."""
    if keep not in ("all", "correct"):
        raise ValueError(f"keep must be 'all' or 'correct', got {keep!r}")
    return [r for r in rows if keep == "all" or r["correct"]]
