"""Attribute-filtered IVF search (simrepro.methods.search.filtered) against its definition and faiss."""

import numpy as np
import pytest

from simrepro.methods.search import filtered as fl


def _data(n=1237, d=13, nq=41, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    q = rng.standard_normal((nq, d)).astype(np.float32)
    attrs = np.stack([rng.integers(0, 5, n), rng.integers(0, 3, n), rng.integers(0, 7, n)], 1)
    return x, q, attrs


SCHEMA = fl.AttributeSchema([5, 3, 7])
PRED = {0: [1, 3], 2: [0, 2, 6]}


def _index(x, attrs, nlist=17, metric="l2"):
    return fl.FilteredIVF(nlist, metric).train(x, n_iter=5, seed=1).add(x, SCHEMA.encode(attrs))


def test_bits_match_integer_definition():
    _, _, attrs = _data()
    bits = SCHEMA.encode(attrs)
    for pred in [PRED, {1: [2]}, {0: [0, 1, 2, 3, 4]}, {}]:
        np.testing.assert_array_equal(fl.matches(bits, SCHEMA.compile(pred)), fl.matches_reference(attrs, pred))


def test_schema_errors():
    with pytest.raises(ValueError, match="64"):
        fl.AttributeSchema([40, 30])
    with pytest.raises(ValueError, match="outside"):
        SCHEMA.encode(np.array([[5, 0, 0]]))
    with pytest.raises(ValueError, match="allows no value"):
        SCHEMA.compile({0: []})
    with pytest.raises(ValueError, match="attribute 4"):
        SCHEMA.compile({4: [0]})
    with pytest.raises(TypeError, match="integer"):
        SCHEMA.encode(np.zeros((2, 3)))


@pytest.mark.parametrize("nprobe", [1, 3, 17])
@pytest.mark.parametrize("metric", ["l2", "dot"])
def test_hybrid_equals_reference(nprobe, metric):
    x, q, attrs = _data()
    index = _index(x, attrs, metric=metric)
    D, I, stats = index.search(q, 10, nprobe, SCHEMA.compile(PRED))
    Dr, Ir = fl.hybrid_search_reference(x, attrs, index.centroids, q, 10, nprobe, PRED, metric)
    # same ids up to ties: the distances agree position by position (float32 vs float64, tolerance 1e-4 relative)
    finite = np.isfinite(Dr)
    assert (np.isfinite(D) == finite).all() and ((I >= 0) == (Ir >= 0)).all()
    np.testing.assert_allclose(D[finite], Dr[finite], rtol=1e-4, atol=1e-4)
    assert (I == Ir).mean() > 0.99
    assert (stats.vectors_read <= stats.rows_tested).all()


def test_hybrid_exact_at_full_probe_and_prefilter_exact():
    x, q, attrs = _data(seed=3)
    index = _index(x, attrs)
    masks = SCHEMA.compile(PRED)
    allowed = [fl.matches_reference(attrs, PRED)]
    gt = fl.filtered_ground_truth(x, allowed, q, None, 10)
    _, I, _ = index.search(q, 10, index.nlist, masks)
    assert fl.filtered_recall(gt, x, q, I, allowed, None) == 1.0
    _, Ip, vr = fl.prefilter_search(x, SCHEMA.encode(attrs), q, 10, masks)
    assert fl.filtered_recall(gt, x, q, Ip, allowed, None) == 1.0
    assert (vr == allowed[0].sum()).all()
    # one cell: recall < 1 on random data (the test can fail if filtering were exhaustive by mistake)
    _, I1, _ = index.search(q, 10, 1, masks)
    assert fl.filtered_recall(gt, x, q, I1, allowed, None) < 1.0


def test_recall_counts_rows_outside_predicate_as_misses():
    x, q, attrs = _data(seed=4)
    allowed = [fl.matches_reference(attrs, PRED)]
    gt = fl.filtered_ground_truth(x, allowed, q, None, 10)
    from simrepro.methods.search import ann_eval as ae
    unfiltered = ae.exact_ground_truth(x, q, 10).I                               # closer but mostly not allowed
    r = fl.filtered_recall_per_query(gt, x, q, unfiltered, allowed, None)
    frac_allowed = allowed[0][unfiltered].mean(1)
    assert (r <= frac_allowed + 1e-12).all() and r.mean() < 0.5


def test_postfilter_returns_only_allowed_and_improves_with_k_post():
    x, q, attrs = _data(seed=5)
    index = _index(x, attrs)
    masks = SCHEMA.compile(PRED)
    allowed = [fl.matches_reference(attrs, PRED)]
    gt = fl.filtered_ground_truth(x, allowed, q, None, 10)
    recalls = []
    for kp in (10, 40, 400):
        D, I, _ = index.search(q, 10, 17, masks, strategy="post", k_post=kp)
        assert allowed[0][I[I >= 0]].all()
        assert np.isinf(D[I < 0]).all()
        recalls.append(fl.filtered_recall(gt, x, q, I, allowed, None))
    assert recalls[0] < recalls[1] <= recalls[2] == 1.0


def test_per_query_predicates_and_ground_truth_groups():
    x, q, attrs = _data(seed=6)
    index = _index(x, attrs)
    preds = [PRED, {1: [0]}, {}]
    qpred = np.arange(len(q)) % 3
    allowed = [fl.matches_reference(attrs, p) for p in preds]
    gt = fl.filtered_ground_truth(x, allowed, q, qpred, 5)
    _, I, _ = index.search(q, 5, index.nlist, [SCHEMA.compile(p) for p in preds], qpred)
    assert fl.filtered_recall(gt, x, q, I, allowed, qpred) == 1.0
    for p in range(3):
        assert allowed[p][I[qpred == p]].all()


def test_memmap_roundtrip_identical(tmp_path):
    x, q, attrs = _data(seed=7)
    index = _index(x, attrs)
    masks = SCHEMA.compile(PRED)
    D, I, _ = index.search(q, 10, 4, masks)
    disk = fl.FilteredIVF.load(index.save(tmp_path / "ivf"), mmap=True)
    assert isinstance(disk.vectors, np.memmap)
    D2, I2, _ = disk.search(q, 10, 4, masks)
    np.testing.assert_array_equal(I, I2)
    np.testing.assert_array_equal(D, D2)


def test_faiss_idselector_parity_on_same_centroids():
    x, q, attrs = _data(seed=8)
    index = _index(x, attrs)
    allowed = [fl.matches_reference(attrs, PRED)]
    fi = fl.faiss_ivf_flat(x, index.nlist, centroids=index.centroids)
    for nprobe in (1, 4):
        Df, If = fl.faiss_filtered_search(fi, q, 10, nprobe, allowed)
        D, I, _ = index.search(q, 10, nprobe, SCHEMA.compile(PRED))
        np.testing.assert_allclose(D, Df, rtol=1e-4, atol=1e-3)
        assert (I == If).mean() > 0.99


def test_empty_lists_too_few_allowed_and_bad_input():
    x, q, attrs = _data(n=60, seed=9)
    index = _index(x, attrs, nlist=50)                                          # many tiny / empty cells
    only = {0: [1], 1: [2], 2: [3]}
    D, I, _ = index.search(q, 10, 50, SCHEMA.compile(only))
    n_ok = fl.matches_reference(attrs, only).sum()
    assert ((I >= 0).sum(1) == min(10, n_ok)).all()
    with pytest.raises(ValueError, match="allows"):
        fl.filtered_ground_truth(x, [fl.matches_reference(attrs, only)], q, None, n_ok + 1)
    bad = q.copy(); bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        index.search(bad, 5, 2)
    with pytest.raises(ValueError, match="nprobe"):
        index.search(q, 5, 0)
    with pytest.raises(ValueError, match="k_post"):
        index.search(q, 5, 2, strategy="post", k_post=3)
    with pytest.raises(RuntimeError, match="train"):
        fl.FilteredIVF(4).search(q, 5, 1)
    with pytest.raises(ValueError, match="bits"):
        fl.FilteredIVF(4).train(x, n_iter=2).add(x, np.zeros(len(x), dtype=np.int64))
    with pytest.raises(ValueError, match="qpred"):
        index.search(q, 5, 2, [SCHEMA.compile(only)], np.full(len(q), 3))


def test_zero_vectors_and_ties():
    x = np.zeros((40, 4), dtype=np.float32); x[20:] = 1.0                       # two groups of identical rows
    attrs = np.zeros((40, 3), dtype=np.int64); attrs[::2, 0] = 1
    index = fl.FilteredIVF(2).train(x, n_iter=3).add(x, SCHEMA.encode(attrs))
    q = np.zeros((3, 4), dtype=np.float32)
    allowed = [fl.matches_reference(attrs, {0: [1]})]
    gt = fl.filtered_ground_truth(x, allowed, q, None, 5)
    _, I, _ = index.search(q, 5, 2, SCHEMA.compile({0: [1]}))
    assert fl.filtered_recall(gt, x, q, I, allowed, None) == 1.0
    assert (I < 20).all() and (I % 2 == 0).all()


def test_faiss_postfilter_only_allowed_and_exact_with_all_candidates():
    x, q, attrs = _data(seed=10)
    allowed = [fl.matches_reference(attrs, PRED)]
    gt = fl.filtered_ground_truth(x, allowed, q, None, 10)
    fi = fl.faiss_ivf_flat(x, 8)
    D, I = fl.faiss_postfilter_search(fi, q, 10, 8, len(x), allowed)
    assert fl.filtered_recall(gt, x, q, I, allowed, None) == 1.0
    D, I = fl.faiss_postfilter_search(fi, q, 10, 2, 20, allowed)
    assert allowed[0][I[I >= 0]].all() and fl.filtered_recall(gt, x, q, I, allowed, None) < 1.0


def test_sweep_rows_and_qps_at_target():
    x, q, attrs = _data(seed=11)
    index = _index(x, attrs)
    bits = SCHEMA.encode(attrs)
    masks, allowed = [SCHEMA.compile(PRED)], [fl.matches_reference(attrs, PRED)]
    gt = fl.filtered_ground_truth(x, allowed, q, None, 10)
    fi = fl.faiss_ivf_flat(x, index.nlist, centroids=index.centroids)
    rows = fl.sweep(index, x, bits, q, gt, masks, allowed, None, 10, [1, 17], selectivity=allowed[0].mean(),
                    faiss_index=fi, label="t")
    methods = [r["method"] for r in rows]
    assert methods.count("ours-hybrid") == 2 and methods.count("faiss-IDSelector") == 2 and methods[-1] == "pre-filter"
    full = {r["method"]: r["recall"] for r in rows if r["nprobe"] in (17, None)}
    assert full["ours-hybrid"] == full["faiss-IDSelector"] == full["pre-filter"] == 1.0
    one = [r for r in rows if r["nprobe"] == 1 and r["method"] == "ours-hybrid"][0]
    assert one["recall"] < 1.0 and one["vectors_read"] < x.shape[0] and one["qps"] > 0
    assert fl.qps_at_target(rows, "ours-hybrid", 1.0) > 0
    assert fl.qps_at_target(rows, "ours-hybrid", 1.01) == 0.0                    # unreachable → 0, not NaN
