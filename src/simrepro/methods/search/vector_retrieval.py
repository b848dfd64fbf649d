r"""Representative computations from *Foundations of Vector Retrieval* (S. Bruch, 2024, arXiv 2401.09350).

The monograph is a survey; each function here computes one of its textbook statements so a notebook can
measure it. Contracts (shapes, dtypes), with the statement next to the code that computes it:

- **SimHash** (sign random projections, Charikar 2002): for a Gaussian direction g ~ N(0, I_d),
  Pr[sign(g·u) = sign(g·v)] = 1 − θ(u, v)/π. :func:`simhash_collision_stats` measures the collision rate of
  groups of pairs (u_i, v_i) (n, d) × (n, d) over T hyperplanes (d, T); the standard error of a group's rate
  comes from the spread of its per-hyperplane rate c_t (hyperplanes are i.i.d., pairs that share them are not
  independent), SE = sd_t(c_t)/√T. :func:`simhash_collision_reference` is the per-hyperplane loop.
- **Johnson–Lindenstrauss**: a Gaussian map R (d, m), R_ij ~ N(0, 1/m), with m = ⌈8 ln n / ε²⌉ (the small-ε
  form of Dasgupta & Gupta's 4 ln n/(ε²/2 − ε³/3)) keeps (1 − ε)‖x_i − x_j‖² ≤ ‖(x_i − x_j)R‖² ≤ (1 + ε)‖x_i − x_j‖²
  for all pairs with good probability. :func:`jl_ratios` returns the (n(n−1)/2,) ratios of squared distances
  (float64, pairs with zero distance dropped).
- **MIPS → NN** (Bachrach et al. 2014): with M = max_i ‖x_i‖, x̃_i = [x_i, √(M² − ‖x_i‖²)] and q̃ = [q, 0],
  ‖q̃ − x̃_i‖² = ‖q‖² + M² − 2 q·x_i, so the Euclidean neighbours of q̃ are exactly the maximum-inner-product
  neighbours of q. :func:`mips_to_nn` builds (n, d+1) and (nq, d+1); :func:`mips_search_via_nn` searches them.
- **IVF** (clustering-based retrieval): k-means cells, a query scans its nprobe nearest cells. Ours is
  :class:`simrepro.methods.search.filtered.FilteredIVF` without a filter (:func:`ivf_flat`); the peer is faiss
  ``IndexIVFFlat`` (:func:`faiss_ivf_flat`, optionally on our centroids). :func:`ivf_sweep` records recall@k,
  queries/s and the scanned fraction Σ_probed |L_l| / n per nprobe.
- **Distance concentration** (Beyer et al. 1999): for i.i.d. coordinates, D_max/D_min → 1 as d → ∞.
  :func:`relative_contrast` returns each query's D_max/D_min − 1 (Euclidean, float64, zero distances dropped).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from simrepro.kernels.topk import topk_search
from simrepro.methods.search import ann_eval as ae
from simrepro.methods.search.filtered import FilteredIVF

# ------------------------------------------------------------------------------------------------ inputs


def _as_f64(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, d) matrix, got shape {a.shape}; reshape with x[None, :]")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a numeric array, got dtype {a.dtype}; convert with .astype(np.float64)")
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.size and not np.isfinite(a).all():
        raise ValueError(f"{name}: {int((~np.isfinite(a)).any(axis=1).sum())} row(s) contain NaN or inf; "
                         f"drop or impute them first")
    return a


def _same_shape(u: np.ndarray, v: np.ndarray) -> None:
    if u.shape != v.shape:
        raise ValueError(f"u and v must have the same shape (one row per pair), got {u.shape} and {v.shape}")


# ------------------------------------------------------------------------------------------------ SimHash


def angles(u, v) -> np.ndarray:
    """θ_i = arccos(u_i·v_i / (‖u_i‖‖v_i‖)) ∈ [0, π], (n,) float64; a zero row has no angle (ValueError)."""
    u, v = _as_f64(u, "u"), _as_f64(v, "v")
    _same_shape(u, v)
    nu, nv = np.linalg.norm(u, axis=1), np.linalg.norm(v, axis=1)
    if (nu == 0).any() or (nv == 0).any():
        raise ValueError("a zero vector has no angle (SimHash maps it to one bucket whatever the hyperplane); "
                         "drop zero rows first")
    return np.arccos(np.clip((u * v).sum(1) / (nu * nv), -1.0, 1.0))


def simhash_theory(theta) -> np.ndarray:
    """Pr[sign(g·u) = sign(g·v)] = 1 − θ/π for Gaussian g (Charikar 2002)."""
    theta = np.asarray(theta, dtype=np.float64)
    if np.any((theta < 0) | (theta > math.pi)) or not np.isfinite(theta).all():
        raise ValueError("angles must lie in [0, π]")
    return 1.0 - theta / math.pi


def pairs_at_angles(dim: int, thetas, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit pairs (len(thetas), dim) with exactly the given angles: v = cos θ·u + sin θ·w, w ⊥ u (Gram–Schmidt)."""
    if dim < 2:
        raise ValueError(f"two distinct directions need dim ≥ 2, got {dim}")
    thetas = np.asarray(thetas, dtype=np.float64)
    simhash_theory(thetas)                                                            # validates the range
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((len(thetas), dim))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    w = rng.standard_normal((len(thetas), dim))
    w -= (w * u).sum(1, keepdims=True) * u
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    return u, np.cos(thetas)[:, None] * u + np.sin(thetas)[:, None] * w


def gaussian_hyperplanes(dim: int, n_planes: int, seed: int = 0) -> np.ndarray:
    """(dim, n_planes) float64 i.i.d. N(0, 1) normals of random hyperplanes through the origin."""
    if dim < 1 or n_planes < 1:
        raise ValueError(f"need dim ≥ 1 and n_planes ≥ 1, got {dim}, {n_planes}")
    return np.random.default_rng(seed).standard_normal((dim, n_planes))


@dataclass(frozen=True)
class CollisionStats:
    """Per group (all (G,)): measured collision rate, theory = mean of 1 − θ/π, its SE, z-score, pair count."""

    measured: np.ndarray
    theory: np.ndarray
    se: np.ndarray
    z: np.ndarray
    count: np.ndarray


def simhash_collision_stats(u, v, planes, groups=None, *, block: int = 4096) -> CollisionStats:
    """Collision rates of SimHash over ``planes`` (d, T) for pairs (u_i, v_i), averaged within ``groups``.

    ``groups`` (n,) int in 0..G−1 (default: each pair its own group). For group g with pairs P_g and hyperplane
    t, c_gt = mean_{i∈P_g} [sign(g_t·u_i) = sign(g_t·v_i)]; measured_g = mean_t c_gt, se_g = sd_t(c_gt)/√T,
    theory_g = mean_{i∈P_g} (1 − θ_i/π), z_g = (measured_g − theory_g)/se_g; when se = 0, z = 0 if
    |measured − theory| ≤ 1e-7 (arccos near ±1 loses ≈ 1e-8 of θ to round-off), else ±inf.
    Sign: g·x > 0 counts as +, ≤ 0 as − (a tie has probability 0 for Gaussian g).
    Cost O(n·d·T) (float64 GEMM, blocks of ``block`` hyperplanes).
    """
    u, v = _as_f64(u, "u"), _as_f64(v, "v")
    _same_shape(u, v)
    planes = _as_f64(planes, "planes")
    if planes.shape[0] != u.shape[1]:
        raise ValueError(f"planes must be (d, T) with d = {u.shape[1]}, got {planes.shape}")
    n, T = u.shape[0], planes.shape[1]
    if n == 0 or T == 0:
        raise ValueError("need at least one pair and one hyperplane")
    groups = np.arange(n) if groups is None else np.asarray(groups)
    if groups.shape != (n,) or groups.dtype.kind not in "iu" or groups.min() < 0:
        raise ValueError(f"groups must be ({n},) non-negative integers, got {groups.shape} {groups.dtype}")
    G = int(groups.max()) + 1
    count = np.bincount(groups, minlength=G)
    if (count == 0).any():
        raise ValueError(f"groups {np.nonzero(count == 0)[0].tolist()} hold no pair; number groups 0..G−1 densely")
    member = np.zeros((G, n))
    member[groups, np.arange(n)] = 1.0 / count[groups]                                 # row g averages over P_g
    s1, s2 = np.zeros(G), np.zeros(G)
    for t0 in range(0, T, block):
        P = planes[:, t0:t0 + block]
        same = ((u @ P) > 0) == ((v @ P) > 0)                                           # (n, b) collisions
        c = member @ same                                                               # (G, b): c_gt
        s1 += c.sum(1)
        s2 += (c * c).sum(1)
    measured = s1 / T
    var = np.maximum(s2 / T - measured ** 2, 0.0) * T / max(T - 1, 1)
    se = np.sqrt(var / T)
    theory = np.bincount(groups, weights=simhash_theory(angles(u, v)), minlength=G) / count
    diff = measured - theory
    with np.errstate(divide="ignore", invalid="ignore"):
        z_zero_se = np.where(np.abs(diff) <= 1e-7, 0.0, np.sign(diff) * np.inf)
        z = np.where(se > 0, diff / np.where(se > 0, se, 1.0), z_zero_se)
    return CollisionStats(measured=measured, theory=theory, se=se, z=z, count=count)


def stratified_angle_pairs(x, n_pairs: int, *, n_bins: int = 10, n_random: int = 200_000, n_anchor: int = 2000,
                           n_neighbors: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row pairs (i, j) of ``x`` (n, d) spread over the angle range: (i, j, bin) each (p,), bin ∈ 0..n_bins−1 of
    [0, π] split evenly.

    Candidates: ``n_random`` uniformly random pairs (angles near the bulk) plus each of ``n_anchor`` random rows
    with its ``n_neighbors`` nearest rows by cosine (small angles); then up to n_pairs // n_bins per bin, drawn
    at random (bins with fewer candidates keep all of theirs). Self-pairs and zero rows are never drawn.
    """
    x = _as_f64(x, "x")
    n = x.shape[0]
    if n < 2 or n_pairs < n_bins or n_bins < 1:
        raise ValueError(f"need ≥ 2 rows and n_pairs ≥ n_bins ≥ 1, got {n} rows, n_pairs={n_pairs}, n_bins={n_bins}")
    rng = np.random.default_rng(seed)
    nonzero = np.nonzero(np.linalg.norm(x, axis=1) > 0)[0]
    i = nonzero[rng.integers(0, len(nonzero), n_random)]
    j = nonzero[rng.integers(0, len(nonzero), n_random)]
    anchors = nonzero[rng.choice(len(nonzero), min(n_anchor, len(nonzero)), replace=False)]
    kk = min(n_neighbors + 1, len(nonzero))
    _, nb = topk_search(x[anchors], x[nonzero], kk, "cosine")
    i = np.concatenate([i, np.repeat(anchors, kk)])
    j = np.concatenate([j, nonzero[nb.ravel()]])
    keep = i != j
    i, j = i[keep], j[keep]
    b = np.minimum((angles(x[i], x[j]) / math.pi * n_bins).astype(np.int64), n_bins - 1)
    per_bin = n_pairs // n_bins
    chosen = [rng.permutation(np.nonzero(b == k)[0])[:per_bin] for k in range(n_bins)]
    sel = np.sort(np.concatenate(chosen))
    return i[sel], j[sel], b[sel]


def simhash_collision_reference(u, v, planes) -> np.ndarray:
    """Per pair (n,): the fraction of hyperplanes t with sign(g_t·u_i) = sign(g_t·v_i), one plane at a time."""
    u, v, planes = _as_f64(u, "u"), _as_f64(v, "v"), _as_f64(planes, "planes")
    _same_shape(u, v)
    hits = np.zeros(u.shape[0])
    for t in range(planes.shape[1]):
        g = planes[:, t]
        hits += (u @ g > 0) == (v @ g > 0)
    return hits / planes.shape[1]


# ------------------------------------------------------------------------------------------------ JL


def jl_dimension(n: int, eps: float) -> int:
    """m = ⌈8 ln n / ε²⌉ for n points and distortion ε ∈ (0, 1)."""
    if n < 2 or not 0.0 < eps < 1.0:
        raise ValueError(f"need n ≥ 2 points and 0 < eps < 1, got n={n}, eps={eps}")
    return int(math.ceil(8.0 * math.log(n) / eps ** 2))


def gaussian_projection(dim: int, m: int, seed: int = 0) -> np.ndarray:
    """R (dim, m) float64 with R_ij ~ N(0, 1/m), so E‖xR‖² = ‖x‖²."""
    if dim < 1 or m < 1:
        raise ValueError(f"need dim ≥ 1 and m ≥ 1, got {dim}, {m}")
    return np.random.default_rng(seed).standard_normal((dim, m)) / math.sqrt(m)


def _sq_pdist(x: np.ndarray) -> np.ndarray:
    from scipy.spatial.distance import pdist
    return pdist(x, "sqeuclidean")                                                      # differences: no cancellation


def jl_ratios(x, R) -> np.ndarray:
    """‖(x_i − x_j)R‖² / ‖x_i − x_j‖² for all i < j (condensed order, float64), pairs with x_i = x_j dropped.

    ``x`` (n, d), ``R`` (d, m) dense or scipy sparse.
    """
    x = _as_f64(x, "x")
    if R.shape[0] != x.shape[1]:
        raise ValueError(f"R must be (d, m) with d = {x.shape[1]}, got {R.shape}")
    y = np.asarray(R.T @ x.T).T if hasattr(R, "tocsc") else x @ _as_f64(R, "R")
    before, after = _sq_pdist(x), _sq_pdist(np.asarray(y, dtype=np.float64))
    keep = before > 0
    return after[keep] / before[keep]


def jl_ratios_reference(x, R) -> np.ndarray:
    """The definition, pair by pair (for tests)."""
    x = _as_f64(x, "x")
    R = R.toarray() if hasattr(R, "toarray") else _as_f64(R, "R")
    out = []
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            diff = x[i] - x[j]
            b = diff @ diff
            if b > 0:
                out.append(((diff @ R) ** 2).sum() / b)
    return np.asarray(out)


def max_distortion(ratios) -> float:
    """max_pairs |ratio − 1| (NaN for no pairs)."""
    r = np.asarray(ratios, dtype=np.float64)
    return float(np.abs(r - 1.0).max()) if r.size else float("nan")


# ------------------------------------------------------------------------------------------------ MIPS → NN


def mips_to_nn(database, queries) -> tuple[np.ndarray, np.ndarray, float]:
    """(x̃ (n, d+1), q̃ (nq, d+1), M): x̃_i = [x_i, √(M² − ‖x_i‖²)], q̃ = [q, 0], float64.

    ‖q̃ − x̃_i‖² = ‖q‖² + M² − 2 q·x_i: the ℓ2 order of x̃ is the inner-product order of x (Bachrach et al.
    2014). M² − ‖x_i‖² is clamped at 0 (round-off at the longest rows).
    """
    x, q = _as_f64(database, "database"), _as_f64(queries, "queries")
    if x.shape[0] == 0:
        raise ValueError("database: empty input (0 rows)")
    if x.shape[1] != q.shape[1]:
        raise ValueError(f"queries have dimension {q.shape[1]}, the database {x.shape[1]}")
    sq = (x * x).sum(1)
    M2 = float(sq.max())
    extra = np.sqrt(np.maximum(M2 - sq, 0.0))
    return np.hstack([x, extra[:, None]]), np.hstack([q, np.zeros((q.shape[0], 1))]), math.sqrt(M2)


def mips_search_via_nn(database, queries, k: int, *, dtype=np.float64) -> np.ndarray:
    """Ids (nq, k) of the ℓ2 nearest neighbours of q̃ among x̃ (:func:`mips_to_nn`), searched exactly by
    :func:`~simrepro.kernels.topk.topk_search` in ``dtype`` (float32 rounds the appended coordinate, so
    near-tied inner products may swap: the numerical caveat of the reduction)."""
    xa, qa, _ = mips_to_nn(database, queries)
    return topk_search(qa.astype(dtype), xa.astype(dtype), k, "l2")[1]


# ------------------------------------------------------------------------------------------------ IVF


def _train_sample(x: np.ndarray, max_train: int | None, seed: int) -> np.ndarray:
    if max_train is None or x.shape[0] <= max_train:
        return x
    return x[np.sort(np.random.default_rng(seed).choice(x.shape[0], max_train, replace=False))]


def ivf_flat(x, nlist: int, *, n_iter: int = 20, max_train: int | None = None, seed: int = 0) -> FilteredIVF:
    """Our IVF-Flat (squared ℓ2): k-means (:func:`simrepro.kernels.quantize.kmeans`) on ``x`` or a seeded sample
    of ``max_train`` rows, every row of ``x`` added (ids 0..n−1); search with ``index.search(q, k, nprobe)``."""
    x = ae._as_f32(x, "x")
    index = FilteredIVF(nlist, "l2").train(x, n_iter=n_iter, max_train=max_train, seed=seed)
    return index.add(x, np.zeros(x.shape[0], dtype=np.uint64))


def faiss_ivf_flat(x, nlist: int, *, centroids=None, n_iter: int = 20, max_train: int | None = None,
                   seed: int = 0, threads: int = 1):
    """faiss ``IndexIVFFlat`` (L2): its own k-means (``n_iter`` iterations on the same seeded sample as
    :func:`ivf_flat`) or, with ``centroids``, exactly those cells (no training)."""
    import faiss
    faiss.omp_set_num_threads(threads)
    x = ae._as_f32(x, "x")
    quantizer = faiss.IndexFlatL2(x.shape[1])
    index = faiss.IndexIVFFlat(quantizer, x.shape[1], nlist, faiss.METRIC_L2)
    if centroids is not None:
        quantizer.add(np.ascontiguousarray(centroids, dtype=np.float32))
        index.is_trained = True
    else:
        index.cp.seed, index.cp.niter = seed, n_iter
        index.cp.max_points_per_centroid = 1 << 30                                    # train on the whole sample
        index.train(_train_sample(x, max_train, seed))
    index.add(x)
    return index


def _faiss_scanned(index, q: np.ndarray, nprobe: int) -> np.ndarray:
    """Rows in the nprobe cells each query visits (nq,)."""
    sizes = np.array([index.invlists.list_size(l) for l in range(index.nlist)])
    _, probes = index.quantizer.search(q, nprobe)
    return sizes[probes].sum(1)


def ivf_sweep(index, database, queries, gt: ae.GroundTruth, nprobes, *, k: int | None = None, method: str = "ours",
              repeats: int = 1, threads: int = 1) -> list[dict]:
    """One row per nprobe: method, nprobe, recall (tie-aware recall@k), recall_per_query, qps (best of
    ``repeats``), scanned_fraction (mean rows scanned / n). ``index``: :func:`ivf_flat` or a faiss IVF."""
    k = gt.k if k is None else k
    x, q = ae._as_f32(database, "database"), ae._as_f32(queries, "queries")
    is_faiss = not isinstance(index, FilteredIVF)
    rows = []
    with ae.torch_threads(threads):
        for nprobe in nprobes:
            best = np.inf
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                if is_faiss:
                    import faiss
                    faiss.omp_set_num_threads(threads)
                    index.nprobe = int(nprobe)
                    ids = index.search(q, k)[1]
                else:
                    _, ids, stats = index.search(q, k, int(nprobe))
                best = min(best, time.perf_counter() - t0)
            scanned = _faiss_scanned(index, q, int(nprobe)) if is_faiss else stats.vectors_read
            rpq = ae.recall_per_query(gt, x, q, ids, k)
            rows.append({"method": method, "nprobe": int(nprobe), "recall": float(rpq.mean()), "recall_per_query": rpq,
                         "qps": q.shape[0] / best, "scanned_fraction": float(np.mean(scanned) / x.shape[0]), "k": k})
    return rows


def fraction_at_recall(rows: list[dict], target: float) -> float:
    """The smallest mean scanned fraction among sweep rows with recall ≥ ``target`` (1.0 if none reaches it:
    a full scan always does)."""
    ok = [r["scanned_fraction"] for r in rows if r["recall"] >= target]
    return float(min(ok)) if ok else 1.0


def min_recall_step(rows: list[dict]) -> float:
    """min over consecutive nprobe (sorted) of the per-query recall change, over all queries: ≥ 0 for an IVF
    whose candidate sets grow with nprobe."""
    rows = sorted(rows, key=lambda r: r["nprobe"])
    if len(rows) < 2:
        raise ValueError("need at least two nprobe values")
    return float(min((b["recall_per_query"] - a["recall_per_query"]).min() for a, b in zip(rows, rows[1:])))


# ------------------------------------------------------------------------------------------------ MinHash peer


def minhash_peer_z(n: int, jaccards, t: int, trials: int, seed: int = 0) -> np.ndarray:
    """Per J in ``jaccards``: |mean Ĵ(ours) − mean Ĵ(datasketch)| / combined SE over ``trials`` hash seeds each.

    Pairs from :func:`simrepro.methods.search.similarity_sketch.set_pair` (|A| = |B| = n); ours is
    :func:`simrepro.kernels.sketch.minhash_sketch` (t×MinHash), the peer ``datasketch.MinHash(num_perm=t)``. Both
    estimate J without bias, so z is a standard normal score when they agree.
    """
    from simrepro.methods.search import similarity_sketch as ss
    if trials < 2:
        raise ValueError(f"need ≥ 2 trials for a standard error, got {trials}")
    seeds = np.arange(trials) + seed * trials
    out = []
    for J in jaccards:
        a, b, _ = ss.set_pair(n, float(J))
        ours, _ = ss.estimate_trials("minhash", a, b, t, seeds)
        peer, _ = ss.estimate_trials("datasketch", a, b, t, seeds)
        se = math.sqrt(ours.var(ddof=1) / trials + peer.var(ddof=1) / trials)
        out.append(abs(ours.mean() - peer.mean()) / se if se > 0 else (0.0 if ours.mean() == peer.mean() else np.inf))
    return np.asarray(out)


# ------------------------------------------------------------------------------------------------ concentration


def relative_contrast(database, queries, *, zero_tol: float = 1e-12) -> np.ndarray:
    """(nq,) float64: D_max/D_min − 1 of each query's Euclidean distances to ``database`` (n, d).

    Distances whose square is ≤ ``zero_tol``·(the query's mean squared distance) are dropped (the query itself
    or exact duplicates). Squared distances by the float64 expansion ‖q‖² + ‖x‖² − 2q·x, clamped at 0.
    """
    x, q = _as_f64(database, "database"), _as_f64(queries, "queries")
    if x.shape[0] < 2 or x.shape[1] != q.shape[1]:
        raise ValueError(f"need ≥ 2 database rows of the queries' dimension, got database {x.shape}, queries {q.shape}")
    d2 = np.maximum((q * q).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2.0 * q @ x.T, 0.0)      # (nq, n)
    scale = d2.mean(1, keepdims=True)
    d2 = np.where(d2 <= zero_tol * scale, np.nan, d2)
    if np.isnan(d2).all(axis=1).any():
        raise ValueError("a query is at distance 0 from every database row")
    return np.sqrt(np.nanmax(d2, 1) / np.nanmin(d2, 1)) - 1.0


def relative_contrast_reference(database, queries) -> np.ndarray:
    """The definition with differences (no expansion), exact zeros dropped."""
    x, q = _as_f64(database, "database"), _as_f64(queries, "queries")
    out = []
    for qi in q:
        d = np.sqrt(((x - qi) ** 2).sum(1))
        d = d[d > 0]
        out.append(d.max() / d.min() - 1.0)
    return np.asarray(out)
