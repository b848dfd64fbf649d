r"""Pairwise similarity matrices: ``(n, d) × (m, d) → (n, m)``, ``S[i, j] = sim(x[i], y[j])``.

Metrics
- ``dot``:      S = X Yᵀ
- ``cosine``:   S = (X/‖X‖)(Y/‖Y‖)ᵀ; a zero row has cosine 0 with everything (its norm is clamped to eps).
- ``l2``:       S = ‖xᵢ − yⱼ‖² (squared Euclidean *distance*, faiss convention: smaller is closer).
- ``gaussian``: S = exp(−γ ‖xᵢ − yⱼ‖²), γ = 1/d by default (scikit-learn's convention).

Numerics: ``l2`` and ``gaussian`` use the expansion ‖x‖² + ‖y‖² − 2x·y, which suffers catastrophic
cancellation for nearby points; float32 blocks are therefore upcast to float64 for these two metrics and the
result is clamped at 0. ``block_size`` rows of ``x`` are processed at a time: peak extra memory is
O(block_size · m); ``None`` picks a block that keeps it near 64 MiB.
"""

from __future__ import annotations

import math

import torch

from simrepro.kernels._validate import as_matrix, check_same_dim, common_dtype, like_input

METRICS = ("cosine", "dot", "l2", "gaussian")
_EPS = 1e-12


def _check_metric(metric: str, allowed=METRICS) -> None:
    if metric not in allowed:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(allowed)}")


def _default_block(m: int, itemsize: int = 8) -> int:
    return max(1, min(65536, (64 << 20) // max(1, m * itemsize)))


def normalize_rows(x: torch.Tensor) -> torch.Tensor:
    """x / max(‖x‖, eps) row-wise; zero rows stay zero."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(_EPS)


def _sq_l2_block(xb: torch.Tensor, y: torch.Tensor, y_sq: torch.Tensor) -> torch.Tensor:
    d = (xb * xb).sum(1, keepdim=True) + y_sq[None, :] - 2.0 * (xb @ y.T)
    return d.clamp_min_(0.0)


def pairwise_similarity(x, y=None, metric: str = "cosine", *, gamma: float | None = None,
                        block_size: int | None = None):
    """Similarity matrix ``S`` of shape (n, m) with ``S[i, j] = metric(x[i], y[j])``; ``y=None`` means ``y = x``.

    Accepts numpy arrays or torch tensors (float32/float64; integers are promoted to float64) and returns the
    same kind. Raises ``ValueError`` on a wrong shape, mismatched dimension, NaN/inf or an unknown metric.
    Cost: O(n·m·d) time, O(block_size·m) extra memory.
    """
    _check_metric(metric)
    xt = as_matrix(x, "x")
    yt = xt if y is None else as_matrix(y, "y")
    check_same_dim(xt, yt)
    xt, yt = common_dtype(xt, yt)
    if gamma is not None and not (gamma > 0 and math.isfinite(gamma)):
        raise ValueError(f"gamma must be a positive finite number, got {gamma}")
    if metric != "gaussian" and gamma is not None:
        raise ValueError(f"gamma only applies to metric='gaussian', not {metric!r}")
    n, m = xt.shape[0], yt.shape[0]
    out = torch.empty((n, m), dtype=xt.dtype)
    if n == 0 or m == 0:
        return like_input(out, x)
    block = block_size or _default_block(m)
    if block < 1:
        raise ValueError(f"block_size must be ≥ 1, got {block_size}")
    if metric == "cosine":
        xt = normalize_rows(xt)
        yt = xt if y is None else normalize_rows(yt)
    if metric in ("l2", "gaussian"):
        work = torch.float64
        yw = yt.to(work)
        y_sq = (yw * yw).sum(1)
        g = gamma if gamma is not None else 1.0 / xt.shape[1] if xt.shape[1] else 1.0
    for start in range(0, n, block):
        xb, ob = xt[start:start + block], out[start:start + block]
        if metric in ("dot", "cosine"):
            torch.mm(xb, yt.T, out=ob)                     # straight into the output rows: no temporary
            if metric == "cosine":
                ob.clamp_(-1.0, 1.0)                       # while the block is in cache
        else:
            d2 = _sq_l2_block(xb.to(work), yw, y_sq)
            ob.copy_(d2 if metric == "l2" else torch.exp_(d2.mul_(-g)))
    return like_input(out, x)


def pairwise_similarity_reference(x, y=None, metric: str = "cosine", *, gamma: float | None = None):
    """Plain float64 definition, one pair at a time in vectorised form: the ground truth for tests."""
    _check_metric(metric)
    xt = as_matrix(x, "x", dtype=torch.float64)
    yt = xt if y is None else as_matrix(y, "y", dtype=torch.float64)
    check_same_dim(xt, yt)
    diff = xt[:, None, :] - yt[None, :, :]
    if metric == "dot":
        s = (xt[:, None, :] * yt[None, :, :]).sum(-1)
    elif metric == "cosine":
        nx = xt.norm(dim=1)[:, None].clamp_min(_EPS)
        ny = yt.norm(dim=1)[None, :].clamp_min(_EPS)
        s = (xt[:, None, :] * yt[None, :, :]).sum(-1) / (nx * ny)
    elif metric == "l2":
        s = (diff * diff).sum(-1)
    else:
        g = gamma if gamma is not None else 1.0 / max(1, xt.shape[1])
        s = torch.exp(-g * (diff * diff).sum(-1))
    return s.numpy()
