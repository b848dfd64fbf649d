"""Real English text shipped offline: the Lee news corpus from gensim's test data (Lee, Pincombe & Welsh 2005).

``lee_background``: 300 short Australian news articles (one per line); ``lee``: 50 further articles, the ones
whose pairwise similarities 83 people rated (``similarities0-1.txt``, 50 × 50). Stored as UTF-8 text, one
document per line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from simrepro.data._store import asset, load_array, open_file, save_array

_LEE_SPLITS = {"background": "lee_background.cor", "test": "lee.cor"}


@asset("lee_corpus", packages=("gensim",), install="pip install gensim==4.4.0")
def _build_lee_corpus(out: Path) -> None:
    """Lee corpus: 300 background + 50 test news articles (one per line), and the 50×50 human similarity matrix."""
    base = Path(importlib.util.find_spec("gensim").submodule_search_locations[0]) / "test" / "test_data"
    for split, name in _LEE_SPLITS.items():
        raw = (base / name).read_bytes().decode("latin-1")          # lee.cor is ISO-8859-1
        docs = [" ".join(line.split()) for line in raw.splitlines() if line.strip()]
        (out / f"lee_{split}.txt").write_text("\n".join(docs) + "\n", encoding="utf-8")
    upper = np.triu(np.loadtxt(base / "similarities0-1.txt"))     # the file holds the upper triangle only
    save_array(out, "lee_human_similarity.npy", upper + np.triu(upper, 1).T)


def load_lee_corpus(split: str = "test") -> list[str]:
    """The Lee articles of one split, 'test' (50) or 'background' (300), each a single string."""
    if split not in _LEE_SPLITS:
        raise ValueError(f"split must be one of {', '.join(_LEE_SPLITS)}; got {split!r}")
    return open_file("lee_corpus", f"lee_{split}.txt").read_text(encoding="utf-8").splitlines()


def load_lee_similarity() -> np.ndarray:
    """(50, 50) symmetric mean human similarity ratings of the 'test' articles, in [0, 1] (diagonal 1)."""
    return load_array("lee_corpus", "lee_human_similarity.npy")
