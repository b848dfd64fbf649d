r"""Triton kernel for exact top-k search (``simrepro.kernels.topk``): a GEMM tile fused with a k-select.

Motivation. The blocked path writes each (query block × database block) score block to memory and reads it
back to select; for k ≪ nb the selected output is tiny, so that round trip dominates memory traffic
(faiss-GPU's point: k-selection, not the GEMM, limits brute-force search). Here one program owns
``BLOCK_M`` queries × ``BLOCK_N`` database rows:

1. loads x (BLOCK_M, BLOCK_D) and y (BLOCK_N, BLOCK_D) slices, accumulating ``acc = x yᵀ`` over d in
   on-chip memory (``tl.dot``, ``input_precision="ieee"``: no TF32, so float32 ranks match a float32 matmul);
2. adds the per-database-row bias: ``s_ij = acc_ij + b_j`` (b = −‖y‖² for l2 with x pre-scaled by 2);
3. selects the tile's K best per row in registers: K times (row max, its column, mask it to −inf), and writes
   only those (BLOCK_M, K) scores and global ids: nb/BLOCK_N·K candidates per query instead of nb scores.

A second pass (``torch.topk`` over the candidates) merges tiles: exact, since each tile's top-K contains that
tile's share of the global top-k. The register k-select costs O(K·BLOCK_N) per row and tile, so it serves small
k (≤ ``TRITON_MAX_K``); faiss's WarpSelect keeps per-thread queues instead, to reach k ≤ 2048.
Block sizes are untuned: this session had no GPU; the kernel ran only under ``TRITON_INTERPRET=1`` on CPU.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

TRITON_MAX_K = 64
_CANDIDATE_BYTES = 64 << 20        # budget for one query block's candidate buffers


@triton.jit
def _tile_topk_kernel(x_ptr, y_ptr, bias_ptr, out_s_ptr, out_i_ptr, nq, nb, d,
                      stride_x, stride_y, stride_out,
                      K: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rows = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)                                # query ids
    local = tl.arange(0, BLOCK_N)
    cols = pid_n * BLOCK_N + local                                                # database ids
    dims = tl.arange(0, BLOCK_D)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for d0 in range(0, d, BLOCK_D):                                               # 1. acc = x yᵀ, tile by tile
        dd = d0 + dims
        x = tl.load(x_ptr + rows[:, None] * stride_x + dd[None, :],
                    mask=(rows[:, None] < nq) & (dd[None, :] < d), other=0.0)    # (BLOCK_M, BLOCK_D)
        yt = tl.load(y_ptr + cols[None, :] * stride_y + dd[:, None],
                     mask=(cols[None, :] < nb) & (dd[:, None] < d), other=0.0)   # (BLOCK_D, BLOCK_N)
        acc += tl.dot(x, yt, input_precision="ieee")
    bias = tl.load(bias_ptr + cols, mask=cols < nb, other=0.0)                    # 2. s = acc + b
    s = tl.where(cols[None, :] < nb, acc + bias[None, :], float("-inf"))
    out_rows = out_s_ptr + rows * stride_out + pid_n * K
    out_ids = out_i_ptr + rows * stride_out + pid_n * K
    for r in tl.static_range(K):                                                  # 3. K × (max, argmax, mask)
        best = tl.max(s, axis=1)                                                  # (BLOCK_M,)
        arg = tl.argmax(s, axis=1)
        gid = tl.where(best == float("-inf"), -1, pid_n * BLOCK_N + arg)
        tl.store(out_rows + r, best, mask=rows < nq)
        tl.store(out_ids + r, gid.to(tl.int64), mask=rows < nq)
        s = tl.where(local[None, :] == arg[:, None], float("-inf"), s)


def triton_topk_scores(x: torch.Tensor, y: torch.Tensor, bias: torch.Tensor, k: int, *,
                       block_m: int = 64, block_n: int = 128, block_d: int = 32):
    """Best-first ``s_ij = x_i·y_j + bias_j`` and ids, each (nq, k), for float32 x (nq, d), y (nb, d), k ≤ nb.

    Inputs are already validated (``topk_search`` does that); they live on one device (CUDA, or CPU under
    ``TRITON_INTERPRET=1``). Queries are processed in blocks so the candidate buffer stays ≤ 64 MiB.
    """
    if not (1 <= k <= min(TRITON_MAX_K, y.shape[0])):
        raise ValueError(f"triton_topk_scores needs 1 ≤ k ≤ min({TRITON_MAX_K}, nb), got k={k}, nb={y.shape[0]}")
    x, y, bias = x.float().contiguous(), y.float().contiguous(), bias.float().contiguous()
    nq, d = x.shape
    nb = y.shape[0]
    tile_k = min(k, block_n)
    n_tiles = triton.cdiv(nb, block_n)
    width = n_tiles * tile_k                                                      # candidates per query
    rows_per_pass = max(block_m, (_CANDIDATE_BYTES // (12 * width)) // block_m * block_m)
    scores = torch.empty((nq, k), dtype=torch.float32, device=x.device)
    ids = torch.empty((nq, k), dtype=torch.int64, device=x.device)
    for q0 in range(0, nq, rows_per_pass):
        xb = x[q0:q0 + rows_per_pass]
        m = xb.shape[0]
        cand_s = torch.empty((m, width), dtype=torch.float32, device=x.device)
        cand_i = torch.empty((m, width), dtype=torch.int64, device=x.device)
        grid = (triton.cdiv(m, block_m), n_tiles)
        _tile_topk_kernel[grid](xb, y, bias, cand_s, cand_i, m, nb, d, xb.stride(0), y.stride(0), width,
                                K=tile_k, BLOCK_M=block_m, BLOCK_N=block_n, BLOCK_D=block_d)
        v, j = cand_s.topk(k, dim=1)                                              # merge the tiles' candidates
        scores[q0:q0 + m], ids[q0:q0 + m] = v, cand_i.gather(1, j)
    return scores, ids
