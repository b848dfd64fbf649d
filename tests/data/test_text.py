"""The Lee corpus asset: builds offline from gensim's test data, loads with the documented shapes."""

import numpy as np
import pytest

from simrepro.data import _store
from simrepro.data.text import load_lee_corpus, load_lee_similarity


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "data"))
    _store.build("lee_corpus")
    return tmp_path / "data"


def test_lee_corpus_loads_with_documented_sizes(store):
    test, background = load_lee_corpus("test"), load_lee_corpus("background")
    assert len(test) == 50 and len(background) == 300
    assert all(doc and "\n" not in doc for doc in test + background)
    assert test[0].startswith("The national executive of the strife-torn Democrats")
    sims = load_lee_similarity()
    assert sims.shape == (50, 50) and np.allclose(sims, sims.T) and np.all((0 <= sims) & (sims <= 1))
    assert "lee_test.txt" in _store.USED["lee_corpus"]          # the hash is recorded for provenance


def test_lee_corpus_build_is_deterministic(store):
    first = (store / "lee_corpus" / "lee_test.txt").read_bytes()
    _store.build("lee_corpus", force=True)
    assert (store / "lee_corpus" / "lee_test.txt").read_bytes() == first


def test_unknown_split_is_rejected(store):
    with pytest.raises(ValueError, match="split must be one of"):
        load_lee_corpus("train")
