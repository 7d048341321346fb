"""Statistics of prediction rows: bootstrap intervals, paired tests, and the summary metrics.

Tests and intervals (pure numpy/scipy):

- ``bootstrap_ci``: accuracy with a percentile-bootstrap interval over questions
  (``scipy.stats.bootstrap``; the percentile method stays defined at 0 % and 100 %, where BCa is not).
- ``stratified_bootstrap_ci``: the mean of several suites' accuracies, each suite resampled on its own.
- ``paired_bootstrap``: accuracy difference of two systems on the same questions, its interval and a
  two-sided p-value (questions resampled jointly).
- ``mcnemar``: exact McNemar test (binomial test on the discordant pairs).
- ``seed_summary``: mean and sample standard deviation over seeds.
- ``mcnemar_across_seeds``: one McNemar p for several seeds (Bonferroni over seeds).

The statistical choices are made here, each with its reason in its docstring, and only read elsewhere:
McNemar exact rather than chi-square (``mcnemar``), how per-seed tests combine (``mcnemar_across_seeds``),
the significance level the report's findings use (``SIGNIFICANCE_LEVEL``, per comparison, uncorrected
across the methods compared).

``build_summary`` turns prediction rows of methods x seeds x suites into the summary metrics of
``ARCHITECTURE.md`` (``reports/metrics/summary.json``); ``accuracy_by_steps`` gives the flat table of the
accuracy-vs-reasoning-steps plot.

Several seeds: every seed of a method answers the same questions. A question's score is its mean
correctness over the seeds; ``acc`` is the mean of these scores (= the mean of the per-seed
accuracies), ``ci95`` the bootstrap interval of that mean over questions (so it reflects question
sampling, not seed variance), and ``acc_std`` the standard deviation of the per-seed accuracies.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Mapping, NamedTuple, Sequence

import numpy as np
from scipy import stats as sps

from mind_lib.tasks.world import SPLITS_OOD

SUITE_ID = "test_id"
SUITE_GENERAL = "general_test"
OOD_KEYS = {split: split.removeprefix("ood_") for split in SPLITS_OOD}  # "ood_steps" -> "steps"
BASE_METHOD = "base_student"
REFERENCE_METHOD = "mind"
SIGNIFICANCE_LEVEL = 0.05
"""Two-sided level at which the report calls a paired difference significant (on the paired bootstrap p, the
primary test). Per comparison: the reference is compared with each other method on its own and no correction
is made across those comparisons; every p-value is reported, so a reader can apply one."""


class Estimate(NamedTuple):
    """A mean (accuracy) and the bounds of its confidence interval."""

    acc: float
    lo: float
    hi: float


class PairedDiff(NamedTuple):
    """``mean(a) - mean(b)``, its confidence interval and the two-sided bootstrap p-value of "no difference"."""

    diff: float
    lo: float
    hi: float
    p: float


class McNemar(NamedTuple):
    """Discordant pairs (``b``: only a correct, ``c``: only b correct), chi-square ``(b-c)^2/(b+c)``, exact p."""

    b: int
    c: int
    statistic: float
    p: float


def _scores(x, name: str = "scores") -> np.ndarray:
    """A non-empty 1-D float array (booleans become 0/1)."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D sequence, got shape {arr.shape}")
    return arr


def _mean_of_means(*samples, axis=-1):
    return np.mean([np.mean(s, axis=axis) for s in samples], axis=0)


def _percentile_bootstrap(samples: Sequence[np.ndarray], n_boot: int, seed: int,
                          alpha: float) -> tuple[float, float, np.ndarray]:
    """``(lo, hi, distribution)`` of the mean of the samples' means; each sample resampled independently.

    Samples without any spread have a constant bootstrap distribution; they are answered directly
    (scipy needs two observations per sample).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if all(np.all(s == s[0]) for s in samples):
        point = float(_mean_of_means(*samples))
        return point, point, np.full(n_boot, point)
    res = sps.bootstrap(tuple(samples), _mean_of_means, n_resamples=n_boot, vectorized=True,
                        confidence_level=1 - alpha, method="percentile", rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return float(ci.low), float(ci.high), res.bootstrap_distribution


def bootstrap_ci(correct, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> Estimate:
    """Accuracy of ``correct`` (0/1, or per-question scores in [0, 1]) and its ``1 - alpha`` percentile interval.

    All-correct or all-wrong vectors give the degenerate interval ``(acc, acc)``.
    """
    x = _scores(correct, "correct")
    lo, hi, _ = _percentile_bootstrap([x], n_boot, seed, alpha)
    return Estimate(float(x.mean()), lo, hi)


def stratified_bootstrap_ci(groups: Sequence, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> Estimate:
    """Mean of the groups' accuracies (e.g. over the OOD suites) with a bootstrap that resamples within each group."""
    samples = [_scores(g, f"group {i}") for i, g in enumerate(groups)]
    if not samples:
        raise ValueError("stratified_bootstrap_ci needs at least one group")
    lo, hi, _ = _percentile_bootstrap(samples, n_boot, seed, alpha)
    return Estimate(float(_mean_of_means(*samples)), lo, hi)


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _scores(a, "a"), _scores(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same questions: {a.size} vs {b.size}")
    return a, b


def paired_bootstrap(a_correct, b_correct, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05) -> PairedDiff:
    """Accuracy difference ``a - b`` on the same questions, its percentile interval and a two-sided p-value.

    The p-value centres the bootstrap distribution of the difference on zero (the null) and counts
    resamples at least as far from it as the observed difference: ``(1 + #{|d* - d| >= |d|}) / (n_boot + 1)``.
    Identical systems give ``p = 1``.
    """
    a, b = _paired(a_correct, b_correct)
    d = a - b
    diff = float(d.mean())
    lo, hi, dist = _percentile_bootstrap([d], n_boot, seed, alpha)
    extreme = np.abs(dist - diff) >= abs(diff) - 1e-12
    return PairedDiff(diff, lo, hi, float((1 + extreme.sum()) / (len(dist) + 1)))


def mcnemar(a_correct, b_correct) -> McNemar:
    """Exact McNemar test of two systems' 0/1 outcomes on the same questions.

    Exact (binomial) rather than the chi-square approximation, with or without continuity correction: the
    approximation needs many discordant pairs (``b + c`` of 25 or more, by the usual rule), which small test
    suites and similar students often do not give, and the exact test is valid at any count.
    ``p`` is the two-sided binomial test of ``b`` successes in ``b + c`` trials at 1/2 (1 when there is no
    discordant pair); ``statistic`` the uncorrected chi-square, reported for reference.
    """
    a, b = (x.astype(bool) for x in _paired(a_correct, b_correct))
    n_b, n_c = int(np.sum(a & ~b)), int(np.sum(~a & b))
    if n_b + n_c == 0:
        return McNemar(0, 0, 0.0, 1.0)
    return McNemar(n_b, n_c, (n_b - n_c) ** 2 / (n_b + n_c), float(sps.binomtest(n_b, n_b + n_c, 0.5).pvalue))


def mcnemar_across_seeds(per_seed_p: Sequence[float]) -> float | None:
    """One McNemar p for a comparison run with several seeds: the smallest per-seed p times the number of
    seeds, capped at 1 (Bonferroni); None without seeds.

    A bare minimum over seeds would be optimistic (k seeds are k chances of a small p); Bonferroni stays valid
    however the seeds depend on each other (they answer the same questions). It is the secondary test; the
    pooled paired bootstrap over (question, seed) is the primary one."""
    return min(1.0, min(per_seed_p) * len(per_seed_p)) if per_seed_p else None


def seed_summary(accs) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single seed) of per-seed accuracies."""
    x = _scores(accs, "accs")
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else 0.0


# ---------------------------------------------------------------------------------------------
# Summary metrics from prediction rows
# ---------------------------------------------------------------------------------------------

Predictions = Mapping[tuple[str, int, str], Sequence[dict]]  # (method, seed, suite) -> prediction rows


def _r(x: float) -> float:
    return round(float(x), 4)


def _p(x: float) -> float:
    return float(f"{x:.4g}")


@dataclass(frozen=True)
class SuiteScores:
    """One method's outcomes on one suite: ``correct`` ``(S, N)`` for S seeds x N questions (ids sorted).

    ``info`` holds per question the first seed's row fields beyond the outcome (``skill``, ``n_steps``).
    """

    seeds: tuple[int, ...]
    ids: tuple[str, ...]
    correct: np.ndarray
    info: tuple[dict, ...]

    @classmethod
    def from_runs(cls, runs: Mapping[int, Sequence[dict]], where: str) -> "SuiteScores":
        seeds = tuple(sorted(runs))
        tables = []
        for s in seeds:
            table = {row["id"]: row for row in runs[s]}
            if len(table) != len(runs[s]):
                raise ValueError(f"{where} seed {s}: duplicate question ids")
            tables.append(table)
        ids = tuple(sorted(tables[0]))
        for s, table in zip(seeds, tables):
            if set(table) != set(ids):
                raise ValueError(f"{where}: seed {s} answered other questions than seed {seeds[0]} "
                                 f"({len(set(table) ^ set(ids))} ids differ)")
        correct = np.array([[float(t[i]["correct"]) for i in ids] for t in tables])
        return cls(seeds, ids, correct, tuple(tables[0][i] for i in ids))

    def per_question(self) -> np.ndarray:
        """``(N,)`` mean correctness over seeds."""
        return self.correct.mean(axis=0)

    def seed_accs(self) -> np.ndarray:
        """``(S,)`` accuracy of each seed."""
        return self.correct.mean(axis=1)

    def subset(self, keep: np.ndarray) -> "SuiteScores":
        """The questions where the ``(N,)`` bool ``keep`` holds."""
        return SuiteScores(self.seeds, tuple(np.asarray(self.ids)[keep]), self.correct[:, keep],
                           tuple(i for i, k in zip(self.info, keep) if k))

    def groups(self, field: str) -> dict:
        """``{value: SuiteScores}`` per value of a row field (e.g. ``skill``); rows without it are left out."""
        values = [row.get(field) for row in self.info]
        present = sorted({v for v in values if v is not None})
        return {v: self.subset(np.array([x == v for x in values])) for v in present}

    def paired_with(self, other: "SuiteScores") -> tuple["SuiteScores", "SuiteScores"]:
        """Both restricted to the questions they share, in the same order."""
        shared = set(self.ids) & set(other.ids)
        return (self.subset(np.array([i in shared for i in self.ids])),
                other.subset(np.array([i in shared for i in other.ids])))


def _group(predictions: Predictions) -> dict[str, dict[str, SuiteScores]]:
    """``{method: {suite: SuiteScores}}``."""
    runs: dict[str, dict[str, dict[int, Sequence[dict]]]] = defaultdict(lambda: defaultdict(dict))
    for (method, seed, suite), rows in predictions.items():
        if not rows:
            raise ValueError(f"{method} seed {seed} {suite}: no prediction rows")
        runs[method][suite][seed] = rows
    return {m: {s: SuiteScores.from_runs(r, f"{m} {s}") for s, r in suites.items()} for m, suites in runs.items()}


def _block(scores: SuiteScores, n_boot: int, seed: int) -> dict:
    """``{"acc", "ci95"}`` (+ ``acc_std`` with several seeds)."""
    est = bootstrap_ci(scores.per_question(), n_boot, seed)
    out = {"acc": _r(est.acc), "ci95": [_r(est.lo), _r(est.hi)]}
    if len(scores.seeds) > 1:
        out["acc_std"] = _r(seed_summary(scores.seed_accs())[1])
    return out


def _ood_mean_block(ood: Sequence[SuiteScores], n_boot: int, seed: int) -> dict:
    """The mean over OOD suites: each suite weighs the same; the bootstrap resamples within suites."""
    est = stratified_bootstrap_ci([s.per_question() for s in ood], n_boot, seed)
    out = {"acc": _r(est.acc), "ci95": [_r(est.lo), _r(est.hi)]}
    common = sorted(set.intersection(*(set(s.seeds) for s in ood)))
    if len(common) > 1:
        per_seed = [np.mean([s.seed_accs()[s.seeds.index(k)] for s in ood]) for k in common]
        out["acc_std"] = _r(seed_summary(per_seed)[1])
    return out


def _method_entry(suites: Mapping[str, SuiteScores], n_boot: int, seed: int) -> dict:
    """One method's block of the summary (without ``forgetting``)."""
    entry: dict = {"seeds": sorted({k for s in suites.values() for k in s.seeds})}
    if SUITE_ID in suites:
        entry["id"] = _block(suites[SUITE_ID], n_boot, seed)
    ood = {split: suites[split] for split in OOD_KEYS if split in suites}
    if ood:
        entry["ood"] = {OOD_KEYS[split]: _block(s, n_boot, seed) for split, s in ood.items()}
        entry["ood"]["mean"] = _ood_mean_block(list(ood.values()), n_boot, seed)
    if SUITE_GENERAL in suites:
        entry["general"] = _block(suites[SUITE_GENERAL], n_boot, seed)
        by_skill = suites[SUITE_GENERAL].groups("skill")
        if by_skill:
            entry["general_by_skill"] = {k: _block(s, n_boot, seed) for k, s in by_skill.items()}
    others = sorted(set(suites) - {SUITE_ID, SUITE_GENERAL, *OOD_KEYS})
    if others:
        entry["benchmarks"] = {name: _block(suites[name], n_boot, seed) for name in others}
    return entry


def _comparison(ref: SuiteScores, other: SuiteScores, n_boot: int, seed: int) -> dict:
    """Reference minus other on their shared questions: paired bootstrap over questions, McNemar per common seed."""
    ref, other = ref.paired_with(other)
    if not ref.ids:
        return {"n": 0}
    test = paired_bootstrap(ref.per_question(), other.per_question(), n_boot, seed)
    per_seed = []
    for k in sorted(set(ref.seeds) & set(other.seeds)):
        m = mcnemar(ref.correct[ref.seeds.index(k)], other.correct[other.seeds.index(k)])
        per_seed.append({"seed": k, "b": m.b, "c": m.c, "statistic": _r(m.statistic), "p": _p(m.p)})
    return {"n": len(ref.ids), "diff": _r(test.diff), "ci95": [_r(test.lo), _r(test.hi)], "p_bootstrap": _p(test.p),
            "mcnemar": per_seed}


def _pooled(suites: Sequence[SuiteScores]) -> SuiteScores:
    """Several suites as one (ids are unique across world splits); only seeds common to all are kept."""
    common = sorted(set.intersection(*(set(s.seeds) for s in suites)))
    rows = [s.correct[[s.seeds.index(k) for k in common]] for s in suites]
    return SuiteScores(tuple(common), tuple(i for s in suites for i in s.ids), np.concatenate(rows, axis=1),
                       tuple(x for s in suites for x in s.info))


def _paired_entry(ref: Mapping[str, SuiteScores], other: Mapping[str, SuiteScores], n_boot: int, seed: int) -> dict:
    """Comparisons on every suite both methods answered; OOD suites also pooled (``ood.pooled``)."""
    out: dict = {}
    for suite, key in ((SUITE_ID, "id"), (SUITE_GENERAL, "general")):
        if suite in ref and suite in other:
            out[key] = _comparison(ref[suite], other[suite], n_boot, seed)
    shared_ood = [split for split in OOD_KEYS if split in ref and split in other]
    if shared_ood:
        out["ood"] = {OOD_KEYS[s]: _comparison(ref[s], other[s], n_boot, seed) for s in shared_ood}
        out["ood"]["pooled"] = _comparison(_pooled([ref[s] for s in shared_ood]),
                                           _pooled([other[s] for s in shared_ood]), n_boot, seed)
    return out


def build_summary(predictions: Predictions, base_method: str = BASE_METHOD, reference: str = REFERENCE_METHOD,
                  n_boot: int = 2000, seed: int = 0) -> dict:
    """The summary metrics (``ARCHITECTURE.md``) of prediction rows keyed by ``(method, seed, suite)``.

    Suites: ``test_id`` -> ``id``; ``ood_<x>`` -> ``ood.<x>`` and their ``ood.mean``; ``general_test`` ->
    ``general`` and ``general_by_skill``; any other suite (a public benchmark) -> ``benchmarks.<suite>``.
    ``forgetting`` = base student's general accuracy - the method's (null without either).
    ``base_method``'s rows make ``base_student``. ``paired`` (present when ``reference`` has rows):
    ``{"reference", "vs": {method: {"id"|"general": cmp, "ood": {<x>|"pooled": cmp}}}}`` with
    ``cmp = {n, diff (reference - method), ci95, p_bootstrap, mcnemar: [{seed, b, c, statistic, p}]}``.
    """
    grouped = _group(predictions)
    base = grouped.pop(base_method, None)
    base_general = base[SUITE_GENERAL].per_question().mean() if base and SUITE_GENERAL in base else None
    summary: dict = {"methods": {}}
    for method in sorted(grouped):
        entry = _method_entry(grouped[method], n_boot, seed)
        general = grouped[method].get(SUITE_GENERAL)
        entry["forgetting"] = (_r(base_general - general.per_question().mean())
                               if base_general is not None and general is not None else None)
        summary["methods"][method] = entry
    if base is not None:
        summary["base_student"] = _method_entry(base, n_boot, seed)
    if reference in grouped:
        everyone = {**grouped, **({base_method: base} if base is not None else {})}
        summary["paired"] = {"reference": reference, "vs": {
            m: _paired_entry(grouped[reference], suites, n_boot, seed)
            for m, suites in sorted(everyone.items()) if m != reference}}
    return summary


def accuracy_by_steps(predictions: Predictions, n_boot: int = 2000, seed: int = 0) -> list[dict]:
    """Flat table for the accuracy-vs-reasoning-steps plot: one row per (method, suite, n_steps).

    Columns: ``method, suite, n_steps, n`` (questions), ``seeds`` (count), ``acc, ci_lo, ci_hi`` and
    ``acc_std`` (None with one seed). Suites whose rows carry no ``n_steps`` (general, benchmarks) are left out.
    """
    table = []
    for method, suites in sorted(_group(predictions).items()):
        for suite, scores in sorted(suites.items()):
            for n_steps, sub in scores.groups("n_steps").items():
                block = _block(sub, n_boot, seed)
                table.append({"method": method, "suite": suite, "n_steps": n_steps, "n": len(sub.ids),
                              "seeds": len(sub.seeds), "acc": block["acc"], "ci_lo": block["ci95"][0],
                              "ci_hi": block["ci95"][1], "acc_std": block.get("acc_std")})
    return table


def preregistered_comparison(summary: Mapping, reference: str = REFERENCE_METHOD,
                             alpha: float = SIGNIFICANCE_LEVEL) -> dict | None:
    """The pre-registered test (docs/method.md §6): ``reference`` against the strongest control, on the OOD splits
    pooled, greedy decoding. The control is whichever of MCC-KD, ``ftcot_diverse`` and the best single-paradigm
    student (``std_cot_<paradigm>``, the highest seed-mean OOD mean: chosen after the run, the harshest choice for
    the reference) has the highest seed-mean OOD mean. Paired bootstrap over (question, seed), two-sided, at
    ``alpha``. None without the reference's paired block or any control."""
    from mind_lib.styles import PARADIGMS

    methods, paired = summary.get("methods", {}), (summary.get("paired") or {})
    if paired.get("reference") != reference:
        return None
    ood = {m: e["ood"]["mean"]["acc"] for m, e in methods.items() if e.get("ood", {}).get("mean")}
    singles = {m: a for m, a in ood.items() if m in {f"std_cot_{p}" for p in PARADIGMS}}
    controls = {m: ood[m] for m in ("mcc_kd", "ftcot_diverse") if m in ood}
    if singles:
        best_single = max(singles, key=singles.get)
        controls[best_single] = singles[best_single]
    controls = {m: a for m, a in controls.items() if m in paired.get("vs", {})}
    if not controls:
        return None
    control = max(controls, key=controls.get)
    cmp = paired["vs"][control]["ood"]["pooled"]
    verdict = ("better" if cmp["diff"] > 0 else "worse") if cmp["p_bootstrap"] < alpha else "no difference detected"
    return {"reference": reference, "control": control, "candidates": sorted(controls), "n": cmp["n"],
            "diff": cmp["diff"], "ci95": cmp["ci95"], "p": cmp["p_bootstrap"], "alpha": alpha, "verdict": verdict,
            "seeds": {m: len(methods[m].get("seeds", [])) for m in (reference, control)}}
