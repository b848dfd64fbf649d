"""Paper 101 specifics: random rating split, training arrays, masked vs unmasked fits, errors, tuning."""

import numpy as np
import pandas as pd
import pytest

from simrepro.methods.recommendation import evaluation as ev
from simrepro.methods.recommendation import nbmf


def _inter(n_users=30, n_items=25, k=3, density=0.4, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.uniform(0.3, 1.5, (n_users, k))
    H = (rng.random((k, n_items)) < 0.5).astype(float)
    R = np.clip(np.rint(1 + W @ H), 1, 5)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    df = pd.DataFrame({"user_id": u, "item_id": i, "rating": R[u, i], "timestamp": 0})
    return ev.index_interactions(df)


def test_random_split_partitions_ratings():
    inter = _inter()
    s = nbmf.random_rating_split(inter, 0.2, seed=3)
    n = len(inter.users)
    assert len(s.test_users) == round(0.2 * n) and len(s.train_users) + len(s.test_users) == n
    pairs = set(zip(s.train_users, s.train_items)) | set(zip(s.test_users, s.test_items))
    assert pairs == set(zip(inter.users, inter.items))
    s2 = nbmf.random_rating_split(inter, 0.2, seed=3)
    np.testing.assert_array_equal(s.test_items, s2.test_items)
    assert not np.array_equal(s.test_items, nbmf.random_rating_split(inter, 0.2, seed=4).test_items)
    with pytest.raises(ValueError, match="test_fraction"):
        nbmf.random_rating_split(inter, 1.0)


def test_train_arrays_and_clipped_errors():
    inter = _inter()
    s = nbmf.random_rating_split(inter, 0.25, seed=0)
    V, M = nbmf.train_arrays(s)
    assert M.sum() == len(s.train_users) and (V[M == 0] == 0).all()
    assert V[s.train_users[0], s.train_items[0]] == s.train_ratings[0]
    P = np.full((s.n_users, s.n_items), 9.0)
    e = nbmf.errors(s, P)                                   # clipped to 5
    assert e["mae"] == pytest.approx(np.mean(np.abs(s.test_ratings - 5.0)))
    e_raw = nbmf.errors(s, P, clip=None)
    assert e_raw["rmse"] == pytest.approx(np.sqrt(np.mean((s.test_ratings - 9.0) ** 2)))


def test_masked_beats_unmasked_on_planted_ratings():
    inter = _inter(60, 40, 3, 0.35, seed=1)
    s = nbmf.random_rating_split(inter, 0.2, seed=0)
    masked = nbmf.errors(s, nbmf.fit_nbmf(s, 3, masked=True, reg=0.1, n_iter=15, seed=0).predict())
    unmasked = nbmf.errors(s, nbmf.fit_nbmf(s, 3, masked=False, reg=0.1, n_iter=15, seed=0).predict())
    assert masked["rmse"] < unmasked["rmse"]


def test_tune_reg_never_reads_test_ratings():
    inter = _inter(40, 30, 2, 0.4, seed=2)
    s = nbmf.random_rating_split(inter, 0.2, seed=0)
    garbage = ev.Split(s.n_users, s.n_items, s.train_users, s.train_items, s.train_ratings,
                       s.test_users, s.test_items, np.full(len(s.test_ratings), 99.0))
    a = nbmf.tune_reg(s, [0.1, 1.0], 2, n_iter=5, seed=0)
    b = nbmf.tune_reg(garbage, [0.1, 1.0], 2, n_iter=5, seed=0)
    assert a == b and a[0] in (0.1, 1.0)
    with pytest.raises(ValueError, match="grid"):
        nbmf.tune_reg(s, [], 2)


def test_sklearn_peer_shape():
    s = nbmf.random_rating_split(_inter(), 0.2, seed=0)
    P = nbmf.sklearn_nmf(s, 3, max_iter=50)
    assert P.shape == (s.n_users, s.n_items) and (P >= 0).all()
