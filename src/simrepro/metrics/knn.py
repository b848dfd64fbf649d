"""Comparing k-NN results ``D, I`` (nq, k) while allowing ties, and recall of approximate results.

Neighbour ids must never be compared position by position: two exact methods may order tied scores
differently, and at the k-th place may even return different (equally good) ids. :func:`knn_matches` follows
faiss's ``check_ref_knn_with_draws`` (``faiss/contrib/evaluation.py``) with a tolerance: per query,

1. distances agree: ``|D − D_ref| ≤ tol`` position by position (filler ±inf must match exactly);
2. every reference id whose distance is *not* tied with the k-th reference distance (beyond ``tol``) is
   returned somewhere in the row;
3. every returned id that the reference does not list has a distance tied with the k-th reference distance.

``tol = atol + rtol · scale`` per query, where ``scale`` defaults to the row's largest finite ``|D_ref|``; for
squared-l2 in float32 pass ``scale = ‖q‖² + max‖y‖²``, the size of the expansion's cancellation error.
"""

from __future__ import annotations

import numpy as np


def _as_knn(D, I, name: str) -> tuple[np.ndarray, np.ndarray]:
    D, I = np.asarray(D, dtype=np.float64), np.asarray(I)
    if D.shape != I.shape or D.ndim != 2:
        raise ValueError(f"{name}: D and I must both be (nq, k), got {D.shape} and {I.shape}")
    if I.dtype.kind not in "iu":
        raise TypeError(f"{name}: I must hold integer ids, got dtype {I.dtype}")
    return D, I


def knn_matches(D_ref, I_ref, D, I, *, rtol: float = 1e-5, atol: float = 1e-6, scale=None) -> np.ndarray:
    """Boolean (nq,): whether query i's result ``D[i], I[i]`` equals the reference up to ties (rules above)."""
    D_ref, I_ref = _as_knn(D_ref, I_ref, "reference")
    D, I = _as_knn(D, I, "result")
    if D.shape != D_ref.shape:
        raise ValueError(f"result has shape {D.shape} but the reference has {D_ref.shape}; use the same nq and k")
    nq, k = D.shape
    if k == 0:
        return np.ones(nq, dtype=bool)
    finite = np.isfinite(D_ref)
    if scale is None:
        scale = np.where(finite, np.abs(D_ref), 0.0).max(axis=1)
    tol = atol + rtol * np.broadcast_to(np.asarray(scale, dtype=np.float64), (nq,))
    same_filler = np.where(finite, True, D == D_ref).all(axis=1) & ((I_ref < 0) == (I < 0)).all(axis=1)
    close = (np.abs(np.where(finite, D, 0.0) - np.where(finite, D_ref, 0.0)) <= tol[:, None]).all(axis=1)
    ok = same_filler & close
    for i in np.flatnonzero(ok):
        valid = I_ref[i] >= 0
        if not valid.any():
            continue
        last = D_ref[i, valid][-1]                                        # k-th (last valid) reference distance
        tied_ref = np.abs(D_ref[i] - last) <= tol[i]
        returned = set(I[i, I[i] >= 0].tolist())
        if not set(I_ref[i, valid & ~tied_ref].tolist()) <= returned:
            ok[i] = False
            continue
        extra = np.isin(I[i], I_ref[i, valid], invert=True) & (I[i] >= 0)
        ok[i] = bool((np.abs(D[i, extra] - last) <= tol[i]).all())
    return ok


def assert_knn_equal(D_ref, I_ref, D, I, **tolerances) -> None:
    """Raise ``AssertionError`` naming the first mismatching queries unless :func:`knn_matches` holds for all."""
    ok = knn_matches(D_ref, I_ref, D, I, **tolerances)
    if not ok.all():
        bad = np.flatnonzero(~ok)[:3]
        rows = "; ".join(f"query {i}: ref D={np.asarray(D_ref)[i].tolist()} I={np.asarray(I_ref)[i].tolist()}, "
                         f"got D={np.asarray(D)[i].tolist()} I={np.asarray(I)[i].tolist()}" for i in bad)
        raise AssertionError(f"{(~ok).sum()} of {ok.size} queries differ beyond ties: {rows}")


def knn_recall(I_true, I, k: int | None = None) -> float:
    """Recall@k = mean over queries of |I[i, :k] ∩ I_true[i, :k]| / k (−1 ids never count)."""
    I_true, I = np.asarray(I_true), np.asarray(I)
    if I_true.shape[0] != I.shape[0]:
        raise ValueError(f"I_true has {I_true.shape[0]} queries but I has {I.shape[0]}")
    k = min(I_true.shape[1], I.shape[1]) if k is None else k
    if k < 1 or k > min(I_true.shape[1], I.shape[1]):
        raise ValueError(f"k must be in 1..{min(I_true.shape[1], I.shape[1])}, got {k}")
    if I.shape[0] == 0:
        return float("nan")
    t, r = I_true[:, :k], I[:, :k]
    hits = ((r[:, :, None] == t[:, None, :]) & (r[:, :, None] >= 0)).any(axis=2).sum(axis=1)
    return float(hits.mean() / k)
