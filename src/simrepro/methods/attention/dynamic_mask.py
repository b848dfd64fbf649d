r"""Wonderful Matrices (Shi & Wu, arXiv 2412.11834): dynamic mask attention (DMA), a scalar-decay state-space
attention (the SSD stand-in it is compared with), and product-key expert retrieval (cross-domain MoE) against a
dense MoE router.

Dynamic mask attention (official ``src/wonderful_matrices/modules/dmattn.py``, ``DMAttn``)
    m_{b,h,j} = exp(A_h · softplus(W_dt [v_{b,j,1}; …; v_{b,j,H}] + b_dt)_h)      (dmattn.py lines 204–206)
    out_i     = softmax_j(q_i·k_j/√d + m_{b,h,j} + causal_ij) v_j                  (lines 209–225)
The mask m is computed from the value heads of each *key* position (all heads concatenated, projected to one
number per head), so it is a learned, input-dependent per-key bias added to the scores (it is added, not
multiplied: line 218). ``A`` starts at 1 in ``DMAttn`` (lines 56–58; the later Doge model starts it at 0,
``modeling_doge.py`` lines 242–244, where the bias is then constant and has no effect until A moves).
Optional sparsification (``prepare_dynamic_mask``, dmattn.py lines 160–169, Doge lines 330–337): with
0 < ``ratio`` < 1, r = ⌊M·ratio⌋ and t = the r-th smallest m over the M keys (``torch.kthvalue``); keys with
m < t get −∞. As in the official code the threshold is taken over *all* M keys, future ones included, also in
causal mode (the official code does the same; a causal model with ratio > 0 thus sees a statistic of future
keys). Ties at t are kept (strict ``<``), so exactly r − 1 keys are dropped when the m are distinct.
:func:`dynamic_mask_attention_reference` forms the (N, M) score matrix and takes the softmax;
:func:`dynamic_mask_attention` passes the same additive mask to
``torch.nn.functional.scaled_dot_product_attention``. A query row with no valid key returns 0 (the
``simrepro.kernels.attention`` convention). :class:`DynamicMaskAttention` holds W_dt, b_dt, A and follows the
plug-in contract ``f(q, k, v, *, causal, key_mask)`` of ``simrepro.models.tiny_transformer``; it is an
``nn.Module``, so assigning one per block (``block.attention = DynamicMaskAttention(...)``) registers its
parameters with the model (:func:`attach_attention_modules`).

Scalar-decay state-space attention (the SSD / Mamba-2 duality, Dao & Gu 2024, in its quadratic form)
    h_t = exp(Δ_t a) h_{t−1} + Δ_t k_t v_tᵀ,   y_t = h_tᵀ q_t           (a < 0, Δ_t = softplus(w·v_t + b) > 0)
    ⇔ y_i = Σ_{j≤i} exp(Σ_{t=j+1}^{i} Δ_t a) (q_i·k_j) Δ_j v_j
:func:`ssd_attention` computes the masked quadratic form (O(N²d) time), :func:`ssd_attention_reference` runs the
recurrence token by token (O(N d d_v) state). Causal only. Here q, k, v are the block's projections (C, B, x of
Mamba-2), passed through Mamba-2's short causal convolution and SiLU in :class:`ScalarDecayAttention`; its output
gate and normalisation are left out, so this is a stand-in for SSD, not SSD.

Expert retrieval (official ``modules/cdmoe.py``, ``CDMoE``; baseline ``modules/seimoe.py``)
- Product keys: N = n² experts indexed (i, j) ↦ i·n + j (cdmoe.py line 115). The query splits in halves
  q = [q_x; q_y]; expert (i, j) scores s_x[i] + s_y[j] with s_x = K_x q_x, s_y = K_y q_y (line 105). Top-k of
  the n² sums = top-k over the k × k sums of the halves' top-k (lines 108–118): any pair (i, j) in the
  exhaustive top-k has i among the top-k of s_x (else k pairs (i', j) with larger s_x[i'] beat it), likewise j.
  :func:`product_key_topk` (O(d·n + k²) per query) vs :func:`exhaustive_product_topk` (forms all n² sums).
- Dense router (seimoe.py lines 35–38): top-k of softmax(x W_r), W_r (d, N): O(d·N) per token.
- :class:`CrossDomainMoE` (cdmoe.py lines 95–128): a shared gated MLP plus, per retrieval head, k singleton
  experts (a down vector and an up vector each) found by product keys, weighted by
  act(x·down_e) · softmax(scores)_e. :class:`RoutedMoE` (seimoe.py lines 30–63): dense router, a loop over the
  N gated-MLP experts on the tokens routed to each, plus a sigmoid-gated shared expert.
- :func:`expert_retrieval_sweep`: interleaved median times of routing alone and of the two layers over N.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

from simrepro.kernels.attention import check_qkv

# ---------------------------------------------------------------- dynamic mask attention


def dynamic_mask_values(v: torch.Tensor, dt_weight: torch.Tensor, dt_bias: torch.Tensor | None,
                        A: torch.Tensor) -> torch.Tensor:
    """m (B, H, M) = exp(A_h · softplus(W_dt·concat_h(v_j) + b_dt)_h) from v (B, H_v, M, d_v), W_dt (H, H_v·d_v),
    b_dt (H,) or None, A (H,) — dmattn.py lines 204–206."""
    B, Hv, M, dv = v.shape
    if dt_weight.shape[1] != Hv * dv:
        raise ValueError(f"dt_weight must be (H, H_v·d_v) = (H, {Hv * dv}), got {tuple(dt_weight.shape)}")
    if A.shape != (dt_weight.shape[0],):
        raise ValueError(f"A must be (H,) = ({dt_weight.shape[0]},), got {tuple(A.shape)}")
    dt = F.linear(v.transpose(1, 2).reshape(B, M, Hv * dv), dt_weight, dt_bias)        # (B, M, H)
    return torch.exp(A * F.softplus(dt)).transpose(1, 2)                                 # (B, H, M)


def dynamic_mask_bias(mask_values: torch.Tensor, N: int, *, ratio: float = 0.0, causal: bool = False,
                      key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The additive score mask (B, H, N, M): m_{b,h,j} on every row, −∞ where the ratio rule, the causal rule
    (j > i) or ``key_mask`` (True = valid key) removes key j. ``ratio`` as in dmattn.py lines 162–166."""
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio!r} (0 keeps every key)")
    B, H, M = mask_values.shape
    bias = mask_values[:, :, None, :]                                                   # (B, H, 1, M)
    r = int(M * ratio)
    if r > 0:
        t = torch.kthvalue(bias, r, dim=-1, keepdim=True).values                       # r-th smallest over all keys
        bias = bias.masked_fill(bias < t, -math.inf)
    bias = bias.expand(B, H, N, M)
    drop = torch.zeros(B, 1, N, M, dtype=torch.bool, device=bias.device)
    if causal:
        drop = drop | torch.ones(N, M, dtype=torch.bool, device=bias.device).triu(1)
    if key_mask is not None:
        drop = drop | ~key_mask[:, None, None, :]
    return bias.masked_fill(drop, -math.inf)


def dynamic_mask_attention_reference(q, k, v, mask_values, *, causal: bool = False, key_mask=None,
                                     ratio: float = 0.0, scale: float | None = None) -> torch.Tensor:
    """softmax(QKᵀ·scale + bias) V with the (N, M) scores formed explicitly; q (B, H, N, d), k (B, H, M, d),
    v (B, H, M, d_v), mask_values (B, H, M) → (B, H, N, d_v). Rows with no valid key → 0."""
    check_qkv(q, k, v, key_mask, causal=causal)
    _check_mask_values(mask_values, q, k)
    N = q.shape[2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ k.transpose(-1, -2) * scale + dynamic_mask_bias(mask_values, N, ratio=ratio, causal=causal,
                                                            key_mask=key_mask)
    empty = torch.isinf(s).all(-1, keepdim=True)
    p = torch.softmax(s.masked_fill(empty, 0.0), dim=-1).masked_fill(empty, 0.0)
    return p @ v


def dynamic_mask_attention(q, k, v, mask_values, *, causal: bool = False, key_mask=None, ratio: float = 0.0,
                           scale: float | None = None) -> torch.Tensor:
    """The same contract through ``scaled_dot_product_attention`` with the additive float mask."""
    check_qkv(q, k, v, key_mask, causal=causal)
    _check_mask_values(mask_values, q, k)
    N = q.shape[2]
    bias = dynamic_mask_bias(mask_values, N, ratio=ratio, causal=causal, key_mask=key_mask).to(q.dtype)
    empty = torch.isinf(bias).all(-1, keepdim=True)                                    # (B, H, N, 1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.masked_fill(empty, 0.0), scale=scale)
    return out.masked_fill(empty, 0.0)


def _check_mask_values(mask_values, q, k):
    B, H, M = q.shape[0], q.shape[1], k.shape[2]
    if tuple(mask_values.shape) != (B, H, M):
        raise ValueError(f"mask_values must be (B, H, M) = {(B, H, M)}, got {tuple(mask_values.shape)}")
    if not bool(torch.isfinite(mask_values).all()):
        raise ValueError("mask_values contain NaN or inf: check A and the dt projection (exp(A·softplus) "
                         "overflows for A·softplus(dt) > 88 in float32)")


class DynamicMaskAttention(nn.Module):
    """DMA as a plug-in attention: ``forward(q, k, v, *, causal, key_mask)`` (B, H, N, d) → (B, H, N, d_v), with
    the learnable W_dt (H, H·d_v), b_dt (H,) and A (H,) of dmattn.py lines 56–62. ``a_init`` = 1 as in DMAttn
    (0 as in the Doge model); ``ratio`` the sparsification of :func:`dynamic_mask_bias`."""

    def __init__(self, n_heads: int, head_dim: int, *, a_init: float = 1.0, ratio: float = 0.0,
                 reference: bool = False):
        super().__init__()
        if n_heads < 1 or head_dim < 1:
            raise ValueError(f"n_heads and head_dim must be ≥ 1, got {n_heads}, {head_dim}")
        self.A = nn.Parameter(torch.full((n_heads,), float(a_init)))
        self.dt_proj = nn.Linear(n_heads * head_dim, n_heads)
        self.ratio, self.reference = float(ratio), reference

    def mask_values(self, v: torch.Tensor) -> torch.Tensor:
        return dynamic_mask_values(v, self.dt_proj.weight, self.dt_proj.bias, self.A)

    def forward(self, q, k, v, *, causal: bool = False, key_mask=None) -> torch.Tensor:
        f = dynamic_mask_attention_reference if self.reference else dynamic_mask_attention
        return f(q, k, v, self.mask_values(v), causal=causal, key_mask=key_mask, ratio=self.ratio)


# ---------------------------------------------------------------- scalar-decay state-space attention (SSD stand-in)


def _check_decay(log_decay, input_scale, q):
    B, H, N = q.shape[:3]
    for name, t in (("log_decay", log_decay), ("input_scale", input_scale)):
        if tuple(t.shape) != (B, H, N):
            raise ValueError(f"{name} must be (B, H, N) = {(B, H, N)}, got {tuple(t.shape)}")
    if bool((log_decay > 0).any()):
        raise ValueError("log_decay must be ≤ 0 (a decay factor exp(Δa) ≤ 1)")


def ssd_attention(q, k, v, log_decay, input_scale) -> torch.Tensor:
    """y_i = Σ_{j≤i} exp(c_i − c_j)(q_i·k_j) s_j v_j with c = cumsum(log_decay) over tokens; q, k (B, H, N, d),
    v (B, H, N, d_v), log_decay = Δa ≤ 0 and input_scale = Δ (B, H, N) → (B, H, N, d_v). Causal, O(N²d)."""
    check_qkv(q, k, v, None, causal=True)
    _check_decay(log_decay, input_scale, q)
    N = q.shape[2]
    c = torch.cumsum(log_decay, dim=-1)                                                  # (B, H, N)
    seg = c[..., :, None] - c[..., None, :]                                              # c_i − c_j
    L = torch.exp(seg.masked_fill(torch.ones(N, N, dtype=torch.bool, device=q.device).triu(1), -math.inf))
    return (L * (q @ k.transpose(-1, -2)) * input_scale[..., None, :]) @ v


def ssd_attention_reference(q, k, v, log_decay, input_scale) -> torch.Tensor:
    """The recurrence h_t = exp(log_decay_t) h_{t−1} + s_t k_t v_tᵀ, y_t = h_tᵀ q_t, token by token."""
    check_qkv(q, k, v, None, causal=True)
    _check_decay(log_decay, input_scale, q)
    B, H, N, d = q.shape
    h = q.new_zeros(B, H, d, v.shape[-1])
    out = []
    for t in range(N):
        h = torch.exp(log_decay[..., t])[..., None, None] * h \
            + input_scale[..., t, None, None] * k[..., t, :, None] * v[..., t, None, :]
        out.append((q[..., t, :, None] * h).sum(-2))
    return torch.stack(out, dim=2) if out else v.new_zeros(B, H, 0, v.shape[-1])


def causal_depthwise_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """y_{b,h,t,c} = Σ_{w<W} weight_{h,c,w} · x_{b,h,t−W+1+w,c} (+ bias_{h,c}), x zero before t = 0: x (B, H, N, d),
    weight (H, d, W), bias (H, d) → (B, H, N, d); y_t sees no x after t. Written as W shifted products in the heads'
    layout (half the CPU time of a grouped ``conv1d`` on the concatenated heads at these sizes)."""
    H, d, W = weight.shape
    if x.shape[1] != H or x.shape[-1] != d:
        raise ValueError(f"x must be (B, H={H}, N, d={d}), got {tuple(x.shape)}")
    N = x.shape[2]
    xp = F.pad(x, (0, 0, W - 1, 0))
    y = sum(xp[:, :, w:w + N, :] * weight[None, :, None, :, w] for w in range(W))
    return y + bias[None, :, None, :] if bias is not None else y


class ScalarDecayAttention(nn.Module):
    """SSD stand-in as a plug-in attention (causal only). As in the Mamba-2 block, q, k, v (its C, B, x) first
    pass a causal depthwise convolution of width ``conv_width`` over tokens and a SiLU (0 = no convolution);
    then Δ_t = softplus(W_dt concat_h(v_t) + b_dt) (B, H, N), a_h = −exp(a_log_h) (Mamba-2's parametrisation,
    a_log initialised to log U[1, 16], the step's bias so that softplus(b) is log-uniform in [0.001, 0.1]) and log decay Δ_t a_h feed :func:`ssd_attention`. Mamba-2's output gate
    and normalisation are left out."""

    def __init__(self, n_heads: int, head_dim: int, *, conv_width: int = 4, reference: bool = False):
        super().__init__()
        if conv_width < 0:
            raise ValueError(f"conv_width must be ≥ 0, got {conv_width}")
        self.a_log = nn.Parameter(torch.log(torch.empty(n_heads).uniform_(1.0, 16.0)))
        self.dt_proj = nn.Linear(n_heads * head_dim, n_heads)
        with torch.no_grad():                  # Mamba-2's step init: softplus(bias) log-uniform in [1e-3, 1e-1]
            dt0 = torch.exp(torch.empty(n_heads).uniform_(math.log(1e-3), math.log(1e-1)))
            self.dt_proj.bias.copy_(dt0 + torch.log(-torch.expm1(-dt0)))
        channels = 3 * n_heads * head_dim
        self.conv = nn.Conv1d(channels, channels, conv_width, groups=channels, padding=conv_width - 1) \
            if conv_width else None
        self.reference = reference

    def forward(self, q, k, v, *, causal: bool = True, key_mask=None) -> torch.Tensor:
        if not causal:
            raise ValueError("ScalarDecayAttention is a causal recurrence: build the model with causal=True")
        if key_mask is not None and not bool(key_mask.all()):
            raise ValueError("ScalarDecayAttention takes no padding: pass sequences of equal length")
        B, H, N, dv = v.shape
        if self.conv is not None:                   # channels ordered (q|k|v, head, dim) as in one Conv1d
            w = self.conv.weight[:, 0].view(3, H, -1, self.conv.weight.shape[-1])
            b = self.conv.bias.view(3, H, -1)
            q, k, v = (F.silu(causal_depthwise_conv(t, w[i], b[i])) for i, t in enumerate((q, k, v)))
        dt = F.softplus(self.dt_proj(v.transpose(1, 2).reshape(B, N, H * dv))).transpose(1, 2)   # (B, H, N)
        log_decay = dt * -torch.exp(self.a_log)[None, :, None]
        f = ssd_attention_reference if self.reference else ssd_attention
        return f(q, k, v, log_decay, dt)


def attach_attention_modules(model: nn.Module, make: Callable[[], nn.Module]) -> nn.Module:
    """Give every block of a ``TinyTransformer`` its own attention module ``make()`` (registered as a submodule,
    so its parameters train with the model). The base weights are drawn before, so models that differ only in
    the attention share them under the same seed."""
    for block in model.blocks:
        block.attention = make()
    return model


# ---------------------------------------------------------------- expert retrieval


def _check_topk(k: int, n: int, what: str):
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}] ({what}), got {k}")


def product_key_topk(s_x: torch.Tensor, s_y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k of {s_x[i] + s_y[j]} over the n_x × n_y grid from the halves' top-k (cdmoe.py lines 108–118):
    s_x (…, n_x), s_y (…, n_y) → (D (…, k) descending, I (…, k) = i·n_y + j)."""
    if s_x.shape[:-1] != s_y.shape[:-1]:
        raise ValueError(f"s_x and s_y must share leading dims, got {tuple(s_x.shape)} and {tuple(s_y.shape)}")
    _check_topk(k, min(s_x.shape[-1], s_y.shape[-1]), "at most the number of keys per half")
    if not (bool(torch.isfinite(s_x).all()) and bool(torch.isfinite(s_y).all())):
        raise ValueError("scores contain NaN or inf")
    n_y = s_y.shape[-1]
    (sx, ix), (sy, iy) = s_x.topk(k, dim=-1), s_y.topk(k, dim=-1)
    sums = (sx[..., :, None] + sy[..., None, :]).flatten(-2)                           # (…, k²)
    ids = (ix[..., :, None] * n_y + iy[..., None, :]).flatten(-2)
    D, pos = sums.topk(k, dim=-1)
    return D, ids.gather(-1, pos)


def exhaustive_product_topk(s_x: torch.Tensor, s_y: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference: forms all n_x·n_y sums s_x[i] + s_y[j] (id i·n_y + j) and takes their top-k."""
    _check_topk(k, s_x.shape[-1] * s_y.shape[-1], "at most n_x·n_y")
    return (s_x[..., :, None] + s_y[..., None, :]).flatten(-2).topk(k, dim=-1)


def dense_router_topk(x: torch.Tensor, router_weight: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """seimoe.py lines 35–38: top-k of softmax(x W_rᵀ) over N experts; x (T, d), W_r (N, d) → (T, k) twice."""
    _check_topk(k, router_weight.shape[0], "at most the number of experts")
    return torch.softmax(x @ router_weight.T, dim=-1).topk(k, dim=-1)


class CrossDomainMoE(nn.Module):
    """cdmoe.py lines 45–128: shared gated MLP (d → d_cd → d) + product-key retrieval of k singleton experts per
    head among N = n² (n = ⌊√N⌋ keys per half, retrieval dim d_r). x (B, T, d) → (B, T, d)."""

    def __init__(self, d_model: int, d_cd: int, n_experts: int, *, n_heads: int = 1, k: int = 8,
                 d_retrieval: int = 64):
        super().__init__()
        n = math.isqrt(n_experts)
        if n * n != n_experts:
            raise ValueError(f"n_experts must be a perfect square (product keys), got {n_experts}")
        if d_retrieval % 2:
            raise ValueError(f"d_retrieval must be even (two halves), got {d_retrieval}")
        _check_topk(k, n, "experts per head ≤ keys per half")
        self.n_keys, self.n_heads, self.k = n, n_heads, k
        self.gate, self.up, self.down = nn.Linear(d_model, d_cd), nn.Linear(d_model, d_cd), nn.Linear(d_cd, d_model)
        self.queries = nn.Linear(d_model, d_retrieval * n_heads, bias=False)
        self.keys = nn.Parameter(torch.randn(n_heads, n, 2, d_retrieval // 2) / math.sqrt(d_retrieval))
        self.down_embed, self.up_embed = nn.Embedding(n_experts, d_model), nn.Embedding(n_experts, d_model)

    def retrieve(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        q = self.queries(x).view(B, T, 2, self.n_heads, -1).permute(2, 0, 1, 3, 4)         # (2, B, T, h, d_r/2)
        sim = torch.einsum("pbthn,hkpn->pbthk", q, self.keys)                               # (2, B, T, h, n)
        return product_key_topk(sim[0], sim[1], self.k)                                      # (B, T, h, k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores, idx = self.retrieve(x)
        down, up = self.down_embed(idx), self.up_embed(idx)                                  # (B, T, h, k, d)
        w = F.silu(torch.einsum("btd,bthkd->bthk", x, down)) * scores.softmax(-1)
        experts = torch.einsum("bthk,bthkd->btd", w, up)
        return self.down(F.silu(self.gate(x)) * self.up(x)) + experts


class RoutedMoE(nn.Module):
    """seimoe.py lines 10–63: dense router over N gated-MLP experts (width d_expert), top-k per token, a loop over
    the experts on their routed tokens, plus a sigmoid-gated shared expert (width d_shared). x (B, T, d) → same."""

    def __init__(self, d_model: int, d_expert: int, n_experts: int, *, k: int = 8, d_shared: int | None = None):
        super().__init__()
        _check_topk(k, n_experts, "at most the number of experts")
        self.k, self.n_experts = k, n_experts
        self.router = nn.Linear(d_model, n_experts, bias=False)
        # the N experts' gated MLPs as stacked weights (one row per expert), applied per expert in the loop
        s = 1.0 / math.sqrt(d_model)
        self.w_gate = nn.Parameter(torch.randn(n_experts, d_expert, d_model) * s)
        self.w_up = nn.Parameter(torch.randn(n_experts, d_expert, d_model) * s)
        self.w_down = nn.Parameter(torch.randn(n_experts, d_model, d_expert) / math.sqrt(d_expert))
        d_shared = d_shared or d_expert
        self.s_gate, self.s_up = nn.Linear(d_model, d_shared), nn.Linear(d_model, d_shared)
        self.s_down, self.s_weight = nn.Linear(d_shared, d_model), nn.Linear(d_model, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        h = x.reshape(-1, D)
        weights, chosen = dense_router_topk(h, self.router.weight, self.k)                 # (T', k)
        out = torch.zeros_like(h)
        expert_mask = F.one_hot(chosen, self.n_experts).permute(2, 1, 0)                    # (N, k, T')
        for e in range(self.n_experts):
            slot, tok = torch.where(expert_mask[e])
            if tok.numel() == 0:
                continue
            xe = h[tok]
            ye = F.linear(F.silu(F.linear(xe, self.w_gate[e])) * F.linear(xe, self.w_up[e]), self.w_down[e])
            out.index_add_(0, tok, ye * weights[tok, slot, None])
        shared = self.s_down(F.silu(self.s_gate(h)) * self.s_up(h)) * torch.sigmoid(self.s_weight(h))
        return (out + shared).reshape(B, T, D)


def _interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int, min_block_s: float = 0.02
                         ) -> dict[str, float]:
    """Median seconds per call of each callable, timed in rotating order (a busy machine slows all alike), each
    repeat a block of calls lasting about ``min_block_s``."""
    names = list(calls)
    block = {}
    for name in names:                                                                   # warm-up sizes the block
        start = time.perf_counter()
        calls[name]()
        block[name] = max(1, math.ceil(min_block_s / max(time.perf_counter() - start, 1e-9)))
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            for _ in range(block[name]):
                calls[name]()
            times[name].append((time.perf_counter() - start) / block[name])
    return {name: statistics.median(t) for name, t in times.items()}


@torch.no_grad()
def expert_retrieval_sweep(ns, *, d_model: int = 64, tokens: int = 256, k: int = 8, d_retrieval: int = 64,
                           d_expert: int = 16, d_cd: int = 128, layer_max_n: int | None = None, repeats: int = 5,
                           seed: int = 0) -> list[dict]:
    """For each N in ``ns`` (perfect squares): median seconds of dense top-k routing (x W_rᵀ, softmax, top-k over
    N) and of product-key routing (query projection, two √N half scores, top-k, k² sums, top-k) for ``tokens``
    tokens, and — for N ≤ ``layer_max_n`` — of the whole :class:`RoutedMoE` and :class:`CrossDomainMoE` layers
    (k experts per token each). Rows ``{n, route_dense_s, route_pk_s, route_speedup, layer_moe_s, layer_cdmoe_s,
    layer_speedup}`` (NaN where not timed)."""
    rows = []
    for n in ns:
        g = torch.Generator().manual_seed(seed + n)
        torch.manual_seed(seed + n)
        x = torch.randn(1, tokens, d_model, generator=g)
        cd = CrossDomainMoE(d_model, d_cd, n, k=k, d_retrieval=d_retrieval)
        router = torch.randn(n, d_model, generator=g) / math.sqrt(d_model)
        calls = {"route_dense": lambda: dense_router_topk(x[0], router, k),
                 "route_pk": lambda: cd.retrieve(x)}
        nan = float("nan")
        row = {"n": n, "layer_moe_s": nan, "layer_cdmoe_s": nan, "layer_speedup": nan}
        if layer_max_n is not None and n <= layer_max_n:
            moe = RoutedMoE(d_model, d_expert, n, k=k, d_shared=d_cd)
            calls |= {"layer_moe": lambda: moe(x), "layer_cdmoe": lambda: cd(x)}
        t = _interleaved_medians(calls, repeats)
        row |= {f"{name}_s": v for name, v in t.items()}
        row["route_speedup"] = t["route_dense"] / t["route_pk"]
        if "layer_moe" in t:
            row["layer_speedup"] = t["layer_moe"] / t["layer_cdmoe"]
        rows.append(row)
    return rows
