"""Tests of simrepro.methods.retrieval.scincl: tree construction, splits, samplers against their definitions,
kNN and MAP against plain references, the adapter's identity start and learning, and clear errors."""

import numpy as np
import pytest

from simrepro.methods.retrieval import scincl as S


def _tree(n: int = 60, seed: int = 0) -> np.ndarray:
    """A random forest/tree: node i > 0 has a parent < i (one root, node 0)."""
    rng = np.random.default_rng(seed)
    parent = np.full(n, -1, np.int64)
    for i in range(1, n):
        parent[i] = rng.integers(0, i)
    return parent


def test_ancestor_closure_is_a_connected_tree_closed_under_parents():
    parent = _tree(200)
    ids, edges = S.ancestor_closure_tree(parent, 30, seed=3)
    assert len(edges) == len(ids) - 1                     # one root: a tree
    assert set(parent[ids][parent[ids] >= 0]) <= set(ids)  # closed under parent
    assert all(parent[ids[c]] == ids[p] for c, p in edges)


def test_ancestor_closure_stops_outside_among_and_largest_component():
    parent = np.array([-1, 0, 0, 1, 1, 2, 5], np.int64)   # 0 -> {1, 2}; 1 -> {3, 4}; 2 -> 5 -> 6
    lcc = S.largest_component(parent, np.array([1, 3, 4, 5, 6]))
    assert lcc.tolist() == [1, 3, 4]                       # {1,3,4} (3 nodes) beats {5,6}
    ids, edges = S.ancestor_closure_tree(parent, 2, among=lcc, seed=0)
    assert set(ids) <= {1, 3, 4} and len(edges) == len(ids) - 1


def test_ancestor_closure_errors():
    with pytest.raises(ValueError, match="n_sample"):
        S.ancestor_closure_tree(_tree(10), 0)
    with pytest.raises(ValueError, match="1-d integer"):
        S.ancestor_closure_tree(np.zeros(5), 2)
    with pytest.raises(ValueError, match="cycle"):
        S.ancestor_closure_tree(np.array([1, 0]), 2)


def test_split_edges_partitions_and_is_seeded():
    e = np.array([(i, i - 1) for i in range(1, 101)])
    sp = S.split_edges(e, 101, test_frac=0.1, val_frac=0.05, seed=1)
    assert (len(sp["test"]), len(sp["val"]), len(sp["train"])) == (10, 5, 85)
    allrows = np.concatenate([sp["test"], sp["val"], sp["train"]])
    assert sorted(map(tuple, allrows)) == sorted(map(tuple, e))
    assert np.array_equal(S.split_edges(e, 101, seed=1)["test"], sp["test"])
    assert not np.array_equal(S.split_edges(e, 101, seed=2)["test"], sp["test"])
    with pytest.raises(ValueError, match="self-loops"):
        S.split_edges(np.array([[1, 1]]), 3)
    with pytest.raises(ValueError, match="0..2"):
        S.adjacency(np.array([[0, 3]]), 3)


def test_specter_triplets_follow_the_definition():
    parent = _tree(80, seed=2)
    edges = np.array([(i, parent[i]) for i in range(1, 80)])
    adj = S.adjacency(edges, 80)
    nbr = S.neighbour_sets(adj)
    tr = S.specter_triplets(adj, 2000, hard_fraction=0.4, seed=0)
    hard = 0
    for a, p, q in tr:
        assert p in nbr[a]                                 # positive = a direct "citation"
        assert q != a and q not in nbr[a]                  # negative never a neighbour
        two_hop = set(np.concatenate([nbr[b] for b in nbr[a]]).tolist()) - {a}
        hard += q in two_hop
    assert 0.25 < hard / len(tr) < 0.6                     # ≈ 0.4 hard (plus random 2-hop hits)


def test_scincl_triplets_take_ranks_from_their_bands():
    rng = np.random.default_rng(0)
    n = 50
    knn = np.stack([rng.permutation(np.r_[0:i, i + 1:n]) for i in range(n)])   # (n, n−1) arbitrary kNN lists
    tr = S.scincl_triplets(knn, 3000, pos_band=(3, 5), neg_band=(20, 22), hard_fraction=0.5, seed=1)
    rank = np.zeros((n, n), np.int64)
    for i in range(n):
        rank[i, knn[i]] = np.arange(1, n)
    pr = rank[tr[:, 0], tr[:, 1]]
    nr = rank[tr[:, 0], tr[:, 2]]
    assert pr.min() >= 3 and pr.max() <= 5 and set(pr.tolist()) == {3, 4, 5}
    assert (tr[:, 2] != tr[:, 0]).all() and (nr > 5).all()          # easy: outside the top k_pos_max
    assert 0.4 < np.mean((nr >= 20) & (nr <= 22)) < 0.65
    with pytest.raises(ValueError, match="pos_band"):
        S.scincl_triplets(knn, 10, pos_band=(0, 3), neg_band=(5, 6))
    with pytest.raises(ValueError, match="neg_band"):
        S.scincl_triplets(knn, 10, pos_band=(1, 3), neg_band=(5, n))


def test_knn_ranks_match_the_reference_irregular_shape():
    x = np.random.default_rng(4).standard_normal((37, 5)).astype(np.float32)
    assert np.array_equal(S.knn_ranks(x, 11), S.knn_ranks_reference(x, 11))
    with pytest.raises(ValueError, match="NaN"):
        S.knn_ranks(np.full((3, 2), np.nan), 1)
    with pytest.raises(ValueError, match="k must be"):
        S.knn_ranks(x, 37)


def test_deepwalk_shapes_isolated_nodes_and_locality():
    edges = np.array([(i, i + 1) for i in range(29)] + [(i, i + 1) for i in range(30, 59)])   # two paths + node 60
    adj = S.adjacency(edges, 61)
    g = S.deepwalk(adj, dim=16, n_walks=20, length=10, epochs=3, seed=0)
    assert g.shape == (61, 16) and np.allclose(np.linalg.norm(g[:60], axis=1), 1, atol=1e-5)
    assert not g[60].any()                                 # isolated: zero row
    knn = S.knn_ranks_reference(g[:60], 5)
    same = np.mean([(knn[i] // 30 == i // 30).mean() for i in range(60)])
    assert same > 0.9                                      # neighbours come from the same path


def test_retrieval_map_matches_numpy_reference_and_perfect_scores():
    rng = np.random.default_rng(5)
    z = rng.standard_normal((41, 8)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    edges = np.array([(i, (i * 7 + 3) % 41) for i in range(41) if (i * 7 + 3) % 41 != i])
    sp = S.split_edges(edges, 41, test_frac=0.2, val_frac=0.0, seed=0)
    adj = S.adjacency(sp["train"], 41)
    pairs = S.link_pairs(sp["test"])
    got = S.retrieval_eval(z, pairs, adj, k=10, metrics=("map@10",))["map@10"]
    assert got == pytest.approx(S.map_reference(z, pairs, adj, k=10), abs=1e-6)
    # embeddings that put each test partner first → MAP = 1
    perfect = np.eye(41, dtype=np.float32)
    pairs1 = np.array([[0, 1], [2, 3]])
    perfect[1], perfect[3] = perfect[0], perfect[2]
    assert S.retrieval_eval(perfect, pairs1, S.adjacency(np.zeros((0, 2), int), 41), k=5,
                            metrics=("map@5",))["map@5"] == pytest.approx(1.0)


def test_training_neighbours_are_filtered_from_candidates():
    z = np.array([[1, 0], [1, 0], [0.9, 0.1], [0, 1]], np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    adj = S.adjacency(np.array([[0, 1]]), 4)
    pairs = np.array([[0, 2]])
    # node 1 (identical to 0) is a training neighbour: dropped, so 2 ranks first
    assert S.retrieval_eval(z, pairs, adj, k=3, metrics=("map@3",))["map@3"] == pytest.approx(1.0)
    assert S.retrieval_eval(z, pairs, S.adjacency(np.zeros((0, 2), int), 4), k=3,
                            metrics=("map@3",))["map@3"] == pytest.approx(0.5)


def test_cocitation_pairs_are_siblings_under_the_heldout_parent():
    edges = np.array([[1, 0], [2, 0], [3, 0], [4, 1], [5, 1]])
    got = S.cocitation_pairs(np.array([[2, 0], [4, 1]]), edges)
    assert sorted(map(tuple, got)) == [(2, 1), (2, 3), (4, 5)]


def test_average_precision_reference():
    assert S.average_precision_reference([5, 1, 7, 2], {1, 2}) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert S.average_precision_reference([5, 1, 7, 2], {1, 2}, k=2) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="empty"):
        S.average_precision_reference([1], set())


def test_adapter_starts_at_identity_and_learns_the_triplets():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((60, 6)).astype(np.float32)
    assert np.array_equal(S.train_adapter(x, np.array([[0, 1, 2]]), steps=0), np.eye(6, dtype=np.float32))
    tr = np.array([(a, (a + 1) % 60, (a + 30) % 60) for a in range(60)])
    def margin_ok(W):
        z = S.apply_adapter(x, W)
        return np.mean(np.linalg.norm(z[tr[:, 0]] - z[tr[:, 1]], axis=1)
                       < np.linalg.norm(z[tr[:, 0]] - z[tr[:, 2]], axis=1))
    before = margin_ok(np.eye(6))
    after = margin_ok(S.train_adapter(x, tr, steps=300, batch=32, lr=1e-2, margin=0.5, seed=0))
    assert after > before + 0.1
    with pytest.raises(ValueError, match="triplet indices"):
        S.train_adapter(x, np.array([[0, 1, 60]]))
    with pytest.raises(ValueError, match="non-empty"):
        S.train_adapter(x, np.zeros((0, 3), int))


def test_compare_samplers_runs_and_selects_a_non_overlapping_config():
    parent = _tree(150, seed=1)
    edges = np.array([(i, parent[i]) for i in range(1, 150)])
    x = np.random.default_rng(0).standard_normal((150, 8)).astype(np.float32)
    r = S.compare_samplers(x, edges, seed=0, pos_bands=[(1, 3), (5, 7)], neg_bands=[(5, 7), (40, 42)], steps=5,
                           batch=16, n_walks=2, walk_length=8, graph_dim=8, k_eval=20)
    pb, nb = r["selected"]
    assert nb[0] > pb[1] or nb[1] < pb[0]
    assert {"frozen", "specter", "scincl", "overlap"} <= set(r["models"])
    assert r["pos_is_neighbour"]["specter"] == 1.0
    with pytest.raises(ValueError, match="non-overlapping"):
        S.compare_samplers(x, edges, seed=0, pos_bands=[(1, 3)], neg_bands=[(2, 4)], steps=1)
    with pytest.raises(ValueError, match="exceeds"):
        S.compare_samplers(x, edges, seed=0, pos_bands=[(1, 3)], neg_bands=[(400, 410)], steps=1)
