"""MIND: per-rationale weights from a Teaching Assistant fed by the student's inertia-filtered losses.

docs/method.md §2 is the specification. The items are those of ``ftcot_diverse`` (every kept
rationale of every teacher); what changes is each item's weight in the loss:

    loss = mean_b  sg(|K_q| * w[q_b, p_b]) * l_b

where ``l_b`` is sequence b's mean token NLL, ``q_b``/``p_b`` its question and perspective, and
``w[q, :]`` the TA's weights over question q's available perspectives ``K_q`` (summing to 1). The
factor ``|K_q|`` makes uniform weights exactly ``ftcot_diverse``, so the comparison isolates the
weighting. Batches hold single rationales (length-grouped), not whole questions; the TA still
weighs each question's *full* set, using the inertia filter's memory for the perspectives not in
the batch; in expectation over the data order this is the question-level objective.

Ablations (options): ``inertia: off | fixed | calibrated`` and ``ta_mode: meta | heuristic |
inverted`` (the inverted control favours high-loss rationales).
"""
from __future__ import annotations

import math
import re
from typing import Any, Literal, Sequence

import numpy as np
import torch
from pydantic import Field, model_validator

from mind_lib.inertia import InertiaFilter
from mind_lib.rationales import Keep
from mind_lib.strategies.base import ItemSet, StepLoss, TextItem, collate, model_logits, per_sequence_loss
from mind_lib.strategies.ftcot_diverse import FtcotDiverse, FtcotDiverseOptions
from mind_lib.ta import TANetwork, build_features, heuristic_weights, masked_weights, weighted_loss
from mind_lib.tasks.base import Example


_LAYER = re.compile(r"\.layers\.(\d+)\.")  # a transformer block's parameter names


class MindOptions(FtcotDiverseOptions):
    """Options of ``mind`` (and its ablations, which are the same strategy with other options)."""

    ta_mode: Literal["meta", "heuristic", "inverted"] = "meta"
    """meta: the TA network learns from a look-ahead step on the feedback set; heuristic: weights =
    softmax(-relative filtered loss / tau), no learning; inverted: the opposite (a sanity control)."""
    inertia: Literal["calibrated", "fixed", "off"] = "calibrated"
    """calibrated: beta_t follows the feedback-loss trend; fixed: beta_t = ``beta``; off: raw losses."""
    beta: float = Field(0.9, ge=0.0, lt=1.0)
    """Inertia when ``inertia: fixed``."""
    beta_min: float = Field(0.5, ge=0.0, lt=1.0)
    """Lowest calibrated inertia (feedback loss falling fast)."""
    beta_max: float = Field(0.98, ge=0.0, lt=1.0)
    """Highest calibrated inertia (feedback loss rising)."""
    beta_fast: float = Field(0.3, ge=0.0, lt=1.0)
    """Inertia of the fast filter; learning progress = slow - fast."""
    sensitivity: float = Field(20.0, gt=0.0, le=1e4)
    """How strongly the relative feedback-loss trend moves beta_t (slope of the sigmoid)."""
    trend_window: int = Field(3, ge=1, le=1000)
    """Feedback measurements between which the trend is taken."""
    tau: float = Field(1.0, gt=0.0, le=1e4)
    """Softmax temperature of the weights (large: uniform; small: arg-max)."""
    epsilon: float = Field(0.1, ge=0.0, le=1.0)
    """Uniform floor: every available rationale keeps at least epsilon / |K_q| of the weight."""
    meta_every: int = Field(20, ge=1, le=100_000)
    """Training forward passes between feedback measurements (and TA updates in meta mode). With the
    default profile's batches of 4, 20 passes (80 rationales) per measurement keep MIND's wall time per
    token near ftcot_diverse's (benchmarks/mind_overhead.py)."""
    meta_lr: float = Field(0.1, gt=0.0, le=100.0)
    """Step size of the virtual SGD step of the look-ahead (the TA's optimizer is Adam, so only its
    direction and relative size matter)."""
    ta_lr: float = Field(1e-2, gt=0.0, le=1.0)
    """Adam learning rate of the TA network."""
    ta_hidden: int = Field(32, ge=1, le=4096)
    """Hidden units of the TA's MLP."""
    meta_params: Literal["last_block", "all"] = "last_block"
    """Student parameters the look-ahead step moves: the last transformer block and final norm (plus an
    untied head, or the LoRA weights of a LoRA student), or all of them (exact but costly)."""
    feedback_batch_size: int = Field(16, ge=1, le=65536)
    """Feedback sequences per measurement."""
    feedback_keep: Keep = "correct"
    """Which feedback rationales define the TA's target: all, or only those reaching gold."""

    @model_validator(mode="after")
    def _check_betas(self):
        if self.beta_min > self.beta_max:
            raise ValueError(f"beta_min ({self.beta_min}) must not exceed beta_max ({self.beta_max})")
        return self


def meta_parameter_names(model: torch.nn.Module, which: str) -> list[str]:
    """Names of the student parameters the look-ahead step moves (see ``MindOptions.meta_params``).

    A tied input/output embedding is left out of ``last_block``: moving it would pull the gradient
    through every layer and make the look-ahead as costly as a full step.
    """
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if which == "all":
        return names
    lora = [n for n in names if "lora_" in n]
    if lora:
        return lora
    layer_ids = [int(m.group(1)) for n in names if (m := _LAYER.search(n))]
    if not layer_ids:
        raise ValueError("meta_params=last_block: no '.layers.<i>.' parameters found; use meta_params: all")
    last = max(layer_ids)
    tied = {n for n in names if "embed" in n}
    return [n for n in names if (f".layers.{last}." in n) or
            (not _LAYER.search(n) and n not in tied and ("norm" in n or "lm_head" in n))]


class Mind(FtcotDiverse):
    """MIND's weighting on top of the diverse items; the TA and the inertia filter are its state."""

    name = "mind"
    Options = MindOptions
    relative_cost = 1.5  # the look-ahead meta-step (benchmarks/mind_overhead.py measures it)

    def feedback_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        return self.items_kept(examples, rows, self.options.feedback_keep)

    # -- set-up ---------------------------------------------------------------------------------

    def setup(self, model, accelerator, train_set: ItemSet, feedback: ItemSet | None) -> None:
        o = self.options
        if o.ta_mode == "meta" and feedback is None:
            raise ValueError("mind with ta_mode=meta needs feedback items (the eval split); none were given")
        self.accelerator, self.model, self.feedback = accelerator, model, feedback
        self.perspectives = list(train_set.perspectives)
        n_q, n_p = len(train_set.questions), len(self.perspectives)
        avail = torch.zeros(n_q, n_p, dtype=torch.bool)
        log_len = torch.zeros(n_q, n_p)
        for it in train_set.items:
            avail[it.question, it.perspective] = True
            log_len[it.question, it.perspective] = math.log(max(1, it.n_target))
        self.avail, self.log_len = avail, log_len
        self.filter = InertiaFilter(n_q, n_p, mode=o.inertia, beta=o.beta, beta_min=o.beta_min,
                                    beta_max=o.beta_max, beta_fast=o.beta_fast, trend_window=o.trend_window,
                                    sensitivity=o.sensitivity)
        with torch.random.fork_rng(devices=[]):  # the TA's init must not shift the student's RNG stream
            torch.manual_seed(0)
            self.ta = TANetwork(n_p, hidden=o.ta_hidden)
        self.ta_optimizer = torch.optim.Adam(self.ta.parameters(), lr=o.ta_lr)
        self.calls = 0
        self.meta_names = meta_parameter_names(accelerator.unwrap_model(model), o.meta_params) \
            if o.ta_mode == "meta" else []
        self._reset_stats()

    def _reset_stats(self):
        n_p = len(self.perspectives)
        self.stats = {"w_sum": torch.zeros(n_p), "w_n": torch.zeros(n_p), "entropy": 0.0, "rows": 0,
                      "feedback": []}

    # -- the loss ---------------------------------------------------------------------------------

    def _weights(self, q: torch.Tensor, p: torch.Tensor, per_seq: torch.Tensor, with_grad: bool) -> torch.Tensor:
        """(B, P) weights over each sequence's question's perspectives (TA, heuristic or inverted)."""
        o = self.options
        mask = self.avail[q]
        current = torch.zeros_like(mask, dtype=torch.float32)
        current[torch.arange(len(q)), p] = per_seq.detach().float().cpu()
        filtered, progress = self.filter.filtered(q, current)
        if o.ta_mode != "meta":
            return heuristic_weights(filtered, mask, o.tau, o.epsilon, invert=o.ta_mode == "inverted")
        # "current loss" of the perspectives not in the batch: their filtered value (the TA's memory)
        current = torch.where(torch.nn.functional.one_hot(p, mask.shape[1]).bool(), current, filtered)
        feats = build_features(current, filtered, progress, self.log_len[q], mask)
        with torch.set_grad_enabled(with_grad):
            return masked_weights(self.ta(feats), mask, o.tau, o.epsilon)

    def _sequence_matrix(self, p: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """(B,) values of each sequence's own perspective -> (B, P) with zeros elsewhere."""
        out = torch.zeros(len(p), len(self.perspectives), dtype=values.dtype, device=values.device)
        out[torch.arange(len(p), device=values.device), p.to(values.device)] = values
        return out

    def forward_loss(self, model, batch) -> StepLoss:
        per_seq = per_sequence_loss(model_logits(model, batch), batch.labels)
        q, p = batch.question.cpu(), batch.perspective.cpu()
        self._observe(q, p, per_seq.detach().float().cpu())
        w = self._weights(q, p, per_seq, with_grad=False)
        self._record(w, self.avail[q])
        # |K_q| * w[q, p_b] for each sequence: uniform weights give weight 1 (= ftcot_diverse)
        seq_w = w[torch.arange(len(q)), p] * self.avail[q].sum(1)
        loss = weighted_loss(self._sequence_matrix(batch.perspective, per_seq),
                             self._sequence_matrix(batch.perspective, seq_w.to(per_seq.device)))
        self.calls += 1
        if self.calls % self.options.meta_every == 0 and self.feedback is not None:
            fb = self._meta_step(batch) if self.options.ta_mode == "meta" else self._feedback_loss()
            self.stats["feedback"].append(fb)
            self.filter.feedback(fb)
        return StepLoss(loss, per_seq.detach())

    def _observe(self, q: torch.Tensor, p: torch.Tensor, per_seq: torch.Tensor) -> None:
        """Feed the inertia filter with every process's losses, so all processes hold the same state."""
        acc = self.accelerator
        if acc.num_processes > 1:
            # batches may differ in size between processes (an epoch's last ones): pad to the largest, gather,
            # then keep each process's real rows (a plain gather of unequal sizes breaks the collective)
            sizes = acc.gather(torch.tensor([len(q)], device=acc.device)).cpu().tolist()
            q, p, per_seq = (acc.gather(acc.pad_across_processes(x.to(acc.device), dim=0)).cpu()
                             for x in (q, p, per_seq))
            most = max(sizes)
            keep = torch.cat([torch.arange(r * most, r * most + n) for r, n in enumerate(sizes)])
            q, p, per_seq = q[keep], p[keep], per_seq[keep]
        mask = torch.nn.functional.one_hot(p, len(self.perspectives)).bool()
        self.filter.update(q, self._sequence_matrix(p, per_seq), mask)

    def _feedback_batch(self):
        """A feedback batch drawn by a stream that depends only on how many were drawn (exact resume)."""
        rng = np.random.default_rng([self.calls, len(self.feedback)])
        size = min(self.options.feedback_batch_size, len(self.feedback))
        idx = rng.choice(len(self.feedback), size=size, replace=False)
        pad_id = self.accelerator.unwrap_model(self.model).config.pad_token_id or 0
        return collate([self.feedback.items[i] for i in idx], pad_id).to(self.accelerator.device)

    @torch.no_grad()
    def _feedback_loss(self) -> float:
        fb = self._feedback_batch()
        was_training = self.model.training
        self.model.eval()
        loss = per_sequence_loss(model_logits(self.model, fb), fb.labels).mean()
        self.model.train(was_training)
        return float(self.accelerator.reduce(loss, "mean"))

    def _meta_step(self, batch) -> float:
        """One look-ahead (Meta-Weight-Net) update of the TA; returns the feedback loss after the virtual step.

        theta' = theta - meta_lr * grad_theta sum_b w_b(phi) l_b(theta)   (on the meta parameter subset)
        phi   <- Adam step on grad_phi L_feedback(theta')
        """
        from torch.func import functional_call
        from torch.nn.attention import SDPBackend, sdpa_kernel

        # Fused attention kernels have no double backward; the plain math kernel does.
        with sdpa_kernel(SDPBackend.MATH):
            return self._look_ahead(batch, functional_call)

    def _look_ahead(self, batch, functional_call) -> float:
        student = self.accelerator.unwrap_model(self.model)
        params = dict(student.named_parameters())
        fixed = {n: t.detach() for n, t in params.items() if n not in self.meta_names}
        moving = {n: params[n].detach().requires_grad_(True) for n in self.meta_names}
        logits = functional_call(student, {**fixed, **moving}, args=(), kwargs={"input_ids": batch.input_ids,
                                                                                 "use_cache": False}).logits
        per_seq = per_sequence_loss(logits, batch.labels)
        q, p = batch.question.cpu(), batch.perspective.cpu()
        w = self._weights(q, p, per_seq, with_grad=True)
        seq_w = (w[torch.arange(len(q)), p] * self.avail[q].sum(1)).to(per_seq.device)
        inner = (seq_w * per_seq).mean()
        grads = torch.autograd.grad(inner, list(moving.values()), create_graph=True)
        stepped = {n: t - self.options.meta_lr * g for (n, t), g in zip(moving.items(), grads)}
        fb = self._feedback_batch()
        fb_logits = functional_call(student, {**fixed, **stepped}, args=(),
                                    kwargs={"input_ids": fb.input_ids, "use_cache": False}).logits
        fb_loss = per_sequence_loss(fb_logits, fb.labels).mean()
        ta_params = list(self.ta.parameters())
        ta_grads = torch.autograd.grad(fb_loss, ta_params)
        self.ta_optimizer.zero_grad(set_to_none=True)
        for t, g in zip(ta_params, ta_grads):
            # every process applies the same averaged TA update, so the TAs stay identical
            t.grad = self.accelerator.reduce(g.to(self.accelerator.device), "mean").to(t.device) \
                if self.accelerator.num_processes > 1 else g
        self.ta_optimizer.step()
        return float(self.accelerator.reduce(fb_loss.detach(), "mean"))

    # -- logging and state --------------------------------------------------------------------------

    def _record(self, w: torch.Tensor, mask: torch.Tensor) -> None:
        s = self.stats
        s["w_sum"] += (w * mask).sum(0)
        s["w_n"] += mask.sum(0)
        n = mask.sum(1).clamp(min=1).float()
        ent = -(w.clamp(min=1e-12).log() * w * mask).sum(1)
        norm = torch.where(n > 1, n.log(), torch.ones_like(n))
        s["entropy"] += float((torch.where(n > 1, ent / norm, torch.ones_like(ent))).sum())
        s["rows"] += len(w)

    def log_row(self) -> dict[str, Any]:
        """Mean TA weight per perspective, normalised weight entropy (1 = uniform), beta_t, filtered losses."""
        s = self.stats
        row: dict[str, Any] = {"beta_t": self.filter.beta_t,
                               "weight_entropy": s["entropy"] / max(1, s["rows"])}
        mean_w = s["w_sum"] / s["w_n"].clamp(min=1)
        filtered = self.filter.perspective_losses()
        for i, name in enumerate(self.perspectives):
            row[f"ta_weight/{name}"] = float(mean_w[i])
            if not math.isnan(float(filtered[i])):
                row[f"filtered_loss/{name}"] = float(filtered[i])
        if s["feedback"]:
            row["feedback_loss"] = float(np.mean(s["feedback"]))
        self._reset_stats()
        return row

    def state_dict(self) -> dict[str, Any]:
        return {"ta": self.ta.state_dict(), "ta_optimizer": self.ta_optimizer.state_dict(),
                "inertia": self.filter.state_dict(), "calls": self.calls}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ta.load_state_dict(state["ta"])
        self.ta_optimizer.load_state_dict(state["ta_optimizer"])
        self.filter.load_state_dict(state["inertia"])
        self.calls = int(state["calls"])
