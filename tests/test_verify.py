"""``mind verify``: data hashes as DVC records them, the expected interval of each figure, exit codes and lines."""
import json

import pytest
import yaml
from scipy import stats as sps

from mind_lib.cli import main
from mind_lib.collect import run_collection
from mind_lib.params.all import load_params
from mind_lib.io import Paths, write_json
from mind_lib.verify import (DISCREPANCY, OK, UNCHECKED, check_figures, dvc_md5, expected_interval,
                             lock_data_hashes, root_data_hashes, verify)


def block(acc, std=None, ci=0.05):
    out = {"acc": acc, "ci95": [round(acc - ci, 4), round(acc + ci, 4)]}
    return out | ({"acc_std": std} if std is not None else {})


def summary(id_acc, ood, general, seeds=(0, 1, 2), std=0.02):
    """A summary.json as ``build_summary`` writes it, for one method and the base student."""
    s = std if len(seeds) > 1 else None
    entry = {"seeds": list(seeds), "id": block(id_acc, s), "ood": {"steps": block(ood, s), "mean": block(ood, s)},
             "general": block(general, s), "forgetting": 0.1}
    return {"methods": {"mind": entry}, "base_student": {"seeds": [0], "id": block(0.05), "general": block(0.9)}}


def make_root(root, summary_json=None, world_text="q1\n", rationale_text="r1\n"):
    """An output root with a two-file world, one rationale file and (optionally) the summary."""
    (root / "data" / "world").mkdir(parents=True)
    (root / "data" / "world" / "train.jsonl").write_text(world_text)
    (root / "data" / "world" / "manifest.json").write_text('{"train": 1}\n')
    (root / "data" / "rationales").mkdir(parents=True)
    (root / "data" / "rationales" / "train.jsonl").write_text(rationale_text)
    if summary_json is not None:
        write_json(root / "reports" / "metrics" / "summary.json", summary_json)
    return root


def commit(folder, root, summary_json):
    """What `make verify` hands over: the committed summary.json and a dvc.lock recording root's data."""
    folder.mkdir()
    hashes = root_data_hashes(root)
    lock = {"schema": "2.0", "stages": {
        "world": {"cmd": "mind world", "outs": [{"path": "data/world", "hash": "md5", "md5": hashes["data/world"]}]},
        "collect": {"cmd": "mind notebook 01", "outs": [
            {"path": p, "hash": "md5", "md5": m} for p, m in hashes.items() if p != "data/world"]
            + [{"path": "reports/figures/collect", "hash": "md5", "md5": "0" * 32 + ".dir"}]}}}
    (folder / "dvc.lock").write_text(yaml.safe_dump(lock))
    write_json(folder / "summary.json", summary_json)
    return folder


def test_dvc_md5_is_dvcs_own_directory_hash(tmp_path):
    from dvc_data.hashfile.tree import Tree

    root = make_root(tmp_path)
    world = root / "data" / "world"
    (world / "sub").mkdir()
    (world / "sub" / "x.txt").write_text("nested\n")
    tree = Tree.from_list([{"md5": dvc_md5(p), "relpath": p.relative_to(world).as_posix()}
                           for p in world.rglob("*") if p.is_file()], hash_name="md5")
    tree.digest()
    assert dvc_md5(world) == tree.hash_info.value
    assert dvc_md5(world).endswith(".dir") and not dvc_md5(world / "train.jsonl").endswith(".dir")


def test_lock_data_hashes_keep_only_world_and_rationales(tmp_path):
    root = make_root(tmp_path / "root")
    lock = commit(tmp_path / "committed", root, summary(0.5, 0.3, 0.8)) / "dvc.lock"
    assert lock_data_hashes(lock) == root_data_hashes(root)
    assert set(lock_data_hashes(lock)) == {"data/world", "data/rationales/train.jsonl"}


def test_interval_several_seeds_is_a_prediction_interval_for_the_reruns_mean():
    half = sps.t.ppf(0.975, 2) * 0.02 * (1 / 3 + 1 / 3) ** 0.5  # n = m = 3: 4.303 x sd x sqrt(2/3)
    assert expected_interval(block(0.5, 0.02), 3, 3) == pytest.approx((0.5 - half, 0.5 + half, False))
    one_new = sps.t.ppf(0.975, 2) * 0.02 * (1 + 1 / 3) ** 0.5  # a one-seed rerun: wider
    assert expected_interval(block(0.5, 0.02), 3, 1)[1] == pytest.approx(0.5 + one_new)
    assert expected_interval(block(1.0, 0.0), 3, 3) == pytest.approx((0.99, 1.0, False))  # floor, clipped


def test_interval_one_seed_falls_back_to_a_weak_tolerance():
    assert expected_interval(block(0.5, ci=0.03), 1, 1) == pytest.approx((0.4, 0.6, True))  # 10 points
    assert expected_interval(block(0.5, ci=0.15), 1, 1) == pytest.approx((0.35, 0.65, True))  # the CI is wider
    assert expected_interval(block(0.05, ci=0.02), 1, 1) == pytest.approx((0.0, 0.15, True))


def test_check_figures_compares_id_ood_mean_and_general_per_method():
    checks = check_figures(summary(0.5, 0.3, 0.8), summary(0.52, 0.1, 0.8))
    by = {(c.method, c.figure): c for c in checks}
    assert set(by) == {("mind", "id"), ("mind", "ood_mean"), ("mind", "general"),
                       ("base_student", "id"), ("base_student", "general")}
    assert by["mind", "id"].within and by["mind", "general"].within
    assert not by["mind", "ood_mean"].within and by["mind", "ood_mean"].rerun == 0.1
    assert by["base_student", "id"].weak and not by["mind", "id"].weak


@pytest.mark.parametrize("rerun_summary,expected_code,expected_line", [
    (summary(0.51, 0.29, 0.8), OK, "the rerun reproduces"),
    (summary(0.70, 0.3, 0.8), DISCREPANCY, "OUTSIDE"),
])
def test_verify_figures_within_and_outside(tmp_path, capsys, rerun_summary, expected_code, expected_line):
    rerun = make_root(tmp_path / "rerun", rerun_summary)
    committed = commit(tmp_path / "committed", rerun, summary(0.5, 0.3, 0.8))
    assert main(["verify", "--committed", str(committed), "--rerun", str(rerun)]) == expected_code
    out = capsys.readouterr().out
    assert expected_line in out
    id_line = next(line for line in out.splitlines() if line.split()[:2] == ["mind", "id"])
    # method, figure, committed, rerun (%), the interval, committed seeds, the verdict
    assert id_line.split()[2:4] == ["50.0", f"{100 * rerun_summary['methods']['mind']['id']['acc']:.1f}"]
    assert id_line.split()[-2:] == ["3", "within" if expected_code == OK else "OUTSIDE"]
    assert "data/world" in out and "DIFFERENT" not in out


def test_verify_flags_a_data_hash_mismatch_even_when_figures_agree(tmp_path, capsys):
    committed_root = make_root(tmp_path / "committed_root")
    committed = commit(tmp_path / "committed", committed_root, summary(0.5, 0.3, 0.8))
    rerun = make_root(tmp_path / "rerun", summary(0.5, 0.3, 0.8), world_text="q1 changed\n")
    assert verify(committed, rerun) == DISCREPANCY
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split()[0] == "data/world" and line.endswith("DIFFERENT") for line in lines)
    assert any(line.split()[0] == "data/rationales/train.jsonl" and line.endswith("same") for line in lines)
    assert lines[-1] == "verify: 1 discrepancies: data/world different"


def test_verify_a_summary_file_and_a_rerun_without_summary(tmp_path, capsys):
    rerun = make_root(tmp_path / "rerun")
    committed = commit(tmp_path / "committed", rerun, summary(0.5, 0.3, 0.8))
    # a summary file finds the dvc.lock beside (or above) it; the rerun has no summary to compare
    assert verify(committed / "summary.json", rerun) == UNCHECKED
    out = capsys.readouterr().out
    assert f"data: committed {committed / 'dvc.lock'}" in out
    assert f"figures: not compared: no {rerun / 'reports' / 'metrics' / 'summary.json'}" in out
    # a summary file alone: the data are not checked
    alone = write_json(tmp_path / "alone" / "summary.json", summary(0.5, 0.3, 0.8))
    assert verify(alone, rerun) == UNCHECKED
    assert "data: not checked" in capsys.readouterr().out
    # a missing figure in the rerun is a discrepancy
    write_json(rerun / "reports" / "metrics" / "summary.json", {"methods": {}})
    assert verify(committed, rerun) == DISCREPANCY
    assert "MISSING" in capsys.readouterr().out
    # a method only the rerun has is named, not compared
    write_json(rerun / "reports" / "metrics" / "summary.json",
               summary(0.5, 0.3, 0.8) | {"methods": summary(0.5, 0.3, 0.8)["methods"] | {"mcc_kd": {"seeds": [0]}}})
    assert verify(committed, rerun) == OK
    assert "not compared (no committed figures): mcc_kd" in capsys.readouterr().out


def test_cli_verify_names_a_missing_folder(tmp_path, capsys):
    assert main(["verify", "--committed", str(tmp_path / "nope"), "--rerun", str(tmp_path)]) == 2
    assert f"{tmp_path / 'nope'}: no such file or folder (--committed)" in capsys.readouterr().err


def test_two_smoke_runs_of_world_and_collect_have_the_same_hashes(tmp_path, capsys):
    """The data half of a rerun on this machine: world + collect (seconds) in two output roots."""
    params = load_params(profile="smoke", sections=("world", "collect"))
    for name in ("a", "b"):
        assert main(["world", "--profile", "smoke", "--out-root", str(tmp_path / name)]) == 0
        run_collection(params, Paths(tmp_path / name), progress=False)
    hashes = root_data_hashes(tmp_path / "a")
    assert set(hashes) == {"data/world", "data/rationales/collected.jsonl", "data/rationales/train.jsonl",
                           "data/rationales/feedback.jsonl"}
    assert hashes == root_data_hashes(tmp_path / "b")
    capsys.readouterr()
    assert verify(tmp_path / "a", tmp_path / "b") == UNCHECKED  # data same; no figures to compare
    out = capsys.readouterr().out
    assert out.count(" same") == 4 and "not checked: figures" in out
    manifest = json.loads((tmp_path / "b" / "data" / "world" / "manifest.json").read_text())
    assert manifest["train"] == load_params(profile="smoke").world.n_train
