"""The optional LLM judge (mind_lib.judge) in the collect stage, against the fake OpenAI-compatible server:
verdicts filter the training files, collected.jsonl stays raw, verdicts are cached and resumed."""
from __future__ import annotations

import pytest
import yaml

from mind_lib.collect import run_collection
from mind_lib.io import find_repo_root, read_jsonl
from mind_lib.judge import JUDGE_SYSTEM, JUDGED_FILE, judge_request, parse_verdict
from mind_lib.rationales import load_rationales
from tests.test_collect_backends import params_and_world
from tests.test_teacher_openai import FAST, _local_only, server  # noqa: F401  (fixtures)


@pytest.mark.parametrize("reply, verdict", [("yes", "yes"), ("Yes.", "yes"), ("  NO, it says 12", "no"),
                                            ("no", "no"), ("The answer is yes", "unclear"), ("yesterday", "unclear"),
                                            ("", "unclear")])
def test_verdict_is_the_first_word(reply, verdict):
    assert parse_verdict(reply) == verdict


def _stage(tmp_path, monkeypatch, server, keep="correct", judge=True):
    raw = yaml.safe_load((find_repo_root() / "params.yaml").read_text())
    raw["world"].update(n_train=6, n_feedback=2)
    raw["collect"].update(n_per_question=2, keep=keep, difficulty=None, batch_size=4,
                          teachers=[{"name": "expert", "backend": "builtin", "style": "expert"}],
                          judge={"model": "judge-model", "base_url": server.url,
                                 "options": {**FAST, "max_retries": 1}} if judge else None)
    tmp_path.mkdir(parents=True, exist_ok=True)
    return params_and_world(raw, tmp_path, monkeypatch)


def _responder(rejected: str, unclear: str):
    """The judge says no to one question's rationales, rambles on another's, yes to the rest."""
    def reply(body):
        text = body["messages"][-1]["content"]
        return "No." if f"Question:\n{rejected}\n" in text else "Let me think." if f"Question:\n{unclear}\n" in text \
            else "Yes"
    return reply


def test_judge_rejections_leave_the_training_files_and_verdicts_are_cached(tmp_path, monkeypatch, server):
    params, paths, world = _stage(tmp_path, monkeypatch, server)
    rejected, unclear = world["train"][0], world["train"][1]
    server.responder = _responder(rejected.question, unclear.question)
    result, rows = run_collection(params, paths, progress=False)
    assert result.complete and len(rows) == 8 * 2 and len(server.requests) == 16  # the expert is never wrong
    assert all(b["messages"][0]["content"] == JUDGE_SYSTEM and b["temperature"] == 0 and b["model"] == "judge-model"
               for b in server.requests)

    # collected.jsonl is what the teacher wrote; the returned rows carry the verdicts
    assert all(r["correct"] and "judge" not in r for r in load_rationales(paths.rationales / "collected.jsonl"))
    verdicts = {r["question_id"]: r["judge"]["verdict"] for r in rows}
    assert verdicts[rejected.id] == "no" and verdicts[unclear.id] == "unclear"
    assert {v for q, v in verdicts.items() if q not in (rejected.id, unclear.id)} == {"yes"}
    assert [r["correct"] for r in rows] == [verdicts[r["question_id"]] == "yes" for r in rows]
    assert all(r["judge"]["model"] == "judge-model" for r in rows)
    train = load_rationales(paths.rationales / "train.jsonl")
    assert {r["question_id"] for r in train} == {e.id for e in world["train"][2:]}
    # the judge read the question, the gold answer and the rationale
    body = server.requests[0]["messages"][-1]["content"]
    assert any(f"Reference answer: {r['gold']}" in body and r["rationale"] in body for r in rows)

    cached = read_jsonl(paths.rationales / JUDGED_FILE)
    assert len(cached) == 16 and {c["reply"] for c in cached} == {"No.", "Let me think.", "Yes"}
    server.requests.clear()
    again, rows_again = run_collection(params, paths, progress=False)  # a rerun asks nothing again
    assert server.requests == [] and rows_again == rows and again.written == 0
    assert len(read_jsonl(paths.rationales / JUDGED_FILE)) == 16


def test_keep_all_shows_the_verdict_and_judge_off_is_the_gold_check(tmp_path, monkeypatch, server):
    params, paths, world = _stage(tmp_path, monkeypatch, server, keep="all")
    server.responder = _responder(world["train"][0].question, "-")
    run_collection(params, paths, progress=False)
    train = load_rationales(paths.rationales / "train.jsonl")
    assert len(train) == 12
    assert {(r["question_id"] == world["train"][0].id, r["correct"], r["judge"]["verdict"]) for r in train} == {
        (True, False, "no"), (False, True, "yes")}

    params, paths, _ = _stage(tmp_path / "off", monkeypatch, server, judge=False)
    server.requests.clear()
    _, rows = run_collection(params, paths, progress=False)
    assert server.requests == [] and all(r["correct"] and "judge" not in r for r in rows)
    assert not (paths.rationales / JUDGED_FILE).exists()


def test_failed_verdicts_fail_the_stage_and_the_next_run_asks_only_for_them(tmp_path, monkeypatch, server):
    params, paths, world = _stage(tmp_path, monkeypatch, server)
    server.responder = _responder("-", "-")
    judge, params.collect.judge = params.collect.judge, None
    _, rows = run_collection(params, paths, progress=False)  # the rationales, so the failing requests are known
    params.collect.judge = judge
    down = world["feedback"][0]
    for r in rows:
        if r["question_id"] == down.id:
            server.script[judge_request(r)] = [500] * 10
    with pytest.raises(RuntimeError, match=r"collect.judge: 2 of 16 rationales got no verdict.*judged.jsonl"):
        run_collection(params, paths, progress=False)
    assert len(read_jsonl(paths.rationales / JUDGED_FILE)) == 14
    # the split files still hold the unjudged rows of the run without a judge: nothing half-judged is written
    assert all("judge" not in r for r in load_rationales(paths.rationales / "train.jsonl"))

    server.script.clear()
    server.requests.clear()
    _, rows = run_collection(params, paths, progress=False)
    assert len(server.requests) == 2 and all(r["judge"]["verdict"] == "yes" for r in rows)
    assert len(load_rationales(paths.rationales / "train.jsonl")) == 12


def test_unknown_judge_option_names_the_key(tmp_path, monkeypatch, server):
    params, paths, _ = _stage(tmp_path, monkeypatch, server)
    params.collect.judge.options["temprature"] = 0.5
    with pytest.raises(ValueError, match=r"collect.judge.*unknown option.*temprature.*allowed.*max_new_tokens"):
        run_collection(params, paths, progress=False)
