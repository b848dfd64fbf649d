"""Tests of simrepro.methods.recommendation.dual_embeddings and simrepro.data.complement_catalogue."""

from collections import Counter

import numpy as np
import pytest
import torch

from simrepro.data.complement_catalogue import complement_catalogue
from simrepro.methods.recommendation import dual_embeddings as de


def test_pairs_are_all_ordered_pairs():
    baskets = [np.array([3, 1, 2]), np.array([5]), np.array([4, 0]), np.array([7, 8])]
    got = Counter(map(tuple, de.cooccurrence_pairs(baskets).tolist()))
    want = Counter()
    for b in baskets:
        want.update((int(x), int(y)) for p, x in enumerate(b) for q, y in enumerate(b) if p != q)
    assert got == want and sum(got.values()) == 6 + 2 + 2
    assert de.cooccurrence_pairs([np.array([1])]).shape == (0, 2)


def test_catalogue_ground_truth():
    cat = complement_catalogue(12, 6, n_complements=2, n_baskets=3000, cold_fraction=0.2, seed=1)
    assert cat.n_items == 72 and cat.complements.sum(1).tolist() == [2] * 12 and not cat.complements.diagonal().any()
    for b in cat.baskets:
        c = cat.category[b]
        assert len(set(c)) == len(c)                                            # no substitutes together
        assert cat.complements[c[0], c[1:]].all()                               # partners are complements
        assert not cat.cold[b].any()
    assert abs(cat.cold.mean() - 0.2) < 0.02
    assert np.allclose(np.linalg.norm(cat.content, axis=1), 1, atol=1e-5)
    again = complement_catalogue(12, 6, n_complements=2, n_baskets=3000, cold_fraction=0.2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(cat.baskets, again.baskets))
    with pytest.raises(ValueError, match="n_complements"):
        complement_catalogue(3, 4, n_complements=3)


def test_retrieve_matches_brute_force_and_excludes_self():
    rng = np.random.default_rng(0)
    IN, OUT = rng.normal(size=(37, 5)), rng.normal(size=(37, 5))
    q = np.array([0, 5, 36])
    cand = np.ones(37, bool)
    cand[[1, 2, 3]] = False
    ids = de.retrieve(IN, OUT, q, 4, "in_out", candidates=cand)
    for r, i in enumerate(q):
        s = IN[i] @ OUT.T
        s[~cand] = -np.inf
        s[i] = -np.inf
        assert ids[r].tolist() == np.argsort(-s, kind="stable")[:4].tolist()
    ids = de.retrieve(IN, None, q, 3, "in_in")
    U = IN / np.linalg.norm(IN, axis=1, keepdims=True)
    for r, i in enumerate(q):
        s = U[i] @ U.T
        s[i] = -np.inf
        assert ids[r].tolist() == np.argsort(-s, kind="stable")[:3].tolist()
    assert (de.retrieve(IN, OUT, q, 40, "in_out")[:, -4:] == -1).all()           # 36 candidates, 40 asked
    with pytest.raises(ValueError, match="OUT"):
        de.retrieve(IN, None, q, 3, "in_out")
    with pytest.raises(ValueError, match="mode"):
        de.retrieve(IN, OUT, q, 3, "out_out")


def test_relation_at_k_counts_fill_as_miss():
    rel = np.equal
    assert de.relation_at_k(rel, np.array([1, 2]), np.array([[1, -1], [2, 2]])) == 0.75


def test_sgns_separates_complements_from_substitutes():
    """Planted catalogue: IN·OUT retrieves complements, IN·IN substitutes (ours and gensim); the test can fail."""
    torch.set_num_threads(1)
    cat = complement_catalogue(10, 8, n_complements=2, n_baskets=4000, seed=0)
    pairs = de.cooccurrence_pairs(cat.baskets)
    q = np.arange(cat.n_items)
    IN, OUT = de.train_sgns(pairs, cat.n_items, dim=16, epochs=5, lr=0.005, batch_size=256, seed=0)
    assert np.array_equal(IN, de.train_sgns(pairs, cat.n_items, dim=16, epochs=5, lr=0.005, batch_size=256, seed=0)[0])
    gi, go, gm = de.fit_gensim(cat.baskets, cat.n_items, dim=16, epochs=5, seed=0)
    assert gm.all()
    for a, b in [(IN, OUT), (gi, go)]:
        io, ii = de.retrieve(a, b, q, 5, "in_out"), de.retrieve(a, b, q, 5, "in_in")
        print(de.relation_at_k(cat.is_complement, q, io), de.relation_at_k(cat.is_substitute, q, ii))
        assert de.relation_at_k(cat.is_complement, q, io) > 0.5 > de.relation_at_k(cat.is_complement, q, ii)
        assert de.relation_at_k(cat.is_substitute, q, ii) > 0.5 > de.relation_at_k(cat.is_substitute, q, io)


def test_synthetic_pairs_borrow_nearest_warm_item():
    content = np.array([[1.0, 0], [0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    pairs = np.array([[0, 1], [1, 0], [0, 3], [3, 0]])
    warm = np.array([True, True, False, True])
    sp, near = de.synthetic_pairs(pairs, np.array([2]), content, warm)
    assert near.tolist() == [0]
    assert sorted(map(tuple, sp.tolist())) == [(1, 2), (2, 1), (2, 3), (3, 2)]
    sp, _ = de.synthetic_pairs(pairs, np.array([2]), content, warm, max_per_item=1)
    assert len(sp) == 2
    with pytest.raises(ValueError, match="warm"):
        de.synthetic_pairs(pairs, np.array([2]), content, np.zeros(4, bool))


def test_bad_pairs():
    with pytest.raises(ValueError, match="pairs"):
        de.train_sgns(np.zeros((0, 2), np.int64), 3)
    with pytest.raises(ValueError, match="lie in"):
        de.train_sgns(np.array([[0, 5]]), 3)
