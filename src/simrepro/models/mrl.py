r"""Dual encoders over frozen text embeddings: a vector model (dot product) and a multivariate one (MRL,
Zamani & Bendersky SIGIR 2023) that maps each input to a diagonal Gaussian N(μ, diag σ²) and scores a
(query, document) pair by −KL(q‖d).

Both are trained with InfoNCE over in-batch negatives: for a batch of B (query, relevant document) pairs the
loss is the cross-entropy of the (B, B) score matrix against the diagonal. The MRL score matrix is computed
with the inner-product identity of :mod:`simrepro.methods.search.kl_retrieval` (−KL = ⟨a(q), b(d)⟩ + c(q)), the same
one used to serve the model through MIPS; log-variances are squashed to [−6, 6] (tanh) for stability.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("vector", "mrl")
_LOGVAR_RANGE = 6.0
INITIAL_SCALE = 20.0     # 1/temperature at initialisation, the same for both models (see DualEncoder)


class _ResidualTower(nn.Module):
    """μ = x + W₂ relu(W₁ x) (and log σ² = V₂ relu(W₁ x) + b for MRL), with W₂, V₂ initialised to zero:
    training starts from the frozen features themselves (μ = x, σ² = e^{b₀}) instead of a random projection."""

    def __init__(self, d_in: int, hidden: int, with_variance: bool, logvar0: float = 0.0):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU())
        self.mean = nn.Linear(hidden, d_in)
        self.logvar = nn.Linear(hidden, d_in) if with_variance else None
        for head in (self.mean, self.logvar):
            if head is not None:
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)
        if self.logvar is not None:
            nn.init.constant_(self.logvar.bias, _LOGVAR_RANGE * math.atanh(logvar0 / _LOGVAR_RANGE))

    def forward(self, x: torch.Tensor):
        h = self.hidden(x)
        mu = x + self.mean(h)
        if self.logvar is None:
            return mu, None
        return mu, _LOGVAR_RANGE * torch.tanh(self.logvar(h) / _LOGVAR_RANGE)


class DualEncoder(nn.Module):
    """Query and document residual towers over d_in-dimensional frozen features; ``kind='mrl'`` adds a
    log-variance head per tower. Representations keep the input dimension.

    Both models start from the frozen features' cosine ranking at the same sharpness: the vector score is
    s·(μ_q·μ_d) with a learnable s = INITIAL_SCALE at first; MRL starts with σ² = 1/INITIAL_SCALE for queries
    and documents, where −KL(q‖d) = −(INITIAL_SCALE/2)·‖μ_q − μ_d‖² + const = INITIAL_SCALE·(μ_q·μ_d) + const
    for unit-norm inputs."""

    def __init__(self, kind: str, d_in: int, hidden: int):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        self.kind = kind
        logvar0 = -math.log(INITIAL_SCALE)
        self.query_tower = _ResidualTower(d_in, hidden, kind == "mrl", logvar0)
        self.doc_tower = _ResidualTower(d_in, hidden, kind == "mrl", logvar0)
        self.log_scale = nn.Parameter(torch.tensor(math.log(INITIAL_SCALE))) if kind == "vector" else None

    def encode_queries(self, x: torch.Tensor):
        """(n, d_in) → μ (n, d_in) and log σ² (n, d_in) (None for the vector model)."""
        return self.query_tower(x)

    def encode_docs(self, x: torch.Tensor):
        return self.doc_tower(x)

    def scores(self, xq: torch.Tensor, xd: torch.Tensor) -> torch.Tensor:
        """(nq, nd) score matrix: s·(μ_q·μ_d) (vector) or −KL(q‖d) (mrl)."""
        mq, lq = self.encode_queries(xq)
        md, ld = self.encode_docs(xd)
        if self.kind == "vector":
            return self.log_scale.exp() * (mq @ md.T)
        return neg_kl_scores(mq, lq, md, ld)


def neg_kl_scores(mu_q, logvar_q, mu_d, logvar_d) -> torch.Tensor:
    """−KL(qᵢ‖dⱼ) for diagonal Gaussians, (nq, k) × (nd, k) → (nq, nd), via ⟨a(q), b(d)⟩ + c(q)."""
    var_q, inv_var_d = logvar_q.exp(), (-logvar_d).exp()
    a = torch.cat([torch.ones_like(mu_q[:, :1]), var_q + mu_q**2, -2.0 * mu_q], dim=1) * -0.5
    b = torch.cat([(logvar_d + mu_d**2 * inv_var_d).sum(1, keepdim=True), inv_var_d, mu_d * inv_var_d], dim=1)
    return a @ b.T + 0.5 * (logvar_q + 1.0).sum(1, keepdim=True)


def train_dual_encoder(kind: str, query_emb: np.ndarray, doc_emb: np.ndarray, pairs: np.ndarray, *,
                       hidden: int = 256, epochs: int = 5, batch_size: int = 256,
                       lr: float = 1e-3, seed: int = 0) -> tuple[DualEncoder, list[float]]:
    """Train on (query row, document row) ``pairs`` (m, 2) with in-batch-negative InfoNCE; returns the model
    (eval mode) and the mean loss per epoch."""
    pairs = np.asarray(pairs)
    if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] < 2:
        raise ValueError(f"pairs must be an (m ≥ 2, 2) array of (query, document) indices, got {pairs.shape}")
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = DualEncoder(kind, query_emb.shape[1], hidden)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xq, xd = torch.as_tensor(query_emb, dtype=torch.float32), torch.as_tensor(doc_emb, dtype=torch.float32)
    p = torch.as_tensor(pairs, dtype=torch.long)
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(p), generator=gen)
        losses = []
        for start in range(0, len(p) - 1, batch_size):
            batch = p[order[start:start + batch_size]]
            logits = model.scores(xq[batch[:, 0]], xd[batch[:, 1]])
            loss = F.cross_entropy(logits, torch.arange(len(batch)))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        history.append(float(np.mean(losses)))
    model.eval()
    return model, history


@torch.no_grad()
def encode(model: DualEncoder, x: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray | None]:
    """numpy μ and σ² (None for the vector model) of queries (``side='query'``) or documents (``'doc'``)."""
    t = torch.as_tensor(x, dtype=torch.float32)
    mu, logvar = model.encode_queries(t) if side == "query" else model.encode_docs(t)
    return mu.double().numpy(), None if logvar is None else logvar.double().exp().numpy()
