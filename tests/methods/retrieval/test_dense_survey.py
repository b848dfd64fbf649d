"""Dense-retrieval survey parts: rank fusion, hard-negative mining and loss, rank metrics, IVF-PQ."""

import numpy as np
import pytest
import torch

from simrepro.kernels.contrastive import info_nce_reference
from simrepro.methods.retrieval import continuous as cr
from simrepro.methods.retrieval import dense_survey as ds


@pytest.mark.parametrize("m,n", [(1, 1), (3, 7), (9, 20)])
def test_rrf_matches_reference_with_ties(m, n):
    rng = np.random.default_rng(m * n)
    A = rng.integers(0, 3, size=(m, n)).astype(float)
    B = rng.normal(size=(m, n))
    np.testing.assert_allclose(ds.rrf_fuse(A, B), ds.rrf_fuse_reference(A, B), atol=1e-15)
    np.testing.assert_allclose(ds.rrf_fuse(A, k_rrf=0), ds.rrf_fuse_reference(A, k_rrf=0), atol=1e-15)


def test_ranks_and_rank_metrics_by_hand():
    S = np.array([[0.1, 0.9, 0.5, 0.9], [1.0, 0.0, 0.0, 0.0]])
    assert ds.ranks(S).tolist() == [[4, 1, 3, 2], [1, 2, 3, 4]]
    r = ds.rank_metrics(S, [2, 3], k=3)
    assert np.allclose(r["mrr"], [1 / 3, 0.0]) and r["hit1"].tolist() == [0, 0] and r["recall"].tolist() == [1, 0]


def test_fusion_recovers_what_each_run_misses():
    # doc 0 is relevant; the sparse run ranks it 2nd, the dense run 2nd, each with a different winner
    sparse = np.array([[0.8, 1.0, 0.0, 0.1]])
    dense = np.array([[0.8, 0.0, 1.0, 0.1]])
    assert ds.ranks(ds.rrf_fuse(sparse, dense))[0, 0] == 1
    assert ds.ranks(ds.minmax_fuse(sparse, dense))[0, 0] == 1
    np.testing.assert_allclose(ds.minmax_fuse(np.ones((1, 3)), np.array([[0.0, 1.0, 2.0]]), 0.5), [[0, 0.25, 0.5]])


def test_hard_negatives_are_top_ranked_non_gold():
    S = np.array([[5.0, 4, 3, 2, 1], [1.0, 2, 3, 4, 5]])
    H = ds.mine_hard_negatives(S, [0, 3], 2, depth=2, seed=0)
    assert sorted(H[0].tolist()) == [1, 2] and sorted(H[1].tolist()) == [2, 4]
    H = ds.mine_hard_negatives(np.zeros((4, 6)), [0, 1, 2, 3], 3, depth=5, seed=1)
    assert all(g not in row for g, row in zip([0, 1, 2, 3], H.tolist())) and all(len(set(r)) == 3 for r in H.tolist())


def test_loss_without_hard_negatives_is_in_batch_infonce_and_masks_false_negatives():
    g = torch.Generator().manual_seed(0)
    q = torch.nn.functional.normalize(torch.randn(6, 5, generator=g), dim=1)
    p = torch.nn.functional.normalize(torch.randn(6, 5, generator=g), dim=1)
    plain = float(info_nce_reference(q, p, 0.1))
    assert float(ds.hard_negative_loss(q, p, None, 0.1)) == pytest.approx(plain, abs=1e-6)
    h = p[[1, 2, 3, 4, 5, 0]]                           # each "hard negative" is another query's gold passage
    keys = np.r_[np.arange(6), [1, 2, 3, 4, 5, 0]]
    masked = ds.hard_negative_loss(q, p, h, 0.1, key_ids=keys, gold_ids=np.arange(6))
    S = (q @ p.T / 0.1).double()
    e = S.exp()
    lse = torch.log(e.sum(1) + e.sum(1) - e.diagonal())       # every passage twice except the query's own gold
    assert float(masked) == pytest.approx(float((lse - S.diagonal()).mean()), abs=1e-5)
    h_self = p.clone()                                   # gold passages repeated as hard negatives: all masked
    masked = ds.hard_negative_loss(q, p, h_self, 0.1, key_ids=np.r_[np.arange(6), np.arange(6)], gold_ids=np.arange(6))
    unmasked = ds.hard_negative_loss(q, p, h_self, 0.1)
    assert float(masked) < float(unmasked)


def test_training_with_hard_negatives_separates_the_confusers():
    # passages (country c, fact f) = tokens {c, f}; queries = {c, synonym of f}; hard negatives share the country
    C, Fn = 12, 3
    V = C + 2 * Fn
    rng = np.random.default_rng(0)
    E = rng.normal(size=(V, 6)).astype(np.float32)
    passages = [np.array([c, C + f]) for c in range(C) for f in range(Fn)]
    queries, gold = [], []
    for c in range(C):
        for f in range(Fn):
            queries.append(np.array([c, C + Fn + f]))
            gold.append(c * Fn + f)
    gold = np.array(gold)
    hard = np.array([[c * Fn + (f + 1) % Fn] for c in range(C) for f in range(Fn)])

    def mrr(enc):
        S = enc.encode(queries) @ enc.encode(passages).T
        return ds.rank_metrics(S, gold)["mrr"].mean()
    enc = cr.IdfAverageEncoder(E, np.ones(V, np.float32))
    before = mrr(enc)
    hist = ds.train_query_passage(enc, queries, passages, gold, hard=hard, epochs=60, batch_size=8, lr=0.05)
    assert hist[-1] < hist[0] and mrr(enc) > max(before, 0.9)


def test_ivfpq_full_probe_is_close_to_exact():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    D, I, nbytes = ds.ivfpq_search(X, X[:50], 5, nlist=8, M=8, nbits=4, nprobe=8)
    assert nbytes == 4 and I.shape == (50, 5)
    assert (I[:, 0] == np.arange(50)).mean() > 0.5          # 4-bit codes: the query itself mostly first
    with pytest.raises(ValueError, match="divide"):
        ds.ivfpq_search(X, X[:5], 5, nlist=8, M=5, nbits=4)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="NaN"):
        ds.ranks(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="same shape"):
        ds.rrf_fuse(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="alpha"):
        ds.minmax_fuse(np.zeros((1, 2)), np.zeros((1, 2)), 1.5)
    with pytest.raises(ValueError, match="n_hard"):
        ds.mine_hard_negatives(np.zeros((2, 3)), [0, 1], 3, depth=3)
    with pytest.raises(ValueError, match="temperature"):
        ds.hard_negative_loss(torch.ones(2, 2), torch.ones(2, 2), None, 0.0)
    with pytest.raises(ValueError, match="batch_size"):
        ds.train_query_passage(cr.IdfAverageEncoder(np.eye(2), np.ones(2)), [np.array([0])], [np.array([1])], [0],
                               batch_size=1)


def test_fastscan_matches_the_generic_pq_ranking_model():
    from simrepro.methods.search import ann_eval
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    _, I_fs, nbytes = ds.ivfpq_search(X, X[:60], 5, nlist=8, M=8, nbits=4, nprobe=8, fastscan=True)
    _, I_pq, _ = ds.ivfpq_search(X, X[:60], 5, nlist=8, M=8, nbits=4, nprobe=8)
    assert nbytes == 4 and (I_fs[:, 0] == I_pq[:, 0]).mean() > 0.8       # same codes; 8-bit LUT rounding in fast scan
    gt = ann_eval.exact_ground_truth(X, X[:60], 5, metric="dot")
    rows = ann_eval.evaluate(ds.ann_ivfpq_fastscan(8, 8, nprobe=(1, 8)), X, X[:60], gt, repeats=1)
    assert [r["search_params"]["nprobe"] for r in rows] == [1, 8] and rows[1]["recall"] >= rows[0]["recall"]
    with pytest.raises(ValueError, match="nbits = 4"):
        ds.ivfpq_search(X, X[:5], 5, nlist=8, M=8, nbits=8, fastscan=True)
