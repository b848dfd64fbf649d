r"""Very sparse random projection (Achlioptas 2003; Li, Hastie & Church, KDD 2006): ``(n, m) → (n, d)``.

R ∈ ℝ^{m×d} has i.i.d. entries
    R_ij = +√(s/d)  with probability 1/(2s),   0 with probability 1 − 1/s,   −√(s/d) with probability 1/(2s),
so E[R_ij] = 0 and E[R_ij²] = 1/d: for any x, E‖xR‖² = ‖x‖² (Johnson–Lindenstrauss in expectation).
s = 1 gives a dense Rademacher matrix, s = 3 Achlioptas' sparse one, and s = √m Li et al.'s *very sparse* one
(scikit-learn's ``SparseRandomProjection`` default, density 1/√m, uses the same scaling √(s/d)).

- :func:`very_sparse_random_matrix` draws the non-zeros column by column — a binomial count, then that many
  distinct rows and random signs — so it costs O(m·d/s) time and memory, never O(m·d): the fast path.
- :func:`very_sparse_random_matrix_reference` draws every entry from the three-point law in a dense (m, d)
  array: the definition, O(m·d). The two use different random streams; tests compare their laws.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp


def _check(n_features: int, dim: int, s: float | None) -> float:
    for name, v in (("n_features", n_features), ("dim", dim)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    s = math.sqrt(n_features) if s is None else float(s)
    if not (math.isfinite(s) and s >= 1.0):
        raise ValueError(f"sparsity s must be ≥ 1 (1 = dense, √n_features = very sparse), got {s}")
    return s


def very_sparse_random_matrix(n_features: int, dim: int, *, s: float | None = None,
                              seed: int | np.random.Generator = 0) -> sp.csc_matrix:
    """R (n_features, dim) CSC float64 from the three-point law above; ``s=None`` means s = √n_features."""
    s = _check(n_features, dim, s)
    rng = np.random.default_rng(seed)
    scale = math.sqrt(s / dim)
    counts = rng.binomial(n_features, 1.0 / s, size=dim)             # non-zeros per column
    rows = [rng.choice(n_features, size=c, replace=False) for c in counts]
    indices = np.concatenate(rows) if dim else np.empty(0, np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    data = scale * rng.choice((-1.0, 1.0), size=indices.shape[0])
    R = sp.csc_matrix((data, indices, indptr), shape=(n_features, dim))
    R.sort_indices()
    return R


def very_sparse_random_matrix_reference(n_features: int, dim: int, *, s: float | None = None,
                                        seed: int | np.random.Generator = 0) -> np.ndarray:
    """The definition, entry by entry, as a dense (n_features, dim) float64 array."""
    s = _check(n_features, dim, s)
    rng = np.random.default_rng(seed)
    u = rng.random((n_features, dim))
    p = 1.0 / (2.0 * s)
    return math.sqrt(s / dim) * ((u < p).astype(np.float64) - (u > 1.0 - p).astype(np.float64))
