"""The pipeline a clone can trust: each DVC stage declares exactly the code and params keys it uses, a fresh
clone's ``dvc status`` shows no changed dependency, a docstring edit in one stage's module reruns that stage only,
profiles reach DVC as ``-S`` overrides, and a profile never writes into the repository's outputs unseen."""
from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.dvc_deps import ROOT, stage_code
from mind_lib.config import _deep_merge, dvc_overrides, read_profile, read_yaml

DVC = [sys.executable, "-m", "dvc"]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _notebook(stage: dict) -> str | None:
    parts = stage["cmd"].split()
    return parts[2] if parts[:2] == ["mind", "notebook"] else None


def _names(items) -> list[str]:
    return [next(iter(i)) if isinstance(i, dict) else i for i in items]


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_declares_exactly_the_code_it_runs(name):
    stage = STAGES[name]
    code = sorted(d for d in stage["deps"] if d.startswith(("mind_lib/", "notebooks/")))
    assert code == stage_code(name, _notebook(stage)), f"dvc.yaml stage {name}: deps differ from its import closure (python -m tests.dvc_deps)"


@pytest.mark.parametrize("name", list(STAGES))
def test_stage_declares_exactly_the_params_it_reads(name):
    module = importlib.import_module(f"mind_lib.stages.{name}")
    assert _names(STAGES[name]["params"]) == list(module.PARAMS)


@pytest.mark.parametrize("name", list(STAGES))
def test_every_declared_param_is_written_in_params_yaml(name):
    """DVC refuses a stage whose params key params.yaml does not spell out (a model default is not enough)."""
    raw = read_yaml(ROOT / "params.yaml")
    for key in _names(STAGES[name]["params"]):
        node = raw
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"stage {name}: {key} is not in params.yaml"
            node = node[part]


def test_a_stage_cannot_read_an_undeclared_key(smoke_root):
    from mind_lib.stages import evaluate

    params, _ = evaluate.load()
    assert params.distill.runs
    with pytest.raises(AttributeError, match="distill.train is not among this stage's params"):
        params.distill.train


def test_report_module_is_a_dependency_of_the_report_stage_only():
    assert [n for n, s in STAGES.items() if "mind_lib/report.py" in s["deps"]] == ["report"]


def _clone(tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    return clone


def _changed_deps(clone: Path) -> dict[str, list[str]]:
    out = subprocess.run([*DVC, "status", "--json"], cwd=clone, capture_output=True, text=True, check=True).stdout
    changed = {}
    for stage, entries in json.loads(out or "{}").items():
        for entry in entries:
            # a dependency another stage makes (data/world, models/...) is only missing on a clone ("deleted")
            modified = sorted(d for d, state in (entry.get("changed deps") or {}).items() if state != "deleted") \
                if isinstance(entry, dict) else []
            if modified:
                changed[stage] = modified
    return changed


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_fresh_clone_has_no_changed_dependency_and_a_docstring_edit_reruns_one_stage(tmp_path):
    clone = _clone(tmp_path)
    assert _changed_deps(clone) == {}, "a fresh clone's dvc status must list missing outputs only"
    report = clone / "mind_lib" / "report.py"
    text = report.read_text()
    report.write_text(text.replace('"""', '"""Edited: ', 1))
    assert _changed_deps(clone) == {"report": ["mind_lib/report.py"]}


def test_profile_overrides_reach_dvc_as_hydra_overrides(tmp_path):
    """``mind exp`` passes each profile override as ``-S``: DVC's rewrite of params.yaml must equal the merge."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(ROOT / "params.yaml", repo / "params.yaml")
    (repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo\n    params: [world]\n")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([*DVC, "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "init"], cwd=repo,
                   check=True)
    expected = read_yaml(ROOT / "params.yaml")
    for name in ("real", "paper", "classic", "smoke"):
        profile = read_profile(ROOT / "params.yaml", name)
        expected = _deep_merge(expected, profile)
        args = [a for o in dvc_overrides(profile) for a in ("-S", o)]
        subprocess.run([*DVC, "exp", "run", *args], cwd=repo, check=True, capture_output=True)
        assert read_yaml(repo / "params.yaml") == expected, name


def test_a_profile_is_refused_where_it_would_write_tracked_outputs(monkeypatch):
    from mind_lib.stages import world

    monkeypatch.setenv("MIND_PROFILE", "smoke")
    monkeypatch.delenv("MIND_OUT_ROOT", raising=False)
    with pytest.raises(ValueError, match="make exp PROFILE=smoke"):
        world.load()


def test_params_yaml_has_no_comments_to_lose():
    """DVC rewrites params.yaml on ``dvc exp run -S``: the documentation lives in the models (mind params --explain)."""
    assert not [line for line in (ROOT / "params.yaml").read_text().splitlines() if line.lstrip().startswith("#")]


def test_readme_results_block_is_current():
    """README's block is what ``mind results`` writes from the committed summary (refresh: make results)."""
    from mind_lib.report import readme_block

    summary = json.loads((ROOT / "reports" / "metrics" / "summary.json").read_text())
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- results:start -->", 1)[1].split("<!-- results:end -->", 1)[0]
    assert block.strip() == readme_block(summary).strip(), "README results block is stale: run `make results`"


def _declared_outputs(stage: dict) -> list[str]:
    return [*_names(stage.get("outs", [])), *_names(stage.get("metrics", [])), *_names(stage.get("plots", []))]


def _files(root: Path) -> dict[str, float]:
    """Every file under ``root`` but the locks of ``io.output_lock`` (git-ignored, beside what they guard)."""
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*")
            if p.is_file() and p.name not in (".lock", ".lock.pid")}


@pytest.fixture(scope="module")
def smoke_stages(tmp_path_factory):
    """The smoke pipeline stage by stage (``run_<stage>``, what the notebooks call) into a fresh output root;
    ``(root, {stage: files it wrote or rewrote})``."""
    import os

    root = tmp_path_factory.mktemp("smoke_stages") / "root"
    saved = os.environ.get("MIND_PROFILE")
    os.environ["MIND_PROFILE"] = "smoke"
    try:
        before: dict[str, float] = {}
        written: dict[str, list[str]] = {}
        for name in STAGES:
            module = importlib.import_module(f"mind_lib.stages.{name}")
            params, paths = module.load(out_root=root)
            getattr(module, f"run_{name}")(params, paths)
            after = _files(root)
            written[name] = sorted(f for f, t in after.items() if before.get(f) != t)
            before = after
    finally:
        if saved is None:
            os.environ.pop("MIND_PROFILE", None)
        else:
            os.environ["MIND_PROFILE"] = saved
    return root, written


def test_each_stage_writes_only_its_declared_outputs(smoke_stages):
    """Every file a stage of the smoke pipeline writes or rewrites lies under one of its outputs in dvc.yaml (the
    executed notebooks and index.html aside: papermill and nbconvert write those, into their declared paths)."""
    for name, written in smoke_stages[1].items():
        outs = _declared_outputs(STAGES[name])
        stray = [f for f in written if not any(f == o or f.startswith(o.rstrip("/") + "/") for o in outs)]
        assert written and not stray, f"stage {name} wrote outside its outputs: {stray}"


def test_params_models_do_not_import_torch():
    code = "import sys, mind_lib.params.all, mind_lib.config; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip() == "False"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_report_rebuilds_on_a_clone_without_models(tmp_path):
    """What README says: a fresh clone has the report stage's inputs in git, and rebuilds it without training."""
    clone = _clone(tmp_path)
    assert not (clone / "models" / "distilled").exists()
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("MIND_PROFILE", "MIND_OUT_ROOT")}
    env.update(PYTHONPATH=str(clone), PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}")
    code = "from mind_lib.stages import report; report.run_report(*report.load())"
    done = subprocess.run([sys.executable, "-c", code], cwd=clone, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (clone / "reports" / "results.md").read_text() == (ROOT / "reports" / "results.md").read_text()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_readme_experiment_command_changes_only_params_lock_and_outputs(tmp_path, smoke_stages, capsys):
    """`make exp PROFILE=smoke` (= `mind exp smoke`) from a fresh clone and a plain shell (no activated venv):
    the experiment runs, and afterwards only params.yaml, dvc.lock and the stages' declared outputs differ from
    the commit; README and every other tracked file are as committed. And the reproduction check (`mind verify`)
    on two smoke runs of this machine, this experiment against the stage-by-stage run in process: the same data
    hashes, every figure within its interval."""
    import os

    from mind_lib.verify import OK, verify

    clone = _clone(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("MIND_PROFILE", "MIND_OUT_ROOT", "VIRTUAL_ENV")}
    env.update(PYTHONPATH=str(clone), PATH="/usr/bin:/bin", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "mind_lib.cli", "exp", "smoke"], cwd=clone, env=env,
                          capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-5000:]
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=clone, capture_output=True,
                             text=True, check=True).stdout.split("\n")
    changed = sorted(line[3:] for line in changed if line.strip())
    outputs = [o for stage in STAGES.values() for o in _declared_outputs(stage)]
    stray = [f for f in changed if f not in ("params.yaml", "dvc.lock")
             and not any(f == o or f.startswith(o.rstrip("/") + "/") for o in outputs)]
    assert "params.yaml" in changed and not stray, stray
    assert read_yaml(clone / "params.yaml") == _deep_merge(read_yaml(ROOT / "params.yaml"),
                                                           read_profile(ROOT / "params.yaml", "smoke"))
    capsys.readouterr()
    assert verify(clone, smoke_stages[0]) == OK
    out = capsys.readouterr().out
    assert " same" in out and "within" in out and "outside" not in out
