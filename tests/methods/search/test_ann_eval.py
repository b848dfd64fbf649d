"""ANN evaluation harness: tie-aware ground truth and recall, sweeps, Pareto fronts, peer adapters."""

import matplotlib
import numpy as np
import pytest
import torch

from simrepro.kernels.topk import topk_search_reference
from simrepro.methods.search import ann_eval as ae
from simrepro.metrics.knn import knn_recall

matplotlib.use("Agg")


def _data(nb=257, nq=31, d=13, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((nb, d)).astype(np.float32), rng.standard_normal((nq, d)).astype(np.float32)


@pytest.mark.parametrize("metric", ["l2", "dot", "cosine"])
def test_ground_truth_equals_reference(metric):
    y, q = _data()
    gt = ae.exact_ground_truth(y, q, 7, metric)
    D_ref, I_ref = topk_search_reference(q, y, 7, metric)
    print("max |D - D_ref|", np.abs(gt.D - D_ref).max())
    assert np.abs(gt.D - D_ref).max() <= 1e-9 * max(1.0, np.abs(D_ref).max())     # both float64 of float32 inputs
    assert ae.recall_at_k(gt, y, q, I_ref) == 1.0


def test_recall_counts_tied_ids_as_hits():
    y, q = _data(nb=40, nq=5, d=4)
    y = np.concatenate([y, y])                       # every vector twice: id j and j + 40 tie exactly
    gt = ae.exact_ground_truth(y, q, 3, "l2")       # odd k: the 3rd neighbour's twin is left out of gt.I
    twins = gt.I.copy()
    twins[:, 2] = np.where(gt.I[:, 2] < 40, gt.I[:, 2] + 40, gt.I[:, 2] - 40)
    assert ae.recall_at_k(gt, y, q, twins) == 1.0
    assert knn_recall(gt.I, twins) < 1.0              # an id-set recall would punish the equally good twins


def test_recall_known_fraction_duplicates_and_fillers():
    y, q = _data(nb=100, nq=6, d=5)
    gt = ae.exact_ground_truth(y, q, 4, "l2")
    far = np.argsort(  # the two farthest ids of each query
        -ae.pair_distances(y, q, np.tile(np.arange(100), (6, 1)), "l2"), axis=1)[:, :2]
    half = np.concatenate([gt.I[:, :2], far], axis=1)
    assert ae.recall_at_k(gt, y, q, half) == pytest.approx(0.5)
    same = np.repeat(gt.I[:, :1], 4, axis=1)                         # one right id four times counts once
    assert ae.recall_at_k(gt, y, q, same) == pytest.approx(0.25)
    filler = np.concatenate([gt.I[:, :3], -np.ones((6, 1), dtype=np.int64)], axis=1)
    assert ae.recall_at_k(gt, y, q, filler) == pytest.approx(0.75)
    assert ae.recall_at_k(gt, y, q, gt.I, k=2) == 1.0


def test_recall_tolerance_is_tight():
    """A neighbour just beyond the k-th distance is a miss: the tie tolerance is relative 1e-6, not loose."""
    y = np.array([[0.0], [1.0], [1.001], [5.0]], dtype=np.float32)
    q = np.zeros((1, 1), dtype=np.float32)
    gt = ae.exact_ground_truth(y, q, 2, "l2")
    assert ae.recall_at_k(gt, y, q, np.array([[0, 2]])) == 0.5
    assert ae.recall_at_k(gt, y, q, np.array([[0, 1]])) == 1.0


def test_bad_input_errors():
    y, q = _data(nb=10, nq=3, d=4)
    bad = q.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ae.exact_ground_truth(y, bad, 3)
    with pytest.raises(ValueError, match="k must be"):
        ae.exact_ground_truth(y, q, 11)
    with pytest.raises(ValueError, match="unknown metric"):
        ae.exact_ground_truth(y, q, 3, "hamming")
    gt = ae.exact_ground_truth(y, q, 3)
    with pytest.raises(ValueError, match="ids must be"):
        ae.recall_at_k(gt, y, q, gt.I[:2])
    with pytest.raises(TypeError, match="integers"):
        ae.recall_at_k(gt, y, q, gt.I.astype(float))
    with pytest.raises(ValueError, match="database has"):
        ae.recall_at_k(gt, y, q, gt.I + 10)


def test_cosine_zero_query():
    y, q = _data(nb=20, nq=3, d=4)
    q[0] = 0
    gt = ae.exact_ground_truth(y, q, 5, "cosine")
    assert np.all(gt.D[0] == 0)                     # every cosine with a zero row is 0: all tie
    assert ae.recall_at_k(gt, y, q, np.tile(np.arange(15, 20), (3, 1))[:, :5]) >= 1 / 3


def test_pareto_front_and_qps_at_recall():
    rows = [{"method": "a", "recall": r, "qps": s} for r, s in
            [(0.5, 100), (0.6, 90), (0.55, 80), (0.9, 10), (0.9, 20), (0.95, 5), (0.4, 50)]]
    front = ae.pareto_front(rows)
    assert [(r["recall"], r["qps"]) for r in front] == [(0.5, 100), (0.6, 90), (0.9, 20), (0.95, 5)]
    assert ae.qps_at_recall(rows, 0.9) == 20
    assert np.isnan(ae.qps_at_recall(rows, 0.99))
    assert ae.pareto_front([]) == []
    assert list(ae.fronts(rows + [{"method": "b", "recall": 1.0, "qps": 1}])) == ["a", "b"]


def test_grid():
    assert ae.grid(M=[8, 16], ef=[10]) == [{"M": 8, "ef": 10}, {"M": 16, "ef": 10}]
    assert ae.grid() == [{}]


def _check_rows(rows, n_points):
    assert len(rows) == n_points
    for r in rows:
        assert 0.0 <= r["recall"] <= 1.0 and r["qps"] > 0 and r["index_bytes"] > 0 and r["build_s"] >= 0


@pytest.mark.parametrize("metric", ["l2", "dot", "cosine"])
def test_peers_recall(metric):
    y, q = _data(nb=1500, nq=40, d=16, seed=1)
    gt = ae.exact_ground_truth(y, q, 10, metric)
    threads = torch.get_num_threads()
    flat = ae.evaluate(ae.faiss_flat(metric), y, q, gt, repeats=1)
    assert flat[0]["recall"] == 1.0
    methods = [ae.faiss_ivf_flat(metric, nlist=[16], nprobe=[1, 16]),
               ae.faiss_hnsw(metric, M=[16], ef_search=[10, 200]),
               ae.faiss_hnsw_sq(metric, M=[16], ef_search=[10, 200]),
               ae.hnswlib_hnsw(metric, M=[16], ef=[10, 200]),
               ae.usearch_hnsw(metric, connectivity=[16], expansion_search=[10, 200])]
    for m in methods:
        rows = ae.evaluate(m, y, q, gt, repeats=1)
        _check_rows(rows, 2)
        print(m.name, [round(r["recall"], 3) for r in rows])
        assert rows[-1]["recall"] >= 0.95, m.name              # exhaustive-ish setting
        assert rows[0]["recall"] <= rows[-1]["recall"] + 1e-12, m.name
    assert torch.get_num_threads() == threads


def test_ivfpq_is_lossy_but_sane():
    y, q = _data(nb=2000, nq=40, d=16, seed=2)
    gt = ae.exact_ground_truth(y, q, 10)
    rows = ae.evaluate(ae.faiss_ivf_pq(nlist=[8], M=[4], nbits=[6], nprobe=[8]), y, q, gt, repeats=1)
    _check_rows(rows, 1)
    assert 0.1 < rows[0]["recall"] < 1.0                        # 4 bytes per 16-d vector cannot be exact
    flat_bytes = ae.evaluate(ae.faiss_flat(), y, q, gt, repeats=1)[0]["index_bytes"]
    assert rows[0]["index_bytes"] < flat_bytes


def test_evaluate_checks_result_shape():
    y, q = _data(nb=30, nq=4, d=3)
    gt = ae.exact_ground_truth(y, q, 3)
    m = ae.AnnMethod("broken", lambda y: None, lambda index, q, k: np.zeros((len(q), k - 1), dtype=int), lambda i: 1)
    with pytest.raises(ValueError, match="shape"):
        ae.evaluate(m, y, q, gt)


def test_plot_fronts():
    import matplotlib.pyplot as plt
    rows = [{"method": "a", "recall": 0.5, "qps": 100.0, "k": 10}, {"method": "a", "recall": 0.9, "qps": 10.0, "k": 10}]
    fig, ax = plt.subplots()
    ae.plot_fronts(ax, rows, title="t")
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "recall@10"
    plt.close(fig)
