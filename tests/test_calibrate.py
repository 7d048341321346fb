"""benchmarks/calibrate.py --tune reads no test split of the reported world."""
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
