"""Collection: n rows per (question, teacher), exact resume after a crash or a kill, nothing lost."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from mind_lib.collect import collect, collection_metrics, run_collection
from mind_lib.params.world import WorldParams
from mind_lib.params.all import load_params
from mind_lib.io import DataError, Paths, find_repo_root
from mind_lib.rationales import load_rationales
from mind_lib.tasks.world import generate_world, save_world
from mind_lib.teachers.builtin import BuiltinTeacher

EXAMPLES = generate_world(WorldParams(n_train=60, n_feedback=5, n_test=5, n_general_train=5,
                                      n_general_test=5))["train"]


def teachers():
    return [BuiltinTeacher("eq", "equation", 0.1), BuiltinTeacher("ex", "expert", 0.1)]


class CrashingTeacher(BuiltinTeacher):
    """Behaves like its parent (same name, same provenance) but dies on call ``crash_at``."""

    def __init__(self, *a, crash_at: int, **kw):
        super().__init__(*a, **kw)
        self.calls, self.crash_at = 0, crash_at

    def generate(self, examples, n, seed):
        self.calls += 1
        if self.calls == self.crash_at:
            raise RuntimeError("simulated crash")
        return super().generate(examples, n, seed)


class PatchyTeacher(BuiltinTeacher):
    """An endpoint that keeps failing some questions: returns None for them."""

    def generate(self, examples, n, seed):
        out = super().generate(examples, n, seed)
        return [None if int(e.id.split("-")[1]) % 7 == 0 else o for e, o in zip(examples, out)]


@pytest.fixture
def reference(tmp_path):
    path = tmp_path / "reference.jsonl"
    collect(EXAMPLES, teachers(), path, n_per_question=2, seed=0, batch_size=8, progress=False)
    return path.read_bytes()


def test_rows_per_question_and_teacher(tmp_path, reference):
    rows = load_rationales(tmp_path / "reference.jsonl")
    assert len(rows) == len(EXAMPLES) * 2 * 2
    assert {r["perspective"] for r in rows} == {"equation", "expert"}
    assert all(r["run"]["backend"] == "builtin" and r["run"]["fingerprint"] for r in rows)


def test_resume_after_crash_gives_the_uninterrupted_file(tmp_path, reference):
    path = tmp_path / "c.jsonl"
    crashing = [BuiltinTeacher("eq", "equation", 0.1), CrashingTeacher("ex", "expert", 0.1, crash_at=3)]
    with pytest.raises(RuntimeError, match="simulated crash"):
        collect(EXAMPLES, crashing, path, 2, 0, batch_size=8, progress=False)
    partial = len(load_rationales(path))
    assert 0 < partial < len(EXAMPLES) * 4
    result = collect(EXAMPLES, teachers(), path, 2, 0, batch_size=8, progress=False)
    assert result.resumed == partial and result.written == len(EXAMPLES) * 4 - partial
    assert path.read_bytes() == reference


def test_resume_after_kill_9_gives_the_uninterrupted_file(tmp_path, reference):
    path = tmp_path / "k.jsonl"
    script = textwrap.dedent(f"""
        import time
        from tests.test_collect import EXAMPLES, teachers
        from mind_lib.collect import collect
        slow = teachers()
        for t in slow:
            inner = t.generate
            t.generate = lambda ex, n, seed, inner=inner: (time.sleep(0.2), inner(ex, n, seed))[1]
        collect(EXAMPLES, slow, {str(path)!r}, 2, 0, batch_size=2, progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=find_repo_root())
    deadline = time.time() + 60
    while time.time() < deadline and (not path.exists() or path.read_bytes().count(b"\n") < 12):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "collection finished before it could be killed"
    with open(path, "ab") as f:  # as if the kill had landed mid-write
        f.write(b'{"question_id": "train-9", "teach')
    collect(EXAMPLES, teachers(), path, 2, 0, batch_size=8, progress=False)
    assert path.read_bytes() == reference


def test_failed_questions_are_reported_then_collected_next_run(tmp_path, reference):
    path = tmp_path / "p.jsonl"
    first = collect(EXAMPLES, [BuiltinTeacher("eq", "equation", 0.1), PatchyTeacher("ex", "expert", 0.1)],
                    path, 2, 0, batch_size=8, progress=False)
    assert not first.complete
    assert first.missing["ex"] == [e.id for e in EXAMPLES if int(e.id.split("-")[1]) % 7 == 0]
    second = collect(EXAMPLES, teachers(), path, 2, 0, batch_size=8, progress=False)
    assert second.complete and second.written == 2 * len(first.missing["ex"])
    # same rows as an uninterrupted run (the late ones at the end), none duplicated
    assert sorted(path.read_bytes().splitlines()) == sorted(reference.splitlines())


def test_changed_questions_or_teachers_move_rows_aside_not_away(tmp_path, reference):
    path = tmp_path / "s.jsonl"
    path.write_bytes(reference)
    changed = [BuiltinTeacher("eq", "equation", 0.1), BuiltinTeacher("ex", "expert", 0.2)]  # new error rate
    result = collect(EXAMPLES, changed, path, 2, 0, batch_size=8, progress=False)
    assert result.stale_moved == len(EXAMPLES) * 2
    stale = load_rationales(tmp_path / "s.stale.jsonl")
    assert {r["teacher"] for r in stale} == {"ex"} and len(stale) == len(EXAMPLES) * 2
    assert len(load_rationales(path)) == len(EXAMPLES) * 4


def test_malformed_line_is_an_error_naming_file_and_line(tmp_path, reference):
    path = tmp_path / "m.jsonl"
    lines = reference.splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]) + b"{not json}\n" + b"".join(lines[3:]))
    with pytest.raises(DataError, match=r"m.jsonl:4: not valid JSON"):
        collect(EXAMPLES, teachers(), path, 2, 0, progress=False)
    path.write_bytes(lines[0].replace(b'"correct": ', b'"korrect": '))
    with pytest.raises(DataError, match=r"m.jsonl:1: field 'correct': missing"):
        collect(EXAMPLES, teachers(), path, 2, 0, progress=False)


def test_stage_writes_filtered_splits_and_metrics(tmp_path):
    params = load_params(profile="smoke")
    paths = Paths(tmp_path)
    save_world(generate_world(params.world), paths.world)
    result, rows = run_collection(params, paths, progress=False)
    n_questions = params.world.n_train + params.world.n_feedback
    paradigms = params.collect.teachers[0].paradigms  # one teacher writing every paradigm
    assert len(rows) == n_questions * len(paradigms) * params.collect.n_per_question
    train = load_rationales(paths.rationales / "train.jsonl")
    assert train and all(r["correct"] for r in train)  # keep: correct
    kept = set(result.selection["kept"])  # the difficulty filter's questions, and only theirs
    assert len(kept) == params.collect.difficulty.n_questions and {r["question_id"] for r in train} == kept
    assert len(train) == sum(r["correct"] for r in rows if r["question_id"] in kept)
    metrics = collection_metrics(params.profile, rows, result.selection, train)
    assert metrics["questions"] == n_questions and metrics["difficulty_filter"]["kept"] == len(kept)
    assert set(metrics["teachers"]) == {f"teacher.{p}" for p in paradigms}
    assert sum(metrics["train_trajectories"].values()) == len(train)
    again, _ = run_collection(params, paths, progress=False)  # a rerun is a no-op
    assert again.written == 0 and again.resumed == len(rows)
