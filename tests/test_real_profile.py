"""The `real` profile end to end on CPU: published SVAMP rationales -> a tiny random HF student from a
local path -> distillation -> evaluation on the paper's suites (MATH500, GSM8K, SVAMP; CommonsenseQA,
StrategyQA, and GPQA-Diamond from a synthetic CSV of the official columns). The real models are not
available here; this proves the code paths a GPU user runs (on the device ``evaluate.device: auto`` finds)."""
from pathlib import Path

import pytest
import yaml

from mind_lib.cli import main
from mind_lib.params.all import load_params
from mind_lib.distill import run_grid
from mind_lib.evaluate import evaluate_runs, load_predictions
from mind_lib.io import Paths, find_repo_root
from mind_lib.latent import analyse_students
from mind_lib.rationales import load_rationales
from mind_lib.tasks.base import load_examples
from tests.test_benchmarks import _gpqa_rows, _write_gpqa
from tests.test_metanet import save_tiny_encoder
from tests.test_teacher_hf import _save_tiny_model

SHARED = find_repo_root().parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (SHARED / "rationales" / "svamp_multiteacher_levels").is_dir(),
                                reason=f"{SHARED} (the shared real data) is absent")


def test_real_profile_end_to_end(tmp_path, monkeypatch):
    student = tmp_path / "local-student"
    _save_tiny_model(student, chat_template=None)
    raw = yaml.safe_load((find_repo_root() / "params.yaml").read_text())
    real = yaml.safe_load((find_repo_root() / "profiles" / "real.yaml").read_text())
    real["world"]["public"]["rationales"][0]["max_questions"] = 30
    # GPQA-Diamond as a user adds it (the profile's commented line): its path, and the suite
    gpqa = _write_gpqa(tmp_path / "gpqa_diamond.csv", _gpqa_rows(8))
    real["world"]["public"]["benchmarks"].append({"name": "gpqa_diamond", "path": str(gpqa)})
    real["evaluate"]["suites"].append("gpqa_diamond")
    for bench in real["world"]["public"]["benchmarks"]:
        bench["max_examples"] = 6
    real["student"] = {"source": "path", "path": str(student), "dtype": "float32", "max_len": 256}
    encoder = save_tiny_encoder(tmp_path / "local-encoder", student)  # MIND's MetaNet reads text with it
    real["distill"].update(runs=["std_cot", "ftcot_diverse", "mcc_kd", "mind"], train={
        "lr": 0.001, "batch_size": 4, "budget_epochs": 0.05, "save_every": 0, "progress": False, "cpu": True,
        "replay_share": 0.0})  # public data have no general suite to rehearse
    real["distill"]["methods"]["mind"] = {"warmup_epochs": 0, "meta_accum": 2, "probe_every": 2,
                                          "encoder": str(encoder)}
    assert real["evaluate"]["device"] == "auto" and real["evaluate"]["engine"] == "hf"
    real["evaluate"].update(max_new_tokens=12, n_boot=200)
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(raw))
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "real.yaml").write_text(yaml.safe_dump(real))
    out = tmp_path / "out"
    monkeypatch.setenv("MIND_OUT_ROOT", str(out))
    common = ["--params", str(params_file), "--profile", "real"]

    assert main(["world", *common]) == 0
    paths = Paths(out)
    train, feedback = load_examples(paths.world / "train.jsonl"), load_examples(paths.world / "feedback.jsonl")
    assert len(train) + len(feedback) == 30 and len(feedback) == 3
    svamp = load_examples(paths.world / "svamp.jsonl")
    trained = {e.question for e in train + feedback}
    assert svamp and not trained & {e.question for e in svamp}  # no training question is tested

    assert main(["collect", *common]) == 0
    rows = load_rationales(paths.rationales / "train.jsonl")
    assert {r["teacher"] for r in rows} == {"chatgpt", "gemini", "llama"}
    assert len({r["perspective"] for r in rows}) > 10 and all(r["correct"] for r in rows)

    assert main(["pretrain", *common]) == 0  # a real student is copied, not pretrained
    assert (paths.base_student / "config.json").exists()

    params = load_params(params_file, profile="real")
    summaries = run_grid(params, paths, progress=False)
    assert [s["method"] for s in summaries] == ["std_cot", "ftcot_diverse", "mcc_kd", "mind"]
    assert all(s["finished"] for s in summaries)
    # the epoch budget counts ftcot_diverse's items for every method: one token budget, equal exposure
    assert len({(s["budget_tokens"], s["epoch_tokens"]) for s in summaries}) == 1
    assert summaries[1]["epoch_tokens"] == summaries[1]["train_items"]["target_tokens"]
    assert list(paths.feature_cache.glob("folder-*.pt"))  # the encoder's vectors, cached
    summary = evaluate_runs(params, paths, progress=False)
    suites = {"math500", "gsm8k", "svamp", "commonsenseqa", "strategyqa", "gpqa_diamond"}
    for method in ("mind", "std_cot", "ftcot_diverse", "mcc_kd"):
        assert set(summary["methods"][method]["benchmarks"]) == suites
    for suite, kind in [("gsm8k", "number"), ("math500", "math"), ("commonsenseqa", "choice"),
                        ("strategyqa", "yesno"), ("gpqa_diamond", "choice")]:
        preds = load_predictions(paths.prediction_file("mind", 0, suite))
        assert len(preds) == 6 and all(set(p) >= {"id", "output", "pred_answer", "gold", "correct"} for p in preds)
        assert {p["kind"] for p in preds} == {kind}
    assert "paired" in summary
    assert analyse_students(params, paths)["setup"]["skipped"]
