"""Tests of the PMC-Patients ReCDS baselines (RRF, NN propagation, PPS features) and the citation proxy."""

import numpy as np
import pytest

from simrepro.methods.retrieval import pmc_patients as pp


def test_rrf_matches_loop_reference_irregular_and_ties():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(7, 13))
    B = np.round(rng.normal(size=(7, 13)), 1)        # ties
    for k, depth in ((60.0, None), (0.0, 5), (2.0, 13)):
        assert np.allclose(pp.rrf([A, B], k=k, depth=depth), pp.rrf_reference([A, B], k=k, depth=depth), atol=1e-12)


def test_rrf_single_run_keeps_order_and_known_value():
    S = np.array([[0.1, 0.9, 0.5]])
    F = pp.rrf([S], k=1.0)
    assert np.allclose(F, [[1 / 4, 1 / 2, 1 / 3]])


def test_rrf_errors():
    with pytest.raises(ValueError):
        pp.rrf([])
    with pytest.raises(ValueError):
        pp.rrf([np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="NaN"):
        pp.rrf([np.array([[np.nan, 1.0]])])
    with pytest.raises(ValueError):
        pp.rrf([np.zeros((2, 3))], k=-1)


def test_knn_propagate_by_hand():
    S = np.array([[0.9, 0.1, 0.5]])                  # query vs 3 training patients
    labels = [[0, 4], [1], [4]]
    out = pp.knn_propagate(S, labels, 5, k=2, self_index=[0, 1, 2])
    # neighbours: p0 (0.9), p2 (0.5); p0 adds 0.9 to doc 0 (self) + 0.9 to docs 0, 4; p2 adds 0.5 to doc 2, 4
    assert np.allclose(out, [[1.8, 0.0, 0.5, 0.0, 1.4]])
    out_par = pp.knn_propagate(S, labels, 5, k=1)
    assert np.allclose(out_par, [[0.9, 0, 0, 0, 0.9]])
    with pytest.raises(ValueError):
        pp.knn_propagate(S, labels[:2], 5)
    with pytest.raises(ValueError):
        pp.knn_propagate(S, labels, 5, k=0)


def test_ranking_stable_ties_and_depth():
    S = np.array([[1.0, 2.0, 2.0, 0.0]])
    assert pp.ranking(S).tolist() == [[1, 2, 0, 3]]
    assert pp.ranking(S, 10).shape == (1, 4)
    with pytest.raises(ValueError):
        pp.ranking(np.zeros(3))


def test_evaluate_perfect_and_worst():
    S = np.array([[3.0, 2.0, 1.0], [1.0, 2.0, 3.0]])
    qrels = {"a": {"x": 1}, "b": {"x": 1}}
    m = pp.evaluate(S, qrels, ["a", "b"], ["x", "y", "z"])
    assert m["mrr"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["precision@10"] == pytest.approx(0.1)        # trec_eval P@10 divides by 10 even on a 3-doc corpus
    with pytest.raises(ValueError):
        pp.evaluate(S, {}, ["a", "b"], ["x", "y", "z"])


def test_pair_features_and_pps_separable():
    rng = np.random.default_rng(1)
    U = rng.normal(size=(4, 3))
    F = pp.pair_features(U, U[::-1])
    assert F.shape == (4, 6) and np.allclose(F[:, :3], np.abs(U - U[::-1]))
    with pytest.raises(ValueError):
        pp.pair_features(U, U[:2])
    # two clusters: similar = same cluster → a perfectly separable pair task
    E = np.r_[np.tile([1.0, 0, 0], (20, 1)), np.tile([0, 1.0, 0], (20, 1))] + 0.01 * rng.normal(size=(40, 3))
    sim = {i: {j for j in range(40) if (j < 20) == (i < 20) and j != i} for i in range(40)}
    assert pp.symmetric(sim)
    p1, y1 = pp.sample_pairs(sim, range(40), rng, n_pos=60)
    p2, y2 = pp.sample_pairs(sim, range(40), rng, n_pos=60)
    assert y1.mean() == 0.5 and all(p1[y1 == 0, 1] != p1[y1 == 0, 0])
    assert pp.pps_accuracy(E, p1, y1, p2, y2) >= 0.95


def test_symmetric_detects_asymmetry_and_self():
    assert not pp.symmetric({0: {1}, 1: set()})
    assert not pp.symmetric({0: {0}})


@pytest.fixture(scope="module")
def corpus():
    from simrepro.data.pmc_patients_proxy import load_vocab, make_corpus
    return make_corpus(load_vocab(), n_topics=12, n_case=40, n_ref=30, seed=3)


def test_proxy_construction_follows_official_rules(corpus):
    c = corpus
    assert pp.symmetric(c.sim_pairs)
    tr, te = set(c.train_notes.tolist()), set(c.test_notes.tolist())
    assert tr and te and not tr & te
    for q, rel in c.ppr_qrels.items():                 # grade 1, training patients only, never itself
        assert rel and all(int(d) in tr and g == 1 for d, g in rel.items()) and q not in rel
    for q, rel in c.par_qrels.items():                 # own article graded 2, reference articles 1
        a = int(c.note_article[int(q)])
        assert rel[str(a)] == 2
        assert all((g == 2) == (int(d) < c.n_case) for d, g in rel.items())
        assert all(int(d) == a or (min(a, int(d)), max(a, int(d))) in c.links for d in rel)
    # same-article notes are similar
    for i, a in enumerate(c.note_article):
        same = {j for j, b in enumerate(c.note_article) if b == a and j != i}
        assert same <= c.sim_pairs[i]


def test_proxy_deterministic_and_validates(corpus):
    from simrepro.data.pmc_patients_proxy import load_vocab, make_corpus
    v = load_vocab()
    again = make_corpus(v, n_topics=12, n_case=40, n_ref=30, seed=3)
    assert again.notes == corpus.notes and again.links == corpus.links
    assert make_corpus(v, n_topics=12, n_case=40, n_ref=30, seed=4).notes != corpus.notes
    with pytest.raises(ValueError):
        make_corpus(v, n_topics=1, n_case=40, n_ref=30, seed=0)
    with pytest.raises(ValueError):
        make_corpus(v, n_topics=5, n_case=40, n_ref=30, seed=0, p_mention=1.5)
