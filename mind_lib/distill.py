"""Distillation: ``distill`` trains a student with one method (``mind_lib.strategies``) on rationale rows, and
``run_grid`` trains every method x seed of the distill stage. Thin: pick the items, load the model, call
``mind_lib.trainer.train``.
"""
from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Sequence


from mind_lib.params.distill import DistillParams, run_pairs
from mind_lib.params.student import StudentParams
from mind_lib.params.train import TrainParams
from mind_lib.pretrain import general_items
from mind_lib.io import base_student_marker, feature_cache_folder, folder_digest, output_lock, world_marker
from mind_lib.strategies.registry import get_strategy, strategy_names
from mind_lib.strategies.base import build_item_set
from mind_lib.student import load_training_student
from mind_lib.tasks.base import Example, world_fingerprint
from mind_lib.trainer import train

log = logging.getLogger(__name__)


def distill(method: str, seed: int, out_dir: str | os.PathLike, *, train_examples: Sequence[Example],
            rows: Sequence[dict], student: StudentParams, params: TrainParams, options: dict[str, Any] | None = None,
            eval_examples: Sequence[Example] | None = None, eval_rows: Sequence[dict] | None = None,
            student_path: str | os.PathLike | None = None, max_steps: int | None = None,
            replay_examples: Sequence[Example] | None = None, resume: bool = False,
            cache_dir: str | os.PathLike | None = None, world: str | None = None,
            epochs_reference: str | None = None, reference_options: dict[str, Any] | None = None) -> dict:
    """Distil ``method`` into the student at ``student_path`` (default ``student.path``); returns the summary.

    ``seed`` overrides ``params.seed`` (data order, dropout, LoRA init) and ``max_steps`` (if given)
    ``params.max_steps``. The eval loss is measured on ``eval_examples``/``eval_rows`` items built by
    the same method. ``replay_examples`` (the general suite's training split) are rehearsed as in
    pretraining when ``params.replay_share`` > 0. The data and ``out_dir`` (not a file, not the starting
    student's folder: ``check_out_dir``) are checked before the model is loaded; the run writes under
    ``out_dir/.lock`` (a second run into the same folder is refused, ``output_lock``).
    ``cache_dir``: where a strategy may cache what it computes once per data and base student (MIND's encoder
    vectors); None = no cache. ``world``: the fingerprint of the world the examples come from
    (``tasks.base.world_fingerprint``), recorded in ``world_marker(out_dir)`` for the evaluate stage.
    ``epochs_reference`` (with ``reference_options``): with ``params.budget_epochs``, the method whose items count
    the epochs (``DistillParams.epochs_reference``); None = the run's own items.
    """
    from accelerate.utils import set_seed

    start = student_path or student.path
    out_dir = check_out_dir(out_dir, {"the starting student": Path(start)} if start else {})
    strategy = get_strategy(method, options)
    if rows:  # the training set is what collection kept (the judge and the difficulty filter), for every method
        with_rows = {r["question_id"] for r in rows}
        train_examples = [e for e in train_examples if e.id in with_rows]
    if not train_examples:
        raise ValueError("distill: no training questions")
    train_items = strategy.text_items(train_examples, rows)
    eval_items = strategy.feedback_items(eval_examples, eval_rows or []) if eval_examples else None
    update: dict[str, Any] = {"seed": seed} | ({"max_steps": max_steps} if max_steps is not None else {})
    params = TrainParams.model_validate(params.model_dump() | update)
    # The processes of one `accelerate launch`/`torchrun` share the folder (only the main one writes): it alone locks.
    main = os.environ.get("RANK", "0") == "0"
    with output_lock(out_dir) if main else nullcontext():
        set_seed(seed)  # LoRA adapters are initialised randomly
        model, tokenizer = load_training_student(start, student, params)  # LoRA, memory check, options
        train_set = strategy.tokenize(tokenizer, train_items, student.max_len)
        eval_set = strategy.tokenize(tokenizer, eval_items, student.max_len) if eval_items else None
        if cache_dir is not None:
            strategy.use_cache(cache_dir)
        replay_set = (build_item_set(tokenizer, general_items(replay_examples), student.max_len)
                      if replay_examples and params.replay_share > 0 else None)
        epoch_tokens = (reference_epoch_tokens(epochs_reference, reference_options, tokenizer, train_examples, rows,
                                               student.max_len)
                        if params.budget_epochs is not None and epochs_reference is not None else None)
        log.info("distill %s seed %d: %s", method, seed, train_set.summary())
        summary = train(model, tokenizer, strategy, train_set, params, out_dir, eval_set=eval_set,
                        replay_set=replay_set, resume=resume, epoch_tokens=epoch_tokens)
        if world is not None and main:
            # beside training/summary.json (after train(): a fresh start empties training/)
            world_marker(out_dir).write_text(world)
    return summary


def reference_epoch_tokens(method: str, options: dict[str, Any] | None, tokenizer, train_examples: Sequence[Example],
                           rows: Sequence[dict], max_len: int) -> int:
    """Target tokens of one epoch of ``method``'s training items: what one epoch of ``budget_epochs`` is for every
    method of the grid (equal exposure, docs/method.md §3)."""
    reference = get_strategy(method, options)
    items = reference.tokenize(tokenizer, reference.text_items(train_examples, rows), max_len)
    return int(sum(items.target_counts()))


def check_out_dir(out_dir: str | os.PathLike, inputs: dict[str, Path]) -> Path:
    """``out_dir`` resolved, refused (``ValueError``) when it is a file or when it is, contains or lies inside one of
    the run's ``inputs`` (a description -> its folder): a run replaces its folder's model files and a fresh start
    empties its ``training/``, so an input there would be overwritten or deleted while it is read."""
    out = Path(out_dir).resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"output folder {out} is a file; give a folder (it receives the model and training/)")
    for what, folder in inputs.items():
        folder = Path(folder).resolve()
        relation = ("is" if out == folder else "contains" if out in folder.parents
                    else "lies inside" if folder in out.parents else None)
        if relation:
            raise ValueError(f"output folder {out} {relation} {what} ({folder}), an input of the run; "
                             f"write the run elsewhere")
    return out




def replay_examples(world: str | os.PathLike, params: TrainParams) -> list[Example] | None:
    """The general suite's training split, rehearsed during distillation when ``params.replay_share`` > 0
    (``None`` otherwise, or when the data have no general suite; ``train`` then says what is missing)."""
    from mind_lib.tasks.world import load_split

    path = Path(world) / "general_train.jsonl"
    return load_split(world, "general_train") if params.replay_share > 0 and path.exists() else None


def feature_cache_dir(models: str | os.PathLike) -> Path:
    """MIND's encoder vectors (``io.feature_cache_folder``, ``Paths.feature_cache``); the name ``cli_distill`` uses."""
    return feature_cache_folder(models)


def _grid_job(job: dict) -> dict:
    """One run of the grid (in a worker process): resumes or skips what an earlier call finished."""
    import torch

    from mind_lib.rationales import load_rationales
    from mind_lib.tasks.world import load_split

    torch.set_num_threads(job["threads"])
    logging.basicConfig(level=logging.WARNING)
    paths, cfg = job["paths"], job["cfg"]
    out = paths.run_dir(job["method"], job["seed"])
    base_marker = base_student_marker(out)
    # the trainer's fingerprint covers data, method and params; the base student's weights are added here
    same_base = base_marker.exists() and base_marker.read_text() == job["base_digest"]
    feedback = load_split(paths.world, "feedback")
    summary = distill(job["method"], job["seed"], out, train_examples=load_split(paths.world, "train"),
                      rows=load_rationales(paths.rationale_file("train"), world=paths.world),
                      eval_examples=feedback,
                      eval_rows=load_rationales(paths.rationale_file("feedback"), world=paths.world),
                      student=job["student"],
                      params=cfg.train.model_copy(update={"num_threads": job["threads"], "progress": False}),
                      options=cfg.methods.get(job["method"]), student_path=job["student_path"],
                      replay_examples=replay_examples(paths.world, cfg.train), resume=same_base,
                      cache_dir=paths.feature_cache, world=job["world"], epochs_reference=cfg.epochs_reference,
                      reference_options=cfg.methods.get(cfg.epochs_reference) if cfg.epochs_reference else None)
    base_marker.parent.mkdir(parents=True, exist_ok=True)
    base_marker.write_text(job["base_digest"])
    return {**summary, "method": job["method"], "seed": job["seed"]}


def accelerate_command(job: dict, params_file: Path, accelerate_config: Path | None) -> list[str]:
    """``accelerate launch`` (this interpreter's accelerate) of one grid run through ``mind distill --method``
    (``mind_lib.cli_distill``), reading the stage's resolved ``student`` and ``distill`` sections from
    ``params_file``; ``--resume`` when the run's folder holds a run from the same base student."""
    import sys

    from mind_lib.config import DEFAULT_PROFILE

    paths = job["paths"]
    out = paths.run_dir(job["method"], job["seed"])
    marker = base_student_marker(out)
    same_base = marker.exists() and marker.read_text() == job["base_digest"]
    return [sys.executable, "-m", "accelerate.commands.launch",
            *(["--config_file", str(accelerate_config)] if accelerate_config is not None else []),
            "-m", "mind_lib.cli", "distill", "--method", job["method"], "--seed", str(job["seed"]), "--out", str(out),
            "--student", str(job["student_path"]), "--params", str(params_file), "--profile", DEFAULT_PROFILE,
            "--out-root", str(paths.root), *(["--resume"] if same_base else [])]


def _launched_job(job: dict, params_file: Path, accelerate_config: Path | None) -> dict:
    """One run of the grid as an ``accelerate launch`` subprocess (``distill.launcher: accelerate``); its summary."""
    import subprocess

    from mind_lib.io import read_json, training_dir

    out = job["paths"].run_dir(job["method"], job["seed"])
    command = accelerate_command(job, params_file, accelerate_config)
    log.info("distill %s seed %d: %s", job["method"], job["seed"], " ".join(command))
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"distill {job['method']} seed {job['seed']}: `{' '.join(command)}` exited with "
                           f"{done.returncode} (its output is above); fix the cause and rerun the stage (finished "
                           f"runs are kept, this one resumes from its last checkpoint)")
    base_marker = base_student_marker(out)
    base_marker.parent.mkdir(parents=True, exist_ok=True)
    base_marker.write_text(job["base_digest"])
    return {**read_json(training_dir(out) / "summary.json"), "method": job["method"], "seed": job["seed"]}


def _launch_grid(params, jobs: list[dict]) -> list[dict]:
    """Every run of the grid through ``accelerate launch``, one after another (each may use every GPU)."""
    import tempfile

    import yaml

    from mind_lib.io import find_repo_root, resolve_path

    cfg = params.distill
    config = resolve_path(find_repo_root(), cfg.accelerate_config) if cfg.accelerate_config else None
    if config is not None and not config.is_file():
        raise FileNotFoundError(f"distill.accelerate_config: {config} is not a file; write one with `accelerate "
                                f"config --config_file {config}` or set accelerate_config: null")
    with tempfile.TemporaryDirectory(prefix="mind-distill-") as tmp:
        # the stage's own values (profile and overrides applied), so every launched run trains what the stage says
        params_file = Path(tmp) / "params.yaml"
        params_file.write_text(yaml.safe_dump({"student": params.student.model_dump(mode="json"),
                                               "distill": cfg.model_dump(mode="json")}, sort_keys=False))
        return [_launched_job(job, params_file, config) for job in jobs]


def run_grid(params, paths, progress: bool = True) -> list[dict]:
    """The distill stage: every method in ``distill.runs`` x every seed, ``distill.workers`` at a time, or with
    ``distill.launcher: accelerate`` each as an ``accelerate launch`` subprocess, one after another.

    Finished runs whose data, params and base student are unchanged are not trained again, and an
    interrupted run resumes from its last checkpoint. Returns the run summaries (grid order).
    """
    from mind_lib.parallel import run_jobs

    cfg, student = params.distill, params.student
    student_path = paths.base_student
    weights = student_path / "config.json"  # with the weights' digest below: what the runs start from
    if not weights.exists():
        raise FileNotFoundError(f"{weights}: missing; run the pretrain stage first (dvc repro pretrain, or mind pretrain)")
    threads = cfg.train.num_threads or 1
    digest = folder_digest(student_path)
    world = world_fingerprint(paths.world)
    jobs = [dict(method=m, seed=s, paths=paths, cfg=cfg, student=student, student_path=student_path,
                 base_digest=digest, world=world, threads=threads) for m, s in run_pairs(cfg)]
    if cfg.launcher == "accelerate":
        return _launch_grid(params, jobs)
    # longest first (LPT): a costly run started last would leave the other cores idle at the end
    cost = {m: get_strategy(m, cfg.methods.get(m)).relative_cost for m in cfg.runs}
    order = sorted(range(len(jobs)), key=lambda i: -cost[jobs[i]["method"]])  # stable: grid order among equals
    results = run_jobs(_grid_job, [jobs[i] for i in order], cfg.workers, "distill runs", progress)
    by_job = dict(zip(order, results))
    return [by_job[i] for i in range(len(jobs))]


__all__ = ["DistillParams", "check_out_dir", "distill", "feature_cache_dir", "run_grid", "strategy_names"]
