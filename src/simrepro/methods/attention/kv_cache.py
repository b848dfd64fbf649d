r"""KV-cache eviction: H2O heavy hitters, KVCrush's binary head-behaviour representatives, and the random and
recent-window baselines, applied to a :class:`~simrepro.models.tiny_transformer.TinyTransformer` decoder.

Setting. A causal model pre-fills a context of C tokens with full attention; then each layer's cache keeps only
``budget`` of the C context positions and the following (query) tokens attend to the kept positions and to each
other. Every policy returns ``keep`` (B, L, C) bool with exactly ``budget`` True per (sequence, layer).

- **H2O** (Zhang et al., NeurIPS 2023): a token's score is the attention it received during pre-fill, summed over
  queries (and heads): s_j = Σ_h Σ_i A_h[i, j]. The cache keeps the ``budget − ⌊recent_frac·budget⌋`` highest
  scoring tokens outside the recent window plus the ``⌊recent_frac·budget⌋`` most recent ones (the paper's
  heavy-hitter + recent split; ``recent_frac = 0.5``). :func:`select_h2o`.
- **KVCrush** (Jha, Gobriel, Talamanova & Jain, ACML 2025, arXiv 2503.00022): of the budget, ``crush_frac``
  (0.25, the ``kvcrush_ratio`` default of vLLM's ``H2OKVCrushCluster``) goes to representatives of the tokens H2O
  would evict; H2O picks the rest. Each evictable token gets an H-bit *head-behaviour* vector: bit h = 1 when the
  token is among the top half of head h's scores over the evictable tokens (vLLM ``kvcrush.py``,
  ``update_kv``: ``topk(padded_len / 2)`` per head); its Hamming distance to an anchor vector (``alternate``
  0101…, vLLM's default; also ``mean``, ``inv_mean``, ``zeros``, ``ones``, ``random``) orders the tokens H2O
  left out, and ``n_rep`` of them are taken at evenly spaced ranks of that order (``torch.linspace(…,
  dtype=torch.long)`` over the sorted list, i.e. truncated): one representative per bucket of similar head behaviour. OpenVINO GenAI's block version
  (``cache_eviction.cpp``, ``get_indices_of_blocks_to_retain_using_kvcrush``) does the same over blocks.
  :func:`head_behaviour_bits`, :func:`kvcrush_representatives` (vectorised) and
  :func:`kvcrush_representatives_reference` (loops).
- **Random**: ``budget`` uniformly random context positions per (sequence, layer). **Recent**: the last
  ``budget`` context positions.

Running the model: :func:`prefill_attention` records each layer's (B, H, C, C) softmax attention on the context;
:func:`evicted_logits` runs the whole sequence once with a per-layer mask (context rows causal as in pre-fill,
query rows see only kept context positions) — equal to pre-fill, evict, then decode with a real cache, which
:func:`evicted_logits_reference` does step by step with explicit per-layer K/V caches.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

POLICIES = ("full", "recent", "random", "h2o", "h2o+kvcrush")
ANCHORS = ("alternate", "mean", "inv_mean", "zeros", "ones", "random")


def _check_scores(head_scores) -> torch.Tensor:
    s = torch.as_tensor(head_scores)
    if s.ndim != 3:
        raise ValueError(f"head_scores must be (B, H, C) accumulated attention per head, got shape {tuple(s.shape)}")
    if not torch.isfinite(s).all():
        raise ValueError("head_scores contain NaN or inf; check the recorded attention")
    return s.to(torch.float64)


def _check_budget(budget: int, C: int) -> int:
    if not isinstance(budget, (int, np.integer)) or not 0 <= budget <= C:
        raise ValueError(f"budget must be an int in [0, {C}] (context positions kept), got {budget!r}")
    return int(budget)


def budget_tokens(fraction: float, context: int) -> int:
    """Cache budget in tokens: round(fraction · C), at least 1 for a positive fraction."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    return 0 if fraction == 0 else max(1, int(round(fraction * context)))


def h2o_scores(attn: torch.Tensor) -> torch.Tensor:
    """(B, H, C, C) attention probabilities → (B, H, C) attention each key received, summed over queries."""
    if attn.ndim != 4 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attn must be (B, H, C, C), got {tuple(attn.shape)}")
    return attn.sum(-2)


def _topk_mask(score: torch.Tensor, k: int, allowed: torch.Tensor) -> torch.Tensor:
    """(B, C) mask of the k highest scores among ``allowed`` (ties → lower position first)."""
    B, C = score.shape
    out = torch.zeros(B, C, dtype=torch.bool)
    if k <= 0:
        return out
    s = torch.where(allowed, score, torch.full_like(score, -math.inf))
    # stable descending order: sort by (-score, position)
    order = torch.sort(-s, dim=1, stable=True).indices[:, :k]
    out.scatter_(1, order, True)
    return out & allowed


def select_recent(B: int, C: int, budget: int) -> torch.Tensor:
    keep = torch.zeros(B, C, dtype=torch.bool)
    budget = _check_budget(budget, C)
    if budget:
        keep[:, C - budget:] = True
    return keep


def select_random(B: int, C: int, budget: int, gen: torch.Generator) -> torch.Tensor:
    budget = _check_budget(budget, C)
    idx = torch.argsort(torch.rand(B, C, generator=gen), dim=1)[:, :budget]
    return torch.zeros(B, C, dtype=torch.bool).scatter_(1, idx, True)


def select_h2o(head_scores, budget: int, recent_frac: float = 0.5) -> torch.Tensor:
    """Heavy hitters by Σ_h score plus the ⌊recent_frac · budget⌋ most recent positions; (B, C) bool."""
    s = _check_scores(head_scores)
    B, _, C = s.shape
    budget = _check_budget(budget, C)
    n_recent = int(recent_frac * budget)
    keep = select_recent(B, C, n_recent)
    return keep | _topk_mask(s.sum(1), budget - n_recent, ~keep)


def head_behaviour_bits(head_scores, candidates: torch.Tensor) -> torch.Tensor:
    """(B, C, H) uint8: bit h of token j = 1 when j is among the ⌊n/2⌋ highest head-h scores of the n candidate
    tokens of its sequence (ties → lower position); non-candidates get 0. Vectorised: one stable sort."""
    s = _check_scores(head_scores)
    B, H, C = s.shape
    cand = torch.as_tensor(candidates, dtype=torch.bool)
    if cand.shape != (B, C):
        raise ValueError(f"candidates must be (B, C) = {(B, C)}, got {tuple(cand.shape)}")
    masked = torch.where(cand[:, None, :], s, torch.full_like(s, -math.inf))
    order = torch.sort(-masked, dim=-1, stable=True).indices                    # (B, H, C) best first
    rank = torch.empty_like(order).scatter_(-1, order, torch.arange(C).expand(B, H, C).contiguous())
    half = (cand.sum(1) // 2)[:, None, None]
    bits = (rank < half) & cand[:, None, :]
    return bits.transpose(1, 2).to(torch.uint8)


def head_behaviour_bits_reference(head_scores, candidates) -> torch.Tensor:
    """Loop version of :func:`head_behaviour_bits`."""
    s = _check_scores(head_scores)
    B, H, C = s.shape
    out = torch.zeros(B, C, H, dtype=torch.uint8)
    for b in range(B):
        idx = [j for j in range(C) if candidates[b, j]]
        for h in range(H):
            ranked = sorted(idx, key=lambda j: (-float(s[b, h, j]), j))
            for j in ranked[:len(idx) // 2]:
                out[b, j, h] = 1
    return out


def _even_ranks(m: int, n_rep: int) -> list[int]:
    """n_rep evenly spaced ranks of 0 … m − 1: ⌊i·(m − 1)/(n_rep − 1)⌋, as vLLM's ``torch.linspace(0, m − 1, n_rep,
    dtype=torch.long)`` truncates; all m when m ≤ n_rep (vLLM would repeat ranks and leave the budget short; here
    :func:`select_kvcrush` gives the shortfall to H2O's next heaviest tokens)."""
    if m <= n_rep:
        return list(range(m))
    if n_rep == 1:
        return [0]
    return [i * (m - 1) // (n_rep - 1) for i in range(n_rep)]


def anchor_vector(bits: torch.Tensor, candidates: torch.Tensor, mode: str = "alternate",
                  gen: torch.Generator | None = None) -> torch.Tensor:
    """(B, H) uint8 anchor per sequence: ``alternate`` 0,1,0,1…; ``mean`` / ``inv_mean`` the (inverted) majority
    bit over the candidates; ``zeros``; ``ones``; ``random`` (needs gen)."""
    if mode not in ANCHORS:
        raise ValueError(f"anchor mode must be one of {ANCHORS}, got {mode!r}")
    B, C, H = bits.shape
    if mode == "alternate":
        return (torch.arange(H) % 2).to(torch.uint8).expand(B, H).clone()
    if mode in ("zeros", "ones"):
        return torch.full((B, H), int(mode == "ones"), dtype=torch.uint8)
    if mode == "random":
        if gen is None:
            raise ValueError("anchor 'random' needs gen=torch.Generator().manual_seed(...)")
        return torch.randint(0, 2, (B, H), generator=gen, dtype=torch.uint8)
    w = candidates.to(torch.float64)[..., None]
    mean = (bits.to(torch.float64) * w).sum(1) / w.sum(1).clamp_min(1.0)
    return (mean > 0.5).to(torch.uint8) if mode == "mean" else (mean < 0.5).to(torch.uint8)


def kvcrush_representatives(bits: torch.Tensor, anchor: torch.Tensor, eligible: torch.Tensor,
                            n_rep: int) -> torch.Tensor:
    """(B, C) bool: ``n_rep`` eligible tokens per sequence at evenly spaced ranks (:func:`_even_ranks`) of the
    order by Hamming distance to the anchor (ties → lower position); with m ≤ n_rep eligible tokens, all of them.
    Vectorised: one stable sort and one gather."""
    B, C, H = bits.shape
    keep = torch.zeros(B, C, dtype=torch.bool)
    if n_rep <= 0 or C == 0:
        return keep
    dist = (bits != anchor[:, None, :]).sum(-1).to(torch.float64)                  # (B, C) Hamming distance
    dist = torch.where(eligible, dist, torch.full_like(dist, math.inf))
    order = torch.sort(dist, dim=1, stable=True).indices                             # eligible first, by distance
    m = eligible.sum(1)[:, None]                                                     # (B, 1)
    i = torch.arange(n_rep)[None, :]
    spread = i * (m - 1) // max(n_rep - 1, 1)
    ranks = torch.where(m <= n_rep, i, spread if n_rep > 1 else torch.zeros_like(i))
    valid = i < m
    rows = torch.arange(B)[:, None].expand_as(ranks)
    keep[rows[valid], order.gather(1, ranks.clamp_max(C - 1))[valid]] = True
    return keep


def kvcrush_representatives_reference(bits, anchor, eligible, n_rep: int) -> torch.Tensor:
    """Loop version: per sequence, list (distance, position) of the eligible tokens, sort, take evenly spaced
    ranks."""
    B, C, H = bits.shape
    keep = torch.zeros(B, C, dtype=torch.bool)
    for b in range(B):
        items = sorted((sum(int(bits[b, j, h] != anchor[b, h]) for h in range(H)), j)
                       for j in range(C) if eligible[b, j])
        if n_rep <= 0:
            continue
        for r in _even_ranks(len(items), n_rep):
            keep[b, items[r][1]] = True
    return keep


def select_kvcrush(head_scores, budget: int, crush_frac: float = 0.25, recent_frac: float = 0.5,
                   anchor: str = "alternate", gen: torch.Generator | None = None) -> torch.Tensor:
    """H2O with budget − n_rep tokens, plus n_rep = max(1, round(crush_frac · budget)) KVCrush representatives
    of the tokens it evicts (the evictable region: outside H2O's recent window). At least one representative, as
    vLLM's ``update_kv`` raises a budget below one page to one page. (B, C) bool."""
    s = _check_scores(head_scores)
    B, H, C = s.shape
    budget = _check_budget(budget, C)
    n_rep = min(budget, max(1, int(round(crush_frac * budget)))) if budget and crush_frac > 0 else 0
    keep = select_h2o(s, budget - n_rep, recent_frac)
    evictable = ~select_recent(B, C, int(recent_frac * (budget - n_rep)))
    eligible = evictable & ~keep
    bits = head_behaviour_bits(s, evictable)
    anc = anchor_vector(bits, evictable, anchor, gen)
    reps = kvcrush_representatives(bits, anc, eligible, n_rep)
    keep = keep | reps
    short = budget - keep.sum(1)                                     # too few eligible tokens: fill by H2O score
    if (short > 0).any():
        for b in torch.nonzero(short > 0).flatten().tolist():
            keep[b] |= _topk_mask(s[b:b + 1].sum(1), int(short[b]), ~keep[b:b + 1])[0]
    return keep


def select(policy: str, head_scores, budget: int, *, gen: torch.Generator | None = None, crush_frac: float = 0.25,
           recent_frac: float = 0.5, anchor: str = "alternate") -> torch.Tensor:
    """One layer's keep mask (B, C) for ``policy`` in :data:`POLICIES` (``full`` keeps everything)."""
    s = _check_scores(head_scores)
    B, _, C = s.shape
    if policy == "full":
        return torch.ones(B, C, dtype=torch.bool)
    if policy == "recent":
        return select_recent(B, C, budget)
    if policy == "random":
        if gen is None:
            raise ValueError("policy 'random' needs gen=torch.Generator().manual_seed(...)")
        return select_random(B, C, budget, gen)
    if policy == "h2o":
        return select_h2o(s, budget, recent_frac)
    if policy == "h2o+kvcrush":
        return select_kvcrush(s, budget, crush_frac, recent_frac, anchor, gen)
    raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")


# ------------------------------------------------------------------------------------------- running the model

def _blocks(model):
    if not hasattr(model, "blocks") or not hasattr(model, "embed"):
        raise TypeError("model must be a simrepro.models.tiny_transformer.TinyTransformer")
    if not model.blocks[0].causal:
        raise ValueError("KV-cache eviction needs a causal model (TinyTransformer(causal=True))")
    return model.blocks


def _explicit_attention(store: list):
    def attn(q, k, v, *, causal=False, key_mask=None):
        N, M = q.shape[-2], k.shape[-2]
        s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        if causal:
            s = s.masked_fill(torch.ones(N, M, dtype=torch.bool).triu(1 + M - N), -math.inf)
        p = s.softmax(-1)
        store.append(p)
        return p @ v
    return attn


@torch.no_grad()
def prefill_attention(model, tokens: torch.Tensor, context: int) -> list[torch.Tensor]:
    """Each layer's (B, H, C, C) causal softmax attention over the first ``context`` tokens."""
    blocks = _blocks(model)
    model.eval()
    store: list[torch.Tensor] = []
    saved = [b.attention for b in blocks]
    try:
        for b in blocks:
            b.attention = _explicit_attention(store)
        model(torch.as_tensor(tokens)[:, :context])
    finally:
        for b, a in zip(blocks, saved):
            b.attention = a
    return store


def _masked_attention(allowed: torch.Tensor):
    def attn(q, k, v, *, causal=False, key_mask=None):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed[:, None])
    return attn


@torch.no_grad()
def evicted_logits(model, tokens: torch.Tensor, context: int, keep: torch.Tensor) -> torch.Tensor:
    """(B, N, V) logits when layer l's cache holds only the context positions ``keep[:, l]`` (B, L, C) for the
    tokens after the context; context positions attend causally to the full context (pre-fill)."""
    blocks = _blocks(model)
    tokens = torch.as_tensor(tokens)
    B, N = tokens.shape
    if keep.shape != (B, len(blocks), context):
        raise ValueError(f"keep must be (B, L, C) = {(B, len(blocks), context)}, got {tuple(keep.shape)}")
    causal = torch.ones(N, N, dtype=torch.bool).tril()
    model.eval()
    saved = [b.attention for b in blocks]
    try:
        for l, b in enumerate(blocks):
            allowed = causal.expand(B, N, N).clone()
            allowed[:, context:, :context] &= keep[:, l, None, :]
            b.attention = _masked_attention(allowed)
        return model(tokens)
    finally:
        for b, a in zip(blocks, saved):
            b.attention = a


@torch.no_grad()
def evicted_logits_reference(model, tokens: torch.Tensor, context: int, keep: torch.Tensor) -> torch.Tensor:
    """The same, as a real cache: full pre-fill storing each layer's K/V, eviction, then the tokens after the
    context decoded one at a time against [kept context K/V ; decoded K/V]. Returns the decoded positions'
    logits (B, N − C, V)."""
    blocks = _blocks(model)
    model.eval()
    tokens = torch.as_tensor(tokens)
    B, N = tokens.shape
    H = blocks[0].n_heads

    def heads(blk, x):
        q, k, v = blk.qkv(blk.ln1(x)).view(x.shape[0], x.shape[1], 3, H, -1).permute(2, 0, 3, 1, 4)
        return q, k, v

    def finish(blk, x, a):
        x = x + blk.out(a.transpose(1, 2).reshape(x.shape))
        return x + blk.mlp(blk.ln2(x))

    x = model.embed(tokens[:, :context]) + model.pos.weight[:context]
    caches = []
    for blk in blocks:                                                   # pre-fill
        q, k, v = heads(blk, x)
        caches.append((k, v))
        s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        s = s.masked_fill(torch.ones(context, context, dtype=torch.bool).triu(1), -math.inf)
        x = finish(blk, x, s.softmax(-1) @ v)
    out = []
    for b in range(B):                                                   # evict, then decode
        kv = [(k[b:b + 1][:, :, keep[b, l]], v[b:b + 1][:, :, keep[b, l]]) for l, (k, v) in enumerate(caches)]
        for t in range(context, N):
            x = model.embed(tokens[b:b + 1, t:t + 1]) + model.pos.weight[t:t + 1]
            for l, blk in enumerate(blocks):
                q, k, v = heads(blk, x)
                kv[l] = (torch.cat([kv[l][0], k], 2), torch.cat([kv[l][1], v], 2))
                p = ((q @ kv[l][0].transpose(-1, -2)) / math.sqrt(q.shape[-1])).softmax(-1)
                x = finish(blk, x, p @ kv[l][1])
            out.append(model.head(model.ln(x))[0, 0])
    return torch.stack(out).view(B, N - context, -1)


def keep_masks(policy: str, attn: list[torch.Tensor], budget: int, *, gen: torch.Generator | None = None,
               **kw) -> torch.Tensor:
    """(B, L, C) keep masks of ``policy`` for every layer from the recorded pre-fill attention."""
    return torch.stack([select(policy, h2o_scores(a), budget, gen=gen, **kw) for a in attn], 1)


def recall_accuracy(logits: torch.Tensor, targets) -> float:
    """Share of query positions (targets ≠ −100) whose argmax is the target."""
    y = torch.as_tensor(targets)
    m = y != -100
    return float((logits.argmax(-1)[m] == y[m]).float().mean())
