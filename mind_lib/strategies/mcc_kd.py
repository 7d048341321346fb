"""MCC-KD (Chen et al., EMNLP 2023, "Multi-CoT Consistent Knowledge Distillation"), docs/method.md §2.6.

Several rationales per question with uniform weights, plus a consistency term between the answer
distributions they lead the student to (bidirectional KL), with the same ``P_i`` and whole-question
batches as MIND:

    L_q = mean_k CE_k + lambda * mean_{i<j} (KL(P_i || P_j) + KL(P_j || P_i)) / 2

With ``consistency_weight: 0`` it is exactly ``ftcot_diverse``; MIND minus MCC-KD isolates the MetaNet's
selection and fusion.
"""
from __future__ import annotations

import torch

from mind_lib.metanet import answer_log_probs, pair_terms, symmetric_kl
from mind_lib.strategies.base import Batch, StepLoss, per_sequence_loss, question_mean, question_rows
from mind_lib.strategies.ftcot_diverse import FtcotDiverse
from mind_lib.strategies.options import MccKdOptions


class MccKd(FtcotDiverse):
    """Uniform multi-rationale training with answer consistency between a question's rationales."""

    name = "mcc_kd"
    Options = MccKdOptions
    relative_cost = 1.1
    whole_questions = True
    needs_answer_span = True

    def loss(self, logits: torch.Tensor, batch: Batch) -> StepLoss:
        per_seq = per_sequence_loss(logits, batch.labels)
        lam = self.options.consistency_weight
        log_probs = answer_log_probs(logits, batch.answer_pos, batch.answer_len) if lam else None
        groups = question_rows(batch.question)
        losses = []
        for rows in groups:
            loss_q = per_seq[rows].mean()
            if log_probs is not None:
                pairs = pair_terms([log_probs[r] for r in rows.tolist()], symmetric_kl)
                if pairs:
                    loss_q = loss_q + lam * torch.stack([d for _, _, d in pairs]).mean()
            losses.append(loss_q)
        return StepLoss(question_mean(losses, [len(r) for r in groups], len(batch)), per_seq.detach())
