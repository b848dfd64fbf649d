r"""Greedy MAP inference for a determinantal point process (DPP) with kernel ``L`` (n, n).

The MAP problem is ``argmax_{|Y| = k} det(L_Y)``: NP-hard, so the standard answer is the greedy algorithm that
adds, at each step, the item with the largest marginal gain ``log det(L_{Y∪{i}}) − log det(L_Y)``.

Three layers, each tested against the one below:

- :func:`greedy_map_dpp` — Chen, Zhang & Zhou (NeurIPS 2018, "Fast Greedy MAP Inference for DPP", Alg. 1):
  the Cholesky factor of ``L_Y`` is grown one row at a time, so the gain of every candidate is updated in
  O(n) per step: O(n·k²) time, O(n·k) memory. With ``c_i`` the partial Cholesky row of item ``i`` and
  ``d_i² = det(L_{Y∪{i}}) / det(L_Y)``:
      e_i = (L_{j i} − ⟨c_j, c_i⟩) / d_j,   c_i ← [c_i, e_i],   d_i² ← d_i² − e_i²       (their Eq. 9–10)
- :func:`greedy_map_dpp_reference` — the same greedy rule, each gain computed by a fresh ``slogdet``:
  O(n·k⁴); the readable definition.
- :func:`dpp_map_bruteforce` — the exact MAP by enumerating all C(n, k) subsets (small n only).

Numerics: work is in float64. Greedy stops early when the best gain ``d_j²`` falls to ``≤ eps`` (``L_Y`` is
numerically singular; for a PSD kernel of rank r this happens after r picks) and returns fewer than k items.
Ties go to the lowest index in every layer.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix

_MAX_SUBSETS = 2_000_000


def _check_kernel(L, name: str = "L") -> torch.Tensor:
    t = as_matrix(L, name, dtype=torch.float64)
    n, m = t.shape
    if n != m:
        raise ValueError(f"{name}: a DPP kernel must be square (n, n), got shape {(n, m)}")
    if n and not torch.allclose(t, t.T, rtol=1e-8, atol=1e-10 * float(t.abs().max())):
        raise ValueError(f"{name}: kernel must be symmetric; symmetrise it with (L + L.T) / 2")
    return t


def _check_k(k, n: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"k must be an integer with 0 ≤ k ≤ n = {n}, got {k!r}")
    return int(k)


def greedy_map_dpp(L, k: int, *, eps: float = 1e-10) -> np.ndarray:
    """Greedy DPP MAP by incremental Cholesky (Chen et al. 2018): indices (≤ k,) int64 in selection order.

    ``L``: (n, n) symmetric kernel, numpy or torch. Stops early when the best marginal gain ``d²`` is ≤ eps.
    """
    t = _check_kernel(L)
    n = t.shape[0]
    k = _check_k(k, n)
    C = torch.zeros((n, k), dtype=torch.float64)   # row i: partial Cholesky row c_i of item i
    d2 = t.diagonal().clone()                        # d_i² = det(L_{Y∪i}) / det(L_Y)
    free = torch.ones(n, dtype=torch.bool)
    picked: list[int] = []
    for step in range(k):
        gains = torch.where(free, d2, torch.tensor(-math.inf, dtype=torch.float64))
        j = int(torch.argmax(gains))                 # first maximum: ties go to the lowest index
        if not gains[j] > eps:
            break
        picked.append(j)
        free[j] = False
        if step == k - 1:
            break
        e = (t[j] - C[:, :step] @ C[j, :step]) / math.sqrt(float(d2[j]))   # Eq. 9 for every i at once
        C[:, step] = e
        d2 -= e * e                                                          # Eq. 10
    return np.asarray(picked, dtype=np.int64)


def _logdet(t: torch.Tensor, idx) -> float:
    """log det(L_Y) for a positive determinant, else −inf; log det of the empty set is 0."""
    if len(idx) == 0:
        return 0.0
    sign, val = torch.linalg.slogdet(t[np.ix_(idx, idx)])
    return float(val) if float(sign) > 0 else -math.inf


def greedy_map_dpp_reference(L, k: int, *, eps: float = 1e-10) -> np.ndarray:
    """The greedy rule from its definition: each step maximises det(L_{Y∪i}) / det(L_Y) by fresh slogdets."""
    t = _check_kernel(L)
    n = t.shape[0]
    k = _check_k(k, n)
    picked: list[int] = []
    base = 0.0
    for _ in range(k):
        best, best_val = -1, -math.inf
        for i in range(n):
            if i in picked:
                continue
            val = _logdet(t, picked + [i])
            if val > best_val:
                best, best_val = i, val
        if best < 0 or not math.exp(best_val - base) > eps:
            break
        picked.append(best)
        base = best_val
    return np.asarray(picked, dtype=np.int64)


def dpp_map_bruteforce(L, k: int) -> tuple[np.ndarray, float]:
    """Exact MAP ``argmax_{|Y|=k} log det(L_Y)`` by enumeration: (indices (k,) sorted, log det). Small n only.

    Returns log det = −inf (and the first subset) when no size-k subset has a positive determinant."""
    t = _check_kernel(L)
    n = t.shape[0]
    k = _check_k(k, n)
    if math.comb(n, k) > _MAX_SUBSETS:
        raise ValueError(f"C({n}, {k}) = {math.comb(n, k)} subsets is too many for brute force "
                         f"(limit {_MAX_SUBSETS}); use greedy_map_dpp")
    best, best_val = tuple(range(k)), -math.inf
    for subset in itertools.combinations(range(n), k):
        val = _logdet(t, list(subset))
        if val > best_val:
            best, best_val = subset, val
    return np.asarray(best, dtype=np.int64), best_val


def subset_logdet(L, idx) -> float:
    """log det(L_Y) of the subset ``idx`` (−inf if the determinant is not positive; 0 for the empty set)."""
    t = _check_kernel(L)
    idx = [int(i) for i in np.asarray(idx).ravel()]
    if any(not 0 <= i < t.shape[0] for i in idx):
        raise ValueError(f"indices must lie in [0, {t.shape[0]}), got {idx}")
    return _logdet(t, idx)
