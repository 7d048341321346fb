"""Greedy decoding on vLLM (``evaluate.engine: vllm``), for students too large to evaluate fast with the project's
own decoding; vLLM is imported only here and only when chosen.

Same prompts, same decoding as ``evaluate.generate_batched``: the prompts' token ids (``formatting.prompt_ids``,
so vLLM adds no bos or template of its own), temperature 0, ``max_new_tokens``, the student's eos ids as stop
tokens, and every continuation cut where ``generate_batched`` stops it (``evaluate.answer_continuation``). No stop
string can say where that is (a period after the last "answer is" that is no decimal point, or a newline), so vLLM
decodes on to eos or ``max_new_tokens`` and the cut comes afterwards: the same rules, more tokens decoded. vLLM's
kernels are not the project's, so its greedy tokens may differ where two logits are close.
"""
from __future__ import annotations

import gc
import importlib
import os
from pathlib import Path
from typing import Sequence

INSTALL = "pip install vllm"
_loaded: dict[str, object] = {}  # the one engine this process holds: model folder -> vllm.LLM


def import_vllm():
    """The ``vllm`` module, or an ``ImportError`` that says how to install it."""
    try:
        return importlib.import_module("vllm")
    except ImportError as e:
        raise ImportError(f"evaluate.engine: vllm needs the vllm package ({e}); install it with `{INSTALL}` "
                          f"(a CUDA machine), or set evaluate.engine: hf") from e


def _engine(vllm, model_dir: str):
    """One ``vllm.LLM`` per process: the previous student's is released first (one device, one student)."""
    if model_dir not in _loaded:
        _loaded.clear()
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        _loaded[model_dir] = vllm.LLM(model=model_dir, tokenizer=model_dir, dtype="auto", seed=0)
    return _loaded[model_dir]


def _student_eos(model_dir: str, tokenizer) -> set[int]:
    """The eos ids ``generate_batched`` stops at (``evaluate._eos_ids``), read without loading the weights."""
    from types import SimpleNamespace

    from transformers import GenerationConfig

    from mind_lib.evaluate import _eos_ids

    has_config = (Path(model_dir) / "generation_config.json").is_file()
    config = GenerationConfig.from_pretrained(model_dir, local_files_only=True) if has_config else None
    return _eos_ids(SimpleNamespace(generation_config=config), tokenizer)


def generate_vllm(model_dir: str | os.PathLike, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    """Greedy continuations of ``prompts`` by the student in ``model_dir`` (a plain HF folder), in order, cut as
    ``generate_batched(..., stop_at_answer=True)`` cuts its own."""
    from transformers import AutoTokenizer

    from mind_lib.evaluate import answer_continuation
    from mind_lib.formatting import prompt_ids

    vllm = import_vllm()
    model_dir = str(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    eos = _student_eos(model_dir, tokenizer)
    sampling = vllm.SamplingParams(temperature=0.0, max_tokens=max_new_tokens, stop_token_ids=sorted(eos))
    requests = [{"prompt_token_ids": ids} for ids in prompt_ids(tokenizer, prompts)]
    results = _engine(vllm, model_dir).generate(requests, sampling, use_tqdm=False)
    return [answer_continuation(tokenizer, list(r.outputs[0].token_ids), eos) for r in results]
