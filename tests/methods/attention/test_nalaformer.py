"""NaLaFormer: the norm-aware query map and cubed-key map against their definitions, the linear path against the
quadratic form, masks / causality / irregular shapes, the entropy diagnosis, bad input."""

import math

import pytest
import torch

from simrepro.kernels.attention import softmax_attention
from simrepro.methods.attention.nalaformer import (attention_weights, entropy, nala_attention,
                                                   nala_attention_reference, nala_key_features, nala_power,
                                                   nala_query_features)

D = torch.float64


def _rand(*shape, seed=0, scale=1.0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=D) * scale


def test_feature_maps_against_the_definition_elementwise():
    q, k = _rand(3, 5, seed=1), _rand(4, 5, seed=2)
    fq, fk = nala_query_features(q), nala_key_features(k)
    assert fq.shape == (3, 10) and fk.shape == (4, 10)
    for i in range(3):
        n = math.sqrt(sum(float(x) ** 2 for x in q[i]))
        p = 3 * (0.5 + math.tanh(n))
        for c in range(5):
            x = float(q[i, c]) / n
            assert float(fq[i, c]) == pytest.approx(max(x, 0.0) ** p, abs=1e-15)
            assert float(fq[i, 5 + c]) == pytest.approx(max(-x, 0.0) ** p, abs=1e-15)
    for j in range(4):
        for c in range(5):
            y = float(k[j, c]) ** 3
            assert float(fk[j, c]) == pytest.approx(max(y, 0.0), abs=1e-15)
            assert float(fk[j, 5 + c]) == pytest.approx(max(-y, 0.0), abs=1e-15)
    assert torch.allclose(nala_power(q)[:, 0], 3 * (0.5 + torch.tanh(q.norm(dim=-1))))


def test_negative_coordinates_still_interact():
    """q and k both negative in one coordinate: ReLU features give 0, NaLa keeps the product."""
    q, k = torch.tensor([[-1.0, 0.0]], dtype=D), torch.tensor([[-2.0, 0.0]], dtype=D)
    assert float(torch.relu(q) @ torch.relu(k).T) == 0.0
    assert float(nala_query_features(q) @ nala_key_features(k).T) == pytest.approx(8.0)     # 1^p · 2^3


@pytest.mark.parametrize("shape", [(1, 1, 1, 1, 3, 2), (2, 3, 17, 29, 8, 5), (1, 2, 64, 64, 16, 16)])
def test_linear_path_equals_quadratic_form(shape):
    B, H, N, M, d, dv = shape
    q, k, v = _rand(B, H, N, d, seed=3), _rand(B, H, M, d, seed=4), _rand(B, H, M, dv, seed=5)
    fast = nala_attention(q, k, v)
    a = nala_query_features(q) @ nala_key_features(k).transpose(-2, -1)       # written out independently
    want = (a @ v) / (a.sum(-1, keepdim=True) + 1e-6)
    assert torch.allclose(fast, want, atol=1e-12 * float(want.abs().max()))
    assert torch.allclose(nala_attention_reference(q, k, v), want, atol=1e-12 * float(want.abs().max()))


def test_key_mask_and_causal():
    q, k, v = _rand(2, 2, 23, 6, seed=6), _rand(2, 2, 23, 6, seed=7), _rand(2, 2, 23, 4, seed=8)
    mask = torch.arange(23)[None] < torch.tensor([23, 9])[:, None]
    out = nala_attention(q, k, v, key_mask=mask)
    assert torch.allclose(out, nala_attention_reference(q, k, v, key_mask=mask), atol=1e-12)
    alone = nala_attention(q[1:, :, :9], k[1:, :, :9], v[1:, :, :9])
    assert torch.allclose(out[1:, :, :9], alone, atol=1e-12)
    for chunk in (1, 5, 64):
        c = nala_attention(q, k, v, causal=True, chunk=chunk)
        assert torch.allclose(c, nala_attention_reference(q, k, v, causal=True), atol=1e-12)
    a00 = (nala_query_features(q[:, :, :1]) * nala_key_features(k[:, :, :1])).sum(-1, keepdim=True)
    first = nala_attention(q, k, v, causal=True)[:, :, 0]                  # the first query sees key 0 only
    assert torch.allclose(first, (a00 * v[:, :, :1] / (a00 + 1e-6))[:, :, 0], atol=1e-12)


def test_zero_query_gives_zero_row_and_bad_input():
    q = torch.zeros(1, 1, 2, 3, dtype=D)
    q[0, 0, 1] = 1.0
    k, v = _rand(1, 1, 4, 3, seed=9), _rand(1, 1, 4, 2, seed=10)
    out = nala_attention(q, k, v)
    assert torch.all(out[0, 0, 0] == 0) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match="NaN"):
        nala_attention(q * float("nan"), k, v)
    with pytest.raises(ValueError, match="4 dimensions"):
        nala_attention(q[0], k[0], v[0])
    with pytest.raises(ValueError, match="unknown"):
        attention_weights(q[0, 0], k[0, 0], "cosine")
    with pytest.raises(ValueError, match="fewer than 2"):
        entropy(torch.ones(3, 1))


def test_gradients_and_float32():
    q = _rand(1, 2, 20, 8, seed=11).float().requires_grad_()
    k, v = _rand(1, 2, 20, 8, seed=12).float(), _rand(1, 2, 20, 4, seed=13).float()
    nala_attention(q, k, v).sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0
    ref = nala_attention_reference(q.detach().double(), k.double(), v.double())
    assert float((nala_attention(q.detach(), k, v).double() - ref).abs().max() / ref.abs().max()) < 1e-4


def test_entropy_diagnosis_on_random_queries():
    """Scaling q by c: ReLU-linear weights are unchanged (entropy constant: the norm cancels); softmax and NaLa
    entropies fall with c (for ‖cq‖ from 0.25 to 4, where tanh has not saturated)."""
    q = _rand(40, 16, seed=14)
    q = q / q.norm(dim=-1, keepdim=True)
    k = _rand(64, 16, seed=15)
    cs = [0.25, 0.5, 1.0, 2.0, 4.0]
    for method, falls in (("relu", False), ("softmax", True), ("nala", True)):
        h = torch.stack([entropy(attention_weights(c * q, k, method)) for c in cs])     # (5, 40)
        if falls:
            assert bool((h[1:] < h[:-1]).all()), method
        else:
            assert float((h - h[0]).abs().max()) < 1e-12
    w = attention_weights(q, k, "softmax")
    assert torch.allclose(w.sum(-1), torch.ones(40, dtype=D))
    assert torch.allclose(entropy(torch.full((1, 8), 1 / 8, dtype=D)), torch.ones(1, dtype=D))


def test_softmax_weights_match_sdpa():
    q, k, v = _rand(1, 1, 9, 4, seed=16), _rand(1, 1, 9, 4, seed=17), _rand(1, 1, 9, 3, seed=18)
    assert torch.allclose(attention_weights(q, k, "softmax") @ v, softmax_attention(q, k, v), atol=1e-12)


def test_norm_entropy_pairs_rows_with_their_query_norms():
    from simrepro.methods.attention.nalaformer import norm_entropy
    q = _rand(2, 1, 6, 4, seed=19)
    q[:, :, :, :] = q / q.norm(dim=-1, keepdim=True) * torch.arange(1, 7, dtype=D)[None, None, :, None]
    k = _rand(2, 1, 6, 4, seed=20)
    mask = torch.arange(6)[None] < torch.tensor([6, 4])[:, None]
    n, h = norm_entropy(softmax_attention, q, k, mask)
    assert n.shape == h.shape == (10,)                                       # 6 + 4 real rows
    assert torch.allclose(n[:6], torch.arange(1, 7, dtype=D))
    w = attention_weights(q[1:, :, :4], k[1:, :, :4], "softmax")
    assert torch.allclose(h[6:], entropy(w)[0, 0], atol=1e-12)
