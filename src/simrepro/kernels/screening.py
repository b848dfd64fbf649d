r"""Certified bfloat16 screening: exact top-k search at the speed of a bfloat16 GEMM.

On CPUs with native bfloat16 dot products (AVX-512 BF16, AMX) a bf16 GEMM runs several times faster than a
float32 one (on the 2-core AMD EPYC this was written on: ≈ 900 against ≈ 210 GFLOP/s). Screening uses it
without giving up exactness. For a block of queries, over database blocks:

1. score every pair once in bf16: w_ij ≈ s_ij (s = x·y for dot/cosine, s = −‖x − y‖² for l2);
2. bound the error of every score rigorously: |w_ij − s_ij| ≤ ρ|w_ij| + E_i  (E per query and database block);
3. τ_i = the k-th largest lower bound w − ρ|w| − E seen so far; keep the pairs whose upper bound
   w + ρ|w| + E reaches τ_i — every true top-k pair does, since at least k pairs have s ≥ τ_i;
4. rescore the kept pairs in float64 from the original inputs and take their k best.

The answer is the exact k-NN (ties in any order; its scores are float64-accurate, better than a float32 GEMM's),
never an approximation. The price is the rescoring of the kept pairs: k plus a few dozen per query on the
benchmark data.

The GEMM. dot/cosine: X = x̂ = bf16(x), Y = ŷ = bf16(y). l2: centred on μ = the database mean (distances do not
change; norms, hence the bound, shrink), c_x = x − μ, c_y = y − μ and
s = −‖x − y‖² = 2c_x·c_y − ‖c_y‖² − ‖c_x‖², computed by one GEMM over d + 4 columns:
X = [2x̂, 1, 1, a_hi, a_lo], Y = [ŷ, b_hi, b_lo, 1, 1], with x̂ = bf16(fl32(c_x)), ŷ = bf16(fl32(c_y)) and each
squared norm split into two bf16 (b_hi = bf16(b), b_lo = bf16(b − b_hi) for b = −‖c_y‖², likewise a for c_x), so
the score needs no pass after the GEMM and its magnitude |s| is a distance, not ‖c_x‖².

Bound. u = 2^-8 + 2^-23 bounds the relative error of rounding to bfloat16 to nearest (oneDNN's
``vcvtneps2bf16``, torch's conversion) after a float32 rounding; ρ = u / (1 − u). With v = fl32(x − μ)
(|v − c| ≤ 2^-23|v| elementwise; v = x exactly for dot on float32 input) the residual r = c − x̂ has
‖r‖ ≤ ‖v − x̂‖ + 2^-23‖v‖, where v − x̂ is exact in float32 — so nothing depends on how the conversion rounds;
norms computed in float32 (n = fl(‖v‖)) become upper bounds by the factor ω = 1 / (1 − γ_{d+2}),
γ_n = n·2^-24 / (1 − n·2^-24), so |‖c‖² − n²| ≤ ‖δ‖(2‖v‖ + ‖δ‖) + (ω² − 1)n² (δ = c − v); the split of a
squared norm into bf16 leaves |b − b_hi − b_lo| (computed in float64). Then
- inputs: |2c_x·c_y − 2x̂·ŷ| ≤ ‖2x̂‖‖r_y‖ + ‖2r_x‖(‖ŷ‖ + ‖r_y‖) (Cauchy–Schwarz; factor 2 for l2 only), plus the
  squared-norm errors e_a, e_b above (l2);
- GEMM: the bf16 products are exact in float32 and summed in float32 in some order, K = d (+ 4) terms:
  |g̃ − X·Y| ≤ γ_K(‖X_{:d}‖‖Y_{:d}‖ + |a_hi| + |a_lo| + |b_hi| + |b_lo|) + 2^-126·(2K + √K(‖X‖ + ‖Y‖))
  (the last: denormal inputs, products and partial sums flushed to zero);
- output: w = bf16(g̃), |w − g̃| ≤ ρ|w|.
So |w − s| ≤ ρ|w| + E, with the database's terms taken at their maximum over each database block (the database
is ordered by norm, so that these maxima stay close to every row of the block), and ρ and E widened by 2^-20
relative for the float64 arithmetic of the bound itself. w ± ρ|w| is increasing in w, so "upper bound ≥ τ" is a
threshold on w, found by the chunk-maxima select of :mod:`~simrepro.kernels.kselect`; a lower bound of the first
block's k-th best comes from its k-th largest chunk maximum.

Fallbacks, per query block, to the float32 scan: more than ``MAX_KEPT_PER_QUERY`` pairs kept per query on
average (data whose scores crowd within the bound of the k-th best, e.g. many near-duplicates), or a score that
could overflow bfloat16 (|s| near 3.4e38).
"""

from __future__ import annotations

import math

import torch

from simrepro.kernels.kselect import chunk_maxima, entries_at_least, limit_cpu_threads, merge_topk

BF16_UNIT_ROUNDOFF = 2.0 ** -8 + 2.0 ** -23
_RHO = BF16_UNIT_ROUNDOFF / (1.0 - BF16_UNIT_ROUNDOFF) * (1.0 + 2.0 ** -20)
_WIDEN = 1.0 + 2.0 ** -20                 # slack for the float64 arithmetic of the bound
_TINY = 2.0 ** -126                       # smallest normal float32 / bfloat16
_ROWS = 4096                              # rows converted at a time (small temporaries)
MAX_KEPT_PER_QUERY = 512                  # kept pairs per query (average over a query block) before falling back
_RESCORE_PAIRS = 256                      # pairs rescored per float64 gather (cache-sized: 5× faster than 16k)


def native_bf16_available() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX), so a bf16 GEMM beats float32."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def _gamma(n: int) -> float:
    """γ_n = n·2^-24 / (1 − n·2^-24): relative error bound of an n-term float32 sum."""
    return n * 2.0 ** -24 / (1 - n * 2.0 ** -24)


class _Side:
    """One side of the GEMM for rows of x: the bf16 matrix and float64 (n,) bounds of the module docstring.

    ``matrix``: X (query) or Y (database), bfloat16, (n, d) or (n, d + 4) for l2; ``norm`` ≥ ‖X_{:d}‖,
    ``residual`` ≥ ‖c − X_{:d}‖ (both including the query's factor 2 for l2); ``extra``: the squared-norm error
    plus γ_K times the split squared norm's magnitude (l2; else 0); ``full_norm`` ≥ ‖X‖.
    """

    def __init__(self, x: torch.Tensor, shift: torch.Tensor | None, role: str):
        n, d = x.shape
        exact = shift is None and x.dtype == torch.float32                     # v = x: no rounding before bf16
        k_terms = d if shift is None else d + 4
        columns = torch.empty((n, k_terms), dtype=torch.bfloat16, device=x.device)
        norm, residual, length = (torch.empty(n, dtype=torch.float64, device=x.device) for _ in range(3))
        for s in range(0, n, _ROWS):
            rows = x[s:s + _ROWS]
            v = (rows if shift is None else rows - shift).float()              # v = fl32(x − μ)
            rounded = v.to(torch.bfloat16)
            columns[s:s + _ROWS, :d] = rounded
            norm[s:s + _ROWS] = torch.linalg.vector_norm(rounded, dim=1, dtype=torch.float32)
            residual[s:s + _ROWS] = torch.sub(v, rounded).norm(dim=1)          # v − x̂: exact in float32
            length[s:s + _ROWS] = v.norm(dim=1)                                 # fl(‖v‖)
        widen = 1.0 / (1.0 - _gamma(d + 2))                                     # float32 norm → upper bound
        norm *= widen
        residual *= widen
        v_norm = length * widen                                                 # ≥ ‖v‖
        delta = torch.zeros_like(v_norm) if exact else 2.0 ** -23 * v_norm      # ‖c − v‖
        residual += delta
        self.gamma = _gamma(k_terms)
        self.extra = torch.zeros_like(norm)
        magnitude = torch.zeros_like(norm)                                      # |a_hi| + |a_lo| + 1 + 1 (l2)
        if shift is not None:                                                   # l2: the split −‖c‖² columns
            target = -length.square()                                           # −fl(‖v‖)² ≈ −‖c‖²
            hi = target.to(torch.bfloat16)
            lo = (target - hi.double()).to(torch.bfloat16)
            split_error = (target - hi.double() - lo.double()).abs()
            square_error = delta * (2 * v_norm + delta) + (widen ** 2 - 1.0) * length.square()
            magnitude = hi.double().abs() + lo.double().abs()
            self.extra = split_error + square_error + self.gamma * magnitude
            ones = torch.ones(n, 2, dtype=torch.bfloat16, device=x.device)
            split = torch.stack([hi, lo], 1)
            if role == "query":
                columns[:, :d] *= 2                                             # exact in bf16
                norm *= 2
                residual *= 2
                columns[:, d:] = torch.cat([ones, split], 1)
            else:
                columns[:, d:] = torch.cat([split, ones], 1)
            magnitude += 2
        self.matrix, self.norm, self.residual = columns, norm, residual
        self.full_norm = norm + magnitude


def _block_max(values: torch.Tensor, block: int) -> torch.Tensor:
    """Maximum of each consecutive block of ``block`` entries, (ceil(n / block),)."""
    pad = (-values.shape[0]) % block
    return torch.nn.functional.pad(values, (0, pad)).view(-1, block).amax(1)


def _exact_pair_scores(x: torch.Tensor, y: torch.Tensor, rows: torch.Tensor, ids: torch.Tensor,
                       metric: str) -> torch.Tensor:
    """Scores of the pairs (x[rows[p]], y[ids[p]]) in float64, (P,): x·y, or −‖x − y‖² for l2."""
    out = torch.empty(rows.shape[0], dtype=torch.float64, device=x.device)
    for s in range(0, rows.shape[0], _RESCORE_PAIRS):
        xr = x[rows[s:s + _RESCORE_PAIRS]].double()
        yr = y[ids[s:s + _RESCORE_PAIRS]].double()
        out[s:s + _RESCORE_PAIRS] = -(xr - yr).square().sum(1) if metric == "l2" else (xr * yr).sum(1)
    return out


def _bounds(w: torch.Tensor, absolute: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(lower, upper) = w ∓ ρ|w| ∓ absolute in float64, written without inf − inf."""
    w = w.double()
    lower = torch.where(w >= 0, w * (1 - _RHO), w * (1 + _RHO)) - absolute
    upper = torch.where(w >= 0, w * (1 + _RHO), w * (1 - _RHO)) + absolute
    return lower, upper


def _threshold(tau: torch.Tensor, absolute: torch.Tensor) -> torch.Tensor:
    """Smallest w whose upper bound reaches τ, as float32 rounded down (n,): upper(w) ≥ τ ⟺ w ≥ threshold."""
    t = tau - absolute
    theta = torch.where(t >= 0, t / (1 + _RHO), t / (1 - _RHO))
    theta32 = theta.float()
    return torch.where(theta32.double() > theta, torch.nextafter(theta32, theta32.new_tensor(float("-inf"))),
                       theta32)


class ScreenedDatabase:
    """The database side of a screened search, prepared once: bf16 rows ordered by norm and per-block maxima
    of its error terms; :meth:`search` screens a block of queries against it and leaves the number of pairs it
    rescored per query in ``kept_per_query``.

    ``y`` (nb, d) float32/float64 (cosine rows already normalised), ``metric`` in dot|cosine|l2,
    ``database_block``: rows per block, a multiple of ``chunk``. Memory: nb·(d + 4) bf16 + O(nb) float64.
    """

    def __init__(self, y: torch.Tensor, metric: str, database_block: int, chunk: int):
        if database_block % chunk:
            raise ValueError(f"database_block ({database_block}) must be a multiple of chunk ({chunk})")
        self.y, self.metric, self.block, self.chunk = y, metric, database_block, chunk
        self.shift = y.mean(0) if metric == "l2" else None
        side = _Side(y, self.shift, "database")
        self.order = torch.argsort(side.norm)                                    # norm-sorted: tight block maxima
        self.matrix = torch.index_select(side.matrix, 0, self.order)
        self.norm_max, self.residual_max, self.extra_max, self.full_norm_max = (
            _block_max(values[self.order], database_block)
            for values in (side.norm, side.residual, side.extra, side.full_norm))
        self.gamma = side.gamma
        self.k_terms = side.matrix.shape[1]
        self.kept_per_query = float("nan")

    def error_bound(self, x: _Side, block: int) -> torch.Tensor:
        """E (n,) float64 of the module docstring for the query side ``x`` against database block ``block``."""
        ny, ry = self.norm_max[block], self.residual_max[block]
        flush = _TINY * (2 * self.k_terms + math.sqrt(self.k_terms) * (x.full_norm + self.full_norm_max[block]))
        return (x.norm * ry + x.residual * (ny + ry) + self.gamma * x.norm * ny + x.extra + self.extra_max[block]
                + flush) * _WIDEN

    def search(self, x: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Exact k-NN of queries ``x`` (n, d) (same dtype as the database; k ≤ nb) → ``D, I`` (n, k) in
        :func:`~simrepro.kernels.topk.topk_search`'s conventions, or None where the screen gives up (module
        docstring): the caller then runs the float32 scan for these queries."""
        n, nb = x.shape[0], self.y.shape[0]
        side = _Side(x, self.shift, "query")
        if float(side.full_norm.max()) * float(self.full_norm_max.max()) >= 1e38:
            return None                                                           # a bf16 score could overflow
        buf = torch.empty((n, self.block), dtype=torch.bfloat16, device=x.device) if nb >= self.block else None
        tau = torch.full((n,), float("-inf"), dtype=torch.float64, device=x.device)
        best_lower = torch.full((n, k), float("-inf"), dtype=torch.float64, device=x.device)
        no_ids = torch.zeros((n, k), dtype=torch.int64, device=x.device)
        kept_rows = kept_cols = torch.empty(0, dtype=torch.int64, device=x.device)
        kept_upper = torch.empty(0, dtype=torch.float64, device=x.device)
        for block, ys in enumerate(range(0, nb, self.block)):
            yb = self.matrix[ys:ys + self.block]                                   # (bn, K)
            width = yb.shape[0]
            if width == self.block:
                w = torch.mm(side.matrix, yb.T, out=buf)                           # (n, bn) bf16
            else:                                                                  # the ragged last block
                w = torch.nn.functional.pad(torch.mm(side.matrix, yb.T), (0, (-width) % self.chunk),
                                            value=float("-inf"))
            absolute = self.error_bound(side, block)                               # E (n,)
            maxima = chunk_maxima(w, self.chunk)                                   # one read of the block
            with limit_cpu_threads(1):
                if bool(torch.isneginf(tau).any()) and maxima.shape[1] >= k:       # ≥ k entries reach the k-th max
                    tau = torch.maximum(tau, _bounds(maxima.topk(k, dim=1).values[:, -1], absolute)[0])
                rows, cols, values = entries_at_least(w, _threshold(tau, absolute), self.chunk, maxima)
                real = cols < width
                rows, cols, values = rows[real], cols[real], values[real]
                lower, upper = _bounds(values, absolute[rows])
                best_lower = merge_topk(best_lower, no_ids, rows, lower, cols, k)[0]
                tau = best_lower[:, -1]
                kept_rows = torch.cat([kept_rows, rows])
                kept_cols = torch.cat([kept_cols, cols + ys])
                kept_upper = torch.cat([kept_upper, upper])
                alive = kept_upper >= tau[kept_rows]
                kept_rows, kept_cols, kept_upper = kept_rows[alive], kept_cols[alive], kept_upper[alive]
            if kept_rows.shape[0] > MAX_KEPT_PER_QUERY * n:
                return None
        self.kept_per_query = kept_rows.shape[0] / max(n, 1)
        by_row = torch.argsort(kept_rows, stable=True)
        rows, ids = kept_rows[by_row], self.order[kept_cols[by_row]]
        scores = _exact_pair_scores(x, self.y, rows, ids, self.metric)
        with limit_cpu_threads(1):
            scores, ids = merge_topk(scores.new_empty((n, 0)), ids.new_empty((n, 0)), rows, scores, ids, k)
        D = -scores if self.metric == "l2" else scores
        return D.to(x.dtype), ids
