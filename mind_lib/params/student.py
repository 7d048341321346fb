"""The `student` section: the embedded tiny Llama or a local HF model, optionally with LoRA."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mind_lib.config import Section


Dtype = Literal["auto", "float32", "bfloat16", "float16"]
AttnImplementation = Literal["eager", "sdpa", "flash_attention_2"]


class LoraParams(Section):
    """LoRA adapters (``peft``) on a loaded student; the base weights stay frozen."""

    r: int = Field(8, ge=1, le=1024)
    """Rank of each adapter."""
    alpha: float = Field(16.0, gt=0, le=4096)
    """Scaling numerator: the adapter's update is multiplied by ``alpha / r``."""
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    """Dropout on the adapter's input during training."""
    target_modules: list[str] | Literal["all-linear"] = "all-linear"
    """Module names that get adapters (e.g. ``[q_proj, v_proj]``), or every linear layer but the output head."""


class StudentParams(Section):
    """The student model: the embedded tiny Llama (``source: tiny``) or a local HF model (``source: path``)."""

    source: Literal["tiny", "path"] = "tiny"
    """tiny: built and pretrained here by ``pretrain_student``; path: an existing local HF folder (``path``)."""
    path: str = "models/student_base"
    """source=path: the local HF folder of the student (relative to the repository unless absolute); the
    pretrain stage copies it to ``models/student_base``, where every method starts. source=tiny: unused
    (the tiny student is built and pretrained into ``models/student_base``)."""
    vocab_size: int = Field(4000, ge=64, le=1_000_000)
    """tiny: largest word-level vocabulary (special tokens, digits and punctuation included)."""
    min_frequency: int = Field(1, ge=1, le=1000)
    """tiny: a word must occur this often in the tokenizer's texts to get its own token."""
    n_layers: int = Field(4, ge=1, le=128)
    """tiny: transformer blocks."""
    d_model: int = Field(128, ge=8, le=16384)
    """tiny: hidden size."""
    n_heads: int = Field(4, ge=1, le=256)
    """tiny: attention heads; ``d_model / n_heads`` must be an even integer (rotary embeddings)."""
    d_ff: int = Field(344, ge=8, le=65536)
    """tiny: inner size of the SwiGLU feed-forward block (Llama's ratio: about 8/3 of d_model)."""
    max_len: int = Field(256, ge=16, le=131072)
    """Longest training sequence (prompt + target) in tokens; longer targets are cut."""
    dtype: Dtype = "float32"
    """Weight dtype when loading; float32 keeps exact optimizer updates (mixed precision is a train setting)."""
    init_seed: int = Field(0, ge=0)
    """tiny: seed of the random initialisation."""
    lora: LoraParams | None = None
    """LoRA adapters for distillation; null = train every weight, unless the student is larger than
    ``lora_above_params`` (then default adapters are added, see there)."""
    lora_above_params: float = Field(1e9, ge=0)
    """A student with more weights than this (counted from its config.json, without loading it) and no ``lora``
    gets default LoRA adapters in distillation: full training of a billion weights needs 16 bytes a weight (float32
    weights, gradients and two AdamW states). ``full_finetune: true`` trains every weight anyway."""
    full_finetune: bool = False
    """Train every weight whatever the student's size (turns ``lora_above_params`` off); contradicts ``lora``."""
    low_precision_training: bool = False
    """Allow training weights held in bfloat16/float16 (``dtype``, or ``auto`` on such a checkpoint). Off: such a
    distillation is refused, because AdamW updates smaller than the weight's rounding step (about 1/256 of it in
    bfloat16) are lost; keep ``dtype: float32`` (float32 master weights) with bf16 autocast
    (``train.mixed_precision``), or use LoRA (its adapters are float32)."""
    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass instead of keeping them: far less activation
    memory for about a third more compute (distillation only; generation is unaffected)."""
    attn_implementation: AttnImplementation | None = None
    """Attention kernel of a loaded student: null = transformers' default (sdpa where supported), eager, sdpa, or
    flash_attention_2 (needs the flash-attn package, a recent GPU and bfloat16/float16 compute)."""
    chat_template: bool | Literal["auto"] = "auto"
    """Prompt the student through its tokenizer's chat template (user turn = the question prompt, assistant turn =
    the target; only the assistant's tokens are trained): auto = when the tokenizer has one (instruct models do,
    the tiny student does not), true = require it, false = the plain prompt even if it has one. The choice is
    carried by the tokenizer saved with each student, so evaluation prompts as training did."""

    @model_validator(mode="after")
    def _check_heads(self):
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(f"d_model ({self.d_model}) / n_heads ({self.n_heads}) must be an even integer")
        if self.full_finetune and self.lora is not None:
            raise ValueError("student.full_finetune: true trains every weight, but student.lora is set; "
                             "remove one of the two")
        return self

