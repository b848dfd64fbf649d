r"""NaLaFormer — norm-aware linear attention (Meng et al., arXiv 2506.21137; ICML 2026 as "Norm × Direction:
Restoring the Missing Query Norm in Vision Linear Attention"; github.com/ZacharyMeng/NaLaFormer).

The diagnosis (abstract): L1-normalised linear attention out_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j)
cancels the query norm whenever φ is positively homogeneous (φ(c·q) = c^a φ(q), e.g. ReLU), so the weights — and
their entropy — no longer depend on ‖q‖, while in softmax attention a larger ‖q‖ gives a spikier (lower-entropy)
row; and ReLU-type maps zero the negative coordinates, losing inner-product terms.

The fix, as the official code computes it (``NaLaformer/NALA.py``, class ``NormAwareLinearAttn``, ``forward``,
lines 105–131 of commit 1f1c10a; shapes (B, H, N, d)):
- keys: k ← k³ (elementwise), φ_K(k) = [ReLU(k³), ReLU(−k³)]  (2d features);
- queries: norm ‖q‖ and direction q̂ = q/‖q‖, power p(q) = 3·(0.5 + tanh ‖q‖) ∈ [1.5, 4.5),
  φ_Q(q) = [ReLU(q̂)^p, ReLU(−q̂)^p]  — the query norm now sets the sharpness through p;
- out_i = φ_Q(q_i) Σ_j φ_K(k_j) v_jᵀ / (φ_Q(q_i) · Σ_j φ_K(k_j) + ε)  (the official divides both sums by N and
  adds ε = 1e-6 to the mean; we add ε to the sum, as :func:`simrepro.kernels.attention.linear_attention` does).
Positive and negative parts pair with their own sign (q̂⁺ with k⁺, q̂⁻ with k⁻), so negative coordinates keep
contributing instead of being zeroed. Not reproduced here: the rotary position shift the official code applies to
the numerator's features only (lines 119–125), and the block around the attention (LePE depth-wise convolution,
output gate, LayerNorm), which are architecture, not the attention map.

Because the query and key maps differ, :func:`nala_attention` hands φ_Q to ``linear_attention`` as its
``feature_map`` and φ_K as its ``key_feature_map``; the cost stays O(N·d·d_v). :func:`nala_attention_reference`
does the same through ``linear_attention_reference`` (the (N, M) matrix formed). :func:`attention_weights` gives
the row-normalised weights of softmax / linear / NaLa attention for the entropy-against-query-scale diagnosis.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from simrepro.kernels.attention import FEATURE_MAPS, linear_attention, linear_attention_reference

__all__ = ["nala_query_features", "nala_key_features", "nala_power", "nala_attention", "nala_attention_reference",
           "attention_weights", "entropy", "norm_entropy"]


def _check(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError(f"{name}: expected a tensor (…, N, d), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf; check the layer that produced it")


def nala_power(q: torch.Tensor) -> torch.Tensor:
    """p = 3·(0.5 + tanh ‖q‖) (…, N, 1): the query-norm-aware exponent (official line 115)."""
    return 3.0 * (0.5 + torch.tanh(torch.linalg.vector_norm(q, dim=-1, keepdim=True)))


def nala_query_features(q: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """φ_Q(q) = [ReLU(q̂)^p, ReLU(−q̂)^p] (…, N, 2d), q̂ = q/‖q‖, p = :func:`nala_power`. A zero query has no
    direction: its features are 0 (the official code would divide by 0), so its output row is 0."""
    if check:
        _check(q, "q")
    norm = torch.linalg.vector_norm(q, dim=-1, keepdim=True)
    direction = q / norm.clamp_min(torch.finfo(q.dtype).tiny)
    p = 3.0 * (0.5 + torch.tanh(norm))
    return torch.cat([F.relu(direction) ** p, F.relu(-direction) ** p], dim=-1)


def nala_key_features(k: torch.Tensor, *, check: bool = True) -> torch.Tensor:
    """φ_K(k) = [ReLU(k³), ReLU(−k³)] (…, M, 2d) (official lines 105–109)."""
    if check:
        _check(k, "k")
    k3 = k ** 3
    return torch.cat([F.relu(k3), F.relu(-k3)], dim=-1)


# the kernel's check_qkv validates q, k (shape, dtype, NaN / inf when check_finite) before the maps run
_QUERY_MAP = functools.partial(nala_query_features, check=False)
_KEY_MAP = functools.partial(nala_key_features, check=False)


def nala_attention(q, k, v, *, causal: bool = False, key_mask=None, eps: float = 1e-6, chunk: int = 64,
                   check_finite: bool = True):
    """Norm-aware linear attention in O(N·d·d_v): ``linear_attention`` with ``feature_map`` φ_Q and
    ``key_feature_map`` φ_K (the contract of :mod:`simrepro.kernels.attention`: (B, H, N, d) → (B, H, N, d_v),
    key_mask True = real)."""
    return linear_attention(q, k, v, feature_map=_QUERY_MAP, key_feature_map=_KEY_MAP, causal=causal,
                            key_mask=key_mask, eps=eps, chunk=chunk, check_finite=check_finite)


def nala_attention_reference(q, k, v, *, causal: bool = False, key_mask=None, eps: float = 1e-6):
    """The quadratic form: A = φ_Q(Q) φ_K(K)ᵀ (N, M) formed, masked, out = A V / (A·1 + ε)."""
    return linear_attention_reference(q, k, v, feature_map=_QUERY_MAP, key_feature_map=_KEY_MAP, causal=causal,
                                      key_mask=key_mask, eps=eps)


def attention_weights(q: torch.Tensor, k: torch.Tensor, method: str) -> torch.Tensor:
    """Row-normalised weights (…, N, M) of ``method``: ``"softmax"`` softmax(q·k/√d), ``"nala"`` (φ_Q, φ_K as
    above), or a name of :data:`simrepro.kernels.attention.FEATURE_MAPS` (``"relu"``, ``"elu1"``, …) for
    φ(q)·φ(k) / Σ_j. Rows whose weights are all 0 come back all 0."""
    _check(q, "q")
    _check(k, "k")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k need the same last dimension, got {q.shape[-1]} and {k.shape[-1]}")
    if method == "softmax":
        return torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
    if method == "nala":
        a = nala_query_features(q) @ nala_key_features(k).transpose(-2, -1)
    elif method in FEATURE_MAPS:
        f = FEATURE_MAPS[method]
        a = f(q) @ f(k).transpose(-2, -1)
    else:
        raise ValueError(f"method {method!r} unknown; use 'softmax', 'nala' or one of {sorted(FEATURE_MAPS)}")
    return a / a.sum(-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)


def entropy(weights: torch.Tensor) -> torch.Tensor:
    """Normalised Shannon entropy of each row, H(w_i)/log M (…, N); 0 = one key, 1 = uniform. Rows must sum to 1
    (or be all 0, entropy 0)."""
    M = weights.shape[-1]
    if M < 2:
        raise ValueError(f"entropy over fewer than 2 keys is undefined (M = {M})")
    return -torch.xlogy(weights, weights).sum(-1) / math.log(M)


def norm_entropy(attention, q: torch.Tensor, k: torch.Tensor, key_mask: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """(‖q_i‖, H_i) over the real query rows: the norm of each query head vector and the normalised entropy of the
    row of weights ``attention`` applies to it (read off with V = I, see ``compare.attention_maps``), flattened
    over sequences, heads and real tokens — the paper's Fig. 1 quantities (README lines 45–46)."""
    from simrepro.methods.attention.compare import attention_maps, row_entropy

    maps = attention_maps(attention, q, k, key_mask)
    h, rows = row_entropy(maps, key_mask)
    norms = torch.linalg.vector_norm(q, dim=-1)
    return norms[rows], h[rows]
