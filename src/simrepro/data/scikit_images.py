"""Real photographs shipped by scikit-image (``skimage.data``), stored as .npy arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simrepro.data._store import asset, load_array, save_array

GRAY = ("camera", "moon", "coins", "page", "text", "horse", "clock", "brick", "grass", "gravel", "cell")
COLOR = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina")


@asset("scikit_images", packages=("skimage",), install="pip install scikit-image==0.26.0")
def _build_scikit_images(out: Path) -> None:
    """The bundled grayscale and colour test images of scikit-image, uint8, plus lfw_subset (200, 25, 25)."""
    import skimage.data as sd
    for name in GRAY + COLOR:
        img = getattr(sd, name)()
        if img.dtype == bool:
            img = img.astype(np.uint8) * 255
        save_array(out, f"{name}.npy", img)
    save_array(out, "lfw_subset.npy", sd.lfw_subset())


def load_image(name: str, gray: bool = False) -> np.ndarray:
    """One image as uint8 (H, W) or (H, W, 3); ``gray=True`` converts colour images with ITU-R 601 luma."""
    if name not in GRAY + COLOR + ("lfw_subset",):
        raise ValueError(f"unknown image {name!r}; known: {', '.join(GRAY + COLOR)}, lfw_subset")
    img = load_array("scikit_images", f"{name}.npy")
    if gray and img.ndim == 3:
        img = np.round(img[..., :3] @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    return img
