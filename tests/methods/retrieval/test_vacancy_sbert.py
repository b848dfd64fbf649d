"""Tests of simrepro.methods.retrieval.vacancy_sbert (tolerances: recall hits are exact 0/1; embeddings 1e-6)."""

import numpy as np
import pytest

from simrepro.methods.retrieval import vacancy_sbert as vs


def _toy_wordnet():
    # 0 entity; 1 worker (root); 2 professional (root); 3..6 occupations; 7 a proper-name child; 8 duplicate lemma
    lemma = ["entity", "worker", "professional", "baker", "dentist", "nurse", "tiny", "Smith", "baker"]
    gloss = ["that which exists", vs.WORKER_GLOSS + '; "he is a worker"', vs.PROFESSIONAL_GLOSS,
             "someone who bakes bread and cakes commercially", "a specialist in the care of teeth",
             "one skilled in caring for sick patients", "x", "a blacksmith family", "a person who bakes"]
    parent = np.array([-1, 0, 0, 1, 2, 2, 1, 1, 0])
    return parent, lemma, gloss


def test_content_words_drops_stopwords_short_and_excluded():
    assert vs.content_words("A specialist in the care of the teeth; care", {"teeth"}) == ["specialist", "care"]
    assert vs.content_words("") == []


def test_occupations_filters_and_builds_skills():
    parent, lemma, gloss = _toy_wordnet()
    occ = vs.occupations(parent, lemma, gloss)
    # 'baker' occurs twice among first lemmas, 'Smith' is a proper name, 'tiny' has < 3 skill words
    assert occ["title"] == ["dentist", "nurse"]
    assert occ["skills"][0][:3] == ["specialist", "care", "teeth"]
    assert occ["n_own"][0] == 3
    # family words come from the parent's definition and exclude the own words
    assert "learned" in occ["skills"][0][3:] and "professions" in occ["skills"][0][3:]
    assert list(occ["family"]) == [2, 2]


def test_occupations_errors():
    parent, lemma, gloss = _toy_wordnet()
    with pytest.raises(ValueError, match="one entry per synset"):
        vs.occupations(parent[:-1], lemma, gloss)
    gloss2 = list(gloss)
    gloss2[2] = "something else"
    with pytest.raises(ValueError, match="two WordNet roots"):
        vs.occupations(parent, lemma, gloss2)


def test_noisy_title_deterministic_and_identity_without_noise():
    rng = np.random.default_rng(0)
    assert vs.noisy_title("dental hygienist", rng, p_seniority=0, p_abbrev=0, p_suffix=0, p_typo=0,
                          p_reorder=0) == "dental hygienist"
    a = [vs.noisy_title("senior engineer manager", np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1]
    t = vs.noisy_title("engineer", np.random.default_rng(1), p_seniority=0, p_abbrev=1, p_suffix=0, p_typo=0)
    assert t == "eng"
    typo = vs.noisy_title("carpenter", np.random.default_rng(2), p_seniority=0, p_abbrev=0, p_suffix=0, p_typo=1)
    assert typo != "carpenter" and sorted(typo) == sorted("carpenter")


def test_make_vacancies_and_split():
    parent, lemma, gloss = _toy_wordnet()
    occ = vs.occupations(parent, lemma, gloss)
    ads = vs.make_vacancies(occ, 3, seed=0)
    assert len(ads["title"]) == 6 and list(ads["occ"]) == [0, 0, 0, 1, 1, 1]
    assert all(s.startswith("skills: ") for s in ads["skills"])
    again = vs.make_vacancies(occ, 3, seed=0)
    assert ads["title"] == again["title"] and ads["skills"] == again["skills"]
    with pytest.raises(ValueError):
        vs.make_vacancies(occ, 0)
    occ_of_ad = np.repeat(np.arange(10), 3)
    sp = vs.split_ads(occ_of_ad, 10, unseen_frac=0.2, seed=3)
    allidx = np.concatenate([sp["train"], sp["test_seen"], sp["test_unseen"]])
    assert sorted(allidx.tolist()) == list(range(30))
    assert len(sp["test_unseen"]) == 6 and len(sp["test_seen"]) == 8 and len(sp["train"]) == 16
    unseen_occ = set(occ_of_ad[sp["test_unseen"]].tolist())
    assert not unseen_occ & set(occ_of_ad[sp["train"]].tolist())
    with pytest.raises(ValueError):
        vs.split_ads(occ_of_ad, 10, unseen_frac=1.0, seed=0)


def test_recall_matches_reference_on_irregular_shapes():
    rng = np.random.default_rng(1)
    Q, C = vs.unit_rows(rng.normal(size=(37, 7))), vs.unit_rows(rng.normal(size=(13, 7)))
    rel = rng.integers(0, 13, 37)
    fast, ref = vs.recall_at_k(Q, C, rel, (1, 3, 13)), vs.recall_at_k_reference(Q, C, rel, (1, 3, 13))
    for k in (1, 3, 13):
        np.testing.assert_array_equal(fast[k], ref[k])
    assert fast[13].all()          # k = catalogue size: every query hits


def test_recall_ties_count_against_and_exact_hit():
    C = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    Q = np.array([[1.0, 0.0]])
    assert vs.recall_at_k(Q, C, [1], (1, 2))[1][0] == 0.0      # tied with item 0: not a hit at 1
    assert vs.recall_at_k(Q, C, [1], (1, 2))[2][0] == 1.0
    assert vs.recall_at_k(Q, C, [2], (1, 2))[2][0] == 0.0
    assert vs.recall_at_k_reference(Q, C, [1], (1,))[1][0] == 0.0
    assert vs.recall_at_k(np.zeros((0, 2)), C, np.zeros(0, int))[1].size == 0


def test_recall_errors():
    C = np.eye(3)
    with pytest.raises(ValueError, match="NaN"):
        vs.recall_at_k(np.array([[np.nan, 0, 0]]), C, [0])
    with pytest.raises(ValueError, match="dim"):
        vs.recall_at_k(np.ones((1, 2)), C, [0])
    with pytest.raises(ValueError, match="relevant"):
        vs.recall_at_k(np.ones((1, 3)), C, [3])
    with pytest.raises(ValueError, match="k must"):
        vs.recall_at_k(np.ones((1, 3)), C, [0], (0,))


def test_unit_rows_and_combine_zero_rows():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(vs.unit_rows(x), [[0.6, 0.8], [0, 0]], atol=1e-6)
    c = vs.combine(np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]]))
    np.testing.assert_allclose(c, [[2 ** -0.5, 2 ** -0.5]], atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        vs.combine(np.ones((2, 2)), np.ones((1, 2)))


def test_adapter_starts_at_identity_and_learns_pairs():
    rng = np.random.default_rng(0)
    d, n = 8, 64
    T = vs.unit_rows(rng.normal(size=(n, d)))
    R = np.linalg.qr(rng.normal(size=(d, d)))[0]
    S = vs.unit_rows(T @ R.T + 0.05 * rng.normal(size=(n, d)))   # skills = a rotation of the title
    ad = vs.SiameseAdapter(d, seed=0)
    np.testing.assert_allclose(ad.transform(T), T, atol=1e-6)
    before = vs.recall_at_k(T, S, np.arange(n), (1,))[1].mean()
    ad.fit(T, S, epochs=60, batch_size=32, lr=1e-2, temperature=0.1)
    after = vs.recall_at_k(ad.transform(T), ad.transform(S), np.arange(n), (1,))[1].mean()
    assert np.mean(ad.losses[-2:]) < np.mean(ad.losses[:2])
    assert after > before
    with pytest.raises(ValueError):
        ad.fit(T[:1], S[:1])
    with pytest.raises(ValueError):
        ad.transform(np.ones((2, d + 1)))


def test_evaluate_settings_and_pytrec_parity():
    rng = np.random.default_rng(4)
    C = vs.unit_rows(rng.normal(size=(20, 6)))
    rel = rng.integers(0, 20, 50)
    T = vs.unit_rows(C[rel] + 0.6 * rng.normal(size=(50, 6)))
    S = vs.unit_rows(C[rel] + 0.6 * rng.normal(size=(50, 6)))
    r = vs.evaluate_settings(T, S, C, rel)
    assert set(r) == {f"{s}_{m}" for s in ("title", "skills") for m in ("r1", "r5", "r10", "mr")}
    assert r["title_r1"] <= r["title_r5"] <= r["title_r10"]
    assert r["skills_r1"] > r["title_r1"]    # two independent noisy views beat one
    pytest.importorskip("pytrec_eval")
    assert abs(vs.pytrec_recall(T, C, rel, 5) - r["title_r5"]) < 1e-12
