r"""Structural similarity (SSIM, Wang et al. 2004) as a torch kernel, with its three components.

For local windowed statistics (weights w, Σw = 1) of images a and b,

    μ = Σ w·a,  σ² = Σ w·a² − μ²,  σ_ab = Σ w·ab − μ_a μ_b,   C1 = (K1·L)², C2 = (K2·L)², C3 = C2/2
    l = (2 μ_a μ_b + C1) / (μ_a² + μ_b² + C1)          luminance
    c = (2 σ_a σ_b + C2) / (σ_a² + σ_b² + C2)          contrast
    s = (σ_ab + C3) / (σ_a σ_b + C3)                   structure
    SSIM = l·c·s = (2μ_aμ_b + C1)(2σ_ab + C2) / ((μ_a² + μ_b² + C1)(σ_a² + σ_b² + C2))

Windows: ``gaussian`` (σ = 1.5, truncated at 3.5σ → 11 taps, Wang et al.'s choice) or ``uniform`` (win_size²,
scikit-image's default 7×7). Only windows that fit entirely inside the image are kept ('valid' convolution), and the
mean SSIM averages them: this equals ``skimage.metrics.structural_similarity``, which filters with reflected borders
and then crops (win_size − 1)/2 pixels on each side, so its borders never enter the mean. ``sample_covariance=True``
rescales the (co)variances by N/(N − 1), N = win_size², as scikit-image does by default.

Numerics: σ² = E[a²] − μ² cancels catastrophically on bright, flat patches; the maps are computed in float64
unless the input is float32 on a GPU, and variances are clamped at 0 before the square roots of ``c`` and ``s``.
The computation is differentiable (usable as a loss). Cost: O(N·C·H·W·win_size) with separable filtering.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

WINDOWS = ("gaussian", "uniform")


def _window_1d(window: str, win_size: int, sigma: float, dtype: torch.dtype, device) -> torch.Tensor:
    if window == "uniform":
        return torch.full((win_size,), 1.0 / win_size, dtype=dtype, device=device)
    r = torch.arange(win_size, dtype=dtype, device=device) - (win_size - 1) / 2
    g = torch.exp(-(r * r) / (2 * sigma * sigma))
    return g / g.sum()


def _gaussian_win_size(sigma: float) -> int:
    """scipy's gaussian_filter radius int(3.5σ + 0.5), as scikit-image uses: 2·radius + 1 taps."""
    return 2 * int(3.5 * sigma + 0.5) + 1


def _as_images(x, name: str) -> torch.Tensor:
    """(H, W), (C, H, W) or (N, C, H, W) numpy/torch → (N, C, H, W) float tensor; rejects NaN/inf and ints stay exact."""
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{name}: expected a numeric image array, got dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64 if x.dtype.kind in "iu" else x.dtype))
    elif not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    if not x.dtype.is_floating_point:
        x = x.double()
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"{name}: expected (H, W), (C, H, W) or (N, C, H, W), got shape {tuple(x.shape)}; "
                         f"move a channels-last colour axis first with .permute / np.moveaxis")
    while x.ndim < 4:
        x = x.unsqueeze(0)
    if x.numel() and not torch.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf; SSIM is undefined there")
    return x


def _check(x: torch.Tensor, y: torch.Tensor, window: str, win_size: int, data_range: float) -> None:
    if window not in WINDOWS:
        raise ValueError(f"unknown window {window!r}; expected one of {', '.join(WINDOWS)}")
    if x.shape != y.shape:
        raise ValueError(f"images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}; SSIM compares aligned images")
    if win_size < 1 or win_size % 2 == 0:
        raise ValueError(f"win_size must be odd and ≥ 1, got {win_size}")
    if min(x.shape[-2:]) < win_size:
        raise ValueError(f"images of size {tuple(x.shape[-2:])} are smaller than the {win_size}×{win_size} window; "
                         f"use a smaller win_size or larger images")
    if not (data_range > 0 and math.isfinite(data_range)):
        raise ValueError(f"data_range must be a positive number (max − min of the pixel scale, e.g. 1 or 255), "
                         f"got {data_range}")


def _filter(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of (N, C, H, W) with the 1-D window w along H then W, channel by channel.
    Channels are folded into the batch for a single-channel convolution: grouped (depthwise) float64
    convolutions take a slow generic path on CPU."""
    n, c, h, wd = z.shape
    k = w.numel()
    z = F.conv2d(z.reshape(n * c, 1, h, wd), w.view(1, 1, k, 1))
    z = F.conv2d(z, w.view(1, 1, 1, k))
    return z.reshape(n, c, z.shape[-2], z.shape[-1])


def _ssim_core(x, y, data_range: float, window: str, sigma: float, win_size: int | None, k1: float, k2: float,
               sample_covariance: bool, components: bool) -> dict[str, torch.Tensor]:
    xt, yt = _as_images(x, "x"), _as_images(y, "y")
    win_size = win_size or (_gaussian_win_size(sigma) if window == "gaussian" else 7)
    _check(xt, yt, window, win_size, data_range)
    work = xt.dtype if (xt.is_cuda and xt.dtype == torch.float32) else torch.float64
    xt, yt = xt.to(work), yt.to(device=xt.device, dtype=work)
    w = _window_1d(window, win_size, sigma, work, xt.device)
    # one filtering pass over the five moments: E[x], E[y], E[x²], E[y²], E[xy]
    mu_x, mu_y, ex2, ey2, exy = _filter(torch.cat([xt, yt, xt * xt, yt * yt, xt * yt], dim=1), w).chunk(5, dim=1)
    norm = win_size ** 2 / (win_size ** 2 - 1) if sample_covariance and win_size > 1 else 1.0
    var_x = norm * (ex2 - mu_x * mu_x)
    var_y = norm * (ey2 - mu_y * mu_y)
    cov = norm * (exy - mu_x * mu_y)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    lum = (2 * mu_x * mu_y + c1) / (mu_x ** 2 + mu_y ** 2 + c1)
    maps = {"ssim": lum * (2 * cov + c2) / (var_x + var_y + c2)}
    if components:
        c3 = c2 / 2
        sd_x, sd_y = var_x.clamp_min(0).sqrt(), var_y.clamp_min(0).sqrt()
        maps.update(l=lum, c=(2 * sd_x * sd_y + c2) / (var_x + var_y + c2), s=(cov + c3) / (sd_x * sd_y + c3),
                    mu_x=mu_x, mu_y=mu_y, var_x=var_x, var_y=var_y, cov=cov)
    return maps


def ssim_maps(x, y, *, data_range: float = 1.0, window: str = "gaussian", sigma: float = 1.5,
              win_size: int | None = None, k1: float = 0.01, k2: float = 0.03,
              sample_covariance: bool = False) -> dict[str, torch.Tensor]:
    """Per-window maps ``ssim``, ``l``, ``c``, ``s`` and the local statistics ``mu_x``, ``mu_y``, ``var_x``,
    ``var_y``, ``cov``, each (N, C, H − win_size + 1, W − win_size + 1).

    x, y: images of equal shape (H, W), (C, H, W) or (N, C, H, W) on the pixel scale ``data_range``.
    ``win_size`` defaults to 11 for the Gaussian window (σ = 1.5) and 7 for the uniform one.
    """
    return _ssim_core(x, y, data_range, window, sigma, win_size, k1, k2, sample_covariance, components=True)


def ssim(x, y, *, data_range: float = 1.0, window: str = "gaussian", sigma: float = 1.5,
         win_size: int | None = None, k1: float = 0.01, k2: float = 0.03,
         sample_covariance: bool = False) -> torch.Tensor:
    """Mean SSIM per image, shape (N,) (a 0-d tensor for a single (H, W) or (C, H, W) image); channels are
    averaged, as scikit-image does with ``channel_axis``. Arguments as :func:`ssim_maps`."""
    maps = _ssim_core(x, y, data_range, window, sigma, win_size, k1, k2, sample_covariance, components=False)
    out = maps["ssim"].mean(dim=(1, 2, 3))
    return out[0] if x.ndim < 4 else out


def ssim_reference(x: np.ndarray, y: np.ndarray, *, data_range: float = 1.0, window: str = "gaussian",
                   sigma: float = 1.5, win_size: int | None = None, k1: float = 0.01, k2: float = 0.03,
                   sample_covariance: bool = False) -> float:
    """Plain float64 definition for one (H, W) image pair: every valid window's weighted statistics in a loop."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    win_size = win_size or (_gaussian_win_size(sigma) if window == "gaussian" else 7)
    _check(torch.from_numpy(x)[None, None], torch.from_numpy(y)[None, None], window, win_size, data_range)
    w1 = _window_1d(window, win_size, sigma, torch.float64, "cpu").numpy()
    w = np.outer(w1, w1)
    norm = win_size ** 2 / (win_size ** 2 - 1) if sample_covariance and win_size > 1 else 1.0
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    values = []
    for i in range(x.shape[0] - win_size + 1):
        for j in range(x.shape[1] - win_size + 1):
            a, b = x[i:i + win_size, j:j + win_size], y[i:i + win_size, j:j + win_size]
            ma, mb = (w * a).sum(), (w * b).sum()
            va, vb = norm * (w * (a - ma) ** 2).sum(), norm * (w * (b - mb) ** 2).sum()
            cab = norm * (w * (a - ma) * (b - mb)).sum()
            values.append((2 * ma * mb + c1) * (2 * cab + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(values))
