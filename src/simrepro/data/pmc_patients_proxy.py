r"""A seeded synthetic proxy of PMC-Patients (Zhao et al., Scientific Data 2023): case-report articles with
patient notes, reference articles, and a citation graph that *defines* relevance, as the official
construction does (``code/PMC-Patients_collection/PMC-Patients_collection/annotate.py`` and
``code/downstream_task/dataset_construction/dataset_split.py`` of ``zhao-zy15/PMC-Patients``):

- relevant articles of a patient = its source article ∪ the articles its source cites ∪ those citing it
  (annotate.py l. 82-84, 141-149); grade 2 if the relevant article itself holds patient notes, else 1
  (dataset_split.py l. 67);
- similar patients = the other notes of the same article ∪ the notes of citation-linked articles
  (annotate.py l. 99-115); the split is by article, the PPR corpus is the training patients and a test
  query's qrels are its similar *training* patients with grade 1; queries with none are dropped
  (dataset_split.py l. 19-33, 109-115).

The text. Clinical vocabulary is real (WordNet 3.0 nouns, the ``wordnet_nouns`` asset): diseases are the
hyponyms of disease.n.01 (minus plant diseases), symptoms those of symptom.n.01 and sign.n.02 (medicine),
drugs those of medicine.n.02 and drug.n.01, body parts those of body part.n.01. A *topic* is one disease with
a profile (6 symptoms, 3 drugs, 2 body parts drawn from shared pools, so topics overlap); its *family* is the
disease's ancestor one level below disease.n.01. Notes and abstracts are rendered from templates over the
profile with noise: each profile symptom appears with probability ``p_profile``, ``n_noise`` symptoms come
from the whole pool, and the disease is named with probability ``p_mention`` (else only its family is).
Each article also has two private "signature" findings shared by its notes and its abstract.

The citations. Articles are ordered in time; each cites 1 + Poisson(``cite_rate``) earlier ones: with
probability ``p_same_topic`` one of the same topic, else with probability ``p_same_family`` one of the same
family, else any. So relevance is *correlated with* the latent that writes the text but not equal to it:
most same-topic pairs are not linked (unlabelled positives), and a share of links cross topics with no
textual trace. That partial signal is what makes retrieval hard here; the generator sets its level, so the
proxy tests the mechanism, not the paper's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from simrepro.data.wordnet_tree import children_index, find_synset, hyponyms

_MALE_NAMES = ("man", "boy", "male patient", "gentleman")
_FEMALE_NAMES = ("woman", "girl", "female patient", "lady")
_FILLER = (
    "Laboratory results were otherwise unremarkable.",
    "There was no relevant family history.",
    "Vital signs on admission were stable.",
    "The patient had no known drug allergies.",
    "Imaging was performed on the second day.",
    "Written informed consent was obtained.",
    "The postoperative course was uneventful.",
    "Follow-up visits were scheduled every three months.",
)


@dataclass
class Vocab:
    """WordNet lemma pools (underscores → spaces) and each disease's family name."""

    diseases: list[str]
    family: list[str]
    symptoms: list[str]
    drugs: list[str]
    body_parts: list[str]


@dataclass
class Corpus:
    """One seeded proxy: ``articles`` (texts; the first ``n_case`` are case reports), ``notes`` (texts),
    ``note_article`` (n_notes,), ``article_topic`` (n_articles,), ``topic_family`` (n_topics,),
    ``links`` (set of undirected article pairs (i < j)), ``test_articles`` (sorted ids), and the qrels."""

    articles: list[str]
    notes: list[str]
    note_article: np.ndarray
    article_topic: np.ndarray
    topic_family: np.ndarray
    n_case: int
    links: set
    test_articles: np.ndarray
    par_qrels: dict = field(default_factory=dict)
    ppr_qrels: dict = field(default_factory=dict)
    sim_pairs: dict = field(default_factory=dict)

    @property
    def train_notes(self) -> np.ndarray:
        return np.flatnonzero(~np.isin(self.note_article, self.test_articles))

    @property
    def test_notes(self) -> np.ndarray:
        return np.flatnonzero(np.isin(self.note_article, self.test_articles))


def _clean(lemma: str) -> str | None:
    w = lemma.replace("_", " ")
    if not w.replace(" ", "").replace("-", "").isalpha() or len(w) > 24 or w.count(" ") > 1 or w[0].isupper():
        return None
    return w


def load_vocab() -> Vocab:
    """Pools from the ``wordnet_nouns`` asset (82,115 noun synsets, one primary lemma and one parent each)."""
    from simrepro.data._store import load_array, open_file

    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    parent = load_array("wordnet_nouns", "parent.npy")
    children = children_index(parent)

    def root(word: str, gloss_start: str) -> int:
        return find_synset(lemma, gloss, word, gloss_start)

    def below(r: int) -> list[int]:
        return sorted(hyponyms(children, [r]))

    def pool(ids) -> list[str]:
        return sorted({w for w in (_clean(lemma[i]) for i in ids) if w})

    disease = root("disease", "an impairment of health")
    plant = set(below(root("plant disease", "a disease that affects plants"))) | {root("plant disease", "a disease")}
    diseases, family = [], []
    for top in children.get(disease, []):
        if top in plant:
            continue
        fam = _clean(lemma[top]) or "disease"
        for i in below(top):                           # the family node itself is not a topic
            w = _clean(lemma[i])
            if w and w not in diseases and i not in plant:
                diseases.append(w)
                family.append(fam)
    symptoms = pool(below(root("symptom", "(medicine) any sensation")) + below(root("sign", "(medicine) any objective")))
    drugs = pool(below(root("medicine", "(medicine) something that treats")) + below(root("drug", "a substance that is used")))
    body = pool(below(root("body part", "any part of an organism")))
    return Vocab(diseases, family, symptoms, drugs, body)


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def make_corpus(vocab: Vocab, *, n_topics: int, n_case: int, n_ref: int, seed: int, test_frac: float = 0.3,
                cite_rate: float = 1.5, p_same_topic: float = 0.5, p_same_family: float = 0.2,
                p_profile: float = 0.5, n_noise: int = 2, p_mention: float = 0.5, max_notes: int = 3) -> Corpus:
    """Render one proxy (see the module docstring). ``n_case`` case-report articles (1..``max_notes`` notes
    each, geometric) and ``n_ref`` reference articles over ``n_topics`` diseases drawn with Zipf-like weights;
    ``test_frac`` of the case articles are the test split. Deterministic in ``seed``."""
    if n_topics < 2 or n_topics > len(vocab.diseases):
        raise ValueError(f"n_topics must be in [2, {len(vocab.diseases)}], got {n_topics}")
    if n_case < 2 or n_ref < 0:
        raise ValueError(f"need n_case ≥ 2 and n_ref ≥ 0, got {n_case}, {n_ref}")
    for name, p in (("test_frac", test_frac), ("p_same_topic", p_same_topic), ("p_same_family", p_same_family),
                    ("p_profile", p_profile), ("p_mention", p_mention)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {p}")
    rng = np.random.default_rng(seed)
    dz = rng.choice(len(vocab.diseases), n_topics, replace=False)
    fams = sorted({vocab.family[i] for i in dz})
    topic_family = np.array([fams.index(vocab.family[i]) for i in dz])
    S, Dg, B = vocab.symptoms, vocab.drugs, vocab.body_parts
    prof = [(rng.choice(len(S), 6, replace=False), rng.choice(len(Dg), 3, replace=False),
             rng.choice(len(B), 2, replace=False)) for _ in range(n_topics)]
    w = 1.0 / np.arange(1, n_topics + 1) ** 0.8
    n_art = n_case + n_ref
    # case reports and reference articles interleaved in time
    is_case = np.zeros(n_art, bool)
    is_case[rng.choice(n_art, n_case, replace=False)] = True
    order = np.argsort(~is_case, kind="stable")         # time indices, case reports first: storage order
    topic = rng.choice(n_topics, n_art, p=w / w.sum())  # indexed by time
    by_time = np.arange(n_art)
    links: set = set()
    for pos, a in enumerate(by_time):
        if pos == 0:
            continue
        earlier = by_time[:pos]
        for _ in range(1 + rng.poisson(cite_rate)):
            u = rng.random()
            if u < p_same_topic:
                cand = earlier[topic[earlier] == topic[a]]
            elif u < p_same_topic + p_same_family:
                cand = earlier[topic_family[topic[earlier]] == topic_family[topic[a]]]
            else:
                cand = earlier
            if cand.size == 0:
                cand = earlier
            b = int(rng.choice(cand))
            links.add((min(a, b), max(a, b)))
    # map interleaved ids to the storage order (case reports 0..n_case-1)
    new_id = np.empty(n_art, int)
    new_id[order] = np.arange(n_art)
    topic_s = topic[order]
    links = {tuple(sorted((int(new_id[a]), int(new_id[b])))) for a, b in links}
    sig = [rng.choice(len(S) + len(B), 2, replace=False) for _ in range(n_art)]

    def sig_words(a):
        return [S[i] if i < len(S) else B[i - len(S)] for i in sig[a]]

    def name(t):
        return vocab.diseases[dz[t]] if rng.random() < p_mention else f"a form of {fams[topic_family[t]]}"

    articles = []
    for a in range(n_art):
        t = topic_s[a]
        s_i, d_i, b_i = prof[t]
        sy = [S[i] for i in s_i if rng.random() < 0.6] or [S[s_i[0]]]
        kind = "a case report" if a < n_case else rng.choice(["a review", "a cohort study", "a clinical series"])
        articles.append(
            f"{vocab.diseases[dz[t]].capitalize()} involving the {B[b_i[0]]}: {kind}. "
            f"We describe patients with {vocab.diseases[dz[t]]} presenting with {_join(sy)}. "
            f"Unusual findings included {_join(sig_words(a))}. "
            f"Treatment with {Dg[d_i[rng.integers(3)]]} is discussed.")
    notes, note_article = [], []
    for a in range(n_case):
        t = topic_s[a]
        s_i, d_i, b_i = prof[t]
        for _ in range(min(max_notes, rng.geometric(0.6))):
            male = rng.random() < 0.5
            sy = [S[i] for i in s_i if rng.random() < p_profile] + [S[i] for i in rng.choice(len(S), n_noise)]
            rng.shuffle(sy)
            sy = sy or [S[rng.integers(len(S))]]
            who = rng.choice(_MALE_NAMES if male else _FEMALE_NAMES)
            pro = "He" if male else "She"
            fill = rng.choice(len(_FILLER), 2, replace=False)
            notes.append(
                f"A {rng.integers(1, 90)}-year-old {who} presented with {_join(sy)}. "
                f"{_FILLER[fill[0]]} Examination of the {B[b_i[rng.integers(2)]]} showed {_join(sig_words(a))}. "
                f"{pro} was diagnosed with {name(t)} and treated with {Dg[d_i[rng.integers(3)]]}. "
                f"{_FILLER[fill[1]]}")
            note_article.append(a)
    note_article = np.array(note_article, int)
    n_test = max(1, int(round(test_frac * n_case)))
    test_articles = np.sort(rng.choice(n_case, n_test, replace=False))
    c = Corpus(articles, notes, note_article, topic_s, topic_family, n_case, links, test_articles)
    _annotate(c)
    return c


def _annotate(c: Corpus) -> None:
    """Relations and qrels as the official construction defines them (module docstring)."""
    n_art = len(c.articles)
    nbr: list[set] = [set() for _ in range(n_art)]
    for a, b in c.links:
        nbr[a].add(b)
        nbr[b].add(a)
    notes_of: dict[int, list[int]] = {}
    for i, a in enumerate(c.note_article):
        notes_of.setdefault(int(a), []).append(i)
    sim: dict[int, set] = {}
    for i, a in enumerate(c.note_article):
        s = set(notes_of[int(a)]) - {i}
        for b in nbr[int(a)]:
            s |= set(notes_of.get(b, []))
        sim[i] = s
    c.sim_pairs = sim
    test = set(c.test_articles.tolist())
    train_notes = set(c.train_notes.tolist())
    c.par_qrels = {}
    c.ppr_qrels = {}
    for i in c.test_notes:
        a = int(c.note_article[i])
        rel = nbr[a] | {a}
        c.par_qrels[str(i)] = {str(b): (2 if b < c.n_case else 1) for b in sorted(rel)}
        s = sorted(sim[int(i)] & train_notes)
        if s:
            c.ppr_qrels[str(i)] = {str(j): 1 for j in s}
    assert all(int(a) in test for a in c.note_article[c.test_notes])
