"""Every figure of the pipeline (seaborn/matplotlib), saved as PNG by the stage that draws it."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np

# Notebooks keep their inline backend; scripts and tests get the file-only Agg backend.
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from mind_lib.tables import LAYER_KEYS, latent_frame, metric_entry, summary_frame  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` as PNG and close it (a notebook shows the file: ``show_figures``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def show_figures(paths: dict) -> None:
    """Show saved PNGs inline in a notebook (``{name: path}`` as a stage returns them)."""
    from IPython.display import Image, Markdown, display

    for name, path in paths.items():
        display(Markdown(f"**{name}** (`{Path(path).name}`)"), Image(filename=str(path)))


def teacher_figures(rows: Sequence[dict]) -> dict[str, plt.Figure]:
    """Per-teacher accuracy (share of rationales reaching gold) and rationale length (words)."""
    df = pd.DataFrame({"teacher": [r["teacher"] for r in rows], "correct": [r["correct"] for r in rows],
                       "words": [len(r["rationale"].split()) for r in rows]})
    order = sorted(df["teacher"].unique())
    sns.set_theme(style="whitegrid")
    acc_fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(data=df, x="teacher", y="correct", order=order, errorbar=("ci", 95), ax=ax, color="steelblue")
    ax.set(ylabel="rationale accuracy", ylim=(0, 1), title="Teacher accuracy (95% CI)")
    len_fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.boxplot(data=df, x="teacher", y="words", order=order, ax=ax, color="lightsteelblue")
    ax.set(ylabel="rationale length (words)", title="Rationale length per teacher")
    for fig in (acc_fig, len_fig):
        fig.axes[0].tick_params(axis="x", labelrotation=45)
        fig.tight_layout()
    return {"teacher_accuracy": acc_fig, "rationale_length": len_fig}


def difficulty_figure(selection: dict) -> plt.Figure:
    """Questions per difficulty before and after the difficulty filter (``CollectResult.selection``)."""
    rows = [{"difficulty": int(d), "questions": n, "set": f"{name} ({sum(hist.values())})"}
            for name, hist in (("pool", selection["before"]), ("kept", selection["after"])) for d, n in hist.items()]
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(data=pd.DataFrame(rows), x="difficulty", y="questions", hue="set", ax=ax)
    ax.set(xlabel="difficulty (dropped trajectories + extra steps)", title="Difficulty filter: easy questions "
                                                                             "downsampled")
    fig.tight_layout()
    return fig


def training_logs(paths, pairs) -> pd.DataFrame:
    """The train rows of each (method, seed) run's log (``Paths.training_record``), with ``method`` and ``seed``."""
    from mind_lib.io import read_jsonl

    frames = []
    for method, seed in pairs:
        rows = [r for r in read_jsonl(paths.training_record(method, seed) / "log.jsonl") if r.get("event") == "train"]
        frames.append(pd.DataFrame(rows).assign(method=method, seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def training_curves_figure(logs: pd.DataFrame) -> plt.Figure:
    """Training loss against trained target tokens (the budget unit), one line per method."""
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=logs, x="target_tokens", y="loss", hue="method", ax=ax, errorbar=None)
    ax.set(xlabel="trained target tokens", ylabel="training loss", yscale="log", title="Training curves (equal budget)")
    ax.legend(fontsize=7, ncols=2)
    return fig


def metanet_dynamics_figure(logs: pd.DataFrame) -> plt.Figure | None:
    """For runs with a MetaNet (docs/method.md §2.8): mean alpha per perspective, share of trajectories selected,
    ListNet-KL, Spearman rho between scores and -loss on held-out questions, long-term loss per perspective."""
    alpha_cols = [c for c in logs.columns if c.startswith("alpha/")]
    if not alpha_cols:
        return None
    mn = logs[logs[alpha_cols].notna().any(axis=1)]
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(2, 3, figsize=(15, 7))

    def long(prefix):
        cols = [c for c in mn.columns if c.startswith(prefix)]
        out = mn.melt(id_vars=["step", "method", "seed"], value_vars=cols, var_name="perspective", value_name="v")
        out["perspective"] = out["perspective"].str.removeprefix(prefix)
        return out.dropna(subset=["v"])

    panels = [(long("alpha/"), "v", "perspective", "mean alpha", "Fusion weight per perspective"),
              (mn, "selected_share", "method", "share selected", "Trajectories kept by I_dyn"),
              (mn, "listnet_kl", "method", "ListNet-KL", "MetaNet's ranking loss"),
              (mn, "spearman_unseen", "method", "Spearman rho (held out)", "Does z predict -loss on new questions?"),
              (long("long_term_loss/"), "v", "perspective", "long-term loss", "L_real per perspective")]
    for ax, (data, y, hue, ylabel, title) in zip(axes.flat, panels):
        if y in data.columns and data[y].notna().any():
            style = "method" if hue == "perspective" else None
            sns.lineplot(data=data, x="step", y=y, hue=hue, style=style, ax=ax, errorbar=None)
        ax.set(ylabel=ylabel, title=title)
        if ax.get_legend():
            ax.legend(fontsize=6)
    axes.flat[-1].axis("off")
    fig.tight_layout()
    return fig


def accuracy_figure(summary: dict) -> plt.Figure:
    """Accuracy with 95% CIs per split and method."""
    df = summary_frame(summary)
    df = df[df["column"] != "forgetting"]
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(11, 4.2))
    methods = list(dict.fromkeys(df["method"]))
    cols = list(dict.fromkeys(df["column"]))
    width = 0.8 / len(methods)
    palette = sns.color_palette("tab20", len(methods))
    for i, m in enumerate(methods):
        sub = df[df["method"] == m].set_index("column").reindex(cols)
        x = [j + (i - len(methods) / 2 + 0.5) * width for j in range(len(cols))]
        ax.bar(x, sub["acc"], width, label=m, color=palette[i],
               yerr=[sub["acc"] - sub["lo"], sub["hi"] - sub["acc"]], capsize=1.5, error_kw={"lw": 0.6})
    ax.set_xticks(range(len(cols)), cols)
    ax.set(ylabel="accuracy", ylim=(0, 1), title="Accuracy per split (95% bootstrap CI)")
    ax.legend(fontsize=7, ncols=4, loc="upper right")
    return fig


def steps_figure(by_steps: Sequence[dict]) -> plt.Figure:
    """Accuracy against the number of reasoning steps (ID 2-4, OOD-steps beyond), per method."""
    df = pd.DataFrame(by_steps)
    df = df[df["suite"].isin(["test_id", "ood_steps"])]
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(data=df, x="n_steps", y="acc", hue="method", marker="o", ax=ax, errorbar=None)
    ax.set(xlabel="reasoning steps", ylabel="accuracy", ylim=(0, 1), title="Accuracy vs number of reasoning steps")
    ax.legend(fontsize=7, ncols=2)
    return fig


def forgetting_scatter(summary: dict, reference: str = "std_cot") -> plt.Figure:
    """Forgetting (base general accuracy - method's) against OOD-mean gain over ``reference``."""
    methods = summary["methods"]
    ref = metric_entry(methods.get(reference, {}), ("ood", "mean"))
    rows = [{"method": m, "forgetting": e.get("forgetting"),
             "ood_gain": e["ood"]["mean"]["acc"] - ref["acc"] if ref and "ood" in e else None}
            for m, e in methods.items()]
    df = pd.DataFrame(rows).dropna()
    sns.set_theme(style="whitegrid")
    fig, ax = plt.subplots(figsize=(6, 4.2))
    sns.scatterplot(data=df, x="ood_gain", y="forgetting", hue="method", s=70, ax=ax)
    for _, r in df.iterrows():
        ax.annotate(r["method"], (r["ood_gain"], r["forgetting"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set(xlabel=f"OOD-mean gain over {reference}", ylabel="forgetting (general acc drop)",
           title="Forgetting vs OOD gain")
    if ax.get_legend():
        ax.get_legend().remove()
    return fig


def layer_curves_figure(latent: Mapping):
    """Effective rank, CKA to the base and probe accuracy against layer, one line per method (probe chance dotted)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = latent_frame(latent)
    for col in LAYER_KEYS[:3]:
        df[col] = df[col].astype(float)
    panels = {"effective_rank": "effective rank", "cka_to_base": "linear CKA to base (general)",
              "probe_acc": "probe accuracy (held out)"}
    sns.set_theme(style="whitegrid")
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8), sharex=True)
    for ax, (col, label) in zip(axes, panels.items()):
        sns.lineplot(data=df, x="layer", y=col, hue="method", style="method", markers=True, dashes=False,
                     ax=ax, legend=ax is axes[-1])
        ax.set(ylabel=label, title=label)
    chance = latent.get("setup", {}).get("probe", {}).get("chance")
    if chance is not None:
        axes[2].axhline(chance, ls=":", color="grey", label="chance")
    axes[1].set_ylim(0, 1.05)
    axes[2].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    fig.tight_layout()
    return fig


def pca_tsne_figure(states_by_group: Mapping[str, np.ndarray], title: str | None = None, legend_title: str = "group",
                    seed: int = 0):
    """PCA and t-SNE maps of states from several groups, fit jointly, points coloured by group.

    ``states_by_group`` maps a label to ``(N_g, d)`` states of one layer; the label is what the
    colour means: a method (``{m: states[m]["questions"][l]}``), a perspective
    (``states[m]["perspectives"]`` at a layer) or correctness (``{"correct": X[ok], "wrong": X[~ok]}``).
    t-SNE (``random_state=seed``, PCA init) runs on the first 50 principal components when ``d > 50``,
    with perplexity ``clip((N - 1) / 3, 1, 30)`` so that it suits small N.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    groups = {k: np.asarray(v, dtype=np.float64) for k, v in states_by_group.items() if len(v)}
    if not groups:
        raise ValueError("pca_tsne_figure needs at least one non-empty group")
    X = np.concatenate(list(groups.values()))
    labels = np.concatenate([[k] * len(v) for k, v in groups.items()])
    if len(X) < 4:
        raise ValueError(f"pca_tsne_figure needs at least 4 points, got {len(X)}")
    pca = PCA(n_components=2, random_state=seed).fit(X)
    flat = PCA(n_components=min(50, *X.shape), random_state=seed).fit_transform(X) if X.shape[1] > 50 else X
    tsne = TSNE(n_components=2, perplexity=float(np.clip((len(X) - 1) / 3, 1, 30)), init="pca",
                random_state=seed).fit_transform(flat)
    sns.set_theme(style="white")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    ratio = pca.explained_variance_ratio_
    for ax, xy, name in ((axes[0], pca.transform(X), "PCA"), (axes[1], tsne, "t-SNE")):
        sns.scatterplot(x=xy[:, 0], y=xy[:, 1], hue=labels, hue_order=list(groups), s=14, alpha=0.75,
                        linewidth=0, ax=ax, legend=ax is axes[1])
        ax.set(title=name, xticks=[], yticks=[])
    axes[0].set(xlabel=f"PC1 ({ratio[0]:.0%})", ylabel=f"PC2 ({ratio[1]:.0%})")
    axes[1].legend(title=legend_title, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize="small")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig

