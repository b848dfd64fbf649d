"""Sketch kernels against their per-element references, plus the invariants the estimators rely on."""

import numpy as np
import pytest

from simrepro.kernels import sketch as sk

SIZES = [(1, 1), (7, 1), (7, 3), (64, 1), (64, 5), (64, 37), (33, 500)]  # (t, |A|): phase 2 of FSS needs tiny |A|


@pytest.mark.parametrize("t,n", SIZES)
def test_fast_paths_equal_references(t, n):
    a = np.arange(n) * 7919 + 11
    np.testing.assert_array_equal(sk.fast_similarity_sketch(a, t, 3), sk.fast_similarity_sketch_reference(a, t, 3))
    np.testing.assert_array_equal(sk.minhash_sketch(a, t, 3, block_size=4), sk.minhash_sketch_reference(a, t, 3))
    np.testing.assert_array_equal(sk.oph_sketch(a, t, 3), sk.oph_sketch_reference(a, t, 3))


def test_fss_stops_early_for_large_sets_and_runs_phase_two_for_tiny_ones():
    _, rounds_big = sk.fast_similarity_sketch(np.arange(5000), 64, 0, return_rounds=True)
    _, rounds_one = sk.fast_similarity_sketch(np.array([5]), 64, 0, return_rounds=True)
    print("rounds thrown:", rounds_big, rounds_one)
    assert rounds_big == 1            # 5000 balls fill 64 bins in round 0 (P(fail) < 64·e^{-78})
    assert rounds_one == 2 * 64       # a single element must use the permutation phase


def test_sketches_are_set_functions():
    a = np.array([5, 3, 99, 3, 5, 1000])
    b = np.array([1000, 99, 5, 3])
    for fn in (sk.fast_similarity_sketch, sk.minhash_sketch, sk.oph_sketch):
        np.testing.assert_array_equal(fn(a, 16, 1), fn(b, 16, 1))


def test_fss_has_no_empty_bins_while_oph_does():
    a = np.array([1, 2, 3])
    assert not (sk.fast_similarity_sketch(a, 32, 0) == sk.EMPTY).any()
    assert (sk.oph_sketch(a, 32, 0) == sk.EMPTY).sum() >= 29


def test_densification_fills_consistently_and_keeps_full_bins():
    s = sk.oph_sketch(np.arange(10), 64, 2)
    d = sk.densify_oph(s, 2)
    full = s != sk.EMPTY
    assert not (d == sk.EMPTY).any()
    np.testing.assert_array_equal(d[full], s[full])
    assert set(d[~full]) <= set(s[full])
    np.testing.assert_array_equal(sk.densify_oph(s.copy(), 2), d)
    with pytest.raises(ValueError, match="every bin is empty"):
        sk.densify_oph(np.full(8, sk.EMPTY), 0)


@pytest.mark.parametrize("fn", [sk.fast_similarity_sketch, sk.minhash_sketch])
def test_identical_and_disjoint_sets(fn):
    a, b = np.arange(50), np.arange(50, 90)
    assert sk.sketch_similarity(fn(a, 40, 4), fn(a, 40, 4)) == 1.0
    assert sk.sketch_similarity(fn(a, 40, 4), fn(b, 40, 4)) == 0.0


def test_oph_estimator_ignores_jointly_empty_bins():
    e = sk.EMPTY
    sa = np.array([1, 2, e, e], dtype=np.uint64)
    sb = np.array([1, 3, e, 4], dtype=np.uint64)
    assert sk.oph_similarity(sa, sb) == pytest.approx(1 / 3)
    assert np.isnan(sk.oph_similarity(np.full(3, e), np.full(3, e)))


@pytest.mark.parametrize("fn", [sk.fast_similarity_sketch, sk.minhash_sketch])
def test_unbiased_on_small_sets(fn):
    # |A| = |B| = 6, |A∩B| = 4: J = 0.5; 400 seeds; |z| < 4 fails with probability < 1e-4 if unbiased.
    a, b = np.arange(6), np.arange(2, 8)
    est = np.array([sk.sketch_similarity(fn(a, 16, s), fn(b, 16, s)) for s in range(400)])
    z = (est.mean() - 0.5) / (est.std(ddof=1) / np.sqrt(est.size))
    print(fn.__name__, "mean", est.mean(), "z", z)
    assert abs(z) < 4


def test_jaccard_exact():
    assert sk.jaccard([1, 2, 3], [2, 3, 4, 4]) == pytest.approx(0.5)


@pytest.mark.parametrize("bad,err,msg", [
    (np.array([], dtype=int), ValueError, "empty set"),
    (np.zeros((2, 2), dtype=int), ValueError, "1-D"),
    (np.array([0.5, 1.0]), TypeError, "integer"),
    (np.array([-1, 2]), ValueError, "non-negative"),
])
def test_bad_sets_raise(bad, err, msg):
    for fn in (sk.fast_similarity_sketch, sk.minhash_sketch, sk.oph_sketch):
        with pytest.raises(err, match=msg):
            fn(bad, 8)


def test_bad_t_and_mismatched_sketches_raise():
    with pytest.raises(ValueError, match="sketch size t"):
        sk.fast_similarity_sketch([1, 2], 0)
    with pytest.raises(ValueError, match="equal size"):
        sk.sketch_similarity(np.zeros(3, np.uint64), np.zeros(4, np.uint64))


def test_hash_keys_do_not_depend_on_cache_growth():
    """The per-function keys are cached and grown on demand: values must not depend on the order of calls."""
    from simrepro.kernels import sketch

    elements = np.arange(1, 50, dtype=np.uint64)
    sketch._INDEX_KEYS.clear()
    first = sketch._hash(elements[:, None], 7, 2, np.arange(10))
    far = sketch._hash(elements, 7, 2, 100_000)                     # grows the cached keys past 100k
    again = sketch._hash(elements[:, None], 7, 2, np.arange(10))
    sketch._INDEX_KEYS.clear()
    assert np.array_equal(first, again)
    assert np.array_equal(far, sketch._hash(elements, 7, 2, 100_000))
    assert not np.array_equal(first[:, 0], far)
