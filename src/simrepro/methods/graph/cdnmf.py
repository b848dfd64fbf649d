"""Contrastive deep NMF for community detection (CDNMF; Li et al., ICASSP 2024, arXiv 2311.02357).

Two deep NMF views of one graph with n nodes, k communities:

* topology  A  (n, n)  ≈ U₁ U₂ … U_p V      (V  ∈ R^{k×n}, community memberships; node i → argmax_c V[c, i])
* attributes Xᵀ (d, n) ≈ U'₁ … U'_q V'      (V' ∈ R^{k×n})

The objective (official ``Model/my_model.py``, ``loss``, lines 131-206) is

    rec·(‖A − ∏U V‖²_F + ‖Xᵀ − ∏U' V'‖²_F)                       (reconstruction)
  + conc·mean_i ℓ_i(h, h')                                       (contrastive, below)
  + r·(tr(V L Vᵀ) + tr(V' L V'ᵀ)),  L = D − A                    (graph regularisation)
  + negc·Σ ‖min(·, 0)‖²_F over every U, U', V, V'                (soft non-negativity)

with h = g(Vᵀ), h' = g'(V'ᵀ) two-layer ELU projection heads (k → p₂ → p₁) and the debiased, community-level
InfoNCE term (``semi_loss``, lines 87-103): with s = cosine similarity, c(i) = argmax_c V[c, i],

    ℓ_i = −log( e^{s(h_i, h'_i)/τ} / ( Σ_{j: c(j) ≠ c(i)} e^{s(h_i, h_j)/τ} + e^{s(h_i, h'_i)/τ} ) )

i.e. the positive pair is node i's two views, the negatives are the *same-view* nodes of *other* communities
(nodes the current factorisation puts in i's community are removed from the negatives — the "debiased
negative sampling layer"). The factors are initialised layer-wise with scikit-learn NMF (``PreTrainer``) and then
trained jointly with Adam. ``conc = 0`` gives the same deep NMF without the contrastive term (the ablation).

Cost per epoch: O(n²·p₁ + n·d·q₁ + n²·k) time (dense reconstructions and the n×n similarity), O(n² + n·d) memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

__all__ = [
    "attributed_planted_partition", "cora_proportional_shapes", "topic_attributes", "pretrain_deep_nmf",
    "debiased_contrastive_loss",
    "debiased_contrastive_loss_reference", "graph_regulariser", "graph_regulariser_reference",
    "CDNMFResult", "fit_cdnmf", "nmf_communities", "networkx_communities", "cluster_scores",
]


# ----------------------------------------------------------------------------------------------- data
def attributed_planted_partition(n: int, k: int, avg_degree_in: float, avg_degree_out: float, *,
                                 n_attributes: int = 100, words_per_node: int = 10,
                                 attribute_signal: float = 0.3, seed: int = 0):
    """A seeded planted-partition graph with binary bag-of-words node attributes.

    Topology from :func:`simrepro.data.graphs.planted_partition`. Attributes: the ``n_attributes`` words are split
    into k equal topic blocks; every node draws ``words_per_node`` words, each from its community's block with
    probability ``attribute_signal`` and uniformly from all words otherwise (X[i, w] = 1 if drawn). Returns
    ``(graph, X, labels)`` with X (n, d) float64 in {0, 1} and labels (n,) int."""
    from simrepro.data.graphs import planted_partition
    g = planted_partition(n, k, avg_degree_in, avg_degree_out, seed=seed)
    labels = g.Y.argmax(1)
    X = topic_attributes(labels, n_attributes=n_attributes, words_per_node=words_per_node,
                         attribute_signal=attribute_signal, seed=seed)
    return g, X, labels


def topic_attributes(labels, *, n_attributes: int = 100, words_per_node: int = 10, attribute_signal: float = 0.3,
                     seed: int = 0) -> np.ndarray:
    """Binary bag-of-words attributes X (n, d) for given community labels (n,): the d words are split into one
    topic block per community; each node draws ``words_per_node`` words, each from its community's block with
    probability ``attribute_signal`` and uniformly from all d words otherwise. Seeded, O(n·words)."""
    labels = np.asarray(labels)
    _, labels = np.unique(labels, return_inverse=True)
    k = int(labels.max()) + 1 if labels.size else 0
    if not 0.0 <= attribute_signal <= 1.0:
        raise ValueError(f"attribute_signal must lie in [0, 1], got {attribute_signal}")
    if n_attributes < max(k, 1):
        raise ValueError(f"need n_attributes ≥ number of communities ({k}), got {n_attributes}")
    rng = np.random.default_rng([seed, 7919])
    blocks = np.array_split(np.arange(n_attributes), max(k, 1))
    X = np.zeros((labels.size, n_attributes))
    for i, c in enumerate(labels):
        topical = rng.random(words_per_node) < attribute_signal
        own = rng.choice(blocks[c], words_per_node)
        anywhere = rng.integers(0, n_attributes, words_per_node)
        X[i, np.where(topical, own, anywhere)] = 1.0
    return X


def cora_proportional_shapes(n: int, d: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Hidden layer widths scaled from the official Cora run (n = 2708 nodes, d = 1433 words: net (1000, 500),
    att (500, 200); ``script_cora.py`` lines 45-46) to a graph of n nodes and d attributes (each ≥ 1)."""
    f = lambda x: max(1, round(x))  # noqa: E731
    return (f(n * 1000 / 2708), f(n * 500 / 2708)), (f(d * 500 / 1433), f(d * 200 / 1433))


# --------------------------------------------------------------------------------------- pretraining
def pretrain_deep_nmf(M: np.ndarray, shape, *, seed: int = 0, n_iter: int = 100):
    """Layer-wise NMF initialisation (as the official ``PreTrainer``): M ≈ U₁V₁, V₁ ≈ U₂V₂, …

    M (m, n) non-negative; ``shape`` the layer widths (p₁, …, p_L), last = k. Returns (Us, V) with
    Us[l] (p_{l-1}, p_l) (p₀ = m) and V (p_L, n). scikit-learn NMF, init='random', ``n_iter`` iterations."""
    from sklearn.decomposition import NMF
    M = np.asarray(M, dtype=np.float64)
    if M.ndim != 2 or M.size == 0:
        raise ValueError(f"need a non-empty 2-D matrix, got shape {M.shape}")
    if not np.isfinite(M).all() or (M < 0).any():
        raise ValueError("the matrix must be finite and non-negative (NMF); clean NaN/negative entries first")
    Us, Z = [], M
    for p in shape:
        if p > min(Z.shape):
            raise ValueError(f"layer width {p} exceeds min{Z.shape}; shrink the layer shape")
        nmf = NMF(n_components=int(p), init="random", random_state=seed, max_iter=n_iter)
        Us.append(nmf.fit_transform(Z))
        Z = nmf.components_
    return Us, Z


# ---------------------------------------------------------------------------------- contrastive term
def debiased_contrastive_loss(h1: torch.Tensor, h2: torch.Tensor, communities: torch.Tensor,
                              tau: float) -> torch.Tensor:
    """mean_i ℓ_i (module docstring): h1, h2 (n, p) float, communities (n,) int. O(n²·p)."""
    if h1.shape != h2.shape or h1.ndim != 2 or h1.shape[0] == 0:
        raise ValueError(f"need two non-empty (n, p) views of one shape, got {tuple(h1.shape)}, {tuple(h2.shape)}")
    if tau <= 0:
        raise ValueError(f"temperature tau must be > 0, got {tau}")
    if not (torch.isfinite(h1).all() and torch.isfinite(h2).all()):
        raise ValueError("non-finite embeddings (NaN/inf): check the factor values / learning rate")
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    refl = torch.exp(z1 @ z1.T / tau)                          # e^{s(h_i, h_j)/τ}
    pos = torch.exp((z1 * z2).sum(1) / tau)                    # e^{s(h_i, h'_i)/τ}
    other = (communities[:, None] != communities[None, :]).to(refl.dtype)
    neg = (refl * other).sum(1)                                # Σ_{c(j) ≠ c(i)}
    return -torch.log(pos / (neg + pos)).mean()


def debiased_contrastive_loss_reference(h1, h2, communities, tau: float) -> float:
    """Plain per-node loop of the same ℓ_i in float64 numpy (for tests)."""
    h1, h2 = np.asarray(h1, np.float64), np.asarray(h2, np.float64)
    c = np.asarray(communities)
    n = h1.shape[0]
    total = 0.0
    for i in range(n):
        a = h1[i] / max(np.linalg.norm(h1[i]), 1e-12)
        pos = np.exp(a @ (h2[i] / max(np.linalg.norm(h2[i]), 1e-12)) / tau)
        neg = 0.0
        for j in range(n):
            if c[j] != c[i]:
                neg += np.exp(a @ (h1[j] / max(np.linalg.norm(h1[j]), 1e-12)) / tau)
        total += -np.log(pos / (neg + pos))
    return total / n


# ------------------------------------------------------------------------------ graph regularisation
def graph_regulariser(V: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """tr(V L Vᵀ) = ½ Σ_{(i,j)} A_ij ‖V[:, i] − V[:, j]‖², over the stored entries (both directions) of a
    symmetric A. V (k, n); O(nnz·k) instead of the dense O(n²·k)."""
    diff = V[:, rows] - V[:, cols]
    return 0.5 * (w * (diff * diff).sum(0)).sum()


def graph_regulariser_reference(V, A) -> float:
    """Dense tr(V (D − A) Vᵀ) in float64 numpy."""
    V = np.asarray(V, np.float64)
    A = A.toarray() if sp.issparse(A) else np.asarray(A, np.float64)
    L = np.diag(A.sum(1)) - A
    return float(np.trace(V @ L @ V.T))


# ------------------------------------------------------------------------------------------- fitting
@dataclass
class CDNMFResult:
    labels: np.ndarray                 # (n,) argmax of the topology view's V
    V: np.ndarray                      # (k, n)
    V_att: np.ndarray                  # (k, n)
    history: dict = field(default_factory=dict)   # per-epoch loss terms


class _Heads(torch.nn.Module):
    def __init__(self, k: int, p2: int, p1: int):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(k, p2), torch.nn.Linear(p2, p1)
        self.fc3, self.fc4 = torch.nn.Linear(k, p2), torch.nn.Linear(p2, p1)

    def forward(self, V, Va):
        return self.fc2(F.elu(self.fc1(V.T))), self.fc4(F.elu(self.fc3(Va.T)))


def fit_cdnmf(A, X, k: int, *, net_shape=(64, 32), att_shape=(32, 16), conc: float = 5.0, tau: float = 1.3,
              negc: float = 400.0, rec: float = 1.0, r: float = 3.0, lr: float = 0.01, epochs: int = 549,
              pretrain_iter: int = 100, seed: int = 0, dtype=torch.float32) -> CDNMFResult:
    """Pretrain both deep NMFs layer-wise, then minimise the CDNMF objective with Adam for ``epochs`` steps.

    A (n, n) symmetric non-negative (sparse or dense), X (n, d) non-negative attributes. ``net_shape`` /
    ``att_shape`` are the hidden widths before the last layer k (defaults are ours; the official Cora run uses
    (1000, 500, 7) / (500, 200, 7), tau 1.3, conc 5, negc 400, rec 1, r 3, lr 0.01, 549 epochs). The heads map
    k → net_shape[-1] → net_shape[0] as the official fc1..fc4. ``conc=0`` is deep NMF without the contrastive
    term (the projection heads are then unused)."""
    A = sp.csr_matrix(A, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    n = A.shape[0]
    if A.shape != (n, n) or X.ndim != 2 or X.shape[0] != n or n == 0:
        raise ValueError(f"need A (n, n) and X (n, d) with n > 0, got {A.shape} and {X.shape}")
    if A.nnz and abs(A - A.T).max() > 0:
        raise ValueError("A must be symmetric (undirected graph); symmetrise it with A.maximum(A.T)")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 ≤ k ≤ n, got k={k}")
    torch.manual_seed(seed)
    Ud, V = pretrain_deep_nmf(A.toarray(), tuple(net_shape) + (k,), seed=seed, n_iter=pretrain_iter)
    Ua, Va = pretrain_deep_nmf(X.T, tuple(att_shape) + (k,), seed=seed, n_iter=pretrain_iter)
    P = lambda M: torch.nn.Parameter(torch.tensor(M, dtype=dtype))  # noqa: E731
    Us, Uas, Vp, Vap = [P(u) for u in Ud], [P(u) for u in Ua], P(V), P(Va)
    heads = _Heads(k, int(net_shape[-1]), int(net_shape[0])).to(dtype)
    params = Us + Uas + [Vp, Vap] + list(heads.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    At = torch.tensor(A.toarray(), dtype=dtype)
    Xt = torch.tensor(X.T, dtype=dtype)
    coo = A.tocoo()
    rows, cols = torch.tensor(coo.row, dtype=torch.long), torch.tensor(coo.col, dtype=torch.long)
    w = torch.tensor(coo.data, dtype=dtype)
    hist = {key: [] for key in ("total", "rec", "contrastive", "graph", "neg")}

    def chain(Ulist, Vm):
        out = Ulist[0]
        for U in Ulist[1:]:
            out = out @ U
        return out @ Vm

    for _ in range(epochs):
        opt.zero_grad()
        l_rec = ((At - chain(Us, Vp)) ** 2).sum() + ((Xt - chain(Uas, Vap)) ** 2).sum()
        if conc:
            comm = Vp.detach().argmax(0)
            h1, h2 = heads(Vp, Vap)
            l_con = debiased_contrastive_loss(h1, h2, comm, tau)
        else:
            l_con = torch.zeros((), dtype=dtype)
        l_graph = graph_regulariser(Vp, rows, cols, w) + graph_regulariser(Vap, rows, cols, w)
        l_neg = sum((torch.clamp(M, max=0.0) ** 2).sum() for M in Us + Uas + [Vp, Vap])
        loss = rec * l_rec + conc * l_con + r * l_graph + negc * l_neg
        if not torch.isfinite(loss):
            raise FloatingPointError("CDNMF loss became non-finite; lower the learning rate")
        loss.backward()
        opt.step()
        for key, val in zip(hist, (loss, l_rec, l_con, l_graph, l_neg)):
            hist[key].append(float(val.detach()))
    Vn, Van = Vp.detach().numpy().astype(np.float64), Vap.detach().numpy().astype(np.float64)
    return CDNMFResult(Vn.argmax(0), Vn, Van, hist)


# -------------------------------------------------------------------------------------- baselines
def nmf_communities(A, k: int, *, seed: int = 0, max_iter: int = 200) -> np.ndarray:
    """Plain (shallow) NMF: scikit-learn NMF of A (n, n) with k components, node i → argmax_c W[i, c]."""
    from sklearn.decomposition import NMF
    M = A.toarray() if sp.issparse(A) else np.asarray(A, np.float64)
    W = NMF(n_components=k, init="random", random_state=seed, max_iter=max_iter).fit_transform(M)
    return W.argmax(1)


def networkx_communities(A, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Louvain (seeded) and Clauset–Newman–Moore greedy modularity from networkx; labels (n,) per method."""
    import networkx as nx
    G = nx.from_scipy_sparse_array(sp.csr_matrix(A))
    out = {}
    for name, parts in (("louvain", nx.community.louvain_communities(G, seed=seed)),
                        ("greedy", nx.community.greedy_modularity_communities(G))):
        lab = np.empty(A.shape[0], dtype=int)
        for c, members in enumerate(parts):
            lab[list(members)] = c
        out[name] = lab
    return out


def cluster_scores(y_true, y_pred) -> dict[str, float]:
    """NMI (arithmetic normalisation), ARI (scikit-learn) and ACC = best one-to-one label matching
    (Hungarian, scipy) — the paper's ACC/NMI plus ARI."""
    from scipy.optimize import linear_sum_assignment
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ValueError(f"need two non-empty label vectors of one length, got {y_true.shape}, {y_pred.shape}")
    _, t = np.unique(y_true, return_inverse=True)
    _, p = np.unique(y_pred, return_inverse=True)
    C = np.zeros((p.max() + 1, t.max() + 1))
    np.add.at(C, (p, t), 1)
    ri, ci = linear_sum_assignment(-C)
    return {"nmi": float(normalized_mutual_info_score(y_true, y_pred)),
            "ari": float(adjusted_rand_score(y_true, y_pred)),
            "acc": float(C[ri, ci].sum() / y_true.size)}
