"""MRL dual encoder: the torch −KL score against the numpy definition, and training on a toy problem."""

import numpy as np
import pytest
import torch

from simrepro.methods.search.kl_retrieval import gaussian_kl
from simrepro.models import mrl


def test_neg_kl_scores_match_the_definition():
    g = torch.Generator().manual_seed(0)
    mq, lq = torch.randn(5, 7, generator=g, dtype=torch.float64), torch.randn(5, 7, generator=g, dtype=torch.float64)
    md, ld = torch.randn(9, 7, generator=g, dtype=torch.float64), torch.randn(9, 7, generator=g, dtype=torch.float64)
    ours = mrl.neg_kl_scores(mq, lq, md, ld).numpy()
    ref = -gaussian_kl(mq.numpy(), lq.exp().numpy(), md.numpy(), ld.exp().numpy())
    print("max abs err", np.abs(ours - ref).max())
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", mrl.KINDS)
def test_training_learns_a_toy_matching(kind):
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((40, 12)).astype(np.float32)
    queries = docs + 0.1 * rng.standard_normal(docs.shape).astype(np.float32)   # query i matches doc i
    pairs = np.stack([np.arange(40), np.arange(40)], 1)
    model, losses = mrl.train_dual_encoder(kind, queries[:, ::-1].copy(), docs, pairs, hidden=32, epochs=60,
                                           batch_size=40, lr=1e-2, seed=1)    # reversed features: must be learned
    print(kind, losses[0], losses[-1])
    assert losses[-1] < 0.5 * losses[0]
    with torch.no_grad():
        s = model.scores(torch.from_numpy(queries[:, ::-1].copy()), torch.from_numpy(docs)).numpy()
    assert (s.argmax(1) == np.arange(40)).mean() > 0.9
    mu, var = mrl.encode(model, docs, "doc")
    assert mu.shape == (40, 12) and (var is None) == (kind == "vector")


def test_bad_arguments():
    with pytest.raises(ValueError, match="kind"):
        mrl.DualEncoder("bert", 4, 8)
    with pytest.raises(ValueError, match="pairs"):
        mrl.train_dual_encoder("mrl", np.zeros((2, 4)), np.zeros((2, 4)), np.zeros((1, 2), int))


def test_towers_start_from_the_frozen_features():
    x = torch.randn(3, 6)
    for kind in mrl.KINDS:
        mu, logvar = mrl.DualEncoder(kind, 6, 5).encode_docs(x)
        torch.testing.assert_close(mu, x)
        if kind == "mrl":
            torch.testing.assert_close(logvar, torch.full_like(x, -np.log(mrl.INITIAL_SCALE)))


def test_both_models_start_from_the_same_ranking():
    x = torch.nn.functional.normalize(torch.randn(7, 6), dim=1)
    y = torch.nn.functional.normalize(torch.randn(9, 6), dim=1)
    sv = mrl.DualEncoder("vector", 6, 5).scores(x, y)
    sm = mrl.DualEncoder("mrl", 6, 5).scores(x, y)
    torch.testing.assert_close(sv - sv[:, :1], sm - sm[:, :1], atol=1e-4, rtol=1e-4)   # equal up to a per-query constant
