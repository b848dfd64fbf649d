"""Co-occurrence counting and PMI / PPMI / SPPMI: fast paths against plain references, edge cases, bad input."""

import numpy as np
import pytest
import scipy.sparse as sp

from simrepro.kernels import pmi


@pytest.mark.parametrize("window,weighting", [(1, "harmonic"), (3, "harmonic"), (4, "uniform"), (50, "harmonic")])
def test_cooccurrence_equals_reference(window, weighting):
    rng = np.random.default_rng(window)
    seqs = [rng.integers(0, 7, n) for n in (0, 1, 2, 5, 13, 30)]
    fast = pmi.cooccurrence(seqs, 7, window, weighting).toarray()
    np.testing.assert_allclose(fast, pmi.cooccurrence_reference(seqs, 7, window, weighting), rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast, fast.T)


def test_cooccurrence_hand_case_and_boundaries():
    X = pmi.cooccurrence([np.array([0, 1, 2]), np.array([2, 0])], 3, window=2).toarray()
    # (0,1) at offset 1: 1; (1,2) at offset 1: 1; (0,2) at offset 2: ½ in sequence 1, 1 in sequence 2
    np.testing.assert_allclose(X, [[0, 1, 1.5], [1, 0, 1], [1.5, 1, 0]])
    assert pmi.cooccurrence([], 4).shape == (4, 4) and pmi.cooccurrence([np.array([1])], 4).nnz == 0
    X2 = pmi.cooccurrence(np.array([[0, 1], [1, 0]]), 2, window=1).toarray()     # 2-D input = rows as sequences
    np.testing.assert_allclose(X2, [[0, 2], [2, 0]])


@pytest.mark.parametrize("kind,shift,alpha", [("pmi", 1, 1.0), ("ppmi", 1, 1.0), ("sppmi", 5, 1.0),
                                              ("ppmi", 1, 0.75), ("pmi", 1, 0.5)])
@pytest.mark.parametrize("shape", [(6, 6), (5, 9), (1, 4)])
def test_pmi_equals_dense_reference(kind, shift, alpha, shape):
    rng = np.random.default_rng(sum(shape))
    X = rng.poisson(1.0, shape).astype(float) * (rng.random(shape) < 0.6)
    X[0, 0] = 3.0
    if shape[0] > 2:
        X[1] = 0.0                                    # an empty row has no entries
    fast = pmi.pmi(sp.csr_matrix(X), kind, shift=shift, alpha=alpha)
    ref = pmi.pmi_dense_reference(X, kind, shift=shift, alpha=alpha)
    dense = fast.toarray()
    if kind == "pmi":
        obs = X > 0
        np.testing.assert_allclose(dense[obs], ref[obs], rtol=0, atol=1e-12)
        assert np.isneginf(ref[~obs]).all() and fast.nnz == obs.sum()
    else:
        np.testing.assert_allclose(dense, ref, rtol=0, atol=1e-12)
        assert (fast.data > 0).all()


def test_pmi_independent_counts_are_zero():
    r, c = np.array([1.0, 2.0, 3.0]), np.array([2.0, 1.0, 1.0, 4.0])
    X = np.outer(r, c)                                  # X_ij ∝ r_i c_j: independence, PMI = 0 everywhere
    np.testing.assert_allclose(pmi.pmi(X).toarray(), 0.0, atol=1e-12)
    assert np.abs(pmi.pmi(X, "ppmi").data).max(initial=0) < 1e-12     # round-off only
    assert pmi.pmi(np.zeros((3, 3))).nnz == 0


@pytest.mark.parametrize("call,msg", [
    (lambda: pmi.pmi(np.array([[1.0, np.nan]])), "NaN"),
    (lambda: pmi.pmi(np.array([[1.0, -1.0]])), "≥ 0"),
    (lambda: pmi.pmi(np.ones((2, 2)), "npmi"), "kind"),
    (lambda: pmi.pmi(np.ones((2, 2)), "sppmi", shift=0.5), "shift"),
    (lambda: pmi.pmi(np.ones((2, 2)), alpha=0), "alpha"),
    (lambda: pmi.cooccurrence([np.array([0, 5])], 3), r"\[0, 3\)"),
    (lambda: pmi.cooccurrence([np.array([0.5, 1.0])], 3), "integer"),
    (lambda: pmi.cooccurrence([np.array([0, 1])], 3, window=0), "window"),
    (lambda: pmi.cooccurrence([np.array([0, 1])], 3, weighting="linear"), "weighting"),
])
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
