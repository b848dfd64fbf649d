r"""B-Attention (Wang, Zhang, Lin, Wang, Sun & Jin, NeurIPS 2022): robust graph structure from *multiple* statistical
tests, and the kNN-graph quality measures it is judged with here.

A kNN graph over images links i and j when their cosine S_ij is high: one noisy test per pair. B-Attention adds a
second test: whether i and j agree in their similarities to the *other* members of a context set, i.e. the cosine
of their similarity profiles. The official code (github.com/Thomas-wyh/B-Attention, ``net/battention_with_transformer.py``,
``scaled_dot_product``, ``set_version == 3``, lines 31-34) computes, on a context of m nodes (the seed and its
kNN neighbours, the seed moved to position 0 as in ``extract_ctx_feats2``, lines 403-411)

    A = X_C X_Cᵀ                          (m, m)   pairwise similarities (one test per pair)
    Â = rownorm₂(A)                                 each node's similarity profile over the context
    B = A ⊙ (Â Âᵀ)                                  pairwise test × profile agreement (the "multiple tests")

and ``set_version == 4`` (lines 35-38) keeps the profile term Â Âᵀ alone. The official division of A by √d before the
row normalisation changes no ranking (Â is scale-free; A is scaled by a constant), so it is left out here.
The edge score of the kNN edge (i, j) is row 0 of B in i's context: :func:`b_scores` (batched, torch) beside
:func:`b_scores_reference` (a plain loop over nodes, float64).

Cost: O(n·m²·d) for the context Gram matrices plus O(n·m²) for the profile products, m = k + 1.

The trained form (``MultiheadAttention.forward``, lines 103-169) fuses learned self-attention with a learned
"Q-attention" on the rows of XXᵀ; :class:`ContextAttention` is a small re-implementation of that structure from its
description (self / Q / band modes) for the optional training experiment.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from simrepro.kernels.topk import topk_search


# --------------------------------------------------------------------------------------------------- validation
def _features(X, name: str = "X") -> np.ndarray:
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, d) feature matrix, got shape {X.shape}")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no feature columns (d = 0)")
    X = X.astype(np.float32, copy=False)
    if not np.all(np.isfinite(X)):
        raise ValueError(f"{name} contains NaN or inf; impute or drop those rows first")
    norms = np.linalg.norm(X, axis=1)
    if X.shape[0] and np.any(norms == 0):
        raise ValueError(f"{name} has {int(np.sum(norms == 0))} all-zero rows; cosine similarity is undefined "
                         "for them — drop them first")
    return X


def normalize(X) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); raises ValueError on NaN/inf or zero rows."""
    X = _features(X)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def _check_idx(idx, n: int) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.ndim != 2 or idx.shape[0] != n:
        raise ValueError(f"idx must be an (n, m) array of neighbour ids with n = {n} rows, got shape {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError("idx holds ids outside 0..n-1 (missing neighbours marked -1 are not supported)")
    return idx.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------------- data
def identity_clusters(n_ids: int = 200, dim: int = 64, *, mean_size: float = 10.0, min_size: int = 2,
                      family_size: int = 4, family_spread: float = 0.6, noise: float = 1.0,
                      outlier_fraction: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Seeded face-identity-like clusters: ``X`` (n, dim) float32 unit rows and ``labels`` (n,) int64.

    Identities come in families of ``family_size`` whose centres share a random family direction (cosine between
    sibling centres ≈ 1/(1 + family_spread²)), so the hardest negatives are near; each identity has
    ``min_size + Geometric`` members (mean ≈ ``mean_size``), each = centre + isotropic Gaussian noise of total norm
    ≈ ``noise``; a fraction ``outlier_fraction`` of members get 2× the noise (bad images)."""
    if n_ids < 1 or dim < 1 or family_size < 1 or min_size < 1 or mean_size < min_size:
        raise ValueError("need n_ids, dim, family_size, min_size >= 1 and mean_size >= min_size")
    if noise < 0 or family_spread < 0 or not 0 <= outlier_fraction <= 1:
        raise ValueError("noise and family_spread must be >= 0 and outlier_fraction in [0, 1]")
    rng = np.random.default_rng(seed)
    n_fam = -(-n_ids // family_size)
    fam = rng.normal(size=(n_fam, dim))
    fam /= np.linalg.norm(fam, axis=1, keepdims=True)
    off = rng.normal(size=(n_ids, dim))
    off *= family_spread / np.linalg.norm(off, axis=1, keepdims=True)
    centres = fam[np.arange(n_ids) // family_size] + off
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    p = 1.0 / (mean_size - min_size + 1.0)
    sizes = min_size + rng.geometric(p, size=n_ids) - 1
    labels = np.repeat(np.arange(n_ids), sizes)
    scale = np.where(rng.random(labels.size) < outlier_fraction, 2.0, 1.0) * noise / math.sqrt(dim)
    X = centres[labels] + rng.normal(size=(labels.size, dim)) * scale[:, None]
    perm = rng.permutation(labels.size)
    return normalize(X[perm]), labels[perm].astype(np.int64)


# --------------------------------------------------------------------------------------------------- kNN graphs
def knn_graph(X, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact cosine kNN graph with each node first: ``sims, idx`` (n, k + 1), ``idx[i, 0] == i`` and
    ``idx[i, 1:]`` the k nearest other nodes, best first (``simrepro.kernels.topk.topk_search``, exact).
    Raises ValueError for k < 1 or k >= n."""
    X = normalize(X)
    n = X.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in 1..n-1 = 1..{n - 1}, got {k}")
    D, I = topk_search(X, X, k + 1, metric="cosine", device="cpu")
    return _self_first(X, D, I, k)


def knn_graph_faiss(X, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The same graph from faiss ``IndexFlatIP`` on unit rows (the official repository builds its kNN with faiss)."""
    import faiss
    X = normalize(X)
    n = X.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k must be in 1..n-1 = 1..{n - 1}, got {k}")
    index = faiss.IndexFlatIP(X.shape[1])
    index.add(np.ascontiguousarray(X))
    D, I = index.search(np.ascontiguousarray(X), k + 1)
    return _self_first(X, D, I, k)


def _self_first(X, D, I, k):
    """Put node i first in its own list (duplicates can outrank it) and keep k others."""
    n = X.shape[0]
    idx = np.empty((n, k + 1), dtype=np.int64)
    idx[:, 0] = np.arange(n)
    for i in range(n):
        row = I[i][I[i] != i][:k]
        if row.size < k:  # i was not among the k + 1 (k + 1 exact duplicates): drop the last
            row = I[i][:k]
        idx[i, 1:] = row
    sims = np.einsum("nd,nmd->nm", X, X[idx]).astype(np.float32)
    return sims, idx


def edge_overlap(idx_a: np.ndarray, idx_b: np.ndarray) -> float:
    """Fraction of the directed kNN edges (columns 1..k) of graph a that graph b also has."""
    hit = sum(len(set(a[1:]) & set(b[1:])) for a, b in zip(idx_a, idx_b))
    return hit / max(1, idx_a[:, 1:].size)


# --------------------------------------------------------------------------------------------------- B scores
def b_scores(X, idx, *, mode: str = "b", batch: int = 512) -> np.ndarray:
    """Edge scores (n, m) of each node's context ``idx`` (n, m), ``idx[:, 0]`` = the node itself.

    ``mode='b'``: B = A ⊙ (Â Âᵀ), row 0 (official ``set_version`` 3); ``'profile'``: Â Âᵀ row 0 (``set_version``
    4); ``'cosine'``: A row 0 (the single test). A = cosine Gram of the context. float32 torch bmm in batches."""
    if mode not in ("b", "profile", "cosine"):
        raise ValueError(f"mode must be 'b', 'profile' or 'cosine', got {mode!r}")
    X = normalize(X)
    idx = _check_idx(idx, X.shape[0])
    n, m = idx.shape
    out = np.empty((n, m), dtype=np.float32)
    Xt = torch.from_numpy(X)
    for s in range(0, n, batch):
        C = Xt[torch.from_numpy(idx[s:s + batch])]                      # (b, m, d) context features
        A = C @ C.transpose(1, 2)                                       # (b, m, m)  A = X_C X_Cᵀ
        if mode == "cosine":
            out[s:s + batch] = A[:, 0].numpy()
            continue
        Ah = F.normalize(A, p=2, dim=-1)                                # Â = rownorm(A)
        P0 = (Ah @ Ah[:, 0, :, None])[..., 0]                           # row 0 of Â Âᵀ: (b, m)
        out[s:s + batch] = (P0 if mode == "profile" else A[:, 0] * P0).numpy()   # B = A ⊙ (Â Âᵀ), row 0
    return out


def b_scores_reference(X, idx, *, mode: str = "b", nodes=None) -> np.ndarray:
    """Plain float64 loop: for each node (all, or the ids ``nodes``), its context Gram matrix, the full B matrix,
    row 0 → (len(nodes), m)."""
    if mode not in ("b", "profile", "cosine"):
        raise ValueError(f"mode must be 'b', 'profile' or 'cosine', got {mode!r}")
    X = normalize(X).astype(np.float64)
    idx = _check_idx(idx, X.shape[0])
    nodes = np.arange(idx.shape[0]) if nodes is None else np.asarray(nodes, dtype=np.int64)
    out = np.empty((len(nodes), idx.shape[1]), dtype=np.float64)
    for r, i in enumerate(nodes):
        C = X[idx[i]]
        A = C @ C.T
        Ah = A / np.linalg.norm(A, axis=1, keepdims=True)
        P = Ah @ Ah.T
        out[r] = {"b": A * P, "profile": P, "cosine": A}[mode][0]
    return out


# --------------------------------------------------------------------------------------------------- measures
def edge_labels(idx: np.ndarray, labels) -> np.ndarray:
    """(n, m - 1) bool: does kNN edge (i, idx[i, j]) join two nodes of the same label (columns 1..m-1)."""
    labels = np.asarray(labels)
    return labels[idx[:, 1:]] == labels[idx[:, :1]]


def edge_auc(scores: np.ndarray, same: np.ndarray) -> float:
    """ROC-AUC of the edge scores (columns 1.. of ``scores``) for same-label edges; ties count one half."""
    from sklearn.metrics import roc_auc_score
    s, y = np.asarray(scores)[:, 1:].ravel(), np.asarray(same).ravel()
    if y.all() or not y.any():
        raise ValueError("edge AUC needs both same-label and cross-label edges")
    return float(roc_auc_score(y, s))


def precision_at_degree(scores: np.ndarray, same: np.ndarray, degree: int) -> float:
    """Mean fraction of same-label edges among each node's ``degree`` best-scored kNN candidates (the graph
    re-ranked by the score and cut to a fixed degree). Ties broken by the kNN order (stable sort)."""
    s = np.asarray(scores)[:, 1:]
    if not 1 <= degree <= s.shape[1]:
        raise ValueError(f"degree must be in 1..{s.shape[1]}, got {degree}")
    order = np.argsort(-s, axis=1, kind="stable")[:, :degree]
    return float(np.take_along_axis(np.asarray(same), order, axis=1).mean())


def threshold_components(idx: np.ndarray, scores: np.ndarray, keep_fraction: float) -> np.ndarray:
    """Cluster labels: keep the ``keep_fraction`` best-scored kNN edges (all nodes' edges pooled, undirected),
    return the connected components (scipy)."""
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components
    if not 0 < keep_fraction <= 1:
        raise ValueError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    n = idx.shape[0]
    s = np.asarray(scores)[:, 1:].ravel()
    rows = np.repeat(np.arange(n), idx.shape[1] - 1)
    cols = idx[:, 1:].ravel()
    m = max(1, int(round(keep_fraction * s.size)))
    keep = np.argsort(-s, kind="stable")[:m]
    G = sp.coo_matrix((np.ones(m), (rows[keep], cols[keep])), shape=(n, n))
    return connected_components(G, directed=True, connection="weak")[1]


def pairwise_f(labels_true, labels_pred) -> dict:
    """Pairwise precision, recall and F-score (the face-clustering F_P): over all unordered node pairs, a pair is
    predicted positive when both share a predicted cluster and truly positive when both share a label."""
    from sklearn.metrics.cluster import contingency_matrix
    t, p = np.asarray(labels_true), np.asarray(labels_pred)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError("labels_true and labels_pred must be 1-D of the same length")
    c = contingency_matrix(t, p, sparse=True)
    pairs = lambda v: float(np.sum(v * (v - 1.0) / 2.0))  # noqa: E731
    tp = pairs(c.data.astype(np.float64))
    pred = pairs(np.asarray(c.sum(axis=0)).ravel().astype(np.float64))
    true = pairs(np.asarray(c.sum(axis=1)).ravel().astype(np.float64))
    prec = tp / pred if pred else 0.0
    rec = tp / true if true else 0.0
    f = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f": f}


def pairwise_f_reference(labels_true, labels_pred) -> dict:
    """O(n²) loop over pairs, the definition."""
    t, p = list(labels_true), list(labels_pred)
    tp = pred = true = 0
    for a in range(len(t)):
        for b in range(a + 1, len(t)):
            tp += (t[a] == t[b]) and (p[a] == p[b])
            pred += p[a] == p[b]
            true += t[a] == t[b]
    prec = tp / pred if pred else 0.0
    rec = tp / true if true else 0.0
    return {"precision": prec, "recall": rec, "f": 2 * prec * rec / (prec + rec) if prec + rec else 0.0}


def best_pairwise_f(idx, scores, labels, keep_grid) -> tuple[float, float, list[float]]:
    """Pairwise F of threshold + connected components at every kept-edge fraction of ``keep_grid`` (the same grid
    for every score): (best F, its fraction, all F values)."""
    fs = [pairwise_f(labels, threshold_components(idx, scores, q))["f"] for q in keep_grid]
    j = int(np.argmax(fs))
    return fs[j], float(keep_grid[j]), fs


def graph_quality(X, labels, k: int, *, degree: int, keep_grid, idx=None) -> tuple[dict, dict]:
    """All measures for the three scores on one kNN graph: ({score: {auc, prec, f, f_keep}}, {score: (n, m) scores})."""
    if idx is None:
        _, idx = knn_graph(X, k)
    same = edge_labels(idx, labels)
    out, all_scores = {}, {}
    for mode in ("cosine", "b", "profile"):
        sc = b_scores(X, idx, mode=mode)
        f, q, _ = best_pairwise_f(idx, sc, labels, keep_grid)
        out[mode] = {"auc": edge_auc(sc, same), "prec": precision_at_degree(sc, same, degree), "f": f, "f_keep": q}
        all_scores[mode] = sc
    out["knn_same_rate"] = float(same.mean())
    return out, all_scores


# --------------------------------------------------------------------------------------------------- trained layer
class ContextAttention(nn.Module):
    """One attention layer over a node's context (b, m, d) → refined features (b, m, d), in three modes:

    ``'self'``: softmax(Q Kᵀ/√h) with Q, K = X W (learned self-attention); ``'q'``: the learned attention on the
    similarity profiles A_X = X Xᵀ (Q' = A_X W', K' = A_X W'', each row-normalised, scores Q'K'ᵀ) — the paper's
    Q-attention; ``'band'``: softmax(θ_s·self + θ_q·Q-scores + b), the learned fusion (official ``attn_fuse``).
    Output: the residual x + W_o·(attention · V), L2-normalised (so an untrained layer stays near the input)."""

    def __init__(self, dim: int, m: int, hidden: int = 64, mode: str = "band"):
        super().__init__()
        if mode not in ("self", "q", "band"):
            raise ValueError(f"mode must be 'self', 'q' or 'band', got {mode!r}")
        self.mode, self.hidden = mode, hidden
        self.qkv = nn.Linear(dim, 3 * hidden)
        self.ctx_qk = nn.Linear(m, 2 * m)
        self.fuse = nn.Linear(2, 1)
        self.out = nn.Linear(hidden, dim)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        q, k, _ = self.qkv(x).chunk(3, dim=-1)
        s_self = q @ k.transpose(1, 2) / math.sqrt(self.hidden)
        if self.mode == "self":
            return s_self
        cq, ck = self.ctx_qk(x @ x.transpose(1, 2)).chunk(2, dim=-1)
        s_q = F.normalize(cq, dim=-1) @ F.normalize(ck, dim=-1).transpose(1, 2)
        if self.mode == "q":
            return s_q
        return self.fuse(torch.stack([s_self, s_q], dim=-1))[..., 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        att = torch.softmax(self.scores(x), dim=-1)
        v = self.qkv(x).chunk(3, dim=-1)[2]
        return F.normalize(x + self.out(att @ v), dim=-1)           # residual: starts near the input cosine


def train_context_attention(X, idx, labels, train_nodes, *, mode: str, hidden: int = 64, epochs: int = 30,
                            lr: float = 3e-3, batch: int = 128, margin: float = 0.5, seed: int = 0) -> ContextAttention:
    """Train :class:`ContextAttention` on the contexts of ``train_nodes``: the refined seed feature (position 0)
    should have cosine > 0 with same-label context members and < 0 with the others (a hinge on the cosine with
    ``margin``, a stand-in for the official ball-cluster loss). Returns the trained layer (eval mode)."""
    torch.manual_seed(seed)
    X = normalize(X)
    Xt, I = torch.from_numpy(X), torch.from_numpy(np.asarray(idx))
    same = torch.from_numpy(edge_labels(np.asarray(idx), labels).astype(np.float32))
    model = ContextAttention(X.shape[1], idx.shape[1], hidden, mode)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    nodes = np.asarray(train_nodes)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        perm = nodes[rng.permutation(len(nodes))]
        for s in range(0, len(perm), batch):
            b = torch.from_numpy(perm[s:s + batch])
            h = model(Xt[I[b]])
            cos = (h[:, :1] * h[:, 1:]).sum(-1)
            y = same[b] * 2 - 1
            loss = F.relu(margin - y * cos).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def context_attention_scores(model: ContextAttention, X, idx, nodes, batch: int = 512) -> np.ndarray:
    """(len(nodes), m) edge scores: cosine of the refined seed feature with each refined context member (column 0
    is the seed with itself)."""
    X = normalize(X)
    Xt, I = torch.from_numpy(X), torch.from_numpy(np.asarray(idx))
    out = []
    with torch.no_grad():
        for s in range(0, len(nodes), batch):
            h = model(Xt[I[torch.as_tensor(np.asarray(nodes[s:s + batch]))]])
            out.append((h[:, :1] * h).sum(-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, idx.shape[1]), dtype=np.float32)


# --------------------------------------------------------------------------------------------------- image features
def fashion_mnist_pool(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fixed random pool of ``n`` Fashion-MNIST images from all 70k (train then test): (images (n, 28, 28)
    uint8, labels (n,), ids (n,) into the 70k concatenation); ``n = 0`` means all of them."""
    from simrepro.data.images import load_fashion_mnist
    Xtr, ytr = load_fashion_mnist("train")
    Xte, yte = load_fashion_mnist("test")
    images, labels = np.concatenate([Xtr, Xte]), np.concatenate([ytr, yte])
    ids = np.arange(len(labels)) if n in (0, None) else np.sort(
        np.random.default_rng(seed).choice(len(labels), size=int(n), replace=False))
    return images[ids], labels[ids], ids


def pca_features(images: np.ndarray, dim: int, *, seed: int = 0) -> np.ndarray:
    """Pixel PCA: images (n, 28, 28) uint8 → (n, dim) float32 (centred pixels in [0, 1], scikit-learn randomized
    PCA)."""
    from sklearn.decomposition import PCA
    flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return PCA(dim, svd_solver="randomized", random_state=seed).fit_transform(flat).astype(np.float32)


def effnet_features(images: np.ndarray, *, image_size: int = 32, batch: int = 250, cache_key: str | None = None
                    ) -> np.ndarray:
    """Frozen ImageNet EfficientNet-Lite0 (``simrepro.data.efficientnet_lite``) features of grey images (n, 28, 28)
    uint8: resized bilinearly to ``image_size``, grey copied to RGB, scaled to [-1, 1]; the 1280-channel head map
    average-pooled → (n, 1280) float32. With ``cache_key`` the result is cached under
    ``build/cache/b_attention/`` (recomputed when absent)."""
    from simrepro.repro import paths
    path = None
    if cache_key:
        path = paths.root() / "build" / "cache" / "b_attention" / f"effnet_lite0_{image_size}_{cache_key}.npy"
        if path.exists():
            feats = np.load(path)
            if feats.shape == (len(images), 1280):
                return feats
    from simrepro.data import efficientnet_lite as eff
    model = eff.load_efficientnet_lite0(image_size)
    out = []
    with torch.no_grad():
        for s in range(0, len(images), batch):
            x = torch.as_tensor(images[s:s + batch], dtype=torch.float32)[:, None] / 127.5 - 1.0
            x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
            fmap = model.extract_features(x.expand(-1, 3, -1, -1).contiguous())
            out.append(fmap.mean(dim=(2, 3)).numpy())
    feats = np.concatenate(out).astype(np.float32) if out else np.zeros((0, 1280), np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, feats)
    return feats
