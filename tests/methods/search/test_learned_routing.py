"""Learned routing on similarity graphs (simrepro.methods.search.learned_routing)."""

import numpy as np
import pytest
import torch

from simrepro.kernels.graph_search import beam_search
from simrepro.methods.search import learned_routing as lr


def _knn_graph(x, r):
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return np.argsort(d, 1, kind="stable")[:, :r].astype(np.int64)


def _data(n=300, d=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(np.float32), rng.standard_normal((40, d)).astype(np.float32)


def test_hop_distances_match_reference_bfs_with_padding_and_unreachable():
    x, _ = _data(n=120)
    g = _knn_graph(x, 4)
    g[5, 2:] = -1                                           # padding
    g = np.vstack([g, [[-1, -1, -1, -1]]])                  # an isolated vertex: unreachable from/to
    H = lr.hop_distances_to(g, [0, 7, 120])
    for row, t in zip(H, [0, 7, 120]):
        np.testing.assert_array_equal(row, lr.hop_distances_reference(g, t))
    assert H[0, 120] == lr.UNREACHABLE and H[2, 120] == 0 and H[2, 0] == lr.UNREACHABLE
    assert lr.hop_distances_to(g, []).shape == (0, 121)
    with pytest.raises(ValueError, match="targets"):
        lr.hop_distances_to(g, [121])


def test_greedy_paths_end_where_beam_one_search_ends():
    x, q = _data()
    g = _knn_graph(x, 6)
    paths = lr.greedy_paths(x, q, g, 0)
    _, I, _ = beam_search(lr._L2Store(x, q), g, 0, len(q), 1, 1)
    assert [p[-1] for p in paths] == I[:, 0].tolist()
    for p, qq in zip(paths, q):                             # strictly decreasing distances along a path
        d = ((x[p] - qq) ** 2).sum(1)
        assert (np.diff(d) < 0).all() and p[0] == 0


def test_route_and_verify_exact_with_full_beam_and_cost_accounting():
    x, q = _data()
    g = np.hstack([_knn_graph(x, 8), ((np.arange(len(x)) + 1) % len(x))[:, None]])   # + a ring: all reachable
    nn_d = ((x[None] - q[:, None]) ** 2).sum(-1).min(1)
    rows = lr.budget_curve(x, q, x, q, g, 0, [300], 1, nn_d, exact=True)
    assert rows[0]["recall1"] == 1.0                         # a beam as large as the base finds every NN
    rows = lr.budget_curve(x[:, :3], q[:, :3], x, q, g, 0, [4], 8, nn_d, exact=False)
    assert rows[0]["dcs"] == pytest.approx(rows[0]["n_route"] * 3 / 6 + 4)   # k_verify capped at the beam


def test_recall_at_budget_interpolates_in_log_cost():
    rows = [{"dcs": 10.0, "recall1": 0.2}, {"dcs": 40.0, "recall1": 0.6}]
    assert lr.recall_at_budget(rows, 20.0) == pytest.approx(0.4)
    assert np.isnan(lr.recall_at_budget(rows, 5.0)) and np.isnan(lr.recall_at_budget(rows, 41.0))


def test_recall_at_1_is_tie_aware():
    x = np.array([[0.0, 1.0], [0.0, -1.0], [5.0, 5.0]], np.float32)
    q = np.zeros((1, 2), np.float32)
    assert lr.recall_at_1([1], x, q, np.array([1.0])) == 1.0 and lr.recall_at_1([2], x, q, np.array([1.0])) == 0.0


def test_untrained_net_is_pca_routing_and_training_lowers_loss():
    x, _ = _data(n=400, d=8, seed=1)
    rng = np.random.default_rng(2)
    g = _knn_graph(x, 6)
    P = lr.pca_axes(x, 4)
    net = lr.RoutingNet(P, hidden=16)
    fy, gq = lr.routing_vectors(net, x, g, x[:5])
    np.testing.assert_allclose(fy, x @ P.T.astype(np.float32), atol=1e-5)
    np.testing.assert_allclose(gq, x[:5] @ P.T.astype(np.float32), atol=1e-5)
    tq = rng.standard_normal((60, 8)).astype(np.float32)
    tnn = ((x[None] - tq[:, None]) ** 2).sum(-1).argmin(1)
    torch.set_num_threads(1)
    net, losses = lr.train_routing(x, g, 0, tq, tnn, 4, steps=120, batch=32, lr=3e-3, refresh=40, seed=0)
    assert np.mean(losses[-20:]) < np.mean(losses[:20])
    net2, losses2 = lr.train_routing(x, g, 0, tq, tnn, 4, steps=120, batch=32, lr=3e-3, refresh=40, seed=0)
    assert losses == losses2                                 # deterministic for a seed


def test_heap_traces_positives_are_min_hop_candidates():
    x, q = _data()
    g = _knn_graph(x, 6)
    tnn = ((x[None] - q[:, None]) ** 2).sum(-1).argmin(1)
    H = lr.hop_distances_to(g, tnn)
    snaps = lr.heap_traces(x, q, g, 0, H, max_steps=10, per_query=3)
    assert snaps
    for i, ids, pos in snaps:
        h = H[i, ids]
        assert pos.any() and (h[pos] == h.min()).all() and (h[~pos] > h.min()).all()


def test_bad_inputs():
    x, q = _data()
    with pytest.raises(ValueError, match="d_route"):
        lr.pca_axes(x, 7)
    with pytest.raises(ValueError, match="graph"):
        lr.hop_distances_to(np.zeros((3, 2)), [0])
    with pytest.raises(ValueError, match="differ in length"):
        lr.train_routing(x, _knn_graph(x, 4), 0, q, np.zeros(3, int), 3, steps=1)
