"""E²Rank-style listwise-prompt reranking and its PRF peers: fast paths against plain references, edge cases."""

import numpy as np
import pytest
import torch

from simrepro.methods.retrieval import prf_rerank as pr
from simrepro.methods.retrieval.bm25 import BM25Index, bm25_scores_reference, tokenize


def _rand(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("nq,N,R,d", [(1, 1, 1, 3), (7, 23, 5, 8), (13, 40, 17, 5)])
def test_rerank_matches_reference_on_irregular_shapes(nq, N, R, d):
    rng = np.random.default_rng(nq + N)
    Q, D = _rand(nq, d, 1), _rand(N, d, 2)
    C = np.stack([rng.choice(N, min(R, N), replace=False) for _ in range(nq)])
    C[0, -1] = -1 if C.shape[1] > 1 else C[0, -1]                      # one padded slot
    S, O = pr.rerank(Q, D, C)
    Sr, Or = pr.rerank_reference(Q, D, C)
    np.testing.assert_allclose(S, Sr, atol=1e-5)
    assert np.array_equal(O, Or)
    if C.shape[1] > 1:
        assert O[0, -1] == -1 and np.isneginf(S[0, -1])              # padding sorts last


def test_rerank_ties_keep_first_stage_order_and_zero_vectors_score_zero():
    D = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    S, O = pr.rerank(np.array([[1.0, 0.0]]), D, np.array([[3, 1, 2, 0]]))
    assert O.tolist() == [[1, 0, 3, 2]] and S[0, 2] == 0.0    # ties (1, 0) and (3, 2): first-stage order kept


def test_rerank_errors_are_clear():
    with pytest.raises(ValueError, match="NaN"):
        pr.rerank(np.array([[np.nan, 1.0]]), np.ones((2, 2)), np.array([[0, 1]]))
    with pytest.raises(ValueError, match="lie in"):
        pr.rerank(np.ones((1, 2)), np.ones((2, 2)), np.array([[0, 5]]))
    with pytest.raises(ValueError, match="dimension"):
        pr.rerank(np.ones((1, 3)), np.ones((2, 2)), np.array([[0, 1]]))
    with pytest.raises(TypeError, match="integer"):
        pr.rerank(np.ones((1, 2)), np.ones((2, 2)), np.array([[0.0, 1.0]]))


def test_empty_candidate_lists():
    S, O = pr.rerank(np.ones((0, 4)), np.ones((3, 4)), np.zeros((0, 2), np.int64))
    assert S.shape == (0, 2) and O.shape == (0, 2)


@pytest.mark.parametrize("k,alpha,beta", [(1, 1.0, 1.0), (3, 1.0, 0.5), (10, 0.7, 2.0)])
def test_rocchio_matches_reference(k, alpha, beta):
    rng = np.random.default_rng(k)
    Q, D = _rand(6, 7, 3), _rand(30, 7, 4)
    C = np.stack([rng.choice(30, 8, replace=False) for _ in range(6)])
    C[2, 0] = -1
    np.testing.assert_allclose(pr.rocchio(Q, D, C, k, alpha=alpha, beta=beta),
                               pr.rocchio_reference(Q, D, C, k, alpha=alpha, beta=beta), atol=1e-5)


def test_rocchio_beta_zero_is_the_query_and_k_below_one_errors():
    Q, D = _rand(3, 5, 5), _rand(9, 5, 6)
    C = np.tile(np.arange(4), (3, 1))
    np.testing.assert_allclose(pr.rocchio(Q, D, C, 2, beta=0.0), Q / np.linalg.norm(Q, axis=1, keepdims=True), atol=1e-6)
    with pytest.raises(ValueError, match="k"):
        pr.rocchio(Q, D, C, 0)


def test_listwise_prompt_layout_and_budget():
    p = pr.listwise_prompt("cats", ["a small feline", "a dog"], instruction="Rank:", label="Docs")
    assert p == "Rank:\nDocs:\n[1] a small feline\n[2] a dog\nSearch Query: cats"
    long = ["w " * 500] * 4
    p = pr.listwise_prompt("the query words", long, max_words=100)
    assert len(p.split()) <= 100 + 4 and p.endswith("Search Query: the query words")
    assert pr.listwise_prompt("q", ["x " * 2000], doc_max_words=1024).count("x") == 1024
    assert pr.listwise_prompt("q", []).endswith("Search Query: q")
    with pytest.raises(TypeError):
        pr.listwise_prompt("q", "not a list")


def test_rm3_weights_by_hand():
    # feedback docs: d1 = [a, b] score 2, d2 = [b, c, c, d] score 1
    w = pr.rm3_weights(["a"], [["a", "b"], ["b", "c", "c", "d"]], [2.0, 1.0], n_terms=2, orig_weight=0.5)
    # P(w|R) ∝ a: 2·1/2 = 1, b: 2·1/2 + 1·1/4 = 1.25, c: 1·2/4 = 0.5, d: 0.25 → top 2: b, a (z = 2.25)
    assert w == pytest.approx({"a": 0.5 + 0.5 * 1 / 2.25, "b": 0.5 * 1.25 / 2.25})
    assert sum(w.values()) == pytest.approx(1.0)
    assert pr.rm3_weights(["a", "a", "b"], [], []) == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    with pytest.raises(ValueError):
        pr.rm3_weights(["a"], [["a"]], [np.nan])


def test_weighted_bm25_matches_the_formula():
    docs = ["the cat sat on the mat", "dogs chase cats", "a bird sang", "cat and dog and bird", "mat"]
    toks = tokenize(docs)
    idx = BM25Index(toks)
    w = {"cat": 0.6, "mat": 0.3, "bird": 0.1, "zebra": 0.5}
    got = pr.weighted_bm25(idx, w, np.array([4, 0, 3, -1]))
    ref = sum(v * bm25_scores_reference(toks, [[t]])[0] for t, v in w.items())
    np.testing.assert_allclose(got[:3], ref[[4, 0, 3]], rtol=1e-5)
    assert np.isneginf(got[3])


def test_rm3_rerank_runs_and_sorts():
    docs = ["cat feline pet", "cat whiskers feline", "dog canine pet", "feline tiger stripes", "car engine"]
    toks = tokenize(docs)
    idx = BM25Index(toks)
    F, I = idx.search(tokenize(["cat"]), 5)
    S, O = pr.rm3_rerank(idx, tokenize(["cat"]), toks, I, F, k=2, n_terms=5)
    assert sorted(O[0].tolist()) == sorted(I[0].tolist())
    assert np.all(np.diff(np.sort(S[0])[::-1]) <= 0)
    assert S[0, list(I[0]).index(3)] > 0       # 'feline tiger stripes' gets credit only through feedback terms


def test_ranknet_matches_reference_and_masks():
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=(3, 6)), rng.integers(0, 3, size=(3, 6)).astype(float)
    got = pr.ranknet_loss(torch.tensor(s), torch.tensor(y)).item()
    assert got == pytest.approx(pr.ranknet_loss_reference(s, y), rel=1e-9)
    assert pr.ranknet_loss(torch.zeros(2, 3), torch.ones(2, 3)).item() == 0.0
    m = torch.tensor([[True, False, True]])
    lm = pr.ranknet_loss(torch.tensor([[0.0, 100.0, 1.0]]), torch.tensor([[1.0, 0.0, 0.0]]), m).item()
    assert lm == pytest.approx(np.log1p(np.exp(1.0)))          # the masked candidate (score 100) is ignored


def test_train_head_learns_a_planted_direction():
    # relevance is decided by the second coordinate of the docs; queries point along the first: a head that
    # rotates queries towards the second coordinate must lower the RankNet loss
    rng = np.random.default_rng(0)
    D = rng.normal(size=(200, 4)).astype(np.float32)
    Q = np.tile(np.array([[1.0, 0.0, 0.0, 0.0]], np.float32), (40, 1)) + 0.01 * rng.normal(size=(40, 4)).astype(np.float32)
    C = np.stack([rng.choice(200, 20, replace=False) for _ in range(40)])
    Y = (D[C][..., 1] > 0.5).astype(np.float32)
    before = np.mean([np.mean(Y[i][np.argsort(-(D[C[i]] @ Q[i]))][:5]) for i in range(40)])
    W = pr.train_head(Q, D, C, Y, steps=150, lr=1e-2, seed=0)
    after = np.mean([np.mean(Y[i][np.argsort(-(D[C[i]] @ (W @ Q[i])))][:5]) for i in range(40)])
    assert after > before + 0.3
    W0 = pr.train_head(Q, D, C, Y, steps=0)
    assert np.array_equal(W0, np.eye(4, dtype=np.float32))
