r"""HQI (Mohoney et al., SIGMOD 2023): batch processing of hybrid queries with workload-aware partitioning.

A hybrid query is (q, P): a vector q and a conjunctive attribute predicate P (the attribute words and masks of
:mod:`simrepro.methods.search.filtered`); its answer is the exact top-k by inner product (``dot``) or squared
l2 among the rows that satisfy P. HQI answers a whole *workload* of such queries at once:

1. **Workload-aware partitioning** (:func:`workload_partition`, qd-tree style). Rows are split recursively by
   cuts "attribute m = v" taken from the workload's predicates. A leaf L keeps a zone map — the OR of its rows'
   attribute words, z_L — and query (q, P) must scan L only if ∀m (z_L & mask_m) ≠ 0 (otherwise no row of L can
   satisfy P). Cost of a partitioning = Σ_queries Σ_{L compatible} |L| (rows scanned); each greedy step applies
   the cut that lowers this cost the most on the training workload, while the leaf has ≥ 2·``min_leaf`` rows,
   until ``max_leaves`` leaves or no cut helps. :func:`kmeans_partition` is the plain (vector-only) alternative
   with the same zone maps.
2. **Batched execution / multi-query optimisation** (:func:`batched_search`): for every leaf, the queries
   compatible with it are scored against all its rows with one GEMM (n_q,L × d)·(d × |L|); rows failing a
   query's predicate are masked to −inf (+inf for l2) before a top-k; results merge across leaves. Exact.
3. One query at a time (:func:`one_at_a_time_search`): the same partitioning and pruning, but each query scans
   its compatible leaves alone (GEMV per leaf) — the ablation of (2). :func:`prefilter_one_at_a_time` is the
   partition-free baseline: per query, the predicate over all n rows, then brute force over the allowed rows.

Every function returns ``D, I`` (nq, k) (fillers ∓inf and −1 where fewer than k rows qualify) and the rows
scanned per query. Cost of (2): Σ_L n_q,L·|L|·d flops as GEMMs, each leaf's vectors read once per batch; of (3):
the same flops as GEMVs, each leaf read once per query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels.quantize import kmeans
from simrepro.kernels.topk import topk_search
from simrepro.methods.search import ann_eval as ae
from simrepro.methods.search.filtered import _as_mask_list, _groups, matches


@dataclass
class Partitioning:
    """Leaves as row-index arrays, the leaf of every row, one zone map (OR of attribute words) per leaf."""

    leaves: list[np.ndarray]
    leaf_of: np.ndarray
    zones: np.ndarray
    cuts: list[tuple[int, int, int]]            # (leaf split, attribute bit, new leaf) in the order applied

    @property
    def n_leaves(self) -> int:
        return len(self.leaves)


def _zone(bits: np.ndarray) -> np.uint64:
    return np.bitwise_or.reduce(bits) if bits.size else np.uint64(0)


def compatible(zones: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """bool (n_leaves,): leaves that may hold a row satisfying the predicate ``masks`` (zone-map test)."""
    return matches(np.asarray(zones, dtype=np.uint64), masks)


def _from_leaves(leaves: list[np.ndarray], bits: np.ndarray, cuts=()) -> Partitioning:
    leaf_of = np.empty(bits.shape[0], dtype=np.int64)
    for j, rows in enumerate(leaves):
        leaf_of[rows] = j
    zones = np.array([_zone(bits[r]) for r in leaves], dtype=np.uint64)
    return Partitioning(leaves, leaf_of, zones, list(cuts))


def scan_cost(part: Partitioning, mask_list, qpred, nq: int) -> np.ndarray:
    """Rows scanned per query (nq,) under the zone-map pruning of ``part``."""
    mask_list = _as_mask_list(mask_list)
    qpred = _groups(qpred, nq, len(mask_list))
    sizes = np.array([len(r) for r in part.leaves])
    per_pred = np.array([sizes[compatible(part.zones, m)].sum() for m in mask_list])
    return per_pred[qpred]


def workload_partition(bits, mask_list, weights=None, *, max_leaves: int = 32, min_leaf: int = 64) -> Partitioning:
    """Greedy qd-tree-style partitioning of rows with attribute words ``bits`` (n,) uint64 for a training
    workload of predicates ``mask_list`` with ``weights`` (how many queries use each; default 1).

    Candidate cuts: every single bit that some predicate mask contains. A cut of leaf L by bit b gives
    L₁ = {rows with b}, L₀ = the rest (both ≥ ``min_leaf`` rows); gain = cost(L) − cost(L₁) − cost(L₀) with
    cost(L) = |L| · Σ_P w_P [P compatible with z_L]. Repeatedly applies the best positive-gain cut."""
    bits = np.asarray(bits)
    if bits.dtype != np.uint64 or bits.ndim != 1:
        raise ValueError(f"bits must be a 1-D uint64 array (AttributeSchema.encode), got {bits.dtype} {bits.shape}")
    mask_list = _as_mask_list(mask_list)
    if max_leaves < 1 or min_leaf < 1:
        raise ValueError(f"max_leaves and min_leaf must be ≥ 1, got {max_leaves}, {min_leaf}")
    w = np.ones(len(mask_list)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(mask_list),) or (w < 0).any():
        raise ValueError(f"weights must be {len(mask_list)} non-negative numbers (one per predicate)")
    cand_bits = np.unique([int(b) for m in mask_list for mm in m for b in range(64) if (int(mm) >> b) & 1])
    n_masks = max((len(m) for m in mask_list), default=0)
    M = np.zeros((len(mask_list), max(n_masks, 1)), dtype=np.uint64)           # padded: all-ones never prunes
    M[:] = np.uint64(0xFFFFFFFFFFFFFFFF)
    for i, m in enumerate(mask_list):
        M[i, :len(m)] = m

    def cost(zone, size):
        ok = ((M & zone) != 0).all(axis=1)
        return size * float(w[ok].sum())

    leaves = [np.arange(bits.shape[0])]
    cuts = []
    best_split = {}                                                              # leaf index → (gain, bit, rows1)

    def evaluate(j):
        rows = leaves[j]
        base = cost(_zone(bits[rows]), rows.size)
        best = (0.0, None, None)
        if rows.size >= 2 * min_leaf:
            lb = bits[rows]
            for b in cand_bits:
                has = (lb >> np.uint64(b)) & np.uint64(1) == 1
                n1 = int(has.sum())
                if n1 < min_leaf or rows.size - n1 < min_leaf:
                    continue
                g = base - cost(_zone(lb[has]), n1) - cost(_zone(lb[~has]), rows.size - n1)
                if g > best[0] + 1e-9:
                    best = (g, int(b), has)
        best_split[j] = best

    evaluate(0)
    while len(leaves) < max_leaves:
        j = max(best_split, key=lambda i: best_split[i][0])
        g, b, has = best_split[j]
        if b is None:
            break
        rows = leaves[j]
        leaves[j], new = rows[has], rows[~has]
        leaves.append(new)
        cuts.append((j, b, len(leaves) - 1))
        evaluate(j)
        evaluate(len(leaves) - 1)
    return _from_leaves(leaves, bits, cuts)


def kmeans_partition(x, bits, n_leaves: int, *, n_iter: int = 10, seed: int = 0) -> Partitioning:
    """Plain partitioning by the vectors alone: k-means cells (``quantize.kmeans``), with the same zone maps."""
    x = ae._as_f32(x, "x")
    C = kmeans(x, n_leaves, n_iter=n_iter, seed=seed).numpy()
    cell = topk_search(x, C, 1, "l2")[1][:, 0]
    leaves = [np.nonzero(cell == j)[0] for j in range(n_leaves)]
    return _from_leaves([r for r in leaves if r.size], np.asarray(bits))


def _worst(metric):
    return -np.inf if metric == "dot" else np.inf


def _scores(qb: torch.Tensor, Y: torch.Tensor, ysq, metric):
    s = qb @ Y.T
    if metric == "l2":                                                             # −‖q − y‖² up to ‖q‖²
        s = 2 * s - ysq[None, :]
    return s


def _finish(best_s: torch.Tensor, best_i: torch.Tensor, q: torch.Tensor, metric: str):
    D = best_s.numpy().astype(np.float32)
    I = best_i.numpy()
    if metric == "l2":
        D = np.where(I >= 0, np.maximum((q * q).sum(1).numpy()[:, None] - D, 0), np.inf).astype(np.float32)
    return D, I


def batched_search(x, bits, part: Partitioning, queries, k: int, mask_list, qpred=None, metric: str = "dot"):
    """HQI execution: per leaf one GEMM over the compatible queries, per-query predicate masks, top-k merge."""
    x, q = ae._as_f32(x, "x"), ae._as_f32(queries, "queries")
    bits = np.asarray(bits)
    mask_list = _as_mask_list(mask_list)
    qpred = _groups(qpred, q.shape[0], len(mask_list))
    nq = q.shape[0]
    qt, xt = torch.from_numpy(q), torch.from_numpy(x)
    best_s = torch.full((nq, k), float("-inf"))
    best_i = torch.full((nq, k), -1, dtype=torch.int64)
    comp = np.stack([compatible(part.zones, m) for m in mask_list])                # (n_pred, n_leaves)
    scanned = np.zeros(nq, dtype=np.int64)
    for j, rows in enumerate(part.leaves):
        preds = np.nonzero(comp[:, j])[0]
        if rows.size == 0 or preds.size == 0:
            continue
        qs = np.nonzero(np.isin(qpred, preds))[0]
        if qs.size == 0:
            continue
        Y = xt[rows]
        ysq = (Y * Y).sum(1) if metric == "l2" else None
        S = _scores(qt[qs], Y, ysq, metric)                                      # (n_q,L, |L|): one GEMM
        lb = bits[rows]
        ok = torch.from_numpy(np.stack([matches(lb, mask_list[p]) for p in preds]))   # (n_pred,L, |L|)
        pos = np.searchsorted(preds, qpred[qs])
        S.masked_fill_(~ok[pos], float("-inf"))
        scanned[qs] += rows.size
        kk = min(k, rows.size)
        v, jj = S.topk(kk, dim=1)
        ids = torch.from_numpy(rows)[jj]
        ids[torch.isinf(v)] = -1
        cat_s = torch.cat([best_s[qs], v], 1)
        cat_i = torch.cat([best_i[qs], ids], 1)
        v2, j2 = cat_s.topk(k, dim=1)
        best_s[qs], best_i[qs] = v2, cat_i.gather(1, j2)
    best_i[torch.isinf(best_s)] = -1
    D, I = _finish(best_s, best_i, qt, metric)
    return D, I, scanned


def one_at_a_time_search(x, bits, part: Partitioning, queries, k: int, mask_list, qpred=None, metric: str = "dot"):
    """The same partitioning and pruning, each query alone: per compatible leaf, filter rows, GEMV, top-k."""
    x, q = ae._as_f32(x, "x"), ae._as_f32(queries, "queries")
    bits = np.asarray(bits)
    mask_list = _as_mask_list(mask_list)
    qpred = _groups(qpred, q.shape[0], len(mask_list))
    comp = [np.nonzero(compatible(part.zones, m))[0] for m in mask_list]
    leaf_bits = [bits[r] for r in part.leaves]
    xt = torch.from_numpy(x)
    best_s = torch.full((q.shape[0], k), float("-inf"))
    best_i = torch.full((q.shape[0], k), -1, dtype=torch.int64)
    scanned = np.zeros(q.shape[0], dtype=np.int64)
    for i in range(q.shape[0]):
        qi = torch.from_numpy(q[i])
        ss, ii = [], []
        for j in comp[qpred[i]]:
            rows = part.leaves[j]
            scanned[i] += rows.size
            sel = rows[matches(leaf_bits[j], mask_list[qpred[i]])]
            if sel.size == 0:
                continue
            Y = xt[sel]
            s = Y @ qi
            if metric == "l2":
                s = 2 * s - (Y * Y).sum(1)
            kk = min(k, sel.size)
            v, jj = s.topk(kk)
            ss.append(v); ii.append(torch.from_numpy(sel)[jj])
        if ss:
            s_all, i_all = torch.cat(ss), torch.cat(ii)
            kk = min(k, s_all.numel())
            v, jj = s_all.topk(kk)
            best_s[i, :kk], best_i[i, :kk] = v, i_all[jj]
    D, I = _finish(best_s, best_i, torch.from_numpy(q), metric)
    return D, I, scanned


def prefilter_one_at_a_time(x, bits, queries, k: int, mask_list, qpred=None, metric: str = "dot"):
    """Baseline: per query, the predicate over all n attribute words, then brute force over the allowed rows."""
    full = Partitioning([np.arange(np.asarray(bits).shape[0])], np.zeros(np.asarray(bits).shape[0], np.int64),
                        np.array([np.uint64(0xFFFFFFFFFFFFFFFF)]), [])
    return one_at_a_time_search(x, bits, full, queries, k, mask_list, qpred, metric)


# ---------------------------------------------------------------------------------------------- workloads
def sample_workload(attrs, templates, n_queries: int, *, domains: dict | None = None, zipf_a: float = 1.1,
                    min_support: int = 1, seed: int = 0):
    """A skewed workload of conjunctive equality predicates over the attribute combinations that occur.

    ``templates``: tuples of attribute indices; each template's distinct value tuples present in ``attrs``
    (n, M) — restricted to ``domains[m]`` where given, and to combinations held by ≥ ``min_support`` rows —
    become predicates {m: [v]}. The predicates are put in a
    seeded random order and query i draws predicate r with probability ∝ (r + 1)^(−zipf_a); its entity is a
    uniformly random row satisfying it. Returns (predicates (list of dict), qpred (n_queries,), entity
    (n_queries,) row ids)."""
    a = np.asarray(attrs)
    if a.ndim != 2 or a.dtype.kind not in "iu":
        raise ValueError(f"attrs must be an (n, M) integer array, got {a.dtype} {a.shape}")
    if n_queries < 0 or not zipf_a >= 0:
        raise ValueError(f"need n_queries ≥ 0 and zipf_a ≥ 0, got {n_queries}, {zipf_a}")
    domains = domains or {}
    preds, members = [], []
    for t in templates:
        t = tuple(int(m) for m in t)
        combos, inverse = np.unique(a[:, list(t)], axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        for c, vals in enumerate(combos):
            if any(m in domains and v not in domains[m] for m, v in zip(t, vals)):
                continue
            if (inverse == c).sum() < min_support:
                continue
            preds.append({m: [int(v)] for m, v in zip(t, vals)})
            members.append(np.nonzero(inverse == c)[0])
    if not preds:
        raise ValueError("no predicate: the templates and domains match no attribute combination in attrs")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(preds))
    preds, members = [preds[i] for i in order], [members[i] for i in order]
    p = (np.arange(1, len(preds) + 1, dtype=np.float64)) ** -zipf_a
    qpred = rng.choice(len(preds), size=n_queries, p=p / p.sum())
    entity = np.array([members[r][rng.integers(len(members[r]))] for r in qpred], dtype=np.int64)
    used, qpred = np.unique(qpred, return_inverse=True)                           # keep the predicates used
    return [preds[u] for u in used], qpred.astype(np.int64), entity


def noisy_queries(x, entity, noise: float, *, seed: int = 0) -> np.ndarray:
    """Unit-norm query vectors: x[entity] + noise·ε/√d (ε ~ N(0, I)), renormalised (float32)."""
    x = ae._as_f32(x, "x")
    rng = np.random.default_rng(seed)
    q = x[np.asarray(entity)] + noise * rng.standard_normal((len(entity), x.shape[1])).astype(np.float32) / np.sqrt(x.shape[1])
    return (q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def imdb_attributes(df):
    """Discrete attributes of the IMDB films table (``simrepro.data.movies``): (attrs (n, 11) int64, names, cards).

    The 7 genre flags (0/1 each), decade (≤1910s → 0, 1920s … 2000s → 1 … 9), rating (< 4, 4–5, 5–6, 6–7,
    7–8, ≥ 8 → 0 … 5), length (< 60, 60–89, 90–119, ≥ 120 minutes → 0 … 3), votes quartile (0 … 3)."""
    genres = ["Action", "Animation", "Comedy", "Drama", "Documentary", "Romance", "Short"]
    cols = [df[g].to_numpy().astype(np.int64) for g in genres]
    decade = np.clip(df["year"].to_numpy() // 10 - 191, 0, 9)
    rating = np.clip(np.floor(df["rating"].to_numpy()).astype(np.int64) - 3, 0, 5)
    length = np.digitize(df["length"].to_numpy(), [60, 90, 120])
    votes = np.digitize(df["votes"].to_numpy(), np.quantile(df["votes"].to_numpy(), [0.25, 0.5, 0.75]))
    attrs = np.stack(cols + [decade, rating, length, votes], 1).astype(np.int64)
    names = genres + ["decade", "rating", "length", "votes"]
    return attrs, names, [2] * 7 + [10, 6, 4, 4]
