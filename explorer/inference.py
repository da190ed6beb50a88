"""Batched, gradient-free inference for every model, and the one conversion of images into model input.

Every page, command and metric that runs a model goes through these functions, so batching, ``no_grad``,
device placement, clipping and the uint8 → [0, 1] convention live in one place::

    x = as_batch(images)            # uint8 or floats, [H, W] / [N, H, W] / [N, C, H, W] / [N, H*W] -> [N, C, H, W]
    z = encode(model, images)       # -> float32 [N, D]
    x_hat = decode(model, z)        # -> float32 [N, H, W] in [0, 1] (greyscale)
    x_hat = reconstruct(model, images)
    z, mse = encode_with_error(model, images)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

BATCH_SIZE = 1000  # images per forward pass: ~3 MB of input, fast on one CPU thread, small enough for any GPU
IMAGE_SHAPE = (1, 28, 28)  # what the shipped models take: C, H, W


def as_unit(images) -> np.ndarray:
    """Images as float32 in [0, 1], shape kept: uint8 is divided by 255, floats are taken as they are."""
    a = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32, copy=False)


def as_batch(images, shape: tuple[int, int, int] = IMAGE_SHAPE):
    """Images -> float32 tensor [N, C, H, W] in [0, 1].

    Takes uint8 (divided by 255) or floats in [0, 1], as a numpy array or a tensor, shaped [H, W] or [C, H, W]
    (one image), [N, H, W], [N, C, H, W] or flattened [N, C*H*W]. ``shape`` is the model's (C, H, W).
    """
    import torch

    x = as_unit(images)
    c, h, w = shape
    if x.ndim == 2 and x.shape == (h, w):
        x = x[None, None]
    elif x.ndim == 2 and x.shape[1] == c * h * w:
        x = x.reshape(len(x), c, h, w)
    elif x.ndim == 3 and x.shape[1:] == (h, w) and c == 1:
        x = x[:, None]
    elif x.ndim == 3 and x.shape == (c, h, w):  # one colour image
        x = x[None]
    if x.ndim != 4 or x.shape[1:] != (c, h, w):
        raise ValueError(
            f"images of shape {tuple(np.shape(images))}: the model takes [N, {c}, {h}, {w}] "
            f"(or [N, {h}, {w}], [{h}, {w}] or [N, {c * h * w}])."
        )
    return torch.from_numpy(np.ascontiguousarray(x))


def _device(model):
    try:
        return next(model.parameters()).device
    except (StopIteration, AttributeError):
        return None


def batched(fn: Callable, x, batch_size: int = BATCH_SIZE, device=None) -> np.ndarray:
    """``fn`` over ``x`` (a tensor, first axis = items) in batches, without gradients -> the outputs concatenated,
    as a float32 numpy array. Each batch is moved to ``device`` first (if given)."""
    import torch

    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size == {batch_size!r}, must be a positive integer.")
    outs = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i : i + batch_size]
            outs.append(fn(xb if device is None else xb.to(device)).float().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def _one_image(images, shape: tuple[int, int, int]) -> bool:
    """Whether ``images`` is one image ([H, W] or a colour [C, H, W]) rather than a batch; ValueError (as
    ``as_batch``'s) for a layout the model cannot take. Only the shape is read: nothing is converted."""
    s, (c, h, w) = tuple(np.shape(images)), shape
    if s == (h, w) or (s == (c, h, w) and c != 1):
        return True
    if (len(s) == 2 and s[1] == c * h * w) or (len(s) == 3 and s[1:] == (h, w) and c == 1) or s[1:] == (c, h, w):
        return False
    return as_batch(images, shape) is None  # raises the one message for a bad layout


def batched_images(fn: Callable, images, shape, batch_size: int = BATCH_SIZE, device=None) -> np.ndarray:
    """``batched`` over images in any layout ``as_batch`` takes, converted to float32 one batch at a time: a large
    uint8 split is never held whole as floats (4x its size), nor whole on the device."""
    if _one_image(images, shape):
        return batched(fn, as_batch(images, shape), batch_size, device)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size == {batch_size!r}, must be a positive integer.")
    outs = [
        batched(fn, as_batch(images[i : i + batch_size], shape), batch_size, device)
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def _count(images, shape) -> int:
    return 1 if _one_image(images, shape) else len(images)


def _image_shape(model) -> tuple[int, int, int]:
    return tuple(getattr(model, "image_shape", IMAGE_SHAPE))


def encode(model, images, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Codes of ``images`` -> float32 [N, D] (``model.encode``; a VAE's posterior means)."""
    shape = _image_shape(model)
    out = batched_images(model.encode, images, shape, batch_size, _device(model))
    return out.reshape(_count(images, shape), -1)


def _to_images(x_hat) -> object:
    """Model output [B, C, H, W] -> clipped to [0, 1]; greyscale drops its channel axis -> [B, H, W]."""
    x_hat = x_hat.clamp(0, 1)
    return x_hat[:, 0] if x_hat.shape[1] == 1 else x_hat


def decode(model, z, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """Latent points [N, D] (or one [D]) -> float32 images [N, H, W] in [0, 1] (linear decoders are clipped)."""
    import torch

    z = np.atleast_2d(as_unit(z))
    dim = getattr(model, "code_dim", z.shape[1])
    if z.ndim != 2 or z.shape[1] != dim:
        raise ValueError(f"z has shape {z.shape}, the model decodes [N, {dim}].")
    _, h, w = _image_shape(model)
    points = torch.from_numpy(np.ascontiguousarray(z))
    out = batched(lambda b: _to_images(model.decode(b)), points, batch_size, _device(model))
    return out if len(z) else np.zeros((0, h, w), np.float32)


def reconstruct(model, images, batch_size: int = BATCH_SIZE) -> np.ndarray:
    """``model.reconstruct`` of images (a denoiser: its clean estimate) -> float32 [N, H, W] in [0, 1]."""
    shape = _image_shape(model)
    out = batched_images(lambda b: _to_images(model.reconstruct(b)), images, shape, batch_size, _device(model))
    return out if _count(images, shape) else np.zeros((0, *shape[1:]), np.float32)


def encode_with_error(model, images, batch_size: int = BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """-> (codes float32 [N, D], per-image MSE of the clipped reconstruction decode(encode(x)) float32 [N])."""
    import torch

    shape = _image_shape(model)

    def both(b):
        z = model.encode(b)
        err = ((model.decode(z).clamp(0, 1) - b) ** 2).flatten(1).mean(1, keepdim=True)
        return torch.cat([z.flatten(1), err], 1)

    out = batched_images(both, images, shape, batch_size, _device(model))
    if _count(images, shape) == 0:
        return np.zeros((0, getattr(model, "code_dim", 0)), np.float32), np.zeros(0, np.float32)
    return np.ascontiguousarray(out[:, :-1]), np.ascontiguousarray(out[:, -1])
