r"""SOFT — softmax-free attention (Lu et al., NeurIPS 2021; journal version "Softmax-free Linear Transformers",
IJCV 2024; github.com/fudan-zvg/SOFT): a Gaussian kernel in place of dot product + softmax, made linear in N by a
Nyström low-rank decomposition through m landmark tokens, whose m × m Gram matrix is inverted by the
Newton(–Schulz) iteration for the Moore–Penrose inverse.

Definitions (official ``models/softmax_free_transformer.py``, class ``SoftmaxFreeAttentionKernel``, lines 60–106;
``SOFT/kernel/inverse.py`` lines 60–69). Shapes: q (B, H, N, d), k (B, H, M, d), v (B, H, M, d_v).
- Scaling (line 63): q ← q / d^{1/4}, so ‖q_i − k_j‖² of the scaled vectors = ‖·‖² / √d of the raw ones.
- Gaussian kernel (lines 21–26, 71, 92): S_ij = exp(−‖q_i − k_j‖² / 2) (scaled q, k). SOFT ties the key to the
  query (line 64, ``K = Q``: one projection, so S is symmetric PSD); ``shared_qk=True`` (default) does that and
  ignores ``k``; ``shared_qk=False`` uses ``k`` as given.
- Exact softmax-free attention: out = S V — **no row normalisation** (the official output, line 99, is not
  divided by row sums); :func:`gaussian_attention_reference` forms S (N, M): O(N·M) time and memory.
- Landmarks K̃ (m, d): the official code pools the query grid by a learned strided convolution + LayerNorm +
  GELU (lines 83–88). Our attention is a parameter-free callable, so K̃ = the means of m contiguous segments of
  the (valid) keys — the parameter-free bottleneck of Nyströmformer; segment s of a sequence of n valid tokens
  holds tokens j with ⌊j·m'/n⌋ = s, m' = min(m, n) (landmarks beyond m' are masked out).
- Nyström form (line 99): Ŝ = S(Q, K̃) · G⁺ · S(K̃, K),   G = S(K̃, K̃) + ridge·I,
  out = S(Q, K̃) · (G⁺ · (S(K̃, K) V)): O((N + M)·m·(d + d_v) + m³·iters) time, O((N + M)·m) memory.
- Newton–Schulz iteration for G⁺ (inverse.py lines 60–69): V₀ = α Gᵀ, V_{t+1} = 2V_t − V_t G V_t, with
  α = 0.9 · 2 / (‖G‖₁‖G‖_∞) (for a symmetric non-negative G this is the official 0.9·2/max_i(Σ_j G_ij)²; it keeps
  α < 2/σ_max², the condition for convergence to G⁺ (Ben-Israel & Cohen 1966)); the official code adds
  ridge = 0.01 to the diagonal first (line 64) and runs 20 iterations (config ``newton_maxiter: 20``); its α is
  computed from G before the ridge (line 63), ours from G + ridge·I — the same limit, a marginally different start.
- Symmetric normalisation (the journal's "SOFT-Norm", lines 223–227): G⁺ ← D^{-1/2} G⁺ D^{-1/2} with
  D = diag(row sums of G), ``normalize="sym"``.

:func:`soft_attention` is the fast path (Newton–Schulz, linear in N); :func:`soft_attention_reference` forms Ŝ
(N, M) explicitly with ``torch.linalg.pinv``; :func:`soft_matrix` / :func:`gaussian_matrix` return Ŝ and S for the
approximation error ‖Ŝ − S‖_F / ‖S‖_F. Padded keys (``key_mask`` False) carry no weight; SOFT is non-causal.
"""

from __future__ import annotations

import math

import torch

from simrepro.kernels.attention import check_qkv

__all__ = ["gaussian_kernel", "newton_schulz_pinv", "segment_landmarks", "gaussian_matrix", "soft_matrix",
           "gaussian_attention_reference", "soft_attention_reference", "soft_attention", "relative_error",
           "approximation_errors", "newton_steps_needed", "landmark_gram", "random_spd", "newton_rel_error"]


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """exp(−‖x_i − y_j‖² / 2) for x (…, N, d), y (…, M, d) → (…, N, M), through ‖x‖² + ‖y‖² − 2 x·y (official
    lines 21–26) clamped at 0 against round-off."""
    sq = (x * x).sum(-1)[..., :, None] + (y * y).sum(-1)[..., None, :] - 2.0 * (x @ y.transpose(-2, -1))
    return torch.exp(-0.5 * sq.clamp_min(0.0))


def newton_schulz_pinv(a: torch.Tensor, iters: int = 20, *, ridge: float = 0.0) -> torch.Tensor:
    """Moore–Penrose inverse of (a + ridge·I) for a (…, m, m) by ``iters`` steps of V ← 2V − V A V from
    V₀ = α Aᵀ, α = 0.9·2/(‖A‖₁‖A‖_∞) per matrix. Converges quadratically once ‖I − AV‖ < 1; the error after t steps
    on an eigen-direction of a symmetric PSD A is (1 − αλ)^(2^t), so ill-conditioned A needs more steps.
    O(iters·m³) time. A zero matrix returns zeros (its pseudo-inverse). For a singular A, round-off in A's null
    space doubles every step (2V − VAV), so stop soon after convergence (or keep ``ridge`` > 0 as SOFT does)."""
    if not isinstance(a, torch.Tensor) or a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"expected a tensor of square matrices (…, m, m), got "
                         f"{tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__}")
    if iters < 0:
        raise ValueError(f"iters must be ≥ 0, got {iters}")
    if a.numel() and not bool(torch.isfinite(a).all()):
        raise ValueError("matrix contains NaN or inf; check the kernel inputs")
    m = a.shape[-1]
    p = a + ridge * torch.eye(m, dtype=a.dtype, device=a.device) if ridge else a
    if m == 0:
        return p.clone()
    norm1 = p.abs().sum(-2).amax(-1)                                         # max column sum
    norminf = p.abs().sum(-1).amax(-1)                                       # max row sum
    denom = norm1 * norminf
    alpha = torch.where(denom > 0, 0.9 * 2.0 / denom.clamp_min(torch.finfo(p.dtype).tiny), torch.zeros_like(denom))
    v = alpha[..., None, None] * p.transpose(-2, -1)
    for _ in range(iters):
        v = 2.0 * v - v @ p @ v
    return v


class _NewtonInverse(torch.autograd.Function):
    """Forward: Newton–Schulz without building a graph through the iterations; backward: the derivative of the
    inverse, dV = −Vᵀ·dOut·Vᵀ (as the official ``_NewtonInverseKernel``, inverse.py lines 38–58)."""

    @staticmethod
    def forward(ctx, g, iters, ridge):
        with torch.no_grad():
            out = newton_schulz_pinv(g, iters, ridge=ridge)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        (inv,) = ctx.saved_tensors
        inv_t = inv.transpose(-2, -1)
        return -(inv_t @ grad_out @ inv_t), None, None


def _scaled(q, k, v, key_mask, shared_qk, causal):
    if causal:
        raise ValueError("SOFT attention is non-causal (the landmarks pool the whole sequence); use causal=False")
    if shared_qk:
        if q.shape[2] != v.shape[2]:
            raise ValueError(f"shared_qk=True ties the keys to the queries, so q and v need as many tokens; got "
                             f"{q.shape[2]} and {v.shape[2]} (pass shared_qk=False to use k)")
        k = q
    key_mask = check_qkv(q, k, v, key_mask)
    s = q.shape[-1] ** -0.25                                                 # official line 63
    return q * s, k * s, key_mask


def segment_landmarks(x: torch.Tensor, m: int, key_mask: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Landmarks (B, H, m, d) = means of m contiguous segments of each sequence's valid tokens, and their mask
    (B, m) (False where the sequence has fewer than m valid tokens). x (B, H, M, d); key_mask (B, M) or None.
    A pooling matrix (B, m, M) does the averaging: O(M·m·d)."""
    if not isinstance(m, int) or m < 1:
        raise ValueError(f"number of landmarks must be a positive integer, got {m!r}")
    B, _, M, _ = x.shape
    if key_mask is None:
        key_mask = torch.ones(B, M, dtype=torch.bool, device=x.device)
    valid = key_mask.to(torch.long)
    n = valid.sum(-1)                                                        # (B,)
    mm = torch.minimum(n, torch.full_like(n, m))                             # landmarks actually used
    rank = valid.cumsum(-1) - 1                                              # position among the valid tokens
    seg = (rank * mm[:, None]).div(n.clamp_min(1)[:, None], rounding_mode="floor")     # (B, M)
    onehot = (seg[:, None, :] == torch.arange(m, device=x.device)[None, :, None]) & key_mask[:, None, :]
    pool = onehot.to(x.dtype)
    counts = pool.sum(-1, keepdim=True)                                      # (B, m, 1)
    pool = pool / counts.clamp_min(1.0)
    return pool[:, None] @ x, counts[..., 0] > 0


def _nystrom_parts(qs, ks, key_mask, num_landmarks, normalize):
    lm, lmask = segment_landmarks(ks, num_landmarks, key_mask)
    lmf = lmask[:, None, :].to(qs.dtype)                                     # (B, 1, m)
    k1 = gaussian_kernel(qs, lm) * lmf[:, :, None, :]                        # S(Q, K̃) (B, H, N, m)
    k3 = gaussian_kernel(ks, lm) * lmf[:, :, None, :]                        # S(K, K̃) (B, H, M, m)
    if key_mask is not None:
        k3 = k3 * key_mask[:, None, :, None].to(k3.dtype)                    # padded keys carry no weight
    g = gaussian_kernel(lm, lm)
    pair = lmf[..., :, None] * lmf[..., None, :]                             # (B, 1, m, m)
    eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
    g = g * pair + eye * (1.0 - lmf[..., :, None])                           # unused landmarks: identity block
    if normalize not in ("none", "sym"):
        raise ValueError(f"normalize must be 'none' or 'sym', got {normalize!r}")
    return k1, g, k3, pair


def _normalised_inverse(g_inv, g, pair, normalize):
    if normalize == "sym":                                                   # official lines 223–227
        d = (g * pair).sum(-1, keepdim=True).clamp_min(torch.finfo(g.dtype).tiny).rsqrt()
        g_inv = d * g_inv * d.transpose(-2, -1)
    return g_inv * pair                                                      # unused landmarks contribute 0


def gaussian_matrix(q, k=None, *, shared_qk: bool = True, key_mask=None) -> torch.Tensor:
    """The exact Gaussian-kernel attention matrix S (B, H, N, M), padded keys' columns 0."""
    v = (q if shared_qk else k)[..., :1]
    qs, ks, key_mask = _scaled(q, q if shared_qk else k, v, key_mask, shared_qk, False)
    s = gaussian_kernel(qs, ks)
    return s if key_mask is None else s * key_mask[:, None, None, :].to(s.dtype)


def soft_matrix(q, k=None, *, num_landmarks: int = 16, shared_qk: bool = True, key_mask=None,
                inverse: str = "pinv", iters: int = 20, ridge: float = 0.0, normalize: str = "none") -> torch.Tensor:
    """SOFT's low-rank matrix Ŝ = S(Q, K̃) G⁺ S(K̃, K) (B, H, N, M), G⁺ by ``torch.linalg.pinv`` (``inverse=
    "pinv"``) or ``iters`` Newton–Schulz steps (``"newton"``) of G + ridge·I."""
    v = (q if shared_qk else k)[..., :1]
    qs, ks, key_mask = _scaled(q, q if shared_qk else k, v, key_mask, shared_qk, False)
    k1, g, k3, pair = _nystrom_parts(qs, ks, key_mask, num_landmarks, normalize)
    g_inv = _inverse(g, inverse, iters, ridge)
    return k1 @ _normalised_inverse(g_inv, g, pair, normalize) @ k3.transpose(-2, -1)


def _inverse(g, inverse, iters, ridge):
    if inverse == "pinv":
        eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
        return torch.linalg.pinv(g + ridge * eye, hermitian=True)
    if inverse == "newton":
        return newton_schulz_pinv(g, iters, ridge=ridge)
    raise ValueError(f"inverse must be 'pinv' or 'newton', got {inverse!r}")


def gaussian_attention_reference(q, k, v, *, causal: bool = False, key_mask=None, shared_qk: bool = True):
    """Exact softmax-free attention out = S V with S (N, M) formed (module docstring): O(N·M)."""
    qs, ks, key_mask = _scaled(q, k, v, key_mask, shared_qk, causal)
    s = gaussian_kernel(qs, ks)
    if key_mask is not None:
        s = s * key_mask[:, None, None, :].to(s.dtype)
    return s @ v


def soft_attention_reference(q, k, v, *, causal: bool = False, key_mask=None, shared_qk: bool = True,
                             num_landmarks: int = 16, ridge: float = 0.01, normalize: str = "none"):
    """SOFT's output Ŝ V with Ŝ (N, M) formed explicitly and G⁺ = ``torch.linalg.pinv(G + ridge·I)``."""
    qs, ks, key_mask = _scaled(q, k, v, key_mask, shared_qk, causal)
    k1, g, k3, pair = _nystrom_parts(qs, ks, key_mask, num_landmarks, normalize)
    s_hat = k1 @ _normalised_inverse(_inverse(g, "pinv", 0, ridge), g, pair, normalize) @ k3.transpose(-2, -1)
    return s_hat @ v


def soft_attention(q, k, v, *, causal: bool = False, key_mask=None, shared_qk: bool = True, num_landmarks: int = 16,
                   iters: int = 20, ridge: float = 0.01, normalize: str = "none", check_finite: bool = True):
    """SOFT in O((N + M)·m·d): S(Q, K̃) · (NS⁺(G + ridge·I) · (S(K̃, K) V)), the defaults those of the official
    code (20 Newton steps, ridge 0.01, no normalisation). The gradient through the inverse is the inverse's
    derivative −G⁻ᵀ·dOut·G⁻ᵀ, not the unrolled iteration (as the official code). ``check_finite=False`` skips the
    NaN scan."""
    if check_finite:
        qs, ks, key_mask = _scaled(q, k, v, key_mask, shared_qk, causal)
    else:
        if causal:
            raise ValueError("SOFT attention is non-causal; use causal=False")
        k = q if shared_qk else k
        key_mask = check_qkv(q, k, v, key_mask, check_finite=False)
        s = q.shape[-1] ** -0.25
        qs, ks = q * s, k * s
    k1, g, k3, pair = _nystrom_parts(qs, ks, key_mask, num_landmarks, normalize)
    g_inv = _NewtonInverse.apply(g, iters, ridge) if torch.is_grad_enabled() and g.requires_grad else \
        newton_schulz_pinv(g, iters, ridge=ridge)
    g_inv = _normalised_inverse(g_inv, g, pair, normalize)
    return k1 @ (g_inv @ (k3.transpose(-2, -1) @ v))


def relative_error(approx: torch.Tensor, exact: torch.Tensor) -> float:
    """‖approx − exact‖_F / ‖exact‖_F over the whole tensor (NaN if exact is 0)."""
    den = float(torch.linalg.vector_norm(exact))
    return float(torch.linalg.vector_norm(approx - exact)) / den if den > 0 else math.nan


def approximation_errors(q: torch.Tensor, ms, *, key_mask=None, iters: int = 20, ridge: float = 0.01,
                         inverse: str = "newton") -> dict[int, float]:
    """{m: ‖Ŝ_m − S‖_F / ‖S‖_F} over the real (query, key) pairs of q (B, H, N, d) (keys tied to queries, as SOFT),
    Ŝ_m with m landmarks and the given inverse (default: SOFT's own, 20 Newton steps of G + 0.01·I)."""
    s = gaussian_matrix(q, key_mask=key_mask)
    rows = 1.0 if key_mask is None else key_mask[:, None, :, None].to(s.dtype)
    out = {}
    for m in ms:
        s_hat = soft_matrix(q, num_landmarks=int(m), key_mask=key_mask, inverse=inverse, iters=iters, ridge=ridge)
        out[int(m)] = relative_error(s_hat * rows, s * rows)
    return out


def newton_steps_needed(a: torch.Tensor, tol: float = 1e-5, max_iters: int = 100) -> int:
    """Smallest t with ‖NS_t(a) − pinv(a)‖_F / ‖pinv(a)‖_F < tol (max_iters + 1 if none)."""
    p = torch.linalg.pinv(a)
    den = torch.linalg.norm(p)
    v = newton_schulz_pinv(a, 0)
    for t in range(max_iters + 1):
        if float(torch.linalg.norm(v - p) / den) < tol:
            return t
        v = 2.0 * v - v @ a @ v
    return max_iters + 1


def landmark_gram(q: torch.Tensor, m: int, key_mask=None) -> torch.Tensor:
    """G = S(K̃, K̃) (B, H, m, m) of the segment-mean landmarks of q scaled by d^{-1/4} (keys tied to queries), the
    matrix SOFT inverts; unused landmarks (sequences shorter than m) give identity rows and columns."""
    qs, ks, key_mask = _scaled(q, q, q[..., :1], key_mask, True, False)
    _, g, _, _ = _nystrom_parts(qs, ks, key_mask, m, "none")
    return g


def random_spd(m: int, cond: float, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    """A (m, m) symmetric positive definite matrix U·diag(λ)·Uᵀ, λ log-spaced over [1, cond], U a seeded random
    orthogonal basis (QR of a Gaussian matrix): a test input of known condition number."""
    if m < 1 or cond < 1:
        raise ValueError(f"need m ≥ 1 and cond ≥ 1, got {m}, {cond}")
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(m, m, generator=gen, dtype=dtype))
    return u @ torch.diag(torch.logspace(0, math.log10(cond), m, dtype=dtype)) @ u.T


def newton_rel_error(a: torch.Tensor, iters: int) -> float:
    """‖NS_iters(a) − pinv(a)‖_F / ‖pinv(a)‖_F."""
    p = torch.linalg.pinv(a)
    return float(torch.linalg.norm(newton_schulz_pinv(a, iters) - p) / torch.linalg.norm(p))
