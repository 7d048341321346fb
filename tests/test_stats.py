"""Bootstrap intervals, paired tests, seed summaries, and the summary metrics built from prediction rows."""
import json

import numpy as np
import pytest

from mind_lib.stats import (accuracy_by_steps, bootstrap_ci, build_summary, mcnemar, paired_bootstrap, seed_summary,
                            stratified_bootstrap_ci)

X = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 1])


def direct_percentile(samples, n_boot, seed, alpha=0.05):
    """The percentile bootstrap by hand: resample each sample with the same generator, average the means."""
    rng = np.random.default_rng(seed)
    means = np.mean([s[rng.integers(0, len(s), (n_boot, len(s)))].mean(axis=1) for s in samples], axis=0)
    return tuple(np.percentile(means, [100 * alpha / 2, 100 * (1 - alpha / 2)]))


def test_bootstrap_ci_is_the_percentile_interval_of_resampled_means():
    acc, lo, hi = bootstrap_ci(X, n_boot=2000, seed=3)
    assert acc == 0.7
    assert (lo, hi) == pytest.approx(direct_percentile([X.astype(float)], 2000, 3))
    assert lo < acc < hi
    assert bootstrap_ci(X, n_boot=2000, seed=3) == (acc, lo, hi)  # seeded: reproducible
    assert bootstrap_ci(X, alpha=0.5).hi - bootstrap_ci(X, alpha=0.5).lo < hi - lo


@pytest.mark.parametrize("values,expected", [([1, 1, 1], (1.0, 1.0, 1.0)), ([0] * 5, (0.0, 0.0, 0.0)),
                                             ([True], (1.0, 1.0, 1.0))])
def test_bootstrap_ci_degenerate_vectors(values, expected):
    assert bootstrap_ci(values) == expected


def test_bootstrap_ci_refuses_empty_input():
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([])


def test_stratified_bootstrap_averages_group_accuracies():
    groups = [X.astype(float), np.array([1.0, 1, 0, 0])]
    acc, lo, hi = stratified_bootstrap_ci(groups, n_boot=1000, seed=0)
    assert acc == pytest.approx((0.7 + 0.5) / 2)  # each group weighs the same, whatever its size
    assert (lo, hi) == pytest.approx(direct_percentile(groups, 1000, 0))


def test_paired_bootstrap():
    same = paired_bootstrap(X, X)
    assert (same.diff, same.lo, same.hi, same.p) == (0.0, 0.0, 0.0, 1.0)
    ones, zeros = np.ones(20), np.zeros(20)
    sure = paired_bootstrap(ones, zeros, n_boot=999)
    assert (sure.diff, sure.lo, sure.hi) == (1.0, 1.0, 1.0) and sure.p == pytest.approx(1 / 1000)
    a = np.array([1, 1, 1, 1, 0, 1, 1, 0, 1, 1])
    res = paired_bootstrap(a, X, n_boot=2000, seed=1)
    assert res.diff == pytest.approx(0.1)
    assert (res.lo, res.hi) == pytest.approx(direct_percentile([(a - X).astype(float)], 2000, 1))
    assert 0.2 < res.p <= 1  # one discordant question more than the other way: far from significant
    with pytest.raises(ValueError, match="same questions"):
        paired_bootstrap([1, 0], [1, 0, 1])


def test_mcnemar_exact_p_on_discordant_pairs():
    a = np.array([1] * 10 + [1] * 5 + [0] * 3)
    b = np.array([0] * 10 + [1] * 5 + [0] * 3)
    m = mcnemar(a, b)
    assert (m.b, m.c, m.statistic) == (10, 0, 10.0)
    assert m.p == pytest.approx(2 * 0.5 ** 10)
    assert mcnemar(b, a).p == pytest.approx(2 * 0.5 ** 10) and mcnemar(b, a).c == 10
    assert mcnemar([1, 0, 1, 0], [0, 1, 0, 1]).p == 1.0  # b = c
    assert mcnemar(X, X) == (0, 0, 0.0, 1.0)


def test_seed_summary():
    mean, std = seed_summary([0.5, 0.7])
    assert mean == pytest.approx(0.6) and std == pytest.approx(np.sqrt(0.02))
    assert seed_summary([0.8]) == (0.8, 0.0)


# --------------------------------------------------------------------------------------------- summary

def rows(suite, outcomes, **field_lists):
    """Prediction rows of one suite: question i is correct when ``outcomes[i]``; extra fields per question."""
    out = []
    for i, ok in enumerate(outcomes):
        row = {"id": f"{suite}-{i}", "split": suite, "output": "The answer is 1.", "pred_answer": "1",
               "gold": "1" if ok else "2", "correct": bool(ok), "kind": "number"}
        row.update({k: v[i] for k, v in field_lists.items()})
        out.append(row)
    return out


SKILLS = ["arith", "arith", "compare", "compare", "coin", "coin"]
STEPS = [2, 2, 3, 3, 4, 4, 2, 3, 4, 2]


def fixture_predictions():
    """mind: two seeds; std_cot: one seed; base_student: general only; one public benchmark suite."""
    p = {}
    p[("mind", 0, "test_id")] = rows("test_id", [1] * 10, n_steps=STEPS)
    p[("mind", 1, "test_id")] = rows("test_id", [1] * 8 + [0] * 2, n_steps=STEPS)
    p[("std_cot", 0, "test_id")] = rows("test_id", [1] * 5 + [0] * 5, n_steps=STEPS)
    for method, seeds, right in (("mind", (0, 1), 3), ("std_cot", (0,), 1)):
        for k in seeds:
            for split in ("ood_steps", "ood_templates", "ood_distractor", "ood_numbers"):
                p[(method, k, split)] = rows(split, [1] * right + [0] * (4 - right), n_steps=[5, 5, 6, 6])
    p[("mind", 0, "general_test")] = rows("general_test", [1, 1, 1, 1, 1, 0], skill=SKILLS)
    p[("mind", 1, "general_test")] = rows("general_test", [1, 1, 1, 1, 0, 0], skill=SKILLS)
    p[("std_cot", 0, "general_test")] = rows("general_test", [1, 1, 0, 0, 0, 0], skill=SKILLS)
    p[("base_student", 0, "general_test")] = rows("general_test", [1] * 6, skill=SKILLS)
    p[("std_cot", 0, "gsm8k")] = rows("gsm8k", [1, 0, 0, 0])
    return p


@pytest.fixture(scope="module")
def summary():
    return build_summary(fixture_predictions(), n_boot=300)


def is_metric(block, with_std=False):
    keys = {"acc", "ci95", "acc_std"} if with_std else {"acc", "ci95"}
    return (set(block) == keys and 0 <= block["ci95"][0] <= block["acc"] <= block["ci95"][1] <= 1
            and len(block["ci95"]) == 2)


def test_summary_has_the_architecture_shape(summary):
    assert set(summary) == {"methods", "base_student", "paired"}
    assert set(summary["methods"]) == {"mind", "std_cot"}
    std = summary["methods"]["std_cot"]
    assert set(std) == {"seeds", "id", "ood", "general", "general_by_skill", "forgetting", "benchmarks"}
    assert std["seeds"] == [0]
    assert set(std["ood"]) == {"steps", "templates", "distractor", "numbers", "mean"}
    blocks = [std["id"], std["general"], *std["ood"].values(), *std["general_by_skill"].values()]
    assert all(is_metric(b) for b in blocks)
    assert set(std["general_by_skill"]) == {"arith", "compare", "coin"}
    assert std["benchmarks"] == {"gsm8k": {"acc": 0.25, "ci95": std["benchmarks"]["gsm8k"]["ci95"]}}
    assert set(summary["base_student"]) == {"seeds", "general", "general_by_skill"}
    assert summary["base_student"]["general"] == {"acc": 1.0, "ci95": [1.0, 1.0]}
    json.dumps(summary)  # plain JSON types only


def test_summary_accuracies_forgetting_and_seeds(summary):
    mind, std = summary["methods"]["mind"], summary["methods"]["std_cot"]
    assert mind["seeds"] == [0, 1]
    assert mind["id"]["acc"] == 0.9 and mind["id"]["acc_std"] == pytest.approx(np.std([1.0, 0.8], ddof=1), abs=1e-4)
    assert is_metric(mind["id"], with_std=True) and mind["ood"]["mean"]["acc_std"] == 0.0
    assert std["id"]["acc"] == 0.5 and mind["ood"]["steps"]["acc"] == 0.75 and std["ood"]["mean"]["acc"] == 0.25
    assert mind["general"]["acc"] == pytest.approx((5 / 6 + 4 / 6) / 2, abs=1e-4)
    assert mind["forgetting"] == pytest.approx(1 - (5 / 6 + 4 / 6) / 2, abs=1e-4)  # base - method
    assert std["forgetting"] == pytest.approx(1 - 2 / 6, abs=1e-4)
    assert mind["general_by_skill"]["coin"]["acc"] == 0.25 and std["general_by_skill"]["arith"]["acc"] == 1.0


def test_summary_paired_comparisons_of_the_reference(summary):
    paired = summary["paired"]
    assert paired["reference"] == "mind" and set(paired["vs"]) == {"std_cot", "base_student"}
    vs_std = paired["vs"]["std_cot"]
    assert set(vs_std) == {"id", "ood", "general"}
    assert set(vs_std["ood"]) == {"steps", "templates", "distractor", "numbers", "pooled"}
    mc = vs_std["id"]["mcnemar"]
    assert [(m["seed"], m["b"], m["c"]) for m in mc] == [(0, 5, 0)]  # only seed 0 is common
    assert mc[0]["p"] == pytest.approx(2 * 0.5 ** 5)
    assert vs_std["id"]["n"] == 10 and vs_std["id"]["diff"] == pytest.approx(0.9 - 0.5)
    assert vs_std["ood"]["pooled"]["n"] == 16 and vs_std["ood"]["pooled"]["diff"] == pytest.approx(0.5)
    assert set(paired["vs"]["base_student"]) == {"general"}
    assert paired["vs"]["base_student"]["general"]["diff"] == pytest.approx(-summary["methods"]["mind"]["forgetting"],
                                                                            abs=1e-4)


def test_summary_without_base_or_reference():
    p = {k: v for k, v in fixture_predictions().items() if k[0] == "std_cot"}
    s = build_summary(p, n_boot=100)
    assert set(s) == {"methods"} and s["methods"]["std_cot"]["forgetting"] is None


def test_summary_refuses_seeds_that_answered_other_questions():
    p = fixture_predictions()
    p[("mind", 1, "test_id")] = p[("mind", 1, "test_id")][:-1]
    with pytest.raises(ValueError, match="mind test_id: seed 1 answered other questions"):
        build_summary(p, n_boot=100)


def test_accuracy_by_steps_table():
    table = accuracy_by_steps(fixture_predictions(), n_boot=100)
    assert {(r["method"], r["suite"]) for r in table} >= {("mind", "test_id"), ("std_cot", "ood_steps")}
    assert all(r["suite"] not in ("general_test", "gsm8k") for r in table)
    row = next(r for r in table if (r["method"], r["suite"], r["n_steps"]) == ("mind", "test_id", 2))
    # questions 0, 1, 6, 9 have 2 steps; seed 1 misses question 9
    assert (row["n"], row["seeds"], row["acc"]) == (4, 2, pytest.approx(7 / 8))
    assert row["acc_std"] == pytest.approx(np.std([1.0, 0.75], ddof=1), abs=1e-4)
    assert set(row) == {"method", "suite", "n_steps", "n", "seeds", "acc", "ci_lo", "ci_hi", "acc_std"}
    std_row = next(r for r in table if r["method"] == "std_cot")
    assert std_row["acc_std"] is None


def test_mcnemar_across_seeds_is_bonferroni_over_seeds():
    from mind_lib.stats import mcnemar_across_seeds

    assert mcnemar_across_seeds([0.2, 0.01, 0.5]) == pytest.approx(0.03)
    assert mcnemar_across_seeds([0.6, 0.7]) == 1.0  # capped at 1
    assert mcnemar_across_seeds([]) is None


def test_preregistered_comparison_takes_the_strongest_control():
    from mind_lib.stats import preregistered_comparison

    def entry(ood):
        return {"seeds": [0, 1], "ood": {"mean": {"acc": ood, "ci95": [0, 1]}}}

    def cmp(diff, p):
        return {"ood": {"pooled": {"n": 100, "diff": diff, "ci95": [diff - 0.05, diff + 0.05], "p_bootstrap": p}}}

    summary = {"methods": {"mind": entry(0.30), "mcc_kd": entry(0.25), "ftcot_diverse": entry(0.20),
                           "std_cot_formal": entry(0.28), "std_cot_socratic": entry(0.22), "std_cot": entry(0.9)},
               "paired": {"reference": "mind", "vs": {"mcc_kd": cmp(0.05, 0.01), "ftcot_diverse": cmp(0.1, 0.001),
                                                     "std_cot_formal": cmp(0.02, 0.3), "std_cot_socratic": cmp(0.08, 0.01),
                                                     "std_cot": cmp(-0.6, 0.0)}}}
    pre = preregistered_comparison(summary)
    # std_cot (no paradigm) is not a candidate; the best single paradigm is the strongest control here
    assert pre["control"] == "std_cot_formal" and pre["candidates"] == ["ftcot_diverse", "mcc_kd", "std_cot_formal"]
    assert pre["verdict"] == "no difference detected" and pre["diff"] == 0.02
    summary["paired"]["vs"]["std_cot_formal"] = cmp(-0.03, 0.01)
    assert preregistered_comparison(summary)["verdict"] == "worse"
    assert preregistered_comparison({"methods": {}, "paired": {}}) is None
