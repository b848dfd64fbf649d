r"""Column cosine similarity of a sparse matrix (item–item cosine on user × item interactions).

For ``X`` (n, m) with columns x_j (an item's interactions over users), the kernel returns the (m, m) matrix

    S_ij = x_i·x_j / (‖x_i‖ ‖x_j‖ + λ)          (λ = ``shrink`` ≥ 0; S_ij = 0 when x_i = 0 or x_j = 0)

with the diagonal set to 0 when ``zero_diagonal`` (an item is not its own neighbour), and, when ``topk`` is
given, only the ``topk`` largest entries of each row kept (ties: lower column index first; entries ≤ 0 are
dropped), as item-kNN does (Sarwar et al. 2001; Deshpande & Karypis 2004). λ > 0 shrinks similarities
supported by few co-occurrences towards 0.

- :func:`sparse_cosine_similarity`: scipy.sparse, ``G = XᵀX`` as a sparse product, O(Σ_u nnz(row u)²) time,
  CSR output. float64 throughout.
- :func:`sparse_cosine_similarity_reference`: the definition on a dense copy, one pair at a time over the
  columns (O(m²·n)); for tests.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _as_csr(X) -> sp.csr_matrix:
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
    else:
        arr = np.asarray(X)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"X: expected a numeric matrix, got dtype {arr.dtype}")
        X = sp.csr_matrix(arr.astype(np.float64))
    if X.ndim != 2:
        raise ValueError(f"X: expected a 2-D (users, items) matrix, got shape {X.shape}")
    if not np.isfinite(X.data).all():
        raise ValueError("X contains NaN or inf; drop or impute those interactions first")
    return X


def _check_args(shrink: float, topk: int | None) -> None:
    if not np.isfinite(shrink) or shrink < 0:
        raise ValueError(f"shrink must be a finite number ≥ 0, got {shrink}")
    if topk is not None and (int(topk) != topk or topk < 1):
        raise ValueError(f"topk must be a positive integer or None, got {topk}")


def sparse_cosine_similarity(X, *, shrink: float = 0.0, topk: int | None = None,
                             zero_diagonal: bool = True) -> sp.csr_matrix:
    """Item–item cosine (m, m) CSR float64 of the columns of ``X`` (n, m), scipy.sparse or dense.

    See the module docstring for the definition. Raises ``ValueError`` for NaN/inf entries, a negative
    ``shrink`` or ``topk`` < 1."""
    _check_args(shrink, topk)
    X = _as_csr(X)
    m = X.shape[1]
    Xc = X.tocsc()
    norms = np.sqrt(np.asarray(Xc.multiply(Xc).sum(axis=0)).ravel())            # ‖x_j‖, (m,)
    G = (Xc.T @ Xc).tocoo()                                                       # x_i·x_j, sparse (m, m)
    denom = norms[G.row] * norms[G.col] + shrink
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = np.where(denom > 0, G.data / np.where(denom > 0, denom, 1.0), 0.0)
    keep = vals != 0
    if zero_diagonal:
        keep &= G.row != G.col
    S = sp.csr_matrix((vals[keep], (G.row[keep], G.col[keep])), shape=(m, m))
    S.sort_indices()
    if topk is not None:
        S = _keep_topk_rows(S, int(topk))
    return S


def _keep_topk_rows(S: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the k largest positive entries of each row (ties: lower column first), vectorised over rows."""
    coo = S.tocoo()
    pos = coo.data > 0
    r, c, v = coo.row[pos], coo.col[pos], coo.data[pos]
    order = np.lexsort((c, -v, r))                                                # by row, −value, column
    r, c, v = r[order], c[order], v[order]
    starts = np.searchsorted(r, np.arange(S.shape[0]))
    keep = np.arange(len(r)) - starts[r] < k                                      # rank within the row < k
    out = sp.csr_matrix((v[keep], (r[keep], c[keep])), shape=S.shape)
    out.sort_indices()
    return out


def sparse_cosine_similarity_reference(X, *, shrink: float = 0.0, topk: int | None = None,
                                       zero_diagonal: bool = True) -> np.ndarray:
    """The definition, pair by pair on a dense float64 copy of ``X``: (m, m) dense."""
    _check_args(shrink, topk)
    X = _as_csr(X).toarray()
    m = X.shape[1]
    S = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if zero_diagonal and i == j:
                continue
            ni, nj = np.sqrt(X[:, i] @ X[:, i]), np.sqrt(X[:, j] @ X[:, j])
            if ni > 0 and nj > 0:
                S[i, j] = (X[:, i] @ X[:, j]) / (ni * nj + shrink)
    if topk is not None:
        for i in range(m):
            order = sorted(range(m), key=lambda j: (-S[i, j], j))
            keep = [j for j in order[:topk] if S[i, j] > 0]
            row = np.zeros(m)
            row[keep] = S[i, keep]
            S[i] = row
    return S
