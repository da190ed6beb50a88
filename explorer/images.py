"""Images for display: uint8 conversion, nearest-neighbour upscaling, mosaics, annotated grids (numpy in, numpy out).

PNG files are written by ``explorer.exports.png_bytes``.
"""

from __future__ import annotations

import functools

import numpy as np


def to_uint8(x) -> np.ndarray:
    """Floats in [0, 1] (clipped; torch tensors too) or uint8 -> uint8; [N, 1, H, W] -> [N, H, W], else same shape."""
    if hasattr(x, "detach"):  # a torch tensor: no torch import needed here
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.dtype == np.uint8:
        return x
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


def cells(x) -> np.ndarray:
    """Images to show, as uint8: greyscale [N, H, W], or colour channels-last [N, H, W, 3] (from [N, 3, H, W] or
    [N, H, W, 3]); one greyscale image [H, W] becomes a stack of one (one colour image: pass [1, 3, H, W])."""
    x = to_uint8(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[1] == 3 and x.shape[-1] != 3:
        x = x.transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x)


def _upscale_cells(imgs: np.ndarray, factor: int) -> np.ndarray:
    """``upscale`` of each cell of [N, H, W] or [N, H, W, 3]."""
    if imgs.ndim == 4:
        return np.repeat(np.repeat(imgs, factor, axis=1), factor, axis=2) if factor > 1 else imgs
    return upscale(imgs, factor)


def upscale(img: np.ndarray, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling of the last two axes by an integer ``factor`` (keeps 28×28 pixels crisp)."""
    if not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor == {factor!r}, must be a positive integer.")
    if factor == 1:
        return img
    return np.repeat(np.repeat(img, factor, axis=-2), factor, axis=-1)


def mosaic(images: np.ndarray, cols: int | None = None, pad: int = 2, pad_value: int = 255, scale: int = 1):
    """Tile images [N, H, W] (uint8 or floats in [0, 1]; colour [N, 3, H, W] or [N, H, W, 3] too) row by row into
    one uint8 image.

    ``cols`` defaults to N (one row); missing cells of the last row and the ``pad`` pixels between
    cells are ``pad_value``. Each cell is upscaled by ``scale`` first. Returns uint8 [rows·(H·s+pad)-pad, ...]
    (with a last axis of 3 for colour).
    """
    if not isinstance(scale, (int, np.integer)) or scale < 1:
        raise ValueError(f"factor == {scale!r}, must be a positive integer.")
    imgs = cells(images)
    if imgs.ndim not in (3, 4) or len(imgs) == 0:
        raise ValueError(f"images of shape {np.shape(images)}, must be a non-empty [N, H, W] stack.")
    imgs = _upscale_cells(imgs, scale)
    n, h, w = imgs.shape[:3]
    cols = n if cols is None else cols
    if cols < 1:
        raise ValueError(f"cols == {cols}, must be >= 1.")
    rows = -(-n // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, *imgs.shape[3:]), pad_value, dtype=np.uint8)
    for i, img in enumerate(imgs):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = img
    return out


@functools.lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's bundled scalable font: no system fonts needed


def _rgb(color: str) -> tuple[int, int, int]:
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _fit(draw, text: str, font, width: int) -> str:
    """``text``, cut with an ellipsis so that it fits ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _wrap(draw, line: str, font, width: int) -> list[str]:
    """``line`` broken at spaces and after '/' or '-' into lines that fit ``width`` pixels ("T-shirt/top" in a 56 px
    cell: "T-shirt/", "top"); a word wider than ``width`` on its own stays whole (``_fit`` cuts it later)."""
    if draw.textlength(line, font=font) <= width:
        return [line]
    import re

    words = [w for w in re.split(r"(?<=[/\-])|(?= )", line) if w]
    out: list[str] = []
    for word in words:
        if out and draw.textlength(out[-1] + word, font=font) <= width:
            out[-1] += word
        else:
            out.append(word.lstrip(" "))
    return [w for w in out if w] or [line]


def annotated_grid(
    rows: list[np.ndarray],
    row_labels: list[str] | None = None,
    captions: list[list[str]] | None = None,
    bars: list[list[str | None]] | None = None,
    scale: int = 3,
    pad: int = 6,
    font_size: int = 13,
    label_width: int | None = None,
) -> np.ndarray:
    """One RGB image: rows of cells ([N_i, H, W] each, uint8 or floats in [0, 1]), nearest-neighbour upscaled.

    Optional, per row: a label on the left; per cell: a caption under it and a colour bar (hex, e.g. the
    class colour) between image and caption. Labels and captions may span lines; a caption line wider than its cell
    wraps at spaces, '/' and '-' (and a single word still too wide is cut with "…"). Text is drawn with Pillow's
    bundled font, so the grid looks the same on every machine. Returns uint8 [H', W', 3].
    """
    from PIL import Image, ImageDraw

    rows = [cells(r) for r in rows]
    if not rows or any(r.ndim not in (3, 4) or len(r) == 0 for r in rows):
        raise ValueError("rows must be a non-empty list of non-empty [N, H, W] stacks.")
    h, w = rows[0].shape[1] * scale, rows[0].shape[2] * scale
    cols = max(len(r) for r in rows)
    font = _font(font_size)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    if row_labels and label_width is None:
        lines = [line for label in row_labels for line in label.split("\n")]
        label_width = int(max(probe.textlength(line, font=font) for line in lines)) + 2 * pad
    label_width = label_width if row_labels else 0
    if captions:  # a caption line too wide for its cell wraps onto more lines rather than losing its end
        captions = [["\n".join(x for ln in c.split("\n") for x in _wrap(probe, ln, font, w)) if c else c for c in row]
                    for row in captions]  # fmt: skip
    bar_h = 5 if bars else 0
    row_bar = [bar_h if bars and any(bars[r]) else 0 for r in range(len(rows))]
    heights = []  # per row: image, bar, and as many caption lines as its longest caption
    for r in range(len(rows)):
        lines = max((c.count("\n") + 1 for c in (captions[r] if captions else []) if c), default=0)
        heights.append(h + row_bar[r] + (lines * (font_size + 3) + 4 if lines else 0) + pad)
    canvas = Image.new("RGB", (label_width + cols * (w + pad) + pad, sum(heights) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    for r, row_cells in enumerate(rows):
        top = pad + sum(heights[:r])
        if row_labels:
            label = row_labels[r]
            n_lines = label.count("\n") + 1
            text_top = top + (h - n_lines * (font_size + 4)) // 2
            draw.multiline_text((pad, text_top), label, fill=(40, 40, 40), font=font, spacing=4)
        for c, cell in enumerate(_upscale_cells(row_cells, scale)):
            left = label_width + pad + c * (w + pad)
            canvas.paste(Image.fromarray(cell).convert("RGB"), (left, top))
            color = bars[r][c] if bars and c < len(bars[r]) else None
            if color:
                draw.rectangle((left, top + h + 1, left + w - 1, top + h + bar_h - 1), fill=_rgb(color))
            if captions and c < len(captions[r]) and captions[r][c]:
                for i, line in enumerate(captions[r][c].split("\n")):
                    text = _fit(draw, line, font, w)
                    x = left + (w - draw.textlength(text, font=font)) / 2
                    draw.text((x, top + h + row_bar[r] + 2 + i * (font_size + 3)), text, fill=(70, 70, 70), font=font)
    return np.asarray(canvas)
