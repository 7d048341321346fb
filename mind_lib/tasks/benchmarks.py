"""Public reasoning benchmarks as ``Example`` lists, from local files or the Hugging Face hub.

``load_benchmark(name, path=None, split="test")`` reads one benchmark:

- ``path`` a file: that file; ``path`` a folder: the benchmark's file for ``split`` in the
  public layout (``gsm8k/test.jsonl``, ``svamp/SVAMP.json``, ``math500/test.jsonl``, ... see
  ``BENCHMARKS``); JSONL, JSON, or CSV with a header row (GPQA's ``gpqa_diamond.csv``);
- ``path=None``: ``datasets.load_dataset`` with the benchmark's well-known hub id (only where
  one with a known schema exists; the others need a path). GPQA-Diamond has none on purpose: its
  authors ship it in a password-protected archive to keep it out of training data, so the user
  gives the path of the official ``gpqa_diamond.csv``.

Every benchmark is one row of ``BENCHMARKS``: its answer kind, its files and a ``RecordFormat``
(which fields hold the question, the gold answer, the options and the original id). One parser,
``parse_record``, turns any record into an ``Example``; a bad record raises ``DataError`` naming
the file, the record's line (JSONL, CSV) or 1-based position (JSON list / ``examples`` list) and the
field (a CSV's missing column: line 1). A file without records is an error too (a suite of 0
examples would report no accuracy at all).

Conventions, following Zero-shot-CoT (Kojima et al. 2022) where it defines them:
ids are ``{name}-{original id}`` where the source has ids, else ``{name}-{split}-{index}``
(0-based); multiple-choice options go into the question as ``"\\nAnswer Choices: (A) .. (B) .."``;
Date Understanding's options are shuffled per question with a fixed seed (its correct option
is listed first in 364 of 369 source records), Tracking Shuffled Objects keeps the source order.
A shuffle is seeded by ``"{name}-{original id}"`` where the source has ids (GPQA's ``Record ID``:
a question's letters do not depend on the file's order or on which questions are kept), else by
``"{name}-{index}"``.

Answers by kind: MATH500 (``math``) keeps the source's LaTeX answer as gold ("\\frac{14}{3}",
compared by ``answers_match(.., "math")``); GPQA-Diamond (``choice``) puts its correct answer and
its three incorrect ones, shuffled as above, behind the letters A-D.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from mind_lib.answers import CHOICE_LETTERS, canonical_number
from mind_lib.io import DataError, check_fields, iter_csv_records, iter_json_records
from mind_lib.tasks.base import Example

Options = list[tuple[str, str]]  # (letter, text)


# ----------------------------------------------------------------------------------------------
# gold answers: raw field value (and the options) -> canonical answer; ValueError(problem) if bad


def _gold_number(value: Any, options: Options) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"expected a number, got {type(value).__name__} ({value!r:.60})")
    gold = canonical_number(value)
    if gold is None:
        raise ValueError(f"not a number: {value!r:.60}")
    return gold


def _gold_after_hashes(value: Any, options: Options) -> str:
    """GSM8K: the solution ends with ``#### N``; N may carry thousands commas."""
    if not isinstance(value, str) or "####" not in value:
        raise ValueError(f"no '#### <answer>' line in {value!r:.60}")
    return _gold_number(value.rsplit("####", 1)[1].strip(), options)


def _gold_yesno(value: Any, options: Options) -> str:
    """"yes"/"no" in any case, a bool, or BIG-bench ``target_scores`` {"Yes": 1, "No": 0}."""
    if isinstance(value, dict):
        value = _best_scored(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and value.strip().lower() in ("yes", "no"):
        return value.strip().lower()
    raise ValueError(f"expected yes or no, got {value!r:.60}")


def _gold_letter(value: Any, options: Options) -> str:
    """A choice letter that labels one of the options."""
    letters = [letter for letter, _ in options]
    if not isinstance(value, str) or value.strip().upper() not in letters:
        raise ValueError(f"expected one of the option letters {letters}, got {value!r:.60}")
    return value.strip().upper()


def _gold_scored_option(value: Any, options: Options) -> str:
    """BIG-bench multiple choice: the letter of the option scored 1 in ``target_scores``."""
    best = _best_scored(value)
    return next(letter for letter, text in options if text == best)


def _gold_option_text(value: Any, options: Options) -> str:
    """GPQA: the letter of the option whose text is the correct answer's."""
    text = value.strip() if isinstance(value, str) else value
    letters = [letter for letter, option in options if option == text]
    if len(letters) != 1:
        raise ValueError(f"the correct answer {text!r:.60} is {'not' if not letters else 'more than once'} "
                         f"among the options")
    return letters[0]


def _gold_text(value: Any, options: Options) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r:.60}")
    return value.strip()


def _best_scored(scores: Any) -> str:
    if not isinstance(scores, dict) or not scores:
        raise ValueError(f"expected a non-empty {{option: score}} object, got {scores!r:.60}")
    top = [k for k, v in scores.items() if v == 1]
    if len(top) != 1:
        raise ValueError(f"expected exactly one option scored 1, got {scores!r:.80}")
    return top[0]


# ----------------------------------------------------------------------------------------------
# options: raw field value -> [(letter, text)]; ValueError(problem) if bad


def _options_prefixed(value: Any) -> Options:
    """AQuA: ``["A)21", "B)21.5", ...]``."""
    if not isinstance(value, list):
        raise ValueError(f"expected a list of 'A)text' strings, got {type(value).__name__}")
    out = []
    for s in value:
        m = re.fullmatch(r"\s*\(?([A-Z])\)\s*(.*)", s, re.DOTALL) if isinstance(s, str) else None
        if not m:
            raise ValueError(f"option {s!r:.40} is not of the form 'A)text'")
        out.append((m.group(1), m.group(2).strip()))
    return out


def _options_label_text(value: Any) -> Options:
    """CommonsenseQA file: ``[{"label": "A", "text": "bank"}, ...]``; hub: ``{"label": [..], "text": [..]}``."""
    if isinstance(value, dict) and isinstance(value.get("label"), list) and isinstance(value.get("text"), list):
        value = [{"label": lab, "text": txt} for lab, txt in zip(value["label"], value["text"])]
    if not isinstance(value, list) or not all(isinstance(c, dict) and isinstance(c.get("label"), str)
                                              and isinstance(c.get("text"), str) for c in value):
        raise ValueError("expected a list of {label, text} objects")
    return [(c["label"].strip().upper(), c["text"].strip()) for c in value]


def _options_listed(value: Any) -> Options:
    """Options held in several fields (GPQA's correct and incorrect answers), lettered in order."""
    if not isinstance(value, list) or len(value) > len(CHOICE_LETTERS):
        raise ValueError(f"expected a list of 1 to {len(CHOICE_LETTERS)} option texts")
    return list(zip(CHOICE_LETTERS, value))


def _options_scored(value: Any) -> Options:
    """BIG-bench: the keys of ``target_scores``, lettered in order."""
    if not isinstance(value, dict) or not value or len(value) > len(CHOICE_LETTERS):
        raise ValueError(f"expected an {{option: score}} object with 1 to {len(CHOICE_LETTERS)} options")
    return list(zip(CHOICE_LETTERS, value))


# ----------------------------------------------------------------------------------------------
# the table


@dataclass(frozen=True)
class RecordFormat:
    """Where a source record keeps what an ``Example`` needs (fields as dotted paths, "a.b.0")."""

    question: tuple[str, ...]
    """Fields joined by a space into the question text (SVAMP: Body, Question)."""
    answer: str
    """Field holding the gold answer, read by ``gold``."""
    gold: Callable[[Any, Options], str]
    id: str | None = None
    """Field holding the source's own id, if it has one."""
    options: tuple[str | tuple[str, ...], Callable[[Any], Options]] | None = None
    """(field, reader) of the answer options of a multiple-choice benchmark; with several fields
    (non-empty texts), the reader gets the list of their values."""
    shuffle_options: bool = False
    container: str | None = None
    """Key of the record list when the file is one JSON object (BIG-bench: "examples")."""
    meta: tuple[tuple[str, str], ...] = ()
    """(meta key, field) pairs copied into ``Example.meta`` when present (e.g. a human rationale)."""


@dataclass(frozen=True)
class HubSource:
    """A hub dataset with the same content; ``splits`` maps our split names to the hub's."""

    id: str
    config: str | None
    splits: Mapping[str, str]
    format: RecordFormat


@dataclass(frozen=True)
class Benchmark:
    kind: str
    files: Mapping[str, str]
    """split -> file name inside the benchmark's folder (public layout)."""
    format: RecordFormat
    hub: HubSource | None = None
    where: str | None = None
    """Where to get the files when there is no hub copy (said when ``path`` is missing)."""


_ARITH_KOJIMA = RecordFormat(question=("sQuestion",), answer="lSolutions.0", gold=_gold_number, id="iIndex")
_GSM8K = RecordFormat(question=("question",), answer="answer", gold=_gold_after_hashes, meta=(("solution", "answer"),))
_SVAMP = RecordFormat(question=("Body", "Question"), answer="Answer", gold=_gold_number, id="ID",
                      meta=(("equation", "Equation"), ("type", "Type")))
_AQUA = RecordFormat(question=("question",), answer="correct", gold=_gold_letter,
                     options=("options", _options_prefixed), meta=(("rationale", "rationale"),))


_MATH500 = RecordFormat(question=("problem",), answer="answer", gold=_gold_text, id="unique_id",
                        meta=(("solution", "solution"), ("subject", "subject"), ("level", "level")))
_GPQA = RecordFormat(question=("Question",), answer="Correct Answer", gold=_gold_option_text, id="Record ID",
                     options=(("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3"),
                              _options_listed),
                     shuffle_options=True,  # the source lists the correct answer first
                     meta=(("domain", "High-level domain"), ("subdomain", "Subdomain")))


def _bigbench_choice(shuffle: bool) -> RecordFormat:
    return RecordFormat(question=("input",), answer="target_scores", gold=_gold_scored_option,
                        options=("target_scores", _options_scored), shuffle_options=shuffle, container="examples")


def _examples_qa(gold: Callable[[Any, Options], str]) -> RecordFormat:
    return RecordFormat(question=("question",), answer="answer", gold=gold, container="examples")


BENCHMARKS: dict[str, Benchmark] = {
    "gsm8k": Benchmark("number", {"train": "train.jsonl", "test": "test.jsonl"}, _GSM8K,
                       HubSource("openai/gsm8k", "main", {"train": "train", "test": "test"}, _GSM8K)),
    "svamp": Benchmark("number", {"test": "SVAMP.json"}, _SVAMP,
                       HubSource("ChilleD/SVAMP", None, {"train": "train", "test": "test"}, _SVAMP)),
    "asdiv": Benchmark("number", {"train": "asdiv_train.json", "test": "asdiv_test.json"},
                       RecordFormat(question=("input",), answer="answer", gold=_gold_number)),
    "multiarith": Benchmark("number", {"test": "MultiArith.json"}, _ARITH_KOJIMA,
                            HubSource("ChilleD/MultiArith", None, {"train": "train", "test": "test"},
                                      RecordFormat(question=("question",), answer="final_ans", gold=_gold_number))),
    "addsub": Benchmark("number", {"test": "AddSub.json"}, _ARITH_KOJIMA),
    "singleeq": Benchmark("number", {"test": "questions.json"}, _ARITH_KOJIMA),
    "aqua": Benchmark("choice", {"test": "test.json"}, _AQUA,
                      HubSource("deepmind/aqua_rat", "raw", {"train": "train", "validation": "validation",
                                                             "test": "test"}, _AQUA)),
    "strategyqa": Benchmark("yesno", {"test": "task.json"},
                            RecordFormat(question=("input",), answer="target_scores", gold=_gold_yesno,
                                         container="examples", meta=(("explanation", "target"),)),
                            HubSource("ChilleD/StrategyQA", None, {"train": "train", "test": "test"},
                                      RecordFormat(question=("question",), answer="answer", gold=_gold_yesno,
                                                   id="qid"))),
    "commonsenseqa": Benchmark("choice", {"test": "dev_rand_split.jsonl"},
                               RecordFormat(question=("question.stem",), answer="answerKey", gold=_gold_letter,
                                            id="id", options=("question.choices", _options_label_text)),
                               # The hub's test split has no labels: "test" is the dev set, as in the file layout.
                               HubSource("tau/commonsense_qa", None, {"train": "train", "test": "validation"},
                                         RecordFormat(question=("question",), answer="answerKey", gold=_gold_letter,
                                                      id="id", options=("choices", _options_label_text)))),
    "coin_flip": Benchmark("yesno", {"test": "coin_flip.json"}, _examples_qa(_gold_yesno)),
    "last_letters": Benchmark("text", {"test": "last_letters.json"}, _examples_qa(_gold_text),
                              HubSource("ChilleD/LastLetterConcat", None, {"train": "train", "test": "test"},
                                        RecordFormat(question=("question",), answer="answer", gold=_gold_text))),
    "date_understanding": Benchmark("choice", {"test": "task.json"}, _bigbench_choice(shuffle=True)),
    "tracking_shuffled_objects": Benchmark("choice", {"test": "task.json"}, _bigbench_choice(shuffle=False)),
    "math500": Benchmark("math", {"test": "test.jsonl"}, _MATH500,
                         HubSource("HuggingFaceH4/MATH-500", None, {"test": "test"}, _MATH500)),
    "gpqa_diamond": Benchmark("choice", {"test": "gpqa_diamond.csv"}, _GPQA,
                              where="its authors ship it only in a password-protected archive (dataset.zip of "
                                    "https://github.com/idavidrein/gpqa, password in its README) to keep it out "
                                    "of training data: unzip it and pass the path of gpqa_diamond.csv"),
}


# ----------------------------------------------------------------------------------------------
# reading


def read_records(path: str | Path, container: str | None = None,
                 required: Mapping[str, type | tuple[type, ...]] | None = None,
                 csv_columns: Sequence[str] = ()) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, record)`` from a JSONL file, a JSON list, the ``container`` list of one JSON
    object, or a ``.csv`` file whose header names the ``csv_columns``; ``line`` is the JSONL/CSV
    line or the 1-based position in the list. Records must be objects holding the ``required``
    fields (``DataError`` otherwise)."""
    records: Iterable[tuple[int, Any]]
    if Path(path).suffix.lower() == ".csv":
        records = iter_csv_records(path, csv_columns)
    else:
        records = iter_json_records(path)
    if container is not None:
        _, top = next(iter(records), (1, None))
        if not isinstance(top, dict) or not isinstance(top.get(container), list):
            raise DataError(path, 1, container, f"expected a JSON object with a '{container}' list")
        records = enumerate(top[container], start=1)
    for line, rec in records:
        yield line, check_fields(rec, required or {}, path, line)


def _field(rec: dict, dotted: str, source: str, line: int) -> Any:
    value: Any = rec
    for key in dotted.split("."):
        if isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            raise DataError(source, line, dotted, "missing")
    return value


def _text_field(rec: dict, dotted: str, source: str, line: int) -> str:
    text = _field(rec, dotted, source, line)
    if not isinstance(text, str) or not text.strip():
        raise DataError(source, line, dotted, f"expected a non-empty string, got {text!r:.60}")
    return text.strip()


def _option_fields(fmt: RecordFormat) -> tuple[str, ...]:
    if not fmt.options:
        return ()
    return (fmt.options[0],) if isinstance(fmt.options[0], str) else fmt.options[0]


def _options(fmt: RecordFormat, rec: dict, seed: Callable[[], str], source: str, line: int) -> Options:
    """The lettered options of a multiple-choice record, shuffled with ``seed()`` if the format says so."""
    fields, reader = fmt.options
    if isinstance(fields, str):
        raw, where = _field(rec, fields, source, line), fields
    else:
        raw, where = [_text_field(rec, f, source, line) for f in fields], ", ".join(fields)
    try:
        options = reader(raw)
    except ValueError as e:
        raise DataError(source, line, where, str(e)) from None
    if fmt.shuffle_options:
        texts = [t for _, t in options]
        random.Random(seed()).shuffle(texts)
        options = list(zip(CHOICE_LETTERS, texts))
    return options


def parse_record(name: str, fmt: RecordFormat, kind: str, rec: dict, *, split: str, index: int,
                 source: str, line: int) -> Example:
    """Turn one source record into an ``Example`` (the one parser behind every benchmark)."""
    question = " ".join(_text_field(rec, f, source, line) for f in fmt.question)
    options: Options = []
    if fmt.options:
        def seed() -> str:  # see the module docstring
            return f"{name}-{_field(rec, fmt.id, source, line)}" if fmt.id else f"{name}-{index}"

        options = _options(fmt, rec, seed, source, line)
        question += "\nAnswer Choices: " + " ".join(f"({letter}) {text}" for letter, text in options)
    raw_answer = _field(rec, fmt.answer, source, line)
    try:
        answer = fmt.gold(raw_answer, options)
    except ValueError as e:
        raise DataError(source, line, fmt.answer, str(e)) from None
    orig_id = _field(rec, fmt.id, source, line) if fmt.id else None
    meta = {"line": line, **({"orig_id": orig_id} if orig_id is not None else {}),
            **{key: rec[f] for key, f in fmt.meta if f in rec}}
    ex_id = f"{name}-{orig_id}" if orig_id is not None else f"{name}-{split}-{index}"
    return Example(id=ex_id, question=question, answer=answer, kind=kind, split=split, meta=meta)


def _parse_all(name: str, bench: Benchmark, fmt: RecordFormat, records: Iterable[tuple[int, dict]],
               split: str, source: str) -> list[Example]:
    out: list[Example] = []
    seen: dict[str, int] = {}
    for index, (line, rec) in enumerate(records):
        ex = parse_record(name, fmt, bench.kind, rec, split=split, index=index, source=source, line=line)
        if ex.id in seen:
            raise DataError(source, line, fmt.id, f"duplicate id {ex.id!r} (first at {seen[ex.id]})")
        seen[ex.id] = line
        out.append(ex)
    if not out:
        raise DataError(source, None, None, f"no records: an empty {name} suite would score nothing")
    return out


def _csv_columns(fmt: RecordFormat) -> list[str]:
    """The top-level fields a format reads (a CSV's header must name them)."""
    fields = [*fmt.question, fmt.answer, *([fmt.id] if fmt.id else []), *_option_fields(fmt)]
    return list(dict.fromkeys(f.split(".")[0] for f in fields))


def _resolve_file(name: str, bench: Benchmark, path: Path, split: str) -> Path:
    if path.is_dir():
        if split not in bench.files:
            raise ValueError(f"{name}: no split {split!r} in the public layout; available: {', '.join(bench.files)}")
        path = path / bench.files[split]
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file ({name} expects {', '.join(bench.files.values())})")
    return path


def _hub_records(name: str, hub: HubSource, split: str) -> tuple[str, list[tuple[int, dict]]]:
    if split not in hub.splits:
        raise ValueError(f"{name}: no split {split!r} on the hub ({hub.id}); available: {', '.join(hub.splits)}")
    import datasets  # heavy; only this path needs it

    ds = datasets.load_dataset(hub.id, hub.config, split=hub.splits[split])
    source = f"hf://{hub.id}" + (f"[{hub.config}]" if hub.config else "") + f":{hub.splits[split]}"
    return source, [(i, dict(rec)) for i, rec in enumerate(ds, start=1)]


def load_benchmark(name: str, path: str | Path | None = None, split: str = "test") -> list[Example]:
    """The examples of benchmark ``name`` (a key of ``BENCHMARKS``) for ``split``.

    ``path``: a file, or the benchmark's folder in the public layout; None reads the hub copy.
    Raises ``ValueError`` for an unknown name or split (or no path where there is no hub copy),
    ``FileNotFoundError`` naming a missing file, ``DataError`` for a bad record, a missing CSV
    column or a file without records.
    """
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    bench = BENCHMARKS[name]
    if path is not None:
        file = _resolve_file(name, bench, Path(path), split)
        fmt = bench.format
        records = read_records(file, fmt.container, csv_columns=_csv_columns(fmt))
        return _parse_all(name, bench, fmt, records, split, str(file))
    if bench.hub is None:
        raise ValueError(f"{name}: no hub copy with a known schema; pass path= (a file or the folder holding "
                         f"{', '.join(bench.files.values())})" + (f"; {bench.where}" if bench.where else ""))
    source, records = _hub_records(name, bench.hub, split)
    return _parse_all(name, bench, bench.hub.format, records, split, source)
