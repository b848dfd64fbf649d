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

Numerics: σ² = E[a²] − μ² cancels catastrophically on bright, flat patches; each image is first centred on its
own mean (which changes no (co)variance), so float32 input is computed in float32 (``compute_dtype=torch.float64``
asks for float64) and matches float64 to ~1e-7; float64 and integer input are computed in float64. Variances are
clamped at 0 before the square roots of ``c`` and ``s``. The computation is differentiable (usable as a loss).

Speed: separable filtering as banded GEMMs over tiles (:func:`_filter_tiled`), image chunks sized to stay in
cache; cost O(N·C·H·W·(win_size + TILE)). ``python -m benchmarks all`` times it against scikit-image.
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


TILE = 8        # outputs per banded GEMM along each axis: fastest of 8 and 16 for float32 and float64 on 2 idle cores


def _banded_tile(w: torch.Tensor, tile: int) -> torch.Tensor:
    """(tile + k − 1, tile) matrix B with B[j + i, j] = w[i]: ``z[a : a + tile + k − 1] @ B`` is the 'valid'
    correlation of that slice with w, i.e. ``tile`` consecutive outputs of the 1-D filter."""
    k = w.numel()
    band = w.new_zeros(tile + k - 1, tile)
    for j in range(tile):
        band[j:j + k, j] = w
    return band


def _filter_tiled(z: torch.Tensor, w: torch.Tensor, tile: int = TILE) -> torch.Tensor:
    """Separable 'valid' filtering with the 1-D window w (k taps) along W, then H, of a zero-padded stack
    z: (B, th·tile + k − 1, tw·tile + k − 1) → (B, th, tw, tile_w, tile_h): tile (i, j) holds rows
    i·tile…, columns j·tile… of the filtered images, transposed (outputs that read the padding are cropped
    by :func:`_untile`).

    Each pass is one GEMM: the overlapping (tile + k − 1)-wide slices of every row (``unfold``, copied once)
    times a banded (tile + k − 1, tile) matrix. That is 2·(tile + k − 1) flops per output and pass instead of
    2k, but at GEMM speed and in two calls per pass (torch's conv2d on one channel runs a generic loop on
    CPU, 10–20× slower here). Cost O(B·H·W·(tile + k)); memory 2·(1 + (k − 1)/tile) × z."""
    b, hpad, wpad = z.shape
    k = w.numel()
    th, tw = (hpad - k + 1) // tile, (wpad - k + 1) // tile
    band = _banded_tile(w, tile)
    rows = z.unfold(2, tile + k - 1, tile).reshape(-1, tile + k - 1) @ band           # (B, H, tw, tile_w)
    cols = rows.view(b, hpad, tw, tile).unfold(1, tile + k - 1, tile).reshape(-1, tile + k - 1) @ band
    return cols.view(b, th, tw, tile, tile)


def _untile(t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, th, tw, tile_w, tile_h) tiles → (B, h, w) images, cropping the outputs that read padding."""
    b, th, tw, tile, _ = t.shape
    return t.permute(0, 1, 4, 2, 3).reshape(b, th * tile, tw * tile)[:, :h, :w]


def _work_dtype(x: torch.Tensor, compute_dtype: torch.dtype | None) -> torch.dtype:
    if compute_dtype is not None:
        if compute_dtype not in (torch.float32, torch.float64):
            raise ValueError(f"compute_dtype must be torch.float32 or torch.float64, got {compute_dtype}")
        return compute_dtype
    return torch.float64 if x.dtype == torch.float64 else torch.float32


CHUNK_BYTES = 8 << 20   # images per pass so their padded moments stay in cache (4 of 256² in float64): measured
                        # on 2 idle cores 2–3× faster than one pass over a 16-image batch, whose buffers spill to RAM


def _ssim_core(x, y, data_range: float, window: str, sigma: float, win_size: int | None, k1: float, k2: float,
               sample_covariance: bool, components: bool, compute_dtype: torch.dtype | None):
    """Validates, computes the maps chunk by chunk of the N·C images (:func:`_ssim_chunk`) and returns them
    concatenated, each (N·C, H − win_size + 1, W − win_size + 1), with the input's (N, C)."""
    xt, yt = _as_images(x, "x"), _as_images(y, "y")
    win_size = win_size or (_gaussian_win_size(sigma) if window == "gaussian" else 7)
    _check(xt, yt, window, win_size, data_range)
    work = _work_dtype(xt, compute_dtype)
    n, c, h, wd = xt.shape
    xt = xt.to(work).reshape(n * c, h, wd)
    yt = yt.to(device=xt.device, dtype=work).reshape(n * c, h, wd)
    w = _window_1d(window, win_size, sigma, work, xt.device)
    n_moments = 5 if components else 4
    th, tw = -(-(h - win_size + 1) // TILE), -(-(wd - win_size + 1) // TILE)
    padded_shape = (th * TILE + win_size - 1, tw * TILE + win_size - 1)
    chunk = max(1, CHUNK_BYTES // (n_moments * padded_shape[0] * padded_shape[1] * xt.element_size()))
    consts = dict(win_size=win_size, data_range=data_range, k1=k1, k2=k2, sample_covariance=sample_covariance)
    maps = [_ssim_chunk(xt[i:i + chunk], yt[i:i + chunk], w, padded_shape, components, **consts)
            for i in range(0, n * c, chunk)]
    return {name: torch.cat([m[name] for m in maps]) for name in maps[0]}, (n, c)


def _ssim_chunk(xt: torch.Tensor, yt: torch.Tensor, w: torch.Tensor, padded_shape: tuple[int, int],
                components: bool, *, win_size: int, data_range: float, k1: float, k2: float,
                sample_covariance: bool) -> dict[str, torch.Tensor]:
    """Maps of a chunk of image pairs xt, yt: (B, H, W) → each (B, H − k + 1, W − k + 1)."""
    b, h, wd = xt.shape
    k = win_size
    # Centre each image on its own mean first: (co)variances do not change, and E[x²] − μ² then cancels far
    # less on bright images (what makes float32 usable); the means are added back for the luminance term.
    shift_x, shift_y = xt.mean(dim=(1, 2), keepdim=True), yt.mean(dim=(1, 2), keepdim=True)
    xc, yc = xt - shift_x, yt - shift_y
    # the moments to filter; SSIM itself needs only var_x + var_y, so E[x² + y²] is one map
    moments = [xc, yc, xc * xc, yc * yc, xc * yc] if components else [xc, yc, torch.addcmul(xc * xc, yc, yc), xc * yc]
    padded = xt.new_zeros(len(moments), b, *padded_shape)
    for i, moment in enumerate(moments):
        padded[i, :, :h, :wd] = moment
    filtered = _filter_tiled(padded.view(-1, *padded_shape), w).unflatten(0, (len(moments), b))
    mu_xc, mu_yc, exy = filtered[0], filtered[1], filtered[-1]
    norm = k ** 2 / (k ** 2 - 1) if sample_covariance and k > 1 else 1.0
    cov = torch.addcmul(exy, mu_xc, mu_yc, value=-1)
    if components:
        var_x = torch.addcmul(filtered[2], mu_xc, mu_xc, value=-1)
        var_y = torch.addcmul(filtered[3], mu_yc, mu_yc, value=-1)
        var_sum = var_x + var_y
    else:
        var_sum = torch.addcmul(torch.addcmul(filtered[2], mu_xc, mu_xc, value=-1), mu_yc, mu_yc, value=-1)
    if norm != 1.0:
        cov, var_sum = norm * cov, norm * var_sum
    mu_x, mu_y = mu_xc + shift_x.view(b, 1, 1, 1, 1), mu_yc + shift_y.view(b, 1, 1, 1, 1)   # tiles: (B, th, tw, t, t)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    lum = (2 * mu_x * mu_y + c1) / (torch.addcmul(mu_x * mu_x, mu_y, mu_y) + c1)
    maps = {"ssim": lum * (2 * cov + c2) / (var_sum + c2)}
    if components:
        var_x, var_y = norm * var_x, norm * var_y
        c3 = c2 / 2
        sd_x, sd_y = var_x.clamp_min(0).sqrt(), var_y.clamp_min(0).sqrt()
        maps.update(l=lum, c=(2 * sd_x * sd_y + c2) / (var_sum + c2), s=(cov + c3) / (sd_x * sd_y + c3),
                    mu_x=mu_x, mu_y=mu_y, var_x=var_x, var_y=var_y, cov=cov)
    return {name: _untile(m, h - k + 1, wd - k + 1) for name, m in maps.items()}


def _finite_or_raise(result: torch.Tensor, x, y) -> None:
    """NaN or inf anywhere in an image reaches its centring shift and so every window of it: checking the
    inputs only when the result is not finite costs nothing on clean input (SSIM itself is NaN only for
    flat images with k1 = k2 = 0)."""
    if not torch.isfinite(result).all():
        for name, z in (("x", x), ("y", y)):
            z = torch.as_tensor(z)
            if z.is_floating_point() and not torch.isfinite(z).all():
                raise ValueError(f"{name}: contains NaN or inf; SSIM is undefined there")


def ssim_maps(x, y, *, data_range: float = 1.0, window: str = "gaussian", sigma: float = 1.5,
              win_size: int | None = None, k1: float = 0.01, k2: float = 0.03,
              sample_covariance: bool = False, compute_dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """Per-window maps ``ssim``, ``l``, ``c``, ``s`` and the local statistics ``mu_x``, ``mu_y``, ``var_x``,
    ``var_y``, ``cov``, each (N, C, H − win_size + 1, W − win_size + 1).

    x, y: images of equal shape (H, W), (C, H, W) or (N, C, H, W) on the pixel scale ``data_range``.
    ``win_size`` defaults to 11 for the Gaussian window (σ = 1.5) and 7 for the uniform one.
    """
    maps, (n, c) = _ssim_core(x, y, data_range, window, sigma, win_size, k1, k2, sample_covariance, True,
                              compute_dtype)
    _finite_or_raise(maps["ssim"], x, y)
    return {name: m.reshape(n, c, *m.shape[1:]) for name, m in maps.items()}


def ssim(x, y, *, data_range: float = 1.0, window: str = "gaussian", sigma: float = 1.5,
         win_size: int | None = None, k1: float = 0.01, k2: float = 0.03,
         sample_covariance: bool = False, compute_dtype: torch.dtype | None = None) -> torch.Tensor:
    """Mean SSIM per image, shape (N,) (a 0-d tensor for a single (H, W) or (C, H, W) image); channels are
    averaged, as scikit-image does with ``channel_axis``. Arguments as :func:`ssim_maps`."""
    maps, (n, c) = _ssim_core(x, y, data_range, window, sigma, win_size, k1, k2, sample_covariance, False,
                              compute_dtype)
    out = maps["ssim"].reshape(n, -1).mean(dim=1)
    _finite_or_raise(out, x, y)
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
