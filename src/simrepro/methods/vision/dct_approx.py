r"""Low-complexity DCT approximations by row-wise minimal angle (Radünz, Portella, Oliveira, Bayer & Cintra,
"Extensions on low-complexity DCT approximations for larger blocklengths based on minimal angle similarity",
J. Signal Processing Systems 2023, arXiv 2410.15244), their classical figures of merit, and JPEG-like block
coding.

Exact N-point DCT-II (orthonormal): C[k, j] = α_k cos(π(2j+1)k / (2N)), α_0 = √(1/N), α_k = √(2/N).

Approximation: each row c_k is replaced by an integer row t_k ∈ 𝒟^N, 𝒟 = {−L, …, L}, minimising the angle
θ(c_k, t_k) = arccos(⟨c_k, t_k⟩ / (‖c_k‖‖t_k‖)); then Ĉ = S T with S = diag(T Tᵀ)^{−1/2} (unit-norm rows).

Exact search (:func:`min_angle_row`). DCT-II rows are symmetric (k even) or antisymmetric (k odd) about the
centre, so only the first N/2 entries a are free and θ is the angle between a and those entries. For a ≥ 0
(signs are copied), the optimum t* over the box {0..L}^{N/2} equals clip(round(λ a)) for λ = ‖t*‖²/⟨a, t*⟩:
if some t were closer to λa than t*, then ‖t‖² + ‖t*‖² < 2λ⟨a, t⟩, and with 2‖t‖‖t*‖ ≤ ‖t‖² + ‖t*‖² this gives
cos θ(a, t) > cos θ(a, t*), a contradiction. Rounding only changes at λ = (q + ½)/a_i, so trying one λ per
interval between these breakpoints (≤ L·N/2 candidates) is exhaustive. Ties in angle go to the smallest ‖t‖₁
(the cheapest row).

Figures of merit (the standard ones of this literature; R = AR(1) covariance, ρ = 0.95, unit variance):
- total error energy ε(Ĉ) = π ‖C − Ĉ‖²_F;
- MSE(Ĉ) = tr((C − Ĉ) R (C − Ĉ)ᵀ) / N;
- unified coding gain C_g(Ĉ) = 10 log₁₀ Π_k (A_k B_k)^{−1/N} dB, A_k = ĥ_k R ĥ_kᵀ (ĥ_k row k of Ĉ),
  B_k = ‖g_k‖² (g_k column k of Ĉ⁻¹); for an orthonormal Ĉ this is the usual 10 log₁₀ of (mean variance /
  geometric mean of the coefficient variances);
- transform efficiency η(Ĉ) = 100 · Σ_k |r_kk| / Σ_{k,l} |r_kl| with r = Ĉ R Ĉᵀ;
- deviation from orthogonality δ(Ĉ) = 1 − ‖diag(ĈĈᵀ)‖_F / ‖ĈĈᵀ‖_F.
"""

from __future__ import annotations

import numpy as np

_ZERO = 1e-12


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix C (n, n), float64."""
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    k, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    c = np.sqrt(2.0 / n) * np.cos(np.pi * (2 * j + 1) * k / (2 * n))
    c[0] /= np.sqrt(2.0)
    return c


def min_angle_row(a, levels: int) -> np.ndarray:
    """t ∈ {−L..L}^len(a) minimising the angle to ``a`` (exact; ties → smallest ‖t‖₁); int64."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all():
        raise ValueError("a must be a non-empty finite 1-D vector")
    if not isinstance(levels, (int, np.integer)) or levels < 1:
        raise ValueError(f"levels L must be a positive integer (𝒟 = {{-L..L}}), got {levels!r}")
    mag = np.where(np.abs(a) > _ZERO, np.abs(a), 0.0)
    if not mag.any():
        raise ValueError("a is the zero vector: its angle to any row is undefined")
    nz = mag > 0
    breaks = np.sort(((np.arange(levels)[:, None] + 0.5) / mag[nz][None, :]).ravel())
    breaks = breaks[np.r_[True, np.diff(breaks) > 1e-9 * breaks[1:]]]                # equal |a_i| → one break
    lambdas = np.r_[(breaks[:-1] + breaks[1:]) / 2, breaks[-1] + 1.0]                # one λ per interval
    cand = np.clip(np.round(lambdas[:, None] * mag[None, :]), 0, levels)            # (m, n), rows ≥ 0
    norms = np.linalg.norm(cand, axis=1)
    cos = np.where(norms > 0, cand @ mag / np.maximum(norms, 1.0) / np.linalg.norm(mag), -np.inf)
    best = np.flatnonzero(cos >= cos.max() - 1e-12)
    pick = best[np.argmin(cand[best].sum(1))]
    return (np.sign(a) * cand[pick] * (np.abs(a) > _ZERO)).astype(np.int64)


def min_angle_approximation(n: int, levels: int = 2) -> np.ndarray:
    """Integer matrix T (n, n), n even: row k is the minimal-angle 𝒟-row for c_k, with c_k's (anti)symmetry."""
    if n < 2 or n % 2:
        raise ValueError(f"n must be an even integer ≥ 2, got {n!r}")
    c = dct_matrix(n)
    t = np.empty((n, n), dtype=np.int64)
    h = n // 2
    for k in range(n):
        half = min_angle_row(c[k, :h], levels)
        t[k] = np.r_[half, (-1) ** k * half[::-1]]
    return t


def row_angles(c: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Angle (radians) between row k of ``c`` and row k of ``t``; (n,) or broadcast rows.

    Uses θ = 2·atan2(‖ĉ − t̂‖, ‖ĉ + t̂‖) on unit vectors, accurate near 0 where arccos(cos θ) loses half the
    digits (an error of ~1e-8 rad)."""
    c, t = np.asarray(c, dtype=np.float64), np.asarray(t, dtype=np.float64)
    cu = c / np.linalg.norm(c, axis=-1, keepdims=True)
    tu = t / np.linalg.norm(t, axis=-1, keepdims=True)
    return 2.0 * np.arctan2(np.linalg.norm(cu - tu, axis=-1), np.linalg.norm(cu + tu, axis=-1))


def scaled_approximation(t) -> np.ndarray:
    """Ĉ = S T with S = diag(T Tᵀ)^{−1/2}: rows of unit norm."""
    t = np.asarray(t, dtype=np.float64)
    norms = np.linalg.norm(t, axis=1)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or (norms == 0).any():
        raise ValueError("T must be a square matrix without zero rows")
    return t / norms[:, None]


def signed_dct(n: int) -> np.ndarray:
    """Signed DCT (Haweel 2001): T = sign(C_n), entries ±1."""
    return np.sign(np.where(np.abs(dct_matrix(n)) > _ZERO, dct_matrix(n), 0.0)).astype(np.int64)


def rounded_dct(n: int, alpha: float) -> np.ndarray:
    """T = round(α C_n); α = 2, n = 8 is the RDCT of Cintra & Bayer (IEEE SPL 2011)."""
    return np.round(alpha * dct_matrix(n)).astype(np.int64)


def jam_scale(t) -> np.ndarray:
    """Jridi–Alfalou–Meher doubling of an N-point approximation to 2N points.

    Even rows: T_N applied to x_n + x_{2N−1−n}; odd rows: T_N applied to x_n − x_{2N−1−n} (the exact DCT's
    even/odd split with the DCT-IV block replaced by T_N), i.e. row 2m = [t_m, t_m J], row 2m+1 = [t_m, −t_m J].
    """
    t = np.asarray(t)
    if t.ndim != 2 or t.shape[0] != t.shape[1]:
        raise ValueError("T must be square")
    n = t.shape[0]
    out = np.empty((2 * n, 2 * n), dtype=t.dtype)
    out[0::2] = np.hstack([t, t[:, ::-1]])
    out[1::2] = np.hstack([t, -t[:, ::-1]])
    return out


# --- figures of merit -------------------------------------------------------------------------------------

def ar1_covariance(n: int, rho: float = 0.95) -> np.ndarray:
    """R[i, j] = ρ^|i−j| (first-order Markov source, unit variance)."""
    i = np.arange(n)
    return rho ** np.abs(i[:, None] - i[None, :])


def total_error_energy(c_hat, c=None) -> float:
    """ε = π ‖C − Ĉ‖²_F."""
    c_hat = np.asarray(c_hat, dtype=np.float64)
    c = dct_matrix(c_hat.shape[0]) if c is None else c
    return float(np.pi * ((c - c_hat) ** 2).sum())


def mse(c_hat, rho: float = 0.95, c=None) -> float:
    """tr((C − Ĉ) R (C − Ĉ)ᵀ) / N."""
    c_hat = np.asarray(c_hat, dtype=np.float64)
    n = c_hat.shape[0]
    d = (dct_matrix(n) if c is None else c) - c_hat
    return float(np.trace(d @ ar1_covariance(n, rho) @ d.T) / n)


def coding_gain(c_hat, rho: float = 0.95) -> float:
    """Unified coding gain in dB (equals the classical one for orthonormal Ĉ)."""
    c_hat = np.asarray(c_hat, dtype=np.float64)
    n = c_hat.shape[0]
    r = ar1_covariance(n, rho)
    a = np.einsum("ki,ij,kj->k", c_hat, r, c_hat)
    b = (np.linalg.inv(c_hat) ** 2).sum(0)                      # ‖g_k‖², g_k = column k of Ĉ⁻¹
    return float(-10.0 * np.mean(np.log10(a * b)))


def transform_efficiency(c_hat, rho: float = 0.95) -> float:
    """η in percent."""
    c_hat = np.asarray(c_hat, dtype=np.float64)
    ry = c_hat @ ar1_covariance(c_hat.shape[0], rho) @ c_hat.T
    return float(100.0 * np.abs(np.diag(ry)).sum() / np.abs(ry).sum())


def orthogonality_deviation(c_hat) -> float:
    """δ = 1 − ‖diag(ĈĈᵀ)‖_F / ‖ĈĈᵀ‖_F (0 for matrices with orthogonal rows)."""
    g = np.asarray(c_hat, dtype=np.float64) @ np.asarray(c_hat, dtype=np.float64).T
    return float(1.0 - np.linalg.norm(np.diag(g)) / np.linalg.norm(g))


def figures_of_merit(c_hat, rho: float = 0.95) -> dict:
    return {"total_error_energy": total_error_energy(c_hat), "mse": mse(c_hat, rho),
            "coding_gain": coding_gain(c_hat, rho), "transform_efficiency": transform_efficiency(c_hat, rho),
            "orthogonality_deviation": orthogonality_deviation(c_hat)}


def additions(t) -> int:
    """Additions of the direct matrix-vector product with T (Σ_k (nnz_k − 1)); ±2 entries cost a shift each,
    not counted. An upper bound on a fast algorithm's count."""
    nnz = (np.asarray(t) != 0).sum(1)
    return int(np.maximum(nnz - 1, 0).sum())


def arithmetic_cost(t) -> tuple[int, int]:
    """(additions, bit-shifts) of T·x under one cost model applied to every transform alike.

    If the rows of T have the DCT's (anti)symmetry (row k = (−1)^k · row k reversed), one even/odd butterfly
    (N additions) splits T·x into the even rows' half-block applied to x_n + x_{N−1−n} and the odd rows' half-block
    applied to x_n − x_{N−1−n}, each costed recursively; any other block costs its direct product: Σ_rows
    (nnz − 1) additions and one shift per entry of magnitude 2, 4, 8, … . For the 8-point RDCT this gives the
    22 additions of Cintra & Bayer's fast algorithm, and for JAM-scaled transforms the 2·A(N/2) + N additions
    of the JAM recursion. A fast algorithm found by hand for a block without that symmetry can only be
    cheaper, so for such blocks the count is an upper bound."""
    t = np.asarray(t)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or not np.issubdtype(t.dtype, np.integer):
        raise ValueError("T must be a square integer matrix")
    mag = np.abs(t)
    pow2 = (mag > 0) & ((mag & (mag - 1)) == 0)
    if ((mag > 0) & ~pow2).any():
        raise ValueError("entries must be 0 or ± a power of two (other integers need their own adder tree)")
    n = t.shape[0]
    signs = (-1) ** np.arange(n)
    if n >= 2 and n % 2 == 0 and np.array_equal(t[:, ::-1], t * signs[:, None]):
        h = n // 2
        ea, es = arithmetic_cost(t[0::2, :h])
        oa, os_ = arithmetic_cost(t[1::2, :h])
        return n + ea + oa, es + os_
    nnz = (t != 0).sum(1)
    return int(np.maximum(nnz - 1, 0).sum()), int((mag > 1).sum())


# --- JPEG-like block coding -------------------------------------------------------------------------------

def zigzag_mask(n: int, r: int) -> np.ndarray:
    """(n, n) bool keeping the first r coefficients in JPEG zig-zag order (low frequencies first)."""
    if not 0 <= r <= n * n:
        raise ValueError(f"r must lie in [0, {n * n}], got {r}")
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    s = i + j
    order = np.lexsort((np.where(s % 2 == 0, j, i).ravel(), s.ravel()))   # anti-diagonals, alternating direction
    mask = np.zeros(n * n, dtype=bool)
    mask[order[:r]] = True
    return mask.reshape(n, n)


def block_code(image, c_hat, r: int) -> np.ndarray:
    """Per N×N block: Y = Ĉ X Ĉᵀ, keep the r zig-zag-first coefficients, X' = Ĉ⁻¹ Y' Ĉ⁻ᵀ; float64 (H, W).

    H and W must be multiples of N (crop first)."""
    x = np.asarray(image, dtype=np.float64)
    c_hat = np.asarray(c_hat, dtype=np.float64)
    n = c_hat.shape[0]
    if x.ndim != 2 or x.shape[0] % n or x.shape[1] % n:
        raise ValueError(f"image must be 2-D with sides divisible by N = {n}, got {x.shape}; crop it first")
    blocks = x.reshape(x.shape[0] // n, n, x.shape[1] // n, n).transpose(0, 2, 1, 3)   # (a, b, N, N)
    y = (c_hat @ blocks @ c_hat.T) * zigzag_mask(n, r)
    inv = np.linalg.inv(c_hat)
    return (inv @ y @ inv.T).transpose(0, 2, 1, 3).reshape(x.shape)


def crop_to_multiple(image, n: int) -> np.ndarray:
    """Top-left crop so that both sides are multiples of n."""
    h, w = (np.asarray(image.shape[:2]) // n) * n
    if h == 0 or w == 0:
        raise ValueError(f"image {image.shape} is smaller than one {n}×{n} block")
    return image[:h, :w]


def coding_quality(images, c_hat, r_values) -> tuple[np.ndarray, np.ndarray]:
    """PSNR (dB) and SSIM of :func:`block_code` reconstructions, each (len(images), len(r_values)).

    Images are cropped to multiples of N; reconstructions are clipped to [0, 255] (not rounded) and scored
    with ``skimage.metrics`` (data range 255)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    n = np.asarray(c_hat).shape[0]
    psnr = np.empty((len(images), len(r_values)))
    ssim = np.empty_like(psnr)
    for i, img in enumerate(images):
        ref = crop_to_multiple(np.asarray(img, dtype=np.float64), n)
        for j, r in enumerate(r_values):
            rec = np.clip(block_code(ref, c_hat, int(r)), 0.0, 255.0)
            psnr[i, j] = peak_signal_noise_ratio(ref, rec, data_range=255.0)
            ssim[i, j] = structural_similarity(ref, rec, data_range=255.0)
    return psnr, ssim
