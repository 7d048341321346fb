"""The difficulty filter (docs/method.md §1.3): difficulty by hand, a seeded draw that keeps hard questions."""
from mind_lib.params.world import WorldParams
from mind_lib.difficulty import difficulty_histogram, question_difficulty, select_questions
from mind_lib.rationales import make_row
from mind_lib.styles import PARADIGMS
from mind_lib.tasks.world import generate_world
from mind_lib.teachers.builtin import BuiltinTeacher

WORLD = generate_world(WorldParams(n_train=400, n_feedback=5, n_test=5, n_general_train=5, n_general_test=5))


def rows_for(examples, error_rate=0.15):
    out = []
    for p in PARADIGMS:
        t = BuiltinTeacher(f"t.{p}", p, error_rate)
        out += [make_row(e, t.name, p, 0, t.write(e, 0, 0)[0], {}) for e in examples]
    return out


def test_difficulty_counts_dropped_trajectories_and_extra_steps():
    examples = WORLD["train"][:50]
    rows = rows_for(examples)
    d = question_difficulty(examples, rows)
    fewest = min(len(e.meta["steps"]) for e in examples)
    for e in examples:
        mine = [r for r in rows if r["question_id"] == e.id]
        failed = sum(not r["correct"] for r in mine)
        assert d[e.id] == {"failed": failed, "survivors": len(mine) - failed, "steps": len(e.meta["steps"]),
                           "difficulty": failed + len(e.meta["steps"]) - fewest}


def test_selection_is_seeded_keeps_n_and_favours_hard_questions():
    examples = WORLD["train"]
    d = question_difficulty(examples, rows_for(examples))
    kept = select_questions(d, 100, seed=0)
    assert len(kept) == 100 and kept == select_questions(d, 100, seed=0) != select_questions(d, 100, seed=1)
    assert all(d[q]["survivors"] >= 2 for q in kept)
    mean = lambda ids: sum(d[q]["difficulty"] for q in ids) / len(ids)  # noqa: E731
    assert mean(kept) > mean(list(d)) + 0.3  # hard questions kept, easy ones downsampled
    assert 0 in difficulty_histogram(d, kept)  # ...but not removed altogether
    assert sum(difficulty_histogram(d).values()) == len(examples)


def test_questions_without_two_survivors_are_never_kept():
    examples = WORLD["train"][:30]
    d = question_difficulty(examples, rows_for(examples, error_rate=0.6))
    few = {q for q, v in d.items() if v["survivors"] < 2}
    assert few and not few & set(select_questions(d, 1000, seed=0))
