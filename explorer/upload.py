"""A user's picture -> a Fashion-MNIST-like input (float32 [28, 28] in [0, 1]), entirely in memory.

The steps follow how the dataset was made (Xiao, Rasul & Vollgraf 2017, "Fashion-MNIST", section 2): trim the
edges that have the background's colour, resize the longest edge to 28, centre on a 28×28 canvas, negate (the
product photos are on white, the dataset's objects are light on black), greyscale. We estimate the background
from the border instead of assuming white, so a photo already on a dark background is not negated, and we stretch
the contrast so the brightest pixel is 1 as in most dataset images.

Every way a file can be bad ends in one ``UploadError`` whose message says what to do; nothing is written to disk.
``upload_view`` then puts the prepared picture through a model: what the pages show of it.
"""

from __future__ import annotations

import io
import threading
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageOps

from .denoise import DenoiseResult, denoise
from .neighbours import Neighbours, knn

SIZE = 28
MAX_BYTES = 5 * 2**20  # matches server.maxUploadSize = 5 in .streamlit/config.toml
# Far above any photo a phone takes by default (12-48 MP) and far below what would exhaust memory when several
# users upload at once: a 40 MP RGB image decodes to 120 MB.
MAX_PIXELS = 40_000_000
WORK_SIDE = 1024  # images are reduced to this longest side before any float work (the result is 28 px anyway)
PREVIEW_SIDE = 256
FORMATS = ("PNG", "JPEG", "MPO", "WEBP", "GIF", "BMP", "DIB", "TIFF")  # never EPS/PDF etc. (they run interpreters)
ACCEPTED = "PNG, JPEG, WebP, GIF, BMP or TIFF"
# The paper trims edges "close to the colour of the corner pixels ... within 5% of the maximum intensity".
TRIM_TOLERANCE = 0.05

# A plain background (product photo, scan) has a border of nearly one colour: its 10th-90th percentile spread is a
# few % of the range even in a JPEG. A photo's gradient, shadow or room spans far more, and survives as a haze.
CLUTTER_SPREAD = 0.25
CLUTTERED = (
    "The background is not plain (its edges vary from dark to light): the models expect a single item on a plain "
    "background, as in Fashion-MNIST, so expect a haze and a poor match. Crop to the item or photograph it on a "
    "plain sheet; below is what the model actually sees."
)

_open_lock = threading.Lock()  # warnings.catch_warnings is process-wide state: one thread at a time in it


class UploadError(ValueError):
    """An uploaded file that cannot be turned into an input; the message says why and what to do."""


@dataclass(frozen=True)
class PreparedImage:
    """The model input (float32 [28, 28] in [0, 1]), a small RGB preview of the original and what was done."""

    image: np.ndarray
    original_preview: np.ndarray  # uint8 [h, w, 3], longest side <= PREVIEW_SIDE
    notices: list[str] = field(default_factory=list)
    original_size: tuple[int, int] = (0, 0)  # (width, height) as stored in the file
    format: str = ""
    cluttered: bool = False  # the background is not plain (``background_spread``): the result is unreliable


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"\xff\xd8\xff": "JPEG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
}


def _sniff(data: bytes) -> str | None:
    """The format a file's first bytes announce, or None (tells a damaged image from something else)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), None)


def _open(data: bytes) -> Image.Image:
    """Read the header only (no pixels decoded); refuses decompression bombs before any allocation."""
    with _open_lock, warnings.catch_warnings():
        # Pillow warns above Image.MAX_IMAGE_PIXELS and raises above twice that; both become our error, and the
        # global limit is left as it is.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            Image.init()  # registers every plugin; open() with ``formats`` looks each one up
            im = Image.open(io.BytesIO(data), formats=[f for f in FORMATS if f in Image.OPEN])
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise UploadError(
                f"The image is far too large in pixels (more than {Image.MAX_IMAGE_PIXELS:,}; the limit is "
                f"{MAX_PIXELS:,}): it may be a decompression bomb. Upload a picture of at most "
                f"{MAX_PIXELS // 1_000_000} megapixels."
            ) from None
        except Image.UnidentifiedImageError:
            kind = _sniff(data)
            if kind:
                raise UploadError(
                    f"This file starts like a {kind} but its header is truncated or corrupt. Re-save or re-export the "
                    "picture and upload it again."
                ) from None
            raise UploadError(f"This file is not an image that can be read. Upload a {ACCEPTED} picture.") from None
        except Exception as e:  # a malformed header can raise almost anything (SyntaxError, struct.error, ...)
            raise UploadError(
                f"The image header is damaged ({type(e).__name__}). Re-save the picture as PNG or JPEG and upload "
                "it again."
            ) from None
    w, h = im.size
    if w < 1 or h < 1 or w * h > MAX_PIXELS:
        raise UploadError(
            f"The image claims {w:,}×{h:,} pixels, over the limit of {MAX_PIXELS:,} ({MAX_PIXELS // 1_000_000} MP): "
            "it may be a decompression bomb. Resize it to at most a few thousand pixels a side and upload it again."
        )
    return im


def _decode(im: Image.Image, notices: list[str]) -> Image.Image:
    """First frame, EXIF-rotated, decoded and reduced to WORK_SIDE; raises UploadError on truncated/corrupt data."""
    n_frames = getattr(im, "n_frames", 1) if getattr(im, "is_animated", False) else 1
    if n_frames > 1:
        kind = "animated GIF" if im.format == "GIF" else f"{im.format} with {n_frames} frames"
        notices.append(f"{kind}: used the first frame" + (f" of {n_frames}" if im.format == "GIF" else ""))
        im.seek(0)
    if im.format in ("JPEG", "MPO"):
        im.draft(None, (WORK_SIDE, WORK_SIDE))  # decode at 1/2..1/8 scale straight away: less memory and time
    try:
        im.load()
        orientation = im.getexif().get(0x0112, 1)
    except Exception as e:  # decoders report damage as OSError, SyntaxError, ValueError, EOFError, ...
        raise UploadError(
            f"The image data is truncated or corrupt ({str(e)[:80] or type(e).__name__}). "
            "Re-save or re-export the picture and upload it again."
        ) from None
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block: keep the stored orientation, say so
            notices.append("EXIF orientation could not be read: used the image as stored")
        else:
            notices.append(f"EXIF orientation applied (tag {orientation})")
    if max(im.size) > WORK_SIDE:
        im = _to_workable_mode(im)
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BOX)
    return im


def _to_workable_mode(im: Image.Image) -> Image.Image:
    """Modes Pillow can resize and we can read: L, LA, RGB, RGBA, I (16/32-bit integers) or F."""
    mode = im.mode
    if mode in ("L", "LA", "RGB", "RGBA", "I", "F"):
        return im
    if mode.startswith("I;16"):
        return im.convert("I")
    if mode == "P" or mode == "PA":
        return im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
    if mode == "1":
        return im.convert("L")
    if mode in ("La",):
        return im.convert("LA")
    if mode in ("RGBa", "RGBX"):
        return im.convert("RGBA" if mode == "RGBa" else "RGB")
    return im.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _grey_alpha(
    im: Image.Image, source_mode: str, notices: list[str]
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """-> grey float32 [H, W] in [0, 1] (ITU-R 601 luma), alpha [H, W] in [0, 1] or None, preview uint8 RGB."""
    im = _to_workable_mode(im)
    if source_mode == "CMYK":
        notices.append("CMYK image: converted to RGB")
    alpha = None
    if im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        if im.mode == "I" and lo >= 0 and hi <= 65535:
            notices.append("16-bit image: scaled to 8-bit range")
            a = a / (65535.0 if hi > 255 else 255.0)
        else:  # 32-bit integers or floats: their range is whatever the file used
            notices.append(f"{'floating-point' if im.mode == 'F' else '32-bit'} image: stretched to its own range")
            a = (np.nan_to_num(a, nan=lo) - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        grey = a.astype(np.float32)
        shown = grey * 255.0
    else:
        arr = np.asarray(im, dtype=np.float32) / 255.0
        if im.mode in ("LA", "RGBA"):
            arr, alpha = arr[..., :-1], arr[..., -1]
        if im.mode == "LA":
            arr = arr[..., 0]
        grey = arr if arr.ndim == 2 else arr @ np.float32([0.299, 0.587, 0.114])
        shown = arr * 255.0
    preview = _preview(shown, alpha)
    if alpha is not None and alpha.min() > 0.99:
        alpha = None  # an alpha channel that is opaque everywhere says nothing
    return grey.astype(np.float32), alpha, preview


def _preview(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Floats 0-255 [H, W] or [H, W, 3] -> uint8 RGB, transparency composited onto white, longest side <= 256."""
    p = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=-1)
    if alpha is not None:
        p = p * alpha[..., None] + 255.0 * (1.0 - alpha[..., None])
    im = Image.fromarray(np.clip(np.rint(p), 0, 255).astype(np.uint8), "RGB")
    im.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.LANCZOS)
    return np.asarray(im)


def _border(a: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels (about 2% of the side, at least 1)."""
    h, w = a.shape
    t = max(1, min(h, w) // 50)
    return np.concatenate([a[:t].ravel(), a[-t:].ravel(), a[:, :t].ravel(), a[:, -t:].ravel()])


def background_spread(grey: np.ndarray) -> float:
    """How much the picture's border varies, greyscale [H, W] in [0, 1]: the 10th-90th percentile range of its
    outer ring (0 for a plain background; above ``CLUTTER_SPREAD``, a cluttered one)."""
    lo, hi = np.percentile(_border(grey), [10, 90])
    return float(hi - lo)


def _object_light_on_dark(grey: np.ndarray, alpha: np.ndarray | None, notices: list[str]) -> np.ndarray:
    """Intensity with the background at 0 and the object bright, float32 [H, W] in [0, 1]."""
    if alpha is not None:
        # Transparency marks the background. Like the dataset (objects photographed on white, then negated), dark
        # objects become bright; an object that is itself light would vanish that way, so it keeps its brightness.
        negated, kept = alpha * (1.0 - grey), alpha * grey
        opaque = alpha > 0.5
        if opaque.any() and negated[opaque].mean() < 0.15 and kept[opaque].mean() > negated[opaque].mean():
            notices.append("transparent background: used as the dark background (light object kept light)")
            return kept.astype(np.float32)
        notices.append("transparent background: used as the dark background, object negated as in Fashion-MNIST")
        return negated.astype(np.float32)
    bg = float(np.median(_border(grey)))
    if bg > 0.5:
        notices.append("light background: inverted (Fashion-MNIST objects are light on black)")
        grey, bg = 1.0 - grey, 1.0 - bg
    hi = float(grey.max())
    if hi - bg < 1e-6:
        return np.zeros_like(grey, dtype=np.float32)
    return np.clip((grey - bg) / (hi - bg), 0.0, 1.0).astype(np.float32)


def _fit(v: np.ndarray, notices: list[str]) -> np.ndarray:
    """Trim to the object, resize its longest edge to 28 keeping the aspect ratio, centre on 28×28."""
    # A row or column belongs to the object when enough of it differs from the background: single noisy or JPEG-
    # ringing pixels (a few % of the range) must not stop the trimming.
    mask = v > 2 * TRIM_TOLERANCE
    rows = np.flatnonzero(mask.sum(axis=1) >= max(1, mask.shape[1] // 200))
    cols = np.flatnonzero(mask.sum(axis=0) >= max(1, mask.shape[0] // 200))
    if len(rows) == 0 or len(cols) == 0:  # only scattered faint pixels: fall back to any pixel
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    v = v[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    h, w = v.shape
    scale = SIZE / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if max(h, w) < SIZE // 2:
        notices.append(f"small object ({w}×{h} px): enlarged to fit 28×28, expect a blocky input")
    if max(h, w) / min(h, w) > 8:
        notices.append(f"very elongated object ({w}×{h} px): it becomes a thin strip")
    filt = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(v.astype(np.float32), "F").resize((nw, nh), filt), dtype=np.float32)
    out = np.zeros((SIZE, SIZE), np.float32)
    # An odd margin puts its extra pixel above / on the left, as the dataset's images have it.
    top, left = (SIZE - nh + 1) // 2, (SIZE - nw + 1) // 2
    out[top : top + nh, left : left + nw] = np.clip(small, 0.0, 1.0)
    peak = float(out.max())
    return out / peak if peak > 0 else out


def prepare_upload(data: bytes, filename: str | None = None, max_bytes: int = MAX_BYTES) -> PreparedImage:
    """An uploaded file's bytes -> a Fashion-MNIST-like input [28, 28] and a preview; raises UploadError."""
    name = f"'{filename}' " if filename else ""
    if data is None or len(data) == 0:
        raise UploadError(f"The file {name}is empty (0 bytes). Upload a {ACCEPTED} picture.")
    if len(data) > max_bytes:
        raise UploadError(
            f"The file {name}is {_mb(len(data))}, over the {_mb(max_bytes)} limit. Resize or compress it (a JPEG of "
            "a few hundred pixels is plenty: it becomes 28×28) and upload it again."
        )
    notices: list[str] = []
    im = _open(bytes(data))
    size, fmt, mode = im.size, im.format or "", im.mode
    try:
        im = _decode(im, notices)
        grey, alpha, preview = _grey_alpha(im, mode, notices)
    finally:
        im.close()
    cluttered = alpha is None and background_spread(grey) > CLUTTER_SPREAD
    v = _object_light_on_dark(grey, alpha, notices)
    if float(v.max()) <= 2 * TRIM_TOLERANCE:
        raise UploadError(
            f"The image {name}({size[0]}×{size[1]} px) is one flat colour: there is no object to encode. Upload a "
            "picture of a garment, shoe or bag."
        )
    return PreparedImage(_fit(v, notices), preview, notices, size, fmt, cluttered)


# ------------------------------------------------------------------------------ through a model


@dataclass(frozen=True)
class UploadView:
    """What a page shows for an uploaded picture. Images are float32 [28, 28] in [0, 1]."""

    image: np.ndarray  # the model's input, as ``prepare_upload`` made it
    reconstruction: np.ndarray
    error: float  # per-pixel MSE of the reconstruction
    code: np.ndarray | None = None  # [D], with a projection
    neighbours: Neighbours | None = None  # the nearest test items, with a projection
    xy: np.ndarray | None = None  # [2]: where it falls on the map, with a projection
    denoised: DenoiseResult | None = None  # with a noise amount: noised, cleaned, beside the 3×3 median


def upload_view(
    model, image: np.ndarray, proj=None, k: int = 10, map_coords=None, noise: float | None = None, seed: int = 0
) -> UploadView:
    """An uploaded picture (float32 [28, 28] in [0, 1]) through a model: its reconstruction, and optionally more.

    ``proj``: the model's test projection: adds the code, the ``k`` nearest test items and the place on the map
    (``explorer.projection.place``; ``map_coords`` [10000, 2]: the test items' coordinates on the map shown, when
    it is not ``proj``'s own). ``noise``: a salt-and-pepper amount: adds the picture noised (seeded) and cleaned.
    """
    from .inference import as_unit, encode, reconstruct
    from .projection import place

    image = as_unit(image)
    if image.shape != (SIZE, SIZE):
        raise ValueError(f"image of shape {image.shape}: expected [{SIZE}, {SIZE}], as prepare_upload makes it.")
    recon = reconstruct(model, image)[0]
    extra = {}
    if proj is not None:
        code = encode(model, image)[0]
        idx, dist = knn(proj.search, code, k)
        on_map = proj if map_coords is None else replace(proj, coords=np.asarray(map_coords, dtype=np.float32))
        extra.update(code=code, neighbours=Neighbours(proj.variant, idx, dist), xy=place(code, on_map))
    if noise is not None:
        extra["denoised"] = denoise(model, image[None], noise, seed)
    return UploadView(image, recon, float(((recon - image) ** 2).mean()), **extra)
