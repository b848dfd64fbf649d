import numpy as np
import pytest

from simrepro.methods.retrieval import description_retrieval as dr

LEX = {"noun_abstract": {"store": "place of business", "london": "capital", "dog": "carnivore", "apple": "edible fruit",
                         "man": "person", "cat": "feline", "open": "opening"},
       "verbs": {"open", "bite", "see", "run"}, "noun_exc": {"men": "man"}, "verb_exc": {"ran": "run", "bit": "bite"}}


def test_describe_rules():
    assert dr.describe("The man opened a store in London in 1998.", LEX) == \
        "a person opened a place of business a capital a time"
    assert dr.describe("Mary bit 3 dogs.", LEX) == "someone bit a number a carnivore"
    assert dr.describe("He didn't see the men.", LEX) == "someone not see a person"
    assert dr.describe("", LEX) == "something"
    assert dr.describe("The man opened a store in London.", LEX, max_items=2) == "a person opened"
    with pytest.raises(TypeError):
        dr.describe(None, LEX)


def test_misleading_swap_and_negate():
    items = dr.describe_items("The man opened a store in London.", LEX)
    m = dr.misleading(items)
    assert m["swap"] == "a capital opened a place of business a person"
    assert m["negate"] == "a person not opened a place of business a capital"
    neg = dr.misleading(dr.describe_items("The dog never ran.", LEX))
    assert neg["negate"] == "a carnivore ran" and neg["swap"] is None
    assert dr.misleading([])["negate"] == "not"


def test_rank_and_recall_ties_pessimistic():
    S = np.array([[0.9, 0.9, 0.1], [0.2, 0.5, 0.7], [0.3, 0.2, 0.1]])
    assert dr.rank_of_gold(S, np.array([0, 1, 2])).tolist() == [2, 2, 3]
    assert dr.recall_at_k(S, np.array([0, 1, 2]), k=2) == pytest.approx(2 / 3)
    assert dr.recall_at_k(S, np.array([0, 1, 2]), k=1) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        dr.rank_of_gold(np.array([[np.nan]]), np.array([0]))
    with pytest.raises(ValueError):
        dr.recall_at_k(S, np.array([], int), k=1)


def test_distractor_rate_against_definition():
    rng = np.random.default_rng(3)
    S, Q, M = rng.normal(size=(7, 5)), rng.normal(size=(7, 5)), rng.normal(size=(9, 5))
    of = np.array([0, 0, 1, 2, 3, 3, 3, 5, 6])
    u = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)
    S1, Q1, M1 = u(S), u(Q), u(M)
    hits = [max((S1[i] @ M1[j] for j in range(9) if of[j] == i)) >= S1[i] @ Q1[i] for i in sorted(set(of))]
    assert dr.distractor_rate(S, Q, M, of) == pytest.approx(np.mean(hits), abs=1e-12)
    with pytest.raises(ValueError):
        dr.distractor_rate(S, Q, M[:0], of[:0])
    with pytest.raises(ValueError, match="NaN"):
        dr.distractor_rate(S * np.nan, Q, M, of)


def test_identity_adapter_and_training_improves():
    rng = np.random.default_rng(0)
    n, d = 200, 16
    s = rng.normal(size=(n, d))
    A = rng.normal(size=(d, d))
    q = s @ A                                   # descriptions live in a linearly distorted space
    neg = q[:, ::-1].copy()
    W0, b0 = np.eye(d), np.zeros(d)
    assert np.abs(dr.cosine_scores(dr.apply_adapter(q, W0, b0), s) - dr.cosine_scores(q, s)).max() < 1e-6
    gold = np.arange(n)
    before = dr.recall_at_k(dr.cosine_scores(q, s), gold, 1)
    W, b, losses = dr.train_adapter(q, s, neg_emb=neg, neg_of=np.arange(n), epochs=60, batch_size=50, lr=1e-2,
                                    tau=0.1, seed=0)
    after = dr.recall_at_k(dr.cosine_scores(dr.apply_adapter(q, W, b), s), gold, 1)
    assert losses[-1] < losses[0] and after > before + 0.3
    W2, b2, _ = dr.train_adapter(q, s, neg_emb=neg, neg_of=np.arange(n), epochs=2, seed=5)
    W3, b3, _ = dr.train_adapter(q, s, neg_emb=neg, neg_of=np.arange(n), epochs=2, seed=5)
    assert np.array_equal(W2, W3)
    with pytest.raises(ValueError):
        dr.train_adapter(q, s[:-1])
    with pytest.raises(ValueError):
        dr.train_adapter(q, s, neg_emb=neg)
    with pytest.raises(ValueError):
        dr.train_adapter(q, s, neg_emb=neg, neg_of=np.full(n, n))
