r"""Reduced transformer encoders (Bermeitinger, Hrycej, Pavone, Kath, Handschuh, "Reducing the Transformer
Architecture to a Minimum", KDIR 2024, arXiv 2410.13732): a pre-LN ViT-style patch encoder whose blocks can drop
the MLP, collapse the query and key matrices into one bilinear form, omit the value and output matrices, and make
the similarity symmetric.

Shapes. Images (n, H_img, W_img) → :func:`patchify` → tokens (n, N, p²) float32, N = (H_img/p)·(W_img/p). The
model maps tokens (B, N, p²) → logits (B, n_classes): a linear patch embedding (p² → d) plus a learned position
embedding (N, d), L blocks, a final LayerNorm, mean pooling over tokens, a linear head. Heads: H, d_h = d / H.

One block, x ∈ R^{N×d}, u = LN(x) (the residual stream is never reduced):
    x ← x + Attn(u)                 then, if ``mlp``:  x ← x + W₂ GELU(W₁ LN(x) + b₁) + b₂   (d_ff hidden units)
The attention of head h is softmax(S_h / √d_h) V_h with S_h ∈ R^{N×N} (computed through
``simrepro.kernels.attention.softmax_attention``, i.e. PyTorch SDPA, scale passed explicitly as 1/√d_h for
every variant so the variants differ only in their parameters):
- ``qk="separate"`` (the original):   S_h = (u W_q^h)(u W_k^h)ᵀ,  W_q^h, W_k^h ∈ R^{d×d_h}      → 2·d² parameters
- ``qk="collapsed"`` (paper's W_qk):  S_h = u W_qk^h uᵀ,          W_qk^h ∈ R^{d×d}            → H·d² parameters
  (the product W_q^h W_k^hᵀ is one d × d matrix: :func:`collapse_qk` builds it from separate weights, and the
  two give the same S_h; with H = 2 heads the collapsed form has exactly as many parameters as W_q and W_k).
  Computed as q = u W_qk^h, k = u.
- ``qk="symmetric"`` (S_h = S_hᵀ):    S_h = (u L_h)(u L_h)ᵀ,  L_h lower triangular d × d      → H·d(d+1)/2
  i.e. W_qk^h = L_h L_hᵀ (symmetric positive semi-definite, queries equal keys): half the collapsed count.
  Computed as q = k = u L_h (the strict upper triangle of the stored matrix is masked to zero).
- values: ``vo=True``: V_h = u W_v^h (W_v ∈ R^{d×d}, split by heads) and the heads' concatenation is projected
  by W_o ∈ R^{d×d} (2·d² parameters); ``vo=False`` (the paper's omission of W_v and W_o): V_h = u[:, h·d_h:(h+1)·d_h]
  (head h mixes its own slice of the normalised stream) and the concatenation is added to x directly.
Attention projections carry no bias (so the counts above are exact); LayerNorms have 2·d parameters each.

:func:`param_count` gives the closed form of the whole model; ``sum(p.numel())`` must equal it.
Cost per block: O(N²·d·H) for the scores (collapsed / symmetric: the q projection is d × d per head, so
O(N·d²·H)), plus O(N·d·d_ff) for the MLP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from simrepro.kernels import attention as ka

QK_KINDS = ("separate", "collapsed", "symmetric")


@dataclass(frozen=True)
class Variant:
    """One architecture: ``mlp`` keeps the MLP, ``qk`` in :data:`QK_KINDS`, ``vo`` keeps W_v and W_o."""
    mlp: bool = True
    qk: str = "separate"
    vo: bool = True

    def __post_init__(self):
        if self.qk not in QK_KINDS:
            raise ValueError(f"qk must be one of {QK_KINDS}, got {self.qk!r}")


# The variants the paper compares (abstract: (a) no MLP, (b) collapsed matrices, (c) symmetric similarity).
VARIANTS = {
    "standard": Variant(mlp=True, qk="separate", vo=True),
    "no_mlp": Variant(mlp=False, qk="separate", vo=True),
    "no_mlp_wqk": Variant(mlp=False, qk="collapsed", vo=True),
    "no_mlp_wqk_novo": Variant(mlp=False, qk="collapsed", vo=False),
    "no_mlp_sym_novo": Variant(mlp=False, qk="symmetric", vo=False),
}


def patchify(images, patch: int) -> torch.Tensor:
    """(n, H, W) pixels (any real dtype; uint8 is scaled by 1/255) → (n, (H/p)(W/p), p²) float32 tokens in row-major
    patch order, each token the row-major pixels of its p × p patch."""
    x = torch.as_tensor(np.asarray(images))
    if x.ndim != 3:
        raise ValueError(f"images must be (n, H, W), got shape {tuple(x.shape)}; reshape flat 784-vectors to (n, 28, 28)")
    n, H, W = x.shape
    if patch < 1 or H % patch or W % patch:
        raise ValueError(f"patch ({patch}) must be ≥ 1 and divide the image size ({H} × {W})")
    x = x.to(torch.float32) / 255.0 if x.dtype == torch.uint8 else x.to(torch.float32)
    if not torch.isfinite(x).all():
        raise ValueError("images contain NaN or inf; clean or impute them first")
    x = x.reshape(n, H // patch, patch, W // patch, patch).permute(0, 1, 3, 2, 4)
    return x.reshape(n, (H // patch) * (W // patch), patch * patch)


class MinimalAttention(nn.Module):
    """Multi-head self-attention of one :class:`Variant` (see the module docstring): u (B, N, d) → (B, N, d)."""

    def __init__(self, d_model: int, n_heads: int, variant: Variant):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        self.d, self.h, self.dh, self.variant = d_model, n_heads, d_model // n_heads, variant
        d, h = d_model, n_heads
        if variant.qk == "separate":
            self.w_q = nn.Parameter(torch.empty(d, d))       # columns h·d_h … (h+1)·d_h = W_q^h
            self.w_k = nn.Parameter(torch.empty(d, d))
            for w in (self.w_q, self.w_k):
                nn.init.normal_(w, std=1.0 / math.sqrt(d))
        elif variant.qk == "collapsed":
            # scores S/√d_h of unit variance for a unit-variance u, as the separate form at its init
            self.w_qk = nn.Parameter(torch.randn(h, d, d) * math.sqrt(self.dh) / d)
        else:
            # (u L)·(u L) over d terms of variance ≈ d·σ²/2 each: σ² = 2√d_h / d^1.5 gives unit-variance S/√d_h
            tri = torch.tril(torch.randn(h, d, d)) * math.sqrt(2.0 * math.sqrt(self.dh) / d ** 1.5)
            self.l_raw = nn.Parameter(tri)
            self.register_buffer("tril_mask", torch.tril(torch.ones(d, d, dtype=torch.bool)), persistent=False)
        if variant.vo:
            self.w_v = nn.Linear(d, d, bias=False)
            self.w_o = nn.Linear(d, d, bias=False)

    def n_qk_params(self) -> int:
        """Free parameters of the similarity (the symmetric form counts only the lower triangle)."""
        d, h = self.d, self.h
        return {"separate": 2 * d * d, "collapsed": h * d * d, "symmetric": h * d * (d + 1) // 2}[self.variant.qk]

    def lower(self) -> torch.Tensor:
        """L_h (H, d, d), lower triangular (symmetric variant only)."""
        return self.l_raw * self.tril_mask

    def qk(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(q, k), each (B, H, N, ·), with q_i·k_j = S_h[i, j]."""
        B, N, d = u.shape
        kind = self.variant.qk
        if kind == "separate":
            q = (u @ self.w_q).view(B, N, self.h, self.dh).transpose(1, 2)
            k = (u @ self.w_k).view(B, N, self.h, self.dh).transpose(1, 2)
            return q, k
        if kind == "collapsed":
            q = torch.einsum("bnd,hde->bhne", u, self.w_qk)                 # u W_qk^h
            return q, u[:, None].expand(B, self.h, N, d)
        q = torch.einsum("bnd,hde->bhne", u, self.lower())                  # u L_h; S = u L Lᵀ uᵀ
        return q, q

    def scores(self, u: torch.Tensor) -> torch.Tensor:
        """The similarity matrices S_h (B, H, N, N) before scaling and softmax (reference / inspection)."""
        q, k = self.qk(u)
        return q @ k.transpose(-2, -1)

    def forward(self, u: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, N, d = u.shape
        q, k = self.qk(u)
        src = self.w_v(u) if self.variant.vo else u
        v = src.view(B, N, self.h, self.dh).transpose(1, 2)
        a = ka.softmax_attention(q, k, v, key_mask=key_mask, scale=1.0 / math.sqrt(self.dh), check_finite=False)
        a = a.transpose(1, 2).reshape(B, N, d)
        return self.w_o(a) if self.variant.vo else a


class MinimalBlock(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, variant: Variant):
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = MinimalAttention(d_model, n_heads, variant)
        if variant.mlp:
            self.ln2 = nn.LayerNorm(d_model)
            self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, key_mask=None):
        x = x + self.attn(self.ln1(x), key_mask)
        return x + self.mlp(self.ln2(x)) if hasattr(self, "mlp") else x


class PatchTransformer(nn.Module):
    """tokens (B, N, p²) float (+ optional key_mask (B, N) bool, True = valid) → logits (B, n_classes)."""

    def __init__(self, patch_dim: int, n_tokens: int, n_classes: int, variant: Variant, *, d_model: int = 32,
                 n_heads: int = 2, n_layers: int = 2, d_ff: int = 128):
        super().__init__()
        self.n_tokens, self.variant = n_tokens, variant
        self.embed = nn.Linear(patch_dim, d_model)
        self.pos = nn.Parameter(torch.randn(n_tokens, d_model) * 0.02)
        self.blocks = nn.ModuleList(MinimalBlock(d_model, n_heads, d_ff, variant) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        if tokens.ndim != 3 or tokens.shape[1] != self.n_tokens:
            raise ValueError(f"tokens must be (B, {self.n_tokens}, patch_dim), got {tuple(tokens.shape)}")
        x = self.embed(tokens) + self.pos
        for block in self.blocks:
            x = block(x, key_mask)
        return self.head(self.ln(x).mean(1))


def block_param_count(variant: Variant, d_model: int, n_heads: int, d_ff: int) -> int:
    """Closed form of one block's parameters: LN 2d, similarity (2d² | H·d² | H·d(d+1)/2), W_v + W_o 2d² if kept,
    MLP (LN 2d + d·d_ff + d_ff + d_ff·d + d) if kept."""
    d, h = d_model, n_heads
    n = 2 * d + {"separate": 2 * d * d, "collapsed": h * d * d, "symmetric": h * d * (d + 1) // 2}[variant.qk]
    if variant.vo:
        n += 2 * d * d
    if variant.mlp:
        n += 2 * d + 2 * d * d_ff + d_ff + d
    return n


def param_count(variant: Variant, *, patch_dim: int, n_tokens: int, n_classes: int, d_model: int, n_heads: int,
                n_layers: int, d_ff: int) -> dict[str, int]:
    """{'blocks', 'embedding' (patch embedding + positions), 'head' (final LN + classifier), 'total'}; the
    symmetric variant counts the d(d+1)/2 free entries of each L_h (the stored strict upper triangle is masked)."""
    d = d_model
    out = {"blocks": n_layers * block_param_count(variant, d, n_heads, d_ff),
           "embedding": patch_dim * d + d + n_tokens * d,
           "head": 2 * d + d * n_classes + n_classes}
    out["total"] = sum(out.values())
    return out


def counted_params(model: nn.Module) -> int:
    """Trainable parameters of ``model`` as stored, minus the masked (always-zero) strict upper triangles of the
    symmetric variant's L_h."""
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for m in model.modules():
        if isinstance(m, MinimalAttention) and m.variant.qk == "symmetric":
            n -= int((~m.tril_mask).sum()) * m.h
    return n


@torch.no_grad()
def collapse_qk(w_q: torch.Tensor, w_k: torch.Tensor, n_heads: int) -> torch.Tensor:
    """W_qk^h = W_q^h W_k^hᵀ (H, d, d) from separate (d, d) weights whose column blocks are the heads."""
    d = w_q.shape[0]
    dh = d // n_heads
    return torch.stack([w_q[:, h * dh:(h + 1) * dh] @ w_k[:, h * dh:(h + 1) * dh].T for h in range(n_heads)])


def mha_peer(attn: MinimalAttention) -> nn.MultiheadAttention:
    """``torch.nn.MultiheadAttention`` with the weights of a separate-W_q/W_k, W_v/W_o ``attn`` (bias-free): its
    output on (u, u, u) must equal ``attn(u)`` (the standard variant against PyTorch's reference module)."""
    if attn.variant.qk != "separate" or not attn.variant.vo:
        raise ValueError("the nn.MultiheadAttention peer exists only for the standard variant (qk='separate', vo=True)")
    d = attn.d
    peer = nn.MultiheadAttention(d, attn.h, bias=False, batch_first=True).to(attn.w_q.dtype)
    with torch.no_grad():
        peer.in_proj_weight.copy_(torch.cat([attn.w_q.T, attn.w_k.T, attn.w_v.weight]))
        peer.out_proj.weight.copy_(attn.w_o.weight)
    return peer


def make_model(variant: Variant | str, *, patch_dim: int, n_tokens: int, n_classes: int = 10, d_model: int = 32,
               n_heads: int = 2, n_layers: int = 2, d_ff: int = 128) -> PatchTransformer:
    v = VARIANTS[variant] if isinstance(variant, str) else variant
    return PatchTransformer(patch_dim, n_tokens, n_classes, v, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
                            d_ff=d_ff)
