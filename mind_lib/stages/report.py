"""The report stage: ``reports/results.md`` and the figures of ``reports/figures/report`` from what earlier stages
committed in git (metrics, plot data, training logs), so it reruns on a clone without any model. Notebook 05
renders it to ``reports/index.html``. README's results block is refreshed by ``mind results``, never here."""
from __future__ import annotations

import pandas as pd

from mind_lib.io import Paths, read_json
from mind_lib.params.distill import DistillParams, run_pairs, seeds_of
from mind_lib.stages import open_stage

PARAMS = ("distill.runs", "distill.seeds", "distill.more_seeds")


def load(profile=None, out_root=None, params_file=None):
    return open_stage({"distill": DistillParams}, PARAMS, profile, out_root, params_file)


def run_report(params, paths: Paths) -> dict:
    """Write ``reports/results.md`` and the report's figures; returns what the notebook shows."""
    from mind_lib import figures as fg
    from mind_lib.report import findings, paradigm_cluster_markdown, results_markdown
    from mind_lib.tables import (comparison_markdown, exposure_markdown, paired_frame, perspective_markdown,
                                 self_consistency_markdown)

    summary, latent = read_json(paths.metrics / "summary.json"), read_json(paths.metrics / "latent.json")
    folder = paths.figures / "report"
    by_steps = pd.read_csv(paths.plots / "accuracy_by_steps.csv").to_dict("records")
    logs = fg.training_logs(paths, run_pairs(params.distill))
    figures = {"accuracy": fg.accuracy_figure(summary), "accuracy_by_steps": fg.steps_figure(by_steps),
               "forgetting_vs_ood": fg.forgetting_scatter(summary), "training_curves": fg.training_curves_figure(logs),
               "metanet_dynamics": fg.metanet_dynamics_figure(logs),
               "latent_layers": fg.layer_curves_figure(latent) if latent["methods"] else None}
    if latent.get("paradigm_clusters"):
        scores = pd.DataFrame(latent["paradigm_clusters"]).T[["nmi", "ari"]].astype(float)
        ax = scores.plot.bar(figsize=(7, 3.2), ylim=(0, 1), rot=0,
                             title="Paradigm clusters: agreement with the paradigm labels")
        ax.set(xlabel="states of", ylabel="score (1 = one cluster per paradigm)")
        figures["paradigm_clusters"] = ax.figure
    saved = {name: fg.save_figure(fig, folder / f"{name}.png") for name, fig in figures.items() if fig is not None}
    label = f"{params.profile} profile" if params.profile != "default" else "params.yaml"
    runs = {m: [read_json(paths.training_record(m, s) / "summary.json") for s in seeds_of(params.distill, m)]
            for m in params.distill.runs}
    exposure = exposure_markdown(runs)
    (paths.root / "reports").mkdir(parents=True, exist_ok=True)
    (paths.root / "reports" / "results.md").write_text(results_markdown(summary, latent, label, exposure))
    return {"summary": summary, "latent": latent, "table": comparison_markdown(summary), "findings": findings(summary),
            "paired": paired_frame(summary), "clusters": paradigm_cluster_markdown(latent), "exposure": exposure,
            "self_consistency": self_consistency_markdown(summary), "perspectives_id": perspective_markdown(summary),
            "perspectives_ood": perspective_markdown(summary, "ood"), "figures": saved}
