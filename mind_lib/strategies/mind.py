"""MIND as its authors published it (docs/method.md §2): a MetaNet scores each question's trajectories,
the student trains on the selected ones with softmax weights plus answer consistency between them.

Per question q of a batch (batches hold whole questions):

    z = MetaNet(e_x, e_1..e_K)                     scores; trained by ListNet-KL toward -L_real / tau
    s = exp((z - max z) / tau)                     positive, best = 1
    I_dyn = {k : s_k >= beta * max s},  alpha = softmax over I_dyn of s / tau_student
    L_q = sum_k alpha_k CE_k + lambda * sum_{i<j} alpha_i alpha_j JSD(P_i || P_j)

and the batch loss is ``(1/N) sum_q |K_q| L_q`` (one rule for every multi-rationale method, §2.5).
The ablations are this strategy with other options (``mind_lib.strategies.VARIANTS``).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import torch

from mind_lib.inertia import LongTermLoss, warm_up
from mind_lib.metanet import (FeatureCache, MetaNet, answer_log_probs, items_digest, jsd, listnet_kl, masked_softmax,
                              model_digest, pair_terms, positive_scores, select_and_fuse, spearman, student_features)
from mind_lib.strategies.base import (ItemSet, RunInfo, StepLoss, TextItem, collate, model_logits, per_sequence_loss,
                                      question_mean, question_rows)
from mind_lib.strategies.ftcot_diverse import FtcotDiverse
from mind_lib.strategies.options import MindOptions
from mind_lib.tasks.base import Example


class Mind(FtcotDiverse):
    """MIND; the MetaNet, its optimizer and the long-term losses are its state."""

    name = "mind"
    Options = MindOptions
    relative_cost = 1.3  # the MetaNet and the probe (benchmarks/mind_overhead.py measures it)
    whole_questions = True
    needs_answer_span = True
    feature_cache = FeatureCache(None)  # distill() points it beside the stage's outputs

    def use_cache(self, folder) -> None:
        self.feature_cache = FeatureCache(folder)

    def feedback_items(self, examples: Sequence[Example], rows: Sequence[dict]) -> list[TextItem]:
        return self.items_kept(examples, rows, self.options.feedback_keep)

    # -- set-up ---------------------------------------------------------------------------------

    def setup(self, model, accelerator, train_set: ItemSet, feedback: ItemSet | None, run: RunInfo) -> None:
        o = self.options
        if o.warmup_epochs > run.planned_epochs:
            raise ValueError(f"strategy {self.name!r}: option 'warmup_epochs' ({o.warmup_epochs}) is longer than the "
                             f"run's budget ({run.planned_epochs:.2f} epochs of the training questions)")
        self.accelerator, self.model = accelerator, model
        self.device = accelerator.device
        self.perspectives = list(train_set.perspectives)
        self.pad_id = accelerator.unwrap_model(model).config.pad_token_id or 0
        train = self._tables(train_set)
        self.mask = train["mask"]
        self.e_q, self.e_k = train["question"].to(self.device), train["trajectory"].to(self.device)
        with torch.random.fork_rng(devices=[]):  # the MetaNet's init must not shift the student's RNG stream
            torch.manual_seed(run.seed)
            self.metanet = MetaNet(self.e_q.shape[1], o.metanet_dim, o.attn_heads, o.score_heads,
                                   o.synergy).to(self.device)
        self.long_term = LongTermLoss(*self.mask.shape, gamma=o.loss_ema)
        q_idx, p_idx = torch.nonzero(self.mask, as_tuple=True)
        start_loss = train["loss"]
        if o.warmup_epochs:
            self.long_term.update(q_idx, p_idx, start_loss[q_idx, p_idx])  # visit 0: the student as it starts
            self.warmup_history = warm_up(self.metanet, self.e_q, self.e_k, self.mask.to(self.device),
                                          start_loss.to(self.device), epochs=o.warmup_epochs,
                                          batch_size=o.meta_batch_size, lr=o.warmup_lr, tau=o.tau, seed=run.seed,
                                          invert=o.target == "inverted")
        else:
            self.warmup_history = []
        self.meta_optimizer = torch.optim.Adam(self.metanet.parameters(), lr=o.meta_lr)
        self.metanet.zero_grad(set_to_none=True)
        self.calls, self.last_spearman = 0, float("nan")
        self.probe = self._probe_set(feedback) if feedback is not None and o.probe_every else None
        self._reset_stats()

    def _tables(self, items: ItemSet) -> dict[str, torch.Tensor]:
        """Per (question, perspective): mask, encoder vectors and the starting student's loss (cached)."""
        o = self.options
        student = self.accelerator.unwrap_model(self.model)
        key = f"{items_digest(items.items)}-{model_digest(student)}"
        feats = self.feature_cache.get(f"student-{key}", lambda: student_features(
            student, items.items, self.pad_id, self.device))
        if o.encoder != "student":
            from mind_lib.io import folder_digest
            from mind_lib.metanet import folder_features

            if items.texts is None:
                raise ValueError("an encoder folder reads text, but these items carry none")
            folder = self.feature_cache.get(f"folder-{items_digest(items.items)}-{folder_digest(o.encoder)}",
                                            lambda: folder_features(o.encoder, items.texts, self.device))
            feats = {**feats, "question": folder["question"], "trajectory": folder["trajectory"]}
        n_q, n_p = len(items.questions), len(items.perspectives)
        mask = torch.zeros(n_q, n_p, dtype=torch.bool)
        question = torch.zeros(n_q, feats["question"].shape[1])
        trajectory = torch.zeros(n_q, n_p, feats["trajectory"].shape[1])
        loss = torch.zeros(n_q, n_p)
        for i, it in enumerate(items.items):
            if mask[it.question, it.perspective]:
                raise ValueError(f"question {items.questions[it.question]!r} has two trajectories of perspective "
                                 f"{items.perspectives[it.perspective]!r}; MIND scores one per perspective")
            mask[it.question, it.perspective] = True
            question[it.question] = feats["question"][i]
            trajectory[it.question, it.perspective] = feats["trajectory"][i]
            loss[it.question, it.perspective] = feats["loss"][i]
        return {"mask": mask, "question": question, "trajectory": trajectory, "loss": loss}

    def _probe_set(self, feedback: ItemSet) -> dict[str, Any] | None:
        """The first ``probe_questions`` feedback questions with >= 3 trajectories, in this run's perspective columns."""
        col = {p: i for i, p in enumerate(self.perspectives)}
        tables = self._tables(feedback)
        rows = [q for q in range(len(feedback.questions)) if int(tables["mask"][q].sum()) >= 3]
        rows = rows[:self.options.probe_questions]
        if not rows:
            return None
        keep = {q: i for i, q in enumerate(rows)}
        items = [it for it in feedback.items if it.question in keep and feedback.perspectives[it.perspective] in col]
        n_p = len(self.perspectives)
        mask = torch.zeros(len(rows), n_p, dtype=torch.bool)
        e_k = torch.zeros(len(rows), n_p, self.e_k.shape[2])
        where = []
        for it in items:
            r, c = keep[it.question], col[feedback.perspectives[it.perspective]]
            mask[r, c] = True
            e_k[r, c] = tables["trajectory"][it.question, it.perspective]
            where.append((r, c))
        return {"items": items, "where": where, "mask": mask, "e_q": tables["question"][rows].to(self.device),
                "e_k": e_k.to(self.device)}

    def _reset_stats(self):
        n_p = len(self.perspectives)
        self.stats = {"alpha": torch.zeros(n_p), "avail": torch.zeros(n_p), "selected": 0, "trajectories": 0,
                      "kl": []}

    # -- the loss ---------------------------------------------------------------------------------

    def forward_loss(self, model, batch) -> StepLoss:
        o = self.options
        logits = model_logits(model, batch)
        per_seq = per_sequence_loss(logits, batch.labels)
        q, p = batch.question.cpu(), batch.perspective.cpu()
        self._observe(q, p, per_seq.detach().float().cpu())
        groups = question_rows(batch.question)
        qs = torch.stack([batch.question[rows[0]] for rows in groups]).cpu()
        mask = self.mask[qs]
        z = self.metanet(self.e_q[qs.to(self.device)], self.e_k[qs.to(self.device)], mask.to(self.device))
        self._meta_update(z, self.long_term.value(qs).to(self.device), mask.to(self.device))
        if o.fusion == "uniform":
            selected, alpha = mask, masked_softmax(torch.zeros(mask.shape), mask)
        else:
            selected, alpha = select_and_fuse(positive_scores(z.detach().cpu(), mask, o.tau), mask, o.beta,
                                              o.tau_student)
        log_probs = answer_log_probs(logits, batch.answer_pos, batch.answer_len) if o.consistency_weight else None
        losses = []
        for g, rows in enumerate(groups):
            cols = batch.perspective[rows].cpu()
            a = alpha[g, cols].to(per_seq.device)
            loss_q = (a * per_seq[rows]).sum()
            if log_probs is not None:
                chosen = [log_probs[r] if selected[g, c] else None for r, c in zip(rows.tolist(), cols.tolist())]
                for i, j, d in pair_terms(chosen, jsd):
                    loss_q = loss_q + o.consistency_weight * a[i] * a[j] * d
            losses.append(loss_q)
        self._record(alpha, selected, mask)
        self.calls += 1
        if self.probe is not None and self.calls % o.probe_every == 0:
            self.last_spearman = self._probe()
        return StepLoss(question_mean(losses, [len(r) for r in groups], len(batch)), per_seq.detach())

    def _observe(self, q: torch.Tensor, p: torch.Tensor, per_seq: torch.Tensor) -> None:
        """Every process's losses update the long-term losses, so all processes hold the same ``L_real``."""
        acc = self.accelerator
        if acc.num_processes > 1:
            # batches may differ in size between processes: pad to the largest, gather, keep the real rows
            sizes = acc.gather(torch.tensor([len(q)], device=acc.device)).cpu().tolist()
            q, p, per_seq = (acc.gather(acc.pad_across_processes(x.to(acc.device), dim=0)).cpu()
                             for x in (q, p, per_seq))
            most = max(sizes)
            keep = torch.cat([torch.arange(r * most, r * most + n) for r, n in enumerate(sizes)])
            q, p, per_seq = q[keep], p[keep], per_seq[keep]
        self.long_term.update(q, p, per_seq)

    def _meta_update(self, z: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> None:
        """Accumulate this batch's ListNet-KL gradient into the MetaNet; step every ``meta_accum`` batches."""
        o = self.options
        kl = listnet_kl(z, target, mask, o.tau, invert=o.target == "inverted")
        rankable = (mask.sum(1) >= 2).sum().clamp(min=1)
        loss = kl.sum() / rankable
        (loss / o.meta_accum).backward()
        self.stats["kl"].append(float(loss.detach()))
        if (self.calls + 1) % o.meta_accum == 0:
            acc = self.accelerator
            for t in self.metanet.parameters():
                if t.grad is None:
                    t.grad = torch.zeros_like(t)
                if acc.num_processes > 1:  # every process applies the same averaged update: identical MetaNets
                    t.grad = acc.reduce(t.grad, "mean")
            self.meta_optimizer.step()
            self.metanet.zero_grad(set_to_none=True)

    @torch.no_grad()
    def _probe(self) -> float:
        """Mean Spearman rho between the MetaNet's z and -CE of the current student on held-out questions."""
        pr = self.probe
        was_training = self.model.training
        self.model.eval()
        ce = torch.zeros(pr["mask"].shape)
        for start in range(0, len(pr["items"]), 64):
            chunk = pr["items"][start:start + 64]
            b = collate(chunk, self.pad_id).to(self.device)
            losses = per_sequence_loss(model_logits(self.model, b), b.labels).float().cpu()
            for (r, c), loss in zip(pr["where"][start:start + 64], losses.tolist()):
                ce[r, c] = loss
        self.model.train(was_training)
        z = self.metanet(pr["e_q"], pr["e_k"], pr["mask"].to(self.device)).cpu()
        rho = spearman(z, -ce, pr["mask"])
        return float(torch.nanmean(rho))

    # -- logging and state --------------------------------------------------------------------------

    def _record(self, alpha: torch.Tensor, selected: torch.Tensor, mask: torch.Tensor) -> None:
        s = self.stats
        s["alpha"] += (alpha * mask).sum(0)
        s["avail"] += mask.sum(0)
        s["selected"] += int(selected.sum())
        s["trajectories"] += int(mask.sum())

    def log_row(self) -> dict[str, Any]:
        """Mean alpha per perspective, share selected, ListNet-KL, held-out Spearman, long-term loss per perspective."""
        s = self.stats
        row: dict[str, Any] = {"selected_share": s["selected"] / max(1, s["trajectories"])}
        if s["kl"]:
            row["listnet_kl"] = float(np.mean(s["kl"]))
        if not math.isnan(self.last_spearman):
            row["spearman_unseen"] = self.last_spearman
        acc = self.accelerator
        if acc.num_processes > 1:  # every process must hold the same MetaNet: 0 when they do
            check = torch.stack([t.detach().double().sum() for t in self.metanet.parameters()]).sum()
            every = acc.gather(check.reshape(1).to(acc.device))
            row["metanet_spread"] = float(every.max() - every.min())
        mean_alpha = s["alpha"] / s["avail"].clamp(min=1)
        long_term = self.long_term.per_perspective()
        for i, name in enumerate(self.perspectives):
            if s["avail"][i] > 0:
                row[f"alpha/{name}"] = float(mean_alpha[i])
            if not math.isnan(float(long_term[i])):
                row[f"long_term_loss/{name}"] = float(long_term[i])
        self._reset_stats()
        return row

    def state_dict(self) -> dict[str, Any]:
        # the MetaNet's accumulated gradients are state too: a checkpoint may fall mid-accumulation
        grads = [None if t.grad is None else t.grad.detach().cpu().clone() for t in self.metanet.parameters()]
        return {"metanet": self.metanet.state_dict(), "meta_optimizer": self.meta_optimizer.state_dict(),
                "meta_grads": grads, "long_term": self.long_term.state_dict(), "calls": self.calls,
                "last_spearman": self.last_spearman}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.metanet.load_state_dict(state["metanet"])
        self.meta_optimizer.load_state_dict(state["meta_optimizer"])
        for t, g in zip(self.metanet.parameters(), state["meta_grads"]):
            t.grad = None if g is None else g.to(t.device)
        self.long_term.load_state_dict(state["long_term"])
        self.calls = int(state["calls"])
        self.last_spearman = float(state["last_spearman"])
