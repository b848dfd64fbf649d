"""Two-tower CLIP-style model: data split, training bookkeeping, retrieval metric, tiled vs naive training."""

import numpy as np
import pytest
import torch

from simrepro.models.two_tower import TwoTower, image_halves, retrieval_top1, train_two_tower


def test_image_halves_split_rows():
    images = np.arange(2 * 4 * 3, dtype=np.uint8).reshape(2, 4, 3)
    top, bottom = image_halves(images)
    assert top.shape == bottom.shape == (2, 6)
    assert torch.equal(top[0] * 255, torch.tensor([0, 1, 2, 3, 4, 5], dtype=torch.float32))
    assert torch.equal(bottom[1] * 255, torch.tensor([18, 19, 20, 21, 22, 23], dtype=torch.float32))
    with pytest.raises(ValueError, match="even H"):
        image_halves(np.zeros((2, 3, 3), dtype=np.uint8))


class _Identity(TwoTower):
    def forward(self, a, b):
        return a, b


def test_retrieval_counts_strict_wins_only():
    model = _Identity(2, 2)
    eye = torch.eye(3)
    assert retrieval_top1(model, eye, eye) == 1.0
    tied = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    # rows 0 and 1 tie with each other: both count as misses in both directions; row 2 is found
    assert retrieval_top1(model, tied, tied) == pytest.approx(1 / 3)


def test_training_runs_the_requested_steps_and_tiled_equals_naive():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(64, 12, generator=g), torch.rand(64, 12, generator=g)
    _, tiled = train_two_tower(a, b, batch_size=24, steps=7, tile_size=5, hidden=16, dim=8)
    _, naive = train_two_tower(a, b, batch_size=24, steps=7, loss="naive", hidden=16, dim=8)
    print(np.abs(np.subtract(tiled, naive)).max())
    assert len(tiled) == len(naive) == 7
    np.testing.assert_allclose(tiled, naive, rtol=1e-5)
    with pytest.raises(ValueError, match="batch_size"):
        train_two_tower(a, b, batch_size=65, steps=1)
    with pytest.raises(ValueError, match="loss"):
        train_two_tower(a, b, batch_size=8, steps=1, loss="fast")
