r"""Word–context co-occurrence counts and pointwise mutual information (PMI, PPMI, SPPMI).

**Counts** (:func:`cooccurrence`). For token sequences s (ints in [0, V)), a symmetric window of radius w and
weights a(o) for offset o = 1..w (``"harmonic"``: 1/o as in GloVe and Swivel's prep; ``"uniform"``: 1),

    X_ij = Σ_s Σ_{t} Σ_{o=1..w} a(o) ([s_t = i, s_{t+o} = j] + [s_t = j, s_{t+o} = i])

so X is symmetric, (V, V) float64 CSR; windows never cross sequence boundaries. Vectorised over offsets and all
sequences at once (one COO build, duplicates summed): O(w·T) for T tokens. :func:`cooccurrence_reference`
walks the tokens in Python.

**PMI** (:func:`pmi`). With row sums r_i = Σ_j X_ij, column sums c_j, total N = Σ_ij X_ij and context
smoothing α (Levy, Goldberg & Dagan 2015: ĉ_j = c_j^α / Σ c^α · N; α = 1 is plain PMI),

    PMI_ij = log X_ij + log N − log r_i − log ĉ_j                     (X_ij > 0)
    PPMI_ij = max(PMI_ij, 0),   SPPMI_ij = max(PMI_ij − log k, 0)     (Levy & Goldberg 2014, k negatives)

on observed cells only (the sparse result leaves X_ij = 0 cells out: −∞ for PMI, 0 for PPMI/SPPMI); explicit
zeros (X_ij > 0 cells whose PPMI is 0) are dropped from PPMI/SPPMI output. O(nnz). :func:`pmi_dense_reference`
computes the same on a dense array, −∞ / 0 at unobserved cells.

Bad input (NaN, negative counts, a non-square or non-2-D matrix for PMI's marginals, window < 1, tokens out of
range) raises ``ValueError`` saying how to fix it. Rows or columns with zero sum have no observed cells and so no
entries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

KINDS = ("pmi", "ppmi", "sppmi")


def _window_weights(window: int, weighting: str) -> np.ndarray:
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window}")
    o = np.arange(1, int(window) + 1, dtype=np.float64)
    if weighting == "harmonic":
        return 1.0 / o
    if weighting == "uniform":
        return np.ones_like(o)
    raise ValueError(f"weighting must be 'harmonic' or 'uniform', got {weighting!r}")


def _check_sequences(sequences, vocab_size: int) -> list[np.ndarray]:
    if int(vocab_size) != vocab_size or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, got {vocab_size}")
    out = []
    for s in sequences:
        a = np.asarray(s)
        if a.size and a.dtype.kind not in "iu":
            raise ValueError(f"token sequences must hold integer ids, got dtype {a.dtype}; map words to ids first")
        a = a.astype(np.int64).ravel()
        if a.size and (a.min() < 0 or a.max() >= vocab_size):
            raise ValueError(f"token ids must lie in [0, {vocab_size}); drop out-of-vocabulary tokens first")
        out.append(a)
    return out


def cooccurrence(sequences: Sequence, vocab_size: int, window: int = 5, weighting: str = "harmonic") -> sp.csr_matrix:
    """Symmetric windowed co-occurrence counts (V, V) float64 CSR (module docstring). ``sequences``: an iterable
    of 1-D integer arrays (sentences / documents) or one 2-D array of equal-length sequences."""
    wts = _window_weights(window, weighting)
    seqs = _check_sequences(list(sequences), vocab_size)
    if not seqs:
        return sp.csr_matrix((vocab_size, vocab_size))
    lens = np.array([len(s) for s in seqs])
    tok = np.concatenate(seqs) if lens.sum() else np.zeros(0, np.int64)
    seq_id = np.repeat(np.arange(len(seqs)), lens)
    rows, cols, vals = [], [], []
    for o, a in enumerate(wts, start=1):
        if len(tok) <= o:
            break
        same = seq_id[:-o] == seq_id[o:]
        i, j = tok[:-o][same], tok[o:][same]
        rows += [i, j]
        cols += [j, i]
        vals.append(np.full(2 * len(i), a))
    if not rows:
        return sp.csr_matrix((vocab_size, vocab_size))
    X = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                      shape=(vocab_size, vocab_size))
    X = X.tocsr()
    X.sum_duplicates()
    return X


def cooccurrence_reference(sequences, vocab_size: int, window: int = 5, weighting: str = "harmonic") -> np.ndarray:
    """The counts by walking every token and its right-hand window (dense (V, V); tests only)."""
    wts = _window_weights(window, weighting)
    X = np.zeros((vocab_size, vocab_size))
    for s in _check_sequences(list(sequences), vocab_size):
        for t in range(len(s)):
            for o in range(1, len(wts) + 1):
                if t + o < len(s):
                    X[s[t], s[t + o]] += wts[o - 1]
                    X[s[t + o], s[t]] += wts[o - 1]
    return X


def _check_counts(X) -> sp.csr_matrix:
    X = sp.csr_matrix(X, dtype=np.float64) if sp.issparse(X) else sp.csr_matrix(np.asarray(X, dtype=np.float64))
    if X.ndim != 2:
        raise ValueError(f"counts must be a 2-D (words, contexts) matrix, got shape {X.shape}")
    if not np.isfinite(X.data).all():
        raise ValueError("counts contain NaN or inf; counts must be finite")
    if (X.data < 0).any():
        raise ValueError("counts must be ≥ 0 (co-occurrence counts or weights); got negative entries")
    X.eliminate_zeros()
    return X


def _check_kind(kind: str, shift: float, alpha: float):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not (shift >= 1):
        raise ValueError(f"shift (the number of negatives k of SPPMI) must be ≥ 1, got {shift}")
    if not (0 < alpha <= 1):
        raise ValueError(f"alpha (context smoothing) must be in (0, 1], got {alpha}")


def _marginals(r, c, alpha):
    N = r.sum()
    if alpha != 1.0:
        ca = c ** alpha
        c = ca / ca.sum() * N
    return N, c


def pmi(counts, kind: str = "pmi", *, shift: float = 1.0, alpha: float = 1.0) -> sp.csr_matrix:
    """PMI / PPMI / SPPMI of the observed cells of ``counts`` (module docstring), CSR float64 of the same shape."""
    _check_kind(kind, shift, alpha)
    X = _check_counts(counts)
    if X.nnz == 0:
        return sp.csr_matrix(X.shape)
    r = np.asarray(X.sum(axis=1)).ravel()
    c = np.asarray(X.sum(axis=0)).ravel()
    N, c = _marginals(r, c, alpha)
    C = X.tocoo()
    v = np.log(C.data) + np.log(N) - np.log(r[C.row]) - np.log(c[C.col])
    if kind == "sppmi":
        v = v - np.log(shift)
    if kind in ("ppmi", "sppmi"):
        keep = v > 0
        out = sp.csr_matrix((v[keep], (C.row[keep], C.col[keep])), shape=X.shape)
    else:
        out = sp.csr_matrix((v, (C.row, C.col)), shape=X.shape)
    out.sort_indices()
    return out


def pmi_dense_reference(counts, kind: str = "pmi", *, shift: float = 1.0, alpha: float = 1.0) -> np.ndarray:
    """Dense PMI (−∞ at unobserved cells) / PPMI / SPPMI (0 there), by the formula cell by cell."""
    _check_kind(kind, shift, alpha)
    X = _check_counts(counts).toarray()
    n, m = X.shape
    r, c = X.sum(axis=1), X.sum(axis=0)
    N, c = _marginals(r, c, alpha)
    out = np.full((n, m), -np.inf if kind == "pmi" else 0.0)
    for i in range(n):
        for j in range(m):
            if X[i, j] > 0:
                v = np.log(X[i, j] * N / (r[i] * c[j]))
                if kind == "sppmi":
                    v -= np.log(shift)
                out[i, j] = v if kind == "pmi" else max(v, 0.0)
    return out
