"""A params file mixes backends: built-in, a local HF model and an OpenAI-compatible endpoint go
through the same collect stage and the same resume machinery."""
import pytest
import yaml

from mind_lib.collect import run_collection
from mind_lib.params.all import load_params
from mind_lib.io import Paths, find_repo_root
from mind_lib.rationales import load_rationales
from mind_lib.tasks.world import generate_world, save_world
from tests.test_teacher_hf import _save_tiny_model
from tests.test_teacher_openai import FakeServer, _local_only, server  # noqa: F401  (fixtures)


def params_and_world(raw: dict, tmp_path, monkeypatch):
    """``raw`` written as params.yaml in ``tmp_path`` and loaded as written (no profile), and its world saved under
    ``tmp_path/out``: (params, paths, world)."""
    params_path = tmp_path / "params.yaml"
    params_path.write_text(yaml.safe_dump(raw))
    monkeypatch.delenv("MIND_PROFILE", raising=False)
    params = load_params(params_path, profile="default")
    paths = Paths(tmp_path / "out")
    world = generate_world(params.world)
    save_world(world, paths.world)
    return params, paths, world


def test_three_backends_one_stage_and_a_failing_endpoint_resumes(tmp_path, server, monkeypatch):  # noqa: F811
    model_dir = tmp_path / "tiny-hf"
    _save_tiny_model(model_dir, chat_template=None)
    raw = yaml.safe_load((find_repo_root() / "params.yaml").read_text())
    raw["world"].update(n_train=6, n_feedback=2)
    raw["collect"].update(n_per_question=2, teachers=[
        {"name": "expert", "backend": "builtin", "style": "expert"},
        {"name": "tiny", "backend": "hf", "path": str(model_dir), "max_new_tokens": 8,
         "options": {"dtype": "float32", "batch_size": 4}},
        {"name": "endpoint", "backend": "openai", "model": "fake", "base_url": server.url,
         "options": {"backoff_base_s": 0.01, "backoff_max_s": 0.02, "timeout_s": 2.0, "max_retries": 2}},
    ])
    params, paths, world = params_and_world(raw, tmp_path, monkeypatch)

    down = world["train"][1].question  # the endpoint fails this question for good in the first run
    server.script[down] = [500] * 50
    with pytest.raises(RuntimeError, match=r"collection incomplete.*'endpoint': 1"):
        run_collection(params, paths, progress=False)
    kept = load_rationales(paths.rationales / "collected.jsonl")
    assert len(kept) == 8 * 2 * 3 - 2  # everything but the failed question's two samples

    server.script.clear()
    result, rows = run_collection(params, paths, progress=False)
    assert result.complete and result.written == 2 and result.resumed == len(kept)
    assert {r["teacher"]: r["run"]["backend"] for r in rows} == {"expert": "builtin", "tiny": "hf",
                                                                  "endpoint": "openai"}
    assert all(r["correct"] for r in rows if r["teacher"] == "expert")
