import math

import numpy as np
import pytest
from sklearn.random_projection import SparseRandomProjection

from simrepro.kernels.random_projection import very_sparse_random_matrix, very_sparse_random_matrix_reference


@pytest.mark.parametrize("m,d,s", [(1823, 97, None), (781, 257, 3.0), (50, 33, 1.0)])
def test_law_matches_reference(m, d, s):
    R = very_sparse_random_matrix(m, d, s=s, seed=1).toarray()
    Q = very_sparse_random_matrix_reference(m, d, s=s, seed=2)
    s_eff = math.sqrt(m) if s is None else s
    for M in (R, Q):
        vals = np.unique(M)
        assert set(np.round(vals / math.sqrt(s_eff / d), 12)) <= {-1.0, 0.0, 1.0}
    # density 1/s and second moment 1/d, each within 5 binomial standard errors
    n = m * d
    for M in (R, Q):
        dens = np.mean(M != 0)
        print("density", dens, "expected", 1 / s_eff)
        assert abs(dens - 1 / s_eff) <= 5 * math.sqrt((1 / s_eff) * (1 - 1 / s_eff) / n)
        assert abs(np.mean(M) * d) < 5 * math.sqrt(d / n)                             # mean 0, sd √(d/n)
        assert abs(np.mean(M * M) * d - 1) < 5 * math.sqrt((s_eff - 1) / n) + 1e-12


def test_norm_preserved_in_expectation_like_sklearn():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(200, 2000))
    d = 256
    ours = np.linalg.norm(X @ very_sparse_random_matrix(2000, d, seed=4), axis=1) ** 2
    peer = np.linalg.norm(SparseRandomProjection(n_components=d, random_state=4).fit_transform(X), axis=1) ** 2
    true = np.linalg.norm(X, axis=1) ** 2
    r_ours, r_peer = ours / true, peer / true
    print("ratio mean/std ours", r_ours.mean(), r_ours.std(), "sklearn", r_peer.mean(), r_peer.std())
    assert abs(r_ours.mean() - 1) < 0.03 and abs(r_peer.mean() - 1) < 0.03
    assert r_ours.std() < 1.5 * r_peer.std()          # same distortion as the peer, within 50 %


def test_deterministic_and_sparse():
    A = very_sparse_random_matrix(10_000, 64, seed=7)
    B = very_sparse_random_matrix(10_000, 64, seed=7)
    assert (A != B).nnz == 0
    assert A.nnz < 10_000 * 64 / 50                   # s = 100: about 1 % non-zero


@pytest.mark.parametrize("args,msg", [((0, 5), "n_features"), ((5, 0), "dim"), ((5, 2.5), "dim"),
                                      ((5, 3, 0.5), "sparsity"), ((5, 3, float("nan")), "sparsity")])
def test_errors(args, msg):
    kw = {"s": args[2]} if len(args) == 3 else {}
    with pytest.raises(ValueError, match=msg):
        very_sparse_random_matrix(args[0], args[1], **kw)
