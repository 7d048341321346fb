"""Prediction files, the data contract of the evaluate stage (docs/architecture.md): one row per question, and
a record beside each file saying what produced it, so finished files are not decoded again."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from mind_lib.io import (DataError, check_fields, file_digest, prediction_files, prediction_meta_file, read_json,
                         read_jsonl, write_json, write_jsonl)

PREDICTION_FIELDS = {"id": str, "split": str, "output": str, "pred_answer": (str, type(None)), "gold": str,
                     "correct": bool}


def save_predictions(path: str | os.PathLike, rows: Iterable[Mapping]) -> Path:
    """Write prediction rows atomically; a row missing a contract field is refused before anything is written."""
    rows = list(rows)
    for i, row in enumerate(rows, start=1):
        check_fields(row, PREDICTION_FIELDS, f"{path} (row to write)", i)
    return write_jsonl(path, rows)


def load_predictions(path: str | os.PathLike) -> list[dict]:
    """Read prediction rows; a bad row raises a ``DataError`` naming the file, line and field."""
    return read_jsonl(path, required=PREDICTION_FIELDS)


def load_prediction_tree(root: str | os.PathLike, keys: Iterable[tuple[str, int, str]] | None = None
                         ) -> dict[tuple[str, int, str], list[dict]]:
    """Every ``<root>/<method>/seed<k>/<suite>.jsonl`` as ``{(method, k, suite): rows}`` (``build_summary``'s input).

    ``keys``: only these ``(method, seed, suite)`` (e.g. the current grid's; files of other runs are left out)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no predictions folder; run the evaluate stage first")
    files = prediction_files(root)
    if keys is not None:
        wanted = set(keys)
        files = {key: path for key, path in files.items() if key in wanted}
    return {key: load_predictions(path) for key, path in files.items()}


def prediction_record(model: str, questions: str, prompt_fn: Callable[[str], str], max_new_tokens: int) -> dict:
    """What a prediction file depends on, stored beside it (``<suite>.meta.json``): ``model`` the digest of the
    student's weights (``io.folder_digest``), ``questions`` the digest of the suite's split file (``io.file_digest``),
    the prompt (its template: the prompt of the question ``{question}``) and the decoding settings. ``batch_size``
    is left out: batched greedy decoding equals one-by-one decoding (``generate_batched``), so it does not change
    the rows."""
    return {"model": model, "questions": questions, "prompt": prompt_fn("{question}"),
            "decoding": {"greedy": True, "max_new_tokens": max_new_tokens, "stop_at_answer": True}}


def predictions_finished(path: str | os.PathLike, record: Mapping) -> bool:
    """True when ``path`` holds complete predictions made as ``record`` says: its ``<suite>.meta.json`` matches
    ``record`` and the digest it recorded of the file is the file's (a file cut short by a crash, edited, or
    written by an interrupted run before its record was updated does not match)."""
    path, meta_path = Path(path), prediction_meta_file(path)
    if not (path.is_file() and meta_path.is_file()):
        return False
    try:
        meta = read_json(meta_path)
    except (DataError, OSError, UnicodeDecodeError):
        return False
    if not isinstance(meta, dict) or any(meta.get(k) != v for k, v in record.items()):
        return False
    return meta.get("predictions") == file_digest(path)


def save_prediction_file(path: str | os.PathLike, rows: Sequence[Mapping], record: Mapping) -> Path:
    """Replace the prediction file ``path`` (atomically, ``save_predictions``), then its record: ``record`` plus
    the row count and the file's digest (``predictions_finished``)."""
    path = save_predictions(path, rows)
    write_json(prediction_meta_file(path), {**record, "rows": len(rows), "predictions": file_digest(path)})
    return path

