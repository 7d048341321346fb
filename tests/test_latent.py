"""Latent analysis: state extraction with left padding, the four quantities, the report and its figures."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from scipy.stats import ortho_group  # noqa: E402

from mind_lib.params.world import WorldParams  # noqa: E402
from mind_lib.formatting import format_prompt  # noqa: E402
from mind_lib.figures import layer_curves_figure, pca_tsne_figure  # noqa: E402
from mind_lib.latent import (chance_level, effective_rank, hidden_states, intermediate_targets,  # noqa: E402
                             latent_report, linear_cka, perspective_alignment, probe_accuracy)
from mind_lib.tables import LAYER_KEYS, latent_frame  # noqa: E402
from mind_lib.rationales import make_row  # noqa: E402
from mind_lib.student import build_tiny_student, train_word_tokenizer  # noqa: E402
from mind_lib.tasks.world import generate_world  # noqa: E402
from mind_lib.teachers.builtin import BuiltinTeacher  # noqa: E402
from tests.distill_data import TINY  # noqa: E402

WORLD = generate_world(WorldParams(n_train=40, n_feedback=5, n_test=60, n_general_train=5, n_general_test=12))
QUESTIONS, GENERAL = WORLD["test_id"], WORLD["general_test"]
STYLES = ("equation", "narrative", "program")


def _rows():
    rows = []
    for style in STYLES:
        teacher = BuiltinTeacher(style, style)
        texts = teacher.generate(WORLD["train"], 1, seed=0)
        rows += [make_row(e, style, style, 0, t[0], {}) for e, t in zip(WORLD["train"], texts)]
    return rows


ROWS = _rows()
TOKENIZER = train_word_tokenizer([e.question for split in WORLD.values() for e in split] +
                                 [r["rationale"] for r in ROWS] + ["Answer: The answer is"], vocab_size=600)


def _model(seed: int = 0):
    return build_tiny_student(TINY.model_copy(update={"init_seed": seed}), TOKENIZER)


def _gpt2():
    """Absolute position embeddings: unlike rotary (relative) ones, they see any shift that padding causes."""
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(vocab_size=len(TOKENIZER), n_positions=TINY.max_len, n_embd=TINY.d_model,
                        n_layer=TINY.n_layers, n_head=TINY.n_heads)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return GPT2LMHeadModel(config)


# --- hidden states ------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [_model, _gpt2], ids=["llama", "gpt2"])
def test_hidden_states_shape_and_left_padding_equal_one_by_one(make):
    model = make()
    texts = [format_prompt(e.question) for e in QUESTIONS[:7]] + ["Mia has 3 apples."]
    for pool in ("last", "mean"):
        batched = hidden_states(model, TOKENIZER, texts, batch_size=4, pool=pool)
        assert batched.shape == (TINY.n_layers + 1, len(texts), TINY.d_model) and batched.dtype == np.float32
        assert np.isfinite(batched).all()
        alone = np.concatenate([hidden_states(model, TOKENIZER, [t], pool=pool) for t in texts], axis=1)
        np.testing.assert_allclose(batched, alone, atol=1e-5)
    assert model.training  # left in the mode it was in


def test_hidden_states_pool_over_the_text_of_a_pair_only():
    model = _model()
    # the shortest question and rationale: the pair must fit max_len (a cut would change the span's tokens)
    question = min(QUESTIONS, key=lambda e: len(e.question)).question
    prompt, rationale = format_prompt(question), " " + min(ROWS, key=lambda r: len(r["rationale"]))["rationale"]
    pair = hidden_states(model, TOKENIZER, [(prompt, rationale), (format_prompt("Leo has 2 coins."), rationale)],
                         pool="mean")
    whole = hidden_states(model, TOKENIZER, [prompt + rationale], pool="mean")
    last_pair = hidden_states(model, TOKENIZER, [(prompt, rationale)], pool="last")
    last_whole = hidden_states(model, TOKENIZER, [prompt + rationale], pool="last")
    np.testing.assert_allclose(last_pair, last_whole, atol=1e-5)  # same tokens, same last state
    assert not np.allclose(pair[:, :1], whole, atol=1e-3)  # the prompt's tokens are not averaged in
    np.testing.assert_allclose(pair[0, 0], pair[0, 1], atol=1e-6)  # embeddings of the same span: same mean
    assert not np.allclose(pair[-1, 0], pair[-1, 1], atol=1e-3)  # but later layers see the different prompts


def test_hidden_states_cut_long_texts_and_reject_empty_spans():
    model = _model()
    long = " ".join(["Mia has 3 apples."] * 40)
    assert hidden_states(model, TOKENIZER, [long]).shape[1] == 1  # cut at max_position_embeddings
    with pytest.raises(ValueError, match="no tokens"):
        hidden_states(model, TOKENIZER, [("Mia has", "")])
    with pytest.raises(ValueError, match="pool"):
        hidden_states(model, TOKENIZER, ["x"], pool="max")


# --- quantities ---------------------------------------------------------------------------------

def test_effective_rank_identity_rank_one_and_constant():
    d = 8
    assert effective_rank(np.eye(d), center=False) == pytest.approx(d)
    assert effective_rank(np.eye(d)) == pytest.approx(d - 1)  # centering removes the mean direction
    assert effective_rank(np.vstack([np.eye(d), -np.eye(d)])) == pytest.approx(d)  # already centered
    rng = np.random.default_rng(0)
    assert effective_rank(np.outer(rng.normal(size=50), rng.normal(size=d))) == pytest.approx(1.0)
    assert effective_rank(np.tile(rng.normal(size=d), (20, 1))) == 0.0
    assert 1 < effective_rank(rng.normal(size=(200, d)) * np.arange(1, d + 1)) < d


def test_linear_cka_identity_invariances_and_independence():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 10))
    Q = ortho_group.rvs(10, random_state=1)
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X, 3.5 * X @ Q + 2.0) == pytest.approx(1.0)  # rotation, scale, shift
    assert linear_cka(X[:8], X[:8] @ Q) == pytest.approx(1.0)  # N < d1 + d2: the Gram-matrix branch
    assert linear_cka(X, rng.normal(size=(500, 10))) < 0.05  # about d/N = 0.02
    assert linear_cka(X, X @ rng.normal(size=(10, 3))) < 1.0
    assert np.isnan(linear_cka(X, np.ones((500, 4))))
    with pytest.raises(ValueError, match="same inputs"):
        linear_cka(X, X[:10])


def test_perspective_alignment_finds_the_planted_perspective():
    rng = np.random.default_rng(0)
    centres = {"equation": np.r_[5.0, 0, 0, 0], "narrative": np.r_[0, 5.0, 0, 0], "program": np.r_[0, 0, 5.0, 0]}
    persp = {k: c + rng.normal(size=(40, 4)) + 10.0 for k, c in centres.items()}  # shared offset: anisotropy
    student = centres["narrative"] + rng.normal(size=(30, 4)) + 10.0
    for metric in ("cosine", "euclidean"):
        out = perspective_alignment(student, persp, metric)
        assert out["nearest"] == "narrative" and set(out["distance"]) == set(centres)
        assert out["distance"]["narrative"] == min(out["distance"].values())
        assert out["share"]["narrative"] > 0.8 and sum(out["share"].values()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="metric"):
        perspective_alignment(student, persp, "manhattan")


def test_probe_reads_a_planted_linear_signal_but_not_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 16))
    y = (X @ rng.normal(size=16) > 0).astype(int) + 2 * (X[:, 0] > 0.5)  # 4 linearly separable-ish classes
    assert probe_accuracy(X, y, seed=0) > 0.85
    noise_y = rng.integers(0, 4, size=400)
    assert abs(probe_accuracy(X, noise_y, seed=0) - 0.25) < 0.12
    assert probe_accuracy(X, y, seed=0) == probe_accuracy(X, y, seed=0)  # seeded split
    with pytest.raises(ValueError, match="two classes"):
        probe_accuracy(X, np.zeros(400))


def test_intermediate_targets_from_the_step_list():
    first = np.array([e.meta["steps"][0]["after"] for e in QUESTIONS])
    np.testing.assert_array_equal(intermediate_targets(QUESTIONS, kind="mod", n_classes=5), first % 5)
    buckets = intermediate_targets(QUESTIONS, n_classes=4)
    assert set(buckets) <= {0, 1, 2, 3} and chance_level(buckets) < 0.45
    assert all(first[buckets == b].max() < first[buckets == b + 1].min() for b in range(3))  # ordered bins
    answers = intermediate_targets(QUESTIONS, step=-1, kind="mod", n_classes=2)
    np.testing.assert_array_equal(answers, np.array([int(e.answer) for e in QUESTIONS]) % 2)
    with pytest.raises(ValueError, match="no step list"):
        intermediate_targets(GENERAL)
    with pytest.raises(ValueError, match="step 9"):
        intermediate_targets(QUESTIONS, step=9)


# --- report and figures -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_and_states():
    base, tok = _model(0), TOKENIZER
    students = {"same_as_base": (_model(0), tok), "other": (_model(1), tok)}
    outputs = {"other": [(r["question"], r["rationale"]) for r in ROWS if r["perspective"] == "program"][:20]}
    states = {}
    report = latent_report(students, (base, tok), QUESTIONS, GENERAL, ROWS, outputs, batch_size=16,
                           per_perspective=20, states=states)
    return report, states


def test_latent_report_keys_per_method_and_layer(report_and_states):
    report, states = report_and_states
    json.dumps(report, allow_nan=False)  # valid JSON for latent.json
    assert set(report["methods"]) == {"same_as_base", "other"}
    assert report["setup"]["alignment"]["perspectives"] == {s: 20 for s in STYLES}
    for layers in [report["base_student"], *report["methods"].values()]:
        assert list(layers) == [str(i) for i in range(TINY.n_layers + 1)]
        for vals in layers.values():
            assert set(vals) == set(LAYER_KEYS)
            assert 0.0 <= vals["probe_acc"] <= 1.0
    for layer in map(str, range(1, TINY.n_layers + 1)):
        assert report["methods"]["same_as_base"][layer]["cka_to_base"] == pytest.approx(1.0)
        assert report["methods"]["other"][layer]["cka_to_base"] < 0.999
        assert report["methods"]["other"][layer]["nearest_perspective"] in STYLES
        assert report["methods"]["same_as_base"][layer]["nearest_perspective"] is None  # no outputs given
        assert report["methods"]["other"][layer]["effective_rank"] > 1
    # "last" pooling: every prompt ends with the same token, so the embedding layer has no variance
    assert report["base_student"]["0"]["effective_rank"] == 0.0 and report["base_student"]["0"]["cka_to_base"] is None
    assert states["other"]["own"].shape == (TINY.n_layers + 1, 20, TINY.d_model)
    assert "own" not in states["base_student"]


def test_latent_report_on_own_program_outputs_is_nearest_program_at_the_embeddings(report_and_states):
    report, _ = report_and_states  # identical texts: at layer 0 the program centroid is the closest
    assert report["methods"]["other"]["0"]["nearest_perspective"] == "program"


def test_figures_build(report_and_states):
    report, states = report_and_states
    fig = layer_curves_figure(report)
    assert len(fig.axes) == 3 and len(latent_frame(report)) == 3 * (TINY.n_layers + 1)
    plt.close(fig)
    by_method = {m: s["questions"][-1] for m, s in states.items()}
    fig = pca_tsne_figure(by_method, title="question states, last layer", legend_title="method")
    assert len(fig.axes) == 2
    plt.close(fig)
    fig = pca_tsne_figure({k: v[-1] for k, v in states["other"]["perspectives"].items()}, legend_title="perspective")
    plt.close(fig)


def test_latent_threads_are_checked():
    from mind_lib.params.latent import LatentParams

    assert LatentParams().num_threads == 2
    with pytest.raises(ValueError, match="num_threads"):
        LatentParams(num_threads=-1)


def test_paradigm_clustering_finds_separate_paradigms_and_not_mixed_ones():
    from mind_lib.latent import paradigm_clustering

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=6.0, size=(4, 12))
    apart = {f"p{i}": c + rng.normal(size=(40, 12)) for i, c in enumerate(centres)}
    mixed = {f"p{i}": rng.normal(size=(40, 12)) for i in range(4)}
    sep, mix = paradigm_clustering(apart), paradigm_clustering(mixed)
    assert sep["nmi"] > 0.85 and sep["ari"] > 0.8 and 3 <= sep["clusters"] <= 8  # measured 0.91, 0.89, 7
    assert mix["nmi"] < 0.2 and mix["ari"] < 0.1 and mix["clusters"] <= 2  # measured 0, 0, 1
    assert sep == paradigm_clustering(apart)  # seeded
    with pytest.raises(ValueError, match="two paradigms"):
        paradigm_clustering({"p0": apart["p0"]})


def test_paradigm_states_reads_single_paradigm_students_on_their_own_paradigm():
    from mind_lib.latent import paradigm_states

    layer = lambda v: np.full((3, 2, 4), v)  # noqa: E731  (layers, states, width)
    states = {"std_cot_formal": {"perspectives": {"formal": layer(1.0), "socratic": layer(9.0)}},
              "std_cot_socratic": {"perspectives": {"formal": layer(9.0), "socratic": layer(2.0)}},
              "mind": {"perspectives": {"formal": layer(3.0), "socratic": layer(4.0)}}, "dss": {}}
    out = paradigm_states(states, ["std_cot_formal", "std_cot_socratic", "mind", "dss"], ["formal", "socratic"])
    assert set(out) == {"single_paradigm", "mind"}
    assert out["single_paradigm"]["formal"][0, 0] == 1.0 and out["single_paradigm"]["socratic"][0, 0] == 2.0
    assert out["mind"]["socratic"].shape == (2, 4)
