r"""A CLIP-style two-tower model on paired "modalities" built offline: the top and bottom halves of an image.

Pair i is (top half of image i, bottom half of image i), each flattened to (n, 392) for 28×28 images. Two MLP
towers map them to unit vectors; training minimises the symmetric InfoNCE of the batch (CLIP's loss) with a
learnable temperature τ = exp(−s) (CLIP's logit scale s, τ clamped ≥ 0.01 as CLIP clamps the scale at 100),
through ``tiled_info_nce`` (or the naive ``info_nce_reference`` for comparison). Larger batches give each
half more negatives — many from the same class, hence hard — which is the setting where the batch size of
a contrastive loss matters.

Evaluation: cross-modal retrieval on held-out pairs, top-1 accuracy averaged over both directions
(top → bottom and bottom → top); a query counts as correct only when its partner's score is strictly the
largest (ties count as misses).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from simrepro.kernels.contrastive import info_nce_reference, tiled_info_nce
from simrepro.kernels.pairwise import pairwise_similarity

LOSSES = {"tiled": tiled_info_nce, "naive": info_nce_reference}
MIN_TEMPERATURE = 0.01


def image_halves(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``(n, H, W)`` uint8 images → ``(top, bottom)``, each ``(n, (H/2)·W)`` float32 in [0, 1]."""
    if images.ndim != 3 or images.shape[1] % 2:
        raise ValueError(f"expected (n, H, W) images with even H, got shape {images.shape}")
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    h = x.shape[1] // 2
    return x[:, :h].reshape(len(x), -1), x[:, h:].reshape(len(x), -1)


def _tower(d_in: int, hidden: int, dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, dim))


class TwoTower(nn.Module):
    """``(n, d_a), (n, d_b) → (n, dim), (n, dim)`` unit vectors, plus the learnable temperature."""

    def __init__(self, d_a: int, d_b: int, *, hidden: int = 256, dim: int = 64, temperature: float = 0.07):
        super().__init__()
        self.tower_a, self.tower_b = _tower(d_a, hidden, dim), _tower(d_b, hidden, dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))

    def temperature(self) -> torch.Tensor:
        return torch.exp(-self.logit_scale).clamp_min(MIN_TEMPERATURE)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return F.normalize(self.tower_a(a), dim=1), F.normalize(self.tower_b(b), dim=1)


def train_two_tower(a: torch.Tensor, b: torch.Tensor, *, batch_size: int, steps: int, lr: float = 1e-3,
                    loss: str = "tiled", tile_size: int | None = None, seed: int = 0,
                    hidden: int = 256, dim: int = 64, dtype: torch.dtype = torch.float32
                    ) -> tuple[TwoTower, list[float]]:
    """``steps`` Adam steps on the symmetric InfoNCE of full batches drawn without replacement from a fresh
    shuffle each epoch (an epoch's last partial batch is dropped).

    Returns the model and the loss of every step. ``loss``: ``"tiled"`` or ``"naive"`` (same maths; the
    tiled loss never holds the (batch, batch) logits). Rounding differences between the two grow over the
    steps (training is chaotic); in float64 (``dtype``) they stay near rounding level for longer.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if not 1 <= batch_size <= len(a):
        raise ValueError(f"batch_size must be in [1, {len(a)}] (the number of pairs), got {batch_size}")
    torch.manual_seed(seed)
    model = TwoTower(a.shape[1], b.shape[1], hidden=hidden, dim=dim).to(dtype)
    a, b = a.to(dtype), b.to(dtype)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    kwargs = {"tile_size": tile_size} if loss == "tiled" else {}
    order_rng = torch.Generator().manual_seed(seed)
    history = []
    while len(history) < steps:
        order = torch.randperm(len(a), generator=order_rng)
        for start in range(0, min(len(a) - batch_size + 1, (steps - len(history)) * batch_size), batch_size):
            idx = order[start:start + batch_size]
            za, zb = model(a[idx], b[idx])
            value = LOSSES[loss](za, zb, model.temperature(), symmetric=True, **kwargs)
            opt.zero_grad()
            value.backward()
            opt.step()
            history.append(value.item())
    return model, history


@torch.no_grad()
def retrieval_top1(model: TwoTower, a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over both directions of the fraction of queries whose partner strictly out-scores all others."""
    za, zb = model(a, b)
    sim = pairwise_similarity(za, zb, metric="dot")                 # (n, n)
    positive = sim.diagonal().clone()
    sim.fill_diagonal_(-math.inf)
    a_to_b = (positive > sim.max(dim=1).values).double().mean()
    b_to_a = (positive > sim.max(dim=0).values).double().mean()
    return float((a_to_b + b_to_a) / 2)
