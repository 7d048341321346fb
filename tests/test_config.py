"""params.yaml validation: every bad key, type or range is a ValueError naming the key."""
import pytest
import yaml

import shutil

from mind_lib.config import profile_names, validate_section
from mind_lib.io import find_repo_root
from mind_lib.params.all import SECTIONS, explain, load_params
from mind_lib.params.world import WorldParams

REPO_PARAMS = find_repo_root() / "params.yaml"


def write_params(tmp_path, mutate, mutate_profiles=None):
    """params.yaml (changed by ``mutate``) and a copy of profiles/ (``mutate_profiles(name -> raw)``) in tmp_path."""
    raw = yaml.safe_load(REPO_PARAMS.read_text())
    mutate(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    shutil.copytree(REPO_PARAMS.parent / "profiles", tmp_path / "profiles", dirs_exist_ok=True)
    if mutate_profiles:
        profiles = {f.stem: yaml.safe_load(f.read_text()) for f in (tmp_path / "profiles").glob("*.yaml")}
        mutate_profiles(profiles)
        for name, body in profiles.items():
            (tmp_path / "profiles" / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return path


def test_repo_params_valid_in_every_profile():
    assert profile_names(REPO_PARAMS) == ["default", "classic", "paper", "real", "smoke"]
    for profile in profile_names(REPO_PARAMS):
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
    from mind_lib.params.distill import DEFAULT_RUNS

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
    (lambda r: r["distill"].update(epochs_reference="ftcot_diverse"), None,
     "epochs_reference is 'ftcot_diverse' but train.budget_epochs is null"),
    (lambda r: r["distill"]["train"].update(budget_epochs=0), None, "distill.train.budget_epochs"),
    (lambda r: r["distill"].update(launcher="slurm"), None, "distill.launcher: Input should be 'inline' or 'accelerate'"),
    (lambda r: r["distill"].update(accelerate_config="fsdp.yaml"), None,
     "accelerate_config is set (fsdp.yaml) but launcher is 'inline'"),
    (lambda r: None, "fast", "profile 'fast': no file"),
    (lambda r: r.update(trainer={"lr": 1}), None, "unknown section(s) ['trainer']"),
    (lambda r: r.update(profile="smoke"), None, "unknown section(s) ['profile']"),
]


@pytest.mark.parametrize("mutate, profile, needle", BAD_PARAMS)
def test_bad_params_name_the_key(tmp_path, monkeypatch, mutate, profile, needle):
    monkeypatch.delenv("MIND_PROFILE", raising=False)
    path = write_params(tmp_path, mutate)
    with pytest.raises(ValueError) as err:
        load_params(path, profile=profile)
    assert needle in str(err.value)
    assert str(path.parent) in str(err.value)


def test_bad_profile_value_names_the_key(tmp_path, monkeypatch):
    monkeypatch.delenv("MIND_PROFILE", raising=False)
    path = write_params(tmp_path, lambda r: None, lambda p: p["smoke"]["world"].update(n_train=0))
    with pytest.raises(ValueError, match="world.n_train"):
        load_params(path, profile="smoke")
    path = write_params(tmp_path, lambda r: None, lambda p: p["smoke"].update(trainer={"lr": 1}))
    with pytest.raises(ValueError, match=r"smoke.yaml: unknown section\(s\) \['trainer'\]"):
        load_params(path, profile="smoke")


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("world: [unclosed\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_params(path)


def test_validate_section_rejects_non_mapping():
    with pytest.raises(ValueError, match="world: expected a mapping"):
        validate_section("world", WorldParams, [1, 2])


def test_every_field_is_documented():
    for name in SECTIONS:
        model = SECTIONS[name]
        for field, info in model.model_fields.items():
            assert info.description, f"{name}.{field} has no docstring"
        assert all(field in explain(name) for field in model.model_fields)


def test_only_the_default_and_paper_profiles_add_seeds():
    from mind_lib.params.distill import run_pairs

    for profile in ("smoke", "classic", "real"):
        distill = load_params(REPO_PARAMS, profile=profile, sections=("distill",)).distill
        assert {s for _, s in run_pairs(distill)} == {0}, profile
    paper = load_params(REPO_PARAMS, profile="paper", sections=("distill",)).distill
    assert len([s for m, s in run_pairs(paper) if m == "mind"]) == 5
    assert len([s for m, s in run_pairs(paper) if m == "dss"]) == 3

