r"""Flowformer (Wu, Wu, Xu, Wang & Long, ICML 2022; github.com/thuml/Flowformer): Flow-Attention compared with
softmax and plain linear attention, in one tiny transformer, on LRA's ListOps task, plus the attention maps.

The attention kernels are :mod:`simrepro.kernels.attention` (``flow_attention`` implements the official
``Flow_Attention.py``, lines 40–59: sigmoid features, incoming/outgoing flows, conserved flows, source
competition by softmax·m, sink allocation by sigmoid(·n/m)); the model and its seeded training loop are
:mod:`simrepro.models.tiny_transformer`. Here:

- :data:`ATTENTIONS`: the three contestants as callables the model takes — ``flowformer`` (Flow-Attention),
  ``softmax`` (SDPA), ``linear`` (ELU+1 kernelised linear attention, Katharopoulos et al. 2020: the plain
  linear attention the paper's flow design sets out to improve).
- :func:`listops_comparison`: trains each contestant from the same seed on the same ListOps split and returns
  test accuracy, training time and loss curves per (method, seed).
- :func:`attention_maps` / :func:`attention_entropy`: the (N, M) attention each head applies, read off the
  kernel itself (attention(q, k, I_M) = A, since every variant here is linear in V), and the mean normalised
  row entropy H(A_i / Σ_j A_ij) / log m over real queries — the paper's "informative, non-trivial attention"
  in one number (1 = uniform over the m real keys, 0 = one key).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels.attention import flow_attention, linear_attention, softmax_attention
from simrepro.models.tiny_transformer import TinyTransformer, TrainResult, train_model

ATTENTIONS = {
    "flowformer": functools.partial(flow_attention, check_finite=False),
    "softmax": functools.partial(softmax_attention, check_finite=False),
    "linear": functools.partial(linear_attention, feature_map="elu1", check_finite=False),
}


@dataclass(frozen=True)
class ModelConfig:
    """The tiny transformer and its training; defaults follow the official LRA ListOps Flowformer config
    (``Flowformer_LRA/lra_benchmarks/listops/configs/flowformer_base.py``: 1 layer, 2 heads), scaled down in width."""
    d_model: int = 64
    n_heads: int = 2
    n_layers: int = 1
    d_ff: int = 128
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01


def make_model(method: str, vocab_size: int, n_classes: int, max_len: int, cfg: ModelConfig) -> TinyTransformer:
    """The tiny transformer with ``ATTENTIONS[method]``."""
    if method not in ATTENTIONS:
        raise ValueError(f"method {method!r} unknown; use one of {sorted(ATTENTIONS)}")
    return TinyTransformer(vocab_size, n_classes, ATTENTIONS[method], d_model=cfg.d_model, n_heads=cfg.n_heads,
                           n_layers=cfg.n_layers, d_ff=cfg.d_ff, max_len=max_len)


def listops_comparison(train, test, methods, seeds, cfg: ModelConfig, *, vocab_size: int, n_classes: int = 10,
                       progress=None) -> dict[str, dict[int, tuple[TinyTransformer, TrainResult]]]:
    """results[method][seed] = (trained model, TrainResult). ``train``/``test`` are ListOps sets (tokens,
    lengths, labels); every method sees the same seed (same initial draw of the shared layers' RNG stream, same
    batch order), so per-seed differences are paired."""
    max_len = max(train.tokens.shape[1], test.tokens.shape[1])
    out: dict[str, dict[int, tuple[TinyTransformer, TrainResult]]] = {m: {} for m in methods}
    jobs = [(s, m) for s in seeds for m in methods]
    for seed, method in (progress(jobs) if progress else jobs):
        out[method][seed] = train_model(
            lambda: make_model(method, vocab_size, n_classes, max_len, cfg),
            (train.tokens, train.lengths, train.labels), (test.tokens, test.lengths, test.labels), seed=seed,
            epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return out


@torch.no_grad()
def attention_maps(model: TinyTransformer, tokens, lengths, layer: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(A, key_mask): A (B, H, N, N) the attention the ``layer``-th block applies to the batch (its kernel
    evaluated with V = identity), key_mask (B, N)."""
    model.eval()
    tokens, lengths = torch.as_tensor(np.asarray(tokens)), torch.as_tensor(np.asarray(lengths))
    N = int(lengths.max())
    tokens = tokens[:, :N]
    key_mask = torch.arange(N)[None, :] < lengths[:, None]
    x = model.embed(tokens) + model.pos.weight[:N]
    for i, block in enumerate(model.blocks):
        if i == layer:
            B, _, D = x.shape
            q, k, _ = block.qkv(block.ln1(x)).view(B, N, 3, block.n_heads, D // block.n_heads).permute(2, 0, 3, 1, 4)
            eye = torch.eye(N, dtype=q.dtype).expand(B, block.n_heads, N, N)
            return block.attention(q, k, eye, causal=block.causal, key_mask=key_mask), key_mask
        x = block(x, key_mask)
    raise ValueError(f"layer {layer} out of range: the model has {len(model.blocks)} blocks")


def attention_entropy(maps: torch.Tensor, key_mask: torch.Tensor) -> float:
    """Mean over real queries (rows with ≥ 2 real keys), heads and sequences of H(p_i) / log m_i, with
    p_i = A_i / Σ_j A_ij over the m_i real keys (the weights are non-negative for all three attentions)."""
    if maps.ndim != 4 or key_mask.shape != (maps.shape[0], maps.shape[-1]):
        raise ValueError(f"maps must be (B, H, N, M) and key_mask (B, M), got {tuple(maps.shape)}, "
                         f"{tuple(key_mask.shape)}")
    if bool((maps < -1e-9).any()):
        raise ValueError("attention weights must be non-negative to read them as distributions")
    a = maps.clamp_min(0) * key_mask[:, None, None, :]
    p = a / a.sum(-1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
    h = -torch.xlogy(p, p).sum(-1)                                           # (B, H, N); 0·log 0 = 0
    m = key_mask.sum(-1).to(h.dtype)                                         # (B,)
    rows = key_mask[:, None, :].expand_as(h) & (m[:, None, None] >= 2)
    norm = torch.log(m.clamp_min(2))[:, None, None].expand_as(h)
    if not bool(rows.any()):
        return math.nan
    return float((h / norm)[rows].mean())
