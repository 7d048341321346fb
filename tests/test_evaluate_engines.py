"""Where students decode (``evaluate.device``) and the optional vLLM engine (``evaluate.engine: vllm``), checked
with a fake ``vllm`` module: vLLM is not a dependency of the project."""
import json
import sys
from types import ModuleType, SimpleNamespace

import pytest
import torch

from mind_lib import evaluate
from mind_lib.evaluate import answer_continuation, decoding_workers, generate_batched, prompt_ids, resolve_device
from mind_lib.params.evaluate import EvaluateParams
from tests.test_evaluate import MAX_NEW, SCRIPTS, ScriptedLM, all_pairs, decoded, grid, stage_params, tok  # noqa: F401


def test_answer_continuation_cuts_where_generate_batched_stops(tok):
    model = ScriptedLM(tok, SCRIPTS)
    prompts = list(SCRIPTS)
    eos = evaluate._eos_ids(model, tok)
    # what an engine without the answer stop decodes: on to eos or MAX_NEW tokens
    free = evaluate._generate_batch(model, tok, prompt_ids(tok, prompts), MAX_NEW, False, tok.pad_token_id, eos)
    assert [answer_continuation(tok, t, eos) for t in free] == generate_batched(model, tok, prompts, MAX_NEW, 4)
    # the first complete answer sentence is kept, not the last one (trim_to_answer alone would keep the second)
    twice = tok("The answer is 7. She has 8 apples. The answer is 8.", add_special_tokens=False)["input_ids"]
    assert answer_continuation(tok, twice, eos) == "The answer is 7."
    assert answer_continuation(tok, twice[:3] + [tok.eos_token_id] + twice[3:], eos) == "The answer is"


def _no_accelerator(monkeypatch, cuda=False, mps=False):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.backends.mps, "is_built", lambda: mps)


def test_device_auto_is_the_accelerator_else_the_cpu(monkeypatch):
    _no_accelerator(monkeypatch)
    assert resolve_device("auto") == resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="evaluate.device: 'cuda'.*no cuda device.*set evaluate.device: auto"):
        resolve_device("cuda")
    _no_accelerator(monkeypatch, cuda=True)
    assert resolve_device("auto") == resolve_device("cuda") == torch.device("cuda")
    _no_accelerator(monkeypatch, mps=True)
    assert resolve_device("auto") == torch.device("mps")


def test_workers_are_clamped_to_one_on_an_accelerator_or_vllm(capsys):
    assert decoding_workers(4, torch.device("cpu"), "hf") == 4
    assert decoding_workers(1, torch.device("cuda"), "hf") == 1 and capsys.readouterr().out == ""
    assert decoding_workers(4, torch.device("cuda"), "hf") == 1
    assert "workers 4 -> 1 on the cuda device" in capsys.readouterr().out
    assert decoding_workers(2, torch.device("cpu"), "vllm") == 1
    assert "workers 2 -> 1 on vLLM" in capsys.readouterr().out


def test_params_defaults_and_self_consistency_is_hf_only():
    cfg = EvaluateParams()
    assert (cfg.device, cfg.engine) == ("auto", "hf")
    with pytest.raises(ValueError, match="device"):
        EvaluateParams(device="tpu")
    with pytest.raises(ValueError, match="self_consistency samples with engine: hf only"):
        EvaluateParams(engine="vllm", self_consistency={"k": 3})


def test_missing_vllm_says_how_to_install(monkeypatch, tmp_path):
    from mind_lib.vllm_engine import generate_vllm

    monkeypatch.setitem(sys.modules, "vllm", None)  # what an environment without vllm gives: ImportError
    with pytest.raises(ImportError, match=r"evaluate.engine: vllm needs the vllm package.*`pip install vllm`"):
        generate_vllm(tmp_path, ["Q"], 8)


class FakeLLM:
    """Stands for ``vllm.LLM``: records how it was built and called; answers every prompt with ``TEXT``."""

    TEXT = "x = 3 + 4 = 7.\nThe answer is 7. She has 8 apples. The answer is 8."
    made: list = []

    def __init__(self, **kwargs):
        self.kwargs, self.calls = kwargs, []
        FakeLLM.made.append(self)

    def generate(self, requests, sampling, use_tqdm=True):
        from transformers import AutoTokenizer

        self.calls.append((requests, sampling))
        tokenizer = AutoTokenizer.from_pretrained(self.kwargs["model"])
        ids = tokenizer(self.TEXT, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids)]) for _ in requests]


@pytest.fixture
def fake_vllm(monkeypatch):
    import mind_lib.vllm_engine as engine

    module = ModuleType("vllm")
    module.LLM = FakeLLM
    module.SamplingParams = lambda **kwargs: SimpleNamespace(**kwargs)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setattr(engine, "_loaded", {})
    FakeLLM.made = []
    return FakeLLM


def test_vllm_gets_the_prompt_tokens_greedy_and_its_outputs_are_cut(tok, tmp_path, fake_vllm):
    from mind_lib.vllm_engine import generate_vllm

    tok.save_pretrained(tmp_path)
    prompts = ["Mia has 3 apples.\nAnswer:", "Tom has 2 apples.\nAnswer:"]
    assert generate_vllm(tmp_path, prompts, 40) == ["x = 3 + 4 = 7.\nThe answer is 7."] * 2
    generate_vllm(tmp_path, prompts[:1], 40)
    [llm] = fake_vllm.made  # one engine per student folder
    assert llm.kwargs["model"] == llm.kwargs["tokenizer"] == str(tmp_path)
    (requests, sampling), _ = llm.calls
    assert requests == [{"prompt_token_ids": ids} for ids in prompt_ids(tok, prompts)]
    assert (sampling.temperature, sampling.max_tokens, sampling.stop_token_ids) == (0.0, 40, [tok.eos_token_id])


def test_evaluate_stage_decodes_with_vllm_when_chosen(grid, decoded, fake_vllm, monkeypatch):  # noqa: F811
    import mind_lib.student

    def no_hf(*args, **kwargs):
        raise AssertionError("engine: vllm must not load the student into transformers")

    monkeypatch.setattr(mind_lib.student, "load_student", no_hf)
    summary = evaluate.evaluate_runs(stage_params(engine="vllm"), grid, progress=False)
    assert sorted(decoded) == all_pairs()
    rows = evaluate.load_predictions(grid.prediction_file("mind", 0, "test_id"))
    assert rows and all(r["output"] == "x = 3 + 4 = 7.\nThe answer is 7." and r["pred_answer"] == "7" for r in rows)
    meta = json.loads(grid.prediction_meta("mind", 0, "test_id").read_text())
    assert meta["decoding"]["engine"] == "vllm" and "device" not in meta["decoding"]
    assert "mind" in summary["methods"]
    assert len(fake_vllm.made) == 3  # the base student and two runs, each loaded once
