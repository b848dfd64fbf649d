r"""ESSA — efficient SCC-kernel-based self-attention (Zhang et al., "ESSAformer: Efficient Transformer for
Hyperspectral Image Super-resolution", ICCV 2023, arXiv 2307.14010; github.com/Rexzhan/ESSAformer).

Tokens are pixels, features are (embedded) spectra. The paper replaces the dot product of attention by the
**spectral correlation coefficient** (abstract), the Pearson correlation of two spectra over their d channels:

    SCC(x, y) = Σ_c (x_c − x̄)(y_c − ȳ) / (‖x − x̄‖ · ‖y − ȳ‖) = û · ŷ,    û = (x − x̄)/‖x − x̄‖      (1)

SCC lies in [−1, 1] and is invariant to a per-token gain and offset (x → a·x + b, a > 0): a brighter or darker
pixel with the same spectral shape keeps its similarities. Then it kernelises the attention to linear cost.

What the official code computes (``ESSA.py``, class ``ESSAttn``, ``forward``, lines 116–150 of commit dc834c1),
for q, k, v (B, N, C) from one linear layer, N = H·W pixels:
- centre each token over its channels: q̃ = q − mean_c q, k̃ = k − mean_c k                    (lines 121–124)
- square and normalise to a distribution over channels: q̃²/Σ_c q̃², k̃²/Σ_c k̃² (+1e-7)          (lines 125–128)
  — i.e. û² and ŵ², the squares of the unit centred vectors of (1);
- φ(q_i) = û_i² / ‖û_i²‖₂ (L2 over channels, line 131); ψ(k_j)_c = ŵ_jc² / (Σ_j' ŵ_j'c⁴)^½ (L2 over the
  N tokens of each channel, line 130);
- out = v + φ(Q) (ψ(K)ᵀ V) / √N  (lines 129, 132, 148): O(N·C²), no N × N matrix; then a linear layer (line 149).
The kernel behind it, written with the per-channel terms P_ijc = û_ic·ŵ_jc whose sum over c is SCC_ij (1):

    A_ij = Σ_c P_ijc² / (‖û_i²‖₂ · s_c · √N),    s_c = (Σ_j ŵ_jc⁴)^½                                   (2)

— non-negative (so no normaliser is needed to keep weights positive), and invariant to any per-token affine map
of q or k with a ≠ 0 (the square removes the sign). It is the diagonal part of SCC² = Σ_c Σ_c' P_ijc P_ijc'; the
README's "to do" names higher-order terms (the commented lines 139–147 carry fourth powers), so we read it as the
first retained term of an element-wise expansion; the paper's own derivation is not in the repository and is not
asserted here. :func:`essa_attention` is the linear path, :func:`essa_attention_reference` forms (2) explicitly
from the (N, M, d) tensor of per-channel SCC terms (O(N·M·d) memory: small inputs only).

An exact, normalised SCC-kernel attention (ours, for the kernel-trick identity the plan asks for): the order-p
Taylor polynomial of exp(SCC), κ_p(q, k) = Σ_{n ≤ p} SCC(q, k)ⁿ / n!, is non-negative on [−1, 1] for p = 1 (1 + s ≥ 0)
and for every even p, and has the exact finite feature map φ_p(x) = [1, û, vec(û ⊗ û)/√2!, …] (1 + d + … + dᵖ
features), so out_i = Σ_j κ_p(q_i, k_j) v_j / Σ_j κ_p(q_i, k_j) runs in O(N·dᵖ·d_v) through
:func:`simrepro.kernels.attention.linear_attention` (:func:`scc_kernel_attention`), and its reference forms the
(N, M) SCC matrix (:func:`scc_matrix`) and the polynomial explicitly (:func:`scc_kernel_attention_reference`).

Conventions: q (B, H, N, d), k (B, H, M, d), v (B, H, M, d_v), float32 / float64, validated by
:func:`simrepro.kernels.attention.check_qkv`. A constant token (zero variance over its channels) has no spectral
shape: its unit centred vector is 0 (SCC 0 with everything), where the official code's +1e-7 gives the same 0.
"""

from __future__ import annotations

import math

import torch

from simrepro.kernels.attention import check_qkv, linear_attention, linear_attention_reference

__all__ = ["centred_unit", "scc_matrix", "essa_query_features", "essa_key_features", "essa_attention",
           "essa_attention_reference", "scc_taylor_features", "scc_kernel_attention",
           "scc_kernel_attention_reference"]


def _check_tokens(x, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(f"{name}: expected a tensor (…, N, d) of tokens, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if x.shape[-1] < 2:
        raise ValueError(f"{name}: the spectral correlation needs d ≥ 2 channels, got d = {x.shape[-1]}")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf; check the layer or the image that produced it")


def centred_unit(x: torch.Tensor) -> torch.Tensor:
    """û = (x − x̄)/‖x − x̄‖ over the last axis (…, d); 0 for a constant token (no spectral shape), i.e. one whose
    centred norm is within round-off (4·ε·√d·max|x|) of 0. Centring is done before the norm, in the input dtype
    (pass float64 where cancellation matters: x̄ ≫ spread)."""
    xc = x - x.mean(dim=-1, keepdim=True)
    norm = torch.linalg.vector_norm(xc, dim=-1, keepdim=True)
    # below round-off of the centring (relative to the token's magnitude) the token counts as constant
    floor = 4.0 * torch.finfo(x.dtype).eps * math.sqrt(x.shape[-1]) * x.abs().amax(dim=-1, keepdim=True)
    return torch.where(norm > floor, xc / norm.clamp_min(torch.finfo(x.dtype).tiny), torch.zeros_like(xc))


def scc_matrix(x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """SCC_ij = Pearson correlation of x_i and y_j over the channels, eq. (1): (…, N, d) × (…, M, d) → (…, N, M);
    y = x by default. Rows that are constant give 0."""
    _check_tokens(x, "x")
    if y is None:
        y = x
    else:
        _check_tokens(y, "y")
    return centred_unit(x) @ centred_unit(y).transpose(-2, -1)


# --------------------------------------------------------------------------------------------- ESSA (official)
def essa_query_features(q: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """φ(q_i) = û_i² / ‖û_i²‖₂ (…, N, d) — official lines 121–131 (û² = q̃²/(Σq̃² + eps)). The official eps = 1e-7
    makes the map invariant to a per-token gain only up to a relative 1e-7/Σq̃²; eps = 0 makes it exact (a
    constant token still maps to 0)."""
    qc = q - q.mean(dim=-1, keepdim=True)
    q2 = qc * qc
    q2 = q2 / (q2.sum(dim=-1, keepdim=True) + eps).clamp_min(torch.finfo(q.dtype).tiny)    # û²; 0 if constant
    return q2 / torch.linalg.vector_norm(q2, dim=-1, keepdim=True).clamp_min(1e-12)


def essa_key_features(k: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """ψ(k_j)_c = ŵ_jc² / (Σ_j' ŵ_j'c⁴)^½ (…, M, d): squares of the unit centred keys, each channel L2-normalised
    over the M tokens — official lines 122–130."""
    kc = k - k.mean(dim=-1, keepdim=True)
    k2 = kc * kc
    k2 = k2 / (k2.sum(dim=-1, keepdim=True) + eps).clamp_min(torch.finfo(k.dtype).tiny)    # ŵ²
    return k2 / torch.linalg.vector_norm(k2, dim=-2, keepdim=True).clamp_min(1e-12)


def _essa_check(q, k, v, causal, residual, check_finite=True):
    check_qkv(q, k, v, causal=False, check_finite=check_finite)
    if causal:
        raise ValueError("ESSA has no causal form (ψ normalises every key channel over all tokens); call it with "
                         "causal=False")
    if residual and (q.shape[2] != k.shape[2] or v.shape[-1] != q.shape[-1]):
        raise ValueError(f"residual=True adds v to the output (official line 148): it needs N = M and d_v = d, got "
                         f"q {tuple(q.shape)}, v {tuple(v.shape)}; pass residual=False for cross-attention")


def essa_attention(q, k, v, *, causal: bool = False, residual: bool = True, eps: float = 1e-7,
                   check_finite: bool = True):
    """ESSA as the official ``ESSAttn`` computes it (module docstring, lines 116–148, without the two linear
    layers): out = [v +] φ(Q)(ψ(K)ᵀV)/√M — (B, H, N, d) × (B, H, M, d) × (B, H, M, d_v) → (B, H, N, d_v) in
    O((N + M)·d·d_v) time and O(d·d_v) state. ``residual`` adds v (official t1 = v; needs N = M)."""
    _essa_check(q, k, v, causal, residual, check_finite)
    fq, fk = essa_query_features(q, eps), essa_key_features(k, eps)
    out = fq @ (fk.transpose(-2, -1) @ v) / math.sqrt(k.shape[2])          # (B,H,N,d)·((B,H,d,M)·(B,H,M,d_v))
    return v + out if residual else out


def essa_attention_reference(q, k, v, *, causal: bool = False, residual: bool = True, eps: float = 1e-7):
    """Eq. (2) formed explicitly: the per-channel SCC terms P_ijc = û_ic·ŵ_jc (B, H, N, M, d), A_ij =
    Σ_c P_ijc² / (‖û_i²‖₂ · s_c · √M), out = A V [+ v]. O(N·M·d) memory: for tests and small checks."""
    _essa_check(q, k, v, causal, residual)
    qc = q - q.mean(dim=-1, keepdim=True)
    kc = k - k.mean(dim=-1, keepdim=True)
    tiny = torch.finfo(q.dtype).tiny
    u = qc / (qc.pow(2).sum(-1, keepdim=True) + eps).clamp_min(tiny).sqrt()  # û (the official eps inside Σ q̃²)
    w = kc / (kc.pow(2).sum(-1, keepdim=True) + eps).clamp_min(tiny).sqrt()  # ŵ
    terms = u[..., :, None, :] * w[..., None, :, :]                         # P_ijc; Σ_c P_ijc = SCC_ij
    s = w.pow(4).sum(dim=-2).sqrt().clamp_min(1e-12)                        # s_c (B, H, d)
    row = u.pow(2).pow(2).sum(-1).sqrt().clamp_min(1e-12)                   # ‖û_i²‖₂ (B, H, N)
    a = (terms.pow(2) / s[..., None, None, :]).sum(-1) / row[..., None] / math.sqrt(k.shape[2])
    out = a @ v
    return v + out if residual else out


# --------------------------------------------------------------------------------------------- exact SCC kernel
def scc_taylor_features(x: torch.Tensor, order: int = 1) -> torch.Tensor:
    """φ_p(x) = [1, û, vec(û⊗û)/√2!, …, vec(û^{⊗p})/√p!] (…, N, 1 + d + … + dᵖ): φ_p(q)·φ_p(k) = Σ_{n≤p} SCCⁿ/n!."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2 (positive kernels with d + d² features at most), got {order}")
    u = centred_unit(x)
    parts = [torch.ones_like(u[..., :1]), u]
    if order == 2:
        parts.append((u[..., :, None] * u[..., None, :]).flatten(-2) / math.sqrt(2.0))
    return torch.cat(parts, dim=-1)


def _taylor_map(order):
    return lambda x: scc_taylor_features(x, order)


def scc_kernel_attention(q, k, v, *, causal: bool = False, key_mask=None, order: int = 1, eps: float = 1e-6,
                         check_finite: bool = True):
    """out_i = Σ_j κ_p(q_i, k_j) v_j / (Σ_j κ_p(q_i, k_j) + ε), κ_p = Σ_{n≤p} SCCⁿ/n! ≥ 0, through the exact feature
    map :func:`scc_taylor_features` and ``linear_attention``: O(N·dᵖ·d_v) (module docstring)."""
    key_mask = check_qkv(q, k, v, key_mask, causal=causal, check_finite=check_finite)
    if q.shape[-1] < 2:
        raise ValueError(f"the spectral correlation needs d ≥ 2 channels, got d = {q.shape[-1]}")
    return linear_attention(q, k, v, feature_map=_taylor_map(order), causal=causal, key_mask=key_mask, eps=eps,
                            check_finite=check_finite)


def scc_kernel_attention_reference(q, k, v, *, causal: bool = False, key_mask=None, order: int = 1,
                                   eps: float = 1e-6):
    """The same with the (N, M) SCC matrix formed (:func:`scc_matrix`), κ_p evaluated as a polynomial, masked,
    divided by its row sums + ε."""
    if order not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {order}")
    key_mask = check_qkv(q, k, v, key_mask, causal=causal)
    s = scc_matrix(q, k)
    kern = 1.0 + s + (s * s / 2.0 if order == 2 else 0.0)
    allowed = torch.ones_like(kern, dtype=torch.bool)
    if causal:
        allowed = allowed & torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=q.device).tril()
    if key_mask is not None:
        allowed = allowed & key_mask[:, None, None, :]
    kern = kern.masked_fill(~allowed, 0.0)
    return (kern @ v) / (kern.sum(-1, keepdim=True) + eps)
