"""k-selection primitives: merge_topk and entries_at_least against plain torch on random and tied values."""

import pytest
import torch

from simrepro.kernels.kselect import CHUNK, entries_at_least, merge_topk


@pytest.mark.parametrize("k", [1, 4, 9])
def test_merge_topk_equals_topk_of_best_and_entries(k):
    g = torch.Generator().manual_seed(0)
    n = 23
    best = torch.randn(n, k, generator=g).sort(1, descending=True).values
    best_ids = torch.arange(n * k).view(n, k)
    rows = torch.randint(0, n, (300,), generator=g).sort().values          # sorted, ragged counts, some rows empty
    values = torch.randint(-3, 3, (300,), generator=g).float()             # ties
    ids = 1000 + torch.arange(300)
    v, i = merge_topk(best, best_ids, rows, values, ids, k)
    for r in range(n):
        pool_v = torch.cat([best[r], values[rows == r]])
        pool_i = torch.cat([best_ids[r], ids[rows == r]])
        torch.testing.assert_close(v[r], pool_v.topk(k).values, rtol=0, atol=0)
        lookup = dict(zip(pool_i.tolist(), pool_v.tolist()))
        assert [lookup[j] for j in i[r].tolist()] == v[r].tolist()         # each id carries its value
        assert len(set(i[r].tolist())) == k


def test_merge_topk_with_no_entries_returns_the_best():
    best = torch.tensor([[3.0, 1.0], [2.0, -1.0]])
    ids = torch.tensor([[5, 6], [7, 8]])
    v, i = merge_topk(best, ids, torch.empty(0, dtype=torch.int64), torch.empty(0), torch.empty(0, dtype=torch.int64), 2)
    assert torch.equal(v, best) and torch.equal(i, ids)


def test_entries_at_least_finds_exactly_the_entries_above_the_threshold():
    g = torch.Generator().manual_seed(1)
    scores = torch.randn(17, CHUNK * 40, generator=g)
    threshold = torch.quantile(scores, 0.97, dim=1)
    threshold[3] = float("-inf")                                          # a row that takes everything
    rows, cols, values = entries_at_least(scores, threshold)
    expected = (scores >= threshold[:, None]).nonzero()
    found = torch.stack([rows, cols], 1)
    assert torch.equal(found[torch.argsort(found[:, 0] * scores.shape[1] + found[:, 1])], expected)
    assert torch.equal(values, scores[rows, cols])
    assert bool((rows.diff() >= 0).all())                                 # rows come out sorted
