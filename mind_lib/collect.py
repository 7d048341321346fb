"""Teachers x questions -> rationale rows, resumable.

The collection file (``collected.jsonl``) only ever grows: each finished batch is appended and
fsynced before the next batch starts. On restart the file is read back, a half-written last line
(a crash mid-append) is cut, and only the missing (question, teacher, sample) rows are requested,
so a killed run restarted gives the same file as an uninterrupted run, with no duplicate and no
lost row. Rows that no longer match the current questions or teacher settings are moved, not
deleted, to ``collected.stale.jsonl`` (collected work is never thrown away).
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from mind_lib.io import StageError, append_jsonl, repair_truncated_tail, write_jsonl
from mind_lib.rationales import load_rationales, make_row, row_key
from mind_lib.tasks.base import Example
from mind_lib.teachers.base import Teacher

log = logging.getLogger(__name__)


@dataclass
class CollectResult:
    """What one call did: rows written now, rows found from before, questions still missing."""

    written: int = 0
    resumed: int = 0
    stale_moved: int = 0
    missing: dict[str, list[str]] = field(default_factory=dict)  # teacher -> question ids
    selection: dict | None = None  # the difficulty filter's record (run_collection), None when off

    @property
    def complete(self) -> bool:
        return not any(self.missing.values())


def teacher_fingerprint(teacher: Teacher, seed: int) -> str:
    """A short hash of what determines a teacher's rows; rows with another fingerprint are stale."""
    blob = json.dumps({"provenance": teacher.provenance(), "perspective": teacher.perspective, "seed": seed},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _split_stale(rows: list[dict], examples: dict[str, Example], fingerprints: dict[str, str]):
    keep, stale = [], []
    for r in rows:
        ex = examples.get(r["question_id"])
        fresh = (ex is not None and ex.question == r["question"] and ex.answer == r["gold"]
                 and fingerprints.get(r["teacher"]) == r["run"].get("fingerprint"))
        (keep if fresh else stale).append(r)
    return keep, stale


def collect(examples: Sequence[Example], teachers: Sequence[Teacher], out_path: str | Path, n_per_question: int,
            seed: int, batch_size: int = 64, progress: bool = True) -> CollectResult:
    """Collect ``n_per_question`` rationales from every teacher for every example into ``out_path``.

    Resumes from whatever ``out_path`` already holds. Examples a teacher could not answer (its
    ``generate`` returned None for them) are listed in ``result.missing`` and requested again on
    the next call.
    """
    out_path = Path(out_path)
    names = [t.name for t in teachers]
    if len(set(names)) != len(names):
        raise ValueError(f"teacher names must be unique, got {names}")
    by_id = {e.id: e for e in examples}
    if len(by_id) != len(examples):
        raise ValueError("example ids must be unique")
    fingerprints = {t.name: teacher_fingerprint(t, seed) for t in teachers}

    result = CollectResult()
    if out_path.exists():
        if repair_truncated_tail(out_path):
            log.warning("%s: cut a half-written last line left by an interrupted run", out_path)
        existing = load_rationales(out_path, allow_empty=True)  # what the teachers wrote, empty answers included
        keep, stale = _split_stale(existing, by_id, fingerprints)
        if stale:
            stale_path = out_path.with_name(out_path.stem + ".stale.jsonl")
            append_jsonl(stale_path, stale)
            write_jsonl(out_path, keep)
            log.warning("%s: moved %d rows that no longer match the questions or teacher settings to %s",
                        out_path, len(stale), stale_path)
            result.stale_moved = len(stale)
        existing = keep
    else:
        existing = []
    done = {row_key(r) for r in existing}
    result.resumed = len(done)

    for teacher in teachers:
        run = {**teacher.provenance(), "collect_seed": seed, "fingerprint": fingerprints[teacher.name]}
        key = (teacher.name, teacher.perspective)
        pending = [e for e in examples if any((e.id, *key, s) not in done for s in range(n_per_question))]
        missing = []
        bar = tqdm(total=len(pending), desc=f"collect {teacher.name}", disable=not progress, unit="q")
        for start in range(0, len(pending), batch_size):
            batch = pending[start:start + batch_size]
            texts = teacher.generate(batch, n_per_question, seed)
            if len(texts) != len(batch):
                raise RuntimeError(f"teacher {teacher.name!r} returned {len(texts)} results for {len(batch)} questions")
            rows = []
            for ex, samples in zip(batch, texts):
                if samples is None:
                    missing.append(ex.id)
                    continue
                for s, text in enumerate(samples[:n_per_question]):
                    if (ex.id, *key, s) not in done:
                        rows.append(make_row(ex, teacher.name, teacher.perspective, s, text, run))
            append_jsonl(out_path, rows)  # on disk before the next batch is asked for
            done.update(row_key(r) for r in rows)
            result.written += len(rows)
            bar.update(len(batch))
        bar.close()
        if missing:
            log.warning("teacher %s: %d questions still missing (collected on the next run): %s",
                        teacher.name, len(missing), ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else ""))
        result.missing[teacher.name] = missing
    return result


def teacher_summary(rows: Sequence[dict]) -> list[dict]:
    """Per teacher: rationale count, accuracy (share reaching the gold answer), mean length in words."""
    by_teacher: dict[str, list[dict]] = {}
    for r in rows:
        by_teacher.setdefault(r["teacher"], []).append(r)
    out = []
    for name, rs in by_teacher.items():
        lengths = [len(r["rationale"].split()) for r in rs]
        out.append({"teacher": name, "perspective": rs[0]["perspective"], "n": len(rs),
                    "accuracy": sum(r["correct"] for r in rs) / len(rs),
                    "mean_words": sum(lengths) / len(lengths)})
    return out


def run_collection(params, paths, progress: bool = True) -> tuple[CollectResult, list[dict]]:
    """The collect stage: every configured teacher over the configured world splits.

    Writes ``collected.jsonl`` (every rationale the teachers wrote, resumable) and, per split,
    ``<split>.jsonl`` holding the rows kept by ``collect.keep``, together with any published rationale
    rows the data stage brought (``world.source: public``), each stamped with the world's fingerprint
    (``world``) for distillation to check; with ``collect.judge`` the rows carry its verdicts
    (``mind_lib.judge``). Returns the result and all rows (as judged).

    Runs under ``data/rationales/.lock`` (a second collection into the same root is refused). Fails with a
    ``StageError`` when questions are still missing (the split files are written with what there is; run
    again) or when a split is left without a usable row (the split files are then not written).
    """
    from mind_lib.io import output_lock

    with output_lock(paths.rationales):
        return _run_collection(params, paths, progress)


def _run_collection(params, paths, progress: bool) -> tuple[CollectResult, list[dict]]:
    from mind_lib.judge import JUDGED_FILE, judge_rows
    from mind_lib.rationales import filter_rows
    from mind_lib.tasks.base import world_fingerprint
    from mind_lib.tasks.world import load_split
    from mind_lib.teachers.registry import build_teachers

    from mind_lib.tasks.public import RATIONALES_FILE

    cfg = params.collect
    examples = [e for split in cfg.splits for e in load_split(paths.world, split)]
    teachers = [t for spec in cfg.teachers for t in build_teachers(spec)]
    published = paths.world / RATIONALES_FILE  # rows the data stage brought from published files
    if not teachers and not published.exists():
        raise ValueError("collect.teachers is empty and the data stage brought no published rationales: "
                         "configure at least one teacher")
    collected = paths.rationales / "collected.jsonl"
    result = collect(examples, teachers, collected, cfg.n_per_question, cfg.seed, cfg.batch_size, progress)
    if not collected.exists():
        write_jsonl(collected, [])  # no teacher: an empty collection (the stage's output still exists)
    wanted = {e.id for e in examples}
    # collected.jsonl keeps what teachers wrote, empty answers too (keep: correct drops them, and with keep: all
    # distillation refuses them naming the line of <split>.jsonl)
    rows = load_rationales(collected, allow_empty=True) + (
        [r for r in load_rationales(published) if r["question_id"] in wanted] if published.exists() else [])
    # the judge before the difficulty filter: a rationale it rejects is a dropped trajectory there too
    rows = judge_rows(rows, cfg.judge, paths.rationales / JUDGED_FILE, cfg.batch_size, progress)
    split_of = {e.id: e.split for e in examples}
    world = world_fingerprint(paths.world)
    if cfg.difficulty is not None and "train" in cfg.splits and result.complete:
        # the filter reads every paradigm's verdict on a question, so it waits for a complete collection
        result.selection = _difficulty_filter(examples, rows, cfg.difficulty)
        chosen = set(result.selection["kept"])
        if chosen:  # none eligible: the split is left whole, and the check below names the teachers' accuracies
            split_of = {q: s for q, s in split_of.items() if s != "train" or q in chosen}
    # every row was just checked against these questions (collect moves the others to the stale file)
    by_split = {split: [r for r in rows if split_of.get(r["question_id"]) == split] for split in cfg.splits}
    kept = {split: [{**r, "world": world} for r in filter_rows(rs, cfg.keep)] for split, rs in by_split.items()}
    if not result.complete:
        for split in cfg.splits:
            write_jsonl(paths.rationale_file(split), kept[split])
        # Fail the stage (DVC must not record a partial collection as done); everything is kept.
        counts = {t: len(q) for t, q in result.missing.items() if q}
        raise StageError(f"collection incomplete, questions missing per teacher: {counts}; "
                         f"the {len(rows)} rows collected are kept in {collected}; run the stage again")
    for split in cfg.splits:
        if not any(r["rationale"].strip() for r in kept[split]):
            raise StageError(_no_usable_rows(paths.rationale_file(split), by_split[split], cfg.keep, collected))
    for split in cfg.splits:
        write_jsonl(paths.rationale_file(split), kept[split])
    return result, rows


def _difficulty_filter(examples: Sequence[Example], rows: Sequence[dict], spec) -> dict:
    """The training questions the difficulty filter keeps, with the difficulty histograms before and after."""
    from mind_lib.difficulty import difficulty_histogram, question_difficulty, select_questions

    train = [e for e in examples if e.split == "train"]
    ids = {e.id for e in train}
    difficulty = question_difficulty(train, [r for r in rows if r["question_id"] in ids])
    kept = select_questions(difficulty, spec.n_questions, spec.seed)
    return {"kept": kept, "pool": len(train), "before": difficulty_histogram(difficulty),
            "after": difficulty_histogram(difficulty, kept)}


def survivors_by_perspective(train_rows: Sequence[dict]) -> dict[str, int]:
    """Trajectories per perspective in the training file (after the judge and the difficulty filter)."""
    out: dict[str, int] = {}
    for r in train_rows:
        out[r["perspective"]] = out.get(r["perspective"], 0) + 1
    return dict(sorted(out.items()))


def _no_usable_rows(path: Path, rows: Sequence[dict], keep: str, collected: Path) -> str:
    """Why ``path`` would hold no usable rationale: each teacher's rows and accuracy on its split."""
    if not rows:
        return f"{path}: no rationale for any of the split's questions (no teacher wrote one); check collect.teachers"
    teachers = ", ".join(f"{s['teacher']} {s['accuracy']:.0%} of {s['n']}" for s in teacher_summary(rows))
    return (f"{path}: no usable rationale (keep: {keep} left none with text); teachers' accuracy on the split: "
            f"{teachers}; check the teachers (collect.teachers) or collect.keep (all {len(rows)} rows are kept "
            f"in {collected})")


def collection_metrics(profile: str, rows: Sequence[dict], selection: dict | None = None,
                       train_rows: Sequence[dict] = ()) -> dict:
    """The stage's metrics JSON (what ``dvc metrics show`` prints for collection)."""
    extra = {} if selection is None else {"difficulty_filter": {
        "pool": selection["pool"], "kept": len(selection["kept"]),
        "before": {str(k): v for k, v in selection["before"].items()},
        "after": {str(k): v for k, v in selection["after"].items()}}}
    if train_rows:
        extra["train_trajectories"] = survivors_by_perspective(train_rows)
    return {**extra,
        "profile": profile,
        "questions": len({r["question_id"] for r in rows}),
        "rationales": len(rows),
        "accuracy": sum(r["correct"] for r in rows) / max(1, len(rows)),
        "teachers": {s["teacher"]: {k: s[k] for k in ("n", "accuracy", "mean_words")} for s in teacher_summary(rows)},
    }
