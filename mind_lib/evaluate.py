"""Batched greedy generation -> prediction rows -> prediction files.

``generate_batched`` decodes many prompts at once with a KV cache: prompts are sorted by length
(so that a batch holds prompts of similar length and padding stays small), left-padded (so that
every row's next token sits in the last column), and each row stops at its eos or, with
``stop_at_answer``, as soon as its answer sentence ("The answer is X.") is complete; finished
rows leave the batch (their cache rows are dropped), and the batch ends when no row is left.
Its outputs equal one-by-one greedy decoding (``model.generate(do_sample=False)``), which the
tests check.

Students decode on ``evaluate.device`` (``resolve_device``: the accelerator when there is one); with
``evaluate.engine: vllm`` on vLLM instead (``mind_lib.vllm_engine``), whose continuations are cut exactly as
``generate_batched`` cuts its own (``answer_continuation``).

``evaluate_suite`` turns a suite's examples into prediction rows (the ``ARCHITECTURE.md``
contract: ``id, split, output, pred_answer, gold, correct``, plus ``kind`` and the example's
``n_steps``/``skill`` when it has them), scored by ``mind_lib.answers``. Rows live at
``<predictions>/<method>/seed<k>/<suite>.jsonl`` (``io.prediction_file``, ``Paths.prediction_file``), each
with a ``<suite>.meta.json`` record of what produced it, so that the evaluate stage decodes again only what
changed (``evaluate_runs``).
"""
from __future__ import annotations

import inspect
import logging
import os
import re
from typing import Callable, Sequence

import torch
from transformers import DynamicCache, StoppingCriteria

from mind_lib.answers import answers_match, extract_answer
from mind_lib.formatting import prompt_ids  # noqa: F401  (part of this module's API: how prompts are encoded)
from mind_lib.io import file_digest, folder_digest, write_json
# the prediction-file contract (re-exported: ``evaluate.load_predictions`` is what most callers know)
from mind_lib.predictions import (PREDICTION_FIELDS, load_prediction_tree, load_predictions, prediction_record,  # noqa: F401
                                  predictions_finished, save_prediction_file, save_predictions)
from mind_lib.tasks.base import Example

# Where the answer statement starts in a student's output ("The answer is X.", formatting.answer_text).
_ANSWER_MARKER = re.compile(r"\banswer\s+is\b", re.IGNORECASE)
_LEADING = re.compile(r"[ \t\r\n:]*")  # what extract_answer skips after a marker
_CLOSERS = (".", "\n")
_DECIMAL_BEFORE = re.compile(r"\d\.\d+$")  # text ending in a number that already has its decimal point

_META_FIELDS = ("n_steps", "skill")  # copied from Example.meta into prediction rows (accuracy by steps / skill)
log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Where an answer sentence ends
# ---------------------------------------------------------------------------------------------

def answer_line_end(text: str) -> int | None:
    """Index just past the end of the completed answer sentence of ``text``, or None while there is none.

    The answer sentence starts at the last "answer is" and holds at least one character; it ends at
    a newline (excluded) or a period (included). A period between digits is a decimal point, so a
    period right after an integer closes the sentence only once a non-digit follows: "is 12." is not
    complete yet ("is 12.5." may follow); "is 12. ", "is 12.5." and "is yes." are.
    """
    last = None
    for last in _ANSWER_MARKER.finditer(text):
        pass
    if last is None:
        return None
    start = _LEADING.match(text, last.end()).end()
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "\n":
            return i
        if ch == "." and (not text[i - 1].isdigit() or _DECIMAL_BEFORE.search(text, 0, i)
                          or (i + 1 < len(text) and not text[i + 1].isdigit())):
            return i + 1
    return None


def trim_to_answer(text: str) -> str:
    """``text`` cut right after its completed answer sentence (unchanged when there is none)."""
    end = answer_line_end(text)
    return text if end is None else text[:end]


class AnswerLineStop(StoppingCriteria):
    """``transformers.generate`` criterion: a row is done once its continuation's answer sentence is complete.

    ``prompt_len``: the (padded) prompt length; only tokens after it are the continuation. Decodes
    every row at every step, so it is meant for references and baselines; ``generate_batched``
    checks only rows whose last tokens may close a sentence.
    """

    def __init__(self, tokenizer, prompt_len: int):
        self.tokenizer, self.prompt_len = tokenizer, prompt_len

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        """input_ids: ``(B, T)`` -> ``(B,)`` bool, True where the row is finished."""
        texts = self.tokenizer.batch_decode(input_ids[:, self.prompt_len:], skip_special_tokens=True)
        return torch.tensor([answer_line_end(t) is not None for t in texts], device=input_ids.device)


class _AnswerWatch:
    """Per-row answer-sentence check for ``generate_batched``, decoding only when it can matter.

    A sentence can only close on a token whose text holds a period or newline, or on the token
    right after one (a period after a digit waits for the next character), so other steps cost
    one dictionary lookup.
    """

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self._closes: dict[int, bool] = {}
        self._after_closer: set[int] = set()  # rows whose previous token may have closed a sentence

    def _may_close(self, token: int) -> bool:
        if token not in self._closes:
            piece = self.tokenizer.decode([token], skip_special_tokens=True)
            self._closes[token] = any(c in piece for c in _CLOSERS)
        return self._closes[token]

    def done(self, row: int, tokens: list[int]) -> bool:
        """True when row ``row``'s continuation ``tokens`` (ids so far) holds a complete answer sentence."""
        may_close = self._may_close(tokens[-1])
        check = may_close or row in self._after_closer
        (self._after_closer.add if may_close else self._after_closer.discard)(row)
        return check and answer_line_end(self.tokenizer.decode(tokens, skip_special_tokens=True)) is not None


def answer_continuation(tokenizer, tokens: Sequence[int], eos: set[int]) -> str:
    """The text ``generate_batched`` keeps of a greedy continuation ``tokens`` that was decoded without its stops
    (another engine's): cut at the first eos, then right after the first token that completes an answer sentence
    (a later "answer is" must not move the cut), then ``trim_to_answer``."""
    watch, kept = _AnswerWatch(tokenizer), []
    for tok in tokens:
        if tok in eos:
            break
        kept.append(tok)
        if watch.done(0, kept):
            break
    return trim_to_answer(tokenizer.decode(kept, skip_special_tokens=True))


# ---------------------------------------------------------------------------------------------
# Batched greedy generation
# ---------------------------------------------------------------------------------------------

def pad_left(seqs: Sequence[Sequence[int]], value: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack rows padded on the left: ``(ids, mask)``, both ``(B, T)`` long, ``T`` = longest row.

    ``mask`` is 1 on real tokens and 0 on padding.
    """
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), value, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s):] = torch.as_tensor(s, dtype=torch.long)
            mask[i, width - len(s):] = 1
    return ids, mask


def _eos_ids(model, tokenizer) -> set[int]:
    """The tokenizer's eos plus every eos the model's generation config names (chat models have several)."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    gen = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update([gen] if isinstance(gen, int) else (gen or []))
    return ids


def _cache_kwarg(model) -> str:
    """The forward argument that takes the KV cache: ``cache`` (recent transformers 5.x), else ``past_key_values``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model  # peft wraps the HF model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _model_device(model) -> torch.device:
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else next(model.parameters()).device


def _generate_batch(model, tokenizer, seqs: Sequence[Sequence[int]], max_new_tokens: int, stop_at_answer: bool,
                    pad_id: int, eos: set[int], temperature: float = 0.0,
                    generator: torch.Generator | None = None) -> list[list[int]]:
    """Greedy continuations (token ids, eos excluded) of one batch of prompt ids; with ``temperature`` > 0, samples
    from the softmax of the logits / temperature (``generator``: the seeded stream).

    Shapes: ``ids``/``positions`` ``(B, T)`` the left-padded prompts and their position ids (pads take
    no position, so a left-padded row is numbered as if it were alone); ``mask`` ``(b, T + step)`` with
    ``b`` the rows still running; ``tokens``/``next_pos`` ``(b,)`` each row's newest token and the
    position id it is fed at.
    """
    device = _model_device(model)
    ids, mask = (t.to(device) for t in pad_left(seqs, pad_id))
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    cache = DynamicCache(config=getattr(model, "config", None))
    cache_kw = _cache_kwarg(model)
    out: list[list[int]] = [[] for _ in seqs]
    watch = _AnswerWatch(tokenizer) if stop_at_answer else None
    rows = list(range(len(seqs)))  # batch row -> index in ``seqs``
    next_pos = positions[:, -1] + 1
    step_input, step_pos = ids, positions
    for step in range(max_new_tokens):
        logits = model(input_ids=step_input, attention_mask=mask, position_ids=step_pos, use_cache=True,
                       logits_to_keep=1, **{cache_kw: cache}).logits[:, -1]
        if temperature > 0:
            probs = torch.softmax(logits.float() / temperature, dim=-1)
            tokens = torch.multinomial(probs, 1, generator=generator).squeeze(-1)  # (b,)
        else:
            tokens = logits.argmax(dim=-1)  # (b,)
        keep = []
        for j, tok in enumerate(tokens.tolist()):
            row = rows[j]
            if tok in eos:
                continue
            out[row].append(tok)
            if not (watch and watch.done(row, out[row])):
                keep.append(j)
        if not keep or step == max_new_tokens - 1:
            break
        if len(keep) < len(rows):  # finished rows leave the batch and the cache
            index = torch.tensor(keep, device=device)
            cache.batch_select_indices(index)
            tokens, mask, next_pos = tokens[index], mask[index], next_pos[index]
            rows = [rows[j] for j in keep]
        mask = torch.cat([mask, mask.new_ones((len(rows), 1))], dim=1)
        step_input, step_pos = tokens[:, None], next_pos[:, None]
        next_pos = next_pos + 1
    return out


@torch.inference_mode()
def generate_batched(model, tokenizer, prompts: Sequence[str], max_new_tokens: int, batch_size: int,
                     stop_at_answer: bool = True, temperature: float = 0.0, seed: int = 0) -> list[str]:
    """Greedy continuations of ``prompts`` (decoded, prompt excluded), in the order of ``prompts``.

    Prompts are encoded as in training (``prompt_ids``), sorted by length, decoded ``batch_size`` at a
    time with left padding (pad id: the tokenizer's pad, else its eos; the tokenizer itself is not
    modified), on ``model``'s device, in eval mode (the model's mode is restored afterwards). A row
    stops at eos, after ``max_new_tokens`` tokens, or, with ``stop_at_answer``, once its answer
    sentence is complete (``answer_line_end``); its text is then cut right after that sentence
    (``trim_to_answer``), which drops the one token a sentence ending in "digit." waits for.
    ``temperature`` > 0 samples instead (one generator on the model's device seeded by ``seed``: the same prompts,
    batch size, seed and device give the same samples).
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise ValueError(f"batch_size and max_new_tokens must be >= 1, got {batch_size} and {max_new_tokens}")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    if pad_id is None:
        raise ValueError("the tokenizer has neither a pad nor an eos token")
    seqs = prompt_ids(tokenizer, prompts)
    if any(not s for s in seqs):
        raise ValueError("an empty prompt (and no bos token) gives the model nothing to continue")
    eos = _eos_ids(model, tokenizer)
    order = sorted(range(len(seqs)), key=lambda i: -len(seqs[i]))  # longest first: peak memory shows at once
    texts: list[str] = [""] * len(seqs)
    generator = torch.Generator(device=_model_device(model)).manual_seed(seed) if temperature > 0 else None
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            continuations = _generate_batch(model, tokenizer, [seqs[i] for i in chunk], max_new_tokens,
                                            stop_at_answer, pad_id, eos, temperature, generator)
            for i, text in zip(chunk, tokenizer.batch_decode(continuations, skip_special_tokens=True)):
                texts[i] = trim_to_answer(text) if stop_at_answer else text
    finally:
        model.train(was_training)
    return texts


def majority_vote(answers: Sequence[str | None]) -> str | None:
    """The most frequent answer (ties: the one sampled first); None when no sample gave an answer."""
    from collections import Counter

    given = [a for a in answers if a is not None]
    if not given:
        return None
    counts = Counter(given)
    best = max(counts.values())
    return next(a for a in given if counts[a] == best)


def self_consistency_suite(model, tokenizer, examples: Sequence[Example], prompt_fn: Callable[[str], str],
                           max_new_tokens: int, batch_size: int, k: int, temperature: float, seed: int) -> list[dict]:
    """Self-consistency (Wang et al., 2023): ``k`` sampled rationales per question and a majority vote over their
    answers. Rows are prediction rows (``output``: the first sample with the voted answer) plus ``answers``."""
    prompts = [prompt_fn(e.question) for e in examples for _ in range(k)]
    outputs = generate_batched(model, tokenizer, prompts, max_new_tokens, batch_size, stop_at_answer=True,
                               temperature=temperature, seed=seed)
    rows = []
    for i, e in enumerate(examples):
        samples = outputs[i * k:(i + 1) * k]
        answers = [extract_answer(o, e.kind) for o in samples]
        vote = majority_vote(answers)
        row = score_output(e, next((o for o, a in zip(samples, answers) if a == vote), samples[0]))
        row.update(pred_answer=vote, correct=answers_match(vote, e.answer, e.kind), answers=answers)
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------------
# Prediction rows and files
# ---------------------------------------------------------------------------------------------

def score_output(example: Example, output: str) -> dict:
    """One prediction row: the contract's fields, ``kind``, and the example's ``n_steps``/``skill`` when present."""
    pred = extract_answer(output, example.kind)
    row = {"id": example.id, "split": example.split, "output": output, "pred_answer": pred, "gold": example.answer,
           "correct": answers_match(pred, example.answer, example.kind), "kind": example.kind}
    row.update({k: example.meta[k] for k in _META_FIELDS if k in example.meta})
    return row


def evaluate_suite(model, tokenizer, examples: Sequence[Example], prompt_fn: Callable[[str], str],
                   max_new_tokens: int, batch_size: int) -> list[dict]:
    """Generate an answer for every example (prompt: ``prompt_fn(question)``, e.g. ``Strategy.prompt``) and score it."""
    outputs = generate_batched(model, tokenizer, [prompt_fn(e.question) for e in examples], max_new_tokens,
                               batch_size, stop_at_answer=True)
    return [score_output(e, o) for e, o in zip(examples, outputs)]


# ---------------------------------------------------------------------------------------------
# The evaluate stage
# ---------------------------------------------------------------------------------------------


def resolve_device(name: str) -> torch.device:
    """The device of ``evaluate.device``: ``auto`` = MPS, else CUDA (accelerate's order for one process), else the
    CPU; ``cuda``/``mps`` where torch finds none is an error."""
    mps = torch.backends.mps.is_available() and torch.backends.mps.is_built()
    found = {"cuda": torch.cuda.is_available(), "mps": mps}
    if name == "auto":
        return torch.device("mps" if mps else "cuda" if found["cuda"] else "cpu")
    if name != "cpu" and not found.get(name, False):
        raise ValueError(f"evaluate.device: {name!r}, but torch finds no {name} device here; set evaluate.device: "
                         f"auto (the accelerator if any, else the CPU) or cpu")
    return torch.device(name)


def decoding_workers(workers: int, device: torch.device, engine: str) -> int:
    """``evaluate.workers``, clamped to 1 on an accelerator or with vLLM (several processes would each hold a student
    on the one device and run out of its memory or fight over it); the clamp is logged and printed."""
    if workers > 1 and (device.type != "cpu" or engine != "hf"):
        where = f"the {device.type} device" if engine == "hf" else "vLLM"
        message = f"evaluate: workers {workers} -> 1 on {where} (one process per device; set evaluate.workers: 1)"
        log.warning(message)
        print(message)
        return 1
    return workers


def _evaluate_job(job: dict) -> tuple[str, int, str]:
    """Evaluate one student on one suite (in a worker process on the CPU, in this process on an accelerator);
    replaces that prediction file and its record only; returns what it wrote."""
    from mind_lib.strategies.registry import get_strategy
    from mind_lib.tasks.world import load_split

    cfg, paths = job["cfg"], job["paths"]
    prompt = get_strategy(job["prompt_method"]).prompt
    examples = load_split(paths.world, job["suite"])
    if cfg.engine == "vllm":  # greedy only (self-consistency is refused with vllm: params.evaluate)
        from mind_lib.vllm_engine import generate_vllm

        outputs = generate_vllm(job["model_dir"], [prompt(e.question) for e in examples], cfg.max_new_tokens)
        save_prediction_file(job["path"], [score_output(e, o) for e, o in zip(examples, outputs)], job["record"])
        return job["method"], job["seed"], job["suite"]
    from mind_lib.student import load_student

    device = torch.device(job["device"])
    if device.type == "cpu":  # workers share the cores: one thread each
        torch.set_num_threads(1)
    model, tokenizer = load_student(job["model_dir"])
    model.to(device)
    if job.get("self_consistency"):
        sc = cfg.self_consistency
        rows = self_consistency_suite(model, tokenizer, examples, prompt, cfg.max_new_tokens, cfg.batch_size, sc.k,
                                      sc.temperature, sc.seed)
    else:
        rows = evaluate_suite(model, tokenizer, examples, prompt, cfg.max_new_tokens, cfg.batch_size)
    save_prediction_file(job["path"], rows, job["record"])
    return job["method"], job["seed"], job["suite"]


def evaluation_jobs(students: list[dict], suites: list[str]) -> list[dict]:
    """One job per (student, suite), the short ones last, so that no worker idles through a long last job.

    Students that answer without a rationale (the base student, ``dss``'s label task) decode a few
    tokens per question, so their suites go to the end of the queue."""
    from mind_lib.strategies.registry import get_strategy

    jobs = [dict(student, suite=suite) for student in students for suite in suites]
    # stable sort: students' order, then suites' order, among equals
    return sorted(jobs, key=lambda job: get_strategy(job["prompt_method"]).answers_directly)


def evaluate_runs(params, paths, progress: bool = True) -> dict:
    """The evaluate stage: the base student and every distilled run on every suite; returns the summary.

    Writes ``reports/predictions/<method>/seed<k>/<suite>.jsonl`` (``Paths.prediction_file``) with its record
    ``<suite>.meta.json`` and the summary metrics (``reports/metrics/summary.json``) with CIs and the paired
    comparisons. Every run is checked first (``check_trained_on``): a run missing, or trained on another world, is
    refused before anything is decoded.

    Finished work is skipped: a (student, suite) pair whose prediction file is complete and was made by the same
    model weights, questions, prompt and decoding settings (``prediction_record``, ``predictions_finished``) is
    not decoded again; a pair whose file is missing, cut short or stale is decoded and only its file replaced
    (atomically). No prediction file is deleted: those of runs or suites no longer configured stay on disk but
    are left out of the summary.
    """
    from mind_lib.params.distill import run_pairs
    from mind_lib.parallel import run_jobs
    from mind_lib.stats import BASE_METHOD, build_summary
    from mind_lib.strategies.registry import get_strategy
    from mind_lib.tasks.base import world_fingerprint
    from mind_lib.tasks.world import load_split

    cfg = params.evaluate
    device = resolve_device(cfg.device)
    world = world_fingerprint(paths.world)
    # the base student is asked like an answer-only student: question -> answer line
    students = [dict(method=BASE_METHOD, seed=0, model_dir=paths.base_student, prompt_method="answer_only")]
    for method, seed in run_pairs(params.distill):
        folder = paths.run_dir(method, seed)
        if not (folder / "config.json").exists():
            raise FileNotFoundError(f"{folder}: no trained student; run the distill stage first")
        check_trained_on(folder, world, paths.world)
        students.append(dict(method=method, seed=seed, model_dir=folder, prompt_method=method))
    for suite in cfg.suites:
        if not paths.world_split(suite).exists():
            load_split(paths.world, suite)  # raises, saying which stage writes it
    models = {(s["method"], s["seed"]): folder_digest(s["model_dir"]) for s in students}  # once per student
    questions = {suite: file_digest(paths.world_split(suite)) for suite in cfg.suites}
    sc = cfg.self_consistency
    jobs, skipped = [], 0
    for job in evaluation_jobs(students, cfg.suites) + [dict(j, self_consistency=True) for j in evaluation_jobs(
            students, sc.suites if sc else [])]:
        record = prediction_record(models[job["method"], job["seed"]], questions[job["suite"]],
                                   get_strategy(job["prompt_method"]).prompt, cfg.max_new_tokens)
        # another engine or device gives other numerics, so rows made otherwise are decoded again; CPU hf rows
        # keep the record they always had
        if cfg.engine != "hf":
            record["decoding"]["engine"] = cfg.engine
        elif device.type != "cpu":
            record["decoding"]["device"] = device.type
        if job.get("self_consistency"):  # sampled: the batch composition is part of the stream
            record |= {"self_consistency": sc.model_dump() | {"batch_size": cfg.batch_size}}
            path = paths.self_consistency_file(job["method"], job["seed"], job["suite"])
        else:
            path = paths.prediction_file(job["method"], job["seed"], job["suite"])
        if predictions_finished(path, record):
            skipped += 1
        else:
            jobs.append(dict(job, record=record, path=path, cfg=cfg, paths=paths, device=str(device)))
    message = (f"evaluate: {len(jobs)} (student, suite) pairs to decode, {skipped} skipped (finished with the same "
               f"model, questions, prompt and decoding settings)")
    log.info(message)
    if progress:
        print(message)
    run_jobs(_evaluate_job, jobs, decoding_workers(cfg.workers, device, cfg.engine), "evaluate (student, suite)",
             progress)
    keys = [(s["method"], s["seed"], suite) for s in students for suite in cfg.suites]
    tree = load_prediction_tree(paths.predictions, keys)
    summary = build_summary(tree, reference=cfg.reference, n_boot=cfg.n_boot)  # no reference rows: no "paired"
    if sc:
        sc_tree = {(s["method"], s["seed"], suite): load_predictions(paths.self_consistency_file(s["method"], s["seed"],
                                                                                                  suite))
                   for s in students for suite in sc.suites}
        summary["self_consistency"] = {"k": sc.k, "temperature": sc.temperature,
                                       **build_summary(sc_tree, reference=cfg.reference, n_boot=cfg.n_boot)}
    train_rows = paths.rationale_file("train")
    if train_rows.exists():  # which perspective each student writes, and how well (mind_lib/perspectives.py)
        from mind_lib.perspectives import opening_owners, perspective_split
        from mind_lib.rationales import load_rationales
        from mind_lib.tasks.world import SPLITS_OOD

        owners = opening_owners(load_rationales(train_rows))
        summary["perspectives"] = perspective_split(tree, owners, {"id": ["test_id"], "ood": list(SPLITS_OOD)})
    from mind_lib.machine import machine_info

    summary["machine"] = machine_info()  # what a CPU result depends on: a rerun elsewhere can be traced
    write_json(paths.summary_file, summary)
    return summary


RERUN_DISTILL = "rerun the distill stage (dvc repro distill, or mind notebook 02_distill)"


def check_trained_on(folder: str | os.PathLike, world: str, world_folder: str | os.PathLike) -> None:
    """Refuse (``ValueError``) a distilled run whose recorded world (``io.world_marker``) is not ``world``,
    the fingerprint of ``world_folder`` now: its scores would be read against questions it was not trained for.

    A run without the record (trained before runs recorded it) is refused too; rerunning the distill stage
    records it without training an unchanged run again.
    """
    from mind_lib.io import world_marker

    marker = world_marker(folder)
    if not marker.exists():
        raise ValueError(f"{folder}: no record of the world it was trained on ({marker} missing); {RERUN_DISTILL}")
    trained = marker.read_text().strip()
    if trained != world:
        raise ValueError(f"{folder} was trained on another world (fingerprint {trained!r}; {world_folder} is now "
                         f"{world!r}): {RERUN_DISTILL} before evaluating")
