r"""Locally-adaptive vector quantisation (LVQ; Aguerrebere et al., VLDB 2023) and global scalar quantisation.

LVQ-B (one level). With μ the dataset mean (d,), each vector is centred, x′ = x − μ, and quantised with its
own bounds l = min_j x′_j, u = max_j x′_j:

    Δ = (u − l) / (2^B − 1),   c_j = round((x′_j − l) / Δ) ∈ {0, …, 2^B − 1},   x̂ = μ + l + Δ·c.

LVQ-B₁×B₂ (two levels): the residual r = x′ − (l + Δ·c) lies in [−Δ/2, Δ/2]; it is quantised with B₂ bits on
that interval (no extra constants: Δ₂ = Δ / (2^B₂ − 1)), c₂ = round((r + Δ/2) / Δ₂), and
x̂ = μ + l + Δ·c + (−Δ/2 + Δ₂·c₂). A graph search reads only (l, Δ, c) while it walks the graph and re-ranks its
final candidates with both levels.

Global scalar quantisation (the baseline LVQ is built against): the same formula with one l, u for the whole
(centred) dataset instead of one per vector.

Storage: codes are held one per uint8 for computing; :func:`pack_codes` packs B ≤ 8 bits per code densely
(B = 4: two per byte), and :func:`lvq_bytes_per_vector` = ⌈d·B₁/8⌉ + ⌈d·B₂/8⌉ + 2·(bytes of a constant).
The per-vector constants l, Δ are stored as float16 (as SVS does) and the codes are computed with the
float16-rounded constants, so the reconstruction uses exactly what is stored; codes are clipped to
[0, 2^B − 1] because rounding Δ to float16 can put u a hair beyond the last level.

Numerics: encoding is float32 elementwise (sub, div, round-half-to-even), so the torch path and the numpy
reference agree bit for bit. Cost: O(n·d) time, O(n·d) bytes of codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix

_CONST_DTYPES = {"float16": torch.float16, "float32": torch.float32}


def _check_bits(bits: int, name: str = "bits") -> int:
    if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 8:
        raise ValueError(f"{name} must be an integer in 1..8, got {bits!r}")
    return int(bits)


@dataclass
class LVQCodes:
    """LVQ-B₁(×B₂) codes of n vectors: ``codes`` (n, d) uint8, ``codes2`` (n, d) uint8 or None, ``lower`` and
    ``step`` (n,) float32 (values of the stored ``const_dtype``), ``mean`` (d,) float32."""

    codes: torch.Tensor
    codes2: torch.Tensor | None
    lower: torch.Tensor
    step: torch.Tensor
    mean: torch.Tensor
    bits: int
    bits2: int = 0
    const_dtype: str = "float16"

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.codes.shape)

    def decode(self, levels: int = 2) -> torch.Tensor:
        """Reconstruction x̂ (n, d) float32 from level 1 only (``levels=1``) or both levels (default)."""
        return self.decode_rows(torch.arange(self.codes.shape[0]), levels)

    def decode_rows(self, ids: torch.Tensor, levels: int = 2) -> torch.Tensor:
        """x̂ of rows ``ids`` (any shape) → (*ids.shape, d) float32."""
        lo, st = self.lower[ids].unsqueeze(-1), self.step[ids].unsqueeze(-1)
        x = lo + st * self.codes[ids].float()                                     # x′ ≈ l + Δ·c
        if levels >= 2 and self.codes2 is not None:
            st2 = st / (2 ** self.bits2 - 1)
            x = x + (st2 * self.codes2[ids].float() - st / 2)                     # + (−Δ/2 + Δ₂·c₂)
        return x + self.mean

    def nbytes(self) -> int:
        """Packed storage of all vectors (codes + constants; the mean's d floats are not counted)."""
        return self.codes.shape[0] * lvq_bytes_per_vector(self.codes.shape[1], self.bits, self.bits2, self.const_dtype)


def lvq_bytes_per_vector(d: int, bits: int, bits2: int = 0, const_dtype: str = "float16") -> int:
    """⌈d·B₁/8⌉ + ⌈d·B₂/8⌉ + 2·sizeof(constant): the bytes one LVQ vector occupies packed."""
    const = torch.finfo(_CONST_DTYPES[const_dtype]).bits // 8
    return -(-d * bits // 8) + (-(-d * bits2 // 8) if bits2 else 0) + 2 * const


def _round_const(t: torch.Tensor, const_dtype: str) -> torch.Tensor:
    dt = _CONST_DTYPES[const_dtype]
    if dt == torch.float16 and t.numel() and t.abs().max() > torch.finfo(torch.float16).max:
        raise ValueError("LVQ constants exceed the float16 range (65504); pass const_dtype='float32' "
                         "or rescale the data")
    return t.to(dt).to(torch.float32)


def lvq_encode(x, bits: int = 8, bits2: int = 0, *, mean=None, const_dtype: str = "float16") -> LVQCodes:
    """LVQ-``bits`` (×``bits2`` if > 0) codes of ``x`` (n, d); ``mean`` (d,) defaults to x's column mean."""
    bits = _check_bits(bits)
    if bits2:
        bits2 = _check_bits(bits2, "bits2")
    if const_dtype not in _CONST_DTYPES:
        raise ValueError(f"const_dtype must be one of {sorted(_CONST_DTYPES)}, got {const_dtype!r}")
    x = as_matrix(x, "x", dtype=torch.float32)
    n, d = x.shape
    mu = (x.double().mean(0).float() if n else torch.zeros(d)) if mean is None else _as_mean(mean, d)
    xc = x - mu                                                                   # x′ = x − μ
    lo = xc.amin(1) if d else torch.zeros(n)
    hi = xc.amax(1) if d else torch.zeros(n)
    levels = 2 ** bits - 1
    lo = _round_const(lo, const_dtype)
    step = _round_const((hi - lo) / levels, const_dtype)                          # Δ = (u − l)/(2^B − 1)
    safe = torch.where(step > 0, step, torch.ones_like(step))[:, None]
    codes = torch.clamp(torch.round((xc - lo[:, None]) / safe), 0, levels)        # c = round((x′ − l)/Δ)
    codes = torch.where(step[:, None] > 0, codes, torch.zeros_like(codes))
    codes2 = None
    if bits2:
        levels2 = 2 ** bits2 - 1
        r = xc - (lo[:, None] + step[:, None] * codes)                           # r ∈ [−Δ/2, Δ/2]
        step2 = (step / levels2)[:, None]
        safe2 = torch.where(step2 > 0, step2, torch.ones_like(step2))
        codes2 = torch.clamp(torch.round((r + step[:, None] / 2) / safe2), 0, levels2)
        codes2 = torch.where(step2 > 0, codes2, torch.zeros_like(codes2)).to(torch.uint8)
    return LVQCodes(codes.to(torch.uint8), codes2, lo, step, mu, bits, bits2, const_dtype)


def _as_mean(mean, d: int) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(mean, dtype=np.float32)).reshape(-1)
    if m.shape[0] != d or not torch.isfinite(m).all():
        raise ValueError(f"mean must be a finite (d,) vector with d = {d}, got shape {tuple(m.shape)}")
    return m


def lvq_encode_reference(x, bits: int = 8, bits2: int = 0, *, mean=None, const_dtype: str = "float16"):
    """Plain per-vector loop in numpy float32: (codes, codes2 or None, lower, step) — the definition above."""
    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    mu = x.astype(np.float64).mean(0).astype(np.float32) if mean is None else np.asarray(mean, np.float32)
    cdt = np.float16 if const_dtype == "float16" else np.float32
    codes = np.zeros((n, d), np.uint8)
    codes2 = np.zeros((n, d), np.uint8) if bits2 else None
    lower, step = np.zeros(n, np.float32), np.zeros(n, np.float32)
    for i in range(n):
        xc = x[i] - mu
        lo = np.float32(cdt(xc.min()))
        st = np.float32(cdt((xc.max() - lo) / np.float32(2 ** bits - 1)))
        lower[i], step[i] = lo, st
        if st > 0:
            codes[i] = np.clip(np.round((xc - lo) / st), 0, 2 ** bits - 1)
            if bits2:
                r = xc - (lo + st * codes[i].astype(np.float32))
                st2 = np.float32(st / np.float32(2 ** bits2 - 1))
                codes2[i] = np.clip(np.round((r + st / np.float32(2)) / st2), 0, 2 ** bits2 - 1)
    return codes, codes2, lower, step


def global_sq_encode(x, bits: int = 8, *, mean=None) -> LVQCodes:
    """Global scalar quantisation: LVQ's formula with one (l, Δ) shared by every vector (float32 constants)."""
    bits = _check_bits(bits)
    x = as_matrix(x, "x", dtype=torch.float32, allow_empty=False)
    n, d = x.shape
    mu = x.double().mean(0).float() if mean is None else _as_mean(mean, d)
    xc = x - mu
    lo, hi = xc.amin(), xc.amax()
    step = (hi - lo) / (2 ** bits - 1)
    codes = torch.clamp(torch.round((xc - lo) / (step if step > 0 else 1.0)), 0, 2 ** bits - 1)
    if not step > 0:
        codes = torch.zeros_like(codes)
    return LVQCodes(codes.to(torch.uint8), None, lo.expand(n).clone(), step.expand(n).clone(), mu, bits, 0, "float32")


def global_sq_nbytes(n: int, d: int, bits: int) -> int:
    """Packed codes of n vectors plus the two shared constants (float32)."""
    return n * (-(-d * bits // 8)) + 8


def pack_codes(codes, bits: int) -> np.ndarray:
    """Pack (n, d) codes < 2^bits into (n, ⌈d·bits/8⌉) uint8, little-endian bit order within each row."""
    bits = _check_bits(bits)
    c = np.asarray(codes, dtype=np.uint8)
    if c.ndim != 2:
        raise ValueError(f"codes must be (n, d), got shape {c.shape}")
    if c.size and c.max() >= 2 ** bits:
        raise ValueError(f"codes hold {c.max()} ≥ 2^{bits}; pass the bits they were encoded with")
    bitplanes = np.unpackbits(c[:, :, None], axis=2, bitorder="little")[:, :, :bits]   # (n, d, bits)
    return np.packbits(bitplanes.reshape(c.shape[0], -1), axis=1, bitorder="little")


def unpack_codes(packed, bits: int, d: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: (n, ⌈d·bits/8⌉) uint8 → (n, d) uint8."""
    bits = _check_bits(bits)
    p = np.asarray(packed, dtype=np.uint8)
    flat = np.unpackbits(p, axis=1, bitorder="little")[:, :d * bits].reshape(p.shape[0], d, bits)
    return np.packbits(np.concatenate([flat, np.zeros((p.shape[0], d, 8 - bits), np.uint8)], axis=2),
                       axis=2, bitorder="little")[:, :, 0]


def quantization_mse(x, codes: LVQCodes, levels: int = 2) -> float:
    """Mean over vectors of ‖x − x̂‖² (float64 accumulation)."""
    x = as_matrix(x, "x", dtype=torch.float32)
    err = (x.double() - codes.decode(levels).double()).pow(2).sum(1)
    return float(err.mean()) if err.numel() else float("nan")
