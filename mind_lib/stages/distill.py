"""The distill stage: every method of ``distill.runs`` x every seed at the same budget (``models/distilled``).

Besides the models (DVC cache) it writes what a clone needs without them, committed in git: each run's training
log and summary (``reports/training/<method>/seed<k>/``), ``reports/metrics/distill.json``, the curves
``reports/plots/training_curves.csv`` and the figures of ``reports/figures/distill``.
"""
from __future__ import annotations

import shutil

from mind_lib.io import Paths, write_json
from mind_lib.params.distill import DistillParams, run_pairs
from mind_lib.params.student import StudentParams
from mind_lib.stages import open_stage

PARAMS = ("student", "distill")
SUMMARY_KEYS = ("steps", "target_tokens", "epochs", "wall_s", "eval_loss")


def load(profile=None, out_root=None, params_file=None):
    return open_stage({"student": StudentParams, "distill": DistillParams}, PARAMS, profile, out_root, params_file)


def run_distill(params, paths: Paths, progress: bool = True) -> dict:
    """Train (or skip, or resume) every run; copy the logs; write metrics, curves and figures."""
    from mind_lib.distill import run_grid
    from mind_lib.io import training_dir
    from mind_lib.figures import metanet_dynamics_figure, save_figure, training_curves_figure, training_logs

    summaries = run_grid(params, paths, progress=progress)
    for s in summaries:  # the logs a clone reads without the models
        source, target = training_dir(paths.run_dir(s["method"], s["seed"])), paths.training_record(s["method"], s["seed"])
        target.mkdir(parents=True, exist_ok=True)
        for name in ("log.jsonl", "summary.json"):
            shutil.copyfile(source / name, target / name)
    logs = training_logs(paths, run_pairs(params.distill))
    paths.plots.mkdir(parents=True, exist_ok=True)
    logs[["method", "seed", "step", "target_tokens", "loss"]].to_csv(paths.plots / "training_curves.csv", index=False)
    figures = {"training_curves": save_figure(training_curves_figure(logs), paths.figures / "distill" / "training_curves.png")}
    dynamics = metanet_dynamics_figure(logs)
    if dynamics is not None:
        figures["metanet_dynamics"] = save_figure(dynamics, paths.figures / "distill" / "metanet_dynamics.png")
    metrics = {f"{s['method']}/seed{s['seed']}": {k: s.get(k) for k in SUMMARY_KEYS} for s in summaries}
    write_json(paths.metrics / "distill.json", metrics)
    return {"summaries": summaries, "metrics": metrics, "figures": figures}
