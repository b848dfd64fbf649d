"""A retrieval + localisation task on real news (paper 115, GeAR): Lee articles split into sentences, and
rule-generated keyword queries that each target one sentence of one article.

Documents: the 350 Lee news articles (asset ``lee_corpus``, gensim test data), split into sentences with
:func:`simrepro.data.description_sentences.split_sentences`; articles with fewer than ``min_sents`` sentences
are dropped, longer ones keep their first ``max_sents`` (the document text is then those sentences joined).

Queries (the paper's LLM data pipeline is not available offline; spaCy is not installed either): for a target
sentence, its content words (:func:`simrepro.methods.retrieval.bm25.tokenize`: lower-case ``\\w\\w+`` minus
English stop words), de-duplicated in order; sentences with fewer than ``min_words`` are not targeted. A query
draws ``max(3, ceil(frac · n))`` of them (at most ``max_words``), replaces half of the drawn words (rounded
down) by their WordNet 3.0 first-sense synonym where one exists (:func:`first_sense_synonyms`), and shuffles
them. Gold = (document, sentence index). A query all of whose words occur in some *other* document is dropped
(plan 115: such a query is lexically ambiguous). Everything is seeded: the same ``seed`` gives the same bytes.
Cost: O(total words) per query set; the WordNet parse ≈ 1 s.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from simrepro.data._store import AssetMissing

WORDNET_DIR = Path("/usr/share/wordnet")
POS = ("noun", "verb", "adj", "adv")


@dataclass(frozen=True)
class LocalisationTask:
    docs: list[list[str]]          # docs[d] = its sentences
    doc_text: list[str]            # the sentences joined by one space
    queries: list[str]
    q_doc: list[int]               # gold document of each query
    q_sent: list[int]              # gold sentence index inside that document
    q_variant: list[int]           # 0 .. n_variants-1: which draw for its sentence


def parse_first_sense_synonyms(index_text: str, data_text: str) -> dict[str, str]:
    """{lemma: another single-word lemma of the lemma's first-sense synset} from one part of speech's WordNet
    ``index.<pos>`` (``lemma pos synset_cnt p_cnt [ptr]… sense_cnt tagsense_cnt offset…``) and ``data.<pos>``
    (``offset lex_filenum ss_type w_cnt(hex) word lex_id …``). Lemmas with no such synonym are absent;
    multi-word lemmas (with ``_``) are skipped on both sides. The first other lemma in synset order is taken."""
    lemmas: dict[int, list[str]] = {}
    for line in data_text.splitlines():
        if not line or line.startswith("  "):
            continue
        f = line.partition(" | ")[0].split()
        w_cnt = int(f[3], 16)
        lemmas[int(f[0])] = [f[4 + 2 * i].lower().split("(")[0] for i in range(w_cnt)]
    out = {}
    for line in index_text.splitlines():
        if not line or line.startswith("  "):
            continue
        f = line.split()
        lemma, synset_cnt, p_cnt = f[0], int(f[2]), int(f[3])
        if "_" in lemma or synset_cnt < 1:
            continue
        first = int(f[4 + p_cnt + 2])
        for other in lemmas.get(first, []):
            if other != lemma and "_" not in other and other.isalpha():
                out[lemma] = other
                break
    return out


@lru_cache(maxsize=1)
def first_sense_synonyms() -> dict[str, str]:
    """:func:`parse_first_sense_synonyms` over nouns, verbs, adjectives and adverbs of the installed WordNet 3.0
    (a word keeps the synonym of the first part of speech in that order that has one)."""
    out: dict[str, str] = {}
    for pos in POS:
        idx, dat = WORDNET_DIR / f"index.{pos}", WORDNET_DIR / f"data.{pos}"
        if not idx.exists() or not dat.exists():
            raise AssetMissing("WordNet 3.0 is not installed; install it with: apt-get install wordnet-base")
        for k, v in parse_first_sense_synonyms(idx.read_text(encoding="latin-1"),
                                               dat.read_text(encoding="latin-1")).items():
            out.setdefault(k, v)
    return out


def make_query(words: list[str], synonyms: dict[str, str], rng: random.Random, *, frac: float = 0.5,
               max_words: int = 6) -> list[str]:
    """One keyword query from a sentence's content ``words`` (see the module docstring)."""
    if not words:
        raise ValueError("a query needs at least one content word")
    m = min(len(words), max_words, max(3, math.ceil(frac * len(words))))
    drawn = rng.sample(words, m)
    for i in rng.sample(range(m), m // 2):
        drawn[i] = synonyms.get(drawn[i], drawn[i])
    rng.shuffle(drawn)
    return drawn


def build_task(articles: list[str], *, synonyms: dict[str, str], min_sents: int = 3, max_sents: int = 12,
               min_words: int = 4, n_variants: int = 1, seed: int = 0) -> LocalisationTask:
    """Documents and queries from raw ``articles`` (see the module docstring); ``n_variants`` queries a
    targeted sentence (independent draws)."""
    from simrepro.data.description_sentences import split_sentences
    from simrepro.methods.retrieval.bm25 import tokenize

    if min_sents < 1 or max_sents < min_sents:
        raise ValueError(f"need 1 ≤ min_sents ≤ max_sents, got {min_sents}, {max_sents}")
    docs = [s[:max_sents] for s in (split_sentences(a) for a in articles) if len(s) >= min_sents]
    if not docs:
        raise ValueError(f"no article has ≥ {min_sents} sentences")
    doc_vocab = [set(w for sent in tokenize(d, stopwords=False) for w in sent) for d in docs]
    rng = random.Random(seed)
    queries, q_doc, q_sent, q_var = [], [], [], []
    for d, sents in enumerate(docs):
        for j, toks in enumerate(tokenize(sents)):
            words = list(dict.fromkeys(toks))
            if len(words) < min_words:
                continue
            for v in range(n_variants):
                q = make_query(words, synonyms, rng)
                qs = set(q)
                if any(qs <= doc_vocab[e] for e in range(len(docs)) if e != d):
                    continue
                queries.append(" ".join(q)); q_doc.append(d); q_sent.append(j); q_var.append(v)
    return LocalisationTask(docs, [" ".join(s) for s in docs], queries, q_doc, q_sent, q_var)


def load_lee_localisation(*, n_docs: int | None = None, n_variants: int = 1, seed: int = 0,
                          **kwargs) -> LocalisationTask:
    """The task over the Lee articles (background then test split; the first ``n_docs`` kept documents, all if
    None). ``seed`` fixes the query draws (keep it fixed across training seeds so that the embeddings cache)."""
    from simrepro.data.text import load_lee_corpus

    articles = load_lee_corpus("background") + load_lee_corpus("test")
    t = build_task(articles, synonyms=first_sense_synonyms(), n_variants=n_variants, seed=seed, **kwargs)
    if n_docs is None or n_docs >= len(t.docs):
        return t
    if n_docs < 2:
        raise ValueError(f"n_docs must be ≥ 2, got {n_docs}")
    keep = [i for i, d in enumerate(t.q_doc) if d < n_docs]
    return LocalisationTask(t.docs[:n_docs], t.doc_text[:n_docs], [t.queries[i] for i in keep],
                            [t.q_doc[i] for i in keep], [t.q_sent[i] for i in keep], [t.q_variant[i] for i in keep])
