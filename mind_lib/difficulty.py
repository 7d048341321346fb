"""The paper's difficulty filter (docs/method.md §1.3): easy questions downsampled, hard ones kept.

Difficulty **(ours)**: ``d(q)`` = the number of the teacher's trajectories for q that the judge dropped (wrong
answer) + the number of steps beyond the fewest in the split. A question needs at least two surviving
trajectories (something to rank and fuse); among those, ``n_questions`` are drawn without replacement with
probability proportional to ``1 + d`` (Efraimidis-Spirakis keys ``u ** (1 / w)``, seeded): every difficulty
stays represented, hard questions are kept far more often than easy ones.
"""
from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from mind_lib.tasks.base import Example


def question_difficulty(examples: Sequence[Example], rows: Sequence[dict]) -> dict[str, dict]:
    """Per question id: ``failed`` (dropped trajectories), ``steps``, ``survivors``, ``difficulty``."""
    steps = {e.id: len(e.meta.get("steps", ())) for e in examples}
    fewest = min(steps.values(), default=0)
    out = {qid: {"failed": 0, "survivors": 0, "steps": n, "difficulty": n - fewest} for qid, n in steps.items()}
    for r in rows:
        entry = out.get(r["question_id"])
        if entry is None:
            continue
        if r["correct"]:
            entry["survivors"] += 1
        else:
            entry["failed"] += 1
            entry["difficulty"] += 1
    return out


def select_questions(difficulty: dict[str, dict], n_questions: int, seed: int) -> list[str]:
    """``n_questions`` ids drawn with probability proportional to ``1 + difficulty`` among those with >= 2
    survivors (all of them when fewer), in the order of ``difficulty``'s keys."""
    eligible = [q for q, d in difficulty.items() if d["survivors"] >= 2]
    if len(eligible) <= n_questions:
        return eligible
    weights = np.array([1.0 + difficulty[q]["difficulty"] for q in eligible])
    keys = np.random.default_rng([seed, 18]).random(len(eligible)) ** (1.0 / weights)
    chosen = set(np.argsort(-keys, kind="stable")[:n_questions].tolist())
    return [q for i, q in enumerate(eligible) if i in chosen]


def difficulty_histogram(difficulty: dict[str, dict], ids: Sequence[str] | None = None) -> dict[int, int]:
    """Questions per difficulty value (of ``ids``, or of all)."""
    chosen = difficulty if ids is None else {q: difficulty[q] for q in ids}
    return dict(sorted(Counter(d["difficulty"] for d in chosen.values()).items()))
