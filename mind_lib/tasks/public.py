"""Real data for the pipeline (``world.source: public``): published rationales and public benchmarks.

The data stage writes the same files as for the embedded world, so every later stage runs unchanged:
``train.jsonl`` / ``feedback.jsonl`` (the rationale files' questions, split by a seeded shuffle),
one ``<benchmark>.jsonl`` per evaluation suite, and ``rationales.jsonl``, the published rationale rows,
which the collect stage adds to what its own teachers write. Benchmark questions that also occur in
the training data (SVAMP's do: the rationale files are SVAMP's training questions) are removed from
the suite, so no test question was trained on.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

from mind_lib.params.world import PublicDataParams
from mind_lib.io import resolve_path, write_jsonl
from mind_lib.tasks.base import Example, save_examples, write_manifest
from mind_lib.tasks.benchmarks import load_benchmark
from mind_lib.tasks.rationale_files import load_public_rationales

RATIONALES_FILE = "rationales.jsonl"


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def build_public_data(cfg: PublicDataParams, root: Path) -> tuple[dict[str, list[Example]], list[dict]]:
    """(splits, rationale rows): ``train``/``feedback`` from the rationale sources, one split per benchmark."""
    examples: dict[str, Example] = {}
    rows: list[dict] = []
    for spec in cfg.rationales:
        found = load_public_rationales(spec.source, resolve_path(root, spec.folder))
        kept = found.examples[:spec.max_questions] if spec.max_questions else found.examples
        ids = {e.id for e in kept}
        examples.update({e.id: e for e in kept})
        rows += [r for r in found.rows if r["question_id"] in ids]
    order = sorted(examples)
    random.Random(cfg.seed).shuffle(order)
    n_feedback = max(1, round(cfg.feedback_share * len(order)))
    split_of = {qid: ("feedback" if i < n_feedback else "train") for i, qid in enumerate(order)}
    splits: dict[str, list[Example]] = {"train": [], "feedback": []}
    for qid in sorted(examples):
        e = examples[qid]
        splits[split_of[qid]].append(Example(e.id, e.question, e.answer, e.kind, split_of[qid], e.meta))
    trained = {_norm(e.question) for e in examples.values()}
    for bench in cfg.benchmarks:
        if bench.name in splits:
            raise ValueError(f"benchmark name {bench.name!r} clashes with a split name")
        path = resolve_path(root, bench.path) if bench.path is not None else None  # None: datasets.load_dataset
        suite = [e for e in load_benchmark(bench.name, path, bench.split) if _norm(e.question) not in trained]
        splits[bench.name] = suite[:bench.max_examples] if bench.max_examples else suite
    return splits, rows


def save_public_data(splits: dict[str, list[Example]], rows: list[dict], folder: Path) -> dict[str, int]:
    """Write the splits, the rationale rows and the manifest (counts and the data's fingerprint, ``write_manifest``)."""
    folder = Path(folder)
    counts = {}
    for name, exs in splits.items():
        save_examples(folder / f"{name}.jsonl", exs)
        counts[name] = len(exs)
    write_jsonl(folder / RATIONALES_FILE, rows)
    counts["rationale_rows"] = len(rows)
    write_manifest(folder, counts)
    return counts
