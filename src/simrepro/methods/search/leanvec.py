r"""LeanVec: linear dimensionality reduction for inner-product search, in-distribution and out-of-distribution
(Tepper, Bhati, Aguerrebere, Hildebrand & Willke, "LeanVec: Searching vectors faster by making them fit",
TMLR 2024, arXiv 2312.16335).

Contract (rows are vectors; ``X`` (n, D) database, ``Q`` (m, D) a *sample* of queries used for learning):
- The search approximates ⟨q, x⟩ by ⟨A q, B x⟩ with ``A, B`` (d, D), d < D: the database is stored as
  ``X Bᵀ`` (n, d), each query is mapped to ``A q`` and the first pass scans (or walks a graph over) the
  d-dimensional vectors; the best ``n_rerank`` candidates are re-ranked with the full vectors.
- Second moments ``K_X = XᵀX / n``, ``K_Q = QᵀQ / m`` (D, D), float64 (:func:`second_moment`).
- Loss (the paper's OOD objective, its problem over A, B): the mean squared inner-product error over all
  query × database pairs
  ``L(A, B) = mean_{q, x} (qᵀx − qᵀAᵀBx)² = tr(Mᵀ K_Q M K_X)``, ``M = I − AᵀB``
  (:func:`ip_loss`; :func:`ip_loss_reference` computes the pairs directly), reported relative to
  ``tr(K_Q K_X) = mean (qᵀx)²`` (the loss of A = B = 0).
- LeanVec-ID (:func:`pca_projection`): A = B = P, the top-d eigenvectors of K_X (uncentred PCA).
- LeanVec-Eig (:func:`leanvec_eig`): A = B = P, the top-d eigenvectors of
  ``β K_Q/‖K_Q‖_F + (1 − β) K_X/‖K_X‖_F``; β is searched over a grid and the β of least L is kept (our
  reading of the paper's "eigenvector search"; β = 0.5 is the replication plan's K_Q/‖K_Q‖ + K_X/‖K_X‖).
- LeanVec-OOD (:func:`leanvec_fw`): block-coordinate Frank–Wolfe on the convexified problem, A and B each in
  the spectral-norm unit ball (the convex hull of the matrices with orthonormal rows): alternately, with the
  other block fixed, ``S = −U Vᵀ`` from the thin SVD ``∇ = U Σ Vᵀ`` (the linear minimisation oracle) and
  ``A ← A + γ (S − A)`` with γ ∈ [0, 1] minimising the (quadratic) loss exactly, so L never increases. The
  paper's Algorithm 1 uses a step-size factor instead of the exact line search; the initial point here is
  LeanVec-Eig's P. Gradients (tested against finite differences):
  ``∇_A L = 2 B K_X (Bᵀ A − I) K_Q``, ``∇_B L = 2 A K_Q (Aᵀ B − I) K_X``.
Costs: K matrices O((n + m) D²); each eigen / SVD O(D³); each Frank–Wolfe iteration O(D² d + d² D + D³)
(SVD of a d × D matrix: O(d² D)). Search: :func:`reduced_rerank_search` (exact scan of the reduced vectors,
then re-ranking) and :func:`leanvec_hnsw` (faiss HNSW over ``X Bᵀ`` with inner product, then re-ranking), an
:class:`~simrepro.methods.search.ann_eval.AnnMethod` for the ann-benchmarks sweep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simrepro.kernels.topk import topk_search
from simrepro.methods.search.ann_eval import AnnMethod, grid

_RERANK_BLOCK = 256          # queries per re-ranking block (memory ≈ block·n_rerank·D·4 bytes)


# ---------------------------------------------------------------------------------------------- inputs
def _matrix(x, name: str, *, allow_empty: bool = False) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (n, D) matrix, got shape {a.shape}; reshape with x[None, :]")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"{name}: expected a numeric array, got dtype {a.dtype}; convert with .astype(np.float32)")
    if a.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name}: no rows; LeanVec needs at least one vector to estimate second moments")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: {int((~np.isfinite(a)).any(axis=1).sum())} row(s) contain NaN or inf; "
                         f"drop or impute them first")
    return a


def _check_d(d: int, D: int) -> int:
    if not isinstance(d, (int, np.integer)) or not 1 <= d <= D:
        raise ValueError(f"target dimension d must be an int in 1..{D} (the input dimension), got {d!r}")
    return int(d)


def second_moment(x) -> np.ndarray:
    """``K = xᵀx / n`` (D, D) float64 (uncentred second moment of the rows of ``x`` (n, D))."""
    a = _matrix(x, "x").astype(np.float64)
    return a.T @ a / a.shape[0]


def _top_eigvecs(K: np.ndarray, d: int) -> np.ndarray:
    """Top-d eigenvectors of symmetric ``K`` as rows (d, D), sign fixed (largest |entry| of each row > 0)."""
    w, V = np.linalg.eigh((K + K.T) / 2)
    P = V[:, np.argsort(w)[::-1][:d]].T
    s = np.sign(P[np.arange(d), np.abs(P).argmax(1)])
    return P * s[:, None]


# ---------------------------------------------------------------------------------------------- loss
def ip_loss(A, B, KQ, KX) -> float:
    """``tr(Mᵀ K_Q M K_X)`` with ``M = I − AᵀB``: the mean squared inner-product error (see module doc)."""
    A, B = np.asarray(A, np.float64), np.asarray(B, np.float64)
    if A.shape != B.shape or A.ndim != 2 or A.shape[1] != KQ.shape[0] or KQ.shape != KX.shape:
        raise ValueError(f"A, B must both be (d, D) with D = {KQ.shape[0]}; got {A.shape}, {B.shape}")
    M = np.eye(KQ.shape[0]) - A.T @ B
    return float(np.einsum("ij,ij->", KQ @ M, M @ KX))                   # tr(Mᵀ KQ M KX) = Σ (KQ M) ∘ (M KX)


def ip_loss_reference(A, B, Q, X) -> float:
    """Direct mean over all pairs of ``(qᵀx − (Aq)ᵀ(Bx))²`` (float64; O(m n D): for tests and small sets)."""
    Q, X = _matrix(Q, "Q").astype(np.float64), _matrix(X, "X").astype(np.float64)
    exact = Q @ X.T
    approx = (Q @ np.asarray(A, np.float64).T) @ (X @ np.asarray(B, np.float64).T).T
    return float(np.mean((exact - approx) ** 2))


def relative_ip_loss(A, B, KQ, KX) -> float:
    """:func:`ip_loss` divided by ``tr(K_Q K_X)`` (the mean squared inner product; 0 = exact, 1 = A = B = 0)."""
    return ip_loss(A, B, KQ, KX) / float(np.einsum("ij,ji->", KQ, KX))


def _grads(A, B, KQ, KX):
    I = np.eye(KQ.shape[0])
    gA = 2 * B @ KX @ (B.T @ A - I) @ KQ
    gB = 2 * A @ KQ @ (A.T @ B - I) @ KX
    return gA, gB


# ---------------------------------------------------------------------------------------------- projections
def pca_projection(X, d: int) -> np.ndarray:
    """LeanVec-ID: top-d eigenvectors of ``K_X`` (d, D) float64, orthonormal rows (A = B = P)."""
    KX = second_moment(X)
    return _top_eigvecs(KX, _check_d(d, KX.shape[0]))


def leanvec_eig(KQ, KX, d: int, betas=tuple(np.linspace(0.0, 1.0, 21))) -> tuple[np.ndarray, float, list[float]]:
    """LeanVec-Eig: ``(P, β*, losses)`` — P (d, D) the top-d eigenvectors of β K_Q/‖K_Q‖_F + (1−β) K_X/‖K_X‖_F
    for the β in ``betas`` with the least :func:`ip_loss` (ties: the first); ``losses`` per β."""
    d = _check_d(d, KQ.shape[0])
    betas = [float(b) for b in betas]
    if not betas or not all(0.0 <= b <= 1.0 for b in betas):
        raise ValueError(f"betas must be a non-empty list of weights in [0, 1], got {betas}")
    nq, nx = np.linalg.norm(KQ), np.linalg.norm(KX)
    if nq == 0 or nx == 0:
        raise ValueError("K_Q or K_X is zero (all-zero vectors): there is no direction to keep")
    best, losses = None, []
    for b in betas:
        P = _top_eigvecs(b * KQ / nq + (1 - b) * KX / nx, d)
        losses.append(ip_loss(P, P, KQ, KX))
        if best is None or losses[-1] < best[2]:
            best = (P, b, losses[-1])
    return best[0], best[1], losses


def _lmo(g: np.ndarray) -> np.ndarray:
    """argmin_{‖S‖₂ ≤ 1} ⟨g, S⟩ = −U Vᵀ (thin SVD of g)."""
    U, _, Vt = np.linalg.svd(g, full_matrices=False)
    return -U @ Vt


def leanvec_fw(KQ, KX, d: int, *, init=None, n_iter: int = 50, tol: float = 1e-9):
    """LeanVec-OOD by block-coordinate Frank–Wolfe (module doc): ``(A, B, history)`` with A, B (d, D) float64
    and ``history`` the loss before the first and after every iteration (non-increasing).

    ``init``: (d, D) starting point for both blocks (default: :func:`leanvec_eig`'s P). Stops after
    ``n_iter`` iterations (one A step and one B step each) or when an iteration lowers the loss by less than
    ``tol`` × the initial loss."""
    d = _check_d(d, KQ.shape[0])
    if n_iter < 0:
        raise ValueError(f"n_iter must be ≥ 0, got {n_iter}")
    P = leanvec_eig(KQ, KX, d)[0] if init is None else np.asarray(init, np.float64)
    if P.shape != (d, KQ.shape[0]):
        raise ValueError(f"init must be (d, D) = {(d, KQ.shape[0])}, got {P.shape}")
    A, B = P.copy(), P.copy()
    hist = [ip_loss(A, B, KQ, KX)]
    for _ in range(n_iter):
        for block in (0, 1):
            gA, gB = _grads(A, B, KQ, KX)
            if block == 0:                      # f(A + γΔ) = f(A) + γ⟨∇, Δ⟩ + γ² tr(Δᵀ B K_X Bᵀ Δ K_Q)
                delta = _lmo(gA) - A
                lin = float(np.sum(gA * delta))
                quad = float(np.einsum("ij,ij->", B @ KX @ B.T @ delta, delta @ KQ))
            else:                               # f(B + γΔ) = f(B) + γ⟨∇, Δ⟩ + γ² tr(Δᵀ A K_Q Aᵀ Δ K_X)
                delta = _lmo(gB) - B
                lin = float(np.sum(gB * delta))
                quad = float(np.einsum("ij,ij->", A @ KQ @ A.T @ delta, delta @ KX))
            if lin >= 0:
                continue                        # no descent direction: this block is stationary
            gamma = 1.0 if quad <= 0 else min(1.0, -lin / (2 * quad))
            if block == 0:
                A = A + gamma * delta
            else:
                B = B + gamma * delta
        hist.append(ip_loss(A, B, KQ, KX))
        if hist[-2] - hist[-1] < tol * hist[0]:
            break
    return A, B, hist


# ---------------------------------------------------------------------------------------------- search
def rerank(Q, X, cand: np.ndarray, k: int) -> np.ndarray:
    """Re-rank candidate ids ``cand`` (nq, c) by full inner product ⟨q, x⟩ (float32; −1 = missing): ids (nq, k)."""
    Q, X = np.ascontiguousarray(Q, np.float32), np.ascontiguousarray(X, np.float32)
    cand = np.asarray(cand, np.int64)
    if cand.ndim != 2 or cand.shape[0] != Q.shape[0] or cand.shape[1] < k:
        raise ValueError(f"cand must be (nq, ≥ k) = ({Q.shape[0]}, ≥{k}), got {cand.shape}")
    out = np.empty((Q.shape[0], k), np.int64)
    for s in range(0, Q.shape[0], _RERANK_BLOCK):
        c = cand[s:s + _RERANK_BLOCK]
        sc = np.einsum("qcd,qd->qc", X[c.clip(0)], Q[s:s + _RERANK_BLOCK])
        sc[c < 0] = -np.inf
        order = np.argsort(-sc, axis=1, kind="stable")[:, :k]
        out[s:s + _RERANK_BLOCK] = np.take_along_axis(c, order, 1)
    return out


def reduced_rerank_search(Q, X, A, B, k: int, n_rerank: int, *, XB=None) -> np.ndarray:
    """Exact first pass over the reduced vectors (``topk_search`` of ``Q Aᵀ`` over ``X Bᵀ``, inner product) for
    ``n_rerank`` candidates, then :func:`rerank` with the full vectors: ids (nq, k). ``XB``: precomputed X Bᵀ."""
    if not 1 <= k <= n_rerank:
        raise ValueError(f"need 1 ≤ k ≤ n_rerank, got k={k}, n_rerank={n_rerank}")
    Q = _matrix(Q, "Q", allow_empty=True).astype(np.float32)
    X = _matrix(X, "X").astype(np.float32)
    XB = (X @ np.asarray(B, np.float32).T) if XB is None else np.asarray(XB, np.float32)
    QA = Q @ np.asarray(A, np.float32).T
    _, cand = topk_search(QA, XB, min(n_rerank, X.shape[0]), "dot")
    return rerank(Q, X, cand, k)


@dataclass
class _ReducedHNSW:
    index: object
    A: np.ndarray
    X: np.ndarray


def leanvec_hnsw(name: str, A, B, *, M: int = 16, ef_construction: int = 100, efs=(10, 20, 40, 80, 160),
                 n_rerank: int | None = None, threads: int = 1) -> AnnMethod:
    """faiss ``IndexHNSWFlat`` (inner product) over ``X Bᵀ``; a search maps queries by A, asks the graph for
    ``max(k, n_rerank or ef)`` candidates at efSearch = ef and re-ranks them with the full vectors.
    A = B = I (D × D) gives plain HNSW over the full vectors with the same code path."""
    import faiss
    A32, B32 = np.ascontiguousarray(A, np.float32), np.ascontiguousarray(B, np.float32)

    def build(X):
        faiss.omp_set_num_threads(threads)
        index = faiss.IndexHNSWFlat(B32.shape[0], M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        index.add(np.ascontiguousarray(X @ B32.T))
        return _ReducedHNSW(index, A32, X)

    def search(h, q, k, ef):
        faiss.omp_set_num_threads(threads)
        h.index.hnsw.efSearch = ef
        c = max(k, ef if n_rerank is None else n_rerank)
        _, cand = h.index.search(np.ascontiguousarray(q @ h.A.T), c)
        return rerank(q, h.X, cand, k)

    def nbytes(h):
        return int(faiss.serialize_index(h.index).size) + h.X.nbytes

    return AnnMethod(name, build, search, nbytes, [{}], grid(ef=list(efs)), threads)


def principal_angle_error(P, Vt) -> float:
    """Largest sine of the principal angles between the row spaces of P (d, D) and Vt (d, D) (0 = same)."""
    Qp, _ = np.linalg.qr(np.asarray(P, np.float64).T)
    Qv, _ = np.linalg.qr(np.asarray(Vt, np.float64).T)
    if Qp.shape != Qv.shape:
        raise ValueError(f"P and Vt must have the same shape, got {np.shape(P)} and {np.shape(Vt)}")
    return float(np.linalg.norm(Qv - Qp @ (Qp.T @ Qv), 2))           # ‖(I − Π_P) Π_V‖₂ = sin θ_max



# ---------------------------------------------------------------------------------------------- data
def _unit_rows(x) -> np.ndarray:
    x = np.asarray(x, np.float32).reshape(len(x), -1)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    if (n == 0).any():
        raise ValueError(f"{int((n == 0).sum())} zero vector(s) cannot be normalised; drop them first")
    return x / n


def ood_image_set(n_base: int) -> dict:
    """Fashion-MNIST training images (first ``n_base``) as the database, unit-norm 784-d pixels; OOD queries:
    the 5000 real MNIST digits (a different image distribution); ID queries: the 10000 Fashion-MNIST test
    images. {'X', 'Q_ood', 'Q_id'} float32."""
    from simrepro.data.images import load_fashion_mnist, load_mnist_5k
    tr, _ = load_fashion_mnist("train")
    te, _ = load_fashion_mnist("test")
    if not 1 <= n_base <= tr.shape[0]:
        raise ValueError(f"n_base must be in 1..{tr.shape[0]}, got {n_base}")
    return {"X": _unit_rows(tr[:n_base]), "Q_ood": _unit_rows(load_mnist_5k()[0]), "Q_id": _unit_rows(te)}


def ood_text_set(n_id: int = 1500, seed: int = 0) -> dict:
    """MiniLM (384-d, unit-norm) embeddings of WordNet noun synsets: database = '<lemma>: <gloss>' passages
    minus ``n_id`` held out at random (``seed``) as ID queries; OOD queries = the 3000 bare lemmas (one or
    two words: short queries against passages). {'X', 'Q_ood', 'Q_id'} float32."""
    from simrepro.data.wordnet import load_wordnet_nouns
    w = load_wordnet_nouns()
    docs = w["doc_emb"]
    if not 0 < n_id < docs.shape[0]:
        raise ValueError(f"n_id must be in 1..{docs.shape[0] - 1}, got {n_id}")
    held = np.zeros(docs.shape[0], bool)
    held[np.random.default_rng(seed).choice(docs.shape[0], n_id, replace=False)] = True
    return {"X": _unit_rows(docs[~held]), "Q_ood": _unit_rows(w["query_emb"]), "Q_id": _unit_rows(docs[held])}


# ---------------------------------------------------------------------------------------------- experiment
def split_queries(nq: int, n_train: int, n_eval: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random (train, eval) index sets of sizes ``n_train``, ``n_eval`` from ``range(nq)``."""
    if n_train < 1 or n_eval < 1 or n_train + n_eval > nq:
        raise ValueError(f"need n_train, n_eval ≥ 1 and n_train + n_eval ≤ {nq} queries, got {n_train} + {n_eval}")
    p = np.random.default_rng(seed).permutation(nq)
    return p[:n_train], p[n_train:n_train + n_eval]


def compare_projections(X, Q_train, Q_eval, d: int, *, k: int = 10, n_rerank: int = 50, fw_iters: int = 30,
                        betas=tuple(np.linspace(0.0, 1.0, 11)), gt=None) -> dict:
    """PCA (LeanVec-ID) vs LeanVec-Eig vs LeanVec-OOD (Frank–Wolfe from Eig) learned from ``Q_train``,
    judged on ``Q_eval``: per method the relative inner-product error on ``Q_eval`` × ``X``, recall@k after
    re-ranking the top ``n_rerank`` and the first pass's own recall@k (``n_rerank = k``); plus β*, the
    Frank–Wolfe loss history and the projections. ``gt``: the exact ground truth of ``Q_eval`` (inner product)."""
    from simrepro.methods.search.ann_eval import exact_ground_truth, recall_at_k
    X = _matrix(X, "X").astype(np.float32)
    Qe = _matrix(Q_eval, "Q_eval").astype(np.float32)
    KX, KQ, KQe = second_moment(X), second_moment(Q_train), second_moment(Qe)
    P = _top_eigvecs(KX, _check_d(d, KX.shape[0]))
    Pe, beta, _ = leanvec_eig(KQ, KX, d, betas)
    A, B, hist = leanvec_fw(KQ, KX, d, init=Pe, n_iter=fw_iters)
    gt = exact_ground_truth(X, Qe, k, "dot") if gt is None else gt
    out = {"beta": beta, "fw_hist": hist, "proj": {"pca": (P, P), "eig": (Pe, Pe), "leanvec": (A, B)}}
    for name, (a, b) in out["proj"].items():
        XB = X @ np.asarray(b, np.float32).T
        out[name] = {"ip_err": relative_ip_loss(a, b, KQe, KX),
                     "recall": recall_at_k(gt, X, Qe, reduced_rerank_search(Qe, X, a, b, k, n_rerank, XB=XB)),
                     "recall_first": recall_at_k(gt, X, Qe, reduced_rerank_search(Qe, X, a, b, k, k, XB=XB))}
    out["fw_monotone"] = bool(all(y <= x * (1 + 1e-9) for x, y in zip(hist, hist[1:]))
                              and hist[-1] <= ip_loss(Pe, Pe, KQ, KX) * (1 + 1e-9))
    return out
