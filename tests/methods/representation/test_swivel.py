"""Swivel's loss against a cell-by-cell reference, its training on planted data, the baselines and evaluation."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from simrepro.data.synthetic_text import latent_corpus
from simrepro.kernels.pmi import cooccurrence
from simrepro.methods.representation import swivel as sw


def _counts(V=9, seed=0, density=0.5):
    rng = np.random.default_rng(seed)
    X = rng.poisson(3.0, (V, V)) * (rng.random((V, V)) < density)
    return sp.csr_matrix((X + X.T).astype(float))


@pytest.mark.parametrize("hinge", [True, False])
@pytest.mark.parametrize("conf", [(0.0, 1.0, 0.5), (0.1, 0.25, 1.0)])
def test_block_loss_equals_reference(hinge, conf):
    X = _counts(11, seed=1)
    rng = np.random.default_rng(2)
    W, C = rng.standard_normal((11, 4)), rng.standard_normal((11, 4))
    lr_, lc_, ln_ = sw._marginal_logs(X)
    fast = sw.swivel_block_loss(torch.tensor(W), torch.tensor(C), torch.tensor(X.toarray()), torch.tensor(lr_),
                                torch.tensor(lc_), ln_, conf_base=conf[0], conf_scale=conf[1], conf_exp=conf[2],
                                hinge=hinge)
    ref = sw.swivel_loss_reference(W, C, X, conf_base=conf[0], conf_scale=conf[1], conf_exp=conf[2], hinge=hinge)
    assert float(fast) == pytest.approx(ref, rel=1e-12)


def test_hinge_penalises_only_overestimated_unobserved_cells():
    X = sp.csr_matrix(np.array([[0.0, 4.0], [4.0, 0.0]]))
    lr_, lc_, ln_ = sw._marginal_logs(X)
    t_star = -lr_[0] - lc_[0] + ln_                      # the bound for the unobserved (0, 0) cell
    losses = []
    for p in (t_star - 10, t_star + 10):
        W = np.array([[math.sqrt(abs(p)) * np.sign(p)], [0.0]])
        C = np.array([[math.sqrt(abs(p))], [0.0]])
        losses.append(sw.swivel_loss_reference(W, C, X, conf_scale=0.0))   # observed cells weigh 0
    other = math.log1p(math.exp(0.0 - (-lr_[1] - lc_[1] + ln_))) / 2     # the (1, 1) cell, prediction 0
    assert losses[0] - other < 1e-4                        # softplus(−10) ≈ 0: under the bound costs nothing
    assert losses[1] - other == pytest.approx(10.0 / 2, rel=1e-3)   # softplus(10) ≈ 10, ÷ √(2·2)


def test_swivel_learns_planted_geometry_and_loss_falls():
    c = latent_corpus(300, 60_000, dim=5, beta=2.0, seed=0)
    X = cooccurrence(c.tokens, 300, 10)
    E, losses = sw.train_swivel(X, 10, epochs=10, block=128, lr=0.2, seed=0, return_losses=True)
    assert E.shape == (300, 10) and losses[-1] < losses[0]
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 300, 3000), rng.integers(0, 300, 3000)
    k = a != b
    rho = sw.similarity_spearman(E, a[k], b[k], sw.pair_cosines(c.latent, a[k], b[k]))
    assert rho > 0.4
    E2 = sw.train_swivel(X, 10, epochs=10, block=128, lr=0.2, seed=0)
    np.testing.assert_array_equal(E, E2)                  # seeded: deterministic


def test_glove_grads_equal_autograd():
    torch.manual_seed(0)
    params = [torch.randn(7, 3, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64),
              torch.randn(7, dtype=torch.float64), torch.randn(7, dtype=torch.float64)]
    i, j = torch.tensor([0, 1, 1, 6, 3]), torch.tensor([2, 2, 5, 0, 3])
    logx, f = torch.rand(5, dtype=torch.float64), torch.rand(5, dtype=torch.float64)
    leaves = [p.clone().requires_grad_() for p in params]
    sw.glove_batch_loss(leaves, i, j, logx, f).backward()
    for g_ours, leaf in zip(sw.glove_batch_grads(params, i, j, logx, f), leaves):
        torch.testing.assert_close(g_ours, leaf.grad, rtol=1e-12, atol=1e-12)


def test_baselines_shapes_and_signal():
    c = latent_corpus(200, 40_000, dim=5, beta=2.0, seed=1)
    X = cooccurrence(c.tokens, 200, 10)
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 200, 2000), rng.integers(0, 200, 2000)
    k = a != b
    gold = sw.pair_cosines(c.latent, a[k], b[k])
    for E in (sw.train_glove_style(X, 8, epochs=10, lr=0.2), sw.svd_ppmi(X, 8),
              sw.train_sgns([list(map(str, s)) for s in c.tokens], [str(i) for i in range(200)], 8, epochs=2)):
        assert E.shape == (200, 8) and np.isfinite(E).all()
        assert sw.similarity_spearman(E, a[k], b[k], gold) > 0.2


def test_evaluation_helpers():
    E = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    np.testing.assert_allclose(sw.pair_cosines(E, [0, 0, 0], [1, 2, 3]), [0.0, 1 / math.sqrt(2), 0.0])
    assert sw.similarity_spearman(E, [0, 0, 1], [1, 2, 2], [0.0, 1.0, 1.0]) == pytest.approx(1.0)
    np.testing.assert_array_equal(sw.frequency_bins(np.array([5, 50, 500]), [0, 1, 2], [1, 2, 2], [10, 100]), [0, 1, 2])
    with pytest.raises(ValueError, match="at least 3"):
        sw.similarity_spearman(E, [0], [1], [0.5])


@pytest.mark.parametrize("call,msg", [
    (lambda: sw.train_swivel(sp.csr_matrix(np.ones((2, 3))), 2), "square"),
    (lambda: sw.train_swivel(np.array([[1.0, np.nan], [1.0, 1.0]]), 2), "NaN"),
    (lambda: sw.train_swivel(np.ones((2, 2)), 0), "dim"),
    (lambda: sw.svd_ppmi(np.ones((3, 3)) + np.eye(3), 3), "dim"),
])
def test_bad_input(call, msg):
    with pytest.raises(ValueError, match=msg):
        call()
