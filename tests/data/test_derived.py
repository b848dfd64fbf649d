"""Model-derived features are cached outside data/, keyed by the model's versions and the input texts."""

import numpy as np
import pytest

from simrepro.data import derived


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(derived, "cache_dir", lambda: tmp_path / "cache")
    derived.DERIVED.clear()
    return tmp_path / "cache"


def test_embeddings_are_computed_once_then_read_from_the_cache(cache):
    texts = ["a cat: a small feline", "a dog", "entity"]
    first = derived.minilm_embeddings(texts, name="toy")
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=2e-3)     # unit norm up to float16 rounding
    (cached,) = cache.glob("toy-*.npy")
    record = dict(derived.DERIVED["toy"])
    cached.write_bytes(cached.read_bytes())        # same bytes: a second call must read them, not recompute
    np.save(cached, np.load(cached) * 0)           # make a hit observable
    assert (derived.minilm_embeddings(texts, name="toy") == 0).all()
    assert derived.DERIVED["toy"]["key"] == record["key"] and derived.DERIVED["toy"]["sha256"] != record["sha256"]


def test_the_key_depends_on_texts_order_dtype_and_versions(monkeypatch):
    k = derived.cache_key(["a", "b"], "float16")
    assert k != derived.cache_key(["b", "a"], "float16") != derived.cache_key(["ab"], "float16")
    assert k != derived.cache_key(["a", "b"], "float32")
    monkeypatch.setattr(derived, "_versions", lambda: {"torch": "0.0"})
    assert k != derived.cache_key(["a", "b"], "float16")


def test_bad_texts_are_a_clear_error(cache):
    with pytest.raises(TypeError, match="list of str"):
        derived.minilm_embeddings("one string", name="toy")
