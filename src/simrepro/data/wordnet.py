"""WordNet 3.0 noun taxonomy (Debian ``wordnet-base``), with frozen all-MiniLM-L6-v2 text embeddings computed
by the stage that uses them.

Asset ``wordnet_nouns`` holds, for all 82,115 noun synsets (index = position in ``data.noun``): ``parent.npy``
(the *first* hypernym or instance hypernym, −1 for the root ``entity``: a tree, dropping the ~2 % of secondary
hypernyms), ``lemma.txt`` (first lemma, underscores as spaces) and ``gloss.txt``; and a seeded corpus of
synsets (8,000 drawn uniformly plus their parents and grandparents, so that every document has its
ancestors), ``doc_ids.npy``, with ``query_ids.npy`` for 3,000 corpus synsets drawn as queries. Its bytes are
the same on every machine. The embeddings ("lemma: gloss" for documents, the lemma alone for queries; float16,
unit norm) are not part of the asset: :func:`load_wordnet_nouns` computes them through
:func:`simrepro.data.derived.minilm_embeddings`, cached in ``build/cache/`` (≈ 1–2 min the first time).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from simrepro.data._store import AssetMissing, asset, load_array, open_file, save_array
from simrepro.data.derived import minilm_embeddings

WORDNET_DIR = Path("/usr/share/wordnet")
APT_CACHE = Path("/var/cache/apt/archives")
N_CORPUS_SAMPLE = 8_000
N_QUERY_SAMPLE = 3_000


def _data_noun_text() -> str:
    """data.noun from the installed package, else from a cached wordnet-base .deb (extracted, not installed)."""
    if (WORDNET_DIR / "data.noun").exists():
        return (WORDNET_DIR / "data.noun").read_text(encoding="latin-1")
    debs = sorted(APT_CACHE.glob("wordnet-base_*.deb"))
    if not debs:
        raise AssetMissing("WordNet 3.0 is not installed; install it with: apt-get install wordnet-base")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), tmp], check=True)
        return (Path(tmp) / "usr/share/wordnet/data.noun").read_text(encoding="latin-1")


def parse_data_noun(text: str) -> tuple[np.ndarray, list[str], list[str]]:
    """(parent index per synset (−1 for roots), first lemmas, glosses) from WordNet's data.noun format:
    ``offset lex_filenum ss_type w_cnt word lex_id … p_cnt [ptr_symbol offset pos source/target]… | gloss``."""
    rows = [line for line in text.splitlines() if line and not line.startswith("  ")]
    offsets, lemmas, glosses, first_parent = [], [], [], []
    for line in rows:
        head, _, gloss = line.partition(" | ")
        f = head.split()
        w_cnt = int(f[3], 16)
        lemmas.append(f[4].replace("_", " "))
        p_at = 4 + 2 * w_cnt
        p_cnt = int(f[p_at])
        parent = None
        for i in range(p_cnt):
            symbol, target = f[p_at + 1 + 4 * i], f[p_at + 2 + 4 * i]
            if symbol in ("@", "@i") and parent is None:
                parent = int(target)
        offsets.append(int(f[0]))
        first_parent.append(parent)
        glosses.append(gloss.strip())
    index = {o: i for i, o in enumerate(offsets)}
    parent = np.array([-1 if p is None else index[p] for p in first_parent], dtype=np.int64)
    return parent, lemmas, glosses


@asset("wordnet_nouns", install="apt-get install wordnet-base")
def _build_wordnet_nouns(out: Path) -> None:
    """WordNet 3.0 noun synsets: first-hypernym tree, lemmas, glosses, and a seeded corpus (8k synsets + their
    parents and grandparents) with 3k corpus synsets as queries."""
    parent, lemmas, glosses = parse_data_noun(_data_noun_text())
    rng = np.random.default_rng(0)
    seeds = rng.choice(parent.size, N_CORPUS_SAMPLE, replace=False)
    up1 = parent[seeds][parent[seeds] >= 0]
    up2 = parent[up1][parent[up1] >= 0]
    doc_ids = np.unique(np.r_[seeds, up1, up2])
    qids = np.sort(rng.choice(doc_ids, N_QUERY_SAMPLE, replace=False))
    save_array(out, "parent.npy", parent)
    save_array(out, "doc_ids.npy", doc_ids.astype(np.int64))
    save_array(out, "query_ids.npy", qids.astype(np.int64))
    (out / "lemma.txt").write_text("\n".join(lemmas) + "\n", encoding="utf-8")
    (out / "gloss.txt").write_text("\n".join(glosses) + "\n", encoding="utf-8")


def load_wordnet_nouns() -> dict:
    """{'parent': (82115,) int64, 'lemma': list[str], 'gloss': list[str], 'doc_ids': (m,) int64 synset ids of
    the corpus, 'doc_emb': (m, 384) float32, 'query_ids': (3000,) int64 synset ids, 'query_emb': (3000, 384)}.
    The embeddings are MiniLM's, rounded through float16, from the build/cache/ (computed on a miss)."""
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    doc_ids = load_array("wordnet_nouns", "doc_ids.npy")
    query_ids = load_array("wordnet_nouns", "query_ids.npy")
    return {"parent": load_array("wordnet_nouns", "parent.npy"), "lemma": lemma, "gloss": gloss,
            "doc_ids": doc_ids,
            "doc_emb": minilm_embeddings([f"{lemma[i]}: {gloss[i]}" for i in doc_ids], name="wordnet_docs"),
            "query_ids": query_ids,
            "query_emb": minilm_embeddings([lemma[i] for i in query_ids], name="wordnet_queries", batch_size=256)}


def load_wordnet_gloss_tokens(n_docs: int, n_queries: int, *, seed: int = 0) -> dict:
    """Multi-vector WordNet: ``n_docs`` corpus synsets and ``n_queries`` synsets *outside* the corpus (both drawn
    with ``default_rng(seed)``), each text "lemma: gloss" encoded as per-token all-MiniLM-L6-v2 vectors
    (:func:`simrepro.data.derived.minilm_token_embeddings`, cached), each token scaled to unit norm.
    Returns {'doc_ids', 'query_ids', 'doc_tokens' (T_d, 384), 'doc_offsets' (n_docs + 1,), 'query_tokens',
    'query_offsets'}: cloud i is ``tokens[offsets[i]:offsets[i + 1]]``."""
    from simrepro.data.derived import minilm_token_embeddings
    lemma = open_file("wordnet_nouns", "lemma.txt").read_text(encoding="utf-8").splitlines()
    gloss = open_file("wordnet_nouns", "gloss.txt").read_text(encoding="utf-8").splitlines()
    corpus = load_array("wordnet_nouns", "doc_ids.npy")
    outside = np.setdiff1d(np.arange(len(lemma)), corpus)
    if not (1 <= n_docs <= corpus.size and 1 <= n_queries <= outside.size):
        raise ValueError(f"need 1 ≤ n_docs ≤ {corpus.size} and 1 ≤ n_queries ≤ {outside.size}")
    rng = np.random.default_rng(seed)
    docs = np.sort(rng.choice(corpus, n_docs, replace=False))
    queries = np.sort(rng.choice(outside, n_queries, replace=False))
    out = {"doc_ids": docs, "query_ids": queries}
    for key, ids in (("doc", docs), ("query", queries)):
        X, off = minilm_token_embeddings([f"{lemma[i]}: {gloss[i]}" for i in ids], name=f"wordnet_{key}_tokens")
        out[f"{key}_tokens"] = (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)
        out[f"{key}_offsets"] = off
    return out
