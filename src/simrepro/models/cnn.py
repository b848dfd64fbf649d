"""A Tiny-10-style CNN (Kornblith et al., 2019, App. E, Table E.1) and a plain training loop.

Tiny-10: 3×3 conv w ×2 → 3×3 conv 2w stride 2 → 3×3 conv 2w ×2 → 3×3 conv 4w stride 2 →
3×3 conv 4w valid padding → 1×1 conv 4w → global average pooling → logits; every conv is followed by
BatchNorm and ReLU. The paper uses w = 16 on 32×32 CIFAR-10; here ``width`` and the input size are knobs.
``representations(x)`` returns the 9 hidden representations (8 conv blocks + pooling; logits excluded, as
in Table 2), each flattened to (n, C·H·W).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def _block(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU())


class TinyCNN(nn.Module):
    """Tiny-10 with base width ``width``: (B, in_channels, H, W) → logits (B, n_classes)."""

    def __init__(self, width: int = 16, in_channels: int = 1, n_classes: int = 10):
        super().__init__()
        if width < 1:
            raise ValueError(f"width must be ≥ 1, got {width}")
        w = width
        self.blocks = nn.ModuleList([
            _block(in_channels, w), _block(w, w),
            _block(w, 2 * w, stride=2), _block(2 * w, 2 * w), _block(2 * w, 2 * w),
            _block(2 * w, 4 * w, stride=2),
            _block(4 * w, 4 * w, padding=0),
            _block(4 * w, 4 * w, kernel=1, padding=0),
        ])
        self.logits = nn.Linear(4 * w, n_classes)

    def _hidden(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        out.append(x.mean(dim=(2, 3)))          # global average pooling, (B, 4w)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self._hidden(x)[-1])

    @torch.no_grad()
    def representations(self, x: torch.Tensor, batch_size: int = 500) -> list[np.ndarray]:
        """The 9 hidden representations of ``x`` (n, C, H, W) in eval mode, each (n, features) float64."""
        self.eval()
        chunks = [self._hidden(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        return [torch.cat([c[k] for c in chunks]).flatten(1).double().numpy() for k in range(len(chunks[0]))]


def images_to_tensor(images: np.ndarray, downsample: int = 1) -> torch.Tensor:
    """uint8 images (n, H, W) → float32 (n, 1, H/d, W/d): pixels mapped to [−1, 1] (a fixed map, so train
    and test images are treated alike) and average-pooled by ``downsample`` (H and W must be divisible)."""
    if images.ndim != 3:
        raise ValueError(f"expected (n, H, W) grey-scale images, got shape {images.shape}")
    if downsample < 1 or images.shape[1] % downsample or images.shape[2] % downsample:
        raise ValueError(f"downsample={downsample} must be ≥ 1 and divide the image size {images.shape[1:]}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0)[:, None]
    if downsample > 1:
        x = F.avg_pool2d(x, downsample)
    return 2.0 * x - 1.0


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int = 1,
                     batch_size: int = 128, lr: float = 0.05, seed: int = 0) -> list[float]:
    """SGD with momentum 0.9 and a cosine learning-rate schedule on cross-entropy; mini-batches shuffled by
    ``seed``; BatchNorm statistics recomputed on ``x`` at the end. Returns the mean training loss per epoch."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"x and y must be non-empty and of equal length, got {len(x)} and {len(y)}")
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    losses = []
    model.train()
    for _ in range(epochs):
        order, total = torch.randperm(len(x), generator=gen), 0.0
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    _recalibrate_batchnorm(model, x, batch_size)
    model.eval()
    return losses


@torch.no_grad()
def _recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int) -> None:
    """Replace BatchNorm running statistics by their exact average over ``x`` under the final weights:
    after a short run the exponential moving averages still remember the first, untrained steps."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None                      # cumulative average over the pass
    model.train()
    for i in range(0, len(x), batch_size):
        model(x[i:i + batch_size])
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on (x, y) in eval mode."""
    model.eval()
    correct = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                  for i in range(0, len(x), batch_size))
    return correct / len(x)
