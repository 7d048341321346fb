"""Power of the pre-registered comparison (docs/method.md §6): the smallest OOD difference it detects.

Reads a multi-seed prediction tree (default: the committed ``reports/predictions``) and, for the reference method
(MIND) against each control that ran with the same seeds, splits the variance of the OOD-pooled difference into
its two sources:

- training randomness: the variance over seeds of the per-seed difference d_s (the same questions every seed);
- question sampling: the variance over questions of the seed-mean difference, divided by the number of questions.

With S seeds and n questions the difference's standard error is about sqrt(var_seed / S + var_question / n), and
the smallest difference detected at 80% power by a two-sided test at alpha 0.05 is (1.96 + 0.84) x SE. Printed for
several S; the last stdout line is one JSON object.

    python benchmarks/power.py [--predictions reports/predictions] [--reference mind] [--seeds 3 5 10]
        [--questions N]   (the planned number of OOD questions; default: the measured run's)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mind_lib.predictions import load_prediction_tree  # noqa: E402
from mind_lib.tasks.world import SPLITS_OOD  # noqa: E402

Z = 1.96 + 0.8416  # two-sided alpha 0.05, power 0.8


def per_seed_correct(tree, method: str) -> dict[int, dict[str, bool]]:
    """seed -> {question id: correct} over the OOD splits pooled."""
    out: dict[int, dict[str, bool]] = {}
    for (m, seed, suite), rows in tree.items():
        if m == method and suite in SPLITS_OOD:
            out.setdefault(seed, {}).update({r["id"]: bool(r["correct"]) for r in rows})
    return out


def variance_parts(ref: dict, other: dict) -> dict | None:
    seeds = sorted(set(ref) & set(other))
    if len(seeds) < 2:
        return None
    ids = sorted(set.intersection(*(set(ref[s]) & set(other[s]) for s in seeds)))
    diff = np.array([[ref[s][q] - other[s][q] for q in ids] for s in seeds], dtype=float)  # (S, n)
    return {"seeds": len(seeds), "questions": len(ids), "diff": float(diff.mean()),
            "var_seed": float(diff.mean(axis=1).var(ddof=1)), "var_question": float(diff.mean(axis=0).var(ddof=1))}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--predictions", default=str(ROOT / "reports" / "predictions"))
    p.add_argument("--reference", default="mind")
    p.add_argument("--seeds", type=int, nargs="+", default=[3, 5, 10])
    p.add_argument("--questions", type=int, default=None, help="planned OOD questions (paper profile: 4 x 500)")
    args = p.parse_args(argv)
    tree = load_prediction_tree(args.predictions)
    ref = per_seed_correct(tree, args.reference)
    rows = {}
    for method in sorted({m for m, _, _ in tree} - {args.reference}):
        parts = variance_parts(ref, per_seed_correct(tree, method))
        if parts:
            n = args.questions or parts["questions"]
            parts["mde"] = {s: round(Z * float(np.sqrt(parts["var_seed"] / s + parts["var_question"] / n)), 4)
                            for s in args.seeds}
            parts["planned_questions"] = n
            rows[method] = parts
    print(f"| {args.reference} vs | seeds | questions | diff | sd over seeds | " +
          " | ".join(f"MDE at {s} seeds" for s in args.seeds) + " |")
    print("|---|---|---|---|---|" + "---|" * len(args.seeds))
    for method, r in rows.items():
        print(f"| {method} | {r['seeds']} | {r['questions']} | {100 * r['diff']:+.1f} | {100 * np.sqrt(r['var_seed']):.1f} | "
              + " | ".join(f"{100 * r['mde'][s]:.1f}" for s in args.seeds) + " |")
    print(json.dumps({"reference": args.reference, "controls": rows}))


if __name__ == "__main__":
    main()
