r"""Swivel (Shazeer, Doherty, Evans & Waterson, arXiv 1602.02215): embeddings from the whole PMI matrix, with a
soft hinge on the unobserved cells; and the count-based / sampling baselines it is compared with.

Counts X (V, V) symmetric (:func:`simrepro.kernels.pmi.cooccurrence`), row sums r_i, column sums c_j, total N.
Swivel fits row vectors w_i and column vectors c̃_j (dim d) so that w_iᵀc̃_j ≈ PMI_ij, with the official code's
smoothed marginals (tensorflow/models research/swivel/swivel.py, ``Model.__init__``):

    t_ij = log X_ij − log(r_i + 1) − log(c_j + 1) + log(N + 1)      (observed, X_ij > 0)
    t*_ij = − log(r_i + 1) − log(c_j + 1) + log(N + 1)              (unobserved: PMI with the count set to 1)
    loss = (1/√(b_r b_c)) Σ_block [ ½ f(X_ij) (w_iᵀc̃_j − t_ij)²        if X_ij > 0
                                     softplus(w_iᵀc̃_j − t*_ij)           if X_ij = 0 ]
    f(x) = f₀ + f₁ x^γ      (official defaults f₀ = 0, f₁ = 1, γ = ½)

the soft hinge penalising a predicted PMI above the upper bound t* that a never-seen pair can have. Training
visits every (row shard × column shard) block of the full matrix once per epoch (shards fixed at the start by a
seeded random permutation, visited in a random order), one optimiser step per block: O(V²·d) per epoch as block
GEMMs. The embedding of word i is w_i + c̃_i. :func:`swivel_loss_reference` evaluates the loss cell by cell.
``hinge=False`` drops the unobserved term (an ablation: observed cells only, same targets and weights).

Baselines: :func:`train_glove_style` (Pennington et al. 2014: observed cells only, Σ f(X)(wᵀc̃ + b + b̃ − log X)²,
f = min(1, (X/x_max)^0.75), Adagrad over shuffled minibatches of cells with the gradients written out,
embedding w + c̃);
:func:`svd_ppmi` (truncated SVD of PPMI with context smoothing α = 0.75, embedding U·√Σ; Levy, Goldberg & Dagan
2015); :func:`train_sgns` (gensim Word2Vec skip-gram with negative sampling, one worker, seeded).

Evaluation: :func:`similarity_spearman` (Spearman ρ of cosine similarity against gold scores over pairs) and
:func:`frequency_bins` (pairs binned by the lower corpus count of their two words).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import torch
from scipy import stats

from simrepro.kernels import pmi as pmi_kernel


# ------------------------------------------------------------------------------------------------ Swivel
def _marginal_logs(X: sp.csr_matrix):
    r = np.asarray(X.sum(axis=1)).ravel()
    c = np.asarray(X.sum(axis=0)).ravel()
    return np.log(r + 1.0), np.log(c + 1.0), float(np.log(r.sum() + 1.0))


def _check_square_counts(counts) -> sp.csr_matrix:
    X = pmi_kernel._check_counts(counts)
    if X.shape[0] != X.shape[1] or X.shape[0] == 0:
        raise ValueError(f"counts must be a non-empty square (V, V) co-occurrence matrix, got shape {X.shape}")
    return X


def swivel_block_loss(Wb: torch.Tensor, Cb: torch.Tensor, Xb: torch.Tensor, log_r: torch.Tensor,
                      log_c: torch.Tensor, log_n: float, *, conf_base: float = 0.0, conf_scale: float = 1.0,
                      conf_exp: float = 0.5, hinge: bool = True) -> torch.Tensor:
    """Swivel's loss on one block: Wb (b_r, d), Cb (b_c, d), dense counts Xb (b_r, b_c), log(r+1) (b_r,),
    log(c+1) (b_c,), log(N+1). Vectorised (module docstring)."""
    pred = Wb @ Cb.T
    observed = Xb > 0
    logx = torch.where(observed, torch.log(torch.where(observed, Xb, torch.ones_like(Xb))), torch.zeros_like(Xb))
    target = logx - log_r[:, None] - log_c[None, :] + log_n          # t (observed) or t* (count 1 → log 1 = 0)
    err = pred - target
    conf = conf_base + conf_scale * Xb.pow(conf_exp)
    l2 = torch.where(observed, 0.5 * conf * err * err, torch.zeros_like(err)).sum()
    loss = l2
    if hinge:
        loss = loss + torch.where(observed, torch.zeros_like(err), torch.nn.functional.softplus(err)).sum()
    return loss / math.sqrt(Xb.shape[0] * Xb.shape[1])


def swivel_loss_reference(W, C, counts, *, conf_base: float = 0.0, conf_scale: float = 1.0, conf_exp: float = 0.5,
                          hinge: bool = True) -> float:
    """Swivel's loss over the whole matrix as one block, cell by cell in Python (float64; tests only)."""
    X = _check_square_counts(counts).toarray()
    W, C = np.asarray(W, np.float64), np.asarray(C, np.float64)
    r, c = X.sum(axis=1), X.sum(axis=0)
    N = r.sum()
    total = 0.0
    for i in range(X.shape[0]):
        for j in range(X.shape[1]):
            p = float(W[i] @ C[j])
            if X[i, j] > 0:
                t = math.log(X[i, j]) - math.log(r[i] + 1) - math.log(c[j] + 1) + math.log(N + 1)
                total += 0.5 * (conf_base + conf_scale * X[i, j] ** conf_exp) * (p - t) ** 2
            elif hinge:
                t = -math.log(r[i] + 1) - math.log(c[j] + 1) + math.log(N + 1)
                total += math.log1p(math.exp(p - t)) if p - t < 30 else p - t
    return total / math.sqrt(X.shape[0] * X.shape[1])


def train_swivel(counts, dim: int = 50, *, epochs: int = 20, block: int = 512, lr: float = 0.05, seed: int = 0,
                 conf_base: float = 0.0, conf_scale: float = 1.0, conf_exp: float = 0.5, hinge: bool = True,
                 dtype=torch.float32, return_losses: bool = False):
    """Swivel embeddings (V, dim) float32 = W + C after ``epochs`` passes over all blocks (Adagrad, ``lr``).
    Initial W, C ~ N(0, 1/dim) (the official σ = 1/√dim). Returns the embeddings, and the per-epoch mean block
    loss when ``return_losses``."""
    X = _check_square_counts(counts)
    if dim < 1 or epochs < 0 or block < 1:
        raise ValueError(f"dim and block must be ≥ 1 and epochs ≥ 0, got {dim}, {block}, {epochs}")
    V = X.shape[0]
    g = torch.Generator().manual_seed(seed)
    sigma = 1.0 / math.sqrt(dim)
    W = (torch.randn(V, dim, generator=g, dtype=dtype) * sigma).requires_grad_()
    C = (torch.randn(V, dim, generator=g, dtype=dtype) * sigma).requires_grad_()
    lr_, lc_, ln_ = _marginal_logs(X)
    log_r, log_c = torch.tensor(lr_, dtype=dtype), torch.tensor(lc_, dtype=dtype)
    Xd = torch.tensor(X.toarray(), dtype=dtype)
    perm = torch.randperm(V, generator=g)
    shards = [perm[s:s + block] for s in range(0, V, block)]
    opt = torch.optim.Adagrad([W, C], lr=lr)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(shards) ** 2, generator=g).tolist()
        tot = 0.0
        for b in order:
            ri, ci = shards[b // len(shards)], shards[b % len(shards)]
            opt.zero_grad()
            loss = swivel_block_loss(W[ri], C[ci], Xd[ri][:, ci], log_r[ri], log_c[ci], ln_, conf_base=conf_base,
                                     conf_scale=conf_scale, conf_exp=conf_exp, hinge=hinge)
            loss.backward()
            opt.step()
            tot += float(loss.detach())
        losses.append(tot / len(order))
    emb = (W + C).detach().numpy().astype(np.float32)
    return (emb, losses) if return_losses else emb


# ----------------------------------------------------------------------------------------------- baselines
def train_glove_style(counts, dim: int = 50, *, epochs: int = 20, lr: float = 0.05, x_max: float = 100.0,
                      power: float = 0.75, batch: int = 65536, seed: int = 0) -> np.ndarray:
    """GloVe's weighted least squares on the observed cells only (module docstring); embeddings W + C̃ (V, dim)."""
    X = _check_square_counts(counts).tocoo()
    V = X.shape[0]
    g = torch.Generator().manual_seed(seed)
    sigma = 1.0 / math.sqrt(dim)
    W = torch.randn(V, dim, generator=g) * sigma
    C = torch.randn(V, dim, generator=g) * sigma
    bw, bc = torch.zeros(V), torch.zeros(V)
    rows, cols = torch.tensor(X.row, dtype=torch.long), torch.tensor(X.col, dtype=torch.long)
    x = torch.tensor(X.data, dtype=torch.float32)
    logx = torch.log(x)
    f = torch.clamp((x / x_max) ** power, max=1.0)
    params = [W.detach(), C.detach(), bw.detach(), bc.detach()]
    acc = [torch.zeros_like(p) for p in params]                      # Adagrad's running sums of g²
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for s in range(0, len(x), batch):
            idx = perm[s:s + batch]
            grads = glove_batch_grads(params, rows[idx], cols[idx], logx[idx], f[idx])
            for p_, a_, g_ in zip(params, acc, grads):                     # Adagrad (torch's update rule)
                a_.add_(g_ * g_)
                p_.sub_(lr * g_ / (a_.sqrt() + 1e-10))
    W, C = params[0], params[1]
    return (W + C).detach().numpy()


def glove_batch_loss(params, i, j, logx, f) -> torch.Tensor:
    """Mean over the batch of f·(w_iᵀc̃_j + b_i + b̃_j − log X_ij)², params = [W, C̃, b, b̃]."""
    W, C, bw, bc = params
    err = (W[i] * C[j]).sum(1) + bw[i] + bc[j] - logx
    return (f * err * err).mean()


def glove_batch_grads(params, i, j, logx, f) -> list[torch.Tensor]:
    """Gradients of :func:`glove_batch_loss` w.r.t. [W, C̃, b, b̃], written out (scatter-adds; tested against
    autograd)."""
    W, C, bw, bc = params
    Wi, Cj = W[i], C[j]
    err = (Wi * Cj).sum(1) + bw[i] + bc[j] - logx                      # wᵀc̃ + b + b̃ − log X
    fe = f * err * (2.0 / len(i))                                       # ∂ mean(f·err²) / ∂ err
    return [torch.zeros_like(W).index_add_(0, i, fe[:, None] * Cj), torch.zeros_like(C).index_add_(0, j, fe[:, None] * Wi),
            torch.zeros_like(bw).index_add_(0, i, fe), torch.zeros_like(bc).index_add_(0, j, fe)]


def svd_ppmi(counts, dim: int = 50, *, alpha: float = 0.75, seed: int = 0) -> np.ndarray:
    """U_d √Σ_d of the PPMI matrix (context smoothing ``alpha``), (V, dim). ARPACK with a seeded start vector."""
    from scipy.sparse.linalg import svds
    P = pmi_kernel.pmi(_check_square_counts(counts), "ppmi", alpha=alpha)
    if not 1 <= dim < min(P.shape):
        raise ValueError(f"dim must be in [1, {min(P.shape) - 1}] for a {P.shape} matrix, got {dim}")
    v0 = np.random.default_rng(seed).standard_normal(min(P.shape))
    U, S, _ = svds(P, k=dim, v0=v0)
    order = np.argsort(-S)
    return (U[:, order] * np.sqrt(S[order])).astype(np.float32)


def train_sgns(sentences: list[list[str]], vocab: list[str], dim: int = 50, *, window: int = 5, epochs: int = 5,
               negative: int = 5, seed: int = 0) -> np.ndarray:
    """gensim Word2Vec skip-gram with negative sampling (1 worker, seeded) on ``sentences``; rows in ``vocab``
    order (V, dim); a vocabulary word gensim did not keep gets a zero row."""
    from gensim.models import Word2Vec
    model = Word2Vec(sentences=sentences, vector_size=dim, window=window, sg=1, negative=negative, min_count=1,
                     workers=1, seed=seed, epochs=epochs)
    out = np.zeros((len(vocab), dim), dtype=np.float32)
    for i, w in enumerate(vocab):
        if w in model.wv.key_to_index:
            out[i] = model.wv[w]
    return out


# ---------------------------------------------------------------------------------------------- evaluation
def pair_cosines(emb: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos(emb[a_k], emb[b_k]) for index arrays a, b (0 where a vector is zero)."""
    E = np.asarray(emb, np.float64)
    n = np.linalg.norm(E, axis=1)
    n[n == 0] = 1.0
    En = E / n[:, None]
    return np.einsum("kd,kd->k", En[np.asarray(a)], En[np.asarray(b)])


def similarity_spearman(emb: np.ndarray, a, b, gold) -> float:
    """Spearman ρ between embedding cosines of the pairs (a_k, b_k) and gold similarity scores."""
    gold = np.asarray(gold, np.float64)
    if len(gold) < 3:
        raise ValueError(f"need at least 3 pairs for a Spearman correlation, got {len(gold)}")
    return float(stats.spearmanr(pair_cosines(emb, a, b), gold).statistic)


def frequency_bins(counts: np.ndarray, a, b, edges) -> np.ndarray:
    """Bin index of each pair by min(count[a_k], count[b_k]) against increasing ``edges`` (np.digitize)."""
    m = np.minimum(np.asarray(counts)[np.asarray(a)], np.asarray(counts)[np.asarray(b)])
    return np.digitize(m, edges)
