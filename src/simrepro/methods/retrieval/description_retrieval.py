"""Description-based retrieval (Ravfogel, Pyatkin, Cohen, Manevich, Goldberg, "Retrieving Texts based on Abstract
Descriptions", arXiv 2305.12517): find the sentences that an *abstract description* ("a person opened a
shop in a city") fits, and a dual encoder trained on (sentence, description) pairs with *misleading*
descriptions as hard negatives.

Offline there is no LLM to write descriptions, so they are rule-generated (:func:`describe`): over a simple
tokenisation, WordNet 3.0 nouns become the lemma two hypernym levels above their first sense ("store" →
"a place of business"), unknown capitalised names "someone", pronouns "someone", years "a time", other numbers
"a number"; verbs are kept; negations become "not"; every other word is dropped. Misleading descriptions
(:func:`misleading`) keep the same abstract words but swap the first and last noun phrase (roles reversed) or
negate the predicate (insert or remove "not").

The trained model is a query-side linear adapter over *frozen* sentence embeddings (:func:`train_adapter`):
``f(q) = normalize(W e(q) + b)`` with ``W = I, b = 0`` at start (the official ``train.py`` starts its linear
heads at the identity, lines 98 and 171–175), trained with InfoNCE over the batch (sentence → description and
description → sentence, temperature τ) where each sentence's misleading descriptions are added to the
candidates it must rank its true description above (the official code adds a triplet term on the ``bad``
descriptions instead: ``train.py`` lines 310–312, 351–352). Sentences keep their frozen embedding ``e(s)``.
Scores are cosines; retrieval is exact top-k.
"""

from __future__ import annotations

import re

import numpy as np

PRONOUNS = frozenset("i you he she we they me him her us them someone somebody anyone everyone everybody".split())
NEGATIONS = frozenset("not no never nothing nobody none".split())
FUNCTION = frozenset((
    "a an the this that these those it its it's there here his hers our ours your yours their theirs my mine "
    "and or but if then than so as of to in on at by for from with about into over under after before between "
    "through during without within upon against among is are was were be been being am has have had having "
    "do does did doing will would shall should can could may might must also just only very too more most "
    "less least much many some any all each every both either neither other another such what which who whom "
    "whose when where why how because while although though since until unless yet still even again ever "
    "up down out off away back now then today yesterday tomorrow well really quite rather almost always often "
    "sometimes said says say one").split())
VERB_CUES = frozenset("i you he she we they to will would can could should may might must not did do does "
                      "never who that".split())
_TOKEN = re.compile(r"[A-Za-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*")


def _article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _noun_base(w: str, lex: dict) -> str | None:
    nouns, exc = lex["noun_abstract"], lex["noun_exc"]
    for cand in (w, exc.get(w), w[:-3] + "y" if w.endswith("ies") else None,
                 w[:-2] if w.endswith("es") else None, w[:-1] if w.endswith("s") else None):
        if cand and cand in nouns:
            return cand
    return None


def _verb_base(w: str, lex: dict) -> str | None:
    verbs, exc = lex["verbs"], lex["verb_exc"]
    cands = [w, exc.get(w)]
    for suf, add in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("d", ""), ("es", ""), ("s", "")):
        if w.endswith(suf) and len(w) > len(suf) + 2:
            cands.append(w[: -len(suf)] + add)
    if w.endswith(("ing", "ed")) and len(w) > 5 and w[-4] == w[-5]:      # doubled consonant: stopped -> stop
        cands.append(w[:-3] if w.endswith("ed") else w[:-4])
    for c in cands:
        if c and c in verbs:
            return c
    return None


def describe_items(sentence: str, lex: dict) -> list[tuple[str, str]]:
    """The description of ``sentence`` as ``(kind, phrase)`` items, kind ∈ {'noun', 'verb', 'neg'}, in
    sentence order, consecutive duplicates merged. ``lex`` is
    :func:`simrepro.data.description_sentences.load_abstraction_lexicon`'s dict."""
    if not isinstance(sentence, str):
        raise TypeError(f"sentence must be a str, got {type(sentence).__name__}")
    toks = _TOKEN.findall(sentence)
    items: list[tuple[str, str]] = []
    i, prev = 0, ""
    while i < len(toks):
        t = toks[i]
        low = t.lower()
        if t[0].isupper() and not (i == 0 and (low in FUNCTION or low in PRONOUNS or low in NEGATIONS
                                               or _noun_base(low, lex) or _verb_base(low, lex))):
            j = i
            while j + 1 < len(toks) and toks[j + 1][0].isupper():
                j += 1
            run = [x.lower() for x in toks[i:j + 1]]
            hit = next((lex["noun_abstract"][" ".join(run[a:])] for a in range(len(run))
                        if " ".join(run[a:]) in lex["noun_abstract"]), None)
            items.append(("noun", _article(hit) if hit else "someone"))
            i, prev = j + 1, run[-1]
            continue
        if t[0].isdigit():
            v = t.replace(",", "")
            items.append(("noun", "a time" if re.fullmatch(r"1[5-9]\d\d|20\d\d", v) else "a number"))
        elif low in NEGATIONS or low.endswith("n't"):
            items.append(("neg", "not"))
        elif low in PRONOUNS:
            items.append(("noun", "someone"))
        elif low not in FUNCTION:
            noun, verb = _noun_base(low, lex), _verb_base(low, lex)
            if verb and (not noun or prev in VERB_CUES or (low.endswith(("ed", "ing")) and low != noun)):
                items.append(("verb", low))
            elif noun:
                items.append(("noun", _article(lex["noun_abstract"][noun])))
        prev = low
        i += 1
    out: list[tuple[str, str]] = []
    for it in items:
        if not out or out[-1] != it:
            out.append(it)
    return out


def render(items: list[tuple[str, str]]) -> str:
    """The description text: the phrases joined by spaces ('something' when there are none)."""
    return " ".join(p for _, p in items) if items else "something"


def describe(sentence: str, lex: dict, max_items: int | None = None) -> str:
    """The rule-generated abstract description of one sentence (see the module docstring), its first
    ``max_items`` items when given."""
    return render(describe_items(sentence, lex)[:max_items])


def misleading(items: list[tuple[str, str]]) -> dict[str, str | None]:
    """Misleading variants of a description, same abstract words: ``'swap'`` the first and last noun phrases
    exchanged (None when there are no two different noun phrases) and ``'negate'`` the first 'not' removed, or
    'not' inserted before the first verb (before the first item when there is no verb)."""
    nouns = [k for k, (kind, _) in enumerate(items) if kind == "noun"]
    swap = None
    if len(nouns) >= 2 and items[nouns[0]] != items[nouns[-1]]:
        sw = list(items)
        sw[nouns[0]], sw[nouns[-1]] = items[nouns[-1]], items[nouns[0]]
        swap = render(sw)
    negs = [k for k, (kind, _) in enumerate(items) if kind == "neg"]
    if negs:
        neg = items[:negs[0]] + items[negs[0] + 1:]
    else:
        verbs = [k for k, (kind, _) in enumerate(items) if kind == "verb"]
        at = verbs[0] if verbs else 0
        neg = items[:at] + [("neg", "not")] + items[at:]
    return {"swap": swap, "negate": render(neg)}


# --------------------------------------------------------------------------------------------- retrieval
def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (n, d), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or inf; re-encode the texts")
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def rank_of_gold(scores: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """(n_q,) 1-based rank of ``gold[i]`` in row i of ``scores`` (n_q, N); ties counted pessimistically
    (every other document with an equal score ranks ahead). Reference for recall@k."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN; a NaN cannot be ranked")
    g = scores[np.arange(len(gold)), gold]
    return (scores >= g[:, None]).sum(axis=1)


def recall_at_k(scores: np.ndarray, gold: np.ndarray, k: int = 10) -> float:
    """Fraction of queries whose one relevant document (``gold[i]``) ranks ≤ k (ties pessimistic)."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if len(gold) == 0:
        raise ValueError("no queries: recall@k needs at least one (query, gold) pair")
    return float((rank_of_gold(scores, np.asarray(gold)) <= k).mean())


def distractor_rate(sent: np.ndarray, true_q: np.ndarray, mis_q: np.ndarray, mis_of: np.ndarray) -> float:
    """Fraction of sentences i (those with ≥ 1 misleading description) for which some misleading description
    j of theirs (``mis_of[j] == i``) scores ≥ the true one: cos(s_i, m_j) ≥ cos(s_i, q_i) — the sentence's top-1
    among its own true and misleading descriptions is a distractor (a tie counts as a hit)."""
    S, Q, M = _unit(sent), _unit(true_q), _unit(mis_q)
    mis_of = np.asarray(mis_of, dtype=np.int64)
    if len(S) != len(Q) or len(M) != len(mis_of):
        raise ValueError("need one true description per sentence and one owner index per misleading description")
    if len(M) == 0:
        raise ValueError("no misleading descriptions: the distractor rate is undefined")
    true_s = (S * Q).sum(1)
    mis_s = (S[mis_of] * M).sum(1)
    worst = np.full(len(S), -np.inf)
    np.maximum.at(worst, mis_of, mis_s)
    has = np.isfinite(worst)
    return float((worst[has] >= true_s[has]).mean())


def train_adapter(q_emb: np.ndarray, s_emb: np.ndarray, *, neg_emb: np.ndarray | None = None,
                  neg_of: np.ndarray | None = None, epochs: int = 20, batch_size: int = 128, lr: float = 1e-3,
                  tau: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Train ``f(q) = W q + b`` (W = I, b = 0 at start) on frozen unit embeddings of descriptions ``q_emb``
    (n, d) and their sentences ``s_emb`` (n, d) with Adam; returns ``(W (d, d), b (d,), loss per epoch)``.

    Loss per batch B (τ = ``tau``, ĝ = unit(f(q))):
    ``L = ½ CE_i(softmax_j ĝ_j·s_i / τ over j ∈ B ∪ N(B)) + ½ CE_i(softmax_j ĝ_i·s_j / τ over j ∈ B)`` where
    N(B) are the misleading descriptions of the batch's sentences (``neg_emb`` rows with ``neg_of`` in B):
    each sentence must rank its true description above the batch's other descriptions and above misleading
    ones. ``neg_emb=None`` drops N(B) (plain in-batch InfoNCE). Cost O(epochs · n · (B + |N|) · d)."""
    import torch

    q, s = _unit(q_emb), _unit(s_emb)
    if q.shape != s.shape or len(q) < 2:
        raise ValueError(f"need matching (n, d) description and sentence embeddings with n >= 2, got {q.shape}, {s.shape}")
    if (neg_emb is None) != (neg_of is None):
        raise ValueError("give both neg_emb and neg_of, or neither")
    g = torch.Generator().manual_seed(seed)
    n, d = q.shape
    W = torch.nn.Parameter(torch.eye(d))
    b = torch.nn.Parameter(torch.zeros(d))
    opt = torch.optim.Adam([W, b], lr=lr)
    Q, S = torch.from_numpy(q), torch.from_numpy(s)
    if neg_emb is not None:
        N = torch.from_numpy(_unit(neg_emb))
        owner = torch.from_numpy(np.asarray(neg_of, dtype=np.int64))
        if len(N) != len(owner) or (len(owner) and (owner.min() < 0 or owner.max() >= n)):
            raise ValueError("neg_of must give, for each misleading description, its sentence's row in 0..n-1")
        by_owner = [[] for _ in range(n)]
        for j, o in enumerate(owner.tolist()):
            by_owner[o].append(j)
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start:start + batch_size]
            if len(idx) < 2:
                continue
            gq = torch.nn.functional.normalize(Q[idx] @ W.T + b, dim=1)
            sb = S[idx]
            cands = gq
            if neg_emb is not None:
                nj = [j for i in idx.tolist() for j in by_owner[i]]
                if nj:
                    gn = torch.nn.functional.normalize(N[nj] @ W.T + b, dim=1)
                    cands = torch.cat([gq, gn], 0)
            target = torch.arange(len(idx))
            l_s2q = torch.nn.functional.cross_entropy(sb @ cands.T / tau, target)      # sentence -> descriptions
            l_q2s = torch.nn.functional.cross_entropy(gq @ sb.T / tau, target)         # description -> sentences
            loss = 0.5 * (l_s2q + l_q2s)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(idx)
        losses.append(tot / n)
    return W.detach().numpy().copy(), b.detach().numpy().copy(), losses


def apply_adapter(q_emb: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """unit(q W^T + b): the trained query-side map applied to frozen description embeddings."""
    return _unit(_unit(q_emb) @ np.asarray(W, np.float32).T + np.asarray(b, np.float32))


def cosine_scores(q: np.ndarray, s: np.ndarray) -> np.ndarray:
    """(n_q, n_s) cosine similarities."""
    return _unit(q) @ _unit(s).T
