"""Real multi-teacher rationale files as ``Example``s plus rationale rows (``mind_lib.rationales``).

``load_public_rationales(source, folder)`` reads one of ``RATIONALE_SOURCES``:

- ``svamp_levels`` (EIT-NLP/Distilling-CoT-Reasoning): ``SVAMP_{teacher}_level{N}_ranked.json``,
  JSON lists of ``{instruction, output}``. Each teacher x level is one perspective
  (teacher "chatgpt", perspective "chatgpt-L3"). Gold answers come from ``SVAMP_only_ans.json``
  in the same folder, matched on the question text with whitespace normalised (every question of
  every level file matches it in the public copy). One rationale per (question, perspective): sample 0.
- ``svamp_3sample`` (Mentor-KD): ``svamp_3_train.json``, ``{input, chain, answer, initial_correct}``,
  three sampled chains per question -> samples 0..2 of one teacher. ``answer`` is the gold
  answer; ``initial_correct`` is ignored (it is True on every row, wrong chains included). These
  chains end on a sentence such as "Therefore, Danny has 32 more wrappers", never on
  "The answer is N", so their answer is read with ``extract_answer(..., fallback_last_number=True)``
  (recorded as ``run["answer_extraction"]``); ``answer_fallback=False`` keeps the strict reading.

Both loaders take ``svamp_json`` (the benchmark's ``SVAMP.json``): each question found there
(by normalised text) gets ``meta["svamp_id"]``, its ``load_benchmark("svamp")`` id, so that these
training questions can be kept out of an evaluation on SVAMP (in the public copies every question
of both sources is in SVAMP.json); a gold answer differing from SVAMP's raises ``DataError``.

Every row is built by ``make_row`` (the rationale's own answer scored against gold, nothing taken
on trust from the file); ``run`` is ``{"backend": "file", "source": "<folder>/<file>", "record": i, ...}``.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, NamedTuple

from mind_lib.answers import answers_match, canonical_number, extract_answer
from mind_lib.io import DataError
from mind_lib.rationales import make_row
from mind_lib.tasks.base import Example
from mind_lib.tasks.benchmarks import load_benchmark, read_records

LEVEL_FILE = re.compile(r"SVAMP_(?P<teacher>[A-Za-z0-9]+)_level(?P<level>\d+)_ranked\.json")
LEVELS_GOLD_FILE = "SVAMP_only_ans.json"
THREE_SAMPLE_FILE = "svamp_3_train.json"


class RationaleSet(NamedTuple):
    """The questions and their rationale rows (``row["question_id"]`` is an ``Example.id``)."""

    examples: list[Example]
    rows: list[dict]


def normalise_question(text: str) -> str:
    """The matching key of a question: whitespace runs collapsed to one space, ends stripped."""
    return " ".join(text.split())


def _relative(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _svamp_index(svamp_json: str | Path | None) -> dict[str, Example]:
    """SVAMP.json's examples by normalised question text (empty without a file)."""
    if svamp_json is None:
        return {}
    return {normalise_question(e.question): e for e in load_benchmark("svamp", svamp_json)}


def _example(ex_id: str, rec: dict, question_field: str, answer_field: str, path: Path, line: int,
             svamp: dict[str, Example]) -> Example:
    """A training question of a rationale file, linked to its SVAMP id when ``svamp`` knows it."""
    gold = canonical_number(rec[answer_field])
    if gold is None:
        raise DataError(path, line, answer_field, f"gold answer is not a number: {rec[answer_field]!r:.60}")
    meta = {"source": _relative(path), "line": line}
    linked = svamp.get(normalise_question(rec[question_field]))
    if linked is not None:
        if linked.answer != gold:
            raise DataError(path, line, answer_field, f"gold {gold} differs from SVAMP's {linked.answer} ({linked.id})")
        meta["svamp_id"] = linked.id
    return Example(id=ex_id, question=rec[question_field].strip(), answer=gold, kind="number", split="train",
                   meta=meta)


def load_svamp_levels(folder: str | Path, strict: bool = True, svamp_json: str | Path | None = None) -> RationaleSet:
    """Rows of every ``SVAMP_{teacher}_level{N}_ranked.json`` in ``folder`` (see module docstring).

    ``strict``: a rationale whose question is not in ``SVAMP_only_ans.json`` raises ``DataError``;
    with ``strict=False`` it is skipped (the count of kept rows shows the match rate).
    ``svamp_json``: the benchmark's ``SVAMP.json``; see the module docstring.
    """
    folder = Path(folder)
    gold_path = folder / LEVELS_GOLD_FILE
    svamp = _svamp_index(svamp_json)
    examples: dict[str, Example] = {}
    for line, rec in read_records(gold_path, required={"instruction": str, "output": str}):
        key = normalise_question(rec["instruction"])
        if key in examples:
            raise DataError(gold_path, line, "instruction", "question listed twice")
        examples[key] = _example(f"svamp-levels-{len(examples)}", rec, "instruction", "output", gold_path, line, svamp)
    files = sorted((f for f in folder.iterdir() if LEVEL_FILE.fullmatch(f.name)),
                   key=lambda f: (f.name.split("_")[1].lower(), int(LEVEL_FILE.fullmatch(f.name)["level"])))
    if not files:
        raise FileNotFoundError(f"{folder}: no SVAMP_<teacher>_level<N>_ranked.json files")
    rows: list[dict] = []
    for path in files:
        m = LEVEL_FILE.fullmatch(path.name)
        teacher, level = m["teacher"].lower(), int(m["level"])
        seen: set[str] = set()
        for line, rec in read_records(path, required={"instruction": str, "output": str}):
            ex = examples.get(normalise_question(rec["instruction"]))
            if ex is None:
                if strict:
                    raise DataError(path, line, "instruction", f"question not found in {LEVELS_GOLD_FILE}")
                continue
            if ex.id in seen:
                raise DataError(path, line, "instruction", f"question {ex.id} appears twice in this file")
            seen.add(ex.id)
            run = {"backend": "file", "source": _relative(path), "record": line, "level": level,
                   "origin": "EIT-NLP/Distilling-CoT-Reasoning"}
            rows.append(make_row(ex, teacher, f"{teacher}-L{level}", 0, rec["output"].strip(), run))
    return RationaleSet(list(examples.values()), rows)


def load_svamp_3sample(folder: str | Path, teacher: str = "chatgpt", perspective: str = "chatgpt-sampled",
                       answer_fallback: bool = True, svamp_json: str | Path | None = None) -> RationaleSet:
    """Rows of ``svamp_3_train.json`` in ``folder``: every chain, numbered per question (see module
    docstring). The teacher of Mentor-KD's chains is not named in the file: pass ``teacher``.
    ``svamp_json``: the benchmark's ``SVAMP.json``; see the module docstring."""
    path = Path(folder) / THREE_SAMPLE_FILE
    required = {"input": str, "chain": str, "answer": (str, int, float)}
    svamp = _svamp_index(svamp_json)
    examples: dict[str, Example] = {}
    counts: dict[str, int] = {}
    rows: list[dict] = []
    for line, rec in read_records(path, required=required):
        key = normalise_question(rec["input"])
        this = _example(f"svamp-3sample-{len(examples)}", rec, "input", "answer", path, line, svamp)
        ex = examples.setdefault(key, this)
        if ex.answer != this.answer:
            raise DataError(path, line, "answer", f"gold {this.answer} differs from {ex.answer} given for the same "
                                                  f"question at record {ex.meta['line']}")
        sample = counts[key] = counts.get(key, -1) + 1
        run = {"backend": "file", "source": _relative(path), "record": line, "origin": "2hojae/mentor-kd",
               "answer_extraction": "last_number_fallback" if answer_fallback else "strict"}
        row = make_row(ex, teacher, perspective, sample, rec["chain"].strip(), run)
        if answer_fallback and row["pred_answer"] is None:
            pred = extract_answer(row["rationale"], "number", fallback_last_number=True)
            row.update(pred_answer=pred, correct=answers_match(pred, ex.answer, "number"))
        rows.append(row)
    return RationaleSet(list(examples.values()), rows)


RATIONALE_SOURCES: dict[str, Callable[..., RationaleSet]] = {
    "svamp_levels": load_svamp_levels,
    "svamp_3sample": load_svamp_3sample,
}


def load_public_rationales(source: str, folder: str | Path, **options) -> RationaleSet:
    """``RationaleSet`` of one public rationale source (a key of ``RATIONALE_SOURCES``) read from
    its folder (``svamp_multiteacher_levels/`` or ``svamp_3sample/`` in the public layout)."""
    if source not in RATIONALE_SOURCES:
        raise ValueError(f"unknown rationale source {source!r}; known: {', '.join(RATIONALE_SOURCES)}")
    return RATIONALE_SOURCES[source](folder, **options)
