"""topk_search (blocked CPU path, Triton kernel under TRITON_INTERPRET) against the float64 reference, tie-aware."""

import numpy as np
import pytest
import torch

from simrepro.kernels.topk import (chunked_topk, limit_cpu_threads, running_topk_update, topk_search,
                                   topk_search_reference)
from simrepro.metrics import assert_knn_equal


def _data(nq, nb, d, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((nq, d)).astype(dtype), rng.standard_normal((nb, d)).astype(dtype)


def _l2_scale(q, y):
    """Size of the float32 cancellation error of ‖x‖² + ‖y‖² − 2x·y, per query."""
    return (q.astype(np.float64) ** 2).sum(1) + (y.astype(np.float64) ** 2).sum(1).max()


def _check(q, y, k, metric, D, I, rtol=2e-6):
    Dr, Ir = topk_search_reference(q, y, k, metric)
    D, I = np.asarray(D), np.asarray(I)
    assert I.dtype == np.int64 and D.shape == I.shape == (q.shape[0], k)
    fin = np.isfinite(Dr)
    print(f"{metric}: max |D − D_ref| = {np.abs(np.where(fin, D, 0) - np.where(fin, Dr, 0)).max():.3g}")
    scale = _l2_scale(q, y) if metric == "l2" else None
    assert_knn_equal(Dr, Ir, D, I, rtol=rtol, scale=scale)


@pytest.mark.parametrize("metric", ["dot", "cosine", "l2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 10])
def test_blocked_matches_reference_on_irregular_shapes(metric, dtype, k):
    q, y = _data(183, 1823, 67, dtype=dtype)
    for block in (None, (37, 640), (64, 1000)):          # 640 and 1000: chunked select + merge + a ragged tail
        D, I = topk_search(q, y, k, metric, block_size=block, device="cpu")
        assert D.dtype == dtype
        _check(q, y, k, metric, D, I, rtol=2e-6 if dtype == np.float32 else 1e-12)


def test_torch_in_torch_out_and_sorted_best_first():
    q, y = (torch.from_numpy(a) for a in _data(31, 500, 20, seed=1))
    D, I = topk_search(q, y, 9, "dot")
    assert isinstance(D, torch.Tensor) and I.dtype == torch.int64
    assert (D[:, :-1] >= D[:, 1:]).all()
    D2, _ = topk_search(q, y, 9, "l2")
    assert (D2[:, :-1] <= D2[:, 1:]).all()


def test_ties_and_duplicates():
    rng = np.random.default_rng(2)
    y = rng.integers(-2, 3, size=(700, 6)).astype(np.float32)   # few distinct values: many exact ties
    y = np.concatenate([y, y[:100]])                             # and duplicated rows
    q = rng.integers(-2, 3, size=(50, 6)).astype(np.float32)
    for metric in ("dot", "l2"):
        for k in (1, 5, 33):
            D, I = topk_search(q, y, k, metric, block_size=(16, 640))
            _check(q, y, k, metric, D, I)


def test_tie_aware_check_rejects_a_wrong_neighbour():
    q, y = _data(20, 300, 8, seed=3)
    D, I = topk_search(q, y, 5, "l2")
    I_bad = I.copy()
    I_bad[4, 0] = I[4, -1] + 1 if I[4, -1] + 1 not in I[4] else 299
    Dr, Ir = topk_search_reference(q, y, 5, "l2")
    with pytest.raises(AssertionError, match="query 4"):
        assert_knn_equal(Dr, Ir, D, I_bad, scale=_l2_scale(q, y))


def test_zero_vectors():
    q, y = _data(12, 300, 16, seed=4)
    q[3] = 0.0
    y[[5, 77]] = 0.0
    for metric in ("dot", "cosine", "l2"):
        D, I = topk_search(q, y, 4, metric)
        _check(q, y, 4, metric, D, I)
    D, _ = topk_search(q, y, 4, "cosine")
    np.testing.assert_array_equal(D[3], 0.0)                     # a zero query has cosine 0 with everything


@pytest.mark.parametrize("metric,filler", [("dot", -np.inf), ("cosine", -np.inf), ("l2", np.inf)])
def test_k_larger_than_database_pads_with_minus_one(metric, filler):
    q, y = _data(7, 5, 3, seed=5)
    D, I = topk_search(q, y, 8, metric)
    assert (I[:, 5:] == -1).all() and (D[:, 5:] == filler).all()
    assert (np.sort(I[:, :5], axis=1) == np.arange(5)).all()
    _check(q, y, 8, metric, D, I)


def test_empty_inputs():
    q, y = _data(4, 10, 3)
    D, I = topk_search(q[:0], y, 3)
    assert D.shape == I.shape == (0, 3)
    D, I = topk_search(q, y[:0], 3, "l2")
    assert (I == -1).all() and (D == np.inf).all()


def test_chunked_topk_values_equal_torch_topk():
    g = torch.Generator().manual_seed(6)
    for s in (torch.randn(40, 4096, generator=g), torch.randint(0, 4, (40, 4096), generator=g).float()):
        for k in (1, 10, 50):
            v, i = chunked_topk(s, k)
            torch.testing.assert_close(v, s.topk(k, dim=1).values, rtol=0, atol=0)
            torch.testing.assert_close(s.gather(1, i), v, rtol=0, atol=0)     # ids point at those values
            assert (i.sort(1).values.diff(dim=1) > 0).all()                 # no id twice


@pytest.mark.parametrize("k", [1, 3, 12])
def test_running_update_over_blocks_equals_topk_of_the_concatenation(k):
    g = torch.Generator().manual_seed(9)
    blocks = [torch.randn(30, m, generator=g) for m in (640, 1000, 4096, 7)]   # chunked, ragged, tiny blocks
    blocks.append(torch.randint(0, 3, (30, 640), generator=g).float())         # a block full of ties
    best_v = torch.full((30, k), float("-inf"))
    best_i = torch.full((30, k), -1, dtype=torch.int64)
    offset = 0
    for b in blocks:
        best_v, best_i = running_topk_update(b, best_v, best_i, offset)
        offset += b.shape[1]
    full = torch.cat(blocks, dim=1)
    torch.testing.assert_close(best_v, full.topk(k, dim=1).values, rtol=0, atol=0)
    torch.testing.assert_close(full.gather(1, best_i), best_v, rtol=0, atol=0)


def test_limit_cpu_threads_restores_the_setting():
    before = torch.get_num_threads()
    with limit_cpu_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad,match", [
    (dict(k=0), "k must be a positive integer"),
    (dict(k=2.5), "k must be a positive integer"),
    (dict(metric="gaussian"), "unknown metric"),
    (dict(device="tpu"), "device must be one of"),
    (dict(screen="yes"), "screen must be None"),
])
def test_argument_errors(bad, match):
    q, y = _data(3, 10, 4)
    kwargs = dict(k=2, metric="dot") | bad
    with pytest.raises(ValueError, match=match):
        topk_search(q, y, kwargs.pop("k"), **kwargs)


def test_input_errors():
    q, y = _data(3, 10, 4)
    q_nan = q.copy()
    q_nan[1, 2] = np.nan
    with pytest.raises(ValueError, match="queries: 1 row"):
        topk_search(q_nan, y, 2)
    with pytest.raises(ValueError, match="dimension"):
        topk_search(q, y[:, :3], 2)
    with pytest.raises(ValueError, match="2-D"):
        topk_search(q[0], y, 2)
    with pytest.raises(TypeError, match="database"):
        topk_search(q, y.astype(str), 2)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            topk_search(q, y, 2, device="cuda")


# --- Triton kernel (CPU: TRITON_INTERPRET=1, set in tests/conftest.py) ---------------------------------------

@pytest.mark.parametrize("metric", ["dot", "cosine", "l2"])
@pytest.mark.parametrize("k", [1, 7, 40])
def test_triton_kernel_matches_reference(metric, k):
    from simrepro.kernels.topk import _score_terms, _scores_to_distances, _validated
    from simrepro.kernels.triton.topk import triton_topk_scores

    qn, yn = _data(53, 301, 45, seed=7)                      # ragged in every dimension; k=40 > BLOCK_N
    yn[10] = yn[200]                                         # a duplicate
    q, y = _validated(qn, yn, metric)
    alpha, bias = _score_terms(y, metric)
    s, i = triton_topk_scores(q * alpha, y, bias, k, block_m=16, block_n=32, block_d=16)
    D, I = _scores_to_distances(s, i, q, metric, k)
    _check(qn, yn, k, metric, D.numpy(), I.numpy())


def test_triton_kernel_ties():
    from simrepro.kernels.topk import _score_terms
    from simrepro.kernels.triton.topk import triton_topk_scores

    rng = np.random.default_rng(8)
    y = torch.from_numpy(rng.integers(-1, 2, size=(90, 16)).astype(np.float32))
    q = torch.from_numpy(rng.integers(-1, 2, size=(20, 16)).astype(np.float32))
    alpha, bias = _score_terms(y, "dot")
    s, i = triton_topk_scores(q, y, bias, 12, block_m=16, block_n=32, block_d=16)
    _check(q.numpy(), y.numpy(), 12, "dot", s.numpy(), i.numpy())


def test_triton_rejects_too_large_k():
    from simrepro.kernels.triton.topk import TRITON_MAX_K, triton_topk_scores

    x = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="k ≤"):
        triton_topk_scores(x, torch.zeros(200, 4), torch.zeros(200), TRITON_MAX_K + 1)
