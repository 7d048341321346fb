"""Nothing wrong passes silently: bad params, rationale rows, checkpoints and model folders are errors that
name the file, line, key or path, and a failure leaves no half-written file behind and loses nothing."""
import errno
import json
import logging
import zipfile

import pytest
import torch

from mind_lib.config import load_params
from mind_lib.io import DataError, write_jsonl
from mind_lib.rationales import load_rationales
from mind_lib.student import load_student
from mind_lib.teachers.hf import HFTeacher
from mind_lib.trainer import CheckpointError, checkpoint_problem
from tests.distill_data import fast_train, make_examples, make_rows
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
    assert "    lr: 0.002\n" in text
    path.write_text(text.replace("    lr: 0.002\n", "    lr: 2e-3\n    betas: [0, 0.95]\n    clip: 1\n", 1))
    params = load_params(path, profile="default")
    train = params.distill.train
    assert train.lr == 0.002 and train.betas == (0.0, 0.95) and train.clip == 1.0
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
    text = REPO_PARAMS.read_text()
    path = tmp_path / "params.yaml"
    line = text.split("\n").index("    - {name: narrative, backend: builtin, style: narrative, error_rate: 0.08}") + 1
    path.write_text(text.replace("style: narrative, error_rate: 0.08}", "style: narrative, error_rate: 0.08, "
                                                                        "error_rate: 0.5}", 1))
    assert f"{path}:{line}: key 'collect.teachers.1.error_rate' given twice (first at line {line})" in load_error(path)

    smoke = "    pretrain: {budget_tokens: 3000, save_every: 0}\n"
    assert smoke in text
    path.write_text(text.replace(smoke, smoke + "    pretrain: {budget_tokens: 9}\n", 1))
    line = text.split("\n").index(smoke.rstrip("\n")) + 2
    assert f"{path}:{line}: key 'profiles.smoke.pretrain' given twice" in load_error(path)


def test_seeds_are_checked_one_by_one(tmp_path):
    path = write_params(tmp_path, lambda r: r["distill"].update(seeds=[0, -1]))
    message = load_error(path)
    assert "distill.seeds.1: Input should be greater than or equal to 0 (got -1)" in message
    assert "distill.seeds.0" not in message


def test_unknown_option_of_a_builtin_teacher(tmp_path):
    path = write_params(tmp_path, lambda r: r["collect"]["teachers"][0].update(options={"temperature": 0.2}))
    message = load_error(path)
    assert "collect.teachers.0" in message
    assert "teacher 'equation': unknown option(s) ['temperature'] for backend 'builtin'; allowed options: none" in message


def test_reference_must_be_a_configured_run(tmp_path):
    path = write_params(tmp_path, lambda r: r["evaluate"].update(reference="mnid"))
    assert ("evaluate.reference: 'mnid' is not one of the configured runs (distill.runs): std_cot, "
            "std_cot_equation") in load_error(path)
    # checked after the profile's overrides: the smoke profile trains fewer runs
    path = write_params(tmp_path, lambda r: r["evaluate"].update(reference="std_cot_equation"))
    assert load_params(path, profile="default").evaluate.reference == "std_cot_equation"
    smoke_runs = ", ".join(load_params(REPO_PARAMS, profile="smoke").distill.runs)
    assert "std_cot_equation" not in smoke_runs
    assert (f"evaluate.reference: 'std_cot_equation' is not one of the configured runs (distill.runs): "
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
    real_save, calls = torch.save, []

    def full_disk(obj, path):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: part of the file, then the disk is full
            open(path, "wb").write(b"partial")
            raise error
        real_save(obj, path)

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match=r"no space left on device while writing .*step-00000004\.tmp/state\.pt") as err:
        run(student_dir, tmp_path, params=RESUME_PARAMS)
    assert err.value.errno == errno.ENOSPC and "previous checkpoint" in str(err.value)
    monkeypatch.setattr(torch, "save", real_save)
    ckpt = tmp_path / CKPT
    assert (ckpt / "latest").read_text() == "step-00000002"
    assert sorted(p.name for p in ckpt.iterdir()) == ["latest", "step-00000002"]  # no temporary folder left
    assert checkpoint_problem(ckpt / "step-00000002") is None
    run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)
    assert_same_weights(ref, tmp_path)  # nothing lost


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
