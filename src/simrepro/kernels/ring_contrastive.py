r"""Ring InfoNCE across processes (Inf-CL's multi-level tiling, Cheng et al. 2024, arXiv:2410.17243).

Each of ``W`` ranks holds a contiguous slice of the batch: rows ``[o_r, o_r + n_r)`` of ``q`` and ``k``
(``(n_r, d)`` each). The loss is the single-process InfoNCE of the whole batch (``kernels/contrastive.py``),

    L = (1/b) Σ_i [ lse_j(S_ij) − S_ii ],   S = q kᵀ/τ,   b = Σ_r n_r,

replicated on every rank. Keys travel round the ring: at step ``t`` rank ``r`` holds the key block of rank
``r − t`` (mod W), updates the running max/sum of its rows' log-sum-exp with it, and passes it to ``r + 1``;
after ``W`` steps every row has seen every key and no rank ever holds more than two key blocks. The
backward pass sends the key blocks round again together with a gradient accumulator for each: rank ``r``
adds ``∂L/∂k_src = Aᵀ q_r`` for the block it holds, so after ``W`` steps each accumulator is back on its
owner with every rank's contribution. ``∂L/∂q_r`` and ``∂L/∂k_r`` are those of the single-process loss.
Within a rank, ``tile_size`` rows of ``q`` are processed at a time: extra memory O(tile_size · n_max).

Communication per call: forward (W − 1) and backward W exchanges of ``(n, d)`` blocks (plus the accumulator)
via point-to-point send/recv, which gloo (CPU) and NCCL (GPU) both provide.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist

from simrepro.kernels.contrastive import _check_inputs, _default_tile


def _ring_exchange(tensors: list[torch.Tensor], incoming_rows: int, group) -> list[torch.Tensor]:
    """Send each tensor to rank r + 1 and receive same-shaped ones with ``incoming_rows`` rows from r − 1."""
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    to = dist.get_global_rank(group, (rank + 1) % world) if group is not None else (rank + 1) % world
    frm = dist.get_global_rank(group, (rank - 1) % world) if group is not None else (rank - 1) % world
    received = [torch.empty((incoming_rows, *t.shape[1:]), dtype=t.dtype, device=t.device) for t in tensors]
    ops = [dist.P2POp(dist.isend, t.contiguous(), to, group) for t in tensors]
    ops += [dist.P2POp(dist.irecv, t, frm, group) for t in received]
    for request in dist.batch_isend_irecv(ops):
        request.wait()
    return received


class _RingInfoNCE(torch.autograd.Function):
    """Unit-temperature InfoNCE of the distributed batch; saves the local q, k and row log-sum-exps."""

    @staticmethod
    def forward(ctx, q, k, sizes: list[int], tile: int, group):
        rank, world = dist.get_rank(group), len(sizes)
        n = q.shape[0]
        row_max = torch.full((n,), -math.inf, dtype=q.dtype, device=q.device)
        row_sum = torch.zeros_like(row_max)
        pos = torch.empty_like(row_max)                                  # S_ii, from the step holding my keys
        keys, src = k, rank
        for step in range(world):
            for s in range(0, n, tile):
                logits = q[s:s + tile] @ keys.T                          # (t, n_src)
                if src == rank:
                    pos[s:s + tile] = logits.diagonal(offset=s)
                new_max = torch.maximum(row_max[s:s + tile], logits.max(dim=1).values)
                row_sum[s:s + tile] = (row_sum[s:s + tile] * torch.exp(row_max[s:s + tile] - new_max)
                                       + torch.exp_(logits.sub_(new_max[:, None])).sum(dim=1))
                row_max[s:s + tile] = new_max
            if step < world - 1:
                src = (src - 1) % world
                (keys,) = _ring_exchange([keys], sizes[src], group)
        log_sum = torch.log(row_sum)
        local = ((row_max - pos) + log_sum).sum()                        # Σ_i −log softmax(S)_ii over my rows
        dist.all_reduce(local, group=group)
        ctx.save_for_backward(q, k, row_max + log_sum)
        ctx.config = (sizes, tile, group)
        return local / sum(sizes)

    @staticmethod
    def backward(ctx, grad):
        q, k, lse = ctx.saved_tensors
        sizes, tile, group = ctx.config
        rank, world, w = dist.get_rank(group), len(sizes), 1.0 / sum(sizes)
        dq = torch.zeros_like(q)
        keys, key_grad, src = k, torch.zeros_like(k), rank
        for _ in range(world):
            for s in range(0, q.shape[0], tile):
                qs = q[s:s + tile]
                a = torch.exp_(qs @ keys.T - lse[s:s + tile, None]).mul_(w)   # w·softmax rows, (t, n_src)
                if src == rank:
                    a.diagonal(offset=s).sub_(w)                           # − w·I
                dq[s:s + tile].addmm_(a, keys)
                key_grad.addmm_(a.T, qs)
            src = (src - 1) % world
            keys, key_grad = _ring_exchange([keys, key_grad], sizes[src], group)
        return grad * dq, grad * key_grad, None, None, None


def ring_info_nce(q, k, temperature, *, symmetric: bool = False, tile_size: int | None = None, group=None):
    """InfoNCE of the batch split across the ranks of ``group`` (default: the world); every rank passes its
    own ``(n_r, d)`` slices of ``q`` and ``k`` (slices in rank order) and gets the same scalar loss, equal to
    ``tiled_info_nce`` of the concatenated batch, with gradients for its slices. Needs an initialised
    ``torch.distributed`` process group; collective: every rank must call it with the same arguments.
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("ring_info_nce needs torch.distributed initialised "
                           "(dist.init_process_group('gloo', ...) on CPU)")
    qt, kt = _check_inputs(q, k, temperature)
    if tile_size is not None and (int(tile_size) != tile_size or tile_size < 1):
        raise ValueError(f"tile_size must be a positive integer, got {tile_size}")
    world = dist.get_world_size(group)
    counts = [torch.zeros(1, dtype=torch.int64, device=qt.device) for _ in range(world)]
    dist.all_gather(counts, torch.tensor([qt.shape[0]], device=qt.device), group=group)
    sizes = [int(c) for c in counts]
    tile = int(tile_size) if tile_size is not None else _default_tile(max(sizes), qt.element_size())

    def one_way(a, c):
        return _RingInfoNCE.apply(a / temperature, c, sizes, tile, group)

    if symmetric:
        return 0.5 * (one_way(qt, kt) + one_way(kt, qt))
    return one_way(qt, kt)
