"""Double fine-tuning for medical question similarity (McCreery, Katariya, Kannan, Chablani, Amatriain,
"Effective Transfer Learning for Identifying Similar Questions: Matching User Questions to COVID-19 FAQs",
KDD 2020, arXiv 2008.13546): train a pair classifier first on an *intermediate* task — medical
question–answer matching (QA) — then on the target task, medical question–question similarity (QQ), and compare
with QQ-only training and with other intermediate tasks given the same number of examples.

Offline proxy (the paper's Medical Question Pairs and HealthTap QA corpus are not offline):

* **Medical vocabulary** from WordNet 3.0 (asset ``wordnet_nouns``; :func:`medical_vocabulary`): the hyponyms
  (first-parent tree) of *disease* (minus plant diseases), *symptom* (the medical sense), *body part* and
  *medicine* (the medical sense), each with its definition.
* **Medical questions** (:data:`INTENTS`): an intent (treat, cause, side effect, location, affects) with two
  critical slots (e.g. drug, disease), one of five phrasing templates, and a non-critical context (who asks,
  for how long) that a doctor's answer would not depend on — as in the MQP labelling instructions (rewrite
  keeping the intent, change details that do not change the answer; a dissimilar question reuses the keywords).
* **QQ pairs** (:func:`make_qq_pairs`): each *original* question gives one positive (same intent and slots,
  another template, a new context; with probability ``p_describe`` one slot written as its lay description)
  and one hard negative (the same, but one critical slot — the described one, if any — swapped for another
  term of the same kind). Positive and negative are built identically except for the swapped slot, so a
  classifier cannot use the template or the context as a shortcut.
* **QA pairs** (:func:`make_qa_pairs`): question → templated answer (:data:`ANSWERS`) naming each slot by
  its term or, with probability ``p_describe``, by its lay description (the first clause of its WordNet
  definition), as doctors' answers explain terms in other words; the negative answer is that of a question
  differing in one slot (hard, probability ``p_hard``) or of a random question.
* **Other intermediate tasks** (same number of examples): generic question paraphrase from another domain
  (country-fact question duplicates, :func:`country_paraphrase_pairs`) and definition matching outside
  medicine (WordNet lemma question → gloss, :func:`gloss_pairs`).

Model (fine-tuning MiniLM itself does not fit the CPU budget): frozen sentence embeddings u, v ∈ R^d of the two
texts and a trainable Siamese head (:class:`PairHead`): a residual projection f(x) = x + ΔW x (ΔW₀ = 0)

    P(similar) = σ(a · cos(f(u), f(v)) + b)

(symmetric in u, v; at the start it is the frozen cosine with a fitted threshold), trained with binary
cross-entropy by Adam; *double fine-tuning* = train on the
intermediate pairs, then continue (same parameters, fresh optimiser) on the QQ pairs (:func:`train_head`).
Accuracy at threshold 0.5 on balanced held-out QQ pairs (:func:`accuracy`). A logistic regression on the
frozen pair features [u ⊙ v, |u − v|] (scikit-learn) is the classical baseline (:func:`logreg_accuracy`).
"""

from __future__ import annotations

import numpy as np

from simrepro.data.wordnet_tree import children_index, find_synset, hyponyms

KINDS = ("disease", "symptom", "body", "drug")
# WordNet roots: (first lemma, start of its gloss) — several senses share a lemma
ROOTS = {
    "disease": ("disease", "an impairment of health"),
    "symptom": ("symptom", "(medicine) any sensation"),
    "body": ("body part", "any part of an organism"),
    "drug": ("medicine", "(medicine) something that treats"),
}
EXCLUDE_SUBTREES = {"disease": ("plant disease",)}

# intent -> (critical slot kinds, question templates); slots are filled as {a}, {b}
INTENTS: dict[str, tuple[tuple[str, str], tuple[str, ...]]] = {
    "treat": (("drug", "disease"), (
        "Can I take {a} for {b}?", "Is {a} used to treat {b}?", "Will {a} help with my {b}?",
        "Does {a} work against {b}?", "Should I use {a} if I have {b}?")),
    "cause": (("disease", "symptom"), (
        "Can {a} cause {b}?", "Is {b} a sign of {a}?", "Could my {b} be caused by {a}?",
        "Do people with {a} get {b}?", "Is {b} a typical symptom of {a}?")),
    "side_effect": (("drug", "symptom"), (
        "Does {a} cause {b}?", "Is {b} a side effect of {a}?", "Could {a} be giving me {b}?",
        "Can taking {a} lead to {b}?", "Is it normal to get {b} from {a}?")),
    "location": (("symptom", "body"), (
        "Why do I have {a} in my {b}?", "What causes {a} in the {b}?", "I have {a} around my {b}, why?",
        "What could explain {a} affecting my {b}?", "Is {a} in the {b} something to worry about?")),
    "affects": (("disease", "body"), (
        "Can {a} affect the {b}?", "Does {a} spread to the {b}?", "Is my {b} at risk from {a}?",
        "Can {a} damage your {b}?", "Will {a} reach the {b}?")),
}
ANSWERS = {
    "treat": "{a} may be an option for {b}, depending on the severity; ask your doctor before starting it.",
    "cause": "{b} can come with {a}; see a doctor if it persists or gets worse.",
    "side_effect": "{b} can follow taking {a}; report it to your doctor, who may change the dose.",
    "location": "{a} in the {b} has several possible causes; have it examined if it does not settle.",
    "affects": "{a} can involve the {b} in some patients; your doctor can check for it.",
}
PEOPLE = ("I am a {age} year old woman.", "I'm a {age}-year-old man.", "My {age} year old son is asking.",
          "Question about my {age} year old daughter.", "My husband is {age}.", "My mother, {age}, wants to know.",
          "Hi doctor, I am {age}.", "")
DURATIONS = ("It started {n} days ago.", "It has been going on for {n} weeks.", "This began {n} months ago.",
             "Since yesterday.", "On and off for {n} years.", "")


# ----------------------------------------------------------------------------------------------------- vocabulary
def definition(gloss: str) -> str:
    """A WordNet gloss up to its first quoted example, without a leading '(domain)' tag."""
    d = gloss.split('; "')[0].strip().rstrip(";").strip()
    if d.startswith("("):
        d = d.split(")", 1)[-1].strip()
    return d


def medical_vocabulary(parent, lemma: list[str], gloss: list[str], *, max_words: int = 2,
                       max_chars: int = 24) -> dict[str, list[tuple[str, str]]]:
    """Per kind in :data:`KINDS`, the sorted ``(term, definition)`` of the strict hyponyms of its root
    (:data:`ROOTS`) in WordNet's first-parent tree, minus :data:`EXCLUDE_SUBTREES`; terms lower-case alphabetic
    (spaces and hyphens allowed), ≤ ``max_words`` words and ≤ ``max_chars`` characters, unique within and across
    kinds (a term in two kinds is dropped from both)."""
    parent = np.asarray(parent)
    if parent.ndim != 1 or len(parent) != len(lemma) or len(lemma) != len(gloss):
        raise ValueError(f"parent, lemma and gloss need one entry per synset, got {parent.shape}, {len(lemma)}, "
                         f"{len(gloss)}")
    ch = children_index(parent)
    found: dict[str, dict[str, str]] = {}
    for kind in KINDS:
        name, start = ROOTS[kind]
        root = find_synset(lemma, gloss, name, start)
        skip: set[int] = set()
        for ex in EXCLUDE_SUBTREES.get(kind, ()):
            for j in (i for i, l in enumerate(lemma) if l == ex):
                skip.update([j, *hyponyms(ch, [j])])
        terms: dict[str, str] = {}
        for i in hyponyms(ch, [root]):
            t = lemma[i]
            if i in skip or t in terms or len(t) > max_chars or len(t.split()) > max_words:
                continue
            if not t.replace(" ", "").replace("-", "").isalpha() or t != t.lower():
                continue
            terms[t] = definition(gloss[i])
        found[kind] = terms
    shared = {t for k in KINDS for t in found[k] if sum(t in found[j] for j in KINDS) > 1}
    return {k: sorted((t, d) for t, d in found[k].items() if t not in shared) for k in KINDS}


# ----------------------------------------------------------------------------------------------------- questions
def _context(rng: np.random.Generator) -> str:
    who = PEOPLE[rng.integers(len(PEOPLE))].format(age=int(rng.integers(3, 90)))
    when = DURATIONS[rng.integers(len(DURATIONS))].format(n=int(rng.integers(2, 12)))
    return " ".join(s for s in (who, when) if s)


def describe(defn: str, max_words: int = 8) -> str:
    """A lay description of a term from its definition: the first clause (up to ';' or '(') and at most
    ``max_words`` words, e.g. 'an analgesic for mild pain but not for inflammation'."""
    d = defn.split(";")[0].split("(")[0].strip().rstrip(",")
    return " ".join(d.split()[:max_words]) or defn


def render_question(intent: str, slots: tuple[int, int], template: int, context: str,
                    vocab: dict[str, list[tuple[str, str]]], described: int | None = None) -> str:
    """The question text: ``context`` then the intent's template ``template`` with its two slot terms; slot
    ``described`` (0 or 1) is written as its lay description (:func:`describe`) instead of the term."""
    (ka, kb), tpls = INTENTS[intent]
    fill = [vocab[ka][slots[0]][0], vocab[kb][slots[1]][0]]
    if described is not None:
        kind = (ka, kb)[described]
        fill[described] = describe(vocab[kind][slots[described]][1])
    q = tpls[template].format(a=fill[0], b=fill[1])
    return f"{context} {q}" if context else q


def render_answer(intent: str, slots: tuple[int, int], vocab: dict[str, list[tuple[str, str]]],
                  described: tuple[bool, bool] = (False, False)) -> str:
    """The templated answer (:data:`ANSWERS`) naming both slots, slot k by its lay description
    (:func:`describe`) where ``described[k]`` — a doctor's answer often explains a term in other words."""
    (ka, kb), _ = INTENTS[intent]
    txt = [describe(vocab[k][i][1]) if d else vocab[k][i][0] for k, i, d in zip((ka, kb), slots, described)]
    out = ANSWERS[intent].format(a=txt[0], b=txt[1])
    return out[:1].upper() + out[1:]


def _check_vocab(vocab) -> None:
    for k in KINDS:
        if len(vocab.get(k, ())) < 2:
            raise ValueError(f"vocabulary kind {k!r} needs at least 2 terms (a hard negative swaps one)")


def draw_concepts(n: int, vocab, rng: np.random.Generator, exclude: set | None = None) -> list[tuple]:
    """``n`` distinct (intent, (slot a, slot b)) concepts, none in ``exclude``; intents uniform."""
    _check_vocab(vocab)
    names = list(INTENTS)
    out: list[tuple] = []
    seen = set(exclude or ())
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 100 * n + 1000:
            raise ValueError(f"could not draw {n} distinct concepts from this vocabulary")
        intent = names[rng.integers(len(names))]
        ka, kb = INTENTS[intent][0]
        c = (intent, (int(rng.integers(len(vocab[ka]))), int(rng.integers(len(vocab[kb])))))
        if c not in seen:
            seen.add(c)
            out.append(c)
    return out


def swap_one_slot(concept: tuple, vocab, rng: np.random.Generator, which: int | None = None) -> tuple[tuple, int]:
    """The concept with one critical slot (``which``, else chosen uniformly) replaced by another term of the
    same kind; returns (new concept, index of the swapped slot)."""
    intent, slots = concept
    which = int(rng.integers(2)) if which is None else int(which)
    kind = INTENTS[intent][0][which]
    new = int(rng.integers(len(vocab[kind]) - 1))
    new += new >= slots[which]
    s = list(slots)
    s[which] = new
    return (intent, tuple(s)), which


def make_qq_pairs(concepts: list[tuple], vocab, *, p_describe: float = 0.5, seed: int = 0) -> dict:
    """Two QQ pairs per original concept: (original, positive) labelled 1 and (original, hard negative)
    labelled 0, as in the module docstring. With probability ``p_describe`` (per original) both second questions
    write one slot (the same one, chosen uniformly) as its lay description (:func:`describe`) — the positive
    keeps the term's meaning in other words — and the negative swaps that very slot; otherwise the negative
    swaps a uniformly chosen slot. Returns ``q1``, ``q2`` (texts), ``label`` (int8), ``orig`` (index of the
    original concept), ``concept2`` (concept of q2), ``n_diff_slots`` (critical slots differing, int8),
    ``described`` (the described slot, −1 for none)."""
    _check_vocab(vocab)
    if not 0.0 <= p_describe <= 1.0:
        raise ValueError(f"p_describe must be in [0, 1], got {p_describe}")
    rng = np.random.default_rng(seed)
    q1, q2, label, orig, c2, nd, desc = [], [], [], [], [], [], []
    for i, c in enumerate(concepts):
        t0 = int(rng.integers(5))
        text0 = render_question(c[0], c[1], t0, _context(rng), vocab)
        dslot = int(rng.integers(2)) if rng.random() < p_describe else None
        neg, _ = swap_one_slot(c, vocab, rng, which=dslot)
        for lab, cc in ((1, c), (0, neg)):
            t = int(rng.integers(4))
            t += t >= t0                                         # another template than the original's
            q1.append(text0)
            q2.append(render_question(cc[0], cc[1], t, _context(rng), vocab, described=dslot))
            desc.append(-1 if dslot is None else dslot)
            label.append(lab)
            orig.append(i)
            c2.append(cc)
            nd.append(sum(a != b for a, b in zip(c[1], cc[1])))
    return {"q1": q1, "q2": q2, "label": np.asarray(label, np.int8), "orig": np.asarray(orig, np.int64),
            "concept2": c2, "n_diff_slots": np.asarray(nd, np.int8), "described": np.asarray(desc, np.int8)}


def make_qa_pairs(concepts: list[tuple], vocab, *, p_hard: float = 0.5, p_describe: float = 0.5,
                  seed: int = 0) -> dict:
    """Two QA pairs per concept: (question, its answer) labelled 1 and (question, the answer of a concept
    differing in one slot (probability ``p_hard``) or of a random other concept) labelled 0. In both answers
    each slot is written as its lay description with probability ``p_describe`` (the same draw for the
    positive and the negative answer)."""
    _check_vocab(vocab)
    if not (0.0 <= p_hard <= 1.0 and 0.0 <= p_describe <= 1.0):
        raise ValueError(f"p_hard and p_describe must be in [0, 1], got {p_hard}, {p_describe}")
    if len(concepts) < 2:
        raise ValueError("need at least 2 concepts")
    rng = np.random.default_rng(seed)
    q, a, label = [], [], []
    for i, c in enumerate(concepts):
        text = render_question(c[0], c[1], int(rng.integers(5)), _context(rng), vocab)
        if rng.random() < p_hard:
            neg, _ = swap_one_slot(c, vocab, rng)
        else:
            j = int(rng.integers(len(concepts) - 1))
            neg = concepts[j + (j >= i)]
        desc = (bool(rng.random() < p_describe), bool(rng.random() < p_describe))
        for lab, cc in ((1, c), (0, neg)):
            q.append(text)
            a.append(render_answer(cc[0], cc[1], vocab, desc))
            label.append(lab)
    return {"q1": q, "q2": a, "label": np.asarray(label, np.int8)}


def country_paraphrase_pairs(questions: list[str], unit: np.ndarray, unit_country: list[str],
                             unit_fact: list[str], n_pairs: int, *, seed: int = 0) -> dict:
    """Generic (non-medical) question-paraphrase pairs from templated country-fact questions
    (:func:`simrepro.data.country_facts.load_country_qa`): positive = two different templates of one unit;
    negative = a question of the same fact type about another country, or of the same country about another
    fact type (one 'slot' changed, half each). ``n_pairs`` pairs, balanced."""
    unit = np.asarray(unit)
    rng = np.random.default_rng(seed)
    by_unit: dict[int, list[int]] = {}
    for j, u in enumerate(unit.tolist()):
        by_unit.setdefault(u, []).append(j)
    by_fact: dict[str, list[int]] = {}
    by_country: dict[str, list[int]] = {}
    for u in by_unit:
        by_fact.setdefault(unit_fact[u], []).append(u)
        by_country.setdefault(unit_country[u], []).append(u)
    units = sorted(by_unit)
    q1, q2, label = [], [], []
    for k in range(int(n_pairs)):
        u = units[rng.integers(len(units))]
        a, b = rng.choice(by_unit[u], 2, replace=False)
        if k % 2 == 0:
            q1.append(questions[a]); q2.append(questions[b]); label.append(1)
            continue
        pool = by_fact[unit_fact[u]] if rng.random() < 0.5 else by_country[unit_country[u]]
        others = [v for v in pool if v != u] or [v for v in units if v != u]
        v = others[rng.integers(len(others))]
        q1.append(questions[a]); q2.append(questions[by_unit[v][rng.integers(len(by_unit[v]))]]); label.append(0)
    return {"q1": q1, "q2": q2, "label": np.asarray(label, np.int8)}


def gloss_pairs(parent, lemma: list[str], gloss: list[str], n_pairs: int, *, exclude: set[str] = frozenset(),
                seed: int = 0) -> dict:
    """Definition matching outside the medical vocabulary: 'What does {lemma} mean?' → its WordNet definition
    (positive) or a sibling's definition (negative: same parent, half the pairs). Synsets with a lower-case
    alphabetic first lemma of ≤ 2 words, not in ``exclude``, with at least one such sibling."""
    parent = np.asarray(parent)
    rng = np.random.default_rng(seed)
    ok = [i for i, t in enumerate(lemma) if t not in exclude and t == t.lower() and len(t.split()) <= 2
          and t.replace(" ", "").isalpha() and parent[i] >= 0]
    fam: dict[int, list[int]] = {}
    for i in ok:
        fam.setdefault(int(parent[i]), []).append(i)
    fams = [v for v in fam.values() if len(v) >= 2]
    if not fams:
        raise ValueError("no synset family with two eligible members")
    q1, q2, label = [], [], []
    for k in range(int(n_pairs)):
        f = fams[rng.integers(len(fams))]
        i, j = rng.choice(f, 2, replace=False)
        q1.append(f"What does {lemma[i]} mean?")
        q2.append(definition(gloss[i] if k % 2 == 0 else gloss[j]))
        label.append(1 if k % 2 == 0 else 0)
    return {"q1": q1, "q2": q2, "label": np.asarray(label, np.int8)}


# ----------------------------------------------------------------------------------------------------- model
def _check_pairs(U, V, y=None):
    U = np.asarray(U, dtype=np.float32)
    V = np.asarray(V, dtype=np.float32)
    if U.ndim != 2 or U.shape != V.shape:
        raise ValueError(f"U and V must be (n, d) of the same shape, got {U.shape} and {V.shape}")
    if not (np.isfinite(U).all() and np.isfinite(V).all()):
        raise ValueError("U and V must be finite (NaN/inf in the embeddings: re-encode the texts)")
    if y is not None:
        y = np.asarray(y)
        if y.shape != (U.shape[0],) or not np.isin(y, (0, 1)).all():
            raise ValueError(f"y must be 0/1 labels of shape ({U.shape[0]},), got shape {y.shape}")
        y = y.astype(np.float32)
    return U, V, y


def pair_features(U, V) -> np.ndarray:
    """[u ⊙ v, |u − v|] per row: (n, 2d), symmetric in (u, v)."""
    U, V, _ = _check_pairs(U, V)
    return np.concatenate([U * V, np.abs(U - V)], axis=1)


class PairHead:
    """Siamese cosine head over frozen embeddings (module docstring): a residual projection
    f(x) = x + ΔW x (ΔW ∈ R^{d×d}, ΔW₀ = 0, so at the start f is the frozen encoder) and a calibration (a, b):

        P(similar | u, v) = σ(a · cos(f(u), f(v)) + b)

    — a bi-encoder whose top layer is fine-tuned, like SBERT with a cosine objective. ``seed`` seeds the batch
    order of :func:`train_head`."""

    def __init__(self, dim: int, *, seed: int = 0):
        import torch
        if dim < 1:
            raise ValueError(f"dim must be ≥ 1, got {dim}")
        self.dim, self.seed = int(dim), int(seed)
        self.dW = torch.nn.Parameter(torch.zeros(dim, dim))
        self.ab = torch.nn.Parameter(torch.tensor([10.0, -5.0]))
        self.losses: list[list[float]] = []       # one list per training stage

    def cos_t(self, U, V):
        import torch
        p, q = U + U @ self.dW.T, V + V @ self.dW.T
        return torch.nn.functional.cosine_similarity(p, q, dim=1, eps=1e-8)

    def logits_t(self, U, V):
        return self.ab[0] * self.cos_t(U, V) + self.ab[1]

    def cosine(self, U, V) -> np.ndarray:
        """cos(f(u), f(v)) per row, float64."""
        import torch
        U, V, _ = _check_pairs(U, V)
        if U.shape[1] != self.dim:
            raise ValueError(f"embeddings have dim {U.shape[1]}, the head {self.dim}")
        with torch.no_grad():
            return self.cos_t(torch.from_numpy(U), torch.from_numpy(V)).numpy().astype(np.float64)

    def predict_proba(self, U, V) -> np.ndarray:
        """P(similar) per row, float64."""
        a, b = (float(x) for x in self.ab.detach())
        return 1.0 / (1.0 + np.exp(-(a * self.cosine(U, V) + b)))

    def calibrate(self, U, V, y) -> "PairHead":
        """Refit (a, b) alone: 1-d logistic regression of y on cos(f(u), f(v)) (scikit-learn, C = 100)."""
        import torch
        from sklearn.linear_model import LogisticRegression
        y = np.asarray(y)
        c = self.cosine(U, V)[:, None]
        if len(np.unique(y)) < 2:
            return self
        lr = LogisticRegression(C=100.0, max_iter=1000).fit(c, y)
        with torch.no_grad():
            self.ab.copy_(torch.tensor([float(lr.coef_[0, 0]), float(lr.intercept_[0])]))
        return self


def train_head(head: PairHead, U, V, y, *, steps: int = 300, batch_size: int = 64, lr: float = 1e-3,
               weight_decay: float = 0.0, seed: int | None = None) -> PairHead:
    """One training stage: calibrate (a, b) on the stage's pairs (:meth:`PairHead.calibrate`), then ``steps``
    Adam steps (fresh optimiser) of binary cross-entropy on ΔW, a, b with minibatches of ``batch_size`` rows
    drawn without replacement within an epoch (all rows when fewer); ``weight_decay`` pulls ΔW to 0 (the frozen
    encoder). Calling it twice — on intermediate pairs, then on QQ pairs — is double fine-tuning. Appends the
    stage's per-step losses to ``head.losses``."""
    import torch
    U, V, y = _check_pairs(U, V, y)
    if y is None:
        raise ValueError("y is required")
    if U.shape[0] == 0:
        raise ValueError("no training pairs")
    if U.shape[1] != head.dim:
        raise ValueError(f"embeddings have dim {U.shape[1]}, the head {head.dim}")
    head.calibrate(U, V, y)
    g = torch.Generator().manual_seed(head.seed if seed is None else int(seed))
    opt = torch.optim.Adam([{"params": [head.dW], "weight_decay": weight_decay},
                            {"params": [head.ab], "weight_decay": 0.0}], lr=lr)
    Ut, Vt, yt = torch.from_numpy(U), torch.from_numpy(V), torch.from_numpy(y)
    n, b = U.shape[0], min(int(batch_size), U.shape[0])
    perm, pos, losses = torch.randperm(n, generator=g), 0, []
    for _ in range(int(steps)):
        if pos + b > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + b]
        pos += b
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head.logits_t(Ut[idx], Vt[idx]), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    head.losses.append(losses)
    return head


def accuracy(proba, y, threshold: float = 0.5) -> float:
    """Fraction of rows with (proba > threshold) == y."""
    proba, y = np.asarray(proba, float), np.asarray(y)
    if proba.shape != y.shape or proba.ndim != 1:
        raise ValueError(f"proba and y must be 1-d of the same length, got {proba.shape} and {y.shape}")
    if len(y) == 0:
        raise ValueError("empty evaluation set")
    if np.isnan(proba).any():
        raise ValueError("proba contains NaN")
    return float(np.mean((proba > threshold) == (y == 1)))


def accuracy_reference(proba, y, threshold: float = 0.5) -> float:
    """Loop reference of :func:`accuracy`."""
    hits = 0
    for p, t in zip(list(proba), list(y)):
        hits += int((1 if p > threshold else 0) == int(t))
    return hits / len(y)


def logreg_accuracy(U_tr, V_tr, y_tr, U_te, V_te, y_te, *, C: float = 1.0) -> float:
    """Baseline: scikit-learn logistic regression on the frozen pair features [u ⊙ v, |u − v|]."""
    from sklearn.linear_model import LogisticRegression
    y_tr = np.asarray(y_tr)
    if len(np.unique(y_tr)) < 2:
        raise ValueError("logistic regression needs both labels in the training pairs")
    clf = LogisticRegression(C=C, max_iter=2000).fit(pair_features(U_tr, V_tr), y_tr)
    return accuracy(clf.predict_proba(pair_features(U_te, V_te))[:, 1], y_te)


def cosine_threshold_accuracy(U_tr, V_tr, y_tr, U_te, V_te, y_te) -> float:
    """Zero-training baseline: cos(u, v) > t, t chosen to maximise training accuracy (midpoints of sorted
    training cosines)."""
    def cos(U, V):
        U, V, _ = _check_pairs(U, V)
        nu, nv = np.linalg.norm(U, axis=1), np.linalg.norm(V, axis=1)
        return np.sum(U * V, axis=1) / np.maximum(nu * nv, 1e-12)
    c_tr, y_tr = cos(U_tr, V_tr), np.asarray(y_tr)
    s = np.sort(c_tr)
    cands = np.concatenate([[s[0] - 1e-6], (s[1:] + s[:-1]) / 2, [s[-1] + 1e-6]])
    accs = [np.mean((c_tr > t) == (y_tr == 1)) for t in cands]
    return accuracy(cos(U_te, V_te), y_te, float(cands[int(np.argmax(accs))]))
