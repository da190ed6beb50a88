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
