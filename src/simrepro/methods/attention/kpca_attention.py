r"""The kernel-PCA reading of self-attention (Teo & Nguyen, 2024) and the tests of it by Sarıtaş & Yıldız
("A Reproduction Study: The Kernel PCA Interpretation of Self-Attention Fails Under Scrutiny", ACL SRW 2025,
arXiv 2505.07908; official code github.com/KarahanS/Reproduction-Study-KPCA, scripts/nlp_value_vectors.py and
scripts/nlp_norms.py, whose definitions these functions follow — our code is written independently).

One head of one sequence: queries Q, keys K (N, d), learned values V (N, d_v). Kernel k(x, y) = exp(xᵀy/√d).

- KPCA values (Teo & Nguyen, eq. 6): g(k_j) = Σ_j' k(k_j, k_j'); the normalised feature map φ(k)/g(k) has Gram
  K_φ = [k(k_i, k_j)/(g_i g_j)]; centre it, K̃ = H K_φ H; take its top-d_v eigenvectors A (N, d_v); then
  V̂_KPCA = G (A − 1ₙ A) with G = diag(1/g), i.e. v̂_j = (a_j − mean_j' a_j') / g_j.
- Alignment of V with V̂: optimal cosine (Hungarian matching of token rows on their cosine matrix, mean matched
  cosine), linear CKA and RBF CKA (σ = median distance) from :mod:`simrepro.methods.representation.cka`.
- The two terms of the projection loss J_proj = (1/N) Σᵢ (‖φ(qᵢ)‖² − ‖hᵢ‖²):
  ‖φ(qᵢ)‖² = k(qᵢ, qᵢ) / g(qᵢ)² with g(qᵢ) = Σⱼ k(qᵢ, kⱼ), and hᵢ = Σⱼ softmax(qᵢᵀkⱼ/√d) vⱼ (the head's output).

Numerics: exp(xᵀy/√d) overflows float32 for large logits, so every kernel quantity is formed in log space
(log g by logsumexp) in float64: K_φ,ij = exp(s_ij − log g_i − log g_j) ≤ 1 and ‖φ(q)‖² = exp(qᵀq/√d − 2 log g(q)).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.special import logsumexp

from simrepro.kernels import pairwise_similarity
from simrepro.kernels._validate import as_matrix
from simrepro.methods.representation.cka import center_gram, linear_cka, rbf_cka


def _head_matrix(x, name: str, min_rows: int = 2) -> np.ndarray:
    t = as_matrix(x, name, dtype=torch.float64)
    if t.shape[0] < min_rows or t.shape[1] == 0:
        raise ValueError(f"{name}: need an (N, d) matrix with N ≥ {min_rows} tokens and d ≥ 1, got {tuple(t.shape)}")
    return t.numpy()


def _scaled_logits(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """S = A Bᵀ / √d: (N, d) × (M, d) → (N, M)."""
    return np.asarray(pairwise_similarity(a, b, metric="dot")) / math.sqrt(a.shape[1])


def kpca_gram(keys) -> tuple[np.ndarray, np.ndarray]:
    """(K̃, log g): the centred Gram H K_φ H (N, N) of the normalised features φ(k_j)/g(k_j), and log g (N,)."""
    k = _head_matrix(keys, "keys")
    s = _scaled_logits(k, k)
    log_g = logsumexp(s, axis=1)
    return center_gram(np.exp(s - log_g[:, None] - log_g[None, :])), log_g


def kpca_value_vectors(keys, d_v: int | None = None) -> np.ndarray:
    """V̂_KPCA (N, d_v) predicted by the KPCA reading from the keys (N, d); d_v defaults to d.

    Eigenvectors are those of the d_v largest eigenvalues of K̃ (PSD, so largest = largest in magnitude);
    their signs are arbitrary, as in the paper's code."""
    k = _head_matrix(keys, "keys")
    d_v = k.shape[1] if d_v is None else d_v
    if not 1 <= d_v <= k.shape[0]:
        raise ValueError(f"d_v must be in [1, N={k.shape[0]}], got {d_v}")
    gram, log_g = kpca_gram(k)
    _, vecs = np.linalg.eigh(gram)                     # ascending
    a = vecs[:, ::-1][:, :d_v]
    return (a - a.mean(axis=0, keepdims=True)) * np.exp(-log_g)[:, None]


def optimal_cosine(v, v_hat) -> float:
    """Mean cosine of the best one-to-one matching of the rows of ``v`` to the rows of ``v_hat`` (N, d)
    (Hungarian algorithm on the N × N cosine matrix; a zero row has cosine 0 with everything)."""
    v, v_hat = _head_matrix(v, "v", 1), _head_matrix(v_hat, "v_hat", 1)
    cos = np.asarray(pairwise_similarity(v, v_hat, metric="cosine"))
    rows, cols = linear_sum_assignment(-cos)
    return float(cos[rows, cols].mean())


def value_alignment(v, v_hat) -> dict[str, float]:
    """{optimal_cosine, linear_cka, kernel_cka} between learned values and KPCA values, both (N, d_v)."""
    v, v_hat = _head_matrix(v, "v"), _head_matrix(v_hat, "v_hat")
    if v.shape != v_hat.shape:
        raise ValueError(f"v {v.shape} and v_hat {v_hat.shape} must have the same shape (N, d_v)")
    return {"optimal_cosine": optimal_cosine(v, v_hat), "linear_cka": linear_cka(v, v_hat),
            "kernel_cka": rbf_cka(v, v_hat, threshold=1.0)}


def attention_weights(queries, keys) -> np.ndarray:
    """softmax(Q Kᵀ/√d) row-wise: (N, d) × (M, d) → (N, M)."""
    s = _scaled_logits(_head_matrix(queries, "queries", 1), _head_matrix(keys, "keys", 1))
    return np.exp(s - logsumexp(s, axis=1, keepdims=True))


def projection_loss_terms(queries, keys, values, *, phi_scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(‖φ(qᵢ)‖², ‖hᵢ‖²), each (N,): the two terms whose mean difference is J_proj.

    hᵢ always uses the attention's own scale 1/√d. ``phi_scale`` is the scale c of the kernel exp(c · xᵀy)
    inside ‖φ(qᵢ)‖² (default the same 1/√d); the official NLP script fixes c = 1/8 (= 1/√64) for every model,
    whatever its head size, which this knob lets us compare."""
    q, k, v = (_head_matrix(x, n, 1) for x, n in ((queries, "queries"), (keys, "keys"), (values, "values")))
    if k.shape[0] != v.shape[0]:
        raise ValueError(f"keys have {k.shape[0]} tokens but values have {v.shape[0]}")
    if phi_scale is not None and not phi_scale > 0:
        raise ValueError(f"phi_scale must be > 0, got {phi_scale}")
    dots = np.asarray(pairwise_similarity(q, k, metric="dot"))
    own = 1.0 / math.sqrt(q.shape[1])
    c = own if phi_scale is None else phi_scale
    phi_sq = np.exp(np.sum(q * q, axis=1) * c - 2.0 * logsumexp(dots * c, axis=1))
    s = dots * own
    h = np.exp(s - logsumexp(s, axis=1, keepdims=True)) @ v
    return phi_sq, np.sum(h * h, axis=1)


@torch.no_grad()
def bert_attention_inputs(model, encoding) -> list[dict[str, np.ndarray]]:
    """Per layer of a Hugging Face BERT-family encoder, the per-head queries, keys and values of one
    sequence: {'q', 'k', 'v'} each (heads, N, head_dim) float64, plus 'attn' (heads, N, N), the attention
    weights the model itself returns (``output_attentions=True``; load with ``attn_implementation="eager"``).

    ``encoding`` is the tokenizer's output for a single unpadded sequence (batch size 1)."""
    if encoding["input_ids"].shape[0] != 1:
        raise ValueError("pass one unpadded sequence (batch size 1) so that no padding enters the analysis")
    layers = model.encoder.layer
    captured: list[dict] = [{} for _ in layers]
    handles = []
    for i, layer in enumerate(layers):
        attn = layer.attention.self
        for name in ("query", "key", "value"):
            handles.append(getattr(attn, name).register_forward_hook(
                lambda _m, _inp, out, i=i, name=name: captured[i].__setitem__(name[0], out.detach())))
    try:
        out = model(**encoding, output_attentions=True)
    finally:
        for h in handles:
            h.remove()
    heads = model.config.num_attention_heads
    result = []
    for i, c in enumerate(captured):
        per_head = {key: c[key][0].reshape(c[key].shape[1], heads, -1).permute(1, 0, 2).double().numpy()
                    for key in ("q", "k", "v")}
        per_head["attn"] = out.attentions[i][0].double().numpy()
        result.append(per_head)
    return result


def analyse_head(q: np.ndarray, k: np.ndarray, v: np.ndarray, *, phi_scale: float | None = None) -> dict[str, float]:
    """All per-(head, sequence) statistics: value alignment with V̂_KPCA and the J_proj terms (means and
    medians over tokens); ``phi_scale`` is passed to :func:`projection_loss_terms`."""
    stats = value_alignment(v, kpca_value_vectors(k, d_v=v.shape[1]))
    phi_sq, h_sq = projection_loss_terms(q, k, v, phi_scale=phi_scale)
    stats.update(phi_sq_mean=float(phi_sq.mean()), h_sq_mean=float(h_sq.mean()),
                 phi_sq_median=float(np.median(phi_sq)), h_sq_median=float(np.median(h_sq)),
                 j_proj=float(np.mean(phi_sq - h_sq)))
    return stats


def sample_documents(pools: dict[str, list[str]], n_docs: int, seed: int) -> list[str]:
    """One seeded document sample: ⌊n_docs/2⌋ from ``pools['test']`` then the rest from ``pools['background']``,
    each drawn uniformly without replacement (order as drawn). Different seeds give independent samples."""
    half = n_docs // 2
    need = {"test": half, "background": n_docs - half}
    if n_docs < 1 or any(need[k] > len(pools.get(k, ())) for k in need):
        raise ValueError(f"need 1 ≤ n_docs and pools 'test' ≥ {half}, 'background' ≥ {n_docs - half} documents; got "
                         f"n_docs={n_docs}, sizes { {k: len(v) for k, v in pools.items()} }")
    rng = np.random.default_rng(seed)
    return [pools[k][i] for k in ("test", "background") for i in rng.choice(len(pools[k]), need[k], replace=False)]
