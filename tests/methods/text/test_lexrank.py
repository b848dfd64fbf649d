"""LexRank against its definitions, networkx PageRank (1e-8) and a dense eigen-decomposition; edge cases."""

import math

import networkx as nx
import numpy as np
import pytest

from simrepro.kernels import pairwise_similarity_reference
from simrepro.methods.text import lexrank as lx

SENTS = [
    "The storm hit the coast on Monday and cut power to thousands of homes.",
    "Power was cut to thousands of homes when the storm reached the coast.",
    "Officials said the storm was the worst in a decade.",
    "The local football team won its third match in a row.",
    "Thousands of homes remain without power after the coastal storm.",
    "Emergency crews worked through the night to restore power.",
    "The the the.",                                  # only stop words: an empty sentence
]


def _similarity(sents=SENTS):
    toks = [lx.tokenize(s) for s in sents]
    idf = lx.inverse_document_frequency(toks)
    X, _ = lx.tfidf_matrix(toks, idf)
    return lx.idf_modified_cosine(X), X, toks, idf


def _random_similarity(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.random((n, 30)) * (rng.random((n, 30)) < 0.2)
    return lx.idf_modified_cosine(X)


def test_idf_and_tfidf_follow_the_definition():
    docs = [["a", "b"], ["a"], ["a", "c", "c"]]
    idf = lx.inverse_document_frequency(docs)
    assert idf == {"a": 0.0, "b": math.log(3), "c": math.log(3)}
    assert lx.inverse_document_frequency(docs, add_one=True)["b"] == pytest.approx(math.log(3 / 2))
    X, vocab = lx.tfidf_matrix([["c", "c", "b"], ["zz"]], idf)
    assert vocab == ["b", "c", "zz"]
    assert np.allclose(X, [[math.log(3), 2 * math.log(3), 0], [0, 0, math.log(3)]])   # unseen → max idf
    Xm, _ = lx.tfidf_matrix([["c", "c", "b"]], idf, tf_scaling="max")
    assert np.allclose(Xm, [[0.5 * math.log(3), math.log(3)]])


def test_idf_modified_cosine_is_the_papers_formula():
    S, X, toks, idf = _similarity()
    for i in range(len(toks)):
        for j in range(len(toks)):
            if i == j:
                continue
            ti, tj = {w: toks[i].count(w) for w in toks[i]}, {w: toks[j].count(w) for w in toks[j]}
            num = sum(ti[w] * tj[w] * idf[w] ** 2 for w in set(ti) & set(tj))
            den = math.sqrt(sum((ti[w] * idf[w]) ** 2 for w in ti)) * math.sqrt(sum((tj[w] * idf[w]) ** 2 for w in tj))
            assert S[i, j] == pytest.approx(num / den if den > 0 else 0.0, abs=1e-12)
    assert np.all(np.diag(S) == 1.0)
    assert np.allclose(S, np.clip(pairwise_similarity_reference(X), -1, 1) + np.diag(1 - np.diag(
        np.clip(pairwise_similarity_reference(X), -1, 1))), atol=1e-12)


@pytest.mark.parametrize("threshold", [None, 0.05, 0.1, 0.3])
@pytest.mark.parametrize("damping", [0.1, 0.15, 0.5])
@pytest.mark.parametrize("n", [1, 2, 17, 53])
def test_lexrank_equals_networkx_pagerank(threshold, damping, n):
    S = _random_similarity(n, seed=n)
    ours = lx.lexrank(S, threshold=threshold, damping=damping)
    A = (S > threshold).astype(float) if threshold is not None else S
    G = nx.from_numpy_array(A, create_using=nx.DiGraph)
    pr = nx.pagerank(G, alpha=1 - damping, tol=1e-15, max_iter=100_000, weight="weight")
    theirs = np.array([pr[i] for i in range(n)])
    err = np.abs(ours - theirs).max()
    print(f"n={n} t={threshold} d={damping}: max |Δ| vs networkx {err:.2e}")
    assert err < 1e-8
    assert ours.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(ours, lx.lexrank_reference(S, threshold=threshold, damping=damping), atol=1e-10)


def test_lexrank_matches_the_lexrank_package_on_its_own_similarity_matrix():
    """lexrank 0.1.0 (no damping) on the same sentences, stop words and idf collection: same ranking."""
    from lexrank import LexRank
    sents = [SENTS[i] for i in (0, 1, 2, 4, 5)]              # one connected component (no football)
    ref = LexRank([[s] for s in sents], stopwords=set(lx.STOPWORDS))
    toks = [ref.tokenize_sentence(s) for s in sents]
    idf = lx.inverse_document_frequency(toks)
    S = lx.idf_modified_cosine(lx.tfidf_matrix(toks, idf)[0])
    theirs = ref.rank_sentences(sents, threshold=None, fast_power_method=True)
    ours = lx.lexrank(S, threshold=None, damping=0.0)
    assert np.allclose(ours, theirs / theirs.sum(), atol=1e-8)   # their power method (repeated squaring) stops at np.allclose


def test_degree_and_threshold_lexrank_agree_on_a_regular_graph():
    S = np.eye(6)
    for i in range(6):                                     # a ring: every node has degree 3 (itself included)
        S[i, (i + 1) % 6] = S[(i + 1) % 6, i] = 0.5
    assert np.all(lx.degree_centrality(S, 0.1) == 3)
    assert np.allclose(lx.lexrank(S, threshold=0.1), 1 / 6)


def test_central_sentence_wins_and_isolated_sentences_keep_the_uniform_share():
    S, X, _, _ = _similarity()
    cont, cent = lx.lexrank(S, threshold=None), lx.centroid_scores(X)
    assert np.argmax(cont) in (0, 1) and np.argmax(cent) in (0, 1)     # the two fullest storm/power sentences
    assert cent[6] == 0.0                                               # the empty sentence
    # an isolated sentence (only its self-loop S_ii = 1) is never left, so it keeps exactly d/n + (1 − d)p_i = 1/n
    n = len(SENTS)
    for scores in (cont, lx.lexrank(S, threshold=0.1)):
        assert scores[6] == pytest.approx(1 / n, abs=1e-12)
    assert lx.lexrank(S, threshold=0.1)[3] == pytest.approx(1 / n, abs=1e-12)


def test_centroid_is_cosine_to_mean_row():
    _, X, _, _ = _similarity()
    c = X.mean(0)
    expected = X @ c / np.maximum(np.linalg.norm(X, axis=1) * np.linalg.norm(c), 1e-300)
    assert np.allclose(lx.centroid_scores(X), expected, atol=1e-12)


def test_damping_zero_on_a_disconnected_graph_weights_components_by_size():
    """Same convention as the lexrank package: per-component stationary distribution × component share."""
    from lexrank import LexRank
    sents = SENTS[:-1]                                          # football is its own component
    ref = LexRank([[s] for s in sents], stopwords=set(lx.STOPWORDS))
    toks = [ref.tokenize_sentence(s) for s in sents]
    S = lx.idf_modified_cosine(lx.tfidf_matrix(toks, lx.inverse_document_frequency(toks))[0])
    for t in (None, 0.1, 0.3):
        theirs = ref.rank_sentences(sents, threshold=t)
        ours = lx.lexrank(S, threshold=t, damping=0.0)
        print(t, np.abs(ours - theirs / theirs.sum()).max())
        assert np.allclose(ours, theirs / theirs.sum(), atol=1e-8)
    assert lx.lexrank(np.eye(4), threshold=0.1, damping=0.0) == pytest.approx([0.25] * 4)


def test_damping_zero_on_a_disconnected_directed_graph_is_refused():
    S = np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match="not symmetric"):
        lx.lexrank(S, threshold=None, damping=0.0)


def test_empty_and_single_inputs():
    assert lx.lexrank(np.zeros((0, 0))).shape == (0,)
    assert lx.lexrank(np.ones((1, 1))) == pytest.approx([1.0])
    assert lx.split_sentences("") == []
    assert lx.tokenize("The and of") == []
    assert lx.centroid_scores(np.zeros((0, 3))).shape == (0,)


def test_split_sentences():
    text = 'He left. "She stayed." Then 3 people came! Was it late? yes it was.'
    assert lx.split_sentences(text) == ["He left.", '"She stayed."', "Then 3 people came!", "Was it late? yes it was."]


def test_top_sentences_breaks_ties_by_position():
    assert list(lx.top_sentences([0.2, 0.5, 0.5, 0.1], 3)) == [1, 2, 0]


@pytest.mark.parametrize("call, msg", [
    (lambda: lx.lexrank(np.full((2, 2), np.nan)), "NaN"),
    (lambda: lx.lexrank(np.ones((2, 3))), "square"),
    (lambda: lx.lexrank(-np.ones((2, 2))), "negative"),
    (lambda: lx.lexrank(np.ones((2, 2)), threshold=1.5), "threshold"),
    (lambda: lx.lexrank(np.ones((2, 2)), damping=1.0), "damping"),
    (lambda: lx.degree_centrality(np.ones((2, 2)), None), "threshold"),
    (lambda: lx.inverse_document_frequency([]), "at least one"),
    (lambda: lx.tfidf_matrix([["a"]], {}), "idf table"),
    (lambda: lx.tfidf_matrix([["a"]], {"a": 1.0}, tf_scaling="log"), "tf_scaling"),
    (lambda: lx.top_sentences([0.1, np.nan], 1), "NaN"),
    (lambda: lx.top_sentences([0.1], 0), "positive"),
])
def test_bad_input_is_rejected(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_sentence_scores_is_the_pipeline():
    S, X, toks, idf = _similarity()
    expected = {"threshold": lx.lexrank(S, threshold=0.2, damping=0.3),
                "continuous": lx.lexrank(S, threshold=None, damping=0.3),
                "degree": lx.degree_centrality(S, 0.2), "centroid": lx.centroid_scores(X)}
    for system, want in expected.items():
        got = lx.sentence_scores(SENTS, idf, system, threshold=0.2, damping=0.3)
        assert np.allclose(got, want, atol=1e-14), system
    with pytest.raises(ValueError, match="unknown system"):
        lx.sentence_scores(SENTS, idf, "pagerank")


def test_rounded_kendall_tau_keeps_ties_that_convergence_error_would_break():
    ours = np.array([0.2, 0.2, 0.3, 0.3])
    theirs = ours + np.array([4e-10, -4e-10, 0.0, 1e-9])       # a peer's convergence error breaks the ties
    assert lx.rounded_kendall_tau(ours, theirs, 6) == pytest.approx(1.0)
    assert lx.rounded_kendall_tau(ours, theirs, 12) < 0.99       # unrounded-like: the error orders the ties
    assert lx.rounded_kendall_tau(np.ones(3), np.ones(3) + 1e-9) == 1.0
    assert lx.rounded_kendall_tau([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        lx.rounded_kendall_tau([1.0, 2.0], [1.0, 2.0, 3.0])


def test_add_off_topic_documents_draws_from_other_clusters_only():
    clusters = [[f"c{c}d{j}" for j in range(4)] for c in range(3)]
    noisy = lx.add_off_topic_documents(clusters, 2, np.random.default_rng(0))
    for c, docs in enumerate(noisy):
        assert docs[:4] == clusters[c] and len(docs) == 6
        assert all(not d.startswith(f"c{c}") for d in docs[4:]) and len(set(docs[4:])) == 2
    assert lx.add_off_topic_documents(clusters, 0, np.random.default_rng(0)) == clusters
    with pytest.raises(ValueError):
        lx.add_off_topic_documents(clusters, 9, np.random.default_rng(0))
