"""Generalised Jaccard / interiority / coincidence against their definitions (tolerance: float64 round-off,
1e-12, unless stated)."""

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal, norm
from sklearn.metrics import jaccard_score

from simrepro.methods.measures.jaccard import (INDICES, count_vectors, gaussian_indices_closed_form, generalized_jaccard,
                                      generalized_jaccard_reference, interdependence, jaccard_many)


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("block_size", [None, 1, 3])
def test_matches_reference_on_signed_irregular_shapes(index, block_size):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 13)), rng.normal(size=(5, 13))
    x[2] = 0.0                        # a zero row
    y[1, :4] = 0.0                    # ties at zero
    got = generalized_jaccard(x, y, index=index, block_size=block_size)
    want = generalized_jaccard_reference(x, y, index=index)
    err = np.abs(got - want).max()
    print(f"{index} max |fast - reference| = {err:.2e}")
    assert got.shape == (7, 5) and err < 1e-12


@pytest.mark.parametrize("index", INDICES)
@pytest.mark.parametrize("block_size", [None, 2])
def test_binary_gemm_path_matches_reference(index, block_size):
    """0/1 inputs take the one-GEMM path; a non-binary y sends the pair back to the broadcast path."""
    rng = np.random.default_rng(3)
    x, y = (rng.random((9, 17)) < 0.3).astype(float), (rng.random((4, 17)) < 0.5).astype(float)
    x[0], y[2] = 0.0, 1.0                     # an empty set, a full one
    for other in (y, y * 2.0):                # binary, then multiset counts (broadcast path)
        got = generalized_jaccard(x, other, index=index, block_size=block_size)
        want = generalized_jaccard_reference(x, other, index=index)
        assert np.abs(got - want).max() < 1e-12
    got32 = generalized_jaccard(torch.tensor(x, dtype=torch.float32), index=index)
    assert got32.dtype == torch.float32
    assert np.abs(got32.double().numpy() - generalized_jaccard_reference(x, index=index)).max() < 1e-6


def test_float32_torch_in_torch_out():
    x = torch.rand(6, 9, dtype=torch.float32)
    got = generalized_jaccard(x, index="coincidence")
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    want = generalized_jaccard_reference(x, index="coincidence")
    assert np.abs(got.double().numpy() - want).max() < 1e-6      # float32 round-off


def test_paper_multiset_example():
    v, support = count_vectors("aaabb", "aabccd")
    assert support == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(v, [[3, 2, 0, 0], [2, 1, 2, 1]])
    j, i, c = (generalized_jaccard(v[:1], v[1:], index=k)[0, 0] for k in INDICES)
    assert j == pytest.approx(3 / 8, abs=1e-15) and i == pytest.approx(3 / 5, abs=1e-15)
    assert c == pytest.approx(0.225, abs=1e-15)


def test_signed_identity_and_opposite():
    x = np.random.default_rng(1).normal(size=(4, 11))
    np.testing.assert_allclose(np.diag(generalized_jaccard(x)), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(generalized_jaccard(x, -x)), -1.0, atol=1e-12)
    np.testing.assert_allclose(np.diag(generalized_jaccard(x, -x, index="coincidence")), -1.0, atol=1e-12)


def test_binary_equals_sklearn_jaccard():
    b = (np.random.default_rng(2).random((6, 20)) < 0.4).astype(float)
    got = generalized_jaccard(b)
    for i in range(6):
        for j in range(6):
            assert got[i, j] == pytest.approx(jaccard_score(b[i], b[j], zero_division=1.0), abs=1e-12)


def test_nested_sets_interiority_one():
    v, _ = count_vectors({1, 2, 3}, {1, 2, 3, 4, 5, 6})
    assert generalized_jaccard(v[:1], v[1:], index="interiority")[0, 0] == 1.0
    assert generalized_jaccard(v[:1], v[1:])[0, 0] == pytest.approx(0.5)


def test_empty_conventions():
    z, a = np.zeros((1, 3)), np.array([[1.0, 0.0, 2.0]])
    assert generalized_jaccard(z, z)[0, 0] == 1.0
    assert generalized_jaccard(z, a)[0, 0] == 0.0
    assert generalized_jaccard(z, a, index="interiority")[0, 0] == 1.0
    assert generalized_jaccard(z, a, index="coincidence")[0, 0] == 0.0
    assert generalized_jaccard(np.zeros((0, 3)), a).shape == (0, 1)
    np.testing.assert_array_equal(generalized_jaccard(np.zeros((2, 0))), generalized_jaccard_reference(np.zeros((2, 0))))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="NaN"):
        generalized_jaccard(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="dimension"):
        generalized_jaccard(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="unknown index"):
        generalized_jaccard(np.ones((2, 3)), index="dice")
    with pytest.raises(ValueError, match="non-negative"):
        jaccard_many(np.array([[1.0, -1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="two rows"):
        jaccard_many(np.ones((1, 3)))


def test_jaccard_many_three_sets():
    v, _ = count_vectors({1, 2, 3, 4}, {3, 4, 5}, {4, 5, 6})
    assert jaccard_many(v) == pytest.approx(1 / 6)          # {4} / {1..6}
    assert jaccard_many(v[:2]) == pytest.approx(generalized_jaccard(v[:1], v[1:2])[0, 0])


@pytest.mark.parametrize("mu", [0.0, 0.5, 1.0, 2.5])
def test_gaussian_closed_form_matches_grid(mu):
    grid = np.linspace(-12, 14, 200_001)
    f = np.stack([norm.pdf(grid), norm.pdf(grid, loc=mu)])
    want = gaussian_indices_closed_form(mu)
    for k in INDICES:
        got = generalized_jaccard(f[:1], f[1:], index=k)[0, 0]
        print(mu, k, got, want[k], abs(got - want[k]))
        assert got == pytest.approx(want[k], abs=1e-6)     # grid (Riemann-sum) error


def test_interdependence_independence_and_dependence():
    g = np.linspace(-5, 5, 161)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    pts = np.stack([xx, yy], -1)
    vals = [interdependence(multivariate_normal([0, 0], [[1, r], [r, 1]]).pdf(pts)) for r in (0.0, 0.5, 0.9)]
    assert vals[0] == pytest.approx(1.0, abs=1e-9)
    assert vals[0] > vals[1] > vals[2]
    with pytest.raises(ValueError, match="non-negative"):
        interdependence(-np.ones((3, 3)))
