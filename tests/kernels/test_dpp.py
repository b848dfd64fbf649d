import math

import numpy as np
import pytest
import torch

from simrepro.kernels.dpp import (dpp_map_bruteforce, greedy_map_dpp, greedy_map_dpp_reference,
                                  subset_logdet)


def _wishart(n, rank, seed):
    rng = np.random.default_rng(seed)
    B = rng.normal(size=(n, rank))
    return B @ B.T


@pytest.mark.parametrize("n,k,seed", [(7, 3, 0), (12, 5, 1), (31, 9, 2), (97, 13, 3)])
def test_fast_greedy_matches_reference(n, k, seed):
    L = _wishart(n, n + 3, seed)
    fast, ref = greedy_map_dpp(L, k), greedy_map_dpp_reference(L, k)
    print("fast", fast, "ref", ref)
    np.testing.assert_array_equal(fast, ref)


def test_greedy_gains_telescope_to_logdet():
    L = _wishart(40, 50, 4)
    idx = greedy_map_dpp(L, 8)
    # the product of the chosen gains d_j² is det(L_Y): compare with slogdet, relative error 1e-10
    Y = list(idx)
    assert math.isclose(subset_logdet(L, Y), np.linalg.slogdet(L[np.ix_(Y, Y)])[1], rel_tol=1e-10)


def test_greedy_vs_bruteforce_small():
    ratios = []
    for seed in range(20):
        L = _wishart(10, 12, seed)
        g = greedy_map_dpp(L, 4)
        best, best_val = dpp_map_bruteforce(L, 4)
        val = subset_logdet(L, g)
        assert val <= best_val + 1e-9          # brute force is the maximum
        ratios.append(math.exp(val - best_val))
    print("det ratio greedy/opt: min", min(ratios), "mean", np.mean(ratios))
    assert min(ratios) > 0.3                    # greedy is near-optimal on these, not exact in general


def test_bruteforce_finds_planted_optimum():
    # block-diagonal: two identical items and three orthogonal ones → the MAP of size 3 avoids the duplicate pair
    L = np.eye(5)
    L[0, 1] = L[1, 0] = 0.999
    best, _ = dpp_map_bruteforce(L, 4)
    assert not {0, 1} <= set(best.tolist())


def test_low_rank_stops_early():
    L = _wishart(20, 3, 5)                      # rank 3
    idx = greedy_map_dpp(L, 6)
    assert len(idx) == 3
    np.testing.assert_array_equal(idx, greedy_map_dpp_reference(L, 6))


def test_ties_go_to_lowest_index():
    np.testing.assert_array_equal(greedy_map_dpp(np.eye(6), 4), [0, 1, 2, 3])
    np.testing.assert_array_equal(greedy_map_dpp_reference(np.eye(6), 4), [0, 1, 2, 3])


def test_edge_cases_and_torch_input():
    assert greedy_map_dpp(np.eye(3), 0).shape == (0,)
    assert greedy_map_dpp(np.zeros((0, 0)), 0).shape == (0,)
    assert greedy_map_dpp(np.zeros((4, 4)), 2).shape == (0,)     # zero kernel: no positive gain
    L = _wishart(9, 9, 6)
    np.testing.assert_array_equal(greedy_map_dpp(torch.from_numpy(L).float(), 4), greedy_map_dpp(L, 4))


@pytest.mark.parametrize("bad,msg", [
    (np.ones((3, 4)), "square"),
    (np.array([[1.0, 2.0], [0.0, 1.0]]), "symmetric"),
    (np.array([[np.nan, 0.0], [0.0, 1.0]]), "NaN"),
])
def test_bad_kernels(bad, msg):
    with pytest.raises(ValueError, match=msg):
        greedy_map_dpp(bad, 1)


@pytest.mark.parametrize("k", [-1, 4, 1.5, True])
def test_bad_k(k):
    with pytest.raises(ValueError, match="k must be"):
        greedy_map_dpp(np.eye(3), k)


def test_bruteforce_refuses_huge():
    with pytest.raises(ValueError, match="too many"):
        dpp_map_bruteforce(np.eye(60), 30)
