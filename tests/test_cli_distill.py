"""``mind pretrain`` and ``mind distill`` end to end on a hand-made output root: --max-steps, --resume."""
import argparse
import json
import os
import subprocess
import sys

import pytest
import yaml
from transformers import AutoModelForCausalLM, AutoTokenizer

from mind_lib.cli import build_parser
from mind_lib.cli_distill import load_training_params
from mind_lib.stages import pretrain as pretrain_stage
from mind_lib.distill import replay_examples
from mind_lib.params.distill import DistillParams
from mind_lib.io import read_jsonl, write_jsonl
from mind_lib.tasks.base import Example, save_examples
from tests.distill_data import TINY, make_examples, make_rows

TRAIN = dict(lr=3e-3, batch_size=4, budget_tokens=900, save_every=2, log_every=1, progress=False,
             mixed_precision="no", cpu=True, group_size=2)
PARAMS = {
    "student": TINY.model_dump(exclude={"lora"}),
    "pretrain": TRAIN | {"budget_tokens": 400},
    "distill": {"train": TRAIN, "methods": {"dss": {"alpha": 0.4},
                                            "mind": {"warmup_epochs": 1, "meta_accum": 2, "probe_every": 1}}},
}


def general(n, split):
    return [Example(f"{split}-{i}", f"What is {i} plus {i + 2}?", str(2 * i + 2), "number", split, {"skill": "arith"})
            for i in range(n)]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    world, rationales = root / "data" / "world", root / "data" / "rationales"
    splits = {"train": make_examples(10), "feedback": make_examples(3, "feedback"),
              "general_train": general(8, "general_train"), "general_test": general(3, "general_test")}
    for split, examples in splits.items():
        save_examples(world / f"{split}.jsonl", examples)
    write_jsonl(rationales / "train.jsonl", make_rows(splits["train"]))
    write_jsonl(rationales / "feedback.jsonl", make_rows(splits["feedback"]))
    (root / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    return root


@pytest.fixture(scope="module", autouse=True)
def _params_as_written():
    """These tests write their own params.yaml (no profiles/ beside it): the smoke profile of the test session's
    environment does not apply."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MIND_PROFILE", raising=False)
        yield


def mind(root, *argv):
    args = build_parser().parse_args([*argv, "--params", str(root / "params.yaml"), "--out-root", str(root)])
    return args.func(args)


@pytest.fixture(scope="module")
def student(root):
    assert mind(root, "pretrain") == 0
    return root / "models" / "student_base"


def test_pretrain_writes_a_loadable_student(student):
    model = AutoModelForCausalLM.from_pretrained(student)
    tok = AutoTokenizer.from_pretrained(student)
    assert model.config.num_hidden_layers == TINY.n_layers and len(tok) == model.config.vocab_size
    # the rationale words are in the vocabulary although the student never trained on rationales
    assert tok.unk_token_id not in tok("x = 3 + 1 = 4.", add_special_tokens=False)["input_ids"]
    summary = json.loads((student / "training" / "summary.json").read_text())
    assert summary["finished"] and summary["train_items"]["perspectives"] == ["answer", "text"]
    assert "eval_loss" in summary


def test_distill_max_steps_then_resume(root, student, capsys):
    out = root / "models" / "dss-seed1"
    assert mind(root, "distill", "--method", "dss", "--seed", "1", "--out", str(out), "--max-steps", "2") == 0
    first = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert first == {"method": "dss", "finished": False, "steps": 2, "target_tokens": first["target_tokens"]}
    assert (out / "training" / "checkpoints" / "latest").read_text() == "step-00000002"
    assert mind(root, "distill", "--method", "dss", "--seed", "1", "--out", str(out), "--resume") == 0
    second = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert second["finished"] and second["steps"] > 2 and second["target_tokens"] >= TRAIN["budget_tokens"]
    steps = [r["step"] for r in read_jsonl(out / "training" / "log.jsonl") if r["event"] == "train"]
    assert steps == list(range(1, second["steps"] + 1))
    assert AutoModelForCausalLM.from_pretrained(out).config.vocab_size > 0


def test_distill_rehearses_the_general_suite_when_asked(root, student, tmp_path):
    rehearse = dict(PARAMS, distill={"train": TRAIN | {"replay_share": 0.5, "save_every": 0}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(rehearse))
    out = tmp_path / "std_cot"
    args = build_parser().parse_args(["distill", "--method", "std_cot", "--out", str(out), "--params",
                                      str(tmp_path / "params.yaml"), "--out-root", str(root)])
    assert args.func(args) == 0
    summary = json.loads((out / "training" / "summary.json").read_text())
    assert summary["replay_target_tokens"] >= 0.5 * summary["target_tokens"] > 0
    # no general suite (e.g. the public-data world): nothing to rehearse; train() then refuses a share > 0
    (tmp_path / "world").mkdir()
    assert replay_examples(tmp_path / "world", DistillParams().train.model_copy(update={"replay_share": 0.5})) is None
    assert replay_examples(root / "data" / "world", DistillParams().train) is None  # share 0: nothing loaded


def test_two_processes_on_cpu_train_one_run_together(root, student, tmp_path):
    """`torchrun`/`accelerate launch` with 2 CPU processes: one run (world 2, gloo), MIND's MetaNet and long-term
    losses synchronised, stopped and resumed across processes (the multi-GPU code path, on a CPU)."""
    out = tmp_path / "mind2"
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
              "mind_lib.cli", "distill", "--method", "mind", "--out", str(out), "--params",
              str(root / "params.yaml"), "--out-root", str(root)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for extra in (["--max-steps", "2"], ["--resume"]):
        done = subprocess.run(launch + extra, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-20000:]
        assert len([line for line in done.stdout.splitlines() if line.startswith("{")]) == 1  # one result line
    summary = json.loads((out / "training" / "summary.json").read_text())
    assert summary["finished"] and summary["processes"] == 2
    rows = [r for r in read_jsonl(out / "training" / "log.jsonl") if r["event"] == "train"]
    assert [r["step"] for r in rows] == list(range(1, summary["steps"] + 1))
    # the MetaNet ran on every step and both processes held the same one throughout
    assert all("selected_share" in r and r["metanet_spread"] == 0.0 for r in rows)


def test_distill_bad_method_and_missing_teacher(root, student, tmp_path):
    with pytest.raises(ValueError, match="unknown method 'mind9'; allowed: answer_only"):
        mind(root, "distill", "--method", "mind9", "--out", str(tmp_path))
    bad = dict(PARAMS, distill={"train": TRAIN, "methods": {"std_cot": {"golden_teacher": "oracle"}}})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    args = build_parser().parse_args(["distill", "--method", "std_cot", "--out", str(tmp_path / "o"), "--params",
                                      str(tmp_path / "params.yaml"), "--out-root", str(root)])
    with pytest.raises(ValueError, match="golden teacher 'oracle' has no rationale"):
        args.func(args)


def test_training_params_errors_name_the_key(tmp_path):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"distill": {"train": {"lrr": 1}}}))
    with pytest.raises(ValueError, match=r"params.yaml: distill.train.lrr: unknown key; allowed keys: lr, min_lr_ratio"):
        load_training_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"pretrain": {"batch_size": 0}}))
    with pytest.raises(ValueError, match=r"pretrain.batch_size: Input should be greater than or equal to 1"):
        pretrain_stage.load(params_file=tmp_path / "params.yaml", out_root=tmp_path)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        DistillParams(methods={"nope": {}})


def test_grid_starts_the_costliest_runs_first_and_returns_grid_order(tmp_path, monkeypatch):
    """LPT scheduling: MIND's look-ahead makes it the longest run; started last it would idle a core."""
    from types import SimpleNamespace

    import mind_lib.parallel
    from mind_lib.distill import run_grid
    from mind_lib.params.distill import DistillParams
    from mind_lib.io import Paths

    paths = Paths(tmp_path)
    paths.base_student.mkdir(parents=True)
    (paths.base_student / "config.json").write_text("{}")
    (paths.base_student / "model.safetensors").write_bytes(b"weights")
    submitted = []

    def fake_run_jobs(fn, jobs, workers, desc, progress=True):
        submitted.extend((j["method"], j["seed"]) for j in jobs)
        return [f"{j['method']}/{j['seed']}" for j in jobs]

    monkeypatch.setattr(mind_lib.parallel, "run_jobs", fake_run_jobs)
    params = SimpleNamespace(distill=DistillParams(runs=["std_cot", "mind", "dss"], seeds=[0, 1]), student=None)
    results = run_grid(params, paths, progress=False)
    assert submitted[:2] == [("mind", 0), ("mind", 1)]
    assert results == ["std_cot/0", "std_cot/1", "mind/0", "mind/1", "dss/0", "dss/1"]


def test_more_seeds_add_runs_for_the_named_methods():
    from mind_lib.params.distill import run_pairs, seeds_of

    cfg = DistillParams(runs=["std_cot", "mind"], seeds=[0], more_seeds={"mind": [1, 2]})
    assert run_pairs(cfg) == [("std_cot", 0), ("mind", 0), ("mind", 1), ("mind", 2)]
    assert seeds_of(cfg, "std_cot") == [0]
    assert run_pairs(DistillParams(runs=["std_cot"], more_seeds={"dss": [1]})) == [("std_cot", 0)]  # dss not run
    with pytest.raises(ValueError, match="unknown method 'mnid'"):
        DistillParams(runs=["mind"], more_seeds={"mnid": [1]})
    with pytest.raises(ValueError, match="repeats a seed"):
        DistillParams(runs=["mind"], seeds=[0, 1], more_seeds={"mind": [1]})


def _grid_root(tmp_path):
    from mind_lib.io import Paths

    paths = Paths(tmp_path)
    paths.base_student.mkdir(parents=True)
    (paths.base_student / "config.json").write_text("{}")
    (paths.base_student / "model.safetensors").write_bytes(b"weights")
    return paths


def test_accelerate_launcher_runs_each_run_as_one_accelerate_launch(tmp_path, monkeypatch):
    """distill.launcher: accelerate: one `accelerate launch ... -m mind_lib.cli distill` per run, in grid order, one
    after another, reading the stage's own resolved params; --resume only where the run started from this base."""
    from types import SimpleNamespace

    from mind_lib.distill import run_grid
    from mind_lib.io import base_student_marker, folder_digest
    from mind_lib.params.student import StudentParams

    paths = _grid_root(tmp_path)
    config = tmp_path / "fsdp.yaml"
    config.write_text("distributed_type: FSDP\n")
    base_student_marker(paths.run_dir("mind", 1)).parent.mkdir(parents=True)
    base_student_marker(paths.run_dir("mind", 1)).write_text(folder_digest(paths.base_student))
    cfg = DistillParams(runs=["std_cot", "mind"], seeds=[0, 1], launcher="accelerate", accelerate_config=str(config),
                        train=TRAIN)
    params = SimpleNamespace(distill=cfg, student=StudentParams(**PARAMS["student"]))
    commands, seen_params = [], []

    def fake_run(command, check=False):
        commands.append(command)
        seen_params.append(yaml.safe_load(open(command[command.index("--params") + 1])))
        out = command[command.index("--out") + 1]
        os.makedirs(f"{out}/training", exist_ok=True)
        with open(f"{out}/training/summary.json", "w") as f:
            json.dump({"finished": True, "steps": 3}, f)
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    summaries = run_grid(params, paths, progress=False)
    assert [(s["method"], s["seed"], s["steps"]) for s in summaries] == [
        ("std_cot", 0, 3), ("std_cot", 1, 3), ("mind", 0, 3), ("mind", 1, 3)]
    params_file = commands[0][commands[0].index("--params") + 1]
    expected = [[sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "-m", "mind_lib.cli",
                 "distill", "--method", m, "--seed", str(s), "--out", str(paths.run_dir(m, s)),
                 "--student", str(paths.base_student), "--params", params_file, "--profile", "default",
                 "--out-root", str(tmp_path), *(["--resume"] if (m, s) == ("mind", 1) else [])]
                for m, s in [("std_cot", 0), ("std_cot", 1), ("mind", 0), ("mind", 1)]]
    assert commands == expected
    assert seen_params[0] == {"student": params.student.model_dump(mode="json"), "distill": cfg.model_dump(mode="json")}
    assert not os.path.exists(params_file)  # a temporary file, gone with the stage
    # each finished run records the base student it started from, so a rerun resumes (or skips) it
    assert all(base_student_marker(paths.run_dir(m, s)).exists() for m, s in [("std_cot", 0), ("mind", 0)])

    # a failed run stops the stage with the command that failed
    monkeypatch.setattr(subprocess, "run", lambda command, check=False: subprocess.CompletedProcess(command, 3))
    with pytest.raises(RuntimeError, match=r"distill std_cot seed 0: `.*accelerate\.commands\.launch .*` exited "
                                           r"with 3"):
        run_grid(params, paths, progress=False)
    missing = SimpleNamespace(distill=cfg.model_copy(update={"accelerate_config": str(tmp_path / "none.yaml")}),
                              student=params.student)
    with pytest.raises(FileNotFoundError, match=r"distill.accelerate_config: .*none\.yaml is not a file"):
        run_grid(missing, paths, progress=False)


def test_accelerate_launcher_trains_one_real_run(root, student, tmp_path, monkeypatch):
    """One real `accelerate launch` (1 CPU process) of a tiny run through the grid: the same summary the CLI writes."""
    from types import SimpleNamespace

    from mind_lib.distill import run_grid
    from mind_lib.io import Paths
    from mind_lib.params.student import StudentParams

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = tmp_path / "accelerate.yaml"  # the user's file: one process on the CPU, nothing read from ~/.cache
    config.write_text(yaml.safe_dump({"compute_environment": "LOCAL_MACHINE", "distributed_type": "NO",
                                      "num_processes": 1, "num_machines": 1, "machine_rank": 0, "use_cpu": True,
                                      "mixed_precision": "no", "main_training_function": "main"}))
    cfg = DistillParams(runs=["std_cot"], train=TRAIN | {"save_every": 0}, launcher="accelerate",
                        accelerate_config=str(config))
    [summary] = run_grid(SimpleNamespace(distill=cfg, student=StudentParams(**PARAMS["student"])), Paths(root),
                         progress=False)
    assert summary["finished"] and summary["processes"] == 1 and summary["target_tokens"] >= TRAIN["budget_tokens"]
    assert AutoModelForCausalLM.from_pretrained(Paths(root).run_dir("std_cot", 0)).config.vocab_size > 0
