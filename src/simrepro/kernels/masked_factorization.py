r"""Masked non-negative factorisations of a partially observed matrix: NMF and non-negative/binary MF (NBMF).

Notation. ``V`` (n, m) float64 ≥ 0 is the data (e.g. users × items ratings), ``M`` (n, m) ∈ {0, 1} the mask
(1 = observed; ``mask=None`` means every entry is observed, i.e. the *unmasked* factorisation, where
unobserved cells must already hold the value to fit, e.g. 0). Entries of V where M = 0 are never read: any
finite value gives the same result. The masked loss of a factorisation V ≈ W H, W (n, k), H (k, m), is

    L(W, H) = Σ_ij M_ij (V_ij − (W H)_ij)²  (+ λ‖W‖²_F for NBMF's ridge on W).

**Masked NMF** (:func:`masked_nmf`): W ≥ 0, H ≥ 0, Lee–Seung multiplicative updates weighted by the mask
(Zhang, Wang, Ding & Li 2006), W first then H in each sweep, as scikit-learn's ``solver="mu"`` orders them:

    W ← W ⊙ ((M⊙V) Hᵀ) / ((M⊙(WH)) Hᵀ),     H ← H ⊙ (Wᵀ (M⊙V)) / (Wᵀ (M⊙(WH)))

(a zero denominator is replaced by float32 eps, scikit-learn's convention). Each update does not increase L.
With M = 1 this is scikit-learn's frobenius MU. Cost O(n·m·k) per sweep, dense.
:func:`masked_mu_step_reference`: one sweep by explicit sums over i, j (tests).

**Masked NBMF** (:func:`masked_nbmf`; O'Malley, Vesselinov, Alexandrov & Alexandrov 2018 for the unmasked form;
Terui et al. 2024 mask the unrated entries): W ≥ 0, H ∈ {0, 1}^{k×m}, alternating

- W-step (:func:`nnls_w_step`): rows are independent non-negative ridge least squares,
  w_i = argmin_{w ≥ 0} wᵀ(G_i + λI)w − 2 c_iᵀw with G_i = Σ_j M_ij h_j h_jᵀ, c_i = Σ_j M_ij V_ij h_j, solved by
  the projected gradient method (fixed step 1/λ_max(G_i + λI) per row, warm-started, batched over rows);
  :func:`nnls_w_step_reference` solves each row with ``scipy.optimize.nnls`` (Lawson–Hanson, exact).
- H-step (:func:`binary_h_step`): columns are independent QUBOs,
  h_j = argmin_{h ∈ {0,1}^k} hᵀQ_j h − 2 b_jᵀh, Q_j = Σ_i M_ij w_i w_iᵀ, b_j = Σ_i M_ij V_ij w_i,
  solved *exactly* by enumerating all 2^k candidates (k ≤ ``MAX_ENUM_K``) as two GEMMs:
  E = Q̃ (C⊗C)ᵀ − 2 B Cᵀ with Q̃ (m, k²), C (2^k, k). Ties (energies within 1e-12 of the scale of the column's
  energies) go to the lowest candidate index, candidate c having bit t of c in factor t. Cost O(m·k²·2^k).
  :func:`binary_h_step_reference` evaluates Σ_i M_ij (V_ij − w_i·h)² for every column and candidate in loops.

Both steps are exact or descent steps, so L is non-increasing over sweeps (tested). Bad input (NaN/inf, a
negative V, a mask of another shape or not 0/1, k < 1, k > ``MAX_ENUM_K``) raises ``ValueError`` saying how to fix it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

EPS = float(np.finfo(np.float32).eps)   # scikit-learn's replacement for a zero MU denominator
MAX_ENUM_K = 12                          # 2^12 = 4096 candidates per column


# ------------------------------------------------------------------------------------------- validation
def check_data(V, mask=None, *, nonnegative: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(V, M) as float64 arrays; M = all ones when ``mask`` is None. Raises ValueError on bad input."""
    V = np.asarray(V)
    if V.dtype.kind not in "fiub":
        raise TypeError(f"V: expected a numeric matrix, got dtype {V.dtype}")
    V = V.astype(np.float64)
    if V.ndim != 2:
        raise ValueError(f"V: expected a 2-D (n, m) matrix, got shape {V.shape}")
    if V.size == 0:
        raise ValueError(f"V is empty (shape {V.shape}); need at least one row and one column")
    if mask is None:
        M = np.ones_like(V)
    else:
        M = np.asarray(mask)
        if M.shape != V.shape:
            raise ValueError(f"mask has shape {M.shape} but V has {V.shape}; they must match")
        if M.dtype != bool and not np.isin(M, (0, 1)).all():
            raise ValueError("mask must hold only 0/1 (or booleans): 1 = observed, 0 = unobserved")
        M = M.astype(np.float64)
    if not np.isfinite(V).all():
        raise ValueError("V contains NaN or inf; set unobserved entries to 0 and mark them 0 in `mask` "
                         "(V[~np.isfinite(V)] = 0; mask = np.isfinite(V_original))")
    if nonnegative and (V[M > 0] < 0).any():
        raise ValueError("V has negative observed entries; a non-negative factorisation needs V ≥ 0 "
                         "(shift the ratings, e.g. V - V.min())")
    if M.sum() == 0:
        raise ValueError("the mask observes no entry; nothing to fit")
    return V, M


def _check_k(k: int, limit: int | None = None) -> int:
    if int(k) != k or k < 1:
        raise ValueError(f"k (the rank) must be a positive integer, got {k}")
    if limit is not None and k > limit:
        raise ValueError(f"exact enumeration needs 2^k candidates per column: k ≤ {limit}, got {k}; "
                         f"use a smaller rank")
    return int(k)


def masked_loss(V, M, W, H, reg: float = 0.0) -> float:
    """L = Σ M ⊙ (V − WH)² + reg·‖W‖²_F (float64)."""
    R = M * (V - W @ H)
    return float(np.sum(R * R) + reg * np.sum(W * W))


# ------------------------------------------------------------------------------------------------- NMF
def masked_mu_step(V: np.ndarray, M: np.ndarray, W: np.ndarray, H: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One sweep of masked multiplicative updates (W then H), vectorised. Inputs as from :func:`check_data`."""
    MV = M * V
    num = MV @ H.T
    den = (M * (W @ H)) @ H.T
    den[den == 0] = EPS
    W = W * (num / den)
    num = W.T @ MV
    den = W.T @ (M * (W @ H))
    den[den == 0] = EPS
    H = H * (num / den)
    return W, H


def masked_mu_step_reference(V, M, W, H):
    """One sweep of masked MU by explicit sums (O(n·m·k) Python loops; tests only)."""
    V, M, W, H = (np.array(a, dtype=np.float64) for a in (V, M, W, H))
    n, m = V.shape
    k = W.shape[1]

    def wh(i, j):
        return sum(W[i, t] * H[t, j] for t in range(k))

    Wn = W.copy()
    for i in range(n):
        for t in range(k):
            num = sum(M[i, j] * V[i, j] * H[t, j] for j in range(m))
            den = sum(M[i, j] * wh(i, j) * H[t, j] for j in range(m))
            Wn[i, t] = W[i, t] * num / (den if den != 0 else EPS)
    W = Wn
    Hn = H.copy()
    for t in range(k):
        for j in range(m):
            num = sum(W[i, t] * M[i, j] * V[i, j] for i in range(n))
            den = sum(W[i, t] * M[i, j] * wh(i, j) for i in range(n))
            Hn[t, j] = H[t, j] * num / (den if den != 0 else EPS)
    return W, Hn


@dataclass
class Factorisation:
    """W (n, k), H (k, m) and the masked loss after each sweep (``losses[0]`` at the initial point)."""
    W: np.ndarray
    H: np.ndarray
    losses: list[float] = field(default_factory=list)

    def predict(self) -> np.ndarray:
        return self.W @ self.H


def _init_scale(V, M, k):
    return float(np.sum(M * V) / np.sum(M))   # mean observed value μ


def masked_nmf(V, mask=None, k: int = 10, *, n_iter: int = 200, seed: int = 0, W0=None, H0=None) -> Factorisation:
    """Masked NMF by multiplicative updates (module docstring). Initial W, H ~ U(0, 2√(μ/k)) (seeded; μ = mean
    observed value) unless ``W0``/``H0`` are given (non-negative, shapes (n, k), (k, m))."""
    V, M = check_data(V, mask)
    k = _check_k(k)
    if n_iter < 0:
        raise ValueError(f"n_iter must be ≥ 0, got {n_iter}")
    n, m = V.shape
    rng = np.random.default_rng(seed)
    a = 2 * np.sqrt(_init_scale(V, M, k) / k)
    W = rng.uniform(0, a, (n, k)) if W0 is None else np.array(W0, dtype=np.float64)
    H = rng.uniform(0, a, (k, m)) if H0 is None else np.array(H0, dtype=np.float64)
    if W.shape != (n, k) or H.shape != (k, m):
        raise ValueError(f"W0/H0 must have shapes {(n, k)} and {(k, m)}, got {W.shape} and {H.shape}")
    if (W < 0).any() or (H < 0).any() or not (np.isfinite(W).all() and np.isfinite(H).all()):
        raise ValueError("W0 and H0 must be finite and non-negative")
    losses = [masked_loss(V, M, W, H)]
    for _ in range(n_iter):
        W, H = masked_mu_step(V, M, W, H)
        losses.append(masked_loss(V, M, W, H))
    return Factorisation(W, H, losses)


# ------------------------------------------------------------------------------------------------ NBMF
def candidates(k: int) -> np.ndarray:
    """All 2^k binary vectors, (2^k, k) float64; row c has bit t of c in column t (row 0 = all zeros)."""
    c = np.arange(2 ** k)
    return ((c[:, None] >> np.arange(k)[None, :]) & 1).astype(np.float64)


def _pick(E: np.ndarray) -> np.ndarray:
    """Row-wise argmin with ties (within 1e-12·scale) to the lowest index."""
    scale = np.maximum(np.abs(E).max(axis=1, keepdims=True), 1.0)
    best = E.min(axis=1, keepdims=True)
    return np.argmax(E <= best + 1e-12 * scale, axis=1)


def binary_h_step(V, M, W, *, chunk: int = 2048) -> np.ndarray:
    """H (k, m) ∈ {0,1}: each column the exact minimiser of Σ_i M_ij (V_ij − w_i·h)² over h ∈ {0,1}^k,
    by enumeration (module docstring). V, M (n, m) as from :func:`check_data`; W (n, k) finite."""
    W = np.asarray(W, dtype=np.float64)
    k = _check_k(W.shape[1], MAX_ENUM_K)
    if W.shape[0] != V.shape[0]:
        raise ValueError(f"W has {W.shape[0]} rows but V has {V.shape[0]}")
    C = candidates(k)
    CC = (C[:, :, None] * C[:, None, :]).reshape(len(C), k * k)          # (2^k, k²): h⊗h
    WW = (W[:, :, None] * W[:, None, :]).reshape(W.shape[0], k * k)      # (n, k²): w_i⊗w_i
    m = V.shape[1]
    out = np.empty(m, dtype=np.int64)
    for s in range(0, m, chunk):
        Mc, Vc = M[:, s:s + chunk], V[:, s:s + chunk]
        Q = Mc.T @ WW                                                    # (m_c, k²): Q_j = Σ_i M_ij w_i w_iᵀ
        B = (Mc * Vc).T @ W                                              # (m_c, k):  b_j = Σ_i M_ij V_ij w_i
        E = Q @ CC.T - 2.0 * (B @ C.T)                                   # hᵀQ_j h − 2 b_jᵀh, (m_c, 2^k)
        out[s:s + chunk] = _pick(E)
    return C[out].T.copy()


def binary_h_step_reference(V, M, W) -> np.ndarray:
    """The H-step by brute force: for each column j and each h ∈ {0,1}^k (itertools order = candidate order),
    the masked squared error Σ_i M_ij (V_ij − w_i·h)²; argmin with the same tie rule (energies shifted by the
    constant Σ_i M_ij V_ij² so they compare with the fast path's)."""
    V, M, W = (np.asarray(a, dtype=np.float64) for a in (V, M, W))
    n, m = V.shape
    k = W.shape[1]
    cands = [np.array(list(reversed(bits)), dtype=np.float64) for bits in itertools.product((0, 1), repeat=k)]
    H = np.zeros((k, m))
    for j in range(m):
        E = np.array([[sum(M[i, j] * (V[i, j] - W[i] @ h) ** 2 for i in range(n))
                       - sum(M[i, j] * V[i, j] ** 2 for i in range(n)) for h in cands]])
        H[:, j] = cands[int(_pick(E)[0])]
    return H


def nnls_w_step(V, M, H, W0, *, reg: float = 0.0, n_iter: int = 100) -> np.ndarray:
    """W (n, k) ≥ 0 after ``n_iter`` projected-gradient steps from ``W0`` on each row's ridge NNLS
    (module docstring), all rows at once. Step 1/λ_max(G_i + reg·I) per row (monotone descent)."""
    H = np.asarray(H, dtype=np.float64)
    k = H.shape[0]
    if reg < 0 or not np.isfinite(reg):
        raise ValueError(f"reg must be a finite number ≥ 0, got {reg}")
    HH = (H.T[:, :, None] * H.T[:, None, :]).reshape(H.shape[1], k * k)  # (m, k²): h_j⊗h_j
    G = (M @ HH).reshape(-1, k, k) + reg * np.eye(k)                      # (n, k, k)
    c = (M * V) @ H.T                                                     # (n, k)
    L = np.linalg.eigvalsh(G)[:, -1]                                      # λ_max per row
    step = np.where(L > 0, 1.0 / np.where(L > 0, L, 1.0), 0.0)[:, None]
    W = np.maximum(np.array(W0, dtype=np.float64), 0.0)
    for _ in range(n_iter):
        grad = np.einsum("nab,nb->na", G, W) - c                          # ½ ∇ of wᵀGw − 2cᵀw
        W = np.maximum(W - step * grad, 0.0)
    return W


def nnls_w_step_reference(V, M, H, *, reg: float = 0.0) -> np.ndarray:
    """Each row's ridge NNLS solved exactly by scipy.optimize.nnls on [H_obsᵀ; √reg·I] w ≈ [v_obs; 0]."""
    from scipy.optimize import nnls
    V, M, H = (np.asarray(a, dtype=np.float64) for a in (V, M, H))
    n = V.shape[0]
    k = H.shape[0]
    W = np.zeros((n, k))
    for i in range(n):
        obs = M[i] > 0
        A = np.vstack([H[:, obs].T, np.sqrt(reg) * np.eye(k)])
        b = np.concatenate([V[i, obs], np.zeros(k)])
        W[i] = nnls(A, b)[0]
    return W


def masked_nbmf(V, mask=None, k: int = 10, *, n_iter: int = 30, w_iters: int = 100, reg: float = 0.0,
                seed: int = 0) -> Factorisation:
    """Masked NBMF by alternating the W-step (projected gradient, ``w_iters`` steps, warm-started) and the exact
    H-step, ``n_iter`` sweeps. Initial H ~ Bernoulli(½), W ~ U(0, 4μ/k) (μ = mean observed value), seeded.
    ``losses`` holds L = Σ M(V − WH)² + reg‖W‖² at the start and after each sweep (non-increasing)."""
    V, M = check_data(V, mask)
    k = _check_k(k, MAX_ENUM_K)
    if n_iter < 0 or w_iters < 1:
        raise ValueError(f"n_iter must be ≥ 0 and w_iters ≥ 1, got {n_iter} and {w_iters}")
    n, m = V.shape
    rng = np.random.default_rng(seed)
    W = rng.uniform(0, 4 * _init_scale(V, M, k) / k, (n, k))
    H = (rng.random((k, m)) < 0.5).astype(np.float64)
    losses = [masked_loss(V, M, W, H, reg)]
    for _ in range(n_iter):
        W = nnls_w_step(V, M, H, W, reg=reg, n_iter=w_iters)
        H = binary_h_step(V, M, W)
        losses.append(masked_loss(V, M, W, H, reg))
    return Factorisation(W, H, losses)
