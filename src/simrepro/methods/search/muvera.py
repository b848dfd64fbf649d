r"""Multi-vector retrieval: Chamfer (MaxSim) similarity and MUVERA's Fixed Dimensional Encodings
(Dhulipala, Hadian, Jayaram, Lee & Mirrokni, NeurIPS 2024, arXiv 2405.19504).

A *point cloud* is a set of vectors Q = {q₁ … q_m} ⊂ ℝᵈ (one per token). A batch of clouds is a ragged list of
(mᵢ, d) arrays, or a padded (n, L, d) array with a boolean (n, L) mask (:func:`ragged_from_padded`).

Chamfer similarity (paper §1.1)
    CHAMFER(Q, P) = Σ_{q ∈ Q} max_{p ∈ P} ⟨q, p⟩,      NCHAMFER = CHAMFER / |Q|.
:func:`chamfer_similarity` gives the (n_q, n_d) matrix for batches of queries and documents, from the shared
``pairwise_similarity(·, ·, "dot")`` kernel on the flattened tokens followed by a per-document max and a
per-query sum; :func:`chamfer_similarity_reference` is the float64 double loop.

Fixed Dimensional Encodings (paper §2, eq. 2; the official C++ is google/graph-mining
``sketching/point_cloud/fixed_dimensional_encoding.cc``). For each repetition r = 1 … R:
  - SimHash partition: k_sim Gaussian vectors g₁ … g_k; the sign bits bᵢ = 1(⟨gᵢ, x⟩ > 0) read as a *Gray
    code* give the bucket φ(x) ∈ [0, 2^k): the official code appends each bit as ``(g << 1) + (b ⊕ (g & 1))``,
    i.e. bucket bit i is b₁ ⊕ … ⊕ bᵢ, so buckets whose indices differ by one differ in one hyperplane;
    the sign pattern of bucket g is recovered as g ⊕ (g >> 1).
  - inner projection ψ: ``identity`` (d_proj = d), ``ams`` (the official AMS_SKETCH: each input coordinate
    sent to one random output coordinate with a random sign, unscaled) or ``dense`` (the paper's
    ψ(x) = S x / √d_proj with i.i.d. ±1 entries);
  - query block k:    q⃗⁽ᵏ⁾ = Σ_{q: φ(q)=k} ψ(q)                               (sum)
  - document block k: p⃗⁽ᵏ⁾ = (1/|P ∩ φ⁻¹(k)|) Σ_{p: φ(p)=k} ψ(p)            (centroid)
    with ``fill_empty_partitions`` (documents only): an empty block k takes ψ(p) of the point p whose sign
    bits disagree least with bucket k (the first such point: the official tie rule).
The FDE is the concatenation over r (layout [repetition][bucket][coordinate], as the official code), of
dimension R · 2^k · d_proj; an optional final projection (``final_projection_dimension``) is the official
count-sketch: coordinate c goes to h(c) with sign s(c), unscaled. Then ⟨F_q(Q), F_doc(P)⟩ / R ≈ CHAMFER(Q, P).

Random draws. Ours come from ``numpy.random.default_rng([seed, r, ·])`` (the official code uses mt19937 and
``std::normal_distribution``, whose streams are implementation-defined), so encodings agree with another
implementation only given the same draws: :class:`FDERandomness` can be built from any source, which is how
the tests and the notebook compare us with the ``muvera-python`` peer exactly.

Retrieval helpers (paper §3.1): :func:`sv_heuristic_candidates` (the single-vector heuristic: documents of the
1-NN tokens of every query token, then of the 2-NN, …, duplicates removed), :func:`candidate_recall` (tie-aware
recall of a candidate list against the exact Chamfer top-k, i.e. the recall after an exact rerank) and
:func:`candidates_to_match` (how many fewer candidates one method needs to reach another's recall).
The wave harness `ann_eval` judges recall from vector distances; Chamfer ranks point clouds, so the recall here
is computed from the Chamfer score matrix instead.

Costs: FDE encoding O(R · T · d · (k + d_proj)) for T tokens (O(R·T·d) for ``ams``) plus the fill,
O(R · T · 2^k); Chamfer O(T_q · T_d · d), computed ``block_size`` query tokens at a time (peak extra memory
O(block_size · T_d)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix
from simrepro.kernels.pairwise import pairwise_similarity
from simrepro.kernels.topk import topk_search

PROJECTIONS = ("identity", "ams", "dense")
KINDS = ("query", "document")


# ----------------------------------------------------------------------------------------------- point clouds
@dataclass(frozen=True)
class Clouds:
    """A batch of point clouds flattened: ``X`` (T, d) float32 and ``offsets`` (n + 1,) int64; cloud i is
    ``X[offsets[i]:offsets[i + 1]]``."""

    X: np.ndarray
    offsets: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return self.offsets.size - 1

    def owner(self) -> np.ndarray:
        """(T,) index of the cloud each row belongs to."""
        return np.repeat(np.arange(len(self)), self.sizes)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.X[self.offsets[i]:self.offsets[i + 1]]


def ragged_from_padded(x, mask) -> list[np.ndarray]:
    """(n, L, d) padded clouds and an (n, L) boolean mask (True = a real vector) → list of (mᵢ, d) arrays."""
    x, mask = np.asarray(x), np.asarray(mask)
    if x.ndim != 3 or mask.shape != x.shape[:2] or mask.dtype != bool:
        raise ValueError(f"expected x (n, L, d) and a boolean mask (n, L), got {x.shape} and "
                         f"{mask.shape} {mask.dtype}")
    return [x[i][mask[i]] for i in range(x.shape[0])]


def as_clouds(clouds, name: str = "clouds", *, dim: int | None = None, allow_empty_cloud: bool = True) -> Clouds:
    """Validate a batch of clouds (a list of (mᵢ, d) arrays/tensors, a single (m, d) cloud is *not* accepted
    — wrap it in a list — or a :class:`Clouds`) and flatten it to float32."""
    if isinstance(clouds, Clouds):
        parts = None
        X, offsets = clouds.X, clouds.offsets
    else:
        if isinstance(clouds, (np.ndarray, torch.Tensor)):
            raise TypeError(f"{name}: expected a list of (m_i, d) clouds; wrap one cloud as [cloud], or use "
                            f"ragged_from_padded(x, mask) for a padded batch")
        parts = [c.detach().cpu().numpy() if isinstance(c, torch.Tensor) else np.asarray(c) for c in clouds]
        for i, c in enumerate(parts):
            if c.ndim != 2:
                raise ValueError(f"{name}[{i}]: expected a 2-D (m, d) cloud, got shape {c.shape}")
        dims = {c.shape[1] for c in parts}
        if len(dims) > 1:
            raise ValueError(f"{name}: clouds have different dimensions {sorted(dims)}; all must be (·, d)")
        d = dims.pop() if dims else (dim or 0)
        sizes = np.array([c.shape[0] for c in parts], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        X = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros((0, d), np.float32)
    X = as_matrix(X, name, dtype=torch.float32).numpy()
    if dim is not None and X.shape[1] != dim:
        raise ValueError(f"{name}: vectors have dimension {X.shape[1]} but the encoder expects {dim}")
    out = Clouds(X, np.asarray(offsets, dtype=np.int64))
    if not allow_empty_cloud and len(out) and out.sizes.min() == 0:
        i = int(np.argmin(out.sizes))
        raise ValueError(f"{name}[{i}] has no vectors: a document needs at least one (its Chamfer similarity "
                         f"max over an empty set is undefined); drop empty documents first")
    return out


# ----------------------------------------------------------------------------------------------- Chamfer
def _token_doc_max(q: np.ndarray, docs: Clouds, block_size: int) -> np.ndarray:
    """(T_q, n_d) float32: M[t, j] = max_{p ∈ P_j} ⟨q_t, p⟩ (documents must be non-empty)."""
    out = np.empty((q.shape[0], len(docs)), dtype=np.float32)
    starts = docs.offsets[:-1]
    for s in range(0, q.shape[0], block_size):
        S = pairwise_similarity(q[s:s + block_size], docs.X, "dot")        # (b, T_d)
        out[s:s + block_size] = np.maximum.reduceat(S, starts, axis=1)    # max over each document's tokens
    return out


def _sum_per_cloud(M: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Row sums of M (T, n) per cloud segment, float64, empty segments → 0."""
    c = np.zeros((M.shape[0] + 1, M.shape[1]), dtype=np.float64)
    np.cumsum(M, axis=0, dtype=np.float64, out=c[1:])
    return c[offsets[1:]] - c[offsets[:-1]]


def _default_block(t_d: int) -> int:
    return max(1, min(4096, (16 << 20) // max(1, t_d)))      # ≈ 64 MiB of float32 scores per block


def chamfer_similarity(queries, documents, *, block_size: int | None = None) -> np.ndarray:
    """(n_q, n_d) float64 matrix C[i, j] = CHAMFER(Qᵢ, P_j) = Σ_{q ∈ Qᵢ} max_{p ∈ P_j} ⟨q, p⟩.

    An empty query scores 0 with every document; an empty document is an error (the max is undefined).
    ``block_size`` query tokens are scored at a time (peak memory ≈ 4·block_size·T_d bytes; default ≈ 64 MiB).
    Scores are float32 dot products (the shared kernel) summed in float64.
    """
    Q = as_clouds(queries, "queries")
    D = as_clouds(documents, "documents", dim=Q.X.shape[1] if Q.X.shape[0] else None, allow_empty_cloud=False)
    if Q.X.shape[0] and D.X.shape[0] and Q.X.shape[1] != D.X.shape[1]:
        raise ValueError(f"queries have dimension {Q.X.shape[1]} but documents have {D.X.shape[1]}")
    if len(D) == 0 or Q.X.shape[0] == 0:
        return np.zeros((len(Q), len(D)))
    block = block_size or _default_block(D.X.shape[0])
    if block < 1:
        raise ValueError(f"block_size must be ≥ 1, got {block_size}")
    return _sum_per_cloud(_token_doc_max(Q.X, D, block), Q.offsets)


def chamfer_similarity_reference(queries, documents) -> np.ndarray:
    """The definition, one pair and one query vector at a time, in float64 (ground truth for tests)."""
    qs = [np.asarray(q, dtype=np.float64) for q in queries]
    ds = [np.asarray(p, dtype=np.float64) for p in documents]
    out = np.zeros((len(qs), len(ds)))
    for i, q in enumerate(qs):
        for j, p in enumerate(ds):
            if p.shape[0] == 0:
                raise ValueError(f"documents[{j}] has no vectors")
            out[i, j] = sum(max(float(v @ w) for w in p) for v in q)
    return out


# ----------------------------------------------------------------------------------------------- FDE config
@dataclass(frozen=True)
class FDEConfig:
    """The official ``FixedDimensionalEncodingConfig`` fields (defaults as in its proto, seed = 1).

    ``projection``: ``identity`` | ``ams`` (the official AMS_SKETCH) | ``dense`` (the paper's ±1/√d_proj).
    """

    dimension: int
    num_repetitions: int = 1
    num_simhash_projections: int = 0
    projection: str = "identity"
    projection_dimension: int | None = None
    fill_empty_partitions: bool = False
    final_projection_dimension: int | None = None
    seed: int = 1

    def __post_init__(self):
        def positive(name, v):
            if not (isinstance(v, (int, np.integer)) and v >= 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        positive("dimension", self.dimension)
        positive("num_repetitions", self.num_repetitions)
        if not (isinstance(self.num_simhash_projections, (int, np.integer)) and 0 <= self.num_simhash_projections < 31):
            raise ValueError(f"num_simhash_projections must be an integer in [0, 31), got "
                             f"{self.num_simhash_projections!r} (the official limit)")
        if self.projection not in PROJECTIONS:
            raise ValueError(f"unknown projection {self.projection!r}; expected one of {', '.join(PROJECTIONS)}")
        if self.projection != "identity":
            if self.projection_dimension is None:
                raise ValueError(f"projection={self.projection!r} needs a positive projection_dimension")
            positive("projection_dimension", self.projection_dimension)
        if self.final_projection_dimension is not None:
            positive("final_projection_dimension", self.final_projection_dimension)
        if not (isinstance(self.seed, (int, np.integer)) and self.seed >= 0):
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")

    @property
    def num_partitions(self) -> int:
        return 2 ** self.num_simhash_projections

    @property
    def block_dimension(self) -> int:
        """d_proj: the width of one bucket's block."""
        return self.dimension if self.projection == "identity" else int(self.projection_dimension)

    @property
    def fde_dimension(self) -> int:
        """R · 2^k · d_proj, before the final projection."""
        return self.num_repetitions * self.num_partitions * self.block_dimension

    @property
    def output_dimension(self) -> int:
        return self.final_projection_dimension or self.fde_dimension


@dataclass(frozen=True)
class FDERandomness:
    """The random draws of an encoder: per repetition a SimHash matrix (d, k) and an inner projection matrix
    (d, d_proj) (``None`` for identity); for the final projection a target index and a sign per FDE
    coordinate (``None`` without one)."""

    simhash: tuple
    projection: tuple
    final_index: np.ndarray | None = None
    final_sign: np.ndarray | None = None


def draw_randomness(config: FDEConfig) -> FDERandomness:
    """Our seeded draws: ``default_rng([seed, r, 0])`` for the SimHash matrix of repetition r,
    ``default_rng([seed, r, 1])`` for its projection, ``default_rng([seed, 2**31])`` for the final one."""
    d, k, dp = config.dimension, config.num_simhash_projections, config.block_dimension
    sim, proj = [], []
    for r in range(config.num_repetitions):
        sim.append(np.random.default_rng([config.seed, r, 0]).standard_normal((d, k)).astype(np.float32))
        rng = np.random.default_rng([config.seed, r, 1])
        if config.projection == "identity":
            proj.append(None)
        elif config.projection == "ams":
            m = np.zeros((d, dp), np.float32)
            m[np.arange(d), rng.integers(0, dp, d)] = rng.choice(np.array([-1.0, 1.0], np.float32), d)
            proj.append(m)
        else:
            proj.append((rng.choice(np.array([-1.0, 1.0], np.float32), (d, dp)) / np.sqrt(dp)).astype(np.float32))
    fi = fs = None
    if config.final_projection_dimension:
        rng = np.random.default_rng([config.seed, 2 ** 31])
        fi = rng.integers(0, config.final_projection_dimension, config.fde_dimension)
        fs = rng.choice(np.array([-1.0, 1.0], np.float32), config.fde_dimension)
    return FDERandomness(tuple(sim), tuple(proj), fi, fs)


def _check_randomness(config: FDEConfig, rnd: FDERandomness) -> None:
    d, k, dp, R = config.dimension, config.num_simhash_projections, config.block_dimension, config.num_repetitions
    if len(rnd.simhash) != R or len(rnd.projection) != R:
        raise ValueError(f"randomness has {len(rnd.simhash)} repetitions, the config {R}")
    for g, s in zip(rnd.simhash, rnd.projection):
        if np.shape(g) != (d, k):
            raise ValueError(f"SimHash matrix must be ({d}, {k}), got {np.shape(g)}")
        if (s is None) != (config.projection == "identity") or s is not None and np.shape(s) != (d, dp):
            raise ValueError(f"projection matrix must be ({d}, {dp}) (None for identity), got "
                             f"{None if s is None else np.shape(s)}")
    if (rnd.final_index is None) != (config.final_projection_dimension is None):
        raise ValueError("final projection draws must be given exactly when final_projection_dimension is set")


# ----------------------------------------------------------------------------------------------- partitions
def simhash_partition(sketches) -> np.ndarray:
    """(n, k) SimHash projections ⟨gᵢ, x⟩ → (n,) int64 Gray-code bucket index in [0, 2^k).

    Bit i of the index (most significant first) is b₁ ⊕ … ⊕ bᵢ, bᵢ = 1(⟨gᵢ, x⟩ > 0): the official
    ``AppendToGrayCode`` applied bit by bit. k = 0 gives bucket 0."""
    s = np.asarray(sketches)
    if s.ndim != 2:
        raise ValueError(f"sketches must be (n, k), got shape {s.shape}")
    k = s.shape[1]
    if k == 0:
        return np.zeros(s.shape[0], np.int64)
    gray = np.bitwise_xor.accumulate((s > 0).astype(np.int64), axis=1)         # prefix XOR of the sign bits
    return (gray << np.arange(k - 1, -1, -1, dtype=np.int64)).sum(axis=1)


def partition_sign_bits(index, k: int) -> np.ndarray:
    """Bucket index (…,) → its SimHash sign pattern (…, k) ∈ {0, 1}, most significant first: g ⊕ (g >> 1)."""
    g = np.asarray(index, dtype=np.int64)
    b = g ^ (g >> 1)
    return (b[..., None] >> np.arange(k - 1, -1, -1, dtype=np.int64)) & 1


def _popcount(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.uint32)
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    return ((((x + (x >> 4)) & 0x0F0F0F0F) * 0x01010101) & 0xFFFFFFFF) >> 24


# ----------------------------------------------------------------------------------------------- FDE encoder
def fde_encode(clouds, config: FDEConfig, kind: str, *, randomness: FDERandomness | None = None,
               chunk_size: int | None = None) -> np.ndarray:
    """(n, output_dimension) float32 FDEs of a batch of clouds: ``kind="query"`` sums each bucket,
    ``kind="document"`` takes centroids and, with ``fill_empty_partitions``, fills empty buckets.

    ``randomness`` defaults to :func:`draw_randomness` (config); pass another to reproduce a peer. With a final
    projection the full R·2^k·d_proj vector is never materialised: each repetition's block is count-sketched
    as it is built (the projection is linear). ``chunk_size`` clouds are encoded at a time (default: about
    2²⁴ floats of intermediate blocks).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "query" and config.fill_empty_partitions:
        raise ValueError("fill_empty_partitions applies to documents only (as in the official code): a filled "
                         "query block would count one query vector several times; use a config without it")
    C = as_clouds(clouds, kind + "s", dim=config.dimension,
                  allow_empty_cloud=not (kind == "document" and config.fill_empty_partitions))
    rnd = randomness or draw_randomness(config)
    _check_randomness(config, rnd)
    n, B, dp = len(C), config.num_partitions, config.block_dimension
    chunk = chunk_size or max(1, (1 << 24) // (B * dp))
    out = np.zeros((n, config.output_dimension), np.float32)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        sub = Clouds(C.X[C.offsets[s]:C.offsets[e]], C.offsets[s:e + 1] - C.offsets[s])
        out[s:e] = _encode_chunk(sub, config, kind, rnd)
    return out


def _encode_chunk(C: Clouds, config: FDEConfig, kind: str, rnd: FDERandomness) -> np.ndarray:
    n, k, B, dp = len(C), config.num_simhash_projections, config.num_partitions, config.block_dimension
    X, owner = torch.from_numpy(C.X), torch.from_numpy(C.owner())
    out = torch.zeros((n, config.output_dimension), dtype=torch.float32)
    width = B * dp
    for r in range(config.num_repetitions):
        sketch = X @ torch.from_numpy(np.asarray(rnd.simhash[r], np.float32))          # (T, k)
        part = torch.from_numpy(simhash_partition(sketch.numpy()))                      # (T,) bucket φ(x)
        proj = X if rnd.projection[r] is None else X @ torch.from_numpy(np.asarray(rnd.projection[r], np.float32))
        slot = owner * B + part                                                           # (cloud, bucket)
        blocks = torch.zeros((n * B, dp), dtype=torch.float32).index_add_(0, slot, proj)  # Σ ψ(x) per bucket
        if kind == "document":
            count = torch.bincount(slot, minlength=n * B).to(torch.float32)
            blocks /= count.clamp_min(1.0)[:, None]                                       # centroid (eq. 2)
            if config.fill_empty_partitions and k > 0:
                _fill_empty(blocks, count, sketch.numpy(), proj, C, B, k)
        blocks = blocks.reshape(n, width)
        if rnd.final_index is None:
            out[:, r * width:(r + 1) * width] = blocks
        else:                                                                             # count-sketch ψ'
            cols = slice(r * width, (r + 1) * width)
            idx = torch.from_numpy(np.asarray(rnd.final_index[cols], np.int64))
            sign = torch.from_numpy(np.asarray(rnd.final_sign[cols], np.float32))
            out.index_add_(1, idx, blocks * sign)
    return out.numpy()


def _fill_empty(blocks: torch.Tensor, count: torch.Tensor, sketch: np.ndarray, proj: torch.Tensor,
                C: Clouds, B: int, k: int) -> None:
    """Empty (cloud, bucket) blocks ← ψ(p) of the cloud's first point with the fewest sign bits differing from
    the bucket's pattern (official ``DistanceToSimHashPartition`` and its strict-< scan)."""
    empty = (count == 0).numpy().reshape(len(C), B)
    if not empty.any():
        return
    code = ((sketch > 0).astype(np.int64) << np.arange(k - 1, -1, -1, dtype=np.int64)).sum(1)     # (T,) bits
    patterns = np.arange(B, dtype=np.int64) ^ (np.arange(B, dtype=np.int64) >> 1)               # (B,)
    T = code.size
    key = _popcount(code[:, None] ^ patterns[None, :]).astype(np.int64) * T + np.arange(T)[:, None]  # (T, B)
    nonempty = C.sizes > 0
    best = np.full((len(C), B), -1, np.int64)
    best[nonempty] = np.minimum.reduceat(key, C.offsets[:-1][nonempty], axis=0) % T                 # first argmin
    rows, buckets = np.nonzero(empty & nonempty[:, None])
    if rows.size:
        blocks[torch.from_numpy(rows * B + buckets)] = proj[torch.from_numpy(best[rows, buckets])]


def fde_encode_reference(cloud, config: FDEConfig, kind: str, randomness: FDERandomness | None = None) -> np.ndarray:
    """One cloud, the definition point by point in float64 (ground truth for tests): (output_dimension,)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    rnd = randomness or draw_randomness(config)
    X = np.asarray(cloud, dtype=np.float64).reshape(-1, config.dimension)
    k, B, dp = config.num_simhash_projections, config.num_partitions, config.block_dimension
    fde = np.zeros(config.fde_dimension)
    for r in range(config.num_repetitions):
        G = np.asarray(rnd.simhash[r], np.float64)
        S = None if rnd.projection[r] is None else np.asarray(rnd.projection[r], np.float64)
        sums, counts, bits, projected = np.zeros((B, dp)), np.zeros(B), [], []
        for x in X:
            b = [1 if v > 0 else 0 for v in (x @ G)]
            g = 0
            for bit in b:                                  # AppendToGrayCode, one bit at a time
                g = (g << 1) + (bit ^ (g & 1))
            px = x if S is None else x @ S
            sums[g] += px
            counts[g] += 1
            bits.append(b)
            projected.append(px)
        for j in range(B):
            if kind == "document" and counts[j] > 0:
                sums[j] /= counts[j]
            elif kind == "document" and config.fill_empty_partitions and k > 0 and len(X):
                target = [int(c) for c in format(j ^ (j >> 1), f"0{k}b")]
                dist = [sum(u != v for u, v in zip(b, target)) for b in bits]
                sums[j] = projected[int(np.argmin(dist))]
        fde[r * B * dp:(r + 1) * B * dp] = sums.ravel()
    if config.final_projection_dimension:
        out = np.zeros(config.final_projection_dimension)
        for c, v in enumerate(fde):
            out[rnd.final_index[c]] += rnd.final_sign[c] * v
        return out
    return fde


def fde_scores(query_fde, doc_fde) -> np.ndarray:
    """(n_q, n_d) ⟨F_q(Qᵢ), F_doc(P_j)⟩ (float32 dot products)."""
    return pairwise_similarity(np.asarray(query_fde, np.float32), np.asarray(doc_fde, np.float32), "dot")


# ----------------------------------------------------------------------------------------------- retrieval
def fde_candidates(query_fde, doc_fde, n_candidates: int) -> np.ndarray:
    """(n_q, N) document ids by decreasing FDE inner product (exact MIPS with the shared ``topk_search``)."""
    _, I = topk_search(np.asarray(query_fde, np.float32), np.asarray(doc_fde, np.float32), n_candidates, "dot")
    return np.asarray(I)


def sv_heuristic_candidates(queries, documents, n_candidates: int, *, depth: int | None = None) -> np.ndarray:
    """(n_q, N) document ids in the single-vector heuristic's order (paper §3.1), −1 where fewer than N
    distinct documents were reached: for each query token its nearest document tokens (dot product, ``depth``
    of them, default 4·N), listed rank by rank — the documents of every query token's 1-NN (query tokens in
    order), then of the 2-NN, … — with duplicate documents removed (the "deduplicated" curve of the paper)."""
    Q = as_clouds(queries, "queries")
    D = as_clouds(documents, "documents", dim=Q.X.shape[1] if Q.X.shape[0] else None, allow_empty_cloud=False)
    if n_candidates < 1:
        raise ValueError(f"n_candidates must be ≥ 1, got {n_candidates}")
    depth = min(D.X.shape[0], depth or 4 * n_candidates)
    owner = D.owner()
    out = np.full((len(Q), n_candidates), -1, np.int64)
    for i in range(len(Q)):
        q = Q[i]
        if q.shape[0] == 0:
            continue
        _, idx = topk_search(q, D.X, depth, "dot")                # (m, depth): token neighbours, best first
        docs = owner[np.asarray(idx).T.ravel()]                   # rank-major: all 1-NN, then all 2-NN, …
        _, first = np.unique(docs, return_index=True)
        ordered = docs[np.sort(first)][:n_candidates]
        out[i, :ordered.size] = ordered
    return out


def sv_heuristic_candidates_reference(queries, documents, n_candidates: int) -> np.ndarray:
    """Plain version with full stable sorts (ties: lower token index first, as ``topk_search``'s ``D, I``
    convention is exercised only on distinct scores in the tests)."""
    qs = [np.asarray(q, np.float64) for q in queries]
    ds = [np.asarray(p, np.float64) for p in documents]
    toks = np.concatenate(ds)
    owner = np.repeat(np.arange(len(ds)), [p.shape[0] for p in ds])
    out = np.full((len(qs), n_candidates), -1, np.int64)
    for i, q in enumerate(qs):
        ranked = [np.argsort(-(toks @ v), kind="stable") for v in q]
        seen: list[int] = []
        for rank in range(toks.shape[0]):
            for lst in ranked:
                d = int(owner[lst[rank]])
                if d not in seen:
                    seen.append(d)
        out[i, :min(n_candidates, len(seen))] = seen[:n_candidates]
    return out


def candidate_recall(candidates, scores, k: int) -> np.ndarray:
    """(N,) recall after an exact rerank of the first n candidates, n = 1 … N, averaged over queries: the share
    of the exact top-k (by ``scores`` (n_q, n_d), e.g. Chamfer) found among them, tie-aware — a candidate
    counts when its score is ≥ the k-th best score of its query, at most k per query. Ids −1 never count."""
    cand = np.asarray(candidates, np.int64)
    sc = np.asarray(scores, np.float64)
    if cand.ndim != 2 or sc.ndim != 2 or cand.shape[0] != sc.shape[0]:
        raise ValueError(f"candidates (n_q, N) and scores (n_q, n_d) must share n_q, got {cand.shape}, {sc.shape}")
    if not 1 <= k <= sc.shape[1]:
        raise ValueError(f"k must be in [1, n_d = {sc.shape[1]}], got {k}")
    if np.isnan(sc).any():
        raise ValueError("scores contain NaN")
    kth = -np.partition(-sc, k - 1, axis=1)[:, k - 1]
    valid = cand >= 0
    hit = valid & (np.take_along_axis(sc, np.where(valid, cand, 0), axis=1) >= kth[:, None])
    return (np.minimum(np.cumsum(hit, axis=1), k) / k).mean(axis=0)


def candidates_to_match(recall_fast, recall_base, budgets) -> np.ndarray:
    """For each budget N (1-based), N / N′ where N′ is the fewest candidates with which ``recall_fast`` reaches
    ``recall_base[N − 1]`` (the paper's "our Recall@N matches the Recall@cN of the SV heuristic", c = N/N′);
    NaN where it never does within its curve."""
    rf, rb = np.asarray(recall_fast, float), np.asarray(recall_base, float)
    out = []
    for N in budgets:
        if not 1 <= N <= rb.size:
            raise ValueError(f"budget {N} outside the base curve (1 … {rb.size})")
        reach = np.flatnonzero(rf >= rb[N - 1] - 1e-12)
        out.append(N / (reach[0] + 1) if reach.size else math.nan)
    return np.asarray(out)


# ----------------------------------------------------------------------------------------------- the peer
def muvera_python_randomness(config: FDEConfig) -> FDERandomness:
    """The draws the ``muvera-python`` peer (``muvera.Muvera``) makes for the same config and seed: its SimHash
    and AMS matrices of repetition r from seed + r, its final count-sketch from seed (read from
    ``muvera.helper``), so that ``fde_encode(…, randomness=…)`` and the peer can be compared exactly."""
    if config.projection == "dense":
        raise ValueError("muvera-python has no dense projection; use identity or ams")
    from muvera import helper
    d, k, dp = config.dimension, config.num_simhash_projections, config.block_dimension
    sim = tuple(helper.simhash_matrix_from_seed(d, k, config.seed + r) for r in range(config.num_repetitions))
    proj = tuple(None if config.projection == "identity" else
                 helper.ams_projection_matrix_from_seed(d, dp, config.seed + r) for r in range(config.num_repetitions))
    fi = fs = None
    if config.final_projection_dimension:
        rng = np.random.default_rng(config.seed)                 # the peer's count_sketch_vector_from_seed
        fi = rng.integers(0, config.final_projection_dimension, size=config.fde_dimension)
        fs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=config.fde_dimension)
    return FDERandomness(sim, proj, fi, fs)


def muvera_python_encoder(config: FDEConfig):
    """A ``muvera.Muvera`` encoder with the same config (identity or ams projection)."""
    from muvera import Muvera
    return Muvera(num_repetitions=config.num_repetitions, num_simhash_projections=config.num_simhash_projections,
                  dimension=config.dimension,
                  projection_type="identity" if config.projection == "identity" else "ams_sketch",
                  projection_dimension=config.projection_dimension if config.projection != "identity" else None,
                  fill_empty_partitions=config.fill_empty_partitions,
                  final_projection_dimension=config.final_projection_dimension, seed=config.seed)


# ----------------------------------------------------------------------------------------------- experiments
def paired_configs(dimension: int, num_repetitions: int, num_simhash_projections: int, projection_dimension: int,
                   *, seed: int, projection: str = "ams", final_projection_dimension: int | None = None,
                   fill_empty_partitions: bool = True) -> tuple[FDEConfig, FDEConfig]:
    """(query config, document config) sharing every draw; the document side fills empty buckets (paper §2.1:
    always for documents, never for queries)."""
    common = dict(dimension=dimension, num_repetitions=num_repetitions,
                  num_simhash_projections=num_simhash_projections, projection=projection,
                  projection_dimension=None if projection == "identity" else projection_dimension,
                  final_projection_dimension=final_projection_dimension, seed=seed)
    return FDEConfig(**common), FDEConfig(**common, fill_empty_partitions=fill_empty_partitions)


def approximation_stats(fde: np.ndarray, chamfer: np.ndarray, query_sizes, num_repetitions: int) -> dict:
    """Over all (query, document) pairs: ``abs_error`` = mean |⟨F_q, F_doc⟩/R − CHAMFER| / |Q| (the NCHAMFER
    scale of Theorem 2.1), ``bias`` = the signed mean of the same, ``pearson`` = correlation of ⟨F_q, F_doc⟩
    with CHAMFER."""
    m = np.asarray(query_sizes, float)[:, None]
    if (m <= 0).any():
        raise ValueError("every query needs at least one vector for the normalised error")
    diff = (np.asarray(fde, float) / num_repetitions - chamfer) / m
    return {"abs_error": float(np.abs(diff).mean()), "bias": float(diff.mean()),
            "pearson": float(np.corrcoef(np.ravel(fde), np.ravel(chamfer))[0, 1])}


def fde_recall_curve(queries, documents, chamfer: np.ndarray, q_config: FDEConfig, d_config: FDEConfig,
                     k: int, *, randomness: FDERandomness | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(recall after rerank for N = 1 … n_d candidates by FDE inner product, FDE score matrix)."""
    Fq = fde_encode(queries, q_config, "query", randomness=randomness)
    Fd = fde_encode(documents, d_config, "document", randomness=randomness)
    n_d = len(as_clouds(documents, "documents")) if not isinstance(documents, Clouds) else len(documents)
    return candidate_recall(fde_candidates(Fq, Fd, n_d), chamfer, k), fde_scores(Fq, Fd)
