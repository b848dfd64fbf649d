"""ANNCUR: anchors, pseudo-inverse, CUR identity, candidates, recall; tolerances stated per test."""

import numpy as np
import pytest

from simrepro.methods.search import anncur as ac


def low_rank(n_q, n, r, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_q, r)) @ rng.standard_normal((r, n))


def test_sample_anchors_distinct_sorted_and_seeded():
    a = ac.sample_anchors(37, 11, np.random.default_rng(3))
    assert a.size == 11 and np.unique(a).size == 11 and np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 37
    assert np.array_equal(a, ac.sample_anchors(37, 11, np.random.default_rng(3)))
    assert ac.sample_anchors(5, 5, np.random.default_rng(0)).tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="1 ≤ k ≤ n"):
        ac.sample_anchors(5, 6, np.random.default_rng(0))
    with pytest.raises(ValueError):
        ac.sample_anchors(5, 0, np.random.default_rng(0))


@pytest.mark.parametrize("shape", [(13, 7), (7, 13), (1, 9), (9, 1)])
def test_pseudo_inverse_matches_numpy(shape):
    U = np.random.default_rng(1).standard_normal(shape)
    P = ac.pseudo_inverse(U)
    err = np.abs(P - np.linalg.pinv(U)).max()
    print("max |ours − numpy.pinv| =", err)
    assert P.shape == shape[::-1] and err < 1e-10                  # both SVD-based in float64
    assert np.allclose(U @ P @ U, U, atol=1e-10)                   # Penrose condition 1


def test_pseudo_inverse_rank_truncation_and_zero():
    U = low_rank(12, 9, 6, seed=2) + 1e-3 * np.random.default_rng(9).standard_normal((12, 9))
    assert np.linalg.matrix_rank(ac.pseudo_inverse(U)) == 9
    assert np.linalg.matrix_rank(ac.pseudo_inverse(U, rank=6)) == 6
    assert np.linalg.matrix_rank(ac.pseudo_inverse(U, rtol=1e-2)) == 6   # the 3 noise directions are ≪ 1e-2·σ1
    assert np.array_equal(ac.pseudo_inverse(np.zeros((4, 3))), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="rank"):
        ac.pseudo_inverse(U, rank=0)
    with pytest.raises(ValueError, match="NaN"):
        ac.pseudo_inverse(np.array([[1.0, np.nan]]))


def test_cur_exact_when_anchor_block_has_full_rank():
    M = low_rank(60, 45, 5)
    rng = np.random.default_rng(4)
    qa = ac.sample_anchors(60, 8, rng)
    idx = ac.build_cur_index(M[qa], ac.sample_anchors(45, 7, rng))
    approx = ac.cur_scores(M[:, idx.anchor_items], idx)
    err = np.abs(approx - M).max() / np.abs(M).max()
    print("relative max error of C U⁺ R on a rank-5 matrix:", err)
    assert idx.rank == 5 and err < 1e-9                            # M = C U⁺ R when rank(U) = rank(M)


def test_cur_not_exact_when_rank_too_small():
    M = low_rank(60, 45, 5)
    rng = np.random.default_rng(4)
    idx = ac.build_cur_index(M[ac.sample_anchors(60, 8, rng)], ac.sample_anchors(45, 3, rng))
    assert idx.rank == 3
    assert np.abs(ac.cur_scores(M[:, idx.anchor_items], idx) - M).max() > 1e-3


def test_cur_matches_lstsq_reference_on_noisy_matrix():
    rng = np.random.default_rng(5)
    M = low_rank(40, 53, 6, seed=5) + 0.1 * rng.standard_normal((40, 53))
    qa, qt = np.arange(25), np.arange(25, 40)
    a = ac.sample_anchors(53, 11, rng)
    idx = ac.build_cur_index(M[qa], a)
    fast = ac.cur_scores(M[np.ix_(qt, a)], idx)
    ref = ac.cur_scores_reference(M[np.ix_(qt, a)], M[qa], a)
    err = np.abs(fast - ref).max() / np.abs(ref).max()
    print("relative max |CU⁺R − lstsq reference| =", err)
    assert err < 1e-9


def test_build_index_rejects_bad_anchors():
    R = np.ones((3, 5))
    for bad in ([], [0, 0], [5], [-1]):
        with pytest.raises(ValueError):
            ac.build_cur_index(R, bad)
    with pytest.raises(ValueError, match="one column per anchor"):
        ac.cur_scores(np.ones((2, 3)), ac.build_cur_index(R, [0, 1]))


def test_anncur_candidates_distinct_budget_and_order():
    approx = np.array([[5.0, 4.0, 3.0, 9.0, 1.0, 2.0],
                       [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]])
    cand = ac.anncur_candidates(approx, [3], budget=3)
    assert cand.tolist() == [[3, 0, 1], [3, 4, 5]]                  # anchor first; ties by lower id
    assert all(np.unique(r).size == 3 for r in cand)
    with pytest.raises(ValueError, match="budget"):
        ac.anncur_candidates(approx, [0, 1, 2], budget=3)
    with pytest.raises(ValueError, match="budget"):
        ac.anncur_candidates(approx, [0], budget=7)


def test_rerank_candidates_match_bruteforce():
    rng = np.random.default_rng(6)
    q, x = rng.standard_normal((9, 17)), rng.standard_normal((101, 17))
    cand = ac.rerank_candidates(q, x, 13)
    ref = np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :13]
    assert np.array_equal(np.sort(cand, axis=1), np.sort(ref, axis=1))


def test_topk_recall_tie_aware_and_errors():
    exact = np.array([[3.0, 2.0, 2.0, 1.0, 0.0]])
    assert ac.topk_recall([[0, 2]], exact, 2)[0] == 1.0            # item 2 ties item 1 at the 2nd place
    assert ac.topk_recall([[0, 3]], exact, 2)[0] == 0.5
    assert ac.topk_recall([[0, 1, 2]], exact, 2)[0] == 1.0         # capped at k
    assert ac.topk_recall([[4, 3]], exact, 1)[0] == 0.0
    with pytest.raises(ValueError, match="k must be"):
        ac.topk_recall([[0]], exact, 0)
    with pytest.raises(ValueError, match="NaN"):
        ac.topk_recall([[0]], np.array([[np.nan, 1.0]]), 1)
    assert ac.topk_recall(np.zeros((0, 2), int), np.zeros((0, 5)), 2).size == 0


def test_budget_split_bounds():
    assert ac.budget_split(100, 0.25) == 25
    assert ac.budget_split(3, 0.01) == 1 and ac.budget_split(3, 0.99) == 2
    with pytest.raises(ValueError):
        ac.budget_split(1, 0.5)
    with pytest.raises(ValueError):
        ac.budget_split(10, 1.0)


def test_budget_sweep_exact_on_low_rank_and_counts_calls():
    """On an exactly low-rank score matrix CUR recovers every row, so ANNCUR's recall is 1 at every k ≤ B;
    the dual encoder sees a noisy copy of the factors, so its recall is below 1 at small budgets."""
    rng = np.random.default_rng(7)
    Fq, Fi = rng.standard_normal((120, 6)), rng.standard_normal((300, 6))
    M = Fq @ Fi.T
    rows = ac.budget_sweep(M, {"de_rerank": (Fq + 0.8 * rng.standard_normal(Fq.shape)) @ Fi.T}, n_anchor=40, n_val=20,
                           budgets=[20, 40], ks=[1, 10], fractions=[0.5], rng=np.random.default_rng(0))
    an = [r for r in rows if r["method"] == "anncur"]
    de = [r for r in rows if r["method"] == "de_rerank"]
    assert all(r["recall_test"] == 1.0 for r in an)
    assert all(r["calls"] == r["budget"] for r in rows)
    assert min(r["recall_test"] for r in de) < 1.0


def test_split_queries_partition():
    a, v, t = ac.split_queries(50, 20, 10, np.random.default_rng(0))
    assert np.array_equal(np.sort(np.r_[a, v, t]), np.arange(50)) and (a.size, v.size, t.size) == (20, 10, 20)
    with pytest.raises(ValueError):
        ac.split_queries(10, 5, 5, np.random.default_rng(0))


def test_tfidf_scores_rank_word_overlap_first():
    S = ac.tfidf_scores(["red apple"], ["green pear", "red apple pie", "red car", "apple"])
    assert S.shape == (1, 4) and S[0, 0] == 0.0 and S[0, 1] == S[0].max() and S[0, 2] > 0


def test_kth_best_and_precomputed_threshold_agree():
    rng = np.random.default_rng(8)
    E = np.round(rng.standard_normal((7, 31)), 1)
    cand = np.stack([rng.choice(31, 9, replace=False) for _ in range(7)])
    for k in (1, 5, 31):
        assert np.array_equal(ac.kth_best(E, k), np.sort(E, axis=1)[:, -k])
        assert np.array_equal(ac.topk_recall(cand, E, k), ac.topk_recall(cand, E, k, kth=ac.kth_best(E, k)))
    with pytest.raises(ValueError, match="k must be"):
        ac.kth_best(E, 32)
