"""The evaluate stage: every student (and the base student) on every suite.

Writes the predictions (``reports/predictions``, committed in git so every number can be audited and the later
stages rerun on a clone), the detailed ``reports/metrics/summary.json``, the compact metrics DVC shows
(``reports/metrics/accuracy/<method>.json``: one row per method in ``dvc metrics show``), the accuracy-by-steps
plot data and the figures of ``reports/figures/evaluate``.
"""
from __future__ import annotations

import shutil

from mind_lib.io import Paths, write_json
from mind_lib.params.distill import DistillParams
from mind_lib.params.evaluate import EvaluateParams, check_reference
from mind_lib.stages import open_stage

PARAMS = ("evaluate", "distill.runs", "distill.seeds", "distill.more_seeds")


def load(profile=None, out_root=None, params_file=None):
    params, paths = open_stage({"evaluate": EvaluateParams, "distill": DistillParams}, PARAMS, profile, out_root,
                               params_file)
    check_reference(params.evaluate.reference, params.distill.runs, "params.yaml")
    return params, paths


def compact_metrics(summary: dict) -> dict[str, dict]:
    """Per method (the base student included): accuracy per suite, the 95% CI of ID and of the OOD mean, and
    forgetting; flat numbers only, so that ``dvc metrics show/diff`` prints one readable row per method."""
    from mind_lib.stats import BASE_METHOD

    entries = {**summary.get("methods", {}), BASE_METHOD: summary.get("base_student") or {}}
    out = {}
    for method, e in entries.items():
        if not e:
            continue
        row = {}
        for name, block in [("id", e.get("id")), ("ood_mean", (e.get("ood") or {}).get("mean"))]:
            if block:
                row[name], (row[f"{name}_lo"], row[f"{name}_hi"]) = block["acc"], block["ci95"]
        for split, block in (e.get("ood") or {}).items():
            if split != "mean":
                row[f"ood_{split}"] = block["acc"]
        if e.get("general"):
            row["general"] = e["general"]["acc"]
        if e.get("forgetting") is not None:
            row["forgetting"] = e["forgetting"]
        row["seeds"] = len(e.get("seeds", [0]))
        out[method] = row
    return out


def run_evaluate(params, paths: Paths, progress: bool = True) -> dict:
    """Decode what is not decoded yet, summarise, write the metrics, plot data and figures."""
    import pandas as pd

    from mind_lib.evaluate import evaluate_runs
    from mind_lib.predictions import load_prediction_tree
    from mind_lib.figures import accuracy_figure, save_figure, steps_figure
    from mind_lib.params.distill import run_pairs
    from mind_lib.stats import BASE_METHOD, accuracy_by_steps

    summary = evaluate_runs(params, paths, progress=progress)
    compact = paths.metrics / "accuracy"
    shutil.rmtree(compact, ignore_errors=True)  # one file per method of this summary, no stale ones
    for method, row in compact_metrics(summary).items():
        write_json(compact / f"{method}.json", row)
    # this grid's predictions only: files of runs no longer configured stay on disk but out of every number
    students = [(BASE_METHOD, 0), *run_pairs(params.distill)]
    keys = [(m, s, suite) for m, s in students for suite in params.evaluate.suites]
    by_steps = accuracy_by_steps(load_prediction_tree(paths.predictions, keys), n_boot=params.evaluate.n_boot)
    paths.plots.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(by_steps).to_csv(paths.plots / "accuracy_by_steps.csv", index=False)
    figures = {"accuracy": save_figure(accuracy_figure(summary), paths.figures / "evaluate" / "accuracy.png"),
               "accuracy_by_steps": save_figure(steps_figure(by_steps), paths.figures / "evaluate" / "accuracy_by_steps.png")}
    return {"summary": summary, "by_steps": by_steps, "figures": figures}
