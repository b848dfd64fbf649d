"""Tests of simrepro.methods.retrieval.moe_embed: domain-pair construction against hand-built examples, enforced
routing against the compute-all reference, the MNR loss against its definition and sentence-transformers, the
F1 threshold rule against brute force, and clear errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from simrepro.methods.retrieval import moe_embed as M


def test_tokenize_and_vocab():
    assert M.tokenize("The Dog's 3 bones, DOG!") == ["the", "dog", "s", "bones", "dog"]
    docs = [["dog", "dog", "cat", "the", "ox"], ["cat", "dog", "bee"]]
    v = M.build_vocab(docs, 2, stopwords=frozenset({"the"}), extra=("zebra",))
    assert v == ["cat", "dog", "zebra"]          # top-2 non-stop words of length >= 3, plus the extra word
    with pytest.raises(ValueError, match="n_vocab"):
        M.build_vocab(docs, 0)


def test_taxonomic_pairs_on_a_hand_tree():
    # 0 animal -> 1 dog, 2 cat, 3 Rex (proper noun, skipped); 1 dog -> 4 puppy
    parent = np.array([-1, 0, 0, 0, 1])
    lemma = ["animal", "dog", "cat", "Rex", "puppy"]
    vocab = {"animal": 0, "dog": 1, "cat": 2, "puppy": 3, "rex": 4}
    t = M.taxonomic_pairs(parent, lemma, vocab, cohyponym_cap=10)
    assert {tuple(p) for p in t["hypernym"].tolist()} == {(0, 1), (0, 2), (1, 3)}
    assert {tuple(p) for p in t["cohyponym"].tolist()} == {(1, 2)}
    assert {tuple(p) for p in t["linked"].tolist()} == {(0, 1), (0, 2), (1, 3), (1, 2), (0, 3)}  # grandparent too
    with pytest.raises(ValueError, match="same length"):
        M.taxonomic_pairs(parent[:3], lemma, vocab)


def test_cohyponym_cap():
    parent = np.array([-1] + [0] * 8)
    lemma = ["root"] + [f"w{i}" for i in range(8)]
    vocab = {w: i for i, w in enumerate(lemma)}
    t = M.taxonomic_pairs(parent, lemma, vocab, cohyponym_cap=5, seed=1)
    assert len(t["cohyponym"]) == 5 and len(t["linked"]) == 8 + 28


def test_cooccurrence_pairs_keep_strong_associations():
    docs = [["coffee", "cup", "x"]] * 6 + [["tea", "pot", "y"]] * 6 + [["coffee", "pot"]]
    vocab = {w: i for i, w in enumerate(["coffee", "cup", "tea", "pot"])}
    pairs, vals = M.cooccurrence_pairs(docs, vocab, window=1, min_pair_count=3, pmi_min=0.0, top_per_word=3)
    got = {tuple(p) for p in pairs.tolist()}
    assert got == {(0, 1), (2, 3)}                      # coffee-pot co-occurs once: below min_pair_count
    assert np.all(vals > 0)
    assert len(M.cooccurrence_pairs([["a"]], {"a": 0})[0]) == 0


def test_remove_split_and_negatives():
    P = np.array([[0, 1], [2, 3], [4, 5]])
    assert M.remove_pairs(P, np.array([[3, 2]])).tolist() == [[0, 1], [4, 5]]   # unordered match
    s = M.split_pairs(np.arange(20).reshape(10, 2), (0.6, 0.2, 0.2), seed=0)
    assert [len(s[k]) for k in ("train", "dev", "test")] == [6, 2, 2]
    assert sorted(np.concatenate(list(s.values())).ravel().tolist()) == list(range(20))
    with pytest.raises(ValueError, match="fractions"):
        M.split_pairs(P, (0.5, 0.5, 0.5))
    pairs, y = M.with_random_negatives(P, 8, P, seed=0)
    assert pairs.shape == (6, 2) and y.tolist() == [1, 1, 1, 0, 0, 0]
    known = {(min(a, b), max(a, b)) for a, b in P.tolist()}
    assert all(a != b and (min(a, b), max(a, b)) not in known for a, b in pairs[3:].tolist())
    with pytest.raises(ValueError, match="two words"):
        M.with_random_negatives(P, 1, P)


def _perturbed(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    return model


@pytest.mark.parametrize("moe", [(True, True), (False, True), (True,), (False, False, True)])
def test_enforced_routing_equals_compute_all_reference(moe):
    m = _perturbed(M.RoutedEncoder(12, 20, moe, 3, seed=2), seed=5)
    x = torch.randn(17, 12)
    d = torch.tensor([0, 2, 1, 1, 0, 2, 2, 0, 1, 0, 0, 2, 1, 1, 2, 0, 1])
    out = m(x, d)
    torch.testing.assert_close(out, m.forward_reference(x, d), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(17), atol=1e-6, rtol=0)
    # routing is per example: an example's output does not depend on the others in the batch
    torch.testing.assert_close(m(x[3:4], d[3:4]), out[3:4], atol=1e-6, rtol=1e-6)
    # and a MoE block's experts really differ after perturbation (routing changes the output)
    if any(moe):
        assert (m(x, torch.zeros_like(d)) - m(x, torch.full_like(d, 2))).abs().max() > 1e-3


def test_experts_start_as_copies_and_errors():
    m = M.RoutedEncoder(8, 16, (True, True), 2, seed=0)
    x = torch.randn(5, 8)
    torch.testing.assert_close(m(x, torch.zeros(5, dtype=torch.long)), m(x, torch.ones(5, dtype=torch.long)))
    with pytest.raises(ValueError, match="domain indices"):
        m(x, torch.full((5,), 2))
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        m(x, torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="n_experts"):
        M.RoutedEncoder(8, 16, (True,), 0)


def test_mnr_loss_matches_definition_and_sentence_transformers():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(23, 9), dim=-1), F.normalize(torch.randn(23, 9), dim=-1)
    by_hand = F.cross_entropy(20.0 * a @ b.T, torch.arange(23))
    torch.testing.assert_close(M.mnr_loss(a, b), by_hand, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(M.mnr_loss(a, b, reference=True), by_hand, atol=1e-5, rtol=1e-5)
    pytest.importorskip("sentence_transformers")
    torch.testing.assert_close(M.st_mnr_loss(a, b), by_hand, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError):
        M.mnr_loss(torch.full((3, 4), float("nan")), b[:3])


def test_training_lowers_the_loss():
    rng = np.random.default_rng(0)
    X = torch.as_tensor(rng.normal(size=(60, 10)), dtype=torch.float32)
    pairs = {0: rng.integers(0, 60, size=(40, 2)), 1: rng.integers(0, 60, size=(40, 2))}
    m = M.RoutedEncoder(10, 16, (True, True), 2, seed=0)
    losses = M.train_encoder(m, X, pairs, steps_per_domain=60, batch=16, lr=1e-2, seed=0)
    assert len(losses) == 120 and np.mean(losses[-10:]) < np.mean(losses[:10]) - 0.2
    with pytest.raises(ValueError, match="batch"):
        M.train_encoder(m, X, pairs, steps_per_domain=1, batch=1, lr=1e-3)


def _f1_brute(s, y, t):
    pred = s >= t
    tp, fp, fn = (pred & (y == 1)).sum(), (pred & (y == 0)).sum(), (~pred & (y == 1)).sum()
    return 2 * tp / (2 * tp + fp + fn)


def test_pair_f1_against_brute_force_with_ties():
    rng = np.random.default_rng(3)
    s = np.round(rng.random(41), 1)                    # many ties
    y = (rng.random(41) < 0.4).astype(float)
    ts = np.round(rng.random(37), 1)
    ty = (rng.random(37) < 0.5).astype(float)
    r = M.pair_f1(s, y, ts, ty)
    best_dev = max(np.unique(s), key=lambda t: (_f1_brute(s, y, t), -t))
    assert np.isclose(_f1_brute(s, y, r["threshold"]), _f1_brute(s, y, best_dev))
    assert np.isclose(r["f1"], _f1_brute(ts, ty, r["threshold"]))
    assert np.isclose(r["max_f1"], max(_f1_brute(ts, ty, t) for t in np.unique(ts)))
    with pytest.raises(ValueError, match="NaN"):
        M.pair_f1(np.array([np.nan, 1.0]), np.array([1.0, 0.0]), ts, ty)
    with pytest.raises(ValueError, match="no positive"):
        M.pair_f1(s, np.zeros_like(s), ts, ty)
    with pytest.raises(ValueError, match="non-empty"):
        M.pair_f1(np.array([]), np.array([]), ts, ty)


def test_pca_projection_and_helpers():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 8)) @ np.diag([5, 4, 3, 2, 1, 0.5, 0.2, 0.1])
    Z = M.pca_project(X, 3)
    assert Z.shape == (50, 3) and np.allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-6)
    Zf = M.pca_project(X, 8)                               # all axes: cosine of the centred rows is preserved
    Xc = X - X.mean(0)
    Xc /= np.linalg.norm(Xc, axis=1, keepdims=True)
    assert np.allclose(Zf @ Zf.T, Xc @ Xc.T, atol=1e-5)
    with pytest.raises(ValueError, match="NaN"):
        M.pca_project(np.full((4, 3), np.nan), 2)
    with pytest.raises(ValueError, match="k"):
        M.pca_project(X, 9)
    E = np.eye(3)
    assert M.pair_scores(E, np.array([[0, 0], [0, 1]])).tolist() == [1.0, 0.0]
    assert M.recovered_fraction(0.85, 1.0, 0.0) == pytest.approx(0.85)
    assert np.isnan(M.recovered_fraction(1.0, 0.5, 0.5))
