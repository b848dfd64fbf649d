"""pairwise_similarity (blocked, float32/float64, numpy/torch) against the float64 reference."""

import numpy as np
import pytest
import torch

from simrepro.kernels import pairwise_similarity, pairwise_similarity_reference

METRICS = ["cosine", "dot", "l2", "gaussian"]


def _data(n, m, d, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)).astype(dtype), rng.standard_normal((m, d)).astype(dtype)


def _rel_err(S, R):
    return np.abs(np.asarray(S, np.float64) - R).max() / max(1.0, np.abs(R).max())


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dtype,budget", [(np.float32, 1e-5), (np.float64, 1e-12)])
def test_matches_reference_on_irregular_shape(metric, dtype, budget):
    x, y = _data(1823, 781, 13, dtype)                 # d small: the reference materialises (n, m, d)
    S = pairwise_similarity(x, y, metric, block_size=500)   # ragged last block
    assert S.shape == (1823, 781) and S.dtype == dtype
    err = _rel_err(S, pairwise_similarity_reference(x, y, metric))
    print(f"{metric} {np.dtype(dtype).name}: max relative error {err:.3g} (budget {budget})")
    assert err <= budget


@pytest.mark.parametrize("metric", METRICS)
def test_torch_input_and_self_similarity(metric):
    x, _ = _data(97, 1, 33, np.float64, seed=1)
    S = pairwise_similarity(torch.from_numpy(x), metric=metric)
    assert isinstance(S, torch.Tensor) and S.dtype == torch.float64
    assert _rel_err(S.numpy(), pairwise_similarity_reference(x, x, metric)) <= 1e-12
    torch.testing.assert_close(S, S.T)
    if metric == "l2":
        assert (S >= 0).all() and S.diagonal().abs().max() < 1e-9          # clamped; self-distance ≈ 0


def test_block_size_does_not_change_the_result():
    x, y = _data(257, 129, 40, np.float64, seed=2)
    full = pairwise_similarity(x, y, "gaussian", gamma=0.1)
    for block in (1, 7, 256, 10_000):
        np.testing.assert_allclose(pairwise_similarity(x, y, "gaussian", gamma=0.1, block_size=block), full,
                                   rtol=1e-14, atol=0)


def test_zero_vectors():
    x, y = _data(5, 6, 4, np.float64, seed=3)
    x[1] = 0.0
    y[2] = 0.0
    S = pairwise_similarity(x, y, "cosine")
    assert (S[1] == 0).all() and (S[:, 2] == 0).all()
    np.testing.assert_allclose(pairwise_similarity(x, y, "l2")[1], (y ** 2).sum(1), rtol=1e-12)
    np.testing.assert_allclose(S, pairwise_similarity_reference(x, y, "cosine"), atol=1e-12)


def test_float32_l2_is_upcast_against_cancellation():
    base = np.full((1, 64), 1000.0, np.float32)
    near = base + np.float32(1e-2)                         # ‖x − y‖² = 64·1e-4 = 6.4e-3, ‖x‖² ≈ 6.4e7
    d2 = pairwise_similarity(base, near, "l2")[0, 0]
    print(f"float32 l2 of nearby points: {d2:.6g} (exact {((near.astype(np.float64) - base) ** 2).sum():.6g})")
    assert abs(d2 - ((near.astype(np.float64) - base) ** 2).sum()) < 1e-4


def test_mixed_dtypes_promote_to_float64():
    x, y = _data(3, 4, 5)
    assert pairwise_similarity(x, y.astype(np.float64), "dot").dtype == np.float64


def test_empty_inputs():
    x, y = _data(0, 4, 5)
    assert pairwise_similarity(x, y).shape == (0, 4)
    assert pairwise_similarity(y, x, "l2").shape == (4, 0)


@pytest.mark.parametrize("call,exc,match", [
    (lambda x, y: pairwise_similarity(x, y, "manhattan"), ValueError, "unknown metric"),
    (lambda x, y: pairwise_similarity(x, y[:, :2]), ValueError, "dimension"),
    (lambda x, y: pairwise_similarity(x[0], y), ValueError, "2-D"),
    (lambda x, y: pairwise_similarity(x.astype(str), y), TypeError, "float"),
    (lambda x, y: pairwise_similarity(x, [[1.0]]), TypeError, "numpy array or torch tensor"),
    (lambda x, y: pairwise_similarity(x, y, "dot", gamma=1.0), ValueError, "gamma only applies"),
    (lambda x, y: pairwise_similarity(x, y, "gaussian", gamma=-1.0), ValueError, "positive"),
    (lambda x, y: pairwise_similarity(x, y, block_size=-3), ValueError, "block_size"),
])
def test_errors(call, exc, match):
    x, y = _data(3, 4, 5)
    with pytest.raises(exc, match=match):
        call(x, y)


def test_nan_is_rejected_naming_the_argument():
    x, y = _data(3, 4, 5)
    y[2, 1] = np.nan
    with pytest.raises(ValueError, match="y: 1 row"):
        pairwise_similarity(x, y)
