"""The report stage's words: the findings computed from the metrics, the paradigm-cluster table and the README's
results block."""
from __future__ import annotations

from pathlib import Path

from mind_lib.stats import SIGNIFICANCE_LEVEL, preregistered_comparison
from mind_lib.tables import metric_entry, paired_frame


# ---------------------------------------------------------------------------------------------
# words and tables of the report


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


def seed_finding(methods: dict) -> str:
    """How much training randomness the table covers: the seed count per method and, with several seeds, the
    largest seed-to-seed sd of ID accuracy. Comes first, because it says how to read every difference below."""
    counts = sorted({len(e.get("seeds", [])) for e in methods.values()})
    if counts == [1]:
        return ("Each method ran with one seed: the CIs cover which test questions were drawn, not training "
                "randomness, which moves these small students by several points from seed to seed; read a "
                "difference between two methods as an effect only when it holds over several seeds "
                "(the paper profile runs three).")
    spread = {m: metric_entry(e, ("id",)).get("acc_std") for m, e in methods.items() if metric_entry(e, ("id",))}
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
    pre = preregistered_comparison(summary)
    if pre:
        out.append(f"Pre-registered test (docs/method.md §6; OOD pooled, greedy, paired bootstrap over question x "
                   f"seed): {pre['reference']} minus the strongest control, {pre['control']} (of "
                   f"{', '.join(pre['candidates'])}), is {100 * pre['diff']:+.1f} points [95% CI "
                   f"{100 * pre['ci95'][0]:+.1f}, {100 * pre['ci95'][1]:+.1f}], p = {pre['p']:.3f}: {pre['verdict']} "
                   f"at alpha {pre['alpha']} ({pre['seeds'][pre['reference']]} and {pre['seeds'][pre['control']]} seeds).")
    paired = paired_frame(summary)
    for split, keys in (("ID", ("id",)), ("OOD mean", ("ood", "mean")), ("general", ("general",))):
        scored = {m: metric_entry(e, keys)["acc"] for m, e in methods.items() if metric_entry(e, keys)}
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


def readme_block(summary: dict) -> str:
    """What README's results block shows: the comparison table and the findings (``mind results`` writes it)."""
    from mind_lib.tables import comparison_markdown

    return comparison_markdown(summary) + "\n\n" + "\n".join(f"- {n}" for n in findings(summary))


def results_markdown(summary: dict, latent: dict, label: str, exposure: str) -> str:
    """``reports/results.md``: the table, the findings, the paired comparisons, exposure per method,
    self-consistency, the per-perspective split and the paradigm clusters."""
    from mind_lib.tables import perspective_markdown, self_consistency_markdown

    paired = paired_frame(summary)
    sections = [("Paired comparisons", paired.round(4).to_markdown(index=False) if len(paired) else
                 "(no reference method)"),
                ("Exposure: target tokens, optimizer steps and epochs per run", exposure),
                ("Self-consistency", self_consistency_markdown(summary)),
                ("Which perspective each student writes (ID)", perspective_markdown(summary, "id")),
                ("Which perspective each student writes (OOD)", perspective_markdown(summary, "ood")),
                ("Paradigm clusters", paradigm_cluster_markdown(latent))]
    return (f"# Results ({label})\n\n{readme_block(summary)}\n"
            + "".join(f"\n## {title}\n\n{body}\n" for title, body in sections if body))
