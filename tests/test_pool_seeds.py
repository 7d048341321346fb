"""benchmarks/pool_seeds.py pools runs of several output roots without counting a run twice."""
import importlib.util
from pathlib import Path

import pytest

from mind_lib.evaluate import save_predictions
from mind_lib.io import Paths

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("pool_seeds", ROOT / "benchmarks" / "pool_seeds.py")
pool_seeds = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pool_seeds)


def write_run(root, method, seed, correct_by_suite):
    for suite, correct in correct_by_suite.items():
        rows = [{"id": f"{suite}-{i}", "split": suite, "output": "The answer is 1.", "pred_answer": "1",
                 "gold": "1" if c else "2", "correct": c, "kind": "number", "skill": "arith"}
                for i, c in enumerate(correct)]
        save_predictions(Paths(root).prediction_file(method, seed, suite), rows)


SUITES = {"test_id": [True, True, False, False], "ood_steps": [True, False, False, False],
          "general_test": [True, True, True, False]}


def test_roots_pool_into_one_summary_with_seed_spread(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    write_run(first, "base_student", 0, SUITES)
    write_run(second, "base_student", 0, SUITES)  # the same base in both roots: taken once
    write_run(first, "mind", 0, SUITES)
    write_run(first, "ftcot_diverse", 0, SUITES)
    write_run(second, "mind", 1, {**SUITES, "test_id": [True, True, True, True]})
    write_run(second, "ftcot_diverse", 1, SUITES)
    tree = pool_seeds.pooled_tree([first, second], None)
    assert sorted({(m, s) for m, s, _ in tree}) == [("base_student", 0), ("ftcot_diverse", 0), ("ftcot_diverse", 1),
                                                     ("mind", 0), ("mind", 1)]
    rows = {(r["method"], r["seed"]): r for r in pool_seeds.per_seed_rows(tree)}
    assert rows[("mind", 1)]["id"] == 1.0 and rows[("mind", 0)]["id"] == 0.5
    assert rows[("mind", 0)]["ood_mean"] == 0.25 and rows[("mind", 0)]["general"] == 0.75
    out = tmp_path / "table.md"
    pool_seeds.main([str(first), str(second), "--n-boot", "200", "--out", str(out)])
    text = out.read_text()
    assert "Seeds per method: 2" in text and "| mind | 1 | 100.0 |" in text


def test_a_run_in_two_roots_is_refused(tmp_path):
    write_run(tmp_path / "a", "mind", 0, SUITES)
    write_run(tmp_path / "b", "mind", 0, SUITES)
    with pytest.raises(ValueError, match="mind seed 0 .* is also in an earlier root"):
        pool_seeds.pooled_tree([tmp_path / "a", tmp_path / "b"], None)
