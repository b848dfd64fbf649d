"""Tests of simrepro.methods.representation.sesa (SESA, latent dual encoder, ESA) and
simrepro.data.wordnet_concepts."""

import numpy as np
import pytest
import scipy.sparse as sp

from simrepro.methods.representation import sesa as S


def test_cosine_scores_definition_and_zero_rows():
    rng = np.random.default_rng(0)
    Q, D = rng.normal(size=(3, 5)), rng.normal(size=(4, 5))
    D[2] = 0.0
    got = S.cosine_scores(Q, D)
    for i in range(3):
        for j in range(4):
            n = np.linalg.norm(Q[i]) * np.linalg.norm(D[j])
            assert abs(got[i, j] - (0.0 if n == 0 else Q[i] @ D[j] / n)) <= 1e-12
    with pytest.raises(ValueError, match="same K"):
        S.cosine_scores(Q, D[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        S.cosine_scores(np.array([[np.nan, 1.0]]), np.ones((1, 2)))


def test_auc_equals_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(1)
    sc = rng.integers(0, 4, size=(30, 9)).astype(float)          # many ties
    pos = rng.integers(0, 9, size=30)
    got = S.auc_single_relevant(sc, pos)
    for q in range(30):
        y = np.zeros(9)
        y[pos[q]] = 1
        assert abs(got[q] - roc_auc_score(y, sc[q])) <= 1e-12


def test_auc_and_rr_edge_cases():
    s = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    assert np.allclose(S.auc_single_relevant(s, [0, 0]), [1.0, 0.5])
    assert np.allclose(S.reciprocal_rank(s, [0, 0]), [1.0, 0.5])
    assert np.allclose(S.reciprocal_rank(np.array([[1.0, 3.0, 2.0]]), [0]), [1 / 3])
    with pytest.raises(ValueError, match="outside"):
        S.auc_single_relevant(s, [0, 5])
    with pytest.raises(ValueError, match="D >= 2"):
        S.auc_single_relevant(np.ones((2, 1)), [0, 0])


def test_label_precision_at_k():
    A = np.array([[0.9, 0.8, 0.1, 0.0], [0.1, 0.2, 0.3, 0.4], [0.5, 0.5, 0.5, 0.5]])
    Y = np.array([[1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 0]])
    got = S.label_precision_at_k(A, sp.csr_matrix(Y), k_max=5)
    assert got[0] == 0.5 and got[1] == 1.0 and np.isnan(got[2])          # k = |y| = 2, 1; no label → NaN
    assert S.label_precision_at_k(A[:1], Y[:1], k_max=1)[0] == 1.0
    with pytest.raises(ValueError, match="shape"):
        S.label_precision_at_k(A, Y[:, :2])


def test_esa_fast_equals_reference_and_definition():
    rng = np.random.default_rng(2)
    T = sp.random(12, 30, density=0.2, random_state=3, format="csr")
    Yd = (rng.random((12, 5)) < 0.3).astype(float)
    Yd[:, 4] = 0                                                       # a concept with no article
    Y = sp.csr_matrix(Yd)
    C = S.esa_concept_matrix(T, Y)
    dense = (Y.toarray().T @ T.toarray())
    norms = np.linalg.norm(dense, axis=1, keepdims=True)
    want = np.divide(dense, norms, out=np.zeros_like(dense), where=norms > 0)
    assert np.abs(C.toarray() - want).max() <= 1e-12
    Tq = sp.random(7, 30, density=0.3, random_state=4, format="csr")
    assert np.abs(S.esa_vectors(Tq, C) - S.esa_vectors_reference(Tq, C)).max() <= 1e-12
    assert np.all(S.esa_vectors(Tq, C)[:, 4] == 0)
    with pytest.raises(ValueError, match="rows"):
        S.esa_concept_matrix(T, Y[:5])


def _toy(n=240, K=6, d=10, seed=0):
    """Texts = noisy mixtures of concept prototypes; query and document of a pair share the concept set."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(K, d))
    Y = (rng.random((n, K)) < 0.3).astype(float)
    Y[Y.sum(1) == 0, 0] = 1
    item = rng.normal(size=(n, d)) * 0.3
    Xq = Y @ P + item + 0.1 * rng.normal(size=(n, d))
    Xd = Y @ P + item + 0.1 * rng.normal(size=(n, d))
    return Xq, Xd, Y


@pytest.mark.parametrize("mode", ["latent", "sesa", "sesa_cls"])
def test_two_tower_learns_and_is_deterministic(mode):
    pytest.importorskip("torch")
    Xq, Xd, Y = _toy()
    cfg = S.TwoTowerConfig(mode=mode, hidden=32, epochs=15, batch_size=32, lr=1e-2)
    net = S.train_two_tower(Xq[:200], Xd[:200], Y[:200], cfg, seed=1)
    q, d = S.embed(net, Xq[200:], "q"), S.embed(net, Xd[200:], "d")
    assert q.shape == (40, Y.shape[1]) and d.shape == (40, Y.shape[1])
    auc = S.auc_single_relevant(S.cosine_scores(q, d), np.arange(40)).mean()
    assert auc > 0.75, auc                                             # chance = 0.5
    if mode != "latent":
        assert ((q >= 0) & (q <= 1)).all()
        assert np.nanmean(S.label_precision_at_k(d, Y[200:])) > 0.7
    net2 = S.train_two_tower(Xq[:200], Xd[:200], Y[:200], cfg, seed=1)
    assert np.array_equal(S.embed(net2, Xq[200:], "q"), q)


def test_two_tower_sparse_input_matches_dense():
    pytest.importorskip("torch")
    Xq, Xd, Y = _toy(n=80)
    cfg = S.TwoTowerConfig(mode="sesa", hidden=16, epochs=2, batch_size=16)
    a = S.train_two_tower(Xq, Xd, Y, cfg, seed=0)
    b = S.train_two_tower(sp.csr_matrix(Xq), sp.csr_matrix(Xd), Y, cfg, seed=0)
    assert np.abs(S.embed(a, Xq, "q") - S.embed(b, sp.csr_matrix(Xq), "q")).max() <= 1e-4


def test_two_tower_errors():
    Xq, Xd, Y = _toy(n=20)
    with pytest.raises(ValueError, match="mode"):
        S.train_two_tower(Xq, Xd, Y, S.TwoTowerConfig(mode="nope"))
    with pytest.raises(ValueError, match="one shape"):
        S.train_two_tower(Xq, Xd[:10], Y, S.TwoTowerConfig())
    with pytest.raises(ValueError, match="at least 2"):
        S.train_two_tower(Xq[:1], Xd[:1], Y[:1], S.TwoTowerConfig())
    bad = Xq.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        S.train_two_tower(bad, Xd, Y, S.TwoTowerConfig())


def test_wordnet_concepts_labels_are_ancestors():
    from simrepro.data._store import load_array
    from simrepro.data.wordnet_concepts import load_wordnet_concepts
    try:
        W = load_wordnet_concepts()
    except Exception as e:                                            # asset not built on this machine
        pytest.skip(f"wordnet_nouns asset unavailable: {e}")
    parent = load_array("wordnet_nouns", "parent.npy")
    assert W["labels"].shape == (len(W["items"]), len(W["concepts"]))
    assert (np.asarray(W["labels"].sum(axis=1)).ravel() >= 1).all()
    concepts = set(W["concepts"].tolist())
    rng = np.random.default_rng(0)
    for r in rng.choice(len(W["items"]), 50, replace=False):
        anc, p = set(), parent[W["items"][r]]
        while p >= 0:
            anc.add(int(p))
            p = parent[p]
        got = set(W["concepts"][W["labels"][r].indices].tolist())
        assert got == anc & concepts
    with pytest.raises(ValueError, match="min_support"):
        load_wordnet_concepts(min_support=0)
