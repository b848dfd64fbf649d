"""Cosine Adapter relevance filtering: PR sweep vs reference, ties, calibration, adapter training, task labels."""

import numpy as np
import pytest
import torch

from simrepro.methods.search import relevance_filter as rf


def test_pr_sweep_matches_reference_with_ties():
    rng = np.random.default_rng(0)
    s = np.round(rng.standard_normal(503), 1)                        # many ties
    y = rng.random(503) < 0.2
    a = rf.pr_sweep(s, y, int(y.sum()) + 17)
    b = rf.pr_sweep_reference(s, y, int(y.sum()) + 17)
    for u, v in zip(a, b):
        assert u.shape == v.shape and np.abs(u - v).max() < 1e-12
    assert np.all(np.diff(a[2]) >= 0) and a[2][-1] == pytest.approx(y.sum() / (y.sum() + 17))


def test_pr_sweep_small_example():
    th, p, r = rf.pr_sweep([0.9, 0.8, 0.8, 0.1], [1, 0, 1, 0], 4)
    assert th.tolist() == [0.9, 0.8, 0.1]
    assert p.tolist() == [1.0, 2 / 3, 0.5] and r.tolist() == [0.25, 0.5, 0.5]
    assert rf.precision_at_recall(p, r, 0.5) == pytest.approx(2 / 3)
    assert np.isnan(rf.precision_at_recall(p, r, 0.6))
    assert rf.average_precision(p, r) == pytest.approx(0.25 * 1.0 + 0.25 * 2 / 3)


def test_pr_sweep_errors():
    with pytest.raises(ValueError, match="NaN"):
        rf.pr_sweep([np.nan, 1.0], [1, 0], 1)
    with pytest.raises(ValueError, match="same number"):
        rf.pr_sweep([1.0], [1, 0], 1)
    with pytest.raises(ValueError, match="smaller"):
        rf.pr_sweep([1.0, 2.0], [1, 1], 1)
    with pytest.raises(ValueError, match="no relevant"):
        rf.pr_sweep([1.0], [0], 0)
    with pytest.raises(ValueError, match="0/1"):
        rf.pr_sweep([1.0], [2], 1)


def test_rank_scores_give_topk_cut():
    cos = np.array([[0.1, 0.9, 0.5], [0.3, 0.2, 0.8]])
    r = rf.rank_scores(cos)
    assert r.tolist() == [[-3, -1, -2], [-2, -3, -1]]
    assert ((r >= -2).sum(axis=1) == 2).all()


def test_platt_is_monotone_so_same_curve_as_raw():
    rng = np.random.default_rng(1)
    cos = rng.uniform(-0.2, 0.9, (40, 30))
    y = rng.random((40, 30)) < cos * 0.3
    pl = rf.platt_scores(cos[:20], y[:20], cos[20:])
    a, b = rf.pr_sweep(cos[20:], y[20:], y[20:].sum()), rf.pr_sweep(pl, y[20:], y[20:].sum())
    assert np.allclose(a[1], b[1]) and np.allclose(a[2], b[2])
    iso = rf.isotonic_scores(cos[:20], y[:20], cos[20:])
    order = np.argsort(cos[20:].ravel())
    assert (np.diff(iso.ravel()[order]) >= 0).all() and np.unique(iso).size < np.unique(cos[20:]).size


def _toy(n_q, n, rng):
    """Queries of two kinds (first coordinate ±1): relevant iff cos > 0.6 for kind +1, cos > 0.2 for kind −1."""
    kind = rng.choice([-1.0, 1.0], n_q)
    q = np.c_[kind, rng.standard_normal((n_q, 7)) * 0.1].astype(np.float32)
    cos = rng.uniform(-0.2, 1.0, (n_q, n))
    y = cos > np.where(kind > 0, 0.6, 0.2)[:, None]
    return q, cos, y


def test_adapter_learns_query_dependent_threshold_and_stays_monotone():
    rng = np.random.default_rng(2)
    q, cos, y = _toy(200, 50, rng)
    qv, cv, yv = _toy(60, 50, rng)
    qt, ct, yt = _toy(100, 50, rng)
    fit = rf.train_cosine_adapter(q, cos, y, qv, cv, yv, epochs=400, lr=3e-2, seed=0)
    mapped = fit.model.mapped(qt, ct)
    order = np.argsort(ct, axis=1)
    assert (np.diff(np.take_along_axis(mapped, order, axis=1), axis=1) >= -1e-7).all()      # monotone per query
    _, p_a, r_a = rf.pr_sweep(mapped, yt, yt.sum())
    _, p_r, r_r = rf.pr_sweep(ct, yt, yt.sum())
    gain = rf.precision_at_recall(p_a, r_a, 0.9) - rf.precision_at_recall(p_r, r_r, 0.9)
    print("precision gain at recall 0.9 on the two-threshold toy:", gain)
    assert gain > 0.1                                    # a global cosine threshold cannot fit both kinds
    assert fit.val_loss[fit.best_epoch] == min(fit.val_loss)


def test_adapter_rejects_bad_shapes_and_nan():
    q = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match="train"):
        rf.train_cosine_adapter(q, np.zeros((2, 5)), np.zeros((2, 5)), q, np.zeros((3, 5)), np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        rf.train_cosine_adapter(q, np.full((3, 5), np.nan), np.zeros((3, 5)), q, np.zeros((3, 5)), np.zeros((3, 5)))


def test_adapter_parameters_positive():
    m = rf.CosineAdapter(5)
    a, b, g = m.params(torch.randn(11, 5) * 100)
    assert (a > 0).all() and (g > 0).all() and torch.isfinite(b).all()


def test_ancestor_pairs_on_small_tree():
    #      0
    #     / \
    #    1   2
    #    |
    #    3
    parent = np.array([-1, 0, 0, 1])
    pos, anc = rf.ancestor_pairs(parent, [3, 2, 0])
    assert sorted(zip(pos.tolist(), anc.tolist())) == [(0, 0), (0, 1), (1, 0)]
    with pytest.raises(ValueError, match="cycle"):
        rf.ancestor_pairs(np.array([1, 0]), [0])


def test_filter_experiment_on_toy_task():
    rng = np.random.default_rng(3)
    q, cos, y = _toy(300, 40, rng)
    cos = -np.sort(-cos, axis=1)                                       # candidate lists come sorted
    y = cos > np.where(q[:, 0] > 0, 0.6, 0.2)[:, None]
    task = rf.CategoryTask(cos=cos, labels=y, cand=np.zeros_like(cos, dtype=np.int64), n_relevant=y.sum(1) + 1,
                           query_emb=q, query_text=[""] * 300, item_text=[])
    out = rf.filter_experiment(task, 0, ref_k=20, epochs=300, lr=3e-2)
    tr, va, te = out["split"]
    assert np.intersect1d(tr, te).size == 0 and np.intersect1d(va, te).size == 0 and tr.size + va.size + te.size == 300
    assert out["ap"]["platt"] == pytest.approx(out["ap"]["raw_cosine"], abs=1e-9)
    assert out["precision"]["adapter"] > out["precision"]["raw_cosine"]
    with pytest.raises(ValueError, match="too few"):
        rf.split_queries(2, np.random.default_rng(0))
