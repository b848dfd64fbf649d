r"""NTK overlap between tasks and projected-gradient continual learning (Doan, Bennani, Mazoure, Rabusseau &
Alquier, "A Theoretical Analysis of Catastrophic Forgetting through the NTK Overlap Matrix", AISTATS 2021,
arXiv 2010.04003; official code github.com/tldoan/PCA-OGD).

Notation. A network f(x; θ) with p parameters and C outputs. For a task τ with examples (x_i, y_i), i < n, the
NTK feature map used by OGD is the gradient of the ground-truth logit (the official ``_get_new_ogd_basis`` in
``algos/ogd.py`` back-propagates ``out[0, target]``):

    φ_τ(x_i) = ∇_θ f_{y_i}(x_i; θ) ∈ R^p,     Φ_τ = [φ_τ(x_1); …; φ_τ(x_n)] ∈ R^{n×p}.

- NTK overlap (paper, Sec. 4): O^{τ1→τ2} = Φ_{τ1} Φ_{τ2}ᵀ ∈ R^{n1×n2}. Normalised by the two Gram matrices its
  singular values are the cosines of the principal angles between the row spaces of Φ_{τ1} and Φ_{τ2}.
  :func:`principal_cosines` computes them on the top-k right singular subspaces (k-dim each):
  cos θ_j = σ_j(Q₁ᵀ Q₂), Q_τ ∈ R^{p×k} orthonormal; :func:`overlap_score` = mean_j cos² θ_j ∈ [0, 1].
- OGD (Farajtabar et al. 2019): store φ vectors of earlier tasks, orthonormalise them (Gram–Schmidt) into
  Q ∈ R^{p×m} and train with the projected gradient g̃ = g − Q(Qᵀg).
- PCA-OGD (paper, Alg. 1): of ``pca_sample`` stored φ vectors keep the top-k principal directions (centred PCA,
  the official ``torch.pca_lowrank(..., q=memory_size, center=True)`` in ``update_mem``), then orthonormalise.

Shapes: gradient matrices are (n, p) float32/float64 torch tensors, bases (p, m). Costs: per-example gradients
O(n·p) memory; PCA O(n²·p) via the n×n Gram; projection O(p·m) per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from simrepro.kernels import pairwise_similarity


def _check_matrix(g, name: str) -> torch.Tensor:
    if not isinstance(g, torch.Tensor):
        g = torch.as_tensor(np.asarray(g))
    if g.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, p) matrix of gradients, got shape {tuple(g.shape)}")
    if not g.is_floating_point():
        g = g.to(torch.float64)
    if not torch.isfinite(g).all():
        raise ValueError(f"{name} contains NaN or inf; check the model and inputs (e.g. a diverged training run)")
    return g


# ----------------------------------------------------------------------------------------------- the model
def make_mlp(d_in: int = 784, hidden: int = 100, n_out: int = 10, depth: int = 2, seed: int = 0) -> nn.Sequential:
    """The official MNIST MLP shape: ``depth`` hidden ReLU layers of width ``hidden`` (100), seeded init."""
    torch.manual_seed(seed)
    layers, d = [], d_in
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), nn.ReLU()]
        d = hidden
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# ------------------------------------------------------------------------------ per-example logit gradients
def logit_grads_reference(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Plain reference: one backward pass per example of f_{y_i}(x_i), as the official code does (batch 1).
    Returns Φ (n, p)."""
    x, y = torch.as_tensor(x), torch.as_tensor(y).long()
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]} labels")
    params = list(model.parameters())
    rows = []
    for i in range(x.shape[0]):
        out = model(x[i:i + 1])[0, int(y[i])]
        gs = torch.autograd.grad(out, params)
        rows.append(torch.cat([g.reshape(-1) for g in gs]))
    p = sum(q.numel() for q in params)
    return torch.stack(rows) if rows else torch.empty((0, p), dtype=params[0].dtype)


def logit_grads(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    """Fast path: the same Φ (n, p) with ``torch.func.vmap(grad(...))`` over chunks of examples."""
    from torch.func import functional_call, grad, vmap

    x, y = torch.as_tensor(x), torch.as_tensor(y).long()
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x has {x.shape[0]} rows but y has {y.shape[0]} labels")
    names = [n for n, _ in model.named_parameters()]
    params = {n: p.detach() for n, p in model.named_parameters()}
    p_total = sum(v.numel() for v in params.values())
    if x.shape[0] == 0:
        return torch.empty((0, p_total), dtype=next(iter(params.values())).dtype)

    def f(ps, xi, yi):
        return functional_call(model, ps, (xi[None],))[0].gather(0, yi[None])[0]

    gfn = vmap(grad(f), in_dims=(None, 0, 0))
    out = []
    for s in range(0, x.shape[0], chunk):
        gs = gfn(params, x[s:s + chunk], y[s:s + chunk])
        out.append(torch.cat([gs[n].reshape(gs[n].shape[0], -1) for n in names], dim=1))
    return torch.cat(out)


# ------------------------------------------------------------------------------------------ bases, PCA
def extend_basis(q: torch.Tensor | None, v: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """Orthonormal Q' (p, m + r) whose span is span(Q) ⊕ span(columns of v (p, k)); fast path: two passes of
    block Gram–Schmidt against Q, then a thin SVD of the residual; directions whose singular value is below ``rtol``·max‖v_j‖ are dropped
    (linearly dependent vectors add nothing). The official ``orthonormalize`` does not drop them."""
    v = _check_matrix(v, "v")
    if q is None:
        q = torch.empty((v.shape[0], 0), dtype=v.dtype)
    if q.shape[0] != v.shape[0]:
        raise ValueError(f"basis has {q.shape[0]} rows but the new vectors have {v.shape[0]}")
    if v.shape[1] == 0:
        return q
    scale = float(v.norm(dim=0).max())
    if scale == 0.0:
        return q
    r = v - q @ (q.T @ v)
    r = r - q @ (q.T @ r)                                  # second pass: "twice is enough" (Kahan/Parlett)
    u, s, _ = torch.linalg.svd(r, full_matrices=False)     # orthonormal basis of the residual's span
    keep_n = int((s > rtol * scale).sum())
    return torch.cat([q, u[:, :keep_n]], dim=1)


def extend_basis_reference(q: torch.Tensor | None, v: torch.Tensor, rtol: float = 1e-6) -> torch.Tensor:
    """Plain modified Gram–Schmidt, one vector at a time, in float64 (the definition)."""
    v = _check_matrix(v, "v").to(torch.float64)
    cols = [] if q is None else [q[:, j].to(torch.float64) for j in range(q.shape[1])]
    scale = float(v.norm(dim=0).max()) if v.shape[1] else 0.0
    for j in range(v.shape[1]):
        w = v[:, j].clone()
        for _ in range(2):
            for c in cols:
                w = w - (c @ w) * c
        nrm = float(w.norm())
        if scale > 0 and nrm > rtol * scale:
            cols.append(w / nrm)
    return torch.stack(cols, dim=1) if cols else torch.empty((v.shape[0], 0), dtype=torch.float64)


def pca_directions(g: torch.Tensor, k: int, center: bool = True) -> torch.Tensor:
    """Top-k principal directions (p, k) of the rows of g (n, p), via the n×n Gram (n ≪ p):
    G_c G_cᵀ = U Λ Uᵀ, directions V = G_cᵀ U Λ^{-1/2} (paper Alg. 1: PCA of the stored feature vectors)."""
    g = _check_matrix(g, "g")
    if k < 0:
        raise ValueError(f"k must be ≥ 0, got {k}")
    gc = g - g.mean(0, keepdim=True) if center else g
    gram = (gc @ gc.T).to(torch.float64)
    lam, u = torch.linalg.eigh(gram)
    order = torch.argsort(lam, descending=True)
    lam, u = lam[order], u[:, order]
    tol = max(gram.shape) * torch.finfo(torch.float64).eps * float(lam[0]) if lam.numel() else 0.0
    kk = int(min(k, int((lam > tol).sum())))
    v = gc.to(torch.float64).T @ u[:, :kk] / lam[:kk].sqrt()
    return v.to(g.dtype)


def pca_directions_reference(g: torch.Tensor, k: int, center: bool = True) -> torch.Tensor:
    """Reference: right singular vectors of the (centred) data matrix from a full float64 SVD."""
    g = _check_matrix(g, "g").to(torch.float64)
    gc = g - g.mean(0, keepdim=True) if center else g
    _, s, vh = torch.linalg.svd(gc, full_matrices=False)
    tol = gc.shape[0] * torch.finfo(torch.float64).eps * float(s[0]) ** 2 if s.numel() else 0.0
    kk = int(min(k, int((s ** 2 > tol).sum())))
    return vh[:kk].T


def project_out(grad: torch.Tensor, q: torch.Tensor | None) -> torch.Tensor:
    """g̃ = g − Q(Qᵀg): the component of g orthogonal to span(Q) (Q orthonormal, (p, m))."""
    if q is None or q.shape[1] == 0:
        return grad
    return grad - q @ (q.T @ grad)


# ------------------------------------------------------------------------------------------- the overlap
def principal_cosines(a: torch.Tensor, b: torch.Tensor, k: int) -> torch.Tensor:
    """Cosines (descending) of the principal angles between the top-k right singular subspaces of a (n1, p)
    and b (n2, p): σ(Q_aᵀ Q_b), each Q the uncentred top-k right singular vectors."""
    a, b = _check_matrix(a, "a"), _check_matrix(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of columns (parameters): {a.shape[1]} vs {b.shape[1]}")
    qa = pca_directions(a, k, center=False).to(torch.float64)
    qb = pca_directions(b, k, center=False).to(torch.float64)
    if qa.shape[1] == 0 or qb.shape[1] == 0:
        return torch.zeros(0, dtype=torch.float64)
    return torch.linalg.svdvals(qa.T @ qb).clamp(0.0, 1.0)


def overlap_score(a: torch.Tensor, b: torch.Tensor, k: int) -> float:
    """Mean squared cosine of the k principal angles (1 = same subspace, 0 = orthogonal)."""
    c = principal_cosines(a, b, k)
    return float((c ** 2).sum() / max(1, k))


def mean_abs_cross_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean |cos(φ_i, φ'_j)| over the n1×n2 normalised cross-NTK (entry-wise, the normalised O^{τ1→τ2})."""
    return float(pairwise_similarity(_check_matrix(a, "a"), _check_matrix(b, "b"), "cosine").abs().mean())


# ------------------------------------------------------------------------------------------- training
@dataclass
class Task:
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def rotate_images(x: np.ndarray, angle: float, side: int = 28) -> np.ndarray:
    """Rotate flattened (n, side²) images by ``angle`` degrees (bilinear, zero fill), as Rotated MNIST."""
    from scipy.ndimage import rotate
    if x.ndim != 2 or x.shape[1] != side * side:
        raise ValueError(f"x must be (n, {side * side}) flattened images, got {x.shape}")
    if angle == 0:
        return x.copy()
    imgs = rotate(x.reshape(-1, side, side), angle, axes=(1, 2), reshape=False, order=1, mode="constant")
    return imgs.reshape(x.shape[0], -1).astype(x.dtype)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def train_task(model: nn.Module, task: Task, *, epochs: int, batch_size: int, lr: float, seed: int,
               basis: torch.Tensor | None = None) -> None:
    """Plain SGD on cross-entropy; with ``basis`` (p, m) orthonormal, each flattened gradient is projected onto
    its orthogonal complement before the step (OGD / PCA-OGD)."""
    params = list(model.parameters())
    gen = torch.Generator().manual_seed(seed)
    n = task.x_train.shape[0]
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch_size):
            idx = perm[s:s + batch_size]
            loss = loss_fn(model(task.x_train[idx]), task.y_train[idx])
            gs = torch.autograd.grad(loss, params)
            g = torch.cat([t.reshape(-1) for t in gs])
            if not torch.isfinite(g).all():
                raise FloatingPointError("non-finite gradient: lower the learning rate")
            g = project_out(g, basis)
            with torch.no_grad():
                off = 0
                for p in params:
                    k = p.numel()
                    p.sub_(lr * g[off:off + k].view_as(p))
                    off += k


def memory_vectors(model: nn.Module, task: Task, method: str, memory: int, pca_sample: int, seed: int) -> torch.Tensor:
    """The (p, ≤ memory) vectors a method stores after a task: OGD the gradients φ of ``memory`` random training
    examples; PCA-OGD the top-``memory`` principal directions of φ over ``pca_sample`` random examples."""
    gen = torch.Generator().manual_seed(seed)
    n = task.x_train.shape[0]
    if method == "ogd":
        idx = torch.randperm(n, generator=gen)[:memory]
        return logit_grads(model, task.x_train[idx], task.y_train[idx]).T
    if method == "pca_ogd":
        idx = torch.randperm(n, generator=gen)[:pca_sample]
        return pca_directions(logit_grads(model, task.x_train[idx], task.y_train[idx]), memory, center=True)
    raise ValueError(f"method must be 'ogd' or 'pca_ogd', got {method!r}")


def run_sequence(tasks: list[Task], method: str, *, seed: int, epochs: int, batch_size: int, lr: float,
                 memory: int, pca_sample: int, hidden: int = 100) -> np.ndarray:
    """Train one MLP on ``tasks`` in order with ``method`` in {sgd, ogd, pca_ogd}; returns the accuracy matrix
    R (T, T): R[i, j] = test accuracy on task j after training on task i."""
    if method not in ("sgd", "ogd", "pca_ogd"):
        raise ValueError(f"method must be sgd, ogd or pca_ogd, got {method!r}")
    model = make_mlp(tasks[0].x_train.shape[1], hidden, int(tasks[0].y_train.max()) + 1, seed=seed)
    basis = None
    T = len(tasks)
    acc = np.zeros((T, T))
    for i, t in enumerate(tasks):
        train_task(model, t, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed * 1000 + i, basis=basis)
        for j, u in enumerate(tasks):
            acc[i, j] = accuracy(model, u.x_test, u.y_test)
        if method != "sgd" and i < T - 1:
            v = memory_vectors(model, t, method, memory, pca_sample, seed * 1000 + i)
            basis = extend_basis(basis, v)
    return acc


def forgetting(acc: np.ndarray) -> float:
    """Average forgetting over the first T−1 tasks: mean_j (max_{i<T-1} R[i, j] − R[T−1, j]) (Chaudhry et al.)."""
    T = acc.shape[0]
    if T < 2:
        raise ValueError("forgetting needs at least two tasks")
    return float(np.mean([acc[j:T - 1, j].max() - acc[T - 1, j] for j in range(T - 1)]))


def rotated_mnist_task(x: np.ndarray, y: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray, angle: float,
                       label_shift: int = 0, pool: int = 2) -> Task:
    """Rotated MNIST task: images (n, 784) in [0, 255] rotated by ``angle`` degrees at 28×28, then average-pooled
    ``pool``×``pool`` (pool=2: 14×14 inputs, to keep the per-step projection cheap on a CPU) and scaled to [0, 1];
    labels shifted by ``label_shift`` mod 10 (0 = the benchmark; ≠ 0 makes task 2's targets disagree with task 1)."""
    def prep(idx):
        r = rotate_images(x[idx].astype(np.float32), angle)
        if pool > 1:
            s = 28 // pool
            r = r.reshape(-1, s, pool, s, pool).mean(axis=(2, 4)).reshape(len(idx), -1)
        return torch.tensor(r / 255.0, dtype=torch.float32), torch.tensor((y[idx] + label_shift) % 10, dtype=torch.long)
    xtr, ytr = prep(train_idx)
    xte, yte = prep(test_idx)
    return Task(xtr, ytr, xte, yte)
