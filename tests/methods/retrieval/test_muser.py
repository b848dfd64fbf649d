"""MUSER proxy: official element similarity vs its loop, NDCG/MAP conventions vs definitions, corpus invariants."""

import math

import numpy as np
import pytest

from simrepro.methods.retrieval import muser as M

VOCAB = ([f"law{chr(97 + i)}{chr(97 + j)}" for i in range(10) for j in range(6)],
         [f"noise{chr(97 + i)}{chr(97 + j)}" for i in range(10) for j in range(10)])
SMALL = {"fact": (2, 4, 7), "dispute": (3, 5, 9), "statute": (2, 5)}


def _tax(sizes=SMALL, seed=0):
    return M.make_taxonomy(sizes, np.random.default_rng(seed))


@pytest.mark.parametrize("sizes", [SMALL, {"fact": (1, 1, 1), "dispute": (2, 2, 3), "statute": (1, 4)}])
def test_taxonomy_every_parent_has_a_child_and_ancestors_walk_up(sizes):
    tax = _tax(sizes)
    for v, sz in sizes.items():
        for lvl in range(1, len(sz)):
            assert set(tax.parent[v][lvl].tolist()) == set(range(sz[lvl - 1]))
        for leaf in range(sz[-1]):
            a = tax.ancestors(v, leaf)
            assert len(a) == len(sz) and a[-1] == leaf
            assert all(tax.parent[v][lvl][a[lvl]] == a[lvl - 1] for lvl in range(1, len(sz)))


def test_taxonomy_rejects_growing_upward_levels():
    with pytest.raises(ValueError, match="non-decreasing"):
        M.make_taxonomy({"fact": (5, 2)}, np.random.default_rng(0))


@pytest.mark.parametrize("nq,nc", [(1, 1), (3, 7), (6, 13)])
def test_element_similarity_matches_official_loop_including_empty_views(nq, nc):
    tax = _tax()
    rng = np.random.default_rng(nq + nc)
    leaves = [{v: sorted(set(rng.integers(0, SMALL[v][-1], rng.integers(0, 4)).tolist())) for v in M.VIEWS}
              for _ in range(nq + nc)]
    leaves[0] = {v: [] for v in M.VIEWS}                          # an empty case: every cosine 0, not NaN
    V = M.element_vectors(leaves, tax)
    qv = {v: [m[:nq] for m in V[v]] for v in V}
    cv = {v: [m[nq:] for m in V[v]] for v in V}
    S = M.element_similarity(qv, cv, SMALL)
    np.testing.assert_allclose(S, M.element_similarity_reference(qv, cv, SMALL), atol=1e-12)
    assert np.isfinite(S).all() and (S[0] == 0).all()


def test_identical_nonempty_cases_score_one_and_level_weights_sum_to_one():
    tax = _tax()
    case = {"fact": [0, 3], "dispute": [2], "statute": [1, 4]}
    V = M.element_vectors([case, case], tax)
    S = M.element_similarity({v: [m[:1] for m in V[v]] for v in V}, {v: [m[1:] for m in V[v]] for v in V}, SMALL)
    assert S[0, 0] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(M.level_weights((11, 69, 211)), np.array([11, 69, 211]) / 291)


def test_relevance_partial_credit_by_hand():
    tax = _tax()
    v = "dispute"
    a = 0
    anc = tax.ancestors(v, a)
    sib = [x for x in range(SMALL[v][-1]) if x != a and tax.ancestors(v, x)[1] == anc[1]]
    far = [x for x in range(SMALL[v][-1]) if tax.ancestors(v, x)[0] != anc[0]]
    assert M.relevance_similarity({v: [a]}, {v: [a]}, tax) == pytest.approx(0.4)        # view weight 0.4 × 1
    if sib:
        assert M.relevance_similarity({v: [a]}, {v: [sib[0]]}, tax) == pytest.approx(0.4 * 0.5)
    if far:
        assert M.relevance_similarity({v: [a]}, {v: [far[0]]}, tax) == pytest.approx(0.0)
    assert M.relevance_similarity({}, {v: [a]}, tax) == 0.0


@pytest.mark.parametrize("sim,g", [(0.0, 0), (0.111, 0), (1 / 9, 1), (0.5, 4), (0.889, 8), (1.0, 8)])
def test_grade_scale(sim, g):
    assert M.grade(sim) == g


def test_grade_rejects_nan_and_out_of_range():
    for bad in (float("nan"), -0.1, 1.5):
        with pytest.raises(ValueError, match="in \\[0, 1\\]"):
            M.grade(bad)


def _ndcg_def(ranking, grades, k):
    gains = [grades.get(d, 0) for d in ranking[:k]]
    dcg = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


@pytest.mark.parametrize("n,k", [(5, 3), (40, 30), (12, 30)])
def test_ndcg_top_none_is_standard_ndcg_and_top_restricts_gains(n, k):
    rng = np.random.default_rng(n)
    grades = {i: int(rng.integers(0, 9)) for i in range(n)}
    ranking = list(rng.permutation(n))
    assert M.ndcg_official(ranking, grades, k, top=None) == pytest.approx(_ndcg_def(ranking, grades, k), abs=1e-12)
    perfect = sorted(grades, key=lambda d: (-grades[d], d))
    assert M.ndcg_official(perfect, grades, k) == pytest.approx(1.0 if any(grades.values()) else 0.0)
    # a doc outside the top-2 earns nothing under top=2
    top2 = perfect[:2]
    assert M.ndcg_official([d for d in ranking if d not in top2], grades, k, top=2) == 0.0


def test_map_official_by_hand():
    grades = {0: 8, 1: 6, 2: 3, 3: 5, 4: 0}
    # filtered ranking [2, 0, 3, 1] (4 not in top 4): relevant at 2, 3, 4 -> (1/2 + 2/3 + 3/4) / 3
    assert M.map_official([4, 2, 0, 3, 1], grades, top=4) == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)
    assert M.map_official([0, 1], {0: 1, 1: 2}) == 0.0


def test_evaluate_rankings_trec_agrees_with_definition():
    rng = np.random.default_rng(3)
    grades = [{i: int(rng.integers(0, 9)) for i in range(20)} for _ in range(4)]
    rankings = [list(rng.permutation(20)) for _ in range(4)]
    r = M.evaluate_rankings(rankings, grades, k=10)
    assert r["trec_ndcg10"] == pytest.approx(np.mean([_ndcg_def(x, g, 10) for x, g in zip(rankings, grades)]),
                                             abs=1e-9)
    assert 0 <= r["map"] <= 1 and 0 <= r["mrr"] <= 1


def test_fuse_and_rank_pool_edge_cases():
    np.testing.assert_allclose(M.minmax(np.array([2.0, 2.0])), [0.0, 0.0])
    f = M.fuse(np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 1.0]), 0.5)
    np.testing.assert_allclose(f, [0.0, 0.25, 0.5])
    assert M.rank_pool(np.array([1.0, 3.0, 3.0]), np.array([7, 9, 4])).tolist() == [4, 9, 7]   # tie: lower id
    with pytest.raises(ValueError, match="NaN"):
        M.rank_pool(np.array([np.nan, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="alpha"):
        M.fuse(np.zeros(2), np.zeros(2), 1.5)


def test_corpus_invariants_and_seed_determinism():
    kw = dict(seed=5, sizes=SMALL, n_train=80, vocab=VOCAB, n_elements=(2, 3, 1, 2, 1, 2))
    c = M.make_corpus(120, 3, 20, **kw)
    c2 = M.make_corpus(120, 3, 20, **kw)
    assert c.texts == c2.texts and c.grades == c2.grades
    assert len(c.texts) == 120 and len(c.train_sentences) == 80
    for q, pool, g in zip(c.queries, c.pools, c.grades):
        assert pool.size == 20 and q not in pool and set(g) == set(pool.tolist())
        assert all(0 <= x <= 8 for x in g.values())
    # gold elements are exactly the labelled sentences' labels
    assert M.leaves_from_sentences(c.sentences) == [{v: sorted(l[v]) for v in M.VIEWS} for l in c.leaves]
    with pytest.raises(ValueError, match="n_queries"):
        M.make_corpus(10, 20, 5, **kw)


def test_predictor_learns_and_is_imperfect_under_confusion():
    kw = dict(sizes=SMALL, vocab=VOCAB, n_elements=(2, 3, 1, 2, 1, 2))
    c = M.make_corpus(150, 3, 20, seed=1, n_train=300, p_confuse=0.3, **kw)
    p = M.ElementPredictor().fit(c.train_sentences)
    ps = p.predict_sentences(c.sentences)
    acc = M.sentence_accuracy(c.sentences, ps, "fact")
    assert 1 / 8 < acc < 1.0                   # better than chance over 7 leaves + none, not perfect
    with pytest.raises(RuntimeError, match="fit"):
        M.ElementPredictor().predict_sentences(c.sentences)
