"""LeanVec projections, loss and search (simrepro.methods.search.leanvec)."""

import numpy as np
import pytest

from simrepro.data.synthetic import ood_gaussian
from simrepro.methods.search import leanvec as lv


def _data(n=300, m=80, D=24, seed=0):
    g = ood_gaussian(n, m, D, seed=seed)
    return g.X.astype(np.float64), g.Q_ood.astype(np.float64), g


def test_loss_trace_formula_equals_pairs():
    X, Q, _ = _data(n=57, m=31, D=13)
    rng = np.random.default_rng(1)
    A, B = rng.standard_normal((4, 13)), rng.standard_normal((4, 13))
    got = lv.ip_loss(A, B, lv.second_moment(Q), lv.second_moment(X))
    assert got == pytest.approx(lv.ip_loss_reference(A, B, Q, X), rel=1e-10)
    # identity projections (d = D) give zero error; zero projections give E (q'x)^2
    I = np.eye(13)
    assert lv.ip_loss(I, I, lv.second_moment(Q), lv.second_moment(X)) == pytest.approx(0.0, abs=1e-12)
    assert lv.relative_ip_loss(0 * A, 0 * B, lv.second_moment(Q), lv.second_moment(X)) == pytest.approx(1.0)


def test_gradients_match_finite_differences():
    X, Q, _ = _data(D=9)
    KQ, KX = lv.second_moment(Q), lv.second_moment(X)
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((3, 9)), rng.standard_normal((3, 9))
    gA, gB = lv._grads(A, B, KQ, KX)
    E = rng.standard_normal((3, 9))
    h = 1e-6
    fdA = (lv.ip_loss(A + h * E, B, KQ, KX) - lv.ip_loss(A - h * E, B, KQ, KX)) / (2 * h)
    fdB = (lv.ip_loss(A, B + h * E, KQ, KX) - lv.ip_loss(A, B - h * E, KQ, KX)) / (2 * h)
    assert np.sum(gA * E) == pytest.approx(fdA, rel=1e-6)
    assert np.sum(gB * E) == pytest.approx(fdB, rel=1e-6)


def test_pca_is_top_eigenspace_and_orthonormal():
    X, _, g = _data(n=4000, D=16)
    P = lv.pca_projection(X, 5)
    assert P.shape == (5, 16)
    np.testing.assert_allclose(P @ P.T, np.eye(5), atol=1e-10)
    _, _, Vt = np.linalg.svd(X, full_matrices=False)
    assert lv.principal_angle_error(P, Vt[:5]) < 1e-8
    assert lv.principal_angle_error(P, Vt[5:10]) > 0.99          # a different subspace is far


def test_eig_beta_zero_is_pca_and_search_picks_least_loss():
    X, Q, _ = _data(D=20)
    KQ, KX = lv.second_moment(Q), lv.second_moment(X)
    P0, b0, _ = lv.leanvec_eig(KQ, KX, 5, betas=[0.0])
    assert b0 == 0.0 and lv.principal_angle_error(P0, lv.pca_projection(X, 5)) < 1e-8
    P, b, losses = lv.leanvec_eig(KQ, KX, 5, betas=[0.0, 0.3, 0.7, 1.0])
    assert lv.ip_loss(P, P, KQ, KX) == pytest.approx(min(losses))
    assert min(losses) < losses[0]                                 # OOD queries: β = 0 (PCA) is not best


def test_fw_monotone_and_beats_pca_on_ood():
    X, Q, _ = _data(n=2000, m=1000, D=32)
    KQ, KX = lv.second_moment(Q), lv.second_moment(X)
    A, B, hist = lv.leanvec_fw(KQ, KX, 8, n_iter=40)
    assert all(b <= a * (1 + 1e-9) for a, b in zip(hist, hist[1:]))
    assert hist[-1] < hist[0]
    P = lv.pca_projection(X, 8)
    assert lv.ip_loss(A, B, KQ, KX) < 0.8 * lv.ip_loss(P, P, KQ, KX)
    assert np.linalg.norm(A, 2) <= 1 + 1e-9 and np.linalg.norm(B, 2) <= 1 + 1e-9   # stays in the ball


def test_rerank_and_reduced_search_exact_at_full_dimension():
    rng = np.random.default_rng(3)
    X, Q = rng.standard_normal((203, 11)).astype(np.float32), rng.standard_normal((17, 11)).astype(np.float32)
    I = np.eye(11)
    ids = lv.reduced_rerank_search(Q, X, I, I, 5, 9)
    exact = np.argsort(-(Q @ X.T), axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(ids, exact)
    # rerank puts the best candidate first and never returns a −1 filler ahead of a real id
    cand = np.array([[3, -1, 7, 0]])
    out = lv.rerank(Q[:1], X, cand, 3)
    assert -1 not in out and sorted(out[0].tolist()) == sorted(
        [c for c in [3, 7, 0]][:3]) and (Q[0] @ X[out[0, 0]]) >= (Q[0] @ X[out[0, 1]])


def test_leanvec_hnsw_full_dimension_high_recall():
    from simrepro.methods.search.ann_eval import evaluate, exact_ground_truth
    rng = np.random.default_rng(4)
    X, Q = rng.standard_normal((1500, 12)).astype(np.float32), rng.standard_normal((40, 12)).astype(np.float32)
    gt = exact_ground_truth(X, Q, 10, "dot")
    rows = evaluate(lv.leanvec_hnsw("full", np.eye(12), np.eye(12), efs=(200,)), X, Q, gt, repeats=1)
    assert rows[0]["recall"] > 0.95 and rows[0]["index_bytes"] > X.nbytes


def test_bad_inputs_raise_clear_errors():
    X, Q, _ = _data(D=10)
    with pytest.raises(ValueError, match="target dimension"):
        lv.pca_projection(X, 11)
    with pytest.raises(ValueError, match="NaN"):
        lv.second_moment(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="no rows"):
        lv.second_moment(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="zero"):
        lv.leanvec_eig(np.zeros((4, 4)), np.eye(4), 2)
    with pytest.raises(ValueError, match="k ≤ n_rerank"):
        lv.reduced_rerank_search(Q, X, np.eye(10), np.eye(10), 5, 3)
    with pytest.raises(ValueError, match="zero vector"):
        lv._unit_rows(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="betas"):
        lv.leanvec_eig(lv.second_moment(Q), lv.second_moment(X), 2, betas=[1.5])


def test_ties_in_rerank_keep_candidate_order():
    X = np.ones((4, 3), np.float32)
    out = lv.rerank(np.ones((1, 3), np.float32), X, np.array([[2, 0, 3, 1]]), 4)
    np.testing.assert_array_equal(out, [[2, 0, 3, 1]])


def test_ood_gaussian_spectra():
    g = ood_gaussian(5000, 5000, 8, seed=0)
    vx = np.var(g.X @ g.rotation, axis=0)
    vq = np.var(g.Q_ood @ g.rotation, axis=0)
    np.testing.assert_allclose(vx, g.var_x, rtol=0.1)
    np.testing.assert_allclose(vq, g.var_x[::-1], rtol=0.1)


def test_split_queries_disjoint_and_checked():
    tr, ev = lv.split_queries(50, 30, 20, seed=3)
    assert len(set(tr) | set(ev)) == 50 and not set(tr) & set(ev)
    with pytest.raises(ValueError, match="n_train"):
        lv.split_queries(10, 8, 5, seed=0)


def test_compare_projections_ood_gain_and_id_parity():
    g = ood_gaussian(3000, 1200, 32, seed=5)
    ood = lv.compare_projections(g.X, g.Q_ood[:800], g.Q_ood[800:], 8, k=5, n_rerank=20, fw_iters=10)
    assert ood["leanvec"]["ip_err"] < ood["pca"]["ip_err"]
    assert ood["leanvec"]["recall_first"] > ood["pca"]["recall_first"]
    assert ood["fw_monotone"] and 0 <= ood["pca"]["recall"] <= 1
    same = lv.compare_projections(g.X, g.X[:800], g.Q_id[:400], 8, k=5, n_rerank=20, fw_iters=10)
    assert abs(same["leanvec"]["recall"] - same["pca"]["recall"]) < 0.05
