"""gensim's word-similarity benchmarks and stemmed corpus as an asset; the synthetic latent-vector corpus."""

import numpy as np
import pytest

from simrepro.data import _store
from simrepro.data import word_eval as we
from simrepro.data.synthetic_text import latent_corpus


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMREPRO_DATA", str(tmp_path / "data"))
    _store.build("gensim_word_eval")
    return tmp_path / "data"


def test_benchmarks_load_with_documented_sizes(store):
    ws, sl = we.load_word_similarity("wordsim353"), we.load_word_similarity("simlex999")
    assert len(ws) == 353 and len(sl) == 999
    assert tuple(ws.iloc[0]) == ("love", "sex", 6.77) and tuple(sl.iloc[0]) == ("old", "new", 1.58)
    assert "wordsim353.tsv" in _store.USED["gensim_word_eval"]
    with pytest.raises(ValueError, match="wordsim353"):
        we.load_word_similarity("men")


def test_corpus_is_stemmed_and_deterministic(store):
    corpus = we.load_stemmed_corpus()
    assert len(corpus) == 550 and 300_000 < sum(map(len, corpus)) < 400_000
    assert corpus[0][:3] == ["anarch", "greek", "rule"] and we.stem("Dictionary") == "dictionari"
    first = (store / "gensim_word_eval" / "head500.noblanks.cor").read_bytes()
    _store.build("gensim_word_eval", force=True)
    assert (store / "gensim_word_eval" / "head500.noblanks.cor").read_bytes() == first
    with pytest.raises(ValueError, match="parts"):
        we.load_stemmed_corpus(("bible",))


def test_latent_corpus_frequencies_and_coupling():
    c = latent_corpus(50, 40_000, dim=4, beta=2.0, seed=0)
    assert c.tokens.shape == (2000, 20) and c.tokens.min() >= 0 and c.tokens.max() < 50
    cnt = c.counts()
    assert cnt[:5].sum() > cnt[-5:].sum()                            # Zipf: frequent words first
    c0 = latent_corpus(50, 40_000, dim=4, beta=0.0, seed=0)           # β = 0: tokens ignore the latent vectors
    np.testing.assert_allclose(c0.counts() / c0.tokens.size, c0.prior, atol=0.01)
    np.testing.assert_array_equal(latent_corpus(50, 4000, seed=3).tokens, latent_corpus(50, 4000, seed=3).tokens)
    with pytest.raises(ValueError, match="vocab_size"):
        latent_corpus(1, 100)
