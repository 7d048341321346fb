"""The `pretrain` section and `distill.train`: one training run (``mind_lib.trainer.train``)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from mind_lib.config import Section


class TrainParams(Section):
    """One training run (distillation or the tiny student's pretraining)."""

    lr: float = Field(1e-3, gt=0.0, le=1.0)
    """Peak learning rate (AdamW), reached after warmup."""
    min_lr_ratio: float = Field(0.1, ge=0.0, le=1.0)
    """The cosine schedule ends at ``lr * min_lr_ratio``."""
    warmup_ratio: float = Field(0.05, ge=0.0, le=0.5)
    """Share of the planned optimizer steps spent warming up linearly from 0."""
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    """AdamW decoupled weight decay, applied to matrices only (not norms, biases)."""
    betas: tuple[float, float] = (0.9, 0.95)
    """AdamW betas."""
    batch_size: int = Field(32, ge=1, le=65536)
    """Sequences per micro-batch on each process."""
    batch_tokens: int | None = Field(None, ge=1, le=10**9)
    """Target tokens per micro-batch on each process: batches are packed to about this many (within half a unit:
    one item, or a question's trajectories for the whole-question methods), so a budget of target tokens is the
    same number of optimizer steps for every method; null = ``batch_size`` items per batch."""
    grad_accum: int = Field(1, ge=1, le=4096)
    """Micro-batches per optimizer step (per process); the step's gradient is their mean."""
    budget_tokens: int = Field(1_000_000, ge=1, le=10**13)
    """Training budget in trained target tokens, summed over all processes (see the module docstring); not used
    when ``budget_epochs`` is set."""
    budget_epochs: float | None = Field(None, gt=0.0, le=10_000)
    """Training budget in epochs of the training data instead (for real data, whose size is known in questions, not
    tokens); when set it replaces ``budget_tokens``. The trainer turns it into target tokens before planning (the
    schedule knows its exact length): epochs x the target tokens of one epoch of the run's own items, or of a
    reference method's items for every method (``distill.epochs_reference``, equal exposure); null =
    ``budget_tokens`` decides."""
    max_steps: int | None = Field(None, ge=1)
    """Stop after this many optimizer steps even if budget is left (the schedule is still the budget's)."""
    clip: float | None = Field(1.0, gt=0.0)
    """Clip the global gradient norm to this value; null = no clipping."""
    group_size: int = Field(16, ge=1, le=100_000)
    """Batches per length bucket: items are shuffled, cut into buckets of ``group_size`` batches,
    sorted by length inside a bucket, batched, and the batches shuffled. 1 = plain random batches."""
    eval_every: int = Field(0, ge=0)
    """Evaluate the loss on the eval items every this many steps; 0 = only at the end."""
    eval_batch_size: int = Field(64, ge=1, le=65536)
    """Sequences per eval batch."""
    save_every: int = Field(100, ge=0)
    """Write a resumable checkpoint every this many steps; 0 = only where the run stops."""
    log_every: int = Field(10, ge=1)
    """Write a log row (means over the steps since the last row) every this many steps."""
    seed: int = Field(0, ge=0)
    """Seed of the data order and of every RNG used while training."""
    mixed_precision: Literal["auto", "no", "bf16"] = "auto"
    """bf16 autocast on top of float32 weights; auto = bf16 on a GPU that supports it, else no."""
    cpu: bool = False
    """Train on the CPU even when a GPU is present."""
    num_threads: int = Field(0, ge=0, le=1024)
    """torch CPU threads; 0 = leave torch's default."""
    keep_checkpoint: bool = False
    """Keep the last checkpoint once the budget is spent (it is only needed to resume unfinished runs)."""
    progress: bool = True
    """Show a tqdm progress bar (main process only)."""
    replay_share: float = Field(0.0, ge=0.0, le=1.0)
    """Rehearsal: target tokens of the replay set (the base student's general suite) trained per target
    token of the run's own data, e.g. 0.1; 0 = off. Replay comes on top of ``budget_tokens`` at the same
    share for every method (equal exposure holds for both); see docs/method.md §3.1."""

    @model_validator(mode="after")
    def _check_betas(self):
        if not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must lie in [0, 1), got {list(self.betas)}")
        return self

