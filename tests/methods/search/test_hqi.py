"""HQI batched hybrid search (simrepro.methods.search.hqi): exactness, pruning, partitioning, workloads."""

import numpy as np
import pandas as pd
import pytest

from simrepro.methods.search import filtered as fl
from simrepro.methods.search import hqi

SCHEMA = fl.AttributeSchema([2, 2, 10, 6])


def _data(n=1531, d=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    attrs = np.stack([rng.integers(0, 2, n), rng.integers(0, 2, n), rng.integers(0, 10, n), rng.integers(0, 6, n)], 1)
    return x, attrs


def _workload(attrs, n=97, seed=1):
    preds, qpred, ent = hqi.sample_workload(attrs, [(0,), (2,), (0, 2), (1, 3), (2, 3)], n, domains={0: [1], 1: [1]},
                                            seed=seed)
    return preds, qpred, ent


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_all_executions_exact(metric):
    x, attrs = _data()
    bits = SCHEMA.encode(attrs)
    preds, qpred, ent = _workload(attrs)
    q = hqi.noisy_queries(x, ent, 0.5, seed=2)
    masks = [SCHEMA.compile(p) for p in preds]
    allowed = [fl.matches_reference(attrs, p) for p in preds]
    gt = fl.filtered_ground_truth(x, allowed, q, qpred, 10, metric)
    part = hqi.workload_partition(bits, masks, np.bincount(qpred, minlength=len(preds)), max_leaves=16, min_leaf=20)
    plain = hqi.kmeans_partition(x, bits, 16, n_iter=3)
    for fn, args in [(hqi.batched_search, (part,)), (hqi.one_at_a_time_search, (part,)),
                     (hqi.batched_search, (plain,)), (hqi.prefilter_one_at_a_time, ())]:
        D, I, scanned = fn(x, bits, *args, q, 10, masks, qpred, metric)
        assert fl.filtered_recall(gt, x, q, I, allowed, qpred) == 1.0, fn.__name__
        np.testing.assert_allclose(D, gt.D, rtol=1e-4, atol=1e-4)


def test_workload_partition_prunes_and_covers():
    x, attrs = _data(seed=3)
    bits = SCHEMA.encode(attrs)
    preds, qpred, _ = _workload(attrs, n=300, seed=4)
    masks = [SCHEMA.compile(p) for p in preds]
    w = np.bincount(qpred, minlength=len(preds))
    part = hqi.workload_partition(bits, masks, w, max_leaves=24, min_leaf=20)
    rows = np.sort(np.concatenate(part.leaves))
    np.testing.assert_array_equal(rows, np.arange(len(x)))                      # every row exactly once
    assert 1 < part.n_leaves <= 24 and min(len(r) for r in part.leaves) >= 20
    cost_w = hqi.scan_cost(part, masks, qpred, len(qpred)).mean()
    cost_plain = hqi.scan_cost(hqi.kmeans_partition(x, bits, part.n_leaves, n_iter=3), masks, qpred, len(qpred)).mean()
    assert cost_w < 0.6 * len(x) and cost_w < cost_plain
    # the zone map never prunes a leaf that holds a qualifying row
    for p, m in zip(preds, masks):
        ok = fl.matches_reference(attrs, p)
        comp = hqi.compatible(part.zones, m)
        assert all(comp[j] for j in np.unique(part.leaf_of[ok]))


def test_scan_counts_and_pruning_reduce_work():
    x, attrs = _data(seed=5)
    bits = SCHEMA.encode(attrs)
    preds, qpred, ent = _workload(attrs, seed=6)
    masks = [SCHEMA.compile(p) for p in preds]
    q = hqi.noisy_queries(x, ent, 0.3)
    part = hqi.workload_partition(bits, masks, None, max_leaves=16, min_leaf=20)
    _, _, s_b = hqi.batched_search(x, bits, part, q, 5, masks, qpred)
    _, _, s_o = hqi.one_at_a_time_search(x, bits, part, q, 5, masks, qpred)
    _, _, s_p = hqi.prefilter_one_at_a_time(x, bits, q, 5, masks, qpred)
    np.testing.assert_array_equal(s_b, s_o)
    np.testing.assert_array_equal(s_b, hqi.scan_cost(part, masks, qpred, len(q)))
    assert (s_p == len(x)).all() and s_b.mean() < s_p.mean()


def test_no_qualifying_rows_gives_fillers():
    x, attrs = _data(n=200, seed=7)
    attrs[:, 2] = np.minimum(attrs[:, 2], 8)                                      # value 9 never occurs
    bits = SCHEMA.encode(attrs)
    masks = [SCHEMA.compile({2: [9]}), SCHEMA.compile({3: [1]})]
    q = x[:6]
    qpred = np.array([0, 1, 0, 1, 0, 1])
    part = hqi.workload_partition(bits, masks, None, max_leaves=4, min_leaf=10)
    for fn, args in [(hqi.batched_search, (part,)), (hqi.one_at_a_time_search, (part,))]:
        D, I, _ = fn(x, bits, *args, q, 3, masks, qpred)
        assert (I[qpred == 0] == -1).all() and np.isneginf(D[qpred == 0]).all()
        assert (I[qpred == 1] >= 0).all()


def test_sample_workload_is_skewed_seeded_and_consistent():
    _, attrs = _data(n=3000, seed=8)
    p1, q1, e1 = _workload(attrs, n=2000, seed=9)
    p2, q2, e2 = _workload(attrs, n=2000, seed=9)
    assert p1 == p2 and (q1 == q2).all() and (e1 == e2).all()
    for r in range(len(p1)):                                                     # entities satisfy their predicate
        assert fl.matches_reference(attrs[e1[q1 == r]], p1[r]).all()
    counts = np.sort(np.bincount(q1))[::-1]
    assert counts[0] > 10 * np.median(counts)                                    # Zipf skew
    assert all(p.get(0, [1]) == [1] and p.get(1, [1]) == [1] for p in p1)        # domains respected


def test_bad_input():
    x, attrs = _data(n=100)
    bits = SCHEMA.encode(attrs)
    with pytest.raises(ValueError, match="uint64"):
        hqi.workload_partition(bits.astype(np.int64), [SCHEMA.compile({2: [1]})])
    with pytest.raises(ValueError, match="weights"):
        hqi.workload_partition(bits, [SCHEMA.compile({2: [1]})], [1, 2])
    with pytest.raises(ValueError, match="no predicate"):
        hqi.sample_workload(attrs, [(0,)], 5, domains={0: [7]})
    bad = x[:2].copy(); bad[0, 0] = np.nan
    part = hqi.workload_partition(bits, [SCHEMA.compile({2: [1]})])
    with pytest.raises(ValueError, match="NaN"):
        hqi.batched_search(x, bits, part, bad, 3, [SCHEMA.compile({2: [1]})])


def test_imdb_attributes_shapes():
    df = pd.DataFrame({"Action": [1, 0], "Animation": [0, 0], "Comedy": [0, 1], "Drama": [1, 1],
                       "Documentary": [0, 0], "Romance": [0, 1], "Short": [0, 0], "year": [1905, 1999],
                       "rating": [2.0, 8.7], "length": [45, 130], "votes": [100, 5000]})
    attrs, names, cards = hqi.imdb_attributes(df)
    assert attrs.shape == (2, 11) and len(names) == 11
    assert attrs[0, 7] == 0 and attrs[1, 7] == 8 and attrs[0, 8] == 0 and attrs[1, 8] == 5
    assert attrs[0, 9] == 0 and attrs[1, 9] == 3
    fl.AttributeSchema(cards).encode(attrs)                                      # within the cardinalities
