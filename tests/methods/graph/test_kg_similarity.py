"""Tests of simrepro.methods.graph.kg_similarity against the definitions and networkx (tolerances per test)."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from simrepro.methods.graph import kg_similarity as kgs


def _graph(seed=0, n=23, a=17):
    rng = np.random.default_rng(seed)
    M = (rng.random((n, a)) < 0.2).astype(float)
    M[3] = 0  # a case without attributes
    fam = np.array(["x", "y"] * (a // 2) + ["x"] * (a % 2))
    return kgs.CaseGraph(sp.csr_matrix(M), fam, np.arange(n), np.arange(a))


def test_jaccard_and_adamic_adar_match_reference_and_networkx():
    G = _graph()
    pairs = [(i, j) for i in range(23) for j in range(i + 1, 23)]
    J, AA = kgs.jaccard(G), kgs.adamic_adar(G)
    jr, ar = kgs.jaccard_reference(G, pairs), kgs.adamic_adar_reference(G, pairs)
    jn, an = kgs.networkx_scores(G, pairs)
    got_j = np.array([J[i, j] for i, j in pairs])
    got_a = np.array([AA[i, j] for i, j in pairs])
    np.testing.assert_allclose(got_j, jr, atol=1e-12)
    np.testing.assert_allclose(got_a, ar, atol=1e-12)
    np.testing.assert_allclose(got_j, jn, atol=1e-12)
    np.testing.assert_allclose(got_a, an, atol=1e-12)
    assert np.allclose(J, J.T) and np.allclose(AA, AA.T)
    assert J[3].sum() == 0 and AA[3].sum() == 0  # empty attribute set


def test_adamic_adar_by_hand():
    # cases 0,1 share attribute 0 (degree 3) and attribute 1 (degree 2)
    M = sp.csr_matrix(np.array([[1, 1, 0], [1, 1, 1], [1, 0, 0]], dtype=float))
    G = kgs.CaseGraph(M, ["a", "a", "a"], [0, 1, 2], [0, 1, 2])
    assert kgs.adamic_adar(G)[0, 1] == pytest.approx(1 / np.log(3) + 1 / np.log(2), abs=1e-12)
    assert kgs.jaccard(G)[0, 1] == pytest.approx(2 / 3, abs=1e-12)


def test_keep_families_and_drop_unshared():
    G = _graph()
    Gx = G.keep_families(["x"])
    assert set(Gx.attr_family) == {"x"} and Gx.M.shape[0] == 23
    Gd = G.drop_unshared()
    assert (np.asarray(Gd.M.sum(axis=0)).ravel() >= 2).all()
    np.testing.assert_allclose(kgs.adamic_adar(Gd), kgs.adamic_adar(G), atol=1e-12)  # unshared adds nothing
    with pytest.raises(ValueError):
        kgs.CaseGraph(G.M, G.attr_family[:-1], G.cases, G.attrs)


def test_movielens_case_graph_directions_and_families():
    kg = pd.DataFrame({"head_id": ["f1", "g", "f2", "p", "f1", "f2"],
                       "relation_id": ["film.film.genre", "film.film_genre.films_in_this_genre",
                                       "film.film.actor", "film.producer.film", "film.film.sequel",
                                       "film.film.genre"],
                       "tail_id": ["g", "f2", "p", "f1", "f2", "g"]})
    link = pd.DataFrame({"item_id": [10, 20], "entity_id": ["f1", "f2"]})
    G = kgs.movielens_case_graph(kg, link)
    assert list(G.cases) == [10, 20]
    fam = dict(zip(G.attrs, G.attr_family))
    assert fam == {"g": "genre", "p": "actors"}  # f1–f2 sequel edge (item–item) dropped
    M = pd.DataFrame(G.M.toarray(), index=G.cases, columns=G.attrs)
    assert M.loc[10, "g"] == 1 and M.loc[20, "g"] == 1 and M.loc[10, "p"] == 1 and M.loc[20, "p"] == 1
    G2 = kgs.movielens_case_graph(kg, link, items=[20, 30])
    assert G2.M.shape[0] == 2 and G2.M[1].nnz == 0
    with pytest.raises(ValueError, match="columns"):
        kgs.movielens_case_graph(kg.drop(columns="tail_id"), link)


def test_precision_at_k_definition_ties_and_errors():
    S = np.array([[0, 3, 2, 1], [3, 0, 1, 2], [2, 1, 0, 3], [1, 2, 3, 0]], dtype=float)
    truth = [np.array([1]), np.array([0, 3]), np.array([0]), np.array([0])]
    assert kgs.precision_at_k(S, truth, [0, 1, 2, 3], 1) == pytest.approx((1 + 1 + 0 + 0) / 4)  # rows 2, 3 miss
    assert kgs.precision_at_k(S, truth, [1], 2) == pytest.approx(1.0)  # top-2 of row 1 = {0, 3}
    # all-zero similarity: random ranking, expected |truth| / (n - 1)
    n = 60
    Z = np.zeros((n, n))
    tr = [np.arange(1, 11) if i == 0 else np.array([0]) for i in range(n)]
    vals = [kgs.precision_at_k(Z, tr, [0], 5, seed=s) for s in range(300)]
    assert abs(np.mean(vals) - kgs.random_precision(10, n, 5)) < 0.02
    with pytest.raises(ValueError, match="NaN"):
        kgs.precision_at_k(np.full((3, 3), np.nan), truth, [0], 1)
    with pytest.raises(ValueError, match="square"):
        kgs.precision_at_k(np.zeros((3, 4)), truth, [0], 1)
    with pytest.raises(ValueError, match="k must"):
        kgs.precision_at_k(S, truth, [0], 4)


def test_cosine_neighbours_and_interaction_rows():
    ratings = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 3], "item_id": [10, 11, 10, 11, 12, 10, 99]})
    R = kgs.interaction_rows(ratings, [10, 11, 12])
    assert R.shape == (3, 3) and R.sum() == 6
    nb = kgs.cosine_neighbours(R, 1)
    assert nb[0][0] == 1 and nb[1][0] == 0  # 10 and 11 co-rated by users 1, 2
    R2 = kgs.interaction_rows(ratings, [10, 11, 12], users=[3])
    assert R2.sum() == 2


def test_synthetic_legal_kg_seeded_and_shapes():
    a = kgs.synthetic_legal_kg(80, 4, seed=1)
    b = kgs.synthetic_legal_kg(80, 4, seed=1)
    assert (a["graph"].M != b["graph"].M).nnz == 0 and a["text"] == b["text"]
    G = a["graph"]
    assert G.M.shape[0] == 80 and set(G.attr_family) == {"statute", "judge", "court"}
    assert (np.asarray(G.keep_families(["judge"]).M.sum(axis=1)).ravel() == 1).all()
    truth = kgs.same_label_truth(a["topic"])
    assert all(a["topic"][t].tolist() == [a["topic"][i]] * len(t) and i not in t for i, t in enumerate(truth))
    with pytest.raises(ValueError):
        kgs.synthetic_legal_kg(10, 2, text_noise=1.5)


def test_deepwalk_similarity_shape():
    G = _graph(seed=2, n=12, a=9).drop_unshared()
    S = kgs.deepwalk_similarity(G, dim=8, num_walks=2, walk_length=5, seed=0)
    assert S.shape == (12, 12) and np.allclose(np.diag(S)[np.linalg.norm(S, axis=1) > 0], 1.0, atol=1e-6)
