"""Batched beam search against the per-query reference; exhaustive beam finds the exact neighbours."""

import numpy as np
import pytest
import torch

from simrepro.kernels.graph_search import beam_search, beam_search_reference
from simrepro.kernels.topk import topk_search_reference


def _setup(n=301, d=9, nq=17, R=6, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    if ties:
        x = np.round(x)                                   # integer vectors: many tied distances
    q = rng.standard_normal((nq, d)).astype(np.float32)
    graph = np.stack([rng.choice(n, R, replace=False) for _ in range(n)]).astype(np.int64)
    graph[::7, -2:] = -1                                  # irregular degrees
    X, Q = torch.as_tensor(x), torch.as_tensor(q)

    def distances(rows, ids):
        return ((X[ids] - Q[rows][:, None, :]) ** 2).sum(-1)
    return x, q, graph, distances


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("beam,k", [(1, 1), (8, 3), (40, 10)])
def test_batched_equals_reference(beam, k, ties):
    x, q, graph, dist = _setup(ties=ties)
    D, I, c = beam_search(dist, graph, 5, len(q), k, beam, query_block=6)
    Dr, Ir, cr = beam_search_reference(dist, graph, 5, len(q), k, beam)
    assert np.array_equal(I.numpy(), Ir) and np.array_equal(c.numpy(), cr)
    assert np.allclose(D.numpy(), Dr)


def test_full_beam_on_complete_graph_is_exact():
    x, q, _, dist = _setup(n=60, nq=5)
    complete = np.array([[j for j in range(60) if j != i] for i in range(60)])
    D, I, c = beam_search(dist, complete, 0, len(q), 5, 60)
    Dref, _ = topk_search_reference(q, x, 5, "l2")
    assert np.allclose(D.numpy(), Dref, rtol=1e-5, atol=1e-5)
    assert (c.numpy() == 60).all()                        # every node evaluated exactly once


def test_bigger_beam_never_fewer_distances():
    x, q, graph, dist = _setup(seed=4)
    counts = [beam_search(dist, graph, 0, len(q), 1, b)[2].sum().item() for b in (1, 4, 16, 64)]
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_bad_arguments():
    x, q, graph, dist = _setup()
    with pytest.raises(ValueError, match="k ≤ beam"):
        beam_search(dist, graph, 0, 3, 5, 4)
    with pytest.raises(ValueError, match="entry"):
        beam_search(dist, graph, 10_000, 3, 1, 4)
    with pytest.raises(ValueError, match="graph ids"):
        beam_search(dist, graph + 1000, 0, 3, 1, 4)
    with pytest.raises(ValueError, match="integer adjacency"):
        beam_search(dist, graph.astype(float), 0, 3, 1, 4)
    with pytest.raises(ValueError, match="empty"):
        beam_search(dist, np.zeros((0, 3), dtype=np.int64), 0, 3, 1, 4)
