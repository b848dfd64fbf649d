"""Minimal-angle DCT approximations: exact search vs brute force, figures of merit vs known values, block coding."""

import itertools

import numpy as np
import pytest
import scipy.fft

from simrepro.methods.vision import dct_approx as da


@pytest.mark.parametrize("n", [1, 2, 7, 8, 16, 33])
def test_dct_matrix_matches_scipy(n):
    ref = scipy.fft.dct(np.eye(n), norm="ortho", axis=0)
    np.testing.assert_allclose(da.dct_matrix(n), ref, atol=1e-14)


def test_figures_of_merit_of_the_exact_dct_match_known_values():
    # Classical values for the 8-point DCT at ρ = 0.95: coding gain 8.8259 dB, transform efficiency 93.9912 %
    f = da.figures_of_merit(da.dct_matrix(8))
    print(f)
    assert f["coding_gain"] == pytest.approx(8.8259, abs=1e-4)
    assert f["transform_efficiency"] == pytest.approx(93.9912, abs=1e-4)
    assert f["total_error_energy"] == 0 and f["mse"] == 0 and abs(f["orthogonality_deviation"]) < 1e-15


def test_unified_coding_gain_equals_classical_for_orthonormal():
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((6, 6)))
    r = da.ar1_covariance(6)
    classical = -10 * np.mean(np.log10(np.diag(q @ r @ q.T)))
    assert da.coding_gain(q) == pytest.approx(classical, abs=1e-12)


@pytest.mark.parametrize("n", [8, 16])
def test_min_angle_rows_equal_brute_force(n):
    c = da.dct_matrix(n)
    grid = np.array(list(itertools.product(range(-2, 3), repeat=n // 2)), dtype=np.float64)
    grid = grid[np.abs(grid).sum(1) > 0]                                   # every non-zero half row in 𝒟^{n/2}
    t = da.min_angle_approximation(n, levels=2)
    for k in range(n):
        a = c[k, : n // 2]
        cos = grid @ a / (np.linalg.norm(grid, axis=1) * np.linalg.norm(a))
        ours = t[k, : n // 2] @ a / (np.linalg.norm(t[k, : n // 2]) * np.linalg.norm(a))
        assert ours >= cos.max() - 1e-12, (k, ours, cos.max())
    # the full rows keep the DCT's (anti)symmetry, so the full-length angle equals the half-length one
    np.testing.assert_array_equal(t[:, ::-1], t * ((-1) ** np.arange(n))[:, None])


def test_min_angle_row_edge_cases():
    np.testing.assert_array_equal(da.min_angle_row([0.3, 0.3, 0.3], 2), [1, 1, 1])     # tie → cheapest row
    np.testing.assert_array_equal(da.min_angle_row([0.0, -1.0], 1), [0, -1])
    with pytest.raises(ValueError, match="zero vector"):
        da.min_angle_row([0.0, 0.0], 2)
    with pytest.raises(ValueError, match="levels"):
        da.min_angle_row([1.0], 0)
    with pytest.raises(ValueError, match="finite"):
        da.min_angle_row([np.nan, 1.0], 2)


def test_rdct_is_cintra_bayer_matrix():
    expected = np.array([[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, -1, -1, -1], [1, 0, 0, -1, -1, 0, 0, 1],
                         [1, 0, -1, -1, 1, 1, 0, -1], [1, -1, -1, 1, 1, -1, -1, 1], [1, -1, 0, 1, -1, 0, 1, -1],
                         [0, -1, 1, 0, 0, 1, -1, 0], [0, -1, 1, -1, 1, -1, 1, 0]])
    np.testing.assert_array_equal(da.rounded_dct(8, 2.0), expected)


def test_jam_scale_structure():
    t = da.rounded_dct(8, 2.0)
    t16 = da.jam_scale(t)
    assert t16.shape == (16, 16)
    # even rows act on x_n + x_{15−n} with T_8; orthogonal rows stay orthogonal
    x = np.random.default_rng(1).standard_normal(16)
    np.testing.assert_allclose(t16[0::2] @ x, t @ (x[:8] + x[::-1][:8]))
    np.testing.assert_allclose(t16[1::2] @ x, t @ (x[:8] - x[::-1][:8]))
    assert da.orthogonality_deviation(da.scaled_approximation(t16)) < 1e-12


def test_zigzag_mask_order():
    m = da.zigzag_mask(4, 6)
    expected = np.zeros((4, 4), bool)
    expected[[0, 0, 1, 2, 1, 0], [0, 1, 0, 0, 1, 2]] = True
    np.testing.assert_array_equal(m, expected)
    assert da.zigzag_mask(4, 16).all() and not da.zigzag_mask(4, 0).any()
    with pytest.raises(ValueError):
        da.zigzag_mask(4, 17)


def test_block_code_lossless_when_all_coefficients_kept_and_matches_scipy_dct():
    img = np.random.default_rng(2).uniform(0, 255, (48, 32))
    t = da.scaled_approximation(da.min_angle_approximation(16))
    np.testing.assert_allclose(da.block_code(img, t, 256), img, atol=1e-9)
    c = da.dct_matrix(16)
    rec = da.block_code(img, c, 1)                    # DC only: each block becomes its mean
    means = img.reshape(3, 16, 2, 16).mean(axis=(1, 3))
    np.testing.assert_allclose(rec, np.kron(means, np.ones((16, 16))), atol=1e-9)
    with pytest.raises(ValueError, match="divisible"):
        da.block_code(img[:40], t, 4)


def test_scaled_approximation_and_crop_errors():
    with pytest.raises(ValueError, match="zero rows"):
        da.scaled_approximation(np.zeros((2, 2)))
    assert da.crop_to_multiple(np.zeros((70, 130)), 64).shape == (64, 128)
    with pytest.raises(ValueError, match="smaller"):
        da.crop_to_multiple(np.zeros((30, 130)), 64)


def test_coding_quality_exact_dct_beats_signed_dct_and_is_monotone_in_r():
    rng = np.random.default_rng(3)
    x = np.cumsum(np.cumsum(rng.standard_normal((64, 64)), 0), 1)         # smooth, image-like
    img = 255 * (x - x.min()) / np.ptp(x)
    psnr_dct, ssim_dct = da.coding_quality([img], da.dct_matrix(16), [4, 16, 64])
    psnr_sd, _ = da.coding_quality([img], da.scaled_approximation(da.signed_dct(16)), [4, 16, 64])
    print(psnr_dct, psnr_sd)
    assert (np.diff(psnr_dct[0]) > 0).all() and (psnr_dct > psnr_sd).all()
    assert ((0 < ssim_dct) & (ssim_dct <= 1)).all()


def test_row_angles_accurate_near_zero():
    a = np.array([[1.0, 2.0, 3.0]])
    b = a + np.array([[0.0, 0.0, 1e-9]])
    # small-angle value: |component of the perturbation orthogonal to a| / |a|
    perp = b[0] - a[0] - (b[0] - a[0]) @ a[0] / (a[0] @ a[0]) * a[0]
    assert da.row_angles(a, b)[0] == pytest.approx(np.linalg.norm(perp) / np.linalg.norm(a), rel=1e-6)
    np.testing.assert_allclose(da.row_angles(np.eye(3), np.eye(3)[::-1])[[0, 2]], np.pi / 2)


def test_arithmetic_cost_reproduces_known_counts():
    rdct = da.rounded_dct(8, 2.0)
    assert da.arithmetic_cost(rdct) == (22, 0)                         # Cintra & Bayer (2011): 22 additions
    jam16 = da.jam_scale(rdct)
    assert da.arithmetic_cost(jam16) == (2 * 22 + 16, 0)               # JAM: 2·A(N/2) + N
    assert da.arithmetic_cost(da.jam_scale(jam16)) == (2 * 60 + 32, 0)
    # a block without the DCT symmetry costs its direct product; ±2 entries cost a shift each
    b = np.array([[1, 2, 0], [0, -1, 1], [2, 2, -2]])
    assert da.arithmetic_cost(b) == (1 + 1 + 2, 4)
    assert da.arithmetic_cost(np.eye(4, dtype=int)) == (0, 0)
    with pytest.raises(ValueError, match="power of two"):
        da.arithmetic_cost(np.array([[3, 1], [1, -1]]))
    with pytest.raises(ValueError, match="square integer"):
        da.arithmetic_cost(np.ones((2, 3), dtype=int))


def test_min_angle_even_half_is_the_half_length_approximation():
    # min angle is scale-invariant and c_{2m}[:N/2] ∝ the N/2-point row m, so the even half-block of T_N is T_{N/2}
    for n in (16, 32):
        t = da.min_angle_approximation(n, 2)
        np.testing.assert_array_equal(t[0::2, : n // 2], da.min_angle_approximation(n // 2, 2))
