r"""Triton kernels for the tiled InfoNCE loss (``simrepro.kernels.contrastive``), after Inf-CL's tile-wise scheme.

Motivation. The naive loss writes the ``(b, b)`` logits ``S = q kᵀ`` to memory, reads them back for the
softmax, and writes a ``(b, b)`` gradient in the backward: O(b²) memory and traffic. Here a program owns
``BLOCK_M`` rows, streams ``BLOCK_N`` rows of the other operand through on-chip memory and keeps only
running statistics, so global memory holds O(b·d) inputs/outputs and O(b) log-sum-exps.

- ``row_lse(a, b, scale)``: with logits ``s_ij = scale · a_i · b_j``, ``lse_i = log Σ_j exp(s_ij)`` and
  ``nll_i = lse_i − s_ii``, each (b,). Online: for each column block, ``m' = max(m, max_j s_ij)``,
  ``l' = l·exp(m − m') + Σ_j exp(s_ij − m')``; then lse = m + log l. Column statistics are ``row_lse(k, q)``.
- ``softmax_weighted_matmul(a, b, scale, lse_a, lse_b, w_a, w_b)``: ``out_i = Σ_j A_ij b_j`` with
  ``A_ij = w_a·exp(s_ij − lse_a_i) + w_b·exp(s_ij − lse_b_j)``, (n_a, d): the softmax part of the backward,
  ∂L/∂q = A k − c·k (and ∂L/∂k with the roles swapped); the −c·I part is added by the caller.

Dot products use ``input_precision="ieee"`` (no TF32), so float32 results match a float32 PyTorch matmul's
accuracy; float64 is supported. The full feature dimension sits in one block (``BLOCK_D = next_pow2(d)``):
fine for d ≤ 512, larger d would need a loop over d. Block sizes are untuned: this session had no GPU, the
kernels were run only under ``TRITON_INTERPRET=1`` on CPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

BLOCK_M = 32
BLOCK_N = 32


def _block_d(d: int) -> int:
    return max(16, triton.next_power_of_2(d))


@triton.jit
def _row_lse_kernel(a_ptr, b_ptr, lse_ptr, nll_ptr, n_a, n_b, d, stride_a, stride_b, scale,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, BLOCK_D)
    a = tl.load(a_ptr + rows[:, None] * stride_a + dims[None, :],
                mask=(rows[:, None] < n_a) & (dims[None, :] < d), other=0.0)          # (BLOCK_M, BLOCK_D)
    m = tl.full([BLOCK_M], float("-inf"), a.dtype)                                      # running max
    l = tl.zeros([BLOCK_M], a.dtype)                                                    # running Σ exp(s − m)
    pos = tl.zeros([BLOCK_M], a.dtype)                                                  # s_ii, seen once
    for start in range(0, n_b, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        bt = tl.load(b_ptr + cols[None, :] * stride_b + dims[:, None],
                     mask=(cols[None, :] < n_b) & (dims[:, None] < d), other=0.0)       # (BLOCK_D, BLOCK_N)
        s = tl.dot(a, bt, input_precision="ieee") * scale                                # (BLOCK_M, BLOCK_N) logits
        s = tl.where(cols[None, :] < n_b, s, float("-inf"))
        pos += tl.sum(tl.where(cols[None, :] == rows[:, None], s, 0.0), 1)
        m_new = tl.maximum(m, tl.max(s, 1))
        l = l * tl.exp(m - m_new) + tl.sum(tl.exp(s - m_new[:, None]), 1)
        m = m_new
    log_l = tl.log(l)
    tl.store(lse_ptr + rows, m + log_l, mask=rows < n_a)
    tl.store(nll_ptr + rows, (m - pos) + log_l, mask=rows < n_a)                       # no cancellation


@triton.jit
def _softmax_weighted_matmul_kernel(a_ptr, b_ptr, lse_a_ptr, lse_b_ptr, out_ptr, n_a, n_b, d,
                                    stride_a, stride_b, stride_o, scale, w_a, w_b,
                                    USE_A: tl.constexpr, USE_B: tl.constexpr,
                                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, BLOCK_D)
    row_ok = rows < n_a
    a = tl.load(a_ptr + rows[:, None] * stride_a + dims[None, :],
                mask=row_ok[:, None] & (dims[None, :] < d), other=0.0)                  # (BLOCK_M, BLOCK_D)
    acc = tl.zeros([BLOCK_M, BLOCK_D], a.dtype)
    if USE_A:
        lse_a = tl.load(lse_a_ptr + rows, mask=row_ok, other=0.0)                        # (BLOCK_M,)
    for start in range(0, n_b, BLOCK_N):
        cols = start + tl.arange(0, BLOCK_N)
        col_ok = cols < n_b
        bt = tl.load(b_ptr + cols[None, :] * stride_b + dims[:, None],
                     mask=col_ok[None, :] & (dims[:, None] < d), other=0.0)             # (BLOCK_D, BLOCK_N)
        s = tl.dot(a, bt, input_precision="ieee") * scale                                # recomputed logits
        p = tl.zeros([BLOCK_M, BLOCK_N], a.dtype)
        if USE_A:
            p += w_a * tl.exp(s - lse_a[:, None])                                        # row softmax
        if USE_B:
            lse_b = tl.load(lse_b_ptr + cols, mask=col_ok, other=0.0)
            p += w_b * tl.exp(s - lse_b[None, :])                                        # column softmax
        p = tl.where(col_ok[None, :], p, 0.0)
        acc += tl.dot(p, tl.trans(bt), input_precision="ieee")                           # A_blk · b_blk
    tl.store(out_ptr + rows[:, None] * stride_o + dims[None, :], acc,
             mask=row_ok[:, None] & (dims[None, :] < d))


def row_lse(a: torch.Tensor, b: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lse, nll)`` for ``(b, d) × (b, d)``, each (b,): with ``s_ij = scale · a_i · b_j``,
    ``lse_i = log Σ_j exp(s_ij)`` and ``nll_i = lse_i − s_ii`` evaluated as ``(m_i − s_ii) + log l_i`` (an exact
    0 bracket when the positive is the row maximum), without forming ``a bᵀ``."""
    a, b = a.contiguous(), b.contiguous()
    lse = torch.empty(a.shape[0], dtype=a.dtype, device=a.device)
    nll = torch.empty_like(lse)
    grid = (triton.cdiv(a.shape[0], BLOCK_M),)
    _row_lse_kernel[grid](a, b, lse, nll, a.shape[0], b.shape[0], a.shape[1], a.stride(0), b.stride(0), float(scale),
                          BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_D=_block_d(a.shape[1]))
    return lse, nll


def softmax_weighted_matmul(a: torch.Tensor, b: torch.Tensor, scale: float, lse_a: torch.Tensor | None,
                            lse_b: torch.Tensor | None, w_a: float, w_b: float) -> torch.Tensor:
    """``out = A b``, ``A_ij = w_a·exp(s_ij − lse_a_i) + w_b·exp(s_ij − lse_b_j)``, ``s_ij = scale·a_i·b_j``;
    a ``None`` lse drops its term. ``(n_a, d) × (n_b, d) → (n_a, d)``."""
    a, b = a.contiguous(), b.contiguous()
    out = torch.empty_like(a)
    grid = (triton.cdiv(a.shape[0], BLOCK_M),)
    _softmax_weighted_matmul_kernel[grid](
        a, b, a if lse_a is None else lse_a.contiguous(), a if lse_b is None else lse_b.contiguous(), out,
        a.shape[0], b.shape[0], a.shape[1], a.stride(0), b.stride(0), out.stride(0), float(scale),
        float(w_a), float(w_b),
        USE_A=lse_a is not None, USE_B=lse_b is not None,
        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_D=_block_d(a.shape[1]))
    return out
