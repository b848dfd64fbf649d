"""Flowformer method layer: the contestants, paired training, attention maps read off the kernels, entropy."""

import math

import numpy as np
import pytest
import torch

from simrepro.data.listops import VOCAB, listops
from simrepro.kernels.attention import flow_attention_reference, linear_attention_reference
from simrepro.methods.attention.flowformer import (ATTENTIONS, ModelConfig, attention_entropy, attention_maps,
                                                   listops_comparison, make_model)


def test_attention_maps_are_the_kernels_weights():
    """A from V = I reproduces the layer's attention output: A @ v == attention(q, k, v)."""
    torch.manual_seed(0)
    d = listops(6, max_length=30, seed=0)
    for name in ATTENTIONS:
        model = make_model(name, len(VOCAB), 10, 30, ModelConfig(d_model=16, n_heads=2))
        maps, mask = attention_maps(model, d.tokens, d.lengths)
        N = int(d.lengths.max())
        assert maps.shape == (6, 2, N, N) and mask.shape == (6, N)
        assert (maps * ~mask[:, None, None, :]).abs().max() == 0           # padded keys get no weight
        v = torch.randn(6, 2, N, 3)
        blk = model.blocks[0]
        x = model.embed(torch.as_tensor(d.tokens[:, :N])) + model.pos.weight[:N]
        q, k, _ = blk.qkv(blk.ln1(x)).view(6, N, 3, 2, 8).permute(2, 0, 3, 1, 4)
        direct = blk.attention(q, k, v, causal=False, key_mask=mask)
        rows = mask[:, None, :, None]
        assert torch.allclose((maps @ v) * rows, direct * rows, atol=1e-5)


def test_attention_entropy_extremes_and_errors():
    mask = torch.ones(1, 4, dtype=torch.bool)
    assert attention_entropy(torch.ones(1, 1, 4, 4), mask) == pytest.approx(1.0)
    assert attention_entropy(torch.eye(4)[None, None], mask) == pytest.approx(0.0, abs=1e-12)
    half = torch.tensor([True, True, False, False])[None]
    a = torch.ones(1, 1, 4, 4)
    a[..., 2:] = 100.0                                                       # weight on padded keys is ignored
    assert attention_entropy(a, half) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="non-negative"):
        attention_entropy(-torch.ones(1, 1, 2, 2), torch.ones(1, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="maps must be"):
        attention_entropy(torch.ones(2, 2), mask)


def test_flow_is_less_uniform_than_linear_on_peaked_inputs():
    """Flow-Attention's competition sharpens the weights relative to linear attention with the same scores
    (a property of the formula on random inputs, checked on 20 draws, not a trained-model claim)."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(20, 1, 32, 8, generator=g) * 3, torch.randn(20, 1, 32, 8, generator=g) * 3
    eye = torch.eye(32).expand(20, 1, 32, 32)
    mask = torch.ones(20, 32, dtype=torch.bool)
    flow = attention_entropy(flow_attention_reference(q, k, eye), mask)
    lin = attention_entropy(linear_attention_reference(q, k, eye, feature_map="sigmoid"), mask)
    assert flow < lin


def test_comparison_is_paired_and_deterministic():
    tr, te = listops(120, max_length=24, seed=1), listops(60, max_length=24, seed=2)
    cfg = ModelConfig(d_model=16, n_heads=2, epochs=1, batch_size=32)
    a = listops_comparison(tr, te, ["flowformer", "linear"], [0], cfg, vocab_size=len(VOCAB))
    b = listops_comparison(tr, te, ["flowformer"], [0], cfg, vocab_size=len(VOCAB))
    assert a["flowformer"][0][1].step_loss == b["flowformer"][0][1].step_loss
    # same seed → same initial weights for every method (attention has no parameters)
    torch.manual_seed(0)
    p1 = [p.clone() for p in make_model("flowformer", len(VOCAB), 10, 24, cfg).parameters()]
    torch.manual_seed(0)
    p2 = list(make_model("linear", len(VOCAB), 10, 24, cfg).parameters())
    assert all(torch.equal(x, y) for x, y in zip(p1, p2))
    assert 0.0 <= a["linear"][0][1].test_acc <= 1.0 and not math.isnan(a["linear"][0][1].train_acc)
    with pytest.raises(ValueError, match="unknown"):
        make_model("performer", 16, 10, 24, cfg)
