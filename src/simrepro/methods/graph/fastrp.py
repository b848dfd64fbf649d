r"""FastRP (Chen, Sultan, Tian, Chen & Skiena, CIKM 2019, arXiv 1908.11512) and the baselines it is compared with.

FastRP embeds the nodes of a graph by a very sparse random projection of a higher-order similarity matrix that
is never formed (official ``fastrp.py``: ``fastrp_projection``, ``fastrp_merge``):

    S   = D⁻¹ A                                   transition matrix (``input_matrix='trans'``)
    R'  = diag(deg^β) R,   R ∈ ℝ^{n×d} very sparse (s = √n)     degree re-weighting (official ``alpha``)
    U_i = S^i R'  computed as  U_1 = S R',  U_i = S U_{i−1}     (i = 1…q: q sparse mat-mats, never Sⁱ)
    N   = Σ_i w_i · U_i   (optionally each U_i row-normalised first), then every column standardised.

The iterative form is O(q·nnz(A)·d); :func:`fastrp_explicit` forms Sⁱ densely, the reference for tests.

Baselines: DeepWalk (Perozzi et al. 2014: truncated uniform random walks → skip-gram with hierarchical
softmax, gensim) and the spectral embedding of the normalised adjacency. Evaluation follows DeepWalk's
``scoring.py`` protocol that the official notebooks call: one-vs-rest logistic regression on a random
``train_ratio`` of the labelled nodes, each test node predicted with as many labels as it truly has,
micro- and macro-F1 averaged over shuffles.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simrepro.kernels.random_projection import very_sparse_random_matrix


def _check_adjacency(A) -> sp.csr_matrix:
    if sp.issparse(A):
        A = sp.csr_matrix(A, dtype=np.float64)
    else:
        arr = np.asarray(A, dtype=np.float64)
        if arr.ndim != 2:
            raise ValueError(f"A must be a 2-D (n, n) adjacency matrix, got shape {arr.shape}")
        A = sp.csr_matrix(arr)
    n, m = A.shape
    if n != m:
        raise ValueError(f"A must be square (n, n), got {A.shape}")
    if A.nnz and not np.all(np.isfinite(A.data)):
        raise ValueError("A contains NaN or inf weights; drop or impute those edges")
    if A.nnz and A.data.min() < 0:
        raise ValueError("A has negative weights; FastRP needs a non-negative adjacency")
    return A


def transition_matrix(A) -> sp.csr_matrix:
    """S = D⁻¹ A (row-stochastic), CSR; a node without edges keeps an all-zero row."""
    A = _check_adjacency(A)
    deg = np.asarray(A.sum(axis=1)).ravel()
    inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
    return sp.diags(inv) @ A


def _check_weights(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be a non-empty list of finite numbers (one per power of S), got {weights}")
    return w


def _degree_weighted_projection(A: sp.csr_matrix, dim: int, beta: float, seed) -> sp.csr_matrix:
    """R' = diag(deg^β) R (n, dim); zero-degree nodes get a zero row (their deg^β is undefined for β < 0)."""
    deg = np.asarray(A.sum(axis=1)).ravel()
    scale = np.zeros_like(deg)
    scale[deg > 0] = deg[deg > 0] ** beta
    return (sp.diags(scale) @ very_sparse_random_matrix(A.shape[0], dim, seed=seed)).tocsr()


def _merge(U_list, w: np.ndarray, normalize: bool) -> np.ndarray:
    N = np.zeros_like(U_list[0])
    for wi, U in zip(w, U_list):
        if normalize:
            U = U / np.maximum(np.linalg.norm(U, axis=1, keepdims=True), 1e-300)
        N += wi * U
    sd = N.std(axis=0)
    return (N - N.mean(axis=0)) / np.where(sd > 0, sd, 1.0)      # sklearn.preprocessing.scale


def fastrp_embeddings(A, dim: int = 128, *, weights=(1.0, 1.0, 7.81, 45.28), beta: float = -0.628,
                      normalize: bool = False, seed: int = 0) -> np.ndarray:
    """FastRP node embeddings (n, dim) float64, iteratively: q = len(weights) sparse products S·U.

    Defaults are the official BlogCatalog configuration (``fast-random-projection-blogcatalog.ipynb``:
    weights [1, 1, 7.81, 45.28], alpha −0.628, no normalisation)."""
    A = _check_adjacency(A)
    w = _check_weights(weights)
    S = transition_matrix(A)
    U = np.asarray((S @ _degree_weighted_projection(A, dim, beta, seed)).todense())   # U_1 = S R'
    U_list = [U]
    for _ in range(1, w.size):
        U = S @ U                                                                       # U_i = S U_{i−1}
        U_list.append(U)
    return _merge(U_list, w, normalize)


def fastrp_explicit(A, dim: int = 128, *, weights=(1.0, 1.0, 7.81, 45.28), beta: float = -0.628,
                    normalize: bool = False, seed: int = 0) -> np.ndarray:
    """Reference: the same embedding from dense matrix powers Sⁱ (O(q·n³)); small graphs only."""
    A = _check_adjacency(A)
    w = _check_weights(weights)
    S = transition_matrix(A).toarray()
    R = _degree_weighted_projection(A, dim, beta, seed).toarray()
    U_list = [np.linalg.matrix_power(S, i) @ R for i in range(1, w.size + 1)]
    return _merge(U_list, w, normalize)


def fastrp_similarity_matrix(A, *, weights=(1.0, 1.0, 7.81, 45.28), beta: float = -0.628) -> np.ndarray:
    """The dense similarity matrix FastRP projects: M = Σ_i w_i Sⁱ diag(deg^β) (n, n); for the SVD ablation."""
    A = _check_adjacency(A)
    w = _check_weights(weights)
    S = transition_matrix(A)
    deg = np.asarray(A.sum(axis=1)).ravel()
    P = np.diag(np.where(deg > 0, np.maximum(deg, 1e-300) ** beta, 0.0))
    M, acc = np.zeros_like(P), P
    for wi in w:
        acc = np.asarray(S @ acc)
        M += wi * acc
    return M


def random_walks(A, num_walks: int, walk_length: int, *, seed: int = 0) -> np.ndarray:
    """Uniform truncated random walks (num_walks·n, walk_length) int64: every node starts num_walks walks.

    Each step moves to a neighbour with probability ∝ edge weight; a walk at a node without edges stays there."""
    A = _check_adjacency(A)
    if num_walks < 1 or walk_length < 1:
        raise ValueError(f"num_walks and walk_length must be ≥ 1, got {num_walks}, {walk_length}")
    rng = np.random.default_rng(seed)
    n = A.shape[0]
    indptr, indices = A.indptr, A.indices
    deg = np.diff(indptr)
    cum = np.cumsum(A.data)                    # global running weight: row r's entries span (cum[lo-1], cum[hi-1]]
    walks = np.empty((num_walks * n, walk_length), dtype=np.int64)
    cur = np.tile(np.arange(n), num_walks)
    rng.shuffle(cur)
    walks[:, 0] = cur
    for t in range(1, walk_length):
        has = deg[cur] > 0
        lo, hi = indptr[cur[has]], indptr[cur[has] + 1]
        start = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
        target = start + rng.random(lo.size) * (cum[hi - 1] - start)
        pos = np.clip(np.searchsorted(cum, target, side="right"), lo, hi - 1)   # inverse CDF within the row
        cur = cur.copy()
        cur[has] = indices[pos]
        walks[:, t] = cur
    return walks


def deepwalk_embeddings(A, dim: int = 128, *, num_walks: int = 10, walk_length: int = 80, window: int = 10,
                        epochs: int = 1, seed: int = 0, workers: int = 1) -> np.ndarray:
    """DeepWalk: skip-gram with hierarchical softmax (gensim Word2Vec, sg=1, hs=1) on random walks: (n, dim).

    Defaults are DeepWalk's (10 walks of length 80 per node, window 10). A node that never appears in a walk
    (impossible here: every node starts walks) would raise KeyError from gensim."""
    from gensim.models import Word2Vec
    walks = random_walks(A, num_walks, walk_length, seed=seed)
    sentences = [[str(v) for v in w] for w in walks]
    model = Word2Vec(sentences, vector_size=dim, window=window, min_count=0, sg=1, hs=1, negative=0,
                     workers=workers, seed=seed, epochs=epochs)
    return np.stack([model.wv[str(v)] for v in range(A.shape[0])]).astype(np.float64)


def spectral_embeddings(A, dim: int = 128, *, seed: int = 0) -> np.ndarray:
    """Top-``dim`` eigenvectors of D^{-1/2} A D^{-1/2} (Laplacian eigenmaps up to the trivial vector): (n, dim).

    Columns are standardised like FastRP's output (unit eigenvectors have entries ~1/√n, which a logistic
    regression with a fixed C would mostly regularise away)."""
    from scipy.sparse.linalg import eigsh
    A = _check_adjacency(A)
    n = A.shape[0]
    if not 1 <= dim < n:
        raise ValueError(f"dim must satisfy 1 ≤ dim < n = {n}, got {dim}")
    deg = np.asarray(A.sum(axis=1)).ravel()
    d = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg), where=deg > 0)
    N = sp.diags(d) @ A @ sp.diags(d)
    v0 = np.random.default_rng(seed).normal(size=n)
    _, V = eigsh(N, k=dim, which="LA", v0=v0)
    V = V[:, ::-1]
    sd = V.std(axis=0)
    return (V - V.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def node_classification_f1(emb, Y, labelled=None, *, train_ratio: float = 0.1, n_splits: int = 5,
                           C: float = 1.0, seed: int = 0) -> dict[str, float]:
    """DeepWalk's protocol: one-vs-rest logistic regression on ``train_ratio`` of the labelled nodes, each test
    node gets its k_i top-scored labels (k_i = its true label count); mean micro/macro-F1 over ``n_splits``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.multiclass import OneVsRestClassifier
    X = np.asarray(emb, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"emb has {X.shape[0]} rows but Y has {Y.shape[0]}; both must be indexed by node")
    if not np.all(np.isfinite(X)):
        raise ValueError("emb contains NaN or inf")
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must lie in (0, 1), got {train_ratio}")
    nodes = np.flatnonzero(Y.sum(1) > 0 if labelled is None else np.asarray(labelled, dtype=bool))
    rng = np.random.default_rng(seed)
    micro, macro = [], []
    for _ in range(n_splits):
        perm = rng.permutation(nodes)
        n_train = max(1, int(round(train_ratio * perm.size)))
        tr, te = perm[:n_train], perm[n_train:]
        present = Y[tr].sum(0) > 0                    # a label never seen in training cannot be learned
        clf = OneVsRestClassifier(LogisticRegression(C=C, max_iter=1000)).fit(X[tr], Y[tr][:, present])
        scores = np.full((te.size, Y.shape[1]), -np.inf)
        scores[:, present] = clf.predict_proba(X[te])
        k = Y[te].sum(1).astype(int)
        order = np.argsort(-scores, axis=1, kind="stable")
        pred = np.zeros_like(Y[te])
        for row, (o, ki) in enumerate(zip(order, k)):
            pred[row, o[:ki]] = 1.0
        micro.append(f1_score(Y[te], pred, average="micro", zero_division=0))
        macro.append(f1_score(Y[te], pred, average="macro", zero_division=0))
    return {"micro_f1": float(np.mean(micro)), "macro_f1": float(np.mean(macro))}


def tuning_split(Y, labelled=None, *, tune_fraction: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint boolean masks (tune, evaluate) over the nodes: ``tune_fraction`` of the labelled nodes (those
    with a label, or ``labelled``) go to hyper-parameter selection, the rest to evaluation, at random (seeded).

    Selection (:func:`tune_fastrp` with ``labelled=tune``) then never sees a label that the evaluation splits
    (:func:`node_classification_f1` with ``labelled=evaluate``) score."""
    Y = np.asarray(Y)
    if not 0.0 < tune_fraction < 1.0:
        raise ValueError(f"tune_fraction must lie in (0, 1), got {tune_fraction}")
    mask = Y.sum(1) > 0 if labelled is None else np.asarray(labelled, dtype=bool)
    if mask.shape != (Y.shape[0],):
        raise ValueError(f"labelled must be a boolean mask of length {Y.shape[0]}")
    nodes = np.random.default_rng(seed).permutation(np.flatnonzero(mask))
    n_tune = int(round(tune_fraction * nodes.size))
    if not 0 < n_tune < nodes.size:
        raise ValueError(f"tune_fraction {tune_fraction} of {nodes.size} labelled nodes leaves an empty pool")
    tune = np.zeros(Y.shape[0], dtype=bool)
    tune[nodes[:n_tune]] = True
    return tune, mask & ~tune


def tune_fastrp(A, Y, labelled=None, *, dim: int = 64, betas=(-1.0, -0.75, -0.5, -0.25, 0.0),
                last_weights=(1.0, 4.0, 16.0, 64.0), train_ratio: float = 0.1, seed: int = 0):
    """Grid version of the official search (``fast-random-projection-blogcatalog.ipynb``, optuna): weights
    [0, 0, 1, w], row normalisation on, degree exponent β; objective = macro-F1 of one validation split of the
    nodes in ``labelled`` (``train_ratio`` of them fit the classifier, the rest score it).

    Returns (best {"weights", "beta", "normalize"}, list of (β, w, macro-F1) for every grid point). Pass the
    tuning mask of :func:`tuning_split` as ``labelled`` so that selection never uses a label the evaluation
    scores; only the nodes in ``labelled`` are read from ``Y``."""
    grid = []
    for beta in betas:
        for w in last_weights:
            emb = fastrp_embeddings(A, dim, weights=(0.0, 0.0, 1.0, float(w)), beta=float(beta), normalize=True,
                                    seed=seed)
            f1 = node_classification_f1(emb, Y, labelled, train_ratio=train_ratio, n_splits=1, seed=seed)
            grid.append((float(beta), float(w), f1["macro_f1"]))
    beta, w, _ = max(grid, key=lambda g: g[2])
    return {"weights": (0.0, 0.0, 1.0, w), "beta": beta, "normalize": True}, grid
