"""Tests of simrepro.methods.recommendation.text_seqrec (text-based sequential recommendation)."""

import numpy as np
import pandas as pd
import pytest
import torch

from simrepro.methods.recommendation import evaluation as ev
from simrepro.methods.recommendation import text_seqrec as ts


def test_item_sentence_order_and_missing_values():
    a = {"genre": "Comedy, Drama", "title": "  Heat  ", "year": float("nan")}
    assert ts.item_sentence(a, ("title", "year", "genre")) == "title: Heat genre: Comedy, Drama"
    assert ts.item_sentence({"title": "X", "brand": ""}) == "title: X"
    assert ts.item_sentence({}, ("title",)) == ""


def test_attribute_texts_fill_unknown_and_reject_empty_keys():
    out = ts.attribute_texts([{"title": "A"}, {"title": "", "genre": "War"}], ("title", "genre"))
    assert out == {"title": ["title: A", "title: unknown"], "genre": ["genre: unknown", "genre: War"]}
    with pytest.raises(ValueError, match="at least one"):
        ts.attribute_texts([{"title": "A"}], ())


def test_movielens_100k_items():
    items = ts.movielens_100k_items(np.array([2, 1]))
    assert items[1] == {"title": "Toy Story", "year": "1995", "genre": "Animation, Children's, Comedy"}
    assert items[0]["title"] == "GoldenEye"
    with pytest.raises(ValueError, match="not in the MovieLens-100k"):
        ts.movielens_100k_items(np.array([1, 999999]))


@pytest.mark.parametrize("max_len", [1, 3, 7])
def test_windows_hold_every_pair_once(max_len):
    rng = np.random.default_rng(0)
    seqs = [rng.permutation(50)[:n] for n in [0, 1, 2, 5, 7, 8, 23]]
    x, y = ts.windows(seqs, max_len)
    assert x.shape == y.shape and x.shape[1] == max_len
    assert ((x < 0) == (y < 0)).all()
    pairs = sorted(zip(x[x >= 0].tolist(), y[y >= 0].tolist()))
    want = sorted((int(s[p]), int(s[p + 1])) for s in seqs for p in range(len(s) - 1))
    assert pairs == want
    assert len(ts.windows_reference(seqs, max_len)) == len(want)
    for row in x:                                    # left-padded: pads only before the first real item
        real = np.flatnonzero(row >= 0)
        assert len(real) == 0 or (real == np.arange(max_len - len(real), max_len)).all()


def test_windows_max_windows_keeps_most_recent_and_validates():
    x, y = ts.windows([np.arange(10)], 4, max_windows=1)
    assert x.tolist() == [[5, 6, 7, 8]] and y.tolist() == [[6, 7, 8, 9]]
    assert ts.windows([np.arange(1)], 4)[0].shape == (0, 4)
    with pytest.raises(ValueError, match="max_len"):
        ts.windows([np.arange(3)], 0)
    with pytest.raises(ValueError, match="max_windows"):
        ts.windows([np.arange(3)], 2, max_windows=-1)


def test_last_items_pads_left():
    out = ts.last_items([np.array([4, 5, 6]), np.array([], np.int64), np.array([9])], 2)
    assert out.tolist() == [[5, 6], [-1, -1], [-1, 9]]


def _inter():
    df = pd.DataFrame({"user_id": [1, 1, 1, 1, 2, 2, 3], "item_id": [10, 11, 12, 13, 11, 12, 10],
                       "rating": [5.0] * 7, "timestamp": [4, 1, 3, 9, 2, 1, 5]})
    return ev.index_interactions(df)


def test_user_sequences_time_order_and_drop():
    inter = _inter()
    split = ev.leave_one_out(inter, seed=0)
    seqs = ts.user_sequences(inter, split)
    # item indices 10→0 … 13→3; test = each user's latest; a one-rating user stays in training
    assert [s.tolist() for s in seqs] == [[1, 2, 0], [2], [0]]
    drop = np.array([False, False, True, False])
    assert [s.tolist() for s in ts.user_sequences(inter, split, drop)] == [[1, 0], [], [0]]


def test_cold_items_seeded_fraction_and_validation():
    a, b = ts.cold_items(200, 0.15, 3), ts.cold_items(200, 0.15, 3)
    assert a.sum() == 30 and (a == b).all() and (a != ts.cold_items(200, 0.15, 4)).any()
    assert ts.cold_items(10, 0.0, 0).sum() == 0
    with pytest.raises(ValueError, match="fraction"):
        ts.cold_items(10, 1.0, 0)


def test_model_input_validation():
    X = np.random.default_rng(0).normal(size=(6, 8))
    with pytest.raises(ValueError, match="NaN"):
        ts.SeqRecLite(6, text=np.where(np.eye(6, 8) > 0, np.nan, X))
    with pytest.raises(ValueError, match="rows"):
        ts.SeqRecLite(7, text=X)
    with pytest.raises(ValueError, match="item_repr"):
        ts.SeqRecLite(6, item_repr="bag", text=X)
    with pytest.raises(ValueError, match="temp"):
        ts.SeqRecLite(6, text=X, temp=0.0)
    with pytest.raises(ValueError, match="new catalogue"):
        ts.SeqRecLite(6, item_repr="id").with_text(X)
    with pytest.raises(ValueError, match="columns"):
        ts.SeqRecLite(6, text=X).with_text(X[:, :5])


def test_encoder_is_causal():
    torch.manual_seed(0)
    m = ts.SeqRecLite(9, item_repr="id", dim=16, max_len=6).eval()
    a = torch.tensor([[-1, 1, 2, 3, 4, 5]])
    b = torch.tensor([[-1, 1, 2, 3, 8, 0]])
    with torch.no_grad():
        ha, hb = m.encode(a, m.item_table()), m.encode(b, m.item_table())
    assert torch.allclose(ha[:, :4], hb[:, :4], atol=1e-6)
    assert not torch.allclose(ha[:, 4:], hb[:, 4:], atol=1e-4)


def test_fit_learns_a_cycle_deterministically_and_zeroes_unknown_ids():
    n = 12
    seqs = [np.array([(s + t) % 8 for t in range(10)]) for s in range(8)]    # items 8..11 never occur
    known = np.arange(n) < 8
    X = np.random.default_rng(1).normal(size=(n, 16))
    out = []
    for rep in ["id", "text", "id"]:
        torch.manual_seed(0)
        m = ts.SeqRecLite(n, item_repr=rep, text=X, dim=16, max_len=5, dropout=0.0)
        log = ts.fit(m, seqs, epochs=40, lr=1e-2, seed=0, known=known)
        assert log.losses[-1] < 0.5 * log.losses[0]
        S = m.score(ts.last_items(seqs, 5))
        assert (S.argmax(1) == (np.array([s[-1] for s in seqs]) + 1) % 8).mean() >= 0.75
        out.append((log.losses, S))
        if rep == "id":
            assert np.all(S[:, 8:] == 0.0)                      # unseen IDs: zero vector → cosine 0
    assert out[0][0] == out[2][0] and np.array_equal(out[0][1], out[2][1])
    with pytest.raises(ValueError, match="known"):
        ts.fit(ts.SeqRecLite(n, item_repr="id", max_len=5), seqs, epochs=1, known=np.arange(n) < 3)
    with pytest.raises(ValueError, match="no training window"):
        ts.fit(ts.SeqRecLite(n, item_repr="id", max_len=5), [np.array([1])], epochs=1)


def test_score_empty_history_is_zero():
    m = ts.SeqRecLite(5, item_repr="id", dim=8, max_len=3)
    S = m.score(np.array([[-1, -1, -1], [-1, 0, 1]]))
    assert S.shape == (2, 5) and np.all(S[0] == 0) and np.isfinite(S).all()


@pytest.mark.parametrize("L,A,I", [(1, 1, 3), (4, 3, 5), (6, 2, 1)])
def test_mars_logits_match_reference(L, A, I):
    torch.manual_seed(L * 10 + A)
    m = ts.MarsLite(I, attrs=[np.random.default_rng(a).normal(size=(I, 8)) for a in range(A)], dim=8, max_len=L)
    u = torch.randn(1, L, A, 8, dtype=torch.float64)
    e = torch.randn(I, A, 8, dtype=torch.float64)
    got = m.logits(u, e).numpy()[0]
    want = ts.mars_scores_reference(u[0].numpy(), e.numpy(), m.temp)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_mars_ignores_padding_and_validates():
    I = 4
    attrs = [np.random.default_rng(a).normal(size=(I, 8)) for a in range(2)]
    torch.manual_seed(0)
    m = ts.MarsLite(I, attrs=attrs, dim=8, max_len=3).eval()
    S1 = m.score(np.array([[-1, 2, 1]]))
    S2 = m.score(np.array([[-1, -1, 1]]))
    assert S1.shape == (1, I) and np.isfinite(S1).all() and not np.allclose(S1, S2)
    with pytest.raises(ValueError, match="every attribute"):
        ts.MarsLite(I, attrs=[attrs[0], attrs[1][:3]])
    with pytest.raises(ValueError, match="at least one"):
        ts.MarsLite(I, attrs=[])
    log = ts.fit(m, [np.array([0, 1, 2, 3, 0, 1])] * 4, epochs=3, lr=1e-2, seed=0)
    assert np.isfinite(log.losses).all()


def test_last_item_text_scores_and_metrics():
    X = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 2.0]])
    last = np.array([[-1, 0], [-1, -1]])
    S = ts.last_item_text_scores(last, X)
    np.testing.assert_allclose(S[0], [1.0, 0.6, 0.0], atol=1e-12)
    assert np.all(S[1] == 0)
    split = ev.Split(2, 3, np.array([0]), np.array([0]), np.array([1.0]), np.array([0, 1]), np.array([1, 2]),
                     np.array([1.0, 1.0]))
    res = ts.per_user_metrics(S, split, k=1)
    assert res.set_index("user").loc[0, "hr"] == 1.0 and res.set_index("user").loc[0, "target"] == 1
    assert res.set_index("user").loc[1, "hr"] == 0.0                # all ties → lower index 0 ranks first


@pytest.mark.parametrize("shape", [(2, 1, 3), (3, 7, 5), (1, 16, 2), (2, 9, 4, 3)])
def test_prefix_max_equals_cummax_values_and_gradient(shape):
    torch.manual_seed(sum(shape))
    a = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    got, want = ts.prefix_max(a), torch.cummax(b, dim=1).values
    assert torch.equal(got, want)
    w = torch.randn(*shape, dtype=torch.float64)
    (got * w).sum().backward()
    (want * w).sum().backward()
    assert torch.allclose(a.grad, b.grad)
