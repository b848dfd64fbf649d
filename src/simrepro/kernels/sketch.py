r"""Jaccard-similarity sketches of integer sets: ``A ⊆ [2⁶⁴] → S(A) ∈ uint64^t``.

With ``X_i = [S(A)[i] = S(B)[i]]`` every sketch here aims at ``E[X_i] = J(A, B) = |A∩B| / |A∪B|``.

- **t×MinHash** (Broder): ``S[i] = min_{a∈A} h_i(a)``; t independent hash functions, O(t·|A|) time.
- **One Permutation Hashing** (OPH; Li, Owen & Zhang, NIPS'12): one hash splits A into t bins,
  ``S[j] = min{v(a) : bin(a) = j}``; O(t + |A|) time, but a bin that receives no element stays ``EMPTY``,
  which happens often when |A| = O(t) (expected empty fraction ≈ exp(−|A|/t)).
- **OPH + optimal densification** (Shrivastava, ICML'17): an empty bin j copies the value of the first
  non-empty bin on a bin-seeded random probe sequence ``g(j, 0), g(j, 1), …``.
- **Fast Similarity Sketch** (FSS; Dahlgaard, Houen, Langhede & Thorup, FOCS'17, arXiv 1704.04370):
  every element a throws balls in rounds i = 0, 1, …, 2t−1; the ball of round i has value in [i, i+1) and
  lands in a uniformly random bin for i < t, and in bin π_a(i−t) for i ≥ t (π_a a random permutation of
  [t] seeded by a, so after round 2t−1 every bin is hit). ``S[j]`` is the smallest value in bin j. Since a
  later round's values exceed every earlier one, the rounds can stop as soon as all bins are full:
  expected O(t log t + |A|) time.

Values are encoded as integers: the FSS key of a round-i ball is ``i·2³² + (32 random bits)``, so comparing keys
compares values ``i + h_i(a)``. One 64-bit hash per ball gives both its bin (the top 32 bits, multiply-shift
reduced to [t]) and its value (the low 32 bits): for a fully random hash the two halves are independent. Two
different elements tie in a bin with probability below (balls in the bin)²/2³³ per round.

Hashing: ``h(a) = mix64(a·K + mix64(seed, salt))`` with the splitmix64 finaliser; it is treated as fully
random (the paper's guarantees assume fully random or mixed-tabulation hashing; we do not implement the
latter). All arithmetic is uint64, wrapping mod 2⁶⁴ on purpose.

Each sketch has a plain per-element reference (``*_reference``) that the tests compare against.
"""

from __future__ import annotations

import math

import numpy as np

EMPTY = np.uint64(2**64 - 1)
_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_M1 = _U64(0xBF58476D1CE4E5B9)
_M2 = _U64(0x94D049BB133111EB)
_VALUE_BITS = 32                       # FSS: low 32 bits carry h_i(a), the bits above carry the round i
_MAX_T = 1 << (64 - _VALUE_BITS - 1)   # 2t rounds must fit above the value bits
# Salts separate the hash functions used for different purposes.
_SALT_BIN, _SALT_VALUE, _SALT_PERM, _SALT_PROBE, _SALT_BALL = 1, 2, 3, 4, 5
_VALUE_MASK = _U64((1 << _VALUE_BITS) - 1)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, elementwise on uint64 (a bijection of [2⁶⁴]); a new array (in-place steps after
    the first: allocation is a third of the cost at |A| = 1000). uint64 arrays wrap silently; callers with
    0-d input wrap it in ``np.errstate(over="ignore")``."""
    x = x ^ (x >> _U64(30))
    x *= _M1
    x ^= x >> _U64(27)
    x *= _M2
    x ^= x >> _U64(31)
    return x


_INDEX_KEYS: dict[tuple[int, int], np.ndarray] = {}


def _index_keys(seed: int, salt: int, n: int) -> np.ndarray:
    """``mix64(((seed << 8) + salt)·φ + i·M2)`` for i ∈ [n′ ≥ n): the per-function keys, computed once per
    (seed, salt) and grown by doubling (a few hundred bytes per seed; the cache is emptied past 4096 entries)."""
    keys = _INDEX_KEYS.get((seed, salt))
    if keys is None or keys.size < n:
        size = max(n, 2 * keys.size if keys is not None else 256)
        with np.errstate(over="ignore"):
            keys = _mix64(np.asarray((seed << 8) + salt, dtype=_U64) * _GOLDEN + np.arange(size, dtype=_U64) * _M2)
        keys.flags.writeable = False
        if len(_INDEX_KEYS) >= 4096:
            _INDEX_KEYS.clear()
        _INDEX_KEYS[(seed, salt)] = keys
    return keys


def _hash(elements: np.ndarray, seed: int, salt: int, index) -> np.ndarray:
    """``h_{seed,salt,index}(a)`` for every element; ``index`` (int or array of non-negative ints) broadcasts
    against ``elements``."""
    index = np.asarray(index, dtype=np.intp)
    try:
        key = _index_keys(seed, salt, 0)[index]
    except IndexError:                                          # an index past the cached keys: grow them
        key = _index_keys(seed, salt, int(index.max()) + 1)[index]
    return _mix64(np.asarray(elements, dtype=_U64) * _GOLDEN + key)


def _bin_of(h: np.ndarray, t: int) -> np.ndarray:
    """Multiply-shift range reduction of the top 32 bits: uniform bin in [t], as intp (an index)."""
    bins = h >> _U64(32)
    bins *= _U64(t)
    bins >>= _U64(32)
    return bins.view(np.intp)


def _check_set(elements, name: str = "elements") -> np.ndarray:
    """Validated elements as uint64. Duplicates are kept: every sketch here is a minimum over the elements'
    hashes, which a repeated element cannot change (the cost of ``np.unique`` would exceed FSS's own)."""
    a = np.asarray(elements)
    if a.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array of set elements, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name}: the empty set has no sketch (its Jaccard similarity is undefined)")
    if a.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected non-negative integer elements, got dtype {a.dtype}; "
                        f"map items to integer ids first")
    if a.dtype.kind == "i" and a.min() < 0:
        raise ValueError(f"{name}: elements must be non-negative integers")
    return a.astype(_U64, copy=False)


def _check_t(t: int) -> int:
    if not isinstance(t, (int, np.integer)) or not 1 <= t <= _MAX_T:
        raise ValueError(f"sketch size t must be an integer in [1, {_MAX_T}], got {t!r}")
    return int(t)


# --- t×MinHash -------------------------------------------------------------------------------------------

def minhash_sketch(elements, t: int, seed: int = 0, *, block_size: int = 4096) -> np.ndarray:
    """t×MinHash: ``S[i] = min_{a∈A} h_i(a)``, shape (t,), uint64. O(t·|A|) time, O(block_size·t) memory."""
    a, t = _check_set(elements), _check_t(t)
    rounds = np.arange(t, dtype=_U64)
    out = np.full(t, EMPTY, dtype=_U64)
    for start in range(0, a.size, block_size):
        block = a[start:start + block_size, None]                        # (b, 1)
        np.minimum(out, _hash(block, seed, _SALT_VALUE, rounds).min(axis=0), out=out)   # (b, t) → (t,)
    return out


def minhash_sketch_reference(elements, t: int, seed: int = 0) -> np.ndarray:
    """Definition, one hash function and one element at a time."""
    a, t = _check_set(elements), _check_t(t)
    return np.array([min(int(_hash(np.array([x]), seed, _SALT_VALUE, i)[0]) for x in a) for i in range(t)],
                    dtype=_U64)


# --- One Permutation Hashing ------------------------------------------------------------------------------

def oph_sketch(elements, t: int, seed: int = 0) -> np.ndarray:
    """OPH: ``S[j] = min{v(a) : bin(a) = j}`` or ``EMPTY``; shape (t,), uint64; O(t + |A|) time."""
    a, t = _check_set(elements), _check_t(t)
    out = np.full(t, EMPTY, dtype=_U64)
    values = _hash(a, seed, _SALT_VALUE, 0) >> _U64(1)     # < EMPTY, so a hit bin is never mistaken for empty
    np.minimum.at(out, _bin_of(_hash(a, seed, _SALT_BIN, 0), t), values)
    return out


def oph_sketch_reference(elements, t: int, seed: int = 0) -> np.ndarray:
    a, t = _check_set(elements), _check_t(t)
    out = [int(EMPTY)] * t
    for x in a:
        j = int(_bin_of(_hash(np.array([x]), seed, _SALT_BIN, 0), t)[0])
        out[j] = min(out[j], int(_hash(np.array([x]), seed, _SALT_VALUE, 0)[0] >> _U64(1)))
    return np.array(out, dtype=_U64)


def densify_oph(sketch: np.ndarray, seed: int = 0, *, max_probes: int = 10_000) -> np.ndarray:
    """Optimal densification: empty bin j takes ``S[g(j, k*)]``, k* the first probe hitting a non-empty bin.

    The probe sequence depends only on (j, seed), so two sketches with the same seed densify consistently.
    Raises ``ValueError`` if every bin is empty.
    """
    s = np.asarray(sketch, dtype=_U64).copy()
    t = s.size
    full = s != EMPTY
    if not full.any():
        raise ValueError("densify_oph: every bin is empty; sketch a non-empty set")
    todo = np.flatnonzero(~full).astype(_U64)
    for k in range(max_probes):
        if todo.size == 0:
            return s
        src = _bin_of(_hash(todo, seed, _SALT_PROBE, k), t)
        hit = full[src]
        s[todo[hit].astype(np.intp)] = s[src[hit]]
        todo = todo[~hit]
    raise RuntimeError(f"densify_oph: {todo.size} bins still empty after {max_probes} probes")


# --- Fast Similarity Sketch -------------------------------------------------------------------------------

def _fss_balls(a: np.ndarray, rounds: np.ndarray, t: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The balls of ``a`` (n, 1) in ``rounds`` (r,) from one hash each: their uniform bins in [t] (the top 32
    bits) and keys ``i·2³² + h_i(a)`` (the low 32 bits), both (n, r)."""
    h = _hash(a, seed, _SALT_BALL, rounds)
    bins = _bin_of(h, t)
    h &= _VALUE_MASK                                            # the key, in place
    h |= rounds << _U64(_VALUE_BITS)
    return bins, h


def _fss_permutation_bins(a: np.ndarray, t: int, seed: int) -> np.ndarray:
    """π_a(k) for k ∈ [t]: a random permutation of the bins per element, seeded by the element; (n, t)."""
    return np.argsort(_hash(a, seed, _SALT_PERM, np.arange(t, dtype=_U64)), axis=1, kind="stable")


def fast_similarity_sketch(elements, t: int, seed: int = 0, *, return_rounds: bool = False):
    """Fast Similarity Sketch, shape (t,), uint64; expected O(t log t + |A|) time.

    Rounds are thrown in batches of ⌈t/|A|⌉ (≥ t balls per batch) and stop once every bin is full; the
    result equals the minimum over all 2t rounds (``fast_similarity_sketch_reference``). With
    ``return_rounds`` also returns the number of rounds actually thrown (work = rounds·|A|).
    """
    a, t = _check_set(elements), _check_t(t)
    col = a[:, None]
    out = np.full(t, EMPTY, dtype=_U64)
    batch = max(1, math.ceil(t / a.size))
    done = 0
    while done < t and (out == EMPTY).any():                   # phase 1: uniform bins, rounds [0, t)
        rounds = np.arange(done, min(t, done + batch), dtype=_U64)
        bins, keys = _fss_balls(col, rounds, t, seed)
        np.minimum.at(out, bins.ravel(), keys.ravel())
        done += rounds.size
    if (out == EMPTY).any():                                   # phase 2: rounds [t, 2t), bin π_a(i − t)
        rounds = np.arange(t, 2 * t, dtype=_U64)
        np.minimum.at(out, _fss_permutation_bins(col, t, seed).ravel(), _fss_balls(col, rounds, t, seed)[1].ravel())
        done = 2 * t
    return (out, done) if return_rounds else out


def fast_similarity_sketch_reference(elements, t: int, seed: int = 0) -> np.ndarray:
    """Definition: all 2t rounds of every element, no early stop, one ball at a time."""
    a, t = _check_set(elements), _check_t(t)
    out = [int(EMPTY)] * t
    for x in a:
        col = np.array([[x]], dtype=_U64)
        perm = _fss_permutation_bins(col, t, seed)[0]
        for i in range(2 * t):
            ball_bin, key = _fss_balls(col, np.array([i], dtype=_U64), t, seed)
            j = int(ball_bin[0, 0]) if i < t else int(perm[i - t])
            out[j] = min(out[j], int(key[0, 0]))
    return np.array(out, dtype=_U64)


# --- estimators -------------------------------------------------------------------------------------------

def _check_pair(sa, sb) -> tuple[np.ndarray, np.ndarray]:
    sa, sb = np.asarray(sa), np.asarray(sb)
    if sa.shape != sb.shape or sa.ndim != 1 or sa.size == 0:
        raise ValueError(f"sketches must be non-empty 1-D arrays of equal size t, got {sa.shape} and {sb.shape}")
    return sa, sb


def sketch_similarity(sa, sb) -> float:
    """Ĵ = X/t = (1/t)·Σᵢ [S(A)[i] = S(B)[i]] (MinHash, FSS, densified OPH)."""
    sa, sb = _check_pair(sa, sb)
    return float(np.mean(sa == sb))


def oph_similarity(sa, sb) -> float:
    """Li et al.'s OPH estimator: matches over bins not empty in both, ``N_match / (t − N_both_empty)``.

    Returns NaN when every bin is empty in both sketches.
    """
    sa, sb = _check_pair(sa, sb)
    both_empty = (sa == EMPTY) & (sb == EMPTY)
    usable = sa.size - int(both_empty.sum())
    return float(((sa == sb) & ~both_empty).sum() / usable) if usable else float("nan")


def jaccard(a, b) -> float:
    """Exact J(A, B) = |A∩B| / |A∪B| of two non-empty integer sets."""
    a, b = _check_set(a, "a"), _check_set(b, "b")
    return np.intersect1d(a, b).size / np.union1d(a, b).size
