"""Shared fixtures: the real Fashion-MNIST (installed by .ci/run) and small seeded slices of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from explorer.data import load_fashion_mnist


@pytest.fixture(scope="session", autouse=True)
def _one_thread():
    # 2 cores, and other processes (a browser, a server) run beside the tests: 1 thread is the fast choice.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def fmnist():
    """The real dataset; a missing dataset fails loudly with the fix (apt-get install dataset-fashion-mnist)."""
    return load_fashion_mnist()


@pytest.fixture(scope="session")
def small_batch(fmnist):
    """64 real test images, float32 [64, 1, 28, 28] in [0, 1], and their labels."""
    idx = np.random.default_rng(0).choice(len(fmnist.test), 64, replace=False)
    return fmnist.test.tensor(idx), fmnist.test.labels[idx]


@pytest.fixture(scope="session")
def photo_png(fmnist) -> bytes:
    """Test item 3 as the product photo a user would upload: dark on white, 8× larger, off-centre; PNG bytes.

    ``prepare_upload`` gives the item back from it (the object fills its 28 px and has no faint edge).
    """
    import io

    from PIL import Image

    enlarged = 255 - np.kron(fmnist.test.images[3], np.ones((8, 8), np.uint8))
    photo = np.pad(enlarged, ((30, 50), (70, 20)), constant_values=255)
    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, format="PNG")
    return buf.getvalue()
