"""Seeded synthetic hyperspectral cubes from the linear mixing model, with their ground truth.

A pixel's spectrum is a convex combination of a few material spectra (endmembers) plus sensor noise:

    x(p) = Σ_e a_e(p) · s_e + n(p),   a_e(p) ≥ 0,  Σ_e a_e(p) = 1,  n ~ N(0, σ²)                       (LMM)

Real HSI super-resolution sets (CAVE, Harvard, Chikusei, Pavia: 31–128 bands) are not available offline; these
cubes keep what makes them HSI-like — few smooth spectra, strongly correlated bands, materials in regions with
sharp borders and smooth variation inside — and give the endmembers and abundances back as ground truth.

Generation (numpy ``default_rng(seed)``; deterministic bytes):
- a library of ``n_library`` endmember spectra over ``bands`` wavelengths 400–700 nm (CAVE's sampling for 31
  bands): a linear trend plus 1–3 Gaussian absorption/reflection bumps, rescaled into a random sub-range of
  [0.05, 0.95]; each cube draws ``n_endmembers`` of them;
- abundances a = softmax(edge · onehot(region) + smooth fields + fine texture) over the endmembers: regions are
  the Voronoi cells of ``n_regions`` random sites (sharp borders), each with a dominant endmember; smooth fields
  are white noise low-passed at σ = size/4, texture at σ = 1 (periodic borders);
- cube = a·S + noise, clipped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter


@dataclass(frozen=True)
class MixingCubes:
    """cubes (n, bands, size, size) float32 ∈ [0, 1]; endmembers (n, n_endmembers, bands) float64 (the spectra
    each cube mixes); abundances (n, n_endmembers, size, size) float64 (non-negative, sum 1 per pixel);
    library (n_library, bands) float64; wavelengths (bands,) nm."""

    cubes: np.ndarray
    endmembers: np.ndarray
    abundances: np.ndarray
    library: np.ndarray
    wavelengths: np.ndarray


def endmember_library(n_library: int = 12, bands: int = 31, *, rng: np.random.Generator) -> np.ndarray:
    """(n_library, bands) smooth reflectance-like spectra in [0.05, 0.95] (module docstring)."""
    t = np.linspace(0.0, 1.0, bands)
    out = np.empty((n_library, bands))
    for i in range(n_library):
        s = rng.normal(0.0, 0.5) * t
        for _ in range(rng.integers(1, 4)):
            s = s + rng.normal(0.0, 1.0) * np.exp(-0.5 * ((t - rng.uniform(0, 1)) / rng.uniform(0.05, 0.25)) ** 2)
        lo = rng.uniform(0.05, 0.4)
        hi = rng.uniform(lo + 0.2, 0.95)
        span = s.max() - s.min()
        out[i] = lo + (hi - lo) * (s - s.min()) / (span if span > 0 else 1.0)
    return out


def _softmax(z: np.ndarray, axis: int) -> np.ndarray:
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def mixing_cubes(n: int, size: int = 32, bands: int = 31, *, n_endmembers: int = 6, n_library: int = 12,
                 n_regions: int = 5, edge: float = 6.0, smooth: float = 1.5, texture: float = 0.1,
                 noise: float = 0.005, seed: int = 0) -> MixingCubes:
    """``n`` cubes of ``size`` × ``size`` pixels and ``bands`` bands from the linear mixing model (module
    docstring). ``edge`` sets how pure a region's dominant material is (sharp borders), ``smooth`` and
    ``texture`` the amplitude of the large-scale and pixel-scale abundance variation, ``noise`` σ."""
    for name, val in (("n", n), ("size", size), ("bands", bands), ("n_endmembers", n_endmembers),
                      ("n_library", n_library), ("n_regions", n_regions)):
        if not (isinstance(val, (int, np.integer)) and val >= 1):
            raise ValueError(f"{name} must be a positive integer, got {val!r}")
    if bands < 2:
        raise ValueError(f"bands must be ≥ 2 (a spectrum), got {bands}")
    if n_endmembers > n_library:
        raise ValueError(f"n_endmembers ({n_endmembers}) cannot exceed n_library ({n_library})")
    if min(edge, smooth, texture, noise) < 0:
        raise ValueError("edge, smooth, texture and noise must be ≥ 0")
    rng = np.random.default_rng(seed)
    library = endmember_library(n_library, bands, rng=rng)
    yy, xx = np.mgrid[0:size, 0:size]
    pix = np.stack([yy.ravel(), xx.ravel()], axis=1).astype(np.float64)             # (size², 2)
    cubes = np.empty((n, bands, size, size), dtype=np.float32)
    ends = np.empty((n, n_endmembers, bands))
    abund = np.empty((n, n_endmembers, size, size))
    for i in range(n):
        pick = rng.choice(n_library, size=n_endmembers, replace=False)
        sites = rng.uniform(0, size, size=(n_regions, 2))
        region = ((pix[:, None, :] - sites[None]) ** 2).sum(-1).argmin(1).reshape(size, size)
        dominant = rng.integers(0, n_endmembers, size=n_regions)
        logits = edge * (dominant[region][None] == np.arange(n_endmembers)[:, None, None])
        fields = gaussian_filter(rng.normal(size=(n_endmembers, size, size)), sigma=(0, size / 4, size / 4),
                                 mode="wrap")
        fields /= fields.std(axis=(1, 2), keepdims=True) + 1e-12
        fine = gaussian_filter(rng.normal(size=(n_endmembers, size, size)), sigma=(0, 1.0, 1.0), mode="wrap")
        fine /= fine.std(axis=(1, 2), keepdims=True) + 1e-12
        a = _softmax(logits + smooth * fields + texture * fine, axis=0)
        x = np.einsum("ehw,eb->bhw", a, library[pick]) + rng.normal(0.0, noise, size=(bands, size, size))
        cubes[i] = np.clip(x, 0.0, 1.0)
        ends[i], abund[i] = library[pick], a
    return MixingCubes(cubes=cubes, endmembers=ends, abundances=abund, library=library,
                       wavelengths=np.linspace(400.0, 700.0, bands))
