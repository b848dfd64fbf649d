"""WordNet hyponym-topic retrieval task: construction rules, splits, determinism."""

import numpy as np
import pytest

from simrepro.data.hyponym_topics import draw_topic_queries, eligible_topics, load_hyponym_topics


def test_eligible_topics_rules():
    parent = np.array([-1, 0, 0, 0, 1, 1, 2])          # 0 has 3 children, 1 has 2, 2 has 1
    lemma = ["Root", "a", "b", "A", "x", "y", "z"]         # 'a' is not unique (case-insensitive)
    assert eligible_topics(parent, lemma, 2, 3).tolist() == [0]
    assert eligible_topics(parent, lemma, 1, 3).tolist() == [0, 2]
    with pytest.raises(ValueError):
        eligible_topics(parent, lemma, 3, 2)


def test_corpus_and_qrels_are_consistent_and_splits_disjoint():
    a = load_hyponym_topics(20, seed=0, split="tune")
    b = load_hyponym_topics(20, seed=0, split="eval")
    assert not set(a["topics"]) & set(b["topics"])
    c = load_hyponym_topics(20, seed=0, split="eval")
    assert c["doc_text"] == b["doc_text"] and np.array_equal(c["topics"], b["topics"])
    counts = np.bincount(b["doc_topic"], minlength=20)
    assert counts.min() >= 5 and counts.max() <= 30 and len(b["doc_text"]) == counts.sum()
    assert all(": " in t for t in b["doc_text"]) and len(b["query_text"]) == 20
    with pytest.raises(ValueError, match="split"):
        load_hyponym_topics(5, split="test")
    with pytest.raises(ValueError, match="exceeds"):
        load_hyponym_topics(10**6)


def test_draw_topic_queries():
    q = draw_topic_queries(50, 10, seed=3)
    assert q.tolist() == sorted(set(q.tolist())) and len(q) == 10 and q.max() < 50
    assert np.array_equal(q, draw_topic_queries(50, 10, seed=3))
    with pytest.raises(ValueError):
        draw_topic_queries(5, 6, seed=0)
