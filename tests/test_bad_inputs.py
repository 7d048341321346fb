"""Nothing wrong passes silently: bad params, rationale rows, checkpoints and model folders are errors that
name the file, line, key or path, and a failure leaves no half-written file behind and loses nothing."""
import pytest

from mind_lib.config import load_params
from mind_lib.io import DataError, write_jsonl
from mind_lib.rationales import load_rationales
from tests.distill_data import make_examples, make_rows
from tests.test_config import REPO_PARAMS, write_params


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


def test_yaml_yes_is_not_one(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(REPO_PARAMS.read_text().replace("  n_train: 2000\n", "  n_train: yes\n", 1))
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
    lines = text.split("\n")
    first = lines.index("  n_train: 2000") + 1
    path = tmp_path / "params.yaml"
    path.write_text(text.replace("  n_train: 2000\n", "  n_train: 2000\n  n_train: 20\n", 1))
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
    assert ("evaluate.reference: 'std_cot_equation' is not one of the configured runs (distill.runs): answer_only, "
            "std_cot, ftcot_diverse, dss, mind") in load_error(path, profile="smoke")
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
