r"""MUSER (Li et al., CIKM 2023): multi-view similar case retrieval with legal elements, on a seeded proxy.

The official repository (github.com/THUlawtech/MUSER @085d223) defines the pieces mirrored here:

- a **hierarchical label taxonomy in three views**: legal facts (``aqbq``, levels of 11 / 69 / 211 labels),
  dispute focus (``zyjd``, 11 / 121 / 294) and law statutes (``ft``, 8 laws / 35 articles): the sizes are the
  key counts of ``data/legal_items/{aqbq,zyjd,ft}.json`` (:data:`OFFICIAL_SIZES`);
- the **legal-element retrieval model** of ``src/experiments/solve_labels.py``: per view and level a binary
  label vector, cosine per level (0 for an empty vector, L84-88), levels weighted by their share of the view's
  labels (L34-41) and views by 0.5 / 0.4 / 0.1 (L98):

      sim(q, c) = Σ_v W_v Σ_l (n_{v,l} / Σ_l' n_{v,l'}) · cos(x_{q,v,l}, x_{c,v,l})        (:func:`element_similarity`)

- the **evaluation** of ``src/experiments/metrics.py``: NDCG@K against each query's 30 best-graded candidates
  (grades 0–8; L45-57, L86-96), precision and MAP with relevance = grade ≥ 5 (L100-126).

The MUSER data (Chinese civil cases) is not offline, so :func:`make_corpus` builds a synthetic corpus with the
same construction: cases are bags of leaf elements per view drawn around topic prototypes, rendered to English
sentences from WordNet law vocabulary plus noise, with graded relevance (0–8) from a *multi-view
partial-credit overlap* (:func:`relevance_similarity`; exact leaf 1, same level-2 parent 0.5, same level-1
branch 0.2), which is a different function from the retrieval model's cosine but, like every element-defined
relevance, favours element-based retrieval. Costs: element similarity O(n_q · n_c · Σ labels) dense.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

VIEWS = ("fact", "dispute", "statute")
# key counts of data/legal_items/aqbq.json, zyjd.json, ft.json (official repo @085d223), levels top-down
OFFICIAL_SIZES = {"fact": (11, 69, 211), "dispute": (11, 121, 294), "statute": (8, 35)}
VIEW_WEIGHTS = {"fact": 0.5, "dispute": 0.4, "statute": 0.1}          # solve_labels.py L98
RELEVANT_GRADE = 5                                                      # metrics.py L109, L120
MAX_GRADE = 8                                                           # sim_scores.json grades 0..8
PARTIAL_CREDIT = (1.0, 0.5, 0.2)        # same leaf, same level-2 parent, same level-1 branch
_LAW_ROOTS = ("transaction", "crime", "law", "contract", "payment", "debt", "loan", "judge", "lawyer", "court",
              "mortgage", "legal document", "obligation", "legal action", "proceeding", "litigant", "tribunal")
_PREFIX = {"fact": ("The court found that", "It was established that", "The evidence showed that",
                    "The record shows that"),
           "dispute": ("The parties disputed whether", "The issue is whether", "The court considered whether",
                       "The defendant contested whether"),
           "statute": ("Pursuant to", "According to", "Under the provisions of", "As required by")}
_FUNCTION = ("the", "of", "and", "with", "for", "on", "by", "a", "in", "to")


# ----------------------------------------------------------------------------------------------- taxonomy

@dataclass
class Taxonomy:
    """``sizes[v]``: labels per level (top-down); ``parent[v][l]``: (sizes[v][l],) index of each level-l label's
    parent in level l-1 (``parent[v][0]`` is all -1); ``words[v][l]``: each label's signature words."""
    sizes: dict
    parent: dict
    words: dict = field(default_factory=dict)

    def ancestors(self, view: str, leaf: int) -> list[int]:
        """[level-0 id, level-1 id, …, leaf] of a leaf of ``view``."""
        out = [int(leaf)]
        for lvl in range(len(self.sizes[view]) - 1, 0, -1):
            out.append(int(self.parent[view][lvl][out[-1]]))
        return out[::-1]


def make_taxonomy(sizes: dict, rng: np.random.Generator) -> Taxonomy:
    """A random tree per view: every label of level l ≥ 1 gets a uniform parent, every parent ≥ 1 child."""
    parent = {}
    for v, sz in sizes.items():
        if not sz or any(int(s) < 1 for s in sz) or any(b < a for a, b in zip(sz, sz[1:])):
            raise ValueError(f"view {v!r}: level sizes must be ≥ 1 and non-decreasing top-down, got {sz}")
        levels = [np.full(sz[0], -1, np.int64)]
        for a, b in zip(sz, sz[1:]):
            p = np.r_[rng.permutation(a), rng.integers(0, a, b - a)]
            levels.append(rng.permutation(p).astype(np.int64))
        parent[v] = levels
    return Taxonomy({v: tuple(int(s) for s in sz) for v, sz in sizes.items()}, parent)


def level_weights(sizes) -> np.ndarray:
    """Level weights n_l / Σ n_l' (solve_labels.py L34-41)."""
    s = np.asarray(sizes, np.float64)
    return s / s.sum()


def element_vectors(leaves: list[dict], tax: Taxonomy) -> dict:
    """{view: [ (n_cases, sizes[v][l]) float64 binary matrices per level ]}: a leaf switches on itself and its
    ancestors (solve_labels.py get_vectors)."""
    out = {}
    for v in tax.sizes:
        mats = [np.zeros((len(leaves), s)) for s in tax.sizes[v]]
        for i, case in enumerate(leaves):
            for leaf in case.get(v, ()):
                for lvl, lab in enumerate(tax.ancestors(v, leaf)):
                    mats[lvl][i, lab] = 1.0
        out[v] = mats
    return out


def _cos_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    na, nb = np.linalg.norm(A, axis=1), np.linalg.norm(B, axis=1)
    S = A @ B.T
    den = np.outer(na, nb)
    return np.divide(S, den, out=np.zeros_like(S), where=den > 0)      # empty vector → 0 (L84-88)


def element_similarity(qv: dict, cv: dict, sizes: dict, view_weights: dict | None = None) -> np.ndarray:
    """(n_q, n_c) official legal-element similarity (formula in the module docstring) of the vectors from
    :func:`element_vectors`."""
    view_weights = VIEW_WEIGHTS if view_weights is None else view_weights
    n_q, n_c = qv[VIEWS[0]][0].shape[0], cv[VIEWS[0]][0].shape[0]
    S = np.zeros((n_q, n_c))
    for v, W in view_weights.items():
        for w, A, B in zip(level_weights(sizes[v]), qv[v], cv[v]):
            S += W * w * _cos_rows(A, B)
    return S


def element_similarity_reference(qv: dict, cv: dict, sizes: dict) -> np.ndarray:
    """The same with scipy's cosine distance pair by pair and NaN → 0, as solve_labels.py L84-98 does."""
    from scipy.spatial import distance
    n_q, n_c = qv[VIEWS[0]][0].shape[0], cv[VIEWS[0]][0].shape[0]
    out = np.zeros((n_q, n_c))
    for i in range(n_q):
        for j in range(n_c):
            tot = 0.0
            for v, W in VIEW_WEIGHTS.items():
                for w, A, B in zip(level_weights(sizes[v]), qv[v], cv[v]):
                    with np.errstate(invalid="ignore", divide="ignore"):
                        c = 1.0 - distance.cosine(A[i], B[j]) if A[i].any() and B[j].any() else float("nan")
                    tot += W * w * (0.0 if math.isnan(c) else c)
            out[i, j] = tot
    return out


def relevance_similarity(q: dict, c: dict, tax: Taxonomy, credit=PARTIAL_CREDIT) -> float:
    """Multi-view partial-credit overlap in [0, 1]: per view, each leaf of either case earns its best credit
    against the other case's leaves (same leaf 1, same level-2 parent 0.5, same level-1 branch 0.2; a view with
    2 levels has no middle credit), summed over both cases / (|Q| + |C|); views weighted 0.5 / 0.4 / 0.1.
    A view empty in both cases scores 0."""
    tot = 0.0
    for v, W in VIEW_WEIGHTS.items():
        Q, C = list(q.get(v, ())), list(c.get(v, ()))
        if not Q or not C:
            continue
        aq = [tax.ancestors(v, x) for x in Q]
        ac = [tax.ancestors(v, x) for x in C]

        def best(a, others):
            b = 0.0
            for o in others:
                if a[-1] == o[-1]:
                    return credit[0]
                if len(a) == 3 and a[1] == o[1]:
                    b = max(b, credit[1])
                elif a[0] == o[0]:
                    b = max(b, credit[2])
            return b
        tot += W * (sum(best(a, ac) for a in aq) + sum(best(a, aq) for a in ac)) / (len(Q) + len(C))
    return tot


def grade(sim: float) -> int:
    """Relevance grade 0..8 from a similarity in [0, 1]: ⌊9·sim⌋ capped at 8 (MUSER's 0–8 scale)."""
    if not np.isfinite(sim) or sim < -1e-12 or sim > 1 + 1e-12:
        raise ValueError(f"similarity must be in [0, 1], got {sim}")
    return int(min(MAX_GRADE, math.floor(9 * sim + 1e-12)))


# ------------------------------------------------------------------------------------------ vocabulary

def law_vocabulary(min_len: int = 4) -> tuple[list[str], list[str]]:
    """(law words, general words): single-word lower-case first lemmas of WordNet 3.0 noun synsets under the
    law-related roots :data:`_LAW_ROOTS` (every synset whose first lemma is a root name, and its hyponym tree),
    and of all other noun synsets (noise). Reads the ``wordnet_nouns`` asset."""
    from simrepro.data._store import load_array, open_file
    from simrepro.data.wordnet_tree import children_index, hyponyms
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    parent = load_array("wordnet_nouns", "parent.npy")
    first = [lm.split(",")[0].strip() for lm in lemma]
    roots = [i for i, f in enumerate(first) if f in _LAW_ROOTS]
    law_ids = set(roots) | set(hyponyms(children_index(parent), roots))
    ok = re.compile(rf"^[a-z]{{{min_len},}}$")
    law = sorted({first[i] for i in law_ids if ok.match(first[i])})
    law_set = set(law)
    general = sorted({f for f in first if ok.match(f) and f not in law_set})
    return law, general


# ------------------------------------------------------------------------------------------ the corpus

@dataclass
class Corpus:
    """Cases 0..n-1: ``leaves[i]`` {view: leaf ids}; ``sentences[i]`` list of (view, text, leaf or -1);
    ``texts[i]`` the case text; ``queries`` case ids; ``pools[q]`` candidate case ids of query q (not q);
    ``grades[q]`` {case id: 0..8} over the pool; ``tax`` the taxonomy; ``train_leaves`` / ``train_sentences``
    the annotated training cases (same taxonomy, their own topics, disjoint from every case above)."""
    leaves: list
    sentences: list
    texts: list
    queries: np.ndarray
    pools: list
    grades: list
    tax: Taxonomy
    n_topics: int = 0
    train_leaves: list = field(default_factory=list)
    train_sentences: list = field(default_factory=list)


def _render(view: str, leaf: int, tax: Taxonomy, rng, law: list[str], general: list[str],
            p_confuse: float, n_noise: int) -> str:
    anc = tax.ancestors(view, leaf)
    if rng.random() < p_confuse:        # annotation–text mismatch: the sentence speaks a sibling label's words
        lvl = len(anc) - 1
        sib = np.flatnonzero(tax.parent[view][lvl] == anc[-2])
        anc = anc[:-1] + [int(rng.choice(sib))]
    L = len(anc) - 1
    w = list(rng.choice(tax.words[view][L][anc[-1]], size=2, replace=False))
    w += [str(rng.choice(tax.words[view][lvl][anc[lvl]])) for lvl in range(L)]
    w += [str(rng.choice(law)) if rng.random() < 0.5 else str(rng.choice(general)) for _ in range(n_noise)]
    w = [str(x) for x in rng.permutation(w)]
    body = " ".join(x if k % 2 else f"{x} {rng.choice(_FUNCTION)}" for k, x in enumerate(w)).rstrip()
    return f"{rng.choice(_PREFIX[view])} {body}."


def make_corpus(n_cases: int, n_queries: int, pool_size: int, *, seed: int, sizes: dict | None = None,
                n_topics: int | None = None, words_per_label: int = 3, n_elements=(4, 6, 3, 4, 2, 3),
                p_confuse: float = 0.2, n_noise: int = 5, n_filler: int = 3, same_topic: float = 0.5,
                n_branches: int = 3, n_train: int = 0, vocab: tuple[list[str], list[str]] | None = None) -> Corpus:
    """A seeded MUSER-like corpus (see the module docstring).

    Topics: ``n_topics`` prototypes (default n_cases // 40, ≥ n_queries), each with leaves drawn from two of
    ``n_branches`` level-0 branches per view shared by the whole corpus (as MUSER's cases are all one cause of
    action, private lending); numbers of leaves per case ``n_elements`` = (fact lo, hi, dispute lo, hi,
    statute lo, hi). A case of a topic keeps each prototype leaf with probability 1 − r (r = u², u ~ U(0, 1)
    per case; r = 0 for a topic's first case), otherwise replaces it by a leaf of the same branch (½) or of the whole view. Queries: one case of
    each of the first ``n_queries`` topics. Pool of a query: up to ``same_topic`` · pool_size other cases of
    its topic, the rest uniform from the other cases. Grades: :func:`grade` of :func:`relevance_similarity`.
    ``n_train`` more cases (40 a topic, on topics of their own) carry the sentence annotations a predictor
    learns from.
    """
    sizes = OFFICIAL_SIZES if sizes is None else sizes
    n_topics = max(n_queries, n_cases // 40) if n_topics is None else n_topics
    if not (1 <= n_queries <= n_topics <= n_cases) or not 1 <= pool_size < n_cases:
        raise ValueError(f"need 1 ≤ n_queries ≤ n_topics ≤ n_cases and 1 ≤ pool_size < n_cases, got "
                         f"{n_queries}, {n_topics}, {n_cases}, {pool_size}")
    if not 0 <= p_confuse <= 1 or not 0 <= same_topic <= 1:
        raise ValueError("p_confuse and same_topic must lie in [0, 1]")
    rng = np.random.default_rng(seed)
    law, general = law_vocabulary() if vocab is None else vocab
    law, general = np.asarray(law), np.asarray(general)
    if len(law) < 2 * words_per_label or words_per_label < 2:
        raise ValueError(f"need words_per_label ≥ 2 and ≥ {2 * words_per_label} law words, got {len(law)}")
    tax = make_taxonomy(sizes, rng)
    tax.words = {v: [[rng.choice(law, words_per_label, replace=False) for _ in range(s)] for s in sz]
                 for v, sz in tax.sizes.items()}
    leaf_of_branch = {v: [np.flatnonzero(np.array([tax.ancestors(v, x)[0] for x in range(sz[-1])]) == b)
                          for b in range(sz[0])] for v, sz in tax.sizes.items()}
    lo_hi = dict(zip(VIEWS, zip(n_elements[::2], n_elements[1::2])))

    def draw(v, branches, k):
        pool = np.concatenate([leaf_of_branch[v][b] for b in branches])
        return list(rng.choice(pool, size=min(k, pool.size), replace=False))

    n_train_topics = -(-n_train // 40) if n_train else 0
    shared = {v: rng.choice(tax.sizes[v][0], size=min(n_branches, tax.sizes[v][0]), replace=False) for v in VIEWS}
    protos = []
    for _ in range(n_topics + n_train_topics):
        p = {}
        for v in VIEWS:
            br = rng.choice(shared[v], size=min(2, shared[v].size), replace=False)
            p[v] = (br, draw(v, br, lo_hi[v][1]))
        protos.append(p)
    topic = np.r_[np.arange(n_topics), rng.integers(0, n_topics, n_cases - n_topics)]
    train_topic = n_topics + rng.integers(0, max(n_train_topics, 1), n_train)
    leaves, sentences, texts = [], [], []
    for i in range(n_cases + n_train):
        t = topic[i] if i < n_cases else train_topic[i - n_cases]
        r = rng.random() ** 2 if i >= n_topics else 0.0     # the topic's first case is its query: r = 0
        case = {}
        for v in VIEWS:
            br, pl = protos[t][v]
            k = int(rng.integers(lo_hi[v][0], lo_hi[v][1] + 1))
            out = []
            for x in rng.permutation(pl)[:k]:
                if rng.random() < r:
                    x = draw(v, br, 1)[0] if rng.random() < 0.5 else int(rng.integers(tax.sizes[v][-1]))
                out.append(int(x))
            case[v] = sorted(set(out))
        leaves.append(case)
        sents = [(v, _render(v, x, tax, rng, law, general, p_confuse if v != "statute" else 0.0, n_noise), x)
                 for v in VIEWS for x in case[v]]
        for _ in range(n_filler):
            w = [str(x) for x in rng.choice(general, 4)]
            sents.insert(int(rng.integers(0, len(sents) + 1)),
                         ("fact", f"{rng.choice(_PREFIX['fact'])} the {w[0]} of the {w[1]} and {w[2]} {w[3]}.", -1))
        sentences.append(sents)
        texts.append(" ".join(s for _, s, _ in sents))
    train_leaves, train_sentences = leaves[n_cases:], sentences[n_cases:]
    leaves, sentences, texts = leaves[:n_cases], sentences[:n_cases], texts[:n_cases]
    queries = np.arange(n_queries)                   # case q is the first case of topic q
    pools, grades = [], []
    for q in queries:
        same = np.flatnonzero((topic == topic[q]) & (np.arange(n_cases) != q))
        same = rng.permutation(same)[: int(round(same_topic * pool_size))]
        rest = np.setdiff1d(np.arange(n_cases), np.r_[same, q])
        pool = np.sort(np.r_[same, rng.choice(rest, pool_size - same.size, replace=False)]).astype(np.int64)
        pools.append(pool)
        grades.append({int(c): grade(relevance_similarity(leaves[q], leaves[c], tax)) for c in pool})
    return Corpus(leaves, sentences, texts, queries, pools, grades, tax, n_topics, train_leaves, train_sentences)


# ------------------------------------------------------------------------------------ element prediction

class ElementPredictor:
    """Sentence-level legal-element prediction, one classifier per view with labelled sentences (fact, dispute):
    TF-IDF (words, sublinear tf) + multinomial logistic regression over the view's leaf labels plus
    "none" (filler sentences). A case's predicted elements are the predicted labels of its sentences. Statutes
    are read, not predicted (MUSER's cases list their cited articles)."""

    def __init__(self, C: float = 10.0, max_iter: int = 100):
        self.C, self.max_iter, self.models = C, max_iter, {}

    def fit(self, sentences: list) -> "ElementPredictor":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        for v in ("fact", "dispute"):
            X = [s for case in sentences for (vv, s, _) in case if vv == v]
            y = [lab for case in sentences for (vv, _, lab) in case if vv == v]
            if len(set(y)) < 2:
                raise ValueError(f"view {v!r}: need sentences of ≥ 2 labels to fit, got {len(set(y))}")
            m = make_pipeline(TfidfVectorizer(sublinear_tf=True),
                              LogisticRegression(C=self.C, max_iter=self.max_iter))
            self.models[v] = m.fit(X, y)
        return self

    def predict_sentences(self, sentences: list) -> list:
        """Same structure as ``sentences`` with each fact/dispute label replaced by the prediction."""
        if not self.models:
            raise RuntimeError("ElementPredictor.fit must run before predict")
        out = [list(case) for case in sentences]
        for v, m in self.models.items():
            idx = [(i, j) for i, case in enumerate(sentences) for j, (vv, _, _) in enumerate(case) if vv == v]
            if not idx:
                continue
            pred = m.predict([sentences[i][j][1] for i, j in idx])
            for (i, j), p in zip(idx, pred):
                out[i][j] = (v, sentences[i][j][1], int(p))
        return out


def leaves_from_sentences(sentences: list) -> list[dict]:
    """{view: sorted leaf ids} per case from (view, text, leaf) sentences; label -1 (none) is skipped."""
    return [{v: sorted({lab for vv, _, lab in case if vv == v and lab >= 0}) for v in VIEWS} for case in sentences]


def sentence_accuracy(gold: list, pred: list, view: str) -> float:
    """Share of ``view`` sentences whose predicted label equals the gold label."""
    pairs = [(g[2], p[2]) for cg, cp in zip(gold, pred) for g, p in zip(cg, cp) if g[0] == view]
    if not pairs:
        raise ValueError(f"no {view!r} sentences")
    return float(np.mean([a == b for a, b in pairs]))


# --------------------------------------------------------------------------------- ranking and metrics

def minmax(x: np.ndarray) -> np.ndarray:
    """Min–max scaling of a 1-D score vector to [0, 1]; a constant vector maps to 0."""
    x = np.asarray(x, np.float64)
    if x.ndim != 1 or not np.isfinite(x).all():
        raise ValueError("scores must be a finite 1-D vector")
    rng_ = x.max() - x.min() if x.size else 0.0
    return (x - x.min()) / rng_ if rng_ > 0 else np.zeros_like(x)


def fuse(lexical: np.ndarray, element: np.ndarray, alpha: float) -> np.ndarray:
    """α · minmax(lexical) + (1 − α) · minmax(element) over one query's candidate pool."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return alpha * minmax(lexical) + (1 - alpha) * minmax(element)


def rank_pool(scores: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``pool`` ordered by decreasing score, ties → lower case id (stable)."""
    scores, pool = np.asarray(scores, np.float64), np.asarray(pool)
    if scores.shape != pool.shape:
        raise ValueError(f"{scores.shape} scores for a pool of {pool.shape}")
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN: a NaN cannot be ranked")
    o = np.lexsort((pool, -scores))
    return pool[o]


def ndcg_official(ranking, grades: dict, k: int, top: int | None = 30) -> float:
    """NDCG@k as MUSER's metrics.py L45-57, L86-96 computes it: gains are the grades of the ranked docs that are
    among the query's ``top`` best-graded candidates (others 0); the ideal DCG uses those ``top`` grades sorted.
    ``top=None`` uses every grade (standard NDCG with linear gain). A query whose ranked gains are all 0 scores 0.
    Grade ties in the top list: higher grade first, then lower id."""
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k}")
    best = sorted(grades.items(), key=lambda kv: (-kv[1], kv[0]))
    best = dict(best if top is None else best[:top])
    ranks = [best.get(int(d), 0) for d in ranking][:k]
    ranks += [0] * (k - len(ranks))
    ideal = sorted(best.values(), reverse=True)[:k]
    ideal += [0] * (k - len(ideal))
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    idcg = float(np.dot(ideal, disc))
    if idcg == 0 or sum(ranks) == 0:
        return 0.0
    return float(np.dot(ranks, disc) / idcg)


def map_official(ranking, grades: dict, top: int = 30, relevant: int = RELEVANT_GRADE) -> float:
    """MUSER's MAP (metrics.py L114-126): within the ranked docs that are among the ``top`` best-graded, the mean
    over the relevant ones (grade ≥ 5) of precision at their position in that filtered list; 0 if none."""
    best = dict(sorted(grades.items(), key=lambda kv: (-kv[1], kv[0]))[:top])
    r = [int(d) for d in ranking if int(d) in best]
    hits, ap, n = 0, 0.0, 0
    for pos, d in enumerate(r):
        if best[d] >= relevant:
            hits += 1
            ap += hits / (pos + 1)
            n += 1
    return ap / n if n else 0.0


def evaluate_rankings(rankings: list, grades: list, k: int = 30) -> dict:
    """Mean over queries of official NDCG@10/20/k and MAP, and (pytrec_eval through metrics.ir) NDCG@k with all
    grades, MAP and MRR with relevance = grade ≥ 5 over the pool ranking."""
    from simrepro.metrics import ir
    if len(rankings) != len(grades) or not rankings:
        raise ValueError("need one ranking per query's grades, at least one query")
    out = {f"ndcg{kk}": float(np.mean([ndcg_official(r, g, kk) for r, g in zip(rankings, grades)]))
           for kk in sorted({10, 20, k})}
    out["map_official"] = float(np.mean([map_official(r, g) for r, g in zip(rankings, grades)]))
    run = {str(q): {str(int(d)): float(len(r) - p) for p, d in enumerate(r)} for q, r in enumerate(rankings)}
    graded = {str(q): {str(d): int(s) for d, s in g.items() if s > 0} for q, g in enumerate(grades)}
    binary = {str(q): {str(d): 1 for d, s in g.items() if s >= RELEVANT_GRADE} for q, g in enumerate(grades)}
    out[f"trec_ndcg{k}"] = ir.evaluate(graded, run, (f"ndcg@{k}",))[f"ndcg@{k}"]
    # queries without a relevant (grade ≥ 5) candidate count 0 in both, as in metrics.py (÷ all queries)
    nb = sum(1 for g in binary.values() if g)
    if nb:
        r = ir.evaluate(binary, run, ("map", "mrr"))
        out["map"], out["mrr"] = r["map"] * nb / len(grades), r["mrr"] * nb / len(grades)
    else:
        out["map"] = out["mrr"] = 0.0
    return out


# ------------------------------------------------------------------------------------------ one seed

def run_seed(corpus: Corpus, *, alpha: float = 0.5, k: int = 30, n_dense_queries: int = 0,
             dense_model: str = "minilm") -> dict:
    """Every retriever on every query's pool of ``corpus``; returns {'metrics': {method: evaluate_rankings},
    'dense_sub': {method: … on the first n_dense_queries queries}, 'acc': sentence accuracies, 'rankings',
    'elem': {'pred', 'oracle'} similarity matrices (n_queries, n_cases)}.

    Methods: ``bm25`` (bm25s, lucene, k1 = 1.5, b = 0.75), ``rank_bm25`` (rank_bm25.BM25Okapi, the peer),
    ``tfidf`` (scikit-learn cosine), ``elem_pred`` / ``elem_oracle`` (official element similarity on predicted /
    gold elements), ``fusion_pred`` / ``fusion_oracle`` (:func:`fuse` of bm25 with those), and on the subset
    ``dense`` (frozen encoder cosine, :func:`simrepro.data.encoders.encode`)."""
    from rank_bm25 import BM25Okapi
    from sklearn.feature_extraction.text import TfidfVectorizer

    from simrepro.methods.retrieval.bm25 import BM25Index, tokenize
    if not corpus.train_sentences:
        raise ValueError("the corpus has no annotated training cases: build it with n_train > 0")
    q = corpus.queries
    toks = tokenize(corpus.texts)
    S = {"bm25": BM25Index(toks).scores([toks[i] for i in q]).astype(np.float64)}
    okapi = BM25Okapi(toks)
    S["rank_bm25"] = np.stack([okapi.get_scores(toks[i]) for i in q])
    T = TfidfVectorizer(sublinear_tf=True).fit_transform(corpus.texts)
    S["tfidf"] = (T[q] @ T.T).toarray()
    pred = ElementPredictor().fit(corpus.train_sentences)
    psent = pred.predict_sentences(corpus.sentences)
    acc = {v: sentence_accuracy(corpus.sentences, psent, v) for v in ("fact", "dispute")}
    pleaves = leaves_from_sentences(psent)
    for name, lv in (("pred", pleaves), ("oracle", corpus.leaves)):
        V = element_vectors(lv, corpus.tax)
        S[f"elem_{name}"] = element_similarity({v: [m[q] for m in V[v]] for v in V}, V, corpus.tax.sizes)
    rankings = {m: [] for m in (*S, "fusion_pred", "fusion_oracle")}
    for row, (qi, pool) in enumerate(zip(q, corpus.pools)):
        for m in S:
            rankings[m].append(rank_pool(S[m][row, pool], pool))
        for name in ("pred", "oracle"):
            rankings[f"fusion_{name}"].append(rank_pool(fuse(S["bm25"][row, pool], S[f"elem_{name}"][row, pool],
                                                             alpha), pool))
    metrics = {m: evaluate_rankings(r, corpus.grades, k) for m, r in rankings.items()}
    sub = {}
    if n_dense_queries:
        from simrepro.data.encoders import encode
        nq = min(n_dense_queries, len(q))
        docs = np.unique(np.r_[q[:nq], np.concatenate(corpus.pools[:nq])])
        E = encode([corpus.texts[i] for i in docs], model=dense_model, name="muser-cases")
        pos = {int(d): j for j, d in enumerate(docs)}
        dense = []
        for qi, pool in zip(q[:nq], corpus.pools[:nq]):
            s = E[[pos[int(d)] for d in pool]] @ E[pos[int(qi)]]
            dense.append(rank_pool(s.astype(np.float64), pool))
        sub = {m: evaluate_rankings(r[:nq], corpus.grades[:nq], k) for m, r in rankings.items()}
        sub["dense"] = evaluate_rankings(dense, corpus.grades[:nq], k)
    return {"metrics": metrics, "dense_sub": sub, "acc": acc, "rankings": rankings,
            "elem": {"pred": S["elem_pred"], "oracle": S["elem_oracle"]}, "pred_leaves": pleaves}
