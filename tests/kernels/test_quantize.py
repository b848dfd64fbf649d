"""k-means, product quantisation (ADC) and IVF-PQ against their definitions."""

import numpy as np
import pytest
import torch

from simrepro.kernels.quantize import IVFPQIndex, ProductQuantizer, kmeans
from simrepro.kernels.topk import topk_search_reference
from simrepro.metrics import assert_knn_equal


def _blobs(n_per=60, d=12, centers=5, seed=0):
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((centers, d)) * 20
    x = np.concatenate([m + rng.standard_normal((n_per, d)) for m in mu]).astype(np.float32)
    return x, mu


def _inertia(x, c):
    return float(((x[:, None, :] - c.numpy()[None]) ** 2).sum(-1).min(1).sum())


def test_kmeans_converges_to_a_lloyd_fixed_point_and_lowers_inertia():
    x, _ = _blobs()
    c = kmeans(x, 7, n_iter=30, seed=1).numpy()
    assign = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
    means = np.stack([x[assign == j].mean(0) for j in range(7)])
    err = np.abs(means - c).max()
    print(f"max |centroid − mean of its points| = {err:.2g}")
    assert err < 1e-4                                     # each centroid is the mean of its cell
    assert _inertia(x, kmeans(x, 7, n_iter=10, seed=2)) <= _inertia(x, kmeans(x, 7, n_iter=0, seed=2))


def test_kmeans_reseeds_empty_clusters_and_checks_input():
    x = np.zeros((20, 3), np.float32)
    x[10:] = 1.0                                               # 2 distinct points, 4 clusters: some start empty
    c = kmeans(x, 4, n_iter=3)
    assert torch.isfinite(c).all()
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(x, 21)
    x[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        kmeans(x, 2)


@pytest.fixture(scope="module")
def pq_data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((700, 24)).astype(np.float32)
    q = rng.standard_normal((33, 24)).astype(np.float32)
    return x, q, ProductQuantizer.train(x, M=4, nbits=5, n_iter=8)


def test_pq_encode_picks_the_nearest_codeword(pq_data):
    x, _, pq = pq_data
    codes = pq.encode(x)
    assert codes.shape == (700, 4) and codes.dtype == torch.int64 and int(codes.max()) < 32
    for m in range(4):
        sub = x[:, 6 * m:6 * (m + 1)].astype(np.float64)
        cb = pq.codebooks[m].numpy().astype(np.float64)
        d2 = ((sub[:, None] - cb[None]) ** 2).sum(-1)
        chosen = d2[np.arange(700), codes[:, m].numpy()]
        np.testing.assert_allclose(chosen, d2.min(1), rtol=1e-5, atol=1e-5)   # nearest, up to ties


def test_adc_equals_distance_to_the_reconstruction(pq_data):
    x, q, pq = pq_data
    codes = pq.encode(x)
    adc = pq.adc(pq.distance_tables(torch.from_numpy(q)), codes).numpy()
    exact = ((q[:, None, :].astype(np.float64) - pq.decode(codes).numpy()[None]) ** 2).sum(-1)
    rel = np.abs(adc - exact).max() / exact.max()
    print(f"ADC vs ‖q − decode(code)‖²: max relative error {rel:.2g}")
    assert rel < 1e-5


def test_pq_argument_errors():
    x = np.zeros((300, 10), np.float32)
    with pytest.raises(ValueError, match="M must divide"):
        ProductQuantizer.train(x, M=3)
    with pytest.raises(ValueError, match="at least 2\\^nbits"):
        ProductQuantizer.train(x, M=2, nbits=9)


def test_ivfpq_with_all_cells_probed_is_exhaustive_adc():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((900, 16)).astype(np.float32)
    q = rng.standard_normal((25, 16)).astype(np.float32)
    index = IVFPQIndex(nlist=8, M=4, nbits=5).train(x, n_iter=5, pq_iter=5).add(x[:500]).add(x[500:])
    assert index.ntotal == 900
    D, I = index.search(q, 7, nprobe=8)
    # the same search by definition: every vector reconstructed as c(y) + PQ(y − c(y)), brute force
    assign = topk_search_reference(x, index.coarse.numpy(), 1, "l2")[1][:, 0]
    recon = index.coarse.numpy()[assign] + index.pq.decode(index.pq.encode(x - index.coarse.numpy()[assign])).numpy()
    Dr, Ir = topk_search_reference(q, recon, 7, "l2")
    assert_knn_equal(Dr, Ir, D, I, rtol=1e-5)
    D1, I1 = index.search(torch.from_numpy(q), 7, nprobe=1)
    assert isinstance(D1, torch.Tensor) and (D1[:, :-1] <= D1[:, 1:]).all()


def test_ivfpq_state_and_argument_errors():
    index = IVFPQIndex(nlist=4, M=2, nbits=4)
    with pytest.raises(RuntimeError, match="before train"):
        index.add(np.zeros((5, 4), np.float32))
    with pytest.raises(RuntimeError, match="empty index"):
        index.search(np.zeros((1, 4), np.float32), 1)
    x = np.random.default_rng(5).standard_normal((64, 4)).astype(np.float32)
    index.train(x, n_iter=2, pq_iter=2).add(x)
    with pytest.raises(ValueError, match="nprobe"):
        index.search(x[:2], 1, nprobe=5)
