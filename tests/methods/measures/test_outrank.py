"""OutRank's cardinality-corrected MI: fast path vs plain reference, plain MI vs sklearn, the correction's effect,
parity with the official numba estimator (if `outrank` is installed), edge cases."""

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from simrepro.methods.measures import outrank as o

SHAPES = [(7, 3, 2), (50, 11, 3), (301, 40, 2), (1000, 997, 2), (123, 1, 4)]  # (N, |X| upper, |Y| upper)


@pytest.mark.parametrize("n,kx,ky", SHAPES)
@pytest.mark.parametrize("corr", [True, False])
def test_fast_equals_reference(n, kx, ky, corr):
    rng = np.random.default_rng(n + kx)
    x, y = rng.integers(0, kx, n), rng.integers(0, ky, n)
    # tolerance: float64 round-off of sums over ≤ 10³ terms
    assert abs(o.cardinality_mi(y, x, cardinality_correction=corr)
               - o.cardinality_mi_reference(y, x, cardinality_correction=corr)) <= 1e-12


@pytest.mark.parametrize("n,kx,ky", SHAPES)
def test_plain_equals_sklearn(n, kx, ky):
    rng = np.random.default_rng(3 * n + kx)
    x, y = rng.integers(0, kx, n), rng.integers(0, ky, n)
    assert abs(o.plain_mi(y, x) - mutual_info_score(x, y)) <= 1e-12


def test_hand_computed_value():
    # x = [0,0,1,1], y = [0,1,1,1]: H(Y|X) = ½·ln 2; shifted labels y[(i+2)%4] = [1,1,0,1] -> H_bg = ½·ln 2 too
    x, y = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    h_y = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75))
    assert o.plain_mi(y, x) == pytest.approx(h_y - 0.5 * np.log(2), abs=1e-15)
    assert o.cardinality_mi(y, x) == pytest.approx(0.0, abs=1e-15)


def test_singletons_contribute_nothing():
    # an ID column (all values unique): H(Y|X) = 0 and both background terms vanish -> corrected score 0
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    assert o.cardinality_mi(y, np.arange(200)) == 0.0
    assert o.plain_mi(y, np.arange(200)) == pytest.approx(mutual_info_score(np.arange(200), y), abs=1e-12)


def test_identical_columns_turn_correction_off():
    y = np.random.default_rng(2).integers(0, 3, 100)
    assert o.cardinality_mi(y, y.copy()) == pytest.approx(o.plain_mi(y, y), abs=1e-15)


def test_correction_removes_high_cardinality_bias():
    rng = np.random.default_rng(5)
    n = 4000
    y = rng.integers(0, 2, n)
    noise = rng.integers(0, 1000, n)
    weak = np.where(rng.random(n) < 0.1, y, rng.integers(0, 2, n))  # weakly informative binary feature
    assert o.plain_mi(y, noise) > o.plain_mi(y, weak)                 # plain MI is fooled
    assert o.cardinality_mi(y, weak) > o.cardinality_mi(y, noise)     # corrected is not
    assert abs(o.cardinality_mi(y, noise)) < 0.25 * o.plain_mi(y, noise)
    assert o.plain_mi(y, noise) == pytest.approx(o.analytic_mi_bias(1000, 2, n), rel=0.3)


def test_synthetic_ranking_precision():
    X, y, names, info = o.synthetic_categorical(20000, rng=np.random.default_rng(0))
    assert X.shape == (20000, len(names)) and y.shape == (20000,) and info.sum() == 7
    _, order_c = o.rank_features(X, y)
    _, order_p = o.rank_features(X, y, cardinality_correction=False)
    k = int(info.sum())
    assert info[order_c[:k]].mean() > info[order_p[:k]].mean()


def test_rank_ties_stable():
    X = np.zeros((10, 3), dtype=int)
    scores, order = o.rank_features(X, np.arange(10) % 2)
    assert np.all(scores == 0) and order.tolist() == [0, 1, 2]


def test_bad_input_errors():
    with pytest.raises(ValueError, match="empty"):
        o.cardinality_mi(np.array([], int), np.array([], int))
    with pytest.raises(ValueError, match="same length"):
        o.cardinality_mi(np.zeros(3, int), np.zeros(4, int))
    with pytest.raises(ValueError, match="integer codes"):
        o.cardinality_mi(np.zeros(3), np.zeros(3, int))
    with pytest.raises(ValueError, match="negative"):
        o.cardinality_mi(np.zeros(3, int), np.array([-1, 0, 1]))
    with pytest.raises(ValueError, match="NaN"):
        o.encode(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="2-D"):
        o.rank_features(np.zeros(3, int), np.zeros(3, int))
    assert o.encode(np.array(["b", "a", "b"])).tolist() == [1, 0, 1]


def test_parity_with_official_outrank():
    pytest.importorskip("outrank")
    from outrank.algorithms.feature_ranking.ranking_mi_numba import mutual_info_estimator_numba

    rng = np.random.default_rng(7)
    for kx, ky, n in [(2, 2, 100), (40, 2, 2000), (800, 2, 3000), (9, 4, 500)]:
        x = rng.integers(0, kx, n)
        y = rng.integers(0, ky, n)
        if (x - y).sum() == 0:  # the official diagonal rule (line 167) would switch the correction off
            continue
        for corr in (True, False):
            ref = float(mutual_info_estimator_numba(y.astype(np.int32), x.astype(np.int32), np.float32(1.0), corr))
            # the official code accumulates in float32 with fastmath: 1e-5 ≫ its round-off at N ≤ 3000
            assert abs(o.cardinality_mi(y, x, cardinality_correction=corr) - ref) <= 1e-5


def test_logreg_auc_runs():
    X, y, _, info = o.synthetic_categorical(3000, rng=np.random.default_rng(1))
    auc, t = o.logreg_auc(X[:2000], y[:2000], X[2000:], y[2000:], np.flatnonzero(info))
    assert 0.5 < auc <= 1.0 and t > 0
    with pytest.raises(ValueError, match="empty"):
        o.logreg_auc(X, y, X, y, [])
