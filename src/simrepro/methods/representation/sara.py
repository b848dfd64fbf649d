"""SARA: Structural and Adversarial Representation Alignment (Chen, Wang, Tan & Li, arXiv 2503.08253, 2025), at toy
scale: a tiny diffusion transformer (DiT) trained with a flow-matching objective, plus three alignment terms on the
hidden states of one of its blocks against a frozen pretrained encoder's patch features of the *clean* image.

Notation. ``x0`` (B, 1, H, W) a clean image in [-1, 1]; ``ε`` ~ N(0, I); ``t`` ~ U(0, 1); the linear interpolant
``x_t = (1 − t)·x0 + t·ε`` with velocity target ``v = ε − x0`` (SiT's convention, the backbone REPA and SARA train).
``h`` (B, N, d) the hidden tokens after block ``align_depth``; ``z = proj(h)`` (B, N, C) through a small MLP;
``y`` (B, N, C) the encoder's patch features of ``x0`` (precomputed once). Losses (per batch, averaged):

* denoising        ``L_diff   = mean ‖v̂(x_t, t) − v‖²``
* patch (REPA)     ``L_repa   = −(1/N) Σ_n cos(z_n, y_n)``
* structural       ``L_struct = (1/N²) ‖S(z) − S(y)‖_F²``, with the autocorrelation (self-similarity) matrix
  ``S(u)_{nm} = ⟨u_n, u_m⟩ / (‖u_n‖‖u_m‖)`` (N × N, cosine Gram over the patches of one image)
* adversarial      a discriminator ``D`` on the per-image set of normalised patch features; ``D`` minimises
  ``BCE(D(ŷ), 1) + BCE(D(ẑ), 0)`` and the denoiser adds ``L_adv = BCE(D(ẑ), 1)`` (non-saturating), ``û = u/‖u‖``.

``L = L_diff + λ_repa L_repa + λ_struct L_struct + λ_adv L_adv``; the variants are vanilla (all λ = 0), REPA
(λ_repa), REPA + structural and SARA (all three). The paper's exact weights and discriminator are not confirmed
here (no official code was found); ours are stated in :data:`VARIANTS` and :class:`TrainConfig`.

Evaluation: Fréchet distance between Gaussian fits of encoder features of generated and real images
(:func:`frechet_distance`, a fast eigen-decomposition form, beside :func:`frechet_distance_reference` with
``scipy.linalg.sqrtm``), and the denoising loss on held-out images with fixed (t, ε).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------------- similarity kernels


def _check_tokens(u: torch.Tensor, name: str) -> None:
    if u.ndim != 3:
        raise ValueError(f"{name} must have shape (B, N, C), got {tuple(u.shape)}")
    if not torch.isfinite(u).all():
        raise ValueError(f"{name} contains NaN or inf")


def autocorrelation(u: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Per-image autocorrelation (cosine self-similarity) matrices: (B, N, C) → (B, N, N),
    ``S_{nm} = ⟨u_n, u_m⟩ / (max(‖u_n‖, eps)·max(‖u_m‖, eps))``; a zero token gives a zero row and column.
    O(B·N²·C)."""
    _check_tokens(u, "u")
    un = u / u.norm(dim=-1, keepdim=True).clamp_min(eps)
    return un @ un.transpose(1, 2)


def autocorrelation_reference(u: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Plain loop over (image, n, m) of the same definition, for tests."""
    _check_tokens(u, "u")
    b, n, _ = u.shape
    out = torch.zeros(b, n, n, dtype=u.dtype)
    for i in range(b):
        for p in range(n):
            for q in range(n):
                den = max(float(u[i, p].norm()), eps) * max(float(u[i, q].norm()), eps)
                out[i, p, q] = float(u[i, p] @ u[i, q]) / den
    return out


def patch_alignment_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """REPA's patch-wise term: −mean over images and patches of cos(z_n, y_n); z, y (B, N, C) → scalar in [−1, 1]."""
    _check_tokens(z, "z"), _check_tokens(y, "y")
    if z.shape != y.shape:
        raise ValueError(f"z and y must have the same shape, got {tuple(z.shape)} and {tuple(y.shape)}")
    return -F.cosine_similarity(z, y, dim=-1, eps=1e-8).mean()


def structural_loss(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SARA's autocorrelation-matrix alignment: mean over images of ‖S(z) − S(y)‖_F² / N² (see
    :func:`autocorrelation`); z and y may differ in channels (B, N, C_z) vs (B, N, C_y). Range [0, 4]."""
    if z.shape[:2] != y.shape[:2]:
        raise ValueError(f"z and y must have the same (B, N), got {tuple(z.shape)} and {tuple(y.shape)}")
    n = z.shape[1]
    if n == 0:
        raise ValueError("structural_loss needs at least one patch (N ≥ 1)")
    return ((autocorrelation(z) - autocorrelation(y)) ** 2).sum((1, 2)).mean() / (n * n)


def structural_loss_reference(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The same quantity through :func:`autocorrelation_reference` and explicit sums, for tests."""
    sz, sy = autocorrelation_reference(z), autocorrelation_reference(y)
    b, n, _ = sz.shape
    total = 0.0
    for i in range(b):
        total += float(((sz[i] - sy[i]) ** 2).sum()) / (n * n)
    return torch.tensor(total / b, dtype=z.dtype)


# --------------------------------------------------------------------------------------------------- Fréchet distance


def feature_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and unbiased covariance (d, d) of features x (n, d) in float64; n ≥ 2, finite."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features must have shape (n, d) with n >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    return x.mean(0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """Fréchet distance between N(mu1, cov1) and N(mu2, cov2):
    ``‖mu1 − mu2‖² + tr(cov1) + tr(cov2) − 2·tr((cov1^{1/2} cov2 cov1^{1/2})^{1/2})``.
    The trace of the matrix square root equals tr((cov1 cov2)^{1/2}) and is computed from two symmetric
    eigen-decompositions (eigenvalues clipped at 0 against round-off), O(d³), in float64."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    d = mu1.shape[0]
    if mu2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu {mu1.shape}, {mu2.shape}; cov {cov1.shape}, {cov2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, cov1, cov2)):
        raise ValueError("Fréchet distance inputs contain NaN or inf")
    w1, v1 = np.linalg.eigh((cov1 + cov1.T) / 2)
    s1 = (v1 * np.sqrt(np.clip(w1, 0, None))) @ v1.T                # cov1^{1/2}
    m = s1 @ cov2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * tr_sqrt)


def frechet_distance_reference(mu1, cov1, mu2, cov2) -> float:
    """The FID formula as commonly implemented: ``scipy.linalg.sqrtm(cov1 @ cov2)`` (real part)."""
    from scipy import linalg
    covmean = linalg.sqrtm(np.asarray(cov1, np.float64) @ np.asarray(cov2, np.float64))
    covmean = np.real(covmean)
    diff = np.asarray(mu1, np.float64) - np.asarray(mu2, np.float64)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussian fits of two feature sets (n_a, d), (n_b, d)."""
    return frechet_distance(*feature_stats(a), *feature_stats(b))


# ------------------------------------------------------------------------------------------------------ tiny DiT


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) → (B, (H/p)(W/p), C·p·p), patches in row-major order (the order of an encoder's feature map)."""
    b, c, h, w = x.shape
    if h % p or w % p:
        raise ValueError(f"image side {h}×{w} is not divisible by the patch size {p}")
    x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // p) * (w // p), c * p * p)


def unpatchify(t: torch.Tensor, c: int, h: int, w: int, p: int) -> torch.Tensor:
    """Inverse of :func:`patchify`."""
    b = t.shape[0]
    x = t.reshape(b, h // p, w // p, c, p, p).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, h, w)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of t ∈ [0, 1] scaled by 1000 (DiT's convention): (B,) → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = 1000.0 * t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero conditioning on the timestep embedding (DiT)."""

    def __init__(self, d: int, heads: int, mlp_ratio: float):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, d))
        self.ada = nn.Linear(d, 6 * d)
        nn.init.zeros_(self.ada.weight), nn.init.zeros_(self.ada.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.ada(F.silu(c))[:, None].chunk(6, dim=-1)
        a = self.norm1(x) * (1 + sc1) + sh1
        q, k, v = self.qkv(a).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        x = x + g1 * self.out(a)
        return x + g2 * self.mlp(self.norm2(x) * (1 + sc2) + sh2)


class TinyDiT(nn.Module):
    """Unconditional DiT on (B, C, H, W) images with p × p patches; ``forward(x, t)`` returns the predicted velocity
    (B, C, H, W) and the hidden tokens (B, N, d) after block ``align_depth`` (1-based; REPA's convention)."""

    def __init__(self, image_size: int = 16, channels: int = 1, patch: int = 4, d: int = 64, depth: int = 4,
                 heads: int = 4, mlp_ratio: float = 2.0, align_depth: int = 2):
        super().__init__()
        if not 1 <= align_depth <= depth:
            raise ValueError(f"align_depth must be in 1..depth={depth}, got {align_depth}")
        if d % heads:
            raise ValueError(f"d={d} must be divisible by heads={heads}")
        self.image_size, self.channels, self.patch, self.align_depth = image_size, channels, patch, align_depth
        self.n_tokens = (image_size // patch) ** 2
        self.embed = nn.Linear(channels * patch * patch, d)
        self.pos = nn.Parameter(torch.randn(1, self.n_tokens, d) * 0.02)
        self.t_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.blocks = nn.ModuleList(DiTBlock(d, heads, mlp_ratio) for _ in range(depth))
        self.final_norm = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.final_ada = nn.Linear(d, 2 * d)
        self.final = nn.Linear(d, channels * patch * patch)
        for m in (self.final_ada, self.final):
            nn.init.zeros_(m.weight), nn.init.zeros_(m.bias)
        self.d = d

    def forward(self, x: torch.Tensor, t: torch.Tensor):
        h = self.embed(patchify(x, self.patch)) + self.pos
        c = self.t_mlp(timestep_embedding(t, self.d))
        aligned = None
        for i, block in enumerate(self.blocks, start=1):
            h = block(h, c)
            if i == self.align_depth:
                aligned = h
        sh, sc = self.final_ada(F.silu(c))[:, None].chunk(2, dim=-1)
        out = self.final(self.final_norm(h) * (1 + sc) + sh)
        return unpatchify(out, self.channels, self.image_size, self.image_size, self.patch), aligned


def projector(d: int, hidden: int, c_out: int) -> nn.Module:
    """REPA's MLP projector from the denoiser's width d to the encoder's channels (applied per token)."""
    return nn.Sequential(nn.Linear(d, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                         nn.Linear(hidden, c_out))


class Discriminator(nn.Module):
    """A light MLP discriminator on one image's set of normalised patch features (B, N, C) → logits (B,)."""

    def __init__(self, n_tokens: int, c: int, hidden: int = 128):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_tokens * c, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, hidden),
                                 nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-8)
        return self.net(u.flatten(1)).squeeze(-1)


# --------------------------------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Weights:
    repa: float = 0.0
    struct: float = 0.0
    adv: float = 0.0


# our weights (fixed before the first run): REPA's λ = 0.5; the structural and adversarial terms at the same and a
# tenth of it, since the paper's values are not confirmed here
VARIANTS = {
    "vanilla": Weights(),
    "repa": Weights(repa=0.5),
    "repa_struct": Weights(repa=0.5, struct=0.5),
    "sara": Weights(repa=0.5, struct=0.5, adv=0.05),
}


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    d: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 2.0
    align_depth: int = 2
    proj_hidden: int = 128
    disc_hidden: int = 128
    disc_lr: float = 2e-4
    patch: int = 4
    eval_at: tuple = ()                   # steps after which ``evaluate(model, step)`` is called


@dataclass
class TrainResult:
    variant: str
    seed: int
    loss_curve: np.ndarray                # (steps,) denoising loss per step
    align_curve: np.ndarray               # (steps,) mean patch cosine cos(z_n, y_n) per step
    evals: dict = field(default_factory=dict)   # step → whatever ``evaluate`` returned
    seconds: float = 0.0


def flow_pair(x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor):
    """Linear interpolant x_t = (1 − t)·x0 + t·ε and its velocity ε − x0."""
    tt = t.view(-1, 1, 1, 1)
    return (1 - tt) * x0 + tt * eps, eps - x0


def train_variant(variant: str, x: torch.Tensor, targets: torch.Tensor, cfg: TrainConfig, seed: int,
                  evaluate=None) -> tuple[TinyDiT, nn.Module, TrainResult]:
    """Train a :class:`TinyDiT` from the seed's initial weights with the losses of ``variant``.

    ``x`` (n, C, H, W) float32 clean images in [-1, 1]; ``targets`` (n, N, C_enc) the frozen encoder's patch
    features of the same images (N = (H/patch)²). The DiT's initial weights, the batch order, t and ε depend only on
    ``seed`` (not on the variant), so variants trained with the same seed are paired. Returns the trained model, its
    projector and a :class:`TrainResult`."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose from {sorted(VARIANTS)}")
    w = VARIANTS[variant]
    n, n_tok, c_enc = targets.shape
    if x.shape[0] != n or n == 0:
        raise ValueError(f"x has {x.shape[0]} images and targets {n}; they must match and be non-empty")
    torch.manual_seed(seed)
    model = TinyDiT(x.shape[-1], x.shape[1], cfg.patch, cfg.d, cfg.depth, cfg.heads, cfg.mlp_ratio, cfg.align_depth)
    if model.n_tokens != n_tok:
        raise ValueError(f"the DiT has {model.n_tokens} tokens but targets have {n_tok} patches")
    torch.manual_seed(seed + 7919)
    proj = projector(cfg.d, cfg.proj_hidden, c_enc)
    disc = Discriminator(n_tok, c_enc, cfg.disc_hidden)
    params = list(model.parameters()) + (list(proj.parameters()) if (w.repa or w.struct or w.adv) else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.disc_lr, betas=(0.5, 0.999)) if w.adv else None
    g = torch.Generator().manual_seed(10_000 + seed)
    losses, aligns, evals = np.zeros(cfg.steps), np.zeros(cfg.steps), {}
    start = time.perf_counter()
    for step in range(cfg.steps):
        idx = torch.randint(0, n, (cfg.batch_size,), generator=g)
        x0, y = x[idx], targets[idx]
        t = torch.rand(cfg.batch_size, generator=g)
        eps = torch.randn(x0.shape, generator=g)
        xt, v = flow_pair(x0, t, eps)
        pred, h = model(xt, t)
        l_diff = F.mse_loss(pred, v)
        loss = l_diff
        with torch.set_grad_enabled(bool(w.repa or w.struct or w.adv)):
            z = proj(h)
        if w.repa:
            loss = loss + w.repa * patch_alignment_loss(z, y)
        if w.struct:
            loss = loss + w.struct * structural_loss(z, y)
        if w.adv:
            # discriminator step on detached features, then the denoiser's non-saturating term
            d_real, d_fake = disc(y), disc(z.detach())
            l_d = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                   + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
            opt_d.zero_grad(set_to_none=True)
            l_d.backward()
            opt_d.step()
            d_gen = disc(z)
            loss = loss + w.adv * F.binary_cross_entropy_with_logits(d_gen, torch.ones_like(d_gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = float(l_diff.detach())
        aligns[step] = float(F.cosine_similarity(z.detach(), y, dim=-1).mean())
        if evaluate is not None and (step + 1) in cfg.eval_at:
            model.eval()
            evals[step + 1] = evaluate(model, step + 1)
            model.train()
    return model, proj, TrainResult(variant, seed, losses, aligns, evals, time.perf_counter() - start)


@torch.no_grad()
def sample(model: TinyDiT, n: int, steps: int, seed: int, batch_size: int = 500) -> torch.Tensor:
    """n images (n, C, H, W) by Euler integration of dx/dt = v̂(x, t) from t = 1 (pure noise, drawn from ``seed``)
    to t = 0 in ``steps`` equal steps, clipped to [-1, 1]. The same seed gives the same starting noise for every
    model, so samples of different variants are paired."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(0, n, batch_size):
        m = min(batch_size, n - i)
        xt = torch.randn(m, model.channels, model.image_size, model.image_size, generator=g)
        ts = torch.linspace(1.0, 0.0, steps + 1)
        for k in range(steps):
            v, _ = model(xt, ts[k].expand(m))
            xt = xt + (ts[k + 1] - ts[k]) * v
        out.append(xt.clamp(-1, 1))
    return torch.cat(out) if out else torch.zeros(0, model.channels, model.image_size, model.image_size)


@torch.no_grad()
def heldout_metrics(model: TinyDiT, proj: nn.Module, x: torch.Tensor, targets: torch.Tensor, seed: int) -> dict:
    """On held-out images: the denoising loss with fixed (t, ε) drawn from ``seed``, and the alignment of the
    projected hidden tokens with the encoder's patch features (mean patch cosine; autocorrelation error
    ‖S(z) − S(y)‖_F²/N²). Only the denoising loss is meaningful for a model trained without alignment."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(x.shape[0], generator=g)
    eps = torch.randn(x.shape, generator=g)
    xt, v = flow_pair(x, t, eps)
    pred, h = model(xt, t)
    z = proj(h)
    return {"denoise_loss": float(F.mse_loss(pred, v)),
            "patch_cos": float(F.cosine_similarity(z, targets, dim=-1).mean()),
            "struct_err": float(structural_loss(z, targets))}


def to_encoder_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """Grey images (B, 1, H, W) in [-1, 1] → (B, 3, size, size): bilinear resize, grey copied to RGB."""
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.expand(-1, 3, -1, -1).contiguous()


def resize_images(images_uint8: np.ndarray, side: int) -> torch.Tensor:
    """(n, H, W) uint8 → (n, 1, side, side) float32 in [-1, 1] by area averaging (anti-aliased downsampling)."""
    x = torch.as_tensor(np.asarray(images_uint8), dtype=torch.float32)[:, None] / 127.5 - 1.0
    return F.interpolate(x, size=(side, side), mode="area")
