"""Attention kernels against their quadratic references, on irregular shapes, masks, causal order and bad input.

Tolerances: float64 fast path vs float64 reference ≤ 1e-10 × max|out| (a few hundred float64 operations per
entry). float32 (flash-attention's rule): the fast path's error against the float64 reference ≤ 4 × the float32
reference's own error + 1e-6 (both round in float32; the fast path associates the sums differently)."""

import math

import pytest
import torch
import torch.nn.functional as F

from simrepro.kernels.attention import (FEATURE_MAPS, cost_sweep, flow_attention, flow_attention_reference,
                                        linear_attention, linear_attention_reference, loglog_slope, peak_memory_bytes,
                                        softmax_attention, softmax_attention_reference)

PAIRS = [(softmax_attention, softmax_attention_reference), (linear_attention, linear_attention_reference),
         (flow_attention, flow_attention_reference)]
IDS = ["softmax", "linear", "flow"]
SHAPES = [(1, 1, 1, 1, 1, 1), (2, 3, 37, 29, 8, 5), (1, 2, 97, 257, 16, 16), (3, 1, 5, 130, 3, 7)]


def qkv(B, H, N, M, d, dv, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, H, N, d, generator=g, dtype=dtype), torch.randn(B, H, M, d, generator=g, dtype=dtype),
            torch.randn(B, H, M, dv, generator=g, dtype=dtype))


def lengths_mask(lengths, M):
    return torch.arange(M)[None, :] < torch.tensor(lengths)[:, None]


def assert_close64(a, b):
    err = (a - b).abs().max().item() if a.numel() else 0.0
    scale = max(1.0, b.abs().max().item() if b.numel() else 1.0)
    assert err <= 1e-10 * scale, f"max |Δ| = {err:.3g} (scale {scale:.3g})"


@pytest.mark.parametrize("fast,ref", PAIRS, ids=IDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_fast_equals_reference_float64(fast, ref, shape):
    q, k, v = qkv(*shape)
    assert_close64(fast(q, k, v), ref(q, k, v))


@pytest.mark.parametrize("fast,ref", PAIRS, ids=IDS)
@pytest.mark.parametrize("n", [1, 7, 64, 65, 200])
def test_causal_fast_equals_reference(fast, ref, n):
    q, k, v = qkv(2, 2, n, n, 6, 4, seed=n)
    assert_close64(fast(q, k, v, causal=True), ref(q, k, v, causal=True))


@pytest.mark.parametrize("chunk", [1, 3, 64, 1000])
def test_causal_linear_chunk_size_does_not_change_the_result(chunk):
    q, k, v = qkv(1, 2, 50, 50, 4, 3)
    assert_close64(linear_attention(q, k, v, causal=True, chunk=chunk), linear_attention_reference(q, k, v, causal=True))


@pytest.mark.parametrize("fast,ref", PAIRS, ids=IDS)
def test_key_mask_fast_equals_reference(fast, ref):
    q, k, v = qkv(3, 2, 23, 31, 8, 5)
    mask = lengths_mask([31, 12, 1], 31)
    assert_close64(fast(q, k, v, key_mask=mask), ref(q, k, v, key_mask=mask))


@pytest.mark.parametrize("fast,ref", PAIRS, ids=IDS)
def test_float32_error_within_budget(fast, ref):
    q, k, v = qkv(2, 2, 97, 61, 16, 8, dtype=torch.float32)
    truth = ref(q.double(), k.double(), v.double())
    err_ref = (ref(q, k, v).double() - truth).abs().max().item()
    err_fast = (fast(q, k, v).double() - truth).abs().max().item()
    print(f"float32 error: fast {err_fast:.3g}, reference {err_ref:.3g}")
    assert err_fast <= 4 * err_ref + 1e-6


@pytest.mark.parametrize("fast", [softmax_attention, linear_attention, flow_attention], ids=IDS)
def test_padding_does_not_change_valid_outputs(fast):
    """Self-attention over a padded batch equals each sequence run alone (padded keys and queries carry no flow)."""
    q, k, v = qkv(2, 2, 19, 19, 6, 4)
    lengths = [19, 8]
    out = fast(q, k, v, key_mask=lengths_mask(lengths, 19))
    for b, n in enumerate(lengths):
        alone = fast(q[b:b + 1, :, :n], k[b:b + 1, :, :n], v[b:b + 1, :, :n])
        assert_close64(out[b:b + 1, :, :n], alone)
    if fast is flow_attention:                         # padded query rows are zeroed
        assert out[1, :, 8:].abs().max() == 0


@pytest.mark.parametrize("fast,ref", PAIRS, ids=IDS)
def test_padded_values_are_ignored(fast, ref):
    q, k, v = qkv(1, 1, 9, 12, 4, 3)
    mask = lengths_mask([7], 12)
    v2 = v.clone()
    v2[:, :, 7:] = 1e6
    k2 = k.clone()
    k2[:, :, 7:] = -3.0
    for f in (fast, ref):
        assert_close64(f(q, k2, v2, key_mask=mask), f(q, k, v, key_mask=mask))


@pytest.mark.parametrize("fast,ref", PAIRS, ids=IDS)
def test_causal_output_ignores_the_future(fast, ref):
    q, k, v = qkv(1, 2, 30, 30, 5, 3)
    out = fast(q, k, v, causal=True)
    q2, k2, v2 = q.clone(), k.clone(), v.clone()
    q2[:, :, 20:] += 5.0
    k2[:, :, 20:] -= 5.0
    v2[:, :, 20:] *= -7.0
    out2 = fast(q2, k2, v2, causal=True)
    assert_close64(out2[:, :, :20], out[:, :, :20])
    assert (out2[:, :, 20:] - out[:, :, 20:]).abs().max() > 1e-3       # the perturbation is visible later


def test_fully_masked_rows_give_zero_not_nan():
    q, k, v = qkv(2, 1, 4, 6, 3, 2)
    mask = lengths_mask([6, 0], 6)
    for f in (softmax_attention, softmax_attention_reference):
        out = f(q, k, v, key_mask=mask)
        assert torch.isfinite(out).all() and out[1].abs().max() == 0
    assert torch.isfinite(linear_attention(q, k, v, key_mask=mask)).all()


def test_softmax_matches_explicit_definition():
    q, k, v = qkv(1, 1, 5, 4, 3, 2)
    s = q[0, 0] @ k[0, 0].T / math.sqrt(3)
    w = torch.exp(s - s.max(1, keepdim=True).values)
    expect = (w / w.sum(1, keepdim=True)) @ v[0, 0]
    assert_close64(softmax_attention(q, k, v)[0, 0], expect)


def test_flow_attention_matches_paper_equations_written_per_token():
    """Flow-Attention, eq. by eq. with explicit loops over tokens (ε = 0): I_i, O_j, Î_i, Ô_j, allocation, competition."""
    q, k, v = qkv(1, 1, 6, 5, 3, 2)
    Q, K, V = torch.sigmoid(q[0, 0]), torch.sigmoid(k[0, 0]), v[0, 0]
    N, M = 6, 5
    Fm = [[float(Q[i] @ K[j]) for j in range(M)] for i in range(N)]
    I = [1 / sum(Fm[i]) for i in range(N)]
    O = [1 / sum(Fm[i][j] for i in range(N)) for j in range(M)]
    Ihat = [sum(Fm[i][j] * O[j] for j in range(M)) for i in range(N)]
    Ohat = [min(1.0, sum(Fm[i][j] * I[i] for i in range(N))) for j in range(M)]
    ex = [math.exp(o) for o in Ohat]
    comp = [M * e / sum(ex) for e in ex]
    alloc = [1 / (1 + math.exp(-Ihat[i] * N / M)) for i in range(N)]
    expect = torch.stack([alloc[i] * I[i] * sum(Fm[i][j] * comp[j] * V[j] for j in range(M)) for i in range(N)])
    for f in (flow_attention, flow_attention_reference):
        assert_close64(f(q, k, v, eps=0.0)[0, 0], expect)


def test_flow_attention_is_not_plain_linear_attention():
    q, k, v = qkv(1, 1, 12, 12, 4, 3)
    diff = (flow_attention(q, k, v) - linear_attention(q, k, v, feature_map="sigmoid")).abs().max()
    assert diff > 1e-3


@pytest.mark.parametrize("fast,ref", PAIRS, ids=IDS)
def test_gradients_match_reference(fast, ref):
    q, k, v = qkv(1, 2, 13, 13, 4, 3)
    grads = []
    for f in (fast, ref):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        (f(*leaves, causal=True) ** 2).sum().backward()
        grads.append([t.grad for t in leaves])
    for a, b in zip(*grads):
        assert_close64(a, b)


def test_feature_map_name_or_callable():
    q, k, v = qkv(1, 1, 8, 8, 4, 2)
    assert_close64(linear_attention(q, k, v, feature_map="relu"),
                   linear_attention(q, k, v, feature_map=lambda x: torch.relu(x)))
    assert set(FEATURE_MAPS) >= {"elu1", "relu", "sigmoid", "exp"}
    with pytest.raises(ValueError, match="feature_map"):
        linear_attention(q, k, v, feature_map="nope")


def _square_and_double(x):
    """A key map ψ ≠ φ with twice the feature dimension: [x², (x + 1)²] (non-negative)."""
    return torch.cat([x ** 2, (x + 1) ** 2], dim=-1)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [False, True])
def test_key_feature_map_fast_equals_reference_and_the_formula(shape, causal):
    """φ(q)·ψ(k) with ψ ≠ φ: fast path == quadratic reference == the features formed by hand and passed with the
    identity map (what a paper would otherwise write itself); masks and the causal scan included."""
    B, H, N, M, d, dv = shape
    if causal:
        M = N
    q, k, v = qkv(B, H, N, M, d, dv, seed=11)
    mask = lengths_mask([max(1, M - 3 * b) for b in range(B)], M)
    phi = lambda x: torch.cat([torch.sigmoid(x), F.elu(x) + 1.0], dim=-1)   # noqa: E731  (d → 2d)
    for km in (None, mask):
        fast = linear_attention(q, k, v, feature_map=phi, key_feature_map=_square_and_double, causal=causal,
                                key_mask=km, chunk=7)
        ref = linear_attention_reference(q, k, v, feature_map=phi, key_feature_map=_square_and_double,
                                         causal=causal, key_mask=km)
        by_hand = linear_attention_reference(phi(q), _square_and_double(k), v, feature_map=lambda x: x,
                                             causal=causal, key_mask=km)
        assert_close64(fast, ref)
        assert torch.equal(ref, by_hand)


def test_key_feature_map_defaults_to_the_query_map():
    q, k, v = qkv(2, 2, 13, 11, 4, 3)
    for f in (linear_attention, linear_attention_reference):
        assert torch.equal(f(q, k, v, feature_map="relu"), f(q, k, v, feature_map="relu", key_feature_map="relu"))
        assert torch.equal(f(q, k, v), f(q, k, v, feature_map="elu1", key_feature_map=None))
        assert not torch.allclose(f(q, k, v, feature_map="relu"), f(q, k, v, feature_map="relu",
                                                                   key_feature_map="exp"))
        with pytest.raises(ValueError, match="same"):
            f(q, k, v, feature_map="relu", key_feature_map=_square_and_double)
        with pytest.raises(ValueError, match="feature_map"):
            f(q, k, v, key_feature_map="nope")


@pytest.mark.parametrize("fast", [softmax_attention, linear_attention, flow_attention], ids=IDS)
def test_empty_sequences(fast):
    q, k, v = qkv(2, 1, 0, 5, 3, 2)
    assert fast(q, k, v).shape == (2, 1, 0, 2)
    q, k, v = qkv(2, 1, 4, 0, 3, 2)
    out = fast(q, k, v)
    assert out.shape == (2, 1, 4, 2) and torch.isfinite(out).all() and out.abs().max() == 0


@pytest.mark.parametrize("f", [softmax_attention, softmax_attention_reference, linear_attention,
                               linear_attention_reference, flow_attention, flow_attention_reference])
def test_bad_input_errors(f):
    q, k, v = qkv(1, 1, 4, 4, 3, 2)
    with pytest.raises(ValueError, match="4 dimensions"):
        f(q[0], k, v)
    with pytest.raises(TypeError, match="dtype"):
        f(q.long(), k.long(), v.long())
    with pytest.raises(ValueError, match="head dimension"):
        f(q, k[..., :2], v)
    with pytest.raises(ValueError, match="tokens"):
        f(q, k, v[:, :, :3])
    bad = q.clone()
    bad[0, 0, 1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        f(bad, k, v)
    with pytest.raises(TypeError, match="bool"):
        f(q, k, v, key_mask=torch.ones(1, 4))
    with pytest.raises(ValueError, match="key_mask"):
        f(q, k, v, key_mask=torch.ones(1, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="causal"):
        f(q, k[:, :, :3], v[:, :, :3], causal=True)
    with pytest.raises(TypeError, match="torch tensor"):
        f(q.numpy(), k, v)


def test_cost_sweep_rows_and_skip():
    calls = []

    def slow(q, k, v, causal=False):
        calls.append(q.shape[2])
        return softmax_attention(q, k, v, causal=causal)

    rows = cost_sweep({"sdpa": softmax_attention, "slow": slow}, [16, 32, 64], dim=8, repeats=2, max_seconds=0.0)
    assert [(r["method"], r["n"]) for r in rows] == [(m, n) for n in (16, 32, 64) for m in ("sdpa", "slow")]
    assert set(calls) == {16}                          # over max_seconds after n = 16: skipped afterwards
    assert all(math.isnan(r["time_s"]) for r in rows if r["n"] > 16)
    with pytest.raises(ValueError, match="ns"):
        cost_sweep({"sdpa": softmax_attention}, [])
    with pytest.raises(ValueError, match="repeats"):
        cost_sweep({"sdpa": softmax_attention}, [8], repeats=0)


def test_loglog_slope_recovers_exponents():
    rows = [{"method": m, "n": n, "time_s": c * n ** p} for m, p, c in (("lin", 1, 3e-6), ("quad", 2, 1e-9))
            for n in (128, 256, 512, 1024)]
    assert loglog_slope(rows, "lin") == pytest.approx(1.0, abs=1e-12)
    assert loglog_slope(rows, "quad") == pytest.approx(2.0, abs=1e-12)
    assert loglog_slope(rows, "quad", min_n=1024) != loglog_slope(rows, "quad", min_n=1024)   # one point: NaN


def test_peak_memory_sees_an_allocation():
    mib = peak_memory_bytes(lambda: torch.ones(64 * 2 ** 20 // 4)) / 2 ** 20
    if math.isnan(mib):
        pytest.skip("/proc/self/clear_refs not writable here")
    assert 60 <= mib <= 80
