"""MIND's Teaching Assistant, the MetaNet, and the pure functions around it (docs/method.md §2.1-2.4).

- ``MetaNet``: encoder vectors of a question and its trajectories -> one logit ``z_k`` per trajectory
  (feature alignment MLP, multi-head self-attention across the trajectories, several scoring heads).
- ``positive_scores``, ``select_and_fuse``: the published selection ``I_dyn`` and fusion weights ``alpha``.
- ``listnet_kl``: the MetaNet's ranking loss toward the student's long-term losses.
- ``answer_log_probs``, ``jsd``, ``symmetric_kl``: the answer distributions ``P_i`` and their divergences.
- ``spearman``: does the MetaNet rank trajectories as the student's losses do?
- ``student_features``, ``folder_features``, ``FeatureCache``: the frozen encoder's vectors, cached.

Shapes: Q questions, P perspectives (one column each; ``mask`` says which hold a trajectory), D encoder width.
"""
from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from mind_lib.formatting import IGNORE, pad_right

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- the network


class MetaNet(nn.Module):
    """``z = mean_m head_m(LayerNorm(H + MHA(H)))``, ``H = align([LN(e_x); LN(e_k)])`` (docs/method.md §2.1)."""

    def __init__(self, d_in: int, dim: int = 64, attn_heads: int = 4, score_heads: int = 3, synergy: bool = True):
        super().__init__()
        if dim % attn_heads:
            raise ValueError(f"metanet_dim ({dim}) must be divisible by attention heads ({attn_heads})")
        self.norm_in = nn.LayerNorm(d_in, elementwise_affine=False)
        self.align = nn.Sequential(nn.Linear(2 * d_in, dim), nn.GELU(), nn.Linear(dim, dim))
        self.synergy = nn.MultiheadAttention(dim, attn_heads, batch_first=True) if synergy else None
        self.norm_syn = nn.LayerNorm(dim) if synergy else None
        self.heads = nn.ModuleList(nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
                                   for _ in range(score_heads))

    def forward(self, question: torch.Tensor, trajectories: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``question`` (Q, D), ``trajectories`` (Q, P, D), ``mask`` (Q, P) bool -> logits ``z`` (Q, P), 0 where masked."""
        q = self.norm_in(question).unsqueeze(1).expand(-1, trajectories.shape[1], -1)
        h = self.align(torch.cat([q, self.norm_in(trajectories)], dim=-1))
        if self.synergy is not None:
            # a question with a single trajectory still attends to itself; an empty row is never scored
            pad = ~mask & mask.any(dim=1, keepdim=True)
            mixed, _ = self.synergy(h, h, h, key_padding_mask=pad, need_weights=False)
            h = self.norm_syn(h + mixed)
        z = torch.stack([head(h).squeeze(-1) for head in self.heads]).mean(dim=0)
        return z.masked_fill(~mask, 0.0)


# -------------------------------------------------------------------------------- selection, fusion, ranking


def positive_scores(z: torch.Tensor, mask: torch.Tensor, tau: float) -> torch.Tensor:
    """``s_k = exp((z_k - max_j z_j) / tau)`` over each row's available entries: in (0, 1], max 1, 0 where masked.

    Equal to ``p_k / max p`` for ``p = softmax(z / tau)``: shift-invariant, like ListNet (docs/method.md §2.1).
    Shapes: (Q, P), (Q, P) bool -> (Q, P).
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    top = z.masked_fill(~mask, float("-inf")).amax(dim=1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
    return torch.exp((z - top) / tau) * mask


def select_and_fuse(s: torch.Tensor, mask: torch.Tensor, beta: float, tau_student: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``I_dyn = {k : s_k >= beta * max s}`` and ``alpha = softmax over I_dyn of s / tau_student`` (0 outside).

    Shapes: (Q, P), (Q, P) bool -> selected (Q, P) bool, alpha (Q, P); each non-empty row of alpha sums to 1.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta must lie in [0, 1], got {beta}")
    if tau_student <= 0:
        raise ValueError(f"tau_student must be > 0, got {tau_student}")
    best = (s * mask).amax(dim=1, keepdim=True)
    selected = mask & (s >= beta * best)
    return selected, masked_softmax(s / tau_student, selected)


def masked_softmax(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over each row's ``mask``ed entries, 0 elsewhere; an empty row is all 0. (Q, P) -> (Q, P)."""
    z = x.masked_fill(~mask, float("-inf"))
    z = torch.where(mask.any(dim=1, keepdim=True), z, torch.zeros_like(z))
    return torch.softmax(z, dim=1) * mask


def masked_log_softmax(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Log-softmax over each row's masked entries; 0 outside (never -inf, so products with 0 stay 0)."""
    z = x.masked_fill(~mask, float("-inf"))
    z = torch.where(mask.any(dim=1, keepdim=True), z, torch.zeros_like(z))
    return torch.log_softmax(z, dim=1).masked_fill(~mask, 0.0)


def listnet_kl(z: torch.Tensor, target_loss: torch.Tensor, mask: torch.Tensor, tau: float,
               invert: bool = False) -> torch.Tensor:
    """``KL(softmax(z/tau) || softmax(-L/tau))`` per question (``+L`` when ``invert``: the control).

    Shapes: ``z`` (Q, P), ``target_loss`` (Q, P) (any value where masked), ``mask`` (Q, P) bool -> (Q,);
    a question with fewer than two trajectories has nothing to rank and gets 0.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    target = torch.nan_to_num(target_loss.detach(), nan=0.0).masked_fill(~mask, 0.0)
    log_p = masked_log_softmax(z / tau, mask)
    log_q = masked_log_softmax((target if invert else -target) / tau, mask)
    kl = (log_p.exp() * (log_p - log_q) * mask).sum(dim=1)
    return kl * (mask.sum(dim=1) >= 2)


def spearman(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, min_items: int = 3) -> torch.Tensor:
    """Spearman's rho between ``a`` and ``b`` over each row's masked entries (ties broken by position).

    Shapes: (Q, P), (Q, P), (Q, P) bool -> (Q,), NaN for rows with fewer than ``min_items`` entries.
    """
    out = torch.full((a.shape[0],), float("nan"))
    for i in range(a.shape[0]):
        m = mask[i].cpu()
        if int(m.sum()) < min_items:
            continue
        ra = a[i].cpu()[m].argsort().argsort().float()
        rb = b[i].cpu()[m].argsort().argsort().float()
        ra, rb = ra - ra.mean(), rb - rb.mean()
        out[i] = (ra * rb).sum() / (ra.norm() * rb.norm()).clamp(min=1e-12)
    return out


# ------------------------------------------------------------------------------------ answer distributions


def answer_log_probs(logits: torch.Tensor, answer_pos: torch.Tensor, answer_len: torch.Tensor) -> list[torch.Tensor | None]:
    """Per row, the student's next-token log-distributions at its answer value's tokens (``P_i``, §2.4).

    ``logits`` (B, T, V); ``answer_pos``/``answer_len`` (B,) from the items (-1/0: not located) ->
    B entries of shape (n_b, V) float32, or None. Only these positions are normalised (cheap for large V).
    """
    out: list[torch.Tensor | None] = []
    for b, (pos, n) in enumerate(zip(answer_pos.tolist(), answer_len.tolist())):
        # position t predicts token t + 1, so the answer's tokens pos..pos+n-1 are read at pos-1..pos+n-2
        out.append(torch.log_softmax(logits[b, pos - 1:pos - 1 + n].float(), dim=-1) if n > 0 and pos >= 1 else None)
    return out


def _aligned(lp: torch.Tensor, lq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    n = min(lp.shape[0], lq.shape[0])
    return lp[:n], lq[:n]


def jsd(lp: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence of two answer distributions, mean over their aligned positions (nats, in [0, ln 2]).

    ``lp``, ``lq``: (n, V) log-probabilities -> scalar.
    """
    lp, lq = _aligned(lp, lq)
    log_m = torch.logsumexp(torch.stack([lp, lq]), dim=0) - np.log(2.0)
    kl_pm = (lp.exp() * (lp - log_m)).sum(-1)
    kl_qm = (lq.exp() * (lq - log_m)).sum(-1)
    return (0.5 * (kl_pm + kl_qm)).mean()


def symmetric_kl(lp: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
    """MCC-KD's bidirectional KL, ``(KL(P||Q) + KL(Q||P)) / 2``, mean over aligned positions. (n, V) x2 -> scalar."""
    lp, lq = _aligned(lp, lq)
    return (0.5 * ((lp.exp() * (lp - lq)).sum(-1) + (lq.exp() * (lq - lp)).sum(-1))).mean()


def pair_terms(log_probs: Sequence[torch.Tensor | None], divergence: Callable) -> list[tuple[int, int, torch.Tensor]]:
    """``(i, j, divergence(P_i, P_j))`` for every pair ``i < j`` whose answers were both located."""
    return [(i, j, divergence(log_probs[i], log_probs[j]))
            for i in range(len(log_probs)) for j in range(i + 1, len(log_probs))
            if log_probs[i] is not None and log_probs[j] is not None]


# ------------------------------------------------------------------------------------------- the encoder


@torch.no_grad()
def student_features(model, items, pad_id: int, device, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """The student as frozen encoder (the embedded default, §2.1), in one pass over ``items``.

    Returns ``question`` (N, D): mean last-layer state over each item's prompt tokens (bos excluded);
    ``trajectory`` (N, D): over its target tokens; ``loss`` (N,): its mean token CE (the warm-up's L^(0)).
    """
    from mind_lib.strategies.base import per_sequence_loss

    was_training = model.training
    model.eval()
    order = np.argsort([-len(it) for it in items], kind="stable")  # similar lengths together: little padding
    out = {k: [None] * len(items) for k in ("question", "trajectory", "loss")}
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        ids = pad_right([items[i].input_ids for i in idx], pad_id).to(device)
        labels = pad_right([items[i].labels for i in idx], IGNORE).to(device)
        res = model(input_ids=ids, use_cache=False, output_hidden_states=True)
        hidden = res.hidden_states[-1].float()
        loss = per_sequence_loss(res.logits, labels)
        lengths = torch.tensor([len(items[i]) for i in idx], device=device)
        pos = torch.arange(ids.shape[1], device=device).unsqueeze(0)
        real = pos < lengths.unsqueeze(1)
        target = labels != IGNORE
        prompt = real & ~target & (pos > 0)
        for name, m in (("question", prompt), ("trajectory", target)):
            m = m.unsqueeze(-1).float()
            vecs = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
            for row, i in enumerate(idx):
                out[name][i] = vecs[row].cpu()
        for row, i in enumerate(idx):
            out["loss"][i] = loss[row].cpu()
    model.train(was_training)
    return {k: torch.stack(v) for k, v in out.items()}


@torch.no_grad()
def folder_features(folder: str | os.PathLike, texts: Sequence[tuple[str, str]], device, batch_size: int = 32,
                    max_len: int = 512) -> dict[str, torch.Tensor]:
    """A local encoder folder (``AutoModel``, e.g. BERT or Sentence-BERT) as frozen encoder, never downloaded.

    ``texts``: (question prompt, trajectory) per item -> ``question`` and ``trajectory`` (N, D), mean-pooled
    last hidden states over each text's real tokens.
    """
    from transformers import AutoModel, AutoTokenizer

    folder = Path(folder)
    if not (folder / "config.json").exists():
        raise FileNotFoundError(f"MetaNet encoder folder {folder}: no config.json (a local AutoModel folder is "
                                f"needed; nothing is downloaded)")
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    if tok.pad_token is None:  # decoder-style tokenizers have none; padded positions are masked out anyway
        tok.pad_token = tok.eos_token or tok.unk_token
    enc = AutoModel.from_pretrained(folder, local_files_only=True).to(device).eval()

    def encode(strings: list[str]) -> torch.Tensor:
        vecs = []
        for start in range(0, len(strings), batch_size):
            batch = tok(strings[start:start + batch_size], padding=True, truncation=True, max_length=max_len,
                        return_tensors="pt").to(device)
            hidden = enc(**batch).last_hidden_state.float()
            m = batch["attention_mask"].unsqueeze(-1).float()
            vecs.append(((hidden * m).sum(1) / m.sum(1).clamp(min=1)).cpu())
        return torch.cat(vecs)

    return {"question": encode([p for p, _ in texts]), "trajectory": encode([t for _, t in texts])}


def model_digest(model) -> str:
    """Hash of a model's weights: which encoder (or which starting student) produced cached vectors."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def items_digest(items) -> str:
    """Hash of the items' token ids (what the encoder read)."""
    h = hashlib.sha256()
    for it in items:
        h.update(np.asarray(it.input_ids + (-1,) + it.labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


class FeatureCache:
    """Encoder vectors on disk, one file per key; written atomically, so concurrent runs can share it."""

    def __init__(self, folder: str | os.PathLike | None):
        self.folder = Path(folder) if folder is not None else None

    def get(self, key: str, compute: Callable[[], dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        if self.folder is None:
            return compute()
        path = self.folder / f"{key}.pt"
        if path.exists():
            try:
                return torch.load(path, weights_only=True)
            except Exception as e:  # a damaged cache file is recomputed, never trusted
                log.warning("%s: unreadable MetaNet feature cache (%s); recomputing", path, type(e).__name__)
        value = compute()
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(value, tmp)
        os.replace(tmp, path)
        return value
