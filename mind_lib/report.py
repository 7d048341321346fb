"""Tables and figures from metrics files (seaborn/matplotlib, saved as PNG)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import sys

import matplotlib

# Notebooks keep their inline backend; scripts and tests get the file-only Agg backend.
if "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from mind_lib.stats import SIGNIFICANCE_LEVEL, mcnemar_across_seeds  # noqa: E402


def save_figure(fig: plt.Figure, path: str | Path, dpi: int = 120) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


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


# ---------------------------------------------------------------------------------------------
# training logs (distill stage)

def training_logs(models_dir: str | Path, runs: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Every run's ``training/log.jsonl`` train rows, with ``method`` and ``seed`` columns."""
    from mind_lib.distill import run_dir
    from mind_lib.io import read_jsonl

    frames = []
    for method in runs:
        for seed in seeds:
            path = run_dir(models_dir, method, seed) / "training" / "log.jsonl"
            rows = [r for r in read_jsonl(path) if r.get("event") == "train"]
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


# ---------------------------------------------------------------------------------------------
# the comparison table and figures (evaluate and report stages)

COLUMNS = [("ID", ("id",)), ("OOD steps", ("ood", "steps")), ("OOD templates", ("ood", "templates")),
           ("OOD distractor", ("ood", "distractor")), ("OOD numbers", ("ood", "numbers")),
           ("OOD mean", ("ood", "mean")), ("general", ("general",))]


def _get(entry: dict, keys: Sequence[str]) -> dict | None:
    for k in keys:
        entry = entry.get(k) if isinstance(entry, dict) else None
    return entry


def summary_frame(summary: dict) -> pd.DataFrame:
    """Long table: one row per (method, column) with acc, CI and (several seeds) std; plus forgetting."""
    rows = []
    entries = {**summary["methods"], **({"base_student": summary["base_student"]} if "base_student" in summary else {})}
    for method, entry in entries.items():
        for col, keys in COLUMNS:
            block = _get(entry, keys)
            if block:
                rows.append({"method": method, "column": col, "acc": block["acc"], "lo": block["ci95"][0],
                             "hi": block["ci95"][1], "std": block.get("acc_std")})
        if entry.get("forgetting") is not None:
            rows.append({"method": method, "column": "forgetting", "acc": entry["forgetting"], "lo": None, "hi": None,
                         "std": None})
    return pd.DataFrame(rows)


def comparison_markdown(summary: dict) -> str:
    """Methods x (ID, each OOD split, OOD mean, general, forgetting) as mean [95% CI] in %; best per column in bold
    (highest accuracy, lowest forgetting), among the distilled methods."""
    df = summary_frame(summary)
    methods = list(summary["methods"]) + (["base_student"] if "base_student" in summary else [])
    cols = [c for c, _ in COLUMNS if c in set(df["column"])] + (["forgetting"] if "forgetting" in set(df["column"]) else [])
    best = {}
    distilled = df[df["method"] != "base_student"]
    for c in cols:
        sub = distilled[distilled["column"] == c]
        if len(sub):
            best[c] = sub["acc"].min() if c == "forgetting" else sub["acc"].max()
    lines = ["| method | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    single = best_single_teacher(summary)
    rows_out = [(ZERO_SHOT if m == "base_student" else m, m) for m in methods] + (
        [(f"best single perspective ({single})", single)] if single else [])
    for label, m in rows_out:
        cells = []
        for c in cols:
            r = df[(df["method"] == m) & (df["column"] == c)]
            if not len(r):
                cells.append("")
                continue
            r = r.iloc[0]
            text = f"{100 * r.acc:+.1f}" if c == "forgetting" else f"{100 * r.acc:.1f} [{100 * r.lo:.1f}, {100 * r.hi:.1f}]"
            if r["std"] is not None and not pd.isna(r["std"]):
                text += f" ±{100 * r['std']:.1f}"
            if m != "base_student" and c in best and r.acc == best[c]:
                text = f"**{text}**"
            cells.append(text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


ZERO_SHOT = "zero-shot CoT (base student)"  # the base student asked as is: the paper's zero-shot CoT baseline


def paradigm_cluster_markdown(latent: dict) -> str | None:
    """The paradigm-cluster table of the latent stage (clusters found, NMI, ARI per group), or None without one."""
    groups = latent.get("paradigm_clusters") or {}
    if not groups:
        return None
    lines = ["| states | paradigms | clusters found | NMI | ARI |", "|---|---|---|---|---|"]
    for group, r in groups.items():
        name = "single-paradigm students, each on its own paradigm" if group == "single_paradigm" else group
        lines.append(f"| {name} | {r['paradigms']} | {r['clusters']} | {r['nmi']:.3f} | {r['ari']:.3f} |")
    return "\n".join(lines)


def best_single_teacher(summary: dict) -> str | None:
    """The single-rationale run (``std_cot`` with any golden teacher) with the best ID accuracy: the control
    a multi-teacher method has to beat, chosen on the test split itself, so it is an optimistic control."""
    single = {m: e["id"]["acc"] for m, e in summary["methods"].items() if m.startswith("std_cot") and "id" in e}
    return max(single, key=single.get) if single else None


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
    ref = _get(methods.get(reference, {}), ("ood", "mean"))
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


def paired_frame(summary: dict) -> pd.DataFrame:
    """The reference method against every other: difference (reference - other), its CI and p-values per split
    (``p_bootstrap``: paired bootstrap over (question, seed); ``p_mcnemar``: smallest per-seed exact McNemar p
    times the number of seeds, capped at 1: ``stats.mcnemar_across_seeds``)."""
    paired = summary.get("paired")
    if not paired:
        return pd.DataFrame()
    rows = []
    for other, cmp in paired["vs"].items():
        for split, c in [("ID", cmp.get("id")), ("OOD pooled", _get(cmp, ("ood", "pooled"))), ("general", cmp.get("general"))]:
            if c:
                p_mc = mcnemar_across_seeds([x["p"] for x in c.get("mcnemar", [])])
                rows.append({"reference": paired["reference"], "vs": other, "split": split, "n": c["n"],
                             "diff": c["diff"], "ci_lo": c["ci95"][0], "ci_hi": c["ci95"][1],
                             "p_bootstrap": c["p_bootstrap"], "p_mcnemar": p_mc})
    return pd.DataFrame(rows)


def seed_finding(methods: dict) -> str:
    """How much training randomness the table covers: the seed count per method and, with several seeds, the
    largest seed-to-seed sd of ID accuracy. Comes first, because it says how to read every difference below."""
    counts = sorted({len(e.get("seeds", [])) for e in methods.values()})
    if counts == [1]:
        return ("Each method ran with one seed: the CIs cover which test questions were drawn, not training "
                "randomness, which moves these small students by several points from seed to seed; read a "
                "difference between two methods as an effect only when it holds over several seeds "
                "(the paper profile runs three).")
    spread = {m: _get(e, ("id",)).get("acc_std") for m, e in methods.items() if _get(e, ("id",))}
    spread = {m: s for m, s in spread.items() if s is not None}
    text = f"Seeds per method: {', '.join(str(c) for c in counts)}; ± in the table is the seed-to-seed sd."
    if spread:
        worst = max(spread, key=spread.get)
        text += f" The largest ID sd is {100 * spread[worst]:.1f} points ({worst})."
    return text


def findings(summary: dict, alpha: float = SIGNIFICANCE_LEVEL) -> list[str]:
    """Plain-language statements of what the numbers show, computed (never typed), including where MIND loses."""
    methods = summary["methods"]
    out = [seed_finding(methods)]
    paired = paired_frame(summary)
    for split, keys in (("ID", ("id",)), ("OOD mean", ("ood", "mean")), ("general", ("general",))):
        scored = {m: _get(e, keys)["acc"] for m, e in methods.items() if _get(e, keys)}
        if scored:
            best = max(scored, key=scored.get)
            out.append(f"{split}: best is {best} ({100 * scored[best]:.1f}%); "
                       + ", ".join(f"{m} {100 * a:.1f}%" for m, a in sorted(scored.items(), key=lambda kv: -kv[1])) + ".")
    if len(paired):
        ref = paired["reference"].iloc[0]
        for split in ("ID", "OOD pooled", "general"):
            sub = paired[(paired["split"] == split) & (paired["vs"] != "base_student")]
            wins = sub[(sub["diff"] > 0) & (sub["p_bootstrap"] < alpha)]["vs"].tolist()
            losses = sub[(sub["diff"] < 0) & (sub["p_bootstrap"] < alpha)]["vs"].tolist()
            ties = sub[sub["p_bootstrap"] >= alpha]["vs"].tolist()
            out.append(f"{ref} on {split}: significantly better than {', '.join(wins) or 'none'}; "
                       f"significantly worse than {', '.join(losses) or 'none'}; "
                       f"no significant difference (p >= {alpha}) from {', '.join(ties) or 'none'}.")
    forget = {m: e["forgetting"] for m, e in methods.items() if e.get("forgetting") is not None}
    if forget:
        least = min(forget, key=forget.get)
        out.append(f"Forgetting (general accuracy lost vs the base student): least for {least} "
                   f"({100 * forget[least]:+.1f} points); " + ", ".join(f"{m} {100 * v:+.1f}" for m, v in
                                                                      sorted(forget.items(), key=lambda kv: kv[1])) + ".")
    return out


def update_readme_block(readme: str | Path, markdown: str, tag: str = "results") -> bool:
    """Replace the text between ``<!-- tag:start -->`` and ``<!-- tag:end -->`` in the README; False if absent."""
    readme = Path(readme)
    text = readme.read_text(encoding="utf-8")
    start, end = f"<!-- {tag}:start -->", f"<!-- {tag}:end -->"
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{markdown.strip()}\n{end}{tail}", encoding="utf-8")
    return True
