r"""InfoNCE over all pairs of a batch, computed tile by tile (Inf-CL, Cheng et al. 2024, arXiv:2410.17243).

Contract. Queries ``q`` and keys ``k`` are ``(b, d)``; pair ``(q[i], k[i])`` is the positive of row ``i`` and
every other key is a negative. With logits ``S = q kᵀ / τ`` (``(b, b)``),

    L_row = (1/b) Σ_i [ lse_j(S_ij) − S_ii ]                (mean over rows of −log softmax(S)_ii)
    L_col = (1/b) Σ_j [ lse_i(S_ij) − S_jj ]                (the same with queries and keys swapped)
    loss  = L_row, or (L_row + L_col)/2 when ``symmetric`` (CLIP's image→text + text→image loss).

Gradients. With P_row = softmax over rows of S and P_col = softmax over columns, the loss's gradient with
respect to the logits is G = w_r (P_row − I) + w_c (P_col − I) with (w_r, w_c) = (1/b, 0), or (1/2b, 1/2b)
when symmetric; then ∂L/∂q = G k / τ and ∂L/∂k = Gᵀ q / τ. The forward pass keeps only the per-row (and
per-column) log-sum-exp, O(b); the backward pass recomputes the logits tile by tile, so
P = exp(S − lse) never needs the whole matrix (the paper's tile-wise backward).

Layers (each tested against the first):
- ``info_nce_reference``: the naive loss, the full ``(b, b)`` logits and ``cross_entropy``; O(b²) memory.
- ``tiled_info_nce(..., backend="torch")``: an ``autograd.Function`` looping over ``tile_size`` rows of ``q``;
  extra memory O(tile_size · b) (about three ``(tile_size, b)`` blocks live at once), time O(b² d) — one more
  ``b × b × d`` matmul than the naive loss, because the backward recomputes the logits.
- ``tiled_info_nce(..., backend="triton")``: Triton kernels (``kernels/triton/contrastive.py``) with 2-D
  tiles held on chip; extra memory O(b · d). Chosen by ``backend="auto"`` for CUDA tensors.

Numerics: log-sum-exp is computed stably (max subtracted); logits are formed in the input dtype (float32
inputs give float32 logits, like the naive loss). A tensor temperature (CLIP's learnable logit scale) gets
its gradient, ∂L/∂τ = −(1/τ) Σ_i q_i · ∂L/∂q_i, from the custom Function.
"""

from __future__ import annotations

import math
import os
from typing import Callable

import torch
import torch.nn.functional as F

from simrepro.kernels._validate import as_matrix, check_same_dim, common_dtype

BACKENDS = ("auto", "torch", "triton")
_TILE_BYTES = 8 << 20   # default tile: one (tile, b) block of logits ≈ 8 MiB


def _check_inputs(q, k, temperature):
    """Validate once at the public boundary; return tensors of one dtype and a positive temperature."""
    qt = as_matrix(q, "q", allow_empty=False)
    kt = as_matrix(k, "k", allow_empty=False)
    check_same_dim(qt, kt, "q", "k")
    if qt.shape[0] != kt.shape[0]:
        raise ValueError(f"q has {qt.shape[0]} rows but k has {kt.shape[0]}; InfoNCE pairs q[i] with k[i], "
                         f"so both must be (b, d)")
    qt, kt = common_dtype(qt, kt)
    t = temperature.detach() if isinstance(temperature, torch.Tensor) else temperature
    if isinstance(t, torch.Tensor) and t.numel() != 1:
        raise ValueError(f"temperature must be a scalar, got a tensor of shape {tuple(t.shape)}")
    tv = float(t)
    if not (math.isfinite(tv) and tv > 0):
        raise ValueError(f"temperature must be a positive finite number, got {tv}; CLIP uses 0.07 "
                         f"(or exp(-logit_scale))")
    return qt, kt


def _weights(b: int, symmetric: bool) -> tuple[float, float]:
    """(w_r, w_c): the weight of each row's and each column's −log softmax in the loss."""
    return (0.5 / b, 0.5 / b) if symmetric else (1.0 / b, 0.0)


def info_nce_reference(q, k, temperature, *, symmetric: bool = False) -> torch.Tensor:
    """Naive InfoNCE: ``S = q kᵀ/τ`` materialised ``(b, b)``, then ``cross_entropy(S, arange(b))``.

    ``(b, d) × (b, d) → ()``. O(b²) memory; the definition the tiled paths are tested against.
    """
    qt, kt = _check_inputs(q, k, temperature)
    logits = (qt / temperature) @ kt.T                               # (b, b)
    labels = torch.arange(qt.shape[0], device=qt.device)
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, labels))
    return loss


def _default_tile(b: int, itemsize: int) -> int:
    return max(16, min(b, _TILE_BYTES // max(1, b * itemsize)))


def _lse_torch(q: torch.Tensor, k: torch.Tensor, scale: float, tile: int, need_cols: bool):
    """Log-sum-exps and per-row / per-column −log softmax of the positive for S = scale · q kᵀ, a (tile, b) block
    at a time.

    Returns ``(lse_row, nll_row, lse_col, nll_col)``, each (b,) (the column pair ``None`` unless asked).
    ``nll = (max − S_ii) + log Σ exp(S − max)`` rather than ``lse − S_ii``: when the positive is the maximum the
    first bracket is exactly 0, avoiding cancellation for small losses (PyTorch's ``log_softmax`` does the same).
    """
    b = q.shape[0]
    lse_row, nll_row = q.new_empty(b), q.new_empty(b)
    if need_cols:
        col_max = q.new_full((b,), -math.inf)
        col_sum = q.new_zeros(b)
        col_pos = q.new_empty(b)
    for s in range(0, b, tile):
        logits = (q[s:s + tile] * scale) @ k.T                       # (t, b)
        pos = logits.diagonal(offset=s).clone()                      # S_ii of this tile's rows, (t,)
        row_max = logits.max(dim=1).values
        shifted = logits.sub(row_max[:, None]) if need_cols else logits.sub_(row_max[:, None])
        log_sum = torch.log(shifted.exp_().sum(dim=1))
        lse_row[s:s + tile] = row_max + log_sum
        nll_row[s:s + tile] = (row_max - pos) + log_sum
        if need_cols:                                                # online max / rescaled sum over row tiles
            new_max = torch.maximum(col_max, logits.max(dim=0).values)
            col_sum.mul_(torch.exp(col_max - new_max)).add_(torch.exp_(logits.sub_(new_max)).sum(dim=0))
            col_max = new_max
            col_pos[s:s + tile] = pos
    if not need_cols:
        return lse_row, nll_row, None, None
    log_sum = torch.log(col_sum)
    return lse_row, nll_row, col_max + log_sum, (col_max - col_pos) + log_sum


def _softmax_grads_torch(q, k, scale: float, lse_row, lse_col, w_r: float, w_c: float, tile: int):
    """A = w_r·exp(S − lse_row[:, None]) + w_c·exp(S − lse_col[None, :]) with S = scale · q kᵀ; returns
    (A k, Aᵀ q), each (b, d)."""
    b = q.shape[0]
    aq = torch.empty_like(q)
    ak = torch.zeros_like(k)
    for s in range(0, b, tile):
        qs = q[s:s + tile]
        logits = (qs * scale) @ k.T                                  # (t, b), recomputed
        if w_c:                                                      # w·exp(S − lse) = exp(S − (lse − log w))
            a = torch.exp(logits - (lse_row[s:s + tile, None] - math.log(w_r)))
            a.add_(logits.sub_(lse_col[None, :] - math.log(w_c)).exp_())
        else:
            a = logits.sub_(lse_row[s:s + tile, None] - math.log(w_r)).exp_()
        torch.mm(a, k, out=aq[s:s + tile])
        ak.addmm_(a.T, qs)
    return aq, ak


def _lse_triton(q, k, scale, tile, need_cols):
    from simrepro.kernels.triton.contrastive import row_lse
    return (*row_lse(q, k, scale), *(row_lse(k, q, scale) if need_cols else (None, None)))


def _softmax_grads_triton(q, k, scale, lse_row, lse_col, w_r, w_c, tile):
    from simrepro.kernels.triton.contrastive import softmax_weighted_matmul
    aq = softmax_weighted_matmul(q, k, scale, lse_row if w_r else None, lse_col if w_c else None, w_r, w_c)
    ak = softmax_weighted_matmul(k, q, scale, lse_col if w_c else None, lse_row if w_r else None, w_c, w_r)
    return aq, ak


_CORES: dict[str, tuple[Callable, Callable]] = {
    "torch": (_lse_torch, _softmax_grads_torch),
    "triton": (_lse_triton, _softmax_grads_triton),
}


class _TiledInfoNCE(torch.autograd.Function):
    """InfoNCE of S = q kᵀ/τ; saves q, k and the O(b) log-sum-exps, never the logits.

    ∂L/∂τ = −(1/τ) Σ_ij G_ij S_ij = −(1/τ) Σ_i q_i · ∂L/∂q_i, an O(b·d) by-product of ∂L/∂q.
    """

    @staticmethod
    def forward(ctx, q, k, temperature, symmetric: bool, tile: int, backend: str):
        lse, _ = _CORES[backend]
        scale = 1.0 / float(temperature)
        w_r, w_c = _weights(q.shape[0], symmetric)
        lse_row, nll_row, lse_col, nll_col = lse(q, k, scale, tile, symmetric)
        loss = w_r * nll_row.sum()
        if symmetric:
            loss = loss + w_c * nll_col.sum()
        ctx.save_for_backward(q, k, lse_row, lse_col if symmetric else lse_row)
        ctx.config = (scale, symmetric, tile, backend)
        return loss

    @staticmethod
    def backward(ctx, grad):
        q, k, lse_row, lse_col = ctx.saved_tensors
        scale, symmetric, tile, backend = ctx.config
        w_r, w_c = _weights(q.shape[0], symmetric)
        aq, ak = _CORES[backend][1](q, k, scale, lse_row, lse_col, w_r, w_c, tile)
        diag = w_r + w_c                                             # the −I term of G
        dq = aq.sub_(k, alpha=diag).mul_(grad * scale)               # in place: no extra (b, d) buffers
        dk = ak.sub_(q, alpha=diag).mul_(grad * scale)
        dtau = -scale * (q * dq).sum() if ctx.needs_input_grad[2] else None
        return dq, dk, dtau, None, None, None


def _resolve_backend(backend: str, q: torch.Tensor) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if q.is_cuda:
        try:
            import triton  # noqa: F401
            return "triton"
        except ImportError:
            return "torch"
    return "torch"


def tiled_info_nce(q, k, temperature, *, tile_size: int | None = None, symmetric: bool = False,
                   backend: str = "auto") -> torch.Tensor:
    """InfoNCE of ``S = q kᵀ/τ`` (module docstring) without materialising ``S``; equals ``info_nce_reference``.

    ``(b, d) × (b, d) → ()``, differentiable in ``q``, ``k`` and a tensor ``temperature``.
    ``tile_size``: rows of ``q`` per block on the torch path — extra memory ≈ 3·tile_size·b·itemsize, and
    smaller tiles mean more, smaller matmuls; ``None`` keeps one ``(tile, b)`` block near 8 MiB. ``backend``:
    ``"torch"`` (any device), ``"triton"`` (CUDA, or CPU under ``TRITON_INTERPRET=1``; ignores
    ``tile_size``), ``"auto"`` (Triton for CUDA tensors when importable, else torch).
    Raises ``ValueError`` for empty or NaN/inf input, mismatched shapes or temperature ≤ 0.
    """
    qt, kt = _check_inputs(q, k, temperature)
    b = qt.shape[0]
    if tile_size is not None and (int(tile_size) != tile_size or tile_size < 1):
        raise ValueError(f"tile_size must be a positive integer, got {tile_size}")
    tile = int(tile_size) if tile_size is not None else _default_tile(b, qt.element_size())
    chosen = _resolve_backend(backend, qt)
    return _TiledInfoNCE.apply(qt, kt, temperature, symmetric, min(tile, b), chosen)


def peak_allocated_bytes(fn: Callable[[], object]) -> int:
    """Peak bytes held by torch's CPU allocator while ``fn()`` runs, above what was held before it.

    Measured from the profiler's allocation/free events (``profile_memory=True``), replayed in time order:
    exact for torch tensors, blind to memory outside torch. Used to check the O(b·tile) vs O(b²) law.
    Silences Kineto's per-session log lines (``KINETO_LOG_LEVEL=6``) unless the caller has set that variable.
    """
    from torch.profiler import ProfilerActivity, profile

    os.environ.setdefault("KINETO_LOG_LEVEL", "6")

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]" and e.device_type().name == "CPU")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return peak
