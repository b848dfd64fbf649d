"""HSI super-resolution: MPSNR against scikit-image, SAM and ERGAS against their definitions, the degradation,
the network's shapes and shared initialisation, deterministic training, bad input."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio

from simrepro.methods.vision.hsi_sr import (ATTENTIONS, SpectralSR, bicubic_upsample, downsample, ergas, mpsnr,
                                            predict, sam_degrees, train_sr)


def _cubes(b=2, bands=5, h=8, w=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, bands, h, w, generator=g) * 0.8 + 0.1


def test_mpsnr_equals_skimage_per_band_mean():
    t, p = _cubes(seed=1).double(), _cubes(seed=2).double()
    want = np.mean([peak_signal_noise_ratio(t[i, c].numpy(), p[i, c].numpy(), data_range=1.0)
                    for i in range(2) for c in range(5)])
    print(abs(mpsnr(p, t) - want))
    assert mpsnr(p, t) == pytest.approx(want, abs=1e-10)
    assert mpsnr(t, t) == math.inf


def test_sam_against_a_pixel_loop_and_its_invariances():
    t, p = _cubes(b=1, bands=4, h=3, w=5, seed=3), _cubes(b=1, bands=4, h=3, w=5, seed=4)
    angles = []
    for i in range(3):
        for j in range(5):
            x, y = p[0, :, i, j].double().numpy(), t[0, :, i, j].double().numpy()
            angles.append(math.degrees(math.acos(min(1.0, x @ y / (np.linalg.norm(x) * np.linalg.norm(y))))))
    assert sam_degrees(p, t) == pytest.approx(np.mean(angles), abs=1e-10)
    assert sam_degrees(t * 3.0, t) == pytest.approx(0.0, abs=1e-5)            # a gain keeps the angle
    z = t.clone()
    z[0, :, 1, 2] = 0.0
    with pytest.raises(ValueError, match="zero spectrum"):
        sam_degrees(z, t)


def test_ergas_definition_and_zero_for_exact():
    t, p = _cubes(seed=5).double(), _cubes(seed=6).double()
    tn, pn = t.numpy(), p.numpy()
    want = np.mean([100 / 4 * math.sqrt(np.mean([((pn[i, c] - tn[i, c]) ** 2).mean() / tn[i, c].mean() ** 2
                                                  for c in range(5)])) for i in range(2)])
    assert ergas(p, t, 4) == pytest.approx(want, rel=1e-12)
    assert ergas(t, t, 4) == 0.0


def test_metric_bad_input():
    with pytest.raises(ValueError, match="same|both"):
        mpsnr(_cubes(h=8), _cubes(h=4))
    bad = _cubes()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sam_degrees(bad, _cubes())
    with pytest.raises(ValueError, match="empty"):
        mpsnr(torch.zeros(0, 3, 4, 4), torch.zeros(0, 3, 4, 4))


def test_degradation_shapes_and_constants():
    hr = _cubes(h=16, w=8)
    lr = downsample(hr, 4)
    assert lr.shape == (2, 5, 4, 2)
    assert bicubic_upsample(lr, 4).shape == hr.shape
    flat = torch.full((1, 3, 8, 8), 0.3)
    assert torch.allclose(bicubic_upsample(downsample(flat, 4), 4), flat, atol=1e-6)
    with pytest.raises(ValueError, match="multiples"):
        downsample(_cubes(h=10), 4)
    with pytest.raises(ValueError, match="batch"):
        downsample(torch.zeros(3, 8, 8), 4)


def test_network_shapes_shared_init_and_bicubic_start():
    lr = _cubes(b=2, bands=7, h=4, w=6)
    models = {}
    for kind in ATTENTIONS:
        torch.manual_seed(3)
        models[kind] = SpectralSR(7, channels=8, scale=4, attention=kind)
        out = models[kind](lr)
        assert out.shape == (2, 7, 16, 24)
        # the tail starts at zero: every variant starts as the bicubic baseline
        ref = torch.nn.functional.interpolate(lr, scale_factor=4, mode="bicubic", align_corners=False)
        assert torch.allclose(out, ref, atol=1e-6)
    for name, p in models["none"].named_parameters():
        for kind in ATTENTIONS[1:]:
            assert torch.equal(p, dict(models[kind].named_parameters())[name]), (kind, name)
    with pytest.raises(ValueError, match="attention"):
        SpectralSR(7, attention="cosine")
    with pytest.raises(ValueError, match="power of 2"):
        SpectralSR(7, scale=3)


@pytest.mark.parametrize("kind", ["none", "essa"])
def test_training_is_deterministic_and_learns(kind):
    hr = _cubes(b=6, bands=6, h=16, w=16, seed=7)
    lr = downsample(hr, 4)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        m = SpectralSR(6, channels=8, scale=4, attention=kind)
        res = train_sr(m, lr, hr, steps=30, batch_size=4, lr=3e-3, seed=1)
        runs.append((res, predict(m, lr)))
    assert runs[0][0].step_loss == runs[1][0].step_loss
    assert torch.equal(runs[0][1], runs[1][1])
    assert float(runs[0][1].min()) >= 0.0 and float(runs[0][1].max()) <= 1.0
    assert np.mean(runs[0][0].step_loss[-5:]) < np.mean(runs[0][0].step_loss[:5])


def test_training_patches_and_bad_arguments():
    hr = _cubes(b=3, bands=4, h=16, w=16)
    lr = downsample(hr, 4)
    m = SpectralSR(4, channels=4, scale=4, attention="softmax")
    assert len(train_sr(m, lr, hr, steps=3, batch_size=2, patch=8).step_loss) == 3
    with pytest.raises(ValueError, match="patch"):
        train_sr(m, lr, hr, steps=1, patch=6)
    with pytest.raises(ValueError, match="scale"):
        train_sr(m, lr, hr[..., :8, :8], steps=1)
    with pytest.raises(ValueError, match="steps"):
        train_sr(m, lr, hr, steps=0)
