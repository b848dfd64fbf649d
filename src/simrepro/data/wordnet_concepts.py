"""WordNet 3.0 noun synsets labelled with an explicit concept set (their hypernym ancestors), from the existing
asset ``wordnet_nouns`` (Debian ``wordnet-base``; see :mod:`simrepro.data.wordnet`).

Items: the noun synsets whose first lemma is unique among all first lemmas and whose definition has ≥
``min_words`` words (:func:`simrepro.data.gloss_aspects.eligible_synsets`). Each has two texts, its lemma
(e.g. "poodle") and its definition (the gloss before its first quoted example).

Concepts ("skills"): the synsets that are a proper ancestor, along the first-hypernym tree, of at least
``min_support`` items and of at most ``max_fraction`` of them (dropping generic nodes such as *entity*,
*object*, *abstraction*). An item's label set = its ancestors that are concepts. With the defaults
(100, 0.10) there are 353 concepts, and 52,129 of the 55,053 eligible items have at least one (3.33 on
average; recomputed 2026-12-06).
Everything is a deterministic function of the asset and the arguments.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import scipy.sparse as sp

from simrepro.data._store import load_array, open_file
from simrepro.data.gloss_aspects import eligible_synsets


def _ancestors(parent: np.ndarray, i: int) -> list[int]:
    out, p = [], int(parent[i])
    while p >= 0:
        out.append(p)
        p = int(parent[p])
    return out


def load_wordnet_concepts(min_support: int = 100, max_fraction: float = 0.10, min_words: int = 4) -> dict:
    """{'items': (n,) synset ids (labelled eligible items, ascending), 'lemma': list[str] (n), 'definition':
    list[str] (n), 'concepts': (K,) synset ids, 'concept_names': list[str] (K), 'labels': CSR (n, K) binary}."""
    if min_support < 1 or not 0 < max_fraction <= 1:
        raise ValueError(f"need min_support >= 1 and 0 < max_fraction <= 1, got {min_support}, {max_fraction}")
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    definition = [g.split('; "')[0].strip().rstrip(";").strip() for g in gloss]
    parent = load_array("wordnet_nouns", "parent.npy")
    pool = eligible_synsets(lemma, definition, min_words)
    anc = {int(i): _ancestors(parent, int(i)) for i in pool}
    counts = Counter(a for i in pool for a in anc[int(i)])
    concepts = np.array(sorted(c for c, v in counts.items() if min_support <= v <= max_fraction * len(pool)),
                        dtype=np.int64)
    if concepts.size == 0:
        raise ValueError("no concept passes min_support / max_fraction; lower min_support or raise max_fraction")
    col = {int(c): j for j, c in enumerate(concepts)}
    rows, cols, items = [], [], []
    for i in pool:
        js = sorted(col[a] for a in anc[int(i)] if a in col)
        if js:
            rows.extend([len(items)] * len(js))
            cols.extend(js)
            items.append(int(i))
    labels = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(items), len(concepts)))
    items_arr = np.asarray(items, dtype=np.int64)
    return {"items": items_arr, "lemma": [lemma[i] for i in items], "definition": [definition[i] for i in items],
            "concepts": concepts, "concept_names": [lemma[c] for c in concepts], "labels": labels}
