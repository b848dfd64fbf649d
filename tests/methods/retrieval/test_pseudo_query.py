"""Pseudo-query embeddings: per-document k-means against a float64 Lloyd reference, attention scores against
plain loops, the two-step search against exact scoring, and clear errors for bad input."""

import numpy as np
import pytest

from simrepro.methods.retrieval import pseudo_query as pq

SIZES = [1, 2, 3, 17, 40, 5, 23]          # irregular, including documents shorter than k


def _docs(sizes, d=7, seed=0, centres=4):
    """Token clouds drawn around a few well-separated centres (no near-ties in the assignments)."""
    rng = np.random.default_rng(seed)
    C = 6 * rng.standard_normal((centres, d))
    return [(C[rng.integers(0, centres, m)] + 0.3 * rng.standard_normal((m, d))).astype(np.float32) for m in sizes]


def test_forgy_init_is_distinct_in_range_and_seeded():
    init = pq.forgy_init(SIZES, 4, seed=3)
    assert init.shape == (len(SIZES), 4)
    for m, row in zip(SIZES, init):
        used = row[row >= 0]
        assert used.size == min(m, 4) and len(set(used.tolist())) == used.size and used.max() < m
        assert np.all(row[min(m, 4):] == -1)
    assert np.array_equal(init, pq.forgy_init(SIZES, 4, seed=3))
    assert not np.array_equal(init, pq.forgy_init(SIZES, 4, seed=4))


@pytest.mark.parametrize("k", [1, 3, 4])
@pytest.mark.parametrize("n_iter", [0, 1, 20])
def test_centroids_match_reference(k, n_iter):
    docs = _docs(SIZES)
    init = pq.forgy_init(SIZES, k, seed=1)
    C, M = pq.pseudo_query_centroids(docs, k, n_iter=n_iter, init=init)
    assert C.shape == (len(docs), k, 7) and C.dtype == np.float32 and M.shape == (len(docs), k)
    for i, x in enumerate(docs):
        ref = pq.pseudo_query_centroids_reference(x, init[i], n_iter)
        err = np.abs(C[i] - ref).max() / max(1.0, np.abs(ref).max())
        assert err < 1e-5, (i, err)                                     # float32 vs float64, O(1) values
        assert np.array_equal(M[i], init[i] >= 0)


def test_centroids_at_convergence_are_the_means_of_their_nearest_tokens():
    docs = _docs([60, 45], seed=2)
    C, M = pq.pseudo_query_centroids(docs, 4, n_iter=100, seed=0)
    for x, c in zip(docs, C):
        assign = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(1)
        for j in np.unique(assign):
            assert np.allclose(c[j], x[assign == j].mean(0), atol=1e-4)


def test_centroids_do_not_depend_on_batching():
    docs = _docs(SIZES * 3, seed=5)
    a, _ = pq.pseudo_query_centroids(docs, 4, seed=2, batch_docs=1)
    b, _ = pq.pseudo_query_centroids(docs, 4, seed=2, batch_docs=512)
    assert np.abs(a - b).max() < 1e-5


def test_empty_cluster_keeps_its_centroid():
    x = np.array([[1.0, 1.0], [1.0, 1.0], [5.0, 0.0]], np.float32)
    init = np.array([[0, 1, 2]])                       # centroids 0 and 1 coincide: ties go to 0, 1 is empty
    C, _ = pq.pseudo_query_centroids([x], 3, n_iter=5, init=init)
    ref = pq.pseudo_query_centroids_reference(x, init[0], 5)
    assert np.allclose(C[0], ref, atol=1e-6)
    assert np.allclose(C[0, 1], [1.0, 1.0])            # kept (the official code would zero it)


def test_centroid_errors():
    with pytest.raises(ValueError, match="no vectors"):
        pq.pseudo_query_centroids([np.ones((3, 2)), np.zeros((0, 2))], 2)
    with pytest.raises(ValueError, match="NaN"):
        pq.pseudo_query_centroids([np.array([[np.nan, 1.0]])], 1)
    with pytest.raises(ValueError, match="n_clusters"):
        pq.pseudo_query_centroids([np.ones((3, 2))], 0)
    with pytest.raises(ValueError, match="init"):
        pq.pseudo_query_centroids([np.ones((3, 2))], 2, init=np.array([[0, 5]]))


def _centroids(n=9, k=4, d=6, seed=0):
    rng = np.random.default_rng(seed)
    C = rng.standard_normal((n, k, d)).astype(np.float32)
    M = rng.random((n, k)) < 0.7
    M[np.arange(n), rng.integers(0, k, n)] = True                      # every document keeps one centroid
    return C, M


@pytest.mark.parametrize("tau", [1.0, 0.1, 5.0])
def test_attention_scores_match_reference(tau):
    C, M = _centroids()
    q = np.random.default_rng(1).standard_normal((13, 6)).astype(np.float32)
    fast = pq.attention_scores(q, C, M, temperature=tau, query_block=4)
    ref = pq.attention_scores_reference(q, C, M, temperature=tau)
    assert fast.shape == (13, 9)
    assert np.abs(fast - ref).max() / np.abs(ref).max() < 1e-5


def test_attention_limits_and_identities():
    C, M = _centroids()
    q = np.random.default_rng(2).standard_normal((5, 6)).astype(np.float32)
    logits = np.einsum("qd,nkd->qnk", q.astype(np.float64), C.astype(np.float64))
    sharp = pq.attention_scores(q, C, M, temperature=1e-4)
    assert np.allclose(sharp, np.where(M, logits, -np.inf).max(-1), atol=1e-4)          # τ → 0: max
    flat = pq.attention_scores(q, C, M, temperature=1e6)
    assert np.allclose(flat, (logits * M).sum(-1) / M.sum(-1), atol=1e-4)               # τ → ∞: mean
    docs = _docs([5, 9, 2], d=6)
    C1, M1 = pq.pseudo_query_centroids(docs, 1)
    one = pq.attention_scores(q, C1, M1)
    assert np.allclose(one, q @ pq.mean_pool(docs).T, rtol=1e-4, atol=1e-4)              # k = 1: ⟨q, mean⟩


def test_zero_query_scores_zero_and_empty_queries():
    C, M = _centroids()
    assert np.all(pq.attention_scores(np.zeros((2, 6)), C, M) == 0)
    assert pq.attention_scores(np.zeros((0, 6)), C, M).shape == (0, 9)


def test_scoring_errors():
    C, M = _centroids()
    q = np.ones((2, 6))
    with pytest.raises(ValueError, match="NaN"):
        pq.attention_scores(np.array([[np.nan] * 6]), C, M)
    bad = C.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pq.attention_scores(q, bad, M)
    M0 = M.copy()
    M0[3] = False
    with pytest.raises(ValueError, match="document 3 has no valid centroid"):
        pq.attention_scores(q, C, M0)
    with pytest.raises(ValueError, match="dimension"):
        pq.attention_scores(np.ones((2, 5)), C, M)
    with pytest.raises(ValueError, match="mask"):
        pq.attention_scores(q, C, M[:, :2])
    with pytest.raises(ValueError, match="temperature"):
        pq.attention_scores(q, C, M, temperature=0.0)


def test_two_step_with_every_centroid_probed_is_exact():
    C, M = _centroids(n=40, k=3, d=8, seed=4)
    q = np.random.default_rng(5).standard_normal((11, 8)).astype(np.float32)
    De, Ie = pq.exact_search(q, C, M, 5, temperature=0.5)
    for stage in pq.FIRST_STAGES:
        D2, I2, cand = pq.two_step_search(q, C, M, 5, n_probe=int(M.sum()), temperature=0.5, first_stage=stage)
        assert np.array_equal(I2, Ie) and np.allclose(D2, De, atol=1e-5)
        assert all(len(set(r[r >= 0].tolist())) == (r >= 0).sum() for r in cand)      # deduplicated


def test_first_stages_agree_and_fill_when_short():
    C, M = _centroids(n=50, k=4, d=8, seed=6)
    q = np.random.default_rng(7).standard_normal((9, 8)).astype(np.float32)
    a = pq.first_stage_candidates(q, C, M, 30, first_stage="faiss")
    b = pq.first_stage_candidates(q, C, M, 30, first_stage="exact")
    assert np.array_equal(a, b)
    D, I, cand = pq.two_step_search(q, C, M, 5, n_probe=1)
    assert np.all(I[:, 1:] == -1) and np.all(np.isneginf(D[:, 1:])) and np.all(I[:, 0] == cand[:, 0])
    # the first candidate is the owner of the best single centroid
    logits = np.where(M, np.einsum("qd,nkd->qnk", q, C), -np.inf).reshape(9, -1)
    assert np.array_equal(I[:, 0], logits.argmax(1) // 4)
    with pytest.raises(ValueError, match="first_stage"):
        pq.first_stage_candidates(q, C, M, 3, first_stage="hnsw")
    with pytest.raises(ValueError, match="n_probe"):
        pq.first_stage_candidates(q, C, M, 0)


def test_pooling_helpers():
    docs = _docs([4, 1, 6], d=3)
    assert np.allclose(pq.mean_pool(docs), np.stack([x.mean(0) for x in docs]), atol=1e-6)
    assert np.array_equal(pq.first_token(docs), np.stack([x[0] for x in docs]))
    s = pq.strip_ends(docs)
    assert list(s.sizes) == [2, 1, 4] and np.array_equal(s.X[:2], docs[0][1:3])
    u = pq.unit_rows(docs + [np.zeros((2, 3), np.float32)])
    n = np.linalg.norm(u.X, axis=1)
    assert np.allclose(n[:-2], 1, atol=1e-6) and np.all(n[-2:] == 0)


def test_two_step_matches_loop_reference_with_partial_probes():
    C, M = _centroids(n=60, k=4, d=8, seed=8)
    q = np.random.default_rng(9).standard_normal((21, 8)).astype(np.float32)
    for n_probe in (3, 17, 80):
        D, I, cand = pq.two_step_search(q, C, M, 7, n_probe, temperature=0.3, query_block=5)
        Dr, Ir = pq.two_step_search_reference(q, cand, C, M, 7, temperature=0.3)
        assert np.array_equal(I, Ir)
        fin = np.isfinite(Dr)
        assert np.array_equal(np.isfinite(D), fin) and np.allclose(D[fin], Dr[fin], rtol=1e-5, atol=1e-5)


def test_two_step_ties_go_to_the_lower_document():
    C = np.zeros((5, 1, 2), np.float32)
    C[:, 0, 0] = [1.0, 2.0, 2.0, 0.5, 2.0]
    D, I, _ = pq.two_step_search(np.array([[1.0, 0.0]]), C, None, 3, n_probe=5)
    assert list(I[0]) == [1, 2, 4] and np.allclose(D[0], 2.0)


def test_one_search_serves_a_probe_sweep():
    C, M = _centroids(n=30, k=4, d=8, seed=10)
    q = np.random.default_rng(11).standard_normal((7, 8)).astype(np.float32)
    hits = pq.first_stage_hits(q, C, M, 50)
    for n_probe in (1, 6, 25, 50):
        cand = pq.candidates_from_hits(hits, n_probe)
        assert np.array_equal(cand, pq.first_stage_candidates(q, C, M, n_probe))
        a = pq.two_step_search(q, C, M, 5, candidates=cand)
        b = pq.two_step_search(q, C, M, 5, n_probe)
        assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
    with pytest.raises(ValueError, match="candidates"):
        pq.two_step_search(q, C, M, 5, candidates=np.full((7, 3), 30))
