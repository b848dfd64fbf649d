"""VacancySBERT-style job-title normalisation (Bocharova, Malakhov, Mezhuyev, arXiv 2307.16638, 2023): a Siamese
text encoder trained on which skills co-occur with which job title, then used to map a raw vacancy title (alone,
or with the vacancy's skills) to its normalised title by nearest-neighbour search in the same space.

Offline proxy (no vacancy data ships): the *catalogue of normalised titles* is WordNet 3.0's occupations
(asset ``wordnet_nouns``: the noun synsets under ``worker`` "a person who works at a specific occupation" and
``professional`` "a person engaged in one of the learned professions", first lemma lower-case and unique);
an occupation's *skill vocabulary* is the content words of its own definition (specific) and of its parent's
definition (shared with its siblings, the "job family"). A *vacancy* (ad) of occupation ``o`` is
``(raw title, skills)``: the raw title is ``o``'s title after seeded recruitment-style noise (seniority words,
abbreviations, a location / contract suffix, a typo, a dropped or swapped word; :func:`noisy_title`); its
skills are a seeded sample of ``o``'s vocabulary plus distractor words from other occupations
(:func:`draw_skills`). Construction: :func:`make_vacancies`.

Model: a residual linear adapter over a frozen encoder's unit embeddings, shared by both towers (Siamese),

    f(x) = (x + W x) / ‖x + W x‖,     W ∈ R^{d×d}, W₀ = 0 (so f = the frozen encoder at step 0),

trained with in-batch InfoNCE (multiple-negatives ranking, the paper's co-occurrence objective) on (raw title,
skills) pairs: loss = InfoNCE(f(T) f(S)ᵀ / τ), symmetric. Scoring (both settings of the paper's abstract):

    title only:    s(q, c) = f(e(title_q)) · f(e(c))
    with skills:   s(q, c) = unit(f(e(title_q)) + f(e(skills_q))) · f(e(c))

for every catalogue title ``c``; a frozen baseline is the same with f = identity. Recall@k (one relevant
title per query) by :func:`recall_at_k` (top-k with ties broken against the relevant item: a tie never counts
as a hit), checked against pytrec_eval in the tests.
"""

from __future__ import annotations

import re

import numpy as np

from simrepro.data.wordnet_tree import children_index, hyponyms

WORKER_GLOSS = "a person who works at a specific occupation"
PROFESSIONAL_GLOSS = "a person engaged in one of the learned professions"
STOPWORDS = frozenset("""a an the of in on at to for from by with without and or but as is are be been being who
whom whose which that this these those one ones someone somebody person people persons especially usually often
esp who's it its their his her he she they them some any all other another such not no into over under about
after before during than then also more most very can may do does did has have had make makes made work works
working job employed engaged etc e g i ie use used uses using something thing things like kind sort type""".split())
SENIORITY = ("senior", "junior", "lead", "head", "chief", "trainee", "assistant", "principal", "graduate", "deputy")
ABBREV = {"senior": "sr", "junior": "jr", "assistant": "asst", "manager": "mgr", "engineer": "eng",
          "technician": "tech", "officer": "ofcr", "director": "dir", "administrator": "admin",
          "representative": "rep", "supervisor": "supv", "specialist": "spec"}
SUFFIXES = ("(m/f/d)", "- london", "- remote", "full time", "part-time", "- immediate start", "(contract)",
            "- berlin", "f/m/x", "- night shift")
_WORD = re.compile(r"[a-z]+")


# ----------------------------------------------------------------------------------------------------- data
def definition(gloss: str) -> str:
    """A WordNet gloss up to its first quoted example."""
    return gloss.split('; "')[0].strip().rstrip(";").strip()


def content_words(text: str, exclude: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Lower-case alphabetic words of ``text`` of length ≥ 3, not stopwords, not in ``exclude``, first
    occurrence order, no repeats."""
    seen: list[str] = []
    for w in _WORD.findall(text.lower()):
        if len(w) >= 3 and w not in STOPWORDS and w not in exclude and w not in seen:
            seen.append(w)
    return seen


def occupations(parent: np.ndarray, lemma: list[str], gloss: list[str], *, min_skills: int = 3) -> dict:
    """WordNet occupations: synsets below ``worker`` / ``professional`` (the person senses, found by their
    glosses) in the first-hypernym tree ``parent``, whose first lemma is lower-case (no proper names), occurs
    once among all first lemmas, and that have ≥ ``min_skills`` skill words. Returns {'synset': (n,) int64,
    'title': list[str], 'skills': list[list[str]] (own definition's words, then the parent's), 'n_own':
    (n,) int64 (how many of 'skills' come from the own definition), 'family': (n,) int64 parent synset}."""
    parent = np.asarray(parent, np.int64)
    if not (parent.ndim == 1 and parent.size == len(lemma) == len(gloss)):
        raise ValueError("parent, lemma and gloss must have one entry per synset")
    roots = [i for i, g in enumerate(gloss) if definition(g) in (WORKER_GLOSS, PROFESSIONAL_GLOSS)]
    if len(roots) != 2:
        raise ValueError(f"expected the two WordNet roots 'worker' and 'professional', found {len(roots)}")
    below = hyponyms(children_index(parent), roots)
    low = [x.lower() for x in lemma]
    uniq, counts = np.unique(low, return_counts=True)
    single = set(uniq[counts == 1].tolist())
    out = {"synset": [], "title": [], "skills": [], "n_own": [], "family": []}
    for i in sorted(set(below)):
        t = lemma[i]
        if t != t.lower() or t not in single or not re.fullmatch(r"[a-z][a-z -]*", t):
            continue
        title_words = set(_WORD.findall(t))
        own = content_words(definition(gloss[i]), title_words)
        fam = content_words(definition(gloss[parent[i]]), title_words | set(own))
        if len(own) + len(fam) < min_skills:
            continue
        out["synset"].append(i)
        out["title"].append(t)
        out["skills"].append(own + fam)
        out["n_own"].append(len(own))
        out["family"].append(int(parent[i]))
    return {k: (np.array(v, np.int64) if k in ("synset", "n_own", "family") else v) for k, v in out.items()}


def noisy_title(title: str, rng: np.random.Generator, *, p_seniority: float = 0.5, p_abbrev: float = 0.5,
                p_suffix: float = 0.5, p_typo: float = 0.3, p_reorder: float = 0.15) -> str:
    """A raw vacancy title for ``title``: each perturbation applied with its probability, in this order:
    a seniority word in front; common words abbreviated (``ABBREV``); a typo (two adjacent letters swapped
    in a word of ≥ 5 letters); the two last words swapped (multi-word titles); a location / contract suffix."""
    words = title.split()
    if rng.random() < p_seniority:
        words = [SENIORITY[rng.integers(len(SENIORITY))]] + words
    if rng.random() < p_abbrev:
        words = [ABBREV.get(w, w) for w in words]
    if rng.random() < p_typo:
        long = [j for j, w in enumerate(words) if len(w) >= 5]
        if long:
            j = long[rng.integers(len(long))]
            w = words[j]
            a = int(rng.integers(1, len(w) - 2))
            words[j] = w[:a] + w[a + 1] + w[a] + w[a + 2:]
    if len(words) >= 2 and rng.random() < p_reorder:
        words[-1], words[-2] = words[-2], words[-1]
    if rng.random() < p_suffix:
        words.append(SUFFIXES[rng.integers(len(SUFFIXES))])
    return " ".join(words)


def draw_skills(skills: list[str], n_own: int, pool: list[str], rng: np.random.Generator, *, k_max: int = 6,
                n_distractors: int = 2) -> list[str]:
    """Skills listed in one ad: up to ``k_max`` words of the occupation's vocabulary (each own-definition word
    twice as likely as a family word), then ``n_distractors`` words drawn from ``pool`` (other occupations'
    vocabularies), shuffled."""
    w = np.where(np.arange(len(skills)) < n_own, 2.0, 1.0)
    k = int(min(k_max, len(skills), max(2, rng.integers(2, k_max + 1))))
    pick = [skills[j] for j in rng.choice(len(skills), k, replace=False, p=w / w.sum())]
    pick += [pool[j] for j in rng.integers(0, len(pool), n_distractors)]
    rng.shuffle(pick)
    return pick


def make_vacancies(occ: dict, ads_per_occ: int, *, seed: int = 0, n_distractors: int = 2) -> dict:
    """``ads_per_occ`` ads per occupation, drawn with ``default_rng(seed)``. Returns {'title': list[str]
    (raw titles), 'skills': list[str] ("skills: w1, w2, …"), 'occ': (n_ads,) int64 index into the catalogue}
    ordered occupation by occupation."""
    if ads_per_occ < 1:
        raise ValueError(f"ads_per_occ must be ≥ 1, got {ads_per_occ}")
    rng = np.random.default_rng(seed)
    pool = sorted({w for s in occ["skills"] for w in s})
    titles, skills, owner = [], [], []
    for o, (t, sk, n_own) in enumerate(zip(occ["title"], occ["skills"], occ["n_own"].tolist())):
        for _ in range(ads_per_occ):
            titles.append(noisy_title(t, rng))
            skills.append("skills: " + ", ".join(draw_skills(sk, n_own, pool, rng, n_distractors=n_distractors)))
            owner.append(o)
    return {"title": titles, "skills": skills, "occ": np.array(owner, np.int64)}


def split_ads(occ_of_ad: np.ndarray, n_occ: int, *, unseen_frac: float, seed: int) -> dict:
    """Per seed: a fraction ``unseen_frac`` of occupations is held out (all their ads are test queries, none is
    trained on); of every other occupation one ad is a test query and the rest train. Returns int64 index
    arrays {'train', 'test_seen', 'test_unseen'} into the ads."""
    if not 0.0 <= unseen_frac < 1.0:
        raise ValueError(f"unseen_frac must be in [0, 1), got {unseen_frac}")
    occ_of_ad = np.asarray(occ_of_ad, np.int64)
    rng = np.random.default_rng(seed)
    unseen = np.zeros(n_occ, bool)
    unseen[rng.choice(n_occ, int(round(unseen_frac * n_occ)), replace=False)] = True
    train, seen_test, unseen_test = [], [], []
    for o in range(n_occ):
        ads = np.flatnonzero(occ_of_ad == o)
        if ads.size == 0:
            continue
        if unseen[o]:
            unseen_test.extend(ads.tolist())
        else:
            t = int(rng.choice(ads))
            seen_test.append(t)
            train.extend(int(a) for a in ads if a != t)
    return {k: np.array(sorted(v), np.int64) for k, v in
            (("train", train), ("test_seen", seen_test), ("test_unseen", unseen_test))}


# ------------------------------------------------------------------------------------------------- scoring
def _check_matrix(x, name: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, d) array, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf; drop or re-encode those rows")
    return x


def unit_rows(x) -> np.ndarray:
    """Rows scaled to unit L2 norm; an all-zero row stays zero."""
    x = _check_matrix(x, "x")
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def combine(title_emb, skills_emb) -> np.ndarray:
    """The with-skills query: unit(unit(title) + unit(skills)), row by row."""
    t, s = unit_rows(title_emb), unit_rows(skills_emb)
    if t.shape != s.shape:
        raise ValueError(f"title and skills embeddings differ in shape: {t.shape} vs {s.shape}")
    return unit_rows(t + s)


def recall_at_k(queries, catalogue, relevant, ks=(1, 5, 10)) -> dict[int, np.ndarray]:
    """Per-query hits {k: (m,) float64 in {0, 1}}: the relevant catalogue row is within the top k by cosine
    (dot product of unit rows). Rank = 1 + #{items scoring ≥ the relevant one, other than itself}: a tie
    counts against the hit. Plain O(m·n·d) scores, blocked over queries."""
    Q, C = _check_matrix(queries, "queries"), _check_matrix(catalogue, "catalogue")
    rel = np.asarray(relevant, np.int64)
    if Q.shape[1] != C.shape[1]:
        raise ValueError(f"queries have dim {Q.shape[1]} but the catalogue has {C.shape[1]}")
    if rel.shape != (Q.shape[0],):
        raise ValueError(f"relevant must have one catalogue index per query: {rel.shape} vs {Q.shape[0]} queries")
    if Q.shape[0] and (rel.min() < 0 or rel.max() >= C.shape[0]):
        raise ValueError(f"relevant indices must lie in [0, {C.shape[0]})")
    ks = tuple(int(k) for k in ks)
    if any(k < 1 for k in ks):
        raise ValueError(f"k must be ≥ 1, got {ks}")
    rank = np.empty(Q.shape[0], np.int64)
    for a in range(0, Q.shape[0], 1024):
        S = Q[a:a + 1024].astype(np.float64) @ C.T.astype(np.float64)
        r = rel[a:a + 1024]
        s_rel = S[np.arange(r.size), r]
        rank[a:a + 1024] = (S >= s_rel[:, None]).sum(axis=1)   # includes the relevant item itself
    return {k: (rank <= k).astype(np.float64) for k in ks}


def recall_at_k_reference(queries, catalogue, relevant, ks=(1, 5, 10)) -> dict[int, np.ndarray]:
    """Loop reference of :func:`recall_at_k` (same tie rule)."""
    Q, C = np.asarray(queries, np.float64), np.asarray(catalogue, np.float64)
    out = {int(k): np.zeros(len(Q)) for k in ks}
    for i, q in enumerate(Q):
        s = [float(np.dot(q, c)) for c in C]
        r = int(relevant[i])
        rank = 1 + sum(1 for j in range(len(C)) if j != r and s[j] >= s[r])
        for k in out:
            out[k][i] = float(rank <= k)
    return out


# ------------------------------------------------------------------------------------------------ training
class SiameseAdapter:
    """Residual linear adapter f(x) = unit(x + W x) over frozen unit embeddings (module docstring), shared by
    the title and the skills tower. ``fit`` trains W by symmetric in-batch InfoNCE on paired rows."""

    def __init__(self, dim: int, *, seed: int = 0):
        import torch
        if dim < 1:
            raise ValueError(f"dim must be ≥ 1, got {dim}")
        self.dim, self.seed = int(dim), int(seed)
        self.W = torch.zeros(dim, dim, dtype=torch.float32)
        self.losses: list[float] = []

    def transform(self, x) -> np.ndarray:
        import torch
        x = _check_matrix(x, "x")
        if x.shape[1] != self.dim:
            raise ValueError(f"x has dim {x.shape[1]}, the adapter {self.dim}")
        with torch.no_grad():
            t = torch.from_numpy(x)
            y = t + t @ self.W.T
        return unit_rows(y.numpy())

    def fit(self, titles, skills, *, epochs: int = 3, batch_size: int = 128, lr: float = 1e-3,
            temperature: float = 0.05, weight_decay: float = 0.0) -> "SiameseAdapter":
        """Adam on the symmetric InfoNCE of (f(titles[i]), f(skills[i])) pairs (in-batch negatives, the
        tiled kernel :func:`simrepro.kernels.contrastive.tiled_info_nce`), batches shuffled with the seed."""
        import torch
        from simrepro.kernels.contrastive import tiled_info_nce
        T, S = _check_matrix(titles, "titles"), _check_matrix(skills, "skills")
        if T.shape != S.shape or T.shape[1] != self.dim:
            raise ValueError(f"titles {T.shape} and skills {S.shape} must both be (n, {self.dim})")
        if T.shape[0] < 2:
            raise ValueError("need at least 2 training pairs (in-batch negatives)")
        g = torch.Generator().manual_seed(self.seed)
        W = torch.nn.Parameter(self.W.clone())
        opt = torch.optim.Adam([W], lr=lr, weight_decay=weight_decay)
        Tt, St = torch.from_numpy(T), torch.from_numpy(S)

        def f(x):
            y = x + x @ W.T
            return y / y.norm(dim=1, keepdim=True).clamp_min(1e-12)

        for _ in range(int(epochs)):
            perm = torch.randperm(T.shape[0], generator=g)
            for a in range(0, T.shape[0] - 1, batch_size):
                idx = perm[a:a + batch_size]
                if idx.numel() < 2:
                    continue
                loss = tiled_info_nce(f(Tt[idx]), f(St[idx]), temperature, symmetric=True)
                opt.zero_grad()
                loss.backward()
                opt.step()
                self.losses.append(float(loss.detach()))
        self.W = W.detach().clone()
        return self


# ------------------------------------------------------------------------------------------------ evaluation
KS = (1, 5, 10)


def evaluate_settings(title_q, skills_q, catalogue, relevant, transform=None, ks=KS) -> dict[str, float]:
    """R@k of one encoder (``transform`` applied to every side, identity when None) in the paper's two
    settings: {'title_r1', …, 'skills_r1', …, 'title_mr', 'skills_mr'} ('mr' = mean of R@k over ``ks``)."""
    f = transform if transform is not None else unit_rows
    C = f(catalogue)
    T = f(title_q)
    out: dict[str, float] = {}
    for setting, Q in (("title", T), ("skills", combine(T, f(skills_q)))):
        hits = recall_at_k(Q, C, relevant, ks)
        for k in ks:
            out[f"{setting}_r{k}"] = float(hits[k].mean())
        out[f"{setting}_mr"] = float(np.mean([hits[k].mean() for k in ks]))
    return out


def pytrec_recall(queries, catalogue, relevant, k: int = 10) -> float:
    """Recall@k (one relevant title per query) by pytrec_eval through :mod:`simrepro.metrics.ir`: the peer
    of :func:`recall_at_k` (they differ only where float scores tie at the k-th place)."""
    from simrepro.metrics.ir import evaluate, run_from_topk
    Q, C = unit_rows(queries), unit_rows(catalogue)
    S = Q.astype(np.float64) @ C.T.astype(np.float64)
    kk = min(k, C.shape[0])
    ids = np.argsort(-S, axis=1, kind="stable")[:, :kk]
    qids = [f"q{i}" for i in range(Q.shape[0])]
    run = run_from_topk(np.take_along_axis(S, ids, 1), ids, qids)
    qrels = {q: {str(int(r)): 1} for q, r in zip(qids, np.asarray(relevant, np.int64))}
    return evaluate(qrels, run, (f"recall@{k}",))[f"recall@{k}"]
