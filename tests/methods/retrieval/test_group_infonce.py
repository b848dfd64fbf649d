"""Group-InfoNCE and its peers: vectorised losses against plain loops, edge cases, training, evaluation,
MinHash parity with datasketch, duplicate retrieval."""

import math

import numpy as np
import pytest
import torch

from simrepro.kernels.contrastive import info_nce_reference
from simrepro.methods.retrieval import group_infonce as gi


def _batch(b, P, d, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, d, generator=g, dtype=torch.float64),
            torch.randn(b, P, d, generator=g, dtype=torch.float64))


@pytest.mark.parametrize("b,P,d,t", [(1, 1, 3, 0.07), (2, 3, 5, 0.5), (7, 4, 9, 0.07), (5, 1, 4, 1.0),
                                     (3, 6, 2, 0.2)])
def test_losses_match_loop_references(b, P, d, t):
    q, D = _batch(b, P, d, seed=b * 10 + P)
    tol = dict(rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(gi.group_infonce(q, D, t), gi.group_infonce_reference(q, D, t), **tol)
    torch.testing.assert_close(gi.multipos_infonce(q, D, t), gi.multipos_infonce_reference(q, D, t), **tol)
    torch.testing.assert_close(gi.single_infonce(q, D[:, 0], t), gi.single_infonce_reference(q, D[:, 0], t), **tol)
    torch.testing.assert_close(gi.single_infonce(q, D[:, 0], t, qq_negatives=False),
                               gi.single_infonce_reference(q, D[:, 0], t, qq_negatives=False), **tol)


def test_single_without_qq_negatives_is_the_shared_kernel():
    q, D = _batch(9, 1, 6, seed=3)
    qn, dn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(D[:, 0], dim=1)
    torch.testing.assert_close(gi.single_infonce(q, D[:, 0], 0.1, qq_negatives=False),
                               info_nce_reference(qn, dn, 0.1), rtol=1e-12, atol=1e-12)


def test_group_with_one_positive_and_no_penalty_equals_single():
    # P = 1: the mean over a group is the code itself and the variance is zero
    q, D = _batch(6, 1, 5, seed=4)
    torch.testing.assert_close(gi.group_infonce(q, D, 0.07), gi.single_infonce(q, D[:, 0], 0.07))
    torch.testing.assert_close(gi.multipos_infonce(q, D, 0.07), gi.single_infonce(q, D[:, 0], 0.07))


def test_variance_penalty_is_official_weight_and_unbiased():
    q, D = _batch(4, 5, 3, seed=5)
    loss, contrast, var = gi.group_infonce(q, D, 0.07, return_parts=True)
    qn, Dn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(D, dim=2)
    cos = torch.einsum("ik,ipk->ip", qn, Dn)
    torch.testing.assert_close(var, cos.var(dim=1, unbiased=True).mean())
    torch.testing.assert_close(loss, contrast + var / 0.07 ** 2)
    assert float(gi.group_infonce(q, D, 0.07, variance_weight=0.0)) == pytest.approx(float(contrast))


def test_group_loss_is_lower_when_group_is_tight():
    # identical positives (zero variance) aligned with the query beat a spread group of the same mean direction
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    tight = torch.stack([q + 0.0 * torch.randn(2, 3, dtype=torch.float64)] * 3, dim=1)
    spread = tight.clone()
    spread[:, 0, 2] += 1.0
    spread[:, 2, 2] -= 1.0
    _, _, v_tight = gi.group_infonce(q, tight, 0.07, return_parts=True)
    _, _, v_spread = gi.group_infonce(q, spread, 0.07, return_parts=True)
    assert float(v_tight) == pytest.approx(0.0, abs=1e-14) and float(v_spread) > 1e-3


def test_gradients_flow_and_match_reference():
    q, D = _batch(4, 3, 5, seed=6)
    q1, D1 = q.clone().requires_grad_(), D.clone().requires_grad_()
    q2, D2 = q.clone().requires_grad_(), D.clone().requires_grad_()
    gi.group_infonce(q1, D1).backward()
    gi.group_infonce_reference(q2, D2).backward()
    torch.testing.assert_close(q1.grad, q2.grad, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(D1.grad, D2.grad, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("fn", [gi.group_infonce, gi.multipos_infonce])
def test_bad_input_errors(fn):
    q, D = _batch(3, 2, 4)
    with pytest.raises(ValueError, match="empty batch"):
        fn(q[:0], D[:0])
    with pytest.raises(ValueError, match="NaN"):
        fn(q.masked_fill(torch.eye(3, 4, dtype=torch.bool), math.nan), D)
    with pytest.raises(ValueError, match="zero embedding"):
        fn(torch.zeros_like(q), D)
    with pytest.raises(ValueError, match="do not match"):
        fn(q, D[:2])
    with pytest.raises(ValueError, match=r"\(b, P, d\)"):
        fn(q, D[:, 0])
    with pytest.raises(ValueError, match="temperature"):
        fn(q, D, 0.0)


def test_sample_positives_like_official():
    rng = np.random.default_rng(0)
    assert list(gi.sample_positives(3, 7, rng)) == [0, 1, 2, 0, 1, 2, 0]
    s = gi.sample_positives(10, 4, rng)
    assert len(set(s)) == 4 and s.max() < 10
    with pytest.raises(ValueError):
        gi.sample_positives(0, 2, rng)


def _toy_task(n_groups=24, per=4, d=16, noise=0.9, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_groups, d))
    Q = centers + noise * rng.normal(size=(n_groups, d))
    C = np.repeat(centers, per, axis=0) + noise * rng.normal(size=(n_groups * per, d))
    groups = [np.arange(i * per, (i + 1) * per) for i in range(n_groups)]
    return Q.astype(np.float32), C.astype(np.float32), groups


@pytest.mark.parametrize("loss", gi.LOSSES)
def test_training_lowers_the_loss_and_is_seeded(loss):
    Q, C, groups = _toy_task()
    W, hist = gi.train_adapter(Q, C, groups, loss, steps=60, batch=12, n_pos=3, lr=5e-3, seed=1)
    W2, _ = gi.train_adapter(Q, C, groups, loss, steps=60, batch=12, n_pos=3, lr=5e-3, seed=1)
    assert np.array_equal(W, W2) and W.shape == (16, 16)
    assert np.mean(hist[-10:]) < np.mean(hist[:10])
    with pytest.raises(ValueError, match="loss must be"):
        gi.train_adapter(Q, C, groups, "nope")


def test_variance_weight_changes_group_training_only():
    Q, C, groups = _toy_task()
    W0, _ = gi.train_adapter(Q, C, groups, "group", steps=20, batch=12, n_pos=3, lr=5e-3, seed=2, variance_weight=0.0)
    W1, _ = gi.train_adapter(Q, C, groups, "group", steps=20, batch=12, n_pos=3, lr=5e-3, seed=2)
    assert not np.allclose(W0, W1)
    with pytest.raises(ValueError, match="group loss only"):
        gi.train_adapter(Q, C, groups, "single", variance_weight=0.0)


def test_evaluate_t2c_perfect_and_variance():
    Q = np.eye(3, dtype=np.float32)
    C = np.repeat(np.eye(3, dtype=np.float32), 2, axis=0)
    groups = [np.array([0, 1]), np.array([2, 3]), np.array([4, 5])]
    out = gi.evaluate_t2c(Q, C, groups)
    assert out["ndcg@10"] == pytest.approx(1.0) and out["recall@10"] == pytest.approx(1.0)
    assert out["within_var"] == pytest.approx(0.0)
    # swap two groups' codes: nothing relevant in the first two ranks for queries 0 and 1
    bad = gi.evaluate_t2c(Q, C[[2, 3, 0, 1, 4, 5]], groups, k=2)
    assert bad["mrr@10"] == pytest.approx(1 / 3)
    v = gi.within_group_variance(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]), [np.array([0, 1])])
    assert v[0] == pytest.approx(0.5)             # cosines 1 and 0: unbiased variance 0.5


def test_minhash_matches_datasketch_jaccard():
    from datasketch import MinHash

    texts = ["Return the sum of a and b.", "return the SUM of b and a", "Open a file for reading.", "", "x"]
    sig = gi.minhash_signatures(texts, num_perm=64, seed=3)
    S = gi.minhash_similarity(sig)
    for i in range(len(texts)):
        for j in range(len(texts)):
            mi, mj = MinHash(num_perm=64, seed=3), MinHash(num_perm=64, seed=3)
            mi.update_batch([w.encode() for w in gi.word_set(texts[i])])
            mj.update_batch([w.encode() for w in gi.word_set(texts[j])])
            assert S[i, j] == mi.jaccard(mj)
    assert S[0, 1] == 1.0 and S[0, 2] < 0.5


def test_duplicate_retrieval_finds_partner_and_ties_are_not_favourable():
    S = np.array([[1.0, 0.9, 0.1, 0.2], [0.9, 1.0, 0.3, 0.2], [0.1, 0.3, 1.0, 0.8], [0.2, 0.2, 0.8, 1.0]])
    out = gi.duplicate_retrieval(S, [[0, 1], [2, 3]])
    assert out["recall@1"] == 1.0 and out["pair_ap"] == pytest.approx(1.0)
    # all off-diagonal scores tied: recall@1 over many seeds is ~ 1/3, never always 1
    T = np.ones((4, 4))
    r1 = [gi.duplicate_retrieval(T, [[0, 1], [2, 3]], seed=s)["recall@1"] for s in range(30)]
    assert 0.15 < np.mean(r1) < 0.55
    with pytest.raises(ValueError, match="NaN"):
        gi.duplicate_retrieval(np.full((3, 3), np.nan), [[0, 1]])
    with pytest.raises(ValueError, match="no planted"):
        gi.duplicate_retrieval(S, np.zeros((0, 2)))
