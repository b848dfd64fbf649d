"""Country facts as a question-answering knowledge base: content units, their passages and question-like texts,
from the ``countryinfo`` package's per-country JSON files (``countryinfo/data/*.json``: Natural Earth /
REST Countries-style records; MIT).

Asset ``country_facts`` (``facts.tsv``, UTF-8, tab-separated, sorted by country then fact type): one row per
(country, fact type) with a non-empty value, for the fact types of :data:`FACTS` (capital, location,
population, area, land borders, calling code, currency, demonym, internet domain). Values are rendered as
text once (numbers with thousands separators, bordering countries by name, lists joined with "and"). A
duplicated country name (two files for Curaçao) keeps the first file in sorted path order.

Task built from it (:func:`load_country_qa`): a *content unit* is one (country, fact type); its *passage* is a
declarative sentence stating the fact (:data:`PASSAGE`); each fact type has five question templates
(:data:`QUESTIONS`, written by us to stand in for an instruction-tuned LLM's generated questions, which
cannot be had offline). Instantiated for every unit they give 5 question texts a unit. Per seed, a split
(:func:`template_split`) sends 3 templates of each fact type to the question *store* and the other 2 to the
*user queries* (so no user query is a stored question verbatim); each user query's only relevant unit is
the unit it was instantiated from.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simrepro.data._store import AssetMissing, asset, open_file

_INSTALL = "pip install countryinfo==1.0.1"
FACTS = ("capital", "location", "population", "area", "borders", "calling_code", "currency", "demonym", "tld")
PASSAGE = {
    "capital": "The capital of {c} is {v}.",
    "location": "{c} is located in {v}.",
    "population": "{c} has a population of {v}.",
    "area": "{c} has a total area of {v}.",
    "borders": "{c} shares land borders with {v}.",
    "calling_code": "The international dialling code of {c} is {v}.",
    "currency": "The official currency of {c} has the ISO 4217 code {v}.",
    "demonym": "People from {c} are called {v}.",
    "tld": "The internet country code domain of {c} is {v}.",
}
QUESTIONS = {
    "capital": ("What is the capital of {c}?", "Which city is the capital of {c}?", "What is {c}'s capital city?",
                "Where is the seat of government of {c}?", "Name the capital city of {c}."),
    "location": ("Where is {c} located?", "In which region of the world is {c}?", "On what continent is {c}?",
                 "What part of the world is {c} in?", "Which subregion does {c} belong to?"),
    "population": ("What is the population of {c}?", "How many people live in {c}?",
                   "How many inhabitants does {c} have?", "How populous is {c}?",
                   "What is the number of residents of {c}?"),
    "area": ("What is the area of {c}?", "How big is {c}?", "How large is {c} in square kilometres?",
             "What is the total land area of {c}?", "How much territory does {c} cover?"),
    "borders": ("Which countries border {c}?", "What are the neighbouring countries of {c}?",
                "Which countries share a border with {c}?", "What nations are adjacent to {c}?",
                "Who are {c}'s neighbours?"),
    "calling_code": ("What is the calling code of {c}?", "What is the international dialling code for {c}?",
                     "Which telephone country code does {c} use?", "What number do I dial to call {c}?",
                     "What is {c}'s phone prefix?"),
    "currency": ("What is the currency of {c}?", "What money is used in {c}?",
                 "Which currency do people pay with in {c}?", "What is the official currency of {c}?",
                 "What currency does {c} use?"),
    "demonym": ("What are people from {c} called?", "What is the demonym of {c}?",
                "What do you call a person from {c}?", "What is the name for the inhabitants of {c}?",
                "How are citizens of {c} referred to?"),
    "tld": ("What is the internet domain of {c}?", "What is the top-level domain of {c}?",
            "Which web domain suffix does {c} use?", "What is {c}'s country code TLD?",
            "What domain ending do websites from {c} have?"),
}
N_TEMPLATES = 5
N_QUERY_TEMPLATES = 2


def _data_dir() -> Path:
    spec = importlib.util.find_spec("countryinfo")
    if spec is None:
        raise AssetMissing(f"country_facts needs the package 'countryinfo', which is not installed; install it "
                           f"with: {_INSTALL}")
    return Path(spec.submodule_search_locations[0]) / "data"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def render_facts(records: list[dict]) -> list[tuple[str, str, str]]:
    """``(country, fact, value)`` rows from countryinfo records (missing / empty values skipped), sorted."""
    by_a3 = {r.get("ISO", {}).get("alpha3"): r["name"] for r in records if r.get("ISO")}
    rows = []
    for r in records:
        c = r["name"]
        v: dict[str, str] = {}
        if r.get("capital"):
            v["capital"] = str(r["capital"])
        if r.get("subregion") or r.get("region"):
            sub, reg = r.get("subregion") or "", r.get("region") or ""
            v["location"] = f"{sub}, in {reg}" if sub and reg and sub != reg else (sub or reg)
        if r.get("population"):
            v["population"] = f"{int(r['population']):,}"
        if r.get("area"):
            v["area"] = f"{int(round(float(r['area']))):,} square kilometres"
        names = [by_a3[b] for b in r.get("borders") or [] if b in by_a3]
        if names:
            v["borders"] = _join(names)
        codes = [x for x in r.get("callingCodes") or [] if x]
        if codes:
            v["calling_code"] = _join(["+" + x for x in codes])
        if r.get("currencies"):
            v["currency"] = _join([str(x) for x in r["currencies"]])
        if r.get("demonym"):
            v["demonym"] = str(r["demonym"])
        if r.get("tld"):
            v["tld"] = _join([str(x) for x in r["tld"]])
        rows += [(c, f, v[f]) for f in FACTS if f in v]
    order = {f: i for i, f in enumerate(FACTS)}
    return sorted(rows, key=lambda t: (t[0], order[t[1]]))


@asset("country_facts", packages=("countryinfo",), install=_INSTALL)
def _build_country_facts(out: Path) -> None:
    """countryinfo facts: facts.tsv (country, fact, value), one row per (country, fact type)."""
    records, seen = [], set()
    for path in sorted(_data_dir().glob("*.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        name = (r.get("name") or "").strip()
        if not name or name in seen:
            continue
        seen.add(name)
        records.append(r)
    rows = render_facts(records)
    for row in rows:
        if any(("\t" in x) or ("\n" in x) for x in row):
            raise AssetMissing(f"countryinfo row {row!r} holds a tab or line break; reinstall with: {_INSTALL}")
    (out / "facts.tsv").write_text("".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")


def load_country_facts() -> list[tuple[str, str, str]]:
    """The asset's ``(country, fact, value)`` rows, in file order."""
    lines = open_file("country_facts", "facts.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines]


@dataclass(frozen=True)
class CountryQA:
    """The KB of units (``unit_country``, ``unit_fact``, ``passages``: one per unit) and every templated
    question (``questions``; ``question_unit`` its unit, ``question_template`` its template index 0–4)."""
    unit_country: list[str]
    unit_fact: list[str]
    passages: list[str]
    questions: list[str]
    question_unit: np.ndarray
    question_template: np.ndarray


def load_country_qa(n_countries: int | None = None, *, facts: tuple[str, ...] = FACTS) -> CountryQA:
    """The KB restricted to the first ``n_countries`` countries in a fixed pseudo-random order
    (``default_rng(114)`` over the sorted names; all if None) and to fact types ``facts``."""
    bad = [f for f in facts if f not in FACTS]
    if bad or not facts:
        raise ValueError(f"facts must be a non-empty subset of {FACTS}, got {facts!r}")
    rows = [r for r in load_country_facts() if r[1] in facts]
    countries = sorted({r[0] for r in rows})
    if n_countries is not None:
        if isinstance(n_countries, bool) or not 1 <= int(n_countries) <= len(countries):
            raise ValueError(f"n_countries must be in 1..{len(countries)} or None, got {n_countries!r}")
        keep = set(np.asarray(countries)[np.random.default_rng(114).permutation(len(countries))[:n_countries]])
        rows = [r for r in rows if r[0] in keep]
    questions, q_unit, q_tpl = [], [], []
    for u, (c, f, _) in enumerate(rows):
        for t, tpl in enumerate(QUESTIONS[f]):
            questions.append(tpl.format(c=c))
            q_unit.append(u)
            q_tpl.append(t)
    return CountryQA([r[0] for r in rows], [r[1] for r in rows], [PASSAGE[f].format(c=c, v=v) for c, f, v in rows],
                     questions, np.asarray(q_unit, np.int64), np.asarray(q_tpl, np.int64))


def template_split(seed: int, facts: tuple[str, ...] = FACTS) -> dict[str, np.ndarray]:
    """Per fact type, the template ids (0–4) of the user queries (2) — the other 3 go to the store;
    ``default_rng(seed)`` draws one permutation per fact type in :data:`FACTS` order."""
    rng = np.random.default_rng(seed)
    perms = {f: rng.permutation(N_TEMPLATES) for f in FACTS}
    return {f: np.sort(perms[f][:N_QUERY_TEMPLATES]) for f in facts}


def split_questions(qa: CountryQA, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(store_idx, query_idx)``: indices into ``qa.questions`` of the stored questions and the user queries
    under :func:`template_split` (disjoint; every unit has 3 stored questions and 2 queries)."""
    split = template_split(seed, tuple(sorted(set(qa.unit_fact), key=FACTS.index)))
    fact = np.asarray(qa.unit_fact, dtype=object)[qa.question_unit]
    is_query = np.array([t in split[f] for f, t in zip(fact, qa.question_template)], dtype=bool)
    return np.flatnonzero(~is_query), np.flatnonzero(is_query)


def country_paragraphs(qa: CountryQA) -> tuple[list[str], np.ndarray, list[str]]:
    """The coarse (Wikipedia-like) granularity: one unit per country whose passage is the paragraph of all its
    fact sentences (in :data:`FACTS` order, joined by spaces). Returns ``(paragraphs, question_unit,
    countries)``: ``question_unit[j]`` = the country unit of ``qa.questions[j]``."""
    countries = sorted(set(qa.unit_country))
    cid = {c: i for i, c in enumerate(countries)}
    parts: list[list[str]] = [[] for _ in countries]
    for c, p in zip(qa.unit_country, qa.passages):
        parts[cid[c]].append(p)
    unit_to_country = np.asarray([cid[c] for c in qa.unit_country], np.int64)
    return [" ".join(p) for p in parts], unit_to_country[qa.question_unit], countries
