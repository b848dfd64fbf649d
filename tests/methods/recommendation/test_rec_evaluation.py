"""The recommendation evaluation harness: splits, full / sampled ranking, metrics through trec_eval, and the
beyond-accuracy metrics, against hand-computed values and plain references."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from simrepro.methods.recommendation import evaluation as ev

# Hand case: users a, b, c; items 10..50 (indices 0..4).
#   a: 10 (t1), 20 (t2), 30 (t3) -> LOO test 30 (index 2), train {0, 1}
#   b: 20 (t1), 40 (t5)          -> LOO test 40 (index 3), train {1}
#   c: 50 (t1)                    -> one interaction: stays in training, not judged
HAND = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b", "c"], "item_id": [10, 20, 30, 20, 40, 50],
                     "rating": [5, 4, 4, 3, 5, 2], "timestamp": [1, 2, 3, 1, 5, 1]})
# a ranks unmasked {2: 1, 3: 3, 4: 2} -> 3, 4, 2: its target (2) at rank 3.
# b ranks unmasked {0: 5, 2: 0, 3: 4, 4: 4} -> 0, then the tie 3 = 4 by lower index -> 3: target at rank 2.
S_HAND = np.array([[9, 8, 1, 3, 2], [5, 9, 0, 4, 4], [0, 0, 0, 0, 0]], dtype=float)
LOG2_3 = np.log2(3.0)


def hand_split():
    return ev.leave_one_out(ev.index_interactions(HAND), seed=0)


def test_leave_one_out_hand():
    s = hand_split()
    assert {u: v.tolist() for u, v in s.relevant().items()} == {0: [2], 1: [3]}
    assert sorted(zip(s.train_users.tolist(), s.train_items.tolist())) == [(0, 0), (0, 1), (1, 1), (2, 4)]


@pytest.mark.parametrize("as_factors", [False, True])
def test_hand_case_metrics_through_harness(as_factors):
    s = hand_split()
    scores = (S_HAND, np.eye(5)) if as_factors else S_HAND
    r2 = ev.full_ranking(scores, s, k=2)
    assert r2.items.tolist() == [[3, 4], [0, 3]]
    m = ev.evaluate(r2, ("hit@2", "ndcg@2", "mrr@2", "recall@2", "precision@2"))
    assert m["hit@2"] == pytest.approx(0.5, abs=1e-12)
    assert m["ndcg@2"] == pytest.approx((1 / LOG2_3) / 2, abs=1e-12)
    assert m["mrr@2"] == pytest.approx(0.25, abs=1e-12)
    assert m["recall@2"] == pytest.approx(0.5, abs=1e-12)
    assert m["precision@2"] == pytest.approx(0.25, abs=1e-12)
    m3 = ev.evaluate(ev.full_ranking(scores, s, k=3), ("hit@3", "ndcg@3", "mrr@3"))
    assert m3["hit@3"] == pytest.approx(1.0)
    assert m3["ndcg@3"] == pytest.approx((0.5 + 1 / LOG2_3) / 2, abs=1e-12)
    assert m3["mrr@3"] == pytest.approx((1 / 3 + 1 / 2) / 2, abs=1e-12)


def test_hand_case_agrees_with_ranx():
    ranx = pytest.importorskip("ranx")
    s = hand_split()
    r = ev.full_ranking(S_HAND, s, k=3)
    ours = ev.evaluate(r, ("ndcg@3", "mrr@3", "hit@3", "precision@3", "recall@3"))
    theirs = ranx.evaluate(ranx.Qrels(r.qrels), ranx.Run(r.run), ["ndcg@3", "mrr@3", "hit_rate@3", "precision@3",
                                                              "recall@3"])
    for a, b in [("ndcg@3", "ndcg@3"), ("mrr@3", "mrr@3"), ("hit@3", "hit_rate@3"), ("precision@3", "precision@3"),
                 ("recall@3", "recall@3")]:
        assert ours[a] == pytest.approx(theirs[b], abs=1e-9)


def test_hand_case_beyond_accuracy():
    s = hand_split()
    r = ev.full_ranking(S_HAND, s, k=2)                                           # lists [3, 4], [0, 3]
    pop = s.item_popularity()
    assert pop.tolist() == [1, 2, 0, 0, 1]
    assert ev.catalogue_coverage(r.items, 5) == pytest.approx(0.6)
    # p = (c + 1) / 4: item 3 -> 2 bits, items 0 and 4 -> 1 bit; both lists average 1.5
    assert ev.novelty(r.items, pop, 3) == pytest.approx(1.5)
    sim = np.eye(5)
    sim[3, 4] = sim[4, 3] = 0.5
    assert ev.intra_list_diversity(r.items, sim) == pytest.approx((0.5 + 1.0) / 2)
    # Pop_1 = {1}; b's list holds its relevant item 3, not popular: 1/2; a's holds none: 0
    assert ev.serendipity(r.items, r.users, s.relevant(), pop, top_popular=1) == pytest.approx(0.25)
    assert ev.serendipity(r.items, r.users, s.relevant(), pop, top_popular=5) == pytest.approx(0.0)


def test_sampled_ranking_hand_is_seeded():
    s = hand_split()
    ranks = set()
    for seed in range(30):
        r = ev.sampled_ranking(S_HAND, s, n_negatives=2, seed=seed)
        assert ev.sampled_ranking(S_HAND, s, n_negatives=2, seed=seed).run == r.run     # same seed, same lists
        assert [len(v) for v in r.run.values()] == [3, 3]                        # target + 2 negatives each
        assert r.run["0"]["2"] == 1.0                                           # a's target (score 1) is last
        ranked = [d for d, _ in sorted(r.run["1"].items(), key=lambda kv: -kv[1])]
        ranks.add(ranked.index("3") + 1)
    # b's negatives come from {0 (score 5), 2 (0), 4 (4, a tie)}: its target's rank depends on the draw
    assert ranks == {1, 2, 3}


def test_sampled_with_every_negative_equals_full_ranking():
    rng = np.random.default_rng(0)
    n_users, n_items = 30, 23
    rows = [(u, i, 1, int(rng.integers(100))) for u in range(n_users) for i in rng.choice(n_items, 5, replace=False)]
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    split = ev.leave_one_out(ev.index_interactions(df), seed=1)
    S = rng.standard_normal((n_users, n_items))                                  # no ties
    full = ev.evaluate(ev.full_ranking(S, split, k=n_items), ("ndcg@10", "hit@5", "mrr@10"))
    samp = ev.evaluate(ev.sampled_ranking(S, split, n_negatives=n_items - 5, seed=3), ("ndcg@10", "hit@5", "mrr@10"))
    for key in full:
        assert samp[key] == pytest.approx(full[key], abs=1e-12)
    fewer = ev.evaluate(ev.sampled_ranking(S, split, n_negatives=5, seed=3), ("hit@5",))
    assert fewer["hit@5"] >= full["hit@5"]                                        # fewer competitors, never harder


def test_sampled_errors():
    s = hand_split()
    with pytest.raises(ValueError, match="unseen items"):
        ev.sampled_ranking(S_HAND, s, n_negatives=4)
    with pytest.raises(ValueError, match="positive integer"):
        ev.sampled_ranking(S_HAND, s, n_negatives=0)


def _random_case(seed, n_users=17, n_items=29, ties=False):
    rng = np.random.default_rng(seed)
    S = rng.integers(0, 4, (n_users, n_items)).astype(float) if ties else rng.standard_normal((n_users, n_items))
    excl = sp.csr_matrix(rng.random((n_users, n_items)) < 0.3)
    return S, excl


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("k", [1, 5, 29, 40])
def test_topk_items_matches_reference(ties, k):
    S, excl = _random_case(k, ties=ties)
    Vr, Ir = ev.topk_items_reference(S, k, exclude=excl)
    V, I = ev.topk_items(S, k, exclude=excl)
    np.testing.assert_array_equal(I, Ir)
    np.testing.assert_array_equal(V, Vr)
    # factors: S = P Qᵀ with integer entries -> exact in float64
    rng = np.random.default_rng(k)
    P, Q = rng.integers(-2, 3, (17, 3)).astype(float), rng.integers(-2, 3, (29, 3)).astype(float)
    Vr, Ir = ev.topk_items_reference((P, Q), k, exclude=excl)
    V, I = ev.topk_items((P, Q), k, exclude=excl)
    np.testing.assert_array_equal(I, Ir)
    np.testing.assert_allclose(V, Vr, atol=1e-12)
    assert ((I == -1) == np.isneginf(V)).all()
    for row, ex in zip(I, excl.toarray()):
        assert not ex[row[row >= 0]].any()                                        # masked items never listed


def test_topk_items_subset_and_errors():
    S, excl = _random_case(3)
    users = np.array([4, 0, 9])
    V, I = ev.topk_items(S, 4, users, excl)
    Vr, Ir = ev.topk_items_reference(S, 4, users, excl)
    np.testing.assert_array_equal(I, Ir)
    with pytest.raises(ValueError, match="NaN"):
        bad = S.copy()
        bad[0, 0] = np.nan
        ev.topk_items(bad, 3)
    with pytest.raises(ValueError, match="positive integer"):
        ev.topk_items(S, 0)
    with pytest.raises(ValueError, match="factors must be"):
        ev.topk_items((np.ones((3, 2)), np.ones((4, 3))), 2)
    V, I = ev.topk_items(S, 3, np.zeros(0, np.int64))
    assert V.shape == (0, 3) and I.shape == (0, 3)


def _table(seed, n_users=40, n_items=30):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        n = int(rng.integers(1, 12))
        for i in rng.choice(n_items, n, replace=False):
            rows.append((u, int(i), int(rng.integers(1, 6)), int(rng.integers(0, 5))))   # many timestamp ties
    return ev.index_interactions(pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"]))


def test_splits_partition_and_determinism():
    inter = _table(0)
    for split in (ev.leave_one_out(inter, seed=2), ev.temporal_split(inter, 0.2, seed=2),
                  ev.leave_one_out(inter, seed=2, by="random")):
        pairs_tr = set(zip(split.train_users.tolist(), split.train_items.tolist()))
        pairs_te = set(zip(split.test_users.tolist(), split.test_items.tolist()))
        assert not pairs_tr & pairs_te
        assert pairs_tr | pairs_te == set(zip(inter.users.tolist(), inter.items.tolist()))
    a, b = ev.temporal_split(inter, 0.3, seed=5), ev.temporal_split(inter, 0.3, seed=5)
    np.testing.assert_array_equal(a.test_items, b.test_items)
    # seeds only break timestamp ties: some seed gives another LOO split on this tie-heavy table
    base = ev.leave_one_out(inter, seed=0)
    assert any(set(zip(ev.leave_one_out(inter, seed=s).test_users, ev.leave_one_out(inter, seed=s).test_items))
               != set(zip(base.test_users, base.test_items)) for s in range(1, 6))


def test_split_sizes_and_time_order():
    inter = _table(1)
    counts = np.bincount(inter.users, minlength=inter.n_users)
    loo = ev.leave_one_out(inter, seed=0)
    np.testing.assert_array_equal(np.bincount(loo.test_users, minlength=inter.n_users), (counts >= 2).astype(int))
    ts = ev.temporal_split(inter, 0.25, seed=0, min_train=2)
    n_test = np.bincount(ts.test_users, minlength=inter.n_users)
    np.testing.assert_array_equal(n_test, np.clip(np.ceil(0.25 * counts), 0, np.maximum(counts - 2, 0)))
    t = dict(zip(zip(inter.users.tolist(), inter.items.tolist()), inter.timestamps.tolist()))
    for u in range(inter.n_users):                                                # test never older than train
        tr = [t[(u, i)] for i in ts.train_items[ts.train_users == u]]
        te = [t[(u, i)] for i in ts.test_items[ts.test_users == u]]
        if tr and te:
            assert min(te) >= max(tr)
    with pytest.raises(ValueError, match="test_fraction"):
        ev.temporal_split(inter, 1.0)
    with pytest.raises(ValueError, match="by must be"):
        ev.leave_one_out(inter, by="last")


def test_index_errors_and_catalogue():
    with pytest.raises(ValueError, match="duplicate"):
        ev.index_interactions(pd.concat([HAND, HAND.iloc[:1]]))
    with pytest.raises(ValueError, match="column"):
        ev.index_interactions(HAND, rating="stars")
    inter = ev.index_interactions(HAND, item_ids=[10, 20, 30, 40, 50, 60])
    assert inter.n_items == 6
    with pytest.raises(ValueError, match="missing from item_ids"):
        ev.index_interactions(HAND, item_ids=[10, 20])


def test_min_rating_relevance():
    s = hand_split()
    assert {u: v.tolist() for u, v in s.relevant(min_rating=5).items()} == {1: [3]}
    with pytest.raises(ValueError, match="no user has a relevant"):
        ev.full_ranking(S_HAND, s, k=2, min_rating=6)


def test_beyond_accuracy_errors_and_bounds():
    items = np.array([[0, 1, -1], [2, -1, -1]])
    assert ev.catalogue_coverage(items, 4) == pytest.approx(0.75)
    with pytest.raises(ValueError, match="square"):
        ev.intra_list_diversity(items, np.ones((3, 4)))
    with pytest.raises(ValueError, match="two items"):
        ev.intra_list_diversity(np.array([[0, -1]]), np.eye(3))
    with pytest.raises(ValueError, match="popularity"):
        ev.novelty(items, np.array([5, 0, 0, 0]), 3)
    # a more popular list is less novel
    pop = np.array([10, 5, 1, 0])
    assert ev.novelty(np.array([[0, 1]]), pop, 10) < ev.novelty(np.array([[2, 3]]), pop, 10)


def test_rmse_mae_match_sklearn():
    from sklearn.metrics import mean_absolute_error, mean_squared_error
    rng = np.random.default_rng(0)
    y, p = rng.integers(1, 6, 50).astype(float), rng.random(50) * 5
    assert ev.rmse(y, p) == pytest.approx(np.sqrt(mean_squared_error(y, p)), abs=1e-12)
    assert ev.mae(y, p) == pytest.approx(mean_absolute_error(y, p), abs=1e-12)
    with pytest.raises(ValueError, match="NaN"):
        ev.rmse([1.0], [np.nan])
    with pytest.raises(ValueError, match="one length"):
        ev.mae([1.0, 2.0], [1.0])


def test_genre_features_and_discordance():
    F, names = ev.genre_features(["A|B", "A", "C", ""])
    assert names == ["A", "B", "C"] and F.toarray().tolist() == [[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0]]
    # ILD from features = ILD from the explicit cosine matrix
    Fd = F.toarray()
    norms = np.linalg.norm(Fd, axis=1)
    S = (Fd / np.where(norms > 0, norms, 1)[:, None]) @ (Fd / np.where(norms > 0, norms, 1)[:, None]).T
    items = np.array([[0, 1, 2], [1, 3, -1], [2, 0, 3]])
    assert ev.intra_list_diversity(items, features=F) == pytest.approx(ev.intra_list_diversity(items, S), abs=1e-12)
    # list [0, 1]: 1 − 1/√2 ; list [1, 3]: 1 (no genres -> cosine 0)
    assert ev.intra_list_diversity(np.array([[0, 1], [1, 3]]), features=F) == pytest.approx((1 - 2 ** -0.5 + 1) / 2)
    with pytest.raises(ValueError, match="exactly one"):
        ev.intra_list_diversity(items)
    assert ev.discordant_pairs({"x": 1, "y": 2, "z": 3}, {"x": 1, "y": 2, "z": 3}) == 0
    assert ev.discordant_pairs({"x": 1, "y": 2, "z": 3}, {"x": 3, "y": 2, "z": 1}) == 3
    assert ev.discordant_pairs({"x": 1, "y": 1}, {"x": 2, "y": 1}) == 0               # a tie is not discordant
    with pytest.raises(ValueError):
        ev.discordant_pairs({"x": 1}, {"y": 1})
