"""The MIND strategy end to end on a tiny student: its reductions to the baselines, what the MetaNet learns,
exact resume mid-accumulation, logs, and option checks (docs/method.md §2)."""
import random

import pytest

from mind_lib.io import read_jsonl
from mind_lib.strategies.registry import get_strategy, strategy_names
from mind_lib.student import load_student
from mind_lib.trainer import train
from tests.distill_data import fast_train, make_examples, make_rows, save_tiny_student
from tests.test_trainer import assert_same_weights, train_rows

EXAMPLES = make_examples(24)
EVAL_EXAMPLES = make_examples(8, "feedback")


def noisy_rows(examples, seed=0):
    """Clean rows of three teachers plus a 'noise' perspective: the question's words in random order and a
    random answer (nothing in it can be learned, so the student's loss on it stays high)."""
    rng = random.Random(seed)
    rows = make_rows(examples)
    for e in examples:
        words = e.question.split()
        junk = " ".join(rng.sample(words, len(words)))
        rows.append({**rows[0], "question_id": e.id, "question": e.question, "gold": e.answer, "teacher": "noise",
                     "perspective": "noise", "rationale": f"{junk}\nThe answer is {rng.randint(0, 99)}.",
                     "correct": True})
    return rows


ROWS, EVAL_ROWS = noisy_rows(EXAMPLES), noisy_rows(EVAL_EXAMPLES, seed=1)
FAST = {"keep": "all", "warmup_epochs": 1, "meta_accum": 3, "probe_every": 2}


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    return save_tiny_student(tmp_path_factory.mktemp("student"), EXAMPLES + EVAL_EXAMPLES, ROWS + EVAL_ROWS)


def run(student_dir, out, method="mind", options=None, params=None, resume=False):
    model, tok = load_student(student_dir)
    defaults = FAST if method.startswith("mind") else {"keep": "all"}
    strategy = get_strategy(method, {**defaults, **(options or {})})
    items = strategy.build_items(EXAMPLES, ROWS, tok, 96)
    eval_set = strategy.build_items(EVAL_EXAMPLES, EVAL_ROWS, tok, 96)
    summary = train(model, tok, strategy, items, params or fast_train(budget_tokens=6000, batch_size=8), out,
                    eval_set=eval_set, resume=resume)
    return summary, strategy


def log(folder):
    return [r for r in read_jsonl(folder / "training" / "log.jsonl") if r["event"] == "train"]


def test_ablations_and_control_are_registered_with_their_options():
    assert {"mind", "mcc_kd", "mind_instant", "mind_no_synergy", "mind_no_fusion", "mind_no_consistency",
            "mind_inverted"} <= set(strategy_names())
    s = get_strategy("mind_instant", {"tau": 2.0})
    assert s.name == "mind_instant" and s.options.loss_ema == 0 and s.options.warmup_epochs == 0 and s.options.tau == 2
    assert get_strategy("mind_no_fusion").options.fusion == "uniform"
    assert get_strategy("mind_no_consistency").options.consistency_weight == 0
    assert get_strategy("mind_inverted").options.target == "inverted"
    assert not get_strategy("mind_no_synergy").options.synergy


@pytest.mark.parametrize("option, value", [("beta", 1.5), ("beta", -0.1), ("tau", 0.0), ("tau_student", -1.0),
                                           ("meta_accum", 0), ("temperature", 1)])
def test_bad_options_are_rejected_with_the_key_named(option, value):
    with pytest.raises(ValueError, match=f"option '{option}'"):
        get_strategy("mind", {option: value})


def test_warm_up_longer_than_the_budget_is_refused(student_dir, tmp_path):
    with pytest.raises(ValueError, match=r"'warmup_epochs' \(50\) is longer than the run's budget"):
        run(student_dir, tmp_path, options={"warmup_epochs": 50}, params=fast_train(budget_tokens=1000, batch_size=8))


@pytest.mark.parametrize("method, options", [("mind", {"beta": 0.0, "fusion": "uniform", "consistency_weight": 0.0}),
                                             ("mcc_kd", {"consistency_weight": 0.0})])
def test_reduces_exactly_to_ftcot_diverse(student_dir, tmp_path, method, options):
    """beta 0, uniform alpha, lambda 0 (MIND) or weight 0 (MCC-KD): the same weights as ftcot_diverse, bit for bit."""
    params = fast_train(budget_tokens=3000, batch_size=8)
    run(student_dir, tmp_path / "base", "ftcot_diverse", params=params)
    run(student_dir, tmp_path / method, method, options, params=params)
    assert_same_weights(tmp_path / "base", tmp_path / method)


def test_consistency_changes_training(student_dir):
    """A sanity check of the reduction test above: with lambda > 0 the answer-consistency term is really there."""
    import torch
    from accelerate import Accelerator

    from mind_lib.strategies.base import RunInfo, collate

    model, tok = load_student(student_dir)
    losses = {}
    for lam in (0.0, 5.0):
        s = get_strategy("mcc_kd", {"keep": "all", "consistency_weight": lam})
        items = s.build_items(EXAMPLES, ROWS, tok, 96)
        s.setup(model, Accelerator(cpu=True), items, None, RunInfo(0, 1, 1.0))
        batch = collate([it for it in items.items if it.question == 0], tok.pad_token_id)
        with torch.no_grad():
            losses[lam] = float(s.forward_loss(model, batch).loss)
    assert losses[5.0] > losses[0.0]


def test_the_metanet_learns_capability_and_the_inverted_control_the_opposite(student_dir, tmp_path):
    """The noise perspective stays hard for the student: MIND drops it or weighs it least; the inverted
    control favours it. On held-out questions the MetaNet's ranking follows (or inverts) the student's losses."""
    params = fast_train(budget_tokens=12000, batch_size=8)
    options = {"warmup_epochs": 3, "warmup_lr": 3e-3, "meta_lr": 1e-3, "tau_student": 0.2}
    run(student_dir, tmp_path / "mind", options=options, params=params)
    run(student_dir, tmp_path / "inv", "mind_inverted", options=options, params=params)
    late = {k: log(tmp_path / k)[len(log(tmp_path / k)) // 2:] for k in ("mind", "inv")}
    alpha = {k: {p: sum(r[f"alpha/{p}"] for r in rows) / len(rows) for p in ("noise", "expert", "equation", "narrative")}
             for k, rows in late.items()}
    assert alpha["mind"]["noise"] < min(alpha["mind"][p] for p in ("expert", "equation", "narrative")), alpha
    assert alpha["inv"]["noise"] > max(alpha["inv"][p] for p in ("expert", "equation", "narrative")), alpha
    assert late["mind"][-1]["spearman_unseen"] > 0 > late["inv"][-1]["spearman_unseen"]
    assert all(0 < r["selected_share"] <= 1 and r["listnet_kl"] >= 0 for r in late["mind"])
    assert {f"long_term_loss/{p}" for p in ("noise", "expert")} <= set(late["mind"][-1])


def test_stop_and_resume_is_exact_mid_accumulation(student_dir, tmp_path):
    """meta_accum 3 and a stop after 4 steps: the MetaNet holds accumulated gradients in the checkpoint."""
    params = fast_train(budget_tokens=3000, batch_size=8, save_every=4)
    straight = tmp_path / "straight"
    run(student_dir, straight, params=params)
    resumed = tmp_path / "resumed"
    first, _ = run(student_dir, resumed, params=params.model_copy(update={"max_steps": 4}))
    assert not first["finished"] and first["steps"] % 3 != 0
    run(student_dir, resumed, params=params, resume=True)
    assert_same_weights(straight, resumed)
    assert train_rows(straight) == train_rows(resumed)


@pytest.mark.parametrize("method", ["mind_instant", "mind_no_synergy", "mind_no_fusion", "mind_no_consistency"])
def test_every_ablation_trains(student_dir, tmp_path, method):
    options = {"warmup_epochs": 0} if method == "mind_instant" else {}  # FAST's warm-up would override the variant's
    summary, _ = run(student_dir, tmp_path, method, options, params=fast_train(budget_tokens=3000, batch_size=8))
    rows = log(tmp_path)
    assert summary["finished"] and all("alpha/expert" in r for r in rows)
    if method == "mind_no_fusion":
        assert all(r["selected_share"] == 1.0 for r in rows)
