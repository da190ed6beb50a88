"""Real images written as image folders (one subfolder per class), for the image-folder source's tests.

``fashion_png_folder``: real Fashion-MNIST test images as greyscale PNG files; ``photo_crop_folder``: 32×32 RGB
crops of the two photos scikit-learn ships (china, flower). Both are seeded by position only: the same call
writes the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def fashion_png_folder(root: Path, fmnist, per_class: int = 6, classes: int = 10) -> Path:
    """The first ``per_class`` test images of each of the first ``classes`` classes, as greyscale PNG files in
    ``root/<class name>/<item id>.png`` -> root."""
    from PIL import Image

    from explorer.data import CLASS_NAMES

    root.mkdir(parents=True, exist_ok=True)
    for c in range(classes):
        folder = root / CLASS_NAMES[c].lower().replace("/", "-").replace(" ", "-")
        folder.mkdir(exist_ok=True)
        for i in np.flatnonzero(fmnist.test.labels == c)[:per_class]:
            Image.fromarray(fmnist.test.images[i], mode="L").save(folder / f"{i}.png")
    return root


def photo_crop_folder(root: Path, per_photo: int = 20, size: int = 32) -> Path:
    """``per_photo`` RGB crops of ``size``×``size`` px from each photo scikit-learn ships, on a grid, as PNG
    files in ``root/china/`` and ``root/flower/`` -> root."""
    from PIL import Image
    from sklearn.datasets import load_sample_images

    photos = load_sample_images()
    root.mkdir(parents=True, exist_ok=True)
    for name, photo in zip(("china", "flower"), photos.images, strict=True):
        folder = root / name
        folder.mkdir(exist_ok=True)
        h, w = photo.shape[:2]
        cols = 5
        for k in range(per_photo):
            y = (k // cols) * (h - size) // max(1, (per_photo - 1) // cols)
            x = (k % cols) * (w - size) // (cols - 1)
            Image.fromarray(photo[y : y + size, x : x + size]).save(folder / f"{k}.png")
    return root
