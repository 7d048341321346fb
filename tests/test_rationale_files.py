"""Loaders of the real multi-teacher rationale files (../shared/data/rationales) and of broken copies."""
import json
from collections import defaultdict
from pathlib import Path

import pytest

from mind_lib.io import DataError, check_fields, write_jsonl
from mind_lib.rationales import RATIONALE_FIELDS, load_rationales
from mind_lib.tasks.rationale_files import (LEVEL_FILE, RATIONALE_SOURCES, load_public_rationales,
                                            load_svamp_3sample, load_svamp_levels)

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
LEVELS = DATA / "rationales" / "svamp_multiteacher_levels"
THREE = DATA / "rationales" / "svamp_3sample"
needs_data = pytest.mark.skipif(not LEVELS.is_dir() or not THREE.is_dir(),
                                reason=f"public rationale files not found under {DATA / 'rationales'} "
                                       "(../shared/data next to the repository)")


SVAMP_JSON = DATA / "benchmarks" / "svamp" / "SVAMP.json"


@pytest.fixture(scope="module")
def levels():
    return load_svamp_levels(LEVELS, svamp_json=SVAMP_JSON)


@pytest.fixture(scope="module")
def three():
    return load_svamp_3sample(THREE, svamp_json=SVAMP_JSON)


def correctness(rows, key):
    by = defaultdict(list)
    for r in rows:
        by[r[key]].append(r["correct"])
    return {k: (sum(v) / len(v), len(v)) for k, v in sorted(by.items())}


def check_rows(examples, rows, tmp_path):
    """Schema, question ids, and the round trip through ``load_rationales`` (which rejects duplicates)."""
    by_id = {e.id: e for e in examples}
    assert len(by_id) == len(examples)
    for i, row in enumerate(rows):
        check_fields(row, RATIONALE_FIELDS, "rows", i)
        assert set(row) == set(RATIONALE_FIELDS)
        ex = by_id[row["question_id"]]
        assert (row["question"], row["gold"], row["kind"]) == (ex.question, ex.answer, ex.kind)
        assert row["run"]["backend"] == "file" and not Path(row["run"]["source"]).is_absolute()
    assert load_rationales(write_jsonl(tmp_path / "rows.jsonl", rows)) == rows


@needs_data
def test_levels_rows(levels, tmp_path):
    examples, rows = levels
    files = sorted(f for f in LEVELS.iterdir() if LEVEL_FILE.fullmatch(f.name))
    assert len(files) == 16
    assert len(rows) == sum(len(json.loads(f.read_text(encoding="utf-8"))) for f in files)
    assert len(examples) == len(json.loads((LEVELS / "SVAMP_only_ans.json").read_text(encoding="utf-8")))
    check_rows(examples, rows, tmp_path)
    levels_per_teacher = {"chatgpt": 6, "gemini": 6, "llama": 4}
    assert {r["perspective"] for r in rows} == {f"{t}-L{n}" for t, top in levels_per_teacher.items()
                                                for n in range(1, top + 1)}
    assert all(r["sample"] == 0 and r["perspective"] == f"{r['teacher']}-L{r['run']['level']}" for r in rows)


@needs_data
def test_levels_match_rate_and_svamp_link(levels):
    """Every rationale's question is found in the gold file (the loader is strict) and in SVAMP.json."""
    examples, rows = levels
    linked = sum("svamp_id" in e.meta for e in examples)
    print(f"\nsvamp levels: {len(rows)} rows of {len(examples)} questions; "
          f"{linked}/{len(examples)} linked to SVAMP.json")
    assert linked == len(examples)
    assert len({e.meta["svamp_id"] for e in examples}) == len(examples)


@needs_data
def test_levels_correctness_plausible(levels):
    _, rows = levels
    per_teacher = correctness(rows, "teacher")
    per_perspective = correctness(rows, "perspective")
    print("\nper teacher:", {k: f"{a:.3f} of {n}" for k, (a, n) in per_teacher.items()})
    print("per perspective:", {k: f"{a:.3f}" for k, (a, n) in per_perspective.items()})
    assert set(per_teacher) == {"chatgpt", "gemini", "llama"}
    assert all(rate > 0.9 for rate, _ in per_teacher.values())
    assert all(rate > 0.8 for rate, _ in per_perspective.values())
    assert sum(r["pred_answer"] is None for r in rows) < 0.01 * len(rows)  # they end on "The answer is N"


@needs_data
def test_three_sample_rows(three, tmp_path):
    examples, rows = three
    records = json.loads((THREE / "svamp_3_train.json").read_text(encoding="utf-8"))
    assert len(rows) == len(records) and len(examples) == len({" ".join(r["input"].split()) for r in records})
    check_rows(examples, rows, tmp_path)
    samples = defaultdict(list)
    for r in rows:
        samples[r["question_id"]].append(r["sample"])
    assert all(s == [0, 1, 2] for s in samples.values())
    assert [e.answer for e in examples][:2] == [records[0]["answer"], records[3]["answer"]]
    assert all("svamp_id" in e.meta for e in examples)  # every question is an SVAMP question


@needs_data
def test_three_sample_correctness(three):
    """The chains state no "The answer is N": strict extraction finds almost nothing, the opt-in
    last-number reading scores them; ``initial_correct`` (True on every row) is not trusted."""
    _, rows = three
    strict = load_svamp_3sample(THREE, answer_fallback=False).rows
    rate = sum(r["correct"] for r in rows) / len(rows)
    strict_none = sum(r["pred_answer"] is None for r in strict) / len(strict)
    print(f"\nsvamp 3-sample: correct {rate:.3f} with the last-number fallback; strict reading finds no answer "
          f"in {strict_none:.3f} of {len(strict)} chains")
    assert 0.5 < rate < 1.0
    assert strict_none > 0.9
    assert {r["run"]["answer_extraction"] for r in rows} == {"last_number_fallback"}


def test_dispatch_and_unknown_source(tmp_path):
    assert set(RATIONALE_SOURCES) == {"svamp_levels", "svamp_3sample"}
    with pytest.raises(ValueError, match="unknown rationale source 'gsm8k'; known: svamp_levels, svamp_3sample"):
        load_public_rationales("gsm8k", tmp_path)


# ------------------------------------------------------------------------------------------------
# bad input: the message names the file, the record and the field

def _levels_folder(tmp_path, level_records, gold=None):
    gold = gold or [{"instruction": "Tom has 3 apples. How many?", "output": "3"}]
    (tmp_path / "SVAMP_only_ans.json").write_text(json.dumps(gold), encoding="utf-8")
    path = tmp_path / "SVAMP_ChatGPT_level2_ranked.json"
    path.write_text(json.dumps(level_records), encoding="utf-8")
    return path


def test_levels_small_folder(tmp_path):
    _levels_folder(tmp_path, [{"instruction": " Tom has  3 apples.\nHow many?", "output": "So 3. The answer is 3"}])
    examples, rows = load_public_rationales("svamp_levels", tmp_path)
    assert [(r["teacher"], r["perspective"], r["sample"], r["correct"]) for r in rows] == \
        [("chatgpt", "chatgpt-L2", 0, True)]
    assert examples[0].question == "Tom has 3 apples. How many?" and rows[0]["question_id"] == examples[0].id
    assert rows[0]["run"]["source"] == f"{tmp_path.name}/SVAMP_ChatGPT_level2_ranked.json"


@pytest.mark.parametrize("records,where", [
    ([{"instruction": "Tom has 3 apples. How many?"}], ":1: field 'output'"),
    ([{"instruction": "Tom has 3 apples. How many?", "output": "3"}, {"instruction": "Unknown?", "output": "4"}],
     ":2: field 'instruction'"),
    ([{"instruction": "Tom has 3 apples. How many?", "output": "3"}] * 2, ":2: field 'instruction'"),
])
def test_levels_bad_records(tmp_path, records, where):
    path = _levels_folder(tmp_path, records)
    with pytest.raises(DataError) as err:
        load_svamp_levels(tmp_path)
    assert f"{path}{where}" in str(err.value)


def test_levels_unmatched_question_skipped_when_not_strict(tmp_path):
    _levels_folder(tmp_path, [{"instruction": "Unknown?", "output": "The answer is 4"},
                              {"instruction": "Tom has 3 apples. How many?", "output": "The answer is 3"}])
    assert len(load_svamp_levels(tmp_path, strict=False).rows) == 1


def test_levels_non_numeric_gold(tmp_path):
    _levels_folder(tmp_path, [], gold=[{"instruction": "Q?", "output": "three"}])
    with pytest.raises(DataError, match=r"SVAMP_only_ans.json:1: field 'output'"):
        load_svamp_levels(tmp_path)


CHAIN = {"input": "Q?", "chain": "3", "answer": "3"}


@pytest.mark.parametrize("records,where", [
    ([{"input": "Q?", "chain": "3"}], ":1: field 'answer'"),  # missing
    ([CHAIN, {**CHAIN, "answer": "x"}], ":2: field 'answer'"),  # not a number
    ([CHAIN, {**CHAIN, "answer": "4"}], ":2: field 'answer'"),  # another gold for the same question
])
def test_three_sample_bad_records(tmp_path, records, where):
    path = tmp_path / "svamp_3_train.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_svamp_3sample(tmp_path)
    assert f"{path}{where}" in str(err.value)


def test_svamp_link_and_gold_disagreement(tmp_path):
    svamp = tmp_path / "SVAMP.json"
    record = {"ID": "chal-9", "Body": "Tom has 3 apples.", "Question": "How many?", "Answer": 3.0}
    svamp.write_text(json.dumps([record]), encoding="utf-8")
    _levels_folder(tmp_path, [])
    assert load_svamp_levels(tmp_path, svamp_json=svamp).examples[0].meta["svamp_id"] == "svamp-chal-9"
    svamp.write_text(json.dumps([{**record, "Answer": 4.0}]), encoding="utf-8")
    with pytest.raises(DataError, match=r"SVAMP_only_ans.json:1: field 'output': gold 3 differs from SVAMP's 4"):
        load_svamp_levels(tmp_path, svamp_json=svamp)
