"""Built-in teachers: the eight paradigms and the five classic styles, honoured error rates, no leaked
structure or answer, determinism."""
import math
import re

import pytest

from mind_lib.answers import extract_answer
from mind_lib.params.world import WorldParams
from mind_lib.tasks.world import generate_world
from mind_lib.params.collect import TeacherSpec
from mind_lib.styles import CLASSIC_STYLES, PARADIGMS, STYLES
from mind_lib.tasks.world import stable_rng
from mind_lib.teachers.builtin import PARADIGM_ERROR_RATE, BuiltinTeacher, render, work_steps
from mind_lib.teachers.registry import build_teachers

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
    classic = {s: mean_len[s] for s in CLASSIC_STYLES}
    assert min(classic, key=classic.get) == "equation"  # terse
    assert max(classic, key=classic.get) == "expert"  # the long "optimal" rationale
    paradigm = [mean_len[s] for s in PARADIGMS]
    assert max(paradigm) > 1.4 * min(paradigm)  # lengths differ: some paradigms are harder to imitate


# what makes each paradigm its own route (docs/method.md §1.2), checked on every training problem
ROUTE = {"formal": r"^Let y0 = \d+\. y1 = y0 ", "intuitive": r"^Picture the \w+ as one pile",
         "decomposition": r"^Part 1: the amount after the first change\.", "planning": r"^Plan: start from \d+ and apply",
         "analogy": r"^This works like a counter\.", "socratic": r"^How many \w+ are there at the start\? \d+\.",
         "contrastive": r"^Candidate answers: \d+ if no change counted", "counterfactual": r"^Without any change, "}


def test_each_paradigm_takes_its_own_route():
    for e in TRAIN[:200]:
        texts = {p: BuiltinTeacher(p, p, 0.0).write(e, 0, 0)[0] for p in PARADIGMS}
        for p, text in texts.items():
            assert re.search(ROUTE[p], text), (p, text)
        n = len(e.meta["steps"])
        assert not re.search(r"[-+x/=]", texts["intuitive"].split(" The answer is")[0])  # no symbols
        assert texts["socratic"].count("?") == n + 3  # start, one per change, "any left?", "how many now?"
        assert texts["counterfactual"].count("instead of") == n
        assert texts["contrastive"].count(" = ") == n + 1  # the candidate's step, then the full chain
        plan, execution = texts["planning"].split("Carrying out the plan:")
        assert "=" not in plan and execution.count("=") == n  # the plan is stated before it is executed


def test_no_paradigm_shows_the_answer_before_computing_it():
    """Where the answer differs from every number of the story and every intermediate value, it first appears
    after every intermediate value has been written (it is computed, never announced)."""
    checked = 0
    for e in TRAIN:
        steps = BuiltinTeacher("f", "formal", 0.0).write(e, 0, 0)[1]
        inter = [e.meta["start"]] + [s.shown for s in steps[:-1]]
        operands = [s.k for s in steps]
        answer = int(e.answer)
        if answer in inter or answer in operands:
            continue
        checked += 1
        for p in PARADIGMS:
            # indices are not amounts: the formal paradigm's state names (y2) and the numbered parts (Part 2:)
            text = re.sub(r"\by\d+|Part \d+:", "_", BuiltinTeacher(p, p, 0.0).write(e, 0, 0)[0])
            first = re.search(rf"(?<!\d){answer}(?!\d)", text).start()
            for v in inter:
                assert re.search(rf"(?<!\d){v}(?!\d)", text[:first]), (p, v, text)
    assert checked > 100


def test_each_paradigm_has_its_own_error_rate():
    assert len(set(PARADIGM_ERROR_RATE.values())) > 3 and set(PARADIGM_ERROR_RATE) == set(PARADIGMS)
    for p in ("formal", "intuitive"):
        steps = [s for e in TRAIN for s in BuiltinTeacher(p, p, error_rate=None).write(e, 1, 0)[1]]
        rate = PARADIGM_ERROR_RATE[p]
        observed = sum(s.error is not None for s in steps) / len(steps)
        assert abs(observed - rate) < 4 * math.sqrt(rate * (1 - rate) / len(steps)), (p, observed)


def test_one_teacher_writes_every_paradigm():
    spec = TeacherSpec(name="t", backend="builtin", paradigms=list(PARADIGMS))
    teachers = build_teachers(spec)
    assert [t.name for t in teachers] == [f"t.{p}" for p in PARADIGMS]
    assert [t.perspective for t in teachers] == list(PARADIGMS)
    assert [t.error_rate for t in teachers] == [PARADIGM_ERROR_RATE[p] for p in PARADIGMS]
    assert {t.error_rate for t in build_teachers(spec.model_copy(update={"error_rate": 0.0}))} == {0.0}
    with pytest.raises(ValueError, match="paradigms must be distinct names"):
        TeacherSpec(name="t", backend="builtin", paradigms=["formal", "poetic"])
    with pytest.raises(ValueError, match="'style' or 'paradigms', not both"):
        TeacherSpec(name="t", backend="builtin", style="formal", paradigms=["formal"])


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
