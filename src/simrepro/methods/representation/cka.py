r"""Similarity indices between two representations of the same n examples (Kornblith et al., ICML 2019,
"Similarity of Neural Network Representations Revisited", arXiv 1905.00414, Table 1).

Inputs are ``x`` (n, p1) and ``y`` (n, p2): row i of each is example i in the two representations.
Every index first centres the columns (subtracts the mean over examples). With H = I − 11ᵀ/n:

- HSIC (eq. 3):   HSIC(K, L) = tr(K H L H) / (n−1)²;  debiased: the U-statistic of Song et al. (2007).
- CKA (eq. 4):    CKA(K, L) = HSIC(K, L) / √(HSIC(K, K) HSIC(L, L)).
  linear:         K = X Xᵀ, which gives ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) (the RV coefficient);
  RBF:            K_ij = exp(−‖xᵢ − xⱼ‖² / (2σ²)), σ² = ``threshold``² × the median of the squared distances.
                  Default ``median='all'``: the median over the whole n × n matrix, its n zeros on the diagonal
                  included (the official code, google-research ``representation_similarity/Demo.ipynb``,
                  ``gram_rbf``); ``median='pairs'``: over the n(n−1)/2 pairs i < j only (slightly larger).
- CCA (eqs. 6–8): ρ = singular values of Q_Xᵀ Q_Y (orthonormal bases of the centred columns; the paper centres,
                  Sec. 2; ``center=False`` uses the raw columns as the official demo's ``cca`` does);
                  ρ̄ = mean ρ, R²_CCA = mean ρ².
- SVCCA:          CCA after keeping the top singular vectors that explain ``threshold`` of the variance.
- PWCCA (eq. 9):  Σ αᵢρᵢ / Σ αᵢ with αᵢ = Σⱼ |⟨hᵢ, xⱼ⟩|, hᵢ the canonical variables of X, xⱼ its columns.
- Linear regression (eq. 5): R²_LR = ‖Q_Yᵀ X‖²_F / ‖X‖²_F (fit X from Y; asymmetric).

Layering: each public index validates its inputs, builds a :class:`Prepared` view of each representation
(centred matrix, thin SVD, centred Gram matrices) and calls a private core on it; the layer-identification
sanity check (Sec. 6.1, Table 2) prepares each layer once and reuses it across all pairs.

Numerics: everything runs in float64. Orthonormal bases come from the thin SVD of the centred matrix with
singular values below ``max(n, p)·eps·σ_max`` dropped, so rank-deficient inputs (p ≥ n) are handled: with
rank n−1 in both, the bases span the same space and every canonical correlation is 1 — the saturation of
Sec. 2.1. Cost: O(n·p·min(n, p)) per representation for the SVD, O(n²) per pair for CKA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from simrepro.kernels import pairwise_similarity
from simrepro.kernels._validate import as_matrix

CCA_STATISTICS = ("mean_rho", "r2")


def _as_examples(x, name: str, min_rows: int = 2) -> np.ndarray:
    """Validated float64 (n, p) numpy matrix with n ≥ ``min_rows``."""
    t = as_matrix(x, name, dtype=torch.float64)
    if t.shape[0] < min_rows:
        raise ValueError(f"{name}: need at least {min_rows} examples (rows), got {t.shape[0]}")
    if t.shape[1] == 0:
        raise ValueError(f"{name}: has 0 features (columns); a representation needs at least one")
    return t.numpy()


def _check_pair(x: np.ndarray, y: np.ndarray, xname: str = "x", yname: str = "y") -> None:
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{xname} has {x.shape[0]} examples but {yname} has {y.shape[0]}; "
                         "rows must be the same examples in both representations")


def center_columns(x: np.ndarray) -> np.ndarray:
    """X − 1 μᵀ with μ the column means: (n, p) → (n, p)."""
    return x - x.mean(axis=0, keepdims=True)


def center_gram(k: np.ndarray) -> np.ndarray:
    """H K H with H = I − 11ᵀ/n: (n, n) → (n, n), symmetrised against round-off."""
    kc = k - k.mean(axis=0, keepdims=True)
    kc = kc - kc.mean(axis=1, keepdims=True)
    return (kc + kc.T) / 2


def gram_linear(x) -> np.ndarray:
    """K = X Xᵀ: (n, p) → (n, n)."""
    return np.asarray(pairwise_similarity(_as_examples(x, "x", 1), metric="dot"))


RBF_MEDIANS = ("all", "pairs")


def _check_median(median: str) -> None:
    if median not in RBF_MEDIANS:
        raise ValueError(f"median must be one of {', '.join(map(repr, RBF_MEDIANS))} ('all': over the whole "
                         f"n × n distance matrix, diagonal zeros included, as the official code; 'pairs': over "
                         f"i < j), got {median!r}")


def gram_rbf(x, threshold: float = 1.0, *, median: str = "all") -> np.ndarray:
    """K_ij = exp(−‖xᵢ − xⱼ‖² / (2 threshold² m)), m the median squared distance: (n, p) → (n, n).

    ``median='all'`` (default, the official code's convention): m = median of all n² entries of the squared
    distance matrix, the n zeros of its diagonal included. ``median='pairs'``: m = median over the pairs i < j.
    The bandwidth is a fraction of the median distance (Sec. 3, "Kernel selection"), which makes RBF CKA
    invariant to isotropic scaling under either convention. Raises ``ValueError`` when m is 0.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0 (a fraction of the median distance), got {threshold}")
    _check_median(median)
    x = _as_examples(x, "x")
    sq = np.array(pairwise_similarity(x, metric="l2"), dtype=np.float64)
    np.fill_diagonal(sq, 0.0)
    values = sq if median == "all" else sq[np.triu_indices(sq.shape[0], 1)]
    median_sq = float(np.median(values))
    if median_sq <= 0:
        raise ValueError("x: the median distance between examples is 0 (too many pairs coincide); "
                         "the RBF bandwidth is undefined")
    return np.exp(-sq / (2.0 * threshold ** 2 * median_sq))


def _check_grams(k, l) -> tuple[np.ndarray, np.ndarray]:
    k = _as_examples(k, "K")
    l = _as_examples(l, "L")
    for name, g in (("K", k), ("L", l)):
        if g.shape[0] != g.shape[1]:
            raise ValueError(f"{name}: a Gram matrix must be square (n, n), got {g.shape}")
    _check_pair(k, l, "K", "L")
    return k, l


def _hsic_biased(kc: np.ndarray, lc: np.ndarray) -> float:
    """tr(K H L H)/(n−1)² from already centred Grams (⟨HKH, HLH⟩ = tr(KHLH) since H is idempotent)."""
    n = kc.shape[0]
    return float(np.sum(kc * lc)) / (n - 1) ** 2


@dataclass
class _DiagFree:
    """K̃ = K with zero diagonal, its row sums K̃1 and total 1ᵀK̃1: what the debiased HSIC needs."""
    k: np.ndarray
    row_sums: np.ndarray = field(init=False)
    total: float = field(init=False)

    def __post_init__(self):
        self.k = self.k.copy()
        np.fill_diagonal(self.k, 0.0)
        self.row_sums = self.k.sum(axis=1)
        self.total = float(self.row_sums.sum())


def _hsic_debiased(k: _DiagFree, l: _DiagFree) -> float:
    """Song et al. (2007), unbiased HSIC:
    [tr(K̃L̃) + (1ᵀK̃1)(1ᵀL̃1)/((n−1)(n−2)) − 2/(n−2) · 1ᵀK̃L̃1] / (n(n−3))."""
    n = k.k.shape[0]
    trace = float(np.sum(k.k * l.k))
    return (trace + k.total * l.total / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * float(k.row_sums @ l.row_sums)) / (n * (n - 3))


def hsic(k, l, *, debiased: bool = False) -> float:
    """HSIC between two Gram matrices (n, n): biased tr(KHLH)/(n−1)² or Song et al.'s unbiased estimator
    (needs n ≥ 4; its expectation is the population HSIC, 0 for independent data)."""
    k, l = _check_grams(k, l)
    if debiased:
        _check_debiased_n(k.shape[0])
        return _hsic_debiased(_DiagFree(k), _DiagFree(l))
    return _hsic_biased(center_gram(k), center_gram(l))


def _normalise(cross: float, self_k: float, self_l: float) -> float:
    if self_k <= 0 or self_l <= 0:
        raise ValueError("a representation has zero variance across examples (HSIC(K, K) ≤ 0): "
                         "CKA is undefined; drop constant representations")
    return cross / np.sqrt(self_k * self_l)


def cka(k, l, *, debiased: bool = False) -> float:
    """CKA(K, L) = HSIC(K, L)/√(HSIC(K, K) HSIC(L, L)) for Gram matrices (n, n) (eq. 4)."""
    k, l = _check_grams(k, l)
    if debiased:
        _check_debiased_n(k.shape[0])
        return _cka_debiased(_DiagFree(k), _DiagFree(l))
    return _cka_biased(center_gram(k), center_gram(l))


def _check_debiased_n(n: int) -> None:
    if n < 4:
        raise ValueError(f"the debiased HSIC/CKA estimators need n ≥ 4 examples, got {n}")


def _cka_biased(kc: np.ndarray, lc: np.ndarray) -> float:
    return _normalise(_hsic_biased(kc, lc), _hsic_biased(kc, kc), _hsic_biased(lc, lc))


def _cka_debiased(dk: _DiagFree, dl: _DiagFree) -> float:
    return _normalise(_hsic_debiased(dk, dl), _hsic_debiased(dk, dk), _hsic_debiased(dl, dl))


@dataclass
class Prepared:
    """One representation (n, p), prepared once for many comparisons.

    ``xc`` centred columns = u diag(s) vtᵀ, its thin SVD truncated at the numerical rank r: ``u`` (n, r) an
    orthonormal basis of the column space, ``s`` (r,) descending, ``vt`` (r, p). Gram matrices are built
    lazily per kernel and cached."""
    xc: np.ndarray
    u: np.ndarray
    s: np.ndarray
    vt: np.ndarray
    _grams: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_matrix(cls, x, name: str = "x", *, center: bool = True) -> "Prepared":
        """``center=False`` keeps the raw columns (the official demo's uncentred ``cca``); every index of the
        paper centres (Sec. 2), so leave it True for anything but that demo."""
        xc = _as_examples(x, name)
        if center:
            xc = center_columns(xc)
        u, s, vt = np.linalg.svd(xc, full_matrices=False)
        tol = (s[0] if s.size else 0.0) * max(xc.shape) * np.finfo(np.float64).eps
        r = int(np.sum(s > tol))
        if r == 0:
            raise ValueError(f"{name}: every feature is constant across examples (rank 0 after centring); "
                             "similarity is undefined")
        return cls(xc=xc, u=u[:, :r], s=s[:r], vt=vt[:r])

    @property
    def n(self) -> int:
        return self.xc.shape[0]

    def _gram(self, kernel: str, threshold: float, median: str) -> np.ndarray:
        if kernel == "linear":
            return gram_linear(self.xc)
        if kernel == "rbf":
            return gram_rbf(self.xc, threshold, median=median)
        raise ValueError(f"unknown kernel {kernel!r}; expected 'linear' or 'rbf'")

    def centered_gram(self, kernel: str = "linear", threshold: float = 1.0, median: str = "all") -> np.ndarray:
        """H K H for ``kernel`` ('linear' or 'rbf' with σ = threshold × median distance, ``median`` as in
        :func:`gram_rbf`), cached."""
        key = ("centred", kernel, threshold, median)
        if key not in self._grams:
            self._grams[key] = center_gram(self._gram(kernel, threshold, median))
        return self._grams[key]

    def diag_free_gram(self, kernel: str = "linear", threshold: float = 1.0, median: str = "all") -> _DiagFree:
        """K with zero diagonal and its sums, for the debiased HSIC; cached."""
        key = ("diag_free", kernel, threshold, median)
        if key not in self._grams:
            self._grams[key] = _DiagFree(self._gram(kernel, threshold, median))
        return self._grams[key]

    def top_variance_basis(self, threshold: float) -> np.ndarray:
        """Left singular vectors (n, k) with the smallest k whose σ² explain ≥ ``threshold`` of the variance."""
        if not 0 < threshold <= 1:
            raise ValueError(f"the SVCCA threshold is a fraction of variance in (0, 1], got {threshold}")
        explained = np.cumsum(self.s ** 2) / np.sum(self.s ** 2)
        k = int(np.searchsorted(explained, threshold - 1e-12) + 1)
        return self.u[:, :min(k, self.u.shape[1])]


def _prepare_pair(x, y, center: bool = True) -> tuple[Prepared, Prepared]:
    a, b = Prepared.from_matrix(x, "x", center=center), Prepared.from_matrix(y, "y", center=center)
    _check_pair(a.xc, b.xc)
    return a, b


# --- cores on a prepared pair ----------------------------------------------------------------------

class _Pair:
    """Two prepared representations and the decompositions shared by several indices, computed once:
    Q_Xᵀ Q_Y = W diag(ρ) Zᵀ (App. C.2), for the full bases and for SVCCA's truncated ones."""

    def __init__(self, a: Prepared, b: Prepared, svcca_threshold: float = 0.99):
        self.a, self.b, self.svcca_threshold = a, b, svcca_threshold
        self._svd: dict = {}

    def canonical(self, truncated: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(M, ρ, W, Z): M = Q_Xᵀ Q_Y and its SVD; ρ clipped to [0, 1]."""
        if truncated not in self._svd:
            if truncated:
                ua, ub = (p.top_variance_basis(self.svcca_threshold) for p in (self.a, self.b))
            else:
                ua, ub = self.a.u, self.b.u
            m = ua.T @ ub
            w, rho, zt = np.linalg.svd(m, full_matrices=False)
            self._svd[truncated] = (m, np.clip(rho, 0.0, 1.0), w, zt.T)
        return self._svd[truncated]

    def reversed(self) -> "_Pair":
        """The same pair seen from Y: M ↦ Mᵀ, W ↔ Z (no new decomposition)."""
        r = _Pair(self.b, self.a, self.svcca_threshold)
        r._svd = {k: (m.T, rho, z, w) for k, (m, rho, w, z) in self._svd.items()}
        return r


def _cka_prepared(a: Prepared, b: Prepared, kernel: str, threshold: float, debiased: bool,
                  median: str = "all") -> float:
    if debiased:
        _check_debiased_n(a.n)
        return _cka_debiased(a.diag_free_gram(kernel, threshold, median), b.diag_free_gram(kernel, threshold, median))
    return _cka_biased(a.centered_gram(kernel, threshold, median), b.centered_gram(kernel, threshold, median))


def _summarise(rho: np.ndarray, statistic: str) -> float:
    if statistic == "mean_rho":
        return float(rho.mean())
    if statistic == "r2":
        return float(np.mean(rho ** 2))
    raise ValueError(f"unknown CCA statistic {statistic!r}; expected one of {', '.join(CCA_STATISTICS)}")


def _pwcca_pair(pair: _Pair) -> float:
    """αᵢ = Σⱼ |⟨hᵢ, xⱼ⟩| with H = Q_X W; since X = Q_X diag(s) Vᵀ, Hᵀ X = Wᵀ diag(s) Vᵀ."""
    _, rho, w, _ = pair.canonical()
    alpha = np.abs((w.T * pair.a.s) @ pair.a.vt).sum(axis=1)
    return float(alpha @ rho / alpha.sum())


def _linreg_pair(pair: _Pair) -> float:
    """R²_LR of fitting X from Y: ‖Q_Yᵀ X‖²_F/‖X‖²_F = Σᵢ sᵢ² Σⱼ Mᵢⱼ² / Σᵢ sᵢ² (X = Q_X diag(s) Vᵀ, M = Q_XᵀQ_Y)."""
    m = pair.canonical()[0]
    s2 = pair.a.s ** 2
    return float(s2 @ np.sum(m ** 2, axis=1) / s2.sum())


# --- public indices: validate, prepare, compute ------------------------------------------------------

def linear_cka(x, y, *, debiased: bool = False) -> float:
    """Linear CKA (n, p1) × (n, p2) → [0, 1]: ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on centred columns.

    Computed in feature space, O(n·p1·p2), when p1·p2 ≤ n² and not ``debiased`` (:func:`linear_cka_features`);
    otherwise from the n × n Gram matrices, O(n²·(p1 + p2)) (:func:`cka` of :func:`gram_linear`). The two
    routes agree to round-off (tested)."""
    x, y = _as_examples(x, "x"), _as_examples(y, "y")
    _check_pair(x, y)
    if not debiased and x.shape[1] * y.shape[1] <= x.shape[0] ** 2:
        return _linear_cka_features(x, y)
    return cka(gram_linear(x), gram_linear(y), debiased=debiased)


def linear_cka_features(x, y) -> float:
    """Linear CKA computed in feature space, O(n·p1·p2) instead of O(n²·p): ‖YᵀX‖²_F/(‖XᵀX‖_F‖YᵀY‖_F).
    The cheaper route when p1·p2 < n²; equal to the Gram route (``cka(gram_linear(x), gram_linear(y))``) to
    round-off."""
    x, y = _as_examples(x, "x"), _as_examples(y, "y")
    _check_pair(x, y)
    return _linear_cka_features(x, y)


def _linear_cka_features(x: np.ndarray, y: np.ndarray) -> float:
    xc, yc = center_columns(x), center_columns(y)
    self_x, self_y = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    return _normalise(float(np.linalg.norm(yc.T @ xc) ** 2), self_x ** 2, self_y ** 2)


def rv_coefficient(x, y) -> float:
    """RV coefficient (Robert & Escoufier, 1976) from covariance blocks: tr(S_xy S_yx)/√(tr(S_xx²) tr(S_yy²)).
    Equal to linear CKA (Sec. 3); kept in its classical form as an independent check."""
    x, y = _as_examples(x, "x"), _as_examples(y, "y")
    _check_pair(x, y)
    xc, yc = center_columns(x), center_columns(y)
    sxy, sxx, syy = xc.T @ yc, xc.T @ xc, yc.T @ yc
    return _normalise(float(np.trace(sxy @ sxy.T)), float(np.trace(sxx @ sxx)), float(np.trace(syy @ syy)))


def rbf_cka(x, y, *, threshold: float = 1.0, debiased: bool = False, median: str = "all") -> float:
    """RBF CKA with σ = ``threshold`` × median distance, computed separately in x and in y; ``median`` = 'all'
    (official code: over the whole n × n matrix, diagonal zeros included) or 'pairs' (over i < j)."""
    _check_median(median)
    a, b = _prepare_pair(x, y)
    return _cka_prepared(a, b, "rbf", threshold, debiased, median)


def canonical_correlations(x, y, *, center: bool = True) -> np.ndarray:
    """Canonical correlations ρ₁ ≥ … ≥ ρ_c ∈ [0, 1], c = min(rank X_c, rank Y_c) (eq. 6; App. C.2).
    ``center=False``: of the raw columns (the official demo's ``cca``, which takes a QR of uncentred features)."""
    return _Pair(*_prepare_pair(x, y, center)).canonical()[1]


def cca_similarity(x, y, *, statistic: str = "mean_rho", center: bool = True) -> float:
    """CCA summary: ``mean_rho`` = ρ̄_CCA (eq. 8) or ``r2`` = R²_CCA = mean ρ² (eq. 7); ``center`` as in
    :func:`canonical_correlations`."""
    return _summarise(canonical_correlations(x, y, center=center), statistic)


def svcca(x, y, *, threshold: float = 0.99, statistic: str = "mean_rho") -> float:
    """SVCCA (Raghu et al., 2017): CCA between the top singular subspaces explaining ``threshold`` of the
    variance of each representation; summarised as ρ̄ or R²."""
    pair = _Pair(*_prepare_pair(x, y), svcca_threshold=threshold)
    return _summarise(pair.canonical(truncated=True)[1], statistic)


def pwcca(x, y) -> float:
    """Projection-weighted CCA (Morcos et al., 2018; eq. 9): ρ weighted by how much of X's columns each
    canonical variable of X accounts for. Asymmetric: pwcca(x, y) ≠ pwcca(y, x) in general."""
    return _pwcca_pair(_Pair(*_prepare_pair(x, y)))


def linear_regression_r2(x, y) -> float:
    """R²_LR (eq. 5): fraction of the variance of X explained by a least-squares fit from Y. Asymmetric."""
    return _linreg_pair(_Pair(*_prepare_pair(x, y)))


def official_demo_inputs() -> tuple[np.ndarray, np.ndarray]:
    """The official demo's data (google-research ``representation_similarity/Demo.ipynb``, cell ``zeI3il6JRM-L``):
    ``np.random.seed(1337); X = randn(100, 10); Y = randn(100, 10) + X``. numpy's legacy ``RandomState`` stream
    is frozen, so these are the demo's own inputs: X (100, 10), Y (100, 10)."""
    rs = np.random.RandomState(1337)
    x = rs.randn(100, 10)
    return x, rs.randn(100, 10) + x


# --- the layer-identification sanity check (Sec. 6.1, Table 2) ---------------------------------------

def _rbf_index(threshold):
    return lambda pair: _cka_prepared(pair.a, pair.b, "rbf", threshold, False)


# name → (core on a prepared pair, symmetric?). Asymmetric indices are symmetrised s(X, Y) + s(Y, X) as in
# Table 2's caption. SVCCA keeps 0.99 of the variance (Table 2's caption, after Raghu et al. 2017). Debiased
# linear CKA is not in Table 2; the official code offers it for small n.
SIMILARITY_INDICES = {
    "cca_rho": (lambda pair: _summarise(pair.canonical()[1], "mean_rho"), True),
    "cca_r2": (lambda pair: _summarise(pair.canonical()[1], "r2"), True),
    "svcca_rho": (lambda pair: _summarise(pair.canonical(truncated=True)[1], "mean_rho"), True),
    "svcca_r2": (lambda pair: _summarise(pair.canonical(truncated=True)[1], "r2"), True),
    "pwcca": (_pwcca_pair, False),
    "linear_regression": (_linreg_pair, False),
    "linear_hsic": (lambda pair: _hsic_biased(pair.a.centered_gram(), pair.b.centered_gram()), True),
    "cka_linear": (lambda pair: _cka_prepared(pair.a, pair.b, "linear", 1.0, False), True),
    "cka_linear_debiased": (lambda pair: _cka_prepared(pair.a, pair.b, "linear", 1.0, True), True),
    "cka_rbf_0.2": (_rbf_index(0.2), True),
    "cka_rbf_0.4": (_rbf_index(0.4), True),
    "cka_rbf_0.8": (_rbf_index(0.8), True),
}


def prepare_layers(layers) -> list[Prepared]:
    """Prepare each layer's (n, p_l) activations once; all layers must share the same n examples."""
    prepared = [Prepared.from_matrix(x, f"layer {i}") for i, x in enumerate(layers)]
    for i, p in enumerate(prepared[1:], 1):
        _check_pair(prepared[0].xc, p.xc, "layer 0", f"layer {i}")
    return prepared


def cross_similarities(layers_a: list[Prepared], layers_b: list[Prepared],
                       indices=tuple(SIMILARITY_INDICES)) -> dict[str, np.ndarray]:
    """{index: S (L_a, L_b)} with S[i, j] = s(layer i of net A, layer j of net B); an asymmetric s gives
    s(Aᵢ, Bⱼ) + s(Bⱼ, Aᵢ). Each layer pair's canonical decomposition is computed once for all indices."""
    unknown = [i for i in indices if i not in SIMILARITY_INDICES]
    if unknown:
        raise ValueError(f"unknown index {unknown[0]!r}; expected one of {', '.join(SIMILARITY_INDICES)}")
    out = {index: np.empty((len(layers_a), len(layers_b))) for index in indices}
    for i, a in enumerate(layers_a):
        for j, b in enumerate(layers_b):
            pair = _Pair(a, b)
            for index in indices:
                core, symmetric = SIMILARITY_INDICES[index]
                value = core(pair)
                out[index][i, j] = value if symmetric else value + core(pair.reversed())
    return out


def identification_accuracy(s) -> float:
    """Fraction of rows i whose most similar column is j = i, counting a tie among k maxima as 1/k
    (the expected accuracy under random tie-breaking). ``s`` is a square (L, L) similarity matrix."""
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] != s.shape[1] or s.shape[0] == 0:
        raise ValueError(f"expected a non-empty square (L, L) similarity matrix, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("the similarity matrix contains NaN or inf")
    best = s.max(axis=1, keepdims=True)
    is_max = np.isclose(s, best, rtol=1e-12, atol=1e-12)
    return float(np.mean(np.diag(is_max) / is_max.sum(axis=1)))


def layer_identification(nets, indices=tuple(SIMILARITY_INDICES)) -> tuple[dict, dict]:
    """Table 2's sanity check. ``nets``: one list of per-layer activations (n, p_l) per network, same
    architecture and examples. For every ordered pair of distinct nets and every layer of the first, is
    the most similar layer of the second the corresponding one?

    Returns ``accuracy`` {index: mean over ordered pairs} and ``mean_similarity`` {index: (L, L) mean S}.
    """
    if len(nets) < 2:
        raise ValueError(f"need at least 2 networks to compare, got {len(nets)}")
    prepared = [prepare_layers(layers) for layers in nets]
    depth = {len(p) for p in prepared}
    if len(depth) != 1:
        raise ValueError(f"all networks must have the same number of layers, got {sorted(depth)}")
    accs = {index: [] for index in indices}
    sims = {index: [] for index in indices}
    for a in range(len(prepared)):
        for b in range(a + 1, len(prepared)):
            for index, s in cross_similarities(prepared[a], prepared[b], indices).items():
                accs[index] += [identification_accuracy(s), identification_accuracy(s.T)]   # (A, B) and (B, A)
                sims[index] += [s, s.T]
    return ({index: float(np.mean(v)) for index, v in accs.items()},
            {index: np.mean(v, axis=0) for index, v in sims.items()})
