"""SingLoRA and LoRA adapters of a frozen ``nn.Linear`` (Bensaïd et al., "SingLoRA: Low Rank Adaptation Using a
Single Matrix", arXiv 2507.05566).

A frozen layer y = x W0ᵀ + b with W0 ∈ R^{d_out × d_in} is adapted by a trainable low-rank update ΔW:

* **LoRA**      ΔW = (α / r) · B A,                 B ∈ R^{d_out × r} (zeros at init), A ∈ R^{r × d_in};
  trainable parameters r · (d_in + d_out).
* **SingLoRA**  ΔW = (α / r) · u(t) · A_out A_inᵀ,  one matrix A ∈ R^{D × r}, D = max(d_in, d_out),
  A_out = A[:d_out], A_in = A[:d_in]; u(t) = min(t / T, 1) the ramp over the first T optimiser steps.
  For a square layer ΔW = (α/r) u(t) A Aᵀ is symmetric positive semi-definite; for a non-square one the update
  is the top-left d_out × d_in block of A Aᵀ (the truncation the paper's non-square section uses, as in the
  unofficial peft-singlora ``layer.py``). Trainable parameters r · D, i.e. D / (d_in + d_out) of LoRA's at the
  same rank — exactly 1/2 for a square layer.

The ramp replaces LoRA's zero-initialised B: at t = 0 the update is exactly zero whatever A is (A is
Kaiming-uniform initialised). The step counter t is a buffer advanced by :func:`advance` (call it after each
optimiser step), not by ``forward`` — so evaluation passes never move the ramp.

Forward cost: the fast path computes x W0ᵀ + b + s · ((x A_in) A_outᵀ) in O(n · r · (d_in + d_out)) for n
rows; :meth:`delta_weight` materialises ΔW (O(d_out · d_in · r)) and is the plain reference the tests compare
against. dtype follows the base layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def ramp(t: int | float, T: int) -> float:
    """u(t) = min(t / T, 1); T = 0 means no ramp (u ≡ 1). Raises on t < 0 or T < 0."""
    if t < 0 or T < 0:
        raise ValueError(f"ramp needs t >= 0 and T >= 0, got t={t}, T={T}")
    return 1.0 if T == 0 else min(float(t) / T, 1.0)


def _check_base(base: nn.Module, rank: int) -> None:
    if not isinstance(base, nn.Linear):
        raise TypeError(f"expected an nn.Linear to adapt, got {type(base).__name__}")
    if not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be a positive int, got {rank!r}")
    if rank > max(base.in_features, base.out_features):
        raise ValueError(f"rank {rank} exceeds the layer's dimensions {base.out_features}x{base.in_features}")


class _Adapter(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        _check_base(base, rank)
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.rank, self.alpha = rank, float(alpha)
        self.scale = self.alpha / rank                                  # α / r
        self.d_in, self.d_out = base.in_features, base.out_features

    def delta_weight(self) -> torch.Tensor:          # pragma: no cover - abstract
        raise NotImplementedError

    def merged_weight(self) -> torch.Tensor:
        """W0 + ΔW, shape (d_out, d_in)."""
        return self.base.weight + self.delta_weight()

    def reference_forward(self, x: torch.Tensor) -> torch.Tensor:
        """Plain reference: x (W0 + ΔW)ᵀ + b with ΔW materialised."""
        return nn.functional.linear(x, self.merged_weight(), self.base.bias)

    def _check_x(self, x: torch.Tensor) -> None:
        if x.shape[-1] != self.d_in:
            raise ValueError(f"input's last dimension is {x.shape[-1]}, the layer expects {self.d_in}")


class LoRALinear(_Adapter):
    """y = x W0ᵀ + b + (α/r) · x Aᵀ Bᵀ (Hu et al.'s LoRA); B starts at zero so ΔW = 0 at init."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 1.0):
        super().__init__(base, rank, alpha)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, self.d_in, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(self.d_out, rank, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def delta_weight(self) -> torch.Tensor:
        return self.scale * (self.lora_B @ self.lora_A)                 # ΔW = (α/r) B A

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        return self.base(x) + self.scale * ((x @ self.lora_A.T) @ self.lora_B.T)

    def advance(self) -> None:
        """LoRA has no ramp; present so both adapters share the training loop."""


class SingLoRALinear(_Adapter):
    """y = x W0ᵀ + b + (α/r) · u(t) · x A_in A_outᵀ, one matrix A ∈ R^{max(d_in, d_out) × r}."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float = 1.0, ramp_steps: int = 100):
        super().__init__(base, rank, alpha)
        if not isinstance(ramp_steps, int) or ramp_steps < 0:
            raise ValueError(f"ramp_steps must be an int >= 0, got {ramp_steps!r}")
        w = base.weight
        self.ramp_steps = ramp_steps
        self.lora_A = nn.Parameter(torch.empty(max(self.d_in, self.d_out), rank, dtype=w.dtype, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    @property
    def u(self) -> float:
        return ramp(int(self.step), self.ramp_steps)

    def advance(self) -> None:
        """t ← t + 1 (call once per optimiser step)."""
        self.step += 1

    def delta_weight(self) -> torch.Tensor:
        A = self.lora_A
        return (self.scale * self.u) * (A[: self.d_out] @ A[: self.d_in].T)   # ΔW = (α/r) u(t) A Aᵀ (truncated)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_x(x)
        A = self.lora_A
        return self.base(x) + (self.scale * self.u) * ((x @ A[: self.d_in]) @ A[: self.d_out].T)


def trainable_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def adapter_params(kind: str, d_in: int, d_out: int, rank: int) -> int:
    """Closed-form trainable-parameter count of one adapter: LoRA r(d_in + d_out), SingLoRA r·max(d_in, d_out)."""
    if kind == "lora":
        return rank * (d_in + d_out)
    if kind == "singlora":
        return rank * max(d_in, d_out)
    raise ValueError(f"kind must be 'lora' or 'singlora', got {kind!r}")


def make_adapter(kind: str, base: nn.Linear, rank: int, alpha: float = 1.0, ramp_steps: int = 100) -> _Adapter:
    if kind == "lora":
        return LoRALinear(base, rank, alpha)
    if kind == "singlora":
        return SingLoRALinear(base, rank, alpha, ramp_steps)
    raise ValueError(f"kind must be 'lora' or 'singlora', got {kind!r}")


def inject(root: nn.Module, names: list[str], kind: str, rank: int, alpha: float = 1.0,
           ramp_steps: int = 100) -> list[_Adapter]:
    """Replace each ``nn.Linear`` at dotted path ``names[i]`` under ``root`` with an adapter wrapping it; returns
    the adapters. Raises KeyError naming a path that does not exist."""
    out = []
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        try:
            parent = root.get_submodule(parent_name) if parent_name else root
            base = getattr(parent, attr)
        except AttributeError as e:
            raise KeyError(f"no module {name!r} under {type(root).__name__}") from e
        ad = make_adapter(kind, base, rank, alpha, ramp_steps)
        setattr(parent, attr, ad)
        out.append(ad)
    return out
