r"""Converter (Zhang, Mao, Chiu & Sun, "Converting Transformers into DGNNs Form", arXiv 2502.00585, 2025;
official code github.com/hazdzz/converter, ``model/encoder/converter.py``): self-attention replaced by a
*synthetic unitary digraph convolution* — a learned unitary "digraph Fourier basis" U, a learned spectrum, and
the convolution U^H diag(e^{i h(λ)}) U applied to the (complex) values.

Written from the paper's description and the official module's structure, not copied. Shapes follow the wave's
attention contract (:mod:`simrepro.kernels.attention`): q, k, v (B, H, N, d) float32/float64, ``key_mask`` (B, N)
bool (True = a real token) → (B, H, N, d).

**Eigenvectors (Synvolution's basis)** — U = D · C_fwd(G^l) · C_bwd(G^u), N × N unitary (complex):
- a Givens rotation on the adjacent pair (i, i+1) is the SU(2) matrix (official ``gengerate_dhhp_parameters``)
      G = [[e^{−iA} cos C, −e^{iB} sin C], [e^{−iB} sin C, e^{iA} cos C]],  A = π(α+β), B = π(α−β), C = πγ;
- C_fwd(G) = G_{N−2} ⋯ G_1 G_0 (rotations applied for i = 0, 1, …, N−2), C_bwd(G) = G_0 G_1 ⋯ G_{N−2} (applied
  for i = N−2, …, 0); D = diag(e^{2πiθ}). The two chains are the official "1-D DHHP" transform's lower and upper
  passes; each pass is a first-order linear recurrence along the sequence,
      h_0 = x_0,  h_{t} = g21_{t−1} h_{t−1} + g22_{t−1} x_{t},  y_t = g11_t h_t + g12_t x_{t+1},  y_{N−1} = h_{N−1},
  solved by :func:`linear_scan` (Hillis–Steele doubling: ⌈log₂ N⌉ vectorised steps, O(N log N · d) work, only
  products of factors |a| ≤ 1, so stable) — the paper's linearithmic cost. U^H x = C_fwd(G^{uH}) C_bwd(G^{lH}) D^H x.
- α, β, γ (for G^l and G^u) and θ are read per token from the keys: (α_l, β_l, γ_l, α_u, β_u, γ_u, θ) =
  sin(W_g k + b_g) (the official reads them from the layer input through a SIREN and a pool to 7 groups).
- Padding: a rotation whose pair reaches a padded token is the identity, so U is block-diagonal (real tokens ⊕
  padding) and the output at real tokens does not depend on padding (checked).

**Eigenvalues and Kernelution** — per token a real eigenvalue λ_n = mean_c sin(W_2 sin(W_1 q_n + b_1) + b_2)_c ∈
[−1, 1] (a two-layer SIREN, the official ``GenerateEigenvalue`` without its ScaleNorm and dropout), passed through a
Chebyshev kernel polynomial (the kernel polynomial method, Weiße et al., Rev. Mod. Phys. 78, 275 (2006)):
      h(λ) = Σ_{k=0}^{K} c_k g_k T_k(λ),   T_0 = 1, T_1 = λ, T_{k+1} = 2λT_k − T_{k−1},
with learnable c (per head; official init c_0 = 1/(K+1), c_{k≥1} = 2/(K+1)) and the fixed Gibbs damping g_k of
:data:`DAMPINGS` ("none" g_k = 1; "jackson" g_k = [(K+2−k) cos(kπ/(K+2)) + sin(kπ/(K+2)) cot(π/(K+2))]/(K+2);
"fejer" g_k = 1 − k/(K+1)). The spectrum is e^{i h(λ)} (unit modulus): the convolution stays unitary.
Without the polynomial (``kernel_type=None``) the spectrum is e^{iλ} (plain Synvolution).

**Values and output** — v_c = v + i W_im v (complex values; official: two value projections); out = α Re z +
(1 − α) Im z with z = U^H diag(e^{i h(λ)}) U v_c and α = clamp(a, 0, 1) learnable (the official encoder's residual
mix of the real and imaginary parts). Non-causal only.

What is left out of the official block: its gated FFN, ScaleNorm, recurrent position embedding, dropout, the
optional permutation of the DHHP transform and the auxiliary loss on the Chebyshev coefficients; here the module is
a drop-in attention of the wave's :class:`~simrepro.models.tiny_transformer.TinyTransformer`, so the rest of the
block is the same as for softmax and linear attention.

Plain references beside the fast paths: :func:`linear_scan_reference` (a loop), :func:`givens_chain_reference`
(explicit 2 × 2 updates), :func:`unitary_matrix_reference` (the product of N × N rotation matrices),
:func:`synvolution_reference` (dense U), :func:`chebyshev_filter_dense` (the matrix polynomial of the Hermitian
shift S = U^H diag(λ) U by the dense three-term recursion).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

__all__ = ["DAMPINGS", "damping", "chebyshev_filter", "chebyshev_filter_dense", "chebyshev_moments",
           "gibbs_overshoot", "givens", "linear_scan", "linear_scan_reference", "givens_chain",
           "givens_chain_reference", "unitary_apply", "unitary_matrix_reference", "synvolution",
           "synvolution_reference", "ConverterAttention", "count_parameters", "make_converter_model",
           "matched_d_ff"]


# --------------------------------------------------------------------------------------------- KPM damping
def _jackson(K: int) -> torch.Tensor:
    c = math.pi / (K + 2)
    k = torch.arange(K + 1, dtype=torch.float64)
    return ((K + 2 - k) * torch.cos(k * c) + torch.sin(k * c) / math.tan(c)) / (K + 2)


DAMPINGS: dict[str, Callable[[int], torch.Tensor]] = {
    "none": lambda K: torch.ones(K + 1, dtype=torch.float64),                         # Dirichlet kernel
    "jackson": _jackson,                                                              # Weiße et al. 2006, eq. 71
    "fejer": lambda K: 1.0 - torch.arange(K + 1, dtype=torch.float64) / (K + 1),
}


def damping(kind: str, order: int) -> torch.Tensor:
    """g (order + 1,) float64: the Gibbs damping factors of :data:`DAMPINGS` (g_0 = 1)."""
    if kind not in DAMPINGS:
        raise ValueError(f"unknown damping {kind!r}; choose one of {sorted(DAMPINGS)}")
    if not isinstance(order, (int, np.integer)) or order < 0:
        raise ValueError(f"order must be an integer ≥ 0, got {order!r}")
    return DAMPINGS[kind](int(order))


def chebyshev_filter(lam: torch.Tensor, coef: torch.Tensor, kind: str = "none") -> torch.Tensor:
    """h(λ) = Σ_k coef_k g_k T_k(λ) elementwise (three-term recursion). ``lam`` (…,), ``coef`` (K+1,) or
    (…, K+1) broadcasting against ``lam[..., None]``; λ is expected in [−1, 1] (T_k grows like |λ|^k outside)."""
    if coef.ndim == 0 or coef.shape[-1] < 1:
        raise ValueError(f"coef must have a last axis of K + 1 ≥ 1 coefficients, got shape {tuple(coef.shape)}")
    if lam.numel() and not bool(torch.isfinite(lam).all()):
        raise ValueError("lam contains NaN or inf")
    K = coef.shape[-1] - 1
    w = coef * damping(kind, K).to(dtype=coef.dtype, device=coef.device)
    t_prev, t = torch.ones_like(lam), lam
    out = w[..., 0] * t_prev
    for k in range(1, K + 1):
        out = out + w[..., k] * t
        t_prev, t = t, 2.0 * lam * t - t_prev
    return out


def chebyshev_filter_dense(S: torch.Tensor, coef: torch.Tensor, kind: str = "none") -> torch.Tensor:
    """Σ_k coef_k g_k T_k(S) for a square matrix S (spectrum in [−1, 1]), by the dense matrix recursion
    T_0 = I, T_1 = S, T_{k+1} = 2 S T_k − T_{k−1}: the reference for :func:`chebyshev_filter` applied to S's
    eigenvalues. O(K·N³). ``coef`` (K+1,)."""
    if S.ndim != 2 or S.shape[0] != S.shape[1]:
        raise ValueError(f"S must be a square matrix, got shape {tuple(S.shape)}")
    if coef.ndim != 1:
        raise ValueError(f"coef must be (K + 1,), got shape {tuple(coef.shape)}")
    K = coef.shape[0] - 1
    g = damping(kind, K)
    eye = torch.eye(S.shape[0], dtype=S.dtype)
    t_prev, t = eye, S
    out = complex(coef[0] * g[0]) * eye if S.is_complex() else float(coef[0] * g[0]) * eye
    for k in range(1, K + 1):
        w = float(coef[k] * g[k])
        out = out + w * t
        t_prev, t = t, 2.0 * S @ t - t_prev
    return out


def chebyshev_moments(f: Callable[[np.ndarray], np.ndarray], order: int, nodes: int = 4096) -> np.ndarray:
    """μ (order + 1,): Chebyshev coefficients of f on [−1, 1] by Chebyshev–Gauss quadrature on ``nodes`` points,
    μ_k = (2 − δ_k0)/M Σ_j f(x_j) T_k(x_j), x_j = cos(π(j + ½)/M); Σ_k μ_k T_k interpolates f for order = M − 1."""
    if order < 0 or nodes < order + 1:
        raise ValueError(f"need order ≥ 0 and nodes ≥ order + 1, got order={order}, nodes={nodes}")
    theta = np.pi * (np.arange(nodes) + 0.5) / nodes
    fx = np.asarray(f(np.cos(theta)), dtype=float)
    k = np.arange(order + 1)
    mu = (2.0 / nodes) * (np.cos(np.outer(k, theta)) @ fx)
    mu[0] /= 2.0
    return mu


def gibbs_overshoot(order: int, kind: str = "none", *, grid: int = 20001, nodes: int = 4096) -> float:
    """max_x p(x) − 1 for the order-``order`` damped Chebyshev expansion p of the step sign(x) on [−1, 1]:
    ≈ 0.18 (the Gibbs 9 % of the jump 2) undamped; ≤ 0 up to round-off for the Jackson kernel, which is
    positive, so p is an average of f's values and stays in [−1, 1]."""
    mu = chebyshev_moments(np.sign, order, nodes)
    x = torch.linspace(-1.0, 1.0, grid, dtype=torch.float64)
    p = chebyshev_filter(x, torch.as_tensor(mu), kind)
    return float(p.max()) - 1.0


# --------------------------------------------------------------------------------------------- unitary basis
def givens(alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(g11, g12, g21, g22) complex, same shape as the (real) angles: the SU(2) rotation with A = π(α+β),
    B = π(α−β), C = πγ (module docstring)."""
    A, Bn, C = (alpha + beta) * math.pi, (alpha - beta) * math.pi, gamma * math.pi
    cos, sin = torch.cos(C), torch.sin(C)
    eA, eB = torch.polar(torch.ones_like(A), A), torch.polar(torch.ones_like(Bn), Bn)
    return eA.conj() * cos, -eB * sin, eB.conj() * sin, eA * cos


def _conj_t(g):
    g11, g12, g21, g22 = g
    return g11.conj(), g21.conj(), g12.conj(), g22.conj()


def _scan_(a: torch.Tensor, u: torch.Tensor, reverse: bool) -> torch.Tensor:
    """In place on ``u`` (and ``a``, which must be a private copy): Hillis–Steele doubling for h_t = a_t h_{t−1} +
    u_t (``reverse``: h_t = a_t h_{t+1} + u_t). After the step with offset s, (a_t, u_t) is the composition of
    the 2s steps ending at t; ⌈log₂ N⌉ steps of O(N·d). Each right-hand side is evaluated into a temporary
    before the in-place update, so it reads the previous step's values."""
    N = u.shape[-2]
    s = 1
    while s < N:
        if reverse:
            u[..., :-s, :] += a[..., :-s, :] * u[..., s:, :]
            a[..., :-s, :] = a[..., :-s, :] * a[..., s:, :]
        else:
            u[..., s:, :] += a[..., s:, :] * u[..., :-s, :]
            a[..., s:, :] = a[..., s:, :] * a[..., :-s, :]
        s *= 2
    return u


def _shift(x: torch.Tensor, step: int) -> torch.Tensor:
    """x shifted along axis −2 by ``step`` (+1: out_t = x_{t−1}, −1: out_t = x_{t+1}), zero-filled."""
    out = torch.zeros_like(x)
    if step > 0:
        out[..., 1:, :] = x[..., :-1, :]
    else:
        out[..., :-1, :] = x[..., 1:, :]
    return out


class _LinearScan(torch.autograd.Function):
    """h = scan(a, u) with the adjoint recurrence as backward (conjugate-Wirtinger convention of PyTorch):
    forward h_t = a_t h_{t−1} + u_t ⇒ ḡ_t = ∂L/∂h_t + conj(a_{t+1}) ḡ_{t+1} (a reverse scan), ∂L/∂u = ḡ,
    ∂L/∂a_t = Σ ḡ_t conj(h_{t−1}) (summed over the axes a broadcasts along). O(N log N · d), no stored graph."""

    @staticmethod
    def forward(ctx, a, u, reverse):
        a0 = a.clone()
        if reverse:
            a0[..., -1:, :] = 0
        else:
            a0[..., :1, :] = 0
        h = _scan_(a0.clone(), u.clone(), reverse)
        ctx.save_for_backward(a0, h)
        ctx.reverse, ctx.a_shape = reverse, a.shape
        return h

    @staticmethod
    def backward(ctx, grad_h):
        a0, h = ctx.saved_tensors
        rev = ctx.reverse
        b = _shift(a0, -1 if not rev else 1).conj()            # coefficient of the adjoint scan
        g = _scan_(b, grad_h.clone(), not rev)
        grad_a = g * _shift(h, 1 if not rev else -1).conj()
        if tuple(ctx.a_shape) != tuple(grad_a.shape):
            grad_a = grad_a.sum(-1, keepdim=True)
        if rev:
            grad_a[..., -1:, :] = 0
        else:
            grad_a[..., :1, :] = 0
        return grad_a, g, None


def linear_scan(a: torch.Tensor, u: torch.Tensor, *, reverse: bool = False) -> torch.Tensor:
    """h (…, N, d) with h_0 = u_0, h_t = a_t h_{t−1} + u_t along axis −2 (``reverse``: h_{N−1} = u_{N−1},
    h_t = a_t h_{t+1} + u_t); a (…, N, 1) or (…, N, d), same dtype as u; a_0 (a_{N−1}) is ignored. Hillis–Steele
    doubling, ⌈log₂ N⌉ vectorised steps, O(N log N · d); only products of the a's, so stable when |a| ≤ 1;
    differentiable through the adjoint scan."""
    if a.dtype != u.dtype:
        raise TypeError(f"a and u must share a dtype, got {a.dtype} and {u.dtype}")
    if u.ndim < 2 or a.shape[-2] != u.shape[-2]:
        raise ValueError(f"a (…, N, 1 or d) and u (…, N, d) must share N, got {tuple(a.shape)} and {tuple(u.shape)}")
    return _LinearScan.apply(a, u, reverse)


def linear_scan_reference(a: torch.Tensor, u: torch.Tensor, *, reverse: bool = False) -> torch.Tensor:
    """The recurrence of :func:`linear_scan` by a loop over t."""
    N = u.shape[-2]
    idx = range(N - 1, -1, -1) if reverse else range(N)
    out: dict[int, torch.Tensor] = {}
    prev = None
    for t in idx:
        out[t] = u[..., t, :] if prev is None else a[..., t, :] * out[prev] + u[..., t, :]
        prev = t
    return torch.stack([out[t] for t in range(N)], dim=-2)


def givens_chain(x: torch.Tensor, g, *, reverse: bool = False) -> torch.Tensor:
    """Apply the chain of adjacent rotations g = (g11, g12, g21, g22), each (…, N−1) acting on the pair
    (i, i+1), to x (…, N, d): for i = 0 … N−2 in turn (``reverse``: i = N−2 … 0). O(N log N · d).

    Forward: carry h_0 = x_0, h_{i+1} = g21_i h_i + g22_i x_{i+1}, out_i = g11_i h_i + g12_i x_{i+1},
    out_{N−1} = h_{N−1}. Reverse: h_{N−1} = x_{N−1}, h_i = g12_i h_{i+1} + g11_i x_i, out_{i+1} = g21_i x_i +
    g22_i h_{i+1}, out_0 = h_0."""
    N = x.shape[-2]
    if N <= 1:
        return x
    g11, g12, g21, g22 = (t[..., None] for t in g)                      # (…, N−1, 1)

    def pad_lo(t, value):                       # entry i moves to index i + 1, index 0 gets ``value``
        return torch.cat([torch.full_like(t[..., :1, :], value), t], dim=-2)

    def pad_hi(t, value):                       # entry i stays at index i, index N − 1 gets ``value``
        return torch.cat([t, torch.full_like(t[..., :1, :], value)], dim=-2)

    if not reverse:
        h = linear_scan(pad_lo(g21, 0), pad_lo(g22, 1) * x)
        return pad_hi(g11, 1) * h + pad_hi(g12, 0) * _shift(x, -1)
    h = linear_scan(pad_hi(g12, 0), pad_hi(g11, 1) * x, reverse=True)
    return pad_lo(g22, 1) * h + pad_lo(g21, 0) * _shift(x, 1)


def givens_chain_reference(x: torch.Tensor, g, *, reverse: bool = False) -> torch.Tensor:
    """:func:`givens_chain` by explicit 2 × 2 updates, one rotation at a time."""
    y = list(x.unbind(-2))
    N = len(y)
    order = range(N - 2, -1, -1) if reverse else range(N - 1)
    for i in order:
        g11, g12, g21, g22 = (t[..., i, None] for t in g)
        y[i], y[i + 1] = g11 * y[i] + g12 * y[i + 1], g21 * y[i] + g22 * y[i + 1]
    return torch.stack(y, dim=-2) if y else x


def unitary_apply(x: torch.Tensor, g_l, g_u, theta: torch.Tensor, *, inverse: bool = False) -> torch.Tensor:
    """U x (``inverse``: U^H x) with U = diag(e^{2πiθ}) · C_fwd(g_l) · C_bwd(g_u); x (…, N, d) complex, θ (…, N)."""
    d = torch.polar(torch.ones_like(theta), 2 * math.pi * theta)[..., None]
    if not inverse:
        return d * givens_chain(givens_chain(x, g_u, reverse=True), g_l)
    return givens_chain(givens_chain(d.conj() * x, _conj_t(g_l), reverse=True), _conj_t(g_u))


def _embed(g, i: int, N: int, dtype) -> torch.Tensor:
    m = torch.eye(N, dtype=dtype)
    m[i, i], m[i, i + 1], m[i + 1, i], m[i + 1, i + 1] = g[0][i], g[1][i], g[2][i], g[3][i]
    return m


def unitary_matrix_reference(g_l, g_u, theta: torch.Tensor) -> torch.Tensor:
    """U (N, N) for one sequence (angles (N−1,), θ (N,)) as the product of N × N rotation matrices:
    U = D · (G^l_{N−2} ⋯ G^l_0) · (G^u_0 ⋯ G^u_{N−2})."""
    N = theta.shape[-1]
    dtype = g_l[0].dtype
    U = torch.diag(torch.polar(torch.ones_like(theta), 2 * math.pi * theta)).to(dtype)
    for i in range(N - 2, -1, -1):
        U = U @ _embed(g_l, i, N, dtype)
    for i in range(N - 1):
        U = U @ _embed(g_u, i, N, dtype)
    return U


def synvolution(v: torch.Tensor, spectrum: torch.Tensor, g_l, g_u, theta: torch.Tensor) -> torch.Tensor:
    """U^H diag(spectrum) U v: v (…, N, d) complex, spectrum (…, N) complex (unit modulus in the model)."""
    return unitary_apply(spectrum[..., None] * unitary_apply(v, g_l, g_u, theta), g_l, g_u, theta, inverse=True)


def synvolution_reference(v: torch.Tensor, spectrum: torch.Tensor, g_l, g_u, theta: torch.Tensor) -> torch.Tensor:
    """:func:`synvolution` with U formed densely (:func:`unitary_matrix_reference`), looping over leading axes."""
    lead = v.shape[:-2]
    vf, sf = v.reshape(-1, *v.shape[-2:]), spectrum.reshape(-1, spectrum.shape[-1])
    tf = theta.reshape(-1, theta.shape[-1])
    gl = [t.reshape(-1, t.shape[-1]) for t in g_l]
    gu = [t.reshape(-1, t.shape[-1]) for t in g_u]
    out = []
    for b in range(vf.shape[0]):
        U = unitary_matrix_reference([t[b] for t in gl], [t[b] for t in gu], tf[b])
        out.append(U.conj().T @ (sf[b][:, None] * (U @ vf[b])))
    return torch.stack(out).reshape(*lead, *v.shape[-2:])


# --------------------------------------------------------------------------------------------- the attention
class ConverterAttention(nn.Module):
    """Kernelution / Synvolution as a drop-in attention: ``forward(q, k, v, *, causal=False, key_mask=None)``,
    (B, H, N, d) → (B, H, N, d). ``kernel_type`` None: plain Synvolution (spectrum e^{iλ}); else the Chebyshev
    kernel polynomial of order ``max_order`` with that damping (official ListOps config, ``lra_config.yaml``
    lines 32–33: order 2, no damping; at order 2 with learnable coefficients a damping only rescales c_1, c_2)."""

    def __init__(self, d_head: int, n_heads: int, *, max_order: int = 2, kernel_type: str | None = "jackson"):
        super().__init__()
        if d_head < 1 or n_heads < 1:
            raise ValueError(f"d_head and n_heads must be ≥ 1, got {d_head}, {n_heads}")
        if kernel_type is not None:
            damping(kernel_type, max_order)                      # validates both
        self.d_head, self.n_heads, self.kernel_type = d_head, n_heads, kernel_type
        self.eig1, self.eig2 = nn.Linear(d_head, d_head), nn.Linear(d_head, d_head)
        self.givens = nn.Linear(d_head, 7)
        self.value_imag = nn.Linear(d_head, d_head, bias=False)
        self.alpha = nn.Parameter(torch.ones(()))
        if kernel_type is not None:
            coef = torch.full((n_heads, max_order + 1), 2.0 / (max_order + 1))
            coef[:, 0] = 1.0 / (max_order + 1)
            self.cheb_coef = nn.Parameter(coef)
        bound = math.sqrt(6 / d_head)                             # SIREN init (official reset_parameters)
        for lin in (self.eig1, self.eig2):
            nn.init.uniform_(lin.weight, -bound, bound)
            nn.init.zeros_(lin.bias)
        nn.init.normal_(self.value_imag.weight, std=math.sqrt(0.5 / d_head))

    def operator_parts(self, q: torch.Tensor, k: torch.Tensor, key_mask=None):
        """(spectrum (B, H, N) complex, g_l, g_u, θ): what the convolution applies, from q (eigenvalues) and k
        (eigenvectors). Rotations touching a padded token are the identity."""
        lam = torch.sin(self.eig2(torch.sin(self.eig1(q)))).mean(-1)                  # (B, H, N) ∈ [−1, 1]
        if self.kernel_type is None:
            h = lam
        else:
            h = chebyshev_filter(lam, self.cheb_coef[None, :, None, :], self.kernel_type)
        spectrum = torch.polar(torch.ones_like(h), h)
        p = torch.sin(self.givens(k))                                                 # (B, H, N, 7)
        al, bl, gl, au, bu, gu, theta = p.unbind(-1)
        g_l = givens(al[..., :-1], bl[..., :-1], gl[..., :-1])
        g_u = givens(au[..., :-1], bu[..., :-1], gu[..., :-1])
        if key_mask is not None:
            pair = (key_mask[:, 1:] & key_mask[:, :-1])[:, None, :]                   # (B, 1, N−1)
            eye = (torch.ones_like(g_l[0]), torch.zeros_like(g_l[0]), torch.zeros_like(g_l[0]), torch.ones_like(g_l[0]))
            g_l = tuple(torch.where(pair, a, b) for a, b in zip(g_l, eye))
            g_u = tuple(torch.where(pair, a, b) for a, b in zip(g_u, eye))
        return spectrum, g_l, g_u, theta

    def complex_values(self, v: torch.Tensor) -> torch.Tensor:
        return torch.complex(v, self.value_imag(v))

    def forward(self, q, k, v, *, causal: bool = False, key_mask=None, reference: bool = False):
        if causal:
            raise ValueError("Converter's digraph convolution is not causal (the unitary basis mixes every token "
                             "with every other); use it for sequence classification (causal=False)")
        for name, t in (("q", q), ("k", k), ("v", v)):
            if not isinstance(t, torch.Tensor) or t.ndim != 4:
                raise ValueError(f"{name}: expected a tensor (B, H, N, d), got "
                                 f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
        if not (q.shape == k.shape and k.shape[:3] == v.shape[:3]):
            raise ValueError(f"q, k must share a shape and v its (B, H, N): got {tuple(q.shape)}, {tuple(k.shape)}, "
                             f"{tuple(v.shape)} (Converter has one token set: N = M)")
        if q.shape[1] != self.n_heads or q.shape[3] != self.d_head or v.shape[3] != self.d_head:
            raise ValueError(f"module built for {self.n_heads} heads of width {self.d_head}, got q {tuple(q.shape)}, "
                             f"v {tuple(v.shape)}")
        if q.shape[2] == 0:
            return v.clone()
        if key_mask is not None and (key_mask.dtype != torch.bool or tuple(key_mask.shape) != (q.shape[0], q.shape[2])):
            raise ValueError(f"key_mask must be bool (B, N) = {(q.shape[0], q.shape[2])}, got "
                             f"{key_mask.dtype} {tuple(key_mask.shape)}")
        for name, t in (("q", q), ("k", k), ("v", v)):
            if not (bool(torch.isfinite(t.amax())) and bool(torch.isfinite(t.amin()))):
                raise ValueError(f"{name} contains NaN or inf; check the layer that produced it")
        spectrum, g_l, g_u, theta = self.operator_parts(q, k, key_mask)
        conv = synvolution_reference if reference else synvolution
        z = conv(self.complex_values(v), spectrum, g_l, g_u, theta)
        a = self.alpha.clamp(0.0, 1.0)
        out = a * z.real + (1 - a) * z.imag
        if key_mask is not None:
            out = out * key_mask[:, None, :, None].to(out.dtype)
        return out


# --------------------------------------------------------------------------------------------- the model
def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def make_converter_model(vocab_size: int, n_classes: int, max_len: int, *, d_model: int, n_heads: int,
                         n_layers: int, d_ff: int, max_order: int = 2, kernel_type: str | None = "jackson"):
    """The wave's TinyTransformer with a fresh :class:`ConverterAttention` in every block (the rest of the model
    is built first, so it consumes the random stream exactly as the peers' models of the same d_ff do)."""
    from simrepro.models.tiny_transformer import TinyTransformer

    def _placeholder(q, k, v, **_):
        raise RuntimeError("placeholder attention: replaced by ConverterAttention")

    model = TinyTransformer(vocab_size, n_classes, _placeholder, d_model=d_model, n_heads=n_heads,
                            n_layers=n_layers, d_ff=d_ff, max_len=max_len)
    for block in model.blocks:
        block.attention = ConverterAttention(d_model // n_heads, n_heads, max_order=max_order,
                                             kernel_type=kernel_type)
    return model


def matched_d_ff(peer_params: int, **model_kwargs) -> tuple[int, int]:
    """(d_ff, count): the largest MLP width whose Converter model has ≤ ``peer_params`` parameters (so the
    Converter is never the larger model), and its parameter count. Each unit of d_ff costs 2·d_model + 1
    parameters per layer (two weights and a bias)."""
    hi = int(model_kwargs.pop("d_ff"))
    per_unit = (2 * model_kwargs["d_model"] + 1) * model_kwargs["n_layers"]
    n_hi = count_parameters(make_converter_model(d_ff=hi, **model_kwargs))
    d_ff = hi - max(0, math.ceil((n_hi - peer_params) / per_unit))
    if d_ff < 1:
        raise ValueError(f"no MLP width ≥ 1 brings the Converter model to ≤ {peer_params} parameters")
    return d_ff, count_parameters(make_converter_model(d_ff=d_ff, **model_kwargs))
