"""Tie-aware k-NN comparison and recall against hand-made cases."""

import numpy as np
import pytest

from simrepro.metrics import assert_knn_equal, knn_matches, knn_recall


def test_ties_may_reorder_and_swap_at_the_boundary():
    D_ref = np.array([[1.0, 2.0, 2.0, 3.0]])
    I_ref = np.array([[7, 4, 5, 9]])
    assert knn_matches(D_ref, I_ref, D_ref, np.array([[7, 5, 4, 9]])).all()        # tie inside: any order
    D_ref = np.array([[1.0, 2.0, 3.0, 3.0]])
    I_ref = np.array([[7, 4, 9, 1]])
    assert knn_matches(D_ref, I_ref, D_ref, np.array([[7, 4, 9, 2]])).all()        # another id tied at the k-th


def test_wrong_neighbour_distance_or_filler_is_caught():
    D_ref, I_ref = np.array([[1.0, 2.0, 3.0]]), np.array([[0, 1, 2]])
    assert not knn_matches(D_ref, I_ref, D_ref, np.array([[0, 5, 2]])).any()       # id 1 is not tied: missing
    assert not knn_matches(D_ref, I_ref, D_ref + [[0, 0, 0.1]], I_ref).any()       # distance off
    D_pad, I_pad = np.array([[1.0, np.inf]]), np.array([[0, -1]])
    assert knn_matches(D_pad, I_pad, D_pad, I_pad).all()
    assert not knn_matches(D_pad, I_pad, np.array([[1.0, 5.0]]), np.array([[0, 3]])).any()
    with pytest.raises(AssertionError, match="1 of 1 queries"):
        assert_knn_equal(D_ref, I_ref, D_ref, np.array([[0, 5, 2]]))


def test_tolerance_scales_with_scale():
    D_ref, I_ref = np.array([[1e6, 2e6]]), np.array([[0, 1]])
    D = D_ref + [[3.0, -3.0]]
    assert not knn_matches(D_ref, I_ref, D, I_ref, rtol=1e-7).any()
    assert knn_matches(D_ref, I_ref, D, I_ref, rtol=1e-7, scale=[1e8]).all()


def test_shape_errors():
    with pytest.raises(ValueError, match="same nq and k"):
        knn_matches(np.zeros((2, 3)), np.zeros((2, 3), int), np.zeros((2, 2)), np.zeros((2, 2), int))
    with pytest.raises(TypeError, match="integer ids"):
        knn_matches(np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1)), np.zeros((1, 1), int))


def test_recall():
    I_true = np.array([[1, 2, 3], [4, 5, 6]])
    I = np.array([[3, 2, 9], [-1, -1, -1]])
    assert knn_recall(I_true, I) == pytest.approx((2 / 3 + 0) / 2)
    assert knn_recall(I_true, I, k=1) == 0.0
    with pytest.raises(ValueError, match="k must be"):
        knn_recall(I_true, I, k=4)
