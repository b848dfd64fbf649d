"""LVQ: the batched encoder against the per-vector reference, the error bounds, packing and byte counts."""

import numpy as np
import pytest
import torch

from simrepro.kernels import lvq


def _x(n=97, d=31, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) * rng.uniform(0.1, 10, (n, 1))).astype(np.float32)


@pytest.mark.parametrize("bits,bits2", [(8, 0), (4, 0), (4, 4), (4, 8), (3, 5), (1, 0)])
def test_encode_equals_reference(bits, bits2):
    x = _x()
    c = lvq.lvq_encode(x, bits, bits2)
    codes, codes2, lo, st = lvq.lvq_encode_reference(x, bits, bits2)
    assert np.array_equal(c.codes.numpy(), codes)
    assert np.array_equal(c.lower.numpy(), lo) and np.array_equal(c.step.numpy(), st)
    if bits2:
        assert np.array_equal(c.codes2.numpy(), codes2)


@pytest.mark.parametrize("bits,bits2", [(8, 0), (4, 0), (4, 8)])
def test_error_bound(bits, bits2):
    """|x − x̂| ≤ Δ/2 (one level) or Δ₂/2 (two levels) per coordinate, up to float16 rounding of the constants."""
    x = _x(n=200, d=50, seed=1)
    c = lvq.lvq_encode(x, bits, bits2, const_dtype="float32")
    err = (torch.as_tensor(x) - c.decode()).abs()
    half = c.step / 2 / ((2 ** bits2 - 1) if bits2 else 1)
    print("max err / bound", float((err / half[:, None]).max()))
    assert (err <= half[:, None] * (1 + 1e-4) + 1e-6).all()


def test_two_level_and_lvq_beat_one_level_and_global():
    x = _x(n=300, d=64, seed=2)
    m4, m48 = lvq.quantization_mse(x, lvq.lvq_encode(x, 4)), lvq.quantization_mse(x, lvq.lvq_encode(x, 4, 8))
    m8, g8 = lvq.quantization_mse(x, lvq.lvq_encode(x, 8)), lvq.quantization_mse(x, lvq.global_sq_encode(x, 8))
    print(m4, m48, m8, g8)
    assert m48 < m4 / 100 and m8 < g8                     # per-vector scales vary 100×: global bounds waste levels


def test_constant_and_zero_vectors():
    x = np.zeros((3, 5), np.float32)
    x[1] = 7.0
    c = lvq.lvq_encode(x, 8, 4, mean=np.zeros(5))
    assert torch.equal(c.decode(), torch.as_tensor(x))
    assert (c.codes == 0).all() and (c.step == 0).all()


def test_bad_input():
    x = _x(n=4, d=3)
    with pytest.raises(ValueError, match="bits"):
        lvq.lvq_encode(x, 9)
    with pytest.raises(ValueError, match="bits2"):
        lvq.lvq_encode(x, 4, 0.5)
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        lvq.lvq_encode(bad)
    with pytest.raises(ValueError, match="float16"):
        lvq.lvq_encode(x * 1e6)
    with pytest.raises(ValueError, match="mean"):
        lvq.lvq_encode(x, mean=np.zeros(4))


@pytest.mark.parametrize("bits,d", [(4, 7), (8, 5), (3, 11), (1, 9)])
def test_pack_roundtrip_and_bytes(bits, d):
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 2 ** bits, (6, d)).astype(np.uint8)
    packed = lvq.pack_codes(codes, bits)
    assert packed.shape == (6, -(-d * bits // 8))
    assert np.array_equal(lvq.unpack_codes(packed, bits, d), codes)
    if bits < 8:
        with pytest.raises(ValueError, match="≥ 2"):
            lvq.pack_codes(codes + 2 ** bits, bits)


def test_nbytes_formula():
    x = _x(n=10, d=784)
    assert lvq.lvq_encode(x, 8).nbytes() == 10 * (784 + 4)
    assert lvq.lvq_encode(x, 4, 8).nbytes() == 10 * (392 + 784 + 4)
    assert lvq.lvq_bytes_per_vector(50, 4, 0, "float32") == 25 + 8
    assert lvq.global_sq_nbytes(10, 784, 8) == 10 * 784 + 8
