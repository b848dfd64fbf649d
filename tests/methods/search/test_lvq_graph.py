"""Graph search over float32 / LVQ stores: store distances against decoded vectors, recall and bytes read."""

import numpy as np
import pytest
import torch

from simrepro.kernels import lvq
from simrepro.methods.search import ann_eval as ae
from simrepro.methods.search import lvq_graph as lg


def _data(n=1200, nq=30, d=24, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, d)) * 3
    x = (centres[rng.integers(0, 20, n)] + rng.standard_normal((n, d))).astype(np.float32)
    q = (centres[rng.integers(0, 20, nq)] + rng.standard_normal((nq, d))).astype(np.float32)
    return x, q


@pytest.mark.parametrize("enc", ["float32", "lvq8", "lvq4", "lvq4x8"])
def test_store_distances_match_decoded(enc):
    x, q = _data(n=50, nq=4)
    store = lg.store_for(x, enc)
    store.set_queries(q)
    ids = torch.randint(0, 50, (4, 7))
    rows = torch.arange(4)
    xd = torch.as_tensor(x) if enc == "float32" else store.codes.decode(levels=1)
    ref = ((xd[ids].double() - torch.as_tensor(q)[:, None].double()) ** 2).sum(-1)
    got = store(rows, ids).double()
    print(enc, float((got - ref).abs().max() / ref.abs().max()))
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4 * float(ref.abs().max()))
    if enc == "lvq4x8":
        ref2 = ((store.codes.decode(2)[ids].double() - torch.as_tensor(q)[:, None].double()) ** 2).sum(-1)
        assert torch.allclose(store.rerank(rows, ids).double(), ref2, rtol=1e-4, atol=1e-4 * float(ref2.abs().max()))


def test_hnsw_base_graph_and_medoid():
    x, _ = _data(n=500)
    g = lg.hnsw_base_graph(x, M=8, ef_construction=40)
    assert g.shape == (500, 16) and g.min() >= -1 and g.max() < 500
    assert ((g >= 0).sum(1) >= 1).all()
    assert not (g == np.arange(500)[:, None]).any()                      # no self loops
    m = lg.medoid(x)
    assert m == int(np.argmin(((x - x.mean(0)) ** 2).sum(1)))


def test_sweep_recall_and_bytes():
    x, q = _data()
    gt = ae.exact_ground_truth(x, q, 10)
    g = lg.hnsw_base_graph(x, M=8, ef_construction=60)
    rows = lg.sweep(["float32", "lvq8", "lvq4x8"], x, q, gt, g, lg.medoid(x), beams=[10, 80], k=10)
    by = {(r["encoding"], r["beam"]): r for r in rows}
    for r in rows:
        print(r["encoding"], r["beam"], round(r["recall"], 3), r["bytes_read"])
    assert by["float32", 80]["recall"] >= 0.95                            # a wide beam on a good graph
    assert by["lvq8", 80]["recall"] >= by["float32", 80]["recall"] - 0.05
    assert by["float32", 10]["recall"] <= by["float32", 80]["recall"]
    f32, l8 = by["float32", 80], by["lvq8", 80]
    assert f32["bytes_read"] / l8["bytes_read"] == pytest.approx(4 * 24 / (24 + 4), rel=0.15)   # ≈ same n_dist
    assert l8["vector_bytes"] == 1200 * lvq.lvq_bytes_per_vector(24, 8)
    assert by["lvq4x8", 80]["bytes_read"] > 0 and len(by["lvq4x8", 80]["recall_per_query"]) == 30


def test_graph_method_in_harness():
    x, q = _data(n=400, nq=10)
    gt = ae.exact_ground_truth(x, q, 5)
    g = lg.hnsw_base_graph(x, M=8, ef_construction=40)
    rows = ae.evaluate(lg.graph_method("lvq8", g, lg.medoid(x), beams=[20]), x, q, gt, repeats=1)
    assert len(rows) == 1 and rows[0]["recall"] > 0.5 and rows[0]["index_bytes"] == 400 * (24 + 4) + g.size * 4


def test_unknown_encoding():
    with pytest.raises(ValueError, match="unknown encoding"):
        lg.store_for(np.zeros((3, 2), np.float32), "pq8")


def test_seed_splits_and_bytes_at_target():
    parts = lg.seed_splits(11, 3, seed=1)
    assert sorted(np.concatenate(parts).tolist()) == list(range(11)) and [len(p) for p in parts] == [4, 4, 3]
    with pytest.raises(ValueError, match="n_seeds"):
        lg.seed_splits(2, 3)
    rows = [{"encoding": "e", "beam": b, "recall_per_query": np.array(r), "bytes_per_query": np.array(c)}
            for b, r, c in [(20, [1.0, 0.9], [20.0, 30.0]), (10, [0.5, 0.9], [10.0, 12.0])]]
    assert lg.bytes_at_target(rows, "e", np.array([1]), 0.9) == 12.0          # smallest beam reaching it
    assert lg.bytes_at_target(rows, "e", np.array([0, 1]), 0.9) == 25.0
    assert np.isnan(lg.bytes_at_target(rows, "e", np.array([0, 1]), 0.99))
