"""The latent stage: hidden states of the base student and of every method's first seed (``docs/method.md`` §5):
``reports/metrics/latent.json`` (committed), ``reports/plots/latent.csv`` and ``reports/figures/latent``."""
from __future__ import annotations

from mind_lib.io import Paths
from mind_lib.params.distill import DistillParams
from mind_lib.params.latent import LatentParams
from mind_lib.params.world import WorldParams
from mind_lib.stages import open_stage

PARAMS = ("latent", "distill.runs", "distill.seeds", "world.source")
LATENT_COLUMNS = "method,layer,effective_rank,cka_to_base,probe_acc\n"


def load(profile=None, out_root=None, params_file=None):
    return open_stage({"latent": LatentParams, "distill": DistillParams, "world": WorldParams}, PARAMS, profile,
                      out_root, params_file)


def run_latent(params, paths: Paths) -> dict:
    """Analyse, then write the plot data and the figures; returns the report and the states the figures drew."""
    from mind_lib.figures import layer_curves_figure, pca_tsne_figure, save_figure
    from mind_lib.latent import analyse_students, paradigm_states
    from mind_lib.styles import PARADIGMS
    from mind_lib.tables import latent_frame

    states: dict = {}
    latent = analyse_students(params, paths, states=states)
    paths.plots.mkdir(parents=True, exist_ok=True)
    figures = {}
    if not latent["methods"]:  # real data has no step list (docs/method.md §5): an empty table
        (paths.plots / "latent.csv").write_text(LATENT_COLUMNS)
        return {"latent": latent, "states": states, "figures": figures}
    latent_frame(latent).to_csv(paths.plots / "latent.csv", index=False)
    folder = paths.figures / "latent"
    figures["layer_curves"] = save_figure(layer_curves_figure(latent), folder / "layer_curves.png")
    last = {name: s["questions"][-1] for name, s in states.items()}
    figures["maps_by_method"] = save_figure(
        pca_tsne_figure(last, title="question states, last layer", legend_title="method"), folder / "maps_by_method.png")
    if "mind" in states and "perspectives" in states["mind"]:
        persp = {k: v[-1] for k, v in states["mind"]["perspectives"].items()} | {"mind (own)": states["mind"]["own"][-1]}
        figures["maps_by_perspective"] = save_figure(
            pca_tsne_figure(persp, title="rationale states in MIND's last layer", legend_title="perspective"),
            folder / "maps_by_perspective.png")
    for group, by_paradigm in paradigm_states(states, params.distill.runs, PARADIGMS).items():
        figures[f"paradigms_{group}"] = save_figure(
            pca_tsne_figure(by_paradigm, title=f"paradigm rationales: {group}", legend_title="paradigm"),
            folder / f"paradigms_{group}.png")
    return {"latent": latent, "states": states, "figures": figures}
