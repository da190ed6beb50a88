"""Images for display: uint8 conversion, nearest-neighbour upscaling, mosaics, PNG bytes (numpy in, numpy out)."""

from __future__ import annotations

import base64
import io

import numpy as np


def to_uint8(x) -> np.ndarray:
    """Floats in [0, 1] (clipped; torch tensors accepted) or uint8 -> uint8; [N, 1, H, W] -> [N, H, W], else same shape."""
    if hasattr(x, "detach"):  # a torch tensor: no torch import needed here
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dtype == np.uint8:
        return x
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of the last two axes by an integer ``factor`` (keeps 28×28 pixels crisp)."""
    if not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor == {factor!r}, must be a positive integer.")
    if factor == 1:
        return img
    return np.repeat(np.repeat(img, factor, axis=-2), factor, axis=-1)


def mosaic(images: np.ndarray, cols: int | None = None, pad: int = 2, pad_value: int = 255, scale: int = 1):
    """Tile images [N, H, W] (uint8 or floats in [0, 1]) row by row into one uint8 image.

    ``cols`` defaults to N (one row); missing cells of the last row and the ``pad`` pixels between
    cells are ``pad_value``. Each cell is upscaled by ``scale`` first. Returns uint8 [rows·(H·s+pad)-pad, ...].
    """
    imgs = to_uint8(images)
    if imgs.ndim == 2:
        imgs = imgs[None]
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ValueError(f"images of shape {np.shape(images)}, must be a non-empty [N, H, W] stack.")
    imgs = upscale(imgs, scale)
    n, h, w = imgs.shape
    cols = n if cols is None else cols
    if cols < 1:
        raise ValueError(f"cols == {cols}, must be >= 1.")
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), pad_value, dtype=np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


def grid(rows: list[np.ndarray], pad: int = 2, pad_value: int = 255, scale: int = 1) -> np.ndarray:
    """Stack image rows (each [N_i, H, W]) into one uint8 mosaic, one row per entry, left-aligned."""
    cols = max(len(r) for r in rows)
    cells = []
    for r in rows:
        r = to_uint8(r)
        blank = np.full((cols - len(r), *r.shape[1:]), pad_value, dtype=np.uint8)
        cells.append(np.concatenate([r, blank]))
    return mosaic(np.concatenate(cells), cols=cols, pad=pad, pad_value=pad_value, scale=scale)


def png_bytes(img: np.ndarray) -> bytes:
    """uint8 [H, W] (grey) or [H, W, 3] -> PNG file bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(to_uint8(img)).save(buf, format="PNG")
    return buf.getvalue()


def data_url(img: np.ndarray, scale: int = 1) -> str:
    """A PNG data URL of an image (for table image columns), upscaled by ``scale``."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(upscale(to_uint8(img), scale))).decode("ascii")
