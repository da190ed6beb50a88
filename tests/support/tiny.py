"""Tiny configs of every registered variant: the same code paths as the shipped models, seconds instead of minutes."""

from explorer.models import ConvConfig, DenseConfig, UNetConfig, VAEConfig

TINY = {
    "dense": DenseConfig(hidden=(64, 32), code_dim=10),
    "sparse": DenseConfig(hidden=(64, 32), code_dim=10, l1_weight=1e-3),
    "denoising": ConvConfig(channels=(8, 8, 4)),
    "vae": VAEConfig(hidden=32, latent_dim=10),
    "unet": UNetConfig(channels=(4, 8, 8)),
}
