"""``mind distill --method M --seed S --out DIR [--max-steps N] [--resume]``: one distillation run outside the
grid (``mind_lib.cli`` parses the arguments), e.g. under ``accelerate launch``.

It reads the ``student`` and ``distill`` sections of params.yaml (profiles applied) and the world/rationale
files under the output root. Several GPUs:
``accelerate launch -m mind_lib.cli distill ...``. ``distill`` refuses, before any model is loaded, an
``--out`` that is a file or is, contains or lies inside one of its inputs (base student, world, rationale
folder), rationale rows of another world, and an ``--out`` another run is writing into.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Callable

from mind_lib.config import Section, load_params
from mind_lib.io import Paths, resolve_path
from mind_lib.rationales import RERUN_COLLECT, load_rationales
from mind_lib.tasks.base import world_fingerprint
from mind_lib.tasks.world import load_split

# torch, transformers and the training modules are imported by the commands, not here: building
# the parser must stay cheap for every other `mind` command.
log = logging.getLogger(__name__)


def load_training_params(path: str | Path | None = None, profile: str | None = None) -> dict[str, Section]:
    """The ``student`` and ``distill`` sections of params.yaml, validated (profiles applied)."""
    from mind_lib.params.distill import DistillParams
    from mind_lib.params.student import StudentParams

    params = load_params(path, profile, {"student": StudentParams, "distill": DistillParams})
    return {"student": params.student, "distill": params.distill}


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
    from mind_lib.strategies.registry import get_strategy

    if not args.out:
        raise ValueError("distill --method needs --out (the run's folder)")
    sections = load_training_params(args.params, args.profile)
    student, cfg = sections["student"], sections["distill"]
    paths = Paths.resolve(args.out_root)
    student_path = resolve_path(paths.root, args.student) if args.student else paths.base_student
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
        resume=args.resume, cache_dir=feature_cache_dir(paths.models), world=world_fingerprint(paths.world),
        epochs_reference=cfg.epochs_reference,
        reference_options=cfg.methods.get(cfg.epochs_reference) if cfg.epochs_reference else None)
    _print_once({k: summary[k] for k in ("method", "finished", "steps", "target_tokens") if k in summary})
    return 0
