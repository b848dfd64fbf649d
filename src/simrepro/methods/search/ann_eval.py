r"""ANN evaluation the way ann-benchmarks measures it: recall@k against queries/s over each index's sweep.

Contract
- Ground truth: :func:`exact_ground_truth` ``(nb, d) database × (nq, d) queries → D, I`` (nq, k) from the
  exact kernel :func:`simrepro.kernels.topk_search`; ``D`` is then recomputed in float64 from the vectors
  (so a float32 scan's cancellation error never moves a threshold).
- Recall@k, tie-aware (ann-benchmarks' distance-threshold recall): for query i with k-th true distance
  t_i, a returned id j is a hit iff ``dist(q_i, y_j)`` (recomputed in float64) is at least as good as t_i
  within ``tol_i = rtol·|t_i| + atol``. Each id counts once (duplicates and −1 fillers never count), so
  recall_i = |{distinct hits among the first k ids}| / k ∈ [0, 1]. An exact method scores 1 whatever order
  it gives tied neighbours; an id-set recall (``metrics.knn_recall``) can score it < 1.
- A method is a :class:`AnnMethod`: ``build(database, **build_params) → index``,
  ``search(index, queries, k, **search_params) → ids (nq, k)`` (int, −1 for missing), ``nbytes(index)``.
  :func:`evaluate` builds once per build setting (timed), searches every search setting
  ``repeats`` times and keeps the fastest (ann-benchmarks' best-of-runs), and returns one plain ``dict`` per
  (build, search) setting: method, params, recall, qps, build_s, index_bytes, threads.
- Queries are searched as one batch (ann-benchmarks' ``--batch`` mode): queries/s = nq / wall seconds.
- :func:`pareto_front`: the non-dominated points (no other point has recall ≥ and qps ≥, one strictly).
- :func:`plot_fronts`: recall on x, queries/s on a log y axis, one front per method (all points faint).

Peers (:func:`faiss_flat`, :func:`faiss_ivf_flat`, :func:`faiss_ivf_pq`, :func:`faiss_hnsw`, :func:`faiss_hnsw_sq`,
:func:`hnswlib_hnsw`, :func:`usearch_hnsw`) take ``threads`` and run with exactly that many; index bytes
are each library's serialised size (faiss ``serialize_index``, hnswlib ``index_file_size``, usearch
``serialized_length``). Metrics: ``l2`` (squared distance), ``dot`` (inner product), ``cosine`` (rows
normalised, then inner product).
"""

from __future__ import annotations

import itertools
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from simrepro.kernels.topk import TOPK_METRICS, topk_search

_GATHER_ROWS = 4096          # query rows per float64 distance gather (memory ≈ rows·k·d·8 bytes)


# ---------------------------------------------------------------------------------------------- inputs
def _as_f32(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) matrix, got shape {a.shape}; reshape with x[None, :]")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a numeric array, got dtype {a.dtype}; convert with .astype(np.float32)")
    a = np.ascontiguousarray(a, dtype=np.float32)
    if a.size and not np.isfinite(a).all():
        raise ValueError(f"{name}: {int((~np.isfinite(a)).any(axis=1).sum())} row(s) contain NaN or inf; "
                         f"drop or impute them first")
    return a


def _check_metric(metric: str) -> None:
    if metric not in TOPK_METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(TOPK_METRICS)}")


def _normalized(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    return (x / np.where(n > 0, n, 1.0)).astype(x.dtype)


def pair_distances(database, queries, ids, metric: str = "l2") -> np.ndarray:
    """float64 ``dist(queries[i], database[ids[i, r]])`` (nq, k); NaN where ``ids < 0``.

    l2: ‖q − y‖² (computed as a difference, no cancellation); dot: q·y; cosine: q·y/(‖q‖‖y‖) (0 for a zero row).
    """
    _check_metric(metric)
    y = np.asarray(database, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[0] != q.shape[0]:
        raise ValueError(f"ids must be (nq, k) with nq = {q.shape[0]} queries, got shape {ids.shape}")
    if ids.size and ids.max() >= y.shape[0]:
        raise ValueError(f"ids hold {ids.max()} but the database has {y.shape[0]} rows")
    if metric == "cosine":
        y, q = _normalized(y), _normalized(q)
    out = np.full(ids.shape, np.nan)
    for s in range(0, q.shape[0], _GATHER_ROWS):
        blk = ids[s:s + _GATHER_ROWS]
        valid = blk >= 0
        rows = y[np.where(valid, blk, 0)]                                   # (b, k, d)
        qb = q[s:s + _GATHER_ROWS, None, :]
        d = ((rows - qb) ** 2).sum(-1) if metric == "l2" else (rows * qb).sum(-1)
        out[s:s + _GATHER_ROWS] = np.where(valid, d, np.nan)
    return out


@dataclass
class GroundTruth:
    """Exact neighbours: ``D`` (nq, k) float64 recomputed from the vectors, ``I`` (nq, k) int64, the metric."""

    D: np.ndarray
    I: np.ndarray
    metric: str

    @property
    def k(self) -> int:
        return self.I.shape[1]


def exact_ground_truth(database, queries, k: int, metric: str = "l2") -> GroundTruth:
    """Exact k-NN of every query by :func:`topk_search`, distances recomputed in float64 (sorted best-first)."""
    _check_metric(metric)
    y, q = _as_f32(database, "database"), _as_f32(queries, "queries")
    if not 1 <= k <= y.shape[0]:
        raise ValueError(f"k must be in 1..{y.shape[0]} (the database size), got {k}")
    _, I = topk_search(q, y, k, metric)
    D = pair_distances(y, q, I, metric)
    order = np.argsort(D if metric == "l2" else -D, axis=1, kind="stable")
    return GroundTruth(np.take_along_axis(D, order, 1), np.take_along_axis(I, order, 1).astype(np.int64), metric)


def recall_per_query(gt: GroundTruth, database, queries, ids, k: int | None = None, *,
                     rtol: float = 1e-6, atol: float = 1e-9) -> np.ndarray:
    """Tie-aware recall@k of each query (nq,) float64: distinct returned ids within the k-th true distance."""
    k = gt.k if k is None else k
    ids = np.asarray(ids)
    if ids.ndim != 2 or ids.shape[0] != gt.I.shape[0]:
        raise ValueError(f"ids must be (nq, ≥k) with nq = {gt.I.shape[0]}, got shape {ids.shape}")
    if not 1 <= k <= min(gt.k, ids.shape[1]):
        raise ValueError(f"k must be in 1..{min(gt.k, ids.shape[1])} (ground truth and result widths), got {k}")
    if ids.dtype.kind not in "iu":
        raise TypeError(f"ids must be integers (−1 for missing), got dtype {ids.dtype}")
    ids = ids[:, :k].astype(np.int64)
    d = pair_distances(database, queries, ids, gt.metric)
    t = gt.D[:, k - 1:k]                                                     # k-th true distance
    tol = rtol * np.abs(t) + atol
    good = (d <= t + tol) if gt.metric == "l2" else (d >= t - tol)
    good &= ids >= 0
    srt = np.sort(np.where(good, ids, -1), axis=1)                           # count each id once
    distinct = (srt[:, 0] >= 0) + ((srt[:, 1:] != srt[:, :-1]) & (srt[:, 1:] >= 0)).sum(axis=1)
    return distinct.astype(np.float64) / k


def recall_at_k(gt: GroundTruth, database, queries, ids, k: int | None = None, **tol) -> float:
    """Mean of :func:`recall_per_query` (NaN for no queries)."""
    r = recall_per_query(gt, database, queries, ids, k, **tol)
    return float(r.mean()) if r.size else float("nan")


# ---------------------------------------------------------------------------------------------- sweep
@dataclass
class AnnMethod:
    """An index under test: how to build it, search it and size it, and the grids to sweep."""

    name: str
    build: Callable[..., Any]                          # build(database, **build_params) -> index
    search: Callable[..., np.ndarray]                  # search(index, queries, k, **search_params) -> ids
    nbytes: Callable[[Any], int]
    build_grid: list[dict] = field(default_factory=lambda: [{}])
    search_grid: list[dict] = field(default_factory=lambda: [{}])
    threads: int = 1


def grid(**axes) -> list[dict]:
    """Cartesian product of keyword lists: ``grid(M=[8, 16], ef=[10])`` → [{M: 8, ef: 10}, {M: 16, ef: 10}]."""
    keys = list(axes)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(axes[k] for k in keys))]


@contextmanager
def torch_threads(n: int):
    """torch (and our kernels) on ``n`` threads inside the block; restored on exit."""
    old = torch.get_num_threads()
    torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def evaluate(method: AnnMethod, database, queries, gt: GroundTruth, k: int | None = None, *,
             repeats: int = 3) -> list[dict]:
    """One row per (build, search) setting: recall@k, queries/s (best of ``repeats``), build_s, index_bytes."""
    k = gt.k if k is None else k
    if repeats < 1:
        raise ValueError(f"repeats must be ≥ 1, got {repeats}")
    y, q = _as_f32(database, "database"), _as_f32(queries, "queries")
    rows = []
    with torch_threads(method.threads):
        for bp in method.build_grid:
            t0 = time.perf_counter()
            index = method.build(y, **bp)
            build_s = time.perf_counter() - t0
            nbytes = int(method.nbytes(index))
            for sp in method.search_grid:
                best = np.inf
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    ids = method.search(index, q, k, **sp)
                    best = min(best, time.perf_counter() - t0)
                ids = np.asarray(ids)
                if ids.shape != (q.shape[0], k):
                    raise ValueError(f"{method.name}: search returned shape {ids.shape}, expected {(q.shape[0], k)}")
                rows.append({"method": method.name, "build_params": dict(bp), "search_params": dict(sp),
                             "recall": recall_at_k(gt, y, q, ids, k), "qps": q.shape[0] / best,
                             "search_s": best, "build_s": build_s, "index_bytes": nbytes,
                             "threads": method.threads, "k": k, "nq": int(q.shape[0])})
    return rows


def pareto_front(rows: list[dict], x: str = "recall", y: str = "qps") -> list[dict]:
    """Non-dominated rows (no other row has x ≥ and y ≥ with one strict), sorted by x ascending."""
    pts = sorted(rows, key=lambda r: (-r[x], -r[y]))                         # best x first
    front, best_y = [], -np.inf
    for r in pts:
        if r[y] > best_y:
            front.append(r)
            best_y = r[y]
    return front[::-1]


def fronts(rows: list[dict], x: str = "recall", y: str = "qps") -> dict[str, list[dict]]:
    """:func:`pareto_front` of each method's rows, keyed by method name (first-seen order)."""
    names = list(dict.fromkeys(r["method"] for r in rows))
    return {n: pareto_front([r for r in rows if r["method"] == n], x, y) for n in names}


def qps_at_recall(rows: list[dict], target: float) -> float:
    """Largest queries/s among rows with recall ≥ ``target`` (NaN if none reaches it)."""
    ok = [r["qps"] for r in rows if r["recall"] >= target]
    return max(ok) if ok else float("nan")


def plot_fronts(ax, rows: list[dict], *, title: str | None = None, min_recall: float = 0.0):
    """ann-benchmarks style: recall@k on x, queries/s (log) on y; each method's front as a line, all points faint."""
    for i, (name, front) in enumerate(fronts(rows).items()):
        colour = f"C{i % 10}"
        pts = [r for r in rows if r["method"] == name and r["recall"] >= min_recall]
        ax.scatter([r["recall"] for r in pts], [r["qps"] for r in pts], s=8, alpha=0.25, color=colour)
        fr = [r for r in front if r["recall"] >= min_recall]
        ax.plot([r["recall"] for r in fr], [r["qps"] for r in fr], "o-", ms=3, color=colour, label=name)
    ax.set_yscale("log")
    ax.set_xlabel(f"recall@{rows[0]['k']}" if rows else "recall")
    ax.set_ylabel("queries / s (log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------------------------------------- peers
def _prep(x: np.ndarray, metric: str) -> np.ndarray:
    _check_metric(metric)
    return _normalized(x) if metric == "cosine" else np.ascontiguousarray(x, dtype=np.float32)


def _faiss_metric(metric: str):
    import faiss
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def _faiss_bytes(index) -> int:
    import faiss
    return int(faiss.serialize_index(index).size)


def _faiss_method(name, make, metric, threads, build_grid, search_grid, set_search) -> AnnMethod:
    import faiss

    def build(y, **bp):
        faiss.omp_set_num_threads(threads)
        index = make(y.shape[1], **bp)
        x = _prep(y, metric)
        if not index.is_trained:
            index.train(x)
        index.add(x)
        return index

    def search(index, q, k, **sp):
        faiss.omp_set_num_threads(threads)
        set_search(index, **sp)
        return index.search(_prep(q, metric), k)[1]

    return AnnMethod(name, build, search, _faiss_bytes, build_grid, search_grid, threads)


def faiss_flat(metric: str = "l2", threads: int = 1) -> AnnMethod:
    """faiss ``IndexFlat`` (exact scan): one point, recall 1."""
    import faiss
    return _faiss_method("faiss-Flat", lambda d: faiss.IndexFlat(d, _faiss_metric(metric)), metric, threads,
                         [{}], [{}], lambda index: None)


def faiss_ivf_flat(metric: str = "l2", threads: int = 1, nlist=(256,), nprobe=(1, 2, 4, 8, 16, 32, 64)) -> AnnMethod:
    """faiss ``IndexIVFFlat`` over ``nlist`` cells, swept over ``nprobe``."""
    import faiss

    def make(d, nlist):
        return faiss.IndexIVFFlat(faiss.IndexFlat(d, _faiss_metric(metric)), d, nlist, _faiss_metric(metric))
    return _faiss_method("faiss-IVFFlat", make, metric, threads, grid(nlist=list(nlist)), grid(nprobe=list(nprobe)),
                         lambda index, nprobe: setattr(index, "nprobe", nprobe))


def faiss_ivf_pq(metric: str = "l2", threads: int = 1, nlist=(256,), M=(16,), nbits=(8,),
                 nprobe=(1, 2, 4, 8, 16, 32, 64)) -> AnnMethod:
    """faiss ``IndexIVFPQ`` (residual PQ, M sub-quantisers × nbits), swept over ``nprobe`` (no re-ranking)."""
    import faiss

    def make(d, nlist, M, nbits):
        return faiss.IndexIVFPQ(faiss.IndexFlat(d, _faiss_metric(metric)), d, nlist, M, nbits, _faiss_metric(metric))
    return _faiss_method("faiss-IVFPQ", make, metric, threads, grid(nlist=list(nlist), M=list(M), nbits=list(nbits)),
                         grid(nprobe=list(nprobe)), lambda index, nprobe: setattr(index, "nprobe", nprobe))


def faiss_hnsw(metric: str = "l2", threads: int = 1, M=(16,), ef_construction=(100,),
               ef_search=(10, 20, 40, 80, 160, 320)) -> AnnMethod:
    """faiss ``IndexHNSWFlat``, swept over ``efSearch``."""
    import faiss

    def make(d, M, ef_construction):
        index = faiss.IndexHNSWFlat(d, M, _faiss_metric(metric))
        index.hnsw.efConstruction = ef_construction
        return index

    def set_ef(index, ef_search):
        index.hnsw.efSearch = ef_search
    return _faiss_method("faiss-HNSW", make, metric, threads, grid(M=list(M), ef_construction=list(ef_construction)),
                         grid(ef_search=list(ef_search)), set_ef)


def faiss_hnsw_sq(metric: str = "l2", threads: int = 1, qtype: str = "QT_8bit", M=(16,), ef_construction=(100,),
                  ef_search=(10, 20, 40, 80, 160, 320)) -> AnnMethod:
    """faiss ``IndexHNSWSQ``: HNSW over scalar-quantised vectors (``qtype`` QT_8bit: per-dimension 8-bit ranges)."""
    import faiss

    def make(d, M, ef_construction):
        index = faiss.IndexHNSWSQ(d, getattr(faiss.ScalarQuantizer, qtype), M, _faiss_metric(metric))
        index.hnsw.efConstruction = ef_construction
        return index

    def set_ef(index, ef_search):
        index.hnsw.efSearch = ef_search
    return _faiss_method(f"faiss-HNSW-SQ({qtype[3:]})", make, metric, threads,
                         grid(M=list(M), ef_construction=list(ef_construction)), grid(ef_search=list(ef_search)), set_ef)


def hnswlib_hnsw(metric: str = "l2", threads: int = 1, M=(16,), ef_construction=(100,),
                 ef=(10, 20, 40, 80, 160, 320), seed: int = 100) -> AnnMethod:
    """hnswlib ``Index`` (space l2 / ip / cosine), swept over ``ef`` (raised to k where smaller, as hnswlib needs)."""
    import hnswlib
    _check_metric(metric)
    space = {"l2": "l2", "dot": "ip", "cosine": "ip"}[metric]

    def build(y, M, ef_construction):
        index = hnswlib.Index(space=space, dim=y.shape[1])
        index.init_index(max_elements=max(1, y.shape[0]), ef_construction=ef_construction, M=M, random_seed=seed)
        index.add_items(_prep(y, metric), np.arange(y.shape[0]), num_threads=threads)
        return index

    def search(index, q, k, ef):
        index.set_ef(max(ef, k))
        return index.knn_query(_prep(q, metric), k=k, num_threads=threads)[0].astype(np.int64)

    return AnnMethod("hnswlib", build, search, lambda index: int(index.index_file_size()),
                     grid(M=list(M), ef_construction=list(ef_construction)), grid(ef=list(ef)), threads)


def usearch_hnsw(metric: str = "l2", threads: int = 1, connectivity=(16,), expansion_add=(100,),
                 expansion_search=(10, 20, 40, 80, 160, 320)) -> AnnMethod:
    """usearch ``Index`` (f32 vectors; l2sq / ip), swept over ``expansion_search``."""
    from usearch.index import Index
    _check_metric(metric)
    kind = {"l2": "l2sq", "dot": "ip", "cosine": "ip"}[metric]

    def build(y, connectivity, expansion_add):
        index = Index(ndim=y.shape[1], metric=kind, dtype="f32", connectivity=connectivity, expansion_add=expansion_add)
        index.add(np.arange(y.shape[0]), _prep(y, metric), threads=threads)
        return index

    def search(index, q, k, expansion_search):
        index.expansion_search = expansion_search
        m = index.search(_prep(q, metric), k, threads=threads)
        keys = np.asarray(m.keys, dtype=np.int64).reshape(q.shape[0], -1)
        counts = np.asarray(m.counts).reshape(-1)
        keys = np.where(np.arange(keys.shape[1])[None, :] < counts[:, None], keys, -1)  # unfilled slots → −1
        out = np.full((q.shape[0], k), -1, dtype=np.int64)
        out[:, :keys.shape[1]] = keys[:, :k]
        return out

    return AnnMethod("usearch", build, search, lambda index: int(index.serialized_length),
                     grid(connectivity=list(connectivity), expansion_add=list(expansion_add)),
                     grid(expansion_search=list(expansion_search)), threads)
