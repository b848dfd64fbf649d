r"""Domain-routed mixture-of-experts embeddings trained with the multiple-negatives ranking (MNR) loss
(Hallee, Kapur, Patel, Gleghorn & Khomtchouk, "Contrastive Learning and Mixture of Experts Enables Precise Vector
Embeddings", arXiv 2401.15713; official code Gleghorn-Lab/Mixture-of-Experts-Sentence-Similarity).

**Two real domains with conflicting notions of "similar" over the same words** (our stand-in for the paper's
biomedical co-citation domains):

- *similarity* — taxonomic pairs from WordNet 3.0 nouns (asset ``wordnet_nouns``, first-hypernym tree, first
  lemmas): (hyponym, direct hypernym) and co-hyponyms (two children of the same parent, at most
  ``cohyponym_cap`` pairs per parent), both words in the vocabulary;
- *relatedness* — associative pairs: words that co-occur within a ``window`` in real text (Lee news + fortune
  sentences from asset ``description_sentences``, and WordNet glosses prefixed with their headword), kept when
  they co-occur ≥ ``min_pair_count`` times with PMI ≥ ``pmi_min`` (:func:`simrepro.kernels.pmi.pmi`), each word
  keeping its ``top_per_word`` best partners, **minus** every pair that is taxonomically linked (parent,
  grandparent or sibling of any sense), so "coffee–cup" stays and "coffee–beverage" goes.

**Model** (:class:`RoutedEncoder`). Frozen input vectors x ∈ ℝ^d (all-MiniLM-L6-v2 word embeddings) pass ``n_blocks``
residual blocks; block ℓ is

    h ← h + M_ℓ · LN(h)                    (shared "mixer": the analogue of BERT's shared attention)
    h ← h + FFN_{ℓ, e}(LN(h))              (expert e = the input's domain when block ℓ is MoE, else one FFN)

and the embedding is h / ‖h‖. FFN(z) = W₂ GELU(W₁ z). Enforced routing: each example carries its domain index
e ∈ {0..N−1} (the paper's domain special token, which selects the expert; paper §2 / official
``models/moe_blocks.py`` ``SentenceEnforcedSwitchMoeBlock``); experts are copies of one initial FFN (the paper
copies BERT's pretrained MLP N times). Each example runs exactly one expert per block, so the compute per example
equals the dense model's. :meth:`RoutedEncoder.forward_reference` computes every expert for every example and
gathers the routed one — the plain reference of the masked routing.

**Loss** (MNR, in-batch negatives): for a batch of positive pairs (aᵢ, bᵢ) with unit embeddings,

    L = −(1/B) Σᵢ log softmax_j (s · ⟨aᵢ, bⱼ⟩)ᵢ,   s = ``scale`` (20 = sentence-transformers' default)

computed by the shared tiled kernel :func:`simrepro.kernels.contrastive.tiled_info_nce` with τ = 1/s.

**Evaluation** (:func:`pair_f1`): per domain, held-out positive pairs against random word pairs (1:1), cosine
scores, the F1-maximising threshold chosen on a dev split and applied to the test split (the official code picks
the best threshold on the evaluated set itself, ``metrics.py`` ``max_metrics``; that number is also returned as
``max_f1``); and Spearman ρ on SimLex-999 / WordSim-353.

Everything is CPU-sized: d = 384, a few hundred steps; O(steps · B · (d·h)) per model.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn as nn
import torch.nn.functional as F

from simrepro.kernels.contrastive import info_nce_reference, tiled_info_nce
from simrepro.kernels.pmi import cooccurrence, pmi

DOMAINS = ("similarity", "relatedness")
_TOKEN = re.compile(r"[a-z]+")


# ----------------------------------------------------------------------------------------------- data

def tokenize(text: str) -> list[str]:
    """Lower-cased alphabetic tokens of ``text``."""
    return _TOKEN.findall(text.lower())


def build_vocab(docs: list[list[str]], n_vocab: int, *, stopwords=frozenset(), min_len: int = 3,
                extra: tuple[str, ...] = ()) -> list[str]:
    """The ``n_vocab`` most frequent tokens (ties broken alphabetically) of length ≥ ``min_len`` not in
    ``stopwords``, plus the ``extra`` words (e.g. the benchmark words), sorted."""
    if n_vocab < 1:
        raise ValueError(f"n_vocab must be ≥ 1, got {n_vocab}")
    counts: dict[str, int] = defaultdict(int)
    for d in docs:
        for w in d:
            counts[w] += 1
    ranked = sorted((w for w in counts if len(w) >= min_len and w not in stopwords), key=lambda w: (-counts[w], w))
    return sorted(set(ranked[:n_vocab]) | set(extra))


def taxonomic_pairs(parent: np.ndarray, lemma: list[str], vocab: dict[str, int], *, cohyponym_cap: int = 10,
                    seed: int = 0) -> dict[str, np.ndarray]:
    """Taxonomic word pairs from a hypernym tree over synsets (``parent[i]`` = parent synset or −1, ``lemma[i]``
    = its first lemma). Returns {'hypernym': (k, 2), 'cohyponym': (k, 2), 'linked': (k, 2)} vocabulary index
    pairs (i < j, unique); 'linked' = every pair within two tree steps or siblings, of any sense (the exclusion
    set for the relatedness domain); 'cohyponym' keeps at most ``cohyponym_cap`` pairs per parent (seeded)."""
    if len(parent) != len(lemma):
        raise ValueError(f"parent ({len(parent)}) and lemma ({len(lemma)}) must have the same length")
    widx = np.array([-1 if w[:1].isupper() else vocab.get(w, -1) for w in lemma], dtype=np.int64)   # no proper nouns
    children: dict[int, list[int]] = defaultdict(list)
    for s, p in enumerate(parent):
        if p >= 0 and widx[s] >= 0:
            children[int(p)].append(s)
    rng = np.random.default_rng(seed)
    hyper, cohypo, linked = set(), set(), set()

    def key(a, b):
        return (a, b) if a < b else (b, a)

    for s in range(len(parent)):
        a = widx[s]
        if a < 0:
            continue
        p = int(parent[s])
        if p >= 0 and widx[p] >= 0 and widx[p] != a:
            hyper.add(key(a, widx[p]))
            linked.add(key(a, widx[p]))
        g = int(parent[p]) if p >= 0 else -1
        if g >= 0 and widx[g] >= 0 and widx[g] != a:
            linked.add(key(a, widx[g]))
    for p, kids in sorted(children.items()):
        ws = sorted({int(widx[k]) for k in kids})
        allp = [(ws[i], ws[j]) for i in range(len(ws)) for j in range(i + 1, len(ws))]
        linked.update(allp)
        if len(allp) > cohyponym_cap:
            allp = [allp[i] for i in rng.choice(len(allp), cohyponym_cap, replace=False)]
        cohypo.update(allp)
    cohypo -= hyper

    def arr(s):
        return np.array(sorted(s), dtype=np.int64).reshape(-1, 2)

    return {"hypernym": arr(hyper), "cohyponym": arr(cohypo), "linked": arr(linked)}


def cooccurrence_pairs(docs: list[list[str]], vocab: dict[str, int], *, window: int = 5, min_pair_count: int = 3,
                       pmi_min: float = 2.0, top_per_word: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Associative pairs: (k, 2) vocabulary index pairs (i < j, unique) and their PMI. Counts are uniform-window
    co-occurrences (:func:`simrepro.kernels.pmi.cooccurrence`; out-of-vocabulary tokens keep their slot so
    windows are not shortened); a pair is kept if its count ≥ ``min_pair_count``, its PMI ≥ ``pmi_min`` and it
    is among the ``top_per_word`` highest-PMI partners of either word."""
    V = len(vocab)
    seqs = [np.array([vocab.get(w, V) for w in d], dtype=np.int64) for d in docs if len(d) > 1]
    X = cooccurrence(seqs, V + 1, window=window, weighting="uniform")[:V, :V].tocsr()
    X.setdiag(0)
    X.eliminate_zeros()
    Mcsr = pmi(X, "pmi")
    P = Mcsr.tocoo()
    if P.nnz == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0)
    cnt = np.asarray(X[P.row, P.col]).ravel()
    ok = (cnt >= min_pair_count) & (P.data >= pmi_min) & (P.row != P.col)
    r, c, v = P.row[ok], P.col[ok], P.data[ok]
    keep = set()
    order = np.lexsort((c, -v, r))                     # per row: by PMI descending, ties by column
    r, c, v = r[order], c[order], v[order]
    starts = np.r_[0, np.flatnonzero(np.diff(r)) + 1]
    for s, e in zip(starts, np.r_[starts[1:], len(r)]):
        for k in range(s, min(e, s + top_per_word)):
            keep.add((min(r[k], c[k]), max(r[k], c[k])))
    pairs = np.array(sorted(keep), dtype=np.int64).reshape(-1, 2)
    vals = np.asarray(Mcsr[pairs[:, 0], pairs[:, 1]]).ravel() if len(pairs) else np.zeros(0)
    return pairs, vals


def remove_pairs(pairs: np.ndarray, banned: np.ndarray) -> np.ndarray:
    """Rows of ``pairs`` (k, 2) whose unordered pair is not in ``banned`` (m, 2)."""
    if len(pairs) == 0 or len(banned) == 0:
        return pairs.reshape(-1, 2)
    b = {(min(x, y), max(x, y)) for x, y in banned.tolist()}
    keep = [i for i, (x, y) in enumerate(pairs.tolist()) if (min(x, y), max(x, y)) not in b]
    return pairs[keep].reshape(-1, 2)


def split_pairs(pairs: np.ndarray, fractions=(0.7, 0.1, 0.2), *, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded random split of the rows of ``pairs`` into {'train', 'dev', 'test'} by ``fractions``."""
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or not np.isclose(f.sum(), 1.0):
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    perm = np.random.default_rng(seed).permutation(len(pairs))
    a = int(round(f[0] * len(pairs)))
    b = a + int(round(f[1] * len(pairs)))
    return {"train": pairs[perm[:a]], "dev": pairs[perm[a:b]], "test": pairs[perm[b:]]}


def with_random_negatives(pos: np.ndarray, n_words: int, known: np.ndarray, *, seed: int = 0
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(pairs (2k, 2), labels (2k,)): the k positives and k random word pairs (first word of a positive, second
    word uniform over the vocabulary) that are not in ``known`` (all positive pairs of the domain) and not
    self-pairs — the official evaluation's random in-domain negatives, 1:1."""
    if n_words < 2:
        raise ValueError("need at least two words to draw negatives")
    known_set = {(min(x, y), max(x, y)) for x, y in np.asarray(known).reshape(-1, 2).tolist()}
    rng = np.random.default_rng(seed)
    neg = []
    for a in pos[:, 0].tolist():
        while True:
            b = int(rng.integers(n_words))
            if b != a and (min(a, b), max(a, b)) not in known_set:
                neg.append((a, b))
                break
    neg = np.array(neg, dtype=np.int64).reshape(-1, 2)
    return np.r_[pos.reshape(-1, 2), neg], np.r_[np.ones(len(pos)), np.zeros(len(neg))]


def load_domain_pairs(n_vocab: int = 6000, *, window: int = 5, min_pair_count: int = 3, pmi_min: float = 2.0,
                      top_per_word: int = 5, cohyponym_cap: int = 10) -> dict:
    """Build the two domains from the offline assets (module docstring). The vocabulary is the ``n_vocab`` most
    frequent non-stop-word tokens of the corpus plus every SimLex-999 / WordSim-353 word; benchmark pairs are
    removed from both training domains. Returns {'words': list, 'pairs': {domain: (k, 2)}, 'pmi': (k,),
    'benchmarks': {'simlex999' | 'wordsim353': (pairs (m, 2), human (m,))}, 'stats': dict}."""
    from gensim.parsing.preprocessing import STOPWORDS

    from simrepro.data._store import load_array, open_file
    from simrepro.data.description_sentences import load_description_sentences
    from simrepro.data.word_eval import load_word_similarity

    sents, _ = load_description_sentences()
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    parent = load_array("wordnet_nouns", "parent.npy")
    docs = [tokenize(s) for s in sents] + [tokenize(f"{l} {g}") for l, g in zip(lemma, gloss)]
    bench = {b: load_word_similarity(b) for b in ("simlex999", "wordsim353")}
    extra = tuple(sorted({w for df in bench.values() for w in (*df.word1, *df.word2) if _TOKEN.fullmatch(w)}))
    words = build_vocab(docs, n_vocab, stopwords=frozenset(STOPWORDS), extra=extra)
    vocab = {w: i for i, w in enumerate(words)}
    tax = taxonomic_pairs(parent, lemma, vocab, cohyponym_cap=cohyponym_cap)
    rel, rel_pmi = cooccurrence_pairs(docs, vocab, window=window, min_pair_count=min_pair_count, pmi_min=pmi_min,
                                      top_per_word=top_per_word)
    keep = remove_pairs(rel, tax["linked"])
    kept = {tuple(p) for p in keep.tolist()}
    rel_pmi = np.array([v for p, v in zip(rel.tolist(), rel_pmi) if tuple(p) in kept])
    sim = np.unique(np.r_[tax["hypernym"], tax["cohyponym"]], axis=0)
    bpairs, out_b = [], {}
    for b, df in bench.items():
        ok = [i for i, (x, y) in enumerate(zip(df.word1, df.word2)) if x in vocab and y in vocab]
        bp = np.array([[vocab[df.word1[i]], vocab[df.word2[i]]] for i in ok], dtype=np.int64)
        out_b[b] = (bp, df.score.to_numpy()[ok])
        bpairs.append(bp)
    banned = np.concatenate(bpairs)
    sim, rel_final = remove_pairs(sim, banned), remove_pairs(keep, banned)
    both = {tuple(p) for p in sim.tolist()} & {tuple(p) for p in rel_final.tolist()}
    stats = {"n_words": len(words), "n_tokens": int(sum(map(len, docs))), "n_docs": len(docs),
             "n_hypernym": len(tax["hypernym"]), "n_cohyponym": len(tax["cohyponym"]),
             "n_cooc_candidates": len(rel), "n_removed_taxonomic": len(rel) - len(keep), "overlap": len(both)}
    return {"words": words, "pairs": {"similarity": sim, "relatedness": rel_final}, "pmi": rel_pmi,
            "benchmarks": out_b, "stats": stats}


# ----------------------------------------------------------------------------------------------- model

class FFN(nn.Module):
    """W₂ GELU(W₁ z): (…, d) → (…, d)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(hidden, dim)

    def forward(self, z):
        return self.w2(F.gelu(self.w1(z)))


class RoutedEncoder(nn.Module):
    """Residual blocks over frozen input vectors with enforced domain routing (module docstring).

    ``moe`` — one bool per block: True = N experts (copies of one initial FFN) routed by the domain index,
    False = one FFN shared by all domains. ``n_experts`` = 1 gives a dense model. ``forward(x (B, d), domain
    (B,) int64) → (B, d)`` unit-norm rows."""

    def __init__(self, dim: int, hidden: int, moe: tuple[bool, ...], n_experts: int, *, seed: int = 0):
        super().__init__()
        if n_experts < 1 or len(moe) < 1:
            raise ValueError(f"need n_experts ≥ 1 and at least one block, got {n_experts}, {moe}")
        gen = torch.random.fork_rng()
        with gen:
            torch.manual_seed(seed)
            self.norm1 = nn.ModuleList(nn.LayerNorm(dim) for _ in moe)
            self.norm2 = nn.ModuleList(nn.LayerNorm(dim) for _ in moe)
            self.mixer = nn.ModuleList(nn.Linear(dim, dim) for _ in moe)
            self.experts = nn.ModuleList()
            for m in moe:
                base = FFN(dim, hidden)
                k = n_experts if m else 1
                nn.init.zeros_(base.w2.bias)           # start near the identity map: the frozen embedding
                with torch.no_grad():
                    base.w2.weight.mul_(0.1)
                self.experts.append(nn.ModuleList(copy.deepcopy(base) for _ in range(k)))
            for lin in self.mixer:
                nn.init.normal_(lin.weight, std=0.01)
                nn.init.zeros_(lin.bias)
        self.moe = tuple(bool(m) for m in moe)
        self.n_experts = int(n_experts)

    def _check(self, x, domain):
        if x.ndim != 2 or domain.shape != (x.shape[0],):
            raise ValueError(f"x must be (B, d) and domain (B,), got {tuple(x.shape)} and {tuple(domain.shape)}")
        if len(domain) and (int(domain.min()) < 0 or int(domain.max()) >= self.n_experts):
            raise ValueError(f"domain indices must lie in [0, {self.n_experts}), got "
                             f"[{int(domain.min())}, {int(domain.max())}]")

    def forward(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        self._check(x, domain)
        h = x
        for ln1, ln2, mix, group in zip(self.norm1, self.norm2, self.mixer, self.experts):
            h = h + mix(ln1(h))
            z = ln2(h)
            if len(group) == 1:
                h = h + group[0](z)
            else:                                   # enforced routing: each example runs its domain's expert only
                out = torch.zeros_like(h)
                for e, ffn in enumerate(group):
                    m = domain == e
                    if m.any():
                        out[m] = ffn(z[m])
                h = h + out
        return F.normalize(h, dim=-1)

    @torch.no_grad()
    def forward_reference(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        """Every expert on every example, then gather the routed one (N× the compute; the plain reference)."""
        self._check(x, domain)
        h = x
        for ln1, ln2, mix, group in zip(self.norm1, self.norm2, self.mixer, self.experts):
            h = h + mix(ln1(h))
            z = ln2(h)
            allout = torch.stack([ffn(z) for ffn in group])           # (E, B, d)
            pick = domain if len(group) > 1 else torch.zeros_like(domain)
            h = h + allout[pick, torch.arange(len(x))]
        return F.normalize(h, dim=-1)


def mnr_loss(a: torch.Tensor, b: torch.Tensor, scale: float = 20.0, *, reference: bool = False) -> torch.Tensor:
    """Multiple-negatives ranking loss of unit rows (B, d), (B, d) → (): cross-entropy of ``scale·a bᵀ`` with
    the diagonal as targets (tiled shared kernel; ``reference=True`` uses the materialised definition)."""
    fn = info_nce_reference if reference else tiled_info_nce
    return fn(a, b, 1.0 / scale)


def train_encoder(model: RoutedEncoder, X: torch.Tensor, train: dict[int, np.ndarray], *, steps_per_domain: int,
                  batch: int, lr: float, scale: float = 20.0, seed: int = 0, route: dict[int, int] | None = None
                  ) -> list[float]:
    """Adam on the MNR loss. ``train`` = {domain index: (k, 2) training pairs}; batches are single-domain and
    alternate round-robin over the domains, ``steps_per_domain`` batches each (so every model sees each of its
    domains equally often). ``route`` maps a domain to the expert index it is routed to (default: itself; a
    dense model ignores it). Returns the loss per step."""
    if batch < 2:
        raise ValueError(f"batch must be ≥ 2 (in-batch negatives), got {batch}")
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    route = route or {d: d for d in train}
    doms = sorted(train)
    losses = []
    model.train()
    for step in range(steps_per_domain * len(doms)):
        d = doms[step % len(doms)]
        P = train[d]
        idx = rng.choice(len(P), min(batch, len(P)), replace=False)
        a, b = P[idx, 0], P[idx, 1]
        flip = rng.random(len(idx)) < 0.5                      # symmetric pairs: random order
        a, b = np.where(flip, b, a), np.where(flip, a, b)
        e = torch.full((len(idx),), route[d] if model.n_experts > 1 else 0, dtype=torch.long)
        loss = mnr_loss(model(X[a], e), model(X[b], e), scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


@torch.no_grad()
def embed(model: RoutedEncoder | None, X: torch.Tensor, expert: int = 0) -> np.ndarray:
    """(V, d) unit embeddings of all words routed to ``expert`` (``model=None``: the frozen input vectors)."""
    if model is None:
        return F.normalize(X, dim=-1).numpy()
    e = torch.full((len(X),), expert if model.n_experts > 1 else 0, dtype=torch.long)
    return model(X, e).numpy()


# ----------------------------------------------------------------------------------------------- metrics

def _f1_curve(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds, F1 at "score ≥ threshold") for every distinct score, ties kept together."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(1 - y)
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]           # last index of each tie group
    tp, fp, th = tp[last], fp[last], s[last]
    P = y.sum()
    f1 = 2 * tp / np.maximum(tp + fp + P, 1e-12)
    return th, f1


def pair_f1(dev_scores, dev_labels, test_scores, test_labels) -> dict[str, float]:
    """Binary pair classification by cosine threshold. The threshold maximises F1 on dev; returns {'f1': test F1
    at that threshold, 'threshold', 'max_f1': the best test F1 over all thresholds (the official convention)}.
    F1 = 2TP / (2TP + FP + FN)."""
    ds, dl = np.asarray(dev_scores, float), np.asarray(dev_labels, float)
    ts, tl = np.asarray(test_scores, float), np.asarray(test_labels, float)
    for s, l in ((ds, dl), (ts, tl)):
        if s.shape != l.shape or s.ndim != 1 or s.size == 0:
            raise ValueError("scores and labels must be non-empty 1-D arrays of the same length")
        if not np.isfinite(s).all():
            raise ValueError("scores contain NaN or inf")
        if l.sum() == 0:
            raise ValueError("labels contain no positive pair")
    th, f1 = _f1_curve(ds, dl)
    t = th[int(np.argmax(f1))]
    pred = ts >= t
    tp = float((pred & (tl == 1)).sum())
    fp = float((pred & (tl == 0)).sum())
    fn = float((~pred & (tl == 1)).sum())
    return {"f1": 2 * tp / max(2 * tp + fp + fn, 1e-12), "threshold": float(t),
            "max_f1": float(_f1_curve(ts, tl)[1].max())}


def pca_project(X: np.ndarray, k: int) -> np.ndarray:
    """Rows of ``X`` (n, d) centred and projected on their top-``k`` principal axes (SVD; each axis's sign fixed
    so its largest-magnitude loading is positive), then scaled to unit norm: (n, k) float32. A frozen, fixed map
    that makes the trainable blocks CPU-sized."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not 1 <= k <= min(X.shape):
        raise ValueError(f"need a 2-D X and 1 ≤ k ≤ min(X.shape) = {min(X.shape) if X.ndim == 2 else '?'}, got {k}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf")
    Xc = X - X.mean(axis=0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    vt = vt[:k]
    vt *= np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])[:, None]
    Z = Xc @ vt.T
    return (Z / np.maximum(np.linalg.norm(Z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def pair_scores(E: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Cosine of the rows of unit ``E`` at each pair: (k,)."""
    return np.einsum("kd,kd->k", E[pairs[:, 0]], E[pairs[:, 1]])


def spearman(E: np.ndarray, pairs: np.ndarray, human: np.ndarray) -> float:
    """Spearman ρ between the cosine of the pairs and human scores."""
    from scipy.stats import spearmanr
    return float(spearmanr(pair_scores(E, pairs), human).statistic)


def recovered_fraction(single, full, base) -> float:
    """(single − base) / (full − base): the share of the full-MoE gain over the dense model that the one-block MoE
    recovers (NaN when the full MoE gains nothing)."""
    den = full - base
    return float((single - base) / den) if abs(den) > 1e-12 else float("nan")


# ----------------------------------------------------------------------------------------------- one seed

MODELS = ("shared", "separate", "moe_all", "moe_last")


def run_seed(X: np.ndarray, pairs: dict[str, np.ndarray], benchmarks: dict[str, tuple[np.ndarray, np.ndarray]], *,
             seed: int, hidden: int, n_blocks: int, steps_per_domain: int, batch: int, lr: float, scale: float = 20.0,
             n_eval: int | None = None) -> dict:
    """Train and evaluate the four models of the paper's comparison on one seed (split, init, batches).

    ``pairs`` = {domain name: (k, 2) positive pairs} in :data:`DOMAINS` order; ``benchmarks`` = {name: (pairs,
    human scores)}. Returns {'f1': {model: {domain: F1}}, 'max_f1', 'cross_f1' (separate model trained on domain
    i evaluated on domain j), 'models' (the trained modules), 'conflict_f1' (domain positives vs the other domain's positives), 'spearman': {model/route: {benchmark: ρ}}, 'losses'}."""
    Xt = torch.as_tensor(X, dtype=torch.float32)
    V, dim = Xt.shape
    splits, evalsets = {}, {}
    for k, name in enumerate(DOMAINS):
        sp_ = split_pairs(pairs[name], seed=seed)
        if n_eval is not None:
            sp_["dev"], sp_["test"] = sp_["dev"][:n_eval], sp_["test"][:n_eval]
        splits[k] = sp_
        evalsets[k] = {part: with_random_negatives(sp_[part], V, pairs[name], seed=seed * 7 + 3 * k + i)
                       for i, part in enumerate(("dev", "test"))}
    conflict = {}                   # domain k's held-out positives vs the other domain's held-out positives
    for k in splits:
        o = 1 - k if len(splits) == 2 else (k + 1) % len(splits)
        conflict[k] = {part: (np.r_[splits[k][part], splits[o][part]],
                              np.r_[np.ones(len(splits[k][part])), np.zeros(len(splits[o][part]))])
                       for part in ("dev", "test")}
    train = {k: splits[k]["train"] for k in splits}
    kw = dict(steps_per_domain=steps_per_domain, batch=batch, lr=lr, scale=scale)
    models, losses = {}, {}
    models["shared"] = RoutedEncoder(dim, hidden, (False,) * n_blocks, 1, seed=seed)
    losses["shared"] = train_encoder(models["shared"], Xt, train, seed=seed, **kw)
    for k in splits:
        m = RoutedEncoder(dim, hidden, (False,) * n_blocks, 1, seed=seed)
        losses[f"separate_{k}"] = train_encoder(m, Xt, {k: train[k]}, seed=seed, **kw)
        models[f"separate_{k}"] = m
    models["moe_all"] = RoutedEncoder(dim, hidden, (True,) * n_blocks, len(DOMAINS), seed=seed)
    losses["moe_all"] = train_encoder(models["moe_all"], Xt, train, seed=seed, **kw)
    models["moe_last"] = RoutedEncoder(dim, hidden, (False,) * (n_blocks - 1) + (True,), len(DOMAINS), seed=seed)
    losses["moe_last"] = train_encoder(models["moe_last"], Xt, train, seed=seed, **kw)

    def emb_for(model_name, k):
        if model_name == "frozen":
            return embed(None, Xt)
        if model_name == "separate":
            return embed(models[f"separate_{k}"], Xt)
        return embed(models[model_name], Xt, k)

    def evaluate(E, k, sets=evalsets):
        (dp, dl), (tp_, tl) = sets[k]["dev"], sets[k]["test"]
        return pair_f1(pair_scores(E, dp), dl, pair_scores(E, tp_), tl)

    f1, mx, f1c = defaultdict(dict), defaultdict(dict), defaultdict(dict)
    for name in ("frozen",) + MODELS:
        for k, dname in enumerate(DOMAINS):
            E = emb_for(name, k)
            r = evaluate(E, k)
            f1[name][dname], mx[name][dname] = r["f1"], r["max_f1"]
            f1c[name][dname] = evaluate(E, k, conflict)["f1"]
    cross = np.array([[evaluate(embed(models[f"separate_{i}"], Xt), j)["f1"] for j in splits] for i in splits])
    rho = defaultdict(dict)
    routes = {"frozen": emb_for("frozen", 0), "shared": emb_for("shared", 0)}
    for k, dname in enumerate(DOMAINS):
        routes[f"separate_{dname}"] = emb_for("separate", k)
        routes[f"moe_all_{dname}"] = emb_for("moe_all", k)
        routes[f"moe_last_{dname}"] = emb_for("moe_last", k)
    for rname, E in routes.items():
        for bname, (bp, bh) in benchmarks.items():
            rho[rname][bname] = spearman(E, bp, bh)
    return {"f1": dict(f1), "max_f1": dict(mx), "conflict_f1": dict(f1c), "cross_f1": cross, "spearman": dict(rho),
            "losses": losses, "models": models,
            "n_train": {DOMAINS[k]: len(train[k]) for k in train},
            "n_test": {DOMAINS[k]: len(splits[k]["test"]) for k in splits}}


def st_mnr_loss(a: torch.Tensor, b: torch.Tensor, scale: float = 20.0) -> torch.Tensor:
    """The peer: sentence-transformers' ``MultipleNegativesRankingLoss`` (default directions, cos_sim) on the same
    (B, d) anchor / positive embeddings, through its ``compute_loss_from_embeddings``."""
    try:
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    except ImportError as exc:             # pragma: no cover - the lock pins sentence-transformers
        raise ImportError("the MNR peer needs sentence-transformers: pip install sentence-transformers==6.2.0") from exc
    loss = MultipleNegativesRankingLoss(nn.Identity(), scale=scale)
    return loss.compute_loss_from_embeddings([a, b], torch.zeros(len(a)))
