"""Tree EMD: closed form vs the paper's LP vs POT's exact EMD, on irregular trees and edge cases."""

import numpy as np
import ot
import pytest

from simrepro.methods.measures import tree_emd as te


def _random_tree(n, seed):
    rng = np.random.default_rng(seed)
    parent = np.array([-1] + [int(rng.integers(0, v)) for v in range(1, n)])   # node v hangs below an earlier node
    perm = rng.permutation(n)                                                   # relabel: root not at 0
    inv = np.argsort(perm)
    return np.where(parent[inv] < 0, -1, perm[np.maximum(parent[inv], 0)])


def _weights(n, k, seed):
    return np.random.default_rng(seed).dirichlet(np.full(n, 0.3), size=k)


@pytest.mark.parametrize("n,seed", [(2, 0), (7, 1), (53, 2), (181, 3)])
def test_closed_form_equals_lp_and_pot(n, seed):
    p = _random_tree(n, seed)
    w = _weights(n, 3, seed)
    ell = np.random.default_rng(seed).uniform(0.5, 2.0, n)
    g = te.tree_ground_metric(p, ell)
    for a, b in [(0, 1), (1, 2)]:
        closed = te.tree_emd(p, w[a], w[b], ell)
        lp = te.tree_emd_lp(p, w[a], w[b], ell)
        pot = ot.emd2(w[a], w[b], g)
        print(n, closed, abs(closed - lp), abs(closed - pot))
        assert abs(closed - lp) <= 1e-8 and abs(closed - pot) <= 1e-8


def test_two_node_tree_by_hand():
    # all mass moves across the single edge: d = |0.7 − 0.2| · 3
    assert te.tree_emd([-1, 0], [0.3, 0.7], [0.8, 0.2], [0.0, 3.0]) == pytest.approx(1.5)


def test_path_is_the_1d_wasserstein_distance():
    p = np.array([-1, 0, 1, 2, 3])
    u, v = np.array([0.1, 0.2, 0.3, 0.4, 0.0]), np.array([0.0, 0.0, 0.5, 0.25, 0.25])
    x = np.arange(5.0)
    from scipy.stats import wasserstein_distance
    assert te.tree_emd(p, u, v) == pytest.approx(wasserstein_distance(x, x, u, v), abs=1e-12)


def test_pairwise_matches_single_calls_and_is_a_metric():
    p = _random_tree(40, 5)
    w, o = _weights(40, 9, 6), _weights(40, 4, 7)
    d = te.tree_emd_pairwise(p, w, o)
    assert d.shape == (9, 4)
    ref = np.array([[te.tree_emd(p, a, b) for b in o] for a in w])
    np.testing.assert_allclose(d, ref, rtol=0, atol=1e-12)
    dd = te.tree_emd_pairwise(p, w)
    assert np.abs(np.diag(dd)).max() == 0 and np.abs(dd - dd.T).max() < 1e-15
    viol = (dd[:, :, None] - dd[:, None, :] - dd.T[None, :, :]).max()   # d(i,j) − d(i,k) − d(k,j)
    assert viol <= 1e-12


def test_subtree_masses_root_carries_everything():
    p = _random_tree(30, 8)
    w = _weights(30, 2, 9)
    m = te.subtree_masses(p, w)
    np.testing.assert_allclose(m[:, p == -1].ravel(), [1.0, 1.0])
    leaves = np.setdiff1d(np.arange(30), p[p >= 0])
    np.testing.assert_array_equal(m[:, leaves], w[:, leaves])


def test_synthetic_ledgers_and_knn():
    p = te.random_chart_of_accounts(seed=1)
    w, y = te.synthetic_ledgers(p, 30, 3, seed=2)
    np.testing.assert_allclose(w.sum(1), 1.0)
    internal = np.unique(p[p >= 0])
    assert (w[:, internal] == 0).all() and y.shape == (30,)
    d = np.abs(y[:, None] - y[None, :]).astype(float)     # distance 0 within a sector: perfect 1-NN
    assert te.knn_accuracy(d, y, 1) == 1.0


@pytest.mark.parametrize("parent,msg", [
    ([0, 0], "exactly one root"),
    ([-1, -1], "exactly one root"),
    ([-1, 2, 1], "cycle"),
    ([-1, 5], "node index"),
    (np.array([[-1]]), "1-D"),
    ([], "non-empty"),
])
def test_bad_trees_raise(parent, msg):
    with pytest.raises(ValueError, match=msg):
        te.check_tree(parent)


def test_bad_weights_raise():
    p = [-1, 0, 0]
    with pytest.raises(ValueError, match="equal total mass"):
        te.tree_emd(p, [1, 0, 0], [0.5, 0, 0])
    with pytest.raises(ValueError, match="NaN"):
        te.tree_emd(p, [np.nan, 0.5, 0.5], [1, 0, 0])
    with pytest.raises(ValueError, match="non-negative"):
        te.tree_emd_lp(p, [1.5, -0.5, 0], [1, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        te.tree_emd(p, [1, 0], [1, 0])
    with pytest.raises(ValueError, match="edge_length"):
        te.tree_emd(p, [1, 0, 0], [0, 1, 0], edge_length=[1, -1, 1])


def test_official_example_matches_the_official_printouts():
    # notebooks/coding_example.ipynb of the official repository prints 7.109814812862823 (fast_distance.py,
    # cell 25) and 7.109814786859999 (the PuLP/CBC LP, cell 16) for companies 0 and 1 of its synthetic data
    parent, w0, w1 = te.official_example()
    assert parent.size == 85 and te.node_depth(te.check_tree(parent)).max() == 5
    assert abs(w0.sum() - 1) < 1e-12 and abs(w1.sum() - 1) < 1e-12 and (w0 >= 0).all() and (w1 >= 0).all()
    closed = te.tree_emd(parent, w0, w1)
    assert abs(closed - 7.109814812862823) <= 1e-12
    assert abs(te.tree_emd_lp(parent, w0, w1) - closed) <= 1e-8
    assert abs(closed - 7.109814786859999) <= 1e-5          # CBC's default tolerances
    assert te.tree_emd(parent, w0, w0) == 0.0
