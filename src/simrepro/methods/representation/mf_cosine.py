r"""Closed-form linear matrix factorisation and what it does to cosine similarity (Steck, Ekanadham & Kallus,
"Is Cosine-Similarity of Embeddings Really About Similarity?", WWW'24 Companion, arXiv 2403.05440).

Model: X (n users × p items) ≈ X A Bᵀ with A, B ∈ ℝ^{p×k}; item embeddings are the rows of B, user embeddings the
rows of X A. With the thin SVD X = U Σ Vᵀ (σ₁ ≥ σ₂ ≥ …) and V_k its first k right singular vectors:

Objective 1                 min ‖X − XABᵀ‖²_F + λ‖ABᵀ‖²_F
    ABᵀ = V_k · diag(σᵢ² / (σᵢ² + λ)) · V_kᵀ            (unique)
    but A → A D, B → B D⁻¹ leaves the loss unchanged for *any* invertible diagonal D, and the rows of B D⁻¹ point
    in directions that depend on D: the cosine similarities of the embeddings are arbitrary.
Objective 2                 min ‖X − XABᵀ‖²_F + λ(‖XA‖²_F + ‖B‖²_F)
    A = V_k · diag(√((1/σᵢ)(1 − λ/σᵢ)₊)),   B = V_k · diag(√(σᵢ(1 − λ/σᵢ)₊))
    unique up to a rotation A → A R, B → B R (R orthogonal), which leaves every cosine unchanged; the
    cosines are then fixed by the data and by λ.

Shapes: X (n, p) float64; A, B (p, k); W = ABᵀ (p, p). Cost: one thin SVD, O(n p min(n, p)).
Numerics: everything is float64; singular values ≤ ``_RANK_TOL``·σ₁ count as zero (their directions carry no
data: objective 1 gives them weight 0, objective 2 clips them by (·)₊).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import spearmanr

from simrepro.kernels import pairwise_similarity
from simrepro.kernels._validate import as_matrix

_RANK_TOL = 1e-12


@dataclass(frozen=True)
class Factorization:
    """A, B ∈ ℝ^{p×k} with X ≈ X A Bᵀ; ``W = A Bᵀ`` is the (p, p) item-to-item map."""

    A: np.ndarray
    B: np.ndarray

    @property
    def W(self) -> np.ndarray:
        return self.A @ self.B.T


@dataclass(frozen=True)
class Spectrum:
    """Top-k right singular vectors V_k (p, k) and singular values σ (k,) of X, σ descending."""

    V: np.ndarray
    sigma: np.ndarray


def _check_lambda(lam: float) -> float:
    lam = float(lam)
    if not (np.isfinite(lam) and lam >= 0):
        raise ValueError(f"lam must be a finite number ≥ 0, got {lam}")
    return lam


def top_spectrum(X, k: int) -> Spectrum:
    """V_k and σ_{1..k} of the thin SVD of X (n, p); raises ValueError when k ∉ [1, min(n, p)]."""
    Xt = as_matrix(X, "X", dtype=torch.float64, allow_empty=False)
    n, p = Xt.shape
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= min(n, p)):
        raise ValueError(f"k must be an integer in [1, min(n, p)] = [1, {min(n, p)}], got {k!r}")
    _, s, vh = torch.linalg.svd(Xt, full_matrices=False)
    s = s[:k].numpy().copy()
    s[s <= _RANK_TOL * max(s[0], _RANK_TOL)] = 0.0
    return Spectrum(V=vh[:k].T.numpy().copy(), sigma=s)


def objective1_weights(sigma: np.ndarray, lam: float) -> np.ndarray:
    """wᵢ = σᵢ² / (σᵢ² + λ), the shrinkage of direction i in ABᵀ (0 for σᵢ = 0)."""
    lam = _check_lambda(lam)
    s2 = np.asarray(sigma, dtype=np.float64) ** 2
    den = s2 + lam
    return np.divide(s2, den, out=np.zeros_like(s2), where=den > 0)


def closed_form_objective1(spec: Spectrum, lam: float) -> Factorization:
    """The paper's canonical solution of objective 1: A = V_k diag(w), B = V_k (every A D, B D⁻¹ is as good)."""
    w = objective1_weights(spec.sigma, lam)
    return Factorization(A=spec.V * w[None, :], B=spec.V.copy())


def closed_form_objective2(spec: Spectrum, lam: float) -> Factorization:
    """A = V_k diag(√((1/σ)(1 − λ/σ)₊)), B = V_k diag(√(σ(1 − λ/σ)₊)); directions with σ ≤ λ vanish."""
    lam = _check_lambda(lam)
    s = spec.sigma
    shrink = np.clip(1.0 - np.divide(lam, s, out=np.full_like(s, np.inf), where=s > 0), 0.0, None)
    inv_s = np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)
    return Factorization(A=spec.V * np.sqrt(inv_s * shrink)[None, :], B=spec.V * np.sqrt(s * shrink)[None, :])


def rescale(f: Factorization, d) -> Factorization:
    """(A D, B D⁻¹) for D = diag(d): same ABᵀ, different embeddings. ``d`` (k,) must be finite and non-zero."""
    d = np.asarray(d, dtype=np.float64)
    if d.shape != (f.A.shape[1],):
        raise ValueError(f"d must have shape ({f.A.shape[1]},) (one entry per latent dimension), got {d.shape}")
    if not np.all(np.isfinite(d)) or np.any(d == 0):
        raise ValueError("d must be finite and non-zero: D = diag(d) has to be invertible")
    return Factorization(A=f.A * d[None, :], B=f.B / d[None, :])


def rotate(f: Factorization, R) -> Factorization:
    """(A R, B R) for an orthogonal R (k, k): same ABᵀ and, since rows turn rigidly, the same cosines."""
    R = np.asarray(R, dtype=np.float64)
    k = f.A.shape[1]
    if R.shape != (k, k) or not np.allclose(R.T @ R, np.eye(k), atol=1e-10):
        raise ValueError(f"R must be an orthogonal ({k}, {k}) matrix (RᵀR = I)")
    return Factorization(A=f.A @ R, B=f.B @ R)


def objective1_gauges(spec: Spectrum, lam: float, seed: int = 0) -> dict[str, np.ndarray]:
    """Diagonals d for :func:`rescale` applied to :func:`closed_form_objective1` (w = σ²/(σ²+λ)):

    ``B=V`` (d = 1), ``B=V·w^½`` (d = w^{−½}: the symmetric split A = B), ``B=V·w`` (d = w⁻¹: A = V_k) and
    ``random`` (d = exp(z), z ~ N(0, 1), seeded). Directions with w = 0 keep d = 1.
    """
    w = objective1_weights(spec.sigma, lam)
    safe = np.where(w > 0, w, 1.0)
    rng = np.random.default_rng(seed)
    return {"B=V": np.ones_like(w), "B=V·w^½": safe ** -0.5, "B=V·w": 1.0 / safe,
            "random": np.exp(rng.standard_normal(w.shape))}


def item_cosine(f: Factorization) -> np.ndarray:
    """cosSim(B, B): (p, p) item-item cosine similarities of the item embeddings (rows of B)."""
    return pairwise_similarity(f.B, metric="cosine")


def user_cosine(X, f: Factorization) -> np.ndarray:
    """cosSim(XA, XA): (n, n) user-user cosine similarities of the user embeddings (rows of XA)."""
    return pairwise_similarity(np.asarray(X, dtype=np.float64) @ f.A, metric="cosine")


def predict(X, f: Factorization) -> np.ndarray:
    """X A Bᵀ (n, p), computed as (XA)Bᵀ: O(npk), never forming the (p, p) product."""
    return (np.asarray(X, dtype=np.float64) @ f.A) @ f.B.T


def objective1_loss(X, f: Factorization, lam: float) -> float:
    """‖X − XABᵀ‖²_F + λ‖ABᵀ‖²_F, with ‖ABᵀ‖²_F = tr((AᵀA)(BᵀB)) in O(pk²)."""
    X = np.asarray(X, dtype=np.float64)
    return float(np.sum((X - predict(X, f)) ** 2) + _check_lambda(lam) * np.sum((f.A.T @ f.A) * (f.B.T @ f.B)))


def objective2_loss(X, f: Factorization, lam: float) -> float:
    """‖X − XABᵀ‖²_F + λ(‖XA‖²_F + ‖B‖²_F)."""
    X = np.asarray(X, dtype=np.float64)
    return float(np.sum((X - predict(X, f)) ** 2) + _check_lambda(lam) * (np.sum((X @ f.A) ** 2) + np.sum(f.B ** 2)))


def fit_objective1_adam(X, k: int, lam: float, *, steps: int = 3000, lr: float = 0.01, seed: int = 0,
                        device: str = "cpu") -> Factorization:
    """Objective 1 by gradient descent (Adam, float64) from a small random start: the check of the closed form.

    Uses the Gram matrix G = XᵀX, ‖X − XW‖²_F = tr((I − W)ᵀ G (I − W)), so one step costs O(p² k), not O(n p k).
    The loss is divided by tr(G) so that ``lr`` does not depend on the scale of X. The learning rate decays
    by cosine annealing to 0 over ``steps``.
    """
    lam = _check_lambda(lam)
    Xt = as_matrix(X, "X", dtype=torch.float64, allow_empty=False).to(device)
    p = Xt.shape[1]
    if not (isinstance(k, (int, np.integer)) and 1 <= k <= p):
        raise ValueError(f"k must be an integer in [1, p] = [1, {p}], got {k!r}")
    G = Xt.T @ Xt
    scale = torch.trace(G).clamp_min(1e-300)
    eye = torch.eye(p, dtype=torch.float64, device=device)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    A = (0.01 * torch.randn(p, k, generator=gen, dtype=torch.float64)).to(device).requires_grad_()
    B = (0.01 * torch.randn(p, k, generator=gen, dtype=torch.float64)).to(device).requires_grad_()
    opt = torch.optim.Adam([A, B], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for _ in range(steps):
        opt.zero_grad()
        W = A @ B.T
        M = eye - W
        loss = ((M * (G @ M)).sum() + lam * (W * W).sum()) / scale
        loss.backward()
        opt.step()
        sched.step()
    return Factorization(A=A.detach().cpu().numpy(), B=B.detach().cpu().numpy())


def _off_diagonal_pairs(c1: np.ndarray, c2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if c1.shape != c2.shape or c1.ndim != 2 or c1.shape[0] != c1.shape[1]:
        raise ValueError(f"expected two square matrices of equal shape, got {c1.shape} and {c2.shape}")
    if c1.shape[0] < 2:
        raise ValueError("need at least 2 items to compare cosine matrices")
    iu = np.triu_indices(c1.shape[0], k=1)
    return c1[iu], c2[iu]


def mean_abs_cosine_diff(c1: np.ndarray, c2: np.ndarray) -> float:
    """mean |c1 − c2| over the off-diagonal entries (i < j) of two (p, p) cosine matrices."""
    a, b = _off_diagonal_pairs(c1, c2)
    return float(np.mean(np.abs(a - b)))


def cosine_disagreement(c1: np.ndarray, c2: np.ndarray) -> tuple[float, float]:
    """(mean |c1 − c2|, Spearman ρ) over the off-diagonal entries (i < j) of two (p, p) cosine matrices."""
    a, b = _off_diagonal_pairs(c1, c2)
    return float(np.mean(np.abs(a - b))), float(spearmanr(a, b).statistic)


def cluster_contrast(cos: np.ndarray, labels) -> float:
    """Mean cosine within ground-truth clusters minus mean cosine between them (off-diagonal pairs only)."""
    labels = np.asarray(labels)
    if labels.shape != (cos.shape[0],):
        raise ValueError(f"labels must have shape ({cos.shape[0]},), got {labels.shape}")
    same = labels[:, None] == labels[None, :]
    off = ~np.eye(len(labels), dtype=bool)
    if not (same & off).any() or not (~same).any():
        raise ValueError("need at least one within-cluster pair and one between-cluster pair")
    return float(cos[same & off].mean() - cos[~same].mean())


def neighbour_label_agreement(cos: np.ndarray, label_sets: list[set], k: int = 10) -> float:
    """Share of each item's top-k cosine neighbours (itself excluded) that share ≥ 1 label with it, averaged.

    Ties at the k-th place are broken by index (stable sort), so the result is deterministic."""
    p = cos.shape[0]
    if len(label_sets) != p:
        raise ValueError(f"need one label set per item: {p} items, {len(label_sets)} label sets")
    if not 1 <= k < p:
        raise ValueError(f"k must be in [1, p − 1] = [1, {p - 1}], got {k}")
    masked = cos.copy()
    np.fill_diagonal(masked, -np.inf)
    top = np.argsort(-masked, axis=1, kind="stable")[:, :k]
    hits = [sum(bool(label_sets[i] & label_sets[j]) for j in row) for i, row in enumerate(top)]
    return float(np.mean(hits) / k)
