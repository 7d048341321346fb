"""benchmarks/power.py: the variance of the pre-registered difference, split into seeds and questions."""
import importlib.util
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("power", ROOT / "benchmarks" / "power.py")
power = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(power)


def test_variance_parts_of_a_known_design():
    rng = np.random.default_rng(0)
    n, seeds = 400, 5
    ref = {s: {f"q{i}": bool(rng.random() < 0.5) for i in range(n)} for s in range(seeds)}
    same = {s: dict(v) for s, v in ref.items()}
    parts = power.variance_parts(ref, same)
    assert parts["diff"] == 0 and parts["var_seed"] == 0 and parts["var_question"] == 0
    other = {s: {q: not c if rng.random() < 0.2 else c for q, c in v.items()} for s, v in ref.items()}
    parts = power.variance_parts(ref, other)
    assert parts["seeds"] == seeds and parts["questions"] == n and parts["var_question"] > parts["var_seed"] > 0
    assert power.variance_parts({0: {}}, {0: {}}) is None  # one seed: no seed variance to measure
