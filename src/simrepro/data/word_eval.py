"""Word-similarity benchmarks and a small stemmed English corpus shipped in gensim's test data (gensim 4.4.0).

- ``wordsim353.tsv``: WordSim-353 (Finkelstein et al. 2002), 353 word pairs with mean human relatedness 0–10;
- ``simlex999.txt``: SimLex-999 (Hill, Reichart & Korhonen 2015), 999 pairs with mean human similarity 0–10;
- ``head500.noblanks.cor``: 250 lines of Wikipedia text (about 331k tokens), already lower-cased, stop-word
  filtered and Porter-stemmed ("anarch", "philosophi");
- ``lee_background.cor``: 300 Australian news articles (about 60k tokens, raw text).

The asset copies the four files as UTF-8 into ``data/gensim_word_eval/``. :func:`load_stemmed_corpus` returns
the corpus as token lists with the Lee articles passed through gensim's ``preprocess_string`` (the same
lower-casing, stop-word removal and Porter stemming), so both parts share one vocabulary; :func:`stem` maps a
benchmark word into that vocabulary with the same stemmer.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from simrepro.data._store import asset, open_file

_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt", "wiki": "head500.noblanks.cor",
          "lee": "lee_background.cor"}


@asset("gensim_word_eval", packages=("gensim",), install="pip install gensim==4.4.0")
def _build_gensim_word_eval(out: Path) -> None:
    """WordSim-353, SimLex-999, gensim's stemmed Wikipedia excerpt and the Lee background articles (UTF-8)."""
    base = Path(importlib.util.find_spec("gensim").submodule_search_locations[0]) / "test" / "test_data"
    for name in _FILES.values():
        text = (base / name).read_bytes().decode("utf-8", errors="replace") if name != "lee_background.cor" \
            else (base / name).read_bytes().decode("latin-1")
        (out / name).write_text(text.replace("\r\n", "\n"), encoding="utf-8")


def load_word_similarity(name: str = "wordsim353") -> pd.DataFrame:
    """A benchmark as a table (word1, word2, score), lower-cased words, comment lines dropped."""
    if name not in ("wordsim353", "simlex999"):
        raise ValueError(f"name must be 'wordsim353' or 'simlex999', got {name!r}")
    rows = []
    for line in open_file("gensim_word_eval", _FILES[name]).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        a, b, s = line.split("\t")[:3]
        rows.append((a.lower(), b.lower(), float(s)))
    return pd.DataFrame(rows, columns=["word1", "word2", "score"])


def stem(word: str) -> str:
    """Porter stem of a lower-cased word (gensim's stemmer, as the corpus was stemmed)."""
    from gensim.parsing.porter import PorterStemmer
    return PorterStemmer().stem(word.lower())


def load_stemmed_corpus(parts: tuple[str, ...] = ("wiki", "lee")) -> list[list[str]]:
    """Token lists, one per line of the Wikipedia excerpt and one per Lee article (``parts`` picks them)."""
    from gensim.parsing.preprocessing import preprocess_string
    unknown = set(parts) - {"wiki", "lee"}
    if unknown:
        raise ValueError(f"parts must be drawn from ('wiki', 'lee'), got {sorted(unknown)}")
    out: list[list[str]] = []
    if "wiki" in parts:
        text = open_file("gensim_word_eval", _FILES["wiki"]).read_text(encoding="utf-8")
        out += [line.split() for line in text.splitlines() if line.strip()]
    if "lee" in parts:
        text = open_file("gensim_word_eval", _FILES["lee"]).read_text(encoding="utf-8")
        out += [preprocess_string(line) for line in text.splitlines() if line.strip()]
    return out
