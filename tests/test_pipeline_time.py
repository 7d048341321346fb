"""benchmarks/pipeline_time.py runs exactly the README's command of each profile."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("pipeline_time", ROOT / "benchmarks" / "pipeline_time.py")
pipeline_time = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pipeline_time)


def test_default_profile_is_plain_dvc_repro():
    assert pipeline_time.repro_command("default", []) == ["dvc", "repro"]


def test_other_profiles_and_overrides_go_through_dvc_exp_run():
    assert pipeline_time.repro_command("paper", []) == ["mind", "exp", "paper"]
    assert pipeline_time.repro_command("paper", ["++distill.seeds=[0]"]) == [
        "mind", "exp", "paper", "-S", "++distill.seeds=[0]"]


def test_readme_documents_the_paper_command():
    command = " ".join(pipeline_time.repro_command("paper", []))
    readme = (ROOT / "README.md").read_text()
    assert command in readme and "make exp PROFILE=paper" in readme
