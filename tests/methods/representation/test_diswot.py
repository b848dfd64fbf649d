"""Tests of simrepro.methods.representation.diswot against the definitions, on odd shapes and edge cases."""

import math

import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from simrepro.methods.representation import diswot as dw

torch.set_num_threads(1)


def _batch(n=7, side=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, side, side, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("shape_t, shape_s", [((5, 3, 4, 4), (5, 7, 2, 2)), ((9, 11), (9, 2)), ((2, 1), (2, 13))])
def test_gram_distance_equals_loop_reference(shape_t, shape_s):
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(shape_t, generator=g), torch.randn(shape_s, generator=g)
    fast, ref = dw.gram_distance(a, b), dw.gram_distance_reference(a, b)
    print("gram_distance", fast, ref, abs(fast - ref))
    assert abs(fast - ref) <= 1e-12 * max(1.0, abs(ref))


def test_gram_distance_hand_computed():
    # rows (1, 0) and (1, 1): G = [[1, 1], [1, 2]] → rows / norms; the other side is orthogonal rows, Ĝ = I.
    a, b = torch.tensor([[1.0, 0.0], [1.0, 1.0]]), torch.tensor([[2.0, 0.0], [0.0, 3.0]])
    r2, r5 = 1 / math.sqrt(2), 1 / math.sqrt(5)
    expected = ((r2 - 1) ** 2 + r2 ** 2 + r5 ** 2 + (2 * r5 - 1) ** 2) / 4
    assert dw.gram_distance(a, b) == pytest.approx(expected, rel=1e-12)


def test_gram_distance_zero_for_same_relations_and_invariances():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(6, 5, generator=g)
    q, _ = torch.linalg.qr(torch.randn(5, 5, generator=g, dtype=torch.float64))
    assert dw.gram_distance(a, a) == 0.0
    # an orthogonal map of the features and a positive scale leave the (row-normalised) Gram matrix unchanged,
    # so the student's channel order, rotation and scale do not matter; widths may differ (zero-padding)
    b = 3.0 * (a.double() @ q)
    assert dw.gram_distance(a, b) < 1e-24
    assert dw.gram_distance(a, torch.cat([a, torch.zeros(6, 4)], 1)) < 1e-24
    perm = torch.randperm(5, generator=g)
    assert dw.gram_distance(a, a[:, perm]) < 1e-24
    assert dw.gram_distance(a, torch.randn(6, 5, generator=g)) > 1e-3


def test_gram_distance_zero_rows_and_bad_input():
    a = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    assert math.isfinite(dw.gram_distance(a, a))
    with pytest.raises(ValueError, match="same non-zero number of rows"):
        dw.gram_distance(torch.randn(3, 2), torch.randn(4, 2))
    with pytest.raises(ValueError, match="same non-zero number of rows"):
        dw.gram_distance(torch.randn(0, 2), torch.randn(0, 2))
    with pytest.raises(ValueError, match="NaN"):
        dw.gram_distance(torch.tensor([[float("nan"), 1.0], [1.0, 1.0]]), torch.randn(2, 2))
    with pytest.raises(ValueError, match="≥ 2 dims"):
        dw.gram_distance(torch.randn(3), torch.randn(3))


def test_candidate_cnn_shapes_space_and_counts():
    space = dw.student_space(depths=(2, 3, 4), widths=(3, 5), kernels=(3, 5))
    assert len(space) == 12 and len({c["name"] for c in space}) == 12
    x, _ = _batch(n=3, side=13)
    for cfg in space:
        m = dw.build(cfg, seed=0)
        assert m(x).shape == (3, 10)
        assert m.features(x).shape[1] == cfg["widths"][-1]
        # parameters by hand: conv k²·c_in·c_out (no bias) + BN 2·c_out per layer, fc (C+1)·10
        c, n = 1, 0
        for w in cfg["widths"]:
            n += cfg["kernel"] ** 2 * c * w + 2 * w
            c = w
        assert dw.count_params(m) == n + (c + 1) * 10
    m = dw.CandidateCNN((4, 6), (1, 2), kernel=3)
    # 14×14 → 14×14 (stride 1) → 7×7 (stride 2): MACs 14²·4·9·1 + 7²·6·9·4 + 6·10
    assert dw.count_macs(m, (1, 14, 14)) == 14 * 14 * 4 * 9 + 7 * 7 * 6 * 9 * 4 + 60
    with pytest.raises(ValueError, match="equal length"):
        dw.CandidateCNN((4, 6), (1,))
    with pytest.raises(ValueError, match="kernel odd"):
        dw.CandidateCNN((4,), (1,), kernel=4)
    with pytest.raises(ValueError, match="depth"):
        dw.student_space(depths=(9,))


def test_gaussian_init_is_the_official_convention_and_seeded():
    m = dw.CandidateCNN((16, 32), (1, 2), kernel=3)
    dw.gaussian_init_(m, 3)
    w = torch.cat([p.weight.detach().flatten() for p in m.modules() if isinstance(p, (nn.Conv2d, nn.Linear))])
    assert abs(float(w.mean())) < 0.05 and abs(float(w.std()) - 1.0) < 0.05
    assert float(m.fc.bias.abs().max()) == 0.0
    bns = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
    assert all(float((b.weight - 1).abs().max()) == 0 and float(b.bias.abs().max()) == 0 for b in bns)
    m2 = dw.gaussian_init_(dw.CandidateCNN((16, 32), (1, 2), kernel=3), 3)
    assert torch.equal(m.fc.weight, m2.fc.weight)


def test_diswot_score_definition_and_determinism():
    x, y = _batch(n=9)
    teacher = dw.CandidateCNN((8, 12, 12), (1, 2, 1))
    student = dw.CandidateCNN((4, 6), (1, 2), kernel=5)
    probe = dw.teacher_probe(teacher, x, y, n_init=2, seed=4)
    r = dw.diswot_score(probe, student, x, y, seed=4)
    assert r["diswot"] == pytest.approx(r["semantic"] + r["relation"], rel=1e-12)
    assert r["semantic"] <= 0 and r["relation"] <= 0
    # by hand for init 0: the same Gaussian init, CE backward, fc-weight gradient and pre-pooling features
    sem, rel = [], []
    for i in range(2):
        t = dw.gaussian_init_(dw.CandidateCNN((8, 12, 12), (1, 2, 1)), 2 * (4 * 1009 + i))
        s = dw.gaussian_init_(dw.CandidateCNN((4, 6), (1, 2), kernel=5), 2 * (4 * 1009 + i) + 1)
        grads, feats = [], []
        for net in (t, s):
            f = net.features(x)
            F.cross_entropy(net.fc(f.mean(dim=(2, 3))), y).backward()
            grads.append(net.fc.weight.grad)
            feats.append(f.detach())
        sem.append(-dw.gram_distance_reference(*grads))
        rel.append(-dw.gram_distance_reference(*feats))
    assert r["semantic"] == pytest.approx(np.mean(sem), rel=1e-9)
    assert r["relation"] == pytest.approx(np.mean(rel), rel=1e-9)
    assert dw.diswot_score(dw.teacher_probe(teacher, x, y, n_init=2, seed=4), student, x, y, seed=4) == r
    with pytest.raises(ValueError, match="probe's"):
        dw.diswot_score(probe, student, x[:5], y[:5])
    with pytest.raises(ValueError, match="empty"):
        dw.diswot_score([], student, x, y)
    with pytest.raises(ValueError, match="n_init"):
        dw.teacher_probe(teacher, x, y, n_init=0)


def test_nwot_matches_hamming_definition():
    x, _ = _batch(n=6, side=9)
    m = dw.CandidateCNN((3, 5), (1, 2), kernel=3)
    got = dw.nwot_score(m, x)
    # by hand: K[i, j] = Σ_ReLU (N_units − Hamming(c_i, c_j)) of the ReLU inputs' binary codes
    codes = []
    h = x
    for layer in m.body:
        if isinstance(layer, nn.ReLU):
            codes.append((h.reshape(len(x), -1) > 0).double())
        h = layer(h)
    k = sum(c.shape[1] - torch.cdist(c, c, p=1) for c in codes)
    assert got == pytest.approx(float(torch.linalg.slogdet(k)[1]), rel=1e-9)
    with pytest.raises(ValueError, match="≥ 2"):
        dw.nwot_score(m, x[:1])


def test_grad_scores_definition():
    x, y = _batch(n=5, side=8)
    m = dw.CandidateCNN((3, 4), (1, 2))
    got = dw.grad_scores(m, x, y)
    F.cross_entropy(m(x), y).backward()
    layers = [l for l in m.modules() if isinstance(l, (nn.Conv2d, nn.Linear))]
    assert got["grad_norm"] == pytest.approx(sum(float(l.weight.grad.norm()) for l in layers), rel=1e-6)
    assert got["snip"] == pytest.approx(sum(float((l.weight * l.weight.grad).abs().sum()) for l in layers), rel=1e-6)


def test_kd_loss_definition_and_training_learns():
    g = torch.Generator().manual_seed(5)
    s, t, y = torch.randn(7, 10, generator=g), torch.randn(7, 10, generator=g), torch.randint(0, 10, (7,), generator=g)
    p_t, q_s = F.softmax(t / 4, 1), F.softmax(s / 4, 1)
    kl = float((p_t * (p_t.log() - q_s.log())).sum(1).mean())
    want = 0.1 * float(F.cross_entropy(s, y)) + 0.9 * 16 * kl
    assert float(dw.kd_loss(s, t, y)) == pytest.approx(want, rel=1e-5)
    assert float(dw.kd_loss(t, t, y, gamma=0.0)) == pytest.approx(0.0, abs=1e-6)
    # a student distilled from a "teacher" that knows the labels of a separable task (mean pixel > 0) learns it
    x = torch.randn(400, 1, 6, 6, generator=g) + 0.3 * torch.randn(400, 1, 1, 1, generator=g)
    y = (x.mean((1, 2, 3)) > 0).long()
    t_logits = 5.0 * F.one_hot(y, 10).float()
    m = dw.build({"widths": (6, 8), "strides": (1, 1), "kernel": 3}, seed=0)
    before = dw.accuracy(m, x, y)
    secs = dw.kd_train(m, x, y, t_logits, epochs=5, batch_size=32, lr=0.05, seed=0)
    assert secs > 0 and dw.accuracy(m, x, y) > max(0.85, before)
    with pytest.raises(ValueError, match="aligned"):
        dw.kd_train(m, x, y[:3], t_logits)


def test_top1_regret_with_ties_and_errors():
    assert dw.top1_regret([1, 3, 2], [0.5, 0.7, 0.9]) == pytest.approx(0.2)
    assert dw.top1_regret([3, 3, 2], [0.5, 0.7, 0.9]) == pytest.approx(0.3)
    assert dw.top1_regret([0, 0, 1], [0.5, 0.7, 0.9]) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        dw.top1_regret([float("nan"), 1], [0.1, 0.2])
    with pytest.raises(ValueError):
        dw.top1_regret([], [])
