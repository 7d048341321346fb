"""benchmarks/calibrate.py --tune reads no test split of the reported world, nor any split of the final run's."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("calibrate", ROOT / "benchmarks" / "calibrate.py")
calibrate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(calibrate)


def test_tuning_reads_the_feedback_split_and_the_dev_worlds_ood_splits_only():
    world, dev = Path("/w/world"), Path("/w/dev_world")
    tune = calibrate.eval_sources(world, True, dev)
    assert tune["id"] == (str(world), "feedback")
    assert {k: v for k, v in tune.items() if k != "id"} == {x: (str(dev), x) for x in calibrate.OOD_SPLITS}
    assert not any(split in ("test_id", "general_test") for _, split in tune.values())
    check = calibrate.eval_sources(world, False)
    assert check["id"] == (str(world), "test_id") and check["general_test"] == (str(world), "general_test")
    assert all(folder == str(world) for folder, _ in check.values())


def test_the_final_run_draws_a_world_no_decision_has_read():
    """The pre-registered run (paper profile) uses neither the default's world, whose test splits were read while
    the project was built, nor the dev world that ``--tune`` reads (docs/method.md §6)."""
    from mind_lib.params.all import load_params

    default = load_params(ROOT / "params.yaml", sections=("world",)).world.seed
    paper = load_params(ROOT / "params.yaml", profile="paper", sections=("world",)).world.seed
    assert paper not in (default, default + calibrate.DEV_SEED_OFFSET)
