r"""Vector quantisation for compressed-domain search: k-means, product quantisation (PQ), IVF-PQ (IVFADC).

- ``kmeans``: Lloyd's algorithm; assignment = exact 1-NN (``topk_search`` l2), update = cluster means; an empty
  cluster is re-seeded with the point farthest from its centroid. Init: ``n_clusters`` distinct random points.
- ``ProductQuantizer`` (Jégou et al. 2011): split d into M sub-vectors of d/M; each has its own codebook of
  2^nbits centroids (k-means), and a vector is stored as M codes. Asymmetric distance (ADC):
  ‖q − ŷ‖² = Σ_m T[m, code_m(y)] with the lookup table T[m, j] = ‖q_m − C_m[j]‖², (M, 2^nbits) per query.
- ``IVFPQIndex`` (IVFADC, Jégou et al. 2011; faiss ``IndexIVFPQ`` with ``by_residual=True``): a coarse k-means
  quantiser with ``nlist`` cells; each vector's residual y − c(y) is PQ-encoded into its cell's inverted list.
  A query visits its ``nprobe`` nearest cells, scoring cell l's codes with the table of q − c_l.

Cost: search is O(nq·nlist·d) for the coarse step plus O(nq·nprobe·(2^nbits·d + (nb/nlist)·M)). Distances
are squared l2 (smaller is better); results follow ``topk_search``'s conventions (−1 / +inf filler).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix
from simrepro.kernels.topk import limit_cpu_threads, search_validated


def kmeans(x, n_clusters: int, *, n_iter: int = 20, seed: int = 0) -> torch.Tensor:
    """Centroids (n_clusters, d) of ``x`` (n, d) after ``n_iter`` Lloyd iterations (float32 in, float32 out)."""
    x = as_matrix(x, "x", dtype=torch.float32)
    n = x.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be in 1..{n} (the number of points), got {n_clusters}")
    g = torch.Generator().manual_seed(seed)
    centroids = x[torch.randperm(n, generator=g)[:n_clusters]].clone()
    with limit_cpu_threads(1):                                                    # small ops per iteration
        for _ in range(n_iter):
            centroids = _lloyd_step(x, centroids)
    return centroids


def _lloyd_step(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """One assignment + update; an empty cluster is re-seeded at the point farthest from its centroid."""
    n_clusters = centroids.shape[0]
    dist, assign = search_validated(x, centroids, 1, "l2", device="cpu")           # (n, 1) each
    assign = assign[:, 0]
    counts = torch.bincount(assign, minlength=n_clusters)
    sums = torch.zeros_like(centroids).index_add_(0, assign, x)
    nonempty = counts > 0
    centroids = centroids.clone()
    centroids[nonempty] = sums[nonempty] / counts[nonempty, None].to(x.dtype)
    empty = torch.nonzero(~nonempty).flatten()
    if len(empty):
        centroids[empty] = x[dist[:, 0].topk(len(empty)).indices]
    return centroids


@dataclass
class ProductQuantizer:
    """M codebooks of 2^nbits centroids over d/M-dimensional sub-vectors: ``codebooks`` (M, 2^nbits, d/M)."""

    codebooks: torch.Tensor

    @property
    def M(self) -> int:
        return self.codebooks.shape[0]

    @property
    def dsub(self) -> int:
        return self.codebooks.shape[2]

    @classmethod
    def train(cls, x, M: int, nbits: int = 8, *, n_iter: int = 25, seed: int = 0) -> "ProductQuantizer":
        """k-means per sub-space on ``x`` (n, d); d must be divisible by M and n ≥ 2^nbits."""
        x = as_matrix(x, "x", dtype=torch.float32, allow_empty=False)
        d = x.shape[1]
        if M < 1 or d % M:
            raise ValueError(f"M must divide the dimension d={d}, got M={M}")
        if not 1 <= nbits <= 16 or x.shape[0] < 2 ** nbits:
            raise ValueError(f"need 1 ≤ nbits ≤ 16 and at least 2^nbits={2 ** nbits} training vectors, "
                             f"got nbits={nbits} and {x.shape[0]} vectors")
        subs = x.reshape(x.shape[0], M, d // M)
        return cls(torch.stack([kmeans(subs[:, m], 2 ** nbits, n_iter=n_iter, seed=seed + m) for m in range(M)]))

    def encode(self, x) -> torch.Tensor:
        """Codes (n, M) int64: the nearest codeword of each sub-vector."""
        x = as_matrix(x, "x", dtype=torch.float32)
        subs = x.reshape(x.shape[0], self.M, self.dsub)
        codes = [search_validated(subs[:, m], self.codebooks[m], 1, "l2", device="cpu")[1][:, 0]
                 for m in range(self.M)]
        return torch.stack(codes, dim=1) if codes else torch.empty((x.shape[0], 0), dtype=torch.int64)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Reconstructions (n, d) = concatenated codewords."""
        parts = [self.codebooks[m][codes[:, m]] for m in range(self.M)]
        return torch.cat(parts, dim=1)

    def distance_tables(self, q: torch.Tensor) -> torch.Tensor:
        """T (M, nq, 2^nbits) with T[m, i, j] = ‖q_i,m − C_m[j]‖² for float32 q (nq, d)."""
        subs = q.reshape(q.shape[0], self.M, self.dsub).transpose(0, 1)                # (M, nq, dsub)
        ip = torch.bmm(subs, self.codebooks.transpose(1, 2))                       # (M, nq, ksub)
        return ((subs * subs).sum(2, keepdim=True) + (self.codebooks ** 2).sum(2)[:, None, :] - 2 * ip).clamp_min_(0)

    @staticmethod
    def adc(tables: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """Asymmetric distances (nq, n) = Σ_m tables[m, :, codes[:, m]]."""
        out = torch.zeros((tables.shape[1], codes.shape[0]), dtype=tables.dtype)
        for m in range(tables.shape[0]):
            out += tables[m][:, codes[:, m]]
        return out


class IVFPQIndex:
    """IVFADC: coarse k-means (``nlist`` cells) + PQ (M × nbits) of residuals; exhaustive within probed cells."""

    def __init__(self, nlist: int, M: int, nbits: int = 8):
        self.nlist, self.M, self.nbits = nlist, M, nbits
        self.coarse: torch.Tensor | None = None
        self.pq: ProductQuantizer | None = None
        self.list_ids: list[torch.Tensor] = []
        self.list_codes: list[torch.Tensor] = []

    def train(self, x, *, n_iter: int = 20, pq_iter: int = 25, seed: int = 0) -> "IVFPQIndex":
        x = as_matrix(x, "x", dtype=torch.float32, allow_empty=False)
        self.coarse = kmeans(x, self.nlist, n_iter=n_iter, seed=seed)
        assign = search_validated(x, self.coarse, 1, "l2", device="cpu")[1][:, 0]
        self.pq = ProductQuantizer.train(x - self.coarse[assign], self.M, self.nbits, n_iter=pq_iter, seed=seed)
        return self

    @property
    def ntotal(self) -> int:
        return sum(len(i) for i in self.list_ids)

    def add(self, x) -> "IVFPQIndex":
        """Append ``x`` (n, d); ids continue from ``ntotal``."""
        if self.coarse is None:
            raise RuntimeError("IVFPQIndex.add before train: call .train(x) first")
        x = as_matrix(x, "x", dtype=torch.float32)
        ids = torch.arange(self.ntotal, self.ntotal + x.shape[0])
        assign = search_validated(x, self.coarse, 1, "l2", device="cpu")[1][:, 0]
        codes = self.pq.encode(x - self.coarse[assign])
        if not self.list_ids:
            self.list_ids = [torch.empty(0, dtype=torch.int64) for _ in range(self.nlist)]
            self.list_codes = [torch.empty((0, self.M), dtype=torch.int64) for _ in range(self.nlist)]
        for l in torch.unique(assign).tolist():
            rows = assign == l
            self.list_ids[l] = torch.cat([self.list_ids[l], ids[rows]])
            self.list_codes[l] = torch.cat([self.list_codes[l], codes[rows]])
        return self

    def search(self, queries, k: int, nprobe: int = 1):
        """``D, I`` (nq, k): ADC distances (approximate ‖q − y‖²) and ids of the best k in the nprobe cells."""
        if not self.list_ids:
            raise RuntimeError("IVFPQIndex.search on an empty index: call .train(x) and .add(x) first")
        if not 1 <= nprobe <= self.nlist:
            raise ValueError(f"nprobe must be in 1..{self.nlist}, got {nprobe}")
        q = as_matrix(queries, "queries", dtype=torch.float32)
        nq = q.shape[0]
        cand_D = torch.full((nq, nprobe, k), float("inf"))
        cand_I = torch.full((nq, nprobe, k), -1, dtype=torch.int64)
        _, probes = search_validated(q, self.coarse, nprobe, "l2", device="cpu")     # (nq, nprobe)
        with limit_cpu_threads(1):                                                # many small per-cell ops
            self._scan_cells(q, probes, k, cand_D, cand_I)
        D, j = cand_D.view(nq, -1).topk(k, dim=1, largest=False)
        I = cand_I.view(nq, -1).gather(1, j)
        if isinstance(queries, np.ndarray):
            return D.numpy(), I.numpy()
        return D, I

    def _scan_cells(self, q, probes, k, cand_D, cand_I) -> None:
        """Fill cand_D/cand_I (nq, nprobe, k) with each probed cell's k best ADC distances and ids."""
        for l in torch.unique(probes).tolist():
            if len(self.list_ids[l]) == 0:
                continue
            qi, rank = torch.nonzero(probes == l, as_tuple=True)                # queries visiting cell l
            tables = self.pq.distance_tables(q[qi] - self.coarse[l])
            dist = self.pq.adc(tables, self.list_codes[l])                       # (nql, n_l)
            kk = min(k, dist.shape[1])
            v, j = dist.topk(kk, dim=1, largest=False)
            cand_D[qi, rank, :kk] = v
            cand_I[qi, rank, :kk] = self.list_ids[l][j]
