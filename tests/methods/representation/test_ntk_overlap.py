"""NTK overlap, per-example gradients, OGD bases and PCA directions against their definitions.

Tolerances: float32 gradients agree to ~1e-7 (we assert 1e-5); float64 linear algebra to ~1e-12 (we assert 1e-9)."""

import numpy as np
import pytest
import torch
from scipy.linalg import subspace_angles

from simrepro.methods.representation import ntk_overlap as m


def _model_data(n=13, d=9, seed=0):
    torch.manual_seed(seed)
    model = m.make_mlp(d, 7, 4, seed=seed)
    return model, torch.randn(n, d), torch.randint(0, 4, (n,))


def test_vmap_grads_equal_loop_reference_irregular():
    model, x, y = _model_data(n=13, d=9)
    fast = m.logit_grads(model, x, y, chunk=5)
    ref = m.logit_grads_reference(model, x, y)
    assert fast.shape == (13, sum(p.numel() for p in model.parameters()))
    assert torch.allclose(fast, ref, atol=1e-5)


def test_grads_are_gradient_of_true_logit():
    model, x, y = _model_data(n=3, d=5)
    g = m.logit_grads_reference(model, x, y)
    # finite difference along a random direction, float64
    model = model.double()
    x, th = x.double(), m.flat_params(model)
    v = torch.randn_like(th) * 1e-6
    torch.nn.utils.vector_to_parameters(th + v, model.parameters())
    up = model(x).gather(1, y[:, None])[:, 0]
    torch.nn.utils.vector_to_parameters(th - v, model.parameters())
    dn = model(x).gather(1, y[:, None])[:, 0]
    assert torch.allclose((up - dn) / 2, g.double() @ v, atol=1e-9)


def test_empty_and_mismatch():
    model, x, y = _model_data()
    assert m.logit_grads(model, x[:0], y[:0]).shape[0] == 0
    assert m.logit_grads_reference(model, x[:0], y[:0]).shape[0] == 0
    with pytest.raises(ValueError, match="labels"):
        m.logit_grads(model, x, y[:3])


def test_extend_basis_matches_gram_schmidt_and_drops_dependent():
    g = torch.randn(50, 6, dtype=torch.float64)
    v = torch.cat([g, g[:, :2] + g[:, 2:4]], dim=1)              # 2 dependent columns
    q = m.extend_basis(None, v[:, :3])
    q = m.extend_basis(q, v[:, 3:])
    r = m.extend_basis_reference(None, v)
    assert q.shape == (50, 6) and r.shape == (50, 6)
    assert torch.allclose(q.T @ q, torch.eye(6, dtype=torch.float64), atol=1e-9)
    assert torch.allclose(q @ q.T, r @ r.T, atol=1e-9)           # same projector
    assert m.extend_basis(q, torch.zeros(50, 2, dtype=torch.float64)).shape == (50, 6)


def test_projection_is_orthogonal():
    q = m.extend_basis(None, torch.randn(40, 5, dtype=torch.float64))
    g = torch.randn(40, dtype=torch.float64)
    pg = m.project_out(g, q)
    assert (q.T @ pg).abs().max() < 1e-12
    assert torch.allclose(m.project_out(pg, q), pg, atol=1e-12)   # idempotent
    assert torch.equal(m.project_out(g, None), g)


def test_pca_gram_path_equals_svd():
    g = torch.randn(23, 61, dtype=torch.float64) * torch.linspace(3, 0.1, 61)
    for center in (True, False):
        a, b = m.pca_directions(g, 5, center=center), m.pca_directions_reference(g, 5, center=center)
        assert a.shape == b.shape == (61, 5)
        assert torch.allclose(a.abs(), b.abs(), atol=1e-9)       # same vectors up to sign
    # rank-deficient: 4 rows, centred → rank 3
    assert m.pca_directions(g[:4], 10).shape == (61, 3)


def test_principal_cosines_match_scipy_and_bounds():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((9, 30)), rng.standard_normal((11, 30))
    c = m.principal_cosines(torch.tensor(a), torch.tensor(b), 4)
    qa = m.pca_directions(torch.tensor(a), 4, center=False).numpy()
    qb = m.pca_directions(torch.tensor(b), 4, center=False).numpy()
    ref = np.sort(np.cos(subspace_angles(qa, qb)))[::-1]
    assert np.allclose(c.numpy(), ref, atol=1e-9)
    assert m.overlap_score(torch.tensor(a), torch.tensor(a), 4) == pytest.approx(1.0, abs=1e-9)
    # orthogonal supports → overlap 0
    z1, z2 = np.zeros((5, 30)), np.zeros((5, 30))
    z1[:, :10], z2[:, 10:20] = rng.standard_normal((5, 10)), rng.standard_normal((5, 10))
    assert m.overlap_score(torch.tensor(z1), torch.tensor(z2), 3) == pytest.approx(0.0, abs=1e-12)


def test_nan_input_raises():
    a = torch.randn(4, 6)
    a[1, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        m.overlap_score(a, torch.randn(4, 6), 2)
    with pytest.raises(ValueError, match="same number of columns"):
        m.principal_cosines(torch.randn(3, 5), torch.randn(3, 6), 2)


def test_forgetting_and_rotation():
    acc = np.array([[0.9, 0.1, 0.0], [0.7, 0.8, 0.1], [0.5, 0.6, 0.9]])
    assert m.forgetting(acc) == pytest.approx(((0.9 - 0.5) + (0.8 - 0.6)) / 2)
    with pytest.raises(ValueError):
        m.forgetting(np.ones((1, 1)))
    x = np.zeros((1, 784), np.float32)
    x[0, 28 * 5 + 14] = 1.0                                       # a pixel above the centre
    r = m.rotate_images(x, 180).reshape(28, 28)
    assert r.sum() == pytest.approx(1.0, abs=1e-5) and r[22, 13] > 0.5
    with pytest.raises(ValueError):
        m.rotate_images(np.zeros((2, 10)), 5)


def test_ogd_projection_protects_stored_outputs():
    """With the stored gradients spanning the training direction, OGD changes task-1 outputs only to 2nd order."""
    torch.manual_seed(0)
    x1, y1 = torch.randn(8, 6), torch.randint(0, 3, (8,))
    task1 = m.Task(x1, y1, x1, y1)
    task2 = m.Task(torch.randn(32, 6), torch.randint(0, 3, (32,)), x1, y1)
    base = m.make_mlp(6, 5, 3, seed=1)
    phi = m.logit_grads(base, x1, y1)
    q = m.extend_basis(None, phi.T.double()).float()
    f0 = base(x1).gather(1, y1[:, None]).detach()
    import copy
    sgd, ogd = copy.deepcopy(base), copy.deepcopy(base)
    m.train_task(sgd, task2, epochs=1, batch_size=32, lr=1e-3, seed=0)
    m.train_task(ogd, task2, epochs=1, batch_size=32, lr=1e-3, seed=0, basis=q)
    d_sgd = (sgd(x1).gather(1, y1[:, None]) - f0).abs().max().item()
    d_ogd = (ogd(x1).gather(1, y1[:, None]) - f0).abs().max().item()
    assert d_ogd < 1e-2 * d_sgd
    assert task1.x_train.shape[0] == 8
