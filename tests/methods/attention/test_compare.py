"""The shared comparison harness: paired training, q/k read-out, attention maps, row entropy, Spearman, and the
paired interval the notebooks print (the verdicts' own rule)."""

import functools
import math

import numpy as np
import pytest
import torch

from simrepro.data.listops import VOCAB, listops
from simrepro.kernels.attention import linear_attention, softmax_attention
from simrepro.methods.attention.compare import (ModelConfig, attention_maps, make_model, projected_qk, row_entropy,
                                                spearman, train_comparison)

ATT = {"softmax": softmax_attention, "linear": functools.partial(linear_attention, feature_map="elu1")}


def test_maps_reproduce_the_blocks_output():
    torch.manual_seed(0)
    d = listops(5, max_length=30, seed=0)
    model = make_model(ATT["softmax"], len(VOCAB), 10, 30, ModelConfig(d_model=16, n_heads=2))
    q, k, v, mask = projected_qk(model, d.tokens, d.lengths)
    N = int(d.lengths.max())
    assert q.shape == (5, 2, N, 8) and mask.shape == (5, N)
    for att in ATT.values():
        a = attention_maps(att, q, k, mask)
        assert (a * ~mask[:, None, None, :]).abs().max() == 0
        rows = mask[:, None, :, None]
        assert torch.allclose((a @ v) * rows, att(q, k, v, key_mask=mask) * rows, atol=1e-5)
    with pytest.raises(ValueError, match="out of range"):
        projected_qk(model, d.tokens, d.lengths, layer=3)


def test_row_entropy_extremes_mask_and_errors():
    h, rows = row_entropy(torch.ones(1, 1, 4, 4))
    assert torch.allclose(h, torch.ones(1, 1, 4)) and rows.all()
    h, _ = row_entropy(torch.eye(4)[None, None])
    assert h.abs().max() < 1e-12
    a = torch.ones(1, 1, 4, 4)
    a[..., 2:] = 50.0
    h, rows = row_entropy(a, torch.tensor([[True, True, False, False]]))
    assert torch.allclose(h, torch.ones(1, 1, 4)) and rows[0, 0].tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="non-negative"):
        row_entropy(-torch.ones(1, 1, 2, 2))
    with pytest.raises(ValueError, match="maps must be"):
        row_entropy(torch.ones(2, 2))
    with pytest.raises(ValueError, match="key_mask must be"):
        row_entropy(torch.ones(1, 1, 4, 4), torch.ones(1, 3, dtype=torch.bool))


def test_mean_row_entropy_over_real_rows():
    """The number the notebooks report, mean of h over ``rows``: weight on padded keys is ignored, padded query
    rows and sequences with one real key are left out (none left → NaN)."""
    mask = torch.ones(1, 4, dtype=torch.bool)
    h, rows = row_entropy(torch.ones(1, 1, 4, 4), mask)
    assert float(h[rows].mean()) == pytest.approx(1.0)
    h, rows = row_entropy(torch.eye(4)[None, None], mask)
    assert float(h[rows].mean()) == pytest.approx(0.0, abs=1e-12)
    a = torch.ones(2, 1, 4, 4)
    a[..., 2:] = 100.0                                                       # weight on padded keys is ignored
    a[1] = torch.eye(4)
    km = torch.tensor([[True, True, False, False], [True, False, False, False]])
    h, rows = row_entropy(a, km)
    assert rows[0, 0].tolist() == [True, True, False, False] and not rows[1].any()   # m = 1: no entropy
    assert float(h[rows].mean()) == pytest.approx(1.0)
    h, rows = row_entropy(a[1:], km[1:])
    assert math.isnan(float(h[rows].mean()))


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="equal length"):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        spearman([1, np.nan], [1, 2])


def test_paired_and_deterministic_training():
    tr, te = listops(64, max_length=24, seed=1), listops(32, max_length=24, seed=2)
    cfg = ModelConfig(d_model=16, n_heads=2, epochs=1, batch_size=16)
    r1 = train_comparison(ATT, tr, te, [0, 1], cfg, vocab_size=len(VOCAB))
    r2 = train_comparison(ATT, tr, te, [0], cfg, vocab_size=len(VOCAB))
    assert r1["softmax"][0][1].step_loss == r2["softmax"][0][1].step_loss
    assert r1["softmax"][0][1].step_loss != r1["softmax"][1][1].step_loss
    assert r1["softmax"][0][1].step_loss != r1["linear"][0][1].step_loss
    # same seed → same initial weights for every attention (none has parameters of its own)
    torch.manual_seed(0)
    m1 = make_model(ATT["softmax"], len(VOCAB), 10, 24, cfg)
    torch.manual_seed(0)
    m2 = make_model(ATT["linear"], len(VOCAB), 10, 24, cfg)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    with pytest.raises(ValueError, match="empty"):
        train_comparison({}, tr, te, [0], cfg, vocab_size=len(VOCAB))


def test_spearman_agrees_with_scipy_to_the_last_bits():
    """Why the wrapper stays (see its docstring): the same statistic as scipy.stats.spearmanr up to round-off,
    but it refuses NaN where scipy propagates it."""
    from scipy.stats import spearmanr
    g = np.random.default_rng(0)
    for n in (2, 7, 50, 1000):
        x, y = np.round(g.standard_normal(n), 1), g.standard_normal(n)       # ties in x
        assert spearman(x, y) == pytest.approx(float(spearmanr(x, y).statistic), abs=1e-15)
    assert math.isnan(float(spearmanr([1, np.nan, 3], [1, 2, 3]).statistic))


def test_paired_interval_is_the_verdicts_rule():
    """The notebooks print simrepro.repro.verdicts.mean_interval (replacing compare.t_interval, which agreed with
    it to round-off): docs/adding_a_paper.md's example is inconclusive."""
    from simrepro.repro.verdicts import mean_interval
    d = [0.004, -0.002, 0.006, 0.000, 0.003]
    m, lo, hi = mean_interval(d)
    half = 2.7764451051977987 * np.std(d, ddof=1) / math.sqrt(5)            # t_0.975,4
    assert m == pytest.approx(0.0022) and lo == pytest.approx(0.0022 - half) and hi == pytest.approx(0.0022 + half)
    assert lo < 0 < hi
