"""−KL between diagonal Gaussians as an inner product: against the direct formula, and retrieval vs brute force."""

import numpy as np
import pytest

from simrepro.methods.search import kl_retrieval as kr
from simrepro.metrics.knn import knn_matches


def _gauss(n, k, seed):
    return kr.random_gaussians(n, k, np.random.default_rng(seed))


def test_kl_known_values():
    # KL(N(0,1) ‖ N(1,2)) = ½(log 2 + (1 + 1)/2 − 1) = ½ log 2 ; KL(d‖q) = ½(−log 2 + (2 + 1)/1 − 1)
    kl = kr.gaussian_kl([[0.0]], [[1.0]], [[1.0]], [[2.0]])
    assert kl[0, 0] == pytest.approx(0.5 * np.log(2))
    kl_rev = kr.gaussian_kl([[0.0]], [[1.0]], [[1.0]], [[2.0]], "dq")
    assert kl_rev[0, 0] == pytest.approx(0.5 * (2.0 - np.log(2)))
    mu, var = _gauss(6, 4, 0)
    k = kr.gaussian_kl(mu, var, mu, var)
    assert np.abs(np.diag(k)).max() < 1e-12 and k.min() > -1e-12


@pytest.mark.parametrize("direction", kr.DIRECTIONS)
@pytest.mark.parametrize("nq,nd,k", [(1, 1, 1), (7, 13, 5), (33, 101, 17)])
def test_inner_product_form_equals_direct(direction, nq, nd, k):
    mq, vq = _gauss(nq, k, 1)
    md, vd = _gauss(nd, k, 2)
    a, c = kr.kl_query_vectors(mq, vq, direction)
    b = kr.kl_document_vectors(md, vd, direction)
    assert a.shape == (nq, 2 * k + 1) and b.shape == (nd, 2 * k + 1)
    direct = -kr.gaussian_kl(mq, vq, md, vd, direction, block_size=4)
    err = np.abs(a @ b.T + c[:, None] - direct).max()
    print(direction, nq, nd, k, "max abs err", err)
    assert err <= 1e-10 * max(1.0, np.abs(direct).max())


@pytest.mark.parametrize("direction", kr.DIRECTIONS)
def test_retrieval_equals_brute_force_with_ties_and_filler(direction):
    mq, vq = _gauss(9, 6, 3)
    md, vd = _gauss(40, 6, 4)
    md, vd = np.vstack([md, md[:10]]), np.vstack([vd, vd[:10]])     # 10 exact duplicate documents: ties
    Dr, Ir = kr.kl_retrieve_reference(mq, vq, md, vd, 8, direction)
    D, I = kr.kl_retrieve(mq, vq, md, vd, 8, direction)
    print("max |D − D_ref|", np.abs(D - Dr).max())
    assert knn_matches(Dr, Ir, D, I).all()
    D, I = kr.kl_retrieve(mq[:2], vq[:2], md[:3], vd[:3], 5, direction)      # k > number of documents
    assert (I[:, 3:] == -1).all() and np.isneginf(D[:, 3:]).all()
    Dr, Ir = kr.kl_retrieve_reference(mq[:2], vq[:2], md[:3], vd[:3], 5, direction)
    assert knn_matches(Dr, Ir, D, I).all()


def test_custom_search_callable_faiss():
    faiss = pytest.importorskip("faiss")

    def flat_ip(q, db, k):
        index = faiss.IndexFlatIP(db.shape[1])
        index.add(np.ascontiguousarray(db, dtype=np.float32))
        return index.search(np.ascontiguousarray(q, dtype=np.float32), k)

    mq, vq = _gauss(20, 8, 5)
    md, vd = _gauss(500, 8, 6)
    Dr, Ir = kr.kl_retrieve_reference(mq, vq, md, vd, 10)
    D, I = kr.kl_retrieve(mq, vq, md, vd, 10, search=flat_ip)
    assert knn_matches(Dr, Ir, D, I, rtol=1e-5).all()


def test_ranking_differs_from_mean_only_dot_product():
    # the variances matter: −KL ranking is not the ranking by μ_q·μ_d
    mq, vq = _gauss(10, 8, 7)
    md, vd = _gauss(300, 8, 8)
    _, I = kr.kl_retrieve(mq, vq, md, vd, 10)
    I_mu = np.argsort(-(mq @ md.T), axis=1)[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I, I_mu)])
    assert overlap < 0.9


@pytest.mark.parametrize("mu,var,msg", [
    (np.zeros((2, 3)), np.zeros((2, 3)), "strictly positive"),
    (np.zeros((2, 3)), np.ones((2, 4)), "same shape"),
    (np.full((2, 3), np.nan), np.ones((2, 3)), "NaN"),
    (np.zeros(3), np.ones(3), "same shape"),
])
def test_bad_gaussians_raise(mu, var, msg):
    with pytest.raises(ValueError, match=msg):
        kr.kl_query_vectors(mu, var)


def test_bad_direction_and_dimension_raise():
    mq, vq = _gauss(2, 3, 0)
    md, vd = _gauss(2, 4, 0)
    with pytest.raises(ValueError, match="direction"):
        kr.kl_document_vectors(md, vd, "pq")
    with pytest.raises(ValueError, match="dimension"):
        kr.gaussian_kl(mq, vq, md, vd)
    with pytest.raises(ValueError, match="dimension"):
        kr.kl_retrieve(mq, vq, md, vd, 1)


def test_taxonomy_relatives_two_hops():
    #        0
    #      1   2
    #     3 4   5
    #     6
    parent = np.array([-1, 0, 0, 1, 1, 2, 3])
    rel = kr.taxonomy_relatives(parent, [0, 1, 3, 6, 5], hops=2)
    assert rel[0].tolist() == [1, 2, 3, 4, 5]
    assert rel[1].tolist() == [0, 3, 4, 6]
    assert rel[2].tolist() == [0, 1, 6]
    assert rel[3].tolist() == [1, 3]
    assert rel[4].tolist() == [0, 2]


def test_mrr_at_k_with_exclusion_and_padding():
    ranked = np.array([[7, 3, 5, -1], [1, 2, 3, 4], [9, 8, 7, 6]])
    relevant = [np.array([5]), np.array([1]), np.array([0])]
    # row 0: 7 is the query itself (excluded) → 3, 5 → rank 2; row 1: rank 1; row 2: none in top 3
    assert kr.mrr_at_k(ranked, relevant, k=3, exclude=[7, 0, 0]) == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    with pytest.raises(ValueError, match="no relevant"):
        kr.mrr_at_k(ranked, [np.array([1]), np.array([], dtype=int), np.array([1])])


def test_learned_gaussian_retrieval_runs_on_a_toy_taxonomy():
    # a 3-level tree: root → 4 groups → 6 leaves each; inputs = noisy one-hot of the group (and leaf id)
    parent = np.r_[-1, np.zeros(4, int), np.repeat(np.arange(1, 5), 6)]
    n = parent.size
    rng = np.random.default_rng(0)
    emb = np.eye(n)[:, :] + 0.05 * rng.standard_normal((n, n))
    emb[5:] += np.eye(n)[parent[5:]]                 # leaves look like their group
    doc_ids = np.arange(n)
    query_ids = rng.permutation(n)
    out = kr.learned_gaussian_retrieval(emb[query_ids].astype(np.float32), query_ids, emb.astype(np.float32), doc_ids,
                                        parent, n_queries=n, hidden=16, epochs=3, batch_size=16, lr=1e-2, k=5)
    print(out)
    assert out["n_test_queries"] + out["n_train_queries"] == n
    assert 0 <= out["mrr_vector"] <= 1 and 0 <= out["mrr_mrl"] <= 1 and -1 <= out["spearman_logvar_breadth"] <= 1
    assert len(out["loss_mrl"]) == 3
