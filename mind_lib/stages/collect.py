"""The collect stage: every teacher's rationales, the judge and the difficulty filter (``data/rationales``),
with ``reports/metrics/collect.json`` and the figures of ``reports/figures/collect``."""
from __future__ import annotations

from mind_lib.io import Paths, write_json
from mind_lib.params.collect import CollectParams
from mind_lib.stages import open_stage

PARAMS = ("collect",)


def load(profile=None, out_root=None, params_file=None):
    return open_stage({"collect": CollectParams}, PARAMS, profile, out_root, params_file)


def run_collect(params, paths: Paths) -> dict:
    """Collect (resumable), write the metrics and figures; returns what the notebook shows."""
    from mind_lib.collect import collection_metrics, run_collection, survivors_by_perspective, teacher_summary
    from mind_lib.figures import difficulty_figure, save_figure, teacher_figures
    from mind_lib.rationales import load_rationales

    result, rows = run_collection(params, paths)
    train_rows = load_rationales(paths.rationales / "train.jsonl")
    figures = {name: save_figure(fig, paths.figures / "collect" / f"{name}.png")
               for name, fig in teacher_figures(rows).items()}
    if result.selection is not None:
        figures["difficulty"] = save_figure(difficulty_figure(result.selection), paths.figures / "collect" / "difficulty.png")
    metrics = collection_metrics(params.profile, rows, result.selection, train_rows)
    write_json(paths.metrics / "collect.json", metrics)
    return {"result": result, "rows": rows, "summary": teacher_summary(rows), "figures": figures,
            "survivors": survivors_by_perspective(train_rows), "metrics": metrics}
