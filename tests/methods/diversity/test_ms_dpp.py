import numpy as np
import pytest
import scipy.linalg

from simrepro.methods.diversity.ms_dpp import (contextual_vendi, dist_inv_similarity, dpp_rerank, ilad_ilmd,
                                     linear_average_similarity, mmr_rerank, ms_dpp_rerank, ms_dpp_similarity,
                                     normalized_vendi, spd_exp, spd_log, topk_by_relevance)


def _points(n, d, seed):
    return np.random.default_rng(seed).normal(size=(n, d))


def test_dist_inv_is_definition_and_pd():
    X = _points(23, 5, 0)
    K = dist_inv_similarity(X)
    ref = 1.0 / (1.0 + np.linalg.norm(X[:, None] - X[None], axis=-1))
    print("max diff", np.abs(K - ref).max())
    np.testing.assert_allclose(K, ref, rtol=1e-7)   # sqrt of the l2 expansion's round-off: ~1e-8·‖x‖
    np.testing.assert_array_equal(np.diag(K), 1.0)
    assert np.linalg.eigvalsh(K).min() > 0


def test_spd_log_exp_against_scipy():
    K = dist_inv_similarity(_points(17, 3, 1))
    T = spd_log(K)
    ref = scipy.linalg.logm(K + 1e-3 * np.eye(17)).real
    print("logm err", np.abs(T - ref).max())
    np.testing.assert_allclose(T, ref, atol=1e-9)
    np.testing.assert_allclose(spd_exp(T), K + 1e-3 * np.eye(17), atol=1e-10)
    np.testing.assert_allclose(spd_exp(T), scipy.linalg.expm(T), atol=1e-9)


def test_single_source_identities():
    A = dist_inv_similarity(_points(12, 4, 2))
    B = dist_inv_similarity(_points(12, 2, 3))
    eye = np.eye(12) * 1e-3
    # β = 1: only the appearance source; β = 0, one attribute, s = +1: that attribute; s = −1: its inverse
    np.testing.assert_allclose(ms_dpp_similarity(A, [B], [1], beta=1.0), A + eye, atol=1e-10)
    np.testing.assert_allclose(ms_dpp_similarity(A, [B], [1], beta=0.0), B + eye, atol=1e-10)
    np.testing.assert_allclose(ms_dpp_similarity(A, [B], [-1], beta=0.0), np.linalg.inv(B + eye), rtol=1e-6)


def test_log_euclidean_mean_of_commuting_matrices():
    # for commuting SPD matrices the log-Euclidean mean is the matrix geometric mean A^½ B^½
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.normal(size=(9, 9)))
    a, b = rng.uniform(0.5, 3, 9), rng.uniform(0.5, 3, 9)
    A, B = (Q * a) @ Q.T - 1e-3 * np.eye(9), (Q * b) @ Q.T - 1e-3 * np.eye(9)
    S = ms_dpp_similarity(A, [B], [1], beta=0.5)
    np.testing.assert_allclose(S, (Q * np.sqrt(a * b)) @ Q.T, atol=1e-9)


def test_tangent_normalisation_against_hand_formula():
    A = dist_inv_similarity(_points(15, 4, 5))
    Bs = [dist_inv_similarity(_points(15, 1, s)) for s in (6, 7)]
    c = 2.0
    logm = lambda K: scipy.linalg.logm(K + 1e-3 * np.eye(15)).real          # noqa: E731
    unit = lambda T: c * T / np.linalg.norm(T)                               # noqa: E731
    mean_att = unit((unit(logm(Bs[0])) - unit(logm(Bs[1]))) / 2)
    ref = scipy.linalg.expm(0.5 * mean_att + 0.5 * unit(logm(A)))
    S = ms_dpp_similarity(A, Bs, [1, -1], beta=0.5, tangent_scale=c)
    print("TN err", np.abs(S - ref).max())
    np.testing.assert_allclose(S, ref, atol=1e-8)
    assert np.linalg.norm(scipy.linalg.logm(S).real) <= c + 1e-8


def test_linear_average_baseline():
    A, B, C = (np.full((3, 3), v) for v in (1.0, 2.0, 4.0))
    np.testing.assert_allclose(linear_average_similarity(A, [B, C], [1, -1], beta=0.25),
                               0.75 * (2.0 - 4.0) / 2 + 0.25 * 1.0)


def test_dpp_rerank_theta_zero_is_pure_diversity_and_high_theta_is_topk():
    rng = np.random.default_rng(8)
    X = _points(40, 3, 8)
    r = rng.uniform(0.1, 1.0, 40)
    S = dist_inv_similarity(X)
    assert set(dpp_rerank(r, S, 6, theta=0.999).tolist()) == set(topk_by_relevance(r, 6).tolist())
    div = dpp_rerank(r, S, 6, theta=0.0)
    top = topk_by_relevance(r, 6)
    assert ilad_ilmd(X, div)[0] > ilad_ilmd(X, top)[0]


def test_decrease_direction_clusters_the_attribute():
    # attribute = 1-d "year"; asking for less diversity must shrink its ILAD below the increase direction's
    rng = np.random.default_rng(9)
    n = 60
    year = rng.uniform(0, 10, (n, 1))
    app = _points(n, 8, 10)
    r = rng.uniform(0.5, 1.0, n)
    K_app, K_year = dist_inv_similarity(app), dist_inv_similarity(year)
    up = ms_dpp_rerank(r, K_app, [K_year], [1], 10, theta=0.5)
    down = ms_dpp_rerank(r, K_app, [K_year], [-1], 10, theta=0.5)
    print("ILAD up", ilad_ilmd(year, up)[0], "down", ilad_ilmd(year, down)[0])
    assert ilad_ilmd(year, down)[0] < ilad_ilmd(year, up)[0]
    assert len(set(up.tolist())) == 10 and len(set(down.tolist())) == 10


def test_mmr_definition():
    r = np.array([1.0, 0.99, 0.5])
    S = np.array([[1.0, 0.95, 0.0], [0.95, 1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_array_equal(mmr_rerank(r, S, 2, lam=0.5), [0, 2])   # 0.25 − 0 > 0.495 − 0.475
    np.testing.assert_array_equal(mmr_rerank(r, S, 2, lam=1.0), [0, 1])


def test_ilad_ilmd_and_vendi():
    X = np.array([[0.0], [3.0], [4.0]])
    ilad, ilmd = ilad_ilmd(X, [0, 1, 2])
    assert ilad == pytest.approx((3 + 4 + 1) / 3) and ilmd == pytest.approx(1.0)
    # independent definition: eigenvalues of K/k + 1e-5·I, Rényi entropy of order 0.1
    X = _points(7, 3, 11)
    lam = np.linalg.eigvalsh(dist_inv_similarity(X) / 7 + 1e-5 * np.eye(7))
    ref = (np.sum(lam ** 0.1) ** (1 / 0.9) - 1) / 6
    assert normalized_vendi(X, range(7)) == pytest.approx(ref, rel=1e-10)
    same = np.zeros((5, 2))
    far = np.arange(5.0)[:, None] * 1e6
    floor = ((1 + 1e-5) ** 0.1 + 4 * 1e-5 ** 0.1) ** (1 / 0.9)
    assert normalized_vendi(same, range(5)) == pytest.approx((floor - 1) / 4, rel=1e-6)
    assert normalized_vendi(far, range(5)) == pytest.approx(1.0, abs=1e-3)
    sc = contextual_vendi([far, same], [1, -1], range(5))
    assert sc.per_source[1] == pytest.approx(1 - (floor - 1) / 4, rel=1e-6)
    assert sc.harmonic_mean == pytest.approx(2 / (1 / sc.per_source[0] + 1 / sc.per_source[1]))


@pytest.mark.parametrize("call,msg", [
    (lambda: ms_dpp_similarity(np.eye(3), [np.eye(3)], [2]), "signs"),
    (lambda: ms_dpp_similarity(np.eye(3), [np.eye(3)], [1], beta=1.5), "beta"),
    (lambda: ms_dpp_similarity(np.eye(3), [], []), "at least one"),
    (lambda: ms_dpp_similarity(np.eye(3), [np.eye(4)], [1]), r"\(3, 3\)"),
    (lambda: dpp_rerank([1.0, 2.0], np.eye(3), 1), "relevance has 2"),
    (lambda: dpp_rerank([1.0, np.nan, 1.0], np.eye(3), 1), "NaN"),
    (lambda: dpp_rerank([1.0, 1.0, 1.0], np.eye(3), 4), "k must"),
    (lambda: dpp_rerank([1.0, 1.0, 1.0], np.eye(3), 2, theta=1.0), "theta"),
    (lambda: ms_dpp_rerank([1.0, -1.0, 1.0], np.eye(3), [np.eye(3)], [1], 2), "relevance > 0"),
    (lambda: ilad_ilmd(np.eye(3), [0]), "at least 2"),
])
def test_errors(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()


def test_official_basic_usage_example_output():
    # stored output of github.com/NEC-N-SOGI/msdpp notebooks/msdpp_basic_usage.ipynb (last cell)
    from simrepro.methods.diversity.ms_dpp import official_basic_usage_ranking
    assert official_basic_usage_ranking() == [72, 3, 96, 70, 30, 43, 8, 10, 79, 1]
    # the direction reaches the ranking: all-increase orders the same inputs differently
    assert official_basic_usage_ranking(signs=(1, 1, 1)) != [72, 3, 96, 70, 30, 43, 8, 10, 79, 1]
