"""The training loop: data order, token budget, exact resume, NaN stop, logs, LoRA."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from mind_lib.io import read_json, read_jsonl
from mind_lib.strategies.registry import get_strategy
from mind_lib.strategies.ftcot_diverse import FtcotDiverse
from mind_lib.student import load_student
from mind_lib.params.student import LoraParams
from mind_lib.trainer import (BatchOrder, NonFiniteLossError, length_grouped_batches, plan_replay, plan_training,
                              resolve_budget, train)
from tests.distill_data import fast_train, make_examples, make_rows, save_tiny_student

EXAMPLES = make_examples(12)
ROWS = make_rows(EXAMPLES)
EVAL_EXAMPLES = make_examples(4, "feedback")
EVAL_ROWS = make_rows(EVAL_EXAMPLES)


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    return save_tiny_student(tmp_path_factory.mktemp("student"), EXAMPLES + EVAL_EXAMPLES, ROWS + EVAL_ROWS)


class Counting(FtcotDiverse):
    """A stateful strategy: its loss scale depends on how many batches it has seen, so a resume that
    lost or replayed its state would end with other weights."""

    name = "counting_test"

    def __init__(self, options=None, crash_at=None, nan_at=None):
        super().__init__(options)
        self.calls, self.crash_at, self.nan_at = 0, crash_at, nan_at

    def forward_loss(self, model, batch):
        self.calls += 1
        if self.calls == self.crash_at:
            raise KeyboardInterrupt("killed mid-step")
        out = super().forward_loss(model, batch)
        out.loss = out.loss * (1 + 0.1 * (self.calls % 3))
        if self.nan_at is not None and self.calls >= self.nan_at:
            out.loss = out.loss * float("nan")
        return out

    def state_dict(self):
        return {"calls": self.calls}

    def load_state_dict(self, state):
        self.calls = state["calls"]


RESUME_PARAMS = fast_train(grad_accum=2, save_every=2, eval_every=2, budget_tokens=1600)


def run(student_dir, out, strategy=None, params=None, resume=False, lora=None, replay=False):
    model, tok = load_student(student_dir, lora=lora)
    strategy = strategy or Counting()
    items = strategy.build_items(EXAMPLES, ROWS, tok, 96)
    eval_set = strategy.build_items(EVAL_EXAMPLES, EVAL_ROWS, tok, 96)
    # rehearsal items: the eval questions answered directly (what a base student's general suite looks like)
    replay_set = get_strategy("answer_only").build_items(EVAL_EXAMPLES, [], tok, 96) if replay else None
    return train(model, tok, strategy, items, params or fast_train(), out, eval_set=eval_set, replay_set=replay_set,
                 resume=resume)


def weights(folder):
    return load_file(folder / "model.safetensors")


def assert_same_weights(a, b):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k


def train_rows(folder):
    return [{k: v for k, v in r.items() if k != "tokens_per_s"} for r in read_jsonl(folder / "training" / "log.jsonl")]


# ------------------------------------------------------------------------------------------------
# data order and budget (no model)


@pytest.mark.parametrize("seed,epoch", [(0, 0), (0, 1), (3, 5)])
def test_length_grouped_batches_visit_every_item_exactly_once(seed, epoch):
    lengths = np.random.default_rng(9).integers(5, 200, size=103)
    batches = length_grouped_batches(lengths, batch_size=8, group_size=4, seed=seed, epoch=epoch)
    assert sorted(np.concatenate(batches).tolist()) == list(range(103))
    assert all(1 <= len(b) <= 8 for b in batches)
    padded = sum(len(b) * lengths[b].max() for b in batches)
    shuffled = np.random.default_rng(seed).permutation(103)
    padded_random = sum(8 * lengths[shuffled[i:i + 8]].max() for i in range(0, 103, 8))
    assert padded < 0.8 * padded_random  # buckets keep padding small


def test_batch_order_changes_every_epoch_and_is_seeded():
    lengths = list(range(40))
    order = BatchOrder(lengths, 4, 2, seed=1)
    epoch0 = [b.tolist() for b in order.epoch(0)]
    assert [b.tolist() for b in order.epoch(1)] != epoch0
    assert [b.tolist() for b in BatchOrder(lengths, 4, 2, seed=1).epoch(0)] == epoch0
    assert order.batch(len(epoch0)).tolist() == order.epoch(1)[0].tolist()


def test_token_batches_stream_crosses_epochs_of_different_lengths():
    """Token batches differ in number between epochs: batch g of the stream is the epochs' batches in a row, every
    unit once per epoch, and a plan over many epochs reads every batch it counted (no index past an epoch)."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(20, 200, size=60)
    units = [[i, i + 1] for i in range(0, 60, 2)]  # whole questions of two items
    counts = rng.integers(40, 120, size=60)
    order = BatchOrder(lengths, 4, 2, seed=0, units=units, target_counts=counts, batch_tokens=300)
    sizes = [len(order.epoch(e)) for e in range(12)]
    assert len(set(sizes)) > 1  # the case this test is about
    stream = [b.tolist() for e in range(12) for b in BatchOrder(lengths, 4, 2, seed=0, units=units,
                                                                 target_counts=counts, batch_tokens=300).epoch(e)]
    assert [order.batch(g).tolist() for g in range(len(stream))] == stream
    ends = np.cumsum(sizes)
    for e in range(12):  # every item exactly once per epoch
        start = ends[e - 1] if e else 0
        assert sorted(i for g in range(start, ends[e]) for i in order.batch(g).tolist()) == list(range(60))
    assert order.epochs_done(int(ends[4])) == 5.0
    plan = plan_training(order, counts, 10 * int(counts.sum()), 1, 1)
    group = [int(counts[order.batch(j)].sum()) for j in range(plan.n_groups)]
    assert plan.tokens.tolist() == np.cumsum(group).tolist()


@pytest.mark.parametrize("grad_accum,world", [(1, 1), (3, 1), (2, 2)])
def test_plan_meets_the_budget_within_one_micro_step(grad_accum, world):
    rng = np.random.default_rng(0)
    counts = rng.integers(1, 50, size=37)
    order = BatchOrder(rng.integers(10, 90, size=37), 4, 2, seed=0)
    budget = 5 * int(counts.sum()) + 17  # a bit over five epochs
    plan = plan_training(order, counts, budget, grad_accum, world)
    group = [sum(int(counts[order.batch(j * world + r)].sum()) for r in range(world)) for j in range(plan.n_groups)]
    assert plan.tokens.tolist() == np.cumsum(group).tolist()
    assert plan.tokens[-2] < budget <= plan.tokens[-1]  # stops at the first micro-step that reaches it
    assert plan.tokens_after(plan.n_steps) == plan.tokens[-1]
    assert all(len(plan.groups(s)) == grad_accum for s in range(plan.n_steps - 1))
    assert 1 <= len(plan.groups(plan.n_steps - 1)) <= grad_accum


@pytest.mark.parametrize("share,world", [(0.0, 1), (0.1, 1), (0.5, 2)])
def test_replay_follows_the_runs_own_tokens_at_its_share(share, world):
    rng = np.random.default_rng(1)
    counts, replay_counts = rng.integers(20, 60, size=41), rng.integers(3, 9, size=29)
    plan = plan_training(BatchOrder(rng.integers(10, 90, size=41), 4, 2, 0), counts, 3000, 1, world)
    order = BatchOrder(rng.integers(5, 30, size=29), 4, 2, 1)
    replay = plan_replay(plan, order, replay_counts, share)
    assert len(replay.groups) == plan.n_steps
    flat = [g for groups in replay.groups for g in groups]
    assert flat == list(range(len(flat)))  # the replay stream is read in order, each micro-step once
    group = [sum(int(replay_counts[order.batch(g * world + r)].sum()) for r in range(world)) for g in flat]
    assert replay.tokens_after(plan.n_steps) == sum(group)
    for s in range(1, plan.n_steps + 1):  # the fewest whole micro-steps that reach the share
        goal = share * plan.tokens_after(s)
        assert goal <= replay.tokens_after(s) < goal + max(group, default=0) + 1e-9
    if share == 0:
        assert not flat


def test_budget_too_large_for_the_data():
    with pytest.raises(ValueError, match="epochs of these 2 items"):
        plan_training(BatchOrder([3, 4], 1, 1, 0), [1, 1], 10**9, 1, 1)


def test_epoch_budget_is_epochs_of_the_runs_items_or_of_a_reference():
    epochs = fast_train(budget_epochs=2.5)
    assert resolve_budget(epochs, [10, 20, 30]) == 150
    assert resolve_budget(epochs, [10, 20, 30], epoch_tokens=1000) == 2500
    assert resolve_budget(fast_train(), [10, 20, 30], epoch_tokens=1000) == 400  # a token budget stays as it is


def test_epoch_budget_trains_that_many_epochs_and_the_summary_records_both(student_dir, tmp_path):
    own = run(student_dir, tmp_path / "own", params=fast_train(budget_epochs=2))
    per_epoch = own["train_items"]["target_tokens"]
    assert own["finished"] and own["budget_epochs"] == 2 and own["epoch_tokens"] == per_epoch
    assert own["budget_tokens"] == 2 * per_epoch <= own["target_tokens"] and own["epochs"] == pytest.approx(2)
    # counted on a reference's items (what the distill stage passes for distill.epochs_reference): its tokens
    model, tok = load_student(student_dir)
    items = Counting().build_items(EXAMPLES, ROWS, tok, 96)
    ref = train(model, tok, Counting(), items, fast_train(budget_epochs=2), tmp_path / "ref", epoch_tokens=300)
    assert ref["budget_tokens"] == 600 <= ref["target_tokens"] and ref["epoch_tokens"] == 300
    assert ref["fingerprint"] != own["fingerprint"]
    assert "budget_epochs" not in run(student_dir, tmp_path / "tokens", params=fast_train())


def test_equal_budget_means_equal_target_tokens_across_methods(student_dir, tmp_path):
    params = fast_train(budget_tokens=300, log_every=100)
    seen = {}
    for method in ("answer_only", "std_cot", "ftcot_diverse", "dss"):
        summary = run(student_dir, tmp_path / method, get_strategy(method), params)
        per_item = summary["train_items"]["target_tokens"] / summary["train_items"]["items"]
        seen[method] = (summary["target_tokens"], summary["steps"], per_item)
        assert summary["finished"]
        # overshoot below one micro-batch: at most batch_size items of the longest target
        assert 300 <= summary["target_tokens"] < 300 + 4 * 40
    # equal tokens, so the method with short targets makes more steps
    assert seen["answer_only"][1] > seen["ftcot_diverse"][1]


# ------------------------------------------------------------------------------------------------
# checkpoints


@pytest.fixture(scope="module")
def straight(student_dir, tmp_path_factory):
    """The reference: an uninterrupted run (2 micro-batches per step, eval every 2 steps)."""
    out = tmp_path_factory.mktemp("straight")
    summary = run(student_dir, out, params=RESUME_PARAMS)
    assert summary["finished"] and summary["steps"] >= 6
    return out, summary


def test_stop_and_resume_gives_the_same_weights(student_dir, tmp_path, straight):
    ref, ref_summary = straight
    params = RESUME_PARAMS
    first = run(student_dir, tmp_path, params=params.model_copy(update={"max_steps": 3}))
    assert not first["finished"] and first["steps"] == 3
    assert (tmp_path / "training" / "checkpoints" / "latest").read_text() == "step-00000003"
    assert (tmp_path / "config.json").exists()  # a stopped run still leaves a loadable model
    second = run(student_dir, tmp_path, params=params, resume=True)
    assert second["finished"] and second["steps"] == ref_summary["steps"]
    assert second["target_tokens"] == ref_summary["target_tokens"]
    assert_same_weights(ref, tmp_path)
    assert train_rows(tmp_path) == train_rows(ref)
    assert not (tmp_path / "training" / "checkpoints").exists()  # removed once the budget is spent


def test_killed_mid_step_resumes_to_the_same_weights(student_dir, tmp_path, straight):
    ref, _ = straight
    params = RESUME_PARAMS
    with pytest.raises(KeyboardInterrupt):
        run(student_dir, tmp_path, strategy=Counting(crash_at=10), params=params)  # 2nd micro-batch of step 5
    assert (tmp_path / "training" / "checkpoints" / "latest").read_text() == "step-00000004"
    run(student_dir, tmp_path, params=params, resume=True)
    assert_same_weights(ref, tmp_path)
    assert train_rows(tmp_path) == train_rows(ref)


def test_killed_while_saving_a_checkpoint_resumes_from_the_previous_one(student_dir, tmp_path, straight, monkeypatch):
    ref, _ = straight
    real_save = torch.save

    def dying_save(obj, path):
        if "step-00000004" in str(path):  # the second checkpoint: half a file, then the process dies
            open(path, "wb").write(b"partial")
            raise KeyboardInterrupt("killed while saving")
        real_save(obj, path)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        run(student_dir, tmp_path, params=RESUME_PARAMS)
    monkeypatch.setattr(torch, "save", real_save)
    assert (tmp_path / "training" / "checkpoints" / "latest").read_text() == "step-00000002"
    run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)
    assert_same_weights(ref, tmp_path)


def test_a_format_1_checkpoint_still_resumes_exactly(student_dir, tmp_path, straight):
    """Format 1: the trainable weights, optimizer, scheduler and strategy state all in state.pt (no files of
    accelerator.save_state)."""
    ref, _ = straight
    run(student_dir, tmp_path, params=RESUME_PARAMS.model_copy(update={"max_steps": 3}))
    folder = tmp_path / "training" / "checkpoints" / "step-00000003"
    state = torch.load(folder / "state.pt", weights_only=False)
    model = load_student(student_dir)[0]
    weights = load_file(folder / "model.safetensors")
    state |= {"model": {n: weights[n] for n, p in model.named_parameters() if n in weights},
              "optimizer": torch.load(folder / "optimizer.bin", weights_only=False),
              "scheduler": torch.load(folder / "custom_checkpoint_0.pkl", weights_only=False),
              "strategy": torch.load(folder / "custom_checkpoint_1.pkl", weights_only=False)}
    del state["format"]
    for f in folder.iterdir():
        f.unlink()
    torch.save(state, folder / "state.pt")
    run(student_dir, tmp_path, params=RESUME_PARAMS, resume=True)
    assert_same_weights(ref, tmp_path)
    assert train_rows(tmp_path) == train_rows(ref)


def test_replay_resumes_exactly_and_is_logged(student_dir, tmp_path):
    params = RESUME_PARAMS.model_copy(update={"replay_share": 0.3})
    ref = run(student_dir, tmp_path / "ref", params=params, replay=True)
    assert ref["finished"] and 0.3 * ref["target_tokens"] <= ref["replay_target_tokens"]
    assert ref["target_tokens"] == run(student_dir, tmp_path / "plain", params=RESUME_PARAMS)["target_tokens"]
    rows = [r for r in train_rows(tmp_path / "ref") if r["event"] == "train"]
    assert rows[-1]["replay_target_tokens"] == ref["replay_target_tokens"]
    assert any("replay_loss" in r for r in rows)
    run(student_dir, tmp_path / "cut", params=params.model_copy(update={"max_steps": 3}), replay=True)
    resumed = run(student_dir, tmp_path / "cut", params=params, replay=True, resume=True)
    assert resumed["replay_target_tokens"] == ref["replay_target_tokens"]
    assert_same_weights(tmp_path / "ref", tmp_path / "cut")
    # rehearsal changes the weights (it is not a no-op), and a share without a replay set is refused
    with pytest.raises(AssertionError):
        assert_same_weights(tmp_path / "ref", tmp_path / "plain")
    with pytest.raises(ValueError, match="replay_share is 0.3 but there is no replay set"):
        run(student_dir, tmp_path / "none", params=params)


def test_resume_after_the_end_does_nothing(student_dir, straight):
    ref, ref_summary = straight
    before = (ref / "training" / "log.jsonl").read_text()
    again = run(student_dir, ref, params=RESUME_PARAMS, resume=True)
    assert again == json.loads(json.dumps(ref_summary))
    assert (ref / "training" / "log.jsonl").read_text() == before


def test_resume_refuses_a_checkpoint_of_other_params(student_dir, tmp_path):
    run(student_dir, tmp_path, params=fast_train(max_steps=1))
    with pytest.raises(ValueError, match="other items, strategy options or training params"):
        run(student_dir, tmp_path, params=fast_train(lr=1e-2), resume=True)


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(student_dir, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at step 3 .*Last good checkpoint: .*step-00000002"):
        run(student_dir, tmp_path, strategy=Counting(nan_at=3), params=fast_train(save_every=2))
    assert (tmp_path / "training" / "checkpoints" / "latest").read_text() == "step-00000002"
    assert not (tmp_path / "config.json").exists()
    assert read_jsonl(tmp_path / "training" / "log.jsonl")[-1]["event"] == "nonfinite"


# ------------------------------------------------------------------------------------------------
# logs and outputs


def test_log_rows_and_summary(straight):
    ref, summary = straight
    rows = read_jsonl(ref / "training" / "log.jsonl")
    train_rows_ = [r for r in rows if r["event"] == "train"]
    eval_rows = [r for r in rows if r["event"] in ("eval", "final_eval")]
    assert [r["step"] for r in train_rows_] == list(range(1, summary["steps"] + 1))
    first = train_rows_[0]
    assert set(first) >= {"loss", "loss_by_perspective", "lr", "tokens_per_s", "target_tokens", "grad_norm", "epoch"}
    assert set(first["loss_by_perspective"]) <= {"expert", "equation", "narrative"}
    assert [r["target_tokens"] for r in train_rows_] == sorted(r["target_tokens"] for r in train_rows_)
    assert train_rows_[-1]["target_tokens"] == summary["target_tokens"]
    lrs = [r["lr"] for r in train_rows_]
    assert max(lrs) == pytest.approx(3e-3) and lrs[-1] == pytest.approx(3e-4)  # warmup, cosine to 10%
    periodic = list(range(2, summary["steps"], 2))  # eval_every 2, then the final eval where the budget ends
    assert [r["step"] for r in eval_rows] == periodic + [summary["steps"]] and rows[-1]["event"] == "final_eval"
    assert "eval_loss_by_perspective" in eval_rows[0]
    assert read_json(ref / "training" / "summary.json")["eval_loss"] == eval_rows[-1]["eval_loss"]
    assert summary["eval_loss"] < eval_rows[0]["eval_loss"]  # it learns


def test_lora_run_saves_a_merged_plain_model(student_dir, tmp_path):
    summary = run(student_dir, tmp_path, get_strategy("std_cot"), fast_train(max_steps=2, lr=1e-2),
                  lora=LoraParams(r=2, alpha=4, dropout=0.0))
    assert summary["steps"] == 2
    model = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert not any("lora" in k for k in model.state_dict())
    base = AutoModelForCausalLM.from_pretrained(student_dir)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed and all("proj" in k for k in changed)  # only adapted linear layers moved


def test_optimizer_is_fused_adamw_without_decay_on_gains():
    from mind_lib.trainer import build_optimizer
    from mind_lib.params.train import TrainParams

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    opt = build_optimizer(model, TrainParams(budget_tokens=10, weight_decay=0.1))
    assert opt.defaults["fused"] is True
    decay = {len(g["params"]): g["weight_decay"] for g in opt.param_groups}
    assert decay == {1: 0.1, 3: 0.0}  # the linear's matrix decays; its bias and the norm's gain and bias do not
    # a fused step equals the reference (for-loop) AdamW step
    ref = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
    ref.load_state_dict(model.state_dict())
    ref_opt = torch.optim.AdamW([ref[0].weight], lr=opt.defaults["lr"], betas=opt.defaults["betas"], weight_decay=0.1,
                                foreach=False)
    for m, o in ((model, opt), (ref, ref_opt)):
        m(torch.ones(2, 4)).pow(2).sum().backward()
        o.step()
    torch.testing.assert_close(model[0].weight, ref[0].weight)


def test_token_batches_hold_about_the_target_and_every_unit_once():
    from mind_lib.trainer import token_batches

    rng = np.random.default_rng(0)
    tokens = rng.integers(20, 120, size=500)
    batches = token_batches(tokens + 10, tokens, 300, group_size=8, seed=1, epoch=0)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    sums = np.array([tokens[b].sum() for b in batches])
    # a batch closes near the target, and the batches hold it on average (error diffusion)
    assert (np.abs(sums - 300) <= tokens.max()).mean() > 0.9 and abs(sums.mean() - 300) < 10
    assert [b.tolist() for b in batches] == [b.tolist() for b in token_batches(tokens + 10, tokens, 300, 8, 1, 0)]


def test_equal_target_tokens_are_equal_steps_with_batch_tokens():
    """One rationale per item, or a question's trajectories as one unit: the same budget buys about the same
    number of optimizer steps when batches hold a fixed number of target tokens, and not with batch_size."""
    from mind_lib.trainer import BatchOrder, plan_training

    rng = np.random.default_rng(0)
    single = rng.integers(40, 90, size=600)  # one paradigm's rationale per question
    multi = rng.integers(40, 90, size=600 * 7)  # seven trajectories per question, batched whole
    units = [list(range(7 * q, 7 * q + 7)) for q in range(600)]

    def steps(counts, batch_tokens, units=None):
        order = BatchOrder(counts + 5, 4, 16, 0, units=units, target_counts=counts, batch_tokens=batch_tokens)
        return plan_training(order, counts, 600_000, 1, 1).n_steps

    by_tokens = steps(single, 1024), steps(multi, 1024, units)
    by_items = steps(single, None), steps(multi, None, units)
    assert abs(by_tokens[0] - by_tokens[1]) / by_tokens[0] < 0.05
    assert by_items[0] > 1.5 * by_items[1]
