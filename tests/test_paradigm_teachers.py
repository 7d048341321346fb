"""Model teachers writing the eight reasoning paradigms: one prompt per paradigm (mind_lib.teachers.prompts),
one teacher per paradigm from one spec (the model or client shared), resumable and stale-aware collection."""
from __future__ import annotations

import pytest

from mind_lib.answers import extract_answer
from mind_lib.collect import collect
from mind_lib.params.collect import TeacherSpec
from mind_lib.rationales import load_rationales
from mind_lib.styles import PARADIGMS
from mind_lib.teachers import prompts
from mind_lib.teachers.registry import build_teachers
from tests.test_teacher_hf import EXAMPLES as HF_EXAMPLES
from tests.test_teacher_hf import _save_tiny_model
from tests.test_teacher_openai import EXAMPLES, FAST, _local_only, server  # noqa: F401  (fixtures)

THREE = ["formal", "socratic", "contrastive"]


# ---------------------------------------------------------------------------------------- prompts


def test_every_paradigm_has_its_own_prompt_keeping_the_answer_line():
    assert set(prompts.PARADIGM_INSTRUCTIONS) == set(PARADIGMS)
    example = EXAMPLES[0]
    systems = {p: prompts.build_messages(example, p)[0]["content"] for p in PARADIGMS}
    assert len(set(systems.values())) == len(PARADIGMS)
    for p, system in systems.items():
        assert system.startswith(prompts.PARADIGM_INSTRUCTIONS[p])
        assert "'The answer is X.' where X is a number" in system and "The answer is 10." in system
        assert prompts.build_prompt(example, p).endswith(f"Q: {example.question}\nA:")
    # the plain prompt is the one model teachers always had
    assert prompts.build_messages(example) == prompts.build_messages(example, None)
    assert prompts.instruction("number").startswith("Solve the problem step by step")
    with pytest.raises(ValueError, match="unknown paradigm 'poetic'; allowed: formal, intuitive"):
        prompts.build_messages(example, "poetic")


def test_prompt_version_names_the_paradigm_and_follows_its_wording(monkeypatch):
    assert prompts.prompt_version() == prompts.PROMPT_VERSION
    versions = {p: prompts.prompt_version(p) for p in PARADIGMS}
    assert len(set(versions.values())) == len(PARADIGMS)
    assert all(v.startswith(f"{prompts.PROMPT_VERSION}/{p}-") for p, v in versions.items())
    monkeypatch.setitem(prompts.PARADIGM_INSTRUCTIONS, "socratic", "Ask yourself questions.")
    assert prompts.prompt_version("socratic") != versions["socratic"]
    assert prompts.prompt_version("formal") == versions["formal"]


# ---------------------------------------------------------------------------------------- params


def test_spec_accepts_paradigms_for_model_backends_and_checks_them():
    spec = TeacherSpec(name="t", backend="openai", model="m", paradigms=THREE)
    assert spec.paradigms == THREE
    with pytest.raises(ValueError, match="backend 'hf' needs 'path'"):
        TeacherSpec(name="t", backend="hf", paradigms=THREE)
    with pytest.raises(ValueError, match="teacher 't': give 'perspective' or 'paradigms', not both"):
        TeacherSpec(name="t", backend="openai", model="m", paradigms=THREE, perspective="p")
    with pytest.raises(ValueError, match=r"teacher 't': paradigms must be distinct names among formal.*'poetic'"):
        TeacherSpec(name="t", backend="hf", path="x", paradigms=["formal", "poetic"])


# ---------------------------------------------------------------------------------------- endpoint


def _endpoint_teachers(url: str):
    spec = TeacherSpec(name="ep", backend="openai", model="fake", base_url=url, paradigms=THREE,
                       temperature=0.8, options=FAST)
    return build_teachers(spec)


def test_endpoint_paradigm_teachers_send_their_paradigm_prompt(server, tmp_path):
    teachers = _endpoint_teachers(server.url)
    assert [(t.name, t.perspective) for t in teachers] == [(f"ep.{p}", p) for p in THREE]
    assert all(t.client is teachers[0].client for t in teachers)  # one client (one connection pool)
    path = tmp_path / "c.jsonl"
    result = collect(EXAMPLES, teachers, path, n_per_question=2, seed=3, batch_size=2, progress=False)
    assert result.complete and result.written == len(EXAMPLES) * len(THREE) * 2

    rows = load_rationales(path)
    assert sorted((r["question_id"], r["teacher"], r["perspective"], r["sample"]) for r in rows) == sorted(
        (e.id, f"ep.{p}", p, s) for e in EXAMPLES for p in THREE for s in range(2))
    assert all(r["correct"] == (r["gold"] == "7") and r["pred_answer"] == "7" for r in rows)
    # each paradigm's requests carry its instruction and only its own; its rows name its prompt
    for p in THREE:
        systems = {body["messages"][0]["content"] for body in server.requests
                   if prompts.PARADIGM_INSTRUCTIONS[p] in body["messages"][0]["content"]}
        assert systems == {prompts.build_messages(EXAMPLES[0], p)[0]["content"]}
        assert {r["run"]["prompt"] for r in rows if r["perspective"] == p} == {prompts.prompt_version(p)}
    assert len(server.requests) == len(EXAMPLES) * len(THREE)
    # each paradigm samples its own stream: one question, three seeds
    seeds = {b["seed"] for b in server.requests if b["messages"][-1]["content"] == EXAMPLES[0].question}
    assert len(seeds) == len(THREE)
    assert len({r["run"]["fingerprint"] for r in rows}) == len(THREE)


def test_endpoint_paradigms_resume_and_a_changed_prompt_marks_only_its_rows_stale(server, tmp_path, monkeypatch):
    path = tmp_path / "c.jsonl"
    down = EXAMPLES[1].question
    server.script[down] = [500] * 50  # every paradigm fails this question in the first run
    first = collect(EXAMPLES, _endpoint_teachers(server.url), path, 2, seed=0, batch_size=2, progress=False)
    assert first.missing == {f"ep.{p}": [EXAMPLES[1].id] for p in THREE}
    assert len(load_rationales(path)) == (len(EXAMPLES) - 1) * len(THREE) * 2

    server.script.clear()
    server.requests.clear()
    second = collect(EXAMPLES, _endpoint_teachers(server.url), path, 2, seed=0, batch_size=2, progress=False)
    assert second.complete and second.written == len(THREE) * 2 and second.resumed == first.written
    assert {b["messages"][-1]["content"] for b in server.requests} == {down}  # only what was missing

    monkeypatch.setitem(prompts.PARADIGM_INSTRUCTIONS, "socratic", "Ask yourself questions until it is clear.")
    server.requests.clear()
    third = collect(EXAMPLES, _endpoint_teachers(server.url), path, 2, seed=0, batch_size=2, progress=False)
    assert third.stale_moved == third.written == len(EXAMPLES) * 2
    stale = load_rationales(tmp_path / "c.stale.jsonl")
    assert {r["perspective"] for r in stale} == {"socratic"}
    assert all(b["messages"][0]["content"].startswith("Ask yourself questions") for b in server.requests)
    assert len(load_rationales(path)) == len(EXAMPLES) * len(THREE) * 2


# ---------------------------------------------------------------------------------------- local model


def test_local_model_loaded_once_writes_one_row_per_question_and_paradigm(tmp_path, monkeypatch):
    from mind_lib.teachers import hf

    folder = tmp_path / "tiny"
    _save_tiny_model(folder, chat_template=None)
    loads = []
    load = hf.AutoModelForCausalLM.from_pretrained
    monkeypatch.setattr(hf.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **kw: loads.append(a[0]) or load(*a, **kw))
    spec = TeacherSpec(name="tiny", backend="hf", path=str(folder), paradigms=["formal", "analogy"],
                       temperature=1.0, max_new_tokens=4, options={"dtype": "float32", "device_map": None})
    teachers = build_teachers(spec)
    assert len(loads) == 1  # one load for both paradigms
    assert teachers[0].model is teachers[1].model
    assert [(t.name, t.perspective) for t in teachers] == [("tiny.formal", "formal"), ("tiny.analogy", "analogy")]
    assert teachers[1].render(HF_EXAMPLES[0]) == prompts.build_prompt(HF_EXAMPLES[0], "analogy")

    path = tmp_path / "c.jsonl"
    result = collect(HF_EXAMPLES, teachers, path, n_per_question=1, seed=0, batch_size=4, progress=False)
    rows = load_rationales(path, allow_empty=True)
    assert result.complete and len(rows) == len(HF_EXAMPLES) * 2
    assert {(r["question_id"], r["perspective"]) for r in rows} == {
        (e.id, p) for e in HF_EXAMPLES for p in ("formal", "analogy")}
    assert {r["run"]["prompt"] for r in rows} == {prompts.prompt_version("formal"), prompts.prompt_version("analogy")}
    # the row scores what the tiny (random) model wrote, like any teacher's row
    assert all(r["pred_answer"] == extract_answer(r["rationale"], r["kind"]) for r in rows)
