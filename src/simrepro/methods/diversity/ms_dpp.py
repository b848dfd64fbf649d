r"""Multi-Source DPPs (Sogi et al., IJCAI 2025, arXiv 2507.06654) for contextual diversity refinement.

Task (CDR-CA): re-rank a candidate list of n items with relevance ``r`` (n,) into a top-k list whose diversity
along each of M attributes moves in a requested direction ``s_m ∈ {+1, −1}`` (more / less diverse).

MS-DPP builds one DPP from M+1 similarity matrices (an appearance source plus M attributes), each (n, n) SPD.
On the SPD manifold the log map at the identity is the matrix logarithm, so the sources are combined as a
weighted mean of tangent vectors and mapped back with the matrix exponential (official code,
``div_method/dpp.py``, class ``MSDPP``):

    T_m = log(K_m + δI)                                                  (δ = 1e-3, official value)
    S   = exp( (1 − β) · mean_m s_m T_m  +  β · T_app )                  (s_m = −1 inverts K_m: "localise")

Tangent Normalisation (class ``MSDPPTanNorm``) first rescales every tangent vector to a common Frobenius norm
``c`` and rescales the attribute mean to ``c`` again, so that no source dominates by scale; the official
default is ``c = ‖log r‖₂``. The official code applies one direction to all attributes; here each attribute
has its own ``s_m`` (the paper's objective), which is the same thing when all signs agree.

Quality-diversity kernel (official ``calc_alpha``): α_i = exp(θ / (2(1 − θ)) · r_i),  L = diag(α) S diag(α),
then greedy MAP (:func:`simrepro.kernels.dpp.greedy_map_dpp`); when the greedy gain vanishes before k items the
list is completed in relevance order, as the official code does.

Baselines: relevance top-k, MMR (Carbonell & Goldstein 1998), a single-source DPP, and the official linear
baseline ``dpp_sim_average`` (S = (1 − β) · mean_m s_m K_m + β K_app). Evaluation (official
``evalindex/eval_index.py``): ILAD / ILMD (mean / min pairwise Euclidean distance in a source's feature space)
and the normalised Vendi score of order q = 0.1 on the ``dist_inv`` kernel K/k, flipped to 1 − v for a
"decrease" source and averaged harmonically over sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels._validate import as_matrix
from simrepro.kernels.dpp import greedy_map_dpp
from simrepro.kernels.pairwise import pairwise_similarity

LOG_SHIFT = 1e-3       # δ in log(K + δI): official `_logm_pd`
VENDI_ORDER = 0.1      # q of the Vendi score: official `calc_vendi_score`
VENDI_RIDGE = 1e-5     # ε·I added to K/k before the eigenvalues: official `calc_vendi_score`


def dist_inv_similarity(features) -> np.ndarray:
    """K[i, j] = 1 / (1 + ‖x_i − x_j‖): (n, d) → (n, n) float64, the official default ``dist_inv``.

    Positive definite for distinct points: t ↦ 1/(1 + √t) is completely monotone (Schoenberg). Squared
    distances come from the shared ``l2`` kernel (expansion ‖x‖² + ‖y‖² − 2x·y in float64); the square root
    turns its round-off ε‖x‖² into ≈ √ε‖x‖ ≈ 1e-8‖x‖ for coincident points, so the diagonal is set to 1 exactly."""
    d2 = pairwise_similarity(as_matrix(features, "features", dtype=torch.float64), metric="l2")
    d2.fill_diagonal_(0.0)
    return (1.0 / (1.0 + d2.sqrt())).numpy()


def _sym_eig_apply(M: np.ndarray, f) -> np.ndarray:
    w, V = np.linalg.eigh((M + M.T) / 2)
    return (V * f(w)) @ V.T


def spd_log(K, shift: float = LOG_SHIFT) -> np.ndarray:
    """Matrix logarithm log(K + shift·I) of a symmetric PSD (n, n) matrix via eigh.

    Eigenvalues that round-off leaves ≤ 0 after the shift are raised to the shift (the official code sets them
    to 1, i.e. log 0; a clamp at the shift keeps the map monotone)."""
    K = as_matrix(K, "K", dtype=torch.float64).numpy()
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be square (n, n), got {K.shape}")
    return _sym_eig_apply(K + shift * np.eye(K.shape[0]), lambda w: np.log(np.maximum(w, shift)))


def spd_exp(T) -> np.ndarray:
    """Matrix exponential of a symmetric (n, n) matrix via eigh: the exponential map at the identity."""
    return _sym_eig_apply(np.asarray(T, dtype=np.float64), np.exp)


def _check_signs(signs, m: int) -> np.ndarray:
    s = np.asarray(signs, dtype=np.float64).ravel()
    if s.shape != (m,) or not np.all(np.isin(s, (-1.0, 1.0))):
        raise ValueError(f"signs must be {m} values in {{+1, −1}} (one per attribute), got {list(signs)}")
    return s


def _check_beta(beta: float) -> None:
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta (the appearance weight) must lie in [0, 1], got {beta}")


def ms_dpp_similarity(appearance, attributes, signs, *, beta: float = 0.5,
                      tangent_scale: float | None = None) -> np.ndarray:
    """Unified (n, n) similarity S = exp((1 − β)·mean_m s_m T_m + β·T_app), T = log(K + δI).

    ``appearance``: (n, n); ``attributes``: list of M (n, n) similarity matrices; ``signs``: M values ±1.
    ``tangent_scale`` = c turns on Tangent Normalisation: T ← c·T/‖T‖_F for each source, and the signed
    attribute mean is rescaled to norm c before mixing. Cost: M + 2 symmetric eigendecompositions, O(M·n³)."""
    _check_beta(beta)
    if len(attributes) == 0:
        raise ValueError("attributes: give at least one attribute similarity matrix")
    s = _check_signs(signs, len(attributes))
    T_app = spd_log(appearance)
    T_att = [spd_log(K) for K in attributes]
    n = T_app.shape[0]
    if any(T.shape != (n, n) for T in T_att):
        raise ValueError(f"every attribute matrix must be ({n}, {n}) like the appearance matrix")
    if tangent_scale is not None:
        if not tangent_scale > 0:
            raise ValueError(f"tangent_scale must be positive, got {tangent_scale}")
        unit = lambda T: tangent_scale * T / max(np.linalg.norm(T), 1e-300)   # noqa: E731
        T_app, T_att = unit(T_app), [unit(T) for T in T_att]
    mean_att = sum(sm * T for sm, T in zip(s, T_att)) / len(T_att)
    if tangent_scale is not None:
        mean_att = tangent_scale * mean_att / max(np.linalg.norm(mean_att), 1e-300)
    return spd_exp((1.0 - beta) * mean_att + beta * T_app)


def linear_average_similarity(appearance, attributes, signs, *, beta: float = 0.5) -> np.ndarray:
    """The official linear baseline (``dpp_sim_average``): (1 − β)·mean_m s_m K_m + β·K_app (may be indefinite)."""
    _check_beta(beta)
    s = _check_signs(signs, len(attributes))
    mean_att = sum(sm * np.asarray(K, dtype=np.float64) for sm, K in zip(s, attributes)) / len(attributes)
    return (1.0 - beta) * mean_att + beta * np.asarray(appearance, dtype=np.float64)


def _check_relevance(relevance, n: int | None = None) -> np.ndarray:
    r = as_matrix(np.asarray(relevance, dtype=np.float64).reshape(1, -1), "relevance").numpy().ravel()
    if n is not None and r.shape[0] != n:
        raise ValueError(f"relevance has {r.shape[0]} entries but the similarity matrix is ({n}, {n})")
    return r


def _check_topk(k: int, n: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"k must satisfy 1 ≤ k ≤ n = {n}, got {k}")


def topk_by_relevance(relevance, k: int) -> np.ndarray:
    """Indices (k,) of the k largest relevances, ties to the lower index."""
    r = _check_relevance(relevance)
    _check_topk(k, r.shape[0])
    return np.argsort(-r, kind="stable")[:k]


def dpp_rerank(relevance, S, k: int, *, theta: float = 0.9) -> np.ndarray:
    """Greedy MAP of L = diag(α) S diag(α), α = exp(θ r / (2(1 − θ))); completed by relevance: (k,) indices."""
    S = as_matrix(S, "S", dtype=torch.float64).numpy()
    r = _check_relevance(relevance, S.shape[0])
    _check_topk(k, r.shape[0])
    if not 0.0 <= theta < 1.0:
        raise ValueError(f"theta must lie in [0, 1) (1 would ignore diversity entirely), got {theta}")
    alpha = np.exp(theta / (2.0 * (1.0 - theta)) * (r - r.max()))   # the shift by max r rescales L only
    L = alpha[:, None] * S * alpha[None, :]
    picked = greedy_map_dpp((L + L.T) / 2, k).tolist()
    rest = [int(i) for i in np.argsort(-r, kind="stable") if int(i) not in set(picked)]
    return np.asarray(picked + rest[:k - len(picked)], dtype=np.int64)


def ms_dpp_rerank(relevance, appearance, attributes, signs, k: int, *, theta: float = 0.9, beta: float = 0.5,
                  tangent_normalization: bool = True) -> np.ndarray:
    """MS-DPP (+TN with the official scale c = ‖log r‖₂, which needs r > 0): (k,) indices."""
    r = _check_relevance(relevance)
    scale = None
    if tangent_normalization:
        if np.any(r <= 0):
            raise ValueError("tangent normalisation scales by ‖log r‖ and needs relevance > 0; "
                             "map scores to (0, 1], e.g. (1 + cos) / 2")
        scale = float(np.linalg.norm(np.log(r)))
    S = ms_dpp_similarity(appearance, attributes, signs, beta=beta, tangent_scale=scale)
    return dpp_rerank(r, S, k, theta=theta)


def mmr_rerank(relevance, S, k: int, *, lam: float = 0.5) -> np.ndarray:
    """Maximal marginal relevance: next = argmax_i λ r_i − (1 − λ) max_{j ∈ Y} S_ij; (k,) indices."""
    S = as_matrix(S, "S", dtype=torch.float64).numpy()
    r = _check_relevance(relevance, S.shape[0])
    _check_topk(k, r.shape[0])
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    picked = [int(np.argmax(r))]
    max_sim = S[picked[0]].copy()
    free = np.ones(r.shape[0], dtype=bool)
    free[picked[0]] = False
    while len(picked) < k:
        score = np.where(free, lam * r - (1.0 - lam) * max_sim, -np.inf)
        j = int(np.argmax(score))
        picked.append(j)
        free[j] = False
        max_sim = np.maximum(max_sim, S[j])
    return np.asarray(picked, dtype=np.int64)


def ilad_ilmd(features, idx) -> tuple[float, float]:
    """Intra-list average and minimum Euclidean distance of the selected rows (official ``calc_ilad_ilmd``)."""
    X = as_matrix(features, "features", dtype=torch.float64)[torch.as_tensor(np.asarray(idx, dtype=np.int64))]
    k = X.shape[0]
    if k < 2:
        raise ValueError(f"ILAD needs at least 2 selected items, got {k}")
    D = pairwise_similarity(X, metric="l2").sqrt().numpy()
    off = ~np.eye(k, dtype=bool)
    return float(D[off].mean()), float(D[off].min())


def normalized_vendi(features, idx, *, q: float = VENDI_ORDER) -> float:
    """(VS_q − 1)/(k − 1) ∈ [0, 1] of the dist_inv kernel of the selected rows divided by k (official eval).

    VS_q = exp(H_q(λ)), H_q the Rényi entropy of order q of the eigenvalues λ of K/k + εI, via the PyPI
    ``vendi-score`` package (the peer implementation; its ``score_K`` divides by k itself). With q = 0.1 the
    ridge ε = 1e-5 sets a floor: k identical items score ≈ 0.37 at k = 5, not 0 (a property of the official
    metric, kept)."""
    from vendi_score.vendi import score_K
    X = as_matrix(features, "features", dtype=torch.float64).numpy()[np.asarray(idx, dtype=np.int64)]
    k = X.shape[0]
    if k < 2:
        raise ValueError(f"the normalised Vendi score needs at least 2 selected items, got {k}")
    K = dist_inv_similarity(X) + k * VENDI_RIDGE * np.eye(k)          # score_K uses K / k = K_dist_inv / k + εI
    return float((score_K(K, q=q) - 1.0) / (k - 1.0))


@dataclass(frozen=True)
class ContextScore:
    """Per-source direction-adjusted normalised Vendi (v or 1 − v) and their harmonic mean."""
    per_source: tuple[float, ...]
    harmonic_mean: float


def contextual_vendi(sources, signs, idx) -> ContextScore:
    """Official CDR-CA diversity score: v_m for s_m = +1, 1 − v_m for s_m = −1; harmonic mean over sources.

    ``sources``: list of (n, d_m) feature matrices (appearance first if it is scored), ``signs``: one ±1 each."""
    s = _check_signs(signs, len(sources))
    v = [normalized_vendi(X, idx) for X in sources]
    adj = tuple(float(vm if sm > 0 else 1.0 - vm) for vm, sm in zip(v, s))
    hm = 0.0 if min(adj) <= 0 else len(adj) / sum(1.0 / a for a in adj)
    return ContextScore(adj, float(hm))


RERANKERS = ("topk", "mmr", "dpp", "dpp_avg", "msdpp", "msdpp_tn")


def cdr_ca_rerank(method: str, relevance, appearance, attributes, signs, k: int, *, theta: float = 0.9,
                  beta: float = 0.5, mmr_lambda: float = 0.5) -> np.ndarray:
    """One CDR-CA re-ranking of n candidates: (k,) indices.

    ``appearance``: (n, d) features; ``attributes``: list of M (n, d_m) feature matrices; every similarity is
    ``dist_inv``. ``mmr`` and ``dpp`` see the appearance source only (they cannot take directions);
    ``dpp_avg`` is the official linear multi-source baseline; ``msdpp`` / ``msdpp_tn`` are the paper's."""
    if method not in RERANKERS:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(RERANKERS)}")
    if method == "topk":
        return topk_by_relevance(relevance, k)
    K_app = dist_inv_similarity(appearance)
    if method == "mmr":
        return mmr_rerank(relevance, K_app, k, lam=mmr_lambda)
    if method == "dpp":
        return dpp_rerank(relevance, K_app, k, theta=theta)
    K_att = [dist_inv_similarity(X) for X in attributes]
    if method == "dpp_avg":
        return dpp_rerank(relevance, linear_average_similarity(K_app, K_att, signs, beta=beta), k, theta=theta)
    return ms_dpp_rerank(relevance, K_app, K_att, signs, k, theta=theta, beta=beta,
                         tangent_normalization=method == "msdpp_tn")


def cdr_ca_scores(idx, relevance, appearance, attributes, signs) -> dict[str, float]:
    """Scores of one re-ranked list: contextual Vendi over appearance (+1) and the attributes (their signs),
    the mean relevance relative to the relevance top-k, and the ILAD of each attribute (``ilad_<m>``)."""
    r = _check_relevance(relevance)
    idx = np.asarray(idx, dtype=np.int64)
    sources = [appearance, *attributes]
    ctx = contextual_vendi(sources, [1, *list(signs)], idx)
    top = topk_by_relevance(r, len(idx))
    out = {"context_vendi": ctx.harmonic_mean, "relevance_ratio": float(r[idx].mean() / r[top].mean())}
    out.update({f"ilad_{m}": ilad_ilmd(X, idx)[0] for m, X in enumerate(attributes)})
    return out


def official_basic_usage_ranking(k: int = 10, *, signs=(-1, -1, -1), theta: float = 0.9, beta: float = 0.5):
    """The first ``k`` items MS-DPP ranks on the inputs of the official basic-usage example
    (``notebooks/msdpp_basic_usage.py`` of github.com/NEC-N-SOGI/msdpp): ``torch.manual_seed(42)``, then on the
    CPU generator, in this order, relevance ``rand(1, 100)``, image features ``rand(100, 128)`` and three
    attributes ``rand(100, 10)``, ``rand(100, 20)``, ``rand(100, 30)``; class ``MSDPP`` (no TN), θ = 0.9,
    β = 0.5, direction DECREASE for every attribute, ``top_k`` = 100 (its default), first 10 printed.

    As in the official ``img_kernel_matrix``, the image features are L2-normalised before ``dist_inv``; the
    attribute features are not. Returns a list of ``k`` ints."""
    gen = torch.Generator().manual_seed(42)
    scores = torch.rand((1, 100), generator=gen)
    img = torch.rand(100, 128, generator=gen)
    atts = [torch.rand(100, d, generator=gen) for d in (10, 20, 30)]
    r = scores.double().numpy().ravel()
    K_app = dist_inv_similarity(torch.nn.functional.normalize(img.double(), dim=-1).numpy())
    K_att = [dist_inv_similarity(a.double().numpy()) for a in atts]
    S = ms_dpp_similarity(K_app, K_att, signs, beta=beta)
    return dpp_rerank(r, S, 100, theta=theta)[:k].tolist()
