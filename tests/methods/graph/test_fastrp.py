import numpy as np
import pytest
import scipy.sparse as sp

from simrepro.data.graphs import karate_club, les_miserables, planted_partition
from simrepro.methods.graph.fastrp import (deepwalk_embeddings, fastrp_embeddings, fastrp_explicit,
                                     fastrp_similarity_matrix, node_classification_f1, random_walks,
                                     spectral_embeddings, transition_matrix, tune_fastrp,
                                     tuning_split)


@pytest.mark.parametrize("graph", [karate_club, les_miserables])
@pytest.mark.parametrize("normalize", [False, True])
def test_iterative_equals_explicit_powers(graph, normalize):
    A = graph().A
    it = fastrp_embeddings(A, 33, weights=(0.5, 1.0, 2.0, 4.0), beta=-0.4, normalize=normalize, seed=3)
    ex = fastrp_explicit(A, 33, weights=(0.5, 1.0, 2.0, 4.0), beta=-0.4, normalize=normalize, seed=3)
    print("max |iterative − explicit|", np.abs(it - ex).max())
    np.testing.assert_allclose(it, ex, atol=1e-10)


def test_embedding_is_projection_of_similarity_matrix():
    A = les_miserables().A
    w, beta = (1.0, 2.0, 3.0), -0.5
    M = fastrp_similarity_matrix(A, weights=w, beta=beta)
    from simrepro.kernels.random_projection import very_sparse_random_matrix
    R = very_sparse_random_matrix(A.shape[0], 17, seed=5).toarray()
    N = M @ R
    ref = (N - N.mean(0)) / N.std(0)
    np.testing.assert_allclose(fastrp_embeddings(A, 17, weights=w, beta=beta, seed=5), ref, atol=1e-10)


def test_transition_matrix_rows_and_isolated_node():
    A = sp.csr_matrix(np.array([[0, 2, 1, 0], [2, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=float))
    S = transition_matrix(A).toarray()
    np.testing.assert_allclose(S.sum(1), [1, 1, 1, 0])
    np.testing.assert_allclose(S[0], [0, 2 / 3, 1 / 3, 0])
    E = fastrp_embeddings(A, 5, seed=1)                 # isolated node: zero row before standardisation
    assert np.all(np.isfinite(E))


def test_random_walks_follow_transition_probabilities():
    A = les_miserables().A
    S = transition_matrix(A).toarray()
    w = random_walks(A, 400, 2, seed=1)
    cnt = np.zeros_like(S)
    np.add.at(cnt, (w[:, 0], w[:, 1]), 1)
    emp = cnt / cnt.sum(1, keepdims=True)
    z = np.abs(emp - S) / np.sqrt(np.maximum(S * (1 - S), 1e-12) / 400)
    print("max z", z[S > 0].max())
    assert np.all(emp[S == 0] == 0)                     # never steps along a non-edge
    assert z[S > 0].max() < 6                           # binomial z-scores over ~500 edges
    assert np.all(np.bincount(w[:, 0], minlength=A.shape[0]) == 400)


def test_methods_recover_planted_partition():
    g = planted_partition(600, 4, 12.0, 2.0, seed=2)
    for name, emb in [("fastrp", fastrp_embeddings(g.A, 64, seed=0)),
                      ("spectral", spectral_embeddings(g.A, 8)),
                      ("deepwalk", deepwalk_embeddings(g.A, 32, num_walks=4, walk_length=20, window=5))]:
        f1 = node_classification_f1(emb, g.Y, train_ratio=0.5, n_splits=2)
        print(name, f1)
        assert f1["micro_f1"] > 0.8, name             # chance is 0.25


def test_f1_protocol_top_k_labels():
    # perfect embedding = the labels themselves → F1 = 1 for multi-label Y with varying label counts
    rng = np.random.default_rng(0)
    Y = (rng.random((300, 5)) < 0.3).astype(float)
    Y[Y.sum(1) == 0, 0] = 1.0
    f1 = node_classification_f1(Y * 4 - 2, Y, train_ratio=0.5, n_splits=2)
    assert f1["micro_f1"] == pytest.approx(1.0) and f1["macro_f1"] == pytest.approx(1.0)


@pytest.mark.parametrize("call,msg", [
    (lambda: fastrp_embeddings(np.ones((3, 4))), "square"),
    (lambda: fastrp_embeddings(-np.eye(3)), "negative"),
    (lambda: fastrp_embeddings(np.array([[0, np.nan], [np.nan, 0]])), "NaN"),
    (lambda: fastrp_embeddings(np.eye(3), weights=()), "weights"),
    (lambda: random_walks(np.eye(3), 0, 5), "num_walks"),
    (lambda: spectral_embeddings(np.eye(3), 3), "dim"),
    (lambda: node_classification_f1(np.zeros((3, 2)), np.eye(4)), "rows"),
    (lambda: node_classification_f1(np.full((3, 2), np.nan), np.eye(3)), "NaN"),
    (lambda: node_classification_f1(np.zeros((3, 2)), np.eye(3), train_ratio=1.0), "train_ratio"),
    (lambda: tuning_split(np.eye(10), tune_fraction=0.0), "tune_fraction"),
    (lambda: tuning_split(np.eye(10), np.ones(9, bool)), "mask"),
    (lambda: tuning_split(np.eye(3), tune_fraction=0.1), "empty"),
])
def test_errors(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_tune_fastrp_returns_grid_argmax():
    g = planted_partition(300, 3, 6.0, 3.0, seed=4)
    best, grid = tune_fastrp(g.A, g.Y, dim=16, betas=(-0.5, 0.0), last_weights=(1.0, 8.0), seed=9)
    assert len(grid) == 4
    top = max(grid, key=lambda t: t[2])
    assert best == {"weights": (0.0, 0.0, 1.0, top[1]), "beta": top[0], "normalize": True}


def test_tuning_split_is_disjoint_from_evaluation():
    Y = np.zeros((50, 3))
    Y[np.arange(40), np.arange(40) % 3] = 1.0               # nodes 40..49 unlabelled
    tune, evaluate = tuning_split(Y, tune_fraction=0.25, seed=3)
    assert not (tune & evaluate).any()
    assert (tune | evaluate).sum() == 40 and not (tune | evaluate)[40:].any()
    assert tune.sum() == 10
    again, _ = tuning_split(Y, tune_fraction=0.25, seed=4)
    assert not np.array_equal(tune, again)                 # the seed moves the pool


def test_tune_fastrp_reads_only_the_tuning_pool():
    g = planted_partition(300, 3, 6.0, 3.0, seed=4)
    tune, evaluate = tuning_split(g.Y, tune_fraction=0.4, seed=1)
    kw = dict(dim=16, betas=(-0.5, 0.0), last_weights=(1.0, 8.0), train_ratio=0.5, seed=9)
    _, grid = tune_fastrp(g.A, g.Y, tune, **kw)
    scrambled = g.Y.copy()
    scrambled[evaluate] = np.random.default_rng(0).permutation(scrambled[evaluate])   # evaluation labels changed
    _, grid_scrambled = tune_fastrp(g.A, scrambled, tune, **kw)
    assert grid == grid_scrambled
    _, grid_all = tune_fastrp(g.A, scrambled, **kw)        # without the mask the evaluation labels leak in
    assert grid_all != grid


def test_spectral_embedding_spans_top_eigenvectors():
    A = les_miserables().A
    E = spectral_embeddings(A, 5)
    deg = np.asarray(A.sum(1)).ravel()
    N = (A.toarray() / np.sqrt(deg)[:, None]) / np.sqrt(deg)[None, :]
    lam, V = np.linalg.eigh(N)
    top = V[:, ::-1][:, :5]
    # each standardised column is an affine image of one top eigenvector: its centred version lies in their span
    Ec = E - E.mean(0)
    P = np.column_stack([top, np.ones(A.shape[0])])
    resid = Ec - P @ np.linalg.lstsq(P, Ec, rcond=None)[0]
    assert np.abs(resid).max() < 1e-8
    np.testing.assert_allclose(E.std(0), 1.0)
