"""Feedback-driven inertia calibration (docs/method.md §2.2): how the MetaNet learns from the student.

- ``LongTermLoss``: the student's long-term loss per (question, perspective), a bias-corrected EMA over
  that pair's visits (``L_real``); with ``gamma = 0`` it is the latest visit's loss (the instant ablation).
- ``warm_up``: the MetaNet fitted alone, before the student's first step, on the student's starting losses.

The joint stage (smaller learning rate, accumulation window) is the MIND strategy's loop; the loss it
minimises is ``mind_lib.metanet.listnet_kl``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mind_lib.metanet import MetaNet, listnet_kl


class LongTermLoss:
    """``m_n = gamma m_{n-1} + (1 - gamma) CE_n``, ``L_real = m_n / (1 - gamma^n)`` per (question, perspective).

    The bias correction makes the first value the first loss seen; never-visited pairs are NaN.
    """

    def __init__(self, n_questions: int, n_perspectives: int, gamma: float):
        if not 0.0 <= gamma < 1.0:
            raise ValueError(f"loss_ema must lie in [0, 1), got {gamma}")
        self.gamma = gamma
        self.m = torch.zeros(n_questions, n_perspectives, dtype=torch.float64)
        self.n = torch.zeros(n_questions, n_perspectives, dtype=torch.int64)

    def update(self, q: torch.Tensor, p: torch.Tensor, loss: torch.Tensor) -> None:
        """One visit of each (q[i], p[i]) with loss[i]: ``(N,)`` long, ``(N,)`` long, ``(N,)`` float."""
        for qi, pi, li in zip(q.tolist(), p.tolist(), loss.tolist()):  # a pair may repeat: visits in order
            self.m[qi, pi] = self.gamma * self.m[qi, pi] + (1 - self.gamma) * li
            self.n[qi, pi] += 1

    def value(self, q: torch.Tensor | None = None) -> torch.Tensor:
        """``L_real`` of the rows ``q`` (all questions when None): (Q, P) float32, NaN where never visited."""
        m, n = (self.m, self.n) if q is None else (self.m[q], self.n[q])
        corrected = m / (1 - self.gamma ** n.double()).clamp(min=1e-12)
        return torch.where(n > 0, corrected, torch.full_like(corrected, float("nan"))).float()

    def per_perspective(self) -> torch.Tensor:
        """Mean ``L_real`` per perspective over its visited pairs: (P,), NaN for a perspective never visited."""
        v = self.value()
        seen = ~torch.isnan(v)
        return torch.where(seen.any(0), torch.nan_to_num(v).sum(0) / seen.sum(0).clamp(min=1),
                           torch.full((v.shape[1],), float("nan")))

    def state_dict(self) -> dict[str, Any]:
        return {"m": self.m.clone(), "n": self.n.clone(), "gamma": self.gamma}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if tuple(state["m"].shape) != tuple(self.m.shape) or float(state["gamma"]) != self.gamma:
            raise ValueError(f"long-term loss state {tuple(state['m'].shape)}, gamma {state['gamma']} does not "
                             f"match this run's {tuple(self.m.shape)}, gamma {self.gamma}")
        self.m, self.n = state["m"].clone(), state["n"].clone()


def warm_up(metanet: MetaNet, question: torch.Tensor, trajectories: torch.Tensor, mask: torch.Tensor,
            loss: torch.Tensor, *, epochs: int, batch_size: int, lr: float, tau: float, seed: int,
            invert: bool = False) -> list[float]:
    """Fit ``metanet`` alone on the starting losses ``loss`` (Q, P) for ``epochs`` passes over the questions.

    ``question`` (Q, D), ``trajectories`` (Q, P, D), ``mask`` (Q, P) bool. Adam at ``lr``, batches of
    ``batch_size`` questions in an order seeded by ``seed``. Returns the mean ListNet-KL of each epoch.
    """
    rankable = torch.nonzero(mask.sum(1) >= 2).squeeze(1).cpu().numpy()
    if epochs == 0 or len(rankable) == 0:
        return []
    optimizer = torch.optim.Adam(metanet.parameters(), lr=lr)
    rng = np.random.default_rng([seed, 7])  # its own stream: the student's RNG is untouched
    history = []
    for _ in range(epochs):
        order, total = rng.permutation(rankable), 0.0
        for start in range(0, len(order), batch_size):
            idx = torch.as_tensor(order[start:start + batch_size], device=question.device)
            kl = listnet_kl(metanet(question[idx], trajectories[idx], mask[idx]), loss[idx], mask[idx], tau,
                            invert).mean()
            optimizer.zero_grad(set_to_none=True)
            kl.backward()
            optimizer.step()
            total += float(kl.detach()) * len(idx)
        history.append(total / len(order))
    return history
