"""WordNet's noun taxonomy as a tree: a synset by its lemma and definition, and the hyponyms below a set of synsets.

The tree is the ``wordnet_nouns`` asset's first-hypernym array ``parent`` ((n,) int, ``parent[i]`` the first
hypernym of synset i, −1 at a root), with ``lemma`` / ``gloss`` (n strings each: first lemma, definition).
:func:`children_index` is O(n); :func:`hyponyms` is O(size of the subtrees it walks).
"""

from __future__ import annotations

import numpy as np


def children_index(parent) -> dict[int, list[int]]:
    """{synset: its direct hyponyms in increasing id order}; roots (parent −1) are no one's child."""
    parent = np.asarray(parent)
    if parent.ndim != 1 or not np.issubdtype(parent.dtype, np.integer):
        raise ValueError(f"parent must be a 1-D integer array (one first hypernym per synset), got "
                         f"{parent.dtype} of shape {parent.shape}")
    if parent.size and (parent.min() < -1 or parent.max() >= parent.size):
        raise ValueError(f"parent ids must lie in [-1, {parent.size - 1}], got [{parent.min()}, {parent.max()}]")
    children: dict[int, list[int]] = {}
    for i, p in enumerate(parent.tolist()):
        if p >= 0:
            children.setdefault(p, []).append(i)
    return children


def hyponyms(children: dict[int, list[int]], roots) -> list[int]:
    """Every synset strictly below any of ``roots``, each once, in depth-first preorder (a node's children are
    visited last id first; roots in order). A root below another root is listed as the other's hyponym."""
    out: list[int] = []
    seen: set[int] = set()
    for root in roots:
        stack = list(children.get(int(root), ()))
        while stack:
            x = stack.pop()
            if x in seen:
                continue
            seen.add(x)
            out.append(x)
            stack.extend(children.get(x, ()))
    return out


def find_synset(lemma: list[str], gloss: list[str], word: str, gloss_prefix: str) -> int:
    """The one synset whose first lemma is ``word`` and whose definition starts with ``gloss_prefix``
    (a lemma names several senses; the prefix picks one). ValueError unless exactly one matches."""
    hits = [i for i, (w, g) in enumerate(zip(lemma, gloss)) if w == word and g.startswith(gloss_prefix)]
    if len(hits) != 1:
        raise ValueError(f"WordNet root {word!r} ('{gloss_prefix}…') found {len(hits)} times, expected once; "
                         f"is this WordNet 3.0 (apt-get install wordnet-base, then `simrepro data wordnet_nouns`)?")
    return hits[0]
