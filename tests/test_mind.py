"""The MIND strategy: uniform start = ftcot_diverse, noisy perspectives lose weight, exact resume, logs."""
import random

import pytest
import torch

from mind_lib.io import read_jsonl
from mind_lib.strategies import get_strategy, strategy_names
from mind_lib.strategies.base import collate
from mind_lib.strategies.mind import meta_parameter_names
from mind_lib.student import load_student
from mind_lib.trainer import train
from tests.distill_data import fast_train, make_examples, make_rows, save_tiny_student
from tests.test_trainer import assert_same_weights, train_rows

EXAMPLES = make_examples(24)
EVAL_EXAMPLES = make_examples(8, "feedback")


def noisy_rows(examples, seed=0):
    """Clean rows of three teachers plus a 'noise' perspective: the question's words in random order
    and a random answer (nothing in it can be learned)."""
    rng = random.Random(seed)
    rows = make_rows(examples)
    for e in examples:
        words = e.question.split()
        junk = " ".join(rng.sample(words, len(words)))
        rows.append({**rows[0], "question_id": e.id, "question": e.question, "gold": e.answer, "teacher": "noise",
                     "perspective": "noise", "rationale": f"{junk}\nThe answer is {rng.randint(0, 99)}.",
                     "correct": True})
    return rows


ROWS, EVAL_ROWS = noisy_rows(EXAMPLES), make_rows(EVAL_EXAMPLES)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    return save_tiny_student(tmp_path_factory.mktemp("student"), EXAMPLES + EVAL_EXAMPLES, ROWS + EVAL_ROWS)


def run(student_dir, out, method="mind", options=None, params=None, resume=False):
    model, tok = load_student(student_dir)
    strategy = get_strategy(method, {"keep": "all", "meta_every": 2, **(options or {})})
    items = strategy.build_items(EXAMPLES, ROWS, tok, 96)
    eval_set = strategy.build_items(EVAL_EXAMPLES, EVAL_ROWS, tok, 96)
    summary = train(model, tok, strategy, items, params or fast_train(budget_tokens=6000, batch_size=8), out,
                    eval_set=eval_set, resume=resume)
    return summary, strategy


def test_variants_are_registered_with_their_options():
    assert {"mind", "mind_no_inertia", "mind_fixed_inertia", "mind_heuristic_ta", "mind_inverted",
            "std_cot_equation"} <= set(strategy_names())
    s = get_strategy("mind_no_inertia", {"tau": 2.0})
    assert s.name == "mind_no_inertia" and s.options.inertia == "off" and s.options.tau == 2.0
    with pytest.raises(ValueError, match="beta_min"):
        get_strategy("mind", {"beta_min": 0.9, "beta_max": 0.5})
    with pytest.raises(ValueError, match="unknown option 'temperature'"):
        get_strategy("mind", {"temperature": 1})


def test_first_loss_equals_ftcot_diverse(student_dir):
    """The TA starts uniform, so MIND's first loss is exactly the uniform-weight baseline's."""
    from accelerate import Accelerator

    model, tok = load_student(student_dir)
    mind = get_strategy("mind", {"keep": "all"})
    base = get_strategy("ftcot_diverse", {"keep": "all"})
    items = mind.build_items(EXAMPLES, ROWS, tok, 96)
    mind.setup(model, Accelerator(cpu=True), items, mind.build_items(EVAL_EXAMPLES, EVAL_ROWS, tok, 96))
    batch = collate(items.items[:10], tok.pad_token_id)
    with torch.no_grad():
        assert torch.allclose(mind.forward_loss(model, batch).loss, base.forward_loss(model, batch).loss, atol=1e-6)


def test_meta_parameters_are_the_last_block_and_final_norm(student_dir):
    model, _ = load_student(student_dir)
    names = meta_parameter_names(model, "last_block")
    assert names and all(".layers.1." in n or n == "model.norm.weight" for n in names)
    assert "model.norm.weight" in names and not any("embed" in n for n in names)


@pytest.mark.parametrize("mode, tau", [("meta", 1.0), ("heuristic", 0.3)])
def test_noise_perspective_gets_less_weight(student_dir, tmp_path, mode, tau):
    summary, strategy = run(student_dir, tmp_path, options={"ta_mode": mode, "ta_lr": 0.05, "tau": tau},
                            params=fast_train(budget_tokens=12000, batch_size=8))
    rows = [r for r in read_jsonl(tmp_path / "training" / "log.jsonl") if r["event"] == "train"]
    late = rows[len(rows) // 2:]
    weight = {p: sum(r[f"ta_weight/{p}"] for r in late) / len(late) for p in ("noise", "expert", "equation", "narrative")}
    clean = [weight["expert"], weight["equation"], weight["narrative"]]
    assert weight["noise"] < 0.5 * sum(clean) / 3 and weight["noise"] < min(clean), weight
    assert all(0 <= r["weight_entropy"] <= 1 for r in rows) and "beta_t" in rows[-1]


def test_inverted_control_favours_the_noise(student_dir, tmp_path):
    run(student_dir, tmp_path, method="mind_inverted")
    last = [r for r in read_jsonl(tmp_path / "training" / "log.jsonl") if r["event"] == "train"][-1]
    assert last["ta_weight/noise"] > last["ta_weight/expert"]


def test_stop_and_resume_is_exact_with_ta_and_inertia_state(student_dir, tmp_path):
    params = fast_train(budget_tokens=3000, batch_size=8, save_every=3)
    straight = tmp_path / "straight"
    run(student_dir, straight, params=params)
    resumed = tmp_path / "resumed"
    first, _ = run(student_dir, resumed, params=params.model_copy(update={"max_steps": 4}))
    assert not first["finished"]
    run(student_dir, resumed, params=params, resume=True)
    assert_same_weights(straight, resumed)
    assert train_rows(straight) == train_rows(resumed)


def test_beta_moves_with_calibration_and_stays_fixed_otherwise(student_dir, tmp_path):
    run(student_dir, tmp_path / "cal")
    run(student_dir, tmp_path / "fixed", method="mind_fixed_inertia")
    betas = {k: [r["beta_t"] for r in read_jsonl(tmp_path / k / "training" / "log.jsonl") if r["event"] == "train"]
             for k in ("cal", "fixed")}
    assert len(set(betas["cal"])) > 1 and all(0.5 <= b <= 0.98 for b in betas["cal"])
    assert set(betas["fixed"]) == {0.9}
