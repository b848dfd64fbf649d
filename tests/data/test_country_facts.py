"""The country-facts KB: facts rendered from countryinfo, units, passages, templated questions, splits."""

import importlib.util

import numpy as np
import pytest

from simrepro.data import _store
from simrepro.data import country_facts as cf


def test_render_facts_formats_and_skips_missing_values():
    recs = [{"name": "Aland", "ISO": {"alpha3": "ALA"}, "capital": "Town", "population": 1234567, "area": 12.6,
             "borders": ["BBB", "ZZZ"], "callingCodes": ["1", ""], "currencies": [], "region": "Europe",
             "subregion": "Northern Europe", "tld": [".ax"]},
            {"name": "Bland", "ISO": {"alpha3": "BBB"}, "region": "Asia", "subregion": "", "demonym": "Blandish"}]
    rows = cf.render_facts(recs)
    assert ("Aland", "population", "1,234,567") in rows and ("Aland", "area", "13 square kilometres") in rows
    assert ("Aland", "borders", "Bland") in rows           # unknown code ZZZ dropped
    assert ("Aland", "calling_code", "+1") in rows and ("Aland", "location", "Northern Europe, in Europe") in rows
    assert ("Bland", "location", "Asia") in rows and ("Bland", "demonym", "Blandish") in rows
    assert not any(r[1] == "currency" for r in rows) and not any(r[0] == "Bland" and r[1] == "capital" for r in rows)
    assert rows == sorted(rows, key=lambda r: (r[0], cf.FACTS.index(r[1])))


def test_every_fact_type_has_five_distinct_templates_and_a_passage():
    assert set(cf.QUESTIONS) == set(cf.PASSAGE) == set(cf.FACTS)
    for f, tpls in cf.QUESTIONS.items():
        assert len(tpls) == cf.N_TEMPLATES == len(set(tpls)) and all("{c}" in t for t in tpls)


def test_template_split_is_seeded_disjoint_and_varies():
    a, b = cf.template_split(0), cf.template_split(0)
    assert all(np.array_equal(a[f], b[f]) and len(a[f]) == 2 for f in cf.FACTS)
    assert any(not np.array_equal(a[f], cf.template_split(1)[f]) for f in cf.FACTS)


needs_asset = pytest.mark.skipif(importlib.util.find_spec("countryinfo") is None, reason="pip install countryinfo==1.0.1")


ASSET = "country_facts"  # built once into a temporary store by the `store` fixture (conftest.py)


@needs_asset
def test_asset_builds_deterministically_with_known_rows(store, monkeypatch, tmp_path):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    rows = cf.load_country_facts()
    assert ("France", "capital", "Paris") in rows and ("Albania", "capital", "Tirana") in rows
    assert 2000 <= len(rows) <= 2300 and len({r[0] for r in rows}) >= 240
    first = (store / "country_facts" / "facts.tsv").read_bytes()
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "again"))
    _store.build("country_facts")
    assert (tmp_path / "again" / "country_facts" / "facts.tsv").read_bytes() == first


@needs_asset
def test_qa_units_questions_and_split(store, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(store))
    qa = cf.load_country_qa(10)
    assert len(set(qa.unit_country)) == 10 and len(qa.questions) == 5 * len(qa.passages)
    assert np.array_equal(np.bincount(qa.question_unit), np.full(len(qa.passages), 5))
    assert cf.load_country_qa(10).questions == qa.questions             # fixed country order
    store_idx, query_idx = cf.split_questions(qa, 3)
    assert len(np.intersect1d(store_idx, query_idx)) == 0 and len(store_idx) + len(query_idx) == len(qa.questions)
    assert np.array_equal(np.bincount(qa.question_unit[query_idx], minlength=len(qa.passages)),
                          np.full(len(qa.passages), 2))
    assert not set(qa.questions[i] for i in query_idx) & set(qa.questions[i] for i in store_idx)
    u = qa.question_unit[query_idx[0]]
    assert qa.unit_country[u] in qa.questions[query_idx[0]] and qa.unit_country[u] in qa.passages[u]
    paras, q_country, countries = cf.country_paragraphs(qa)
    assert len(paras) == len(countries) == 10
    assert all(countries[q_country[j]] == qa.unit_country[qa.question_unit[j]] for j in range(len(qa.questions)))
    with pytest.raises(ValueError, match="n_countries"):
        cf.load_country_qa(0)
    with pytest.raises(ValueError, match="facts"):
        cf.load_country_qa(5, facts=("gdp",))
