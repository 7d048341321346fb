"""Feedback-driven inertia calibration (docs/method.md §2.2-2.3): pure tensor functions + a small state.

The TA must not chase every noisy batch. It sees per-rationale losses through an *inertia filter*:
bias-corrected exponential moving averages (EMAs). The slow EMA's inertia ``beta_t`` is itself
calibrated by the trend of the student's loss on a held-out feedback set: when that loss rises
(the student struggles or starts to forget) inertia goes up and the supervision mix changes slowly;
when it falls, inertia goes down and supervision follows the student faster.

Bias correction with a time-varying beta: besides the running average ``avg`` we keep the running
``norm`` = the same EMA applied to the constant 1 (``1 - prod(beta)``); ``avg / norm`` is unbiased,
and the first filtered value equals the first raw value whatever beta is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch


# ------------------------------------------------------------------------------------------ pure


def ema_step(avg: torch.Tensor, norm: torch.Tensor, value: torch.Tensor, beta: float | torch.Tensor,
             mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One EMA step where ``mask`` is True (elsewhere unchanged).

    Shapes: ``avg``, ``norm``, ``value``, ``mask`` broadcast to the same shape (e.g. (P,) or (N, P)).
    Returns the new ``(avg, norm)``; ``avg / norm`` is the bias-corrected filtered value.
    """
    new_avg = beta * avg + (1 - beta) * value
    new_norm = beta * norm + (1 - beta)
    if mask is None:
        return new_avg, new_norm
    return torch.where(mask, new_avg, avg), torch.where(mask, new_norm, norm)


def corrected(avg: torch.Tensor, norm: torch.Tensor, fill: float = float("nan")) -> torch.Tensor:
    """Bias-corrected EMA ``avg / norm``; ``fill`` where nothing was seen yet (``norm == 0``)."""
    safe = torch.where(norm > 0, norm, torch.ones_like(norm))
    return torch.where(norm > 0, avg / safe, torch.full_like(avg, fill))


def calibrated_beta(trend: float, beta_min: float, beta_max: float, sensitivity: float) -> float:
    """Inertia from the relative trend of the feedback loss.

    ``trend`` = (F_now - F_before) / |F_before|: positive when the feedback loss rises. Returns
    ``beta_min + (beta_max - beta_min) * sigmoid(sensitivity * trend)``, in [beta_min, beta_max],
    increasing in ``trend``; a flat loss gives the midpoint.
    """
    if not 0.0 <= beta_min <= beta_max < 1.0:
        raise ValueError(f"need 0 <= beta_min <= beta_max < 1, got {beta_min}, {beta_max}")
    z = max(-60.0, min(60.0, sensitivity * trend))
    return beta_min + (beta_max - beta_min) / (1.0 + math.exp(-z))


# ------------------------------------------------------------------------------------------ state


@dataclass
class InertiaFilter:
    """Fast and slow filtered losses per perspective and per (question, perspective), plus ``beta_t``.

    ``mode``: ``calibrated`` (beta_t from the feedback trend), ``fixed`` (beta_t = ``beta``),
    ``off`` (no filtering: the filtered loss is the raw loss; the `mind_no_inertia` ablation).
    """

    n_questions: int
    n_perspectives: int
    mode: str = "calibrated"
    beta: float = 0.9
    beta_min: float = 0.5
    beta_max: float = 0.98
    beta_fast: float = 0.3
    feedback_beta: float = 0.5
    trend_window: int = 3
    sensitivity: float = 20.0
    beta_t: float = field(init=False)
    tensors: dict[str, torch.Tensor] = field(init=False)
    feedback_history: list[float] = field(init=False, default_factory=list)

    def __post_init__(self):
        if self.mode not in ("calibrated", "fixed", "off"):
            raise ValueError(f"inertia mode must be calibrated, fixed or off; got {self.mode!r}")
        for name in ("beta", "beta_min", "beta_max", "beta_fast", "feedback_beta"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"inertia {name} must be in [0, 1), got {getattr(self, name)}")
        if self.beta_min > self.beta_max:
            raise ValueError(f"inertia beta_min ({self.beta_min}) must not exceed beta_max ({self.beta_max})")
        if self.trend_window < 1:
            raise ValueError(f"inertia trend_window must be >= 1, got {self.trend_window}")
        self.beta_t = self.beta if self.mode == "fixed" else (self.beta_min + self.beta_max) / 2
        q, p = self.n_questions, self.n_perspectives
        self.tensors = {name: torch.zeros(shape) for name, shape in (
            ("q_slow", (q, p)), ("q_slow_norm", (q, p)), ("q_fast", (q, p)), ("q_fast_norm", (q, p)),
            ("p_slow", (p,)), ("p_slow_norm", (p,)), ("p_fast", (p,)), ("p_fast_norm", (p,)),
            ("fb", ()), ("fb_norm", ()))}

    # -- per-rationale losses ------------------------------------------------------------------

    def update(self, question_idx: torch.Tensor, losses: torch.Tensor, mask: torch.Tensor) -> None:
        """Feed one batch of raw per-rationale losses.

        Shapes: ``question_idx`` (B,) long; ``losses`` (B, P) with perspective k in column k;
        ``mask`` (B, P) bool, True where question b has a rationale of perspective k.
        """
        losses = losses.detach().float()
        t = self.tensors
        beta = self.beta_t if self.mode != "off" else 0.0
        fast = self.beta_fast if self.mode != "off" else 0.0
        rows = question_idx.long()
        for key, b in (("q_slow", beta), ("q_fast", fast)):
            avg, norm = ema_step(t[key][rows], t[key + "_norm"][rows], losses, b, mask)
            t[key][rows], t[key + "_norm"][rows] = avg, norm
        counts = mask.sum(0)
        seen = counts > 0
        batch_mean = torch.where(mask, losses, torch.zeros_like(losses)).sum(0) / counts.clamp(min=1)
        for key, b in (("p_slow", beta), ("p_fast", fast)):
            t[key], t[key + "_norm"] = ema_step(t[key], t[key + "_norm"], batch_mean, b, seen)

    def filtered(self, question_idx: torch.Tensor, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(filtered loss, learning progress) for a batch, both (B, P).

        Where a (question, perspective) was never seen, the perspective's filtered loss stands in,
        and the raw loss where even that is missing. Progress = slow - fast (positive: improving).
        """
        t, rows = self.tensors, question_idx.long()
        raw = raw.detach().float()
        slow_p = corrected(t["p_slow"], t["p_slow_norm"]).expand_as(raw)
        fast_p = corrected(t["p_fast"], t["p_fast_norm"]).expand_as(raw)
        slow = corrected(t["q_slow"][rows], t["q_slow_norm"][rows])
        fast = corrected(t["q_fast"][rows], t["q_fast_norm"][rows])
        slow = torch.where(torch.isnan(slow), slow_p, slow)
        fast = torch.where(torch.isnan(fast), fast_p, fast)
        slow = torch.where(torch.isnan(slow), raw, slow)
        fast = torch.where(torch.isnan(fast), raw, fast)
        return slow, slow - fast

    def perspective_losses(self) -> torch.Tensor:
        """(P,) bias-corrected slow filtered loss per perspective (NaN where never seen)."""
        return corrected(self.tensors["p_slow"], self.tensors["p_slow_norm"])

    # -- feedback ------------------------------------------------------------------------------

    def feedback(self, loss: float) -> float:
        """Feed the student's loss on a feedback batch; recalibrates and returns ``beta_t``."""
        t = self.tensors
        t["fb"], t["fb_norm"] = ema_step(t["fb"], t["fb_norm"], torch.tensor(float(loss)), self.feedback_beta)
        self.feedback_history.append(float(corrected(t["fb"], t["fb_norm"])))
        self.feedback_history = self.feedback_history[-(self.trend_window + 1):]
        if self.mode == "calibrated" and len(self.feedback_history) > 1:
            before, now = self.feedback_history[0], self.feedback_history[-1]
            self.beta_t = calibrated_beta((now - before) / (abs(before) + 1e-8), self.beta_min, self.beta_max,
                                          self.sensitivity)
        return self.beta_t

    # -- checkpointing -------------------------------------------------------------------------

    def state_dict(self) -> dict:
        return {"beta_t": self.beta_t, "feedback_history": list(self.feedback_history),
                "tensors": {k: v.clone() for k, v in self.tensors.items()}}

    def load_state_dict(self, state: dict) -> None:
        missing = set(self.tensors) - set(state["tensors"])
        if missing:
            raise ValueError(f"inertia state is missing {sorted(missing)}")
        for k, v in state["tensors"].items():
            if v.shape != self.tensors[k].shape:
                raise ValueError(f"inertia state {k}: shape {tuple(v.shape)} != {tuple(self.tensors[k].shape)}")
            self.tensors[k] = v.clone()
        self.beta_t = float(state["beta_t"])
        self.feedback_history = list(state["feedback_history"])
