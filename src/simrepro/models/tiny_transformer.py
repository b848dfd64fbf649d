"""A tiny pre-LayerNorm transformer whose attention is a plug-in, and a seeded CPU training loop for it.

The model never computes attention itself: ``attention(q, k, v, causal=..., key_mask=...)`` receives the
projected heads q, k, v of shape (B, H, N, d_head) and returns (B, H, N, d_head), with ``key_mask`` (B, N) bool
(True = a real token) or None — the contract of ``simrepro.kernels.attention`` (softmax, linear, flow
attention) and of any variant a paper defines. So one model and one loop serve every attention of a comparison:
only the callable changes.

Architecture: token embedding + learned positional embedding → ``n_layers`` × [x + Attn(LN(x)),
x + MLP(LN(x))] (GELU MLP of width ``d_ff``) → LN → head. ``pool="mean"``: mean over the real tokens →
(B, n_classes) (sequence classification, LRA-style); ``pool="none"``: per-position logits (B, N, n_classes)
(language modelling, associative recall; targets −100 are ignored).

Training (:func:`train_model`): AdamW with linear warm-up then cosine decay, gradient clipping at 1, fixed
number of epochs, batches drawn by a seeded permutation; the model is built inside after ``torch.manual_seed``,
so (model_fn, data, seed) fixes the result on a given machine and thread count. Evaluation is the last epoch's
model (no selection on the test set); the test curve per epoch is recorded for the figure only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

AttentionFn = Callable[..., torch.Tensor]


class _Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, attention: AttentionFn, causal: bool, dropout: float):
        super().__init__()
        self.n_heads, self.attention, self.causal = n_heads, attention, causal
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, key_mask: torch.Tensor | None) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, N, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)
        a = self.attention(q, k, v, causal=self.causal, key_mask=key_mask)       # (B, H, N, d_head)
        x = x + self.drop(self.out(a.transpose(1, 2).reshape(B, N, D)))
        return x + self.drop(self.mlp(self.ln2(x)))


class TinyTransformer(nn.Module):
    """tokens (B, N) int64 (+ key_mask (B, N) bool) → logits (B, n_classes) or (B, N, n_classes)."""

    def __init__(self, vocab_size: int, n_classes: int, attention: AttentionFn, *, d_model: int = 64,
                 n_heads: int = 4, n_layers: int = 2, d_ff: int = 128, max_len: int = 512, causal: bool = False,
                 pool: str = "mean", dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be a multiple of n_heads ({n_heads})")
        if pool not in ("mean", "none"):
            raise ValueError(f"pool must be 'mean' or 'none', got {pool!r}")
        self.pool, self.max_len = pool, max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(max_len, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, d_ff, attention, causal, dropout) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def forward(self, tokens: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        N = tokens.shape[1]
        if N > self.max_len:
            raise ValueError(f"sequence of {N} tokens exceeds max_len={self.max_len}; build the model with a larger "
                             f"max_len")
        x = self.embed(tokens) + self.pos.weight[:N]
        for block in self.blocks:
            x = block(x, key_mask)
        x = self.ln(x)
        if self.pool == "none":
            return self.head(x)
        if key_mask is None:
            return self.head(x.mean(1))
        w = key_mask.to(x.dtype)[..., None]
        return self.head((x * w).sum(1) / w.sum(1).clamp_min(1.0))


@dataclass
class TrainResult:
    """step_loss: training loss of every step; epoch_loss: mean training loss per epoch; test_acc_curve: test
    accuracy after each epoch (for the figure); test_acc / train_acc: of the final model; seconds: training
    wall time (excluding evaluation)."""
    step_loss: list[float] = field(default_factory=list)
    epoch_loss: list[float] = field(default_factory=list)
    test_acc_curve: list[float] = field(default_factory=list)
    test_acc: float = float("nan")
    train_acc: float = float("nan")
    seconds: float = 0.0


def _mask_from_lengths(lengths: torch.Tensor, N: int) -> torch.Tensor:
    return torch.arange(N)[None, :] < lengths[:, None]


def _batches(lengths: torch.Tensor, batch_size: int, gen: torch.Generator, bucket: int) -> list[torch.Tensor]:
    """One epoch of index batches: a seeded permutation, runs of ``bucket`` batches sorted by length (stable),
    then the batches in a seeded random order."""
    perm = torch.randperm(len(lengths), generator=gen)
    span = batch_size * max(1, bucket)
    out = []
    for s in range(0, len(perm), span):
        chunk = perm[s:s + span]
        if bucket > 1:
            chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        out += list(chunk.split(batch_size))
    order = torch.randperm(len(out), generator=gen) if bucket > 1 else range(len(out))
    return [out[i] for i in order]


@torch.no_grad()
def accuracy(model: nn.Module, tokens, lengths, targets, *, batch_size: int = 256, use_mask: bool = True) -> float:
    """Share of correct predictions (targets −100 are ignored) of ``model`` in eval mode."""
    model.eval()
    tokens, lengths, targets = (torch.as_tensor(np.asarray(a)) for a in (tokens, lengths, targets))
    order = torch.argsort(lengths, stable=True)                 # similar lengths together: less padding
    correct = total = 0
    for s in range(0, len(tokens), batch_size):
        idx = order[s:s + batch_size]
        t, ln, y = tokens[idx], lengths[idx], targets[idx]
        n = int(ln.max())
        t = t[:, :n]
        y = y[:, :n] if y.ndim == 2 else y
        logits = model(t, _mask_from_lengths(ln, n) if use_mask else None)
        keep = y != -100
        correct += int((logits.argmax(-1)[keep] == y[keep]).sum())
        total += int(keep.sum())
    return correct / max(total, 1)


def train_model(model_fn: Callable[[], nn.Module], train: tuple, test: tuple, *, seed: int, epochs: int = 10,
                batch_size: int = 64, lr: float = 3e-3, weight_decay: float = 0.01, warmup_frac: float = 0.1,
                use_mask: bool = True, eval_every_epoch: bool = True, bucket: int = 16) -> tuple[nn.Module, TrainResult]:
    """Build ``model_fn()`` under ``torch.manual_seed(seed)`` and train it on ``train`` = (tokens (n, N) int,
    lengths (n,) int, targets (n,) or (n, N) int); report accuracy on ``test`` (same layout). Each batch is cut
    to its longest sequence; ``use_mask=False`` feeds no key mask (padding then counts as tokens). ``bucket`` > 1
    sorts each run of ``bucket`` batches of a seeded permutation by length before cutting them into batches (less
    padding, the same examples per epoch); 1 = plain shuffled batches."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be ≥ 1, got {epochs}, {batch_size}")
    tokens, lengths, targets = (torch.as_tensor(np.asarray(a)) for a in train)
    if not (len(tokens) == len(lengths) == len(targets)) or len(tokens) == 0:
        raise ValueError(f"train arrays must be non-empty and of equal length, got {len(tokens)}, {len(lengths)}, "
                         f"{len(targets)}")
    torch.manual_seed(seed)
    model = model_fn()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(tokens) / batch_size)
    total = epochs * steps_per_epoch
    warm = max(1, int(warmup_frac * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))
    gen = torch.Generator().manual_seed(seed)
    res = TrainResult()
    for _ in range(epochs):
        model.train()
        start = time.perf_counter()
        losses = []
        for idx in _batches(lengths, batch_size, gen, bucket):
            ln = lengths[idx]
            n = int(ln.max())
            t, y = tokens[idx, :n], targets[idx]
            y = y[:, :n] if y.ndim == 2 else y
            logits = model(t, _mask_from_lengths(ln, n) if use_mask else None)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        res.seconds += time.perf_counter() - start
        res.step_loss += losses
        res.epoch_loss.append(float(np.mean(losses)))
        if eval_every_epoch:
            res.test_acc_curve.append(accuracy(model, *test, use_mask=use_mask))
    res.test_acc = res.test_acc_curve[-1] if eval_every_epoch else accuracy(model, *test, use_mask=use_mask)
    res.train_acc = accuracy(model, *train, use_mask=use_mask)
    return model, res
