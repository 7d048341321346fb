"""Pool the predictions of several output roots (e.g. the pipeline's seed 0 and a clone that ran seeds 1-2 from
the same world, rationales and base student) into one summary: per-method accuracy with seed sd, paired tests
over (question, seed), and the report's table and findings.

    python benchmarks/pool_seeds.py ROOT [ROOT ...] [--methods m1,m2] [--reference mind] [--out table.md]

Each ROOT holds ``reports/predictions/<method>/seed<k>/<suite>.jsonl``; a (method, seed) found in two roots is
an error (it would count one run twice). The base student is taken from the first root that has it. The last
stdout line is one JSON object: per method, the per-seed ID / OOD mean / general accuracies and the paired
differences against the reference.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from mind_lib import report, tables
from mind_lib.predictions import load_prediction_tree
from mind_lib.io import Paths
from mind_lib.stats import BASE_METHOD, build_summary


def pooled_tree(roots: list[Path], methods: set[str] | None) -> dict:
    """Every root's predictions in one tree; the base student once; a duplicated (method, seed) raises."""
    tree: dict = {}
    for root in roots:
        for (method, seed, suite), rows in load_prediction_tree(Paths(root).predictions).items():
            if methods and method not in methods and method != BASE_METHOD:
                continue
            key = (method, seed, suite)
            if key in tree:
                if method == BASE_METHOD:
                    continue
                raise ValueError(f"{root}: {method} seed {seed} ({suite}) is also in an earlier root")
            tree[key] = rows
    return tree


def per_seed_rows(tree: dict) -> list[dict]:
    """ID, OOD mean (the four OOD splits weighted equally) and general accuracy of each (method, seed)."""
    acc: dict = {}
    for (method, seed, suite), rows in tree.items():
        acc.setdefault((method, seed), {})[suite] = sum(r["correct"] for r in rows) / len(rows)
    out = []
    for (method, seed), suites in sorted(acc.items()):
        ood = [v for k, v in suites.items() if k.startswith("ood_")]
        out.append({"method": method, "seed": seed, "id": suites.get("test_id"),
                    "ood_mean": sum(ood) / len(ood) if ood else None, "general": suites.get("general_test")})
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("roots", nargs="+", type=Path, help="output roots with reports/predictions")
    p.add_argument("--methods", default=None, help="comma-separated methods to keep (default: all)")
    p.add_argument("--reference", default="mind", help="method every other is compared with")
    p.add_argument("--n-boot", type=int, default=2000)
    p.add_argument("--out", type=Path, default=None, help="write the markdown table and findings here")
    args = p.parse_args(argv)

    tree = pooled_tree(args.roots, set(args.methods.split(",")) if args.methods else None)
    summary = build_summary(tree, reference=args.reference, n_boot=args.n_boot)
    seeds = per_seed_rows(tree)
    lines = ["| method | seed | ID | OOD mean | general |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['seed']} | " + " | ".join(
        f"{100 * r[k]:.1f}" if r[k] is not None else "" for k in ("id", "ood_mean", "general")) + " |" for r in seeds]
    markdown = "\n".join([tables.comparison_markdown(summary), "", *(f"- {n}" for n in report.findings(summary)),
                          "", "Per seed:", "", *lines])
    print(markdown)
    if args.out:
        args.out.write_text(markdown + "\n", encoding="utf-8")
    paired = tables.paired_frame(summary)
    print(json.dumps({"per_seed": seeds, "paired": paired.to_dict(orient="records")}))


if __name__ == "__main__":
    main()
