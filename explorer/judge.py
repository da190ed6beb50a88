"""The judge: a small CNN classifier of Fashion-MNIST that says what a generated image looks like.

It labels the Generator page's image ("looks like: Sneaker 87 %") and its penultimate layer is the
feature space of the Fashion-FID (``explorer.generation``). It is not an autoencoder, so it is not a
variant of ``models.REGISTRY``; it is trained by the same loop (``explorer.train``, through its
``loss``) and loaded by the same loader (``explorer.checkpoint.load_judge``) from ``checkpoints/judge/``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .inference import as_batch, batched

# Fashion-MNIST train-set pixel mean and standard deviation (of x/255): inputs are standardised inside the model.
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530
N_CLASSES = 10


@dataclass(frozen=True)
class JudgeConfig:
    channels: tuple[int, ...] = (32, 64, 64)  # conv widths at 28, 14 and 7 pixels: ~5 M MACs, seconds per 10k images
    hidden: int = 256  # the penultimate layer: the Fashion-FID feature dimension
    dropout: float = 0.3  # before the last layer only; BatchNorm regularises the convs

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != 3 or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"JudgeConfig.channels == {self.channels!r}, must be three positive integers.")
        if not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"JudgeConfig.hidden == {self.hidden!r}, must be a positive integer.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"JudgeConfig.dropout == {self.dropout!r}, must be in [0, 1).")


class Judge(nn.Module):
    """conv-BN-ReLU-pool ×3 (28→14→7→3), then a ``hidden``-unit layer (the features) and 10 logits."""

    config_class = JudgeConfig

    def __init__(self, config: JudgeConfig | None = None):
        super().__init__()
        self.config = config or JudgeConfig()
        c1, c2, c3 = self.config.channels

        def block(a, b):
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]

        self.convs = nn.Sequential(*block(1, c1), *block(c1, c2), *block(c2, c3))
        self.fc = nn.Linear(c3 * 3 * 3, self.config.hidden)
        self.drop = nn.Dropout(self.config.dropout)
        self.head = nn.Linear(self.config.hidden, N_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 1, 28, 28] in [0, 1] -> penultimate activations [B, hidden] (after ReLU)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"the judge takes images of shape [B, 1, 28, 28], got {tuple(x.shape)}.")
        h = self.convs((x - PIXEL_MEAN) / PIXEL_STD)
        return F.relu(self.fc(h.flatten(1)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 1, 28, 28] in [0, 1] -> class logits [B, 10]."""
        return self.head(self.drop(self.features(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    def loss(self, x: torch.Tensor, y: torch.Tensor | None = None, generator: torch.Generator | None = None) -> dict:
        """x: [B, 1, 28, 28], labels y: int64 [B] -> {"loss": cross-entropy, "accuracy": top-1 (not differentiated)}.

        ``generator`` is unused: the judge's only randomness is dropout (seeded by ``torch.manual_seed``).
        """
        if y is None:
            raise ValueError("the judge's loss needs the labels y: train it with labels (train(..., y_train=...)).")
        logits = self.logits(x)
        return {"loss": F.cross_entropy(logits, y), "accuracy": (logits.argmax(1) == y).float().mean()}

    def predict_proba(self, x, batch_size: int = 1000) -> np.ndarray:
        """Images (see ``inference.as_batch``: [B, 1, 28, 28], [B, 28, 28], uint8 or floats in [0, 1])
        -> class probabilities float32 [B, 10]."""
        return self._predict(lambda b: torch.softmax(self.logits(b), 1), x, batch_size, N_CLASSES)

    def embed(self, x, batch_size: int = 1000) -> np.ndarray:
        """Like ``features`` for any number of images, batched, without gradients -> float32 [B, hidden]."""
        return self._predict(self.features, x, batch_size, self.config.hidden)

    def _predict(self, fn, x, batch_size: int, width: int) -> np.ndarray:
        if self.training:
            raise RuntimeError("the judge is in training mode; call .eval() before predicting.")
        out = batched(fn, as_batch(x), batch_size, next(self.parameters()).device)
        return out.reshape(-1, width)
