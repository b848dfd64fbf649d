import numpy as np
import pytest
import scipy.sparse as sp

from simrepro.methods.graph import path_hypergraph as ph


@pytest.fixture(scope="module")
def kg():
    return ph.synthetic_drug_kg(n_drugs=60, module_size=12, n_background_modules=3, n_prescribed=5, seed=7)


def tiny_kg():
    # drugs 0, 1; genes 2, 3, 4; disease 5. edges: 0-2, 2-3, 3-5, 2-5, 1-4, 4-3
    kind = np.array([0, 0, 1, 1, 1, 2])
    edges = np.array([[0, 2], [2, 3], [3, 5], [2, 5], [1, 4], [3, 4]])
    return ph.DrugKG(kind=kind, edges=edges, names=["a", "b", "g2", "g3", "g4", "D"], prescribed={5: np.array([0])})


def test_tiny_paths_by_hand():
    k = tiny_kg()
    assert ph.drug_disease_paths(k, 5, max_len=4) == sorted([(0, 2, 5), (0, 2, 3, 5), (1, 4, 3, 5),
                                                              (1, 4, 3, 2, 5)])
    assert ph.drug_disease_paths(k, 5, max_len=2) == [(0, 2, 5)]
    assert ph.drug_disease_paths(k, 5, max_len=1) == []          # a path needs ≥ 1 gene inside
    with pytest.raises(ValueError, match="not a disease"):
        ph.drug_disease_paths(k, 3)
    with pytest.raises(ValueError, match="max_len"):
        ph.drug_disease_paths(k, 5, max_len=0)


@pytest.mark.parametrize("max_len", [2, 3, 4])
def test_paths_equal_networkx(kg, max_len):
    ad = kg.truth["disease"]["AD"]
    ours = ph.drug_disease_paths(kg, ad, max_len=max_len)
    peer = ph.drug_disease_paths_networkx(kg, ad, max_len=max_len)
    print(len(ours), len(peer))
    assert len(ours) > 0
    assert ours == peer
    gene = ph.NODE_KINDS.index("gene")
    for p in ours:
        assert len(set(p)) == len(p) and len(p) - 1 <= max_len
        assert all(kg.kind[v] == gene for v in p[1:-1]) and p[-1] == ad


def test_generator_deterministic_and_classes(kg):
    again = ph.synthetic_drug_kg(n_drugs=60, module_size=12, n_background_modules=3, n_prescribed=5, seed=7)
    np.testing.assert_array_equal(kg.edges, again.edges)
    cls = kg.truth["drug_class"]
    assert (cls == "AD").sum() == 5 and (cls == "X_T2D").sum() == 1
    assert set(kg.prescribed[kg.truth["disease"]["AD"]]) == set(np.flatnonzero(cls == "AD"))
    gm = kg.truth["gene_module"]
    g0 = kg.nodes("gene")[0]
    x = kg.truth["X_T2D"]
    targets = [b for a, b in kg.edges if a == x]
    assert all(kg.truth["module_names"][gm[t - g0]] == "M_AD_T2D" for t in targets)
    with pytest.raises(ValueError, match="random drugs"):
        ph.synthetic_drug_kg(n_drugs=20)


def test_incidence_matrix():
    H = ph.incidence_matrix([(0, 2), (1, 2, 3)], 5)
    np.testing.assert_array_equal(H.toarray(), [[1, 0], [0, 1], [1, 1], [0, 1], [0, 0]])
    assert ph.incidence_matrix([], 4).shape == (4, 0)


def _theta_dense(H):
    H = np.asarray(H, float)
    dv, de = H.sum(1), H.sum(0)
    a = np.where(dv > 0, dv, 1.0) ** -0.5 * (dv > 0)
    return (a[:, None] * H) @ np.diag(1 / de) @ (H.T * a[None, :])


def test_spectral_embedding_is_eigenbasis(kg):
    paths = ph.drug_disease_paths(kg, kg.truth["disease"]["AD"], max_len=3)
    H = ph.incidence_matrix(paths, kg.n)
    T = _theta_dense(H.toarray())
    dv = np.asarray(H.sum(1)).ravel()
    X = ph.hypergraph_spectral_embedding(H, dim=7, diffusion_time=0.0)
    assert X.shape == (kg.n, 7)
    assert np.all(X[dv == 0] == 0)
    lam = np.linalg.norm(T @ X, axis=0)                       # unit eigenvectors: ‖Θu‖ = λ
    resid = np.abs(T @ X - X * lam).max()
    print("eigen residual", resid)
    assert resid < 1e-10
    np.testing.assert_allclose(X.T @ X, np.eye(7), atol=1e-10)
    assert np.abs(X.T @ np.sqrt(dv)).max() < 1e-8            # the trivial eigenvector √dv is dropped
    w = np.sort(np.linalg.eigvalsh(T))[::-1]
    np.testing.assert_allclose(np.sort(lam)[::-1], w[1:8], atol=1e-10)
    Xt = ph.hypergraph_spectral_embedding(H, dim=7, diffusion_time=2.0)
    np.testing.assert_allclose(np.abs(Xt), np.abs(X) * lam ** 2, atol=1e-10)


def test_spectral_two_groups():
    # two dense hyperedge groups joined by one bridge: the first non-trivial (Fiedler) vector separates them
    paths = [(0, 1, 2), (1, 2, 3), (0, 3), (0, 2), (4, 5, 6), (5, 6, 7), (4, 7), (4, 6), (3, 4)]
    X = ph.hypergraph_spectral_embedding(ph.incidence_matrix(paths, 9), dim=2)
    assert np.all(X[8] == 0)
    a, b = X[:4, 0], X[4:8, 0]
    assert (np.all(a > 0) and np.all(b < 0)) or (np.all(a < 0) and np.all(b > 0))


def test_spectral_errors():
    H = ph.incidence_matrix([(0, 1), (1, 2)], 3)
    with pytest.raises(ValueError, match="dim"):
        ph.hypergraph_spectral_embedding(H, dim=3)
    with pytest.raises(ValueError, match="no hyperedges"):
        ph.hypergraph_spectral_embedding(sp.csr_matrix((3, 0)), dim=1)
    bad = H.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ph.hypergraph_spectral_embedding(bad, dim=1)


def test_path_embedding_is_node_mean():
    X = np.arange(12, dtype=float).reshape(4, 3)
    E = ph.path_embeddings([(0, 2), (1, 2, 3)], X)
    np.testing.assert_allclose(E, [X[[0, 2]].mean(0), X[[1, 2, 3]].mean(0)])


@pytest.mark.parametrize("exclude_self", [False, True])
def test_median_scores_equal_reference(exclude_self):
    rng = np.random.default_rng(3)
    paths = [(int(r), 9) for r in rng.integers(0, 7, size=41)]   # 41 paths (odd) over 7 drugs
    E = rng.standard_normal((41, 5))
    ref = np.flatnonzero(np.isin([p[0] for p in paths], [0, 1]))
    cand = np.arange(9)                                       # drugs 7, 8 have no path -> NaN
    fast = ph.median_cosine_scores(paths, E, ref, cand, exclude_self=exclude_self)
    slow = ph.median_cosine_scores_reference(paths, E, ref, cand, exclude_self=exclude_self)
    print(np.nanmax(np.abs(fast - slow)))
    np.testing.assert_allclose(fast, slow, atol=1e-12, equal_nan=True)
    assert np.isnan(fast[7]) and np.isnan(fast[8])


def test_median_scores_errors():
    paths = [(0, 9), (1, 9)]
    with pytest.raises(ValueError, match="zero vector"):
        ph.median_cosine_scores(paths, np.array([[1.0, 0.0], [0.0, 0.0]]), [1], [0])
    with pytest.raises(ValueError, match="NaN"):
        ph.median_cosine_scores(paths, np.array([[1.0, np.nan], [0.0, 1.0]]), [1], [0])
    with pytest.raises(ValueError, match="no reference"):
        ph.median_cosine_scores(paths, np.eye(2), [], [0])


def test_top_percentile_ties_and_nan():
    p = ph.top_percentile(np.array([0.9, 0.1, 0.5, 0.5, np.nan]))
    np.testing.assert_allclose(p[:4], [12.5, 87.5, 50.0, 50.0])
    assert np.isnan(p[4])


def test_shift_p_value():
    assert ph.shift_p_value(10.0, np.array([1.0, 2.0, 3.0])) == pytest.approx(1 / 4)
    assert ph.shift_p_value(2.0, np.array([1.0, 2.0, 3.0, np.nan])) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="no score"):
        ph.shift_p_value(np.nan, np.array([1.0]))


def test_rank_drugs_settings(kg):
    cache = {}
    a = ph.rank_drugs(kg, "AD", (), dim=8, paths_cache=cache)
    b = ph.rank_drugs(kg, "AD", ("T2D",), dim=8, paths_cache=cache)
    c = ph.rank_drugs(kg, "AD", ("T2D",), reference="union", dim=8, paths_cache=cache, X=b.X)
    np.testing.assert_array_equal(a.candidates, b.candidates)
    np.testing.assert_array_equal(a.candidates, c.candidates)
    assert not set(a.candidates) & set(kg.prescribed[kg.truth["disease"]["AD"]].tolist())
    assert b.n_hyperedges > a.n_hyperedges
    assert np.all(np.isfinite(a.scores)) and np.nanmin(a.percentile) > 0 and np.nanmax(a.percentile) < 100
    # the AD-only 'union' reading is the 'disease' reading
    u = ph.rank_drugs(kg, "AD", (), reference="union", dim=8, paths_cache=cache, X=a.X)
    np.testing.assert_allclose(u.scores, a.scores, atol=1e-12)
    with pytest.raises(ValueError, match="unknown disease"):
        ph.rank_drugs(kg, "PD", (), paths_cache=cache)
    with pytest.raises(ValueError, match="reference"):
        ph.rank_drugs(kg, "AD", (), reference="both", paths_cache=cache)


def test_eigenpairs_with_multiple_eigenvalues_at_the_cut():
    # Θ of this hypergraph has λ = 0.4 with multiplicity ≥ 4 around the 65th eigenvalue (where ARPACK failed)
    kg = ph.synthetic_drug_kg(seed=0)
    paths = [p for d in ("AD", "T2D") for p in ph.drug_disease_paths(kg, kg.truth["disease"][d])]
    H = ph.incidence_matrix(paths, kg.n)
    w, U, act = ph.theta_eigenpairs(H, 65)
    T = ph._theta(H)[0][act][:, act].toarray()
    full = np.sort(np.linalg.eigvalsh(T))[::-1][:65]
    print("max |Δλ|", np.abs(w - full).max(), "residual", np.abs(T @ U - U * w).max())
    np.testing.assert_allclose(w, full, atol=1e-10)
    assert np.abs(T @ U - U * w).max() < 1e-10
    np.testing.assert_allclose(U.T @ U, np.eye(65), atol=1e-10)
    with pytest.raises(ValueError, match="k=0"):
        ph.theta_eigenpairs(H, 0)
