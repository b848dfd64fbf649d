"""Multi-aspect WordNet gloss documents: eligibility, disjoint tune/eval splits, query draws."""

import numpy as np
import pytest

from simrepro.data import _store, gloss_aspects as ga


def test_eligible_synsets_need_a_unique_lemma_and_a_long_definition():
    lemma = ["Bank", "bank", "river", "sun", "moon"]
    definition = ["a financial institution that accepts deposits", "sloping land beside water",
                  "a large natural stream of water", "the star", "the natural satellite of the earth"]
    assert list(ga.eligible_synsets(lemma, definition, min_words=4)) == [2, 4]


def test_draw_aspect_queries_one_per_document_and_seeded():
    aspects = np.arange(40).reshape(10, 4)
    docs, syn = ga.draw_aspect_queries(aspects, 6, seed=1)
    assert len(set(docs.tolist())) == 6 and np.all(np.diff(docs) > 0)
    assert all(s in aspects[d] for d, s in zip(docs, syn))
    d2, s2 = ga.draw_aspect_queries(aspects, 6, seed=1)
    assert np.array_equal(docs, d2) and np.array_equal(syn, s2)
    with pytest.raises(ValueError, match="n_queries"):
        ga.draw_aspect_queries(aspects, 11, seed=0)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "data"))
    try:
        _store.build("wordnet_nouns")
    except _store.AssetMissing as e:
        pytest.skip(str(e))


def test_corpus_splits_are_disjoint_and_documents_hold_their_definitions(store):
    tune = ga.load_multi_aspect_glosses(50, 4, seed=0, split="tune")
    ev = ga.load_multi_aspect_glosses(50, 4, seed=0, split="eval")
    assert tune["aspects"].shape == (50, 4) and len(np.unique(tune["aspects"])) == 200
    assert not set(tune["aspects"].ravel()) & set(ev["aspects"].ravel())
    for text, row in zip(ev["doc_text"], ev["aspects"]):
        assert all(ev["definition"][s] in text for s in row) and '"' not in text.split(". ")[0][:1]
    with pytest.raises(ValueError, match="split"):
        ga.load_multi_aspect_glosses(5, 2, split="test")
