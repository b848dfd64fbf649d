r"""Attribute-filtered k-NN search: pre-filter, post-filter and in-list ("hybrid") filtering over an IVF-Flat index.

Problem. Database vectors x_i ∈ R^d (n, d) carry M discrete attributes a_i ∈ Z^M (n, M), a_im ∈ {0..card_m − 1}.
A query is a vector q with a conjunctive predicate P = {m: S_m} (attribute m must take a value in the set S_m;
attributes not named are free). The answer is the k nearest rows among the allowed set A(P) = {i : ∀m a_im ∈ S_m}
(squared l2, smaller is better; or ``dot``, larger is better).

Bitwise attributes (Emanuilov & Dimov 2025, hybrid vector h_i = [x_i ‖ a_i], the attribute part tested with
bitwise operations): :class:`AttributeSchema` packs a_i one-hot into one uint64 word,
bit(m, v) = offset_m + v, and compiles P into one uint64 mask per named attribute,
mask_m = OR_{v ∈ S_m} bit(m, v); row i passes ⇔ ∀m (bits_i & mask_m) ≠ 0. Σ_m card_m ≤ 64.

Strategies (:class:`FilteredIVF`, nlist cells from :func:`simrepro.kernels.quantize.kmeans`, lists stored
contiguously — CSR: ``offsets`` (nlist + 1), ``vectors``/``ids``/``bits`` sorted by cell — in RAM or as
``np.memmap`` files, :meth:`FilteredIVF.save` / :meth:`FilteredIVF.load`):
- **hybrid** (in-list filtering): probe the nprobe nearest cells; in each, test the bits of every row
  (8 bytes/row) and compute distances only for the rows that pass (d·4 bytes/row read). At nprobe = nlist it is
  exact.
- **post-filter**: the unfiltered IVF search for k′ candidates, then drop those failing P and keep the first k.
- **pre-filter** (:func:`prefilter_search`): brute force over A(P) (:func:`simrepro.kernels.topk_search`):
  exact at any selectivity, cost O(|A(P)|·d) per query.

Every search returns ``D, I`` (nq, k) (``topk_search``'s fillers: +inf / −inf and id −1 where fewer than k
allowed rows were seen) and per-query counters ``rows_tested`` (attribute words read) and ``vectors_read``
(rows whose vector was read). :func:`filtered_ground_truth` is the exact answer (distances in float64),
:func:`filtered_recall` the tie-aware recall@k of ``ann_eval`` after ids that fail P are set to −1 (a returned
row outside A(P) is a miss, never a hit). :func:`hybrid_search_reference` is the plain per-query definition
(attributes compared as integers, float64 distances, stable sort) the fast path is tested against.

Cost: coarse step O(nq·nlist·d); hybrid O(Σ_probed n_l) word tests + O(Σ_probed |L_l ∩ A(P)|·d) flops per
query; post-filter O(Σ_probed n_l·d) per query whatever P is.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from simrepro.kernels.quantize import kmeans
from simrepro.kernels.topk import topk_search
from simrepro.methods.search import ann_eval as ae

METRICS = ("l2", "dot")


# ---------------------------------------------------------------------------------------------- attributes
class AttributeSchema:
    """One-hot bit layout of M discrete attributes with cardinalities ``cards`` (Σ cards ≤ 64) in a uint64 word."""

    def __init__(self, cards):
        cards = [int(c) for c in cards]
        if not cards or any(c < 1 for c in cards):
            raise ValueError(f"cards must be a non-empty list of positive cardinalities, got {cards}")
        if sum(cards) > 64:
            raise ValueError(f"the attributes need {sum(cards)} bits but one uint64 word holds 64; "
                             f"bucket some attributes into fewer values")
        self.cards = cards
        self.offsets = np.concatenate([[0], np.cumsum(cards)[:-1]]).astype(np.int64)

    @property
    def n_attrs(self) -> int:
        return len(self.cards)

    def check_attrs(self, attrs) -> np.ndarray:
        a = np.asarray(attrs)
        if a.ndim != 2 or a.shape[1] != self.n_attrs:
            raise ValueError(f"attrs must be (n, {self.n_attrs}) integers, got shape {a.shape}")
        if a.dtype.kind not in "iu":
            raise TypeError(f"attrs must be integer codes, got dtype {a.dtype}; map values to 0..card-1 first")
        if a.size and ((a < 0) | (a >= np.asarray(self.cards)[None, :])).any():
            bad = int(np.nonzero(((a < 0) | (a >= np.asarray(self.cards)[None, :])).any(0))[0][0])
            raise ValueError(f"attribute {bad} has values outside 0..{self.cards[bad] - 1}")
        return a.astype(np.int64)

    def encode(self, attrs) -> np.ndarray:
        """bits (n,) uint64 with bit offset_m + a_im set for every attribute m."""
        a = self.check_attrs(attrs)
        shifts = (a + self.offsets[None, :]).astype(np.uint64)
        return np.bitwise_or.reduce(np.left_shift(np.uint64(1), shifts), axis=1) if a.shape[0] else \
            np.zeros(0, dtype=np.uint64)

    def compile(self, predicate: dict) -> np.ndarray:
        """masks (n_constrained,) uint64 of a predicate {attribute index: allowed values}."""
        masks = []
        for m, values in sorted(predicate.items()):
            if not 0 <= int(m) < self.n_attrs:
                raise ValueError(f"predicate names attribute {m}, but the schema has 0..{self.n_attrs - 1}")
            vals = np.unique(np.asarray(list(values), dtype=np.int64))
            if vals.size == 0:
                raise ValueError(f"predicate on attribute {m} allows no value: nothing can match")
            if vals[0] < 0 or vals[-1] >= self.cards[m]:
                raise ValueError(f"attribute {m} values must lie in 0..{self.cards[m] - 1}, got {vals.tolist()}")
            masks.append(np.bitwise_or.reduce(np.left_shift(np.uint64(1), (vals + self.offsets[m]).astype(np.uint64))))
        return np.asarray(masks, dtype=np.uint64)


def matches(bits: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """bool (n,): ∀m (bits & mask_m) ≠ 0 (an empty mask list allows every row)."""
    ok = np.ones(bits.shape[0], dtype=bool)
    for m in masks:
        ok &= (bits & m) != 0
    return ok


def matches_reference(attrs, predicate: dict) -> np.ndarray:
    """bool (n,) by integer comparison of the raw attributes (no bits): the definition of A(P)."""
    a = np.asarray(attrs)
    ok = np.ones(a.shape[0], dtype=bool)
    for m, values in predicate.items():
        ok &= np.isin(a[:, int(m)], np.asarray(list(values)))
    return ok


def _groups(qpred, nq: int, n_pred: int) -> np.ndarray:
    qpred = np.zeros(nq, dtype=np.int64) if qpred is None else np.asarray(qpred, dtype=np.int64)
    if qpred.shape != (nq,):
        raise ValueError(f"qpred must give one predicate index per query, shape ({nq},), got {qpred.shape}")
    if nq and (qpred.min() < 0 or qpred.max() >= n_pred):
        raise ValueError(f"qpred holds indices outside 0..{n_pred - 1} (the predicates given)")
    return qpred


def _as_mask_list(masks) -> list[np.ndarray]:
    """One predicate's masks (array) or a list of them → list of uint64 arrays."""
    if isinstance(masks, np.ndarray) and masks.dtype == np.uint64:
        return [masks]
    return [np.asarray(m, dtype=np.uint64) for m in masks]


# ---------------------------------------------------------------------------------------------- exact answers
def filtered_ground_truth(x, allowed: list[np.ndarray], queries, qpred, k: int, metric: str = "l2") -> ae.GroundTruth:
    """Exact filtered k-NN: for predicate p, ``exact_ground_truth`` over x[allowed[p]], ids mapped back.

    ``allowed`` (list of bool (n,) masks, one per predicate), ``qpred`` (nq,) the predicate of each query.
    Raises if a predicate used by some query allows fewer than k rows."""
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    x, q = ae._as_f32(x, "x"), ae._as_f32(queries, "queries")
    qpred = _groups(qpred, q.shape[0], len(allowed))
    D = np.full((q.shape[0], k), np.nan)
    I = np.full((q.shape[0], k), -1, dtype=np.int64)
    for p in np.unique(qpred):
        rows = np.nonzero(np.asarray(allowed[p], dtype=bool))[0]
        if rows.size < k:
            raise ValueError(f"predicate {p} allows {rows.size} rows < k={k}: lower k or widen the predicate")
        sel = qpred == p
        g = ae.exact_ground_truth(x[rows], q[sel], k, metric)
        D[sel], I[sel] = g.D, rows[g.I]
    return ae.GroundTruth(D, I, metric)


def filtered_recall_per_query(gt: ae.GroundTruth, x, queries, ids, allowed: list[np.ndarray], qpred,
                              k: int | None = None) -> np.ndarray:
    """Tie-aware recall@k per query (``ann_eval.recall_per_query``) after ids failing the query's predicate → −1."""
    ids = np.array(ids, dtype=np.int64, copy=True)
    qpred = _groups(qpred, ids.shape[0], len(allowed))
    ok_ids = ids >= 0
    for p in np.unique(qpred):
        sel = qpred == p
        blk = ids[sel]
        good = np.asarray(allowed[p], dtype=bool)[np.where(blk >= 0, blk, 0)] & (blk >= 0)
        ok_ids[sel] = good
    ids[~ok_ids] = -1
    return ae.recall_per_query(gt, x, queries, ids, k)


def filtered_recall(gt, x, queries, ids, allowed, qpred, k=None) -> float:
    r = filtered_recall_per_query(gt, x, queries, ids, allowed, qpred, k)
    return float(r.mean()) if r.size else float("nan")


def prefilter_search(x, bits, queries, k: int, masks, qpred=None, metric: str = "l2"):
    """Pre-filter: exact brute force over the allowed rows of each predicate. ``D, I`` (nq, k), vectors_read (nq,)."""
    x, q = ae._as_f32(x, "x"), ae._as_f32(queries, "queries")
    masks = _as_mask_list(masks)
    qpred = _groups(qpred, q.shape[0], len(masks))
    fill = np.inf if metric == "l2" else -np.inf
    D = np.full((q.shape[0], k), fill, dtype=np.float32)
    I = np.full((q.shape[0], k), -1, dtype=np.int64)
    vectors_read = np.zeros(q.shape[0], dtype=np.int64)
    for p in np.unique(qpred):
        rows = np.nonzero(matches(np.asarray(bits), masks[p]))[0]
        sel = qpred == p
        vectors_read[sel] = rows.size
        if rows.size == 0:
            continue
        d, i = topk_search(q[sel], x[rows], k, metric)
        D[sel] = d
        I[sel] = np.where(i >= 0, rows[np.maximum(i, 0)], -1)
    return D, I, vectors_read


# ---------------------------------------------------------------------------------------------- the index
@dataclass
class SearchStats:
    """Per-query counters: cells probed, attribute words tested, vectors read (distance computations)."""

    rows_tested: np.ndarray
    vectors_read: np.ndarray

    def bytes_read(self, d: int) -> np.ndarray:
        """8 bytes per attribute word + 4·d bytes per vector read."""
        return 8 * self.rows_tested + 4 * d * self.vectors_read


class FilteredIVF:
    """IVF-Flat with one uint64 attribute word per row; lists stored contiguously (CSR), in RAM or memory-mapped."""

    def __init__(self, nlist: int, metric: str = "l2"):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if nlist < 1:
            raise ValueError(f"nlist must be ≥ 1, got {nlist}")
        self.nlist, self.metric = int(nlist), metric
        self.centroids: np.ndarray | None = None
        self.offsets = np.zeros(self.nlist + 1, dtype=np.int64)
        self.vectors = np.zeros((0, 0), dtype=np.float32)
        self.sqnorms = np.zeros(0, dtype=np.float32)
        self.ids = np.zeros(0, dtype=np.int64)
        self.bits = np.zeros(0, dtype=np.uint64)

    # build -------------------------------------------------------------------------------------
    def train(self, x, *, n_iter: int = 20, max_train: int | None = None, seed: int = 0) -> "FilteredIVF":
        """k-means centroids on ``x`` (or a seeded sample of ``max_train`` rows)."""
        x = ae._as_f32(x, "x")
        if max_train is not None and x.shape[0] > max_train:
            x = x[np.sort(np.random.default_rng(seed).choice(x.shape[0], max_train, replace=False))]
        self.centroids = kmeans(x, self.nlist, n_iter=n_iter, seed=seed).numpy()
        return self

    def assign(self, x) -> np.ndarray:
        """Cell of each row (n,): the nearest centroid in squared l2 (also for ``dot``, as faiss IVF does)."""
        if self.centroids is None:
            raise RuntimeError("FilteredIVF: call .train(x) before .add / .search")
        return topk_search(ae._as_f32(x, "x"), self.centroids, 1, "l2")[1][:, 0]

    def add(self, x, bits) -> "FilteredIVF":
        """Index ``x`` (n, d) with attribute words ``bits`` (n,) uint64; ids 0..n−1 (one call: the lists are rebuilt)."""
        x = ae._as_f32(x, "x")
        bits = np.asarray(bits)
        if bits.dtype != np.uint64 or bits.shape != (x.shape[0],):
            raise ValueError(f"bits must be uint64 of shape ({x.shape[0]},) (AttributeSchema.encode), "
                             f"got {bits.dtype} {bits.shape}")
        cell = self.assign(x)
        order = np.argsort(cell, kind="stable")
        self.offsets = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=self.nlist))]).astype(np.int64)
        self.vectors = np.ascontiguousarray(x[order])
        self.sqnorms = (self.vectors.astype(np.float64) ** 2).sum(1).astype(np.float32)
        self.ids = order.astype(np.int64)
        self.bits = bits[order]
        return self

    @property
    def ntotal(self) -> int:
        return int(self.offsets[-1])

    @property
    def d(self) -> int:
        return int(self.centroids.shape[1])

    def list_sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def nbytes(self) -> int:
        return int(self.centroids.nbytes + self.offsets.nbytes + self.vectors.nbytes + self.sqnorms.nbytes
                   + self.ids.nbytes + self.bits.nbytes)

    # disk --------------------------------------------------------------------------------------
    _FILES = ("centroids", "offsets", "vectors", "sqnorms", "ids", "bits")

    def save(self, folder) -> Path:
        """One ``.npy`` per array in ``folder`` (+ meta.json); :meth:`load` memory-maps them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in self._FILES:
            np.save(folder / f"{name}.npy", getattr(self, name))
        (folder / "meta.json").write_text(json.dumps({"nlist": self.nlist, "metric": self.metric}))
        return folder

    @classmethod
    def load(cls, folder, *, mmap: bool = True) -> "FilteredIVF":
        """The index saved in ``folder``; with ``mmap`` the inverted lists stay on disk (np.memmap), centroids in RAM."""
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        index = cls(meta["nlist"], meta["metric"])
        for name in cls._FILES:
            mode = "r" if mmap and name in ("vectors", "sqnorms", "ids", "bits") else None
            setattr(index, name, np.load(folder / f"{name}.npy", mmap_mode=mode))
        index.centroids = np.asarray(index.centroids)
        return index

    # search ------------------------------------------------------------------------------------
    def probe(self, q: np.ndarray, nprobe: int) -> np.ndarray:
        if not 1 <= nprobe <= self.nlist:
            raise ValueError(f"nprobe must be in 1..{self.nlist}, got {nprobe}")
        return topk_search(q, self.centroids, nprobe, "l2")[1]                       # (nq, nprobe)

    def search(self, queries, k: int, nprobe: int, masks=None, qpred=None, *, strategy: str = "hybrid",
               k_post: int | None = None):
        """``D, I`` (nq, k) and :class:`SearchStats`.

        strategy 'hybrid': in-list filtering by ``masks`` (one predicate's masks, or a list with ``qpred``
        (nq,) giving each query's predicate). 'post': the unfiltered search for ``k_post`` ≥ k candidates,
        then the predicate. ``masks=None``: plain IVF search (no filter)."""
        if self.centroids is None or self.ntotal == 0:
            raise RuntimeError("FilteredIVF.search on an empty index: call .train(x) and .add(x, bits) first")
        if strategy not in ("hybrid", "post"):
            raise ValueError(f"strategy must be 'hybrid' or 'post', got {strategy!r}")
        if k < 1:
            raise ValueError(f"k must be ≥ 1, got {k}")
        q = ae._as_f32(queries, "queries")
        if q.shape[1] != self.d:
            raise ValueError(f"queries have dimension {q.shape[1]}, the index {self.d}")
        mask_list = [np.zeros(0, dtype=np.uint64)] if masks is None else _as_mask_list(masks)
        qpred = _groups(qpred, q.shape[0], len(mask_list))
        probes = self.probe(q, nprobe)
        if strategy == "hybrid":
            return self._scan(q, probes, k, mask_list, qpred)
        kp = k if k_post is None else int(k_post)
        if kp < k:
            raise ValueError(f"k_post must be ≥ k={k}, got {kp}")
        D, I, stats = self._scan(q, probes, kp, [np.zeros(0, dtype=np.uint64)], np.zeros(q.shape[0], np.int64))
        stats.rows_tested = np.full(q.shape[0], kp, dtype=np.int64)             # the filter runs on kp candidates
        return (*_keep_first_allowed(D, I, self.bits_of, mask_list, qpred, k, self.metric), stats)

    def bits_of(self, ids: np.ndarray) -> np.ndarray:
        """Attribute words of original ids (the inverse permutation of the CSR layout)."""
        if not hasattr(self, "_pos") or len(self._pos) != self.ntotal:
            self._pos = np.empty(self.ntotal, dtype=np.int64)
            self._pos[np.asarray(self.ids)] = np.arange(self.ntotal)
        return np.asarray(self.bits)[self._pos[ids]]

    def _scan(self, q, probes, k, mask_list, qpred):
        """Visit each probed cell once; per predicate among its visitors, score only the rows that pass."""
        nq, nprobe = probes.shape
        worst = np.inf if self.metric == "l2" else -np.inf
        cand_D = torch.full((nq, nprobe, k), worst, dtype=torch.float32)
        cand_I = torch.full((nq, nprobe, k), -1, dtype=torch.int64)
        rows_tested = np.zeros(nq, dtype=np.int64)
        vectors_read = np.zeros(nq, dtype=np.int64)
        qt = torch.from_numpy(q)
        qsq = (qt * qt).sum(1)
        for l in np.unique(probes):
            lo, hi = int(self.offsets[l]), int(self.offsets[l + 1])
            if hi == lo:
                continue
            qi, rank = np.nonzero(probes == l)
            rows_tested[qi] += hi - lo
            bits_l = np.asarray(self.bits[lo:hi])
            for p in np.unique(qpred[qi]):
                sel = qpred[qi] == p
                ok = matches(bits_l, mask_list[p])                              # bitwise filter, whole list
                rows = np.nonzero(ok)[0]
                if rows.size == 0:
                    continue
                if rows.size == hi - lo:                                         # contiguous read
                    Y = np.asarray(self.vectors[lo:hi]); ysq = np.asarray(self.sqnorms[lo:hi])
                else:
                    Y = np.asarray(self.vectors[lo + rows]); ysq = np.asarray(self.sqnorms[lo + rows])
                qs, rs = qi[sel], rank[sel]
                vectors_read[qs] += rows.size
                ip = qt[qs] @ torch.from_numpy(Y).T                               # (nql, n_pass)
                if self.metric == "l2":
                    dist = (qsq[qs, None] - 2 * ip + torch.from_numpy(ysq)[None, :]).clamp_min_(0)
                else:
                    dist = ip
                kk = min(k, rows.size)
                v, j = dist.topk(kk, dim=1, largest=self.metric != "l2")
                ids_l = torch.from_numpy(np.asarray(self.ids[lo:hi])[rows])
                cand_D[qs, rs, :kk] = v
                cand_I[qs, rs, :kk] = ids_l[j]
        D, j = cand_D.view(nq, -1).topk(k, dim=1, largest=self.metric != "l2")
        I = cand_I.view(nq, -1).gather(1, j)
        return D.numpy(), I.numpy(), SearchStats(rows_tested, vectors_read)


def _keep_first_allowed(D, I, bits_of, mask_list, qpred, k, metric):
    """Post-filter: per query, the first k candidates (in distance order) that pass its predicate."""
    ok = I >= 0
    for p in np.unique(qpred):
        sel = qpred == p
        blk = I[sel]
        ok[sel] &= matches(bits_of(np.where(blk >= 0, blk, 0)).ravel(), mask_list[p]).reshape(blk.shape)
    fill = np.inf if metric == "l2" else -np.inf
    order = np.argsort(~ok, axis=1, kind="stable")[:, :k]                        # allowed first, order kept
    Dk, Ik, okk = (np.take_along_axis(a, order, 1) for a in (D, I, ok))
    return np.where(okk, Dk, fill).astype(np.float32), np.where(okk, Ik, -1)


def hybrid_search_reference(x, attrs, centroids, queries, k: int, nprobe: int, predicate: dict,
                            metric: str = "l2"):
    """Definition of in-list filtering, one query at a time: the nprobe nearest centroids (float64 l2, stable
    order), their members (nearest centroid, stable), those whose raw attributes satisfy ``predicate``, float64
    distances, a stable sort, the first k. ``I`` (nq, k) with −1 fill, ``D`` float64."""
    x = np.asarray(x, dtype=np.float64); C = np.asarray(centroids, dtype=np.float64)
    q = np.asarray(queries, dtype=np.float64)
    # nearest centroid of every row, float64: ‖x‖² − 2x·c + ‖c‖² (n, nlist); first minimum on ties
    cell = np.argmin((x * x).sum(1)[:, None] - 2 * x @ C.T + (C * C).sum(1)[None, :], axis=1)
    allowed = matches_reference(attrs, predicate)
    fill = np.inf if metric == "l2" else -np.inf
    D = np.full((q.shape[0], k), fill); I = np.full((q.shape[0], k), -1, dtype=np.int64)
    for i, qi in enumerate(q):
        dc = ((C - qi) ** 2).sum(1)
        cells = np.argsort(dc, kind="stable")[:nprobe]
        cand = np.nonzero(np.isin(cell, cells) & allowed)[0]
        s = ((x[cand] - qi) ** 2).sum(1) if metric == "l2" else x[cand] @ qi
        o = np.argsort(s if metric == "l2" else -s, kind="stable")[:k]
        D[i, :o.size], I[i, :o.size] = s[o], cand[o]
    return D, I


# ---------------------------------------------------------------------------------------------- faiss peer
def faiss_ivf_flat(x, nlist: int, metric: str = "l2", *, centroids=None, threads: int = 1, seed: int = 0):
    """faiss ``IndexIVFFlat`` on ``x``; with ``centroids`` its coarse quantiser holds exactly those (no training)."""
    import faiss
    faiss.omp_set_num_threads(threads)
    x = ae._as_f32(x, "x")
    d = x.shape[1]
    fm = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    quantizer = faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, fm)
    if centroids is not None:
        quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
        index.is_trained = True
    else:
        index.cp.seed = seed
        index.train(x)
    index.add(x)
    return index


def faiss_filtered_search(index, queries, k: int, nprobe: int, allowed: list[np.ndarray], qpred=None,
                          threads: int = 1):
    """faiss search restricted by ``IDSelectorBitmap`` (one per predicate) via ``SearchParametersIVF``; missing → ±inf, −1."""
    import faiss
    faiss.omp_set_num_threads(threads)
    q = ae._as_f32(queries, "queries")
    qpred = _groups(qpred, q.shape[0], len(allowed))
    D = np.empty((q.shape[0], k), dtype=np.float32)
    I = np.empty((q.shape[0], k), dtype=np.int64)
    for p in np.unique(qpred):
        bitmap = np.packbits(np.asarray(allowed[p], dtype=bool), bitorder="little")
        sel = faiss.IDSelectorBitmap(len(allowed[p]), faiss.swig_ptr(bitmap))
        params = faiss.SearchParametersIVF(sel=sel, nprobe=int(nprobe))
        rows = qpred == p
        D[rows], I[rows] = index.search(q[rows], k, params=params)
    worst = np.inf if index.metric_type == faiss.METRIC_L2 else -np.inf
    D[I < 0] = worst                                                            # faiss fills ±float32 max
    return D, I


# ---------------------------------------------------------------------------------------------- sweeps
def _timed(fn, repeats: int):
    """(result, best-of-``repeats`` wall seconds)."""
    best, out = np.inf, None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def sweep(index: FilteredIVF, x, bits, queries, gt: ae.GroundTruth, mask_list: list[np.ndarray],
          allowed: list[np.ndarray], qpred, k: int, nprobes, *, selectivity: float, post_factor: float = 2.0,
          repeats: int = 1, faiss_index=None, threads: int = 1, label: str = "") -> list[dict]:
    """Recall@k / queries/s rows of every strategy on one batch of filtered queries (``ann_eval`` row format).

    Methods: 'ours-hybrid' and 'ours-post' (k′ = ⌈post_factor·k / selectivity⌉, capped at ntotal) over
    ``nprobes``; 'pre-filter' (one exact point); 'faiss-IDSelector' over ``nprobes`` when ``faiss_index`` is
    given. Queries/s = nq / best-of-``repeats`` wall seconds of the whole batch (threads as set by the caller)."""
    q = ae._as_f32(queries, "queries")
    qpred = _groups(qpred, q.shape[0], len(mask_list))
    kp = int(min(index.ntotal, np.ceil(post_factor * k / max(selectivity, 1e-12))))
    rows = []

    def add(method, nprobe, ids, secs, stats=None):
        rq = filtered_recall_per_query(gt, x, q, ids, allowed, qpred, k)
        r = {"method": method, "case": label, "nprobe": nprobe, "recall": float(rq.mean()),
             "qps": q.shape[0] / secs, "search_s": secs, "k": k, "nq": int(q.shape[0]), "recall_per_query": rq,
             "build_params": {}, "search_params": {"nprobe": nprobe}, "k_post": kp if method == "ours-post" else None}
        if stats is not None:
            r["vectors_read"] = float(np.mean(stats.vectors_read))
            r["bytes_read"] = float(np.mean(stats.bytes_read(index.d))) if isinstance(stats, SearchStats) else np.nan
        rows.append(r)

    for nprobe in nprobes:
        (D, I, st), secs = _timed(lambda: index.search(q, k, nprobe, mask_list, qpred), repeats)
        add("ours-hybrid", nprobe, I, secs, st)
        (D, I, st), secs = _timed(lambda: index.search(q, k, nprobe, mask_list, qpred, strategy="post",
                                                       k_post=kp), repeats)
        add("ours-post", nprobe, I, secs, st)
        if faiss_index is not None:
            (D, I), secs = _timed(lambda: faiss_filtered_search(faiss_index, q, k, nprobe, allowed, qpred,
                                                                threads), repeats)
            add("faiss-IDSelector", nprobe, I, secs)
    (D, I, vr), secs = _timed(lambda: prefilter_search(x, bits, q, k, mask_list, qpred, index.metric), repeats)
    add("pre-filter", None, I, secs, SearchStats(np.zeros_like(vr), vr))
    return rows


def qps_at_target(rows: list[dict], method: str, target: float) -> float:
    """Largest queries/s of ``method``'s rows with recall ≥ target; 0.0 when no setting reaches it."""
    v = ae.qps_at_recall([r for r in rows if r["method"] == method], target)
    return 0.0 if np.isnan(v) else float(v)


def faiss_postfilter_search(index, queries, k: int, nprobe: int, k_post: int, allowed: list[np.ndarray],
                            qpred=None, threads: int = 1):
    """faiss unfiltered search for ``k_post`` candidates, then each query's filter, first k kept (post-filter)."""
    import faiss
    faiss.omp_set_num_threads(threads)
    q = ae._as_f32(queries, "queries")
    qpred = _groups(qpred, q.shape[0], len(allowed))
    if k_post < k:
        raise ValueError(f"k_post must be ≥ k={k}, got {k_post}")
    D, I = index.search(q, int(k_post), params=faiss.SearchParametersIVF(nprobe=int(nprobe)))
    ok = I >= 0
    for p in np.unique(qpred):
        rows = qpred == p
        ok[rows] &= np.asarray(allowed[p], dtype=bool)[np.maximum(I[rows], 0)]
    order = np.argsort(~ok, axis=1, kind="stable")[:, :k]
    Ik, okk = np.take_along_axis(I, order, 1), np.take_along_axis(ok, order, 1)
    worst = np.inf if index.metric_type == faiss.METRIC_L2 else -np.inf
    return np.where(okk, np.take_along_axis(D, order, 1), worst).astype(np.float32), np.where(okk, Ik, -1)
