"""Built-in teachers: five distinct styles, honoured error rates, no leaked structure, determinism."""
import math
import re

import pytest

from mind_lib.answers import extract_answer
from mind_lib.config import WorldParams
from mind_lib.tasks.world import generate_world
from mind_lib.teachers.builtin import STYLES, BuiltinTeacher, render, work_steps
from mind_lib.tasks.world import stable_rng

WORLD = generate_world(WorldParams(n_train=600, n_feedback=5, n_test=50, n_general_train=5, n_general_test=5))
TRAIN = WORLD["train"]


def test_error_free_teachers_are_always_right_and_styles_differ():
    for e in TRAIN[:100]:
        texts = {s: BuiltinTeacher(s, s).write(e, seed=0, sample=0)[0] for s in STYLES}
        assert len(set(texts.values())) == len(STYLES)
        for style, text in texts.items():
            assert extract_answer(text, "number") == e.answer, (style, text)
    mean_len = {s: sum(len(BuiltinTeacher(s, s).write(e, 0, 0)[0].split()) for e in TRAIN) / len(TRAIN)
                for s in STYLES}
    assert min(mean_len, key=mean_len.get) == "equation"  # terse
    assert max(mean_len, key=mean_len.get) == "expert"  # the long "optimal" rationale


@pytest.mark.parametrize("rate", [0.05, 0.2])
def test_error_rate_is_honoured(rate):
    teacher = BuiltinTeacher("t", "narrative", error_rate=rate, slip_share=0.5)
    steps = [s for e in TRAIN for s in teacher.write(e, seed=3, sample=0)[1]]
    observed = sum(s.error is not None for s in steps) / len(steps)
    tolerance = 4 * math.sqrt(rate * (1 - rate) / len(steps))  # 4 binomial standard errors
    assert abs(observed - rate) < tolerance, (observed, rate)


def test_slips_reach_the_right_answer_through_a_wrong_step():
    teacher = BuiltinTeacher("t", "equation", error_rate=0.3, slip_share=1.0)
    right_through_wrong, wrong = 0, 0
    for e in TRAIN:
        text, steps = teacher.write(e, seed=0, sample=0)
        correct = extract_answer(text) == e.answer
        if any(s.error for s in steps[:-1]) and steps[-1].error is None:
            right_through_wrong += correct
            assert correct  # a slip never changes what is carried on
        wrong += not correct
    assert right_through_wrong > 20 and wrong > 20


def test_propagated_errors_give_wrong_answers():
    teacher = BuiltinTeacher("t", "program", error_rate=0.3, slip_share=0.0)
    erred, erred_wrong = 0, 0
    for e in TRAIN:
        text, steps = teacher.write(e, seed=0, sample=0)
        correct = extract_answer(text) == e.answer
        if all(s.error is None for s in steps):
            assert correct
        else:  # a carried error can cancel out (e.g. floor division), as with real teachers, but rarely
            erred += 1
            erred_wrong += not correct
    assert erred_wrong / erred > 0.75  # measured: 344 / 397 on this world


def test_deterministic_per_question_and_sample():
    t = BuiltinTeacher("t", "backward", error_rate=0.3)
    e = TRAIN[0]
    assert t.write(e, 0, 0) == t.write(e, 0, 0)
    samples = {t.write(e, 0, s)[0] for s in range(20)}
    assert len(samples) > 1  # samples differ where errors are drawn
    assert t.generate(TRAIN[:3], n=2, seed=0) == [[t.write(x, 0, s)[0] for s in range(2)] for x in TRAIN[:3]]


NUMBER_WORDS = "one|two|three|four|five|six|seven|eight|nine|ten"
LEAK = re.compile(rf"\b(\d+|{NUMBER_WORDS})\s+(steps?|changes?|operations?|times? the amount changes)\b", re.I)


def test_no_rationale_states_the_number_of_steps():
    for split in ("train", "ood_steps"):
        for e in WORLD[split]:
            for style in STYLES:
                text = BuiltinTeacher(style, style, error_rate=0.1).write(e, 0, 0)[0]
                assert not LEAK.search(text), text


def test_rejects_bad_settings_and_foreign_examples():
    with pytest.raises(ValueError, match="unknown style 'poem'"):
        BuiltinTeacher("t", "poem")
    with pytest.raises(ValueError, match="error_rate"):
        BuiltinTeacher("t", "equation", error_rate=1.5)
    with pytest.raises(ValueError, match="only explain world problems"):
        BuiltinTeacher("t", "equation").write(WORLD["general_test"][0], 0, 0)
    steps = work_steps(TRAIN[0], stable_rng(0), 0.0, 0.5)
    with pytest.raises(ValueError, match="unknown style"):
        render("haiku", TRAIN[0], steps)
