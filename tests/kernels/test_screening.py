"""Certified bf16 screening: the error bound holds pair by pair, and screened search equals the float64
reference (tie-aware) on irregular shapes, ties, duplicates, zero vectors, extreme magnitudes and float64 input."""

import numpy as np
import pytest
import torch

from simrepro.kernels.kselect import CHUNK
from simrepro.kernels.screening import _RHO, ScreenedDatabase, _Side, native_bf16_available
from simrepro.kernels.topk import _validated, topk_search, topk_search_reference
from simrepro.metrics import assert_knn_equal


def _check(q, y, k, metric, D, I, rtol=2e-6):
    Dr, Ir = topk_search_reference(q, y, k, metric)
    assert I.dtype == np.int64 and D.shape == I.shape == (q.shape[0], k)
    print(f"{metric}: max |D − D_ref| / (|D_ref| + 1) = {np.max(np.abs(D - Dr) / (np.abs(Dr) + 1)):.3g}")
    assert_knn_equal(Dr, Ir, D, I, rtol=rtol, atol=0)


def _exact_scores(q: np.ndarray, y: np.ndarray, metric: str) -> np.ndarray:
    """s_ij in float64 (exact enough: error ≈ 1e-16 relative): x·y, or −‖x − y‖²."""
    q64, y64 = q.astype(np.float64), y.astype(np.float64)
    if metric == "l2":
        return -(((q64[:, None, :] - y64[None, :, :]) ** 2).sum(-1))
    return q64 @ y64.T


CASES = {
    "gaussian": lambda rng: (rng.standard_normal((37, 45)), rng.standard_normal((700, 45))),
    "offset far from the origin": lambda rng: (1e4 + rng.standard_normal((37, 45)), 1e4 + rng.standard_normal((700, 45))),
    "mixed norms": lambda rng: (rng.standard_normal((37, 45)) * rng.lognormal(0, 3, (37, 1)),
                                rng.standard_normal((700, 45)) * rng.lognormal(0, 3, (700, 1))),
    "tiny (near denormal)": lambda rng: (rng.standard_normal((37, 45)) * 1e-19, rng.standard_normal((700, 45)) * 1e-19),
    "huge": lambda rng: (rng.standard_normal((37, 45)) * 1e17, rng.standard_normal((700, 45)) * 1e17),
    "pixels": lambda rng: (rng.integers(0, 256, (37, 45)), rng.integers(0, 256, (700, 45))),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("metric", ["dot", "cosine", "l2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_error_bound_holds_for_every_pair(case, metric, dtype):
    """|w − s| ≤ ρ|w| + E for every pair, where w is the bf16 GEMM's score and s the exact score."""
    rng = np.random.default_rng(0)
    qn, yn = (a.astype(dtype) for a in CASES[case](rng))
    q, y = _validated(qn, yn, metric)
    database = ScreenedDatabase(y, metric, 224, CHUNK)                  # 4 blocks, the last ragged
    side = _Side(q, database.shift, "query")
    w = (side.matrix.float() @ database.matrix.float().T).to(torch.bfloat16).double()   # exact products, one rounding
    w_gemm = torch.mm(side.matrix, database.matrix.T).double()           # the GEMM the search runs
    s = torch.from_numpy(_exact_scores(q.numpy(), y.numpy(), "l2" if metric == "l2" else "dot"))
    s = s[:, database.order]
    block = torch.arange(y.shape[0]) // database.block
    E = torch.stack([database.error_bound(side, int(b)) for b in block], 1)          # (nq, nb)
    for name, scores in (("float32-accumulated", w), ("oneDNN GEMM", w_gemm)):
        slack = _RHO * scores.abs() + E
        ratio = float(((scores - s).abs() / slack).max())
        print(f"{case}, {metric}, {np.dtype(dtype).name}, {name}: max |w − s| / bound = {ratio:.3g}")
        assert ratio <= 1.0


@pytest.mark.parametrize("metric", ["dot", "cosine", "l2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 10, 33])
def test_screened_search_matches_reference_on_irregular_shapes(metric, dtype, k):
    rng = np.random.default_rng(1)
    q, y = rng.standard_normal((183, 67)).astype(dtype), rng.standard_normal((1823, 67)).astype(dtype)
    for block in (None, (37, 1056), (64, 1000)):                         # ragged query and database blocks
        D, I = topk_search(q, y, k, metric, block_size=block, screen=True)
        assert D.dtype == dtype
        _check(q, y, k, metric, D, I)


@pytest.mark.parametrize("metric", ["dot", "l2"])
def test_ties_duplicates_and_zero_vectors(metric):
    rng = np.random.default_rng(2)
    y = rng.integers(-2, 3, size=(1400, 6)).astype(np.float32)          # few distinct values: many exact ties
    y = np.concatenate([y, y[:300], np.zeros((5, 6), np.float32)])      # duplicated rows, zero rows
    q = rng.integers(-2, 3, size=(50, 6)).astype(np.float32)
    q[7] = 0.0
    for k in (1, 5, 33):
        D, I = topk_search(q, y, k, metric, screen=True, block_size=(16, 640))
        _check(q, y, k, metric, D, I)


def test_crowded_scores_fall_back_to_the_scan_with_the_same_answer():
    """Rows that agree to within bf16 precision: the bound cannot separate them, so the screen gives up."""
    rng = np.random.default_rng(3)
    y = (1.0 + 1e-4 * rng.standard_normal((3000, 16))).astype(np.float32)
    q = (1.0 + 1e-4 * rng.standard_normal((20, 16))).astype(np.float32)
    qt, yt = _validated(q, y, "dot")
    assert ScreenedDatabase(yt, "dot", 1024, CHUNK).search(qt, 5) is None
    D, I = topk_search(q, y, 5, "dot", screen=True)
    _check(q, y, 5, "dot", D, I)


def test_scores_that_could_overflow_bf16_fall_back():
    y = np.full((500, 4), 3e19, np.float32)
    q, yt = _validated(y[:3], y, "dot")
    assert ScreenedDatabase(yt, "dot", 256, CHUNK).search(q, 2) is None


def test_screen_keeps_few_pairs_on_separated_data():
    """Not vacuous: on Gaussian data the bound leaves about k + a few dozen pairs per query to rescore."""
    rng = np.random.default_rng(4)
    q, y = _validated(rng.standard_normal((256, 64)).astype(np.float32),
                      rng.standard_normal((20000, 64)).astype(np.float32), "l2")
    database = ScreenedDatabase(y, "l2", 4096, CHUNK)
    database.search(q, 10)
    print(f"kept pairs per query: {database.kept_per_query:.1f}")
    assert 10 <= database.kept_per_query <= 10 + 64


def test_auto_screening_needs_a_large_float32_search(monkeypatch):
    import simrepro.kernels.topk as topk
    calls = []
    monkeypatch.setattr(topk, "_screened_search", lambda *a: calls.append(a) or topk._empty_result(3, 2, "dot", torch.float32))
    q, y = np.ones((3, 4), np.float32), np.ones((100, 4), np.float32)
    topk_search(q, y, 2)                                                 # small: the scan
    assert not calls
    monkeypatch.setattr(topk, "_SCREEN_MIN_FLOP", 1)
    topk_search(q.astype(np.float64), y.astype(np.float64), 2)            # float64: the scan unless asked
    assert not calls
    topk_search(q, y, 2)
    assert len(calls) == int(native_bf16_available())
    topk_search(q, y, 4, screen=True)                                    # nb = 100 < 32·k: the scan
    assert len(calls) == int(native_bf16_available())
