"""The tables of the metrics files: the comparison table of ``summary.json`` (evaluate and report stages) and
the per-layer table of ``latent.json``."""
from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd

from mind_lib.stats import mcnemar_across_seeds


COLUMNS = [("ID", ("id",)), ("OOD steps", ("ood", "steps")), ("OOD templates", ("ood", "templates")),
           ("OOD distractor", ("ood", "distractor")), ("OOD numbers", ("ood", "numbers")),
           ("OOD mean", ("ood", "mean")), ("general", ("general",))]


def metric_entry(entry: dict, keys: Sequence[str]) -> dict | None:
    for k in keys:
        entry = entry.get(k) if isinstance(entry, dict) else None
    return entry


def summary_frame(summary: dict) -> pd.DataFrame:
    """Long table: one row per (method, column) with acc, CI and (several seeds) std; plus forgetting."""
    rows = []
    entries = {**summary["methods"], **({"base_student": summary["base_student"]} if "base_student" in summary else {})}
    for method, entry in entries.items():
        for col, keys in COLUMNS:
            block = metric_entry(entry, keys)
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
    # when methods ran with different numbers of seeds, each row says how many (a one-seed row is one draw)
    seeds = {m: len(e.get("seeds", [])) for m, e in summary["methods"].items()}
    mixed = len(set(seeds.values())) > 1

    def name(m: str) -> str:
        return f"{m} ({seeds[m]} seed{'s' if seeds[m] > 1 else ''})" if mixed and m in seeds else m

    rows_out = [(ZERO_SHOT if m == "base_student" else name(m), m) for m in methods] + (
        [(f"best single perspective ({name(single)})", single)] if single else [])
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


def best_single_teacher(summary: dict) -> str | None:
    """The single-rationale run (``std_cot`` with any golden teacher) with the best ID accuracy: the control
    a multi-teacher method has to beat, chosen on the test split itself, so it is an optimistic control."""
    single = {m: e["id"]["acc"] for m, e in summary["methods"].items() if m.startswith("std_cot") and "id" in e}
    return max(single, key=single.get) if single else None


def paired_frame(summary: dict) -> pd.DataFrame:
    """The reference method against every other: difference (reference - other), its CI and p-values per split
    (``p_bootstrap``: paired bootstrap over (question, seed); ``p_mcnemar``: smallest per-seed exact McNemar p
    times the number of seeds, capped at 1: ``stats.mcnemar_across_seeds``)."""
    paired = summary.get("paired")
    if not paired:
        return pd.DataFrame()
    rows = []
    for other, cmp in paired["vs"].items():
        for split, c in [("ID", cmp.get("id")), ("OOD pooled", metric_entry(cmp, ("ood", "pooled"))), ("general", cmp.get("general"))]:
            if c:
                p_mc = mcnemar_across_seeds([x["p"] for x in c.get("mcnemar", [])])
                rows.append({"reference": paired["reference"], "vs": other, "split": split, "n": c["n"],
                             "diff": c["diff"], "ci_lo": c["ci95"][0], "ci_hi": c["ci95"][1],
                             "p_bootstrap": c["p_bootstrap"], "p_mcnemar": p_mc})
    return pd.DataFrame(rows)



# ---------------------------------------------------------------------------------------------
# latent.json

LAYER_KEYS = ("effective_rank", "cka_to_base", "probe_acc", "nearest_perspective", "perspective_distance")
"""What ``latent_report`` gives for every method and layer."""



def latent_frame(latent: Mapping):
    """The report of ``latent_report`` as a long table: one row per (method, layer), base included."""
    per_model = ({k: v for k, v in latent.items() if k not in ("setup", "methods", "paradigm_clusters")}
                 | dict(latent.get("methods", {})))
    rows = [{"method": m, "layer": int(layer), **{k: vals.get(k) for k in LAYER_KEYS[:4]}}
            for m, layers in per_model.items() for layer, vals in layers.items()]
    return pd.DataFrame(rows, columns=["method", "layer", *LAYER_KEYS[:4]])



# ---------------------------------------------------------------------------------------------
# exposure, self-consistency and the per-perspective split


def exposure_markdown(summaries: dict[str, list[dict]]) -> str:
    """Per method (its runs' ``training/summary.json``, one per seed): target tokens, optimizer steps and epochs,
    the mean over seeds; equal exposure means the first two columns agree across methods."""
    lines = ["| method | seeds | target tokens | optimizer steps | epochs |", "|---|---|---|---|---|"]
    for method, runs in summaries.items():
        mean = {k: sum(r[k] for r in runs) / len(runs) for k in ("target_tokens", "steps", "epochs")}
        lines.append(f"| {method} | {len(runs)} | {mean['target_tokens']:,.0f} | {mean['steps']:,.0f} | "
                     f"{mean['epochs']:.2f} |")
    return "\n".join(lines)


def self_consistency_markdown(summary: dict) -> str | None:
    """Greedy vs self-consistency accuracy (mean [95% CI] in %) on the suites decoded both ways, or None."""
    sc = summary.get("self_consistency")
    if not sc:
        return None
    cols = [(c, keys) for c, keys in COLUMNS if any(metric_entry(e, keys) for e in sc["methods"].values())]
    head = " | ".join(f"{c} greedy | {c} SC" for c, _ in cols)
    lines = [f"Self-consistency: k = {sc['k']} samples at temperature {sc['temperature']}, majority vote.", "",
             f"| method | {head} |", "|---|" + "---|" * (2 * len(cols))]

    def cell(block):
        return f"{100 * block['acc']:.1f} [{100 * block['ci95'][0]:.1f}, {100 * block['ci95'][1]:.1f}]" if block else ""

    for method, entry in sc["methods"].items():
        greedy = summary["methods"].get(method, {})
        lines.append(f"| {method} | " + " | ".join(f"{cell(metric_entry(greedy, k))} | {cell(metric_entry(entry, k))}"
                                                   for _, k in cols) + " |")
    return "\n".join(lines)


def perspective_markdown(summary: dict, group: str = "id", top: int = 3) -> str | None:
    """Per method: the perspectives it writes most on ``group`` (id or ood), each with its share and accuracy."""
    split = summary.get("perspectives")
    if not split:
        return None
    lines = [f"| method | perspectives written on {group.upper()} (share, accuracy) |", "|---|---|"]
    for method, groups in sorted(split.items()):
        written = list(groups.get(group, {}).items())[:top]
        lines.append(f"| {method} | " + "; ".join(f"{p} {100 * v['share']:.0f}% ({100 * v['acc']:.0f}%)"
                                                   for p, v in written) + " |")
    return "\n".join(lines)
