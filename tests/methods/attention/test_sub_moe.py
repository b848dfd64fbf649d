"""Tests for simrepro.methods.attention.sub_moe (Sub-MoE expert merging, pruning and averaging baselines)."""

import numpy as np
import pytest
import torch

from simrepro.methods.attention import sub_moe as sm


def _weights(e=5, h=7, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return sm.MoEWeights(torch.randn(e, h, d, generator=g), torch.randn(e, h, generator=g),
                         torch.randn(e, d, h, generator=g), torch.randn(e, d, generator=g))


def test_joint_svd_reconstructs_each_block_irregular_shapes():
    g = torch.Generator().manual_seed(1)
    for p, q, c in [(5, 3, 1), (4, 9, 3), (11, 2, 4)]:
        mats = [torch.randn(p, q, generator=g, dtype=torch.float64) for _ in range(c)]
        u, s, vs = sm.joint_svd(mats)
        assert u.shape == (p, min(p, c * q)) and len(vs) == c
        for m, v in zip(mats, vs):
            assert torch.allclose(u @ torch.diag(s) @ v.T, m, atol=1e-12)       # exact to round-off
        assert torch.allclose(u.T @ u, torch.eye(u.shape[1], dtype=torch.float64), atol=1e-12)


def test_subspace_merge_full_rank_is_weighted_average_and_truncation_projects():
    g = torch.Generator().manual_seed(2)
    mats = [torch.randn(6, 4, generator=g, dtype=torch.float64) for _ in range(3)]
    w = np.array([0.5, 0.3, 0.2])
    avg = sum(wi * m for wi, m in zip(w, mats))
    assert torch.allclose(sm.subspace_merge(mats, w), avg, atol=1e-12)
    assert torch.allclose(sm.subspace_merge(mats, 10 * w), avg, atol=1e-12)    # weights are normalised
    u, _, _ = sm.joint_svd(mats)
    r = 2
    low = sm.subspace_merge(mats, w, rank=r)
    assert torch.allclose(low, u[:, :r] @ u[:, :r].T @ avg, atol=1e-12)
    assert torch.linalg.matrix_rank(low) == r
    assert not torch.allclose(low, avg, atol=1e-3)                           # truncation really changes it


def test_subspace_merge_errors():
    m = [torch.ones(3, 2)]
    with pytest.raises(ValueError, match="at least one"):
        sm.joint_svd([])
    with pytest.raises(ValueError, match="same shape"):
        sm.joint_svd([torch.ones(3, 2), torch.ones(2, 3)])
    with pytest.raises(ValueError, match="NaN"):
        sm.joint_svd([torch.tensor([[float("nan"), 1.0]])])
    with pytest.raises(ValueError, match="rank"):
        sm.subspace_merge(m, [1.0], rank=5)
    with pytest.raises(ValueError, match="weights"):
        sm.subspace_merge(m, [0.0])


def test_singleton_clusters_return_original_experts():
    w = _weights()
    c = sm.merge_experts(w, np.arange(5), np.full(5, 0.2), method="sub_moe")
    for a, b in zip((c.weights.W1, c.weights.b1, c.weights.W2, c.weights.b2), (w.W1, w.b1, w.W2, w.b2)):
        assert (a - b).abs().max() < 1e-5
    c2 = sm.merge_experts(w, np.arange(5), method="average")
    assert torch.equal(c2.weights.W1, w.W1)


def test_merge_average_vs_sub_moe_weights():
    w = _weights()
    labels = np.array([1, 1, 0, 0, 0])                                      # relabelled: 0 = {0,1}, 1 = {2,3,4}
    freq = np.array([0.3, 0.1, 0.2, 0.2, 0.2])
    avg = sm.merge_experts(w, labels, method="average")
    sub = sm.merge_experts(w, labels, freq, method="sub_moe")
    assert avg.n_experts == 2 and avg.expert_map.tolist() == [0, 0, 1, 1, 1]
    assert torch.allclose(avg.weights.W1[0], (w.W1[0] + w.W1[1]) / 2, atol=1e-6)
    assert torch.allclose(sub.weights.W1[0], 0.75 * w.W1[0] + 0.25 * w.W1[1], atol=1e-5)
    assert torch.allclose(sub.weights.W2[1], (w.W2[2] + w.W2[3] + w.W2[4]) / 3, atol=1e-5)
    assert torch.allclose(sub.weights.b2[0], 0.75 * w.b2[0] + 0.25 * w.b2[1], atol=1e-6)
    low = sm.merge_experts(w, labels, freq, method="sub_moe", rank=2)
    assert torch.linalg.matrix_rank(low.weights.W2[0]) == 2
    with pytest.raises(ValueError, match="freq"):
        sm.merge_experts(w, labels, method="sub_moe")
    with pytest.raises(ValueError, match="method"):
        sm.merge_experts(w, labels, freq, method="ties")


def test_prune_keeps_most_frequent_and_routes_among_them():
    w = _weights(e=4, h=3, d=5)
    c = sm.prune_experts(w, [0.1, 0.4, 0.1, 0.4], 2)
    assert c.allowed.tolist() == [False, True, False, True]
    assert c.expert_map.tolist() == [-1, 0, -1, 1]
    assert torch.equal(c.weights.W2[1], w.W2[3])
    c_tie = sm.prune_experts(w, [0.25, 0.25, 0.25, 0.25], 3)                 # ties: lower index first
    assert c_tie.allowed.tolist() == [True, True, True, False]
    x = torch.randn(9, 5)
    router = torch.randn(4, 5)
    y = sm.moe_forward(x, router, c.weights, 2, expert_map=c.expert_map, allowed=c.allowed)
    out = sm.expert_outputs(x, w)
    gates = torch.softmax((x @ router.T)[:, [1, 3]], -1)                     # both kept experts always chosen
    assert torch.allclose(y, gates[:, :1] * out[:, 1] + gates[:, 1:] * out[:, 3], atol=1e-5)
    with pytest.raises(ValueError, match="top_k"):
        sm.moe_forward(x, router, sm.prune_experts(w, [1, 0, 0, 0], 1).weights, 2,
                       expert_map=torch.tensor([0, -1, -1, -1]), allowed=torch.tensor([True, False, False, False]))


def test_moe_forward_against_loop():
    w = _weights(e=4, h=3, d=5, seed=3)
    x = torch.randn(7, 5)
    router = torch.randn(4, 5)
    y = sm.moe_forward(x, router, w, 2)
    for t in range(7):
        logits = router @ x[t]
        top = torch.argsort(logits, descending=True)[:2]
        g = torch.softmax(logits[top], 0)
        ref = sum(g[j] * (w.W2[e] @ torch.relu(w.W1[e] @ x[t] + w.b1[e]) + w.b2[e]) for j, e in enumerate(top))
        assert torch.allclose(y[t], ref, atol=1e-5)
    # merged experts with a map: two selected experts of one cluster add their gates
    c = sm.merge_experts(w, [0, 0, 1, 1], method="average")
    ym = sm.moe_forward(x, router, c.weights, 2, expert_map=c.expert_map)
    idx, gates = sm.route(x @ router.T, 2)
    out = sm.expert_outputs(x, c.weights)
    ref = sum(gates[:, j:j + 1] * out[torch.arange(7), c.expert_map[idx[:, j]]] for j in range(2))
    assert torch.allclose(ym, ref, atol=1e-6)


def test_similarity_against_reference_zero_and_nan():
    g = torch.Generator().manual_seed(4)
    o = torch.randn(5, 3, 4, generator=g, dtype=torch.float64)
    o[2, 1] = 0.0                                                           # a zero output: cosine 0
    s = sm.expert_output_similarity(o)
    assert np.allclose(s.numpy(), sm.expert_output_similarity_reference(o.numpy()), atol=1e-12)
    assert np.allclose(s.numpy(), s.numpy().T)
    o2 = o.clone()
    o2[:, 2] = 3.0 * o2[:, 0]                                               # expert 2 = scaled expert 0
    assert abs(float(sm.expert_output_similarity(o2)[0, 2]) - 1.0) < 1e-12
    o[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sm.expert_output_similarity(o)
    with pytest.raises(ValueError, match="n ≥ 1"):
        sm.expert_output_similarity(torch.zeros(0, 3, 4))


def test_cluster_experts_groups_identical_outputs():
    g = torch.Generator().manual_seed(5)
    base = torch.randn(20, 3, 4, generator=g)
    # experts 0,3,5 ~ base 0; 1,4 ~ base 1; 2 ~ base 2 (positive rescaling keeps cosine 1)
    o = torch.stack([base[:, 0], base[:, 1], base[:, 2], 2 * base[:, 0], 0.5 * base[:, 1], 3 * base[:, 0]], 1)
    labels = sm.cluster_experts(o, 3, seed=0)
    assert labels.tolist() == [0, 1, 2, 0, 1, 0]
    with pytest.raises(ValueError, match="n_clusters"):
        sm.cluster_experts(o, 7)


def test_routing_frequency_sums_to_one_and_errors():
    x = torch.randn(10, 4)
    f = sm.routing_frequency(x, torch.randn(5, 4), 2)
    assert f.shape == (5,) and abs(float(f.sum()) - 1.0) < 1e-12
    with pytest.raises(ValueError, match="non-empty"):
        sm.routing_frequency(torch.zeros(0, 4), torch.randn(5, 4), 2)


def test_train_and_compress_end_to_end_small():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    model, res = sm.train_upcycled_moe(x[:200], y[:200], x[200:], y[200:], seed=0, d_model=8, d_hidden=4,
                                       n_experts=4, dense_epochs=1, moe_epochs=2, batch_size=32)
    assert 0.0 <= res.moe_acc <= 1.0 and np.isfinite(res.losses).all()
    full = sm.merge_experts(model.weights(), np.arange(4), np.full(4, 0.25), method="sub_moe")
    assert (sm.compressed_logits(model, full, x[200:]) - model(torch.as_tensor(x[200:])).detach()).abs().max() < 1e-4
    for method in sm.METHODS:
        c = sm.compress(model, x[:100], 2, method, seed=0)
        assert c.n_experts == 2
        assert sm.compressed_logits(model, c, x[200:]).shape == (100, 4)
    with pytest.raises(ValueError, match="method"):
        sm.compress(model, x[:100], 2, "ties")
