"""``mind distill`` and ``mind pretrain``: the CLI over ``mind_lib.distill`` (registered by ``mind_lib.cli``).

    mind distill --method M --seed S --out DIR [--max-steps N] [--resume]
    mind pretrain [--out DIR] [--max-steps N] [--resume]

Both read the ``student``, ``pretrain`` and ``distill`` sections of params.yaml (profiles
applied) and the world/rationale files under the output root. Several GPUs:
``accelerate launch -m mind_lib.cli distill ...``. ``distill`` refuses, before any model is loaded, an
``--out`` that is a file or is, contains or lies inside one of its inputs (base student, world, rationale
folder), rationale rows of another world, and an ``--out`` another run is writing into.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Callable

from mind_lib.config import PROFILES, Section, load_params
from mind_lib.io import Paths, find_repo_root
from mind_lib.rationales import RERUN_COLLECT, load_rationales
from mind_lib.tasks.base import world_fingerprint
from mind_lib.tasks.world import load_split

# torch, transformers and the training modules are imported by the commands, not here: building
# the parser must stay cheap for every other `mind` command.
log = logging.getLogger(__name__)


def load_training_params(path: str | Path | None = None, profile: str | None = None) -> dict[str, Section]:
    """The ``student``, ``pretrain`` and ``distill`` sections of params.yaml, validated (profiles applied)."""
    params = load_params(path, profile, sections=("student", "pretrain", "distill"))
    return {name: getattr(params, name) for name in ("student", "pretrain", "distill")}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params", default=None, help="params file (default: the repo's params.yaml)")
    p.add_argument("--profile", choices=PROFILES, default=None,
                   help="overrides params.yaml's profile and $MIND_PROFILE")
    p.add_argument("--out-root", default=None, help="where data/ and models/ are (default: $MIND_OUT_ROOT or repo)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after N optimizer steps (resumable)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in the output folder")


def _resolve(root: Path, path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_absolute() else root / path


def _rows(path: Path, what: str, world: Path | None = None,
          build: Callable[[list[dict]], object] | None = None) -> list[dict]:
    """The rationale rows of ``path`` (``what`` it is for), checked against the ``world`` folder's questions.

    A missing file is an error naming it and the stage that writes it, unless the method builds its items
    without any rationale row (``build([])`` succeeds: answer_only), or there is no method (``build`` None: the
    pretraining vocabulary); then a warning, and no rows.
    """
    if path.exists():
        return load_rationales(path, world=world)
    if build is not None:
        try:
            build([])
        except ValueError:
            raise FileNotFoundError(f"{path}: missing {what} rationale file; {RERUN_COLLECT}") from None
    log.warning("%s: missing (the %s rationale file; run the collect stage); going on without it", path, what)
    return []


def _print_once(result: dict) -> None:
    """The command's JSON result line, from the main process only (torchrun/accelerate start several)."""
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(result))


def cmd_distill(args) -> int:
    from mind_lib.distill import check_out_dir, distill, feature_cache_dir, replay_examples
    from mind_lib.strategies import get_strategy

    sections = load_training_params(args.params, args.profile)
    student, cfg = sections["student"], sections["distill"]
    paths = Paths.resolve(args.out_root)
    student_path = _resolve(paths.root, args.student) if args.student else paths.base_student
    # before anything is read: the run must not write into (or over) what it reads
    check_out_dir(args.out, {"the base student": student_path, "the world": paths.world,
                             "the rationale folder": paths.rationales})
    strategy = get_strategy(args.method, cfg.methods.get(args.method))
    train_examples = load_split(paths.world, args.train_split)
    eval_examples = load_split(paths.world, args.eval_split) if args.eval_split else None
    rows = _rows(paths.rationales / f"{args.train_split}.jsonl", f"training ({args.train_split!r} split)", paths.world,
                 lambda r: strategy.text_items(train_examples, r))
    eval_rows = _rows(paths.rationales / f"{args.eval_split}.jsonl", f"{args.eval_split} (--eval-split)", paths.world,
                      lambda r: strategy.feedback_items(eval_examples, r)) if args.eval_split else None
    summary = distill(
        args.method, args.seed, args.out, train_examples=train_examples, rows=rows, eval_examples=eval_examples,
        eval_rows=eval_rows, student=student, params=cfg.train, options=cfg.methods.get(args.method),
        student_path=student_path, max_steps=args.max_steps, replay_examples=replay_examples(paths.world, cfg.train),
        resume=args.resume, cache_dir=feature_cache_dir(paths.models), world=world_fingerprint(paths.world))
    _print_once({k: summary[k] for k in ("method", "finished", "steps", "target_tokens") if k in summary})
    return 0


def cmd_pretrain(args) -> int:
    from mind_lib.distill import pretrain_student
    from mind_lib.trainer import TrainParams

    sections = load_training_params(args.params, args.profile)
    student, params = sections["student"], sections["pretrain"]
    if args.max_steps is not None:
        params = TrainParams.model_validate(params.model_dump() | {"max_steps": args.max_steps})
    paths = Paths.resolve(args.out_root)
    out = Path(args.out) if args.out else paths.base_student
    if student.source == "path":
        # a real student brings its own knowledge: the stage copies it to where every method starts from
        import shutil

        from mind_lib.student import check_model_folder

        source = check_model_folder(_resolve(find_repo_root(), student.path), "student.path: ")
        shutil.copytree(source, out, dirs_exist_ok=True)
        print(json.dumps({"copied": str(source), "to": str(out)}))
        return 0
    vocab_file = paths.rationales / "train.jsonl"
    summary = pretrain_student(
        out,
        examples=load_split(paths.world, "general_train"), texts=[e.question for e in load_split(paths.world, "train")],
        vocab_texts=[r["rationale"] for r in _rows(vocab_file, "vocabulary")],
        eval_examples=load_split(paths.world, "general_test"),
        student=student, params=params, resume=args.resume)
    _print_once({k: summary[k] for k in ("finished", "steps", "target_tokens") if k in summary})
    return 0


def add_distill_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``distill`` on ``mind``'s subparsers (``main`` calls ``args.func(args)``)."""
    p = subparsers.add_parser("distill", help="distil one method into the student (resumable)")
    p.add_argument("--method", required=True,
                   help="distillation method, e.g. answer_only, std_cot, ftcot_diverse, dss "
                        "(an unknown name lists them all)")
    p.add_argument("--seed", type=int, default=0, help="run seed (data order, dropout, LoRA init)")
    p.add_argument("--out", required=True, help="output folder: the trained model plus training/ (log, checkpoints)")
    p.add_argument("--student", default=None,
                   help="student folder to start from (default: models/student_base under the output root)")
    p.add_argument("--train-split", default="train", help="world split (and rationale file) to train on")
    p.add_argument("--eval-split", default="feedback", help="split for the eval loss; '' = none")
    _common(p)
    p.set_defaults(func=cmd_distill)
    return p


def add_pretrain_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``pretrain``: the embedded tiny student on the general suite and plain world text."""
    p = subparsers.add_parser("pretrain", help="build and pretrain the embedded tiny student (resumable)")
    p.add_argument("--out", default=None, help="output HF folder (default: models/student_base under the output root)")
    _common(p)
    p.set_defaults(func=cmd_pretrain)
    return p
