"""Benchmark loaders on the real public files (../shared/data/benchmarks) and on broken copies."""
import csv
import json
import re
import sys
import types
from pathlib import Path

import pytest

from mind_lib.answers import answers_match, canonical_number, extract_answer
from mind_lib.io import DataError
from mind_lib.tasks.base import KINDS
from mind_lib.tasks.benchmarks import BENCHMARKS, load_benchmark

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "benchmarks"
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"public benchmark files not found at {DATA} "
                                                          "(../shared/data/benchmarks next to the repository)")
CASES = [(name, split) for name, b in BENCHMARKS.items() for split in b.files]


def count_records(path: Path) -> int:
    """Records in a file, counted without the loader: JSONL lines, a JSON list, or its "examples"."""
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:  # JSON lines (AQuA's test.json is JSONL too)
        return sum(1 for line in text.splitlines() if line.strip())
    return len(data["examples"] if isinstance(data, dict) else data)


@needs_data
@pytest.mark.parametrize("name,split", CASES)
def test_loads_every_record(name, split):
    bench = BENCHMARKS[name]
    if not (DATA / name / bench.files[split]).is_file():
        pytest.skip(f"{DATA / name / bench.files[split]} absent (GPQA is never there: see test_gpqa_*)")
    examples = load_benchmark(name, DATA / name, split)
    assert len(examples) == count_records(DATA / name / bench.files[split])
    assert len({e.id for e in examples}) == len(examples)
    for e in examples:
        assert e.kind == bench.kind and e.split == split and e.question.strip()
        if e.kind == "number":
            assert canonical_number(e.answer) == e.answer
        elif e.kind == "yesno":
            assert e.answer in ("yes", "no")
        elif e.kind == "choice":
            assert f"({e.answer}) " in e.question.split("\nAnswer Choices: ", 1)[1]
        else:
            assert e.answer and e.answer == e.answer.strip()


@needs_data
@pytest.mark.parametrize("split", ["train", "test"])
def test_gsm8k_gold_is_the_hashes_answer(split):
    path = DATA / "gsm8k" / f"{split}.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = load_benchmark("gsm8k", path, split)
    assert len(examples) == len(records)
    for rec, ex in zip(records, examples):
        after_hashes = rec["answer"].split("####")[-1].strip().replace(",", "")
        assert ex.answer == after_hashes
        assert ex.question == rec["question"].strip()
        assert extract_answer(rec["answer"], "number") == ex.answer  # the extractor reads GSM8K solutions


@needs_data
def test_gold_agrees_with_the_source_fields():
    """Each loader's gold equals what the source file states, read here independently."""
    svamp = json.loads((DATA / "svamp" / "SVAMP.json").read_text())
    assert [float(e.answer) for e in load_benchmark("svamp", DATA / "svamp")] == [r["Answer"] for r in svamp]
    arith = json.loads((DATA / "multiarith" / "MultiArith.json").read_text())
    assert [float(e.answer) for e in load_benchmark("multiarith", DATA / "multiarith")] == \
        [float(r["lSolutions"][0]) for r in arith]
    csqa = [json.loads(line) for line in (DATA / "commonsenseqa" / "dev_rand_split.jsonl").read_text().splitlines()]
    assert [e.answer for e in load_benchmark("commonsenseqa", DATA / "commonsenseqa")] == [r["answerKey"] for r in csqa]
    sqa = json.loads((DATA / "strategyqa" / "task.json").read_text())["examples"]
    assert [e.answer for e in load_benchmark("strategyqa", DATA / "strategyqa")] == \
        ["yes" if r["target_scores"]["Yes"] == 1 else "no" for r in sqa]


@needs_data
@pytest.mark.parametrize("name", ["date_understanding", "tracking_shuffled_objects"])
def test_bigbench_gold_letter_names_the_scored_option(name):
    records = json.loads((DATA / name / "task.json").read_text())["examples"]
    examples = load_benchmark(name, DATA / name)
    for rec, ex in zip(records, examples):
        right = next(k for k, v in rec["target_scores"].items() if v == 1)
        assert f"({ex.answer}) {right}" in ex.question
    assert load_benchmark(name, DATA / name) == examples  # any shuffle is deterministic
    assert len({e.answer for e in examples}) > 2  # Date: the correct option is not always (A)


@needs_data
def test_single_file_path_and_ids():
    aqua = load_benchmark("aqua", DATA / "aqua" / "test.json")
    assert aqua[0].id == "aqua-test-0" and aqua[0].question.count("(E)") == 1
    assert load_benchmark("svamp", DATA / "svamp")[0].id == "svamp-chal-1"
    last = load_benchmark("last_letters", DATA / "last_letters")
    assert last[0].kind == "text" and "text" in KINDS
    assert answers_match(extract_answer(f'The answer is "{last[0].answer}".', "text"), last[0].answer, "text")


@needs_data
def test_math500_gold_is_the_answer_field_and_its_boxed_solution_matches():
    path = DATA / "math500" / "test.jsonl"
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = load_benchmark("math500", DATA / "math500")
    assert len(examples) == len(records) == 500
    first = examples[0]
    assert first.id == "math500-test/precalculus/807.json" and first.kind == "math"
    assert first.answer == "\\left( 3, \\frac{\\pi}{2} \\right)" and first.question.startswith("Convert the point")
    assert [e.answer for e in examples] == [r["answer"] for r in records]  # the field as is
    # the extractor reads every solution's final \boxed{} and the checker accepts it as the gold
    for ex in examples:
        pred = extract_answer(ex.meta["solution"], "math")
        assert answers_match(pred, ex.answer, "math"), (ex.id, pred, ex.answer)
    assert not answers_match("\\left( 3, \\frac{\\pi}{3} \\right)", first.answer, "math")


# ------------------------------------------------------------------------------------------------
# GPQA-Diamond: a synthetic CSV with the official columns (never real GPQA text)

GPQA_COLUMNS = ["Pre-Revision Question", "Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2",
                "Incorrect Answer 3", "Explanation", "Subdomain", "Record ID", "High-level domain"]


def _gpqa_rows(n: int) -> list[dict]:
    return [{"Pre-Revision Question": "old", "Question": f"Synthetic question {i}?\nSecond line.",
             "Correct Answer": f" right {i} ", "Incorrect Answer 1": f"wrong {i}a", "Incorrect Answer 2": f"wrong {i}b",
             "Incorrect Answer 3": f"wrong {i}c", "Explanation": "because", "Subdomain": "Toy physics",
             "Record ID": f"recSYN{i:03d}", "High-level domain": "Physics"} for i in range(n)]


def _write_gpqa(path: Path, rows: list[dict], columns=GPQA_COLUMNS, encoding="utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_gpqa_options_shuffled_per_record_and_gold_letter(tmp_path):
    rows = _gpqa_rows(12)
    path = _write_gpqa(tmp_path / "gpqa_diamond.csv", rows, encoding="utf-8-sig")  # a spreadsheet's BOM
    examples = load_benchmark("gpqa_diamond", path)
    assert len(examples) == 12 and BENCHMARKS["gpqa_diamond"].kind == "choice"
    for i, ex in enumerate(examples):
        assert ex.id == f"gpqa_diamond-recSYN{i:03d}" and ex.kind == "choice"
        assert ex.question.startswith(f"Synthetic question {i}?\nSecond line.\nAnswer Choices: (A) ")
        options = ex.question.split("\nAnswer Choices: ", 1)[1]
        assert f"({ex.answer}) right {i}" in options and options.count("(") == 4 and "(E)" not in options
        assert ex.meta["subdomain"] == "Toy physics" and ex.meta["line"] == 2 + 2 * i  # two-line questions
    assert len({e.answer for e in examples}) > 1  # the correct answer, listed first in the file, moves
    # seeded by the record id: the same letters in a reordered, shorter file, and in every load
    again = {e.id: e for e in load_benchmark("gpqa_diamond", _write_gpqa(tmp_path / "other.csv", rows[::-2]))}
    assert len(again) == 6
    assert all(again[e.id].question == e.question and again[e.id].answer == e.answer for e in examples if e.id in again)
    assert load_benchmark("gpqa_diamond", tmp_path / "gpqa_diamond.csv") == examples
    assert load_benchmark("gpqa_diamond", tmp_path)[0] == examples[0]  # the folder layout finds the file


def test_gpqa_needs_a_path(tmp_path):
    with pytest.raises(ValueError, match="gpqa_diamond: no hub copy.*pass path=.*gpqa_diamond.csv.*password-protected"):
        load_benchmark("gpqa_diamond")
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'gpqa_diamond.csv'}: no such file")):
        load_benchmark("gpqa_diamond", tmp_path / "gpqa_diamond.csv")


def test_gpqa_missing_column_names_file_and_column(tmp_path):
    columns = [c for c in GPQA_COLUMNS if c != "Incorrect Answer 2"]
    path = _write_gpqa(tmp_path / "gpqa_diamond.csv", _gpqa_rows(2), columns)
    with pytest.raises(DataError, match="field 'Incorrect Answer 2': missing column") as err:
        load_benchmark("gpqa_diamond", path)
    assert str(err.value).startswith(f"{path}:1:")


@pytest.mark.parametrize("change,where", [
    ({"Incorrect Answer 3": "  "}, ":4: field 'Incorrect Answer 3': expected a non-empty string"),
    ({"Incorrect Answer 1": "right 1"}, ":4: field 'Correct Answer': the correct answer 'right 1'"
                                        " is more than once among the options"),
    ({"Question": ""}, ":4: field 'Question'"),
    ({"Record ID": "recSYN000"}, ":4: field 'Record ID': duplicate id 'gpqa_diamond-recSYN000' (first at 2)"),
])
def test_gpqa_bad_cells_name_file_line_field(tmp_path, change, where):
    rows = _gpqa_rows(2)
    rows[1].update(change)
    path = _write_gpqa(tmp_path / "gpqa_diamond.csv", rows)
    with pytest.raises(DataError) as err:
        load_benchmark("gpqa_diamond", path)
    assert f"{path}{where}" in str(err.value)


# ------------------------------------------------------------------------------------------------
# bad input: the message names the file, the line (or record position) and the field

def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD_GSM8K = json.dumps({"question": "Q?", "answer": "1 + 1 = 2\n#### 2"})


@pytest.mark.parametrize("name,file,text,where", [
    ("gsm8k", "test.jsonl", GOOD_GSM8K + "\n{\"question\": \"Q?\", \"answer\": \n", ":2:"),
    ("gsm8k", "test.jsonl", GOOD_GSM8K + "\n" + json.dumps({"answer": "#### 3"}) + "\n", ":2: field 'question'"),
    ("gsm8k", "test.jsonl", GOOD_GSM8K + "\n" + json.dumps({"question": "Q?", "answer": "#### many"}) + "\n",
     ":2: field 'answer'"),
    ("gsm8k", "test.jsonl", GOOD_GSM8K + "\n" + json.dumps({"question": "Q?", "answer": "no hashes"}) + "\n",
     ":2: field 'answer'"),
    ("svamp", "SVAMP.json", json.dumps([{"ID": "a", "Body": "B", "Question": "Q?", "Answer": 1.0},
                                        {"ID": "b", "Body": "B", "Question": "Q?", "Answer": "lots"}]),
     ":2: field 'Answer'"),
    ("multiarith", "MultiArith.json", json.dumps([{"iIndex": 0, "sQuestion": "Q?", "lSolutions": []}]),
     ":1: field 'lSolutions.0'"),
    ("aqua", "test.json", json.dumps({"question": "Q?", "options": ["A)1", "B)2"], "correct": "C"}),
     ":1: field 'correct'"),
    ("coin_flip", "coin_flip.json", json.dumps({"examples": [{"question": "Q?", "answer": "yes"},
                                                             {"question": "Q?", "answer": "maybe"}]}),
     ":2: field 'answer'"),
    ("tracking_shuffled_objects", "task.json",
     json.dumps({"examples": [{"input": "Q?", "target_scores": {"x": 1, "y": 0}}, {"input": "Q?"}]}),
     ":2: field 'target_scores'"),
    ("strategyqa", "task.json", json.dumps({"examples": [{"input": "Q?", "target_scores": {"Yes": 1, "No": 1}}]}),
     ":1: field 'target_scores'"),
    ("strategyqa", "task.json", json.dumps([{"input": "Q?"}]), ":1: field 'examples'"),
])
def test_bad_records_name_file_line_field(tmp_path, name, file, text, where):
    path = _write(tmp_path, file, text)
    with pytest.raises(DataError) as err:
        load_benchmark(name, tmp_path)
    assert f"{path}{where}" in str(err.value) and str(err.value).count(str(path)) == 1


@pytest.mark.parametrize("name,file,text", [
    ("gsm8k", "test.jsonl", ""),
    ("gsm8k", "test.jsonl", "\n\n"),
    ("svamp", "SVAMP.json", "[]"),
    ("coin_flip", "coin_flip.json", json.dumps({"examples": []})),
    ("math500", "test.jsonl", ""),
    ("gpqa_diamond", "gpqa_diamond.csv", ",".join(GPQA_COLUMNS) + "\n"),
    ("gpqa_diamond", "gpqa_diamond.csv", ""),
])
def test_empty_file_is_an_error_naming_it(tmp_path, name, file, text):
    path = _write(tmp_path, file, text)
    with pytest.raises(DataError, match=f"no records: an empty {name} suite") as err:
        load_benchmark(name, tmp_path)
    assert str(err.value).startswith(f"{path}: ")


def test_unknown_benchmark_lists_known_names():
    with pytest.raises(ValueError, match="unknown benchmark 'gsm9k'; known: gsm8k, svamp, .*last_letters"):
        load_benchmark("gsm9k", "anywhere")


def test_unknown_split_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="no split 'validation'.*available: test"):
        load_benchmark("svamp", tmp_path, split="validation")
    with pytest.raises(FileNotFoundError, match="SVAMP.json"):
        load_benchmark("svamp", tmp_path)


# ------------------------------------------------------------------------------------------------
# the hub path, with datasets.load_dataset replaced (tests never download)

@pytest.fixture
def fake_hub(monkeypatch):
    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return [{"question": "Tom has 3 apples and buys 4. How many?", "answer": "3 + 4 = 7\n#### 7"},
                {"question": "Big?", "answer": "#### 1,000"}]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return calls


def test_hub_path_uses_known_id(fake_hub):
    examples = load_benchmark("gsm8k", split="test")
    assert fake_hub == [("openai/gsm8k", "main", "test")]
    assert [e.answer for e in examples] == ["7", "1000"] and examples[0].id == "gsm8k-test-0"


def test_hub_errors(fake_hub):
    with pytest.raises(ValueError, match="addsub: no hub copy.*pass path="):
        load_benchmark("addsub")
    with pytest.raises(DataError, match=r"hf://tau/commonsense_qa:validation:1: field 'choices'"):
        load_benchmark("commonsenseqa")  # the fake rows lack CommonsenseQA's fields
    assert fake_hub == [("tau/commonsense_qa", None, "validation")]


def test_math500_hub_id(fake_hub):
    with pytest.raises(DataError, match=r"hf://HuggingFaceH4/MATH-500:test:1: field 'problem'"):
        load_benchmark("math500")
    assert fake_hub == [("HuggingFaceH4/MATH-500", None, "test")]
