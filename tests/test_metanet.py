"""MIND's equations (docs/method.md §2) against hand computations, and the MetaNet's invariants."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from mind_lib.inertia import LongTermLoss, warm_up
from mind_lib.metanet import (MetaNet, answer_log_probs, jsd, listnet_kl, pair_terms, positive_scores,
                              select_and_fuse, spearman, symmetric_kl)
from mind_lib.strategies.base import question_mean, question_rows


def test_positive_scores_are_exp_of_the_gap_to_the_best():  # §2.1
    z = torch.tensor([[1.0, 2.0, 0.0, 9.0]])
    mask = torch.tensor([[True, True, True, False]])
    s = positive_scores(z, mask, tau=2.0)
    assert torch.allclose(s, torch.tensor([[math.exp(-0.5), 1.0, math.exp(-1.0), 0.0]]))
    p = torch.softmax(z[0, :3] / 2.0, 0)  # = ListNet probabilities over the best one's
    assert torch.allclose(s[0, :3], p / p.max())
    assert torch.allclose(positive_scores(z + 5.0, mask, 2.0), s)  # shift-invariant, like ListNet


def test_selection_and_fusion_by_hand():  # §2.3
    s = torch.tensor([[1.0, 0.6, 0.3, 0.0]])
    mask = torch.tensor([[True, True, True, False]])
    selected, alpha = select_and_fuse(s, mask, beta=0.5, tau_student=0.5)
    assert selected.tolist() == [[True, True, False, False]]
    e1, e2 = math.exp(1.0 / 0.5), math.exp(0.6 / 0.5)
    assert torch.allclose(alpha, torch.tensor([[e1 / (e1 + e2), e2 / (e1 + e2), 0.0, 0.0]]))
    assert select_and_fuse(s, mask, 0.0, 1.0)[0].tolist() == mask.tolist()  # beta 0 keeps every trajectory
    assert select_and_fuse(s, mask, 1.0, 1.0)[0].tolist() == [[True, False, False, False]]  # beta 1: the best only


def test_listnet_kl_by_hand_and_the_inverted_target():  # §2.2
    z = torch.tensor([[0.5, -0.2, 1.0]])
    loss = torch.tensor([[2.0, 1.0, 3.0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    p = np.exp(z.numpy()[0]) / np.exp(z.numpy()[0]).sum()
    q = np.exp(-loss.numpy()[0]) / np.exp(-loss.numpy()[0]).sum()
    assert listnet_kl(z, loss, mask, tau=1.0).item() == pytest.approx(float((p * np.log(p / q)).sum()), rel=1e-5)
    qi = np.exp(loss.numpy()[0]) / np.exp(loss.numpy()[0]).sum()
    assert listnet_kl(z, loss, mask, 1.0, invert=True).item() == pytest.approx(float((p * np.log(p / qi)).sum()), rel=1e-5)
    assert listnet_kl(-loss, loss, mask, 1.0).item() == pytest.approx(0.0, abs=1e-6)  # perfect ranking: 0
    one = torch.tensor([[True, False, False]])
    assert listnet_kl(z, loss, one, 1.0).item() == 0.0  # nothing to rank


def test_jsd_and_symmetric_kl_by_hand():  # §2.4, §2.6
    p = np.array([[0.7, 0.2, 0.1], [0.5, 0.25, 0.25]])
    q = np.array([[0.1, 0.3, 0.6], [0.5, 0.25, 0.25]])
    m = (p + q) / 2
    kl = lambda a, b: (a * np.log(a / b)).sum(-1)  # noqa: E731
    lp, lq = torch.tensor(np.log(p)), torch.tensor(np.log(q))
    assert jsd(lp, lq).item() == pytest.approx(float((0.5 * kl(p, m) + 0.5 * kl(q, m)).mean()), rel=1e-6)
    assert symmetric_kl(lp, lq).item() == pytest.approx(float((0.5 * (kl(p, q) + kl(q, p))).mean()), rel=1e-6)
    assert jsd(lp, lq).item() == pytest.approx(jsd(lq, lp).item()) and 0 <= jsd(lp, lq).item() <= math.log(2)
    assert jsd(lp[:1], lq).item() == pytest.approx(float(0.5 * kl(p[0], m[0]) + 0.5 * kl(q[0], m[0])), rel=1e-6)


def test_answer_distributions_are_read_one_position_before_the_answer_tokens():
    logits = torch.randn(2, 6, 5)
    lps = answer_log_probs(logits, torch.tensor([3, -1]), torch.tensor([2, 0]))
    assert lps[1] is None and torch.allclose(lps[0], torch.log_softmax(logits[0, 2:4], -1))
    pairs = pair_terms([lps[0], None, lps[0]], jsd)
    assert [(i, j) for i, j, _ in pairs] == [(0, 2)] and pairs[0][2].item() == pytest.approx(0.0, abs=1e-7)


def test_long_term_loss_is_a_bias_corrected_ema():  # §2.2
    lt = LongTermLoss(2, 2, gamma=0.5)
    assert torch.isnan(lt.value()).all()
    lt.update(torch.tensor([0]), torch.tensor([1]), torch.tensor([4.0]))
    assert lt.value()[0, 1].item() == pytest.approx(4.0)  # the first value is the first loss
    lt.update(torch.tensor([0]), torch.tensor([1]), torch.tensor([2.0]))
    assert lt.value()[0, 1].item() == pytest.approx((0.5 * 0.5 * 4 + 0.5 * 2) / (1 - 0.25))
    instant = LongTermLoss(1, 1, gamma=0.0)
    for v in (5.0, 1.0):
        instant.update(torch.tensor([0]), torch.tensor([0]), torch.tensor([v]))
    assert instant.value().item() == 1.0
    assert torch.isnan(lt.per_perspective()[0]) and lt.per_perspective()[1].item() == pytest.approx(8 / 3)
    with pytest.raises(ValueError, match="loss_ema"):
        LongTermLoss(1, 1, gamma=1.0)


def test_question_mean_weighs_questions_by_their_trajectories():  # §2.5
    per_seq = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    groups = question_rows(torch.tensor([7, 7, 3, 7, 3]))
    assert [g.tolist() for g in groups] == [[0, 1, 3], [2, 4]]
    means = [per_seq[g].mean() for g in groups]
    assert question_mean(means, [3, 2], 5).item() == pytest.approx(per_seq.mean().item())


def test_spearman_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    mask = torch.ones(4, 5, dtype=torch.bool)
    mask[3, 2:] = False
    rho = spearman(torch.tensor(a), torch.tensor(b), mask)
    for i in range(3):
        assert rho[i].item() == pytest.approx(spearmanr(a[i], b[i]).statistic, abs=1e-6)
    assert torch.isnan(rho[3])  # two trajectories: nothing to rank


def test_metanet_ignores_masked_trajectories_and_is_permutation_equivariant():
    torch.manual_seed(0)
    net = MetaNet(d_in=6, dim=8, attn_heads=2, score_heads=3).eval()
    q, k = torch.randn(2, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, True, False], [True, True, True, True]])
    z = net(q, k, mask)
    assert z[0, 3] == 0
    k2 = k.clone()
    k2[0, 3] = 100.0  # what sits in a masked slot changes nothing
    assert torch.allclose(net(q, k2, mask), z, atol=1e-6)
    perm = torch.tensor([2, 0, 1, 3])
    assert torch.allclose(net(q, k[:, perm], mask[:, perm])[0, :3], z[0, perm][:3], atol=1e-5)
    solo = MetaNet(6, 8, 2, 3, synergy=False).eval()
    other = k.clone()
    other[0, 1] = 5.0  # without synergy, a trajectory's score ignores its neighbours
    assert torch.allclose(solo(q, other, mask)[0, 0], solo(q, k, mask)[0, 0])
    assert not torch.allclose(net(q, other, mask)[0, 0], z[0, 0])  # with it, it does not


@pytest.mark.parametrize("invert", [False, True])
def test_warm_up_learns_to_rank_low_loss_first_and_the_inverted_target_the_opposite(invert):
    """Synthetic capability: a trajectory's loss is a fixed function of its vector; after warm-up the MetaNet
    ranks held-out questions as their losses do (or, inverted, the other way)."""
    torch.manual_seed(1)
    n_q, n_p, d = 256, 4, 8
    w = torch.randn(d)
    q, k = torch.randn(n_q, d), torch.randn(n_q, n_p, d)
    loss = (k @ w).sigmoid() * 3
    mask = torch.ones(n_q, n_p, dtype=torch.bool)
    net = MetaNet(d, 32, 4, 3)
    history = warm_up(net, q[:200], k[:200], mask[:200], loss[:200], epochs=40, batch_size=32, lr=3e-3, tau=1.0,
                      seed=0, invert=invert)
    assert history[-1] < 0.5 * history[0]
    with torch.no_grad():
        rho = spearman(net(q[200:], k[200:], mask[200:]), -loss[200:], mask[200:]).mean().item()
    assert (rho < -0.6) if invert else (rho > 0.6), rho


def save_tiny_encoder(folder, tokenizer_folder):
    """A randomly initialised 1-layer BERT with another local model's tokenizer: the real profile's encoder
    folder, built here instead of downloaded."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(tokenizer_folder, local_files_only=True)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=512)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_folder_encoder_reads_question_and_trajectory_texts(tmp_path):
    from mind_lib.metanet import folder_features
    from tests.distill_data import make_examples, make_rows, save_tiny_student

    ex = make_examples(3)
    enc = save_tiny_encoder(tmp_path / "enc", save_tiny_student(tmp_path / "student", ex, make_rows(ex)))
    texts = [("Mia has 3 apples.", "3 + 1 = 4."), ("Mia has 3 apples.", "x = 3 + 1 = 4.")]
    feats = folder_features(enc, texts, "cpu")
    assert feats["question"].shape == feats["trajectory"].shape == (2, 16)
    assert torch.equal(feats["question"][0], feats["question"][1])
    assert not torch.equal(feats["trajectory"][0], feats["trajectory"][1])
    with pytest.raises(FileNotFoundError, match="no config.json"):
        folder_features(tmp_path / "missing", texts, "cpu")
