"""Invariants of MIND's two mechanisms: the TA's weights and the inertia filter."""
import pytest
import torch

from mind_lib.inertia import InertiaFilter, calibrated_beta, corrected, ema_step
from mind_lib.ta import (N_FEATURES, TANetwork, build_features, heuristic_weights, masked_weights,
                         relative_to_question, weighted_loss)

torch.manual_seed(0)
LOGITS = torch.randn(6, 5)
MASK = torch.tensor([[1, 1, 1, 1, 1], [1, 0, 1, 0, 1], [0, 0, 1, 0, 0], [1, 1, 0, 0, 0],
                     [0, 1, 1, 1, 0], [1, 0, 0, 0, 1]], dtype=torch.bool)


@pytest.mark.parametrize("tau, eps", [(1.0, 0.0), (0.3, 0.1), (5.0, 0.5)])
def test_weights_sum_to_one_and_vanish_on_missing(tau, eps):
    w = masked_weights(LOGITS, MASK, tau, eps)
    assert torch.allclose(w.sum(1), torch.ones(6))
    assert (w[~MASK] == 0).all() and (w >= 0).all()


def test_empty_question_gets_no_weight_and_no_nan():
    mask = MASK.clone()
    mask[0] = False
    w = masked_weights(LOGITS, mask, 1.0, 0.1)
    assert not torch.isnan(w).any() and (w[0] == 0).all()


def test_large_tau_is_uniform_small_tau_is_argmax():
    uniform = MASK / MASK.sum(1, keepdim=True)
    assert torch.allclose(masked_weights(LOGITS, MASK, 1e6, 0.0), uniform, atol=1e-5)
    sharp = masked_weights(LOGITS, MASK, 1e-4, 0.0)
    best = LOGITS.masked_fill(~MASK, float("-inf")).argmax(1)
    assert torch.allclose(sharp, torch.nn.functional.one_hot(best, 5).float(), atol=1e-5)


def test_epsilon_floor_holds():
    eps = 0.2
    w = masked_weights(LOGITS * 100, MASK, 0.01, eps)
    floor = eps / MASK.sum(1, keepdim=True)
    assert (w[MASK] >= (floor.expand_as(w)[MASK] - 1e-7)).all()


def test_no_gradient_reaches_the_student_through_the_weights():
    logits = LOGITS.clone().requires_grad_(True)  # the TA's output
    student_losses = torch.rand(6, 5, requires_grad=True)  # the student's per-rationale losses
    w = masked_weights(logits, MASK, 1.0, 0.1)
    weighted_loss(student_losses, w).backward()
    assert logits.grad is None  # the weights were detached
    # and the student's gradient is exactly the (constant) weights / B
    assert torch.allclose(student_losses.grad, w.detach() / 6)


def test_weighted_loss_ignores_missing_entries_even_if_not_finite():
    losses = torch.rand(6, 5).masked_fill(~MASK, float("inf"))
    assert torch.isfinite(weighted_loss(losses, masked_weights(LOGITS, MASK, 1.0, 0.1)))


def test_heuristic_favours_low_filtered_loss_and_inversion_the_opposite():
    filtered = torch.tensor([[1.0, 2.0, 3.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True, False, False]])
    w = heuristic_weights(filtered, mask, tau=1.0, epsilon=0.0)
    inv = heuristic_weights(filtered, mask, tau=1.0, epsilon=0.0, invert=True)
    assert w[0, 0] > w[0, 1] > w[0, 2] and inv[0, 2] > inv[0, 1] > inv[0, 0]
    assert torch.allclose(relative_to_question(filtered, mask), torch.tensor([[-1.0, 0.0, 1.0, 0.0, 0.0]]))


def test_ta_network_starts_uniform_and_shapes():
    ta = TANetwork(n_perspectives=5)
    feats = build_features(*(torch.rand(6, 5) for _ in range(4)), MASK)
    assert feats.shape == (6, 5, N_FEATURES) and (feats[~MASK] == 0).all()
    logits = ta(feats)
    assert logits.shape == (6, 5)
    assert torch.allclose(masked_weights(logits, MASK, 1.0, 0.0), MASK / MASK.sum(1, keepdim=True))


# ------------------------------------------------------------------------------------- inertia


def test_bias_correction_makes_first_filtered_value_the_raw_value():
    for beta in (0.0, 0.5, 0.99):
        avg, norm = ema_step(torch.zeros(3), torch.zeros(3), torch.tensor([2.0, 5.0, 7.0]), beta)
        assert torch.allclose(corrected(avg, norm), torch.tensor([2.0, 5.0, 7.0]))


def test_ema_of_a_constant_is_that_constant_even_with_changing_beta():
    avg, norm = torch.zeros(()), torch.zeros(())
    for beta in (0.9, 0.2, 0.97, 0.5):
        avg, norm = ema_step(avg, norm, torch.tensor(3.0), beta)
        assert torch.allclose(corrected(avg, norm), torch.tensor(3.0))


def test_masked_ema_leaves_unmasked_entries():
    avg, norm = ema_step(torch.ones(2), torch.ones(2), torch.tensor([5.0, 5.0]), 0.5, torch.tensor([True, False]))
    assert avg.tolist() == [3.0, 1.0] and norm.tolist() == [1.0, 1.0]


def test_calibrated_beta_range_and_direction():
    lo, hi = 0.5, 0.98
    values = [calibrated_beta(t, lo, hi, 20.0) for t in (-10, -0.1, 0.0, 0.1, 10)]
    assert all(lo <= v <= hi for v in values)
    assert values == sorted(values) and values[0] < values[2] < values[-1]
    assert values[2] == pytest.approx((lo + hi) / 2)
    with pytest.raises(ValueError):
        calibrated_beta(0.0, 0.9, 0.5, 1.0)


def run_feedback(filt, losses):
    betas = [filt.feedback(x) for x in losses]
    return betas


def test_rising_feedback_loss_raises_inertia_falling_lowers_it():
    rising = InertiaFilter(4, 3, beta_min=0.5, beta_max=0.98)
    falling = InertiaFilter(4, 3, beta_min=0.5, beta_max=0.98)
    b_up = run_feedback(rising, [1.0, 1.2, 1.5, 1.9, 2.4])
    b_down = run_feedback(falling, [2.4, 1.9, 1.5, 1.2, 1.0])
    mid = (0.5 + 0.98) / 2
    assert b_up[-1] > mid > b_down[-1]
    assert all(0.5 <= b <= 0.98 for b in b_up + b_down)


def test_fixed_and_off_modes():
    fixed = InertiaFilter(2, 2, mode="fixed", beta=0.8)
    assert run_feedback(fixed, [1, 2, 3, 4])[-1] == 0.8
    off = InertiaFilter(2, 2, mode="off")
    q = torch.tensor([0, 1])
    mask = torch.ones(2, 2, dtype=torch.bool)
    off.update(q, torch.tensor([[1.0, 2.0], [3.0, 4.0]]), mask)
    off.update(q, torch.tensor([[5.0, 6.0], [7.0, 8.0]]), mask)
    filtered, progress = off.filtered(q, torch.tensor([[5.0, 6.0], [7.0, 8.0]]))
    assert torch.allclose(filtered, torch.tensor([[5.0, 6.0], [7.0, 8.0]])) and (progress == 0).all()
    with pytest.raises(ValueError, match="mode"):
        InertiaFilter(2, 2, mode="sometimes")
    with pytest.raises(ValueError, match="beta_min"):
        InertiaFilter(2, 2, beta_min=0.9, beta_max=0.5)


def test_filter_smooths_and_falls_back_for_unseen_pairs():
    f = InertiaFilter(3, 2, mode="fixed", beta=0.9)
    mask = torch.tensor([[True, True], [True, False]])
    q = torch.tensor([0, 1])
    for _ in range(10):
        f.update(q, torch.tensor([[1.0, 4.0], [3.0, 0.0]]), mask)
    f.update(q, torch.tensor([[9.0, 4.0], [3.0, 0.0]]), mask)  # one noisy batch
    filtered, progress = f.filtered(torch.tensor([0, 1, 2]), torch.full((3, 2), 100.0))
    assert 1.0 < filtered[0, 0] < 3.0  # heavy inertia: one noisy batch moves it little
    assert progress[0, 0] < 0  # loss went up: negative progress
    assert filtered[1, 1] == pytest.approx(4.0)  # unseen pair: the perspective's filtered loss
    assert torch.allclose(filtered[2], f.perspective_losses())


def test_state_dict_round_trip():
    f = InertiaFilter(3, 2)
    f.update(torch.tensor([0, 2]), torch.rand(2, 2), torch.ones(2, 2, dtype=torch.bool))
    for x in (1.0, 1.5, 2.0):
        f.feedback(x)
    g = InertiaFilter(3, 2)
    g.load_state_dict(f.state_dict())
    assert g.beta_t == f.beta_t and g.feedback_history == f.feedback_history
    assert all(torch.equal(g.tensors[k], f.tensors[k]) for k in f.tensors)
    assert g.feedback(2.5) == f.feedback(2.5)
    with pytest.raises(ValueError, match="shape"):
        InertiaFilter(4, 2).load_state_dict(f.state_dict())
