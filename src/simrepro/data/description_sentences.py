"""Real English sentences and a WordNet 3.0 abstraction lexicon for description-based retrieval (paper 95,
Ravfogel et al., "Retrieving Texts based on Abstract Descriptions").

Asset ``description_sentences`` (deterministic bytes):

- ``sentences.tsv``: ``source<TAB>sentence``, one a line, 8–30 words, de-duplicated, in a fixed order:
  the sentences of the 350 Lee news articles (gensim test data; split after ``.``/``!``/``?`` followed by a
  capital or a quote) and the single-sentence quotes of a benign subset of the BSD ``fortunes`` files (the
  Debian packages ``fortunes`` and ``fortunes-min``, read from ``/usr/share/games/fortunes``; attribution
  lines dropped). The KJV and the gensim Wikipedia excerpt of the plan are not used: the excerpt is stemmed and
  stop-worded (not sentences), the KJV needs the ``bible`` decoder program.
- ``noun_abstract.tsv``: ``word<TAB>abstraction`` for every WordNet 3.0 noun lemma (``index.noun``): the first
  lemma of the synset two hypernym levels above the word's first sense (``@`` or ``@i`` pointers, the first
  one; fewer levels near the root), underscores as spaces.
- ``verbs.txt``: every WordNet verb lemma (``index.verb``), and ``noun.exc`` / ``verb.exc`` pairs
  (``inflected<TAB>base``) in ``exceptions.tsv``.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from simrepro.data._store import AssetMissing, asset, open_file

WORDNET_DIR = Path("/usr/share/wordnet")
FORTUNE_DIR = Path("/usr/share/games/fortunes")
FORTUNE_FILES = ("art", "education", "food", "humorists", "kids", "law", "literature", "love", "medicine",
                 "people", "pets", "platitudes", "science", "wisdom", "work")
MIN_WORDS, MAX_WORDS = 8, 30
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_OK = re.compile(r"^[A-Za-z0-9 ,.;:'\"!?()$%&-]+$")


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: split after ``.``, ``!`` or ``?`` followed by whitespace and a capital or quote;
    whitespace collapsed. Abbreviations such as "Mr. Smith" are split too (a known limit of the rule)."""
    return [s for s in (" ".join(p.split()) for p in _SPLIT.split(text)) if s]


def keep_sentence(s: str) -> bool:
    """8–30 words, plain ASCII letters/digits/punctuation, ending in . ! or ?, starting with a capital."""
    n = len(s.split())
    return MIN_WORDS <= n <= MAX_WORDS and bool(_OK.match(s)) and s[-1] in ".!?" and s[0].isupper()


def _fortune_root() -> Path:
    """The installed BSD fortune files; every file of FORTUNE_FILES must be there (``literature`` ships in
    ``fortunes-min``, the others in ``fortunes``), so the asset is the same on every machine."""
    missing = [n for n in FORTUNE_FILES if not (FORTUNE_DIR / n).exists()]
    if missing:
        raise AssetMissing(f"BSD fortune files missing from {FORTUNE_DIR}: {', '.join(missing)}; install them with: "
                           "apt-get install fortunes fortunes-min (scripts/setup.sh does)")
    return FORTUNE_DIR


def fortune_sentences(text: str) -> list[str]:
    """Single-sentence quotes of one fortune file (entries separated by a line holding ``%``; lines starting
    with ``--`` after whitespace are attributions and are dropped)."""
    out = []
    for entry in re.split(r"\n%\n", text):
        lines = [ln for ln in entry.splitlines() if ln.strip() and not ln.strip().startswith("--")]
        s = " ".join(" ".join(lines).split())
        parts = split_sentences(s)
        if len(parts) == 1 and keep_sentence(parts[0]):
            out.append(parts[0])
    return out


def _wordnet_text(name: str) -> str:
    path = WORDNET_DIR / name
    if not path.exists():
        raise AssetMissing("WordNet 3.0 is not installed; install it with: apt-get install wordnet-base")
    return path.read_text(encoding="latin-1")


def parse_noun_abstractions(index_text: str, data_text: str, levels: int = 2) -> dict[str, str]:
    """{noun lemma: first lemma of the synset ``levels`` hypernym steps above its first sense} from WordNet's
    ``index.noun`` (``lemma pos synset_cnt p_cnt [ptr]… sense_cnt tagsense_cnt offset…``) and ``data.noun``."""
    first_lemma, parent = {}, {}
    for line in data_text.splitlines():
        if not line or line.startswith("  "):
            continue
        f = line.partition(" | ")[0].split()
        off, w_cnt = int(f[0]), int(f[3], 16)
        first_lemma[off] = f[4].replace("_", " ").lower()
        p_at = 4 + 2 * w_cnt
        for i in range(int(f[p_at])):
            if f[p_at + 1 + 4 * i] in ("@", "@i"):
                parent[off] = int(f[p_at + 2 + 4 * i])
                break
    out = {}
    for line in index_text.splitlines():
        if not line or line.startswith("  "):
            continue
        f = line.split()
        lemma, synset_cnt, p_cnt = f[0], int(f[2]), int(f[3])
        offsets = f[4 + p_cnt + 2:4 + p_cnt + 2 + synset_cnt]
        node = int(offsets[0])
        for _ in range(levels):
            if node not in parent:
                break
            node = parent[node]
        out[lemma.replace("_", " ")] = first_lemma[node]
    return out


@asset("description_sentences", packages=("gensim",),
       install="pip install gensim==4.4.0; apt-get install fortunes fortunes-min wordnet-base")
def _build(out: Path) -> None:
    """Real sentences (Lee news + single-sentence fortunes) and a WordNet noun-abstraction lexicon."""
    base = Path(importlib.util.find_spec("gensim").submodule_search_locations[0]) / "test" / "test_data"
    rows, seen = [], set()

    def add(source: str, s: str) -> None:
        if keep_sentence(s) and s.lower() not in seen:
            seen.add(s.lower())
            rows.append(f"{source}\t{s}")

    for name in ("lee_background.cor", "lee.cor"):
        for doc in (base / name).read_bytes().decode("latin-1").splitlines():
            for s in split_sentences(doc):
                add("lee", s)
    root = _fortune_root()
    for name in FORTUNE_FILES:
        for s in fortune_sentences((root / name).read_text(encoding="latin-1")):
            add(f"fortune-{name}", s)
    (out / "sentences.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    nouns = parse_noun_abstractions(_wordnet_text("index.noun"), _wordnet_text("data.noun"))
    (out / "noun_abstract.tsv").write_text("".join(f"{w}\t{a}\n" for w, a in sorted(nouns.items())), encoding="utf-8")
    verbs = sorted({ln.split()[0].replace("_", " ") for ln in _wordnet_text("index.verb").splitlines()
                    if ln and not ln.startswith("  ")})
    (out / "verbs.txt").write_text("\n".join(verbs) + "\n", encoding="utf-8")
    exc = []
    for pos in ("noun", "verb"):
        for ln in _wordnet_text(f"{pos}.exc").splitlines():
            f = ln.split()
            if len(f) >= 2:
                exc.append(f"{pos}\t{f[0]}\t{f[1]}")
    (out / "exceptions.tsv").write_text("\n".join(exc) + "\n", encoding="utf-8")


def load_description_sentences() -> tuple[list[str], list[str]]:
    """(sentences, sources): the asset's real sentences in their stored order and where each comes from."""
    rows = open_file("description_sentences", "sentences.tsv").read_text(encoding="utf-8").splitlines()
    src, sents = zip(*(r.split("\t", 1) for r in rows))
    return list(sents), list(src)


def load_abstraction_lexicon() -> dict:
    """{'noun_abstract': {noun: abstraction}, 'verbs': set of verb lemmas, 'noun_exc': {inflected: base},
    'verb_exc': {inflected: base}} from WordNet 3.0 (see the module docstring)."""
    nouns = dict(ln.split("\t") for ln in open_file("description_sentences", "noun_abstract.tsv")
                 .read_text(encoding="utf-8").splitlines() if ln)
    verbs = set(open_file("description_sentences", "verbs.txt").read_text(encoding="utf-8").split("\n")) - {""}
    exc = {"noun": {}, "verb": {}}
    for ln in open_file("description_sentences", "exceptions.tsv").read_text(encoding="utf-8").splitlines():
        if ln:
            pos, a, b = ln.split("\t")
            exc[pos].setdefault(a, b)
    return {"noun_abstract": nouns, "verbs": verbs, "noun_exc": exc["noun"], "verb_exc": exc["verb"]}
