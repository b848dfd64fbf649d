r"""fMRLRec: full-scale Matryoshka representation learning for multimodal sequential recommendation (Wang, Yue,
Zeng, Wang & McAuley, EMNLP 2024 Findings, arXiv 2409.16627; official code github.com/yueqirex/fMRLRec).

Sizes. A strictly increasing list of Matryoshka sizes s_1 < … < s_M = D splits the D hidden dimensions into
blocks b = [s_{b−1}, s_b) (s_0 = 0). The *size-s model* is the model restricted to the first s dimensions of
every hidden vector and weight.

Nested linear map (the paper's "efficient linear transformation that embeds smaller features into larger ones";
official ``MRLSquareLinearLayer``, ``model/lru.py`` lines 198-212). A (D, D) weight whose output block b reads only
the inputs [0, s_b):

    y[s_{b−1}:s_b] = W_b x[:s_b] + c_b,     i.e.  y = (W ⊙ M) x + c,  M[j, i] = 1[i < s_{b(j)}],

so y[:s] depends on x[:s] alone for every size s, and the top-left (s, s) block of W ⊙ M with c[:s] *is* the
size-s layer. :class:`MatryoshkaLinear` computes the masked product (one GEMM); :func:`matryoshka_linear_reference`
is the block-by-block definition. Parameters: Σ_b s_b (s_b − s_{b−1}) (+ D biases) ≤ D².

Per-block LayerNorm (official ``MRLLayerNorm``, lines 178-195): each block normalised on its own, so truncation
keeps the statistics of the kept blocks.

LRU (linear recurrent unit, Orvieto et al. 2023, as in the official ``LRULayer``, lines 120-175). Per dimension d a
complex diagonal recurrence over positions t (inputs at padded positions zeroed):

    u_t = γ ⊙ (B x_t),   h_t = λ ⊙ h_{t−1} + u_t,   y_t = Re(C h_t),   λ_d = exp(−ν_d + iθ_d),  γ_d = √(1 − |λ_d|²),

ν, θ initialised on the ring r_min ≤ |λ| ≤ r_max ("ring initialisation"), B and C nested maps with complex
weights (real and imaginary parts as two real nested maps). The recurrence is elementwise in d, hence nested.
Fast path :func:`lru_recurrence`: h = Σ_k λ^{t−k} u_k as one einsum with the (L, L, D) causal Toeplitz tensor of
powers — O(B L² D), exact up to float round-off, no Python loop over t (L ≤ a few hundred);
reference :func:`lru_recurrence_reference`: the loop h_t = λ h_{t−1} + u_t.

Block (official ``LRUBlock``): x + drop(LRU(LN(x))), then h + FFN(LN(h)), FFN(x) = drop(W₂(SiLU(G x) ⊙ drop(W₁ x)))
with nested G, W₁, W₂.

Items (official ``LRUEmbedding``, lines 22-61). Frozen multimodal features f_i = [text_i | other_i] (I, F) are
mapped by one trainable linear projector to e_i = P f_i ∈ R^D (the "simple mapping" to an aligned space); e_i[:s]
is item i's size-s embedding. Sequence inputs are dropout(e_{item}); padding index 0.

Scores and loss (official ``LRUModel.forward`` lines 83-86 and ``LRUTrainer.calculate_loss``, trainer/lru.py
lines 24-31). For the hidden state h_t of a position: score_s(i) = h_t[:s] · e_i[:s] for every size s, and

    L = (1/M) Σ_s CE(score_s, next item)          (equal weights, mean over the valid positions).

``sizes=[D]`` is an ordinary (non-Matryoshka) model of width D: nested maps become full (D, D) maps.

Complexities per batch of B sequences of length L, I items: projector O(I F D), LRU O(B L² D), FFN O(B L D²),
scores O(B L I D).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ----------------------------------------------------------------------------------------------- sizes
def check_sizes(sizes: Sequence[int]) -> list[int]:
    """Validate Matryoshka sizes: a non-empty, strictly increasing list of positive integers."""
    s = [int(x) for x in sizes]
    if not s or any(int(x) != x for x in sizes):
        raise ValueError(f"sizes must be a non-empty list of integers, got {sizes!r}")
    if s[0] < 1 or any(b <= a for a, b in zip(s, s[1:])):
        raise ValueError(f"sizes must be positive and strictly increasing (e.g. [8, 16, 32, 64]), got {s}")
    return s


def nested_mask(sizes: Sequence[int]) -> torch.Tensor:
    """(D, D) float mask M[j, i] = 1 if input i < s_{b(j)}, the size of output j's block (0 otherwise)."""
    s = check_sizes(sizes)
    D = s[-1]
    limit = torch.empty(D, dtype=torch.long)
    start = 0
    for size in s:
        limit[start:size] = size
        start = size
    return (torch.arange(D)[None, :] < limit[:, None]).float()


def nested_param_count(sizes: Sequence[int], bias: bool = True) -> int:
    """Free parameters of one nested (D, D) map: Σ_b s_b (s_b − s_{b−1}) (+ D biases)."""
    s = check_sizes(sizes)
    prev, n = 0, 0
    for size in s:
        n += size * (size - prev)
        prev = size
    return n + (s[-1] if bias else 0)


# ------------------------------------------------------------------------------------------- layers
class MatryoshkaLinear(nn.Module):
    """y = (W ⊙ M) x + c over the last axis, (…, D) → (…, D); block b of W initialised U(±1/√s_b) like the
    official per-block ``nn.Linear(s_b, s_b − s_{b−1})``."""

    def __init__(self, sizes: Sequence[int], bias: bool = True):
        super().__init__()
        self.sizes = check_sizes(sizes)
        D = self.sizes[-1]
        self.register_buffer("mask", nested_mask(self.sizes))
        self.weight = nn.Parameter(torch.empty(D, D))
        self.bias = nn.Parameter(torch.empty(D)) if bias else None
        with torch.no_grad():
            start = 0
            for size in self.sizes:
                bound = 1.0 / math.sqrt(size)
                self.weight[start:size].uniform_(-bound, bound)
                if self.bias is not None:
                    self.bias[start:size].uniform_(-bound, bound)
                start = size
            self.weight.mul_(self.mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def matryoshka_linear_reference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                                sizes: Sequence[int]) -> torch.Tensor:
    """The definition, block by block: y[s_{b−1}:s_b] = W[s_{b−1}:s_b, :s_b] x[:s_b] + c[s_{b−1}:s_b]."""
    out, start = [], 0
    for size in check_sizes(sizes):
        y = x[..., :size] @ weight[start:size, :size].T
        out.append(y if bias is None else y + bias[start:size])
        start = size
    return torch.cat(out, dim=-1)


class MatryoshkaLayerNorm(nn.Module):
    """LayerNorm of each block [s_{b−1}, s_b) on its own (learnable scale and shift per block)."""

    def __init__(self, sizes: Sequence[int]):
        super().__init__()
        self.sizes = check_sizes(sizes)
        widths = [b - a for a, b in zip([0] + self.sizes[:-1], self.sizes)]
        self.norms = nn.ModuleList([nn.LayerNorm(w) for w in widths])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, start = [], 0
        for size, norm in zip(self.sizes, self.norms):
            out.append(norm(x[..., start:size]))
            start = size
        return torch.cat(out, dim=-1)


def lru_recurrence(u: torch.Tensor, log_lambda: torch.Tensor) -> torch.Tensor:
    """h_t = Σ_{k ≤ t} λ^{t−k} u_k for u (B, L, D) complex and log λ (D,) complex → (B, L, D) complex.

    One einsum with the causal Toeplitz tensor T[t, k, d] = λ_d^{t−k} (k ≤ t, else 0): O(B L² D) work, O(L² D)
    memory. |λ| < 1 keeps every power bounded by 1."""
    L = u.shape[1]
    lag = torch.arange(L)[:, None] - torch.arange(L)[None, :]                     # (L, L) t − k
    causal = (lag >= 0).to(u.real.dtype)
    powers = torch.exp(lag.clamp(min=0)[..., None].to(u.real.dtype) * log_lambda)  # (L, L, D)
    return torch.einsum("tkd,bkd->btd", powers * causal[..., None], u)


def lru_recurrence_reference(u: torch.Tensor, log_lambda: torch.Tensor) -> torch.Tensor:
    """The loop h_t = λ h_{t−1} + u_t, h_{−1} = 0."""
    lam = torch.exp(log_lambda)
    h = torch.zeros_like(u[:, 0])
    out = []
    for t in range(u.shape[1]):
        h = lam * h + u[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


class LRULayer(nn.Module):
    """The LRU of the module docstring on (B, L, D) real inputs with a (B, L) bool mask (False = padding)."""

    def __init__(self, sizes: Sequence[int], r_min: float = 0.0, r_max: float = 0.1, dropout: float = 0.1):
        super().__init__()
        if not 0.0 <= r_min < r_max < 1.0:
            raise ValueError(f"need 0 ≤ r_min < r_max < 1 for a stable recurrence, got {r_min}, {r_max}")
        self.sizes = check_sizes(sizes)
        D = self.sizes[-1]
        u1, u2 = torch.rand(D), torch.rand(D)
        nu = -0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)              # |λ| = e^{−ν} on the ring
        theta = u2 * 2 * math.pi
        gamma = torch.sqrt(1 - torch.exp(-2 * nu))                              # √(1 − |λ|²)
        self.nu_log = nn.Parameter(torch.log(nu))
        self.theta_log = nn.Parameter(torch.log(theta.clamp(min=1e-6)))
        self.gamma_log = nn.Parameter(torch.log(gamma))
        self.in_re, self.in_im = MatryoshkaLinear(self.sizes), MatryoshkaLinear(self.sizes)
        self.out_re, self.out_im = MatryoshkaLinear(self.sizes), MatryoshkaLinear(self.sizes, bias=False)
        self.dropout = nn.Dropout(dropout)

    def log_lambda(self) -> torch.Tensor:
        return torch.complex(-torch.exp(self.nu_log), torch.exp(self.theta_log))

    def forward(self, x: torch.Tensor, mask: torch.Tensor, *, reference: bool = False) -> torch.Tensor:
        g = torch.exp(self.gamma_log) * mask[..., None].to(x.dtype)
        u = torch.complex(self.in_re(x) * g, self.in_im(x) * g)                  # γ ⊙ (B x), padding zeroed
        h = (lru_recurrence_reference if reference else lru_recurrence)(u, self.log_lambda())
        return self.dropout(self.out_re(h.real) - self.out_im(h.imag))          # Re(C h)


class LRUBlock(nn.Module):
    def __init__(self, sizes: Sequence[int], r_min: float, r_max: float, dropout: float, attn_dropout: float):
        super().__init__()
        self.norm1, self.norm2 = MatryoshkaLayerNorm(sizes), MatryoshkaLayerNorm(sizes)
        self.lru = LRULayer(sizes, r_min, r_max, attn_dropout)
        self.gate, self.w1, self.w2 = (MatryoshkaLinear(sizes) for _ in range(3))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, *, reference: bool = False) -> torch.Tensor:
        h = x + self.lru(self.norm1(x), mask, reference=reference)
        z = self.norm2(h)
        return h + self.dropout(self.w2(F.silu(self.gate(z)) * self.dropout(self.w1(z))))


# -------------------------------------------------------------------------------------------- model
class FMRLRec(nn.Module):
    """Sequential recommender over I items (indices 1..I, 0 = padding).

    ``features`` (I, F) float: frozen item features, projected by a trainable linear map to D (fMRLRec);
    None: a trainable ID embedding table (I+1, D) instead (the ID-based LRU baseline). ``sizes`` = [D] gives a
    plain width-D model."""

    def __init__(self, n_items: int, sizes: Sequence[int], features: np.ndarray | None = None, *,
                 n_blocks: int = 1, dropout: float = 0.1, attn_dropout: float = 0.1, r_min: float = 0.0,
                 r_max: float = 0.1):
        super().__init__()
        self.sizes = check_sizes(sizes)
        self.n_items = int(n_items)
        D = self.sizes[-1]
        if features is not None:
            f = np.asarray(features, dtype=np.float32)
            if f.ndim != 2 or f.shape[0] != n_items:
                raise ValueError(f"features must be ({n_items}, F), got {f.shape}")
            if not np.isfinite(f).all():
                raise ValueError("features contain NaN or inf; clean them (e.g. zero rows for missing items)")
            self.register_buffer("features", torch.cat([torch.zeros(1, f.shape[1]), torch.from_numpy(f)]))
            self.projector = nn.Linear(f.shape[1], D)
            self.id_embedding = None
        else:
            self.features = None
            self.projector = None
            self.id_embedding = nn.Embedding(n_items + 1, D, padding_idx=0)
            nn.init.normal_(self.id_embedding.weight[1:], std=D ** -0.5)
        self.blocks = nn.ModuleList([LRUBlock(self.sizes, r_min, r_max, dropout, attn_dropout)
                                     for _ in range(n_blocks)])
        self.embed_dropout = nn.Dropout(dropout)

    def item_table(self) -> torch.Tensor:
        """(I+1, D) item embeddings e_i (row 0 = padding: the projector's bias for feature models)."""
        if self.projector is not None:
            return self.projector(self.features)
        return self.id_embedding.weight

    def forward(self, seqs: torch.Tensor, *, reference: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """seqs (B, L) long, 0 = padding (left) → hidden states (B, L, D) and item embeddings (I, D)."""
        table = self.item_table()
        mask = seqs > 0
        x = self.embed_dropout(table[seqs])
        for block in self.blocks:
            x = block(x, mask, reference=reference)
        return x, table[1:]


def matryoshka_logits(h: torch.Tensor, items: torch.Tensor, sizes: Sequence[int]) -> list[torch.Tensor]:
    """(N, D) hidden × (I, D) items → per size s the (N, I) scores score_s = h[:s]·e[:s] (one GEMM each:
    Σ_s s work per pair, cheaper on CPU than a cumulative sum over blocks, whose (M, N, I) copies are
    memory-bound)."""
    return [h[:, :s] @ items[:, :s].T for s in sizes]


def matryoshka_loss(h: torch.Tensor, items: torch.Tensor, targets: torch.Tensor, sizes: Sequence[int]) -> torch.Tensor:
    """(1/M) Σ_s CE(score_s(h), target), targets in 0..I−1, mean over the N rows."""
    if h.shape[0] == 0:
        raise ValueError("no position with a target: every sequence is padding")
    return torch.stack([F.cross_entropy(z, targets) for z in matryoshka_logits(h, items, sizes)]).mean()


def truncate(model: FMRLRec, size: int) -> FMRLRec:
    """The size-s model embedded in ``model``: a new FMRLRec with sizes [s_1 … s] and every weight sliced to its
    first s rows / columns (s must be one of the model's sizes). Its outputs equal the first s dimensions of
    the full model's (the nested property; tested)."""
    if size not in model.sizes:
        raise ValueError(f"size must be one of the model's Matryoshka sizes {model.sizes}, got {size}")
    sizes = [s for s in model.sizes if s <= size]
    feats = None if model.features is None else model.features[1:].numpy()
    small = FMRLRec(model.n_items, sizes, feats, n_blocks=len(model.blocks))
    big = model.state_dict()
    state = {}
    for name, value in small.state_dict().items():
        v = big[name]
        state[name] = v[tuple(slice(0, n) for n in value.shape)].clone()
    small.load_state_dict(state)
    small.train(model.training)
    return small


def effective_param_count(model: FMRLRec) -> int:
    """Free parameters: masked-out entries of nested weights excluded, frozen features excluded."""
    n = 0
    for module in model.modules():
        if isinstance(module, MatryoshkaLinear):
            n += int(module.mask.sum()) + (0 if module.bias is None else module.bias.numel())
        elif isinstance(module, (nn.Linear, nn.LayerNorm, nn.Embedding)):
            n += sum(p.numel() for p in module.parameters())
    for block in model.blocks:
        n += sum(p.numel() for p in (block.lru.nu_log, block.lru.theta_log, block.lru.gamma_log))
    return n


# -------------------------------------------------------------------------------------------- data
def training_windows(sequences: Sequence[np.ndarray], max_len: int,
                     ends: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per user (official ``LRUTrainDataset``, dataloader/lru.py lines 102-114, without its first label
    predicted from padding): of the prefix s[:end] (``ends`` None: the whole sequence), inputs = the items
    before the last, targets = the items after the first, the last ``max_len`` of each, left-padded with 0.
    Items are 1-based (0 = padding). Returns (U, max_len) int64 twice; prefixes of < 2 items give padding rows."""
    if max_len < 1:
        raise ValueError(f"max_len must be ≥ 1, got {max_len}")
    X = np.zeros((len(sequences), max_len), np.int64)
    Y = np.zeros((len(sequences), max_len), np.int64)
    for r, s in enumerate(sequences):
        s = np.asarray(s, np.int64)
        if ends is not None:
            s = s[:ends[r]]
        if len(s) < 2:
            continue
        x, y = s[:-1][-max_len:], s[1:][-max_len:]
        X[r, max_len - len(x):] = x
        Y[r, max_len - len(y):] = y
    return X, Y


def history_windows(sequences: Sequence[np.ndarray], max_len: int) -> np.ndarray:
    """(U, max_len) int64: the last ``max_len`` items of each sequence (1-based), left-padded with 0 — the input
    whose last hidden state scores the next (held-out) item."""
    X = np.zeros((len(sequences), max_len), np.int64)
    for r, s in enumerate(sequences):
        s = np.asarray(s, np.int64)[-max_len:]
        if len(s):
            X[r, max_len - len(s):] = s
    return X


@dataclass
class TrainResult:
    model: FMRLRec
    losses: list[float]          # mean training loss per epoch
    seconds: float


def train(model: FMRLRec, sequences: Sequence[np.ndarray], *, max_len: int = 20, window: str = "last",
          epochs: int = 10, batch_size: int = 128, lr: float = 1e-3, weight_decay: float = 0.01,
          max_grad_norm: float = 5.0, seed: int = 0) -> TrainResult:
    """AdamW on the Matryoshka loss of the model's sizes (official optimiser, weight decay and gradient
    clipping; our learning rate, batch and epochs), one window per user per epoch in a seeded order.

    ``sequences``: per user, 1-based item indices in time order. ``window='last'``: the last ``max_len + 1``
    items every epoch (the official sample); ``'random'``: a prefix end drawn uniformly per user and epoch
    (seeded), so long histories are covered beyond their last window."""
    import time
    if window not in ("last", "random"):
        raise ValueError(f"window must be 'last' or 'random', got {window!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be ≥ 1, got {epochs}, {batch_size}")
    lengths = np.array([len(s) for s in sequences])
    if not (lengths >= 2).any():
        raise ValueError("no sequence has 2 items: nothing to train on")
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    rows = torch.from_numpy(np.flatnonzero(lengths >= 2))
    fixed = training_windows(sequences, max_len) if window == "last" else None
    losses = []
    model.train()
    for _ in range(epochs):
        if fixed is None:
            ends = rng.integers(np.minimum(lengths, 2), lengths + 1)
            X, Y = (torch.from_numpy(a) for a in training_windows(sequences, max_len, ends))
        else:
            X, Y = (torch.from_numpy(a) for a in fixed)
        order = rows[torch.randperm(len(rows), generator=gen)]
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            h, items = model(X[idx])
            valid = Y[idx] > 0
            loss = matryoshka_loss(h[valid], items, Y[idx][valid] - 1, model.sizes)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
            opt.step()
            total += loss.item() * len(idx)
            count += len(idx)
        losses.append(total / count)
    model.eval()
    return TrainResult(model, losses, time.perf_counter() - t0)


@torch.no_grad()
def user_item_factors(model: FMRLRec, history: np.ndarray, size: int | None = None,
                      batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Factors (P (U, s), Q (I, s)) float64 with P Qᵀ = score_s: P = last hidden state's first s dimensions,
    Q = items' first s dimensions (``size`` None = D). For a model not trained with size s this is the *naive
    truncation* of its representations."""
    D = model.sizes[-1]
    s = D if size is None else int(size)
    if not 1 <= s <= D:
        raise ValueError(f"size must be in [1, {D}], got {size}")
    model.eval()
    H = torch.from_numpy(np.asarray(history, np.int64))
    outs = []
    for start in range(0, len(H), batch_size):
        h, items = model(H[start:start + batch_size])
        outs.append(h[:, -1, :s])
    return torch.cat(outs).double().numpy(), items[:, :s].double().numpy()


# ------------------------------------------------------------------------------------ item features
def attribute_features(genres: Sequence[str], years: Sequence) -> np.ndarray:
    """The structured-attribute modality: genre multi-hot (whitespace-separated genre names, sorted vocabulary)
    and release-decade one-hot (a missing / non-numeric year: no decade), each row L2-normalised (all-zero rows
    stay zero). Returns (I, n_genres + n_decades) float32."""
    if len(genres) != len(years):
        raise ValueError(f"genres and years must have one entry per item, got {len(genres)} and {len(years)}")
    toks = [str(g).split() if g is not None and g == g else [] for g in genres]
    vocab = sorted({t for ts in toks for t in ts})
    decades = []
    for y in years:
        try:
            decades.append(int(float(y)) // 10 * 10)
        except (TypeError, ValueError):
            decades.append(None)
    dec_vocab = sorted({d for d in decades if d is not None})
    X = np.zeros((len(toks), len(vocab) + len(dec_vocab)), np.float32)
    g_idx, d_idx = {t: i for i, t in enumerate(vocab)}, {d: len(vocab) + i for i, d in enumerate(dec_vocab)}
    for r, (ts, d) in enumerate(zip(toks, decades)):
        X[r, [g_idx[t] for t in ts]] = 1.0
        if d is not None:
            X[r, d_idx[d]] = 1.0
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return np.where(n > 0, X / np.maximum(n, 1e-12), 0.0).astype(np.float32)


def item_texts(titles: Sequence[str], years: Sequence, genres: Sequence[str]) -> list[str]:
    """The text modality of an item: ``"<title> (<year>) | <genres>"`` (missing values as empty strings)."""
    def clean(v) -> str:
        return "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
    if not len(titles) == len(years) == len(genres):
        raise ValueError(f"titles, years and genres must have one entry per item, got {len(titles)}, "
                         f"{len(years)}, {len(genres)}")
    return [f"{clean(t)} ({clean(y)}) | {clean(g)}" for t, y, g in zip(titles, years, genres)]


def train_sequences(split) -> list[np.ndarray]:
    """Per user 0..U−1, the 1-based training items in the split's order. The splits of
    :mod:`simrepro.methods.recommendation.evaluation` keep the training rows grouped by user, oldest first
    (timestamp ties by the split's seeded key), so this is a cut of ``train_items``; anything else is an error."""
    users = np.asarray(split.train_users)
    if len(users) and (np.diff(users) < 0).any():
        raise ValueError("training rows are not grouped by user in order: build the split with "
                         "evaluation.leave_one_out / temporal_split")
    counts = np.bincount(users, minlength=split.n_users)
    return [s.astype(np.int64) + 1 for s in np.split(np.asarray(split.train_items), np.cumsum(counts)[:-1])]
