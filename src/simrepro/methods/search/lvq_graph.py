r"""Graph search over float32 or LVQ-compressed vectors (Aguerrebere et al., "Similarity search in the blink of
an eye with compressed indices", VLDB 2023), measured with :mod:`simrepro.methods.search.ann_eval`.

- Graph: the bottom layer (level 0, out-degree ≤ 2M) of a faiss ``IndexHNSWFlat`` built on the float32
  vectors (:func:`hnsw_base_graph`); searched from the medoid (the vector nearest the mean, as Vamana does)
  by :func:`simrepro.kernels.graph_search.beam_search`. The same graph serves every vector store, so a
  comparison between stores isolates the vector representation.
- Stores compute squared-l2 distances of queries to gathered ids through ‖q − x̂‖² = ‖q‖² − 2 q·x̂ + ‖x̂‖²
  with ‖x̂‖² precomputed per vector (float64 norms, float32 dot products; clamped at 0):
  :class:`Float32Store` gathers float32 rows (4d bytes each); :class:`LVQStore` works centred (q′ = q − μ,
  x̂′ = l·1 + Δ·c, ‖q − x̂‖ = ‖q′ − x̂′‖) and gathers only codes: q′·x̂′ = l·Σq′ + Δ·(q′·c).
- Two-level LVQ-B₁×B₂: the walk uses level 1 only; the final beam is re-ranked with both levels
  (:func:`graph_search`), as SVS does.
- Bytes read per query (the paper's bandwidth argument, as a model, not a measurement of memory traffic):
  n_dist × (bytes of one level-1 vector) + beam × (bytes of one level-2 residual) for re-ranking.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels import lvq
from simrepro.kernels.graph_search import beam_search
from simrepro.kernels.topk import topk_search
from simrepro.methods.search.ann_eval import AnnMethod, grid


def hnsw_base_graph(x, M: int = 16, ef_construction: int = 100, threads: int = 1, *, return_index: bool = False):
    """Level-0 adjacency (n, 2M) int64 (−1 padded) of faiss ``IndexHNSWFlat(d, M)`` built on ``x`` (l2).

    With ``return_index`` also the faiss index itself (the peer whose bottom layer we walk)."""
    import faiss
    x = np.ascontiguousarray(x, dtype=np.float32)
    faiss.omp_set_num_threads(threads)
    index = faiss.IndexHNSWFlat(x.shape[1], M)
    index.hnsw.efConstruction = ef_construction
    index.add(x)
    offsets = faiss.vector_to_array(index.hnsw.offsets).astype(np.int64)
    neighbors = faiss.vector_to_array(index.hnsw.neighbors).astype(np.int64)
    width = 2 * M                                                       # faiss: nb_neighbors(0) = 2M
    graph = neighbors[offsets[:-1, None] + np.arange(width)[None, :]]
    return (graph, index) if return_index else graph


def medoid(x) -> int:
    """Id of the vector nearest the mean (exact, l2)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    return int(topk_search(x.astype(np.float64).mean(0, keepdims=True).astype(np.float32), x, 1, "l2")[1][0, 0])


class _Store:
    queries: torch.Tensor

    def set_queries(self, q) -> None:
        self.queries = torch.as_tensor(np.ascontiguousarray(q, dtype=np.float32))
        self._qn = self.queries.double().pow(2).sum(1).float()

    def _finish(self, rows, dots, norms):
        return (self._qn[rows, None] - 2 * dots + norms).clamp_min(0)


@dataclass
class Float32Store(_Store):
    """Uncompressed vectors (n, d) float32: 4d bytes per vector."""

    x: torch.Tensor

    def __post_init__(self):
        self.x = torch.as_tensor(np.ascontiguousarray(self.x, dtype=np.float32))
        self.norms = self.x.double().pow(2).sum(1).float()
        self.bytes_per_vector = 4 * self.x.shape[1]
        self.rerank_bytes = 0

    def __call__(self, rows, ids):
        y = self.x[ids]                                                    # (b, m, d)
        dots = torch.bmm(y, self.queries[rows].unsqueeze(2)).squeeze(2)
        return self._finish(rows, dots, self.norms[ids])

    def rerank(self, rows, ids):
        return self(rows, ids)

    def nbytes(self) -> int:
        return self.x.shape[0] * self.bytes_per_vector


class LVQStore(_Store):
    """LVQ-B₁(×B₂) vectors: the walk reads level 1 (d·B₁/8 bytes + two float16 constants per vector)."""

    def __init__(self, x, bits: int = 8, bits2: int = 0):
        self.codes = lvq.lvq_encode(x, bits, bits2)
        c = self.codes
        self.norms1 = (c.decode(levels=1) - c.mean).double().pow(2).sum(1).float()   # ‖x̂′‖², level 1
        self.norms2 = (c.decode(levels=2) - c.mean).double().pow(2).sum(1).float()   # both levels
        self.c1 = c.codes.float()                                          # codes as floats (compute layout)
        d = c.codes.shape[1]
        self.bytes_per_vector = lvq.lvq_bytes_per_vector(d, bits, 0, c.const_dtype)
        self.rerank_bytes = -(-d * bits2 // 8) if bits2 else 0

    def set_queries(self, q) -> None:
        super().set_queries(q)
        self._qc = self.queries - self.codes.mean                         # q′ = q − μ: work centred
        self._qn = self._qc.double().pow(2).sum(1).float()                 # ‖q′‖²
        self._qsum = self._qc.sum(1)

    def __call__(self, rows, ids):
        c = self.codes
        cdots = torch.bmm(self.c1[ids], self._qc[rows].unsqueeze(2)).squeeze(2)     # q′·c
        dots = c.lower[ids] * self._qsum[rows, None] + c.step[ids] * cdots          # q′·x̂′ = l·Σq′ + Δ·q′·c
        return self._finish(rows, dots, self.norms1[ids])

    def rerank(self, rows, ids):
        if self.codes.codes2 is None:
            return self(rows, ids)
        xh = self.codes.decode_rows(ids, levels=2) - self.codes.mean      # x̂′ (b, m, d)
        dots = torch.bmm(xh, self._qc[rows].unsqueeze(2)).squeeze(2)
        return self._finish(rows, dots, self.norms2[ids])

    def nbytes(self) -> int:
        return self.codes.nbytes()


def graph_search(store, graph, entry: int, queries, k: int, beam: int):
    """``I`` (nq, k) int64 and bytes read per query (nq,): beam search on level 1, re-rank the beam if two-level."""
    store.set_queries(queries)
    nq = store.queries.shape[0]
    D, I, n_dist = beam_search(store, graph, entry, nq, k if not store.rerank_bytes else beam, beam)
    if store.rerank_bytes:
        rows = torch.arange(nq)
        d2 = torch.where(I >= 0, store.rerank(rows, I.clamp(min=0)), float("inf"))
        order = torch.sort(d2, dim=1, stable=True).indices[:, :k]
        I = torch.gather(I, 1, order)
    bytes_read = n_dist * store.bytes_per_vector + (beam * store.rerank_bytes if store.rerank_bytes else 0)
    return I[:, :k].numpy(), bytes_read.numpy()


def store_for(x, encoding: str):
    """``'float32'`` or ``'lvq<B>'`` / ``'lvq<B1>x<B2>'`` (e.g. lvq8, lvq4x8) → a store over ``x``."""
    if encoding == "float32":
        return Float32Store(x)
    if encoding.startswith("lvq"):
        parts = encoding[3:].split("x")
        if len(parts) in (1, 2) and all(p.isdigit() for p in parts):
            return LVQStore(x, int(parts[0]), int(parts[1]) if len(parts) == 2 else 0)
    raise ValueError(f"unknown encoding {encoding!r}; use 'float32', 'lvq8', 'lvq4x8', …")


def graph_method(encoding: str, graph, entry: int, beams=(10, 20, 40, 80, 160), threads: int = 1) -> AnnMethod:
    """An :class:`AnnMethod` for :func:`ann_eval.evaluate`: our beam search on ``graph`` over ``encoding``.

    ``nbytes`` counts the vectors and the graph (int32 ids, as a C++ index would store them). The bytes read
    of the last search are kept in ``method.last_bytes_read``.
    """
    graph_bytes = int(np.asarray(graph).size) * 4
    method = AnnMethod(f"ours-{encoding}", None, None, None, [{}], grid(beam=list(beams)), threads)

    def search(store, q, k, beam):
        ids, method.last_bytes_read = graph_search(store, graph, entry, q, k, beam)
        return ids

    method.build = lambda y: store_for(y, encoding)
    method.search = search
    method.nbytes = lambda store: store.nbytes() + graph_bytes
    return method


def sweep(encodings, database, queries, gt, graph, entry: int, beams, k: int = 10, *, repeats: int = 1,
          threads: int = 1) -> list[dict]:
    """Rows in :func:`ann_eval.evaluate`'s format for each (encoding, beam), plus per-query recall and bytes.

    Extra keys: ``recall_per_query`` (nq,) and ``bytes_per_query`` (nq,) numpy arrays, ``bytes_read`` (mean),
    ``encoding``, ``beam``. Queries/s: best of ``repeats`` batched searches.
    """
    import time

    from simrepro.methods.search.ann_eval import recall_per_query, torch_threads
    graph_bytes = int(np.asarray(graph).size) * 4
    rows = []
    with torch_threads(threads):
        for enc in encodings:
            t0 = time.perf_counter()
            store = store_for(database, enc)
            build_s = time.perf_counter() - t0
            for beam in beams:
                best = np.inf
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    ids, nbytes_read = graph_search(store, graph, entry, queries, k, beam)
                    best = min(best, time.perf_counter() - t0)
                rq = recall_per_query(gt, database, queries, ids, k)
                rows.append({"method": f"ours-{enc}", "encoding": enc, "beam": beam, "build_params": {},
                             "search_params": {"beam": beam}, "recall": float(rq.mean()),
                             "qps": len(queries) / best, "search_s": best, "build_s": build_s,
                             "index_bytes": store.nbytes() + graph_bytes, "vector_bytes": store.nbytes(),
                             "threads": threads, "k": k, "nq": len(queries), "recall_per_query": rq,
                             "bytes_per_query": nbytes_read, "bytes_read": float(nbytes_read.mean())})
    return rows


def seed_splits(nq: int, n_seeds: int, seed: int = 0) -> list[np.ndarray]:
    """Disjoint query samples, one per seed: a permutation of range(nq) drawn with ``seed``, cut in n_seeds parts."""
    if not 1 <= n_seeds <= nq:
        raise ValueError(f"need 1 ≤ n_seeds ≤ nq = {nq}, got {n_seeds}")
    return [np.sort(p) for p in np.array_split(np.random.default_rng(seed).permutation(nq), n_seeds)]


def bytes_at_target(rows: list[dict], encoding: str, subset, target: float) -> float:
    """Mean vector bytes read per query at the smallest beam whose recall on ``subset`` reaches ``target``
    (rows from :func:`sweep`); NaN if no beam reaches it."""
    mine = sorted((r for r in rows if r["encoding"] == encoding), key=lambda r: r["beam"])
    if not mine:
        raise ValueError(f"no rows for encoding {encoding!r}")
    for r in mine:
        if r["recall_per_query"][subset].mean() >= target:
            return float(r["bytes_per_query"][subset].mean())
    return float("nan")
