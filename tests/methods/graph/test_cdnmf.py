"""Tests for simrepro.methods.graph.cdnmf (CDNMF, paper 19). Tolerances: float64 identities 1e-10."""

import itertools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from simrepro.methods.graph import cdnmf as cd

warnings.filterwarnings("ignore", message="Maximum number of iterations")


def _heads(n=37, p=6, k=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)), rng.normal(size=(n, p)), rng.integers(0, k, n)


def test_contrastive_matches_loop_reference_irregular_shape():
    h1, h2, c = _heads()
    fast = cd.debiased_contrastive_loss(torch.tensor(h1), torch.tensor(h2), torch.tensor(c), 1.3).item()
    ref = cd.debiased_contrastive_loss_reference(h1, h2, c, 1.3)
    assert abs(fast - ref) <= 1e-10


def test_contrastive_debiasing_drops_same_community_negatives():
    # one community: no negatives, so ℓ_i = −log(pos / pos) = 0 exactly
    h1, h2, _ = _heads(n=9)
    one = torch.zeros(9, dtype=torch.long)
    got = cd.debiased_contrastive_loss(torch.tensor(h1), torch.tensor(h2), one, 0.5).item()
    assert got == pytest.approx(0.0, abs=1e-12)
    # singletons: every other node is a negative; the loss is larger than with any merged communities
    alone = torch.arange(9)
    assert cd.debiased_contrastive_loss(torch.tensor(h1), torch.tensor(h2), alone, 0.5).item() > 0.1


def test_contrastive_matches_hand_computed_two_nodes():
    h1 = np.array([[1.0, 0.0], [0.0, 1.0]])
    h2 = np.array([[1.0, 0.0], [1.0, 0.0]])
    c = np.array([0, 1])
    tau = 0.5
    # node 0: pos e^{1/τ}, neg e^{0}; node 1: pos e^{0}, neg e^{0}
    expect = 0.5 * (-np.log(np.exp(2) / (1 + np.exp(2))) - np.log(0.5))
    got = cd.debiased_contrastive_loss(torch.tensor(h1), torch.tensor(h2), torch.tensor(c), tau).item()
    assert got == pytest.approx(expect, abs=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_contrastive_rejects_non_finite(bad):
    h1, h2, c = _heads(n=5)
    h1[2, 1] = bad
    with pytest.raises(ValueError, match="non-finite"):
        cd.debiased_contrastive_loss(torch.tensor(h1), torch.tensor(h2), torch.tensor(c), 1.0)


def test_contrastive_rejects_empty_and_bad_tau():
    with pytest.raises(ValueError, match="non-empty"):
        cd.debiased_contrastive_loss(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), 1.0)
    h1, h2, c = _heads(n=4)
    with pytest.raises(ValueError, match="tau"):
        cd.debiased_contrastive_loss(torch.tensor(h1), torch.tensor(h2), torch.tensor(c), 0.0)


def test_graph_regulariser_equals_dense_trace():
    g, X, y = cd.attributed_planted_partition(53, 4, 3.0, 1.0, seed=3)
    V = np.random.default_rng(0).random((4, 53))
    coo = g.A.tocoo()
    fast = cd.graph_regulariser(torch.tensor(V), torch.tensor(coo.row, dtype=torch.long),
                                torch.tensor(coo.col, dtype=torch.long), torch.tensor(coo.data)).item()
    ref = cd.graph_regulariser_reference(V, g.A)
    assert abs(fast - ref) <= 1e-10 * abs(ref)
    # constant rows are in the Laplacian's null space
    assert cd.graph_regulariser_reference(np.ones((2, 53)), g.A) == pytest.approx(0.0, abs=1e-9)


def test_cluster_scores_acc_equals_bruteforce_permutation_and_edge_cases():
    rng = np.random.default_rng(1)
    y, p = rng.integers(0, 4, 41), rng.integers(0, 4, 41)
    best = max(np.mean(np.array(perm)[p] == y) for perm in itertools.permutations(range(4)))
    s = cd.cluster_scores(y, p)
    assert s["acc"] == pytest.approx(best, abs=1e-12)
    perfect = cd.cluster_scores(y, (y + 1) % 4)          # relabelled: all scores 1
    assert perfect == pytest.approx({"nmi": 1.0, "ari": 1.0, "acc": 1.0})
    with pytest.raises(ValueError):
        cd.cluster_scores([], [])
    with pytest.raises(ValueError):
        cd.cluster_scores([0, 1], [0, 1, 1])


def test_attributes_are_seeded_and_carry_the_topic():
    g, X, y = cd.attributed_planted_partition(70, 7, 3.2, 0.8, n_attributes=70, words_per_node=18,
                                              attribute_signal=1.0, seed=5)
    g2, X2, _ = cd.attributed_planted_partition(70, 7, 3.2, 0.8, n_attributes=70, words_per_node=18,
                                                attribute_signal=1.0, seed=5)
    assert np.array_equal(X, X2) and (g.A != g2.A).nnz == 0
    blocks = np.array_split(np.arange(70), 7)
    for i in range(70):                                   # signal 1: every word from the own block
        assert set(np.flatnonzero(X[i])) <= set(blocks[y[i]])
    with pytest.raises(ValueError, match="attribute_signal"):
        cd.topic_attributes(y, attribute_signal=1.5)
    with pytest.raises(ValueError, match="n_attributes"):
        cd.topic_attributes(y, n_attributes=3)


def test_pretrain_shapes_and_validation():
    M = np.random.default_rng(0).random((30, 25))
    Us, V = cd.pretrain_deep_nmf(M, (10, 6, 3), n_iter=50)
    assert [u.shape for u in Us] == [(30, 10), (10, 6), (6, 3)] and V.shape == (3, 25)
    assert all((u >= 0).all() for u in Us) and (V >= 0).all()
    bad = M.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cd.pretrain_deep_nmf(bad, (3,))
    with pytest.raises(ValueError, match="layer width"):
        cd.pretrain_deep_nmf(M, (40,))


def test_fit_recovers_well_separated_communities_and_validates_input():
    g, X, y = cd.attributed_planted_partition(60, 3, 8.0, 0.2, n_attributes=30, words_per_node=8,
                                              attribute_signal=0.9, seed=0)
    r = cd.fit_cdnmf(g.A, X, 3, net_shape=(12, 6), att_shape=(10, 5), epochs=30, seed=0)
    assert r.labels.shape == (60,) and r.V.shape == (3, 60) and len(r.history["total"]) == 30
    assert all(np.isfinite(v).all() for v in r.history.values())
    # the pretrained factorisation of so clean a graph already finds the blocks; training must not destroy it
    assert cd.cluster_scores(y, r.labels)["nmi"] > 0.5
    with pytest.raises(ValueError, match="symmetric"):
        cd.fit_cdnmf(sp.csr_matrix(np.triu(np.ones((4, 4)), 1)), np.ones((4, 2)), 2, epochs=1)
    with pytest.raises(ValueError, match="X"):
        cd.fit_cdnmf(g.A, X[:10], 3, epochs=1)


def test_baselines_return_one_label_per_node():
    g, X, y = cd.attributed_planted_partition(40, 2, 6.0, 0.5, seed=1)
    assert cd.nmf_communities(g.A, 2, seed=0).shape == (40,)
    out = cd.networkx_communities(g.A, seed=0)
    assert set(out) == {"louvain", "greedy"} and all(v.shape == (40,) for v in out.values())
    assert cd.cluster_scores(y, out["louvain"])["nmi"] > 0.5


def test_cora_proportional_shapes():
    assert cd.cora_proportional_shapes(2708, 1433) == ((1000, 500), (500, 200))
    assert cd.cora_proportional_shapes(2, 1) == ((1, 1), (1, 1))
