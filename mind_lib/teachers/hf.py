"""A local Hugging Face causal LM as a teacher.

The model is read from a local folder only (``from_pretrained(path)``): collection must be
reproducible offline, so nothing is fetched from a hub. Prompts come from
``mind_lib.teachers.prompts`` (the tokenizer's chat template when it has one, else the plain
few-shot prompt), generation is batched with left padding so every continuation starts at the
same column, and only the continuation is decoded.

Determinism: before each batch ``torch.manual_seed`` is set from the collection seed, the paradigm
(if any) and the batch's question ids, so the same questions batched the same way give the same
rationales in a resumed run. Sampled outputs depend on ``batch_size`` (padding, the RNG stream),
which is therefore part of the provenance.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from mind_lib.formatting import chat_text, has_chat_template
from mind_lib.params.collect import TeacherSpec
from mind_lib.student import check_model_folder
from mind_lib.tasks.base import Example
from mind_lib.teachers.base import PromptedTeacher, derive_seed, spec_kwargs
from mind_lib.teachers.prompts import trim_rationale


def _resolve_dtype(dtype: str) -> str | torch.dtype:
    """"auto" stays a string (transformers picks the checkpoint's dtype); other names become torch dtypes."""
    if dtype == "auto":
        return dtype
    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"dtype must be 'auto' or a torch dtype name (float32, bfloat16, float16), got {dtype!r}")
    return value


class HFTeacher(PromptedTeacher):
    """Rationales sampled from a local causal LM.

    ``n`` rationales per question come from one ``generate`` call with ``num_return_sequences=n``
    when sampling; with ``temperature == 0`` decoding is greedy, so the single greedy rationale is
    repeated ``n`` times instead of being computed ``n`` times. ``batch_size`` counts questions, so
    one forward pass holds ``batch_size * n`` sequences. The paradigm teachers of one spec are copies
    sharing one loaded model (``PromptedTeacher.for_paradigm``).
    """

    def __init__(self, path: str | Path, *, name: str | None = None, perspective: str | None = None,
                 temperature: float = 0.7, top_p: float = 1.0, top_k: int = 0, max_new_tokens: int = 256,
                 batch_size: int = 8, dtype: str = "auto", device_map: str | dict | None = "auto",
                 use_chat_template: bool | None = None):
        self.path = check_model_folder(path, f"HF teacher {name or Path(path).name!r}: ")
        if temperature < 0 or not 0 < top_p <= 1 or top_k < 0 or max_new_tokens < 1 or batch_size < 1:
            raise ValueError("HF teacher: need temperature >= 0, 0 < top_p <= 1, top_k >= 0 (0 = off), "
                             f"max_new_tokens >= 1, batch_size >= 1; got temperature={temperature}, top_p={top_p}, "
                             f"top_k={top_k}, max_new_tokens={max_new_tokens}, batch_size={batch_size}")
        self.name = name or self.path.name
        self.perspective = perspective or self.name
        self.temperature, self.top_p, self.top_k = temperature, top_p, top_k
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.dtype, self.device_map = dtype, device_map

        self.tokenizer = AutoTokenizer.from_pretrained(self.path)
        # Left padding: with right padding, shorter prompts would be continued after pad tokens.
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise ValueError(f"HF teacher {self.name!r}: tokenizer at {self.path} has neither a pad nor an eos token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        has_template = has_chat_template(self.tokenizer)
        if use_chat_template and not has_template:
            raise ValueError(f"HF teacher {self.name!r}: use_chat_template=True but the tokenizer at {self.path} "
                             "has no chat template")
        self.use_chat_template = has_template if use_chat_template is None else use_chat_template

        self.model = AutoModelForCausalLM.from_pretrained(self.path, dtype=_resolve_dtype(dtype),
                                                          device_map=device_map)
        self.model.eval()

    @classmethod
    def from_spec(cls, spec: TeacherSpec) -> "HFTeacher":
        """Build from a ``collect.teachers`` entry; ``options`` may set top_p, top_k, batch_size, dtype,
        device_map and use_chat_template."""
        if spec.backend != "hf":
            raise ValueError(f"teacher {spec.name!r}: HFTeacher needs backend 'hf', got {spec.backend!r}")
        return cls(**spec_kwargs(spec, cls, path=spec.path, name=spec.name,
                                 perspective=spec.perspective or spec.name,
                                 temperature=spec.temperature, max_new_tokens=spec.max_new_tokens))

    def render(self, example: Example) -> str:
        """The exact text the model is conditioned on for ``example``."""
        if self.use_chat_template:
            return chat_text(self.tokenizer, self.messages(example))
        return self.plain_prompt(example)

    def _generation_kwargs(self, n: int) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "pad_token_id": self.tokenizer.pad_token_id}
        if self.temperature == 0:
            return {**kwargs, "do_sample": False, "num_return_sequences": 1}
        return {**kwargs, "do_sample": True, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k, "num_return_sequences": n}

    @torch.inference_mode()
    def _generate_batch(self, batch: Sequence[Example], n: int, seed: int) -> list[list[str]]:
        torch.manual_seed(derive_seed(*self.seed_parts(seed), *(e.id for e in batch)))
        # A chat template writes its own BOS; adding special tokens again would double it.
        enc = self.tokenizer([self.render(e) for e in batch], return_tensors="pt", padding=True,
                             add_special_tokens=not self.use_chat_template).to(self.model.device)
        out = self.model.generate(**enc, **self._generation_kwargs(n))
        texts = self.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
        k = len(texts) // len(batch)  # sequences per question: n when sampling, 1 when greedy
        rationales = [trim_rationale(t) for t in texts]
        groups = [rationales[i * k:(i + 1) * k] for i in range(len(batch))]
        return groups if k == n else [g * n for g in groups]

    def generate(self, examples: Sequence[Example], n: int, seed: int) -> list[list[str] | None]:
        """``n`` rationales per example; a local model has no transient failures, so never ``None``."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        out: list[list[str] | None] = []
        for start in range(0, len(examples), self.batch_size):
            out.extend(self._generate_batch(examples[start:start + self.batch_size], n, seed))
        return out

    def provenance(self) -> dict[str, Any]:
        return {"backend": "hf", "path": str(self.path), "dtype": self.dtype, "loaded_dtype": str(self.model.dtype),
                "device_map": self.device_map if isinstance(self.device_map, (str, type(None))) else "custom",
                "chat_template": self.use_chat_template, "prompt": self.prompt_version(),
                "temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                "max_new_tokens": self.max_new_tokens, "batch_size": self.batch_size}
