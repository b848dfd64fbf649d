"""Tests of simrepro.methods.recommendation.fmrl (fMRLRec: nested maps, LRU, Matryoshka loss, truncation)."""

import numpy as np
import pandas as pd
import pytest
import torch

from simrepro.methods.recommendation import fmrl


@pytest.mark.parametrize("sizes", [[3], [2, 5], [1, 4, 7, 13]])
def test_nested_linear_matches_block_definition(sizes):
    torch.manual_seed(0)
    lin = fmrl.MatryoshkaLinear(sizes)
    x = torch.randn(5, 3, sizes[-1], dtype=torch.float64)
    w, b = lin.weight.double(), lin.bias.double()
    ref = fmrl.matryoshka_linear_reference(x, w, b, sizes)
    got = torch.nn.functional.linear(x, w * lin.mask.double(), b)
    err = (got - ref).abs().max().item()
    print("max |Δ|", err)
    assert err < 1e-12
    # the prefix of the output depends on the prefix of the input only
    for s in sizes:
        x2 = x.clone()
        x2[..., s:] = torch.randn_like(x2[..., s:])
        assert torch.allclose(fmrl.matryoshka_linear_reference(x2, w, b, sizes)[..., :s], ref[..., :s])


def test_param_count_and_mask():
    sizes = [2, 4, 8]
    m = fmrl.nested_mask(sizes)
    assert m.shape == (8, 8)
    assert m[:2, :2].all() and not m[:2, 2:].any() and m[2:4, :4].all() and not m[2:4, 4:].any() and m[4:].all()
    assert fmrl.nested_param_count(sizes, bias=False) == int(m.sum()) == 2 * 2 + 4 * 2 + 8 * 4
    assert fmrl.nested_param_count([8]) == 8 * 8 + 8


@pytest.mark.parametrize("bad", [[], [0, 4], [4, 4], [8, 4], [2.5, 4]])
def test_bad_sizes(bad):
    with pytest.raises(ValueError, match="sizes"):
        fmrl.check_sizes(bad)


@pytest.mark.parametrize("L", [1, 2, 7, 33])
def test_lru_recurrence_matches_loop(L):
    g = torch.Generator().manual_seed(L)
    u = torch.complex(torch.randn(3, L, 6, generator=g, dtype=torch.float64),
                      torch.randn(3, L, 6, generator=g, dtype=torch.float64))
    log_lam = torch.complex(-torch.rand(6, generator=g, dtype=torch.float64) * 2 - 0.01,
                            torch.rand(6, generator=g, dtype=torch.float64) * 6)
    fast, ref = fmrl.lru_recurrence(u, log_lam), fmrl.lru_recurrence_reference(u, log_lam)
    err = (fast - ref).abs().max().item()
    print("max |Δ|", err)
    assert err < 1e-12 * max(1.0, ref.abs().max().item())


def _toy_model(sizes, n_items=17, F_=9, ids=False, seed=0):
    torch.manual_seed(seed)
    feats = None if ids else np.random.default_rng(seed).normal(size=(n_items, F_)).astype(np.float32)
    return fmrl.FMRLRec(n_items, sizes, feats, n_blocks=2, r_min=0.3, r_max=0.9).eval()


@pytest.mark.parametrize("ids", [False, True])
def test_truncated_model_equals_prefix_of_full_model(ids):
    model = _toy_model([2, 5, 8], ids=ids)
    seqs = torch.tensor([[0, 0, 3, 4, 1], [5, 6, 7, 8, 9], [0, 0, 0, 0, 17]])
    with torch.no_grad():
        h, items = model(seqs)
        for s in [2, 5, 8]:
            small = fmrl.truncate(model, s)
            hs, its = small(seqs)
            err = max((hs - h[..., :s]).abs().max().item(), (its - items[:, :s]).abs().max().item())
            print(s, "max |Δ|", err)
            assert err < 1e-5
            assert fmrl.effective_param_count(small) < fmrl.effective_param_count(model) or s == 8
    with pytest.raises(ValueError, match="sizes"):
        fmrl.truncate(model, 4)


def test_non_matryoshka_model_is_not_nested():
    """A plain width-D model (sizes=[D]) has full maps: its prefix depends on later inputs (the test can fail)."""
    model = _toy_model([8])
    lin = model.blocks[0].gate
    x = torch.randn(2, 8)
    x2 = x.clone()
    x2[:, 4:] += 1.0
    assert not torch.allclose(lin(x)[:, :4], lin(x2)[:, :4])


def test_padding_does_not_leak():
    """Left padding: the hidden states of real positions ignore the padded prefix length."""
    model = _toy_model([4, 8])
    with torch.no_grad():
        a, _ = model(torch.tensor([[0, 0, 0, 3, 4]]))
        b, _ = model(torch.tensor([[3, 4]]))
    assert torch.allclose(a[:, -2:], b, atol=1e-6)


def test_reference_forward_equals_fast_forward():
    model = _toy_model([3, 6])
    seqs = torch.randint(0, 18, (4, 11))
    with torch.no_grad():
        fast, _ = model(seqs)
        ref, _ = model(seqs, reference=True)
    assert (fast - ref).abs().max().item() < 1e-5


def test_loss_is_mean_of_per_size_cross_entropy():
    torch.manual_seed(1)
    h, items, y = torch.randn(7, 6), torch.randn(11, 6), torch.randint(0, 11, (7,))
    want = np.mean([torch.nn.functional.cross_entropy(h[:, :s] @ items[:, :s].T, y).item() for s in (2, 6)])
    assert abs(fmrl.matryoshka_loss(h, items, y, [2, 6]).item() - want) < 1e-6
    with pytest.raises(ValueError, match="no position"):
        fmrl.matryoshka_loss(h[:0], items, y[:0], [2, 6])


def test_windows():
    seqs = [np.array([1, 2, 3, 4]), np.array([5]), np.array([6, 7])]
    X, Y = fmrl.training_windows(seqs, 3)
    assert X.tolist() == [[1, 2, 3], [0, 0, 0], [0, 0, 6]]
    assert Y.tolist() == [[2, 3, 4], [0, 0, 0], [0, 0, 7]]
    X, Y = fmrl.training_windows(seqs, 3, ends=np.array([3, 1, 2]))
    assert X.tolist()[0] == [0, 1, 2] and Y.tolist()[0] == [0, 2, 3]
    assert fmrl.history_windows(seqs, 2).tolist() == [[3, 4], [0, 5], [6, 7]]
    with pytest.raises(ValueError, match="max_len"):
        fmrl.training_windows(seqs, 0)


@pytest.mark.parametrize("window", ["last", "random"])
def test_training_lowers_loss_and_is_seeded(window):
    rng = np.random.default_rng(0)
    n_items = 12
    seqs = [np.arange(k, k + 8) % n_items + 1 for k in rng.integers(0, n_items, 40)]   # a cyclic next item
    feats = np.eye(n_items, dtype=np.float32)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = fmrl.FMRLRec(n_items, [4, 8], feats, dropout=0.0, attn_dropout=0.0)
        runs.append(fmrl.train(model, seqs, max_len=6, window=window, epochs=20, batch_size=8, lr=1e-2, seed=3))
    assert runs[0].losses == runs[1].losses
    assert runs[0].losses[-1] < 0.5 * runs[0].losses[0]
    P, Q = fmrl.user_item_factors(runs[0].model, fmrl.history_windows(seqs, 6), 4)
    assert P.shape == (40, 4) and Q.shape == (n_items, 4)
    nxt = (np.array([s[-1] for s in seqs]) % n_items)                           # 0-based index of the next item
    assert ((P @ Q.T).argmax(1) == nxt).mean() > 0.8
    with pytest.raises(ValueError, match="window"):
        fmrl.train(runs[0].model, seqs, window="all")


def test_bad_features():
    with pytest.raises(ValueError, match="features"):
        fmrl.FMRLRec(5, [4], np.zeros((4, 3)))
    f = np.zeros((5, 3))
    f[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fmrl.FMRLRec(5, [4], f)
    with pytest.raises(ValueError, match="r_min"):
        fmrl.FMRLRec(5, [4], np.zeros((5, 3)), r_min=0.5, r_max=0.2)


def test_attribute_features():
    X = fmrl.attribute_features(["Comedy Drama", "Drama", None], [1995, "unkonwn", 1987])
    # vocabulary: Comedy, Drama, 1980, 1990
    assert X.shape == (3, 4) and X.dtype == np.float32
    assert np.allclose(X[0], np.array([1, 1, 0, 1]) / np.sqrt(3))
    assert np.allclose(X[1], [0, 1, 0, 0]) and np.allclose(X[2], [0, 0, 1, 0])
    with pytest.raises(ValueError, match="one entry"):
        fmrl.attribute_features(["a"], [1, 2])


def test_item_texts():
    assert fmrl.item_texts(["Toy Story"], [1995], ["Animation Comedy"]) == ["Toy Story (1995) | Animation Comedy"]
    assert fmrl.item_texts(["X"], [float("nan")], [None]) == ["X () | "]
    with pytest.raises(ValueError, match="one entry"):
        fmrl.item_texts(["a", "b"], [1], ["g"])


def test_train_sequences_follow_time_order():
    from simrepro.methods.recommendation import evaluation as ev
    df = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3], "item_id": [30, 10, 20, 10, 40, 20],
                       "rating": 1.0, "timestamp": [3, 1, 2, 5, 4, 1]})
    split = ev.leave_one_out(ev.index_interactions(df), seed=0)
    seqs = fmrl.train_sequences(split)
    assert [s.tolist() for s in seqs] == [[1, 2], [4], [2]]          # items 10,20,30,40 → 1..4; last held out
