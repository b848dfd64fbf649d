r"""Head-wise shareable attention (Cao, Yang & Zhao, EMNLP 2024 Findings; github.com/zouyingcao/DirectShare):
DirectShare on a pretrained BERT-style encoder, with the controls and capability tests of the replication.

The official recipe, as read in the repository (commit de44feb):

- **Head vectors** (``find_match.py`` lines 120–121, default strategy ``qk`` at line 191): head h of layer l is
  the concatenation of its W_q and W_k row blocks, ``[W_q[h·d:(h+1)·d, :]; W_k[h·d:(h+1)·d, :]]`` (2d × D),
  flattened (line 162). :func:`head_vectors` → (L·H, 2·d·D).
- **Similarity** (lines 162–164): cosine of the flattened vectors; a head of layer l ≥ 1 is compared with every
  head of the *earlier* layers 0 … l − 1 only (line 137) and keeps its best match (lines 166–169): sharing is
  across layers, never within one. :func:`head_similarity` (through ``kernels.pairwise``) and
  :func:`best_earlier_match`, with the loop :func:`best_earlier_match_reference`.
- **Selection** (``direct_share.py`` lines 21–25): the ``int(ratio · L · H)`` heads with the highest best-match
  cosine are replaced (L counts all layers, layer 0 included, though its heads are never candidates).
  :func:`select_pairs` with ``strategy="similar"``; the controls ``"random"`` (random candidate heads, each
  with a uniformly drawn earlier-layer partner) and ``"least"`` (the heads whose *worst* earlier match is
  lowest, each with that partner).
- **What is tied** (lines 70–85): the replaced head uses its partner's W_q, W_k, W_v rows and W_o columns —
  all four matrices. BERT also has per-head q/k/v bias slices, tied with them here (LLaMA has none); the output
  bias is one vector for all heads and stays.
- **Routing** (lines 54–68): each pair points both heads at one shared copy of the partner's original weights,
  processing layers in increasing order, so a replaced head that is later the partner of a higher-layer head is
  re-pointed at its own original weights: it is not replaced in the end. :func:`effective_pairs` applies that
  rule; :func:`shared_state_dict` writes the result into a copy of the weights.

Parameters saved by n effectively replaced heads (each one fewer distinct head block):
n · (4·d·D + 3·d) with biases (:func:`parameters_saved`); :func:`distinct_head_blocks` counts the distinct
blocks of a state dict directly.

Capability tests need no training: mean-pooled, L2-normalised sentence embeddings (all-MiniLM-L6-v2's own
pooling) from :func:`encode`; :func:`lee_spearman` (Spearman of embedding cosines with the Lee et al. 50 × 50
human ratings over the 1,225 pairs), :func:`retrieval_scores` (first sentence → rest of the same article,
evaluated by ``simrepro.metrics.ir``), :func:`fidelity` (mean cosine to the unmodified model's embeddings).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import numpy as np
import torch

from simrepro.kernels.pairwise import pairwise_similarity

STRATEGIES = ("similar", "least", "random")


@dataclass(frozen=True)
class Layout:
    """Shape of a multi-head encoder: L layers of H heads of width d over a hidden size D = H·d."""
    n_layers: int
    n_heads: int
    head_dim: int

    @property
    def hidden(self) -> int:
        return self.n_heads * self.head_dim

    @property
    def n_total(self) -> int:
        return self.n_layers * self.n_heads

    def index(self, layer: int, head: int) -> int:
        return layer * self.n_heads + head

    def split(self, i: int) -> tuple[int, int]:
        return divmod(int(i), self.n_heads)


def bert_layout(model) -> Layout:
    """Layout of a ``transformers`` BertModel (``config.num_hidden_layers``, ``num_attention_heads``)."""
    c = model.config
    if c.hidden_size % c.num_attention_heads:
        raise ValueError(f"hidden size {c.hidden_size} is not a multiple of {c.num_attention_heads} heads")
    return Layout(c.num_hidden_layers, c.num_attention_heads, c.hidden_size // c.num_attention_heads)


def _keys(layer: int) -> dict[str, str]:
    p = f"encoder.layer.{layer}.attention."
    return {"q": p + "self.query", "k": p + "self.key", "v": p + "self.value", "o": p + "output.dense"}


def _state(state: dict) -> dict:
    if not isinstance(state, dict) or not state:
        raise TypeError("state must be a non-empty state dict (model.state_dict()) of a BertModel")
    if "encoder.layer.0.attention.self.query.weight" not in state:
        raise KeyError("state holds no 'encoder.layer.0.attention.self.query.weight': pass the state dict of a "
                       "transformers BertModel (AutoModel.from_pretrained(...).state_dict())")
    return state


def head_vectors(state: dict, layout: Layout) -> torch.Tensor:
    """(L·H, 2·d·D) float64: row l·H + h is head h of layer l's [W_q rows; W_k rows] flattened
    (official ``find_match.py`` lines 120–121 and 162)."""
    state, d = _state(state), layout.head_dim
    rows = []
    for layer in range(layout.n_layers):
        kk = _keys(layer)
        wq, wk = state[kk["q"] + ".weight"], state[kk["k"] + ".weight"]
        if wq.shape != (layout.hidden, layout.hidden):
            raise ValueError(f"layer {layer} W_q has shape {tuple(wq.shape)}, expected {(layout.hidden,) * 2}")
        for h in range(layout.n_heads):
            rows.append(torch.cat([wq[h * d:(h + 1) * d], wk[h * d:(h + 1) * d]], 0).reshape(-1))
    return torch.stack(rows).to(torch.float64)


def head_similarity(vectors) -> np.ndarray:
    """(n, n) cosine similarity of the head vectors (``kernels.pairwise``, float64)."""
    return np.asarray(pairwise_similarity(torch.as_tensor(vectors, dtype=torch.float64), metric="cosine"))


def _check_sim(sim, layout: Layout) -> np.ndarray:
    sim = np.asarray(sim, dtype=np.float64)
    if sim.shape != (layout.n_total, layout.n_total):
        raise ValueError(f"sim must be ({layout.n_total}, {layout.n_total}) for {layout}, got {sim.shape}")
    if not np.isfinite(sim).all():
        raise ValueError("sim contains NaN or inf; a head with all-zero weights has no cosine — drop it first")
    if layout.n_layers < 2:
        raise ValueError("head sharing across layers needs at least 2 layers")
    return sim


def best_earlier_match(sim, layout: Layout, mode: str = "max") -> tuple[np.ndarray, np.ndarray]:
    """For every head of layers ≥ 1: its most (``mode="max"``) or least (``"min"``) similar head of an earlier
    layer. Returns ``values`` (L·H,) float64 and ``partners`` (L·H,) int64; layer 0 gets NaN and −1. Ties go to
    the lowest index (the official loop keeps the first strict maximum, ``find_match.py`` line 166)."""
    sim = _check_sim(sim, layout)
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    n, H = layout.n_total, layout.n_heads
    layer_of = np.arange(n) // H
    earlier = layer_of[None, :] < layer_of[:, None]               # (i, j): j in a layer before i's
    fill = -np.inf if mode == "max" else np.inf
    masked = np.where(earlier, sim, fill)
    partners = (masked.argmax(1) if mode == "max" else masked.argmin(1)).astype(np.int64)
    values = masked[np.arange(n), partners]
    partners[:H], values = -1, values.astype(np.float64)
    values[:H] = np.nan
    return values, partners


def best_earlier_match_reference(sim, layout: Layout, mode: str = "max") -> tuple[np.ndarray, np.ndarray]:
    """The official double loop (``find_match.py`` lines 133–169), one pair at a time."""
    sim = _check_sim(sim, layout)
    n = layout.n_total
    values, partners = np.full(n, np.nan), np.full(n, -1, dtype=np.int64)
    for i in range(layout.n_heads, n):
        li, _ = layout.split(i)
        best, arg = (-np.inf if mode == "max" else np.inf), -1
        for j in range(li * layout.n_heads):
            c = sim[i, j]
            if (mode == "max" and c > best) or (mode == "min" and c < best):
                best, arg = c, j
        values[i], partners[i] = best, arg
    return values, partners


def n_shared(ratio: float, layout: Layout) -> int:
    """``int(ratio · L · H)`` (official ``direct_share.py`` line 24)."""
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    n = int(ratio * layout.n_total)
    cand = layout.n_total - layout.n_heads
    if n > cand:
        raise ValueError(f"ratio {ratio} asks for {n} heads but only {cand} (layers ≥ 1) can be replaced")
    return n


def select_pairs(sim, layout: Layout, ratio: float, strategy: str = "similar",
                 rng: np.random.Generator | None = None) -> list[tuple[int, int]]:
    """``[(replaced head, partner head), …]`` (flat indices l·H + h), ``n_shared(ratio)`` pairs.

    ``similar``: DirectShare — the heads with the highest best-earlier-match cosine, each with that match.
    ``least``: the heads whose least similar earlier head is least similar, each with it.
    ``random``: random heads of layers ≥ 1, each with a uniformly random head of an earlier layer (needs rng).
    Ties in the ranking go to the lower index (stable sort)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    n = n_shared(ratio, layout)
    H = layout.n_heads
    if strategy == "random":
        _check_sim(sim, layout)
        if rng is None:
            raise ValueError("strategy='random' needs rng=np.random.default_rng(seed)")
        heads = rng.choice(np.arange(H, layout.n_total), size=n, replace=False)
        return [(int(i), int(rng.integers(0, (i // H) * H))) for i in heads]
    values, partners = best_earlier_match(sim, layout, "max" if strategy == "similar" else "min")
    cand = np.arange(H, layout.n_total)
    key = -values[cand] if strategy == "similar" else values[cand]
    chosen = cand[np.argsort(key, kind="stable")[:n]]
    return [(int(i), int(partners[i])) for i in chosen]


def effective_pairs(pairs) -> list[tuple[int, int]]:
    """The pairs whose replaced head really ends up with its partner's weights under the official routing
    (``direct_share.py`` lines 54–68): a replaced head that is also some pair's partner keeps its own weights."""
    pairs = [(int(a), int(b)) for a, b in pairs]
    replaced = [a for a, _ in pairs]
    if len(set(replaced)) != len(replaced):
        raise ValueError("a head is replaced twice; each head can take one partner")
    if any(b >= a for a, b in pairs):
        raise ValueError("every partner must come from an earlier position (earlier layer) than its head")
    sources = {b for _, b in pairs}
    return [(a, b) for a, b in pairs if a not in sources]


def shared_state_dict(state: dict, layout: Layout, pairs) -> dict:
    """A copy of ``state`` in which every effectively replaced head (:func:`effective_pairs`) carries its
    partner's original W_q, W_k, W_v rows with their bias slices and W_o columns. Untouched tensors are shared
    with ``state`` (not copied)."""
    state, d = _state(state), layout.head_dim
    out = dict(state)
    touched: set[str] = set()
    for a, b in effective_pairs(pairs):
        (la, ha), (lb, hb) = layout.split(a), layout.split(b)
        ka, kb = _keys(la), _keys(lb)
        ra, rb = slice(ha * d, (ha + 1) * d), slice(hb * d, (hb + 1) * d)
        for m in ("q", "k", "v", "o"):
            for suffix in (".weight", ".bias") if m != "o" else (".weight",):
                name = ka[m] + suffix
                if name not in touched:
                    out[name] = state[name].clone()
                    touched.add(name)
                src = state[kb[m] + suffix]
                if m == "o":
                    out[name][:, ra] = src[:, rb]
                else:
                    out[name][ra] = src[rb]
    return out


def _head_block_bytes(state: dict, layout: Layout, i: int) -> bytes:
    layer, h = layout.split(i)
    k, d = _keys(layer), layout.head_dim
    r = slice(h * d, (h + 1) * d)
    parts = [state[k[m] + s][r] for m in "qkv" for s in (".weight", ".bias")] + [state[k["o"] + ".weight"][:, r]]
    return b"".join(p.detach().contiguous().cpu().numpy().tobytes() for p in parts)


def distinct_head_blocks(state: dict, layout: Layout) -> int:
    """Number of distinct head parameter blocks (q/k/v rows and biases, o columns), compared bit for bit."""
    return len({hashlib.sha256(_head_block_bytes(_state(state), layout, i)).hexdigest()
                for i in range(layout.n_total)})


def parameters_saved(n_effective: int, layout: Layout, bias: bool = True) -> int:
    """Closed form: each effectively shared head drops W_q, W_k, W_v rows (3·d·D), W_o columns (d·D) and, with
    biases, 3·d bias entries."""
    return int(n_effective) * (4 * layout.head_dim * layout.hidden + (3 * layout.head_dim if bias else 0))


# ---------------------------------------------------------------------------------------------- capability tests

def encode(model, tokenizer, texts: list[str], *, max_length: int = 128, batch_size: int = 32) -> np.ndarray:
    """(n, D) float32 unit-norm mean-pooled token embeddings (all-MiniLM-L6-v2's pooling), batches sorted by
    length (less padding), returned in input order."""
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must be a list of str")
    if not texts:
        return np.zeros((0, model.config.hidden_size), np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")
    out = np.empty((len(texts), model.config.hidden_size), np.float32)
    with torch.inference_mode():
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            b = tokenizer([texts[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt")
            h = model(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
            e = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
            out[idx] = torch.nn.functional.normalize(e, dim=-1).float().numpy()
    return out


def lee_spearman(emb: np.ndarray, human: np.ndarray) -> float:
    """Spearman ρ between embedding cosines and human ratings over the upper-triangle pairs (1,225 for 50)."""
    from scipy.stats import spearmanr
    emb, human = np.asarray(emb, np.float64), np.asarray(human, np.float64)
    if human.shape != (len(emb), len(emb)):
        raise ValueError(f"human must be ({len(emb)}, {len(emb)}), got {human.shape}")
    iu = np.triu_indices(len(emb), 1)
    return float(spearmanr((emb @ emb.T)[iu], human[iu]).statistic)


_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")


def first_sentence_pairs(docs: list[str], min_rest_words: int = 10) -> tuple[list[str], list[str], list[int]]:
    """(first sentences, rests, kept doc indices): each article split after its first sentence end followed
    by a capitalised word (an abbreviation such as "Mr." also ends a sentence here); articles whose rest is
    shorter than ``min_rest_words`` words are dropped."""
    firsts, rests, kept = [], [], []
    for i, d in enumerate(docs):
        parts = _SENT.split(d.strip(), maxsplit=1)
        if len(parts) == 2 and len(parts[1].split()) >= min_rest_words:
            firsts.append(parts[0]); rests.append(parts[1]); kept.append(i)
    return firsts, rests, kept


def retrieval_scores(query_emb: np.ndarray, doc_emb: np.ndarray,
                     metrics=("hit@1", "mrr@10", "ndcg@10")) -> dict[str, float]:
    """Query i's only relevant document is document i; cosine ranking over all documents
    (``kernels.topk``), scored by trec_eval (``metrics.ir``)."""
    from simrepro.kernels.topk import topk_search
    from simrepro.metrics import ir
    if len(query_emb) != len(doc_emb) or len(query_emb) == 0:
        raise ValueError(f"need one document per query, got {len(query_emb)} queries and {len(doc_emb)} documents")
    k = min(10, len(doc_emb))
    D, idx = topk_search(np.asarray(query_emb, np.float32), np.asarray(doc_emb, np.float32), k, metric="dot")
    run = ir.run_from_topk(np.asarray(D), np.asarray(idx), list(range(len(query_emb))))
    qrels = ir.qrels_from_pairs((i, i, 1) for i in range(len(query_emb)))
    return ir.evaluate(qrels, run, metrics)


def fidelity(emb: np.ndarray, base: np.ndarray) -> float:
    """Mean row-wise cosine between unit-norm embeddings and the unmodified model's."""
    emb, base = np.asarray(emb, np.float64), np.asarray(base, np.float64)
    if emb.shape != base.shape:
        raise ValueError(f"shapes differ: {emb.shape} vs {base.shape}")
    return float((emb * base).sum(1).mean())


def attention_map_similarity(attentions, layout: Layout) -> np.ndarray:
    """(L·H, L·H) cosine similarity of the heads' attention maps, each head's maps over a batch flattened
    (padding rows/columns are zero in every head alike). ``attentions``: the model's ``output_attentions``
    tuple of L tensors (B, H, T, T)."""
    if len(attentions) != layout.n_layers:
        raise ValueError(f"{len(attentions)} attention tensors for {layout.n_layers} layers")
    flat = torch.cat([a.reshape(a.shape[0], a.shape[1], -1).transpose(0, 1).reshape(a.shape[1], -1)
                      for a in attentions], 0).to(torch.float64)
    return head_similarity(flat)
