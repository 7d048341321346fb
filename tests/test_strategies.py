"""Each strategy's items and its loss on a hand-computed toy batch; bad options and data fail clearly."""
import math

import pytest
import torch

from mind_lib.strategies import options, registry
from mind_lib.formatting import IGNORE, SEPARATOR
from mind_lib.strategies.registry import get_strategy, register_strategy, strategy_names
from mind_lib.strategies.answer_only import AnswerOnly
from mind_lib.strategies.base import Batch, per_sequence_loss
from tests.distill_data import make_examples, make_rows, make_tokenizer

EXAMPLES = make_examples(3)
# q0: every teacher right; q1: the expert is wrong; q2: only the narrative teacher is right
WRONG = {("train-1", "expert"), ("train-2", "expert"), ("train-2", "equation")}
ROWS = make_rows(EXAMPLES, wrong=WRONG)

# Toy logits (B=2, T=3, V=2). Sequence 0 supervises tokens 1 and 2: -log(3/4) and -log(1/2).
# Sequence 1 supervises token 2 only: -log(1/4).
LN3 = math.log(3)
LOGITS = torch.tensor([[[LN3, 0.0], [0.0, 0.0], [0.0, 0.0]],
                       [[0.0, LN3], [LN3, 0.0], [0.0, 0.0]]])
LABELS = torch.tensor([[IGNORE, 0, 1], [IGNORE, IGNORE, 1]])
L0, L1 = (math.log(4 / 3) + math.log(2)) / 2, math.log(4)


def toy_batch(weight=(1.0, 1.0)) -> Batch:
    return Batch(input_ids=torch.zeros(2, 3, dtype=torch.long), labels=LABELS, question=torch.tensor([0, 1]),
                 perspective=torch.tensor([0, 1]), weight=torch.tensor(weight), answer_pos=torch.tensor([-1, -1]),
                 answer_len=torch.tensor([0, 0]))


def test_per_sequence_loss_by_hand():
    got = per_sequence_loss(LOGITS, LABELS)
    assert got.shape == (2,) and torch.allclose(got, torch.tensor([L0, L1]))
    assert per_sequence_loss(LOGITS, torch.full((2, 3), IGNORE)).tolist() == [0.0, 0.0]  # no target, no loss


@pytest.mark.parametrize("name", ["answer_only", "std_cot", "ftcot_diverse"])
def test_uniform_strategies_average_the_sequences(name):
    out = get_strategy(name).loss(LOGITS, toy_batch())
    assert math.isclose(float(out.loss), (L0 + L1) / 2, rel_tol=1e-6)
    assert torch.allclose(out.per_sequence, torch.tensor([L0, L1])) and not out.per_sequence.requires_grad


def test_dss_loss_is_alpha_label_plus_one_minus_alpha_rationale():
    dss = get_strategy("dss", {"alpha": 0.3})
    items = dss.text_items(EXAMPLES[:1], ROWS)
    weights = [it.weight for it in items]
    assert weights == pytest.approx([0.6, 1.4])  # average 1 over the item set
    out = dss.loss(LOGITS, toy_batch(weights))  # sequence 0 = label task, 1 = rationale task
    assert math.isclose(float(out.loss), 0.3 * L0 + 0.7 * L1, rel_tol=1e-6)


def test_answer_only_items():
    items = get_strategy("answer_only").text_items(EXAMPLES, [])
    assert [(it.question_id, it.perspective, it.target) for it in items] == \
        [(e.id, "answer", f"The answer is {e.answer}.") for e in EXAMPLES]
    assert items[0].prompt == EXAMPLES[0].question + SEPARATOR


def test_std_cot_takes_the_golden_teachers_correct_rationale():
    items = get_strategy("std_cot").text_items(EXAMPLES, ROWS)
    assert [it.question_id for it in items] == ["train-0"]  # q1, q2: the expert's rationale is wrong
    assert items[0].perspective == "expert" and items[0].target.startswith(f"{EXAMPLES[0].meta['a']} +")
    items = get_strategy("std_cot", {"golden_teacher": "narrative"}).text_items(EXAMPLES, ROWS)
    assert [it.question_id for it in items] == ["train-0", "train-1", "train-2"]
    assert len(get_strategy("std_cot", {"keep": "all"}).text_items(EXAMPLES, ROWS)) == 3


def test_std_cot_picks_the_lowest_sample():
    rows = make_rows(EXAMPLES[:1], teachers=("expert",))
    second = dict(rows[0], sample=1, rationale="other\nThe answer is " + EXAMPLES[0].answer + ".")
    items = get_strategy("std_cot").text_items(EXAMPLES[:1], [second, rows[0]])
    assert items[0].target == rows[0]["rationale"]


def test_ftcot_diverse_uses_every_correct_rationale_uniformly():
    items = get_strategy("ftcot_diverse").text_items(EXAMPLES, ROWS)
    assert len(items) == 9 - len(WRONG)
    assert {(it.question_id, it.perspective) for it in items} == \
        {(e.id, t) for e in EXAMPLES for t in ("expert", "equation", "narrative") if (e.id, t) not in WRONG}
    assert {it.weight for it in items} == {1.0}
    only = get_strategy("ftcot_diverse", {"teachers": ["equation"]}).text_items(EXAMPLES, ROWS)
    assert {it.perspective for it in only} == {"equation"} and len(only) == 2


def test_dss_items_have_task_prefixes():
    items = get_strategy("dss").text_items(EXAMPLES, ROWS)
    assert len(items) == 2  # only q0 has a correct golden rationale
    label, rationale = items
    assert label.prompt.startswith("[label] ") and label.target == f"The answer is {EXAMPLES[0].answer}."
    assert rationale.prompt.startswith("[rationale] ") and rationale.target.endswith(label.target)
    assert get_strategy("dss").prompt("Q?") == "[label] Q?" + SEPARATOR
    assert get_strategy("std_cot").prompt("Q?") == "Q?" + SEPARATOR


def test_items_tokenize_with_question_and_perspective_tables():
    tok = make_tokenizer(EXAMPLES, ROWS)
    items = get_strategy("ftcot_diverse").build_items(EXAMPLES, ROWS, tok, max_len=96)
    assert items.questions == ["train-0", "train-1", "train-2"]
    assert items.perspectives == ["expert", "equation", "narrative"]
    assert all(it.n_target > 0 and len(it.input_ids) == len(it.labels) for it in items.items)


def test_unknown_method_lists_the_allowed_names():
    with pytest.raises(ValueError, match="unknown method 'mind2'; allowed: answer_only, dss, ftcot_diverse, mcc_kd, "
                                         "mind, mind_instant, mind_inverted, mind_no_consistency, mind_no_fusion, "
                                         "mind_no_synergy, std_cot"):
        get_strategy("mind2")


def test_golden_teacher_not_in_the_data():
    with pytest.raises(ValueError, match="golden teacher 'oracle' has no rationale.*equation, expert, narrative"):
        get_strategy("std_cot", {"golden_teacher": "oracle"}).text_items(EXAMPLES, ROWS)
    with pytest.raises(ValueError, match="golden teacher 'expert'.*teachers in the data: none"):
        get_strategy("dss").text_items(EXAMPLES, [])
    with pytest.raises(ValueError, match=r"teachers \['oracle'\] have no rationale rows"):
        get_strategy("ftcot_diverse", {"teachers": ["oracle"]}).text_items(EXAMPLES, ROWS)


def test_empty_after_filtering():
    all_wrong = make_rows(EXAMPLES, wrong={(e.id, t) for e in EXAMPLES for t in ("expert", "equation", "narrative")})
    with pytest.raises(ValueError, match="no rationale rows left: 9 rows in, 9 for the 3 training questions, "
                                         "0 after keep='correct'"):
        get_strategy("ftcot_diverse").text_items(EXAMPLES, all_wrong)
    with pytest.raises(ValueError, match="no rationale rows left"):
        get_strategy("std_cot").text_items(EXAMPLES, all_wrong)
    with pytest.raises(ValueError, match="0 for the 1 training questions"):  # rows of other questions only
        get_strategy("ftcot_diverse").text_items(make_examples(1, "other"), ROWS)


@pytest.mark.parametrize("name,options,match", [
    ("dss", {"alpha": 1.5}, "option 'alpha'"),
    ("dss", {"beta": 1}, "unknown option 'beta'; allowed: golden_teacher, golden_perspective, keep, alpha"),
    ("answer_only", {"keep": "all"}, "unknown option 'keep'; allowed: none"),
    ("std_cot", {"keep": "some"}, "option 'keep'"),
])
def test_bad_options(name, options, match):
    with pytest.raises(ValueError, match=match):
        get_strategy(name, options)


def test_a_new_strategy_registers_without_touching_the_trainer(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # leave no trace for other tests
    monkeypatch.setattr(options, "OPTIONS", dict(options.OPTIONS))

    @register_strategy
    class Halved(AnswerOnly):
        name = "halved_test"

        def loss(self, logits, batch):
            out = super().loss(logits, batch)
            out.loss = out.loss / 2
            return out

    assert "halved_test" in strategy_names()
    assert math.isclose(float(get_strategy("halved_test").loss(LOGITS, toy_batch()).loss), (L0 + L1) / 4, rel_tol=1e-6)
    with pytest.raises(ValueError, match="already registered"):
        register_strategy(type("Other", (AnswerOnly,), {"name": "halved_test"}))
