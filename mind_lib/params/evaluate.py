"""The `evaluate` section: suites, decoding and the paired comparisons."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mind_lib.config import Section


class SelfConsistencyParams(Section):
    """Self-consistency decoding (Wang et al., 2023): ``k`` sampled rationales per question, a majority vote."""

    k: int = Field(5, ge=2, le=256)
    """Samples per question (the same for every method)."""
    temperature: float = Field(0.7, gt=0.0, le=5.0)
    """Sampling temperature (the same for every method)."""
    suites: list[str] = Field(default_factory=lambda: ["test_id"], min_length=1)
    """Suites decoded this way, besides greedy (each among ``evaluate.suites``)."""
    seed: int = Field(0, ge=0)
    """Seed of the sampling stream."""


class EvaluateParams(Section):
    """The evaluate stage: which suites, how to decode, how to compare."""

    suites: list[str] = Field(default_factory=lambda: ["test_id", "ood_steps", "ood_templates", "ood_distractor",
                                                       "ood_numbers", "general_test"], min_length=1)
    """World splits every student answers (the base student answers them too)."""
    max_new_tokens: int = Field(256, ge=1, le=8192)
    """Decoding budget per answer; generation also stops once the answer sentence is complete."""
    batch_size: int = Field(64, ge=1, le=4096)
    """Prompts decoded together."""
    workers: int = Field(2, ge=1, le=64)
    """Students evaluated at a time, each in its own process with one thread, on the CPU. On an accelerator
    (``device``) or with ``engine: vllm`` it is clamped to 1, with a message: several processes would each hold a
    student on the one device."""
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    """Where students decode (``engine: hf``): auto = the accelerator if there is one (MPS, else CUDA: accelerate's
    order), else the CPU; cuda or mps where there is none is an error."""
    engine: Literal["hf", "vllm"] = "hf"
    """hf: the project's batched greedy decoding with a KV cache (``evaluate.generate_batched``); vllm: vLLM's
    engine on its own device (``pip install vllm``), with the same prompt tokens, greedy, ``max_new_tokens`` and
    the same cut at the answer sentence; self-consistency sampling is hf only."""
    n_boot: int = Field(2000, ge=100, le=1_000_000)
    """Bootstrap resamples for confidence intervals and paired tests."""
    reference: str = "mind"
    """Method every other method is compared with (paired tests)."""
    self_consistency: SelfConsistencyParams | None = None
    """Also decode by self-consistency (k samples, majority vote), reported next to greedy; null = greedy only."""

    @model_validator(mode="after")
    def _sc_suites_are_suites(self):
        extra = [s for s in (self.self_consistency.suites if self.self_consistency else []) if s not in self.suites]
        if extra:
            raise ValueError(f"self_consistency.suites {extra} are not among suites: {', '.join(self.suites)}")
        if self.engine == "vllm" and self.self_consistency is not None:
            # its samples come from the project's seeded stream (generate_batched), which vLLM does not reproduce
            raise ValueError("self_consistency samples with engine: hf only; set evaluate.engine: hf, or "
                             "evaluate.self_consistency: null to decode greedily with vllm")
        return self


def check_reference(reference: str, runs: list[str], source: str) -> None:
    """The paired tests compare every method with the reference: a reference that is not trained would only fail
    at the end of the evaluate stage, after every student was decoded."""
    if reference not in runs:
        raise ValueError(f"{source}: evaluate.reference: {reference!r} is not one of the configured runs "
                         f"(distill.runs): {', '.join(runs)}")
