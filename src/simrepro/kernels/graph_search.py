r"""Greedy beam search over a proximity graph (the search of HNSW's bottom layer, Vamana, NSG), batched.

Contract: ``beam_search(distances, graph, entry, nq, k, beam)`` → ``D, I`` (nq, k) and ``n_dist`` (nq,).
``graph`` (n, R) int64 holds each node's out-neighbours, −1 padded. ``distances(rows, ids)`` returns the
(b, m) float32 distances of queries ``rows`` (b,) to database ids ``ids`` (b, m) (ids ≥ 0; smaller = closer):
the search never sees vectors, so one search runs over float32, LVQ or any other vector store.

Algorithm (per query; the beam is the candidate list L of Vamana's GreedySearch / HNSW's ef):
1. beam = [(d(q, entry), entry)], visited = {entry};
2. take the closest beam entry not yet expanded (the first one, in beam order); if none, stop;
3. for each neighbour v of it not in visited: add v to visited, compute d(q, v), append (d, v) to the beam;
4. keep the ``beam`` best entries, sorted by distance with a *stable* sort (older entries first among
   ties), and go to 2.
The answer is the first k beam entries. ``n_dist`` counts distance evaluations (the search's budget and,
times the bytes of one stored vector, the vector bytes it reads).

Paths: :func:`beam_search` runs every query in lockstep (one expansion per active query per step, a dense
(nq, n) visited mask, one batched distance call and one stable sort per step); :func:`beam_search_reference`
is the plain per-query loop with Python lists. Both follow the same rules, ties included, so on the same
``distances`` they return identical ``I`` (tested). Memory: the visited mask is nq·n bytes: search queries
in blocks (``query_block``) when that is large.
"""

from __future__ import annotations

import numpy as np
import torch

_QUERY_BLOCK = 1024


def _check_graph(graph) -> torch.Tensor:
    g = torch.as_tensor(np.asarray(graph) if not isinstance(graph, torch.Tensor) else graph)
    if g.ndim != 2 or g.dtype.is_floating_point or g.dtype == torch.bool:
        raise ValueError(f"graph must be an (n, R) integer adjacency array (−1 padded), got {tuple(g.shape)} {g.dtype}")
    g = g.long()
    if g.numel() and (g.max() >= g.shape[0] or g.min() < -1):
        raise ValueError(f"graph ids must be in −1..{g.shape[0] - 1}")
    return g


def _check_search(g: torch.Tensor, entry: int, k: int, beam: int) -> None:
    n = g.shape[0]
    if n == 0:
        raise ValueError("the graph is empty: nothing to search")
    if not 0 <= int(entry) < n:
        raise ValueError(f"entry must be a node id in 0..{n - 1}, got {entry}")
    if not 1 <= k <= beam:
        raise ValueError(f"need 1 ≤ k ≤ beam, got k={k}, beam={beam}; raise the beam width")


def beam_search(distances, graph, entry: int, nq: int, k: int, beam: int, *, query_block: int = _QUERY_BLOCK):
    """Batched greedy beam search: ``D`` (nq, k) float32, ``I`` (nq, k) int64 (−1 if fewer found), ``n_dist``."""
    g = _check_graph(graph)
    _check_search(g, entry, k, beam)
    D = torch.full((nq, k), float("inf"))
    I = torch.full((nq, k), -1, dtype=torch.long)
    n_dist = torch.zeros(nq, dtype=torch.long)
    for s in range(0, nq, query_block):
        rows = torch.arange(s, min(nq, s + query_block))
        d, i, c = _beam_block(distances, g, int(entry), rows, beam)
        D[rows], I[rows], n_dist[rows] = d[:, :k], i[:, :k], c
    return D, I, n_dist


def _beam_block(distances, g: torch.Tensor, entry: int, rows: torch.Tensor, L: int):
    b, n = rows.shape[0], g.shape[0]
    bd = torch.full((b, L), float("inf"))                                   # beam distances, sorted
    bi = torch.full((b, L), -1, dtype=torch.long)                           # beam ids
    bexp = torch.ones((b, L), dtype=torch.bool)                             # expanded (empty slots count)
    visited = torch.zeros((b, n), dtype=torch.bool)
    ent = torch.full((b, 1), entry, dtype=torch.long)
    bd[:, 0] = distances(rows, ent)[:, 0]
    bi[:, 0], bexp[:, 0] = entry, False
    visited[:, entry] = True
    n_dist = torch.ones(b, dtype=torch.long)
    ar = torch.arange(b)
    while True:
        open_ = ~(bexp | torch.isinf(bd))
        active = open_.any(1)
        if not active.any():
            break
        a = ar[active]
        j = open_[a].to(torch.int8).argmax(1)                               # first open slot in beam order
        node = bi[a, j]
        bexp[a, j] = True
        nb = g[node]                                                        # (|a|, R)
        valid = nb >= 0
        nbc = nb.clamp(min=0)
        valid &= ~visited[a[:, None], nbc]
        visited[a[:, None].expand_as(nbc)[valid], nbc[valid]] = True
        nd = distances(rows[a], nbc)
        nd = torch.where(valid, nd.float(), float("inf"))
        n_dist[a] += valid.sum(1)
        cat_d = torch.cat([bd[a], nd], 1)
        cat_i = torch.cat([bi[a], torch.where(valid, nb, -1)], 1)
        cat_e = torch.cat([bexp[a], ~valid], 1)
        order = torch.sort(cat_d, dim=1, stable=True).indices[:, :L]
        bd[a] = torch.gather(cat_d, 1, order)
        bi[a] = torch.gather(cat_i, 1, order)
        bexp[a] = torch.gather(cat_e, 1, order)
    return bd, bi, n_dist


def beam_search_reference(distances, graph, entry: int, nq: int, k: int, beam: int):
    """Plain per-query loop of the same algorithm (Python lists; for tests)."""
    g = _check_graph(graph)
    _check_search(g, entry, k, beam)
    D = np.full((nq, k), np.inf, dtype=np.float32)
    I = np.full((nq, k), -1, dtype=np.int64)
    n_dist = np.zeros(nq, dtype=np.int64)
    adj = g.numpy()
    for qi in range(nq):
        row = torch.tensor([qi])
        dist = lambda ids: distances(row, torch.as_tensor(ids, dtype=torch.long)[None, :])[0].tolist()  # noqa: E731
        items = [[dist([entry])[0], entry, False]]                             # [distance, id, expanded]
        visited = {entry}
        count = 1
        while True:
            open_ = [it for it in items if not it[2]]
            if not open_:
                break
            open_[0][2] = True
            new = [int(v) for v in adj[open_[0][1]] if v >= 0 and v not in visited]
            visited.update(new)
            count += len(new)
            if new:
                items += [[dv, v, False] for dv, v in zip(dist(new), new)]
            items = sorted(items, key=lambda it: it[0])[:beam]                 # Python's sort is stable
        count_k = min(k, len(items))
        D[qi, :count_k] = [it[0] for it in items[:count_k]]
        I[qi, :count_k] = [it[1] for it in items[:count_k]]
        n_dist[qi] = count
    return D, I, n_dist
