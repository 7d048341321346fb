"""The report: comparison table, findings and README block from fixture metrics (no model needed)."""
import pandas as pd

from mind_lib import figures, report, tables


def block(acc, lo=None, hi=None):
    return {"acc": acc, "ci95": [lo if lo is not None else acc - 0.05, hi if hi is not None else acc + 0.05]}


def cmp(diff, p):
    return {"n": 100, "diff": diff, "ci95": [diff - 0.05, diff + 0.05], "p_bootstrap": p,
            "mcnemar": [{"seed": 0, "b": 5, "c": 1, "statistic": 2.0, "p": p}]}


def method(id_acc, ood, general, forgetting):
    return {"seeds": [0], "id": block(id_acc),
            "ood": {"steps": block(ood), "templates": block(ood), "distractor": block(ood), "numbers": block(ood),
                    "mean": block(ood)},
            "general": block(general), "forgetting": forgetting}


SUMMARY = {
    "methods": {"mind": method(0.50, 0.30, 0.80, 0.10), "std_cot": method(0.40, 0.20, 0.70, 0.20),
                "std_cot_equation": method(0.55, 0.25, 0.75, 0.15), "ftcot_diverse": method(0.45, 0.35, 0.60, 0.30)},
    "base_student": {"seeds": [0], "general": block(0.90)},
    "paired": {"reference": "mind", "vs": {
        "std_cot": {"id": cmp(0.10, 0.01), "ood": {"pooled": cmp(0.10, 0.02)}, "general": cmp(0.10, 0.04)},
        "std_cot_equation": {"id": cmp(-0.05, 0.03), "ood": {"pooled": cmp(0.05, 0.2)}, "general": cmp(0.05, 0.3)},
        "ftcot_diverse": {"id": cmp(0.05, 0.5), "ood": {"pooled": cmp(-0.05, 0.01)}, "general": cmp(0.2, 0.001)}}},
}


def test_comparison_table_marks_the_best_per_column_and_the_best_single_teacher():
    table = tables.comparison_markdown(SUMMARY)
    lines = table.splitlines()
    assert lines[0].startswith("| method | ID | OOD steps")
    row = {line.split(" | ")[0].strip("| "): line for line in lines[2:]}
    assert "**55.0 [50.0, 60.0]**" in row["std_cot_equation"]  # best ID
    assert "**35.0 [30.0, 40.0]**" in row["ftcot_diverse"]  # best OOD
    assert "**+10.0**" in row["mind"]  # lowest forgetting
    assert "best single perspective (std_cot_equation)" in row
    assert "**" not in row[tables.ZERO_SHOT]  # the base student (zero-shot CoT) is a reference, not a contender


def test_paradigm_cluster_table():
    latent = {"paradigm_clusters": {"single_paradigm": {"paradigms": 8, "clusters": 7, "nmi": 0.81, "ari": 0.62,
                                                        "n_states": 512},
                                    "mind": {"paradigms": 8, "clusters": 3, "nmi": 0.3, "ari": 0.1, "n_states": 512}}}
    table = report.paradigm_cluster_markdown(latent).splitlines()
    assert table[2] == "| single-paradigm students, each on its own paradigm | 8 | 7 | 0.810 | 0.620 |"
    assert table[3] == "| mind | 8 | 3 | 0.300 | 0.100 |"
    assert report.paradigm_cluster_markdown({"methods": {}}) is None


def test_findings_are_computed_from_the_numbers_including_losses():
    notes = report.findings(SUMMARY)
    id_note = next(n for n in notes if n.startswith("mind on ID"))
    assert "significantly better than std_cot;" in id_note
    assert "significantly worse than std_cot_equation;" in id_note
    assert "from ftcot_diverse" in id_note
    ood_note = next(n for n in notes if n.startswith("mind on OOD pooled"))
    assert "significantly worse than ftcot_diverse" in ood_note
    assert any(n.startswith("ID: best is std_cot_equation (55.0%)") for n in notes)
    assert any("least for mind (+10.0 points)" in n for n in notes)


def test_seed_finding_comes_first_and_says_what_the_seeds_cover():
    one_seed = report.findings(SUMMARY)[0]
    assert one_seed.startswith("Each method ran with one seed") and "several seeds" in one_seed
    three = {m: dict(e, seeds=[0, 1, 2], id=dict(e["id"], acc_std=sd))
             for (m, e), sd in zip(SUMMARY["methods"].items(), (0.02, 0.081, 0.03, 0.01))}
    note = report.findings(dict(SUMMARY, methods=three))[0]
    assert note == ("Seeds per method: 3; ± in the table is the seed-to-seed sd. "
                    "The largest ID sd is 8.1 points (std_cot).")


def test_paired_frame_and_summary_frame():
    paired = tables.paired_frame(SUMMARY)
    assert set(paired["vs"]) == {"std_cot", "std_cot_equation", "ftcot_diverse"}
    assert paired.loc[(paired["vs"] == "std_cot") & (paired["split"] == "ID"), "diff"].item() == 0.10
    # with several seeds the McNemar p is the smallest per-seed p, Bonferroni-corrected
    three = dict(SUMMARY, paired={"reference": "mind", "vs": {"std_cot": {"id": dict(cmp(0.1, 0.01), mcnemar=[
        {"seed": k, "b": 5, "c": 1, "statistic": 2.0, "p": p} for k, p in enumerate((0.2, 0.01, 0.5))])}}})
    assert tables.paired_frame(three)["p_mcnemar"].item() == 0.03
    frame = tables.summary_frame(SUMMARY)
    assert frame.loc[(frame["method"] == "mind") & (frame["column"] == "forgetting"), "acc"].item() == 0.10


def test_readme_block_is_replaced_only_between_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:start -->\nold\n<!-- results:end -->\noutro\n")
    assert report.update_readme_block(readme, "| new |")
    assert readme.read_text() == "intro\n<!-- results:start -->\n| new |\n<!-- results:end -->\noutro\n"
    other = tmp_path / "OTHER.md"
    other.write_text("no markers")
    assert not report.update_readme_block(other, "x") and other.read_text() == "no markers"


def test_figures_build_from_fixture_metrics():
    by_steps = [{"method": m, "suite": s, "n_steps": k, "acc": 0.1 * k, "ci_lo": 0.0, "ci_hi": 0.5}
                for m in ("mind", "std_cot") for s, ks in (("test_id", (2, 3, 4)), ("ood_steps", (5, 6))) for k in ks]
    for fig in (figures.accuracy_figure(SUMMARY), figures.steps_figure(by_steps),
                figures.forgetting_scatter(SUMMARY)):
        assert fig.axes
    logs = pd.DataFrame([{"method": "mind", "seed": 0, "step": s, "target_tokens": 100 * s, "loss": 1 / s,
                          "alpha/a": 0.6, "alpha/b": 0.4, "selected_share": 0.8, "listnet_kl": 0.1 / s,
                          "spearman_unseen": 0.5, "long_term_loss/a": 1.0, "long_term_loss/b": 2.0} for s in range(1, 5)])
    assert figures.training_curves_figure(logs).axes and figures.metanet_dynamics_figure(logs).axes
    assert figures.metanet_dynamics_figure(logs.drop(columns=["alpha/a", "alpha/b"])) is None
