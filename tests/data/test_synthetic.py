"""Synthetic generators: deterministic under a seed, shapes and ground truth as documented, bad input refused."""

import numpy as np
import pytest

from simrepro.data.synthetic import clustered_interactions, planted_summary_clusters


def test_clustered_interactions_shapes_and_determinism():
    a = clustered_interactions(300, 41, 4, seed=7)
    b = clustered_interactions(300, 41, 4, seed=7)
    c = clustered_interactions(300, 41, 4, seed=8)
    assert a.X.shape == (300, 41) and set(np.unique(a.X)) <= {0.0, 1.0}
    assert np.array_equal(a.X, b.X) and not np.array_equal(a.X, c.X)
    assert np.all(np.diff(a.item_cluster) >= 0)                      # items sorted by cluster
    sizes = np.bincount(a.item_cluster)
    assert len(sizes) == 4 and sizes.max() - sizes.min() <= 1
    assert a.item_popularity.sum() == pytest.approx(1.0)


def test_clustered_interactions_follow_the_documented_probabilities():
    m, off = 8.0, 0.1
    d = clustered_interactions(6000, 60, 3, popularity_exponent=1.0, mean_items_per_user=m, off_cluster=off, seed=0)
    for c in range(3):
        aff = np.where(d.item_cluster == c, 1.0, off)
        rate = m * d.item_popularity * aff / np.sum(d.item_popularity * aff)
        expected = 1.0 - np.exp(-rate)
        users = d.user_cluster == c
        observed = d.X[users].mean(0)
        se = np.sqrt(expected * (1 - expected) / users.sum())
        z = np.abs(observed - expected) / np.maximum(se, 1e-12)
        print("cluster", c, "max z", z.max())
        assert z.max() < 5
    same = d.user_cluster[:, None] == d.item_cluster[None, :]
    assert d.X[same].sum() / d.X.sum() > 0.5          # most consumption stays inside the user's cluster


@pytest.mark.parametrize("kw, msg", [
    (dict(n_users=0), "n_users"),
    (dict(n_items=3, n_clusters=5), "cannot exceed"),
    (dict(off_cluster=1.5), "off_cluster"),
    (dict(mean_items_per_user=0), "mean_items_per_user"),
])
def test_clustered_interactions_rejects_bad_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        clustered_interactions(**kw)


def test_planted_summary_clusters_ground_truth():
    d = planted_summary_clusters(3, 4, 5, topic_words=12, central_len=6, background_words=50, seed=1)
    again = planted_summary_clusters(3, 4, 5, topic_words=12, central_len=6, background_words=50, seed=1)
    assert d == again
    assert len(d.clusters) == 3 and all(len(c) == 4 and all(len(doc) == 5 for doc in c) for c in d.clusters)
    for c, (cluster, ref) in enumerate(zip(d.clusters, d.references)):
        central = set(ref.split())
        assert len(central) == 6 and all(w.startswith(f"c{c}t") for w in central)
        for doc, sal in zip(cluster, d.salience[c]):
            for sent, s in zip(doc, sal):
                words = set(sent.split())
                assert s == len(central & words) / 6                       # salience as documented
                assert all(w.startswith(f"c{c}t") or w.startswith("b") for w in words)
    flat = [s for c in d.clusters for doc in c for s in doc]
    assert not set(d.references) & set(flat)                                # the reference is an abstract


def test_planted_summary_clusters_rejects_bad_arguments():
    with pytest.raises(ValueError, match="central_len"):
        planted_summary_clusters(topic_words=5, central_len=6)
    with pytest.raises(ValueError, match="keep"):
        planted_summary_clusters(keep=-0.1)
