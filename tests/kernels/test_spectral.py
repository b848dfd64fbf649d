"""kernel_spectrum / spectrum_entropy / hill_number against closed forms and the matrix-function definition.

Tolerances: closed forms 1e-12 relative (a handful of float64 operations); matrix-function definition 1e-9
relative (scipy's Schur-based logm / fractional power carry ~1e-12 error on well-conditioned matrices)."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from simrepro.kernels.spectral import hill_number, kernel_spectrum, spectrum_entropy

ORDERS = [0, 0.1, 0.5, 1, 2, 5, math.inf]


def renyi_closed_form(p, q):
    p = np.asarray(p, float)
    p = p[p > 0] / p.sum()
    if q == 0:
        return math.log(len(p))
    if q == 1:
        return -sum(x * math.log(x) for x in p)
    if q == math.inf:
        return -math.log(max(p))
    return math.log(sum(x ** q for x in p)) / (1 - q)


def random_density(n, seed):
    """A full-rank PSD matrix with trace 1."""
    a = np.random.default_rng(seed).normal(size=(n, n))
    A = a @ a.T + 0.1 * np.eye(n)
    return A / np.trace(A)


@pytest.mark.parametrize("q", ORDERS)
def test_uniform_spectrum_has_entropy_log_n(q):
    assert spectrum_entropy(np.full(7, 3.0), q) == pytest.approx(math.log(7), rel=1e-12)
    assert hill_number(np.full(7, 3.0), q) == pytest.approx(7, rel=1e-12)


@pytest.mark.parametrize("q", ORDERS)
def test_entropy_matches_closed_form_and_ignores_zeros(q):
    p = [0.5, 0.25, 0.125, 0.125, 0.0, 0.0]
    got, want = spectrum_entropy(p, q), renyi_closed_form(p, q)
    print(f"q={q}: got {got!r}, want {want!r}")
    assert got == pytest.approx(want, rel=1e-12)


def test_known_values():
    p = [0.5, 0.25, 0.25]
    assert spectrum_entropy(p, 0) == pytest.approx(math.log(3))
    assert spectrum_entropy(p, 2) == pytest.approx(-math.log(0.375))
    assert spectrum_entropy(p, "inf") == pytest.approx(math.log(2))
    assert spectrum_entropy(p, 1) == pytest.approx(1.5 * math.log(2))


def test_entropy_is_non_increasing_in_q_and_limits_are_continuous():
    w = np.random.default_rng(0).gamma(0.3, size=50)
    grid = [0, 1e-7, 0.1, 0.5, 1 - 1e-6, 1, 1 + 1e-6, 2, 5, 50, 1e4, math.inf]
    h = [spectrum_entropy(w, q) for q in grid]
    print(dict(zip(grid, np.round(h, 8))))
    assert all(a >= b - 1e-12 for a, b in zip(h, h[1:]))
    assert h[1] == pytest.approx(h[0], rel=1e-5)          # q → 0
    assert h[4] == pytest.approx(h[5], rel=1e-5)          # q → 1 from below
    assert h[6] == pytest.approx(h[5], rel=1e-5)          # q → 1 from above
    assert h[-2] == pytest.approx(h[-1], rel=1e-3)        # q → ∞ (H_q − H_∞ = O(log n / q))


@pytest.mark.parametrize("n", [1, 2, 13, 97])
@pytest.mark.parametrize("q", [0.5, 1, 2, 3.7])
def test_entropy_of_spectrum_matches_matrix_function_definition(n, q):
    A = random_density(n, seed=n)
    if q == 1:
        want = float(-np.trace(A @ scipy.linalg.logm(A)).real)               # von Neumann entropy
    else:
        want = math.log(np.trace(scipy.linalg.fractional_matrix_power(A, q)).real) / (1 - q)
    got = spectrum_entropy(kernel_spectrum(A), q)
    print(f"n={n} q={q}: got {got!r}, want {want!r}, diff {abs(got - want):.2e}")
    assert got == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_kernel_spectrum_is_descending_sums_to_trace_and_zeroes_rounding_noise():
    X = np.random.default_rng(1).normal(size=(41, 3))
    K = X @ X.T                                           # rank 3
    w = kernel_spectrum(K)
    raw = np.linalg.eigvalsh(K)
    print("raw eigenvalues near zero:", np.sort(np.abs(raw))[:3])
    assert w.shape == (41,) and np.all(np.diff(w) <= 0)
    assert w.sum() == pytest.approx(np.trace(K), rel=1e-12)
    assert np.count_nonzero(w) == 3
    assert hill_number(w, 0) == pytest.approx(3)
    # without the cleaning, noise of ~1e-15 inflates small orders: 38 × (1e-16)^0.1 ≈ 1 extra "item"
    assert hill_number(w, 0.1) == pytest.approx(math.exp(renyi_closed_form(np.sort(raw)[-3:], 0.1)), rel=1e-9)


def test_negative_rounding_eigenvalue_sets_the_noise_level():
    """A Gaussian kernel of a tight cluster far from the origin: K ≈ all-ones, entries rounded at ~1e-13."""
    from simrepro.kernels import pairwise_similarity

    X = 40 + np.random.default_rng(2).normal(scale=1e-3, size=(30, 2))
    K = pairwise_similarity(X, metric="gaussian", gamma=0.5)
    raw = np.linalg.eigvalsh(K)
    w = kernel_spectrum(K)
    print(f"raw smallest {raw[0]:.2e}; kept {np.count_nonzero(w)} eigenvalues, smallest kept {w[w > 0][-1]:.2e}")
    assert raw[0] < -30 * np.finfo(float).eps * raw[-1]   # the case this handles: noise beyond n·ε·λ₁
    assert (w >= 0).all() and w[w > 0][-1] > abs(raw[0])


def test_float32_and_torch_input():
    A = random_density(29, seed=3)
    w64 = kernel_spectrum(A)
    w32 = kernel_spectrum(torch.tensor(A, dtype=torch.float32))
    err = np.abs(w32 - w64).max() / w64[0]
    print(f"float32 spectrum max relative error {err:.2e}")
    assert err < 29 * np.finfo(np.float32).eps


def test_empty_and_single():
    assert kernel_spectrum(np.zeros((0, 0))).shape == (0,)
    assert hill_number(kernel_spectrum(np.ones((1, 1))), 2) == 1.0


@pytest.mark.parametrize("K, match", [
    (np.ones((2, 3)), "square"),
    (np.array([[1.0, 0.5], [0.4, 1.0]]), "not symmetric"),
    (np.array([[1.0, 2.0], [2.0, 1.0]]), "positive semi-definite"),
    (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
])
def test_kernel_spectrum_rejects_bad_matrices(K, match):
    with pytest.raises(ValueError, match=match):
        kernel_spectrum(K)


@pytest.mark.parametrize("w, q, match", [
    ([1.0, 1.0], -1, "≥ 0"),
    ([1.0, 1.0], float("nan"), "≥ 0"),
    ([1.0, 1.0], "two", "number"),
    ([0.0, 0.0], 1, "all zero"),
    ([], 1, "all zero"),
    ([1.0, -0.5], 1, "negative"),
    ([[1.0]], 1, "1-D"),
    ([1.0, np.inf], 1, "NaN or inf"),
])
def test_spectrum_entropy_rejects_bad_input(w, q, match):
    with pytest.raises(ValueError, match=match):
        spectrum_entropy(w, q)
