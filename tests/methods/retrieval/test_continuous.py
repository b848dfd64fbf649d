"""Continuous retrieval (Gillick et al. 2018): IDF-averaged encoder, in-batch training, leave-one-out search, MAP."""

import math

import numpy as np
import pytest

from simrepro.methods.retrieval import continuous as cr


def _toy_ids(rng, n, V, max_len=7):
    return [rng.integers(0, V, size=rng.integers(0, max_len + 1)) for _ in range(n)]


@pytest.mark.parametrize("n,V,d", [(1, 3, 2), (9, 17, 5), (40, 100, 13)])
def test_encoder_matches_reference_on_irregular_shapes(n, V, d):
    rng = np.random.default_rng(n + V)
    ids = _toy_ids(rng, n, V)
    ids[0] = np.zeros(0, np.int64)                                    # an empty text → zero row
    E = rng.normal(size=(V, d)).astype(np.float32)
    idf = rng.uniform(0.5, 3.0, size=V).astype(np.float32)
    got = cr.IdfAverageEncoder(E, idf).encode(ids)
    ref = cr.idf_average_reference(ids, E, idf)
    assert got.shape == (n, d)
    np.testing.assert_allclose(got, ref, atol=2e-6)                  # float32 sums of ≤ 7 terms
    assert (got[0] == 0).all()
    nz = np.linalg.norm(got, axis=1) > 0
    np.testing.assert_allclose(np.linalg.norm(got[nz], axis=1), 1.0, atol=1e-6)


def test_idf_weighting_not_plain_mean():
    E = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    idf = np.array([3.0, 1.0], np.float32)
    v = cr.IdfAverageEncoder(E, idf).encode([np.array([0, 1])])[0]
    np.testing.assert_allclose(v, np.array([3.0, 1.0]) / math.sqrt(10), atol=1e-6)


def test_idf_by_hand_and_vocab():
    toks = [["a", "b"], ["a"], ["a", "c", "c"]]
    vocab = cr.build_vocab(toks + [["zz"]])
    assert vocab == {"a": 0, "b": 1, "c": 2, "zz": 3}
    w = cr.idf_weights(toks, vocab)
    N = 3
    expect = [math.log((1 + N) / (1 + df)) + 1 for df in (3, 1, 1, 0)]
    np.testing.assert_allclose(w, expect, rtol=1e-6)
    E, share = cr.init_embeddings(vocab, np.eye(3, dtype=np.float32), ["c", "a", "q"], seed=0)
    assert share == 0.5 and (E[0] == [0, 1, 0]).all() and (E[2] == [1, 0, 0]).all()
    assert cr.to_ids([["a", "unknown", "c"]], vocab)[0].tolist() == [0, 2]


def test_sample_pairs_one_distinct_pair_per_cluster():
    clusters = np.array([5, 1, 5, 1, 1, 7, 5, 2, 2])                  # cluster 7 is a singleton
    pairs = cr.sample_pairs(clusters, np.random.default_rng(0))
    assert len(pairs) == 3
    assert all(a != b and clusters[a] == clusters[b] for a, b in pairs)
    assert sorted(clusters[pairs[:, 0]].tolist()) == [1, 2, 5]


def test_training_lowers_loss_and_learns_synonyms():
    # two words per concept that start unrelated; the clusters pair a text using one with a text using the other
    rng = np.random.default_rng(0)
    n_concepts, per = 30, 4
    V = 2 * n_concepts
    E = rng.normal(size=(V, 8)).astype(np.float32)
    ids, clusters = [], []
    for c in range(n_concepts):
        for j in range(per):
            ids.append(np.array([2 * c + (j % 2)]))
            clusters.append(c)
    clusters = np.array(clusters)
    enc = cr.IdfAverageEncoder(E, np.ones(V, np.float32))
    ap0 = np.nanmean(cr.average_precision_at_k(cr.exact_search(enc.encode(ids), 10)[1], clusters))
    hist = cr.train_dual_encoder(enc, ids, clusters, epochs=30, batch_size=16, lr=0.05, seed=0)
    ap1 = np.nanmean(cr.average_precision_at_k(cr.exact_search(enc.encode(ids), 10)[1], clusters))
    assert hist[-1] < 0.5 * hist[0]
    assert ap0 < 0.7 and ap1 > 0.95


def test_scores_search_matches_stable_sort_with_ties():
    rng = np.random.default_rng(3)
    for n, k in [(2, 1), (7, 3), (50, 10), (30, 40)]:
        S = rng.integers(0, 4, size=(n, n)).astype(np.float64)      # many ties
        D, I = cr.scores_search(S, k)
        S2 = S.copy()
        np.fill_diagonal(S2, -np.inf)
        ref = np.argsort(-S2, axis=1, kind="stable")[:, :min(k, n - 1)]
        assert np.array_equal(I, ref)
        assert (I != np.arange(n)[:, None]).all()
        np.testing.assert_array_equal(D, np.take_along_axis(S2, ref, axis=1))


def test_drop_self_wherever_it_is():
    I = np.array([[0, 3, 2], [2, 1, 0], [0, 1, 3]])
    D = np.array([[9.0, 8, 7], [9, 8, 7], [9, 8, 7]])
    Dk, Ik = cr.drop_self(D, I, 2)
    assert Ik.tolist() == [[3, 2], [2, 0], [0, 1]] and Dk.tolist() == [[8, 7], [9, 7], [9, 8]]
    with pytest.raises(ValueError, match="k\\+1"):
        cr.drop_self(D, I, 3)


def test_exact_and_ivf_search():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 12)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    D, I = cr.exact_search(X, 5)
    S = X.astype(np.float64) @ X.T.astype(np.float64)
    np.fill_diagonal(S, -np.inf)
    ref = np.argsort(-S, axis=1)[:, :5]
    assert np.array_equal(I, ref) and (I != np.arange(300)[:, None]).all()
    Da, Ia = cr.ivf_search(X, 5, nlist=16, nprobe=16)               # every cell visited: exact
    assert np.array_equal(Ia, ref)
    Da1, Ia1 = cr.ivf_search(X, 5, nlist=16, nprobe=1)
    assert (Ia1 != np.arange(300)[:, None]).all() and Ia1.shape == (300, 5)
    with pytest.raises(ValueError, match="nlist"):
        cr.ivf_search(X, 5, nlist=301, nprobe=1)


def test_average_precision_equals_pytrec_eval():
    rng = np.random.default_rng(2)
    n = 60
    clusters = rng.integers(0, 12, size=n)
    S = rng.normal(size=(n, n))
    D, I = cr.scores_search(S, 20)
    ap = cr.average_precision_at_k(I, clusters)
    qrels = cr.cluster_qrels(clusters)
    got = cr.evaluate_run(qrels, D, I, ("map@20",))["map@20"]
    assert got == pytest.approx(float(np.nanmean(ap)), abs=1e-9)
    # by hand: relevant at ranks 1 and 3 of 3 relevant → (1 + 2/3) / 3
    I2 = np.array([[1, 5, 2], [0, 2, 3], [0, 1, 4], [0, 1, 2], [0, 1, 2], [0, 1, 2]])
    c2 = np.array([0, 0, 0, 0, 1, 2])
    assert cr.average_precision_at_k(I2, c2)[0] == pytest.approx((1 + 2 / 3) / 3)
    assert np.isnan(cr.average_precision_at_k(I2, c2)[4])           # singleton cluster: not judged


def test_qrels_conversions():
    assert cr.cluster_qrels(np.array([0, 0, 1, 2, 2, 2])) == {
        "0": {"1": 1}, "1": {"0": 1}, "3": {"4": 1, "5": 1}, "4": {"3": 1, "5": 1}, "5": {"3": 1, "4": 1}}
    S = np.array([[1.0, 0.6, 0.2], [0.6, 1.0, 0.5], [0.2, 0.5, 1.0]])
    assert cr.pairwise_qrels(S, 0.5) == {"0": {"1": 1}, "1": {"0": 1, "2": 1}, "2": {"1": 1}}
    assert cr.pairwise_qrels(S, 0.7) == {}


def test_discrete_baselines_rank_the_lexical_duplicate_first():
    texts = ["how tall is the eiffel tower", "eiffel tower height in metres", "price of apples in winter",
             "apples cost in winter months", "eiffel tower paris"]
    for S in (cr.bm25_scores(texts), cr.rank_bm25_scores(texts), cr.tfidf_scores(texts)):
        assert S.shape == (5, 5)
        _, I = cr.scores_search(S, 1)
        assert I[2, 0] == 3 and I[3, 0] == 2


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="NaN"):
        cr.scores_search(np.array([[0.0, np.nan], [1.0, 0.0]]), 1)
    with pytest.raises(ValueError, match="square"):
        cr.scores_search(np.zeros((2, 3)), 1)
    with pytest.raises(ValueError, match="idf"):
        cr.IdfAverageEncoder(np.zeros((3, 2)), np.array([1.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="finite"):
        cr.IdfAverageEncoder(np.full((3, 2), np.nan), np.ones(3))
    with pytest.raises(ValueError, match="batch_size"):
        cr.train_dual_encoder(cr.IdfAverageEncoder(np.eye(2), np.ones(2)), [np.array([0])] * 2, [0, 0], batch_size=1)
    with pytest.raises(ValueError, match="two clusters"):
        cr.train_dual_encoder(cr.IdfAverageEncoder(np.eye(2), np.ones(2)), [np.array([0])] * 2, [0, 0], epochs=1)
    with pytest.raises(ValueError, match="at least two"):
        cr.exact_search(np.ones((1, 3)), 1)
    with pytest.raises(ValueError, match="NaN"):
        cr.pairwise_qrels(np.array([[1.0, np.nan], [np.nan, 1.0]]), 0.5)


def test_scores_search_on_a_subset_of_rows():
    rng = np.random.default_rng(5)
    S = rng.integers(0, 3, size=(12, 12)).astype(np.float64)
    rows = np.array([4, 0, 11])
    D, I = cr.scores_search(S[rows], 5, rows)
    Df, If = cr.scores_search(S, 5)
    assert np.array_equal(I, If[rows]) and np.array_equal(D, Df[rows])
    with pytest.raises(ValueError, match="rows"):
        cr.scores_search(S[rows], 5, np.array([4, 0, 12]))
    texts = ["aa bb cc", "bb cc dd", "cc dd ee", "xx yy zz"]
    np.testing.assert_allclose(cr.rank_bm25_scores(texts, [2, 0]), cr.rank_bm25_scores(texts)[[2, 0]])


def test_average_precision_on_a_subset_of_rows():
    rng = np.random.default_rng(7)
    clusters = rng.integers(0, 5, size=40)
    S = rng.normal(size=(40, 40))
    rows = np.array([3, 17, 0, 39])
    I_all = cr.scores_search(S, 10)[1]
    I_sub = cr.scores_search(S[rows], 10, rows)[1]
    np.testing.assert_allclose(cr.average_precision_at_k(I_sub, clusters, rows=rows),
                               cr.average_precision_at_k(I_all, clusters)[rows])
