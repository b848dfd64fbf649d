"""Tests of the reduced transformer variants (paper 42): parameter formulas, the collapse identity, symmetry,
parity of the standard attention with torch.nn.MultiheadAttention, patching and error messages."""

import math

import numpy as np
import pytest
import torch

from simrepro.kernels import attention as ka
from simrepro.methods.attention import minimal_transformer as mt

KW = dict(patch_dim=9, n_tokens=10, n_classes=7, d_model=12, n_heads=3, n_layers=2, d_ff=20)


@pytest.mark.parametrize("name", list(mt.VARIANTS))
def test_param_count_matches_closed_form(name):
    torch.manual_seed(0)
    model = mt.make_model(name, **KW)
    counts = mt.param_count(mt.VARIANTS[name], **KW)
    assert mt.counted_params(model) == counts["total"]
    assert counts["total"] == counts["blocks"] + counts["embedding"] + counts["head"]


def test_param_formula_values_by_hand():
    d, h, dff = 12, 3, 20
    assert mt.block_param_count(mt.VARIANTS["standard"], d, h, dff) == 2 * d + 4 * d * d + 2 * d + 2 * d * dff + dff + d
    assert mt.block_param_count(mt.VARIANTS["no_mlp_wqk_novo"], d, h, dff) == 2 * d + h * d * d
    assert mt.block_param_count(mt.VARIANTS["no_mlp_sym_novo"], d, h, dff) == 2 * d + h * d * (d + 1) // 2


def test_collapsed_equals_separate_float64():
    torch.manual_seed(1)
    d, h = 12, 3
    sep = mt.MinimalAttention(d, h, mt.Variant(mlp=False, qk="separate", vo=True)).double()
    col = mt.MinimalAttention(d, h, mt.Variant(mlp=False, qk="collapsed", vo=True)).double()
    with torch.no_grad():
        col.w_qk.copy_(mt.collapse_qk(sep.w_q, sep.w_k, h))
        col.w_v.weight.copy_(sep.w_v.weight)
        col.w_o.weight.copy_(sep.w_o.weight)
    u = torch.randn(2, 11, d, dtype=torch.float64)
    assert torch.allclose(col.scores(u), sep.scores(u), atol=1e-12, rtol=0)
    assert torch.allclose(col(u), sep(u), atol=1e-12, rtol=0)


def test_collapsed_differs_when_weights_differ():
    # the identity above is not vacuous: a perturbed W_qk changes the output
    torch.manual_seed(2)
    sep = mt.MinimalAttention(8, 2, mt.Variant(qk="separate")).double()
    col = mt.MinimalAttention(8, 2, mt.Variant(qk="collapsed")).double()
    with torch.no_grad():
        col.w_qk.copy_(mt.collapse_qk(sep.w_q, sep.w_k, 2) + 0.1)
        col.w_v.weight.copy_(sep.w_v.weight)
        col.w_o.weight.copy_(sep.w_o.weight)
    u = torch.randn(1, 5, 8, dtype=torch.float64)
    assert (col(u) - sep(u)).abs().max() > 1e-6


def test_symmetric_scores_are_symmetric_psd_and_collapsed_are_not():
    torch.manual_seed(3)
    sym = mt.MinimalAttention(10, 2, mt.Variant(mlp=False, qk="symmetric", vo=False)).double()
    col = mt.MinimalAttention(10, 2, mt.Variant(mlp=False, qk="collapsed", vo=False)).double()
    u = torch.randn(3, 9, 10, dtype=torch.float64)
    s = sym.scores(u)
    assert torch.allclose(s, s.transpose(-2, -1), atol=1e-12)
    assert torch.linalg.eigvalsh(s).min() > -1e-10
    c = col.scores(u)
    assert (c - c.transpose(-2, -1)).abs().max() > 1e-3
    # the strict upper triangle of L never enters (it is masked): changing it leaves the scores unchanged
    with torch.no_grad():
        sym.l_raw.add_(torch.triu(torch.ones(10, 10, dtype=torch.float64), 1))
    assert torch.allclose(sym.scores(u), s, atol=1e-12)


def test_symmetric_gradient_zero_on_masked_triangle():
    sym = mt.MinimalAttention(6, 2, mt.Variant(mlp=False, qk="symmetric", vo=False))
    sym(torch.randn(2, 5, 6)).sum().backward()
    upper = ~torch.tril(torch.ones(6, 6, dtype=torch.bool))
    assert float(sym.l_raw.grad[:, upper].abs().max()) == 0.0
    assert float(sym.l_raw.grad[:, ~upper].abs().max()) > 0.0


def test_standard_matches_multiheadattention_peer():
    torch.manual_seed(4)
    att = mt.MinimalAttention(12, 3, mt.VARIANTS["standard"]).double()
    peer = mt.mha_peer(att)
    u = torch.randn(4, 13, 12, dtype=torch.float64)
    ours = att(u)
    theirs, _ = peer(u, u, u, need_weights=False)
    assert (ours - theirs).abs().max() < 1e-12


def test_novo_output_is_attention_over_head_slices():
    # reference: explicit softmax(S/√d_h) applied to each head's slice of u, against the SDPA path
    torch.manual_seed(5)
    att = mt.MinimalAttention(8, 2, mt.VARIANTS["no_mlp_sym_novo"]).double()
    u = torch.randn(2, 7, 8, dtype=torch.float64)
    w = torch.softmax(att.scores(u) / math.sqrt(4), dim=-1)
    ref = torch.cat([w[:, h] @ u[..., 4 * h:4 * h + 4] for h in range(2)], dim=-1)
    assert torch.allclose(att(u), ref, atol=1e-12)


def test_key_mask_padding_invariant():
    torch.manual_seed(6)
    att = mt.MinimalAttention(8, 2, mt.VARIANTS["no_mlp_wqk_novo"]).double()
    u = torch.randn(2, 9, 8, dtype=torch.float64)
    mask = torch.arange(9)[None] < torch.tensor([9, 4])[:, None]
    assert torch.allclose(att(u, mask)[1, :4], att(u[1:2, :4])[0], atol=1e-12)


def test_patchify_layout_and_scaling():
    img = np.arange(2 * 4 * 6, dtype=np.uint8).reshape(2, 4, 6)
    t = mt.patchify(img, 2)
    assert t.shape == (2, 6, 4) and t.dtype == torch.float32
    assert torch.allclose(t[0, 1] * 255, torch.tensor([2.0, 3.0, 8.0, 9.0]))    # second patch of the first row
    assert torch.allclose(t[1, 5] * 255, torch.tensor([40.0, 41.0, 46.0, 47.0]))
    assert mt.patchify(np.zeros((0, 4, 4), np.float32), 2).shape == (0, 4, 4)


def test_clear_errors():
    with pytest.raises(ValueError, match="divide"):
        mt.patchify(np.zeros((1, 5, 5)), 2)
    with pytest.raises(ValueError, match=r"\(n, H, W\)"):
        mt.patchify(np.zeros((3, 784)), 4)
    with pytest.raises(ValueError, match="NaN"):
        mt.patchify(np.full((1, 4, 4), np.nan), 2)
    with pytest.raises(ValueError, match="qk must be"):
        mt.Variant(qk="tied")
    with pytest.raises(ValueError, match="multiple"):
        mt.MinimalAttention(10, 3, mt.Variant())
    with pytest.raises(ValueError, match="only for the standard"):
        mt.mha_peer(mt.MinimalAttention(8, 2, mt.VARIANTS["no_mlp_wqk"]))
    model = mt.make_model("no_mlp", **KW)
    with pytest.raises(ValueError, match="tokens must be"):
        model(torch.zeros(2, 11, 9))


def test_model_forward_shapes_and_reduced_variants_are_smaller():
    torch.manual_seed(7)
    totals = {}
    for name in mt.VARIANTS:
        m = mt.make_model(name, **KW)
        assert m(torch.randn(3, 10, 9)).shape == (3, 7)
        totals[name] = mt.counted_params(m)
    assert totals["standard"] > totals["no_mlp"] > totals["no_mlp_wqk_novo"] > totals["no_mlp_sym_novo"]


def test_uses_the_shared_kernel(monkeypatch):
    calls = []
    real = ka.softmax_attention

    def spy(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(ka, "softmax_attention", spy)
    mt.make_model("no_mlp_sym_novo", **KW)(torch.randn(1, 10, 9))
    assert len(calls) == KW["n_layers"]
