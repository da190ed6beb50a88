"""The autoencoders: the tutorial's four and their improvements, one contract, one registry.

Contract (every variant; C×H×W is the config's ``image_shape``, the dataset's: (1, 28, 28) for Fashion-MNIST):
    encode(x: [B, C, H, W] in [0, 1]) -> z: [B, code_dim]
    decode(z: [B, code_dim]) -> x_hat: [B, C, H, W]
    reconstruct(x) -> x_hat                    (the denoiser: its clean estimate of a noisy x)
    loss(x, y=None, generator=None) -> dict    ("loss" is what training minimises; other keys are logged;
                                                the labels y are for supervised models such as the judge)
Models do no I/O; ``explorer.checkpoint`` saves and loads them, ``explorer.train`` trains them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, fields, is_dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .data import salt_and_pepper

IMAGE_SHAPE = (1, 28, 28)  # Fashion-MNIST's, the default of every config's image_shape
N_PIXELS = 784
MIN_SIDE = 8  # the smallest image side a model takes (as explorer.datasets)


def _check_shape(cfg) -> None:
    """``cfg.image_shape`` as a (C, H, W) tuple of positive ints: C 1 or 3, sides from ``MIN_SIDE``."""
    shape = tuple(cfg.image_shape)
    object.__setattr__(cfg, "image_shape", shape)
    ok = len(shape) == 3 and all(isinstance(s, int) for s in shape) and shape[0] in (1, 3)
    if not ok or min(shape[1:]) < MIN_SIDE:
        raise ValueError(
            f"{type(cfg).__name__}.image_shape == {shape!r}, must be (C, H, W) with C 1 or 3 and H, W >= {MIN_SIDE}."
        )


def _check_positive(cfg, *names):
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{type(cfg).__name__}.{name} == {value!r}, must be a positive integer.")


@dataclass(frozen=True)
class DenseConfig:
    hidden: tuple[int, ...] = (2000, 500, 500)  # the tutorial's 784-2000-500-500-10 (after Xie et al.'s DEC)
    code_dim: int = 10
    # L1 activity penalty on the sigmoid code: weight * sum over units, averaged over the batch.
    # 0 gives the plain dense AE. The tutorial's 10e-10 on the hidden layers has no measurable
    # effect, and 1e-4 on the three hidden layers kills every unit; on the 10-d code alone it makes
    # most code entries ~0 while costing under 1 dB of PSNR (the registry's sparse entry says which weight).
    l1_weight: float = 0.0
    image_shape: tuple[int, ...] = IMAGE_SHAPE  # C, H, W: taken from the dataset

    def __post_init__(self):
        _check_shape(self)
        object.__setattr__(self, "hidden", tuple(self.hidden))
        _check_positive(self, "code_dim")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"DenseConfig.hidden == {self.hidden!r}, must be positive integers.")
        if not (self.l1_weight >= 0 and math.isfinite(self.l1_weight)):
            raise ValueError(f"DenseConfig.l1_weight == {self.l1_weight!r}, must be a finite number >= 0.")


@dataclass(frozen=True)
class ConvConfig:
    channels: tuple[int, ...] = (64, 32, 16)  # encoder convs; the decoder mirrors them
    noise_amount: float = 0.2  # salt-and-pepper probability used in training
    image_shape: tuple[int, ...] = IMAGE_SHAPE

    def __post_init__(self):
        _check_shape(self)
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != 3 or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"ConvConfig.channels == {self.channels!r}, must be three positive integers.")
        if not 0.0 <= self.noise_amount <= 1.0:
            raise ValueError(f"ConvConfig.noise_amount == {self.noise_amount!r}, must be in [0, 1].")


@dataclass(frozen=True)
class UNetConfig:
    channels: tuple[int, ...] = (16, 64, 64)  # at 28x28, 14x14, 7x7: few channels at full size keep it cheap
    noise_amount: float = 0.2
    image_shape: tuple[int, ...] = IMAGE_SHAPE

    def __post_init__(self):
        _check_shape(self)
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != 3 or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"UNetConfig.channels == {self.channels!r}, must be three positive integers.")
        if not 0.0 <= self.noise_amount <= 1.0:
            raise ValueError(f"UNetConfig.noise_amount == {self.noise_amount!r}, must be in [0, 1].")


@dataclass(frozen=True)
class VAEConfig:
    hidden: int = 500
    latent_dim: int = 10
    # Weight of the KL term (β-VAE, Higgins et al. 2017): 1 is the ELBO; > 1 trades reconstruction for a
    # smoother, more factorised latent space. The reported -ELBO always uses β = 1.
    beta: float = 1.0
    image_shape: tuple[int, ...] = IMAGE_SHAPE

    def __post_init__(self):
        _check_shape(self)
        _check_positive(self, "hidden", "latent_dim")
        if not (self.beta > 0 and math.isfinite(self.beta)):
            raise ValueError(f"VAEConfig.beta == {self.beta!r}, must be a finite number > 0.")


class Autoencoder(nn.Module):
    """Base of every variant: holds its config; subclasses implement the contract."""

    config_class: type
    # The range every code entry lies in, where the architecture fixes one (a sigmoid code: (0, 1)); None if
    # unbounded. Code entropy is measured on 8-bit levels of this range.
    code_range: tuple[float, float] | None = None

    def __init__(self, config):
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}.")
        self.config = config

    @property
    def code_dim(self) -> int:
        raise NotImplementedError

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images the model takes and makes."""
        return tuple(self.config.image_shape)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, C, H, W] -> x_hat: [B, C, H, W]."""
        return self.decode(self.encode(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reconstruct(x)

    def loss(self, x: torch.Tensor, y=None, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """x: [B, C, H, W] -> {"loss": scalar, ...}; ``y`` (labels) is unused by an autoencoder."""
        raise NotImplementedError


def _mlp(sizes: list[int], last_activation: nn.Module | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
        elif last_activation is not None:
            layers.append(last_activation)
    return nn.Sequential(*layers)


class DenseAutoencoder(Autoencoder):
    """784-2000-500-500-10 (sigmoid code) and its mirror with a linear output; MSE (+ optional L1 on the code)."""

    config_class = DenseConfig
    code_range = (0.0, 1.0)

    def __init__(self, config: DenseConfig):
        super().__init__(config)
        sizes = [math.prod(config.image_shape), *config.hidden, config.code_dim]
        self.encoder = _mlp(sizes, nn.Sigmoid())
        self.decoder = _mlp(sizes[::-1], None)

    @property
    def code_dim(self) -> int:
        return self.config.code_dim

    def encode(self, x):
        """x: [B, C, H, W] -> z: [B, code_dim] in (0, 1)."""
        return self.encoder(x.flatten(1))

    def decode(self, z):
        """z: [B, code_dim] -> x_hat: [B, C, H, W] (linear, not clipped)."""
        return self.decoder(z).view(-1, *self.image_shape)

    def loss(self, x, y=None, generator=None):
        z = self.encode(x)
        mse = F.mse_loss(self.decode(z), x)
        l1 = z.abs().sum(dim=1).mean()
        return {"loss": mse + self.config.l1_weight * l1, "mse": mse, "l1": l1}


class ConvDenoiser(Autoencoder):
    """The tutorial's convolutional denoiser: 28->14->7->4 by max-pooling, mirrored by upsampling.

    Keras' ``padding='same'`` pooling of 7 gives 4, hence ``ceil_mode=True``; the decoder's
    third conv is 'valid' (16 -> 14) so that the last upsampling lands on 28.
    Code: the 16×4×4 bottleneck, flattened to 256.

    Other sizes: this geometry maps a side of 8k - 4 onto itself (28 = 8·4 - 4), so each side is zero-padded up to
    the next such size and the output cropped back (28 is unchanged; 8 -> 12, 32 -> 36). Code: c3 × k_H × k_W.
    """

    config_class = ConvConfig

    def __init__(self, config: ConvConfig):
        super().__init__(config)
        c1, c2, c3 = config.channels
        channels = config.image_shape[0]
        self.encoder = nn.Sequential(
            nn.Conv2d(channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            nn.Conv2d(c3, c3, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(c3, c2, 3, padding=1), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(c2, c1, 3), nn.ReLU(), nn.Upsample(scale_factor=2),
            nn.Conv2d(c1, channels, 3, padding=1),
        )  # fmt: skip

    @property
    def bottleneck(self) -> tuple[int, int]:
        """(k_H, k_W): the bottleneck's size, a padded side of 8k - 4 pooled three times."""
        return tuple((side + 4 + 7) // 8 for side in self.image_shape[1:])

    @property
    def code_dim(self) -> int:
        kh, kw = self.bottleneck
        return self.config.channels[2] * kh * kw

    def encode(self, x):
        """x: [B, C, H, W] -> z: [B, c3*k_H*k_W] (16*4*4 at 28x28)."""
        _, h, w = self.image_shape
        kh, kw = self.bottleneck
        x = F.pad(x, (0, 8 * kw - 4 - w, 0, 8 * kh - 4 - h))
        return self.encoder(x).flatten(1)

    def decode(self, z):
        """z: [B, c3*k_H*k_W] -> x_hat: [B, C, H, W] (linear, not clipped)."""
        _, h, w = self.image_shape
        out = self.decoder(z.view(-1, self.config.channels[2], *self.bottleneck))
        return out[..., :h, :w]

    def loss(self, x, y=None, generator=None):
        noisy = salt_and_pepper(x, self.config.noise_amount, generator)
        mse = F.mse_loss(self.reconstruct(noisy), x)
        return {"loss": mse, "mse": mse}


class UNetDenoiser(Autoencoder):
    """An improved denoiser (U-Net, Ronneberger et al. 2015): pooling like the tutorial's, plus skip connections.

    The tutorial's denoiser must squeeze every detail through a 16x4x4 bottleneck, so it cannot
    keep the fine texture that SSIM rewards. Skip connections hand the decoder the full-size features,
    and the network only has to learn which pixels are impulses and what belongs there. Because the
    output depends on the skips, decode(z) alone is undefined: use reconstruct(x).
    """

    config_class = UNetConfig

    def __init__(self, config: UNetConfig):
        super().__init__(config)
        c1, c2, c3 = config.channels
        channels = config.image_shape[0]
        self.enc1 = nn.Conv2d(channels, c1, 3, padding=1)  # 28x28
        self.enc2 = nn.Conv2d(c1, c2, 3, padding=1)  # 14x14
        self.enc3 = nn.Conv2d(c2, c3, 3, padding=1)  # 7x7: the bottleneck
        self.fuse2 = nn.Conv2d(c3 + c2, 2 * c1, 1)  # 1x1 mixing keeps the 14x14 stage cheap
        self.dec2 = nn.Conv2d(2 * c1, 2 * c1, 3, padding=1)
        self.dec1 = nn.Conv2d(2 * c1 + c1, c1, 3, padding=1)
        self.out = nn.Conv2d(c1, channels, 3, padding=1)

    @property
    def _padded(self) -> tuple[int, int]:
        """Each side zero-padded up to a multiple of 4, so that both poolings halve it exactly (28 stays 28)."""
        return tuple(-(-side // 4) * 4 for side in self.image_shape[1:])

    @property
    def code_dim(self) -> int:
        ph, pw = self._padded
        return self.config.channels[2] * (ph // 4) * (pw // 4)

    def _features(self, x):
        (_, h, w), (ph, pw) = self.image_shape, self._padded
        x = F.pad(x, (0, pw - w, 0, ph - h))
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(F.max_pool2d(e1, 2)))
        e3 = F.relu(self.enc3(F.max_pool2d(e2, 2)))
        return e1, e2, e3

    def encode(self, x):
        """x: [B, C, H, W] -> bottleneck features [B, c3*(H/4)*(W/4)] (the skips are not part of it)."""
        return self._features(x)[2].flatten(1)

    def decode(self, z):
        raise NotImplementedError("The U-Net's output needs its skip features: call reconstruct(x), not decode(z).")

    def reconstruct(self, x):
        """x: [B, C, H, W] (noisy) -> clean estimate [B, C, H, W] (linear, not clipped)."""
        _, h, w = self.image_shape
        e1, e2, e3 = self._features(x)
        d = torch.cat([F.interpolate(e3, scale_factor=2), e2], 1)
        d = F.relu(self.dec2(F.relu(self.fuse2(d))))
        d = torch.cat([F.interpolate(d, scale_factor=2), e1], 1)
        return self.out(F.relu(self.dec1(d)))[..., :h, :w]

    def loss(self, x, y=None, generator=None):
        noisy = salt_and_pepper(x, self.config.noise_amount, generator)
        mse = F.mse_loss(self.reconstruct(noisy), x)
        return {"loss": mse, "mse": mse}


class VAE(Autoencoder):
    """784-500-(μ, log σ²) ∈ R^10, decoder 10-500-784 sigmoid; Bernoulli likelihood + β·KL (Kingma & Welling 2014)."""

    config_class = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        pixels = math.prod(config.image_shape)
        self.encoder = nn.Sequential(nn.Linear(pixels, config.hidden), nn.ReLU())
        self.mu = nn.Linear(config.hidden, config.latent_dim)
        self.logvar = nn.Linear(config.hidden, config.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, config.hidden), nn.ReLU(), nn.Linear(config.hidden, pixels)
        )

    @property
    def code_dim(self) -> int:
        return self.config.latent_dim

    def posterior(self, x):
        """x: [B, C, H, W] -> (μ, log σ²), each [B, latent_dim]."""
        h = self.encoder(x.flatten(1))
        return self.mu(h), self.logvar(h)

    def encode(self, x):
        """x -> posterior mean μ: [B, latent_dim]."""
        return self.posterior(x)[0]

    def decode_logits(self, z):
        """z: [B, latent_dim] -> Bernoulli logits [B, C, H, W]."""
        return self.decoder(z).view(-1, *self.image_shape)

    def decode(self, z):
        """z: [B, latent_dim] -> Bernoulli means [B, C, H, W] in (0, 1)."""
        return torch.sigmoid(self.decode_logits(z))

    def loss(self, x, y=None, generator=None):
        """Negative ELBO per image, in nats (1-sample estimate); "loss" weighs the KL by β (β = 1: the -ELBO)."""
        mu, logvar = self.posterior(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps  # reparameterisation trick
        # Bernoulli NLL summed over pixels; the grey levels of Fashion-MNIST act as soft targets.
        nll = F.binary_cross_entropy_with_logits(self.decode_logits(z), x, reduction="none").flatten(1).sum(1)
        # KL(N(μ, σ²) || N(0, I)) in closed form, Kingma & Welling (2014), Appendix B.
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
        return {
            "loss": (nll + self.config.beta * kl).mean(),
            "nll": nll.mean(),
            "kl": kl.mean(),
            "neg_elbo": (nll + kl).mean(),
        }


@dataclass(frozen=True)
class TrainRecipe:
    """How a variant is trained. Architectures are fixed; recipes are ours to improve."""

    epochs: int = 60
    batch_size: int = 256  # the tutorial's 2048 reaches only 18.3 dB after 20 epochs; 256 passes 19 dB in 8
    lr: float = 1e-3
    schedule: str = "cosine"  # "cosine" (to lr/100 over the epochs) or "constant"
    weight_decay: float = 0.0
    patience: int = 10  # early stopping: epochs without a better ``monitor`` value, as the tutorial
    val_fraction: float = 1 / 12  # 5,000 of the 60,000 train images; the test split is never seen
    seed: int = 0
    init_from: str | None = None  # start from this variant's checkpoint (same architecture), e.g. sparse from dense
    optimizer: str = "adam"  # "adam" or "adamw" (decoupled weight decay)
    monitor: str = "val_loss"  # the history column early stopping watches and the best epoch is chosen by
    mode: str = "min"  # "min" or "max": whether a lower or a higher ``monitor`` is better
    flip: bool = False  # random horizontal flips of the training images (for models that should not care)
    max_minutes: float | None = None  # time box: stop after the epoch that passes it

    def __post_init__(self):
        _check_positive(self, "epochs", "batch_size", "patience")
        choices = {"schedule": ("cosine", "constant"), "optimizer": ("adam", "adamw"), "mode": ("min", "max")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"TrainRecipe.{name} == {getattr(self, name)!r}, must be {' or '.join(map(repr, allowed))}."
                )
        if not self.lr > 0:
            raise ValueError(f"TrainRecipe.lr == {self.lr!r}, must be > 0.")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"TrainRecipe.val_fraction == {self.val_fraction!r}, must be in (0, 1).")
        if not self.monitor.startswith(("train_", "val_")):
            raise ValueError(f"TrainRecipe.monitor == {self.monitor!r}, must name a train_ or val_ history column.")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ValueError(f"TrainRecipe.max_minutes == {self.max_minutes!r}, must be > 0 (or None: no time box).")


# What a page or command may ask of a variant. A page asks for a capability, never for a variant's name.
CAPABILITIES = (
    "encoder",  # encode(x) -> z: maps and similar items
    "decoder",  # decode(z) -> x_hat, and the code alone makes the image: maps, neighbours, compression
    "generative",  # a prior to sample from (posterior(x), decode(z ~ N(0, I))): the generator
    "denoiser",  # trained to clean a noisy input: the denoiser page
)


@dataclass(frozen=True)
class Variant:
    name: str
    model_class: type[Autoencoder]
    config: object
    recipe: TrainRecipe
    title: str
    job: str  # what the tutorial uses it for: shown in the UI
    capabilities: frozenset[str] = frozenset({"encoder", "decoder"})

    def __post_init__(self):
        object.__setattr__(self, "capabilities", frozenset(self.capabilities))
        unknown = self.capabilities - set(CAPABILITIES)
        if unknown:
            raise ValueError(f"Variant {self.name!r}: unknown capabilities {sorted(unknown)}; known: {CAPABILITIES}.")

    def can(self, capability: str) -> bool:
        """Whether the variant declares ``capability`` (one of ``CAPABILITIES``)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"capability == {capability!r}, must be one of {CAPABILITIES}.")
        return capability in self.capabilities

    def build(self, config=None) -> Autoencoder:
        return self.model_class(config if config is not None else self.config)


REGISTRY: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("dense", DenseAutoencoder, DenseConfig(), TrainRecipe(epochs=40), "Dense autoencoder",
                "compression: 784 pixels to a 10-number code"),
        # Fine-tuning the dense model under the L1 penalty reaches a sparse code in a third of the epochs.
        # 4e-3 (fine-tuning, 15 epochs): 87 % of code entries < 0.05, 8-bit code entropy 5.05 B (dense: 9.26 B)
        # at 0.25 dB under dense; 1e-3 left 35 % (7.05 B) and 2e-3 66 % (5.95 B): not sparse enough.
        Variant("sparse", DenseAutoencoder, DenseConfig(l1_weight=4e-3), TrainRecipe(epochs=15, init_from="dense"),
                "Sparse autoencoder", "compression with fewer bits: an L1 penalty makes most code entries ~0"),
        Variant("denoising", ConvDenoiser, ConvConfig(), TrainRecipe(epochs=20, batch_size=128),
                "Denoising conv autoencoder", "removes salt-and-pepper noise (amount 0.2)",
                {"encoder", "decoder", "denoiser"}),
        Variant("vae", VAE, VAEConfig(), TrainRecipe(epochs=60, batch_size=128), "Variational autoencoder",
                "generation: decode any point of a 10-d Gaussian latent space", {"encoder", "decoder", "generative"}),
        Variant("unet", UNetDenoiser, UNetConfig(), TrainRecipe(epochs=20, batch_size=128), "U-Net denoiser",
                "removes salt-and-pepper noise; improves on the tutorial's denoiser with skip connections",
                {"encoder", "denoiser"}),  # its output needs the skips, so its code alone makes no image
    )
}  # fmt: skip
VARIANTS = tuple(REGISTRY)  # the built-in variants (the shipped checkpoints); plugins add to REGISTRY only


def variants_with(capability: str) -> tuple[str, ...]:
    """The registered variants that declare ``capability``, in registry order."""
    return tuple(n for n, v in REGISTRY.items() if v.can(capability))


def get_variant(name: str) -> Variant:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown variant {name!r}; choose one of: {', '.join(REGISTRY)} (a plugin's variant needs "
            "`--plugin MODULE` or its installed package)."
        ) from None


def config_to_dict(config) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()}


# Fields added after the shipped checkpoints were written: a config.json without them means their default
# (Fashion-MNIST's 1x28x28, the plain VAE's beta 1). Any other missing field is an error.
ADDED_FIELDS = frozenset({"image_shape", "beta"})


def config_from_dict(config_class: type, d: dict):
    """Rebuild a config dataclass; unknown or missing keys are errors, not silently ignored or defaulted."""
    if not isinstance(d, dict):
        raise ValueError(f"a {config_class.__name__} must be a JSON object, got {type(d).__name__}")
    names = {f.name for f in fields(config_class)}
    unknown, missing = set(d) - names, names - set(d) - ADDED_FIELDS
    if unknown:
        raise ValueError(f"unknown {config_class.__name__} field(s): {', '.join(sorted(unknown))}")
    if missing:
        raise ValueError(f"missing {config_class.__name__} field(s): {', '.join(sorted(missing))}")
    return config_class(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})  # JSON has no tuples


# ------------------------------------------------------------------------ variants of one's own (plugins)

VARIANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,47}$")  # a registry key, a CLI value, a folder and a URL value
PROBE_BATCH = 2  # images in the contract probe's zero batch


class ContractError(ValueError):
    """A variant that breaks the model contract; the message names the variant, what broke and how to fix it."""


def _implements(cls: type, method: str) -> bool:
    """Whether ``cls`` has a callable ``method`` of its own (not ``Autoencoder``'s NotImplementedError stub)."""
    fn = getattr(cls, method, None)
    return callable(fn) and fn is not getattr(Autoencoder, method, None)


def _check_static(variant: Variant) -> None:
    """The contract checks that need no model: name, class, config, capabilities, recipe."""
    name, cls = variant.name, variant.model_class
    if not isinstance(name, str) or not VARIANT_NAME.match(name):
        raise ContractError(
            f"variant name {name!r}: use lower-case letters, digits, '.', '-' and '_' (up to 48, starting with a "
            "letter or digit), e.g. 'linear' or 'my-conv'."
        )
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ContractError(
            f"variant {name!r}: model_class {cls!r} is not an nn.Module subclass; subclass "
            "explorer.models.Autoencoder (it is one, and holds the config)."
        )
    where = f"variant {name!r} ({cls.__module__}.{cls.__qualname__})"
    config_class = getattr(cls, "config_class", None)
    if not (isinstance(config_class, type) and is_dataclass(config_class)):
        raise ContractError(
            f"{where}: needs a config_class attribute naming a dataclass (its constructor's one argument), "
            "e.g. `config_class = MyConfig` with `@dataclass(frozen=True) class MyConfig: ...`."
        )
    if not isinstance(variant.config, config_class):
        raise ContractError(
            f"{where}: its config is a {type(variant.config).__name__}, the class takes a {config_class.__name__}; "
            f"give Variant(config={config_class.__name__}(...))."
        )
    if "image_shape" not in {f.name for f in fields(config_class)}:
        raise ContractError(
            f"{where}: {config_class.__name__} has no image_shape field; add `image_shape: tuple[int, ...] = "
            "(1, 28, 28)` (C, H, W): a run's model takes its input shape from the dataset."
        )
    try:
        stored = json.loads(json.dumps(config_to_dict(variant.config)))
        same = config_from_dict(config_class, stored) == variant.config
    except (TypeError, ValueError) as e:
        raise ContractError(
            f"{where}: {config_class.__name__} does not survive config.json ({e}); use JSON fields only "
            "(numbers, strings, booleans, None, tuples of them)."
        ) from e
    if not same:
        raise ContractError(f"{where}: {config_class.__name__} read back from config.json differs from the original.")
    if "encoder" not in variant.capabilities:
        raise ContractError(f"{where}: every variant encodes (maps, similar items); declare the 'encoder' capability.")
    needs = {"encode": "encoder", "loss": "encoder", "decode": "decoder", "posterior": "generative"}
    for method, capability in needs.items():
        if capability in variant.capabilities and not _implements(cls, method):
            fix = "implement it" if method in ("encode", "loss") else f"implement it or drop {capability!r}"
            raise ContractError(
                f"{where}: declares {capability!r} but does not implement {method}() ({CONTRACT[method]}); {fix}."
            )
    if not isinstance(variant.recipe, TrainRecipe):
        raise ContractError(f"{where}: its recipe is a {type(variant.recipe).__name__}; give a TrainRecipe(...).")


CONTRACT = {
    "encode": "x: [B, C, H, W] in [0, 1] -> z: [B, code_dim]",
    "decode": "z: [B, code_dim] -> x_hat: [B, C, H, W]",
    "reconstruct": "x: [B, C, H, W] -> x_hat: [B, C, H, W]",
    "loss": 'x: [B, C, H, W] -> {"loss": scalar, ...}',
    "posterior": "x: [B, C, H, W] -> (mu, logvar), each [B, code_dim]",
}


def _check_tensor(where: str, method: str, out, shape: tuple) -> None:
    if not isinstance(out, torch.Tensor):
        raise ContractError(f"{where}: {method}() returned a {type(out).__name__}, not a tensor ({CONTRACT[method]}).")
    if tuple(out.shape) != shape:
        raise ContractError(
            f"{where}: {method}() of a zero batch returned shape {tuple(out.shape)}, the contract needs {shape} "
            f"({CONTRACT[method]}); fix {method}() or the code_dim property."
        )


def probe_variant(variant: Variant) -> None:
    """Build ``variant`` with its default config and run the contract on a zero batch of its image shape: the
    shapes of ``encode``, ``decode`` (a decoder), ``reconstruct`` and ``posterior`` (generative), and a finite
    ``loss``. ContractError naming what broke."""
    cls = variant.model_class
    where = f"variant {variant.name!r} ({cls.__module__}.{cls.__qualname__})"
    step = "building it with its default config"
    try:
        model = variant.build()
        step = "its image_shape and code_dim properties"
        shape = tuple(model.image_shape)
        code_dim = model.code_dim
        if not isinstance(code_dim, int) or code_dim < 1:
            raise ContractError(f"{where}: code_dim == {code_dim!r}, must be a positive integer (the code's size).")
        if shape != tuple(variant.config.image_shape):
            raise ContractError(f"{where}: image_shape {shape} differs from its config's {variant.config.image_shape}.")
        x, b = torch.zeros(PROBE_BATCH, *shape), PROBE_BATCH
        with torch.no_grad():
            model.eval()
            step = "encode()"
            z = model.encode(x)
            _check_tensor(where, "encode", z, (b, code_dim))
            if variant.can("decoder"):
                step = "decode()"
                _check_tensor(where, "decode", model.decode(z), (b, *shape))
            step = "reconstruct()"
            _check_tensor(where, "reconstruct", model.reconstruct(x), (b, *shape))
            if variant.can("generative"):
                step = "posterior()"
                for part in model.posterior(x):
                    _check_tensor(where, "posterior", part, (b, code_dim))
            model.train()
            step = "loss()"
            out = model.loss(x, generator=torch.Generator().manual_seed(0))
        loss = out.get("loss") if isinstance(out, dict) else None
        if not (isinstance(loss, torch.Tensor) and loss.numel() == 1 and torch.isfinite(loss).all()):
            raise ContractError(f"{where}: loss() must return a dict whose 'loss' is a finite scalar tensor.")
        missing = {"neg_elbo", "nll", "kl"} - set(out) if variant.can("generative") else set()
        if missing:
            raise ContractError(f"{where}: a generative variant's loss() also reports {sorted(missing)} (in nats).")
    except ContractError:
        raise
    except Exception as e:  # the probe runs foreign code: whatever it raises is reported as a broken contract
        raise ContractError(
            f"{where}: {step} failed in the contract probe ({type(e).__name__}: {e}); fix it so that the default "
            f"config builds and runs on torch.zeros({PROBE_BATCH}, *image_shape)."
        ) from e


def check_variant(variant: Variant) -> None:
    """Whether ``variant`` may join the registry: a valid, free name; an nn.Module class with a dataclass config
    that survives config.json; the methods its capabilities need; and the contract probe. ContractError if not."""
    if not isinstance(variant, Variant):
        raise ContractError(f"{variant!r} is not an explorer.models.Variant; build one: Variant(name, cls, config, …).")
    if variant.name in VARIANTS:
        raise ContractError(
            f"variant name {variant.name!r} is a built-in variant's; give yours another name, e.g. 'my-{variant.name}'."
        )
    _check_static(variant)
    known = REGISTRY.get(variant.name)
    if known is not None and known != variant:
        raise ContractError(
            f"variant name {variant.name!r} is taken by {known.model_class.__module__}; give yours another name."
        )
    from .checkpoint import MODEL_CLASSES  # checkpoint imports this module: imported when it is complete

    cls = variant.model_class
    other = MODEL_CLASSES.get(cls.__name__)
    if other is not None and other is not cls:
        raise ContractError(
            f"variant {variant.name!r}: its class name {cls.__name__!r} is taken by "
            f"{other.__module__}.{other.__name__} (a checkpoint names its class by name); rename the class."
        )
    probe_variant(variant)


def register_variant(variant: Variant) -> Variant:
    """Add a variant of one's own to ``REGISTRY`` (after ``check_variant``) and make its checkpoints loadable;
    registering the same variant again does nothing. Returns ``variant``."""
    if REGISTRY.get(getattr(variant, "name", None)) == variant and variant.name not in VARIANTS:
        return variant
    check_variant(variant)
    from .checkpoint import register_model_class

    register_model_class(variant.model_class)
    REGISTRY[variant.name] = variant
    return variant
