r"""Single hyperspectral image super-resolution (single-HSI-SR) at CPU scale: degradation, a small network with a
plug-in pixel attention, training, and the two quality measures of the field.

Degradation (the usual HSI-SR protocol, e.g. SSPSR's, which the ESSAformer README points to): LR = bicubic
downsampling of the HR cube by ``scale`` with anti-aliasing (:func:`downsample`); the bicubic baseline upsamples
LR back (:func:`bicubic_upsample`). Cubes are (B, bands, H, W) float32 in [0, 1].

Network (:class:`SpectralSR`), after the official ESSAformer's layout (``ESSA.py``: a first conv, pixel-shuffle
upsampling, attention over the pixels of the upsampled features, a last conv) shrunk to CPU size:
    head conv (LR) → residual conv block → ×2 pixel-shuffle steps → [pixel attention] → residual conv block (HR)
    → tail conv, plus the bicubic upsampling of the input (global residual).
The attention block is x + W_o·attn(LN(x)) with q, k, v = W·LN(x), one head, tokens = the H·W pixels, features =
the C channels; ``attention`` picks ``"none"`` (the plain CNN), ``"softmax"`` (SDPA), ``"essa"`` (the official
ESSA, :func:`simrepro.methods.attention.essa.essa_attention`) or ``"scc1"`` (the exact normalised 1 + SCC kernel,
:func:`~simrepro.methods.attention.essa.scc_kernel_attention`). The shared layers are built first, so one seed
gives every variant the same initial weights for them; the attention layers come last.

Quality (reference implementations in float64 numpy):
- MPSNR: PSNR of each band of each image, 10·log10(range² / MSE), averaged over bands and images (:func:`mpsnr`);
- SAM: mean over pixels of the spectral angle arccos(⟨x, y⟩ / (‖x‖‖y‖)), in degrees (:func:`sam_degrees`);
- ERGAS: 100/scale · sqrt(mean_b MSE_b / μ_b²), averaged over images (:func:`ergas`).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from simrepro.kernels.attention import softmax_attention
from simrepro.methods.attention.essa import essa_attention, scc_kernel_attention

ATTENTIONS = ("none", "softmax", "essa", "scc1")

__all__ = ["ATTENTIONS", "downsample", "bicubic_upsample", "mpsnr", "sam_degrees", "ergas", "SpectralSR",
           "TrainResult", "train_sr", "predict"]


def _check_cube(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(np.asarray(x))
    if x.ndim != 4:
        raise ValueError(f"{name}: expected (B, bands, H, W), got shape {tuple(x.shape)}; add a batch axis with x[None]")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def downsample(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """(B, bands, H, W) → (B, bands, H/scale, W/scale): anti-aliased bicubic; H and W must be multiples of scale."""
    hr = _check_cube(hr, "hr")
    if scale < 1 or hr.shape[-1] % scale or hr.shape[-2] % scale:
        raise ValueError(f"H, W = {tuple(hr.shape[-2:])} must be multiples of scale = {scale} (crop first)")
    return F.interpolate(hr, scale_factor=1.0 / scale, mode="bicubic", antialias=True, align_corners=False)


def bicubic_upsample(lr: torch.Tensor, scale: int) -> torch.Tensor:
    """(B, bands, h, w) → (B, bands, h·scale, w·scale), bicubic, clipped to [0, 1]."""
    lr = _check_cube(lr, "lr")
    return F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0.0, 1.0)


def _pair(pred, target):
    p = np.asarray(pred.detach().cpu() if isinstance(pred, torch.Tensor) else pred, dtype=np.float64)
    t = np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 4:
        raise ValueError(f"pred and target must both be (B, bands, H, W), got {p.shape} and {t.shape}")
    if p.size == 0:
        raise ValueError("empty cubes: nothing to score")
    if not (np.isfinite(p).all() and np.isfinite(t).all()):
        raise ValueError("pred or target contains NaN or inf")
    return p, t


def mpsnr(pred, target, data_range: float = 1.0) -> float:
    """Mean over images and bands of 10·log10(data_range² / MSE_band) (dB); an exact band gives +inf."""
    p, t = _pair(pred, target)
    mse = ((p - t) ** 2).mean(axis=(2, 3))                                          # (B, bands)
    with np.errstate(divide="ignore"):
        return float(np.mean(10.0 * np.log10(data_range ** 2 / mse)))


def sam_degrees(pred, target) -> float:
    """Mean over all pixels of arccos(⟨x, y⟩/(‖x‖‖y‖)) in degrees (cosine clipped to [−1, 1]). A zero spectrum has
    no direction: raises, naming how many."""
    p, t = _pair(pred, target)
    dot = (p * t).sum(axis=1)
    norms = np.sqrt((p * p).sum(axis=1)) * np.sqrt((t * t).sum(axis=1))
    if (norms == 0).any():
        raise ValueError(f"{int((norms == 0).sum())} pixels have a zero spectrum in pred or target: their spectral "
                         f"angle is undefined (add a floor to the image or drop them)")
    return float(np.degrees(np.arccos(np.clip(dot / norms, -1.0, 1.0))).mean())


def ergas(pred, target, scale: int) -> float:
    """100/scale · sqrt(mean_b MSE_b / μ_b²) per image (μ_b the target band's mean), averaged over images."""
    p, t = _pair(pred, target)
    mse = ((p - t) ** 2).mean(axis=(2, 3))
    mu = t.mean(axis=(2, 3))
    return float(np.mean(100.0 / scale * np.sqrt((mse / np.maximum(mu, 1e-12) ** 2).mean(axis=1))))


# --------------------------------------------------------------------------------------------- network
class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return x + self.conv2(F.leaky_relu(self.conv1(x), 0.2))


class PixelAttention(nn.Module):
    """x + W_o·attn(q, k, v) with q, k, v = W·LN(x): one head over the H·W pixels of (B, C, H, W)."""

    def __init__(self, c: int, attention: str):
        super().__init__()
        fns = {"softmax": functools.partial(softmax_attention, check_finite=False),
               "essa": functools.partial(essa_attention, check_finite=False),
               "scc1": functools.partial(scc_kernel_attention, order=1, check_finite=False)}
        self.attn = fns[attention]
        self.norm = nn.LayerNorm(c)
        self.qkv = nn.Linear(c, 3 * c)
        self.proj = nn.Linear(c, c)

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = self.norm(x.flatten(2).transpose(1, 2))                            # (B, N, C)
        q, k, v = self.qkv(tokens).split(c, dim=-1)
        out = self.attn(q[:, None], k[:, None], v[:, None])[:, 0]                  # (B, N, C), one head
        return x + self.proj(out).transpose(1, 2).reshape(b, c, h, w)


class SpectralSR(nn.Module):
    """Small HSI-SR network (module docstring): (B, bands, h, w) → (B, bands, h·scale, w·scale)."""

    def __init__(self, bands: int, channels: int = 16, scale: int = 4, attention: str = "none"):
        super().__init__()
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}")
        if scale < 2 or scale & (scale - 1):
            raise ValueError(f"scale must be a power of 2 ≥ 2, got {scale}")
        self.scale, self.kind = scale, attention
        self.head = nn.Conv2d(bands, channels, 3, padding=1)
        self.body = _ResBlock(channels)
        self.up = nn.Sequential(*[m for _ in range(int(math.log2(scale)))
                                  for m in (nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2))])
        self.refine = _ResBlock(channels)
        self.tail = nn.Conv2d(channels, bands, 3, padding=1)
        nn.init.zeros_(self.tail.weight)                                          # starts as the bicubic baseline
        nn.init.zeros_(self.tail.bias)
        self.attn = PixelAttention(channels, attention) if attention != "none" else nn.Identity()   # built last

    def forward(self, lr):
        x = self.up(self.body(self.head(lr)))
        x = self.refine(self.attn(x))
        return F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False) + self.tail(x)


@dataclass
class TrainResult:
    step_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    n_params: int = 0


def train_sr(model: SpectralSR, lr_cubes: torch.Tensor, hr_cubes: torch.Tensor, *, steps: int, batch_size: int = 8,
             lr: float = 2e-3, patch: int | None = None, seed: int = 0) -> TrainResult:
    """Adam on the L1 loss (the SSPSR framework's) for ``steps`` steps of ``batch_size`` random training pairs
    drawn with ``seed`` (the same pairs, crops and flips for every model given the same seed); ``patch`` = HR crop
    size (a multiple of the model's scale; None = whole cubes), one random aligned crop per step; random flips;
    cosine decay of the learning rate to 0. Returns the loss per step and the wall time."""
    lr_cubes, hr_cubes = _check_cube(lr_cubes, "lr_cubes"), _check_cube(hr_cubes, "hr_cubes")
    if len(lr_cubes) != len(hr_cubes) or len(lr_cubes) == 0:
        raise ValueError(f"need as many (≥ 1) LR as HR cubes, got {len(lr_cubes)} and {len(hr_cubes)}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be ≥ 1, got {steps}, {batch_size}")
    s = model.scale
    if tuple(hr_cubes.shape[-2:]) != (lr_cubes.shape[-2] * s, lr_cubes.shape[-1] * s):
        raise ValueError(f"HR {tuple(hr_cubes.shape[-2:])} is not scale = {s} × LR {tuple(lr_cubes.shape[-2:])}")
    if patch is not None and (patch < s or patch % s or patch > min(hr_cubes.shape[-2:])):
        raise ValueError(f"patch must be a multiple of scale = {s} between {s} and {min(hr_cubes.shape[-2:])}, "
                         f"got {patch}")
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    res = TrainResult(n_params=sum(p.numel() for p in model.parameters()))
    model.train()
    start = time.perf_counter()
    for _ in range(steps):
        idx = torch.randint(len(lr_cubes), (batch_size,), generator=g)
        x, y = lr_cubes[idx], hr_cubes[idx]
        if patch is not None:
            p = patch // s
            i0, j0 = (int(torch.randint(n - p + 1, (1,), generator=g)) for n in x.shape[-2:])
            x, y = x[..., i0:i0 + p, j0:j0 + p], y[..., s * i0:s * (i0 + p), s * j0:s * (j0 + p)]
        flips = torch.randint(2, (2,), generator=g)
        dims = [d for d, f in zip((-1, -2), flips.tolist()) if f]
        if dims:
            x, y = x.flip(dims), y.flip(dims)
        loss = F.l1_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        res.step_loss.append(float(loss.detach()))
    res.seconds = time.perf_counter() - start
    if not np.isfinite(res.step_loss).all():
        raise FloatingPointError(f"training diverged ({model.kind}); lower the learning rate")
    return res


@torch.no_grad()
def predict(model: SpectralSR, lr_cubes: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
    """Super-resolve ``lr_cubes`` in batches, output clipped to [0, 1]."""
    model.eval()
    lr_cubes = _check_cube(lr_cubes, "lr_cubes")
    return torch.cat([model(lr_cubes[i:i + batch_size]).clamp(0.0, 1.0)
                      for i in range(0, len(lr_cubes), batch_size)])
