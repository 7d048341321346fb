"""Latent analysis: what distillation does to the student's hidden states.

- ``hidden_states(model, tokenizer, texts)``: pooled states of every layer of any HF causal LM,
  shape ``(n_layers + 1, N, d)``; a text may be a ``(prefix, text)`` pair whose prefix is read as
  context but not pooled (e.g. a prompt before a rationale).
- Quantities on a matrix of states ``X`` of shape ``(N, d)``: ``effective_rank``, ``linear_cka``,
  ``perspective_alignment``, ``probe_accuracy``; ``intermediate_targets`` gives probe labels from
  world problems' step lists.
- ``latent_report(...)``: all of them per method and per layer, the content of
  ``reports/metrics/latent.json``.
- ``pca_tsne_figure``, ``layer_curves_figure``: figures (callers save them with
  ``mind_lib.report.save_figure``).

Every quantity is computed in float64 from float32 states. Undefined values (e.g. the CKA of a
representation that is the same for every input) are ``nan`` here and ``None`` in the report.
"""
from __future__ import annotations

import math
from typing import Literal, Mapping, Sequence

import numpy as np
import torch

from mind_lib.formatting import format_prompt, prompt_ids
from mind_lib.tasks.base import Example

Pool = Literal["last", "mean"]
Metric = Literal["cosine", "euclidean"]
TargetKind = Literal["bucket", "mod"]
Text = str | tuple[str, str]
"""A plain text (every token pooled) or a ``(prefix, text)`` pair (only the text's tokens pooled)."""


# ---------------------------------------------------------------------------------------------
# hidden states


def _encode(tokenizer, texts: Sequence[Text], max_len: int | None) -> list[tuple[list[int], int]]:
    """``[bos] prefix text`` token ids of each text and how many trailing tokens are the text's.

    Prefix and text are tokenized separately (as ``formatting.tokenize_pairs`` does for training),
    so the pooled span is exact. Beyond ``max_len`` tokens the text is cut at its end.
    """
    pairs = [t if isinstance(t, tuple) else ("", t) for t in texts]
    contexts = prompt_ids(tokenizer, [prefix for prefix, _ in pairs])  # [bos] prefix, as training reads a prompt
    bodies = tokenizer([text for _, text in pairs], add_special_tokens=False)["input_ids"] if pairs else []
    out = []
    for i, (context, body) in enumerate(zip(contexts, bodies)):
        if max_len is not None:
            if len(context) >= max_len:
                raise ValueError(f"text {i}: its prefix has {len(context)} tokens, no room within max_len={max_len}")
            body = body[:max_len - len(context)]
        if not body:
            raise ValueError(f"text {i} has no tokens to pool over: {pairs[i][1]!r}")
        out.append((context + body, len(body)))
    return out


def hidden_states(model, tokenizer, texts: Sequence[Text], batch_size: int = 32, pool: Pool = "last",
                  max_len: int | None = None) -> np.ndarray:
    """Pooled hidden states of every layer: a float32 array of shape ``(n_layers + 1, N, d)``.

    Index 0 is the embedding output, index ``l`` the output of block ``l`` (HF's
    ``output_hidden_states``; for Llama the last one is after the final norm). A text is read as
    ``[bos] prefix text`` (``bos`` when the tokenizer has one, as in training) and pooled over
    the text's tokens only: ``pool="last"`` takes the state of its last token,
    ``pool="mean"`` the mean :math:`\\frac{1}{|S|}\\sum_{t \\in S} h_t` over its token span ``S``.

    Batches are padded on the LEFT with an attention mask and position ids that count real
    tokens only, so a padded batch gives the states each text gets alone. Texts are sorted by
    length to pad little; rows come back in input order. ``max_len`` (default: the model's
    ``max_position_embeddings``) cuts longer texts at their end. The model is run in eval mode
    without gradients and left in the mode it was in.
    """
    if pool not in ("last", "mean"):
        raise ValueError(f"pool must be 'last' or 'mean', got {pool!r}")
    if not texts:
        raise ValueError("hidden_states needs at least one text")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    max_len = max_len or getattr(model.config, "max_position_embeddings", None)
    encoded = _encode(tokenizer, texts, max_len)
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    device = next(model.parameters()).device
    chunks = []
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                batch = [encoded[i] for i in order[start:start + batch_size]]
                width = max(len(ids) for ids, _ in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                span = torch.zeros((len(batch), width), dtype=torch.bool)
                for row, (ids, n_text) in enumerate(batch):
                    input_ids[row, width - len(ids):] = torch.as_tensor(ids)
                    mask[row, width - len(ids):] = 1
                    span[row, width - n_text:] = True
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                out = model(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                            position_ids=positions.to(device), output_hidden_states=True, use_cache=False)
                span = span.to(device)
                chunks.append(torch.stack([_pool(h.float(), span, pool) for h in out.hidden_states]).cpu())
    finally:
        model.train(was_training)
    states = torch.cat(chunks, dim=1)
    return states[:, np.argsort(order)].numpy()


def _pool(h: torch.Tensor, span: torch.Tensor, pool: Pool) -> torch.Tensor:
    """``(B, T, d)`` states -> ``(B, d)``; ``where`` (not a product) so that padding rows never leak NaN."""
    if pool == "last":
        return h[:, -1]
    summed = torch.where(span[..., None], h, torch.zeros((), dtype=h.dtype, device=h.device)).sum(1)
    return summed / span.sum(1, keepdim=True)


# ---------------------------------------------------------------------------------------------
# quantities on (N, d) state matrices


def _centered(X) -> np.ndarray:
    """Column-centered float64 copy of an ``(N, d)`` matrix; exactly zero when every row is the same
    (up to rounding: ``||X_c||_F <= max(N, d) * eps * ||X||_F``)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"expected an (N, d) matrix with N >= 2, got shape {X.shape}")
    Xc = X - X.mean(axis=0)
    if np.linalg.norm(Xc) <= max(X.shape) * np.finfo(np.float64).eps * np.linalg.norm(X):
        Xc[:] = 0.0
    return Xc


def effective_rank(X, center: bool = True) -> float:
    """Effective rank (Roy & Vetterli, 2007) of ``X`` ``(N, d)``: how many directions its states spread over.

    With :math:`\\sigma_i` the singular values of :math:`X_c` (``X`` minus its column means when
    ``center``), :math:`p_i = \\sigma_i / \\sum_j \\sigma_j` and
    :math:`\\mathrm{erank}(X) = \\exp(-\\sum_i p_i \\log p_i)`, between 1 and ``min(N, d)``.
    Examples: the uncentered identity ``I_d`` has erank ``d``; centering removes one direction
    (``I_d - 1/d``: ``d - 1``); any rank-1 matrix has erank 1. Singular values below
    ``max(N, d) * eps * sigma_max`` count as zero; a matrix without variance (all rows equal, or
    all zero) has erank 0.
    """
    Xc = _centered(X) if center else np.asarray(X, dtype=np.float64)
    s = np.linalg.svd(Xc, compute_uv=False)
    if s.size == 0 or s[0] <= 0:
        return 0.0
    s = s[s > max(Xc.shape) * np.finfo(np.float64).eps * s[0]]
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def linear_cka(X, Y) -> float:
    """Linear centered kernel alignment (Kornblith et al., 2019) of two representations of the same N inputs.

    ``X`` ``(N, d1)``, ``Y`` ``(N, d2)``, rows aligned. With column-centered :math:`X_c, Y_c`:
    :math:`\\mathrm{CKA}(X, Y) = \\lVert Y_c^\\top X_c \\rVert_F^2 /
    (\\lVert X_c^\\top X_c \\rVert_F \\, \\lVert Y_c^\\top Y_c \\rVert_F)`, in [0, 1]; 1 for
    identical representations, invariant to orthogonal transforms and isotropic scaling of either
    side; about ``d/N`` for independent random ones. Computed with the ``N x N`` Gram matrices
    (:math:`\\mathrm{tr}(K L) / (\\lVert K\\rVert_F \\lVert L\\rVert_F)`, :math:`K = X_c X_c^\\top`)
    when that is smaller. ``nan`` when either side has no variance.
    """
    Xc, Yc = _centered(X), _centered(Y)
    if Xc.shape[0] != Yc.shape[0]:
        raise ValueError(f"linear_cka needs the same inputs on both sides: {Xc.shape[0]} vs {Yc.shape[0]} rows")
    if not Xc.any() or not Yc.any():
        return float("nan")
    if Xc.shape[0] < Xc.shape[1] + Yc.shape[1]:
        K, L = Xc @ Xc.T, Yc @ Yc.T
        num, den = float((K * L).sum()), np.linalg.norm(K) * np.linalg.norm(L)
    else:
        num, den = np.linalg.norm(Yc.T @ Xc) ** 2, np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    return float(num / den)


def _distances(A: np.ndarray, C: np.ndarray, metric: Metric) -> np.ndarray:
    """``(n, K)`` distances of rows of ``A`` to centroids ``C``; cosine is taken around the centroids' mean."""
    if metric == "euclidean":
        return np.linalg.norm(A[:, None, :] - C[None, :, :], axis=-1)
    mu = C.mean(axis=0)
    a, c = A - mu, C - mu
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-300)
    return 1.0 - a @ c.T


def perspective_alignment(student_states, perspective_states: Mapping[str, np.ndarray],
                          metric: Metric = "cosine") -> dict:
    """Which perspective's states the student's states lie closest to.

    ``student_states`` ``(N, d)``; ``perspective_states`` maps a perspective to ``(N_k, d)``.
    With centroids :math:`c_k` (mean of perspective ``k``'s states), :math:`\\mu = \\frac1K\\sum_k c_k`
    and the student's centroid :math:`c_s`:

    - ``cosine`` (default): :math:`d_k = 1 - \\cos(c_s - \\mu, c_k - \\mu)`, in [0, 2]. Centering at
      :math:`\\mu` removes the direction all states share (hidden states are anisotropic: raw
      cosines are all near 1), so only what tells the perspectives apart is compared.
    - ``euclidean``: :math:`d_k = \\lVert c_s - c_k \\rVert_2`.

    Returns ``{"distance": {k: d_k}, "nearest": argmin_k d_k, "share": {k: fraction of the
    student's states whose own nearest centroid is k}}``.
    """
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean', got {metric!r}")
    if not perspective_states:
        raise ValueError("perspective_alignment needs at least one perspective")
    names = list(perspective_states)
    C = np.stack([np.asarray(perspective_states[k], dtype=np.float64).mean(axis=0) for k in names])
    S = np.asarray(student_states, dtype=np.float64)
    if S.ndim != 2 or S.shape[1] != C.shape[1]:
        raise ValueError(f"student states must be (N, {C.shape[1]}), got shape {S.shape}")
    centroid = _distances(S.mean(axis=0, keepdims=True), C, metric)[0]
    votes = np.bincount(_distances(S, C, metric).argmin(axis=1), minlength=len(names)) / len(S)
    return {"distance": {k: float(v) for k, v in zip(names, centroid)}, "nearest": names[int(centroid.argmin())],
            "share": {k: float(v) for k, v in zip(names, votes)}}


def probe_accuracy(X, y, seed: int = 0, test_size: float = 0.3, C: float = 1.0) -> float:
    """Held-out accuracy of a linear probe that reads the class ``y`` from the states ``X`` ``(N, d)``.

    A split (stratified when every class has 2+ members, ``random_state=seed``) keeps
    ``test_size`` of the rows out; on the rest, features are standardized (train mean and std)
    and an L2-regularised multinomial logistic regression (inverse strength ``C``) is fit.
    Returns the accuracy on the held-out rows; compare with ``chance_level(y)``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"probe_accuracy needs X (N, d) and y (N,); got {X.shape} and {y.shape}")
    counts = np.unique(y, return_counts=True)[1]
    if len(counts) < 2:
        raise ValueError("probe_accuracy needs at least two classes in y")
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, random_state=seed,
                                              stratify=y if counts.min() >= 2 else None)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
    return float(probe.fit(X_tr, y_tr).score(X_te, y_te))


def chance_level(y) -> float:
    """Accuracy of always answering the most frequent class: the probe's baseline."""
    return float(np.unique(np.asarray(y), return_counts=True)[1].max() / len(y))


def intermediate_targets(examples: Sequence[Example], step: int = 0, kind: TargetKind = "bucket",
                         n_classes: int = 4) -> np.ndarray:
    """Probe labels from world problems: the result :math:`x_{step+1}` after change ``step`` (0 = the first).

    - ``bucket`` (default): quantile bins of :math:`x_{step+1}` over ``examples``
      (edges at the ``1/n_classes, ..., (n_classes-1)/n_classes`` quantiles; ties can merge bins),
      so classes are about balanced and chance is about ``1/n_classes``. Because :math:`x_1` is
      correlated with the start :math:`x_0` written in the question, this shows that the value is
      represented, not that it was computed.
    - ``mod``: :math:`x_{step+1} \\bmod n_\\text{classes}`, which the question's numbers do not give
      away linearly: the stricter test of computation.

    Returns an int array ``(N,)``. ``step=-1`` probes the final answer.
    """
    if kind not in ("bucket", "mod"):
        raise ValueError(f"kind must be 'bucket' or 'mod', got {kind!r}")
    if n_classes < 2:
        raise ValueError(f"n_classes must be >= 2, got {n_classes}")
    values = []
    for ex in examples:
        steps = ex.meta.get("steps")
        if not steps:
            raise ValueError(f"example {ex.id} ({ex.split}) has no step list; probe targets need world problems")
        if not -len(steps) <= step < len(steps):
            raise ValueError(f"example {ex.id} has {len(steps)} steps; step {step} does not exist")
        values.append(steps[step]["after"])
    values = np.asarray(values)
    if kind == "mod":
        return values % n_classes
    edges = np.quantile(values, np.arange(1, n_classes) / n_classes)
    return np.searchsorted(edges, values, side="right")


# ---------------------------------------------------------------------------------------------
# the report


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _rationale_text(question: str, rationale: str) -> tuple[str, str]:
    """``(prompt, " rationale")``: the text a student is trained on, with the rationale as the pooled span."""
    return format_prompt(question), " " + rationale.strip()


def _perspective_texts(rows: Sequence[dict], per_perspective: int, seed: int) -> dict[str, list[tuple[str, str]]]:
    """Rationale texts grouped by perspective, at most ``per_perspective`` each (seeded draw, file order kept)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["perspective"], []).append(row)
    rng = np.random.default_rng(seed)
    out = {}
    for name in sorted(groups):
        rs = groups[name]
        keep = np.sort(rng.choice(len(rs), size=min(per_perspective, len(rs)), replace=False))
        out[name] = [_rationale_text(rs[i]["question"], rs[i]["rationale"]) for i in keep]
    return out


def latent_report(students: Mapping[str, tuple], base: tuple, questions: Sequence[Example],
                  general: Sequence[Example], rationales: Sequence[dict] = (),
                  outputs: Mapping[str, Sequence[tuple[str, str]]] | None = None, *,
                  base_name: str = "base_student", pool: Pool = "last", batch_size: int = 32, seed: int = 0,
                  target: TargetKind = "bucket", n_classes: int = 4, step: int = 0, metric: Metric = "cosine",
                  per_perspective: int = 64, states: dict | None = None) -> dict:
    """Per method and layer: effective rank, CKA to the base student, probe accuracy, nearest perspective.

    ``students`` maps a method to ``(model, tokenizer)`` (e.g. ``load_student(path)``); ``base``
    is the base student's pair. All models must have the same number of layers. Per model ``m``
    and layer ``l`` (0 = embeddings):

    - ``effective_rank``: of the states of ``questions`` (world problems, e.g. ``test_id``)
      read as prompts (``format_prompt``), pooled with ``pool``.
    - ``cka_to_base``: ``linear_cka`` between ``m``'s and the base's states of the ``general``
      questions at layer ``l``: 1 = the pre-distillation representation of what the student
      already knew is intact (up to rotation and scale); lower = it was rewritten.
    - ``probe_acc``: ``probe_accuracy`` on the question states with labels
      ``intermediate_targets(questions, step, target, n_classes)``: is the intermediate result
      linearly readable before any rationale is written? Chance is in ``setup.probe.chance``.
    - ``nearest_perspective`` / ``perspective_distance``: ``perspective_alignment`` of the
      student's states on its OWN generated rationales (``outputs[m]``: ``(question, output)``
      pairs, e.g. its predictions) against its states on each teacher perspective's rationales
      (``rationales`` rows, at most ``per_perspective`` per perspective), all read as
      ``prompt + rationale`` and mean-pooled over the rationale tokens, in ``m``'s own space:
      whose way of reasoning does the student's own reasoning resemble? ``None`` when ``m``
      has no outputs or there are no rationale rows.

    Returns ``{"setup": {...}, base_name: {layer: {...}}, "methods": {m: {layer: {...}}}}`` with
    layers keyed "0".."L" and the keys of ``LAYER_KEYS``; non-finite values become ``None``.
    ``states``, when given, is filled with the arrays used (per model: ``questions``,
    ``general``, and when computed ``own`` and ``perspectives``), each ``(L+1, N, d)``, for figures.
    """
    outputs = outputs or {}
    y = intermediate_targets(questions, step, target, n_classes)
    q_texts = [format_prompt(e.question) for e in questions]
    g_texts = [format_prompt(e.question) for e in general]
    persp = _perspective_texts(rationales, per_perspective, seed)
    models = {base_name: base, **students}
    unknown = set(outputs) - set(models)
    if unknown:
        raise ValueError(f"outputs for unknown models {sorted(unknown)}; known: {sorted(models)}")
    base_general = None
    report: dict = {"setup": {
        "pool": pool, "n_questions": len(questions), "n_general": len(general),
        "probe": {"target": f"steps[{step}].after", "kind": target, "n_classes": n_classes, "chance": chance_level(y),
                  "test_size": 0.3, "seed": seed},
        "alignment": {"metric": metric, "pool": "mean over rationale tokens",
                      "perspectives": {k: len(v) for k, v in persp.items()},
                      "outputs": {m: len(o) for m, o in outputs.items()}},
    }, "methods": {}}
    for name, (model, tokenizer) in models.items():
        def run(texts, p=pool, model=model, tokenizer=tokenizer):
            return hidden_states(model, tokenizer, texts, batch_size, p)

        q, g = run(q_texts), run(g_texts)
        if base_general is None:
            base_general = g
        elif g.shape[0] != base_general.shape[0]:
            raise ValueError(f"{name} has {g.shape[0] - 1} layers but the base student {base_general.shape[0] - 1}")
        kept = {"questions": q, "general": g}
        own = per = None
        if outputs.get(name) and persp:
            own = run([_rationale_text(qu, o) for qu, o in outputs[name]], "mean")
            flat = run([t for texts in persp.values() for t in texts], "mean")
            bounds = np.cumsum([0] + [len(v) for v in persp.values()])
            per = {k: flat[:, a:b] for k, a, b in zip(persp, bounds[:-1], bounds[1:])}
            kept |= {"own": own, "perspectives": per}
        layers = {}
        for layer in range(q.shape[0]):
            align = (perspective_alignment(own[layer], {k: v[layer] for k, v in per.items()}, metric)
                     if own is not None else {"nearest": None, "distance": None})
            layers[str(layer)] = {
                "effective_rank": _finite(effective_rank(q[layer])),
                "cka_to_base": _finite(linear_cka(g[layer], base_general[layer])),
                "probe_acc": probe_accuracy(q[layer], y, seed),
                "nearest_perspective": align["nearest"],
                "perspective_distance": align["distance"],
            }
        (report if name == base_name else report["methods"])[name] = layers
        if states is not None:
            states[name] = kept
    return report


def paradigm_clustering(states_by_paradigm: Mapping[str, np.ndarray], seed: int = 0, max_components: int = 16,
                        dims: int = 20) -> dict:
    """Do the paradigms occupy separate regions? A Dirichlet-process mixture on the states, scored against the labels.

    ``states_by_paradigm``: paradigm -> ``(N_p, d)`` states (one layer). The states are standardised and reduced to
    ``dims`` principal components; ``BayesianGaussianMixture`` with a Dirichlet-process prior (at most
    ``max_components``, diagonal covariances, seeded) picks how many clusters the data support. Returns the number
    of clusters used, and NMI and ARI between clusters and paradigm labels (1 = the paradigms are the clusters;
    about 0 = unrelated).
    """
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    from sklearn.mixture import BayesianGaussianMixture
    from sklearn.preprocessing import StandardScaler

    groups = {k: np.asarray(v, dtype=np.float64) for k, v in states_by_paradigm.items() if len(v)}
    X = np.concatenate(list(groups.values()))
    y = np.concatenate([[k] * len(v) for k, v in groups.items()])
    if len(groups) < 2 or len(X) < 4:
        raise ValueError(f"paradigm clustering needs two paradigms and 4 states, got {len(groups)} and {len(X)}")
    Z = StandardScaler().fit_transform(X)
    Z = PCA(n_components=min(dims, len(X) - 1, X.shape[1]), random_state=seed).fit_transform(Z)
    mixture = BayesianGaussianMixture(n_components=min(max_components, len(X)), covariance_type="diag",
                                      weight_concentration_prior_type="dirichlet_process", max_iter=500,
                                      random_state=seed).fit(Z)
    clusters = mixture.predict(Z)
    return {"clusters": int(len(np.unique(clusters))), "paradigms": len(groups), "n_states": int(len(X)),
            "nmi": float(normalized_mutual_info_score(y, clusters)), "ari": float(adjusted_rand_score(y, clusters))}


def paradigm_states(states: Mapping[str, dict], runs: Sequence[str], paradigms: Sequence[str]) -> dict[str, dict]:
    """The last-layer states the paradigm analysis reads, per group (docs/method.md §5):

    - ``single_paradigm``: each single-paradigm student ``std_cot_<p>`` on held-out rationales of its own paradigm p;
    - each other run (e.g. ``mind``, ``mcc_kd``): its own states on every paradigm's held-out rationales.
    Groups with fewer than two paradigms are left out.
    """
    out: dict[str, dict] = {}
    single = {p: states[f"std_cot_{p}"]["perspectives"][p][-1] for p in paradigms
              if "perspectives" in states.get(f"std_cot_{p}", {}) and p in states[f"std_cot_{p}"]["perspectives"]}
    if len(single) >= 2:
        out["single_paradigm"] = single
    for run in runs:
        if run.startswith("std_cot") or "perspectives" not in states.get(run, {}):
            continue
        own = {p: v[-1] for p, v in states[run]["perspectives"].items() if p in paradigms}
        if len(own) >= 2:
            out[run] = own
    return out


# ---------------------------------------------------------------------------------------------
# figures


# ---------------------------------------------------------------------------------------------
# the latent stage


def analyse_students(params, paths, states: dict | None = None) -> dict:
    """The latent stage: the base student and every method (first seed) -> ``reports/metrics/latent.json``.

    Each student's own rationales are its ID test predictions (from the evaluate stage).
    """
    from mind_lib.predictions import load_predictions
    from mind_lib.io import write_json
    from mind_lib.rationales import load_rationales
    from mind_lib.stats import BASE_METHOD
    from mind_lib.student import load_student
    from mind_lib.tasks.world import load_split

    cfg = params.latent
    seed = params.distill.seeds[0]
    if params.world.source != "world":
        # the probe reads intermediate results and CKA the general suite: both exist only in the embedded world
        report = {"setup": {"skipped": "latent analysis needs the embedded world (world.source: world)"},
                  "methods": {}}
        write_json(paths.latent_file, report)
        return report
    states = {} if states is None else states
    questions = load_split(paths.world, "test_id")[:cfg.n_questions]
    general = load_split(paths.world, "general_test")[:cfg.n_general]
    text_of = {e.id: e.question for e in questions}
    base_dir = paths.base_student
    students, outputs = {}, {}
    for method in params.distill.runs:
        students[method] = load_student(paths.run_dir(method, seed))
        preds = load_predictions(paths.prediction_file(method, seed, "test_id"))
        outputs[method] = [(text_of[r["id"]], r["output"]) for r in preds if r["id"] in text_of]
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.num_threads or threads)
    try:
        report = latent_report(students, load_student(base_dir), questions, general,
                               load_rationales(paths.rationale_file("feedback")), outputs, base_name=BASE_METHOD,
                               pool=cfg.pool, batch_size=cfg.batch_size, seed=cfg.seed, target=cfg.target,
                               n_classes=cfg.n_classes, per_perspective=cfg.per_perspective, states=states)
    finally:
        torch.set_num_threads(threads)  # a notebook kernel or test process keeps its own setting
    from mind_lib.styles import PARADIGMS

    report["paradigm_clusters"] = {group: paradigm_clustering(by_paradigm, seed=cfg.seed) for group, by_paradigm in
                                   paradigm_states(states, params.distill.runs, PARADIGMS).items()}
    write_json(paths.latent_file, report)
    return report
