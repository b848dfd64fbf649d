r"""Sub-MoE (Li, Zhu, Wang, Li, Gu, Han & Guo, AAAI 2026, arXiv 2506.23266): compress a mixture-of-experts layer
from E to m experts by clustering experts on the cosine similarity of their outputs and merging each cluster in
a shared subspace found by a joint SVD; with expert pruning and plain weight averaging as the baselines.

The MoE layer (top-k routing, two-layer ReLU experts, all of it on CPU in float32):

    g(x) = softmax over the top-k entries of  R x           (router R: (E, d))
    E_e(x) = W2_e relu(W1_e x + b1_e) + b2_e                (W1_e: (h, d), W2_e: (d, h))
    y(x) = Σ_{e ∈ topk(x)} g_e(x) E_e(x)

Sub-MoE, as the abstract describes it (no official code was available to fix the details; choices marked *):

1. **Adaptive expert clustering.** Run every expert on the same calibration inputs X (n, d); the similarity of
   experts i and j is the mean cosine of their outputs, S_ij = (1/n) Σ_x cos(E_i(x), E_j(x)).
   :func:`expert_output_similarity`. K-means with m clusters on the features F_e = vec(rownorm(E_e(X)))/√n,
   whose squared distances are 2 − 2 S_ij, i.e. K-means "based on the cosine similarity of expert outputs".
   :func:`cluster_experts` (scikit-learn KMeans, ``n_init`` restarts*).
2. **Experts union decomposition.** For a cluster C and one weight family, concatenate the experts' matrices
   along the expert-specific axis, A = [W_1, …, W_|C|] ∈ R^{p × |C|q}, and take A = U Σ V^T; U (p × r) is shared
   and V^T splits into per-expert blocks V_i^T (r × q), so W_i = U Σ V_i^T exactly at full rank.
   :func:`joint_svd`. The shared side is the model dimension d* (W2 as is; W1 transposed), the expert side the
   hidden units.
3. **Frequency-based V merging.** V_merged = Σ_i f̃_i V_i with f̃ the experts' routing frequencies (share of
   top-k slots on the calibration inputs) normalised within the cluster; the merged expert is
   W' = U_r Σ_r V_merged^T. :func:`subspace_merge`. Biases are frequency-weighted averages*.
   Note (algebra, tested): W' = U_r U_r^T Σ_i f̃_i W_i, so at full rank the merged weights equal the
   frequency-weighted average of the cluster's weights; a rank r below full additionally projects them onto the
   cluster's top-r joint left singular subspace (the paper's optional intra-expert compression).
4. **Routing after merging***: the router is unchanged; a token routed to expert e is served by the merged expert
   of e's cluster (gates of two selected experts of one cluster add up), as in MC-SMoE.

Baselines: **pruning** keeps the m most frequently routed experts and routes top-k among them only;
**averaging** merges the same clusters with a uniform mean of the weights.

Cost: similarity O(E² n d); joint SVD of a (d × |C|h) matrix O(d²·|C|h) per weight family.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from simrepro.kernels.pairwise import normalize_rows

METHODS = ("prune", "average", "sub_moe")


# ----------------------------------------------------------------------------------------------------------------
# The MoE layer and a small classifier around it
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class MoEWeights:
    """Expert weights of one MoE layer: W1 (E, h, d), b1 (E, h), W2 (E, d, h), b2 (E, d) (float tensors)."""

    W1: torch.Tensor
    b1: torch.Tensor
    W2: torch.Tensor
    b2: torch.Tensor

    @property
    def n_experts(self) -> int:
        return int(self.W1.shape[0])

    def detach(self) -> "MoEWeights":
        return MoEWeights(*(t.detach().clone() for t in (self.W1, self.b1, self.W2, self.b2)))


def expert_outputs(x: torch.Tensor, w: MoEWeights) -> torch.Tensor:
    """All experts on all inputs: (n, E, d) with [x, e] = W2_e relu(W1_e x + b1_e) + b2_e."""
    hid = torch.relu(torch.einsum("nd,ehd->neh", x, w.W1) + w.b1[None])
    return torch.einsum("neh,edh->ned", hid, w.W2) + w.b2[None]


def route(logits: torch.Tensor, top_k: int, allowed: torch.Tensor | None = None):
    """Top-k routing: (indices (n, k) long, gates (n, k) = softmax over the k selected logits).

    ``allowed`` (E,) bool restricts the choice to those experts (pruning); at least ``top_k`` must be allowed.
    """
    if allowed is not None:
        if int(allowed.sum()) < top_k:
            raise ValueError(f"at least top_k={top_k} experts must remain, got {int(allowed.sum())}")
        logits = logits.masked_fill(~allowed[None], float("-inf"))
    val, idx = logits.topk(top_k, dim=-1)
    return idx, torch.softmax(val, dim=-1)


def moe_forward(x: torch.Tensor, router: torch.Tensor, w: MoEWeights, top_k: int, *,
                expert_map: torch.Tensor | None = None, allowed: torch.Tensor | None = None) -> torch.Tensor:
    """y (n, d) = Σ_k g_k(x) · E'_{map[idx_k]}(x).

    ``router`` (E, d) is the original router over E experts; ``w`` holds M ≤ E (merged or kept) experts and
    ``expert_map`` (E,) long sends each original expert to its row in ``w`` (identity when None); ``allowed``
    masks experts out of the routing (pruning).
    """
    idx, gates = route(x @ router.T, top_k, allowed)
    if expert_map is not None:
        idx = expert_map[idx]
    if int(idx.min()) < 0:
        raise ValueError("a token was routed to an expert with no target (expert_map = -1 but not masked out)")
    out = expert_outputs(x, w)                                                     # (n, M, d)
    sel = out.gather(1, idx[..., None].expand(-1, -1, out.shape[-1]))              # (n, k, d)
    return (gates[..., None] * sel).sum(1)


class MoEClassifier(torch.nn.Module):
    """logits = head(MoE(LayerNorm(embed(x)))): no residual around the MoE, so the experts carry the model."""

    def __init__(self, d_in: int, n_classes: int, *, d_model: int = 64, d_hidden: int = 64, n_experts: int = 8,
                 top_k: int = 2):
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"top_k must be in 1..n_experts={n_experts}, got {top_k}")
        self.top_k = top_k
        self.embed = torch.nn.Linear(d_in, d_model)
        self.norm = torch.nn.LayerNorm(d_model)
        self.router = torch.nn.Parameter(torch.randn(n_experts, d_model) * 0.02)
        s1, s2 = d_model ** -0.5, d_hidden ** -0.5
        self.W1 = torch.nn.Parameter(torch.randn(n_experts, d_hidden, d_model) * s1)
        self.b1 = torch.nn.Parameter(torch.zeros(n_experts, d_hidden))
        self.W2 = torch.nn.Parameter(torch.randn(n_experts, d_model, d_hidden) * s2)
        self.b2 = torch.nn.Parameter(torch.zeros(n_experts, d_model))
        self.head = torch.nn.Linear(d_model, n_classes)

    def weights(self) -> MoEWeights:
        return MoEWeights(self.W1, self.b1, self.W2, self.b2).detach()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The MoE layer's input (n, d)."""
        return self.norm(self.embed(x))

    def forward(self, x, *, weights: MoEWeights | None = None, expert_map=None, allowed=None):
        w = MoEWeights(self.W1, self.b1, self.W2, self.b2) if weights is None else weights
        return self.head(moe_forward(self.features(x), self.router, w, self.top_k,
                                     expert_map=expert_map, allowed=allowed))

    def balance_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Switch-Transformer load balance E · Σ_e frac_e · meanprob_e (1 when perfectly balanced)."""
        logits = self.features(x) @ self.router.T
        idx, _ = route(logits, self.top_k)
        frac = torch.bincount(idx.flatten(), minlength=logits.shape[1]).float() / idx.numel()
        return logits.shape[1] * (frac * torch.softmax(logits, -1).mean(0)).sum()


@dataclass
class TrainResult:
    dense_acc: float
    moe_acc: float
    losses: list = field(default_factory=list)


def _batches(n: int, batch: int, g: torch.Generator):
    perm = torch.randperm(n, generator=g)
    return [perm[i:i + batch] for i in range(0, n, batch)]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return float((logits.argmax(-1) == y).float().mean())


def train_upcycled_moe(x_tr, y_tr, x_te, y_te, *, seed: int, d_model: int = 64, d_hidden: int = 64,
                       n_experts: int = 8, top_k: int = 2, dense_epochs: int = 2, moe_epochs: int = 3,
                       batch_size: int = 128, lr: float = 2e-3, upcycle_noise: float = 0.1,
                       balance_coef: float = 0.01) -> tuple[MoEClassifier, TrainResult]:
    """Sparse upcycling, seeded: train a dense model (one expert, k = 1) for ``dense_epochs``, copy its MLP into
    ``n_experts`` experts with Gaussian noise of ``upcycle_noise`` × each tensor's std, then train the MoE
    (fresh router, Adam, load-balance loss × ``balance_coef``) for ``moe_epochs``.

    Upcycling gives the experts a common hidden-unit alignment, as in upcycled MoE LLMs; without it, averaging
    the weights of independently initialised experts mixes unrelated hidden units.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x_tr, x_te = torch.as_tensor(x_tr, dtype=torch.float32), torch.as_tensor(x_te, dtype=torch.float32)
    y_tr, y_te = torch.as_tensor(y_tr), torch.as_tensor(y_te)
    n_cls = int(max(y_tr.max(), y_te.max())) + 1
    dense = MoEClassifier(x_tr.shape[1], n_cls, d_model=d_model, d_hidden=d_hidden, n_experts=1, top_k=1)
    losses = []

    def fit(model, epochs, balance):
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(epochs):
            for b in _batches(len(x_tr), batch_size, g):
                loss = F.cross_entropy(model(x_tr[b]), y_tr[b])
                if balance:
                    loss = loss + balance_coef * model.balance_loss(x_tr[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())

    fit(dense, dense_epochs, False)
    with torch.no_grad():
        dense_acc = accuracy(dense(x_te), y_te)
    moe = MoEClassifier(x_tr.shape[1], n_cls, d_model=d_model, d_hidden=d_hidden, n_experts=n_experts, top_k=top_k)
    with torch.no_grad():
        moe.embed.load_state_dict(dense.embed.state_dict())
        moe.norm.load_state_dict(dense.norm.state_dict())
        moe.head.load_state_dict(dense.head.state_dict())
        for name in ("W1", "b1", "W2", "b2"):
            src = getattr(dense, name)[0]
            std = float(src.std()) if src.numel() > 1 else 0.0
            getattr(moe, name).copy_(src[None] + upcycle_noise * std * torch.randn(n_experts, *src.shape, generator=g))
    fit(moe, moe_epochs, True)
    with torch.no_grad():
        moe_acc = accuracy(moe(x_te), y_te)
    return moe, TrainResult(dense_acc, moe_acc, losses)


# ----------------------------------------------------------------------------------------------------------------
# Sub-MoE: similarity, clustering, joint SVD, merging
# ----------------------------------------------------------------------------------------------------------------
def _check_finite(t: torch.Tensor, name: str) -> None:
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf; remove non-finite values before compressing")


def routing_frequency(x: torch.Tensor, router: torch.Tensor, top_k: int) -> torch.Tensor:
    """f (E,) float64: share of the n·k top-k routing slots of the inputs ``x`` (n, d) that go to each expert."""
    x = torch.as_tensor(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"x must be a non-empty (n, d) matrix of calibration inputs, got shape {tuple(x.shape)}")
    _check_finite(x, "x")
    idx, _ = route(x @ router.T, top_k)
    return torch.bincount(idx.flatten(), minlength=router.shape[0]).double() / idx.numel()


def expert_output_similarity(outputs: torch.Tensor) -> torch.Tensor:
    """S (E, E) float64 with S_ij = (1/n) Σ_x cos(E_i(x), E_j(x)) from ``outputs`` (n, E, d) (a zero output has
    cosine 0 with everything). Computed as F F^T with F_e = vec(rownorm(outputs[:, e])) / √n."""
    o = torch.as_tensor(outputs).double()
    if o.ndim != 3 or o.shape[0] == 0:
        raise ValueError(f"outputs must be (n, E, d) with n ≥ 1, got shape {tuple(o.shape)}")
    _check_finite(o, "outputs")
    feats = output_features(o)
    return feats @ feats.T


def output_features(outputs: torch.Tensor) -> torch.Tensor:
    """F (E, n·d): each expert's row-normalised outputs, flattened, / √n; ‖F_i − F_j‖² = 2 − 2 S_ij when no
    output is zero."""
    o = torch.as_tensor(outputs).double()
    n, e, d = o.shape
    unit = normalize_rows(o.reshape(n * e, d)).reshape(n, e, d)
    return unit.permute(1, 0, 2).reshape(e, n * d) / np.sqrt(n)


def expert_output_similarity_reference(outputs) -> np.ndarray:
    """Loop reference of :func:`expert_output_similarity`."""
    o = np.asarray(outputs, dtype=np.float64)
    n, e, _ = o.shape
    s = np.zeros((e, e))
    for i in range(e):
        for j in range(e):
            acc = 0.0
            for t in range(n):
                a, b = o[t, i], o[t, j]
                na, nb = np.linalg.norm(a), np.linalg.norm(b)
                acc += 0.0 if na == 0 or nb == 0 else float(a @ b) / (na * nb)
            s[i, j] = acc / n
    return s


def cluster_experts(outputs: torch.Tensor, n_clusters: int, *, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """Labels (E,) int in 0..n_clusters-1 (every cluster non-empty) from K-means on :func:`output_features`."""
    from sklearn.cluster import KMeans

    o = torch.as_tensor(outputs)
    if o.ndim != 3:
        raise ValueError(f"outputs must be (n, E, d), got shape {tuple(o.shape)}")
    _check_finite(o, "outputs")
    e = o.shape[1]
    if not 1 <= n_clusters <= e:
        raise ValueError(f"n_clusters must be in 1..{e} (the number of experts), got {n_clusters}")
    feats = output_features(o).numpy()
    labels = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit_predict(feats)
    return _relabel(labels)


def _relabel(labels) -> np.ndarray:
    """Cluster ids renumbered by first appearance (0, 1, …), so results do not depend on K-means' numbering."""
    labels = np.asarray(labels)
    order = {}
    for lab in labels:
        order.setdefault(int(lab), len(order))
    return np.array([order[int(lab)] for lab in labels], dtype=np.int64)


def joint_svd(mats: list[torch.Tensor]):
    """Experts union decomposition: [W_1, …, W_c] = U Σ [V_1; …; V_c]^T for c matrices W_i (p × q).

    Returns U (p, ρ), S (ρ,), and the list of V_i (q, ρ) with ρ = min(p, c·q); float64.
    W_i = U diag(S) V_i^T holds exactly (to round-off).
    """
    if len(mats) == 0:
        raise ValueError("joint_svd needs at least one matrix (an empty cluster has nothing to merge)")
    mats = [torch.as_tensor(m).double() for m in mats]
    shape = mats[0].shape
    if any(m.ndim != 2 or m.shape != shape for m in mats):
        raise ValueError(f"all matrices must be 2-D with the same shape, got {[tuple(m.shape) for m in mats]}")
    for m in mats:
        _check_finite(m, "expert weight")
    a = torch.cat(mats, dim=1)                                            # (p, c·q)
    u, s, vh = torch.linalg.svd(a, full_matrices=False)
    q = shape[1]
    return u, s, [vh[:, i * q:(i + 1) * q].T for i in range(len(mats))]


def subspace_merge(mats: list[torch.Tensor], weights, rank: int | None = None) -> torch.Tensor:
    """Sub-MoE merge of c same-shaped matrices (p × q): U_r diag(S_r) (Σ_i w̃_i V_i[:, :r])^T, w̃ = w / Σ w.

    ``rank`` None = full (ρ); at full rank the result equals Σ_i w̃_i W_i (see the module docstring)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (len(mats),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(mats)} non-negative finite numbers with a positive sum, got {w}")
    u, s, vs = joint_svd(mats)
    r = len(s) if rank is None else int(rank)
    if not 1 <= r <= len(s):
        raise ValueError(f"rank must be in 1..{len(s)}, got {rank}")
    w = w / w.sum()
    v = sum(float(wi) * vi[:, :r] for wi, vi in zip(w, vs))              # frequency-based V merge
    return u[:, :r] @ torch.diag(s[:r]) @ v.T                              # W' = U_r Σ_r V_merged^T


@dataclass
class CompressedMoE:
    """M experts plus how the original E route to them: ``expert_map`` (E,) long (−1 = pruned), ``allowed``
    (E,) bool (None = all)."""

    weights: MoEWeights
    expert_map: torch.Tensor
    allowed: torch.Tensor | None
    labels: np.ndarray | None = None

    @property
    def n_experts(self) -> int:
        return self.weights.n_experts


def prune_experts(w: MoEWeights, freq, n_keep: int) -> CompressedMoE:
    """Keep the ``n_keep`` most frequently routed experts (ties: lower index first); route among them only."""
    f = np.asarray(freq, dtype=np.float64)
    e = w.n_experts
    if f.shape != (e,) or not np.isfinite(f).all():
        raise ValueError(f"freq must be {e} finite numbers, got {f}")
    if not 1 <= n_keep <= e:
        raise ValueError(f"n_keep must be in 1..{e}, got {n_keep}")
    keep = np.sort(np.argsort(-f, kind="stable")[:n_keep])
    emap = torch.full((e,), -1, dtype=torch.long)
    emap[torch.as_tensor(keep)] = torch.arange(n_keep)
    allowed = torch.zeros(e, dtype=torch.bool)
    allowed[torch.as_tensor(keep)] = True
    k = torch.as_tensor(keep)
    return CompressedMoE(MoEWeights(w.W1[k].clone(), w.b1[k].clone(), w.W2[k].clone(), w.b2[k].clone()), emap, allowed)


def merge_experts(w: MoEWeights, labels, freq=None, *, method: str = "sub_moe", rank: int | None = None) -> CompressedMoE:
    """Merge each cluster of ``labels`` (E,) into one expert.

    ``method`` 'average': uniform mean of W1, b1, W2, b2. 'sub_moe': joint SVD per weight family with the shared
    basis on the model side (W2_i: (d, h) as is; W1_i^T: (d, h)) and frequency-weighted V (``freq`` (E,)), at
    ``rank`` (None = full; capped at the joint matrix's rank min(d, |C|·h)); biases frequency-weighted. A cluster of one expert is returned unchanged (to
    round-off). Output float32 like the input.
    """
    if method not in ("average", "sub_moe"):
        raise ValueError(f"method must be 'average' or 'sub_moe', got {method!r}")
    labels = _relabel(labels)
    e = w.n_experts
    if labels.shape != (e,):
        raise ValueError(f"labels must have one entry per expert ({e}), got shape {labels.shape}")
    m = int(labels.max()) + 1
    if method == "sub_moe":
        if freq is None:
            raise ValueError("method 'sub_moe' needs the routing frequencies `freq` (see routing_frequency)")
        f = np.asarray(freq, dtype=np.float64)
        if f.shape != (e,) or not np.isfinite(f).all() or (f < 0).any():
            raise ValueError(f"freq must be {e} non-negative finite numbers, got {f}")
    out = {k: [] for k in ("W1", "b1", "W2", "b2")}
    for c in range(m):
        members = np.flatnonzero(labels == c)
        if method == "average":
            wt = np.full(len(members), 1.0 / len(members))
        else:
            wt = f[members] + 1e-12 if f[members].sum() == 0 else f[members]       # never routed: uniform
        wt = torch.as_tensor(wt / wt.sum())
        if method == "sub_moe":
            rho = min(w.W2.shape[1], len(members) * w.W2.shape[2])               # rank of the joint matrix
            r = None if rank is None else min(int(rank), rho)
            out["W2"].append(subspace_merge([w.W2[i] for i in members], wt.numpy(), r))
            out["W1"].append(subspace_merge([w.W1[i].T for i in members], wt.numpy(), r).T)
        else:
            out["W2"].append(sum(wt[j] * w.W2[i].double() for j, i in enumerate(members)))
            out["W1"].append(sum(wt[j] * w.W1[i].double() for j, i in enumerate(members)))
        out["b1"].append(sum(wt[j] * w.b1[i].double() for j, i in enumerate(members)))
        out["b2"].append(sum(wt[j] * w.b2[i].double() for j, i in enumerate(members)))
    dt = w.W1.dtype
    merged = MoEWeights(*(torch.stack(out[k]).to(dt) for k in ("W1", "b1", "W2", "b2")))
    return CompressedMoE(merged, torch.as_tensor(labels, dtype=torch.long), None, labels)


def compress(model: MoEClassifier, x_cal: torch.Tensor, n_keep: int, method: str, *, seed: int = 0,
             rank: int | None = None, labels=None) -> CompressedMoE:
    """Compress ``model``'s MoE layer to ``n_keep`` experts with ``method`` in :data:`METHODS`, calibrated on
    the raw inputs ``x_cal``; ``labels`` overrides the output-similarity clustering (ablations)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    w = model.weights()
    with torch.no_grad():
        h = model.features(torch.as_tensor(x_cal, dtype=torch.float32))
        freq = routing_frequency(h, model.router.detach(), model.top_k).numpy()
        if method == "prune":
            return prune_experts(w, freq, n_keep)
        if labels is None:
            labels = cluster_experts(expert_outputs(h, w), n_keep, seed=seed)
    return merge_experts(w, labels, freq, method=method, rank=rank)


def compressed_logits(model: MoEClassifier, c: CompressedMoE, x) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.as_tensor(x, dtype=torch.float32), weights=c.weights, expert_map=c.expert_map,
                     allowed=c.allowed)


def moe_output(model: MoEClassifier, x, c: CompressedMoE | None = None) -> torch.Tensor:
    """The MoE layer's output (n, d) for raw inputs ``x``, original (c None) or compressed."""
    with torch.no_grad():
        h = model.features(torch.as_tensor(x, dtype=torch.float32))
        if c is None:
            return moe_forward(h, model.router, model.weights(), model.top_k)
        return moe_forward(h, model.router, c.weights, model.top_k, expert_map=c.expert_map, allowed=c.allowed)
