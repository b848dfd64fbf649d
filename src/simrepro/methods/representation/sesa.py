r"""Supervised Explicit Semantic Analysis (Bogdanova & Yazdani, LinkedIn, arXiv 1708.03246) against a latent
dual encoder and unsupervised ESA (Gabrilovich & Markovitch 2007), for ranking documents for queries.

Two towers f_q, f_d map a query text and a document text (job / profile in the paper) to vectors; the ranking
score is s(q, d) = cos(f_q(q), f_d(d)).

- **Latent dual encoder**: f(x) = W₂ tanh(W₁ x + b₁) + b₂ ∈ ℝ^K, trained only by the ranking loss.
- **SESA**: the same towers followed by a sigmoid, f(x) = σ(W₂ tanh(W₁ x + b₁) + b₂) ∈ [0, 1]^K, where
  dimension k *is* concept k of a knowledge base (a skill in the paper): trained by the ranking loss plus the
  multi-label loss λ · Σ_k BCE(f_k(x), y_k) (summed over the K concepts, averaged over the batch and the two
  towers) against the item's concept set y ∈ {0, 1}^K (the paper supervises the explicit space with the
  skills members list). Its dimensions are therefore readable: the top activations of
  a text name concepts.
- **ESA** (unsupervised explicit space): concept k has an "article" — the tf-idf rows of the training documents
  labelled with k; its word vector c_k = the mean of those rows, scaled to unit norm; a text with tf-idf vector
  t maps to e(t) = C t ∈ ℝ^K (C = [c_k]), and s = cos(e(q), e(d)).

Ranking loss: in-batch softmax over documents, L_rank = −(1/B) Σ_i log softmax_j(s(q_i, d_j)/τ)_i for a batch of
B relevant pairs (q_i, d_i). Inputs x are fixed text features, dense or sparse (here a text's tf-idf vector
next to its GloVe-50 word mean): the first layer is then a trainable bag-of-words embedding. The paper's RNN
encoders are replaced by this bag-of-words MLP for the CPU budget — the comparison is between the output
spaces (latent vs explicit), with identical towers.

Metrics for one relevant document per query (column ``positive[q]`` of a (Q, D) score matrix): the ROC AUC of the
query, AUC_q = (#{d ≠ pos: s_qd < s_q,pos} + ½ #{d ≠ pos: s_qd = s_q,pos}) / (D − 1) (scikit-learn's
``roc_auc_score`` with one positive), its mean over queries, and the reciprocal rank 1 / (1 + #greater + ½ #ties).
Interpretability: :func:`label_precision_at_k`, the share of a text's top-k activated dimensions that are in
its true concept set, k = min(k_max, |y|).

Costs: scores O(Q·D·K); training O(epochs · n · (d·h + h·K)); ESA O(nnz(t)·K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

MODES = ("latent", "sesa", "sesa_cls")


def _finite(name: str, x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf; clean the features first")
    return a


def cosine_scores(Q, D) -> np.ndarray:
    """(n_q, n_d) cosine between rows of Q (n_q, K) and D (n_d, K); a zero row gives 0."""
    Q, D = _finite("Q", Q), _finite("D", D)
    if Q.ndim != 2 or D.ndim != 2 or Q.shape[1] != D.shape[1]:
        raise ValueError(f"need Q (n_q, K) and D (n_d, K) with the same K, got {Q.shape} and {D.shape}")
    nq, nd = np.linalg.norm(Q, axis=1, keepdims=True), np.linalg.norm(D, axis=1, keepdims=True)
    Qn = np.divide(Q, nq, out=np.zeros_like(Q), where=nq > 0)
    Dn = np.divide(D, nd, out=np.zeros_like(D), where=nd > 0)
    return Qn @ Dn.T


def auc_single_relevant(scores, positive) -> np.ndarray:
    """(Q,) ROC AUC of each query with exactly one relevant document, ties counted ½ (see the module doc)."""
    S = _finite("scores", scores)
    pos = np.asarray(positive, dtype=np.int64)
    if S.ndim != 2 or S.shape[1] < 2 or pos.shape != (S.shape[0],):
        raise ValueError(f"need scores (Q, D >= 2) and positive (Q,), got {S.shape} and {pos.shape}")
    if pos.size and (pos.min() < 0 or pos.max() >= S.shape[1]):
        raise ValueError("positive holds a column index outside [0, D)")
    sp_ = S[np.arange(len(S)), pos][:, None]
    below = (S < sp_).sum(axis=1)
    ties = (S == sp_).sum(axis=1) - 1
    return (below + 0.5 * ties) / (S.shape[1] - 1)


def reciprocal_rank(scores, positive) -> np.ndarray:
    """(Q,) 1 / (1 + #{d: s_qd > s_q,pos} + ½ #{d ≠ pos: s_qd = s_q,pos})."""
    S = _finite("scores", scores)
    pos = np.asarray(positive, dtype=np.int64)
    sp_ = S[np.arange(len(S)), pos][:, None]
    return 1.0 / (1.0 + (S > sp_).sum(axis=1) + 0.5 * ((S == sp_).sum(axis=1) - 1))


def label_precision_at_k(activations, labels, k_max: int = 5) -> np.ndarray:
    """(m,) share of each row's top-k dimensions (k = min(k_max, |y_i|)) that are true labels; rows with no
    label give NaN. ``labels``: (m, K) binary (dense or sparse). Ties among activations: lower index first."""
    A = _finite("activations", activations)
    Y = labels.toarray() if sp.issparse(labels) else np.asarray(labels)
    if A.shape != Y.shape:
        raise ValueError(f"activations {A.shape} and labels {Y.shape} differ in shape")
    if k_max < 1:
        raise ValueError(f"k_max must be >= 1, got {k_max}")
    order = np.argsort(-A, axis=1, kind="stable")
    out = np.full(len(A), np.nan)
    n_true = (Y > 0).sum(axis=1)
    for i in range(len(A)):
        k = min(k_max, int(n_true[i]))
        if k:
            out[i] = float((Y[i, order[i, :k]] > 0).mean())
    return out


# --- ESA -------------------------------------------------------------------------------------------------------

def esa_concept_matrix(tfidf_train, labels_train) -> sp.csr_matrix:
    """C (K, V): row k = mean tf-idf row of the training documents labelled k, unit L2 norm (zero if none)."""
    T = sp.csr_matrix(tfidf_train, dtype=np.float64)
    Y = sp.csr_matrix(labels_train, dtype=np.float64)
    if T.shape[0] != Y.shape[0]:
        raise ValueError(f"tfidf_train has {T.shape[0]} rows, labels_train {Y.shape[0]}")
    C = sp.csr_matrix(Y.T @ T)
    norms = np.sqrt(np.asarray(C.multiply(C).sum(axis=1)).ravel())
    scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return sp.csr_matrix(sp.diags(scale) @ C)


def esa_vectors(tfidf, C) -> np.ndarray:
    """(m, K) ESA vectors e = C t for the tf-idf rows t of ``tfidf`` (m, V)."""
    return np.asarray(sp.csr_matrix(tfidf, dtype=np.float64) @ sp.csr_matrix(C).T.toarray())


def esa_vectors_reference(tfidf, C) -> np.ndarray:
    """Plain reference of :func:`esa_vectors`: e_ik = Σ_w t_iw c_kw with explicit loops over the nonzeros."""
    T = sp.csr_matrix(tfidf, dtype=np.float64)
    Cd = sp.csr_matrix(C).toarray()
    out = np.zeros((T.shape[0], Cd.shape[0]))
    for i in range(T.shape[0]):
        for p in range(T.indptr[i], T.indptr[i + 1]):
            out[i] += T.data[p] * Cd[:, T.indices[p]]
    return out


# --- two-tower models ------------------------------------------------------------------------------------------

@dataclass
class TwoTowerConfig:
    mode: str = "sesa"            # 'latent' | 'sesa' (rank + BCE) | 'sesa_cls' (BCE only, explicit space)
    hidden: int = 256
    out_dim: int = 0              # latent width; explicit modes use the number of concepts (0 = that too)
    epochs: int = 30
    batch_size: int = 128
    lr: float = 3e-3
    temperature: float = 0.05
    bce_weight: float = 1.0


def _towers(d_in: int, hidden: int, out: int):
    import torch
    import torch.nn as nn

    class Tower(nn.Module):
        """x (dense or torch sparse) → W₂ tanh(W₁ x + b₁) + b₂."""
        def __init__(self):
            super().__init__()
            self.l1, self.l2 = nn.Linear(d_in, hidden), nn.Linear(hidden, out)

        def forward(self, x):
            h = torch.sparse.mm(x, self.l1.weight.T) + self.l1.bias if x.is_sparse else self.l1(x)
            return self.l2(torch.tanh(h))

    return nn.ModuleDict({"q": Tower(), "d": Tower()})


def _rows(X, idx):
    """Rows ``idx`` of a dense array or scipy CSR as a float32 torch tensor (sparse COO for CSR)."""
    import torch
    if sp.issparse(X):
        m = sp.coo_matrix(X[idx])
        ij = torch.from_numpy(np.vstack([m.row, m.col]).astype(np.int64))
        return torch.sparse_coo_tensor(ij, torch.from_numpy(m.data.astype(np.float32)), m.shape,
                                       check_invariants=True).coalesce()
    return torch.from_numpy(np.asarray(X[idx], dtype=np.float32))


def _check_features(name: str, X):
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float64)
        if not np.isfinite(X.data).all():
            raise ValueError(f"{name} contains NaN or inf; clean the features first")
        return X
    return _finite(name, X)


def train_two_tower(Xq, Xd, labels, cfg: TwoTowerConfig, *, seed: int = 0):
    """Fit the towers on relevant pairs (Xq[i], Xd[i]) (n, d_in) with concept labels (n, K). Returns the
    torch ModuleDict {'q', 'd'} (eval mode); :func:`embed` gives the vectors used for ranking."""
    import torch
    import torch.nn.functional as F
    if cfg.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {cfg.mode!r}")
    Xq, Xd = _check_features("Xq", Xq), _check_features("Xd", Xd)
    Y = labels.toarray() if sp.issparse(labels) else np.asarray(labels, dtype=np.float64)
    if not (Xq.shape == Xd.shape and Xq.ndim == 2 and len(Y) == Xq.shape[0]):
        raise ValueError(f"need Xq, Xd (n, d) of one shape and labels (n, K), got {Xq.shape}, {Xd.shape}, {Y.shape}")
    if Xq.shape[0] < 2:
        raise ValueError("need at least 2 training pairs (in-batch negatives)")
    K = Y.shape[1]
    out = K if cfg.mode != "latent" or cfg.out_dim == 0 else cfg.out_dim
    torch.manual_seed(seed)
    net = _towers(Xq.shape[1], cfg.hidden, out)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    ty = torch.from_numpy(Y.astype(np.float32))
    gen = torch.Generator().manual_seed(seed)
    n = Xq.shape[0]
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=gen)
        for start in range(0, n - 1, cfg.batch_size):
            b = perm[start:start + cfg.batch_size]
            if len(b) < 2:
                continue
            bi = b.numpy()
            zq, zd = net["q"](_rows(Xq, bi)), net["d"](_rows(Xd, bi))
            loss = torch.zeros(())
            if cfg.mode in ("latent", "sesa"):
                vq, vd = (zq, zd) if cfg.mode == "latent" else (torch.sigmoid(zq), torch.sigmoid(zd))
                s = F.normalize(vq, dim=1) @ F.normalize(vd, dim=1).T / cfg.temperature
                loss = loss + F.cross_entropy(s, torch.arange(len(b)))
            if cfg.mode in ("sesa", "sesa_cls"):
                bce = (F.binary_cross_entropy_with_logits(zq, ty[b], reduction="sum")
                       + F.binary_cross_entropy_with_logits(zd, ty[b], reduction="sum")) / (2 * len(b))
                loss = loss + cfg.bce_weight * bce          # summed over the K concepts, mean over the batch
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    net.mode = cfg.mode
    return net


def embed(net, X, side: str) -> np.ndarray:
    """(n, K) vectors of side 'q' or 'd': raw outputs (latent) or sigmoid concept activations (explicit)."""
    import torch
    if side not in ("q", "d"):
        raise ValueError(f"side must be 'q' or 'd', got {side!r}")
    with torch.no_grad():
        X = _check_features("X", X)
        z = net[side](_rows(X, np.arange(X.shape[0])))
        if net.mode != "latent":
            z = torch.sigmoid(z)
    return z.numpy().astype(np.float64)
