"""SingLoRA / LoRA adapters against their definitions (float64; tolerances 1e-12 unless stated)."""

import pytest
import torch
from torch import nn

from simrepro.methods.representation import singlora as sl



@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _base(d_in, d_out, seed=0):
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out).double()


@pytest.mark.parametrize("d_in,d_out", [(7, 7), (5, 11), (11, 5), (1, 3)])
def test_zero_update_at_init(d_in, d_out):
    x = torch.randn(4, 3, d_in)
    for kind in ("lora", "singlora"):
        base = _base(d_in, d_out)
        ref = base(x)
        ad = sl.make_adapter(kind, base, rank=2, alpha=4.0, ramp_steps=10)
        assert torch.equal(ad(x), ref)
        assert float(ad.delta_weight().abs().max()) == 0.0


def test_ramp_values_and_errors():
    assert sl.ramp(0, 10) == 0.0 and sl.ramp(5, 10) == 0.5 and sl.ramp(10, 10) == 1.0 and sl.ramp(99, 10) == 1.0
    assert sl.ramp(0, 0) == 1.0
    with pytest.raises(ValueError):
        sl.ramp(-1, 10)


def test_singlora_ramp_scales_update_linearly():
    ad = sl.SingLoRALinear(_base(6, 6), rank=3, alpha=3.0, ramp_steps=4)
    full = ad.lora_A @ ad.lora_A.T                      # α/r = 1
    for t in range(7):
        assert torch.allclose(ad.delta_weight(), min(t / 4, 1.0) * full, atol=1e-12)
        ad.advance()
    ad.eval()
    with torch.no_grad():
        ad(torch.randn(2, 6))
    assert int(ad.step) == 7                            # forward never moves the ramp


def test_square_update_is_symmetric_psd_rank_r():
    ad = sl.SingLoRALinear(_base(9, 9), rank=3, alpha=6.0, ramp_steps=0)
    d = ad.delta_weight()
    assert torch.allclose(d, d.T, atol=1e-12)
    ev = torch.linalg.eigvalsh(d)
    assert ev.min() > -1e-10 and int((ev > 1e-9).sum()) == 3
    assert torch.allclose(d, 2.0 * ad.lora_A @ ad.lora_A.T, atol=1e-12)   # α/r = 2


@pytest.mark.parametrize("d_in,d_out", [(4, 10), (10, 4)])
def test_non_square_is_truncated_block(d_in, d_out):
    ad = sl.SingLoRALinear(_base(d_in, d_out), rank=2, alpha=2.0, ramp_steps=0)
    A = ad.lora_A
    assert A.shape == (max(d_in, d_out), 2)
    assert torch.allclose(ad.delta_weight(), (A @ A.T)[:d_out, :d_in], atol=1e-12)
    assert ad.delta_weight().shape == ad.base.weight.shape


@pytest.mark.parametrize("kind", ["lora", "singlora"])
@pytest.mark.parametrize("d_in,d_out", [(6, 6), (3, 8), (8, 3)])
def test_fast_path_equals_reference(kind, d_in, d_out):
    ad = sl.make_adapter(kind, _base(d_in, d_out), rank=2, alpha=3.0, ramp_steps=5)
    with torch.no_grad():
        for p in ad.parameters():
            if p.requires_grad:
                p.normal_()
    for _ in range(3):
        ad.advance()
    x = torch.randn(5, 2, d_in)
    assert torch.allclose(ad(x), ad.reference_forward(x), atol=1e-10)


@pytest.mark.parametrize("d_in,d_out,r", [(384, 384, 8), (5, 11, 3), (11, 5, 1)])
def test_parameter_counts(d_in, d_out, r):
    lo = sl.LoRALinear(_base(d_in, d_out), r)
    si = sl.SingLoRALinear(_base(d_in, d_out), r)
    assert sl.trainable_params(lo) == sl.adapter_params("lora", d_in, d_out, r) == r * (d_in + d_out)
    assert sl.trainable_params(si) == sl.adapter_params("singlora", d_in, d_out, r) == r * max(d_in, d_out)
    if d_in == d_out:
        assert 2 * sl.trainable_params(si) == sl.trainable_params(lo)


def test_gradients_reach_adapter_not_base():
    torch.manual_seed(1)
    si = sl.SingLoRALinear(_base(5, 5), rank=2, alpha=2.0, ramp_steps=2)
    si.advance()                                        # u = 1/2
    x = torch.randn(7, 5)
    (si(x) ** 2).sum().backward()
    assert si.base.weight.grad is None and si.base.bias.grad is None
    # analytic gradient: dL/dΔW = G = sum 2 y xᵀ; ΔW = c A Aᵀ  =>  dL/dA = c (G + Gᵀ) A
    y = si(x).detach()
    G = 2 * y.T @ x
    c = si.scale * 0.5
    assert torch.allclose(si.lora_A.grad, c * (G + G.T) @ si.lora_A.detach(), atol=1e-9)
    lo = sl.LoRALinear(_base(5, 5), rank=2)
    (lo(x) ** 2).sum().backward()
    assert lo.lora_B.grad.abs().max() > 0 and float(lo.lora_A.grad.abs().max()) == 0.0   # B = 0 at init


def test_at_init_singlora_gradient_is_zero_until_ramp_starts():
    si = sl.SingLoRALinear(_base(4, 4), rank=2, ramp_steps=3)
    (si(torch.randn(3, 4)) ** 2).sum().backward()
    assert float(si.lora_A.grad.abs().max()) == 0.0


def test_bad_inputs():
    with pytest.raises(TypeError, match="nn.Linear"):
        sl.LoRALinear(nn.Conv1d(2, 2, 1), 1)
    with pytest.raises(ValueError, match="rank"):
        sl.SingLoRALinear(_base(3, 3), 0)
    with pytest.raises(ValueError, match="rank"):
        sl.SingLoRALinear(_base(3, 4), 5)
    with pytest.raises(ValueError, match="ramp_steps"):
        sl.SingLoRALinear(_base(3, 3), 1, ramp_steps=-1)
    with pytest.raises(ValueError, match="last dimension"):
        sl.LoRALinear(_base(3, 3), 1)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="kind"):
        sl.make_adapter("dora", _base(3, 3), 1)


def test_inject_replaces_named_linears():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    ads = sl.inject(net, ["0", "2"], "singlora", rank=1)
    assert isinstance(net[0], sl.SingLoRALinear) and isinstance(net[2], sl.SingLoRALinear) and len(ads) == 2
    assert sl.trainable_params(net) == 4 + 4
    with pytest.raises(KeyError, match="nope"):
        sl.inject(net, ["nope"], "lora", rank=1)
