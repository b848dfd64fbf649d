r"""Generalised Jaccard, interiority and coincidence indices (L. da F. Costa, arXiv 2110.09619).

Every structure the paper compares is reduced to a vector over a common support: a set is its 0/1 indicator,
a multiset its multiplicities, a density or scalar field its samples on a shared grid. For x, y ∈ ℝᵈ, with
sᵢ = sign(xᵢ)·sign(yᵢ):

    J(x, y) = Σᵢ sᵢ min(|xᵢ|, |yᵢ|) / Σᵢ max(|xᵢ|, |yᵢ|)          (real-valued Jaccard; ∈ [−1, 1])
    I(x, y) = Σᵢ min(|xᵢ|, |yᵢ|) / min(Σᵢ |xᵢ|, Σᵢ |yᵢ|)        (interiority; ∈ [0, 1], 1 when one is inside the other)
    C(x, y) = J(x, y) · I(x, y)                                 (coincidence)

For non-negative data sᵢ = 1 wherever the min is non-zero, so J is the familiar Σ min / Σ max (sets: |X∩Y|/|X∪Y|;
I: |X∩Y|/min(|X|, |Y|)). On a uniform grid the cell size cancels in every ratio, so sampled densities need no
quadrature weights.

Conventions for empty input (0/0): two zero vectors are identical empty sets, J = I = C = 1; a zero vector
against a non-zero one has J = 0 and I = 1 (the empty set lies inside every set), hence C = 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable

import numpy as np
import torch
from scipy.stats import norm

from simrepro.kernels._validate import as_matrix, check_same_dim, common_dtype, like_input

INDICES = ("jaccard", "interiority", "coincidence")


def _check_index(index: str) -> None:
    if index not in INDICES:
        raise ValueError(f"unknown index {index!r}; expected one of {', '.join(INDICES)}")


def _ratio(num: torch.Tensor, den: torch.Tensor, empty_value: torch.Tensor) -> torch.Tensor:
    """num / den with the 0/0 convention of the module docstring (den = 0 only when num = 0)."""
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, empty_value)


def _sums_broadcast(xb: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Σ min(|x|, |y|), Σ s·min(|x|, |y|) with s = sign(x)·sign(y), Σ max(|x|, |y|)), each (b, m), by a
    (b, m, d) broadcast: any real vectors, O(b·m·d) memory."""
    ax, ay = xb.abs()[:, None, :], y.abs()[None, :, :]                    # (b, 1, d), (1, m, d)
    lo = torch.minimum(ax, ay)                                              # (b, m, d)
    signed_lo = (torch.sign(xb)[:, None, :] * torch.sign(y)[None, :, :] * lo).sum(-1)
    return lo.sum(-1), signed_lo, torch.maximum(ax, ay).sum(-1)


def _sums_binary(xb: torch.Tensor, y: torch.Tensor, mass_x: torch.Tensor, mass_y: torch.Tensor):
    """The same three sums for 0/1 vectors, where min(x, y) = x·y: one GEMM, Σ min = x·y (exact: integer
    counts), Σ max = |x| + |y| − x·y."""
    lo = xb @ y.T
    return lo, lo, mass_x[:, None] + mass_y[None, :] - lo


def _indices(lo: torch.Tensor, signed_lo: torch.Tensor, hi: torch.Tensor, mass_x: torch.Tensor,
             mass_y: torch.Tensor, index: str) -> torch.Tensor:
    both_empty = (mass_x[:, None] == 0) & (mass_y[None, :] == 0)
    jac = _ratio(signed_lo, hi, both_empty.to(lo.dtype))
    if index == "jaccard":
        return jac
    smaller = torch.minimum(mass_x[:, None], mass_y[None, :])
    inter = _ratio(lo, smaller, torch.ones_like(smaller))
    return inter if index == "interiority" else jac * inter


def _is_binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


def generalized_jaccard(x, y=None, *, index: str = "jaccard", block_size: int | None = None):
    """Matrix ``S`` of shape (n, m) with ``S[i, j] = index(x[i], y[j])`` for ``index`` in jaccard | interiority |
    coincidence (definitions in the module docstring); ``y=None`` means ``y = x``.

    x: (n, d), y: (m, d), numpy or torch (float32/float64; integers promoted); returns the same kind.
    Cost O(n·m·d) time; 0/1 vectors (sets) take one GEMM per block, other vectors a (block_size, m, d)
    broadcast: ``block_size`` rows of ``x`` at a time (``None`` keeps that block near 64 MiB).
    Raises ValueError on NaN/inf, shape mismatch or an unknown index.
    """
    _check_index(index)
    xt = as_matrix(x, "x")
    yt = xt if y is None else as_matrix(y, "y")
    check_same_dim(xt, yt)
    xt, yt = common_dtype(xt, yt)
    n, m, d = xt.shape[0], yt.shape[0], xt.shape[1]
    if block_size is not None and block_size < 1:
        raise ValueError(f"block_size must be ≥ 1, got {block_size}")
    binary = _is_binary(xt) and (yt is xt or _is_binary(yt))
    block = block_size or max(1, (64 << 20) // max(1, m * (1 if binary else d) * xt.element_size()))
    out = torch.empty((n, m), dtype=xt.dtype)
    mass_x, mass_y = xt.abs().sum(1), yt.abs().sum(1)
    for start in range(0, n, block):
        stop = start + block
        xb, mx = xt[start:stop], mass_x[start:stop]
        sums = _sums_binary(xb, yt, mx, mass_y) if binary else _sums_broadcast(xb, yt)
        out[start:stop] = _indices(*sums, mx, mass_y, index)
    return like_input(out, x)


def generalized_jaccard_reference(x, y=None, *, index: str = "jaccard") -> np.ndarray:
    """Plain float64 definition, one pair at a time: the ground truth for tests."""
    _check_index(index)
    xa = as_matrix(x, "x", dtype=torch.float64).numpy()
    ya = xa if y is None else as_matrix(y, "y", dtype=torch.float64).numpy()
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(f"x has dimension {xa.shape[1]} but y has {ya.shape[1]}; both must be (·, d)")
    out = np.empty((xa.shape[0], ya.shape[0]))
    for i, u in enumerate(xa):
        for j, v in enumerate(ya):
            lo = np.minimum(np.abs(u), np.abs(v))
            hi = np.maximum(np.abs(u), np.abs(v)).sum()
            jac = (np.sign(u) * np.sign(v) * lo).sum() / hi if hi > 0 else 1.0
            smaller = min(np.abs(u).sum(), np.abs(v).sum())
            inter = lo.sum() / smaller if smaller > 0 else 1.0
            out[i, j] = {"jaccard": jac, "interiority": inter, "coincidence": jac * inter}[index]
    return out


def count_vectors(*collections: Iterable[Hashable]) -> tuple[np.ndarray, list]:
    """Sets or multisets as multiplicity vectors over their sorted common support.

    Returns ``(V, support)`` with V of shape (k, |support|), ``V[c, i]`` = multiplicity of ``support[i]`` in
    collection c; e.g. {{a,a,a,b,b}}, {{a,a,b,c,c,d}} → [[3,2,0,0], [2,1,2,1]] over [a, b, c, d].
    """
    counts = [Counter(c) for c in collections]
    support = sorted(set().union(*counts), key=repr)
    return np.array([[c[s] for s in support] for c in counts], dtype=np.float64).reshape(len(counts), -1), support


def jaccard_many(v) -> float:
    """Jaccard index of k ≥ 2 non-negative vectors (rows of v, shape (k, d)): Σᵢ minₖ vₖᵢ / Σᵢ maxₖ vₖᵢ.

    For sets this is |X₁∩…∩Xₖ| / |X₁∪…∪Xₖ|; two empty rows give 1 (module convention).
    """
    t = as_matrix(v, "v", dtype=torch.float64)
    if t.shape[0] < 2:
        raise ValueError(f"v: need at least two rows (structures) to compare, got {t.shape[0]}")
    if (t < 0).any():
        raise ValueError("v: jaccard_many is defined for non-negative vectors (sets, multisets, densities)")
    hi = float(t.max(0).values.sum())
    return float(t.min(0).values.sum()) / hi if hi > 0 else 1.0


def gaussian_indices_closed_form(mu: float) -> dict[str, float]:
    """J, I, C between the densities N(0, 1) and N(μ, 1), in closed form.

    The densities cross at μ/2, so ∫min = 2Φ(−|μ|/2) and ∫max = 2 − ∫min; both masses are 1, so I = ∫min:
    J = 2Φ(−|μ|/2) / (2 − 2Φ(−|μ|/2)), C = J·I.
    """
    overlap = 2.0 * float(norm.cdf(-abs(mu) / 2.0))
    jac = overlap / (2.0 - overlap)
    return {"jaccard": jac, "interiority": overlap, "coincidence": jac * overlap}


def interdependence(joint, *, index: str = "jaccard") -> float:
    """How far two random variables are from independence: index(p(x, y), p(x)·p(y)).

    ``joint``: (a, b) non-negative table of a joint distribution (a histogram or density sampled on a grid;
    normalised here). 1 under independence, smaller the more the joint departs from the product of its marginals.
    """
    p = as_matrix(joint, "joint", dtype=torch.float64)
    if (p < 0).any() or float(p.sum()) <= 0:
        raise ValueError("joint: expected a non-negative table with positive total mass")
    p = p / p.sum()
    product = p.sum(1, keepdim=True) * p.sum(0, keepdim=True)
    return float(generalized_jaccard(p.reshape(1, -1), product.reshape(1, -1), index=index)[0, 0])
