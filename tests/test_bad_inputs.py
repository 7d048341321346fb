"""Nothing wrong passes silently: bad params, rationale rows, checkpoints and model folders, outputs of one stage
that do not belong to another's inputs, output folders that are inputs or files, a second writer, an empty or
incomplete collection are errors that name the file, line, key or path (exit 2 on the command line), and a failure
leaves no half-written file behind and loses nothing."""
import errno
import json
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import mind_lib.distill
import mind_lib.parallel
from mind_lib.cli import main
from mind_lib.collect import run_collection
from mind_lib.params.all import load_params
from mind_lib.distill import distill
from mind_lib.evaluate import check_trained_on, evaluate_runs
from mind_lib.params.evaluate import EvaluateParams
from mind_lib.io import DataError, Paths, output_lock, world_marker, write_jsonl
from mind_lib.rationales import load_rationales
from mind_lib.student import load_student
from mind_lib.tasks.base import data_fingerprint, save_examples, world_fingerprint, write_manifest
from mind_lib.tasks.world import generate_world, save_world
from mind_lib.teachers.hf import HFTeacher
from mind_lib.trainer import CheckpointError, WorldSizeError, checkpoint_problem
from tests.distill_data import TINY, fast_train, make_examples, make_rows
from tests.test_config import REPO_PARAMS, write_params
from tests.test_trainer import RESUME_PARAMS, assert_same_weights, run, straight, student_dir, train_rows  # noqa: F401


@pytest.fixture(autouse=True)
def _no_profile_from_env(monkeypatch):
    monkeypatch.delenv("MIND_PROFILE", raising=False)


def load_error(path, profile=None) -> str:
    with pytest.raises(ValueError) as err:
        load_params(path, profile=profile)
    assert str(path) in str(err.value)
    return str(err.value)


# ------------------------------------------------------------------------------------------------
# params: strict types


@pytest.mark.parametrize("value, got", [(True, "True"), ("5", "'5'"), (5.0, "5.0")])
def test_no_bool_string_or_float_read_as_an_int(tmp_path, value, got):
    path = write_params(tmp_path, lambda r: r["world"].update(n_train=value))
    assert f"world.n_train: Input should be a valid integer (got {got})" in load_error(path)


def n_train_line(text: str) -> str:
    """The world's ``n_train`` line of params.yaml, whatever its value (params.yaml is tuned by others)."""
    return next(line for line in text.split("\n") if line.startswith("  n_train: "))


def test_yaml_yes_is_not_one(tmp_path):
    path = tmp_path / "params.yaml"
    text = REPO_PARAMS.read_text()
    path.write_text(text.replace(n_train_line(text) + "\n", "  n_train: yes\n", 1))
    assert "world.n_train: Input should be a valid integer (got True)" in load_error(path)


def test_no_string_read_as_a_float(tmp_path):
    path = write_params(tmp_path, lambda r: r["distill"]["train"].update(lr="0.002"))
    assert "distill.train.lr: Input should be a valid number (got '0.002')" in load_error(path)


def test_ints_for_floats_lists_for_tuples_and_exponents_still_load(tmp_path):
    path = tmp_path / "params.yaml"
    text = REPO_PARAMS.read_text()
    assert "    lr: 0.003\n" in text
    path.write_text(text.replace("    lr: 0.003\n", "    lr: 3e-3\n    betas: [0, 0.95]\n    clip: 1\n", 1))
    params = load_params(path, profile="default")
    train = params.distill.train
    assert train.lr == 0.003 and train.betas == (0.0, 0.95) and train.clip == 1.0
    assert params.world.id_steps == (3, 4)


# ------------------------------------------------------------------------------------------------
# params: duplicate keys, lists, teacher options, cross-section checks


def test_duplicate_key_names_the_key_and_both_lines(tmp_path):
    text = REPO_PARAMS.read_text()
    line = n_train_line(text)
    first = text.split("\n").index(line) + 1
    path = tmp_path / "params.yaml"
    path.write_text(text.replace(line + "\n", f"{line}\n  n_train: 20\n", 1))
    assert f"{path}:{first + 1}: key 'world.n_train' given twice (first at line {first})" in load_error(path)


def test_duplicate_key_inside_a_list_and_a_profile(tmp_path):
    path = write_params(tmp_path, lambda r: None)
    classic = tmp_path / "profiles" / "classic.yaml"
    text = (REPO_PARAMS.parent / "profiles" / "classic.yaml").read_text()
    line = text.split("\n").index("    - {name: narrative, backend: builtin, style: narrative, error_rate: 0.08}") + 1
    classic.write_text(text.replace("style: narrative, error_rate: 0.08}", "style: narrative, error_rate: 0.08, "
                                                                           "error_rate: 0.5}", 1))
    assert (f"{classic}:{line}: key 'collect.teachers.1.error_rate' given twice (first at line {line})"
            in _profile_error(path, "classic"))

    smoke_file = tmp_path / "profiles" / "smoke.yaml"
    text = smoke_file.read_text()
    smoke = "pretrain: {budget_tokens: 3000, save_every: 0}\n"
    assert smoke in text
    smoke_file.write_text(text.replace(smoke, smoke + "pretrain: {budget_tokens: 9}\n", 1))
    line = text.split("\n").index(smoke.rstrip("\n")) + 2
    assert f"{smoke_file}:{line}: key 'pretrain' given twice" in _profile_error(path, "smoke")


def _profile_error(path, profile) -> str:
    """The error of a bad profile file: it names the profile's file, not params.yaml."""
    with pytest.raises(ValueError) as err:
        load_params(path, profile=profile)
    return str(err.value)


def test_seeds_are_checked_one_by_one(tmp_path):
    path = write_params(tmp_path, lambda r: r["distill"].update(seeds=[0, -1]))
    message = load_error(path)
    assert "distill.seeds.1: Input should be greater than or equal to 0 (got -1)" in message
    assert "distill.seeds.0" not in message


def test_unknown_option_of_a_builtin_teacher(tmp_path):
    path = write_params(tmp_path, lambda r: r["collect"]["teachers"][0].update(options={"temperature": 0.2}))
    message = load_error(path)
    assert "collect.teachers.0" in message
    assert "teacher 'teacher': unknown option(s) ['temperature'] for backend 'builtin'; allowed options: none" in message


def test_reference_must_be_a_configured_run(tmp_path):
    path = write_params(tmp_path, lambda r: r["evaluate"].update(reference="mnid"))
    assert ("evaluate.reference: 'mnid' is not one of the configured runs (distill.runs): std_cot_formal, "
            "std_cot_socratic") in load_error(path)
    # checked after the profile's overrides: the smoke profile trains fewer runs
    path = write_params(tmp_path, lambda r: r["evaluate"].update(reference="std_cot_socratic"))
    assert load_params(path, profile="default").evaluate.reference == "std_cot_socratic"
    smoke_runs = ", ".join(load_params(REPO_PARAMS, profile="smoke").distill.runs)
    assert "std_cot_socratic" not in smoke_runs
    assert (f"evaluate.reference: 'std_cot_socratic' is not one of the configured runs (distill.runs): "
            f"{smoke_runs}") in load_error(path, profile="smoke")
    # the evaluate stage alone (sections=...) is checked against distill.runs too
    with pytest.raises(ValueError, match="evaluate.reference"):
        load_params(path, profile="smoke", sections=("evaluate",))


# ------------------------------------------------------------------------------------------------
# rationale rows


@pytest.mark.parametrize("text", ["", "  \n\t "])
def test_empty_rationale_names_file_and_line(tmp_path, text):
    rows = make_rows(make_examples(2))
    rows[2]["rationale"] = text
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    # a blank line before the row: the message gives the line in the file, not the row's index
    lines = path.read_text().split("\n")
    path.write_text("\n".join(lines[:1] + [""] + lines[1:]))
    before = path.read_bytes()
    with pytest.raises(DataError, match=rf"train\.jsonl:4: field 'rationale': empty text"):
        load_rationales(path)
    assert path.read_bytes() == before
    # the raw collection log keeps such rows (a teacher that wrote nothing is recorded, not trained on)
    assert len(load_rationales(path, allow_empty=True)) == len(rows)


# ------------------------------------------------------------------------------------------------
# checkpoints


CKPT = "training/checkpoints"


def damage(state, how: str) -> None:
    if how == "empty":
        state.write_bytes(b"")
    elif how == "truncated":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    else:
        state.write_bytes(b"not a checkpoint at all\n" * 10)


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage"])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(student_dir, tmp_path, straight, caplog, how):
    ref, _ = straight
    first = run(student_dir, tmp_path, params=RESUME_PARAMS.model_copy(update={"max_steps": 4}))
    ckpt = tmp_path / CKPT
    assert not first["finished"] and (ckpt / "latest").read_text() == "step-00000004"
    assert sorted(p.name for p in ckpt.iterdir()) == ["latest", "step-00000002", "step-00000004"]
    bad = ckpt / "step-00000004" / "state.pt"
    damage(bad, how)
    assert checkpoint_problem(bad.parent) is not None
    with caplog.at_level(logging.WARNING, logger="mind_lib.trainer"):
        resumed = run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert str(bad) in warning and "previous intact checkpoint" in warning and "step-00000002" in warning
    # resumed from step 2: the same weights and log as a run never interrupted
    assert resumed["finished"]
    assert_same_weights(ref, tmp_path)
    assert train_rows(tmp_path) == train_rows(ref)


@pytest.mark.parametrize("how", ["empty", "truncated", "garbage", "gone"])
def test_no_intact_checkpoint_is_an_error_naming_the_file(student_dir, tmp_path, how):
    run(student_dir, tmp_path, params=RESUME_PARAMS.model_copy(update={"max_steps": 2}))
    ckpt = tmp_path / CKPT
    state = ckpt / "step-00000002" / "state.pt"
    if how == "gone":
        state.unlink()
    else:
        damage(state, how)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    with pytest.raises(CheckpointError, match="without --resume") as err:
        run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)
    assert str(state) in str(err.value)
    # nothing of the stopped run was removed by the refusal
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before


def test_unreadable_checkpoint_inside_a_valid_archive_names_the_file(student_dir, tmp_path):
    run(student_dir, tmp_path, params=RESUME_PARAMS.model_copy(update={"max_steps": 2}))
    state = tmp_path / CKPT / "step-00000002" / "state.pt"
    with zipfile.ZipFile(state, "w") as z:  # passes the cheap check, fails torch.load
        z.writestr("archive/data.pkl", b"garbage")
    with pytest.raises(CheckpointError, match=r"step-00000002/state\.pt: cannot be read .*without --resume"):
        run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 64")])
def test_disk_full_while_saving_keeps_the_previous_checkpoint(student_dir, tmp_path, straight, monkeypatch, error):
    ref, _ = straight
    real_save = torch.save

    def full_disk(obj, path):
        if "step-00000004" in str(path):  # the second checkpoint: part of a file, then the disk is full
            open(path, "wb").write(b"partial")
            raise error
        real_save(obj, path)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match=r"no space left on device while writing .*step-00000004\.tmp") as err:
        run(student_dir, tmp_path, params=RESUME_PARAMS)
    assert err.value.errno == errno.ENOSPC and "previous checkpoint" in str(err.value)
    monkeypatch.setattr(torch, "save", real_save)
    ckpt = tmp_path / CKPT
    assert (ckpt / "latest").read_text() == "step-00000002"
    assert sorted(p.name for p in ckpt.iterdir()) == ["latest", "step-00000002"]  # no temporary folder left
    assert checkpoint_problem(ckpt / "step-00000002") is None
    run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)
    assert_same_weights(ref, tmp_path)  # nothing lost


def test_resume_with_another_number_of_processes_is_refused_naming_both(student_dir, tmp_path):
    run(student_dir, tmp_path, params=RESUME_PARAMS.model_copy(update={"max_steps": 2}))
    folder = tmp_path / CKPT / "step-00000002"
    state = torch.load(folder / "state.pt", weights_only=False)
    assert (state["world"], state["batch_size"], state["grad_accum"], state["step"]) == (1, 4, 2, 2)
    torch.save(state | {"world": 2}, folder / "state.pt")  # as if saved by `accelerate launch --num_processes 2`
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(WorldSizeError) as err:
        run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)
    message = str(err.value)
    assert str(folder) in message and "with 2 process(es)" in message and "this resume has 1" in message
    assert "batch_size 4" in message and "grad_accum 2" in message
    assert "--num_processes 2" in message and "without --resume" in message
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing discarded


def test_finished_run_stays_finished_under_another_number_of_processes(student_dir, tmp_path, caplog):
    from mind_lib.trainer import run_fingerprint
    from tests.test_trainer import EXAMPLES, ROWS, Counting

    params = fast_train()
    done = run(student_dir, tmp_path, params=params)
    # the summary a 2-process run of the same data and params would have written
    _, tok = load_student(student_dir)
    items = Counting().build_items(EXAMPLES, ROWS, tok, 96)
    two = done | {"processes": 2, "fingerprint": run_fingerprint(items, Counting(), params, 2)}
    (tmp_path / "training" / "summary.json").write_text(json.dumps(two))
    log_before = (tmp_path / "training" / "log.jsonl").read_bytes()
    with caplog.at_level(logging.WARNING, logger="mind_lib.trainer"):
        again = run(student_dir, tmp_path, params=params, resume=True)
    assert again == two and (tmp_path / "training" / "log.jsonl").read_bytes() == log_before  # not trained again
    assert "already finished with 2 process(es) (now 1)" in caplog.text
    # another run's summary (other params) is no such thing: that one trains afresh
    assert run(student_dir, tmp_path, params=fast_train(lr=1e-2), resume=True)["fingerprint"] != two["fingerprint"]


def test_finished_run_with_a_dangling_latest_pointer_is_finished(student_dir, tmp_path):
    done = run(student_dir, tmp_path, params=fast_train(save_every=1))
    assert done["finished"] and not (tmp_path / CKPT).exists()
    # killed while removing the checkpoints at the end: the folder is gone, the pointer not yet
    (tmp_path / CKPT).mkdir(parents=True)
    (tmp_path / CKPT / "latest").write_text(f"step-{done['steps']:08d}")
    log_before = (tmp_path / "training" / "log.jsonl").read_bytes()
    again = run(student_dir, tmp_path, params=fast_train(save_every=1), resume=True)
    assert again == json.loads(json.dumps(done))
    assert (tmp_path / "training" / "log.jsonl").read_bytes() == log_before


# ------------------------------------------------------------------------------------------------
# model folders


def test_empty_model_folder_names_the_folder_and_what_is_missing(tmp_path):
    empty = tmp_path / "my_model"
    empty.mkdir()
    for load in (lambda: HFTeacher(empty, name="local"), lambda: load_student(empty)):
        with pytest.raises(FileNotFoundError) as err:
            load()
        message = str(err.value)
        assert f"{empty} holds no model/tokenizer" in message
        assert "no config.json" in message and "no tokenizer files" in message and "no weights" in message
        assert "sentencepiece" not in message
    assert list(empty.iterdir()) == []


def test_model_folder_with_only_a_config_names_the_tokenizer(tmp_path, student_dir):
    partial = tmp_path / "weights_only"
    partial.mkdir()
    for f in student_dir.iterdir():
        if not f.name.startswith(("tokenizer", "special_tokens")):
            (partial / f.name).write_bytes(f.read_bytes())
    with pytest.raises(FileNotFoundError, match=r"HF teacher 'weights_only': .*weights_only holds no model/tokenizer: "
                                                r"no tokenizer files \(tokenizer\.json"):
        HFTeacher(partial)


def test_duplicate_rationale_names_its_line_and_the_first_one(tmp_path):
    rows = make_rows(make_examples(2))
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" + json.dumps(rows[0]) + "\n")
    with pytest.raises(DataError, match=r"train\.jsonl:4: field 'sample': duplicate of line 1 "):
        load_rationales(path)


# ------------------------------------------------------------------------------------------------
# stages check each other: rationales and trained runs belong to the current world


@pytest.fixture
def root(tmp_path):
    """An output root with the smoke world and its collected rationales (builtin teachers: a fraction of a second)."""
    params = load_params(REPO_PARAMS, profile="smoke")
    paths = Paths(tmp_path / "root")
    save_world(generate_world(params.world), paths.world)
    run_collection(params, paths, progress=False)
    return paths


def mind(capsys, *argv) -> tuple[int, str]:
    """``mind`` on the smoke profile; returns the exit status and what it printed on stderr."""
    code = main([*argv, "--profile", "smoke"])
    return code, capsys.readouterr().err


def tree(folder) -> dict[str, bytes]:
    """Every file under ``folder`` with its content: what a refused command must leave as it was."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*")) if p.is_file()}


@pytest.fixture
def no_model(monkeypatch):
    """Loading a student fails the test: the refusals come before any model is loaded."""
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(mind_lib.distill, "load_training_student", refuse)


def test_world_manifest_records_the_fingerprint_of_its_files(root, tmp_path):
    manifest = json.loads((root.world / "manifest.json").read_text())
    assert manifest["fingerprint"] == data_fingerprint(root.world) == world_fingerprint(root.world)
    assert manifest["train"] == load_params(REPO_PARAMS, profile="smoke").world.n_train
    # a world written before manifests held it: computed from the files, the same value
    (root.world / "manifest.json").unlink()
    assert world_fingerprint(root.world) == manifest["fingerprint"]
    # another seed, another world
    other = Paths(tmp_path / "other")
    params = load_params(REPO_PARAMS, profile="smoke")
    save_world(generate_world(params.world.model_copy(update={"seed": params.world.seed + 1})), other.world)
    assert world_fingerprint(other.world) != manifest["fingerprint"]
    # collect stamps the world into every row distillation reads
    rows = load_rationales(root.rationales / "train.jsonl", world=root.world)
    assert rows and {r["world"] for r in rows} == {manifest["fingerprint"]}


def test_rationales_of_a_regenerated_world_are_refused_by_distill(root, capsys, no_model):
    params = load_params(REPO_PARAMS, profile="smoke")
    save_world(generate_world(params.world.model_copy(update={"seed": params.world.seed + 1})), root.world)
    before = tree(root.root)
    out = root.models / "distilled" / "std_cot" / "seed0"
    code, err = mind(capsys, "distill", "--method", "std_cot", "--out", str(out), "--out-root", str(root.root))
    assert code == 2
    assert (f"mind distill: error: {root.rationales / 'train.jsonl'}:1: field 'world': collected from another world"
            in err)
    assert "rerun the collect stage (dvc repro collect, or mind notebook 01_collect_rationales)" in err
    assert len(err.strip().splitlines()) == 1
    assert tree(root.root) == before and not out.exists()


@pytest.mark.parametrize("field, value", [("question", "Mia has 1 apple. How many apples does Mia have?"),
                                          ("gold", "999"), ("question_id", "train-999")])
def test_older_rows_without_a_stamp_are_checked_by_question_and_gold(tmp_path, field, value):
    world = tmp_path / "world"
    examples = make_examples(3)
    save_examples(world / "train.jsonl", examples)  # a hand-made world: no manifest
    rows = make_rows(examples)
    assert "world" not in rows[0]
    path = write_jsonl(tmp_path / "rationales" / "train.jsonl", rows)
    assert load_rationales(path, world=world) == rows
    rows[4][field] = value
    write_jsonl(path, rows)
    before = path.read_bytes()
    with pytest.raises(DataError) as err:
        load_rationales(path, world=world)
    message = str(err.value)
    assert message.startswith(f"{path}:5: field '{field}': ") and repr(value) in message
    assert str(world / "train.jsonl") in message and "dvc repro collect" in message
    assert path.read_bytes() == before


def test_distill_records_the_world_and_evaluate_refuses_another(tmp_path, student_dir, monkeypatch):
    world = tmp_path / "data" / "world"
    examples, feedback = make_examples(12), make_examples(4, "feedback")
    save_examples(world / "train.jsonl", examples)
    save_examples(world / "feedback.jsonl", feedback)
    write_manifest(world, {"train": 12, "feedback": 4})
    fingerprint = world_fingerprint(world)
    paths = Paths(tmp_path)
    out = paths.run_dir("std_cot", 0)
    summary = distill("std_cot", 0, out, train_examples=examples, rows=make_rows(examples), eval_examples=feedback,
                      eval_rows=make_rows(feedback), student=TINY, params=fast_train(), student_path=student_dir,
                      world=fingerprint)
    assert summary["finished"] and world_marker(out).read_text() == fingerprint
    assert world_marker(out).parent == out / "training" and (out / "training" / "summary.json").exists()
    assert not (out / ".lock.pid").exists()  # the lock is released
    check_trained_on(out, fingerprint, world)

    # the world changes after training: evaluation refuses before decoding or removing the last predictions
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(mind_lib.parallel, "run_jobs", no_decoding)
    kept = write_jsonl(paths.prediction_file("std_cot", 0, "test_id"), [{"id": "test_id-0"}])
    save_examples(world / "train.jsonl", make_examples(13))
    write_manifest(world, {"train": 13, "feedback": 4})
    params = SimpleNamespace(evaluate=EvaluateParams(), distill=SimpleNamespace(runs=["std_cot"], seeds=[0], more_seeds={}))
    with pytest.raises(ValueError) as err:
        evaluate_runs(params, paths, progress=False)
    assert str(err.value) == (f"{out} was trained on another world (fingerprint {fingerprint!r}; {world} is now "
                              f"{world_fingerprint(world)!r}): rerun the distill stage (dvc repro distill, or mind "
                              f"notebook 02_distill) before evaluating")
    assert kept.exists()
    # a run trained before runs recorded their world is refused too
    world_marker(out).unlink()
    with pytest.raises(ValueError, match=r"seed0: no record of the world it was trained on .*world\.sha missing\); "
                                         r"rerun the distill stage"):
        evaluate_runs(params, paths, progress=False)
    assert kept.exists()


# ------------------------------------------------------------------------------------------------
# distill --out: never an input, never a file


@pytest.mark.parametrize("where, relation, what", [
    (lambda p: p.base_student, "is", "the base student"),
    (lambda p: p.world / "run", "lies inside", "the world"),
    (lambda p: p.root / "data", "contains", "the world"),
    (lambda p: p.rationales, "is", "the rationale folder"),
])
def test_distill_out_must_not_touch_its_inputs(root, capsys, no_model, where, relation, what):
    out = where(root)
    before, existed = tree(root.root), out.exists()
    code, err = mind(capsys, "distill", "--method", "std_cot", "--out", str(out), "--out-root", str(root.root))
    assert code == 2
    inputs = {"the base student": root.base_student, "the world": root.world, "the rationale folder": root.rationales}
    assert f"mind distill: error: output folder {out} {relation} {what} ({inputs[what]}), an input of the run" in err
    assert tree(root.root) == before and out.exists() == existed


def test_distill_out_pointing_at_a_file(root, capsys, no_model):
    out = root.root / "notes.txt"
    out.write_text("my notes\n")
    code, err = mind(capsys, "distill", "--method", "std_cot", "--out", str(out), "--out-root", str(root.root))
    assert code == 2 and f"output folder {out} is a file" in err
    assert out.read_text() == "my notes\n"


# ------------------------------------------------------------------------------------------------
# missing rationale files


def test_missing_feedback_rationale_file_is_named(root, capsys, no_model):
    (root.rationales / "feedback.jsonl").unlink()
    code, err = mind(capsys, "distill", "--method", "std_cot", "--out", str(root.models / "run"),
                     "--out-root", str(root.root))
    assert code == 2
    assert (f"mind distill: error: {root.rationales / 'feedback.jsonl'}: missing feedback (--eval-split) rationale "
            f"file; rerun the collect stage") in err
    assert "training questions" not in err and not (root.models / "run").exists()
    (root.rationales / "train.jsonl").unlink()
    code, err = mind(capsys, "distill", "--method", "std_cot", "--out", str(root.models / "run"),
                     "--out-root", str(root.root))
    assert code == 2 and f"{root.rationales / 'train.jsonl'}: missing training ('train' split) rationale file" in err


# ------------------------------------------------------------------------------------------------
# one writer per output


def test_second_distill_into_the_same_out_is_refused(root, capsys, no_model):
    out = root.models / "distilled" / "std_cot" / "seed0"
    with output_lock(out):
        before = tree(root.root)
        code, err = mind(capsys, "distill", "--method", "std_cot", "--out", str(out), "--out-root", str(root.root))
        assert tree(root.root) == before
    assert code == 2
    assert err.strip() == f"mind distill: error: another run holds {out / '.lock'} (pid {os.getpid()}); wait for " \
                          f"it to finish, or stop it"
    assert sorted(p.name for p in out.iterdir()) == [".lock"]  # released: the holder's pid file is gone


def test_second_collection_into_the_same_root_is_refused(root, capsys):
    """Another process holds the lock: the second collection writes nothing; once it is free, the collection runs
    (and, the first one having finished, writes no row twice)."""
    script = "import sys\nfrom mind_lib.io import output_lock\nwith output_lock(sys.argv[1]):\n" \
             "    print('held', flush=True)\n    sys.stdin.read()\n"
    holder = subprocess.Popen([sys.executable, "-c", script, str(root.rationales)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, cwd=REPO_PARAMS.parent,
                              env=dict(os.environ, PYTHONPATH=str(REPO_PARAMS.parent)))
    try:
        assert holder.stdout.readline().strip() == "held"
        before = tree(root.root)
        code, err = mind(capsys, "collect", "--out-root", str(root.root))
        assert code == 2
        assert f"mind collect: error: another run holds {root.rationales / '.lock'} (pid {holder.pid})" in err
        assert tree(root.root) == before
    finally:
        holder.communicate("", timeout=30)
    code, err = mind(capsys, "collect", "--out-root", str(root.root))
    assert code == 0
    # the fixture's collection had finished: this one adds no row (nor the same row twice)
    assert (root.rationales / "collected.jsonl").read_bytes() == before["data/rationales/collected.jsonl"]
    assert not (root.rationales / ".lock.pid").exists()


# ------------------------------------------------------------------------------------------------
# empty or incomplete collections


def test_collection_without_a_usable_row_names_the_teachers_and_their_accuracy(tmp_path, capsys, monkeypatch):
    from mind_lib.teachers.builtin import BuiltinTeacher

    params = load_params(REPO_PARAMS, profile="smoke")
    paths = Paths(tmp_path)
    save_world(generate_world(params.world), paths.world)

    def always_zero(self, examples, n, seed):  # the world's amounts are >= 1: never right
        return [["I will guess.\nThe answer is 0."] * n for _ in examples]

    monkeypatch.setattr(BuiltinTeacher, "generate", always_zero)
    code, err = mind(capsys, "collect", "--out-root", str(tmp_path))
    assert code == 2
    from mind_lib.teachers.registry import build_teachers

    names = [t.name for spec in params.collect.teachers for t in build_teachers(spec)]  # one per paradigm
    per_teacher = params.world.n_train * params.collect.n_per_question
    assert (f"mind collect: error: {paths.rationales / 'train.jsonl'}: no usable rationale (keep: correct left none "
            f"with text); teachers' accuracy on the split: "
            + ", ".join(f"{n} 0% of {per_teacher}" for n in names)) in err
    # every rationale is kept for a look; no split file was written
    assert len(load_rationales(paths.rationales / "collected.jsonl")) == len(names) * (
        params.world.n_train + params.world.n_feedback) * params.collect.n_per_question
    assert sorted(p.name for p in paths.rationales.iterdir()) == [".lock", "collected.jsonl"]


def test_incomplete_collection_exits_2_and_keeps_every_row(tmp_path, capsys, monkeypatch):
    from mind_lib.teachers.builtin import BuiltinTeacher

    params = load_params(REPO_PARAMS, profile="smoke")
    paths = Paths(tmp_path)
    save_world(generate_world(params.world), paths.world)
    real = BuiltinTeacher.generate

    def flaky(self, examples, n, seed):  # the socratic paradigm's endpoint is down for train-3
        texts = real(self, examples, n, seed)
        return [None if self.name == "teacher.socratic" and e.id == "train-3" else t for e, t in zip(examples, texts)]

    monkeypatch.setattr(BuiltinTeacher, "generate", flaky)
    code, err = mind(capsys, "collect", "--out-root", str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert "mind collect: error: collection incomplete, questions missing per teacher: {'teacher.socratic': 1}" in err
    first = (paths.rationales / "collected.jsonl").read_bytes()
    monkeypatch.setattr(BuiltinTeacher, "generate", real)
    code, _ = mind(capsys, "collect", "--out-root", str(tmp_path))
    assert code == 0
    # the second run only added the missing question's rows
    assert (paths.rationales / "collected.jsonl").read_bytes().startswith(first)
    rows = load_rationales(paths.rationales / "collected.jsonl")
    paradigms = len(params.collect.teachers[0].paradigms)
    assert len(rows) == paradigms * (params.world.n_train + params.world.n_feedback)
