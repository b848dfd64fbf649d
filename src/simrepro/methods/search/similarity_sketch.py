r"""Monte-Carlo evaluation of Jaccard sketches (Dahlgaard et al., "Fast Similarity Sketching", FOCS'17).

For a pair (A, B) with known J, each trial draws fresh hash functions (``seed``) and records Ĵ = X/t. Over
``m`` trials: bias in standard errors ``z = (mean Ĵ − J) / (sd Ĵ / √m)``, variance ratio
``Var(Ĵ) / (J(1−J)/t)`` (1 for t×MinHash, whose X is Binomial(t, J)), and tail ``P(|Ĵ − J| > δ)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import stats

from simrepro.kernels import sketch as sk

SKETCHES = ("minhash", "fss", "oph", "oph_densified", "datasketch")


def set_pair(n: int, jaccard: float) -> tuple[np.ndarray, np.ndarray, float]:
    """A = [0, n), B = [n − k, 2n − k) with k = round(2nJ/(1+J)), so |A| = |B| = n and J(A,B) = k/(2n − k).

    Returns (A, B, exact J); the exact J differs from the request by rounding only.
    """
    if n < 1 or not 0.0 <= jaccard <= 1.0:
        raise ValueError(f"need n ≥ 1 and 0 ≤ jaccard ≤ 1, got n={n}, jaccard={jaccard}")
    k = int(round(2 * n * jaccard / (1 + jaccard)))
    return np.arange(n), np.arange(n - k, 2 * n - k), k / (2 * n - k)


def _datasketch_estimate(a: np.ndarray, b: np.ndarray, t: int, seed: int) -> float:
    from datasketch import MinHash
    ma, mb = MinHash(num_perm=t, seed=seed), MinHash(num_perm=t, seed=seed)
    ma.update_batch([int(x).to_bytes(8, "little") for x in a])
    mb.update_batch([int(x).to_bytes(8, "little") for x in b])
    return float(ma.jaccard(mb))


def estimate_trials(sketch: str, a, b, t: int, seeds) -> tuple[np.ndarray, np.ndarray]:
    """Ĵ for each seed, shape (m,), and the fraction of empty bins in S(A) per seed (0 except plain OPH).

    ``sketch``: ``minhash`` | ``fss`` | ``oph`` (Li et al.'s estimator over non-jointly-empty bins) |
    ``oph_densified`` (optimal densification) | ``datasketch`` (``datasketch.MinHash``, the peer).
    """
    if sketch not in SKETCHES:
        raise ValueError(f"unknown sketch {sketch!r}; expected one of {', '.join(SKETCHES)}")
    est, empty = [], []
    for seed in seeds:
        seed = int(seed)
        if sketch == "datasketch":
            est.append(_datasketch_estimate(a, b, t, seed))
            empty.append(0.0)
            continue
        if sketch == "minhash":
            sa, sb = sk.minhash_sketch(a, t, seed), sk.minhash_sketch(b, t, seed)
        elif sketch == "fss":
            sa, sb = sk.fast_similarity_sketch(a, t, seed), sk.fast_similarity_sketch(b, t, seed)
        else:
            sa, sb = sk.oph_sketch(a, t, seed), sk.oph_sketch(b, t, seed)
        empty.append(float(np.mean(sa == sk.EMPTY)))
        if sketch == "oph":
            est.append(sk.oph_similarity(sa, sb))
            continue
        if sketch == "oph_densified":
            sa, sb = sk.densify_oph(sa, seed), sk.densify_oph(sb, seed)
        est.append(sk.sketch_similarity(sa, sb))
    return np.asarray(est), np.asarray(empty)


@dataclass(frozen=True)
class TrialStats:
    mean: float
    bias_z: float        # (mean − J) / SE; SE = sd/√m (0 when sd = 0 and mean = J)
    var_ratio: float     # Var(Ĵ) / (J(1−J)/t)
    tail: float          # P(|Ĵ − J| > δ), empirical
    tail_binomial: float  # the same probability for X ~ Binomial(t, J), i.e. ideal t×MinHash


def trial_stats(estimates, jaccard: float, t: int, delta: float) -> TrialStats:
    """Summary of m ≥ 2 estimates of a known J ∈ (0, 1) from size-t sketches (NaN estimates are dropped)."""
    e = np.asarray(estimates, dtype=np.float64)
    e = e[~np.isnan(e)]
    if e.size < 2 or not 0.0 < jaccard < 1.0:
        raise ValueError(f"need ≥ 2 finite estimates and 0 < J < 1, got {e.size} estimates, J={jaccard}")
    se = e.std(ddof=1) / np.sqrt(e.size)
    diff = e.mean() - jaccard
    bias_z = diff / se if se > 0 else (0.0 if diff == 0 else np.inf)
    x = np.arange(t + 1)
    far = np.abs(x / t - jaccard) > delta
    return TrialStats(mean=float(e.mean()), bias_z=float(bias_z),
                      var_ratio=float(e.var(ddof=1) / (jaccard * (1 - jaccard) / t)),
                      tail=float(np.mean(np.abs(e - jaccard) > delta)),
                      tail_binomial=float(stats.binom.pmf(x[far], t, jaccard).sum()))


def median_time(fn, *args, repeats: int = 7, warmup: int = 1) -> float:
    """Median wall time in seconds of ``fn(*args)`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn(*args)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def sweep(sketches, t_values, size_factors, jaccards, trials: int, delta: float, seed0: int = 0) -> list[dict]:
    """One row per (sketch, t, |A| = max(1, round(f·t)), J): the :class:`TrialStats` fields plus the mean
    fraction of empty bins, over seeds ``seed0 … seed0 + trials − 1`` (the same seeds for every sketch)."""
    rows = []
    seeds = range(seed0, seed0 + trials)
    for t in t_values:
        for f in size_factors:
            n = max(1, int(round(f * t)))
            for j in jaccards:
                a, b, exact = set_pair(n, j)
                for name in sketches:
                    est, empty = estimate_trials(name, a, b, t, seeds)
                    st = trial_stats(est, exact, t, delta)
                    rows.append(dict(sketch=name, t=t, n=n, size_factor=f, jaccard=exact,
                                     empty_fraction=float(empty.mean()), **st.__dict__))
    return rows
