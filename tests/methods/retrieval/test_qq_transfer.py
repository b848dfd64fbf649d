"""Tests of simrepro.methods.retrieval.qq_transfer (tolerances: cosines 1e-5 in float32; accuracies exact)."""

import numpy as np
import pytest

from simrepro.methods.retrieval import qq_transfer as qt


def _toy_wordnet():
    # 0 entity; roots 1-4; terms below them; 9 plant disease (excluded subtree) with child 10; 11 a shared term
    lemma = ["entity", "disease", "symptom", "body part", "medicine", "flu", "measles", "fever", "rash",
             "plant disease", "blight", "cough", "arm", "leg", "Aspirin", "aspirin", "ibuprofen", "cough",
             "ache", "hand"]
    gloss = ["that which exists", "an impairment of health or a condition", "(medicine) any sensation or change",
             "any part of an organism such as an organ", "(medicine) something that treats or prevents",
             "an acute febrile highly contagious viral disease", "an acute and highly contagious viral disease",
             "a rise in the temperature of the body; frequently a symptom of infection", "a red eruption of the skin",
             "a disease of plants", "any plant disease resulting in withering", "a sudden noisy expulsion of air",
             "a human limb", "a human limb; commonly used to refer to a whole limb", "a proper name",
             "the acetylated derivative of salicylic acid (trade name Bayer)", "a nonsteroidal anti-inflammatory",
             "a symptom duplicated as a drug", "a dull persistent pain", "the (prehensile) extremity"]
    parent = np.array([-1, 0, 0, 0, 0, 1, 1, 2, 2, 1, 9, 2, 3, 3, 4, 4, 4, 4, 2, 3])
    return parent, lemma, gloss


def _vocab():
    return qt.medical_vocabulary(*_toy_wordnet())


def test_vocabulary_roots_exclusions_and_shared_terms():
    v = _vocab()
    assert [t for t, _ in v["disease"]] == ["flu", "measles"]           # 'blight' under 'plant disease' dropped
    assert "cough" not in [t for t, _ in v["symptom"]]                  # in two kinds -> dropped from both
    assert "cough" not in [t for t, _ in v["drug"]]
    assert [t for t, _ in v["drug"]] == ["aspirin", "ibuprofen"]        # capitalised 'Aspirin' dropped
    assert dict(v["drug"])["aspirin"] == "the acetylated derivative of salicylic acid (trade name Bayer)"
    assert dict(v["symptom"])["fever"].startswith("a rise in")


def test_vocabulary_errors():
    parent, lemma, gloss = _toy_wordnet()
    with pytest.raises(ValueError, match="one entry per synset"):
        qt.medical_vocabulary(parent[:-1], lemma, gloss)
    lemma2 = list(lemma)
    lemma2[4] = "remedy"
    with pytest.raises(ValueError, match="root 'medicine'"):
        qt.medical_vocabulary(parent, lemma2, gloss)


def test_describe_and_definition():
    assert qt.definition('(medicine) any sensation; "a quote"') == "any sensation"
    assert qt.describe("a rise in the temperature of the body; frequently a symptom") == "a rise in the temperature of the body"
    assert qt.describe("the acetylated derivative of salicylic acid (trade name Bayer)") == \
        "the acetylated derivative of salicylic acid"
    assert len(qt.describe("one two three four five six seven eight nine ten").split()) == 8


def test_render_question_and_answer():
    v = _vocab()
    q = qt.render_question("treat", (0, 1), 0, "I'm 30.", v)
    assert q == "I'm 30. Can I take aspirin for measles?"
    qd = qt.render_question("treat", (0, 1), 0, "", v, described=0)
    assert qd == "Can I take the acetylated derivative of salicylic acid for measles?"
    a = qt.render_answer("treat", (1, 0), v, (False, True))
    assert a.startswith("Ibuprofen may be an option for an acute febrile highly contagious viral disease")


def test_qq_pairs_structure():
    v = _vocab()
    concepts = qt.draw_concepts(10, v, np.random.default_rng(0))
    assert len(set(concepts)) == 10
    qq = qt.make_qq_pairs(concepts, v, p_describe=0.5, seed=1)
    assert len(qq["q1"]) == 20 and qq["label"].tolist() == [1, 0] * 10
    assert (qq["n_diff_slots"][qq["label"] == 1] == 0).all() and (qq["n_diff_slots"][qq["label"] == 0] == 1).all()
    assert qq["q1"][0::2] == qq["q1"][1::2]                          # both pairs share the original
    # the positive and the negative of one original describe the same slot (or none)
    assert (qq["described"][0::2] == qq["described"][1::2]).all()
    # with a described slot, the negative swaps exactly that slot
    for k in range(0, 20, 2):
        d = int(qq["described"][k])
        if d >= 0:
            c, neg = concepts[qq["orig"][k]], qq["concept2"][k + 1]
            assert c[1][d] != neg[1][d] and c[1][1 - d] == neg[1][1 - d]
    # second questions never repeat the original's text
    assert all(a != b for a, b in zip(qq["q1"], qq["q2"]))
    # p_describe = 0: no slot described
    assert (qt.make_qq_pairs(concepts, v, p_describe=0.0)["described"] == -1).all()


def test_qq_pairs_deterministic_and_errors():
    v = _vocab()
    c = qt.draw_concepts(5, v, np.random.default_rng(3))
    assert qt.make_qq_pairs(c, v, seed=4)["q2"] == qt.make_qq_pairs(c, v, seed=4)["q2"]
    with pytest.raises(ValueError, match="p_describe"):
        qt.make_qq_pairs(c, v, p_describe=1.5)
    small = {k: v[k][:1] for k in v}
    with pytest.raises(ValueError, match="at least 2 terms"):
        qt.make_qq_pairs(c, small)


def test_draw_concepts_excludes_and_fails_clearly():
    v = _vocab()
    first = qt.draw_concepts(4, v, np.random.default_rng(0))
    other = qt.draw_concepts(6, v, np.random.default_rng(1), exclude=set(first))
    assert not set(first) & set(other)
    total = sum(len(v[a]) * len(v[b]) for (a, b), _ in qt.INTENTS.values())
    with pytest.raises(ValueError, match="distinct concepts"):
        qt.draw_concepts(total + 1, v, np.random.default_rng(0))


def test_qa_pairs():
    v = _vocab()
    c = qt.draw_concepts(8, v, np.random.default_rng(0))
    qa = qt.make_qa_pairs(c, v, p_hard=1.0, seed=0)
    assert qa["label"].tolist() == [1, 0] * 8
    assert all(qa["q2"][k] != qa["q2"][k + 1] for k in range(0, 16, 2))
    with pytest.raises(ValueError, match="p_hard"):
        qt.make_qa_pairs(c, v, p_hard=-0.1)
    with pytest.raises(ValueError, match="at least 2 concepts"):
        qt.make_qa_pairs(c[:1], v)


def test_generic_pairs():
    qs = ["What is the capital of A?", "Name the capital of A.", "What is the capital of B?",
          "Name the capital of B.", "How big is A?", "What is the area of A?"]
    unit = np.array([0, 0, 1, 1, 2, 2])
    cp = qt.country_paraphrase_pairs(qs, unit, ["A", "B", "A"], ["capital", "capital", "area"], 40, seed=0)
    assert cp["label"].tolist() == [1, 0] * 20
    for a, b, y in zip(cp["q1"], cp["q2"], cp["label"]):
        same_unit = unit[qs.index(a)] == unit[qs.index(b)]
        assert same_unit == bool(y)
        assert a != b
    parent, lemma, gloss = _toy_wordnet()
    gp = qt.gloss_pairs(parent, lemma, gloss, 10, exclude={"flu", "measles"}, seed=0)
    assert gp["label"].tolist() == [1, 0] * 5 and all(q.startswith("What does ") for q in gp["q1"])
    with pytest.raises(ValueError, match="no synset family"):
        qt.gloss_pairs(parent, lemma, gloss, 4, exclude=set(lemma))


def test_head_starts_at_frozen_cosine_and_is_symmetric():
    rng = np.random.default_rng(0)
    U, V = rng.standard_normal((7, 5)).astype(np.float32), rng.standard_normal((7, 5)).astype(np.float32)
    h = qt.PairHead(5, seed=0)
    ref = np.sum(U * V, 1) / np.linalg.norm(U, axis=1) / np.linalg.norm(V, axis=1)
    np.testing.assert_allclose(h.cosine(U, V), ref, atol=1e-5)
    y = (ref > 0).astype(int)
    if len(set(y)) < 2:
        y[0] = 1 - y[0]
    qt.train_head(h, U, V, y, steps=20, seed=0)
    np.testing.assert_allclose(h.predict_proba(U, V), h.predict_proba(V, U), atol=1e-6)
    assert qt.pair_features(U, V).shape == (7, 10)
    np.testing.assert_array_equal(qt.pair_features(U, V), qt.pair_features(V, U))


def test_training_learns_a_separable_task_and_double_stage_keeps_parameters():
    rng = np.random.default_rng(1)
    d, n = 16, 200
    U = rng.standard_normal((n, d)).astype(np.float32)
    noise = rng.standard_normal((n, d)).astype(np.float32)
    y = np.arange(n) % 2
    V = np.where(y[:, None] == 1, U + 0.3 * noise, noise).astype(np.float32)
    h = qt.train_head(qt.PairHead(d, seed=0), U, V, y, steps=100, lr=1e-2)
    assert qt.accuracy(h.predict_proba(U, V), y) > 0.95
    before = h.dW.detach().clone()
    qt.train_head(h, U[:20], V[:20], y[:20], steps=5)
    assert len(h.losses) == 2 and len(h.losses[1]) == 5
    assert not np.allclose(before.numpy(), 0.0)            # the first stage moved ΔW; the second starts from it


def test_train_head_errors():
    h = qt.PairHead(4)
    U = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="0/1 labels"):
        qt.train_head(h, U, U, [0, 1, 2])
    with pytest.raises(ValueError, match="same shape"):
        qt.train_head(h, U, U[:2], [0, 1, 0])
    with pytest.raises(ValueError, match="dim 3"):
        qt.train_head(h, U[:, :3], U[:, :3], [0, 1, 0])
    with pytest.raises(ValueError, match="no training pairs"):
        qt.train_head(h, U[:0], U[:0], np.zeros(0, int))
    bad = U.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        h.predict_proba(bad, U)
    with pytest.raises(ValueError, match="≥ 1"):
        qt.PairHead(0)


def test_accuracy_matches_reference_including_ties_and_errors():
    p = np.array([0.5, 0.51, 0.49, 0.9, 0.1])
    y = np.array([0, 1, 0, 0, 1])
    assert qt.accuracy(p, y) == qt.accuracy_reference(p, y) == pytest.approx(3 / 5)   # p = 0.5 counts as 0
    rng = np.random.default_rng(2)
    p2, y2 = rng.random(101), rng.integers(0, 2, 101)
    assert qt.accuracy(p2, y2) == qt.accuracy_reference(p2, y2)
    with pytest.raises(ValueError, match="empty"):
        qt.accuracy(np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="NaN"):
        qt.accuracy(np.array([np.nan]), np.array([1]))
    with pytest.raises(ValueError, match="same length"):
        qt.accuracy(np.zeros(2), np.zeros(3))


def test_baselines():
    rng = np.random.default_rng(3)
    d, n = 8, 120
    U = rng.standard_normal((n, d)).astype(np.float32)
    y = np.arange(n) % 2
    V = np.where(y[:, None] == 1, U + 0.2 * rng.standard_normal((n, d)), rng.standard_normal((n, d))).astype(np.float32)
    assert qt.cosine_threshold_accuracy(U[:60], V[:60], y[:60], U[60:], V[60:], y[60:]) > 0.9
    assert qt.logreg_accuracy(U[:60], V[:60], y[:60], U[60:], V[60:], y[60:]) > 0.6
    with pytest.raises(ValueError, match="both labels"):
        qt.logreg_accuracy(U[:4], V[:4], np.ones(4, int), U, V, y)
