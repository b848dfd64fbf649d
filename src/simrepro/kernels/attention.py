r"""Attention kernels: softmax attention, kernelised linear attention and flow-conserving attention, each with a
plain quadratic reference beside its fast path, and a time / peak-memory sweep over the sequence length.

Shapes and conventions (all public functions)
- ``q`` (B, H, N, d), ``k`` (B, H, M, d), ``v`` (B, H, M, d_v) → output (B, H, N, d_v): batch, heads, query
  tokens, key tokens; float32 or float64 (float16/bfloat16 are accepted by the softmax fast path only).
- ``key_mask``: bool (B, M), **True = a valid key** (the convention of
  ``torch.nn.functional.scaled_dot_product_attention``'s boolean mask; the opposite of
  ``nn.MultiheadAttention``'s ``key_padding_mask``). A query row with no valid key returns 0 (softmax would give
  NaN): padded positions are harmless to pool over after multiplying by the mask.
- ``causal=True``: query i sees keys j ≤ i (top-left aligned, as SDPA's ``is_causal``).

Softmax attention (the reference every wave-3 paper compares with):
    out = softmax(QKᵀ/√d + mask) V
:func:`softmax_attention_reference` forms the (N, M) score matrix explicitly (O(N·M) memory);
:func:`softmax_attention` calls SDPA (fused on CPU and CUDA; its CPU flash kernel keeps memory O(N) while time
stays O(N·M·d)).

Kernelised linear attention (Katharopoulos et al., 2020), with a non-negative feature map φ:
    out_i = φ(q_i)ᵀ Σ_j φ(k_j) v_jᵀ / (φ(q_i)ᵀ Σ_j φ(k_j) + ε)
The fast path associates (φ(K)ᵀV) first: O(N·d·d_v) time and O(d·d_v) state; causal runs in chunks of C tokens
(exact masked quadratic inside a chunk, a running state across chunks: O(N·C·d) time, O(C² + d·d_v) memory).
The reference forms A = φ(Q)φ(K)ᵀ (N, M), masks it, divides by its row sums + ε and multiplies by V.
``feature_map`` is a name from :data:`FEATURE_MAPS` or any callable (B, H, N, d) → (B, H, N, d') returning
non-negative features; papers that define their own map (norm-aware, random features, …) pass it as a callable
from their method module: nothing here needs to change. ``key_feature_map`` (same kinds; default: the same map as
``feature_map``) sets a different map ψ for the keys, out_i = φ(q_i)ᵀ Σ_j ψ(k_j) v_jᵀ / (φ(q_i)ᵀ Σ_j ψ(k_j) + ε),
for methods whose query and key maps differ (NaLaFormer's norm-aware query map and cubed-key map); φ and ψ must
give the same feature dimension d'.

Flow-conserving attention (Flowformer, Wu et al., ICML 2022; the official ``Flow_Attention.py``, classes
``Flow_Attention`` and ``Flow_Attention_Causal``). With Q = φ(q), K = φ(k), φ = sigmoid and the flow
capacities F_ij = Q_i·K_j (N, M), a small ε for stability, n = #valid queries and m = #valid keys:
    I_i = 1 / Σ_j F_ij                      incoming flow of sink i
    O_j = 1 / Σ_i F_ij                      outgoing flow of source j
    Î_i = Σ_j F_ij O_j                      conserved incoming flow (sources' outgoing flow fixed at 1)
    Ô_j = Σ_i F_ij I_i                      conserved outgoing flow (sinks' incoming flow fixed at 1)
    out_i = sigmoid(Î_i · n/m) · I_i · Σ_j F_ij · (m · softmax_j(Ô)_j) · v_j     (allocation, competition)
Every sum over F is computed through Σ_j K_j (or Σ_i Q_i): O((N + M)·d·d_v). ε enters as in the official
code: each normaliser is (Q_i + ε)·(Σ_j K_j + ε) rather than Σ_j Q_i·K_j, and Ô is clamped to [−1, 1]. The
reference forms F explicitly and takes every sum over it; the ε terms are written out so the two agree to
round-off. The causal variant replaces every sum over j by the prefix sum j ≤ i (and over i by i ≤ j), scales
the normalisers by the count i + 1, and normalises the competition by the prefix sum of exp(Ô) (as the official
causal class does, including its quirk that source j's outgoing flow counts queries i ≤ j).

Adding a variant (SOFT's Gaussian kernel with a Newton–Schulz inverse, NaLaFormer's norm-aware map, …): a
feature map is a callable passed to :func:`linear_attention`; anything else is a new function with the same
contract ``f(q, k, v, *, causal=False, key_mask=None) -> (B, H, N, d_v)``, validated by :func:`check_qkv`, with
its quadratic reference beside it, in the paper's method module. :func:`cost_sweep` and
``simrepro.models.tiny_transformer`` take any such callable.

Cost sweep: :func:`cost_sweep` times each attention (interleaved medians: every repeat runs each method once,
in rotating order, so a busy machine slows all alike) and measures its peak memory (CUDA: the allocator's peak;
CPU: the process's resident high-water mark above the level before the call, reset first through
``/proc/self/clear_refs`` after ``malloc_trim`` — the method of ``benchmarks.common.peak_rss_bytes``), over a list
of sequence lengths; :func:`loglog_slope` fits the scaling exponent and :func:`plot_cost_sweep` draws the
figure every wave-3 paper reuses.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

_FLOATS = (torch.float32, torch.float64)
_SDPA_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)

FEATURE_MAPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "elu1": lambda x: F.elu(x) + 1.0,        # Katharopoulos et al. 2020
    "relu": F.relu,
    "sigmoid": torch.sigmoid,                # Flowformer's φ
    "exp": torch.exp,
}


# --------------------------------------------------------------------------------------------- validation
def check_qkv(q, k, v, key_mask=None, *, causal: bool = False, dtypes=_FLOATS, check_finite: bool = True):
    """Validate (B, H, N, d) / (B, H, M, d) / (B, H, M, d_v) and the (B, M) bool mask; return the mask or None."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch tensor of shape (B, H, N, d), got {type(t).__name__}; "
                            f"convert with torch.as_tensor")
        if t.ndim != 4:
            raise ValueError(f"{name}: expected 4 dimensions (B, H, N, d), got shape {tuple(t.shape)}; "
                             f"add batch/head axes with x[None, None]")
        if t.dtype not in dtypes:
            raise TypeError(f"{name}: dtype {t.dtype} not supported here (use one of {list(dtypes)}; "
                            f"convert with .float())")
    if not (q.dtype == k.dtype == v.dtype):
        raise TypeError(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    B, H, N, d = q.shape
    if k.shape[:2] != (B, H) or v.shape[:2] != (B, H):
        raise ValueError(f"batch and head axes differ: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    if k.shape[3] != d:
        raise ValueError(f"q has head dimension {d} but k has {k.shape[3]}; both must be (·, ·, ·, d)")
    if v.shape[2] != k.shape[2]:
        raise ValueError(f"k has {k.shape[2]} tokens but v has {v.shape[2]}; keys and values must pair up")
    if d == 0:
        raise ValueError("head dimension d = 0: nothing to attend with")
    if causal and N != k.shape[2]:
        raise ValueError(f"causal attention needs as many queries as keys, got N={N}, M={k.shape[2]}")
    if check_finite:
        for name, t in (("q", q), ("k", k), ("v", v)):
            # NaN and ±inf propagate through amax/amin: two reductions, no boolean temporary
            if t.numel() and not (bool(torch.isfinite(t.amax())) and bool(torch.isfinite(t.amin()))):
                raise ValueError(f"{name} contains NaN or inf; check the layer that produced it")
    if key_mask is None:
        return None
    if not isinstance(key_mask, torch.Tensor) or key_mask.dtype != torch.bool:
        raise TypeError("key_mask: expected a bool tensor (B, M) with True = valid key; build it with lengths[:, None] "
                        "> torch.arange(M)")
    if tuple(key_mask.shape) != (B, k.shape[2]):
        raise ValueError(f"key_mask: expected shape (B, M) = {(B, k.shape[2])}, got {tuple(key_mask.shape)}")
    return key_mask.to(q.device)


def _bool_mask(N: int, M: int, key_mask, causal: bool, device) -> torch.Tensor | None:
    """(B or 1, 1, N, M) bool mask of allowed (query, key) pairs, or None when every pair is allowed."""
    allowed = None
    if causal:
        allowed = torch.ones(N, M, dtype=torch.bool, device=device).tril()[None, None]
    if key_mask is not None:
        km = key_mask[:, None, None, :]
        allowed = km if allowed is None else allowed & km
    return allowed


# --------------------------------------------------------------------------------------------- softmax
def softmax_attention_reference(q, k, v, *, causal: bool = False, key_mask=None, scale: float | None = None):
    """softmax(QKᵀ·scale + mask) V with the (B, H, N, M) score matrix formed explicitly; scale = 1/√d by default.
    Rows with no allowed key give 0."""
    key_mask = check_qkv(q, k, v, key_mask, causal=causal)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q * scale) @ k.transpose(-2, -1)                              # (B, H, N, M): the one N×M product
    allowed = _bool_mask(q.shape[2], k.shape[2], key_mask, causal, q.device)
    if allowed is not None:
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if allowed is not None:
        weights = torch.nan_to_num(weights, nan=0.0)                        # all -inf row → 0
    return weights @ v


def softmax_attention(q, k, v, *, causal: bool = False, key_mask=None, scale: float | None = None,
                      check_finite: bool = True):
    """The same contract as :func:`softmax_attention_reference` through
    ``torch.nn.functional.scaled_dot_product_attention`` (fused; no (N, M) matrix on its flash paths).
    ``check_finite=False`` skips the NaN scan (one pass over the inputs) inside training loops."""
    key_mask = check_qkv(q, k, v, key_mask, causal=causal, dtypes=_SDPA_FLOATS, check_finite=check_finite)
    if q.shape[2] == 0 or k.shape[2] == 0:
        return q.new_zeros(*q.shape[:3], v.shape[-1])
    if key_mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)
    allowed = _bool_mask(q.shape[2], k.shape[2], key_mask, causal, q.device)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=scale)
    empty = ~allowed.any(dim=-1, keepdim=True)                              # (B, 1|H, N, 1) rows with no key
    return out.masked_fill(empty, 0.0) if bool(empty.any()) else out


# --------------------------------------------------------------------------------------------- linear
def _features(x: torch.Tensor, feature_map) -> torch.Tensor:
    if callable(feature_map):
        return feature_map(x)
    try:
        return FEATURE_MAPS[feature_map](x)
    except KeyError:
        raise ValueError(f"feature_map {feature_map!r} unknown; use one of {sorted(FEATURE_MAPS)} or pass a "
                         f"callable (B, H, N, d) -> (B, H, N, d') with non-negative output") from None


def _qk_features(q, k, feature_map, key_feature_map):
    """(φ(q), ψ(k)) with ψ = ``key_feature_map`` or, when None, φ = ``feature_map``; same feature dimension."""
    qf = _features(q, feature_map)
    kf = _features(k, feature_map if key_feature_map is None else key_feature_map)
    if qf.shape[-1] != kf.shape[-1]:
        raise ValueError(f"query features have dimension {qf.shape[-1]} but key features {kf.shape[-1]}: "
                         f"feature_map and key_feature_map must map (·, d) to the same (·, d')")
    return qf, kf


def linear_attention_reference(q, k, v, *, feature_map="elu1", key_feature_map=None, causal: bool = False,
                               key_mask=None, eps: float = 1e-6):
    """A = φ(Q)ψ(K)ᵀ (B, H, N, M), masked entries set to 0, out = A V / (A·1 + ε): the quadratic form.
    ψ = ``key_feature_map``, by default φ = ``feature_map``."""
    key_mask = check_qkv(q, k, v, key_mask, causal=causal)
    qf, kf = _qk_features(q, k, feature_map, key_feature_map)
    a = qf @ kf.transpose(-2, -1)
    allowed = _bool_mask(q.shape[2], k.shape[2], key_mask, causal, q.device)
    if allowed is not None:
        a = a.masked_fill(~allowed, 0.0)
    return (a @ v) / (a.sum(-1, keepdim=True) + eps)


def linear_attention(q, k, v, *, feature_map="elu1", key_feature_map=None, causal: bool = False, key_mask=None,
                     eps: float = 1e-6, chunk: int = 64, check_finite: bool = True):
    """φ(Q)(ψ(K)ᵀV) / (φ(Q)(ψ(K)ᵀ1) + ε): linear in N and M; ψ = ``key_feature_map``, by default φ =
    ``feature_map``. ``chunk`` = tokens per block of the causal scan (larger: fewer sequential steps, O(chunk²)
    more memory per block)."""
    key_mask = check_qkv(q, k, v, key_mask, causal=causal, check_finite=check_finite)
    if chunk < 1:
        raise ValueError(f"chunk must be ≥ 1, got {chunk}")
    qf, kf = _qk_features(q, k, feature_map, key_feature_map)
    if key_mask is not None:
        kf = kf * key_mask[:, None, :, None].to(kf.dtype)                   # a padded key carries no flow
    if not causal:
        kv = kf.transpose(-2, -1) @ v                                       # (B, H, d', d_v)
        z = kf.sum(dim=2)                                                   # (B, H, d')
        return (qf @ kv) / (qf @ z[..., None] + eps)                        # normaliser as one mat-vec
    B, H, N, _ = qf.shape
    out = v.new_empty(B, H, N, v.shape[-1])
    state = v.new_zeros(B, H, kf.shape[-1], v.shape[-1])                    # Σ_{j < chunk start} φ(k_j) v_jᵀ
    zsum = v.new_zeros(B, H, kf.shape[-1])                                  # Σ_{j < chunk start} φ(k_j)
    for s in range(0, N, chunk):
        e = min(s + chunk, N)
        qc, kc, vc = qf[:, :, s:e], kf[:, :, s:e], v[:, :, s:e]
        a = (qc @ kc.transpose(-2, -1)).tril()                              # within-chunk causal block
        num = a @ vc + qc @ state
        den = a.sum(-1) + (qc * zsum[:, :, None, :]).sum(-1)
        out[:, :, s:e] = num / (den[..., None] + eps)
        state = state + kc.transpose(-2, -1) @ vc
        zsum = zsum + kc.sum(dim=2)
    return out


# --------------------------------------------------------------------------------------------- flow
def _flow_check(q, k, v, key_mask, causal, feature_map):
    key_mask = check_qkv(q, k, v, key_mask, causal=causal)
    if causal and key_mask is not None:
        raise ValueError("causal flow attention takes no key_mask (the official causal form has no padding); "
                         "pad at the end of each sequence and ignore the padded outputs instead")
    return key_mask, _features(q, feature_map), _features(k, feature_map)


def _counts(mask, n: int, like: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1) number of valid tokens (n everywhere when mask is None)."""
    if mask is None:
        return like.new_full((1, 1, 1), float(n))
    return mask.sum(-1).to(like.dtype)[:, None, None]


def flow_attention_reference(q, k, v, *, causal: bool = False, key_mask=None, query_mask=None,
                             eps: float = 1e-6, feature_map="sigmoid"):
    """Flow-Attention with the flow-capacity matrix F = φ(Q)φ(K)ᵀ (B, H, N, M) formed explicitly and every
    incoming/outgoing flow taken as a row/column sum of F (module docstring). ``query_mask`` (B, N), True = valid
    query, removes padded queries from the sources' outgoing flow (default: ``key_mask`` when N = M, else all);
    padded query rows return 0."""
    key_mask, Q, K = _flow_check(q, k, v, key_mask, causal, feature_map)
    query_mask = _query_mask(q, k, key_mask, query_mask)
    N, M = Q.shape[2], K.shape[2]
    qm = None if query_mask is None else query_mask[:, None, :, None].to(Q.dtype)   # (B, 1, N, 1)
    km = None if key_mask is None else key_mask[:, None, :, None].to(K.dtype)       # (B, 1, M, 1)
    Qz = Q if qm is None else Q * qm                                                 # padded tokens carry no flow
    Kz = K if km is None else K * km
    # (Q_i + ε)·(Σ_j K_j + ε) = Σ_j F^ε_ij + ε·Σ_d(Q_id + ε), with F^ε = (Q + ε)Kᵀ over the valid j
    F_in = (Q + eps) @ Kz.transpose(-2, -1)                                          # (B, H, N, M)
    F_out = (K + eps) @ Qz.transpose(-2, -1)                                         # (B, H, M, N)
    eps_q = eps * (Q + eps).sum(-1, keepdim=True)                                    # (B, H, N, 1)
    eps_k = eps * (K + eps).sum(-1, keepdim=True)                                    # (B, H, M, 1)
    if causal:
        tri = torch.ones(N, N, dtype=Q.dtype, device=Q.device).tril()
        F_in, F_out = F_in * tri, F_out * tri                                        # j ≤ i; i ≤ j
        count = torch.arange(1, N + 1, dtype=Q.dtype, device=Q.device)[None, None, :, None]
        incoming = count / (F_in.sum(-1, keepdim=True) + eps_q)
        outgoing = count / (F_out.sum(-1, keepdim=True) + eps_k)
        cons_sink = (F_in @ outgoing + eps_q) / count
        cons_source = ((F_out @ incoming + eps_k) / count).clamp(-1.0, 1.0)
        e = torch.exp(cons_source)
        competition = e / (tri @ e) * count                                          # prefix-normalised softmax
        flow = (Q @ K.transpose(-2, -1)) * tri                                       # F_ij, j ≤ i
        return torch.sigmoid(cons_sink) * (incoming / count) * (flow @ (v * competition))
    n = _counts(query_mask, N, Q)[..., None]                                         # (B|1, 1, 1, 1)
    m = _counts(key_mask, M, Q)[..., None]
    incoming = 1.0 / (F_in.sum(-1, keepdim=True) + eps_q)                            # I_i (B, H, N, 1)
    outgoing = 1.0 / (F_out.sum(-1, keepdim=True) + eps_k)                           # O_j (B, H, M, 1)
    if km is not None:
        outgoing = outgoing * km
    cons_sink = F_in @ outgoing + eps_q                                              # Î_i
    cons_source = (F_out @ incoming + eps_k).clamp(-1.0, 1.0)                        # Ô_j
    allocation = torch.sigmoid(cons_sink * (n / m))
    if km is not None:
        cons_source = cons_source.masked_fill(km == 0, float("-inf"))
    competition = torch.softmax(cons_source, dim=2) * m                              # over the M sources
    flow = Q @ Kz.transpose(-2, -1)                                                  # F_ij over the valid keys
    out = allocation * incoming * (flow @ (v * competition))
    return out if qm is None else out * qm


def _query_mask(q, k, key_mask, query_mask):
    if query_mask is None:
        return key_mask if (key_mask is not None and q.shape[2] == k.shape[2]) else None
    if not isinstance(query_mask, torch.Tensor) or query_mask.dtype != torch.bool:
        raise TypeError("query_mask: expected a bool tensor (B, N) with True = valid query")
    if tuple(query_mask.shape) != (q.shape[0], q.shape[2]):
        raise ValueError(f"query_mask: expected shape (B, N) = {(q.shape[0], q.shape[2])}, "
                         f"got {tuple(query_mask.shape)}")
    return query_mask.to(q.device)


def flow_attention(q, k, v, *, causal: bool = False, key_mask=None, query_mask=None, eps: float = 1e-6,
                   feature_map="sigmoid", check_finite: bool = True):
    """Flow-Attention in O((N + M)·d·d_v): the contract of :func:`flow_attention_reference`, every sum over the
    flow matrix taken through Σ_j φ(k_j) or its prefix sums (module docstring). Non-causal memory O((N + M)·d);
    causal keeps the official cumulative-sum form, O(N·d·d_v) memory."""
    if check_finite:
        key_mask, Q, K = _flow_check(q, k, v, key_mask, causal, feature_map)
    else:
        key_mask = check_qkv(q, k, v, key_mask, causal=causal, check_finite=False)
        Q, K = _features(q, feature_map), _features(k, feature_map)
    query_mask = _query_mask(q, k, key_mask, query_mask)
    N, M = Q.shape[2], K.shape[2]
    if causal:
        count = torch.arange(1, N + 1, dtype=Q.dtype, device=Q.device)[None, None, :]
        incoming = count / ((Q + eps) * (K.cumsum(2) + eps)).sum(-1)                    # (B, H, N)
        outgoing = count / ((K + eps) * (Q.cumsum(2) + eps)).sum(-1)
        cons_sink = ((Q + eps) * ((K * outgoing[..., None]).cumsum(2) + eps)).sum(-1) / count
        cons_source = (((K + eps) * ((Q * incoming[..., None]).cumsum(2) + eps)).sum(-1) / count).clamp(-1.0, 1.0)
        allocation = torch.sigmoid(cons_sink)
        e = torch.exp(cons_source)
        competition = e / e.cumsum(-1) * count
        kv = (K[..., :, None] * (v * competition[..., None])[..., None, :]).cumsum(2)  # (B, H, N, d', d_v)
        num = (Q[..., :, None] * kv).sum(-2)
        return num * (allocation * incoming / count)[..., None]
    qm = None if query_mask is None else query_mask[:, None, :].to(Q.dtype)                # (B, 1, N)
    km = None if key_mask is None else key_mask[:, None, :].to(K.dtype)                  # (B, 1, M)
    n = _counts(query_mask, N, Q)                                                        # (B|1, 1, 1)
    m = _counts(key_mask, M, Q)
    Qt, Kt = Q.transpose(-2, -1), K.transpose(-2, -1)                                    # (B, H, d', ·)

    def flow_to(x, s):
        """(x_i + ε)·(s + ε) for every row x_i of x (B, H, L, d') and one vector s (B, H, d') per head, as one
        matrix-vector product plus a scalar: x_i·(s + ε) + ε·Σ(s + ε); no (L, d') temporary."""
        s = s + eps
        return (x @ s[..., None])[..., 0] + eps * s.sum(-1, keepdim=True)

    def total(xt, w):
        """Σ_l w_l x_l = xᵀw per head: xt (B, H, d', L), w (B, H, L) → (B, H, d')."""
        return (xt @ w[..., None])[..., 0]

    ones_q = Q.new_ones(1, 1, N) if qm is None else qm
    ones_k = K.new_ones(1, 1, M) if km is None else km
    # (1) incoming flow of sinks, outgoing flow of sources; padded tokens carry no flow
    incoming = 1.0 / flow_to(Q, total(Kt, ones_k.expand(*K.shape[:3])))                 # I_i (B, H, N)
    outgoing = 1.0 / flow_to(K, total(Qt, ones_q.expand(*Q.shape[:3])))                 # O_j (B, H, M)
    if km is not None:
        outgoing = outgoing * km
    inc_src = incoming if qm is None else incoming * qm
    # (2) conservation: the other side's flow fixed at 1
    cons_sink = flow_to(Q, total(Kt, outgoing))                                          # Î_i
    cons_source = flow_to(K, total(Qt, inc_src)).clamp(-1.0, 1.0)                        # Ô_j
    # (3) competition among sources, allocation to sinks
    allocation = torch.sigmoid(cons_sink * (n / m))
    if km is not None:
        cons_source = cons_source.masked_fill(km == 0, float("-inf"))
    competition = torch.softmax(cons_source, dim=-1) * m                                 # 0 on padded keys
    # (4) aggregation through Σ_j K_j (v_j c_j)ᵀ
    kv = Kt @ (v * competition[..., None])                                               # (B, H, d', d_v)
    out = (Q @ kv) * (incoming * allocation)[..., None]
    return out if qm is None else out * qm[..., None]


# --------------------------------------------------------------------------------------------- cost sweep
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_memory_bytes(fn: Callable[[], object], device: str = "cpu") -> float:
    """Peak memory ``fn()`` adds above the level before the call, bytes. CUDA: ``torch.cuda.max_memory_allocated``
    after a reset. CPU (Linux): resident high-water mark after ``malloc_trim`` and a ``clear_refs`` reset, so
    memory freed by earlier calls cannot hide the peak; NaN where /proc does not allow it."""
    import ctypes
    import gc

    gc.collect()
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        result = fn()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated()
        del result
        return float(peak - before)
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _rss_kib("VmRSS")
    except OSError:
        return float("nan")
    result = fn()
    peak = _rss_kib("VmHWM")
    del result
    return max(0, peak - before) * 1024.0


def cost_sweep(methods: dict[str, Callable], ns, *, batch: int = 1, heads: int = 1, dim: int = 64,
               causal: bool = False, repeats: int = 5, warmup: int = 1, dtype=torch.float32, device: str = "cpu",
               seed: int = 0, max_seconds: float | None = None, min_block_s: float = 0.02) -> list[dict]:
    """Time and peak memory of each ``methods[name](q, k, v, causal=causal)`` over sequence lengths ``ns``.

    Inputs: q, k, v ~ N(0, 1) of shape (batch, heads, n, dim), drawn once per n with ``seed``. For each n the
    methods are timed in alternation (``repeats`` rounds after ``warmup``, median seconds per call; a method
    whose median exceeded ``max_seconds`` at a smaller n is skipped from then on, its rows keep NaN), each
    repeat a block of calls lasting about ``min_block_s`` (sized from the warm-up calls; at least one) so that
    millisecond calls are not timed one by one against the scheduler's time slices; then each one's peak memory
    is measured once (:func:`peak_memory_bytes`). Returns rows
    ``{method, n, time_s, peak_bytes, tokens_per_s}``, one per (method, n), in the order of ``ns``."""
    ns = [int(n) for n in ns]
    if not ns or min(ns) < 1:
        raise ValueError(f"ns must be a non-empty list of sequence lengths ≥ 1, got {ns}")
    if repeats < 1 or warmup < 0:
        raise ValueError(f"repeats must be ≥ 1 and warmup ≥ 0, got {repeats}, {warmup}")
    cuda = str(device).startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    slow: set[str] = set()
    rows = []
    for n in ns:
        g = torch.Generator().manual_seed(seed + n)
        q, k, v = (torch.randn(batch, heads, n, dim, generator=g, dtype=dtype).to(device) for _ in range(3))
        live = [name for name in methods if name not in slow]
        calls = {name: (lambda f=methods[name]: f(q, k, v, causal=causal)) for name in live}
        times: dict[str, list[float]] = {name: [] for name in live}
        block = {name: 1 for name in live}                                   # calls per timed block
        with torch.no_grad():
            for w in range(max(warmup, 1)):
                for name in live:
                    start = time.perf_counter()
                    calls[name]()
                    sync()
                    t = time.perf_counter() - start
                    block[name] = max(block[name] if w else 1, math.ceil(min_block_s / max(t, 1e-9)))
            for r in range(repeats):
                for name in live[r % len(live):] + live[:r % len(live)] if live else []:
                    start = time.perf_counter()
                    for _ in range(block[name]):
                        calls[name]()
                    sync()
                    times[name].append((time.perf_counter() - start) / block[name])
            for name in methods:
                if name in live:
                    t = statistics.median(times[name])
                    mem = peak_memory_bytes(calls[name], device)
                    if max_seconds is not None and t > max_seconds:
                        slow.add(name)
                else:
                    t, mem = float("nan"), float("nan")
                rows.append({"method": name, "n": n, "time_s": t, "peak_bytes": mem,
                             "tokens_per_s": batch * n / t if t == t and t > 0 else float("nan")})
    return rows


def loglog_slope(rows: list[dict], method: str, key: str = "time_s", min_n: int | None = None) -> float:
    """Least-squares slope of log(key) against log(n) over ``method``'s rows with n ≥ ``min_n`` (finite, > 0
    values only): ≈ 1 for linear, ≈ 2 for quadratic cost. NaN with fewer than two usable points."""
    pts = [(r["n"], r[key]) for r in rows if r["method"] == method and (min_n is None or r["n"] >= min_n)
           and r[key] == r[key] and r[key] > 0]
    if len(pts) < 2:
        return float("nan")
    x = torch.tensor([math.log(p[0]) for p in pts], dtype=torch.float64)
    y = torch.tensor([math.log(p[1]) for p in pts], dtype=torch.float64)
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


def plot_cost_sweep(rows: list[dict], axes=None, title: str = ""):
    """Two log-log panels: time per call and peak memory against n, one line per method. Returns the axes."""
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for name in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == name]
        ns = [r["n"] for r in mine]
        axes[0].plot(ns, [r["time_s"] * 1e3 for r in mine], "o-", label=name)
        axes[1].plot(ns, [r["peak_bytes"] / 2 ** 20 for r in mine], "o-", label=name)
    for ax, ylabel in zip(axes, ("time per call (ms)", "peak memory (MiB)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length N")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        axes[0].figure.suptitle(title)
    return axes
