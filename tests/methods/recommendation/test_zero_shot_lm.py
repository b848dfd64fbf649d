"""Tests of simrepro.methods.recommendation.zero_shot_lm (the official zero-shot LM recommendation protocol)."""

import numpy as np
import pandas as pd
import pytest

from simrepro.methods.recommendation import zero_shot_lm as z


@pytest.mark.parametrize("title,expected", [
    ("Usual Suspects, The", "The Usual Suspects"),
    ("Close Shave, A", "A Close Shave"),
    ("Horseman on the Roof, The (Hussard sur le toit, Le)", "The Horseman on the Roof"),
    ("Shanghai Triad (Yao a yao yao dao waipo qiao)", "Shanghai Triad"),
    ("Postino, Il", "Postino, Il"),                        # only ', The' and ', A' move (official l. 176)
    ("Adventures of Priscilla, Queen of the Desert, The", "The Adventures of Priscilla, Queen of the Desert"),
    ("Toy Story", "Toy Story"),
])
def test_movielens_name(title, expected):
    assert z.movielens_name(title) == expected


def test_movielens_name_rejects_non_str():
    with pytest.raises(TypeError, match="str"):
        z.movielens_name(3)


def test_make_prompt_official_format():
    assert z.make_prompt(["A", "B"]) == "Movies like: A,B,"
    assert z.make_prompt(["A"], template="[M]") == "A,"
    with pytest.raises(ValueError, match=r"\[M\]"):
        z.make_prompt(["A"], template="Movies like")
    with pytest.raises(ValueError, match="empty"):
        z.make_prompt([])


def _ratings(seed=0, n_users=12, n_items=40):
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(1, n_users + 1):
        items = rng.choice(np.arange(1, n_items + 1), size=rng.integers(10, n_items), replace=False)
        for i in items:
            rows.append((u, int(i), int(rng.integers(1, 6))))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])


def test_protocol_users_against_definition():
    df = _ratings()
    pu = z.protocol_users(df, min_pos=4, min_neg=3)
    for u in df.user_id.unique():
        g = df[df.user_id == u]
        pos, neg = set(g[g.rating == 5].item_id), set(g[g.rating <= 2].item_id)
        qualifies = len(pos) >= 4 and len(neg) >= 3
        assert (u in pu.users) == qualifies
        if qualifies:
            j = list(pu.users).index(u)
            assert set(pu.liked[j]) == pos and set(pu.disliked[j]) == neg
    assert not pu.filtered.rating.isin([3, 4]).any() and len(pu.filtered) == (~df.rating.isin([3, 4])).sum()


def test_protocol_users_errors():
    with pytest.raises(ValueError, match="lacks columns"):
        z.protocol_users(pd.DataFrame({"u": [1]}))
    df = _ratings()
    df.loc[0, "rating"] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        z.protocol_users(df)


def test_official_user_order_is_a_permutation_and_seeded():
    pu = z.protocol_users(_ratings(1, n_users=30), min_pos=3, min_neg=2)
    a = z.official_user_order(pu, users_seed=0)
    assert sorted(a.tolist()) == list(range(len(pu.users)))
    assert np.array_equal(a, z.official_user_order(pu, users_seed=0))
    assert not np.array_equal(a, z.official_user_order(pu, users_seed=1))


def test_draw_episodes_structure():
    pu = z.protocol_users(_ratings(2), min_pos=4, min_neg=3)
    ep = z.draw_episodes(pu, nb_pos=3, nb_neg=2, seed=5)
    assert ep.support.shape == (len(pu.users), 3) and ep.candidates.shape == (len(pu.users), 3)
    for j in range(len(pu.users)):
        liked = set(pu.liked[j])
        chosen = list(ep.support[j]) + [ep.candidates[j, 0]]
        assert set(chosen) <= liked and len(set(chosen)) == 4          # distinct liked movies
        assert set(ep.candidates[j, 1:]) <= set(pu.disliked[j]) and len(set(ep.candidates[j, 1:])) == 2
    again = z.draw_episodes(pu, nb_pos=3, nb_neg=2, seed=5)
    assert np.array_equal(again.candidates, ep.candidates) and np.array_equal(again.support, ep.support)
    with pytest.raises(ValueError, match="fewer than"):
        z.draw_episodes(pu, nb_pos=40, nb_neg=2)
    with pytest.raises(ValueError, match=">= 1"):
        z.draw_episodes(pu, nb_pos=0)


def test_rank_metrics_no_ties_closed_form():
    s = np.array([[0.9, 0.1, 0.2, 0.3, 0.4],      # positive first
                  [0.2, 0.9, 0.1, 0.0, -1.0],     # positive second
                  [-5., 1.0, 2.0, 3.0, 4.0]])     # positive last
    m = z.rank_metrics(s)
    assert np.allclose(m["rank"], [1, 2, 5])
    assert np.allclose(m["precision_1"], [1, 0, 0])
    assert np.allclose(m["recall_2"], [1, 1, 0]) and np.allclose(m["precision_2"], [0.5, 0.5, 0])
    assert np.allclose(m["ndcg_5"], [1, 1 / np.log2(3), 1 / np.log2(6)])
    assert np.allclose(m["top1_strict"], [1, 0, 0])


def test_rank_metrics_ties_equal_reference_and_sklearn():
    from sklearn.metrics import ndcg_score
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, size=(60, 5)).astype(float)          # many ties
    s[:3] = 0.0                                                    # all tied
    m, ref = z.rank_metrics(s), z.rank_metrics_reference(s)
    for key in ref:
        assert np.max(np.abs(m[key] - ref[key])) <= 1e-12, key
    y = np.zeros((1, 5))
    y[0, 0] = 1
    for k in range(1, 6):
        sk = np.array([ndcg_score(y, s[[u]], k=k) for u in range(len(s))])
        assert np.max(np.abs(sk - m[f"ndcg_{k}"])) <= 1e-12
    assert np.allclose(m["precision_1"][:3], 0.2)                  # all tied: expected P@1 = chance
    assert np.all(m["top1_strict"][:3] == 0)


def test_rank_metrics_positive_column_and_errors():
    s = np.array([[0.1, 0.5, 0.2]])
    assert z.rank_metrics(s, ks=(1,), positive=1)["precision_1"][0] == 1.0
    with pytest.raises(ValueError, match="NaN"):
        z.rank_metrics(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        z.rank_metrics(np.array([1.0, 2.0]))
    assert z.rank_metrics(np.zeros((0, 5)))["precision_1"].shape == (0,)


def test_cosine_scorers_against_definition_and_zero_vectors():
    rng = np.random.default_rng(1)
    p, c, s = rng.normal(size=(4, 7)), rng.normal(size=(4, 3, 7)), rng.normal(size=(4, 2, 7))
    c[0, 1] = 0.0
    got = z.prompt_cosine_scores(p, c)
    for u in range(4):
        for j in range(3):
            n = np.linalg.norm(p[u]) * np.linalg.norm(c[u, j])
            want = 0.0 if n == 0 else p[u] @ c[u, j] / n
            assert abs(got[u, j] - want) <= 1e-12
    mi = z.mean_item_cosine_scores(s, c)
    want = np.mean([[[(s[u, a] @ c[u, j]) / (np.linalg.norm(s[u, a]) * np.linalg.norm(c[u, j]) or 1)
                      for j in range(3)] for a in range(2)] for u in range(4)], axis=1)
    assert np.allclose(mi, want, atol=1e-12)
    with pytest.raises(ValueError, match="need"):
        z.prompt_cosine_scores(p, c[:, :, :3])
    with pytest.raises(ValueError, match="need"):
        z.mean_item_cosine_scores(s[:, :0], c)


def test_official_popularity_and_top_pick():
    f = pd.DataFrame({"item_id": [1, 1, 2, 3], "rating": [5, 1, 2, 5]})
    pop = z.official_popularity(f)
    assert np.allclose(pop.to_numpy(), np.array([6, 2, 5]) / np.mean([6, 2, 5]))
    s = np.array([[0.1, 0.9, 0.2], [0.5, 0.5, 0.0]])
    top = z.top_pick_popularity(s, np.array([[1, 2, 3], [3, 1, 2]]), pop)
    assert np.allclose(top, [pop[2], pop[3]])                      # argmax, first on ties (official make_pop)


def test_liked_matrix_binary():
    X = z.liked_matrix([np.array([10, 30, 10]), np.array([], dtype=int)], {10: 0, 20: 1, 30: 2}, 3)
    assert X.shape == (2, 3) and X.toarray().tolist() == [[1, 0, 1], [0, 0, 0]]


def test_als_scores_shape_determinism_and_signal():
    """Two taste blocks: training users like items 1-10 or 11-20; a test user prompted with block-A items
    must score a held-out block-A item above block-B items."""
    pytest.importorskip("implicit")
    rng = np.random.default_rng(0)
    train = [rng.choice(np.arange(1, 11), 6, replace=False) for _ in range(40)] + \
            [rng.choice(np.arange(11, 21), 6, replace=False) for _ in range(40)]
    support = np.array([[1, 2, 3], [11, 12, 13]])
    cands = np.array([[4, 15, 16, 17], [14, 5, 6, 7]])
    ep = z.Episodes(np.array([1, 2]), support, cands)
    items = np.arange(1, 21)
    s1 = z.als_episode_scores(train, ep, items, factors=4, seed=3)
    s2 = z.als_episode_scores(train, ep, items, factors=4, seed=3)
    assert s1.shape == (2, 4) and np.array_equal(s1, s2)
    assert np.all(z.rank_metrics(s1)["precision_1"] == 1.0)
    with pytest.raises(ValueError, match="not in item_ids"):
        z.als_episode_scores(train, z.Episodes(np.array([1]), support[:1], np.array([[99, 1, 2, 3]])), items)


def test_binomial_above_chance():
    assert z.binomial_above_chance(20, 20, 0.2) < 1e-10
    assert z.binomial_above_chance(0, 20, 0.2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="successes"):
        z.binomial_above_chance(5, 3, 0.2)
