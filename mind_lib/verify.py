"""``mind verify``: does a rerun reproduce the committed results?

Two checks, each line printed:

1. **Data** must be identical. The committed md5s of ``data/world`` (a DVC directory hash) and of every
   ``data/rationales/*`` file come from the committed ``dvc.lock`` (or, for a committed output root
   without one, from its own ``data/`` files); the rerun's are computed from its files the way DVC does.
   World generation and built-in teachers are seeded and use no floating-point training, so any
   difference is a real discrepancy (other code, other params), not machine noise.
2. **Figures** need only agree within an interval, because CPU training is not bitwise reproducible
   across CPU types (docs/lab-notes.md, 2026-12-01). Per method (and the base student): ID accuracy
   (``id.acc``), OOD mean (``ood.mean.acc``) and general accuracy (``general.acc``) of
   ``reports/metrics/summary.json`` (built by ``mind_lib.stats.build_summary``).

The interval (ours). On the same questions (data identical), what moves a figure between machines is
training noise: a different CPU path acts like another draw of the seed. So the committed seeds' spread
predicts the rerun:

- **n >= 2 committed seeds**: a 95% prediction interval for the mean of the rerun's m seeds,
  ``mean +- t(0.975, n-1) * sd * sqrt(1/n + 1/m)`` (``sd`` = the summary's ``acc_std``, ddof=1). With the
  same seed list (m = n) that is ``sd * sqrt(2/n)``; a one-seed rerun gets the usual
  ``sqrt(1 + 1/n)``. The half-width is at least ``MIN_HALF_WIDTH`` (1 point), so seeds that agreed
  exactly (sd 0, e.g. all at 100%) do not turn a one-question wobble into a discrepancy.
- **one committed seed**: no estimate of training noise exists. The fallback is
  ``max(CI half-width, ONE_SEED_TOLERANCE)`` = at least 10 points around the committed value (the CI only
  reflects question sampling, which is the same in a rerun). This interval is **weak**: it is marked so
  in the output, it catches gross failures only, and it is no evidence that a one-seed result is stable;
  run the paper profile (3 seeds) for a real check.

Intervals are clipped to [0, 1]. Exit code: 0 everything within; 2 a discrepancy (a data hash differs
or is missing, a figure is outside its interval or missing in the rerun); 1 nothing discrepant, but
something could not be checked (no committed data hashes, or no summary on either side).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from mind_lib.io import Paths, read_json
DATA_PREFIXES = ("data/world", "data/rationales/")
# (label, keys into a method's summary block)
FIGURES = (("id", ("id",)), ("ood_mean", ("ood", "mean")), ("general", ("general",)))
ONE_SEED_TOLERANCE = 0.10
MIN_HALF_WIDTH = 0.01
OK, UNCHECKED, DISCREPANCY = 0, 1, 2


# ---------------------------------------------------------------------------------------------
# Data hashes
# ---------------------------------------------------------------------------------------------

def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def dvc_md5(path: str | Path) -> str:
    """The md5 ``dvc.lock`` records for ``path``: a file's md5, or for a folder DVC's directory hash
    (md5 of the sorted JSON list of ``{"md5", "relpath"}`` of its files, suffixed ``.dir``)."""
    path = Path(path)
    if path.is_file():
        return _md5(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    entries = sorted(({"md5": _md5(p), "relpath": p.relative_to(path).as_posix()}
                      for p in path.rglob("*") if p.is_file()), key=lambda e: e["relpath"])
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def _is_data(path: str) -> bool:
    return path == DATA_PREFIXES[0] or path.startswith(DATA_PREFIXES[1])


def lock_data_hashes(lock: str | Path) -> dict[str, str]:
    """``{path: md5}`` of the world and rationale outputs recorded in a ``dvc.lock``."""
    import yaml

    lock = Path(lock)
    if not lock.exists():
        raise FileNotFoundError(f"{lock}: no such file")
    doc = yaml.safe_load(lock.read_text(encoding="utf-8")) or {}
    hashes = {}
    for name, stage in (doc.get("stages") or {}).items():
        for out in stage.get("outs") or []:
            if _is_data(str(out.get("path", ""))):
                if "md5" not in out:
                    raise ValueError(f"{lock}: stage {name}: output {out.get('path')} has no md5")
                hashes[out["path"]] = out["md5"]
    if not hashes:
        raise ValueError(f"{lock}: no data/world or data/rationales/* output recorded")
    return hashes


def root_data_hashes(root: str | Path) -> dict[str, str]:
    """``{path: md5}`` of an output root's ``data/world`` and ``data/rationales/*`` files, as DVC would record them."""
    root = Path(root)
    hashes = {DATA_PREFIXES[0]: dvc_md5(root / DATA_PREFIXES[0])} if (root / DATA_PREFIXES[0]).is_dir() else {}
    rationales = root / DATA_PREFIXES[1]
    if rationales.is_dir():
        # hidden files are the stage's lock (collect writes under data/rationales/.lock), not data
        hashes |= {p.relative_to(root).as_posix(): _md5(p) for p in sorted(rationales.iterdir())
                   if p.is_file() and not p.name.startswith(".")}
    return hashes


@dataclass(frozen=True)
class DataCheck:
    path: str
    committed: str
    rerun: str | None  # None: missing in the rerun

    @property
    def same(self) -> bool:
        return self.committed == self.rerun


def check_data(committed: Mapping[str, str], rerun_root: str | Path) -> list[DataCheck]:
    """The rerun's hash of every committed data path (a missing file or folder is a discrepancy)."""
    rerun_root = Path(rerun_root)
    return [DataCheck(path, md5, dvc_md5(rerun_root / path) if (rerun_root / path).exists() else None)
            for path, md5 in sorted(committed.items())]


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FigureCheck:
    method: str
    figure: str
    committed: float
    rerun: float | None  # None: missing in the rerun
    lo: float
    hi: float
    seeds: int  # committed seeds
    weak: bool  # the one-seed fallback tolerance

    @property
    def within(self) -> bool:
        return self.rerun is not None and self.lo - 1e-9 <= self.rerun <= self.hi + 1e-9


def expected_interval(block: Mapping, n: int, m: int) -> tuple[float, float, bool]:
    """``(lo, hi, weak)`` for a rerun's value of one committed figure ``block`` (``acc``, ``ci95``, ``acc_std``)
    over ``n`` committed and ``m`` rerun seeds; the rule is the module docstring's."""
    from scipy import stats as sps

    acc = float(block["acc"])
    if n >= 2 and block.get("acc_std") is not None:
        half = sps.t.ppf(0.975, n - 1) * float(block["acc_std"]) * math.sqrt(1 / n + 1 / max(m, 1))
        half, weak = max(half, MIN_HALF_WIDTH), False
    else:
        lo, hi = block.get("ci95", [acc, acc])
        half, weak = max((float(hi) - float(lo)) / 2, ONE_SEED_TOLERANCE), True
    return max(0.0, acc - half), min(1.0, acc + half), weak


def _dig(block: Mapping, keys: tuple[str, ...]) -> Mapping | None:
    for k in keys:
        block = block.get(k) if isinstance(block, Mapping) else None
    return block if isinstance(block, Mapping) and "acc" in block else None


def _methods(summary: Mapping) -> dict[str, Mapping]:
    """``methods.*`` plus ``base_student`` (the pretrain stage's model: where divergence starts)."""
    methods = dict(summary.get("methods") or {})
    if "base_student" in summary:
        methods["base_student"] = summary["base_student"]
    return methods


def check_figures(committed: Mapping, rerun: Mapping) -> list[FigureCheck]:
    """Every figure of ``FIGURES`` the committed summary has, per method, against the rerun's."""
    checks = []
    rerun_methods = _methods(rerun)
    for method, entry in _methods(committed).items():
        other = rerun_methods.get(method, {})
        n, m = len(entry.get("seeds") or [0]), len(other.get("seeds") or entry.get("seeds") or [0])
        for label, keys in FIGURES:
            block = _dig(entry, keys)
            if block is None:
                continue
            lo, hi, weak = expected_interval(block, n, m)
            theirs = _dig(other, keys)
            checks.append(FigureCheck(method, label, float(block["acc"]), float(theirs["acc"]) if theirs else None,
                                      lo, hi, n, weak))
    return checks


# ---------------------------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------------------------

def _committed_sources(committed: Path) -> tuple[Path | None, Path | None, Path | None]:
    """``(summary.json, dvc.lock, output root with data/)`` of ``--committed`` (each None when absent).

    A file is the summary; the ``dvc.lock`` then is the one of the repository holding it, if any. A folder
    may hold ``summary.json`` and ``dvc.lock`` directly (e.g. both taken out of git) or be a repository or
    output root (``reports/metrics/summary.json``, ``dvc.lock``, ``data/``).
    """
    if committed.is_file():
        lock = next((d / "dvc.lock" for d in committed.resolve().parents if (d / "dvc.lock").exists()), None)
        return committed, lock, None
    if not committed.is_dir():
        raise FileNotFoundError(f"{committed}: no such file or folder (--committed)")
    summary = next((p for p in (committed / "summary.json", Paths(committed).summary_file) if p.exists()), None)
    lock = committed / "dvc.lock" if (committed / "dvc.lock").exists() else None
    data = committed if (committed / "data").is_dir() else None
    return summary, lock, data


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def verify(committed: str | Path, rerun: str | Path, echo: Callable[[str], None] = print) -> int:
    """Compare a rerun's output root with the committed results, printing one line per check through
    ``echo``; returns the exit code (``OK``, ``UNCHECKED`` or ``DISCREPANCY``)."""
    committed, rerun = Path(committed), Path(rerun)
    if not rerun.is_dir():
        raise FileNotFoundError(f"{rerun}: no such folder (--rerun: the rerun's output root)")
    summary_path, lock, data_root = _committed_sources(committed)
    bad, unchecked = [], []

    if lock is not None:
        expected, source = lock_data_hashes(lock), lock
    elif data_root is not None:
        expected, source = root_data_hashes(data_root), data_root / "data"
    else:
        expected, source = {}, None
    if expected:
        echo(f"data: committed {source} vs rerun {rerun / 'data'}")
        for c in check_data(expected, rerun):
            verdict = "same" if c.same else ("MISSING" if c.rerun is None else "DIFFERENT")
            echo(f"  {c.path:<34} {c.committed[:12]:<16} {(c.rerun or '-')[:12]:<16} {verdict}")
            if not c.same:
                bad.append(f"{c.path} {verdict.lower()}")
    else:
        echo(f"data: not checked: no dvc.lock or data/ in {committed}")
        unchecked.append("data")

    rerun_summary = Paths(rerun).summary_file
    if summary_path is None or not rerun_summary.exists():
        missing = rerun_summary if summary_path is not None else f"{committed} (summary.json)"
        echo(f"figures: not compared: no {missing}")
        unchecked.append("figures")
    else:
        echo(f"figures (%): committed {summary_path} vs rerun {rerun_summary}")
        echo(f"  {'method':<20} {'figure':<9} {'committed':>9} {'rerun':>7}   {'expected':<14} seeds")
        committed_summary, rerun_summary_json = read_json(summary_path), read_json(rerun_summary)
        for c in check_figures(committed_summary, rerun_summary_json):
            verdict = "within" if c.within else ("MISSING" if c.rerun is None else "OUTSIDE")
            note = " (weak: one seed)" if c.weak else ""
            interval = f"[{_pct(c.lo)}, {_pct(c.hi)}]"
            echo(f"  {c.method:<20} {c.figure:<9} {_pct(c.committed):>9} {_pct(c.rerun):>7}   {interval:<14} "
                 f"{c.seeds:<5} {verdict}{note}")
            if not c.within:
                bad.append(f"{c.method} {c.figure} {verdict.lower()}")
        extra = sorted(set(_methods(rerun_summary_json)) - set(_methods(committed_summary)))
        if extra:  # e.g. a method added to the grid after the results were committed: nothing to compare
            echo(f"  not compared (no committed figures): {', '.join(extra)}")

    if bad:
        echo(f"verify: {len(bad)} discrepancies: {'; '.join(bad)}")
        return DISCREPANCY
    if unchecked:
        echo(f"verify: no discrepancy, but not checked: {', '.join(unchecked)}")
        return UNCHECKED
    echo("verify: the rerun reproduces the committed data and figures")
    return OK


__all__ = ["DataCheck", "FigureCheck", "check_data", "check_figures", "dvc_md5", "expected_interval",
           "lock_data_hashes", "root_data_hashes", "verify"]
