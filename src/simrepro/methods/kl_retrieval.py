r"""Retrieval by negative KL divergence between diagonal Gaussians, served as maximum inner product search
(Zamani & Bendersky, "Multivariate Representation Learning for Information Retrieval", SIGIR 2023,
arXiv 2304.14522).

A query q = N(μ_q, diag σ_q²) and a document d = N(μ_d, diag σ_d²) in ℝᵏ. Their KL divergence is

    KL(q‖d) = ½ Σᵢ [ log σ_dᵢ² − log σ_qᵢ² + (σ_qᵢ² + (μ_qᵢ − μ_dᵢ)²) / σ_dᵢ² − 1 ].

Expanding the square, every term is a product of a query factor and a document factor, so

    −KL(q‖d) = ⟨a(q), b(d)⟩ + c(q),          a, b ∈ ℝ^{2k+1},
    a(q) = −½ [1, σ_q² + μ_q², −2μ_q],        b(d) = [Σᵢ (log σ_dᵢ² + μ_dᵢ²/σ_dᵢ²), 1/σ_d², μ_d/σ_d²],
    c(q) = ½ Σᵢ (log σ_qᵢ² + 1).

c(q) is constant per query, so the top-k documents by −KL are exactly the top-k by the inner product ⟨a, b⟩:
any exact or approximate MIPS index over b(d) serves the model. The reverse direction decomposes too:

    −KL(d‖q) = ⟨a'(q), b'(d)⟩ + c'(q),   a' = −½ [1, 1/σ_q², −2μ_q/σ_q²],   b' = [−Σᵢ log σ_dᵢ², σ_d² + μ_d², μ_d],
    c'(q) = ½ Σᵢ (1 − log σ_qᵢ² − μ_qᵢ²/σ_qᵢ²).

``direction="qd"`` is KL(q‖d) (query distribution first), ``"dq"`` is KL(d‖q).

Numerics: b(d)'s first entry sums k terms that can be large (μ²/σ² for small σ²); ⟨a, b⟩ then cancels
against it, so float32 indices (faiss) carry an absolute error of roughly ε₃₂·‖a‖·‖b‖; the float64 path
matches the direct formula to ~1e-12 relative.
"""

from __future__ import annotations

import numpy as np

from simrepro.kernels.topk import topk_search

DIRECTIONS = ("qd", "dq")


def _check_gaussians(mu, var, name: str) -> tuple[np.ndarray, np.ndarray]:
    mu, var = np.asarray(mu, dtype=np.float64), np.asarray(var, dtype=np.float64)
    if mu.ndim != 2 or mu.shape != var.shape:
        raise ValueError(f"{name}: mean and variance must both be (n, k) with the same shape, got {mu.shape} "
                         f"and {var.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(var).all()):
        raise ValueError(f"{name}: means/variances contain NaN or inf")
    if (var <= 0).any():
        raise ValueError(f"{name}: variances must be strictly positive (got min {var.min():.3g}); "
                         f"parameterise them as exp(log_var) or softplus")
    return mu, var


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'qd' (KL(q‖d)) or 'dq' (KL(d‖q)), got {direction!r}")


def gaussian_kl(mu_q, var_q, mu_d, var_d, direction: str = "qd", *, block_size: int | None = None) -> np.ndarray:
    """Direct pairwise KL: (nq, k) × (nd, k) → (nq, nd), K[i, j] = KL(qᵢ‖dⱼ) (or KL(dⱼ‖qᵢ) for ``"dq"``).

    Float64, ``block_size`` queries at a time: O(block_size·nd·k) temporary memory; ``None`` keeps it near
    128 MiB."""
    _check_direction(direction)
    mu_q, var_q = _check_gaussians(mu_q, var_q, "queries")
    mu_d, var_d = _check_gaussians(mu_d, var_d, "documents")
    if mu_q.shape[1] != mu_d.shape[1]:
        raise ValueError(f"queries have dimension {mu_q.shape[1]} but documents {mu_d.shape[1]}")
    if direction == "dq":                                   # KL(d‖q): swap roles, then transpose
        return gaussian_kl(mu_d, var_d, mu_q, var_q, "qd", block_size=block_size).T
    out = np.empty((mu_q.shape[0], mu_d.shape[0]))
    block = block_size or max(1, (1 << 24) // max(1, mu_d.size))
    log_var_d = np.log(var_d)
    for s in range(0, mu_q.shape[0], block):
        mq, vq = mu_q[s:s + block, None, :], var_q[s:s + block, None, :]          # (b, 1, k)
        out[s:s + block] = 0.5 * (log_var_d - np.log(vq) + (vq + (mq - mu_d) ** 2) / var_d - 1.0).sum(-1)
    return out


def kl_query_vectors(mu, var, direction: str = "qd") -> tuple[np.ndarray, np.ndarray]:
    """(a(q) (n, 2k+1), c(q) (n,)) with −KL = ⟨a(q), b(d)⟩ + c(q)."""
    _check_direction(direction)
    mu, var = _check_gaussians(mu, var, "queries")
    ones = np.ones((mu.shape[0], 1))
    if direction == "qd":
        a = -0.5 * np.hstack([ones, var + mu**2, -2.0 * mu])
        c = 0.5 * (np.log(var) + 1.0).sum(1)
    else:
        a = -0.5 * np.hstack([ones, 1.0 / var, -2.0 * mu / var])
        c = 0.5 * (1.0 - np.log(var) - mu**2 / var).sum(1)
    return a, c


def kl_document_vectors(mu, var, direction: str = "qd") -> np.ndarray:
    """b(d) (n, 2k+1): the vectors a MIPS index stores."""
    _check_direction(direction)
    mu, var = _check_gaussians(mu, var, "documents")
    if direction == "qd":
        return np.hstack([(np.log(var) + mu**2 / var).sum(1, keepdims=True), 1.0 / var, mu / var])
    return np.hstack([-np.log(var).sum(1, keepdims=True), var + mu**2, mu])


def kl_retrieve(mu_q, var_q, mu_d, var_d, k: int, direction: str = "qd", *, search=None):
    """Top-k documents by −KL for every query, through an inner-product search: ``D, I`` of shape (nq, k).

    ``D[i, r]`` = −KL of the r-th best document (best first; the constant c(q) is added back), ``I`` its id.
    ``search(queries, database, k) -> (scores, ids)`` is any MIPS routine; default: the exact
    :func:`simrepro.kernels.topk.topk_search` with ``metric="dot"`` in float64.
    """
    a, c = kl_query_vectors(mu_q, var_q, direction)
    b = kl_document_vectors(mu_d, var_d, direction)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"queries have dimension {(a.shape[1] - 1) // 2} but documents {(b.shape[1] - 1) // 2}")
    if search is None:
        scores, ids = topk_search(a, b, k, metric="dot")
    else:
        scores, ids = search(a, b, k)
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(np.asarray(ids) >= 0, scores + c[:, None], -np.inf), np.asarray(ids, dtype=np.int64)


def kl_retrieve_reference(mu_q, var_q, mu_d, var_d, k: int, direction: str = "qd"):
    """Brute force: the full −KL matrix (direct formula), a stable sort, the first k; −inf / −1 as filler."""
    neg = -gaussian_kl(mu_q, var_q, mu_d, var_d, direction)
    nq, nd = neg.shape
    order = np.argsort(-neg, axis=1, kind="stable")[:, :k]
    D = np.full((nq, k), -np.inf)
    I = np.full((nq, k), -1, dtype=np.int64)
    D[:, :order.shape[1]] = np.take_along_axis(neg, order, axis=1)
    I[:, :order.shape[1]] = order
    return D, I


def random_gaussians(n: int, dim: int, rng: np.random.Generator, *, log_var_range=(-2.0, 2.0)):
    """n diagonal Gaussians: μ ~ N(0, I), log σ² ~ U(log_var_range) per coordinate; returns (μ, σ²)."""
    mu = rng.standard_normal((n, dim))
    var = np.exp(rng.uniform(*log_var_range, size=(n, dim)))
    return mu, var
