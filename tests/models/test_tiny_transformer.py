"""TinyTransformer + train_model: padding invariance, the attention plug-in, determinism, learning, batching."""

import functools

import numpy as np
import pytest
import torch

from simrepro.kernels.attention import flow_attention, softmax_attention
from simrepro.models.tiny_transformer import TinyTransformer, _batches, accuracy, train_model

ATT = functools.partial(softmax_attention, check_finite=False)


def test_padding_does_not_change_the_pooled_output():
    torch.manual_seed(0)
    for att in (ATT, flow_attention):
        m = TinyTransformer(12, 3, att, d_model=16, n_heads=2, n_layers=2, max_len=20).eval()
        t = torch.randint(1, 12, (1, 9))
        padded = torch.cat([t, torch.zeros(1, 6, dtype=torch.long)], 1)
        mask = torch.arange(15)[None] < 9
        with torch.no_grad():
            assert torch.allclose(m(t), m(padded, mask), atol=1e-5)


def test_the_attention_callable_is_used():
    calls = []

    def spy(q, k, v, causal=False, key_mask=None):
        calls.append(tuple(q.shape))
        return ATT(q, k, v, causal=causal, key_mask=key_mask)

    m = TinyTransformer(10, 4, spy, d_model=12, n_heads=3, n_layers=2, max_len=8)
    out = m(torch.randint(0, 10, (5, 7)))
    assert out.shape == (5, 4) and calls == [(5, 3, 7, 4)] * 2
    lm = TinyTransformer(10, 10, spy, d_model=12, n_heads=3, n_layers=1, causal=True, pool="none", max_len=8)
    assert lm(torch.randint(0, 10, (2, 8))).shape == (2, 8, 10)


def test_bad_configuration():
    with pytest.raises(ValueError, match="multiple"):
        TinyTransformer(10, 2, ATT, d_model=10, n_heads=3)
    with pytest.raises(ValueError, match="pool"):
        TinyTransformer(10, 2, ATT, pool="cls")
    with pytest.raises(ValueError, match="max_len"):
        TinyTransformer(10, 2, ATT, max_len=4)(torch.zeros(1, 5, dtype=torch.long))


def _toy(n, seed):
    """Label = whether token 3 occurs in the sequence (variable lengths 3–12)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 13, n)
    tokens = np.zeros((n, 12), dtype=np.int64)
    for i, ln in enumerate(lengths):
        tokens[i, :ln] = rng.choice([1, 2, 4, 5, 6], ln)
        if rng.random() < 0.5:
            tokens[i, rng.integers(ln)] = 3
    labels = (tokens == 3).any(1).astype(np.int64)
    return tokens, lengths, labels


def test_training_learns_and_is_deterministic():
    train, test = _toy(600, 0), _toy(300, 1)
    fn = lambda: TinyTransformer(7, 2, ATT, d_model=16, n_heads=2, n_layers=1, max_len=12)  # noqa: E731
    _, r1 = train_model(fn, train, test, seed=3, epochs=6, batch_size=32, lr=1e-2)
    _, r2 = train_model(fn, train, test, seed=3, epochs=6, batch_size=32, lr=1e-2)
    assert r1.step_loss == r2.step_loss and r1.test_acc == r2.test_acc
    assert r1.test_acc > 0.9, r1.test_acc_curve
    assert r1.epoch_loss[-1] < r1.epoch_loss[0]
    assert len(r1.step_loss) == 6 * 19 and len(r1.test_acc_curve) == 6


def test_per_position_targets_ignore_minus_100():
    tokens = np.array([[1, 2, 3, 0], [3, 2, 0, 0]])
    lengths = np.array([3, 2])
    targets = np.array([[2, 3, -100, -100], [-100, 1, -100, -100]])
    m = TinyTransformer(4, 4, ATT, d_model=8, n_heads=2, n_layers=1, causal=True, pool="none", max_len=4)
    acc = accuracy(m, tokens, lengths, targets)
    assert acc in (0.0, 1 / 3, 2 / 3, 1.0)


def test_batches_cover_every_example_once():
    lengths = torch.tensor(np.random.default_rng(0).integers(1, 50, 203))
    for bucket in (1, 4):
        idx = torch.cat(_batches(lengths, 16, torch.Generator().manual_seed(0), bucket))
        assert sorted(idx.tolist()) == list(range(203))


def test_bad_training_arguments():
    fn = lambda: TinyTransformer(7, 2, ATT, d_model=8, n_heads=2, n_layers=1, max_len=12)  # noqa: E731
    with pytest.raises(ValueError, match="epochs"):
        train_model(fn, _toy(10, 0), _toy(10, 1), seed=0, epochs=0)
    with pytest.raises(ValueError, match="non-empty"):
        train_model(fn, (np.zeros((0, 3)), np.zeros(0), np.zeros(0)), _toy(10, 1), seed=0)
