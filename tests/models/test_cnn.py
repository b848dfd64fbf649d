"""TinyCNN: the Tiny-10 layout, representation shapes, determinism and that training learns."""

import numpy as np
import pytest
import torch

from simrepro.models.cnn import TinyCNN, accuracy, images_to_tensor, train_classifier


def test_representations_follow_tiny10_layout_on_an_odd_batch():
    torch.manual_seed(0)
    net = TinyCNN(width=4)
    x = torch.randn(7, 1, 14, 14)
    reps = net.representations(x, batch_size=3)        # batches of 3, 3, 1 must concatenate
    shapes = [r.shape for r in reps]
    assert shapes == [(7, 4 * 196), (7, 4 * 196), (7, 8 * 49), (7, 8 * 49), (7, 8 * 49),
                      (7, 16 * 16), (7, 16 * 4), (7, 16 * 4), (7, 16)]
    assert net(x).shape == (7, 10)
    assert all(r.dtype == np.float64 for r in reps)
    # eval-mode representations are independent of batching
    assert np.allclose(net.representations(x, batch_size=7)[4], reps[4], atol=1e-6)


def test_images_to_tensor_downsamples_and_maps_to_plus_minus_one():
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    x = images_to_tensor(imgs, downsample=2)
    assert x.shape == (5, 1, 14, 14) and x.dtype == torch.float32
    pooled = imgs.astype(np.float64).reshape(5, 14, 2, 14, 2).mean(axis=(2, 4)) / 255.0 * 2 - 1
    assert np.allclose(x[:, 0].numpy(), pooled, atol=1e-6)
    with pytest.raises(ValueError, match="divide"):
        images_to_tensor(imgs, downsample=3)
    with pytest.raises(ValueError, match="grey-scale"):
        images_to_tensor(imgs[0])


def test_training_learns_a_separable_task_and_is_seeded():
    gen = torch.Generator().manual_seed(1)
    y = torch.randint(0, 2, (96,), generator=gen)
    x = torch.randn(96, 1, 12, 12, generator=gen) * 0.3
    x[:, :, :6] += (2 * y - 1).float()[:, None, None, None]      # class sets the top half's sign

    def run():
        torch.manual_seed(3)
        net = TinyCNN(width=4, n_classes=2)
        return net, train_classifier(net, x, y, epochs=12, batch_size=32, lr=0.05, seed=0)

    net, losses = run()
    print("losses", losses)
    assert losses[-1] < losses[0]
    assert accuracy(net, x, y) > 0.9
    assert run()[1] == losses                                      # same seeds → same run
    with pytest.raises(ValueError, match="equal length"):
        train_classifier(net, x, y[:5])
