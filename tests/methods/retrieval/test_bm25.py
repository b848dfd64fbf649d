"""BM25 through bm25s against a plain reference of the formula and against rank_bm25 (BM25Okapi)."""

import numpy as np
import pytest

from simrepro.methods.retrieval import bm25

CORPUS = ["the cat sat on the mat", "a dog chased the cat around the garden", "stock markets fell sharply today",
          "the garden of the cat", "dogs and cats and more dogs", "markets open at nine", "a quiet mat by the door",
          "nine dogs in a garden", "today the cat slept", "sharp falls in stock prices"]
QUERIES = ["cat mat", "dogs garden", "stock markets today", "unknownword", "", "cat cat garden"]


@pytest.mark.parametrize("method", bm25.METHODS)
def test_bm25s_matches_reference(method):
    docs, qs = bm25.tokenize(CORPUS), bm25.tokenize(QUERIES)
    ours = bm25.BM25Index(docs, k1=1.2, b=0.7, method=method).scores(qs)
    ref = bm25.bm25_scores_reference(docs, qs, k1=1.2, b=0.7, method=method)
    print("max |Δ|", np.abs(ours - ref).max())
    assert np.allclose(ours, ref, rtol=1e-5, atol=1e-6)
    assert np.all(ours[3] == 0) and np.all(ours[4] == 0)             # unknown term, empty query


def test_rank_bm25_okapi_is_robertson_times_k1_plus_one():
    from rank_bm25 import BM25Okapi

    docs, qs = bm25.tokenize(CORPUS), bm25.tokenize(QUERIES)
    N = len(docs)
    assert max(sum(t in set(d) for d in docs) for d in docs for t in d) < N / 2     # every idf > 0 on this toy
    peer = BM25Okapi(docs, k1=1.5, b=0.75)
    ref = bm25.bm25_scores_reference(docs, qs, method="robertson")
    for i, q in enumerate(qs):
        assert np.allclose(peer.get_scores(q), 2.5 * ref[i], rtol=1e-9, atol=1e-12)


def test_search_orders_by_score_with_ties_to_lower_index():
    docs = bm25.tokenize(["apple pie", "apple pie", "banana", "apple"])
    D, I = bm25.BM25Index(docs).search(bm25.tokenize(["pie", "cherry"]), k=3)
    assert list(I[0][:2]) == [0, 1] and D[0, 0] == D[0, 1] > D[0, 2]
    assert list(I[1]) == [0, 1, 2] and np.all(D[1] == 0)


def test_tokenize_and_errors():
    assert bm25.tokenize(["The Cat, the HAT!"]) == [["cat", "hat"]]
    assert bm25.tokenize(["The Cat"], stopwords=False) == [["the", "cat"]]
    with pytest.raises(TypeError):
        bm25.tokenize("a text")
    with pytest.raises(ValueError, match="empty"):
        bm25.BM25Index([])
    with pytest.raises(ValueError, match="every document is empty"):
        bm25.BM25Index([[], []])
    with pytest.raises(ValueError, match="method"):
        bm25.bm25_scores_reference([["a"]], [["a"]], method="bm42")
    with pytest.raises(ValueError, match="k must"):
        bm25.BM25Index([["a"]]).search([["a"]], k=0)
