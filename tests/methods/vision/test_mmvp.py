"""MMVP-lite: motion matrices against the pairwise-cosine reference, composition weights against the official
two-step softmax, invariances, the clip generator and the metrics (tolerances: float32 round-off, stated below)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import structural_similarity

from simrepro.methods.vision import mmvp


def _digits(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 28, 28)) * 255).astype(np.uint8)


@pytest.mark.parametrize("shape", [(2, 3, 5, 3, 7), (1, 2, 1, 1, 1), (3, 4, 9, 4, 4)])
def test_motion_matrix_matches_reference(shape):
    feats = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    got = mmvp.motion_matrix(feats).numpy()
    ref = mmvp.motion_matrix_reference(feats)
    b, t, c, h, w = shape
    assert got.shape == ref.shape == (b, t - 1, h * w, h * w)
    err = np.abs(got - ref).max()
    print("max |Δ| vs float64 reference:", err)
    assert err <= 1e-6 * max(1, c)                   # float32 dot of unit vectors: ~c·2⁻²⁴


def test_motion_matrix_zero_rows_and_scale_invariance():
    feats = torch.rand(2, 3, 4, 2, 3)
    feats[0, 1, :, 1, 2] = 0.0                        # a zero patch in frame 1
    s = mmvp.motion_matrix(feats)
    n = 1 * 3 + 2
    assert torch.all(s[0, 0, :, n] == 0) and torch.all(s[0, 1, n, :] == 0)
    scale = torch.tensor([0.5, 3.0, 7.0]).reshape(1, 3, 1, 1, 1)
    err = (mmvp.motion_matrix(feats * scale) - s).abs().max()
    print("scale change:", float(err))
    assert err <= 1e-6


def test_motion_matrix_bad_input():
    with pytest.raises(ValueError, match="at least 2 frames"):
        mmvp.motion_matrix(torch.rand(1, 1, 2, 3, 3))
    with pytest.raises(ValueError, match="NaN"):
        mmvp.motion_matrix(torch.full((1, 2, 2, 2, 2), float("nan")))
    with pytest.raises(ValueError, match=r"\(B, T, c, h, w\)"):
        mmvp.motion_matrix(torch.rand(2, 3, 4))


def test_compose_weights_rows_sum_to_one_and_equal_official_form():
    logits = torch.randn(3, 2, 10, 10, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 4
    w = mmvp.compose_weights(logits)
    assert torch.allclose(w.sum(-1), torch.ones(3, 2, 10, dtype=torch.float64), atol=1e-12)
    off = mmvp.official_compose_weights(logits)
    err = (w - off).abs().max()
    print("ours vs official two-step softmax:", float(err))
    assert err <= 1e-12
    ties = mmvp.compose_weights(torch.zeros(1, 4, 4))   # all-equal logits: uniform weights
    assert torch.allclose(ties, torch.full((1, 4, 4), 0.25))
    with pytest.raises(ValueError, match="NaN"):
        mmvp.compose_weights(torch.tensor([[float("nan")]]))


def test_compose_with_permutation_moves_patches():
    feats = torch.randn(2, 3, 2, 4)                    # (B, c, h, w), N = 8
    perm = torch.tensor([3, 0, 7, 1, 2, 6, 5, 4])
    wts = torch.zeros(2, 8, 8)
    wts[:, torch.arange(8), perm] = 1.0                 # target j takes source perm[j]
    out = mmvp.compose(feats, wts)
    assert torch.equal(out.reshape(2, 3, 8), feats.reshape(2, 3, 8)[:, :, perm])


def test_model_motion_matrix_brightness_invariant_and_shapes():
    torch.manual_seed(0)
    model = mmvp.MMVPLite(n_prev=4, ch=8, motion_ch=4).eval()
    clips = torch.from_numpy(mmvp.moving_mnist(_digits(), 3, n_frames=5, canvas=16, digit_size=8, seed=1))
    with torch.no_grad():
        out, aux = model(clips[:, :4], return_aux=True)
        _, aux_dim = model(0.4 * clips[:, :4], return_aux=True)
    assert out.shape == (3, 16, 16) and aux["motion"].shape == (3, 3, 16, 16) and aux["weights"].shape == (3, 16, 16)
    err = (aux["motion"] - aux_dim["motion"]).abs().max()
    print("brightness ×0.4, max |ΔS|:", float(err))
    assert err <= 1e-5
    assert torch.allclose(aux["weights"].sum(-1), torch.ones(3, 16), atol=1e-5)
    with pytest.raises(ValueError, match="divisible by 4"):
        model(torch.rand(1, 4, 10, 10))
    with pytest.raises(ValueError, match=r"\(B, 4"):
        model(torch.rand(1, 3, 16, 16))
    with pytest.raises(ValueError, match="at least 2"):
        mmvp.MMVPLite(n_prev=1)


def test_simvp_and_rollout_shapes():
    torch.manual_seed(0)
    model = mmvp.SimVPLite(n_prev=4, ch=8, hidden=6)
    out = mmvp.rollout(model, torch.rand(2, 4, 12, 20), 3)
    assert out.shape == (2, 3, 12, 20)
    assert mmvp.n_params(model) == sum(p.numel() for p in model.parameters()) > 0


def test_moving_mnist_single_digit_translates_without_loss():
    clips = mmvp.moving_mnist(_digits(), 20, n_frames=8, canvas=24, digit_size=10, max_digits=1, seed=3)
    assert clips.shape == (20, 8, 24, 24) and clips.dtype == np.float32
    assert clips.min() >= 0 and clips.max() <= 1
    mass = clips.sum(axis=(2, 3))
    assert np.allclose(mass, mass[:, :1], rtol=1e-5)   # one digit always fully inside the canvas
    again = mmvp.moving_mnist(_digits(), 20, n_frames=8, canvas=24, digit_size=10, max_digits=1, seed=3)
    assert np.array_equal(clips, again)
    assert not np.array_equal(clips, mmvp.moving_mnist(_digits(), 20, n_frames=8, canvas=24, digit_size=10,
                                                       max_digits=1, seed=4))
    assert not np.array_equal(clips[:, 0], clips[:, 1])   # velocity is never (0, 0)


def test_moving_mnist_texture_and_errors():
    tex = mmvp.smooth_texture(5, 2, 10, low=0.3, seed=0)
    assert tex.shape == (5, 2, 10, 10) and tex.min() >= 0.3 - 1e-6 and tex.max() <= 1 + 1e-6
    plain = mmvp.moving_mnist(_digits(), 5, canvas=24, digit_size=10, seed=7)
    textured = mmvp.moving_mnist(_digits(), 5, canvas=24, digit_size=10, seed=7, texture=tex)
    assert np.all(textured <= plain + 1e-6) and np.array_equal(textured > 0, plain > 0)
    assert mmvp.moving_mnist(_digits(), 0).shape == (0, 6, 32, 32)
    with pytest.raises(ValueError, match="non-empty"):
        mmvp.moving_mnist(np.zeros((0, 28, 28), np.uint8), 3)
    with pytest.raises(ValueError, match="digit_size"):
        mmvp.moving_mnist(_digits(), 3, canvas=8, digit_size=16)


def test_psnr_known_value_and_ssim_matches_skimage():
    target = np.full((2, 16, 16), 0.1)
    assert np.allclose(mmvp.psnr(np.zeros_like(target), target), 20.0)       # MSE 0.01 → 20 dB
    rng = np.random.default_rng(0)
    a, b = rng.random((3, 20, 17)), rng.random((3, 20, 17))
    ours = mmvp.ssim(a, b)
    ref = [structural_similarity(a[i], b[i], data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False) for i in range(3)]
    print("SSIM vs skimage:", np.abs(ours - ref).max())
    assert np.allclose(ours, ref, atol=1e-8)
    with pytest.raises(ValueError, match="shapes differ"):
        mmvp.psnr(a, b[:, :5])
    with pytest.raises(ValueError, match="shapes differ"):
        mmvp.ssim(a, b[:, :5])


def test_train_is_deterministic_and_learns():
    clips = mmvp.moving_mnist(_digits(), 24, n_frames=5, canvas=16, digit_size=8, seed=5)

    def fit():
        torch.manual_seed(0)
        return mmvp.train(mmvp.MMVPLite(ch=8, motion_ch=4), clips, clips[:4], epochs=3, batch_size=8, seed=0)

    r1, r2 = fit(), fit()
    assert r1.epoch_loss == r2.epoch_loss
    assert r1.epoch_loss[-1] < r1.epoch_loss[0]
    assert r1.pred.shape == (4, 1, 16, 16)
    with pytest.raises(ValueError, match="T > n_prev"):
        mmvp.train(mmvp.SimVPLite(ch=8, hidden=4), clips[:, :4], clips[:, :4])


def test_composed_image_is_a_patch_shift_for_a_shift_matrix():
    img = torch.rand(1, 1, 8, 12)
    blocks = F.pixel_unshuffle(img, 4)                  # (1, 16, 2, 3): N = 6 patches
    h, w = 2, 3
    wts = torch.zeros(1, 6, 6)
    for j in range(6):                                  # target (r, c) takes source (r, c − 1), wrapping
        r, c = divmod(j, w)
        wts[0, j, r * w + (c - 1) % w] = 1.0
    out = F.pixel_shuffle(mmvp.compose(blocks, wts), 4)
    assert torch.equal(out, torch.roll(img, shifts=4, dims=-1))
