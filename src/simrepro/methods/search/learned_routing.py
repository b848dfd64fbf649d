r"""Learned routing representations for greedy search on a similarity graph (Baranchuk, Persiyanov, Sinitsin &
Babenko, "Learning to Route in Similarity Graphs", ICML 2019), on CPU at small scale.

Contract
- Graph: ``(n, R)`` int64 out-neighbour lists, −1 padded (e.g. faiss HNSW's bottom layer), searched from one
  entry vertex by :func:`simrepro.kernels.graph_search.beam_search` with a *routing* distance; the top
  ``k_verify`` beam entries are then verified with the true squared-l2 distance on the original vectors and the
  best is the answer (the official ``WalkerHNSW``: route with one representation, verify the top with another).
- Cost (distance computations, DCS, counted in full-dimension units as the official code does):
  ``n_route · d_route / D + k_verify`` (routing in d_route dimensions costs d_route / D of a full one;
  routing with the original vectors needs no verification: cost = n_route).
- Hop distances to the target (:func:`hop_distances_to`): BFS on the reversed graph (scipy csgraph; a plain
  Python BFS is the reference): ``H[t, v]`` = fewest edges from v to ``targets[t]`` (``UNREACHABLE`` if none).
- Routing model (:class:`RoutingNet`): vertex map f(v) = P x_v + MLP([x_v, mean_{u ∈ N(v)} x_u]) (one
  mean-aggregation graph layer — a one-layer GCN with the aggregate precomputed), query map g(q) = P q,
  P (d_route, D) initialised to the top principal axes of the base, the MLP's last layer to zero: training
  starts exactly at PCA routing. Routing distance ‖g(q) − f(v)‖².
- Training (:func:`train_routing`, imitation of optimal routing, DAgger-style as the official trainer): best-
  first search of each training query under the current model with an unbounded candidate heap
  (:func:`heap_traces`); at each step the positives are the heap candidates with the fewest hops to the true
  nearest neighbour v*; minimise −log Σ_{v ∈ positives} softmax_{v ∈ heap}(−‖g(q) − f(v)‖² / τ). The official
  trainer (``lib/walker_trainer.py``) uses a 3-block GCN, 80k GPU steps of 1024 and also supervises pruning
  and verification; ours runs a few hundred CPU steps of 128 with a one-layer aggregate. Defaults (lr 1e-4,
  τ = 1) were picked from three trial runs by R@1 on *training* queries (lr 1e-3 moved the maps far from the
  start and lowered it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from simrepro.kernels.graph_search import _check_graph, beam_search

UNREACHABLE = np.iinfo(np.int32).max


# ---------------------------------------------------------------------------------------------- graph
def hop_distances_to(graph, targets) -> np.ndarray:
    """``H`` (len(targets), n) int32: fewest out-edges from each vertex to each target (BFS on the reverse
    graph); ``UNREACHABLE`` where no path exists."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path
    g = _check_graph(graph).numpy()
    n = g.shape[0]
    targets = np.asarray(targets, np.int64).ravel()
    if targets.size and (targets.min() < 0 or targets.max() >= n):
        raise ValueError(f"targets must be vertex ids in 0..{n - 1}")
    if targets.size == 0:
        return np.zeros((0, n), np.int32)
    src, col = np.nonzero(g >= 0)
    dst = g[src, col]
    rev = csr_matrix((np.ones(dst.size), (dst, src)), shape=(n, n))          # edge v -> u reversed
    D = shortest_path(rev, method="D", unweighted=True, directed=True, indices=targets)
    D[np.isinf(D)] = UNREACHABLE
    return D.astype(np.int32)


def hop_distances_reference(graph, target: int) -> np.ndarray:
    """Plain BFS over reversed edges from one target (n,) int32 (for tests)."""
    g = np.asarray(graph)
    n = g.shape[0]
    rev = [[] for _ in range(n)]
    for v in range(n):
        for u in g[v]:
            if u >= 0:
                rev[u].append(v)
    out = np.full(n, UNREACHABLE, np.int32)
    out[target] = 0
    frontier = [target]
    while frontier:
        nxt = []
        for u in frontier:
            for v in rev[u]:
                if out[v] == UNREACHABLE:
                    out[v] = out[u] + 1
                    nxt.append(v)
        frontier = nxt
    return out


def neighbour_mean(x, graph) -> np.ndarray:
    """``mean_{u ∈ N(v)} x_u`` (n, D) float32 (zeros for a vertex without out-neighbours)."""
    x = np.asarray(x, np.float32)
    g = _check_graph(graph).numpy()
    valid = g >= 0
    s = (x[g.clip(0)] * valid[..., None]).sum(1)
    return (s / np.maximum(valid.sum(1, keepdims=True), 1)).astype(np.float32)


# ---------------------------------------------------------------------------------------------- model
class RoutingNet(nn.Module):
    """f(v) = P x_v + W₂ ELU(W₁ [x_v, agg_v] + b₁) + b₂ and g(q) = P q, both (·, d_route); starts at PCA."""

    def __init__(self, P: np.ndarray, hidden: int = 256):
        super().__init__()
        d_route, D = P.shape
        self.proj = nn.Linear(D, d_route, bias=False)
        with torch.no_grad():
            self.proj.weight.copy_(torch.as_tensor(P, dtype=torch.float32))
        self.mlp = nn.Sequential(nn.Linear(2 * D, hidden), nn.ELU(), nn.Linear(hidden, d_route))
        with torch.no_grad():
            self.mlp[2].weight.zero_()
            self.mlp[2].bias.zero_()

    def vertices(self, x: torch.Tensor, agg: torch.Tensor) -> torch.Tensor:
        return self.proj(x) + self.mlp(torch.cat([x, agg], -1))

    def queries(self, q: torch.Tensor) -> torch.Tensor:
        return self.proj(q)


def pca_axes(x, d_route: int) -> np.ndarray:
    """Top ``d_route`` principal axes (d_route, D) of the centred rows of ``x`` (float64 SVD)."""
    x = np.asarray(x, np.float64)
    if not 1 <= d_route <= x.shape[1]:
        raise ValueError(f"d_route must be in 1..{x.shape[1]}, got {d_route}")
    _, _, Vt = np.linalg.svd(x - x.mean(0), full_matrices=False)
    return Vt[:d_route]


class _L2Store:
    """``distances(rows, ids)`` = ‖q_rows − y_ids‖² (float32) for :func:`beam_search`."""

    def __init__(self, y, q):
        self.y = torch.as_tensor(np.ascontiguousarray(y, np.float32))
        self.q = torch.as_tensor(np.ascontiguousarray(q, np.float32))

    def __call__(self, rows, ids):
        diff = self.y[ids] - self.q[rows][:, None, :]
        return (diff * diff).sum(-1)


# ---------------------------------------------------------------------------------------------- search
def greedy_paths(y, q, graph, entry: int, max_hops: int = 200) -> list[list[int]]:
    """Greedy descent (beam 1) of every query under squared l2 over ``y``: the list of vertices visited, from
    ``entry`` to the local minimum (move to the best neighbour while it is strictly closer)."""
    g = _check_graph(graph).numpy()
    y, q = np.asarray(y, np.float32), np.asarray(q, np.float32)
    cur = np.full(len(q), int(entry))
    dcur = ((y[cur] - q) ** 2).sum(1)
    paths = [[int(entry)] for _ in range(len(q))]
    active = np.ones(len(q), bool)
    for _ in range(max_hops):
        a = np.nonzero(active)[0]
        if a.size == 0:
            break
        nb = g[cur[a]]
        d = ((y[nb.clip(0)] - q[a, None, :]) ** 2).sum(-1)
        d[nb < 0] = np.inf
        j = d.argmin(1)
        best = d[np.arange(a.size), j]
        move = best < dcur[a]
        for i, m, v in zip(a, move, nb[np.arange(a.size), j]):
            if m:
                paths[i].append(int(v))
        cur[a[move]] = nb[np.arange(a.size), j][move]
        dcur[a[move]] = best[move]
        active[a[~move]] = False
    return paths


def route_and_verify(route_y, route_q, x, q, graph, entry: int, beam: int, k_verify: int):
    """Beam search over routing vectors (``route_y`` (n, d_r), ``route_q`` (nq, d_r)), then the best of the top
    ``k_verify`` beam entries by true squared l2 on ``x``/``q``: ``(answer ids (nq,), n_route (nq,))``."""
    k_verify = min(k_verify, beam)
    _, I, n_dist = beam_search(_L2Store(route_y, route_q), graph, entry, len(q), k_verify, beam)
    I = I.numpy()
    x, q = np.asarray(x, np.float32), np.asarray(q, np.float32)
    d = ((x[I.clip(0)] - q[:, None, :]) ** 2).sum(-1)
    d[I < 0] = np.inf
    return I[np.arange(len(q)), d.argmin(1)], n_dist.numpy()


def recall_at_1(answers, x, q, nn_dist, rtol: float = 1e-6) -> float:
    """Tie-aware R@1: share of queries whose answer is at the true nearest distance (within ``rtol``)."""
    x, q = np.asarray(x, np.float64), np.asarray(q, np.float64)
    d = ((x[np.asarray(answers)] - q) ** 2).sum(1)
    return float(np.mean(d <= nn_dist * (1 + rtol) + 1e-12))


def budget_curve(route_y, route_q, x, q, graph, entry, beams, k_verify: int, nn_dist, *, exact: bool) -> list[dict]:
    """One point per beam: mean cost (DCS in full-dimension units, module doc) and R@1. ``exact``: the routing
    vectors are the original ones (no verification cost, answer = beam top-1)."""
    D, dr = np.asarray(x).shape[1], np.asarray(route_y).shape[1]
    rows = []
    for b in beams:
        kv = 1 if exact else min(k_verify, b)
        ans, n_route = route_and_verify(route_y, route_q, x, q, graph, entry, b, kv)
        cost = n_route.mean() if exact else n_route.mean() * dr / D + kv
        rows.append({"beam": int(b), "dcs": float(cost), "recall1": recall_at_1(ans, x, q, nn_dist),
                     "n_route": float(n_route.mean())})
    return rows


def recall_at_budget(rows: list[dict], budget: float) -> float:
    """R@1 at ``budget`` DCS by linear interpolation in log(DCS) along the curve (sorted by cost); NaN if the
    budget lies outside the measured range."""
    pts = sorted((r["dcs"], r["recall1"]) for r in rows)
    c = np.log([p[0] for p in pts])
    if not pts or budget < pts[0][0] or budget > pts[-1][0]:
        return float("nan")
    return float(np.interp(np.log(budget), c, [p[1] for p in pts]))


# ---------------------------------------------------------------------------------------------- training
def heap_traces(fy, gq, graph, entry: int, H, *, max_steps: int = 30, per_query: int = 4, rng=None) -> list:
    """Best-first search of each training query under the routing vectors (``fy`` (n, d), ``gq`` (m, d)) with an
    unbounded candidate heap, as the official walker: expand the closest unexpanded discovered vertex, add its
    unvisited neighbours. At each step the supervision is (candidates = the unexpanded discovered vertices,
    positives = those with the fewest hops to the query's nearest neighbour, ``H[i]``). Stops when the nearest
    neighbour is expanded or after ``max_steps``. Keeps ``per_query`` random steps per query:
    a list of ``(query index, candidate ids (c,), positive mask (c,))``."""
    g = _check_graph(graph).numpy()
    rng = np.random.default_rng(0) if rng is None else rng
    out = []
    for i in range(len(gq)):
        target_hops = H[i]
        cand = {int(entry): float(((fy[entry] - gq[i]) ** 2).sum())}
        visited = {int(entry)}
        snaps = []
        for _ in range(max_steps):
            ids = np.fromiter(cand.keys(), np.int64, len(cand))
            hops = target_hops[ids]
            if hops.min() >= UNREACHABLE:
                break
            snaps.append((i, ids, hops == hops.min()))
            d = np.fromiter(cand.values(), np.float64, len(cand))
            u = int(ids[d.argmin()])                                        # the model's choice (DAgger)
            del cand[u]
            if target_hops[u] == 0:
                break
            nb = [int(v) for v in g[u] if v >= 0 and v not in visited]
            visited.update(nb)
            if nb:
                dn = ((fy[nb] - gq[i]) ** 2).sum(1)
                cand.update(zip(nb, dn.tolist()))
            if not cand:
                break
        if snaps:
            for t in rng.choice(len(snaps), min(per_query, len(snaps)), replace=False):
                out.append(snaps[t])
    return out


def train_routing(x, graph, entry: int, train_q, train_nn, d_route: int, *, steps: int = 300, batch: int = 128,
                  hidden: int = 256, lr: float = 1e-4, temperature: float = 1.0, refresh: int = 100,
                  max_trace_steps: int = 20, per_query: int = 4, seed: int = 0, P=None
                  ) -> tuple[RoutingNet, list[float]]:
    """Train :class:`RoutingNet` by imitation (module doc): ``(net, loss history)``. ``train_nn`` (m,): the true
    nearest neighbour of each training query. Every ``refresh`` steps the supervision is re-sampled with
    :func:`heap_traces` under the current model; each step minimises, over ``batch`` sampled snapshots,
    −log Σ_{positives} softmax_{candidates}(−‖g(q) − f(v)‖² / τ). Deterministic for a ``seed`` on one thread."""
    if steps < 0 or batch < 1 or refresh < 1:
        raise ValueError(f"need steps ≥ 0, batch ≥ 1, refresh ≥ 1; got {steps}, {batch}, {refresh}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = np.asarray(x, np.float32)
    g = _check_graph(graph).numpy()
    train_q = np.asarray(train_q, np.float32)
    if len(train_q) != len(np.asarray(train_nn)):
        raise ValueError(f"train_q ({len(train_q)}) and train_nn ({len(np.asarray(train_nn))}) differ in length")
    P = pca_axes(x, d_route) if P is None else np.asarray(P)
    net = RoutingNet(P, hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    xt, aggt = torch.as_tensor(x), torch.as_tensor(neighbour_mean(x, g))
    qt = torch.as_tensor(train_q)
    H = hop_distances_to(g, train_nn)                                            # (m, n)
    losses, snaps = [], []
    for step in range(steps):
        if step % refresh == 0:
            with torch.no_grad():
                fy, gq = net.vertices(xt, aggt).numpy(), net.queries(qt).numpy()
            snaps = heap_traces(fy, gq, g, entry, H, max_steps=max_trace_steps, per_query=per_query, rng=rng)
            if not snaps:
                break
        pick = rng.integers(0, len(snaps), batch)
        width = max(len(snaps[j][1]) for j in pick)
        ids = np.zeros((batch, width), np.int64)
        valid = np.zeros((batch, width), bool)
        pos = np.zeros((batch, width), bool)
        for r, j in enumerate(pick):
            c = snaps[j][1]
            ids[r, :c.size], valid[r, :c.size], pos[r, :c.size] = c, True, snaps[j][2]
        qi = torch.as_tensor(np.array([snaps[j][0] for j in pick]))
        idt = torch.as_tensor(ids)
        fv = net.vertices(xt[idt], aggt[idt])                                    # (b, c, d)
        gq = net.queries(qt[qi])[:, None, :]
        logits = (-((fv - gq) ** 2).sum(-1) / temperature).masked_fill(~torch.as_tensor(valid), float("-inf"))
        logp = logits.log_softmax(1)
        loss = -torch.logsumexp(logp.masked_fill(~torch.as_tensor(pos), float("-inf")), 1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return net, losses


def routing_vectors(net: RoutingNet, x, graph, q) -> tuple[np.ndarray, np.ndarray]:
    """f(all vertices) (n, d_route) and g(queries) (nq, d_route) float32 under a trained net."""
    with torch.no_grad():
        xt = torch.as_tensor(np.asarray(x, np.float32))
        fy = net.vertices(xt, torch.as_tensor(neighbour_mean(x, graph))).numpy()
        gq = net.queries(torch.as_tensor(np.asarray(q, np.float32))).numpy()
    return fy, gq


# ---------------------------------------------------------------------------------------------- data
def fashion_pca_set(n_base: int, n_pool: int, n_test: int, dim: int = 96) -> dict:
    """A DEEP-like set (DEEP descriptors are PCA-compressed CNN features, 96-d): Fashion-MNIST pixels / 255
    projected on the top ``dim`` principal axes of the base. Base = the first ``n_base`` training images,
    training-query pool = the next ``n_pool``, test queries = the first ``n_test`` test images.
    {'x', 'pool', 'q'} float32."""
    from simrepro.data.images import load_fashion_mnist
    tr, _ = load_fashion_mnist("train")
    te, _ = load_fashion_mnist("test")
    if n_base < 1 or n_pool < 1 or n_base + n_pool > len(tr) or not 1 <= n_test <= len(te):
        raise ValueError(f"need n_base + n_pool ≤ {len(tr)} and 1 ≤ n_test ≤ {len(te)}; got {n_base}, {n_pool}, {n_test}")
    X = tr.reshape(len(tr), -1).astype(np.float32) / 255
    T = te.reshape(len(te), -1).astype(np.float32) / 255
    base = X[:n_base]
    mu = base.astype(np.float64).mean(0)
    P = pca_axes(base, dim)

    def proj(a):
        return ((a - mu) @ P.T).astype(np.float32)

    return {"x": proj(base), "pool": proj(X[n_base:n_base + n_pool]), "q": proj(T[:n_test])}
