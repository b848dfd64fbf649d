"""DisWOT (Dong, Li & Wei, CVPR 2023): rank student architectures for distillation without training.

The score compares a *randomly initialised* teacher with a randomly initialised student on one batch of real
images ``x`` (B, 1, H, W) with labels ``y`` (B,):

* **relation similarity** (official README, ``batch_similarity``): the batch Gram matrix of the flattened
  feature map before global average pooling, ``G = F Fᵀ`` (B, B), each row L2-normalised, and
  ``d_rel = ‖Ĝ_T − Ĝ_S‖_F² / B²``.
* **semantic similarity** (README, ``channel_similarity`` of the classifier-weight gradient, the "Grad-CAM"
  of the fc layer): the official form views the gradients ``g`` (K, C) as K samples of C channels and compares
  the per-class C × C Gram matrices, which needs teacher and student to share the final width C (true of the
  official NAS-Bench-201 cells and ResNet-20 depth variants, not of a width search). We use the width-agnostic
  Gram over the K classes instead: ``G = g gᵀ`` (K, K), rows L2-normalised, ``d_sem = ‖Ĝ_T − Ĝ_S‖_F² / K²``.
  Since ``g = Pᵀ h / B`` (``P`` the softmax residuals (B, K), ``h`` the pooled features (B, C)), ``g gᵀ`` is the
  student's batch Gram of pooled features seen through the class residuals.
* **DisWOT** ``= −(d_sem + d_rel)``: higher = more similar = predicted better student. The official
  ``compute_diswot_procedure`` (exps/parse_nb201_distill.py, line 448) adds the two negated distances; both
  networks get the official N(0, 1) Gaussian initialisation (``network_weight_gaussian_init``, lines 410, 426)
  and BatchNorm uses batch statistics.

Baselines (zero-cost proxies at PyTorch's default initialisation): parameter count, multiply–accumulates,
NWOT (Mellor et al., 2021: log |K_H| of the binary ReLU codes, K = c cᵀ + (1 − c)(1 − c)ᵀ), grad-norm
(Σ over conv/linear layers of ‖∂L/∂W‖₂) and SNIP (Σ |W ⊙ ∂L/∂W|).

Ground truth: vanilla KD, ``loss = γ·CE + α·T²·KL(softmax(t/T) ‖ softmax(s/T))`` with the official CIFAR
script's γ = 0.1, α = 0.9 (scripts/run_cifar_distill.sh, line 47) and T = 4 (train_student.py, line 140).

Cost: ``teacher_probe`` runs the teacher once per initialisation for all students; each student then costs
``n_init`` forward + backward passes on one batch plus O(B² C h w + K² C) for the two Gram matrices.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

KD_T, KD_ALPHA, KD_GAMMA = 4.0, 0.9, 0.1


class CandidateCNN(nn.Module):
    """Plain CNN: for each layer ``conv k×k (stride s, padding k//2) → BatchNorm → ReLU``, then global average
    pooling and a linear classifier ``fc``. (B, in_channels, H, W) → logits (B, n_classes)."""

    def __init__(self, widths, strides, kernel: int = 3, in_channels: int = 1, n_classes: int = 10):
        super().__init__()
        widths, strides = tuple(int(w) for w in widths), tuple(int(s) for s in strides)
        if not widths or len(widths) != len(strides):
            raise ValueError(f"widths and strides must be non-empty and of equal length, got {widths}, {strides}")
        if min(widths) < 1 or min(strides) < 1 or kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"widths and strides must be ≥ 1 and kernel odd ≥ 1, got {widths}, {strides}, {kernel}")
        layers, c = [], in_channels
        for w, s in zip(widths, strides):
            layers += [nn.Conv2d(c, w, kernel, stride=s, padding=kernel // 2, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
            c = w
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(c, n_classes)
        self.config = {"widths": widths, "strides": strides, "kernel": kernel}

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The feature map before global average pooling, (B, C_last, h, w)."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean(dim=(2, 3)))


def student_space(depths=(2, 3, 4), widths=(4, 8, 16), kernels=(3, 5)) -> list[dict]:
    """The grid of student configurations: depth d uses the first d of the widths (w, 2w, 2w, 4w, 4w, …)
    and strides (1, 2, 1, 2, 1, …), so deeper students also downsample more."""
    pattern_w, pattern_s = (1, 2, 2, 4, 4, 8), (1, 2, 1, 2, 1, 2)
    out = []
    for d, w, k in itertools.product(depths, widths, kernels):
        if not 1 <= d <= len(pattern_w):
            raise ValueError(f"depth must be in 1..{len(pattern_w)}, got {d}")
        out.append({"name": f"d{d}-w{w}-k{k}", "widths": tuple(w * m for m in pattern_w[:d]),
                    "strides": pattern_s[:d], "kernel": k})
    return out


def build(cfg: dict, seed: int | None = None) -> CandidateCNN:
    """A ``CandidateCNN`` from a config of ``student_space`` (PyTorch default init, seeded if ``seed`` given)."""
    if seed is not None:
        torch.manual_seed(seed)
    return CandidateCNN(cfg["widths"], cfg["strides"], cfg["kernel"])


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, input_shape=(1, 14, 14)) -> int:
    """Multiply–accumulates of one forward pass on one image: conv (C_in/groups · k_h · k_w · C_out · h_out ·
    w_out) and linear (in · out) layers; BatchNorm, ReLU and pooling are not counted."""
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            total[0] += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            total[0] += mod.in_features * mod.out_features
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0]


def gaussian_init_(model: nn.Module, seed: int) -> nn.Module:
    """The official zero-cost initialisation: conv and linear weights ~ N(0, 1), biases 0, BatchNorm γ = 1,
    β = 0 (``network_weight_gaussian_init``)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d) and m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()
    return model


def _check_features(a: torch.Tensor, b: torch.Tensor, what: str) -> None:
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"{what}: expected (n, ...) tensors with ≥ 2 dims, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape[0] != b.shape[0] or a.shape[0] == 0:
        raise ValueError(f"{what}: teacher and student need the same non-zero number of rows, got {a.shape[0]} and {b.shape[0]}")
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError(f"{what}: features contain NaN or inf; check the inputs and the initialisation")


def gram_distance(f_t: torch.Tensor, f_s: torch.Tensor) -> float:
    """‖Ĝ_T − Ĝ_S‖_F² / n² with G = f fᵀ (n, n) of the rows of f flattened to (n, d) and Ĝ its rows
    L2-normalised (F.normalize, eps 1e-12: an all-zero row of G stays zero). Widths d_T and d_S may differ.
    Computed in float64 (the Gram entries of N(0, 1)-initialised features reach ~1e6)."""
    _check_features(f_t, f_s, "gram_distance")
    n = f_t.shape[0]
    a, b = f_t.reshape(n, -1).double(), f_s.reshape(n, -1).double()
    g_t, g_s = F.normalize(a @ a.T, dim=1), F.normalize(b @ b.T, dim=1)   # README batch_similarity: G = f fᵀ, row-normalised
    return float(((g_t - g_s) ** 2).sum() / (n * n))                      # L2 distance / bsz²


def gram_distance_reference(f_t: torch.Tensor, f_s: torch.Tensor) -> float:
    """Plain loops over rows and columns, float64: the definition of ``gram_distance``."""
    _check_features(f_t, f_s, "gram_distance_reference")
    n = f_t.shape[0]
    a = f_t.reshape(n, -1).double().tolist()
    b = f_s.reshape(n, -1).double().tolist()

    def normalised_gram(rows):
        g = [[sum(p * q for p, q in zip(rows[i], rows[j])) for j in range(n)] for i in range(n)]
        return [[v / max(math.sqrt(sum(u * u for u in row)), 1e-12) for v in row] for row in g]
    ga, gb = normalised_gram(a), normalised_gram(b)
    return sum((ga[i][j] - gb[i][j]) ** 2 for i in range(n) for j in range(n)) / (n * n)


def relation_distance(f_t: torch.Tensor, f_s: torch.Tensor) -> float:
    """d_rel: batch Gram distance of the pre-pooling feature maps (B, C, h, w) of teacher and student."""
    return gram_distance(f_t, f_s)


def semantic_distance(g_t: torch.Tensor, g_s: torch.Tensor) -> float:
    """d_sem: class Gram distance of the classifier-weight gradients (K, C_T) and (K, C_S)."""
    return gram_distance(g_t, g_s)


def _fc_grad_and_features(model: CandidateCNN, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    model.train()
    model.zero_grad(set_to_none=True)
    feat = model.features(x)
    F.cross_entropy(model.fc(feat.mean(dim=(2, 3))), y).backward()
    return model.fc.weight.grad.detach().clone(), feat.detach()


def teacher_probe(teacher: CandidateCNN, x: torch.Tensor, y: torch.Tensor, *, n_init: int = 1,
                  seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The teacher's side of DisWOT, computed once for all students: for each of ``n_init`` Gaussian
    initialisations (seed (seed, i)), the classifier-weight gradient (K, C_T) and the pre-pooling feature map
    (B, C_T, h, w) on the batch (x, y). ``teacher`` is re-initialised in place."""
    if len(x) != len(y) or len(x) < 2:
        raise ValueError(f"need a batch of ≥ 2 images with one label each, got {len(x)} images, {len(y)} labels")
    if n_init < 1:
        raise ValueError(f"n_init must be ≥ 1, got {n_init}")
    return [_fc_grad_and_features(gaussian_init_(teacher, 2 * (seed * 1009 + i)), x, y) for i in range(n_init)]


def diswot_score(probe: list[tuple[torch.Tensor, torch.Tensor]], student: CandidateCNN, x: torch.Tensor,
                 y: torch.Tensor, *, seed: int = 0) -> dict[str, float]:
    """DisWOT of ``student`` against a ``teacher_probe`` made on the same batch (x, y), averaged over the
    probe's initialisations (the student's init i uses seed (seed, i)); ``student`` is re-initialised in place.
    Returns ``semantic`` (−d_sem), ``relation`` (−d_rel) and ``diswot`` (their sum); higher = better."""
    if not probe:
        raise ValueError("probe is empty: build it with teacher_probe(teacher, x, y, n_init=...)")
    if len(x) != len(y) or len(x) != probe[0][1].shape[0]:
        raise ValueError(f"the batch must be the probe's: got {len(x)} images, {len(y)} labels, "
                         f"probe batch {probe[0][1].shape[0]}")
    sem, rel = [], []
    for i, (g_t, f_t) in enumerate(probe):
        g_s, f_s = _fc_grad_and_features(gaussian_init_(student, 2 * (seed * 1009 + i) + 1), x, y)
        sem.append(-semantic_distance(g_t, g_s))
        rel.append(-relation_distance(f_t, f_s))
    s, r = float(np.mean(sem)), float(np.mean(rel))
    return {"semantic": s, "relation": r, "diswot": s + r}


def nwot_score(model: nn.Module, x: torch.Tensor) -> float:
    """NWOT (Mellor et al., ICML 2021): log|K_H|, K_H = Σ_ReLU [c cᵀ + (1 − c)(1 − c)ᵀ] with c the binary
    codes (input > 0) of every ReLU's input flattened per image; K_H (B, B) in float64."""
    if len(x) < 2:
        raise ValueError(f"NWOT needs a batch of ≥ 2 images, got {len(x)}")
    k = torch.zeros(len(x), len(x), dtype=torch.float64)

    def hook(mod, inp, out):
        c = (inp[0].detach().reshape(len(x), -1) > 0).double()
        k.add_(c @ c.T + (1 - c) @ (1 - c).T)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    model.train()
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(k)
    return float(logdet) if sign > 0 else float("-inf")


def _weight_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def grad_scores(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """grad-norm Σ_l ‖∂L/∂W_l‖₂ and SNIP Σ_l Σ |W_l ⊙ ∂L/∂W_l| over conv and linear weights, L = CE on (x, y)."""
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    layers = _weight_layers(model)
    gn = sum(float(m.weight.grad.norm()) for m in layers)
    snip = sum(float((m.weight.detach() * m.weight.grad).abs().sum()) for m in layers)
    model.zero_grad(set_to_none=True)
    return {"grad_norm": gn, "snip": snip}


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, y: torch.Tensor, *,
            T: float = KD_T, alpha: float = KD_ALPHA, gamma: float = KD_GAMMA) -> torch.Tensor:
    """γ·CE(s, y) + α·T²·KL(softmax(t/T) ‖ softmax(s/T)) (Hinton et al., 2015), batch mean."""
    kl = F.kl_div(F.log_softmax(student_logits / T, dim=1), F.log_softmax(teacher_logits / T, dim=1),
                  reduction="batchmean", log_target=True)
    return gamma * F.cross_entropy(student_logits, y) + alpha * T * T * kl


def kd_train(student: nn.Module, x: torch.Tensor, y: torch.Tensor, teacher_logits: torch.Tensor, *,
             epochs: int = 1, batch_size: int = 128, lr: float = 0.05, seed: int = 0) -> float:
    """Distil into ``student`` with SGD (momentum 0.9, weight decay 5e-4, cosine schedule) on precomputed
    teacher logits (the teacher is fixed and the data are not augmented, so its logits do not change).
    Returns the wall-clock seconds of the training loop."""
    if not (len(x) == len(y) == len(teacher_logits)) or len(x) == 0:
        raise ValueError(f"x, y and teacher_logits must be non-empty and aligned, got {len(x)}, {len(y)}, {len(teacher_logits)}")
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(student.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    student.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = kd_loss(student(x[idx]), teacher_logits[idx], y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    student.eval()
    return time.perf_counter() - t0


@torch.no_grad()
def logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    model.eval()
    return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in eval mode."""
    return float((logits(model, x).argmax(1) == y).double().mean())


def top1_regret(scores, acc) -> float:
    """Accuracy of the best candidate minus that of the candidate the proxy ranks first (ties in the score:
    the mean accuracy of the tied top candidates)."""
    scores, acc = np.asarray(scores, float), np.asarray(acc, float)
    if scores.shape != acc.shape or scores.size == 0 or np.isnan(scores).any():
        raise ValueError("scores and accuracies must be non-empty, aligned and free of NaN")
    top = scores == scores.max()
    return float(acc.max() - acc[top].mean())
