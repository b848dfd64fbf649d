r"""Sharded exact top-k search with ``torch.distributed``: each rank holds a slice of the database.

Rank r holds rows ``[o_r, o_r + n_r)`` of the global database (``o_r = Σ_{s<r} n_s``, shards in rank order).
Every rank searches the same queries against its shard (:func:`~simrepro.kernels.topk.topk_search`), shifts
its ids by ``o_r``, and all ranks all-gather the (nq, k) partial results and merge them: the global top-k is
the top-k of the union of the per-shard top-k lists, so the merge is exact. Traffic: world·nq·k (score, id)
pairs per rank. Works with gloo (CPU) and NCCL (CUDA tensors; pass CUDA queries/shards).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.distributed as dist

from simrepro.kernels.topk import topk_search


def merge_knn(D_parts, I_parts, k: int, metric: str = "dot") -> tuple[torch.Tensor, torch.Tensor]:
    """Merge per-shard results (each (nq, k_s), global ids, filler ±inf / −1) into the best k: (nq, k)."""
    D = torch.cat([torch.as_tensor(d) for d in D_parts], dim=1)
    I = torch.cat([torch.as_tensor(i) for i in I_parts], dim=1)
    if D.shape[1] < k:
        raise ValueError(f"the parts hold {D.shape[1]} candidates per query, fewer than k={k}")
    values, j = D.topk(k, dim=1, largest=metric != "l2")                          # filler sorts last
    return values, I.gather(1, j)


def sharded_topk_search(queries, database_shard, k: int, metric: str = "dot", *, group=None, **search_kwargs):
    """Exact ``D, I`` (nq, k) over the union of all ranks' shards, ids global; the same on every rank.

    Collective: every rank of ``group`` must call it with the same ``queries`` (nq, d), ``k`` and ``metric``.
    ``search_kwargs`` (``block_size``, ``device``) go to ``topk_search``. numpy in → numpy out.
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("torch.distributed is not initialised; call dist.init_process_group('gloo', ...) first "
                           "or use topk_search on one process")
    D, I = (torch.as_tensor(t) for t in topk_search(queries, database_shard, k, metric, **search_kwargs))
    world, rank = dist.get_world_size(group), dist.get_rank(group)
    sizes = [torch.zeros(1, dtype=torch.int64, device=D.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor([len(database_shard)], dtype=torch.int64, device=D.device), group=group)
    offset = int(sum(int(s) for s in sizes[:rank]))
    I = torch.where(I >= 0, I + offset, I)
    D_parts = [torch.empty_like(D) for _ in range(world)]
    I_parts = [torch.empty_like(I) for _ in range(world)]
    dist.all_gather(D_parts, D.contiguous(), group=group)
    dist.all_gather(I_parts, I.contiguous(), group=group)
    D, I = merge_knn(D_parts, I_parts, k, metric)
    if isinstance(queries, np.ndarray):
        return D.cpu().numpy(), I.cpu().numpy()
    return D, I
