"""SARA's alignment terms, Fréchet distance, tiny DiT and training loop, against their definitions."""

import numpy as np
import pytest
import torch
from scipy import linalg

from simrepro.methods.representation import sara


# ------------------------------------------------------------------------------------------------ autocorrelation

@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 5, 3), (3, 7, 11)])
def test_autocorrelation_matches_reference(shape):
    u = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    s = sara.autocorrelation(u)
    torch.testing.assert_close(s, sara.autocorrelation_reference(u), rtol=0, atol=1e-12)
    assert s.shape == (shape[0], shape[1], shape[1])
    torch.testing.assert_close(s, s.transpose(1, 2))
    torch.testing.assert_close(torch.diagonal(s, dim1=1, dim2=2), torch.ones(shape[0], shape[1], dtype=torch.float64))


def test_autocorrelation_zero_token_and_scale_invariance():
    u = torch.randn(2, 4, 6, dtype=torch.float64)
    u[0, 2] = 0.0
    s = sara.autocorrelation(u)
    assert torch.all(s[0, 2] == 0) and torch.all(s[0, :, 2] == 0)
    torch.testing.assert_close(s, sara.autocorrelation_reference(u), rtol=0, atol=1e-12)
    scale = torch.rand(2, 4, 1, dtype=torch.float64) + 0.1                 # per-token positive rescaling
    torch.testing.assert_close(sara.autocorrelation(u * scale), s, rtol=0, atol=1e-12)


def test_autocorrelation_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(B, N, C\)"):
        sara.autocorrelation(torch.zeros(3, 4))
    bad = torch.zeros(1, 2, 3)
    bad[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sara.autocorrelation(bad)


def test_structural_loss_matches_reference_and_bounds():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(4, 9, 5, dtype=torch.float64, generator=g)
    y = torch.randn(4, 9, 13, dtype=torch.float64, generator=g)             # different channel counts
    got = sara.structural_loss(z, y)
    torch.testing.assert_close(got, sara.structural_loss_reference(z, y), rtol=1e-12, atol=1e-14)
    assert 0.0 < float(got) <= 4.0
    # zero exactly when the self-similarities agree, e.g. y = z times a per-token positive scale, or z = y·Q (Q orthogonal)
    assert float(sara.structural_loss(z, z * (torch.rand(4, 9, 1, dtype=torch.float64) + 0.5))) < 1e-24
    q, _ = torch.linalg.qr(torch.randn(13, 13, dtype=torch.float64, generator=g))
    assert float(sara.structural_loss(y @ q, y)) < 1e-24
    # maximal (4) when S(z) = −S(y) off the diagonal is impossible, but identical vs opposite signs is checkable
    a = torch.tensor([[[1.0, 0.0], [1.0, 0.0]]], dtype=torch.float64)   # two identical tokens: S = all ones
    b = torch.tensor([[[1.0, 0.0], [-1.0, 0.0]]], dtype=torch.float64)  # opposite tokens: off-diagonal −1
    assert float(sara.structural_loss(a, b)) == pytest.approx(2 * 4 / 4)
    with pytest.raises(ValueError, match="same \\(B, N\\)"):
        sara.structural_loss(z, y[:, :8])
    with pytest.raises(ValueError, match="N ≥ 1"):
        sara.structural_loss(z[:, :0], y[:, :0])


def test_patch_alignment_loss():
    g = torch.Generator().manual_seed(4)
    y = torch.randn(3, 5, 7, generator=g)
    assert float(sara.patch_alignment_loss(2.5 * y, y)) == pytest.approx(-1.0, abs=1e-6)
    assert float(sara.patch_alignment_loss(-y, y)) == pytest.approx(1.0, abs=1e-6)
    z = torch.randn(3, 5, 7, generator=g)
    ref = -np.mean([float(z[i, n] @ y[i, n] / z[i, n].norm() / y[i, n].norm()) for i in range(3) for n in range(5)])
    assert float(sara.patch_alignment_loss(z, y)) == pytest.approx(ref, abs=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        sara.patch_alignment_loss(z, y[..., :6])


# ------------------------------------------------------------------------------------------------ Fréchet distance

@pytest.mark.parametrize("d,n", [(1, 10), (4, 50), (17, 40), (30, 20)])   # the last: rank-deficient covariances
def test_frechet_matches_scipy_sqrtm(d, n):
    rng = np.random.default_rng(d)
    a = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    b = rng.normal(size=(n + 3, d)) * 1.7 + 0.4
    sa, sb = sara.feature_stats(a), sara.feature_stats(b)
    fast = sara.frechet_distance(*sa, *sb)
    ref = sara.frechet_distance_reference(*sa, *sb)
    assert fast == pytest.approx(ref, rel=1e-6, abs=1e-8)
    assert fast == pytest.approx(sara.frechet_distance(*sb, *sa), rel=1e-9)     # symmetric


def test_frechet_closed_forms():
    # identical Gaussians: 0; isotropic covariances σ1²I, σ2²I: ‖Δμ‖² + d(σ1 − σ2)²
    d = 6
    mu = np.arange(d, dtype=float)
    cov = np.diag(np.arange(1, d + 1, dtype=float))
    assert sara.frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-9)
    val = sara.frechet_distance(np.zeros(d), 4 * np.eye(d), np.ones(d), 9 * np.eye(d))
    assert val == pytest.approx(d + d * (2 - 3) ** 2, abs=1e-10)
    x = np.random.default_rng(0).normal(size=(100, 3))
    assert sara.fid_from_features(x, x) == pytest.approx(0.0, abs=1e-8)
    assert sara.fid_from_features(x, x + 2.0) == pytest.approx(12.0, abs=1e-8)


def test_frechet_rejects_bad_input():
    with pytest.raises(ValueError, match="n >= 2"):
        sara.feature_stats(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="n >= 2"):
        sara.feature_stats(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN"):
        sara.feature_stats(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="shapes do not match"):
        sara.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="NaN"):
        sara.frechet_distance(np.zeros(2), np.eye(2), np.array([0.0, np.inf]), np.eye(2))


def test_scipy_reference_is_the_textbook_formula():
    # guard against a silently wrong reference: the 1-d case is (μ1 − μ2)² + (σ1 − σ2)²
    assert sara.frechet_distance_reference(np.array([1.0]), np.array([[4.0]]), np.array([3.0]),
                                           np.array([[1.0]])) == pytest.approx(4 + 1)
    assert linalg.sqrtm(np.array([[4.0]]))[0, 0] == pytest.approx(2.0)


# ------------------------------------------------------------------------------------------------ DiT and training

def test_patchify_roundtrip_and_order():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    p = sara.patchify(x, 4)
    assert p.shape == (2, 4, 16)
    torch.testing.assert_close(p[0, 1], x[0, 0, :4, 4:].reshape(-1))        # row-major: token 1 = top-right
    torch.testing.assert_close(p[0, 2], x[0, 0, 4:, :4].reshape(-1))
    torch.testing.assert_close(sara.unpatchify(p, 1, 8, 8, 4), x)
    with pytest.raises(ValueError, match="divisible"):
        sara.patchify(torch.zeros(1, 1, 6, 6), 4)


def test_tiny_dit_shapes_and_zero_init():
    m = sara.TinyDiT(image_size=12, channels=1, patch=4, d=16, depth=3, heads=2, align_depth=2)
    x, t = torch.randn(5, 1, 12, 12), torch.rand(5)
    v, h = m(x, t)
    assert v.shape == x.shape and h.shape == (5, 9, 16)
    assert torch.all(v == 0)                                 # adaLN-Zero: the untrained DiT predicts zero velocity
    with pytest.raises(ValueError, match="align_depth"):
        sara.TinyDiT(depth=2, align_depth=3)


def test_flow_pair():
    x0, eps = torch.randn(3, 1, 4, 4), torch.randn(3, 1, 4, 4)
    xt, v = sara.flow_pair(x0, torch.tensor([0.0, 1.0, 0.25]), eps)
    torch.testing.assert_close(xt[0], x0[0]), torch.testing.assert_close(xt[1], eps[1])
    torch.testing.assert_close(xt[2], 0.75 * x0[2] + 0.25 * eps[2])
    torch.testing.assert_close(v, eps - x0)


def _toy(n=40, n_tok=4, c=6):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1, torch.randn(n, n_tok, c, generator=g)


def test_variants_are_paired_and_differ_only_through_their_losses():
    x, y = _toy()
    cfg = sara.TrainConfig(steps=6, batch_size=8, d=16, depth=2, heads=2, align_depth=1, proj_hidden=8,
                           disc_hidden=8, eval_at=(3, 6))
    calls = []
    runs = {v: sara.train_variant(v, x, y, cfg, seed=5, evaluate=lambda m, s: calls.append(s) or s)
            for v in sara.VARIANTS}
    assert calls == [3, 6] * 4 and runs["sara"][2].evals == {3: 3, 6: 6}
    # the first step's denoising loss is computed before any update: identical for every variant (same init, batch)
    first = {v: r[2].loss_curve[0] for v, r in runs.items()}
    assert len(set(first.values())) == 1
    # the trained weights differ once an alignment term changes the gradients (Adam's first updates are nearly
    # sign(g), so the losses of the first steps can agree to float32 precision; the weights cannot)
    names = ["vanilla", "repa", "repa_struct", "sara"]
    for a, b in zip(names, names[1:]):
        wa, wb = runs[a][0].state_dict(), runs[b][0].state_dict()
        assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) > 1e-6, (a, b)
    assert not np.array_equal(runs["repa_struct"][2].align_curve, runs["sara"][2].align_curve)
    # the same seed reproduces a run exactly
    again = sara.train_variant("sara", x, y, cfg, seed=5)[2].loss_curve
    np.testing.assert_array_equal(again, runs["sara"][2].loss_curve)
    assert np.isfinite(runs["sara"][2].align_curve).all()


def test_alignment_training_raises_patch_cosine():
    # a REPA-trained projector aligns with the targets far better than the untrained one of the vanilla run
    x, _ = _toy(n=64)
    y = sara.patchify(x, 4).repeat(1, 1, 1)[:, :, :6] + 0.0              # targets that are a function of x0
    cfg = sara.TrainConfig(steps=150, batch_size=16, lr=3e-3, d=16, depth=2, heads=2, align_depth=1, proj_hidden=16)
    _, _, van = sara.train_variant("vanilla", x, y, cfg, seed=1)
    _, _, rep = sara.train_variant("repa", x, y, cfg, seed=1)
    assert rep.align_curve[-20:].mean() > van.align_curve[-20:].mean() + 0.2
    assert rep.align_curve[-20:].mean() > rep.align_curve[:20].mean() + 0.2


def test_train_variant_rejects_bad_input():
    x, y = _toy()
    cfg = sara.TrainConfig(steps=1, batch_size=4, d=16, depth=2, heads=2, align_depth=1)
    with pytest.raises(ValueError, match="unknown variant"):
        sara.train_variant("repa2", x, y, cfg, seed=0)
    with pytest.raises(ValueError, match="must match"):
        sara.train_variant("repa", x[:5], y, cfg, seed=0)
    with pytest.raises(ValueError, match="tokens"):
        sara.train_variant("repa", x, y[:, :3], cfg, seed=0)


def test_sample_is_paired_and_clipped():
    torch.manual_seed(0)
    m = sara.TinyDiT(image_size=8, patch=4, d=16, depth=1, heads=2, align_depth=1).eval()
    a, b = sara.sample(m, 7, 3, seed=9, batch_size=3), sara.sample(m, 7, 3, seed=9, batch_size=3)
    torch.testing.assert_close(a, b)
    assert a.shape == (7, 1, 8, 8) and a.abs().max() <= 1.0
    # the untrained DiT predicts v = 0, so sampling returns the clipped starting noise
    g = torch.Generator().manual_seed(9)
    noise = torch.cat([torch.randn(3, 1, 8, 8, generator=g), torch.randn(3, 1, 8, 8, generator=g),
                       torch.randn(1, 1, 8, 8, generator=g)])
    torch.testing.assert_close(a, noise.clamp(-1, 1))
    assert sara.sample(m, 0, 3, seed=1).shape == (0, 1, 8, 8)
    with pytest.raises(ValueError, match="steps"):
        sara.sample(m, 2, 0, seed=1)


def test_heldout_metrics_and_resizing():
    x, y = _toy(n=10)
    m = sara.TinyDiT(image_size=8, patch=4, d=16, depth=2, heads=2, align_depth=1).eval()
    p = sara.projector(16, 8, 6)
    r = sara.heldout_metrics(m, p, x, y, seed=3)
    g = torch.Generator().manual_seed(3)
    t = torch.rand(10, generator=g)
    eps = torch.randn(x.shape, generator=g)
    assert r["denoise_loss"] == pytest.approx(float(((eps - x) ** 2).mean()), rel=1e-5)   # v̂ = 0 at init
    assert -1 <= r["patch_cos"] <= 1 and 0 <= r["struct_err"] <= 4
    img = np.zeros((2, 28, 28), np.uint8)
    img[1] = 255
    out = sara.resize_images(img, 16)
    assert out.shape == (2, 1, 16, 16) and float(out[0].max()) == -1.0 and float(out[1].min()) == 1.0
    enc = sara.to_encoder_input(out, 32)
    assert enc.shape == (2, 3, 32, 32) and torch.equal(enc[:, 0], enc[:, 2])
