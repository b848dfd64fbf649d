r"""MMVP-lite: motion-matrix-based video prediction (Zhong, Liang, Zharkov & Neumann, ICCV 2023, arXiv 2308.16154),
a SimVP-style baseline, and Moving-MNIST-style clips built from real MNIST digits.

Motion matrix (the paper's appearance-agnostic motion representation). For frame features F_t ∈ R^{N×c} (one row
per feature patch, N = h·w) of consecutive frames t, t+1:

    S_t[i, j] = cos(F_t[i], F_{t+1}[j]) = ⟨F_t[i], F_{t+1}[j]⟩ / (‖F_t[i]‖ ‖F_{t+1}[j]‖)   (B, T−1, N, N)

(official ``utils.py`` ``build_similarity_matrix``, lines 20–36: source patch i of frame t, target patch j of t+1).
The motion predictor sees only the observed S_1 … S_{P−1} and outputs logits L of the next matrix; the future
features are composed from the last observed frame's features with the composition weights

    W[j, i] = softmax_i(L[i, j] / τ),   F̂_{P+1}[j] = Σ_i W[j, i] F_P[i]      (rows of W sum to 1)      (eq. compose)

The official code softmaxes the whole flattened N×N matrix (``utils.py`` ``sim_matrix_postprocess``, lines 38–45)
and divides the composed features by the per-target weight sum (``model.py`` ``feat_generator``, lines 169–171);
for one step that is exactly W above (the global normaliser cancels), which :func:`official_compose_weights` and
the tests confirm. Zero feature rows (black background through a bias-free ReLU encoder) have cosine 0 with
everything: their norm is clamped at ``EPS`` as in :mod:`simrepro.kernels.pairwise`.

Appearance-agnostic by construction in one sense: the encoder here is bias-free with ReLU, so it is positively
homogeneous (E(a·x) = a·E(x), a > 0) and S is unchanged when a clip's brightness is scaled (to float round-off).

What the lite model keeps from the official one: encoder → motion-feature projection → cosine motion matrices →
a convolutional predictor that treats each source row S[i, :] as an h×w map over targets with time as channels
(official ``layers.py`` ``PredictModel``, lines 468–533) → composition of the last frame's features → decoder,
plus the composed raw image (pixel-unshuffled, same weights) concatenated before a small enhancer (official
``model.py`` lines 432–469, ``res_cat_img``). What it drops: multi-scale matrices, the cumulative products over
all past frames (we compose from the last frame only), BatchNorm, and the RRDB blocks. Both models predict one
frame and roll out autoregressively on images for longer horizons (official ``long_term_forward``, lines 236–254).

Cost: the matrices are O(B·T·N²·c) to build and O(B·T·N²·k²·hid) to predict; N = (H/4)² = 64 at H = 32.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from simrepro.kernels.ssim import ssim as ssim_kernel

EPS = 1e-12


# ----------------------------------------------------------------------------------------------- data

def moving_mnist(digits: np.ndarray, n_clips: int, *, n_frames: int = 6, canvas: int = 32, digit_size: int = 16,
                 max_digits: int = 2, max_speed: int = 2, seed: int = 0,
                 texture: np.ndarray | None = None) -> np.ndarray:
    """Moving-MNIST-style clips (n_clips, n_frames, canvas, canvas) float32 in [0, 1].

    Each clip holds 1..``max_digits`` digits drawn from ``digits`` ((n, 28, 28) uint8), resized to
    ``digit_size``² (area averaging), moving with a constant integer velocity in [−max_speed, max_speed]² \\ {0}
    and bouncing off the borders; overlapping digits combine by maximum (as Srivastava et al.'s generator).
    ``texture`` (n_clips, max_digits, digit_size, digit_size) multiplies each digit's pixels before placement —
    it moves with the digit, so appearance changes while motion does not. Deterministic in ``seed``.
    """
    digits = np.asarray(digits)
    if digits.ndim != 3 or digits.shape[0] == 0:
        raise ValueError(f"digits must be a non-empty (n, H, W) image stack, got shape {digits.shape}")
    if n_clips < 0 or n_frames < 1 or not 0 < digit_size <= canvas or max_digits < 1 or max_speed < 1:
        raise ValueError("need n_clips ≥ 0, n_frames ≥ 1, 0 < digit_size ≤ canvas, max_digits ≥ 1, "
                         "max_speed ≥ 1")
    rng = np.random.default_rng(seed)
    small = F.interpolate(torch.from_numpy(digits.astype(np.float32) / 255.0)[:, None], size=(digit_size,) * 2,
                          mode="area")[:, 0].numpy()
    out = np.zeros((n_clips, n_frames, canvas, canvas), dtype=np.float32)
    lim = canvas - digit_size
    speeds = [(vy, vx) for vy in range(-max_speed, max_speed + 1) for vx in range(-max_speed, max_speed + 1)
              if (vy, vx) != (0, 0)]
    for c in range(n_clips):
        for k in range(int(rng.integers(1, max_digits + 1))):
            img = small[int(rng.integers(len(small)))]
            if texture is not None:
                img = img * texture[c, k]
            y, x = (int(v) for v in rng.integers(0, lim + 1, size=2))
            vy, vx = speeds[int(rng.integers(len(speeds)))]
            for t in range(n_frames):
                region = out[c, t, y:y + digit_size, x:x + digit_size]
                np.maximum(region, img, out=region)
                y, vy = _bounce(y + vy, vy, lim)
                x, vx = _bounce(x + vx, vx, lim)
    return out


def _bounce(p: int, v: int, lim: int) -> tuple[int, int]:
    if p < 0:
        return -p, -v
    if p > lim:
        return 2 * lim - p, -v
    return p, v


def smooth_texture(n: int, k: int, size: int, *, low: float = 0.3, seed: int = 0) -> np.ndarray:
    """(n, k, size, size) float32 smooth random multiplicative textures in [low, 1] (bilinear upsampled 4×4 noise)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n * k, 1, 4, 4, generator=g)
    up = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True)[:, 0]
    return (low + (1 - low) * up).reshape(n, k, size, size).numpy().astype(np.float32)


# ----------------------------------------------------------------------------------------------- motion matrix

def _check_feats(feats: torch.Tensor) -> None:
    if not isinstance(feats, torch.Tensor) or feats.ndim != 5:
        raise ValueError(f"feats must be a (B, T, c, h, w) tensor, got {getattr(feats, 'shape', type(feats))}")
    if feats.shape[1] < 2:
        raise ValueError(f"need at least 2 frames to form a motion matrix, got T = {feats.shape[1]}")
    if not torch.isfinite(feats).all():
        raise ValueError("feats contain NaN or inf; check the encoder input")


def motion_matrix(feats: torch.Tensor) -> torch.Tensor:
    """Cosine motion matrices S (B, T−1, N, N), S[b, t, i, j] = cos(feats[b, t, :, i], feats[b, t+1, :, j]),
    N = h·w, patches in row-major order. feats: (B, T, c, h, w). Differentiable; zero rows give 0."""
    _check_feats(feats)
    b, t, c, h, w = feats.shape
    x = feats.reshape(b, t, c, h * w).transpose(2, 3)                   # (B, T, N, c)
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(EPS)
    return (x[:, :-1] @ x[:, 1:].transpose(-1, -2)).clamp(-1.0, 1.0)     # (B, T−1, N, N)


def motion_matrix_reference(feats: torch.Tensor) -> np.ndarray:
    """float64 reference: :func:`simrepro.kernels.pairwise.pairwise_similarity_reference` (cosine) per (b, t)."""
    from simrepro.kernels.pairwise import pairwise_similarity_reference
    _check_feats(feats)
    b, t, c, h, w = feats.shape
    x = feats.detach().double().reshape(b, t, c, h * w).transpose(2, 3)
    if h * w == 0 or b == 0:
        return np.zeros((b, t - 1, h * w, h * w))
    return np.stack([np.stack([pairwise_similarity_reference(x[i, s], x[i, s + 1], metric="cosine")
                               for s in range(t - 1)]) for i in range(b)])


def compose_weights(logits: torch.Tensor, temperature: float | torch.Tensor = 1.0) -> torch.Tensor:
    """W (…, N_target, N_source) with W[j, i] = softmax_i(logits[i, j] / τ) from logits (…, N_source, N_target)."""
    if not torch.isfinite(logits).all():
        raise ValueError("motion-matrix logits contain NaN or inf")
    return torch.softmax(logits.transpose(-1, -2) / temperature, dim=-1)


def official_compose_weights(logits: torch.Tensor) -> torch.Tensor:
    """The official two-step form: softmax over the whole flattened N×N matrix, then divide by each target's sum
    over sources (no 1e-6 here: the official +1e-6 is a guard, not part of the definition). Shape as
    :func:`compose_weights`."""
    shape = logits.shape
    p = torch.softmax(logits.reshape(*shape[:-2], -1), dim=-1).reshape(shape)   # (…, N_source, N_target)
    return (p / p.sum(dim=-2, keepdim=True)).transpose(-1, -2)


def compose(feats: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """F̂[:, :, j] = Σ_i W[j, i] feats[:, :, i]: feats (B, c, h, w), weights (B, N, N) → (B, c, h, w)."""
    b, c, h, w = feats.shape
    out = weights @ feats.reshape(b, c, h * w).transpose(1, 2)           # (B, N, c)
    return out.transpose(1, 2).reshape(b, c, h, w)


# ----------------------------------------------------------------------------------------------- models

def _encoder(ch: int) -> nn.Sequential:
    """Bias-free conv + ReLU, stride 4 overall: (B, 1, H, W) → (B, ch, H/4, W/4); positively homogeneous."""
    return nn.Sequential(nn.Conv2d(1, ch // 2, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                         nn.Conv2d(ch // 2, ch, 3, stride=2, padding=1, bias=False), nn.ReLU(),
                         nn.Conv2d(ch, ch, 3, padding=1, bias=False), nn.ReLU())


def _decoder(ch: int, in_ch: int | None = None) -> nn.Sequential:
    """(B, in_ch, H/4, W/4) → (B, 1, H, W)."""
    return nn.Sequential(nn.Conv2d(in_ch or ch, ch, 3, padding=1), nn.LeakyReLU(0.1),
                         nn.ConvTranspose2d(ch, ch // 2, 4, stride=2, padding=1), nn.LeakyReLU(0.1),
                         nn.ConvTranspose2d(ch // 2, ch // 2, 4, stride=2, padding=1), nn.LeakyReLU(0.1),
                         nn.Conv2d(ch // 2, 1, 3, padding=1))


class MMVPLite(nn.Module):
    """P input frames (B, P, H, W) → the next frame (B, H, W); H, W divisible by 4.

    Motion stream: encoder → bias-free projection → motion matrices S (cosine) → predictor (sees only S) →
    logits of the next matrix → W (eq. compose). Appearance stream: the last frame's encoder features, composed
    with W, decoded; the last frame's 4×4 pixel blocks composed with the same W; an enhancer fuses both images.
    """

    def __init__(self, n_prev: int = 4, ch: int = 16, motion_ch: int = 8, pred_hidden: int = 8,
                 enh_hidden: int = 8, temperature: float = 0.1):
        super().__init__()
        if n_prev < 2:
            raise ValueError("MMVP needs at least 2 input frames to form a motion matrix")
        self.n_prev, self.temperature = n_prev, temperature
        self.encoder = _encoder(ch)
        self.motion_proj = nn.Sequential(nn.Conv2d(ch, motion_ch, 3, padding=1, bias=False), nn.ReLU(),
                                         nn.Conv2d(motion_ch, motion_ch, 1, bias=False))
        # in_conv (time as channels) → out_conv, as the official PredictModel minus its middle 3D-conv stack
        self.predictor = nn.Sequential(nn.Conv2d(n_prev - 1, pred_hidden, 3, padding=1), nn.LeakyReLU(0.1),
                                       nn.Conv2d(pred_hidden, 1, 3, padding=1))
        self.decoder = _decoder(ch)
        self.enhancer = nn.Sequential(nn.Conv2d(2, enh_hidden, 3, padding=1), nn.LeakyReLU(0.1),
                                      nn.Conv2d(enh_hidden, 1, 3, padding=1))

    def motion_features(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, H, W) → motion features (B, T, motion_ch, H/4, W/4)."""
        b, t, hh, ww = frames.shape
        z = self.motion_proj(self.encoder(frames.reshape(b * t, 1, hh, ww)))
        return z.reshape(b, t, *z.shape[1:])

    def forward(self, frames: torch.Tensor, return_aux: bool = False):
        b, t, hh, ww = frames.shape
        if t != self.n_prev or hh % 4 or ww % 4:
            raise ValueError(f"expected (B, {self.n_prev}, H, W) with H, W divisible by 4, got {tuple(frames.shape)}")
        feats = self.encoder(frames.reshape(b * t, 1, hh, ww))                  # (B·T, ch, h, w)
        z = self.motion_proj(feats)
        h, w = z.shape[-2:]
        n = h * w
        s = motion_matrix(z.reshape(b, t, *z.shape[1:]))                       # (B, P−1, N, N): sole predictor input
        rows = s.permute(0, 2, 1, 3).reshape(b * n, t - 1, h, w)                 # each source row as an h×w map
        rows = rows.contiguous(memory_format=torch.channels_last)              # ~3× faster small convs on CPU
        logits = self.predictor(rows).reshape(b, n, n)                         # (B, N_source, N_target)
        wts = compose_weights(logits, self.temperature)                        # (B, N_target, N_source)
        last = feats.reshape(b, t, *feats.shape[1:])[:, -1]
        decoded = self.decoder(compose(last, wts))                             # (B, 1, H, W)
        blocks = F.pixel_unshuffle(frames[:, -1:], hh // h)                    # (B, 16, h, w)
        comp_img = F.pixel_shuffle(compose(blocks, wts), hh // h)              # (B, 1, H, W)
        out = self.enhancer(torch.cat([decoded, comp_img], dim=1))[:, 0] + comp_img[:, 0]
        if return_aux:
            return out, {"motion": s, "weights": wts, "composed_image": comp_img[:, 0]}
        return out


class SimVPLite(nn.Module):
    """SimVP-style baseline (Gao et al. 2022): shared per-frame encoder, a convolutional translator over the
    frames stacked on channels, decoder. (B, P, H, W) → (B, H, W)."""

    def __init__(self, n_prev: int = 4, ch: int = 16, hidden: int = 48, n_layers: int = 3):
        super().__init__()
        self.n_prev = n_prev
        self.encoder = _encoder(ch)
        layers, cin = [], n_prev * ch
        for _ in range(n_layers):
            layers += [nn.Conv2d(cin, hidden, 3, padding=1), nn.LeakyReLU(0.1)]
            cin = hidden
        self.translator = nn.Sequential(*layers)
        self.decoder = _decoder(ch, in_ch=hidden)
        self.skip = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t, hh, ww = frames.shape
        if t != self.n_prev or hh % 4 or ww % 4:
            raise ValueError(f"expected (B, {self.n_prev}, H, W) with H, W divisible by 4, got {tuple(frames.shape)}")
        feats = self.encoder(frames.reshape(b * t, 1, hh, ww))
        z = self.translator(feats.reshape(b, t * feats.shape[1], *feats.shape[-2:]))
        decoded = self.decoder(z)
        return self.skip(torch.cat([decoded, frames[:, -1:]], dim=1))[:, 0] + decoded[:, 0]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def rollout(model: nn.Module, frames: torch.Tensor, n_future: int) -> torch.Tensor:
    """Autoregressive prediction on images: (B, P, H, W) → (B, n_future, H, W)."""
    seq, preds = frames, []
    for _ in range(n_future):
        nxt = model(seq)
        preds.append(nxt)
        seq = torch.cat([seq[:, 1:], nxt[:, None]], dim=1)
    return torch.stack(preds, dim=1)


# ----------------------------------------------------------------------------------------------- metrics

def psnr(pred, target, data_range: float = 1.0) -> np.ndarray:
    """Per-image PSNR (dB) = 10 log10(L² / MSE), images (…, H, W) → (…) float64; pred clipped to [0, L]."""
    p = np.clip(np.asarray(pred, dtype=np.float64), 0.0, data_range)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    mse = ((p - t) ** 2).mean(axis=(-2, -1))
    return 10.0 * np.log10(data_range ** 2 / np.maximum(mse, 1e-20))


def ssim(pred, target, data_range: float = 1.0) -> np.ndarray:
    """Per-image SSIM (Gaussian window σ = 1.5, :mod:`simrepro.kernels.ssim`), (…, H, W) → (…) float64."""
    p = np.clip(np.asarray(pred, dtype=np.float64), 0.0, data_range)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    lead = p.shape[:-2]
    flat = lambda a: torch.from_numpy(a.reshape(-1, 1, *a.shape[-2:]))  # noqa: E731
    return ssim_kernel(flat(p), flat(t), data_range=data_range).numpy().reshape(lead)


# ----------------------------------------------------------------------------------------------- training

@dataclass
class TrainResult:
    model: nn.Module
    seconds: float
    epoch_loss: list[float] = field(default_factory=list)
    pred: np.ndarray | None = None           # (n_test, n_future, H, W) test predictions


def train(model: nn.Module, train_clips: np.ndarray, test_clips: np.ndarray, *, n_prev: int = 4, epochs: int = 2,
          batch_size: int = 32, lr: float = 2e-3, seed: int = 0) -> TrainResult:
    """Adam on the MSE of the autoregressive rollout over all future frames; the batch order depends on ``seed``
    only (so two models trained with one seed see the same batches). Returns the test predictions."""
    clips = torch.from_numpy(np.ascontiguousarray(train_clips, dtype=np.float32))
    if clips.ndim != 4 or clips.shape[1] <= n_prev:
        raise ValueError(f"clips must be (n, T, H, W) with T > n_prev = {n_prev}, got {tuple(clips.shape)}")
    n_future = clips.shape[1] - n_prev
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    res = TrainResult(model=model, seconds=0.0)
    t0 = time.perf_counter()
    model.train()
    for _ in range(epochs):
        perm, total = torch.randperm(len(clips), generator=g), 0.0
        for start in range(0, len(clips), batch_size):
            batch = clips[perm[start:start + batch_size]]
            loss = F.mse_loss(rollout(model, batch[:, :n_prev], n_future), batch[:, n_prev:])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        res.epoch_loss.append(total / len(clips))
    res.seconds = time.perf_counter() - t0
    res.pred = predict(model, test_clips, n_prev=n_prev)
    return res


@torch.no_grad()
def predict(model: nn.Module, clips: np.ndarray, *, n_prev: int = 4, batch_size: int = 256) -> np.ndarray:
    """(n, T, H, W) clips → (n, T − n_prev, H, W) float32 rollout from the first n_prev frames."""
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(clips, dtype=np.float32))
    n_future = x.shape[1] - n_prev
    out = [rollout(model, x[s:s + batch_size, :n_prev], n_future) for s in range(0, len(x), batch_size)]
    return torch.cat(out).numpy() if out else np.zeros((0, n_future, *x.shape[2:]), np.float32)
