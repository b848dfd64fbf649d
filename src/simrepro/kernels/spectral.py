r"""Eigen-spectrum of a similarity matrix and the entropies of that spectrum.

A symmetric positive semi-definite (PSD) similarity matrix ``K`` (n, n) has eigenvalues λ₁ ≥ … ≥ λₙ ≥ 0.
Normalised by the trace, ``p = λ / tr K`` is a probability vector, and its Rényi entropy of order q

    H_q(p) = log(Σᵢ pᵢ^q) / (1 − q)        0 < q ≠ 1
    H_1(p) = −Σᵢ pᵢ log pᵢ                  (the limit q → 1: Shannon; von Neumann entropy of K / tr K)
    H_0(p) = log #{i : pᵢ > 0}              (the limit q → 0: log rank)
    H_∞(p) = −log maxᵢ pᵢ                   (the limit q → ∞)

is non-increasing in q. ``exp(H_q)`` is the Hill number of order q: an "effective number" between 1 and rank K.
This is the core of the Vendi scores (``simrepro.methods.diversity.vendi``) and of effective-rank measures.

Numerics: ``eigvalsh`` returns eigenvalues of a PSD matrix with absolute error ≈ n·ε·λ₁ (ε = float64
machine epsilon), and rounding in K's own entries (e.g. the cancellation in ‖x‖² + ‖y‖² − 2x·y of a
Gaussian kernel) adds more, so a zero eigenvalue comes back as small noise of either sign. Noise matters for
small q: each eigenvalue of 1e-16 adds (1e-16)^0.1 ≈ 0.025 to Σ p^0.1. Eigenvalues up to the noise level
max(rtol·λ₁, |λ_min|) are therefore set to exactly 0 — rtol = n·ε of K's dtype by default (the convention of
``numpy.linalg.matrix_rank``), and a negative λ_min, impossible for a PSD matrix, is taken as a measure of the
rounding; λ_min < −psd_tol·λ₁ (default 1e-6) means K is not PSD and is an error. For q within ~1e-8 of 1
the general formula loses digits to cancellation (log Σ p^q → 0 divided by 1 − q → 0); q == 1 exactly takes
the Shannon branch, and large q is computed as q·log p₁ + log Σ (p/p₁)^q so that p^q cannot underflow.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix

def _check_order(q) -> float:
    try:
        qf = float(q)
    except (TypeError, ValueError):
        raise ValueError(f"order q must be a number ≥ 0 or 'inf', got {q!r}") from None
    if math.isnan(qf) or qf < 0:
        raise ValueError(f"order q must be ≥ 0 (0, 1 and inf included), got {q!r}")
    return qf


def _check_square_symmetric(K: torch.Tensor, name: str) -> None:
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"{name}: expected a square (n, n) matrix, got shape {tuple(K.shape)}")
    if K.numel():
        scale = float(K.abs().max())
        asym = float((K - K.T).abs().max())
        tol = (1e-5 if K.dtype == torch.float32 else 1e-10) * max(scale, 1.0)
        if asym > tol:
            raise ValueError(f"{name}: not symmetric (max |K − Kᵀ| = {asym:.3g} > {tol:.1g}); "
                             f"a similarity matrix must satisfy K[i, j] = K[j, i], symmetrise with (K + K.T) / 2")


def _clean_spectrum(w: np.ndarray, rtol: float, psd_tol: float, name: str) -> np.ndarray:
    """Sort descending; reject a clearly negative eigenvalue; zero those within the noise level of 0."""
    w = np.sort(w)[::-1].copy()
    if w.size == 0:
        return w
    top = max(float(w[0]), 0.0)
    if w[-1] < -psd_tol * top:
        raise ValueError(f"{name}: not positive semi-definite (smallest eigenvalue {w[-1]:.3g}, largest {top:.3g}); "
                         f"use a PSD kernel (cosine, dot, gaussian, tanimoto) or raise psd_tol")
    noise = max(rtol * top, -float(w[-1]))   # a PSD matrix has no negative eigenvalue: |λ_min| measures rounding
    w[w <= noise] = 0.0
    return w


def kernel_spectrum(K, *, rtol: float | None = None, psd_tol: float = 1e-6) -> np.ndarray:
    """Eigenvalues λ (n,) of a symmetric PSD matrix K (n, n), float64, descending, rounding noise set to 0.

    Noise level: max(rtol·λ₁, |λ_min| if λ_min < 0); ``rtol=None`` means n·ε of K's dtype (a float32 K carries
    float32 rounding into its spectrum). λ_min < −psd_tol·λ₁ is an error (K is not PSD). Computed in float64
    on K's device with ``torch.linalg.eigvalsh``: O(n³) time, O(n²) memory. Raises ``ValueError`` for a
    non-square, asymmetric, non-finite or non-PSD K.
    """
    Kt = as_matrix(K, "K")
    _check_square_symmetric(Kt, "K")
    n = Kt.shape[0]
    if n == 0:
        return np.zeros(0)
    if rtol is None:
        rtol = n * float(torch.finfo(Kt.dtype).eps)
    w = torch.linalg.eigvalsh(Kt.to(torch.float64)).cpu().numpy()
    return _clean_spectrum(w, rtol, psd_tol, "K")


def spectrum_entropy(eigvals, q: float | str = 1.0) -> float:
    r"""Rényi entropy H_q of the normalised spectrum p = λ / Σλ (the module docstring gives the four branches).

    ``eigvals`` (n,): non-negative, not all zero (e.g. from :func:`kernel_spectrum`); ``q`` ≥ 0, ``math.inf``
    or ``'inf'``. Returns a float in [0, log #{λ > 0}].
    """
    qf = _check_order(q)
    w = np.asarray(eigvals, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"eigvals: expected a 1-D vector, got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("eigvals: contains NaN or inf")
    if (w < 0).any():
        raise ValueError(f"eigvals: negative value {w.min():.3g}; clean the spectrum with kernel_spectrum first")
    total = w.sum()
    if total <= 0:
        raise ValueError("eigvals: all zero (or empty); the entropy of an empty spectrum is undefined")
    p = w[w > 0] / total
    if qf == 0:
        return math.log(p.size)                                  # H_0 = log rank
    if qf == 1:
        return float(-(p * np.log(p)).sum())                     # H_1 = −Σ p log p
    if math.isinf(qf):
        return float(-math.log(p.max()))                         # H_∞ = −log max p
    top = p.max()                                                # log Σ p^q = q log p₁ + log Σ (p/p₁)^q:
    log_sum = qf * math.log(top) + math.log(((p / top) ** qf).sum())   # no underflow for large q
    return float(log_sum / (1.0 - qf))                           # H_q = log Σ p^q / (1 − q)


def hill_number(eigvals, q: float | str = 1.0) -> float:
    """exp(H_q(λ / Σλ)): the effective number of order q, in [1, #{λ > 0}]."""
    return math.exp(spectrum_entropy(eigvals, q))
