"""Latent Explorer: four autoencoders on Fashion-MNIST and the tools to look inside them.

Public API::

    from explorer import load_model, load_fashion_mnist, VARIANTS
    m = load_model("vae")     # also "dense", "sparse", "denoising"
    z = m.encode(x)           # x: float32 [B, 1, 28, 28] in [0, 1] -> [B, code_dim]
    x_hat = m.decode(z)       # -> [B, 1, 28, 28]
    mu, logvar = m.posterior(x)  # VAE only
"""

from .checkpoint import CheckpointError, load_model
from .data import CLASS_NAMES, DatasetError, load_fashion_mnist, salt_and_pepper
from .models import REGISTRY, VARIANTS

__all__ = [
    "CLASS_NAMES",
    "REGISTRY",
    "VARIANTS",
    "CheckpointError",
    "DatasetError",
    "load_fashion_mnist",
    "load_model",
    "salt_and_pepper",
]
