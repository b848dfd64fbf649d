"""Item–item cosine on sparse interactions against the pair-by-pair definition."""

import numpy as np
import pytest
import scipy.sparse as sp

from simrepro.kernels.sparse_similarity import sparse_cosine_similarity, sparse_cosine_similarity_reference


def _X(seed, n=23, m=17, density=0.25, binary=True):
    rng = np.random.default_rng(seed)
    X = (rng.random((n, m)) < density).astype(float)
    if not binary:
        X *= rng.integers(1, 6, (n, m))
    X[:, 3] = 0                                                                    # an item nobody touched
    return X


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("shrink", [0.0, 5.0])
@pytest.mark.parametrize("topk", [None, 1, 4, 50])
@pytest.mark.parametrize("zero_diagonal", [True, False])
def test_matches_reference(binary, shrink, topk, zero_diagonal):
    X = _X(int(shrink) + (topk or 0), binary=binary)
    S = sparse_cosine_similarity(sp.csr_matrix(X), shrink=shrink, topk=topk, zero_diagonal=zero_diagonal)
    R = sparse_cosine_similarity_reference(X, shrink=shrink, topk=topk, zero_diagonal=zero_diagonal)
    assert sp.issparse(S) and S.shape == (17, 17)
    np.testing.assert_allclose(S.toarray(), R, atol=1e-12, rtol=0)
    assert not S.toarray()[3].any() and not S.toarray()[:, 3].any()              # zero column: similarity 0
    if topk is not None:
        assert (np.diff(S.indptr) <= topk).all()


def test_dense_input_and_known_values():
    X = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 1]], dtype=float)
    S = sparse_cosine_similarity(X).toarray()
    # columns (1,1,0), (1,0,1), (0,0,1): cos01 = 1/2, cos02 = 0, cos12 = 1/√2
    np.testing.assert_allclose(S, [[0, 0.5, 0], [0.5, 0, 2 ** -0.5], [0, 2 ** -0.5, 0]], atol=1e-15)
    np.testing.assert_allclose(sparse_cosine_similarity(X, zero_diagonal=False).toarray().diagonal(), [1, 1, 1])


def test_topk_ties_keep_lower_index():
    X = np.array([[1, 1, 1, 1]], dtype=float)                                     # every pair has cosine 1
    S = sparse_cosine_similarity(X, topk=2).toarray()
    np.testing.assert_array_equal(S, [[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 0], [1, 1, 0, 0]])


def test_edge_cases_and_errors():
    assert sparse_cosine_similarity(np.zeros((0, 5))).nnz == 0
    assert sparse_cosine_similarity(np.zeros((4, 5))).nnz == 0
    with pytest.raises(ValueError, match="NaN"):
        sparse_cosine_similarity(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="shrink"):
        sparse_cosine_similarity(np.eye(3), shrink=-1)
    with pytest.raises(ValueError, match="topk"):
        sparse_cosine_similarity(np.eye(3), topk=0)
    with pytest.raises(TypeError, match="numeric"):
        sparse_cosine_similarity(np.array([["a"]]))
