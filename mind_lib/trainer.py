"""The one training loop (every method, pretraining included), on ``accelerate``.

Runs as is on CPU or one GPU, and on several GPUs under ``accelerate launch``. It never names a
method: a ``Strategy`` turns batches into a loss; the trainer only schedules, steps, logs and saves.

The budget is counted in **trained target tokens**: tokens whose label is supervised (the
rationale or answer tokens, not the prompt, not padding), summed over every optimizer step.
Methods differ in how much supervision one question visit carries: an answer-only item has
about 7 target tokens, a rationale about 60, DSS trains two sequences per question and the
multi-teacher methods several rationales per question. At an equal number of question visits
(or steps, or epochs) the multi-rationale methods would thus get several times the learning
signal and the compute of the baselines. At an equal number of target tokens every method gets
the same supervision and, up to prompt lengths, the same compute; the baselines with short targets
make more passes over their data instead. ``max_steps`` only stops a run early (for smoke tests and
for splitting a run into pieces); it does not change the budget's schedule.

The whole data order is fixed up front from the seed (``plan_training``), which makes three things
simple: the cosine schedule knows its exact length, the budget is met to within one micro-step,
and resuming is "jump to step s". A budget in epochs (``budget_epochs``) is turned into target tokens first
(``resolve_budget``). A checkpoint is ``accelerator.save_state``'s folder (model, optimizer, the registered
scheduler and strategy state; sharded under FSDP/DeepSpeed) plus ``state.pt``: the step, the number of processes
and their batch shape, the run's fingerprint and every process's RNG states. A run killed at any point and resumed
ends with the same weights as an uninterrupted one (bit for bit on CPU).

Output folder: the final model as an HF folder (``from_pretrained(out_dir)``) and ``training/``
with ``log.jsonl``, ``summary.json`` and ``checkpoints/``.
"""
from __future__ import annotations

import bisect

import hashlib
import json
import logging
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from mind_lib.params.train import TrainParams
from mind_lib.io import append_jsonl, read_json, read_jsonl, repair_truncated_tail, write_json, write_jsonl
from mind_lib.strategies.base import ItemSet, RunInfo, Strategy, collate, model_logits, per_sequence_loss

log = logging.getLogger(__name__)
MAX_EPOCHS = 10_000


class NonFiniteLossError(RuntimeError):
    """The loss or the gradient norm became NaN/inf; the weights were not updated with it."""


# ----------------------------------------------------------------------------------------------
# data order


def length_grouped_batches(lengths, batch_size: int, group_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """One epoch's batches: every item exactly once, items of similar length together.

    Shuffle, cut into buckets of ``batch_size * group_size`` items, sort each bucket by length
    (longest first), cut it into batches, shuffle the batches. Padding stays small while the
    batches' composition and order still change every epoch. Seeded by ``(seed, epoch)``.
    """
    lengths = np.asarray(lengths)
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    bucket = batch_size * group_size
    batches = []
    for start in range(0, len(perm), bucket):
        part = perm[start:start + bucket]
        part = part[np.argsort(-lengths[part], kind="stable")]
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def token_batches(unit_lengths, unit_tokens, batch_tokens: int, group_size: int, seed: int,
                  epoch: int) -> list[np.ndarray]:
    """One epoch's batches of units (indices into ``unit_lengths``) holding about ``batch_tokens`` target tokens
    each: every unit exactly once.

    As ``length_grouped_batches`` (shuffle, buckets sorted by length, batches shuffled), but a batch closes when
    adding the next unit would take its target tokens further from its goal than they are. The goal is
    ``batch_tokens`` minus what the batches before it overshot (error diffusion), so the batches hold
    ``batch_tokens`` on average even when a unit is half a batch, and a budget of target tokens is the same number
    of optimizer steps for every method, one rationale per item or a question's every trajectory per unit
    (docs/method.md §3).
    """
    lengths, tokens = np.asarray(unit_lengths), np.asarray(unit_tokens)
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    per_batch = max(1, round(batch_tokens / max(1.0, float(tokens.mean()))))
    bucket = per_batch * group_size
    # the units in bucket order (each bucket sorted by length); a batch may run on into the next bucket, so only
    # the epoch's last batch can fall short
    stream = np.concatenate([part[np.argsort(-lengths[part], kind="stable")]
                             for part in (perm[s:s + bucket] for s in range(0, len(perm), bucket))])
    batches, current, held, over = [], [], 0, 0  # over: target tokens the closed batches hold beyond batch_tokens
    for u in stream:
        goal = batch_tokens - over
        if current and abs(held + tokens[u] - goal) > abs(held - goal):
            batches.append(np.array(current))
            over += held - batch_tokens
            current, held = [], 0
        current.append(u)
        held += tokens[u]
    batches.append(np.array(current))
    return [batches[i] for i in rng.permutation(len(batches))]


class BatchOrder:
    """The endless stream of batches, epoch after epoch; batch ``g`` of the stream on demand.

    ``units``: groups of item indices that always share a batch (a question's trajectories, for the
    whole-question methods); batches are then built over units, ``batch_size`` items per batch on average
    (``max(1, round(batch_size * units / items))`` units), and expanded to their items.
    ``batch_tokens`` (with ``target_counts``, the items' target tokens): batches of about that many target tokens
    instead (``token_batches``).
    """

    def __init__(self, lengths, batch_size: int, group_size: int, seed: int, units: list[list[int]] | None = None,
                 target_counts=None, batch_tokens: int | None = None):
        lengths = np.asarray(lengths)
        counts = np.asarray(target_counts if target_counts is not None else np.zeros(len(lengths)), dtype=np.int64)
        if units is None:
            self.units, self.unit_lengths, unit_tokens = None, lengths, counts
        else:
            self.units = [np.asarray(u, dtype=np.int64) for u in units]
            self.unit_lengths = np.array([lengths[u].max() for u in self.units])
            unit_tokens = np.array([counts[u].sum() for u in self.units])
            batch_size = max(1, round(batch_size * len(self.units) / len(lengths)))
        if batch_tokens is not None:
            if target_counts is None:
                raise ValueError("batch_tokens needs the items' target_counts")
            self._make = partial(token_batches, self.unit_lengths, unit_tokens, batch_tokens, group_size, seed)
        else:
            self._make = partial(length_grouped_batches, self.unit_lengths, batch_size, group_size, seed)
        # where each epoch ends in the stream: token batches differ in number from epoch to epoch (a unit closes
        # a batch earlier or later in another order), so epoch e does not start at e * batches_per_epoch
        self._ends: list[int] = []
        self._epoch, self._batches = -1, []

    def epoch(self, e: int) -> list[np.ndarray]:
        if e != self._epoch:  # the stream is read in order, so one cached epoch is enough
            batches = self._make(epoch=e)
            if self.units is not None:
                batches = [np.concatenate([self.units[u] for u in b]) for b in batches]
            self._epoch, self._batches = e, batches
        return self._batches

    def locate(self, g: int) -> tuple[int, int]:
        """``(epoch, index in that epoch)`` of batch ``g`` of the stream."""
        while not self._ends or self._ends[-1] <= g:
            e = len(self._ends)
            self._ends.append((self._ends[-1] if self._ends else 0) + len(self.epoch(e)))
        e = bisect.bisect_right(self._ends, g)
        return e, g - (self._ends[e - 1] if e else 0)

    def batch(self, g: int) -> np.ndarray:
        e, i = self.locate(g)
        return self.epoch(e)[i]

    def epochs_done(self, n: int) -> float:
        """Epochs the first ``n`` batches of the stream make (fractional within the last one)."""
        if n <= 0:
            return 0.0
        e, i = self.locate(n - 1)
        return e + (i + 1) / (self._ends[e] - (self._ends[e - 1] if e else 0))


@dataclass(frozen=True)
class Plan:
    """Which batches each optimizer step trains on.

    A micro-step ("group") ``j`` is batches ``j*world .. j*world+world-1`` of the stream, one per
    process; step ``s`` is groups ``s*grad_accum ..`` (the last step may hold fewer).
    ``tokens[j]``: target tokens trained after group ``j``, all processes together.
    """

    n_groups: int
    grad_accum: int
    world: int
    tokens: np.ndarray

    @property
    def n_steps(self) -> int:
        return -(-self.n_groups // self.grad_accum)

    def groups(self, step: int) -> range:
        return range(step * self.grad_accum, min((step + 1) * self.grad_accum, self.n_groups))

    def batches_after(self, step: int) -> int:
        """Batches of the stream consumed (all processes) once ``step`` steps are done."""
        return self.groups(step - 1).stop * self.world if step > 0 else 0

    def tokens_after(self, step: int) -> int:
        """Target tokens trained once ``step`` steps are done."""
        return int(self.tokens[self.groups(step - 1).stop - 1]) if step > 0 else 0


def resolve_budget(params: TrainParams, target_counts, epoch_tokens: int | None = None) -> int:
    """The run's budget in target tokens: ``budget_tokens``, or with ``budget_epochs`` that many epochs of
    ``epoch_tokens`` target tokens (one epoch of a reference method's items, the same for every method: equal
    exposure), by default of the run's own items (``target_counts``)."""
    if params.budget_epochs is None:
        return params.budget_tokens
    per_epoch = int(np.asarray(target_counts, dtype=np.int64).sum()) if epoch_tokens is None else int(epoch_tokens)
    if per_epoch <= 0:
        raise ValueError("budget_epochs: the items counting the epochs have no target tokens")
    return max(1, round(params.budget_epochs * per_epoch))


def plan_training(order: BatchOrder, target_counts, budget: int, grad_accum: int, world: int) -> Plan:
    """The shortest run whose trained target tokens reach ``budget`` (overshoot < one micro-step)."""
    counts = np.asarray(target_counts, dtype=np.int64)
    per_epoch = int(counts.sum())
    if per_epoch == 0:
        raise ValueError("the training items have no target tokens")
    epochs = budget / per_epoch
    if epochs > MAX_EPOCHS:
        raise ValueError(f"budget_tokens={budget} is {epochs:.0f} epochs of these {len(counts)} items "
                         f"({per_epoch} target tokens each epoch); at most {MAX_EPOCHS} are allowed")
    sums: list[np.ndarray] = []  # target tokens of each batch of the stream, epoch by epoch
    while True:
        sums.append(np.array([counts[b].sum() for b in order.epoch(len(sums))], dtype=np.int64))
        if len(sums) * per_epoch < budget:
            continue
        flat = np.concatenate(sums)
        g = len(flat) // world  # whole micro-steps only: every process gets a batch in each
        cum = np.cumsum(flat[:g * world].reshape(g, world).sum(axis=1))
        if g and cum[-1] >= budget:
            n_groups = int(np.searchsorted(cum, budget, side="left")) + 1
            return Plan(n_groups, grad_accum, world, cum[:n_groups])


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warmup over ``warmup`` steps, then cosine from 1 down to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


# ----------------------------------------------------------------------------------------------
# checkpoints


@dataclass(frozen=True)
class ReplayPlan:
    """Which replay micro-steps each optimizer step adds: ``groups[s]`` for step ``s`` (usually 0 or 1 of
    them); ``tokens[s]``: replay target tokens trained once ``s + 1`` steps are done, all processes together."""

    groups: list[range]
    tokens: np.ndarray

    def tokens_after(self, step: int) -> int:
        return int(self.tokens[step - 1]) if step > 0 else 0


def plan_replay(plan: Plan, order: BatchOrder, target_counts, share: float) -> ReplayPlan:
    """After every step ``s`` the replay target tokens are the fewest whole replay micro-steps (batch ``g*world
    + rank`` of ``order`` on each process) reaching ``share * plan.tokens_after(s)``: replay follows the run's
    own tokens, so every method gets the same share, and the plan is fixed up front (exact resume)."""
    counts = np.asarray(target_counts, dtype=np.int64)
    if share > 0 and counts.sum() == 0:
        raise ValueError("the replay items have no target tokens")
    groups, tokens, g, done = [], np.zeros(plan.n_steps, dtype=np.int64), 0, 0
    for s in range(plan.n_steps):
        start, goal = g, share * plan.tokens_after(s + 1)
        while done < goal:
            done += sum(int(counts[order.batch(g * plan.world + r)].sum()) for r in range(plan.world))
            g += 1
        groups.append(range(start, g))
        tokens[s] = done
    return ReplayPlan(groups, tokens)


def run_fingerprint(items: ItemSet, strategy: Strategy, params: TrainParams, world: int,
                    replay: ItemSet | None = None, budget: int | None = None) -> str:
    """Hash of what determines the weights: the items, the strategy, the params that shape training.

    Resuming under another fingerprint would silently mix two runs, so it is refused. ``budget``: the target
    tokens an epoch budget came to (``resolve_budget``); a token budget is in the params already.
    """
    shaping = params.model_dump(exclude={"max_steps", "eval_every", "eval_batch_size", "save_every", "log_every",
                                         "num_threads", "keep_checkpoint", "progress", "budget_epochs"})
    if params.budget_epochs is not None:  # only then, so that a token budget's fingerprint is what it always was
        shaping |= {"budget_epochs": params.budget_epochs, "budget_tokens": budget}
    h = hashlib.sha256(json.dumps({"params": shaping, "strategy": strategy.name, "world": world,
                                   "whole_questions": strategy.whole_questions,
                                   "options": strategy.options.model_dump(mode="json")}, sort_keys=True).encode())
    for it in items.items + (replay.items if replay is not None else []):
        h.update(np.asarray(it.input_ids + it.labels + (it.question, it.perspective), dtype=np.int64).tobytes())
        h.update(np.float64(it.weight).tobytes())
    return h.hexdigest()[:16]


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None:
        torch.cuda.set_rng_state_all(state["cuda"])


KEEP_CHECKPOINTS = 2
"""Checkpoint folders kept: the newest and the one before, so that a damaged newest one (a crash or a full
disk after it was renamed into place) still leaves a checkpoint to resume from."""


class CheckpointError(ValueError):
    """No intact checkpoint to resume from; the message names the file and what to do (a ``ValueError``: bad
    input, which the CLI reports in one line)."""


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder/state.pt`` cannot be a checkpoint (missing, empty, truncated or not written by
    ``torch.save``), or None. Cheap: ``torch.save`` writes a zip archive whose directory sits at the end of
    the file, so a truncated or foreign file has none; the weights themselves are not read."""
    import zipfile

    state = folder / "state.pt"
    if not state.is_file():
        return "missing"
    if state.stat().st_size == 0:
        return "empty (0 bytes)"
    if not zipfile.is_zipfile(state):
        return "truncated or not a torch checkpoint (no zip directory at its end)"
    return None


def latest_checkpoint(root: Path) -> Path | None:
    """The folder ``root/latest`` names (the pointer is rewritten only after a checkpoint is complete), or None.

    If that folder is gone or its ``state.pt`` is damaged, the newest intact other ``step-*`` folder is
    used, with a warning; if there is none, ``CheckpointError`` names the damaged file.
    """
    pointer = root / "latest"
    if not pointer.exists():
        return None
    folder = root / pointer.read_text().strip()
    problem = checkpoint_problem(folder)
    if problem is None:
        return folder
    others = sorted((f for f in root.glob("step-*") if f.is_dir() and not f.name.endswith(".tmp") and f != folder),
                    reverse=True)
    for other in others:
        if checkpoint_problem(other) is None:
            log.warning("%s: %s; resuming from the previous intact checkpoint %s instead", folder / "state.pt",
                        problem, other)
            return other
    raise CheckpointError(f"{folder / 'state.pt'} ({pointer} names it): {problem}, and {root} holds no other intact "
                          f"checkpoint; start the run afresh (without --resume / resume=True)")


def _no_space_error(err: BaseException, path: Path, root: Path) -> OSError | None:
    """``err`` as a clear ENOSPC error naming ``path`` if it is a full disk as ``torch.save`` reports it
    (ENOSPC, or its zip writer's failed write), else None."""
    import errno

    if (isinstance(err, OSError) and err.errno == errno.ENOSPC) or \
            (isinstance(err, RuntimeError) and "enforce fail at inline_container.cc" in str(err)):
        kept = (f"the previous checkpoint ({root / 'latest'}) is intact: free some space, then resume"
                if (root / "latest").exists() else "no checkpoint was written before: free some space, then rerun")
        return OSError(errno.ENOSPC, f"no space left on device while writing {path}; {kept}")
    return None


CHECKPOINT_FORMAT = 2
"""``state.pt`` holds the project's extras beside ``accelerator.save_state``'s files; format 1 held everything
(unsharded trainable weights, optimizer, scheduler, strategy) in ``state.pt`` and still loads."""


class WorldSizeError(ValueError):
    """A checkpoint saved by another number of processes: the data order and the steps depend on it."""


def save_checkpoint(root: Path, step: int, accelerator, extras: dict) -> Path:
    """Write ``root/step-<step>/`` atomically and point ``root/latest`` at it.

    Every process takes part in ``accelerator.save_state`` (under FSDP/DeepSpeed each writes its shard): the
    model, the optimizer and the objects registered with ``register_for_checkpointing`` (the scheduler, the
    strategy). The main process then writes ``state.pt`` (``extras``: step, fingerprint, processes, batch shape;
    plus every process's RNG states), last, so a folder with an intact ``state.pt`` is complete. The previous
    checkpoint is kept (``KEEP_CHECKPOINTS``). A failed write (e.g. a full disk, reported as "no space left on
    device while writing <folder>") removes the temporary folder and leaves the previous checkpoint and the
    pointer as they were.
    """
    rngs = _gather_rng(accelerator)
    folder, tmp = root / f"step-{step:08d}", root / f"step-{step:08d}.tmp"
    main = accelerator.is_main_process
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if main:
            torch.save({"format": CHECKPOINT_FORMAT, **extras, "rng": rngs}, tmp / "state.pt")
            for f in sorted(tmp.rglob("*")):  # on disk before the pointer moves (a crash may follow)
                if f.is_file():
                    with open(f, "rb") as handle:
                        os.fsync(handle.fileno())
    except BaseException as e:
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
        no_space = _no_space_error(e, tmp, root)
        if no_space is not None:
            raise no_space from e
        raise
    if main:
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        (root / "latest.tmp").write_text(folder.name)
        os.replace(root / "latest.tmp", root / "latest")
        # leftovers of interrupted saves, and checkpoints older than the KEEP_CHECKPOINTS newest
        kept = sorted((f for f in root.glob("step-*") if f.is_dir() and not f.name.endswith(".tmp")
                       and f.name <= folder.name), reverse=True)[:KEEP_CHECKPOINTS]
        for old in root.iterdir():
            if old.is_dir() and old not in kept:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return folder


def _gather_rng(accelerator) -> list[dict]:
    from accelerate.utils import gather_object

    state = [_rng_state()]
    return gather_object(state) if accelerator.num_processes > 1 else state


def batch_shape(params: TrainParams, world: int) -> dict:
    """What a checkpoint records of how the data are cut: processes and the per-process batch."""
    return {"world": world, "batch_size": params.batch_size, "batch_tokens": params.batch_tokens,
            "grad_accum": params.grad_accum}


def check_world(folder: Path, state: dict, world: int) -> None:
    """Refuse a checkpoint of another number of processes (``WorldSizeError``): micro-step ``j`` is batches
    ``j*world ..`` of the stream, so the steps after the checkpoint would not be the planned ones."""
    saved = state["world"]
    if saved == world:
        return
    shape = ", ".join(f"{k} {state[k]}" for k in ("batch_size", "batch_tokens", "grad_accum") if k in state)
    raise WorldSizeError(
        f"{folder}: this checkpoint was saved by a run with {saved} process(es)"
        + (f" ({shape} per process)" if shape else "") + f", and this resume has {world}. The data order and the "
        f"optimizer steps depend on the number of processes, so the run cannot continue exactly: resume with "
        f"{saved} process(es) (e.g. accelerate launch --num_processes {saved} ...), or start the run afresh "
        f"without --resume / resume=True (the checkpoint is then discarded)")


def load_checkpoint(folder: Path, model, optimizer, scheduler, strategy: Strategy, accelerator,
                    fingerprint: str) -> int:
    """Restore everything ``save_checkpoint`` wrote; returns the step to continue from."""
    try:
        state = torch.load(folder / "state.pt", map_location="cpu", weights_only=False)
    except Exception as e:  # damage the cheap check in latest_checkpoint cannot see (e.g. inside the archive)
        raise CheckpointError(f"{folder / 'state.pt'}: cannot be read ({type(e).__name__}: {e}); start the run "
                              f"afresh (without --resume / resume=True)") from e
    check_world(folder, state, accelerator.num_processes)  # first: the fingerprint covers the world too
    if state["fingerprint"] != fingerprint:
        raise ValueError(f"{folder}: this checkpoint was made with other items, strategy options or training "
                         f"params; resuming would mix two runs (start over without --resume, or restore them)")
    if state.get("format", 1) >= 2:
        try:
            accelerator.load_state(str(folder))
        except Exception as e:
            raise CheckpointError(f"{folder}: accelerate cannot load its state ({type(e).__name__}: {e}); start "
                                  f"the run afresh (without --resume / resume=True)") from e
    else:
        result = accelerator.unwrap_model(model).load_state_dict(state["model"], strict=False)
        if result.unexpected_keys:
            raise ValueError(f"{folder}: weights the model does not have: {result.unexpected_keys[:5]}")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        strategy.load_state_dict(state["strategy"])
    _set_rng_state(state["rng"][accelerator.process_index])
    return int(state["step"])


# ----------------------------------------------------------------------------------------------
# evaluation and logging


@torch.no_grad()
def evaluate(model, items: ItemSet, batch_size: int, pad_id: int, accelerator) -> dict:
    """Weighted mean per-sequence loss over ``items`` and the plain mean per perspective.

    Items are sorted by length (least padding); process r takes every world-th batch. The forward
    passes bypass the DDP wrapper (which may sync buffers on every call, a collective that processes
    with fewer eval batches would never join); the autocast wrapper is kept.
    """
    model.train(False)
    model = accelerator.unwrap_model(model)
    device, world, rank = accelerator.device, accelerator.num_processes, accelerator.process_index
    order = np.argsort(items.lengths(), kind="stable")
    n_persp = len(items.perspectives)
    sums = torch.zeros(n_persp + 1, device=device)  # per perspective, then the weighted total
    counts = torch.zeros(n_persp, device=device)
    for start in range(rank * batch_size, len(order), world * batch_size):
        batch = collate([items.items[i] for i in order[start:start + batch_size]], pad_id).to(device)
        per_seq = per_sequence_loss(model_logits(model, batch), batch.labels)
        sums[:n_persp].index_add_(0, batch.perspective, per_seq)
        sums[n_persp] += (batch.weight * per_seq).sum()
        counts.index_add_(0, batch.perspective, torch.ones_like(per_seq))
    sums, counts = accelerator.reduce(sums, "sum"), accelerator.reduce(counts, "sum")
    by_persp = {p: float(sums[i] / counts[i]) for i, p in enumerate(items.perspectives) if counts[i] > 0}
    return {"eval_loss": float(sums[n_persp]) / len(items), "eval_loss_by_perspective": by_persp}


class Meter:
    """Sums since the last log row: loss, per-perspective loss, processed tokens, wall time."""

    def __init__(self, n_persp: int, device):
        self.n_persp, self.device = n_persp, device
        self.reset()

    def reset(self):
        self.loss = 0.0  # sum of the (already all-reduced) step losses
        self.persp_sum = torch.zeros(self.n_persp, device=self.device)
        self.persp_n = torch.zeros(self.n_persp, device=self.device)
        self.steps, self.tokens, self.t0 = 0, 0, time.perf_counter()

    def add_batch(self, perspective: torch.Tensor, per_sequence: torch.Tensor) -> None:
        """Stays on the device: no host sync per micro-batch."""
        self.persp_sum.index_add_(0, perspective, per_sequence)
        self.persp_n.index_add_(0, perspective, torch.ones_like(per_sequence))

    def add_step(self, loss: float, tokens: int) -> None:
        self.loss += loss
        self.steps += 1
        self.tokens += tokens

    def row(self, accelerator, perspectives: list[str]) -> dict:
        persp_sum = accelerator.reduce(self.persp_sum, "sum")
        persp_n = accelerator.reduce(self.persp_n, "sum")
        elapsed = time.perf_counter() - self.t0
        out = {"loss": self.loss / self.steps,
               "loss_by_perspective": {p: float(persp_sum[i] / persp_n[i]) for i, p in enumerate(perspectives)
                                       if persp_n[i] > 0},
               "tokens_per_s": self.tokens / elapsed if elapsed > 0 else None}
        self.reset()
        return out


def _open_log(path: Path, keep_until: int, resume: bool) -> None:
    """Start ``log.jsonl`` afresh, or on resume drop the rows written after the checkpoint's step
    (they will be written again) and the final eval of the stopped run, so that a resumed log
    reads like an uninterrupted one."""
    if not resume or not path.exists():
        path.unlink(missing_ok=True)
        return
    repair_truncated_tail(path)
    write_jsonl(path, [r for r in read_jsonl(path, tolerate_truncated_tail=True)
                       if r["step"] <= keep_until and r["event"] != "final_eval"])


# ----------------------------------------------------------------------------------------------
# the loop


def _nonfinite_error(method: str, step: int, loss: float, grad_norm: float, lr: float,
                     last_ckpt: Path | None) -> NonFiniteLossError:
    what, value = ("loss", loss) if not math.isfinite(loss) else ("gradient norm", grad_norm)
    where = last_ckpt or "none yet (no checkpoint was saved before this step)"
    return NonFiniteLossError(f"{method}: {what} is {value} at step {step} (lr {lr:.3g}); training stopped "
                              f"before applying it. Last good checkpoint: {where}. Lower train.lr or check "
                              f"the data, then resume.")


def _mixed_precision(choice: str, cpu: bool) -> str:
    if choice == "auto":
        return "bf16" if not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"
    return choice


def build_optimizer(model, params: TrainParams) -> torch.optim.AdamW:
    """AdamW on the trainable weights; decay on matrices only (norm gains and biases are not decayed)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.dim() >= 2], "weight_decay": params.weight_decay},
              {"params": [p for p in trainable if p.dim() < 2], "weight_decay": 0.0}]
    # The fused kernel (one op for all weights) takes ~3 ms per step instead of ~8 for a ~1M student on one
    # CPU thread, ~9% of a distillation step (docs/lab-notes.md, 2026-11-30); devices without it fall back.
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in trainable)
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=params.lr, betas=params.betas,
                             fused=fused or None)


def train(model, tokenizer, strategy: Strategy, train_set: ItemSet, params: TrainParams, out_dir: str | os.PathLike,
          *, eval_set: ItemSet | None = None, replay_set: ItemSet | None = None, resume: bool = False,
          desc: str | None = None, epoch_tokens: int | None = None) -> dict:
    """Train ``model`` on ``train_set`` with ``strategy``'s loss until the token budget is spent.

    ``desc``: the progress bar's label (default: ``train <strategy name>``). ``replay_set``: items
    rehearsed with their plain mean loss at ``params.replay_share`` (required when the share is > 0).
    ``epoch_tokens``: with ``params.budget_epochs``, the target tokens one epoch counts (a reference method's
    items, the same for every method); None = one epoch of ``train_set``.

    ``resume``: continue from the last checkpoint in ``out_dir/training`` (a fresh start if there
    is none; nothing to do if that run already finished). Without it, an earlier run there is
    discarded. Returns the run summary (also in ``training/summary.json``); the final model is
    saved to ``out_dir`` (LoRA adapters merged into the weights).
    """
    run = _Run(strategy, train_set, eval_set, replay_set, params, Path(out_dir), tokenizer.pad_token_id,
               epoch_tokens)
    done = run.finished_summary() if resume else None
    if done is not None:
        log.info("%s: this run already finished; nothing to resume", run.out_dir)
        return done
    run.start(model, resume)  # optimizer, schedule, strategy set-up, then the checkpoint's state if resuming
    bar = tqdm(total=run.stop_at, initial=run.step, disable=not (params.progress and run.main),
               desc=desc or f"train {strategy.name}")
    try:
        while run.step < run.stop_at:
            micro, rehearse = run.next_batches()
            loss_value, grad_norm = run.forward_backward(micro, rehearse)
            run.optimizer_step(loss_value, grad_norm)
            bar.update(1)
            if run.step % params.log_every == 0 or run.step == run.stop_at:
                bar.set_postfix(loss=f"{run.log_train(grad_norm)['loss']:.4f}")
            if eval_set is not None and params.eval_every and run.step % params.eval_every == 0 \
                    and run.step < run.stop_at:
                run.write_log({"step": run.step, "event": "eval", **run.evaluate()})
            if run.checkpoint_due():
                run.save()
    finally:
        bar.close()
    return run.finish(tokenizer)


class Rehearsal:
    """Replay of a general suite during training (``train.replay_share``), kept out of the method's own loss.

    The replay items have their own batch stream (seed + 1, so the replay order does not mirror the training
    order) and a plan fixed up front (``plan_replay``), so resuming replays exactly what an uninterrupted run
    would. Each step adds its replay micro-batches' plain batch-mean loss to the gradient; the strategy never
    sees these items, and the logged loss and the NaN check stay the method's own. ``replay_loss`` in the log
    is the mean of those batch losses since the last log row.
    """

    def __init__(self, items: ItemSet, plan: Plan, params: TrainParams, device):
        self.items, self.device = items, device
        self.order = BatchOrder(items.lengths(), params.batch_size, params.group_size, params.seed + 1)
        self.plan = plan_replay(plan, self.order, items.target_counts(), params.replay_share)
        self._reset()

    @staticmethod
    def items_to_use(params: TrainParams, replay_set: ItemSet | None) -> ItemSet | None:
        """The replay set when rehearsal is on (``replay_share > 0``; then one is required), else None."""
        if params.replay_share > 0 and replay_set is None:
            raise ValueError(f"train.replay_share is {params.replay_share} but there is no replay set (the general "
                             f"suite of the embedded world); set replay_share: 0 for data without one")
        return replay_set if params.replay_share > 0 else None

    def _reset(self) -> None:
        self.loss_sum, self.n_batches = torch.zeros((), device=self.device), 0  # since the last log row

    def batches(self, step: int, world: int, rank: int) -> list[np.ndarray]:
        """This process's replay batches of ``step`` (usually none or one)."""
        return [self.order.batch(g * world + rank) for g in self.plan.groups[step]]

    def backward(self, model, accelerator, micro: list[np.ndarray], pad_id: int) -> None:
        """Add each replay micro-batch's mean loss to the gradients (all-reduced with the last backward)."""
        for i, idx in enumerate(micro):
            batch = collate([self.items.items[j] for j in idx], pad_id).to(self.device)
            with nullcontext() if i == len(micro) - 1 else accelerator.no_sync(model):
                loss = per_sequence_loss(model_logits(model, batch), batch.labels).mean()
                accelerator.backward(loss)
            self.loss_sum += loss.detach()
            self.n_batches += 1

    def tokens_after(self, step: int) -> int:
        return self.plan.tokens_after(step)

    def log_fields(self, step: int, accelerator) -> dict:
        """``replay_target_tokens``, and ``replay_loss`` when a replay batch was trained since the last row."""
        row = {"replay_target_tokens": self.tokens_after(step)}
        if self.n_batches:
            row["replay_loss"] = float(accelerator.reduce(self.loss_sum, "mean")) / self.n_batches
        self._reset()
        return row


class _Run:
    """The state of one ``train`` call and its parts: set-up, one step's batches, the step, logs, checkpoints,
    the end. ``train`` reads as the loop over them."""

    def __init__(self, strategy: Strategy, train_set: ItemSet, eval_set: ItemSet | None, replay_set: ItemSet | None,
                 params: TrainParams, out_dir: Path, pad_id: int, epoch_tokens: int | None = None):
        """The accelerator, the data order and its plan, rehearsal and the run's fingerprint (no state yet).
        ``epoch_tokens``: the target tokens of one epoch for ``budget_epochs`` (``resolve_budget``)."""
        from accelerate import Accelerator

        self.strategy, self.train_set, self.eval_set, self.params, self.pad_id = (strategy, train_set, eval_set,
                                                                                  params, pad_id)
        self.out_dir, self.run_dir = out_dir, out_dir / "training"
        self.ckpt_root, self.log_path = self.run_dir / "checkpoints", self.run_dir / "log.jsonl"
        if params.num_threads:
            torch.set_num_threads(params.num_threads)
        # Several processes without a GPU: say cpu=True, only then does accelerate join them (gloo); with
        # cpu=False every process of `torchrun`/`accelerate launch` would train alone on the whole data. One
        # process keeps accelerate's own device choice (e.g. Apple's mps).
        several = int(os.environ.get("WORLD_SIZE", "1")) > 1
        cpu = params.cpu or (several and not torch.cuda.is_available())
        self.accelerator = Accelerator(mixed_precision=_mixed_precision(params.mixed_precision, cpu), cpu=cpu)
        self.world, self.main = self.accelerator.num_processes, self.accelerator.is_main_process
        self.device = self.accelerator.device

        self.order = BatchOrder(train_set.lengths(), params.batch_size, params.group_size, params.seed,
                                units=train_set.question_units() if strategy.whole_questions else None,
                                target_counts=train_set.target_counts(), batch_tokens=params.batch_tokens)
        self.budget = resolve_budget(params, train_set.target_counts(), epoch_tokens)
        self.epoch_tokens = epoch_tokens
        self.plan = plan_training(self.order, train_set.target_counts(), self.budget, params.grad_accum, self.world)
        self.stop_at = self.plan.n_steps if params.max_steps is None else min(self.plan.n_steps, params.max_steps)
        self.replay_set = replay_set = Rehearsal.items_to_use(params, replay_set)
        self.fingerprint = self.fingerprint_at(self.world)
        self.lengths = np.asarray(train_set.lengths())
        self.rehearsal = Rehearsal(replay_set, self.plan, params, self.device) if replay_set is not None else None
        self.step, self.last_ckpt = 0, None

    def fingerprint_at(self, world: int) -> str:
        """The run's fingerprint had it ``world`` processes."""
        return run_fingerprint(self.train_set, self.strategy, self.params, world, self.replay_set, self.budget)

    def finished_summary(self) -> dict | None:
        """The summary of an earlier run of these items and params that already finished, else None.

        A run finished with another number of processes is finished too (with a warning): resuming it must not
        train it again from scratch."""
        # the summary first: a run killed while removing its checkpoints at the end is finished, whatever
        # `latest` still names
        path = self.run_dir / "summary.json"
        if path.exists():
            done = read_json(path)
            if done.get("finished") and done.get("fingerprint") == self.fingerprint:
                return done
            world = done.get("processes")
            if done.get("finished") and isinstance(world, int) and world != self.world \
                    and done.get("fingerprint") == self.fingerprint_at(world):
                log.warning("%s: this run already finished with %d process(es) (now %d); nothing to resume. To "
                            "train it again with %d, start it afresh without --resume", self.out_dir, world,
                            self.world, self.world)
                return done
        return None

    def start(self, model, resume: bool) -> None:
        """Optimizer, schedule, the strategy's set-up, and on resume the last checkpoint's state; opens the log."""
        from accelerate.utils import set_seed

        params, plan, accelerator = self.params, self.plan, self.accelerator
        ckpt = latest_checkpoint(self.ckpt_root) if resume else None
        if ckpt is None and self.main:  # a fresh start: nothing of an earlier run may leak into this one
            shutil.rmtree(self.run_dir, ignore_errors=True)
        accelerator.wait_for_everyone()

        set_seed(params.seed)
        optimizer = build_optimizer(model, params)
        warmup = round(params.warmup_ratio * plan.n_steps)
        # The scheduler is stepped by hand once per optimizer step (not prepared: accelerate would step
        # it once per process, but the plan already counts steps globally).
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, partial(lr_factor, warmup=warmup, total=plan.n_steps, min_ratio=params.min_lr_ratio))
        self.model, self.optimizer = accelerator.prepare(model, optimizer)
        self.strategy.setup(self.model, accelerator, self.train_set, self.eval_set,
                            RunInfo(params.seed, plan.n_steps,
                                    self.order.epochs_done(plan.batches_after(plan.n_steps))))
        # saved and loaded by accelerator.save_state/load_state with the prepared model and optimizer
        accelerator.register_for_checkpointing(self.scheduler, self.strategy)
        if ckpt:
            self.step = load_checkpoint(ckpt, self.model, self.optimizer, self.scheduler, self.strategy, accelerator,
                                        self.fingerprint)
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            _open_log(self.log_path, self.step, resume=ckpt is not None)
            log.info("%s: %s, %d steps planned (%d target tokens), starting at step %d", self.out_dir,
                     self.strategy.name, plan.n_steps, plan.tokens_after(plan.n_steps), self.step)
        self.meter = Meter(len(self.train_set.perspectives), self.device)
        self.last_ckpt = ckpt
        self.t_start = time.perf_counter()

    def next_batches(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """This process's share of the step: batch ``g*world + rank`` of each of the step's groups, and of
        each of its replay groups."""
        rank = self.accelerator.process_index
        micro = [self.order.batch(g * self.world + rank) for g in self.plan.groups(self.step)]
        rehearse = self.rehearsal.batches(self.step, self.world, rank) if self.rehearsal is not None else []
        return micro, rehearse

    def forward_backward(self, micro: list[np.ndarray], rehearse: list[np.ndarray]) -> tuple[float, float]:
        """The step's gradients (the method's micro-batches, then rehearsal); returns the step's loss (mean
        over processes) and the clipped gradient norm, the step's one host sync."""
        model, accelerator = self.model, self.accelerator
        model.train()
        step_loss = torch.zeros((), device=self.device)
        for i, idx in enumerate(micro):
            batch = collate([self.train_set.items[j] for j in idx], self.pad_id).to(self.device)
            # Gradients are all-reduced once per step (last backward); before that they only add up.
            with nullcontext() if i == len(micro) - 1 and not rehearse else accelerator.no_sync(model):
                out = self.strategy.forward_loss(model, batch)
                # Each micro-batch loss is a batch mean; dividing by their number makes the step's
                # gradient the mean over its micro-batches (grad_accum trades memory, not results).
                accelerator.backward(out.loss / len(micro))
            step_loss += out.loss.detach() / len(micro)
            self.meter.add_batch(batch.perspective, out.per_sequence)
        if rehearse:
            self.rehearsal.backward(model, accelerator, rehearse, self.pad_id)
        # One host sync per step: the NaN check needs the value before the weights change.
        loss_value = float(accelerator.reduce(step_loss, "mean"))
        grad_norm = float(accelerator.clip_grad_norm_(model.parameters(), self.params.clip or math.inf))
        return loss_value, grad_norm

    def optimizer_step(self, loss_value: float, grad_norm: float) -> None:
        """Apply the step (refused with ``NonFiniteLossError`` on a NaN/inf loss or gradient norm)."""
        if not (math.isfinite(loss_value) and math.isfinite(grad_norm)):
            self.write_log({"step": self.step + 1, "event": "nonfinite", "loss": loss_value, "grad_norm": grad_norm})
            raise _nonfinite_error(self.strategy.name, self.step + 1, loss_value, grad_norm,
                                   self.scheduler.get_last_lr()[0], self.last_ckpt)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        groups = self.plan.groups(self.step)
        self.step += 1
        # tokens processed by all processes (padding excluded), known from the plan without communication
        self.meter.add_step(loss_value, sum(int(self.lengths[self.order.batch(g * self.world + r)].sum())
                                            for g in groups for r in range(self.world)))

    def write_log(self, row: dict) -> None:
        if self.main:
            append_jsonl(self.log_path, [row])

    def log_train(self, grad_norm: float) -> dict:
        """Write the train row: means since the last row, lr, tokens, epoch (and rehearsal's figures)."""
        step, plan = self.step, self.plan
        row = {"step": step, "event": "train", **self.meter.row(self.accelerator, self.train_set.perspectives),
               **self.strategy.log_row(), "lr": self.scheduler.get_last_lr()[0], "grad_norm": grad_norm,
               "target_tokens": plan.tokens_after(step),
               "epoch": self.order.epochs_done(plan.batches_after(step))}
        if self.rehearsal is not None:
            row.update(self.rehearsal.log_fields(step, self.accelerator))
        self.write_log(row)
        return row

    def evaluate(self) -> dict:
        return evaluate(self.model, self.eval_set, self.params.eval_batch_size, self.pad_id, self.accelerator)

    def checkpoint_due(self) -> bool:
        """Periodic checkpoints, and one where the run stops early (--max-steps) so it can resume; once the
        budget is spent a checkpoint is only written if asked for (the model folder is the result)."""
        params, step = self.params, self.step
        finished = step == self.plan.n_steps
        return bool((params.save_every and step % params.save_every == 0 and not finished)
                    or (step == self.stop_at and (not finished or params.keep_checkpoint)))

    def save(self) -> None:
        extras = {"step": self.step, "fingerprint": self.fingerprint, **batch_shape(self.params, self.world),
                  "batches_done": self.plan.batches_after(self.step)}
        self.last_ckpt = save_checkpoint(self.ckpt_root, self.step, self.accelerator, extras)

    def finish(self, tokenizer) -> dict:
        """The final eval, the summary, the model folder (LoRA merged); the checkpoints go once the budget is spent."""
        from mind_lib.machine import machine_info
        from mind_lib.student import save_student

        step, plan, params, accelerator = self.step, self.plan, self.params, self.accelerator
        finished = step == plan.n_steps
        final_eval = self.evaluate() if self.eval_set else {}
        if final_eval:
            self.write_log({"step": step, "event": "final_eval", **final_eval})
        wall = time.perf_counter() - self.t_start
        summary = {"method": self.strategy.name, "finished": finished, "steps": step, "planned_steps": plan.n_steps,
                   "budget_tokens": self.budget, "target_tokens": plan.tokens_after(step),
                   "replay_target_tokens": self.rehearsal.tokens_after(step) if self.rehearsal is not None else 0,
                   "epochs": self.order.epochs_done(plan.batches_after(step)),
                   "processes": self.world, "mixed_precision": accelerator.mixed_precision, "wall_s": wall,
                   "train_items": self.train_set.summary(),
                   "eval_items": self.eval_set.summary() if self.eval_set else None,
                   **final_eval, "fingerprint": self.fingerprint, "machine": machine_info()}
        if params.budget_epochs is not None:  # what the token budget came from
            summary |= {"budget_epochs": params.budget_epochs,
                        "epoch_tokens": self.epoch_tokens or int(np.sum(self.train_set.target_counts()))}
        if self.main:
            final = accelerator.unwrap_model(self.model)
            if hasattr(final, "merge_and_unload"):  # peft: one plain HF folder for evaluation
                final = final.merge_and_unload()
            save_student(final, tokenizer, self.out_dir)
            write_json(self.run_dir / "summary.json", summary)
            if finished and not params.keep_checkpoint:
                shutil.rmtree(self.ckpt_root, ignore_errors=True)
        accelerator.wait_for_everyone()
        return summary
