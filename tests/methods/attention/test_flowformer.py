"""Flowformer's line-up through the shared harness (``compare``): the contestants' maps read off the kernels,
paired training, and Flow-Attention's sharper rows on random inputs. The harness itself (row entropy's
extremes and errors, q/k read-out, pairing) is tested in test_compare.py."""

import math

import torch

from simrepro.data.listops import VOCAB, listops
from simrepro.kernels.attention import flow_attention_reference, linear_attention_reference
from simrepro.methods.attention.compare import (ModelConfig, attention_maps, make_model, projected_qk, row_entropy,
                                                train_comparison)
from simrepro.methods.attention.flowformer import ATTENTIONS


def mean_entropy(maps, mask):
    h, rows = row_entropy(maps, mask)
    return float(h[rows].mean())


def test_attention_maps_are_the_kernels_weights():
    """A from V = I reproduces each contestant's layer output: A @ v == attention(q, k, v)."""
    torch.manual_seed(0)
    d = listops(6, max_length=30, seed=0)
    assert set(ATTENTIONS) == {"flowformer", "softmax", "linear"}
    for name, att in ATTENTIONS.items():
        model = make_model(att, len(VOCAB), 10, 30, ModelConfig(d_model=16, n_heads=2))
        q, k, _, mask = projected_qk(model, d.tokens, d.lengths)
        maps = attention_maps(att, q, k, mask)
        N = int(d.lengths.max())
        assert maps.shape == (6, 2, N, N) and mask.shape == (6, N)
        assert (maps * ~mask[:, None, None, :]).abs().max() == 0           # padded keys get no weight
        v = torch.randn(6, 2, N, 3)
        blk = model.blocks[0]
        x = model.embed(torch.as_tensor(d.tokens[:, :N])) + model.pos.weight[:N]
        q2, k2, _ = blk.qkv(blk.ln1(x)).view(6, N, 3, 2, 8).permute(2, 0, 3, 1, 4)
        assert torch.equal(q, q2) and torch.equal(k, k2)
        direct = blk.attention(q, k, v, causal=False, key_mask=mask)
        rows = mask[:, None, :, None]
        assert torch.allclose((maps @ v) * rows, direct * rows, atol=1e-5), name


def test_flow_is_less_uniform_than_linear_on_peaked_inputs():
    """Flow-Attention's competition sharpens the weights relative to linear attention with the same scores
    (a property of the formula on random inputs, checked on 20 draws, not a trained-model claim)."""
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(20, 1, 32, 8, generator=g) * 3, torch.randn(20, 1, 32, 8, generator=g) * 3
    eye = torch.eye(32).expand(20, 1, 32, 32)
    mask = torch.ones(20, 32, dtype=torch.bool)
    flow = mean_entropy(flow_attention_reference(q, k, eye), mask)
    lin = mean_entropy(linear_attention_reference(q, k, eye, feature_map="sigmoid"), mask)
    assert flow < lin


def test_comparison_is_paired_and_deterministic():
    tr, te = listops(120, max_length=24, seed=1), listops(60, max_length=24, seed=2)
    cfg = ModelConfig(d_model=16, n_heads=2, epochs=1, batch_size=32)
    a = train_comparison({m: ATTENTIONS[m] for m in ("flowformer", "linear")}, tr, te, [0], cfg,
                         vocab_size=len(VOCAB))
    b = train_comparison({"flowformer": ATTENTIONS["flowformer"]}, tr, te, [0], cfg, vocab_size=len(VOCAB))
    assert a["flowformer"][0][1].step_loss == b["flowformer"][0][1].step_loss
    # same seed → same initial weights for every method (attention has no parameters)
    torch.manual_seed(0)
    p1 = [p.clone() for p in make_model(ATTENTIONS["flowformer"], len(VOCAB), 10, 24, cfg).parameters()]
    torch.manual_seed(0)
    p2 = list(make_model(ATTENTIONS["linear"], len(VOCAB), 10, 24, cfg).parameters())
    assert all(torch.equal(x, y) for x, y in zip(p1, p2))
    assert 0.0 <= a["linear"][0][1].test_acc <= 1.0 and not math.isnan(a["linear"][0][1].train_acc)
