"""The Teaching Assistant (docs/method.md §2.4-2.5): per-rationale features -> weights.

Pure pieces: feature construction, the masked floored softmax, the heuristic weights, the weighted
loss; and the small MLP itself. The meta-gradient step that trains the TA needs the student and
lives in the `mind` strategy; this module knows nothing about data files or the trainer.

Shapes: B questions in a batch, P perspectives (a fixed column per perspective), F features.
"""
from __future__ import annotations

import torch
from torch import nn

N_FEATURES = 5  # current loss, filtered loss, filtered loss relative to the question, progress, log length


def masked_weights(logits: torch.Tensor, mask: torch.Tensor, tau: float, epsilon: float) -> torch.Tensor:
    """Weights over each question's available rationales.

    ``w = (1 - epsilon) * softmax(logits / tau over available) + epsilon / |available|``, 0 where
    ``mask`` is False; each row with at least one available rationale sums to 1, an empty row is 0.
    Shapes: ``logits`` (B, P) float, ``mask`` (B, P) bool -> (B, P).
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}")
    z = (logits / tau).masked_fill(~mask, float("-inf"))
    has_any = mask.any(dim=1, keepdim=True)
    z = torch.where(has_any, z, torch.zeros_like(z))  # avoid NaN on empty rows
    soft = torch.softmax(z, dim=1) * mask
    n_avail = mask.sum(dim=1, keepdim=True).clamp(min=1)
    w = (1 - epsilon) * soft + epsilon * mask / n_avail
    return w * has_any


def relative_to_question(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values`` minus the mean over the same question's available rationales (0 where missing).

    Shapes: (B, P), (B, P) bool -> (B, P).
    """
    n = mask.sum(dim=1, keepdim=True).clamp(min=1)
    mean = (values * mask).sum(dim=1, keepdim=True) / n
    return (values - mean) * mask


def build_features(loss: torch.Tensor, filtered: torch.Tensor, progress: torch.Tensor, log_length: torch.Tensor,
                   mask: torch.Tensor) -> torch.Tensor:
    """Stack the TA's per-rationale features; missing entries are zeroed.

    Shapes: each (B, P) -> (B, P, N_FEATURES).
    """
    rel = relative_to_question(filtered, mask)
    feats = torch.stack([loss, filtered, rel, progress, log_length], dim=-1)
    feats = torch.nan_to_num(feats, nan=0.0, posinf=0.0, neginf=0.0)
    return feats * mask.unsqueeze(-1)


def heuristic_weights(filtered: torch.Tensor, mask: torch.Tensor, tau: float, epsilon: float,
                      invert: bool = False) -> torch.Tensor:
    """No-learning TA: ``softmax(-(filtered - question mean) / tau)``: favour what the student absorbs best.

    ``invert=True`` favours the high-loss rationales instead (the sanity-inversion control).
    Shapes: (B, P), (B, P) bool -> (B, P).
    """
    rel = relative_to_question(filtered, mask)
    return masked_weights(rel if invert else -rel, mask, tau, epsilon)


def weighted_loss(per_rationale_loss: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Student loss ``mean_b sum_k sg(w_bk) * l_bk``: the weights are detached, so no gradient reaches
    the student through them (the TA is trained by its own meta step).

    Shapes: (B, P), (B, P) -> scalar. Missing entries must carry weight 0 (their loss may be anything finite).
    """
    w = weights.detach()
    safe = torch.where(w > 0, per_rationale_loss, torch.zeros_like(per_rationale_loss))
    return (w * safe).sum(dim=1).mean()


class TANetwork(nn.Module):
    """Small MLP over per-rationale features plus a learned perspective embedding -> one logit each.

    Initialised so that all logits start at 0: the first weights are uniform (the `ftcot_diverse`
    baseline), and the TA departs from uniform only as the feedback says it should.
    """

    def __init__(self, n_perspectives: int, hidden: int = 32, embed_dim: int = 8):
        super().__init__()
        if n_perspectives < 1 or hidden < 1 or embed_dim < 1:
            raise ValueError("TANetwork needs n_perspectives, hidden and embed_dim >= 1")
        self.perspective = nn.Embedding(n_perspectives, embed_dim)
        self.mlp = nn.Sequential(nn.Linear(N_FEATURES + embed_dim, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, P, N_FEATURES) -> logits (B, P)."""
        b, p, _ = features.shape
        emb = self.perspective.weight[:p].unsqueeze(0).expand(b, p, -1)
        return self.mlp(torch.cat([features, emb], dim=-1)).squeeze(-1)
