"""params.yaml validation: every bad key, type or range is a ValueError naming the key."""
import pytest
import yaml

from mind_lib.config import PROFILES, SECTIONS, explain, load_params, section_model, validate_section
from mind_lib.io import find_repo_root

REPO_PARAMS = find_repo_root() / "params.yaml"


def write_params(tmp_path, mutate):
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_repo_params_valid_in_every_profile():
    for profile in PROFILES:
        params = load_params(REPO_PARAMS, profile=profile)
        assert params.profile == profile


def test_smoke_profile_shrinks_the_world(monkeypatch):
    default = load_params(REPO_PARAMS, profile="default")
    monkeypatch.setenv("MIND_PROFILE", "smoke")
    smoke = load_params(REPO_PARAMS)
    assert smoke.profile == "smoke"
    assert smoke.world.n_train < default.world.n_train / 10
    assert smoke.collect.teachers == default.collect.teachers  # only sizes change


def test_library_default_runs_are_the_pipelines_default_runs():
    from mind_lib.distill import DEFAULT_RUNS

    assert load_params(REPO_PARAMS, profile="default").distill.runs == DEFAULT_RUNS


def test_explicit_profile_beats_environment(monkeypatch):
    monkeypatch.setenv("MIND_PROFILE", "smoke")
    assert load_params(REPO_PARAMS, profile="default").world.n_train == 2000


BAD_PARAMS = [
    # (change to params.yaml, profile to load, text the error must contain)
    (lambda r: r["world"].update(n_trian=5), None, "world.n_trian: unknown key; allowed keys: source, public, seed, n_train"),
    (lambda r: r["world"].update(n_train="many"), None, "world.n_train: Input should be a valid integer"),
    (lambda r: r["world"].update(n_train=0), None, "world.n_train: Input should be greater than or equal to 1"),
    (lambda r: r["world"].update(id_steps=[4, 2]), None, "id_steps must satisfy"),
    (lambda r: r["world"].update(ood_steps=[3, 6]), None, "ood_steps must lie above id_steps"),
    (lambda r: r["world"].update(max_value=60, ood_max_value=50), None, "ood_max_value (50) must exceed max_value (60)"),
    (lambda r: r["collect"].update(keep="some"), None, "collect.keep: Input should be 'all' or 'correct'"),
    (lambda r: r["collect"].update(n_per_question=-1), None, "collect.n_per_question"),
    (lambda r: r["collect"]["teachers"][0].update(style="poem", paradigms=None), None, "unknown style 'poem'"),
    (lambda r: r["collect"]["teachers"][0].update(colour="red"), None,
     "collect.teachers.0.colour: unknown key; allowed keys: name, backend"),
    (lambda r: r["collect"]["teachers"][0].update(backend="hf", paradigms=None), None, "backend 'hf' needs 'path'"),
    (lambda r: r["collect"]["teachers"].append(dict(r["collect"]["teachers"][0])), None, "teacher names must be unique"),
    (lambda r: r.update(profile="fast"), None, "profile: 'fast' is not a profile; allowed: default, smoke"),
    (lambda r: r.update(trainer={"lr": 1}), None, "unknown section(s) ['trainer']"),
    (lambda r: r["profiles"]["smoke"]["world"].update(n_train=0), "smoke", "world.n_train"),
]


@pytest.mark.parametrize("mutate, profile, needle", BAD_PARAMS)
def test_bad_params_name_the_key(tmp_path, monkeypatch, mutate, profile, needle):
    monkeypatch.delenv("MIND_PROFILE", raising=False)
    path = write_params(tmp_path, mutate)
    with pytest.raises(ValueError) as err:
        load_params(path, profile=profile)
    assert needle in str(err.value)
    assert str(path) in str(err.value)


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("world: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_params(path)


def test_validate_section_rejects_non_mapping():
    with pytest.raises(ValueError, match="world: expected a mapping"):
        validate_section("world", [1, 2])


def test_every_field_is_documented():
    for name in SECTIONS:
        model = section_model(name)
        for field, info in model.model_fields.items():
            assert info.description, f"{name}.{field} has no docstring"
        assert all(field in explain(name) for field in model.model_fields)
