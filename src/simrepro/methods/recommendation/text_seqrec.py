r"""Text-based sequential recommendation (Recformer-lite, MARS-lite) beside an ID-based SASRec-lite.

Items as text (Recformer, Li et al. KDD 2023; official ``recformer/tokenization.py`` lines 42-59 flatten an item's
key-value attributes into one token sequence). :func:`item_sentence` writes an item as
``"title: Toy Story year: 1995 genre: Animation, Children's, Comedy"`` (attributes in a fixed key order, empty
values dropped); :func:`attribute_texts` writes one ``"key: value"`` string per attribute (MARS's per-attribute
views). The sentences are embedded once by a frozen sentence encoder (all-MiniLM-L6-v2 through
:func:`simrepro.data.encoders.encode`, cached), giving X ∈ ℝ^{I×384} (unit rows) or X_a per attribute a.

Models (:class:`SeqRecLite`). One causal Transformer encoder over a user's last L items (SASRec, Kang & McAuley
2018), learned absolute position embeddings P ∈ ℝ^{L×d}, pre-norm layers; item representations are either

- ``"id"`` (SASRec-lite): a learned table E ∈ ℝ^{I×d} — an item unknown at training time (``known`` of
  :func:`fit`) gets the zero vector, i.e. the neutral score cos = 0 with every user,
- ``"text"`` (Recformer-lite): E = LN(X W + b), W ∈ ℝ^{384×d} learned, X frozen — ID-free, so an unseen item
  (cold start) or a new catalogue (zero-shot transfer, :meth:`SeqRecLite.with_text`) is scored from its text.

The user state after position t is h_t ∈ ℝ^d; the score of item i is the temperature-scaled cosine
s(t, i) = cos(h_t, e_i) / τ (official ``recformer/models.py`` lines 357-368, τ = 0.05 by default, line 33), and
training minimises the cross-entropy of the next item against *all* items (``RecformerForSeqRec``, lines
585-589), at every position of every training window at once (causal mask).

MARS-lite (:class:`MarsLite`; Kim et al. CIKM 2024, official ``mars/models.py`` lines 420-428 and 483-512).
Tokens are (history item j, attribute a) pairs: e_{j,a} = LN_a(X_a[i_j] W_a + b_a) + P_j + T_a (attribute-type
embedding), encoded with a block-causal mask (a token sees the tokens of items ≤ its own); the outputs are the
user's multi-vectors u_{j,a}. The score is attribute-wise max matching, averaged over attributes (the official
defaults ``session_reduce_method='maxsim'``, ``attribute_agg_method='mean'``, ``utils/args.py`` lines 47-62):

    S(t, i) = (1/A) Σ_a max_{j ≤ t} cos(u_{j,a}, e_{i,a}) / τ.

Complexity: a training step of B windows costs O(B L d (L + I)) (SASRec/Recformer-lite) and O(B L A d (L A + I))
(MARS-lite, whose (B, L, A, I) similarity tensor bounds the batch); scoring U users costs O(U L² d + U I d).
Plain references beside the fast paths: :func:`mars_scores_reference` (loops over j ≤ t) and
:func:`windows_reference`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from simrepro.methods.recommendation import evaluation as ev

KEYS_100K = ("title", "year", "genre")


# ------------------------------------------------------------------------------------------------ items as text
def _clean(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return re.sub(r"\s+", " ", str(value)).strip()


def item_sentence(attrs: dict, keys: Sequence[str] | None = None) -> str:
    """The key-value sentence ``"k1: v1 k2: v2 ..."`` of one item (keys in ``keys`` order, default the dict's;
    empty or missing values dropped). An item with no value gives '' (an error downstream, not a silent zero)."""
    keys = list(attrs) if keys is None else list(keys)
    return " ".join(f"{k}: {_clean(attrs.get(k))}" for k in keys if _clean(attrs.get(k)))


def attribute_texts(items: Sequence[dict], keys: Sequence[str]) -> dict[str, list[str]]:
    """Per attribute key, one ``"key: value"`` string per item (``"key: unknown"`` when the value is missing,
    so every item has a vector for every attribute)."""
    if not keys:
        raise ValueError("keys must name at least one attribute")
    return {k: [f"{k}: {_clean(it.get(k)) or 'unknown'}" for it in items] for k in keys}


def _genres(value: str, sep: str | None) -> str:
    vals = [g for g in (value.split(sep) if sep else value.split()) if g and g not in ("(no genres listed)", "unknown")]
    return ", ".join(vals)


def movielens_100k_items(item_ids: np.ndarray | None = None) -> list[dict]:
    """Attribute dicts {title, year, genre} of MovieLens-100k items in ``item_ids`` order (default: the catalogue
    sorted by id). Genres are comma-joined; a missing year is ''."""
    from simrepro.data.ratings import load_movielens_100k
    tab = load_movielens_100k("item").set_index("item_id")
    ids = tab.index.to_numpy() if item_ids is None else np.asarray(item_ids)
    missing = np.setdiff1d(ids, tab.index.to_numpy())
    if len(missing):
        raise ValueError(f"{len(missing)} item ids are not in the MovieLens-100k item table, e.g. {missing[:3]}")
    tab = tab.reindex(ids)
    out = []
    for title, year, cls in zip(tab["movie_title"], tab["release_year"], tab["class"]):
        y = _clean(year)
        y = str(int(float(y))) if re.fullmatch(r"\d+(\.0+)?", y) else ""
        out.append({"title": _clean(title), "year": y, "genre": _genres(_clean(cls), None)})
    return out


def movielens_small_items(item_ids: np.ndarray | None = None) -> list[dict]:
    """Attribute dicts {title, genre} of MovieLens latest-small items (the asset has no year column)."""
    from simrepro.data.movielens_small import load_movielens_small
    tab = load_movielens_small("items").set_index("item_id")
    ids = tab.index.to_numpy() if item_ids is None else np.asarray(item_ids)
    tab = tab.reindex(ids)
    if tab["title"].isna().any():
        raise ValueError("some item ids are not in the MovieLens-small item table")
    return [{"title": _clean(t), "genre": _genres(_clean(g), "|")} for t, g in zip(tab["title"], tab["genres"])]


# -------------------------------------------------------------------------------------------------- sequences
def user_sequences(inter: ev.Interactions, split: ev.Split, drop_items: np.ndarray | None = None) -> list[np.ndarray]:
    """Per user index 0..U−1, the user's training items ordered by timestamp (ties by item index), with the
    items of ``drop_items`` (a boolean (I,) mask) removed. Users without training items get an empty array."""
    key = inter.users * inter.n_items + inter.items
    o = np.argsort(key)
    pos = np.searchsorted(key[o], split.train_users * inter.n_items + split.train_items)
    want = split.train_users * inter.n_items + split.train_items
    if len(pos) and (key[o][np.minimum(pos, len(key) - 1)] != want).any():
        raise ValueError("the split's training pairs are not in the interactions")
    ts = inter.timestamps[o][pos]
    keep = np.ones(len(split.train_items), bool) if drop_items is None else ~np.asarray(drop_items)[split.train_items]
    u, it, t = split.train_users[keep], split.train_items[keep], ts[keep]
    order = np.lexsort((it, t, u))
    u, it = u[order], it[order]
    bounds = np.searchsorted(u, np.arange(split.n_users + 1))
    return [it[bounds[k]:bounds[k + 1]].astype(np.int64) for k in range(split.n_users)]


def windows(seqs: Sequence[np.ndarray], max_len: int, max_windows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training windows: each sequence s (len n ≥ 2) gives inputs s[:-1] and targets s[1:], cut from the end into
    chunks of ``max_len`` (only the ``max_windows`` most recent per sequence when > 0) and left-padded with −1.
    Returns (inputs, targets), (N, max_len) int64."""
    if max_len < 1:
        raise ValueError(f"max_len must be ≥ 1, got {max_len}")
    if max_windows < 0:
        raise ValueError(f"max_windows must be ≥ 0 (0 = all), got {max_windows}")
    xs, ys = [], []
    for s in seqs:
        s = np.asarray(s, np.int64)
        x, y = s[:-1], s[1:]
        ends = list(range(len(x), 0, -max_len))
        for end in ends[:max_windows] if max_windows else ends:
            a = max(0, end - max_len)
            row_x = np.full(max_len, -1, np.int64)
            row_y = np.full(max_len, -1, np.int64)
            row_x[max_len - (end - a):] = x[a:end]
            row_y[max_len - (end - a):] = y[a:end]
            xs.append(row_x)
            ys.append(row_y)
    if not xs:
        return np.zeros((0, max_len), np.int64), np.zeros((0, max_len), np.int64)
    return np.stack(xs), np.stack(ys)


def windows_reference(seqs: Sequence[np.ndarray], max_len: int) -> set[tuple[int, int, int]]:
    """The (sequence, position in sequence, next item) triples training must see: every consecutive pair once."""
    return {(n, p, int(s[p + 1])) for n, s in enumerate(seqs) for p in range(len(s) - 1)}


def last_items(seqs: Sequence[np.ndarray], max_len: int) -> np.ndarray:
    """(U, max_len) int64: each user's last ``max_len`` items, left-padded with −1 (the inference input)."""
    out = np.full((len(seqs), max_len), -1, np.int64)
    for u, s in enumerate(seqs):
        s = np.asarray(s[-max_len:], np.int64)
        if len(s):
            out[u, max_len - len(s):] = s
    return out


def cold_items(n_items: int, fraction: float, seed: int, candidates: np.ndarray | None = None) -> np.ndarray:
    """Boolean (n_items,) mask: a seeded ``fraction`` of ``candidates`` (default all items) held out of training."""
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    cand = np.arange(n_items) if candidates is None else np.asarray(candidates)
    pick = np.random.default_rng(seed).choice(cand, size=int(round(fraction * len(cand))), replace=False)
    mask = np.zeros(n_items, bool)
    mask[pick] = True
    return mask


# ------------------------------------------------------------------------------------------------------ models
def _check_features(X, name="text features") -> torch.Tensor:
    X = torch.as_tensor(np.asarray(X, np.float32))
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty (n_items, dim) array, got shape {tuple(X.shape)}")
    if not torch.isfinite(X).all():
        raise ValueError(f"{name} contain NaN or inf: re-encode the item texts")
    return X


class _Encoder(nn.Module):
    def __init__(self, dim: int, n_layers: int, n_heads: int, dropout: float, max_tokens: int):
        super().__init__()
        layer = nn.TransformerEncoderLayer(dim, n_heads, 2 * dim, dropout, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.max_tokens = max_tokens

    def forward(self, x: torch.Tensor, pad: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.drop(x) * (~pad).unsqueeze(-1)             # pads are zero vectors (SASRec's timeline mask)
        return self.norm(self.layers(x, mask=mask)) * (~pad).unsqueeze(-1)


class SeqRecLite(nn.Module):
    """SASRec-lite (``item_repr='id'``) or Recformer-lite (``'text'``, ``text`` (I, D) frozen features)."""

    def __init__(self, n_items: int, *, item_repr: str = "text", text=None, dim: int = 64, max_len: int = 50,
                 n_layers: int = 2, n_heads: int = 2, dropout: float = 0.1, temp: float = 0.05):
        super().__init__()
        if item_repr not in ("id", "text"):
            raise ValueError(f"item_repr must be 'id' or 'text', got {item_repr!r}")
        if temp <= 0:
            raise ValueError(f"temp must be > 0, got {temp}")
        self.item_repr, self.temp, self.max_len, self.n_items = item_repr, float(temp), int(max_len), int(n_items)
        if item_repr == "text":
            X = _check_features(text)
            if X.shape[0] != n_items:
                raise ValueError(f"text features have {X.shape[0]} rows for {n_items} items")
            self.register_buffer("text", X)
            self.proj = nn.Linear(X.shape[1], dim)
            self.proj_norm = nn.LayerNorm(dim)
        else:
            self.emb = nn.Embedding(n_items, dim)
            nn.init.normal_(self.emb.weight, std=dim ** -0.5)
        self.pos = nn.Embedding(max_len, dim)
        self.enc = _Encoder(dim, n_layers, n_heads, dropout, max_len)

    def item_table(self) -> torch.Tensor:
        """(I, d) item representations."""
        if self.item_repr == "text":
            return self.proj_norm(self.proj(self.text))
        return self.emb.weight

    def with_text(self, text) -> SeqRecLite:
        """A copy scoring a new catalogue from its text features (zero-shot transfer; text models only)."""
        if self.item_repr != "text":
            raise ValueError("an ID-based model has no representation for a new catalogue's items")
        X = _check_features(text)
        if X.shape[1] != self.text.shape[1]:
            raise ValueError(f"text features must have {self.text.shape[1]} columns, got {X.shape[1]}")
        import copy
        new = copy.deepcopy(self)
        new.text = X
        new.n_items = X.shape[0]
        return new

    def encode(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """(B, L) item indices (−1 = pad, left-padded) → (B, L, d) states h_t (causal)."""
        L = seq.shape[1]
        if L > self.max_len:
            raise ValueError(f"sequences longer than max_len={self.max_len}")
        pad = seq < 0
        x = table[seq.clamp(min=0)] + self.pos.weight[self.max_len - L:]
        causal = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
        return self.enc(x, pad, causal)

    def logits(self, h: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """cos(h, e_i)/τ for every item: (..., d) → (..., I)."""
        return nn.functional.normalize(h, dim=-1) @ nn.functional.normalize(table, dim=-1).T / self.temp

    def loss(self, x: torch.Tensor, y: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        """Next-item cross-entropy at every non-pad position; ``known`` (I,) bool restricts the softmax to the
        items that exist at training time (cold items are then absent, not negatives)."""
        table = self.item_table()
        h = self.encode(x, table)
        keep = y >= 0
        s = self.logits(h[keep], table)
        if known is not None:
            s = s.masked_fill(~known, -1e4)
        return nn.functional.cross_entropy(s, y[keep])

    @torch.no_grad()
    def score(self, last: np.ndarray, batch: int = 512) -> np.ndarray:
        """(U, L) inputs from :func:`last_items` → (U, I) float64 scores at the last position (a user with no
        history gets all zeros: every item ties)."""
        self.eval()
        table = self.item_table()
        out = []
        for a in range(0, len(last), batch):
            seq = torch.as_tensor(last[a:a + batch])
            h = self.encode(seq, table)[:, -1]
            s = self.logits(h, table)
            s[(seq < 0).all(1)] = 0.0
            out.append(s.double().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_items))


class MarsLite(SeqRecLite):
    """MARS-lite: per-attribute item vectors and user multi-vectors, attribute-wise max matching.

    ``attrs``: list of A frozen (I, D) feature arrays (one per attribute)."""

    def __init__(self, n_items: int, *, attrs: Sequence, dim: int = 64, max_len: int = 20, n_layers: int = 2,
                 n_heads: int = 2, dropout: float = 0.1, temp: float = 0.05):
        nn.Module.__init__(self)
        if temp <= 0:
            raise ValueError(f"temp must be > 0, got {temp}")
        if len(attrs) < 1:
            raise ValueError("attrs must hold at least one (n_items, dim) array")
        self.item_repr, self.temp, self.max_len, self.n_items = "mars", float(temp), int(max_len), int(n_items)
        feats = [_check_features(a, f"attribute {k} features") for k, a in enumerate(attrs)]
        if any(f.shape != feats[0].shape or f.shape[0] != n_items for f in feats):
            raise ValueError(f"every attribute needs ({n_items}, D) features, got {[tuple(f.shape) for f in feats]}")
        self.register_buffer("text", torch.stack(feats, 1))                      # (I, A, D)
        A, D = len(feats), feats[0].shape[1]
        self.A = A
        self.proj = nn.Parameter(torch.randn(A, D, dim) * D ** -0.5)
        self.proj_b = nn.Parameter(torch.zeros(A, dim))
        self.proj_norm = nn.LayerNorm(dim)
        self.attr_type = nn.Embedding(A, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.enc = _Encoder(dim, n_layers, n_heads, dropout, max_len * A)

    def item_table(self) -> torch.Tensor:
        """(I, A, d) per-attribute item representations."""
        return self.proj_norm(torch.einsum("iad,ade->iae", self.text, self.proj) + self.proj_b)

    def with_text(self, attrs) -> MarsLite:
        import copy
        feats = torch.stack([_check_features(a) for a in attrs], 1)
        if feats.shape[1:] != self.text.shape[1:]:
            raise ValueError(f"attribute features must be (I, {self.A}, {self.text.shape[2]})")
        new = copy.deepcopy(self)
        new.text, new.n_items = feats, feats.shape[0]
        return new

    def encode(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """(B, L) → (B, L, A, d) user multi-vectors u_{j,a} (block-causal over items)."""
        B, L = seq.shape
        if L > self.max_len:
            raise ValueError(f"sequences longer than max_len={self.max_len}")
        pad = (seq < 0).repeat_interleave(self.A, 1)                             # (B, L·A)
        x = table[seq.clamp(min=0)] + self.pos.weight[self.max_len - L:, None] + self.attr_type.weight[None]
        item_of = torch.arange(L).repeat_interleave(self.A)
        block = item_of[None, :] > item_of[:, None]                              # a token sees items ≤ its own
        return self.enc(x.reshape(B, L * self.A, -1), pad, block).reshape(B, L, self.A, -1)

    def logits(self, h: torch.Tensor, table: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        """S(t, i) = mean_a max_{j≤t} cos(u_{j,a}, e_{i,a})/τ. ``h`` (B, L, A, d), pad (B, L) → (B, L, I)."""
        hn, en = nn.functional.normalize(h, dim=-1), nn.functional.normalize(table, dim=-1)
        out = 0.0
        for a in range(hn.shape[2]):                                             # one matmul per attribute
            s = hn[:, :, a] @ en[:, a].T / self.temp                             # (B, L, I)
            if pad is not None:
                s = s.masked_fill(pad[:, :, None], -1e4)
            out = out + prefix_max(s)
        return out / hn.shape[2]

    def loss(self, x: torch.Tensor, y: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
        table = self.item_table()
        h = self.encode(x, table)
        keep = y >= 0
        s = self.logits(h, table, x < 0)[keep]
        if known is not None:
            s = s.masked_fill(~known, -1e4)
        return nn.functional.cross_entropy(s, y[keep])

    @torch.no_grad()
    def score(self, last: np.ndarray, batch: int = 128) -> np.ndarray:
        self.eval()
        table = self.item_table()
        out = []
        for a in range(0, len(last), batch):
            seq = torch.as_tensor(last[a:a + batch])
            s = self.logits(self.encode(seq, table), table, seq < 0)[:, -1]
            s[(seq < 0).all(1)] = 0.0
            out.append(s.double().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.n_items))


def prefix_max(s: torch.Tensor) -> torch.Tensor:
    """Running maximum along dim 1, out[:, t] = max_{j ≤ t} s[:, j]. The arg-max indices come from one pass over
    t without autograd; the values are gathered from ``s``, so the gradient flows to the maximising entry (as
    for ``torch.cummax``, which is slower on CPU along a strided dim)."""
    with torch.no_grad():
        run, arg = s[:, 0].clone(), torch.zeros_like(s[:, 0], dtype=torch.long)
        idx = torch.zeros(s.shape, dtype=torch.long)
        for t in range(1, s.shape[1]):
            better = s[:, t] > run
            run = torch.where(better, s[:, t], run)
            arg = torch.where(better, t, arg)
            idx[:, t] = arg
    return s.gather(1, idx)


def mars_scores_reference(u: np.ndarray, e: np.ndarray, temp: float) -> np.ndarray:
    """The definition with loops: u (L, A, d) multi-vectors of one user, e (I, A, d) → (L, I) with
    S[t, i] = (1/A) Σ_a max_{j ≤ t} cos(u[j, a], e[i, a]) / τ."""
    L, A, _ = u.shape
    out = np.zeros((L, e.shape[0]))
    for t in range(L):
        for i in range(e.shape[0]):
            tot = 0.0
            for a in range(A):
                best = -np.inf
                for j in range(t + 1):
                    c = u[j, a] @ e[i, a] / (np.linalg.norm(u[j, a]) * np.linalg.norm(e[i, a]))
                    best = max(best, c / temp)
                tot += best
            out[t, i] = tot / A
    return out


@dataclass
class FitLog:
    losses: list[float]
    seconds: float


def fit(model: SeqRecLite, seqs: Sequence[np.ndarray], *, epochs: int = 5, batch: int = 128, lr: float = 1e-3,
        weight_decay: float = 0.0, seed: int = 0, max_windows: int = 0, known: np.ndarray | None = None) -> FitLog:
    """Adam on the windows of ``seqs`` (:func:`windows`; cross-entropy over all items, or over the ``known``
    (I,) bool items only), ``epochs`` passes in a seeded order. Returns the mean loss per epoch. Deterministic
    for a fixed seed and thread count."""
    import time
    x, y = windows(seqs, model.max_len, max_windows)
    if len(x) == 0:
        raise ValueError("no training window: every sequence has fewer than 2 items")
    kn = None
    if known is not None:
        kn = torch.as_tensor(np.asarray(known, bool))
        if kn.shape != (model.n_items,):
            raise ValueError(f"known must be a ({model.n_items},) bool mask, got {tuple(kn.shape)}")
        if not kn[torch.as_tensor(y[y >= 0])].all():
            raise ValueError("a training target is not among the known items")
        if model.item_repr == "id":       # an unseen ID has no learned vector: zero → cosine 0 with every user
            with torch.no_grad():
                model.emb.weight[~kn] = 0.0
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    X, Y = torch.as_tensor(x), torch.as_tensor(y)
    losses, t0 = [], time.time()
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=g)
        tot, n = 0.0, 0
        for a in range(0, len(X), batch):
            idx = perm[a:a + batch]
            loss = model.loss(X[idx], Y[idx], kn)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += loss.item() * len(idx)
            n += len(idx)
        losses.append(tot / n)
        if not np.isfinite(losses[-1]):
            raise FloatingPointError("training loss is not finite: lower lr")
    return FitLog(losses, time.time() - t0)


def last_item_text_scores(last: np.ndarray, text: np.ndarray) -> np.ndarray:
    """Training-free reference: cos(x_{last item}, x_i) for every item; users without history get zeros."""
    X = np.asarray(text, np.float64)
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    li = last[:, -1]
    S = X[np.maximum(li, 0)] @ X.T
    S[li < 0] = 0.0
    return S


def per_user_metrics(scores: np.ndarray, split: ev.Split, k: int = 10) -> pd.DataFrame:
    """Full ranking (training items masked) through the wave's harness; per judged user: hit@k, ndcg@k and the
    target item. Columns user, target, hr, ndcg."""
    r = ev.full_ranking(scores, split, k)
    per = ev.evaluate(r, (f"hit@{k}", f"ndcg@{k}"), per_user=True)
    u = np.asarray(per["query_id"]).astype(int)
    target = np.full(split.n_users, -1)
    target[split.test_users] = split.test_items
    return pd.DataFrame({"user": u, "target": target[u], "hr": np.asarray(per[f"hit@{k}"], float),
                         "ndcg": np.asarray(per[f"ndcg@{k}"], float)})
