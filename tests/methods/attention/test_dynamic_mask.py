import math

import pytest
import torch
import torch.nn.functional as F

from simrepro.kernels.attention import softmax_attention_reference
from simrepro.methods.attention import dynamic_mask as dm
from simrepro.models.tiny_transformer import TinyTransformer


def _qkv(B=2, H=3, N=13, M=13, d=5, dv=7, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, N, d, generator=g, dtype=dtype), torch.randn(B, H, M, d, generator=g, dtype=dtype),
            torch.randn(B, H, M, dv, generator=g, dtype=dtype))


def _explicit(q, k, v, m, causal, key_mask=None):
    """Definition, written independently: loops over rows, softmax over the allowed keys of each row."""
    B, H, N, d = q.shape
    out = torch.zeros(B, H, N, v.shape[-1], dtype=q.dtype)
    for b in range(B):
        for h in range(H):
            for i in range(N):
                keep = [j for j in range(k.shape[2]) if (not causal or j <= i)
                        and (key_mask is None or bool(key_mask[b, j]))]
                if not keep:
                    continue
                s = torch.stack([q[b, h, i] @ k[b, h, j] / math.sqrt(d) + m[b, h, j] for j in keep])
                out[b, h, i] = torch.softmax(s, 0) @ v[b, h, keep]
    return out


@pytest.mark.parametrize("causal", [False, True])
def test_dma_reference_and_fast_path_match_definition(causal):
    q, k, v = _qkv()
    m = torch.rand(2, 3, 13, dtype=torch.float64) * 3
    key_mask = torch.arange(13)[None] < torch.tensor([13, 6])[:, None]
    want = _explicit(q, k, v, m, causal, key_mask)
    ref = dm.dynamic_mask_attention_reference(q, k, v, m, causal=causal, key_mask=key_mask)
    fast = dm.dynamic_mask_attention(q, k, v, m, causal=causal, key_mask=key_mask)
    err_ref, err_fast = float((ref - want).abs().max()), float((fast - want).abs().max())
    print(err_ref, err_fast)
    assert err_ref < 1e-12 and err_fast < 1e-12


def test_dma_irregular_shapes_float32():
    q, k, v = _qkv(B=1, H=2, N=7, M=19, d=3, dv=2, dtype=torch.float32)
    m = torch.rand(1, 2, 19)
    a = dm.dynamic_mask_attention(q, k, v, m, ratio=0.3)
    b = dm.dynamic_mask_attention_reference(q.double(), k.double(), v.double(), m.double(), ratio=0.3)
    assert a.shape == (1, 2, 7, 2)
    assert float((a.double() - b).abs().max()) < 1e-5


def test_constant_mask_equals_softmax_attention():
    # exp(0·softplus(dt)) = 1 on every key: a constant bias cancels in the softmax (the Doge init A = 0)
    q, k, v = _qkv()
    ones = torch.ones(2, 3, 13, dtype=torch.float64)
    for causal in (False, True):
        a = dm.dynamic_mask_attention(q, k, v, ones, causal=causal)
        assert torch.allclose(a, softmax_attention_reference(q, k, v, causal=causal), atol=1e-12)


def test_mask_values_formula_and_zero_A():
    B, H, M, dv = 2, 3, 5, 4
    v = torch.randn(B, H, M, dv, dtype=torch.float64)
    W, b, A = torch.randn(H, H * dv, dtype=torch.float64), torch.randn(H, dtype=torch.float64), torch.tensor(
        [0.5, -1.0, 2.0], dtype=torch.float64)
    got = dm.dynamic_mask_values(v, W, b, A)
    for bb in range(B):
        for j in range(M):
            dt = W @ torch.cat([v[bb, h, j] for h in range(H)]) + b
            assert torch.allclose(got[bb, :, j], torch.exp(A * torch.log1p(torch.exp(dt))))
    assert torch.equal(dm.dynamic_mask_values(v, W, b, torch.zeros(H, dtype=torch.float64)), torch.ones(B, H, M,
                                                                                                     dtype=torch.float64))


def test_ratio_drops_keys_below_kth_value_like_official():
    m = torch.tensor([[[0.5, 0.1, 0.9, 0.3, 0.7]]])
    bias = dm.dynamic_mask_bias(m, 1, ratio=0.6)              # r = 3: third smallest = 0.5; 0.1 and 0.3 dropped
    assert torch.isinf(bias[0, 0, 0]).tolist() == [False, True, False, True, False]
    tied = dm.dynamic_mask_bias(torch.tensor([[[0.2, 0.2, 0.2, 0.9]]]), 1, ratio=0.5)   # ties at t are kept
    assert not bool(torch.isinf(tied).any())
    assert not bool(torch.isinf(dm.dynamic_mask_bias(m, 1, ratio=0.1)).any())           # r = 0: nothing dropped


def test_ratio_zeroes_dropped_keys_attention():
    q, k, v = _qkv(B=1, H=1, N=4, M=6)
    m = torch.tensor([[[0.0, 5.0, 1.0, 4.0, 2.0, 3.0]]], dtype=torch.float64)
    out = dm.dynamic_mask_attention(q, k, v, m, ratio=0.5)   # r = 3, t = 2.0: keys 0 and 2 dropped
    keep = [1, 3, 4, 5]
    alone = dm.dynamic_mask_attention(q, k[:, :, keep], v[:, :, keep], m[..., keep])
    assert torch.allclose(out, alone, atol=1e-12)


def test_dma_is_causal_with_ratio_zero():
    torch.manual_seed(0)
    att = dm.DynamicMaskAttention(2, 4).double()
    q, k, v = _qkv(B=1, H=2, N=9, M=9, d=4, dv=4)
    v2 = v.clone()
    v2[..., 6:, :] += 10.0
    k2 = k.clone()
    k2[..., 6:, :] -= 3.0
    a, b = att(q, k, v, causal=True), att(q, k2, v2, causal=True)
    assert torch.allclose(a[..., :6, :], b[..., :6, :], atol=1e-12)
    assert not torch.allclose(a[..., 6:, :], b[..., 6:, :])


def test_empty_rows_are_zero_and_bad_inputs_raise():
    q, k, v = _qkv(B=1, H=1, N=3, M=3)
    m = torch.ones(1, 1, 3, dtype=torch.float64)
    out = dm.dynamic_mask_attention(q, k, v, m, key_mask=torch.zeros(1, 3, dtype=torch.bool))
    assert torch.equal(out, torch.zeros_like(out))
    with pytest.raises(ValueError, match="mask_values must be"):
        dm.dynamic_mask_attention(q, k, v, torch.ones(1, 1, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN or inf"):
        dm.dynamic_mask_attention(q, k, v, torch.tensor([[[1.0, math.nan, 1.0]]], dtype=torch.float64))
    with pytest.raises(ValueError, match="ratio"):
        dm.dynamic_mask_bias(m, 3, ratio=1.0)
    with pytest.raises(ValueError):
        dm.dynamic_mask_attention(q * math.nan, k, v, m)


def test_dma_module_trains_inside_tiny_transformer():
    torch.manual_seed(0)
    model = TinyTransformer(10, 10, lambda *a, **kw: None, d_model=16, n_heads=2, n_layers=2, d_ff=16,
                            max_len=8, causal=True, pool="none")
    dm.attach_attention_modules(model, lambda: dm.DynamicMaskAttention(2, 8))
    names = [n for n, _ in model.named_parameters()]
    assert "blocks.0.attention.A" in names and "blocks.1.attention.dt_proj.weight" in names
    assert model.blocks[0].attention is not model.blocks[1].attention
    loss = model(torch.randint(0, 10, (3, 8))).sum()
    loss.backward()
    assert model.blocks[0].attention.A.grad is not None and bool(model.blocks[0].attention.A.grad.abs().sum() > 0)


@pytest.mark.parametrize("N", [1, 5, 17])
def test_ssd_quadratic_equals_recurrence(N):
    q, k, v = _qkv(B=2, H=3, N=N, M=N, d=4, dv=3)
    g = torch.Generator().manual_seed(1)
    dt = F.softplus(torch.randn(2, 3, N, generator=g, dtype=torch.float64))
    log_decay = -dt * torch.rand(3, 1, dtype=torch.float64, generator=g) * 4
    a, b = dm.ssd_attention(q, k, v, log_decay, dt), dm.ssd_attention_reference(q, k, v, log_decay, dt)
    print(float((a - b).abs().max()))
    assert torch.allclose(a, b, atol=1e-10)


def test_ssd_zero_decay_is_unnormalised_causal_linear_attention():
    q, k, v = _qkv(B=1, H=1, N=6, M=6, d=3, dv=2)
    zeros, ones = torch.zeros(1, 1, 6, dtype=torch.float64), torch.ones(1, 1, 6, dtype=torch.float64)
    want = torch.tril(q @ k.transpose(-1, -2)) @ v
    assert torch.allclose(dm.ssd_attention(q, k, v, zeros, ones), want, atol=1e-12)
    with pytest.raises(ValueError, match="log_decay must be"):
        dm.ssd_attention(q, k, v, ones, ones)
    with pytest.raises(ValueError, match="causal"):
        dm.ScalarDecayAttention(1, 3).double()(q, k, v, causal=False)


@pytest.mark.parametrize("shape,k", [((5,), 3), ((2, 7), 1), ((3, 2, 4), 4)])
def test_product_key_topk_equals_exhaustive(shape, k):
    g = torch.Generator().manual_seed(0)
    n_x, n_y = 9, 6
    s_x = torch.randn(*shape[:-1], shape[-1], n_x, generator=g)
    s_y = torch.randn(*shape[:-1], shape[-1], n_y, generator=g)
    D, I = dm.product_key_topk(s_x, s_y, k)
    De, Ie = dm.exhaustive_product_topk(s_x, s_y, k)
    assert torch.equal(D, De)
    full = (s_x[..., :, None] + s_y[..., None, :]).flatten(-2)
    assert torch.equal(full.gather(-1, I), D)                 # the returned ids carry the returned scores
    assert torch.equal(I.sort(-1).values, Ie.sort(-1).values)  # no ties in random floats: same id sets


def test_product_key_topk_with_ties_is_tie_aware():
    s_x = torch.tensor([[1.0, 1.0, 0.0]])
    s_y = torch.tensor([[2.0, 2.0]])
    D, I = dm.product_key_topk(s_x, s_y, 2)
    assert D.tolist() == [[3.0, 3.0]]
    assert set(I[0].tolist()) <= {0, 1, 2, 3}                  # any two of the four tied pairs (i < 2)


def test_product_key_and_router_errors():
    with pytest.raises(ValueError, match="k must be"):
        dm.product_key_topk(torch.randn(3), torch.randn(2), 3)
    with pytest.raises(ValueError, match="NaN"):
        dm.product_key_topk(torch.tensor([math.nan, 1.0]), torch.randn(2), 1)
    with pytest.raises(ValueError, match="perfect square"):
        dm.CrossDomainMoE(8, 8, 10)


def test_dense_router_matches_definition():
    g = torch.Generator().manual_seed(0)
    x, W = torch.randn(4, 6, generator=g), torch.randn(10, 6, generator=g)
    w, i = dm.dense_router_topk(x, W, 3)
    p = torch.softmax(x @ W.T, -1)
    assert torch.allclose(w, p.gather(-1, i)) and torch.equal(w, p.sort(-1, descending=True).values[:, :3])


def test_moe_layers_shapes_and_routed_moe_against_dense_loop():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 8)
    cd = dm.CrossDomainMoE(8, 12, 16, n_heads=2, k=3, d_retrieval=6)
    assert cd(x).shape == (2, 5, 8)
    moe = dm.RoutedMoE(8, 4, 6, k=2, d_shared=5)
    y = moe(x)
    h = x.reshape(-1, 8)
    w, idx = dm.dense_router_topk(h, moe.router.weight, 2)
    want = moe.s_down(F.silu(moe.s_gate(h)) * moe.s_up(h)) * torch.sigmoid(moe.s_weight(h))
    for t in range(h.shape[0]):
        for s in range(2):
            e = int(idx[t, s])
            want[t] += w[t, s] * (moe.w_down[e] @ (F.silu(moe.w_gate[e] @ h[t]) * (moe.w_up[e] @ h[t])))
    assert torch.allclose(y.reshape(-1, 8), want, atol=1e-5)


def test_expert_retrieval_sweep_rows():
    rows = dm.expert_retrieval_sweep([16, 64], d_model=8, tokens=4, k=2, d_retrieval=4, d_expert=2, d_cd=8,
                                     layer_max_n=16, repeats=1)
    assert [r["n"] for r in rows] == [16, 64]
    assert rows[0]["layer_speedup"] > 0 and math.isnan(rows[1]["layer_speedup"])
    assert all(r["route_speedup"] > 0 for r in rows)


def test_ssd_module_conv_is_causal():
    torch.manual_seed(0)
    att = dm.ScalarDecayAttention(2, 3, conv_width=4).double()
    q, k, v = _qkv(B=1, H=2, N=10, M=10, d=3, dv=3)
    q2, v2 = q.clone(), v.clone()
    q2[..., 7:, :] += 5.0
    v2[..., 7:, :] -= 2.0
    a, b = att(q, k, v), att(q2, k, v2)
    assert torch.allclose(a[..., :7, :], b[..., :7, :], atol=1e-12)
    assert not torch.allclose(a[..., 7:, :], b[..., 7:, :])
    ref = dm.ScalarDecayAttention(2, 3, conv_width=4, reference=True).double()
    ref.load_state_dict(att.state_dict())
    assert torch.allclose(ref(q, k, v), a, atol=1e-10)


@pytest.mark.parametrize("W,N", [(1, 5), (4, 3), (4, 11)])
def test_causal_depthwise_conv_matches_definition_and_conv1d(W, N):
    torch.manual_seed(0)
    H, d = 2, 3
    conv = torch.nn.Conv1d(H * d, H * d, W, groups=H * d, padding=W - 1).double()
    x = torch.randn(2, H, N, d, dtype=torch.float64)
    w, b = conv.weight[:, 0].view(H, d, W), conv.bias.view(H, d)
    want = torch.zeros_like(x)                               # the definition, written out
    for t in range(N):
        for i in range(W):
            if t - W + 1 + i >= 0:
                want[:, :, t] += w[..., i] * x[:, :, t - W + 1 + i]
    want += b[None, :, None, :]
    got = dm.causal_depthwise_conv(x, w, b)
    assert torch.allclose(got, want, atol=1e-12)
    flat = x.transpose(1, 2).reshape(2, N, H * d).transpose(1, 2)            # the same as one grouped Conv1d
    peer = conv(flat)[..., :N].transpose(1, 2).reshape(2, N, H, d).transpose(1, 2)
    assert torch.allclose(got, peer, atol=1e-12)
    with pytest.raises(ValueError, match="x must be"):
        dm.causal_depthwise_conv(x[..., :2], w, b)
