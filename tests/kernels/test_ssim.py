"""SSIM kernel against the plain per-window reference and scikit-image (float64: 1e-12 relative round-off budget;
float32 input is computed in float32: 1e-6, the issue's budget, ~10× the error measured on 256² images)."""

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from simrepro.kernels.ssim import ssim, ssim_maps, ssim_reference


def _pair(shape, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random(shape)
    return a, np.clip(a + rng.normal(0, 0.1, shape), 0, 1)


@pytest.mark.parametrize("shape", [(11, 11), (23, 31), (40, 17)])
@pytest.mark.parametrize("window,sample_cov", [("gaussian", False), ("uniform", True), ("uniform", False)])
def test_matches_reference_irregular_shapes(shape, window, sample_cov):
    a, b = _pair(shape)
    got = float(ssim(a, b, window=window, sample_covariance=sample_cov))
    want = ssim_reference(a, b, window=window, sample_covariance=sample_cov)
    print(shape, window, got, want, abs(got - want))
    assert got == pytest.approx(want, rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("shape", [(23, 31), (64, 50)])
def test_matches_skimage(shape):
    a, b = _pair(shape, seed=1)
    gauss = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
    default = structural_similarity(a, b, data_range=1.0)       # uniform 7×7, sample covariance
    assert float(ssim(a, b)) == pytest.approx(gauss, abs=1e-12)
    assert float(ssim(a, b, window="uniform", sample_covariance=True)) == pytest.approx(default, abs=1e-12)


def test_colour_batch_matches_skimage_channel_axis():
    rng = np.random.default_rng(2)
    a = rng.random((2, 3, 20, 26))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    got = ssim(torch.from_numpy(a), torch.from_numpy(b))
    assert got.shape == (2,)
    for n in range(2):
        want = structural_similarity(np.moveaxis(a[n], 0, -1), np.moveaxis(b[n], 0, -1), channel_axis=-1,
                                     gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)
        assert float(got[n]) == pytest.approx(want, abs=1e-12)


def test_components_multiply_to_ssim_and_identity():
    a, b = _pair((30, 30), seed=3)
    m = ssim_maps(a, b)
    torch.testing.assert_close(m["l"] * m["c"] * m["s"], m["ssim"], rtol=1e-10, atol=1e-12)
    assert float(ssim(a, b)) == pytest.approx(float(m["ssim"].mean()), abs=1e-15)
    assert float(ssim(a, a)) == pytest.approx(1.0, abs=1e-12)
    assert float(ssim(a, 1 - a)) < 0                       # anti-correlated structure


def test_uint8_scale_and_float32():
    a, b = _pair((25, 25), seed=4)
    a8, b8 = (a * 255).round().astype(np.uint8), (b * 255).round().astype(np.uint8)
    want = structural_similarity(a8, b8, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert float(ssim(a8, b8, data_range=255)) == pytest.approx(want, abs=1e-12)
    a32, b32 = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    want32 = ssim_reference(a.astype(np.float32), b.astype(np.float32))
    assert ssim(a32, b32).dtype == torch.float32
    assert float(ssim(a32, b32)) == pytest.approx(want32, abs=1e-6)
    assert float(ssim(a32, b32, compute_dtype=torch.float64)) == pytest.approx(want32, abs=1e-12)
    with pytest.raises(ValueError, match="compute_dtype"):
        ssim(a32, b32, compute_dtype=torch.float16)


@pytest.mark.parametrize("offset", [0.0, 0.9, 200.0])
def test_float32_bright_images_match_float64(offset):
    """Centring makes float32 usable where E[x²] − μ² would cancel: bright, low-contrast images."""
    rng = np.random.default_rng(6)
    a = offset + 0.05 * rng.random((3, 1, 48, 40))
    b = a + 0.01 * rng.standard_normal(a.shape)
    rng_scale = offset + 1.0
    want = ssim(a, b, data_range=rng_scale).numpy()
    got = ssim(torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32), data_range=rng_scale)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-6)


def test_chunked_batch_equals_one_by_one(monkeypatch):
    """Batches are processed in cache-sized chunks: chunk borders must not change any image's value."""
    import simrepro.kernels.ssim as ssim_module

    rng = np.random.default_rng(7)
    a = rng.random((7, 2, 30, 37))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    one_by_one = np.array([float(ssim(torch.from_numpy(a[i]), torch.from_numpy(b[i]))) for i in range(7)])
    monkeypatch.setattr(ssim_module, "CHUNK_BYTES", 1)                 # one image per chunk
    np.testing.assert_allclose(ssim(torch.from_numpy(a), torch.from_numpy(b)).numpy(), one_by_one, rtol=0, atol=1e-14)
    monkeypatch.setattr(ssim_module, "CHUNK_BYTES", 3 * 4 * 40 * 48 * 8)   # chunks of 3, 3, 3, 3, 2 images
    maps = ssim_maps(torch.from_numpy(a), torch.from_numpy(b))
    assert maps["ssim"].shape == (7, 2, 20, 27)
    np.testing.assert_allclose(maps["ssim"].mean(dim=(1, 2, 3)).numpy(), one_by_one, rtol=0, atol=1e-14)


def test_gradient_flows():
    a, b = _pair((16, 16), seed=5)
    x = torch.tensor(b, requires_grad=True)
    ssim(torch.tensor(a), x).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    small = torch.tensor(b[:13, :12], requires_grad=True)           # the tiled GEMM path's gradient, numerically
    assert torch.autograd.gradcheck(lambda z: ssim(torch.tensor(a[:13, :12]), z), (small,))


def test_flat_images_need_constants():
    black = np.zeros((15, 15))
    assert float(ssim(black, black)) == pytest.approx(1.0)
    assert torch.isnan(ssim_maps(black, black, k1=0.0, k2=0.0)["ssim"]).all()     # 0/0 without C1, C2


def test_bad_input_errors():
    a = np.zeros((20, 20))
    with pytest.raises(ValueError, match="NaN"):
        ssim(a, np.full((20, 20), np.nan))
    with pytest.raises(ValueError, match="NaN or inf"):                  # one bad pixel in one image of a batch
        bad = np.random.default_rng(0).random((3, 1, 20, 20))
        bad[1, 0, 4, 7] = np.inf
        ssim(bad, bad.copy())
    with pytest.raises(ValueError, match="NaN or inf"):
        ssim_maps(a, np.where(np.eye(20) > 0, np.nan, 0.0))
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(a, np.zeros((20, 21)))
    with pytest.raises(ValueError, match="smaller than"):
        ssim(np.zeros((5, 5)), np.zeros((5, 5)))
    with pytest.raises(ValueError, match="unknown window"):
        ssim(a, a, window="box")
    with pytest.raises(ValueError, match="data_range"):
        ssim(a, a, data_range=0)
    with pytest.raises(ValueError, match="odd"):
        ssim(a, a, window="uniform", win_size=6)
    with pytest.raises(ValueError, match="expected"):
        ssim(np.zeros(20), np.zeros(20))
