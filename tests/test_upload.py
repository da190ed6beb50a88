"""prepare_upload on real files made here with Pillow: every format, mode and kind of bad file the issue lists."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from explorer.upload import MAX_PIXELS, PREVIEW_SIDE, UploadError, prepare_upload


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def tight_items(fmnist, n: int = 4) -> list[int]:
    """Test items whose object already fills 28 px and has no faint edge: the pipeline should give them back."""
    out = []
    for i in range(200):
        v = fmnist.test.images[i]
        strong, anyv = v > 26, v > 0
        box = [np.flatnonzero(m.any(axis=a))[[0, -1]].tolist() for m in (strong, anyv) for a in (1, 0)]
        if box[:2] == box[2:] and 27 in (box[0][1] - box[0][0], box[1][1] - box[1][0]):
            out.append(i)
        if len(out) == n:
            return out
    raise AssertionError("no tight items among the first 200")


def product_photo(item: np.ndarray, scale: int = 8) -> np.ndarray:
    """A dataset item as the product photo it came from: dark object on white, upscaled, off-centre margins."""
    photo = 255 - np.kron(item, np.ones((scale, scale), np.uint8))
    return np.pad(photo, ((30, 50), (70, 20)), constant_values=255)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def check_input(p) -> None:
    assert p.image.shape == (28, 28) and p.image.dtype == np.float32
    assert p.image.min() >= 0.0 and p.image.max() == pytest.approx(1.0)
    assert p.original_preview.dtype == np.uint8 and p.original_preview.ndim == 3 and p.original_preview.shape[2] == 3
    assert max(p.original_preview.shape[:2]) <= PREVIEW_SIDE


@pytest.fixture(scope="module")
def item(fmnist):
    return fmnist.test.images[tight_items(fmnist, 1)[0]]


# ------------------------------------------------------------------------------------------- good files


@pytest.mark.parametrize(
    "fmt, save_kw, min_corr",
    [
        ("PNG", {}, 0.999),
        ("BMP", {}, 0.999),
        ("TIFF", {}, 0.999),
        ("TIFF", {"compression": "tiff_lzw"}, 0.999),
        ("WEBP", {"lossless": True}, 0.999),
        ("WEBP", {"quality": 80}, 0.97),
        ("JPEG", {"quality": 85}, 0.97),
        ("GIF", {}, 0.99),
    ],
)
def test_product_photo_gives_back_the_dataset_item(fmnist, fmt, save_kw, min_corr):
    for i in tight_items(fmnist):
        item = fmnist.test.images[i]
        rgb = np.repeat(product_photo(item)[..., None], 3, axis=-1)
        p = prepare_upload(encode(Image.fromarray(rgb), fmt, **save_kw), f"item.{fmt.lower()}")
        check_input(p)
        assert any("light background: inverted" in n for n in p.notices)
        assert corr(p.image, item) >= min_corr, (i, fmt)
        # The preview is the original (dark object on white), not the processed input.
        assert p.original_preview[0, 0].min() > 240


def test_dark_background_is_not_inverted(item):
    photo = 255 - product_photo(item)  # light object on black, as the dataset stores it
    p = prepare_upload(encode(Image.fromarray(photo), "PNG"))
    check_input(p)
    assert not any("inverted" in n for n in p.notices)
    assert corr(p.image, item) > 0.999


def test_grey_dark_background_is_stretched_to_zero(item):
    photo = (60 + (255 - product_photo(item)).astype(np.float32) * 0.5).astype(np.uint8)  # bg 60, peak ~187
    p = prepare_upload(encode(Image.fromarray(photo), "PNG"))
    assert p.image[0, 0] == 0.0 and p.image.max() == pytest.approx(1.0)
    assert corr(p.image, item) > 0.999


def test_animated_gif_uses_first_frame(item):
    first = Image.fromarray(255 - product_photo(item)).convert("P")
    second = Image.fromarray(np.rot90(255 - product_photo(item)).copy()).convert("P").resize(first.size)
    data = encode(first, "GIF", save_all=True, append_images=[second], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    p = prepare_upload(data, "anim.gif")
    assert "animated GIF: used the first frame of 2" in p.notices
    assert corr(p.image, item) > 0.99


def test_animated_webp_uses_first_frame(item):
    frames = [Image.fromarray(255 - product_photo(item)).convert("RGB"), Image.new("RGB", (314, 304), "white")]
    data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    p = prepare_upload(data)
    assert any("used the first frame" in n for n in p.notices)
    assert corr(p.image, item) > 0.99


def test_16bit_greyscale_png(item):
    photo16 = (255 - product_photo(item)).astype(np.uint16) * 257  # full 16-bit range
    im = Image.fromarray(photo16)
    assert im.mode.startswith("I;16")
    data = encode(im, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")  # still 16-bit after the round trip
    p = prepare_upload(data)
    check_input(p)
    assert "16-bit image: scaled to 8-bit range" in p.notices
    assert corr(p.image, item) > 0.999


def test_16bit_on_white_is_inverted(item):
    photo16 = product_photo(item).astype(np.uint16) * 257
    p = prepare_upload(encode(Image.fromarray(photo16), "TIFF"))
    assert any("inverted" in n for n in p.notices)
    assert corr(p.image, item) > 0.999


def test_float_tiff(item):
    im = Image.fromarray((255 - product_photo(item)).astype(np.float32) / 255.0 * 7.0 - 2.0, "F")
    p = prepare_upload(encode(im, "TIFF"))
    assert any("floating-point" in n for n in p.notices)
    assert corr(p.image, item) > 0.999


def test_cmyk_jpeg(item):
    im = Image.fromarray(np.repeat(product_photo(item)[..., None], 3, -1)).convert("CMYK")
    data = encode(im, "JPEG", quality=90)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    p = prepare_upload(data, "print.jpg")
    check_input(p)
    assert "CMYK image: converted to RGB" in p.notices
    assert corr(p.image, item) > 0.97


def test_palette_with_transparency():
    im = Image.new("P", (120, 80), 0)
    im.putpalette([255, 0, 255] + [20, 20, 20] + [0, 0, 0] * 254)  # index 0 magenta (transparent), 1 near-black
    im.paste(1, (30, 20, 90, 60))  # a dark 60×40 block
    data = encode(im, "PNG", transparency=0)
    assert Image.open(io.BytesIO(data)).info.get("transparency") == 0
    p = prepare_upload(data, "icon.png")
    check_input(p)
    assert any("transparent background" in n for n in p.notices)
    # The block is 3:2, so it fills 28 columns and ~19 rows; the magenta (transparent) area is background 0.
    rows = np.flatnonzero(p.image.max(axis=1) > 0.5)
    assert p.image.max(axis=0).min() > 0.5 and 17 <= len(rows) <= 20
    assert p.image[0].max() == 0.0 and p.image[-1].max() == 0.0
    # The preview composites transparency onto white, not magenta.
    assert p.original_preview[0, 0].tolist() == [255, 255, 255]


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_dark_object_becomes_light(item, mode):
    obj = product_photo(item)
    alpha = np.where(obj < 250, 255, 0).astype(np.uint8)  # the object opaque, the white around it transparent
    grey = np.where(alpha > 0, obj, 0).astype(np.uint8)  # transparent pixels black: their colour must not matter
    channels = [grey, grey, grey, alpha] if mode == "RGBA" else [grey, alpha]
    im = Image.fromarray(np.stack(channels, -1), mode)
    p = prepare_upload(encode(im, "PNG"))
    check_input(p)
    assert any("transparent background: used as the dark background, object negated" in n for n in p.notices)
    assert corr(p.image, item) > 0.98


def test_alpha_light_object_stays_light():
    rgba = np.zeros((60, 60, 4), np.uint8)
    rgba[10:50, 20:40] = [250, 250, 250, 255]  # a white object on a transparent background
    p = prepare_upload(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert any("light object kept light" in n for n in p.notices)
    assert p.image[14, 14] == pytest.approx(1.0) and p.image[0, 0] == 0.0


def test_exif_rotation_is_applied():
    # Stored: a wide bar with a bright end on the left. Orientation 6 = "rotate 90° clockwise to display",
    # so the displayed bar is tall with its bright end at the top.
    stored = np.full((100, 200), 255, np.uint8)
    stored[40:60, 20:180] = 120
    stored[40:60, 20:60] = 0
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    data = encode(im, "JPEG", quality=95, exif=exif.tobytes())
    p = prepare_upload(data, "phone.jpg")
    assert "EXIF orientation applied (tag 6)" in p.notices
    on = p.image > 0.3
    assert np.ptp(np.flatnonzero(on.any(axis=1))) > 3 * np.ptp(np.flatnonzero(on.any(axis=0)))  # tall, not wide
    rows = np.flatnonzero(on.any(axis=1))
    profile = p.image.sum(axis=1)
    assert profile[rows[0] : rows[0] + 5].mean() > 1.5 * profile[rows[-1] - 4 : rows[-1] + 1].mean()  # bright end up
    assert p.original_preview.shape[0] > p.original_preview.shape[1]  # the preview is rotated too


def test_exif_orientation_1_is_silent(item):
    im = Image.fromarray(product_photo(item))
    exif = im.getexif()
    exif[0x0112] = 1
    p = prepare_upload(encode(im, "JPEG", exif=exif.tobytes()))
    assert not any("EXIF" in n for n in p.notices)


def test_bilevel_bmp():
    im = Image.new("1", (40, 64), 1)
    im.paste(0, (10, 8, 30, 56))
    p = prepare_upload(encode(im, "BMP"))
    check_input(p)
    assert p.image[14, 14] == pytest.approx(1.0) and p.image[14, 0] == 0.0


def test_tiny_image_is_enlarged():
    im = Image.fromarray(np.array([[255, 0, 255], [255, 0, 255]], np.uint8))
    p = prepare_upload(encode(im, "PNG"))
    check_input(p)
    assert any("small object" in n for n in p.notices)


@pytest.mark.parametrize("shape", [(10, 2000), (2000, 10)])
def test_extreme_aspect_ratio_becomes_a_strip(shape):
    a = np.zeros(shape, np.uint8)
    a[2:-2, 2:-2] = 200
    p = prepare_upload(encode(Image.fromarray(a), "PNG"))
    check_input(p)
    assert any("very elongated" in n for n in p.notices)
    on = p.image > 0.5
    extent_r, extent_c = on.any(axis=1).sum(), on.any(axis=0).sum()
    assert sorted([extent_r, extent_c]) == [1, 28]


def test_large_image_is_reduced_not_refused(item):
    rng = np.random.default_rng(0)
    photo = np.kron(255 - item, np.ones((100, 100), np.uint8))  # 2800×2800
    photo = np.clip(photo.astype(np.int16) + rng.integers(-3, 4, photo.shape), 0, 255).astype(np.uint8)
    p = prepare_upload(encode(Image.fromarray(photo), "JPEG", quality=90), max_bytes=50 * 2**20)
    check_input(p)
    assert p.original_size == (2800, 2800)
    assert corr(p.image, item) > 0.97


# -------------------------------------------------------------------------------------------- bad files


def test_one_pixel_is_refused():
    with pytest.raises(UploadError, match=r"\(1×1 px\) is one flat colour.*Upload a picture"):
        prepare_upload(encode(Image.new("RGB", (1, 1), (10, 200, 30)), "PNG"), "dot.png")


def test_flat_colour_is_refused():
    with pytest.raises(UploadError, match="one flat colour"):
        prepare_upload(encode(Image.new("L", (300, 200), 255), "JPEG"))


def png_claiming(width: int, height: int) -> bytes:
    """A valid, tiny PNG whose header claims width×height (the pixels are never allocated)."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = 8  # after the signature: length(4) 'IHDR'(4) then width, height
    data[ihdr + 8 : ihdr + 16] = struct.pack(">II", width, height)
    body = bytes(data[ihdr + 4 : ihdr + 8 + 13])
    data[ihdr + 8 + 13 : ihdr + 8 + 17] = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("side", [30_000, 10_000, 7_000])  # above 2× Pillow's limit, between 1× and 2×, ours only
def test_decompression_bomb_is_refused_before_decoding(side):
    data = png_claiming(side, side)
    assert len(data) < 100
    limit = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning may escape
        with pytest.raises(UploadError, match="decompression bomb"):
            prepare_upload(data, "bomb.png")
    assert Image.MAX_IMAGE_PIXELS == limit  # the global setting is untouched
    assert side * side > MAX_PIXELS


def test_truncated_png(item):
    data = encode(Image.fromarray(product_photo(item)), "PNG")
    with pytest.raises(UploadError, match="truncated or corrupt.*upload it again"):
        prepare_upload(data[: len(data) // 2])


def test_truncated_jpeg(item):
    data = encode(Image.fromarray(product_photo(item)), "JPEG")
    with pytest.raises(UploadError, match="truncated or corrupt"):
        prepare_upload(data[: len(data) // 2])


def test_corrupt_png_data(item):
    data = bytearray(encode(Image.fromarray(product_photo(item)), "PNG"))
    start = data.index(b"IDAT") + 40
    data[start : start + 64] = bytes(64)  # zeroes in the middle of the compressed stream
    with pytest.raises(UploadError, match="truncated or corrupt"):
        prepare_upload(bytes(data))


def test_header_only():
    data = encode(Image.new("L", (50, 50), 128), "PNG")
    with pytest.raises(UploadError, match="starts like a PNG but its header is truncated or corrupt"):
        prepare_upload(data[:40])


def test_zero_bytes():
    with pytest.raises(UploadError, match=r"'empty.png' is empty \(0 bytes\)"):
        prepare_upload(b"", "empty.png")


def test_random_bytes():
    data = np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(UploadError, match="not an image that can be read. Upload a PNG, JPEG"):
        prepare_upload(data, "noise.png")


def test_text_file():
    with pytest.raises(UploadError, match="not an image"):
        prepare_upload(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "vector.svg")


def test_format_outside_the_list_is_refused(item):
    # Pillow reads PPM, but uploads accept only the listed formats (EPS, PDF and friends can run interpreters).
    with pytest.raises(UploadError, match="not an image"):
        prepare_upload(encode(Image.fromarray(product_photo(item)), "PPM"))


def test_over_the_size_limit(item):
    data = encode(Image.fromarray(product_photo(item)), "PNG")
    with pytest.raises(UploadError, match=r"'big.png' is 0\.0 MB, over the 0\.0 MB limit. Resize or compress"):
        prepare_upload(data, "big.png", max_bytes=len(data) - 1)
    prepare_upload(data, "big.png", max_bytes=len(data))  # exactly at the limit is fine


def test_default_limit_is_five_megabytes():
    data = np.random.default_rng(1).integers(0, 256, 5 * 2**20 + 1, dtype=np.uint8).tobytes()
    with pytest.raises(UploadError, match=r"5\.0 MB, over the 5\.0 MB limit"):
        prepare_upload(data)


def gradient_photo(fmnist) -> bytes:
    """Test item 3 as a phone photo: dark on a background that goes from dark grey to white, as a JPEG."""
    garment = 255 - np.kron(fmnist.test.images[3], np.ones((8, 8), np.uint8)).astype(float)
    h, w = garment.shape[0] + 80, garment.shape[1] + 90
    ramp = np.linspace(60, 250, w)[None, :] * np.linspace(0.8, 1.0, h)[:, None]
    photo = ramp.copy()
    obj = garment < 250
    photo[40 : 40 + garment.shape[0], 45 : 45 + garment.shape[1]][obj] = garment[obj]
    return encode(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8)), "JPEG", quality=85)


def test_a_cluttered_background_is_detected(fmnist, photo_png):
    from explorer.upload import CLUTTER_SPREAD, background_spread

    cluttered = prepare_upload(gradient_photo(fmnist), "phone.jpg")
    assert cluttered.cluttered
    clean = prepare_upload(photo_png, "photo.png")
    assert not clean.cluttered
    assert background_spread(np.full((50, 60), 0.9)) == 0 < CLUTTER_SPREAD


def _scene(fmnist, background: str) -> bytes:
    """Test item 3 (dark on light, 8× larger) on a background of one kind, as the bytes a user would upload."""
    garment = 255 - np.kron(fmnist.test.images[3], np.ones((8, 8), np.uint8)).astype(float)
    h, w = garment.shape[0] + 80, garment.shape[1] + 90
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    top, left, fmt, mode = 40, 45, "PNG", "L"
    if background == "white":
        photo = np.full((h, w), 255.0)
    elif background == "black":
        photo, garment = np.zeros((h, w)), 255 - garment
    elif background == "white, JPEG q=40":
        photo, fmt = np.full((h, w), 250.0), "JPEG"
    elif background == "sensor noise":
        photo, fmt = 240 + rng.normal(0, 4, (h, w)), "JPEG"
    elif background == "soft vignette":
        photo = 255 - 40 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
    elif background == "touches the bottom":
        top = h - garment.shape[0]
        photo = np.full((h, w), 255.0)
    elif background == "horizontal gradient":
        photo, fmt = np.linspace(60, 250, w)[None, :] * np.linspace(0.8, 1.0, h)[:, None], "JPEG"
    elif background == "vertical gradient":
        photo = np.repeat(np.linspace(40, 255, h)[:, None], w, axis=1)
    elif background == "textured (wood, fabric)":
        photo, fmt = 150 + 60 * np.sin(xx * 60 + 3 * np.sin(yy * 20)) + rng.normal(0, 15, (h, w)), "JPEG"
    elif background == "a shadow over half":
        photo = np.where(xx < 0.5, 110.0, 245.0)
    elif background == "a room (blocks of colour)":
        photo, mode = rng.integers(0, 255, (4, 5, 3)).repeat(h // 4 + 1, 0).repeat(w // 5 + 1, 1)[:h, :w], "RGB"
    else:
        raise ValueError(background)
    if mode == "RGB":
        photo = photo.astype(float)
        photo[top : top + garment.shape[0], left : left + garment.shape[1]][garment < 250] = garment[
            garment < 250, None
        ]
    else:
        photo[top : top + garment.shape[0], left : left + garment.shape[1]][garment < 250] = garment[garment < 250]
        if background == "black":
            obj = garment > 5
            photo[top : top + garment.shape[0], left : left + garment.shape[1]][obj] = garment[obj]
    kw = {"quality": 40 if "q=40" in background else 85} if fmt == "JPEG" else {}
    return encode(Image.fromarray(np.clip(photo, 0, 255).astype(np.uint8), mode), fmt, **kw)


@pytest.mark.parametrize(
    "background, cluttered",
    [
        ("white", False),
        ("black", False),
        ("white, JPEG q=40", False),
        ("sensor noise", False),
        ("soft vignette", False),
        ("touches the bottom", False),
        ("horizontal gradient", True),
        ("vertical gradient", True),
        ("textured (wood, fabric)", True),
        ("a shadow over half", True),
        ("a room (blocks of colour)", True),
    ],
)
def test_a_background_that_is_not_plain_is_named(fmnist, background, cluttered):
    """Issue 14, item 16: a photo-like background is said to be one (the models expect a single item on a plain
    background); a plain one, even compressed, noisy or with the item at the edge, is not."""
    from explorer.upload import CLUTTER_SPREAD, CLUTTERED, background_spread

    prepared = prepare_upload(_scene(fmnist, background), "upload")
    assert prepared.cluttered is cluttered
    assert "single item on a plain background" in CLUTTERED and "what the model actually sees" in CLUTTERED
    grey = np.asarray(Image.open(io.BytesIO(_scene(fmnist, background))).convert("L"), np.float64) / 255
    assert (background_spread(grey) > CLUTTER_SPREAD) is cluttered
