"""Tests of simrepro.methods.recommendation.meta_prod2vec (Prod2Vec / Meta-Prod2Vec with gensim)."""

import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from simrepro.methods.recommendation import meta_prod2vec as mp


def _toy(seed=0, n_users=15, n_items=23, n_meta=4):
    rng = np.random.default_rng(seed)
    seqs = [rng.integers(0, n_items, size=rng.integers(1, 9)) for _ in range(n_users)]
    meta = [[mp.meta_token(f"g{g}") for g in sorted(set(rng.integers(0, n_meta, size=rng.integers(0, 3))))]
            for _ in range(n_items)]
    return seqs, meta


def _directed(sentences, window):
    out = Counter()
    for s in sentences:
        out.update(mp.skipgram_pairs(s, window))
    return out


@pytest.mark.parametrize("window", [1, 2, 3])
def test_corpus_trains_exactly_the_five_terms(window):
    """At λ = 1 the skip-gram pairs gensim trains on the corpus = J|I + M|I + J|M + M|M + I|M + (own meta | item)."""
    seqs, meta = _toy(window)
    c = mp.build_corpus(seqs, meta, window=window, lam=1.0, seed=3)
    got = _directed(c.sentences, window)
    ref = mp.mp2v_pairs_reference(seqs, meta, window)
    want = Counter()
    for t in ref.values():
        want.update(t)
    want.update({(b, a): n for (a, b), n in ref["I|M"].items()})                  # the documented extra reverse
    assert got == want


def test_lambda_zero_is_prod2vec_and_lambda_subsamples():
    seqs, meta = _toy(1, n_users=40)
    p2v = mp.build_corpus(seqs, None, window=2)
    assert mp.build_corpus(seqs, meta, window=2, lam=0.0).sentences == p2v.sentences
    c = mp.build_corpus(seqs, meta, window=2, lam=0.5, seed=0)
    n_extra = c.counts["n_mi"] + c.counts["n_mm"] + c.counts["n_im"]
    kept = c.counts["kept_mi"] + c.counts["kept_mm"] + c.counts["kept_im"]
    assert len(c.sentences) == len(p2v.sentences) + kept
    assert abs(kept / n_extra - 0.5) < 4 * np.sqrt(0.25 / n_extra)                # binomial, 4 sd
    assert sorted(map(tuple, c.sentences)) == sorted(map(tuple, mp.build_corpus(seqs, meta, window=2, lam=0.5,
                                                                                   seed=0).sentences))


def test_bad_input_errors():
    seqs, meta = _toy()
    with pytest.raises(ValueError, match="window"):
        mp.build_corpus(seqs, meta, window=0, lam=0.5)
    with pytest.raises(ValueError, match="lam"):
        mp.build_corpus(seqs, meta, window=1, lam=1.5)
    with pytest.raises(ValueError, match="lam"):
        mp.build_corpus(seqs, meta, window=1, lam=float("nan"))
    with pytest.raises(ValueError, match="metadata"):
        mp.build_corpus(seqs, None, window=1, lam=0.5)
    with pytest.raises(ValueError, match="empty corpus"):
        mp.fit_embeddings(mp.build_corpus([], None), 3)
    with pytest.raises(ValueError, match="finite"):
        mp.next_item_factors(np.array([[np.nan, 1.0]]), np.array([0]))
    with pytest.raises(ValueError, match="last_items"):
        mp.next_item_factors(np.ones((2, 2)), np.array([2]))


def test_user_sequences_and_last_items():
    users = np.array([2, 0, 2, 0, 2, 5])
    items = np.array([7, 1, 8, 3, 9, 4])
    ts = np.array([30, 5, 10, 5, 20, 1])                                           # user 0 has a timestamp tie
    seqs = mp.user_sequences(users, items, ts)
    assert [s.tolist() for s in seqs] == [[1, 3], [8, 9, 7], [4]]
    last = mp.last_training_items(6, users, items, ts)
    assert last.tolist() == [3, -1, 7, -1, -1, 4]
    assert mp.user_sequences(np.zeros(0), np.zeros(0), np.zeros(0)) == []


def test_item_metadata_tokens():
    toks = mp.item_metadata(["Action|Drama", "", "(no genres listed)", "Drama|Action|Drama"], [1994, None, "x", 2001])
    assert toks[0] == ["m:genre:Action", "m:genre:Drama", "m:decade:1990"]
    assert toks[1] == [] and toks[2] == []
    assert toks[3] == ["m:genre:Action", "m:genre:Drama", "m:decade:2000"]
    assert mp.item_metadata(["Animation Children's"], sep=None) == [["m:genre:Animation", "m:genre:Children's"]]
    assert mp.year_from_title("Se7en (a.k.a. x) (1995)") == 1995 and mp.year_from_title("none") is None


def test_next_item_factors_cosine_and_zero_rows():
    V = np.array([[3.0, 4.0], [0.0, 0.0], [1.0, 0.0], [-2.0, 0.0]])
    P, Q = mp.next_item_factors(V, np.array([0, -1, 1, 2]))
    S = P @ Q.T
    Vn = V / np.maximum(np.linalg.norm(V, axis=1, keepdims=True), 1e-300)
    np.testing.assert_allclose(S[0], Vn @ Vn[0], atol=1e-12)
    assert np.all(S[1] == 0) and np.all(S[2] == 0)
    np.testing.assert_allclose(S[3], [0.6, 0.0, 1.0, -1.0], atol=1e-12)


def test_popularity_groups():
    c = np.array([0, 1, 1, 2, 5, 9, 9, 30])
    g = mp.popularity_groups(c, tail_fraction=0.5, cold_max=2)
    # positive counts sorted [1,1,2,5,9,9,30] -> ceil(3.5)=4th = 5: tail = c <= 5
    assert g["tail"].tolist() == [True, True, True, True, True, False, False, False]
    assert (g["head"] == ~g["tail"]).all()
    assert g["cold"].tolist() == [True, True, True, False, False, False, False, False]
    with pytest.raises(ValueError):
        mp.popularity_groups(np.zeros(3))
    with pytest.raises(ValueError):
        mp.popularity_groups(c, tail_fraction=1.0)


def test_fit_is_deterministic_and_cold_items_use_metadata():
    seqs, meta = _toy(2, n_users=30)
    n_items = len(meta)
    meta[22] = [mp.meta_token("g0")]
    seqs = [s[s != 22] for s in seqs]                                              # item 22 never trained
    c = mp.build_corpus(seqs, meta, window=2, lam=1.0, seed=0)
    a = mp.fit_embeddings(c, n_items, meta, dim=8, window=2, epochs=2, seed=5, cold_from_metadata=True)
    b = mp.fit_embeddings(c, n_items, meta, dim=8, window=2, epochs=2, seed=5, cold_from_metadata=True)
    assert np.array_equal(a.vectors, b.vectors)
    d = mp.fit_embeddings(c, n_items, meta, dim=8, window=2, epochs=2, seed=6, cold_from_metadata=True)
    assert not np.array_equal(a.vectors, d.vectors)
    assert not a.has_vector[22]
    np.testing.assert_allclose(a.vectors[22], a.model.wv[mp.meta_token("g0")], rtol=0, atol=0)
    p = mp.fit_embeddings(c, n_items, meta, dim=8, window=2, epochs=2, seed=5, cold_from_metadata=False)
    assert np.all(p.vectors[22] == 0)


def test_stable_hash_is_process_independent():
    code = ("from simrepro.methods.recommendation.meta_prod2vec import stable_hash;"
            "print(stable_hash('m:genre:Drama'), hash('m:genre:Drama'))")
    outs = []
    for h in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=h)
        outs.append(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout.split())
    assert outs[0][0] == outs[1][0]
    assert outs[0][1] != outs[1][1]                                                # Python's hash is salted


def test_fit_identical_across_pythonhashseed():
    code = ("import numpy as np, hashlib;"
            "from simrepro.methods.recommendation import meta_prod2vec as mp;"
            "rng=np.random.default_rng(0);"
            "seqs=[rng.integers(0,12,size=6) for _ in range(10)];"
            "meta=[[mp.meta_token('g%d'%(i%3))] for i in range(12)];"
            "e=mp.fit_embeddings(mp.build_corpus(seqs,meta,window=2,lam=1.0,seed=0),12,meta,dim=6,window=2,epochs=2,seed=1);"
            "print(hashlib.sha256(e.vectors.tobytes()).hexdigest())")
    outs = {subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONHASHSEED=h),
                           capture_output=True, text=True, check=True).stdout.strip() for h in ("0", "7")}
    assert len(outs) == 1
