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
    return {"teacher_accuracy": acc_fig, "rationale_length": len_fig}
