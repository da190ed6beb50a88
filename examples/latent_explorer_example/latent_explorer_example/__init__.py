"""An example plugin for Latent Explorer: a linear autoencoder, registered as the variant ``linear``.

A linear encoder and decoder trained on mean squared error span the same subspace as PCA with as many components
(Baldi & Hornik 1989), so its metrics should land near the PCA baseline that ``prepare`` reports beside it: a
quick check that a plugin trains and is measured like a built-in variant.

Latent Explorer finds it through the entry point in ``pyproject.toml`` (after ``pip install -e`` of this folder) or
with ``--plugin latent_explorer_example``. Importing this module defines classes only; ``variants()`` is what
Latent Explorer calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from explorer.models import Autoencoder, TrainRecipe, Variant


@dataclass(frozen=True)
class LinearConfig:
    code_dim: int = 16  # PCA-16 keeps most of Fashion-MNIST's variance and still trains in seconds an epoch
    image_shape: tuple[int, ...] = (1, 28, 28)  # C, H, W: Latent Explorer sets it from the dataset

    def __post_init__(self):
        object.__setattr__(self, "image_shape", tuple(self.image_shape))
        if not isinstance(self.code_dim, int) or self.code_dim < 1:
            raise ValueError(f"LinearConfig.code_dim == {self.code_dim!r}, must be a positive integer.")
        if len(self.image_shape) != 3:
            raise ValueError(f"LinearConfig.image_shape == {self.image_shape!r}, must be (C, H, W).")


class LinearAutoencoder(Autoencoder):
    """pixels -> code_dim -> pixels, no non-linearity; MSE. A PCA that is trained like every other variant."""

    config_class = LinearConfig

    def __init__(self, config: LinearConfig):
        super().__init__(config)
        pixels = math.prod(config.image_shape)
        self.encoder = nn.Linear(pixels, config.code_dim)
        self.decoder = nn.Linear(config.code_dim, pixels)

    @property
    def code_dim(self) -> int:
        return self.config.code_dim

    def encode(self, x):
        """x: [B, C, H, W] in [0, 1] -> z: [B, code_dim]."""
        return self.encoder(x.flatten(1))

    def decode(self, z):
        """z: [B, code_dim] -> x_hat: [B, C, H, W] (linear, not clipped)."""
        return self.decoder(z).view(-1, *self.image_shape)

    def loss(self, x, y=None, generator=None):
        mse = F.mse_loss(self.reconstruct(x), x)
        return {"loss": mse, "mse": mse}


def variants() -> list[Variant]:
    """What this plugin adds to Latent Explorer's registry."""
    return [
        Variant(
            "linear",
            LinearAutoencoder,
            LinearConfig(),
            TrainRecipe(epochs=20, batch_size=256),
            "Linear autoencoder (example plugin)",
            "a PCA-like linear code: the baseline every non-linear autoencoder should beat",
            {"encoder", "decoder"},
        )
    ]
