"""The `latent` section: which hidden states the latent analysis reads and how."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from mind_lib.config import Section


class LatentParams(Section):
    """The latent stage: how many states, how they are pooled, what the probe predicts."""

    n_questions: int = Field(300, ge=10, le=100_000)
    """ID test questions whose states are analysed (effective rank, probe, alignment)."""
    n_general: int = Field(300, ge=10, le=100_000)
    """General-suite test questions for CKA to the base student."""
    per_perspective: int = Field(64, ge=2, le=100_000)
    """Teacher rationales per perspective (from the feedback split) for alignment."""
    pool: Literal["last", "mean"] = "mean"
    """Pooling of question states: the last token or the mean over the question's tokens."""
    target: Literal["bucket", "mod"] = "bucket"
    """Probe label: the first intermediate result in quantile buckets, or modulo ``n_classes``."""
    n_classes: int = Field(4, ge=2, le=100)
    """Classes of the probe label."""
    batch_size: int = Field(32, ge=1, le=4096)
    """Texts per forward pass."""
    seed: int = Field(0, ge=0)
    """Seed of the probe split and the rationale sample."""
    num_threads: int = Field(2, ge=0, le=1024)
    """Torch threads for the forward passes (the stage runs alone: 2 = both cores of the reference machine,
    0.71x the wall time of 1); 0 = leave torch's setting."""

