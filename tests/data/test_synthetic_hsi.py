"""Synthetic linear-mixing hyperspectral cubes: determinism, the mixing model's constraints, bad input."""

import numpy as np
import pytest

from simrepro.data.synthetic_hsi import endmember_library, mixing_cubes


def test_shapes_ranges_and_determinism():
    a = mixing_cubes(3, size=16, bands=11, n_endmembers=4, n_library=6, seed=5)
    b = mixing_cubes(3, size=16, bands=11, n_endmembers=4, n_library=6, seed=5)
    c = mixing_cubes(3, size=16, bands=11, n_endmembers=4, n_library=6, seed=6)
    assert a.cubes.shape == (3, 11, 16, 16) and a.cubes.dtype == np.float32
    assert a.endmembers.shape == (3, 4, 11) and a.abundances.shape == (3, 4, 16, 16)
    assert np.array_equal(a.cubes, b.cubes) and not np.array_equal(a.cubes, c.cubes)
    assert a.cubes.min() >= 0.0 and a.cubes.max() <= 1.0
    assert a.wavelengths[0] == 400.0 and a.wavelengths[-1] == 700.0


def test_linear_mixing_model_holds_without_noise():
    m = mixing_cubes(2, size=12, bands=9, noise=0.0, seed=1)
    assert (m.abundances >= 0).all()
    np.testing.assert_allclose(m.abundances.sum(axis=1), 1.0, atol=1e-12)
    mixed = np.einsum("nehw,neb->nbhw", m.abundances, m.endmembers)
    np.testing.assert_allclose(m.cubes, mixed, atol=1e-6)                      # float32 storage
    for i in range(2):                                                          # endmembers come from the library
        assert all(any(np.array_equal(e, l) for l in m.library) for e in m.endmembers[i])


def test_spectra_are_smooth_and_bounded():
    lib = endmember_library(20, 31, rng=np.random.default_rng(0))
    assert lib.min() >= 0.05 - 1e-12 and lib.max() <= 0.95 + 1e-12
    assert np.abs(np.diff(lib, 2, axis=1)).max() < 0.2                         # no jumps between neighbouring bands


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_endmembers"):
        mixing_cubes(1, n_endmembers=9, n_library=4)
    with pytest.raises(ValueError, match="size"):
        mixing_cubes(1, size=0)
    with pytest.raises(ValueError, match="bands"):
        mixing_cubes(1, bands=1)
    with pytest.raises(ValueError, match="≥ 0"):
        mixing_cubes(1, noise=-0.1)
