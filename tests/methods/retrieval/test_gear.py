"""Tests of the GeAR-style retrieval + localisation model and its Lee localisation task (paper 115)."""

import random

import numpy as np
import pytest

from simrepro.data import lee_localisation as ll
from simrepro.methods.retrieval import gear

INDEX = """  1 This is a header line
car n 5 3 @ ~ + 5 3 02958343 02959942
kill v 2 1 @ 2 1 01323958 01325536
"""
DATA = """  1 header
02958343 06 n 03 car 0 auto 0 automobile 0 000 | a motor vehicle
02959942 06 n 01 car 0 000 | a wheeled vehicle
01323958 41 v 01 kill 0 000 | cause to die
01325536 41 v 01 kill 0 000 | be fatal
"""


def test_synonym_parser_first_sense_only():
    syn = ll.parse_first_sense_synonyms(INDEX, DATA)
    assert syn == {"car": "auto"}                      # kill's first synset has no other lemma


def test_make_query_draws_words_or_synonyms_and_is_seeded():
    words = ["fire", "crews", "car", "highway", "blaze", "town", "winds"]
    q1 = ll.make_query(words, {"car": "auto"}, random.Random(3))
    q2 = ll.make_query(words, {"car": "auto"}, random.Random(3))
    assert q1 == q2 and 3 <= len(q1) <= 6
    assert set(q1) <= set(words) | {"auto"}
    with pytest.raises(ValueError, match="at least one"):
        ll.make_query([], {}, random.Random(0))


def test_build_task_gold_and_ambiguity_rule():
    arts = ["Bushfires burned near Sydney today. Crews fought the blaze overnight with water. Winds eased later on.",
            "Bushfires burned near Sydney today. Crews fought the blaze overnight with water. Winds eased later on.",
            "Short one."]
    t = ll.build_task(arts, synonyms={}, min_sents=3, min_words=2, seed=0)
    assert len(t.docs) == 2                            # the one-sentence article is dropped
    assert t.queries == []                             # the two copies make every query ambiguous: all dropped
    t = ll.build_task(arts[:1], synonyms={}, min_sents=3, min_words=2, seed=0)
    for q, d, j in zip(t.queries, t.q_doc, t.q_sent):
        assert set(q.split()) <= set(t.docs[d][j].lower().replace(".", "").split())
    with pytest.raises(ValueError, match="min_sents"):
        ll.build_task(arts, synonyms={}, min_sents=0)


def _toy(n_docs=8, n_sents=4, dim=16, nq=64, seed=0):
    rng = np.random.default_rng(seed)
    S = rng.normal(size=(n_docs * n_sents, dim)).astype(np.float32)
    S /= np.linalg.norm(S, axis=1, keepdims=True)
    doc_of = np.repeat(np.arange(n_docs), n_sents)
    D = np.stack([S[doc_of == d].mean(0) for d in range(n_docs)])
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    qd, qs = rng.integers(0, n_docs, nq), rng.integers(0, n_sents, nq)
    Q = S[qd * n_sents + qs] + 0.3 * rng.normal(size=(nq, dim)).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    return Q, D, S, doc_of, qd, qs


def test_pack_sentences_and_errors():
    _, _, S, doc_of, _, _ = _toy(n_docs=3, n_sents=2)
    P, M = gear.pack_sentences(S[:5], doc_of[:5], 3, 4)       # irregular: last document has 1 sentence
    assert P.shape == (3, 4, 16) and M.sum(1).tolist() == [2, 2, 1]
    assert np.array_equal(P[2, 0], S[4]) and not P[2, 1:].any()
    with pytest.raises(ValueError, match="max_sents"):
        gear.pack_sentences(S, doc_of, 3, 1)
    bad = S.copy(); bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        gear.pack_sentences(bad, doc_of, 3, 4)
    with pytest.raises(ValueError, match="non-decreasing"):
        gear.pack_sentences(S, doc_of[::-1], 3, 4)


def test_untrained_model_is_frozen_cosine_and_padding_invariant():
    Q, D, S, doc_of, qd, qs = _toy()
    cfg = gear.GearConfig(dim=16, hidden=8, heads=2, max_sents=6)
    m = gear.GearModel(cfg, seed=0)
    np.testing.assert_allclose(m.retrieval_scores(Q, D), Q @ D.T, atol=1e-5)   # zero-initialised adapters
    P, M = gear.pack_sentences(S, doc_of, 8, 6)
    L = m.localise(Q, P, M, qd)
    assert L.shape == (64, 6) and np.isinf(L[:, 4:]).all() and np.isfinite(L[:, :4]).all()
    P2, M2 = gear.pack_sentences(S, doc_of, 8, 6)
    P2[:, 4:] = 123.0                                   # garbage in padded slots must not change the logits
    np.testing.assert_allclose(m.localise(Q, P2, M2, qd)[:, :4], L[:, :4], atol=1e-5)


def test_training_learns_localisation_and_retrieval_ignores_fusion():
    Q, D, S, doc_of, qd, qs = _toy(nq=256)
    P, M = gear.pack_sentences(S, doc_of, 8, 4)
    cfg = gear.GearConfig(dim=16, hidden=16, heads=2, max_sents=4, epochs=30, lr=5e-3, batch=64)
    m = gear.GearModel(cfg, seed=1).fit(Q, D, P, M, qd, qs)
    L = np.array(m.losses)
    assert L[-5:, 1].mean() < L[:5, 1].mean()           # localisation loss falls
    acc = gear.top1_accuracy(m.localise(Q, P, M, qd), qs).mean()
    assert acc > 0.5                                   # chance is 0.25
    before = m.retrieval_scores(Q, D)
    import torch
    with torch.no_grad():
        for p in m.net.layer.parameters():
            p.add_(1.0)                                 # perturbing the fusion layer leaves retrieval unchanged
    np.testing.assert_array_equal(m.retrieval_scores(Q, D), before)


def test_top1_accuracy_against_loop_with_ties_and_errors():
    rng = np.random.default_rng(0)
    logits = rng.integers(0, 3, size=(40, 7)).astype(float)     # many ties: first index wins in both
    logits[:, 5:] = -np.inf
    gold = rng.integers(0, 5, 40)
    np.testing.assert_array_equal(gear.top1_accuracy(logits, gold), gear.top1_accuracy_reference(logits, gold))
    with pytest.raises(ValueError, match="NaN"):
        gear.top1_accuracy(np.full((1, 3), np.nan), [0])
    with pytest.raises(ValueError, match="empty document"):
        gear.top1_accuracy(np.full((1, 3), -np.inf), [0])
    assert gear.top1_accuracy(np.zeros((0, 3)), []).shape == (0,)


def test_cosine_localise_and_flops():
    Q, D, S, doc_of, qd, qs = _toy()
    P, M = gear.pack_sentences(S, doc_of, 8, 5)
    L = gear.cosine_localise(Q, P, M, qd)
    ref = [[float(Q[i] @ S[qd[i] * 4 + j]) for j in range(4)] for i in range(len(Q))]
    np.testing.assert_allclose(L[:, :4], ref, atol=1e-5)
    assert np.isinf(L[:, 4]).all()
    assert gear.retrieval_flops(10, 4) == 2 * 16 + 12 + 80
    assert gear.localisation_flops(12, gear.GearConfig()) > gear.retrieval_flops(1, 384)


def test_split_documents_disjoint_and_seeded():
    tr, te = gear.split_documents(11, 0.5, 3)
    assert not set(tr) & set(te) and len(tr) + len(te) == 11
    tr2, te2 = gear.split_documents(11, 0.5, 3)
    assert np.array_equal(te, te2)
    with pytest.raises(ValueError):
        gear.split_documents(1, 0.5, 0)
