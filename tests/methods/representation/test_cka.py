"""CKA, HSIC, CCA, SVCCA, PWCCA and linear regression against their definitions (Kornblith et al., 2019).

Tolerances: exact identities hold to ~1e-12 in float64 on these sizes; we assert 1e-9 (relative where the
value is not O(1)). Statistical checks state their standard-error budget."""

from itertools import permutations

import numpy as np
import pytest
from scipy.stats import ortho_group

from simrepro.methods.representation import cka as m

RNG = np.random.default_rng(1905)


def _x(n=37, p=11, seed=0):
    return np.random.default_rng(seed).standard_normal((n, p))


def rv_by_entries(x, y):
    """RV coefficient as sums over covariance entries: Σ_ij cov(xᵢ, yⱼ)² / √(Σ cov(xᵢ, xⱼ)² Σ cov(yᵢ, yⱼ)²)."""
    xc, yc = x - x.mean(0), y - y.mean(0)
    cross = sum(np.dot(xc[:, i], yc[:, j]) ** 2 for i in range(x.shape[1]) for j in range(y.shape[1]))
    sx = sum(np.dot(xc[:, i], xc[:, j]) ** 2 for i in range(x.shape[1]) for j in range(x.shape[1]))
    sy = sum(np.dot(yc[:, i], yc[:, j]) ** 2 for i in range(y.shape[1]) for j in range(y.shape[1]))
    return cross / np.sqrt(sx * sy)


def hsic_u_by_tuples(k, l):
    """Unbiased HSIC as the mean over ordered 4-tuples of distinct indices of k_ij l_ij + k_ij l_qr − 2 k_ij l_iq."""
    n = k.shape[0]
    total, count = 0.0, 0
    for i, j, q, r in permutations(range(n), 4):
        total += k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
        count += 1
    return total / count


def test_linear_cka_equals_rv_coefficient_and_feature_route():
    x, y = _x(41, 7, 1), _x(41, 13, 2)
    y[:, :7] += 0.5 * x                      # make them related
    ref = rv_by_entries(x, y)
    assert abs(m.rv_coefficient(x, y) - ref) < 1e-12
    print("rv", ref, "gram", m.linear_cka(x, y), "features", m.linear_cka_features(x, y))
    assert abs(m.linear_cka(x, y) - ref) < 1e-12
    assert abs(m.linear_cka_features(x, y) - ref) < 1e-12
    assert abs(m.cka(m.gram_linear(x), m.gram_linear(y)) - ref) < 1e-12
    wide_x, wide_y = _x(6, 30, 7), _x(6, 40, 8)               # p1·p2 > n²: linear_cka takes the Gram route
    wide_ref = rv_by_entries(wide_x, wide_y)
    assert abs(m.linear_cka(wide_x, wide_y) - wide_ref) < 1e-12
    assert abs(m.linear_cka_features(wide_x, wide_y) - wide_ref) < 1e-12


def test_biased_linear_hsic_is_squared_cross_covariance():
    x, y = _x(23, 5, 3), _x(23, 4, 4)
    cov = (x - x.mean(0)).T @ (y - y.mean(0)) / (23 - 1)
    assert np.isclose(m.hsic(m.gram_linear(x), m.gram_linear(y)), np.sum(cov ** 2), rtol=1e-12)


def test_debiased_hsic_matches_u_statistic_definition():
    x, y = _x(7, 3, 5), _x(7, 2, 6)
    k, l = m.gram_rbf(x, 0.7), m.gram_linear(y)
    ref = hsic_u_by_tuples(k, l)
    got = m.hsic(k, l, debiased=True)
    print("U by tuples", ref, "formula", got)
    assert np.isclose(got, ref, rtol=1e-10, atol=1e-12)


def test_debiased_hsic_is_unbiased_on_independent_data_where_biased_is_not():
    rng = np.random.default_rng(7)
    unbiased, biased = [], []
    for _ in range(400):
        x, y = rng.standard_normal((12, 3)), rng.standard_normal((12, 3))
        k, l = m.gram_linear(x), m.gram_linear(y)
        unbiased.append(m.hsic(k, l, debiased=True))
        biased.append(m.hsic(k, l))
    mu, se = np.mean(unbiased), np.std(unbiased) / np.sqrt(len(unbiased))
    print(f"debiased mean {mu:.4f} ± {se:.4f}; biased mean {np.mean(biased):.4f}")
    assert abs(mu) < 4 * se                   # population HSIC of independent data is 0
    assert np.mean(biased) > 10 * se          # the biased estimator is clearly positive


def test_invariances_of_linear_cka():
    x, y = _x(50, 8, 8), _x(50, 6, 9)
    y[:, :6] += x[:, :6]
    base = m.linear_cka(x, y)
    q = ortho_group.rvs(8, random_state=3)
    assert abs(m.linear_cka(x @ q, y) - base) < 1e-10                  # orthogonal transform
    assert abs(m.linear_cka(3.7 * x, 0.01 * y) - base) < 1e-10         # isotropic scaling
    assert abs(m.linear_cka(x + 5.0, y - 2.0) - base) < 1e-10          # translation (centring)
    a = np.diag(np.linspace(0.1, 10, 8)) @ ortho_group.rvs(8, random_state=4)
    print("invertible map changes CKA:", base, "→", m.linear_cka(x @ a, y))
    assert abs(m.linear_cka(x @ a, y) - base) > 1e-3                   # NOT invariant to invertible maps
    # CCA is invariant to invertible linear maps
    assert abs(m.cca_similarity(x @ a, y) - m.cca_similarity(x, y)) < 1e-10


def test_rbf_cka_is_scale_invariant_and_debiased_differs():
    x, y = _x(30, 4, 10), _x(30, 5, 11)
    y[:, :4] += np.tanh(x)
    base = m.rbf_cka(x, y, threshold=0.5)
    assert abs(m.rbf_cka(10 * x, y, threshold=0.5) - base) < 1e-10
    assert 0 < base <= 1
    assert m.rbf_cka(x, y, threshold=0.5, debiased=True) != pytest.approx(base, abs=1e-6)
    # the prepared (cached-Gram) path equals CKA on explicitly built Grams, biased and debiased
    kx, ky = m.gram_rbf(x, 0.5), m.gram_rbf(y, 0.5)
    assert abs(m.cka(kx, ky) - base) < 1e-12
    assert abs(m.cka(kx, ky, debiased=True) - m.rbf_cka(x, y, threshold=0.5, debiased=True)) < 1e-12
    assert abs(m.cka(m.gram_linear(x), m.gram_linear(y), debiased=True) - m.linear_cka(x, y, debiased=True)) < 1e-12


def test_rbf_median_conventions():
    """'all' (default, official code): median of the whole n × n squared-distance matrix, zeros included;
    'pairs': median over i < j. Built here by explicit loops over the pairs."""
    x = _x(9, 3, 30)
    n = len(x)
    sq = np.array([[np.sum((x[i] - x[j]) ** 2) for j in range(n)] for i in range(n)])
    pairs = [sq[i, j] for i in range(n) for j in range(i + 1, n)]
    med_all, med_pairs = np.median(sq.ravel()), np.median(pairs)
    assert med_all < med_pairs                       # the n diagonal zeros pull the full median down
    for median, med in (("all", med_all), ("pairs", med_pairs)):
        assert np.allclose(m.gram_rbf(x, 0.7, median=median), np.exp(-sq / (2 * 0.49 * med)), atol=1e-12)
    assert np.allclose(m.gram_rbf(x, 0.7), m.gram_rbf(x, 0.7, median="all"), atol=0)
    y = _x(9, 4, 31)
    y[:, :3] += x
    a, b = m.rbf_cka(x, y, threshold=0.5), m.rbf_cka(x, y, threshold=0.5, median="pairs")
    assert abs(a - b) > 1e-6
    assert abs(m.rbf_cka(3 * x, y, threshold=0.5, median="pairs") - b) < 1e-10
    with pytest.raises(ValueError, match="median must be"):
        m.rbf_cka(x, y, median="upper")


def test_official_demo_values():
    """The official demo (google-research representation_similarity/Demo.ipynb) prints, for
    np.random.seed(1337); X = randn(100, 10); Y = randn(100, 10) + X: linear CKA 0.55761, RBF CKA (threshold 0.5)
    0.65483, debiased linear CKA 0.51346, mean squared CCA correlation (QR of the uncentred features) 0.54312.
    The legacy RandomState stream is frozen, so the inputs are the demo's. Half a unit of the last digit."""
    x, y = m.official_demo_inputs()
    assert x.shape == y.shape == (100, 10)
    assert abs(x[0, 0] - np.random.RandomState(1337).randn()) == 0
    assert abs(m.linear_cka(x, y) - 0.55761) <= 5e-6
    assert abs(m.linear_cka_features(x, y) - 0.55761) <= 5e-6
    assert abs(m.rbf_cka(x, y, threshold=0.5) - 0.65483) <= 5e-6
    assert abs(m.rbf_cka(x, y, threshold=0.5, median="pairs") - 0.65483) > 5e-6     # our former convention
    assert abs(m.linear_cka(x, y, debiased=True) - 0.51346) <= 5e-6
    assert abs(m.cca_similarity(x, y, statistic="r2", center=False) - 0.54312) <= 5e-6
    assert abs(m.cca_similarity(x, y, statistic="r2") - 0.54312) > 5e-6               # the paper centres


def test_uncentred_cca_is_the_qr_formula_and_saturates_at_n():
    x, y = _x(40, 5, 32) + 3.0, _x(40, 7, 33) - 1.0
    y[:, :5] += x
    qx, qy = np.linalg.qr(x)[0], np.linalg.qr(y)[0]
    assert abs(m.cca_similarity(x, y, statistic="r2", center=False) - np.linalg.norm(qx.T @ qy) ** 2 / 5) < 1e-10
    assert abs(m.cca_similarity(x, y, center=False) - m.cca_similarity(x, y)) > 1e-3
    n = 30
    a, b = _x(n, n - 1, 34), _x(n, n - 1, 35)
    assert m.cca_similarity(a, b, center=False) < 1 - 1e-3       # uncentred: width n − 1 does not saturate yet
    assert abs(m.cca_similarity(a, b) - 1) < 1e-10               # centred: it does
    a, b = _x(n, n, 36), _x(n, n, 37)
    assert abs(m.cca_similarity(a, b, center=False) - 1) < 1e-10


def test_cka_of_a_representation_with_itself_is_one():
    x = _x(19, 5, 12)
    for f in (m.linear_cka, m.rbf_cka):
        assert abs(f(x, x) - 1) < 1e-12
        assert abs(f(x, x, debiased=True) - 1) < 1e-12


def test_cca_saturates_when_width_reaches_n_minus_1_while_cka_does_not():
    n = 50
    x, y = _x(n, n - 1, 13), _x(n, n - 1, 14)          # independent random features, width n−1
    rho = m.canonical_correlations(x, y)
    print("mean CCA", rho.mean(), "linear CKA", m.linear_cka(x, y))
    assert np.allclose(rho, 1.0, atol=1e-10)
    assert abs(m.cca_similarity(x, y, statistic="r2") - 1) < 1e-10
    assert abs(m.pwcca(x, y) - 1) < 1e-10
    assert abs(m.linear_regression_r2(x, y) - 1) < 1e-10
    assert m.linear_cka(x, y) < 0.9


def test_canonical_correlations_match_a_direct_solver():
    """ρ² are the eigenvalues of Σxx⁻¹ Σxy Σyy⁻¹ Σyx (full-rank case)."""
    x, y = _x(80, 4, 15), _x(80, 6, 16)
    y[:, :3] += x[:, :3]
    xc, yc = x - x.mean(0), y - y.mean(0)
    sxx, syy, sxy = xc.T @ xc, yc.T @ yc, xc.T @ yc
    ev = np.sort(np.linalg.eigvals(np.linalg.solve(sxx, sxy) @ np.linalg.solve(syy, sxy.T)).real)[::-1]
    rho = m.canonical_correlations(x, y)
    assert rho.shape == (4,)
    assert np.allclose(rho ** 2, ev, atol=1e-10)
    assert abs(m.cca_similarity(x, y) - np.sqrt(ev).mean()) < 1e-10


def test_linear_regression_r2_equals_least_squares_fit_and_pwcca_identity():
    x, y = _x(60, 5, 17), _x(60, 9, 18)
    y[:, :5] += 0.7 * x
    xc, yc = x - x.mean(0), y - y.mean(0)
    b, *_ = np.linalg.lstsq(yc, xc, rcond=None)
    r2 = 1 - np.sum((xc - yc @ b) ** 2) / np.sum(xc ** 2)
    assert abs(m.linear_regression_r2(x, y) - r2) < 1e-10
    # App. C.3: PWCCA with squared weights and squared ρ recovers R²_LR
    qx, qy = np.linalg.qr(xc)[0], np.linalg.qr(yc)[0]
    w, rho, _ = np.linalg.svd(qx.T @ qy)
    h = qx @ w                                               # canonical variables of X (unit columns)
    alpha2 = (h.T @ xc) ** 2
    assert abs(alpha2.sum(1) @ rho ** 2 / alpha2.sum() - r2) < 1e-10
    # PWCCA from its definition (eq. 9) with a QR basis and X's explicit columns
    alpha = np.abs(h.T @ xc).sum(1)
    pw = alpha @ rho / alpha.sum()
    print("pwcca definition", pw, "ours", m.pwcca(x, y), "reverse", m.pwcca(y, x))
    assert abs(m.pwcca(x, y) - pw) < 1e-10
    assert abs(m.pwcca(y, x) - pw) > 1e-4                    # asymmetric


def test_svcca_keeps_the_top_variance_subspace():
    rng = np.random.default_rng(19)
    signal = rng.standard_normal((200, 3))
    x = np.hstack([10 * signal, 0.01 * rng.standard_normal((200, 5))])
    y = np.hstack([signal @ rng.standard_normal((3, 3)), 0.01 * rng.standard_normal((200, 4))])
    # 0.99 of the variance lives in the 3 signal directions of each: their canonical correlations are ~1
    assert m.Prepared.from_matrix(x).top_variance_basis(0.99).shape[1] == 3
    assert m.svcca(x, y, threshold=0.99) > 0.999
    assert m.cca_similarity(x, y) < 0.8          # plain CCA averages in the noise directions


def test_identification_accuracy_counts_ties_fractionally():
    assert m.identification_accuracy(np.eye(4)) == 1.0
    assert m.identification_accuracy(np.ones((4, 4))) == pytest.approx(0.25)
    s = np.array([[1.0, 0.5], [0.9, 0.2]])
    assert m.identification_accuracy(s) == 0.5


def test_layer_identification_on_shared_structure():
    rng = np.random.default_rng(20)
    n = 60
    latents = [rng.standard_normal((n, 6)) for _ in range(4)]
    nets = []
    for _ in range(3):
        nets.append([z @ ortho_group.rvs(6, random_state=int(rng.integers(1e6))) + 0.05 * rng.standard_normal((n, 6))
                     for z in latents])
    acc, sims = m.layer_identification(nets, indices=("cka_linear", "cca_rho", "pwcca"))
    print(acc)
    assert acc["cka_linear"] == 1.0 and acc["cca_rho"] == 1.0
    assert sims["cka_linear"].shape == (4, 4)


@pytest.mark.parametrize("bad, match", [
    (np.full((5, 3), np.nan), "NaN"),
    (np.ones((5, 3)), "constant"),
    (np.zeros((1, 3)), "at least 2"),
    (np.zeros((5, 0)), "0 features"),
])
def test_bad_inputs_raise_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        m.linear_cka(bad, _x(bad.shape[0] if bad.shape[0] else 5, 3))


def test_mismatched_examples_and_unknown_options():
    with pytest.raises(ValueError, match="examples"):
        m.linear_cka(_x(10, 3), _x(11, 3))
    with pytest.raises(ValueError, match="statistic"):
        m.cca_similarity(_x(10, 3), _x(10, 3), statistic="max")
    with pytest.raises(ValueError, match="n ≥ 4"):
        m.hsic(np.eye(3), np.eye(3), debiased=True)
    with pytest.raises(ValueError, match="median distance"):
        m.gram_rbf(np.zeros((6, 2)))
    with pytest.raises(ValueError, match="unknown index"):
        m.cross_similarities([], [], ("procrustes",))


def test_cross_similarities_match_the_public_indices():
    x, y = _x(40, 6, 21), _x(40, 9, 22)
    y[:, :6] += 0.8 * x
    s = m.cross_similarities(m.prepare_layers([x]), m.prepare_layers([y]))
    expect = {
        "cca_rho": m.cca_similarity(x, y), "cca_r2": m.cca_similarity(x, y, statistic="r2"),
        "svcca_rho": m.svcca(x, y), "svcca_r2": m.svcca(x, y, statistic="r2"),
        "pwcca": m.pwcca(x, y) + m.pwcca(y, x),
        "linear_regression": m.linear_regression_r2(x, y) + m.linear_regression_r2(y, x),
        "linear_hsic": m.hsic(m.gram_linear(x), m.gram_linear(y)),
        "cka_linear": m.linear_cka(x, y), "cka_rbf_0.4": m.rbf_cka(x, y, threshold=0.4),
        "cka_linear_debiased": m.linear_cka(x, y, debiased=True),
    }
    for name, value in expect.items():
        assert abs(s[name][0, 0] - value) < 1e-10, name


def test_debiased_cka_equals_u_centred_alignment():
    """Debiased CKA as the cosine between U-centred Grams (Székely & Rizzo 2014), an independent route:
    K̃ = zero-diagonal K; subtract row/column means over n−2 and add back the grand mean over (n−1)(n−2)."""
    def u_centre(k):
        n = k.shape[0]
        k = k.copy()
        np.fill_diagonal(k, 0.0)
        row = k.sum(1) / (n - 2)
        grand = k.sum() / ((n - 1) * (n - 2))
        u = k - row[:, None] - row[None, :] + grand
        np.fill_diagonal(u, 0.0)
        return u

    x, y = _x(25, 4, 23), _x(25, 7, 24)
    y[:, :4] += np.sin(x)
    ku, lu = u_centre(m.gram_linear(x)), u_centre(m.gram_linear(y))
    ref = np.sum(ku * lu) / np.sqrt(np.sum(ku * ku) * np.sum(lu * lu))
    print("u-centred", ref, "ours", m.linear_cka(x, y, debiased=True))
    assert abs(m.linear_cka(x, y, debiased=True) - ref) < 1e-10
