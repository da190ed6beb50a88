"""Compression with an autoencoder's code, every byte counted, beside PNG, JPEG, WebP and PCA.

The sender encodes an image to its code, quantises each number to ``bits`` bits over a range
learned on the train split, and range-codes the symbols with per-dimension categorical models
whose probabilities were counted on the train split (``constriction``). The receiver holds the
model and those tables; what it needs *per image* is the message::

    varint n (1 byte while n < 128) | n bytes: the range coder's words, big-endian, trailing part cut

Cutting the tail: the range coder's words, read as one big-endian number, may be cut after any
byte as long as the receiver, padding with zero bytes, decodes the same symbols. The sender tries
the shortest cuts (and each cut rounded up by one in its last byte) and keeps the first that
decodes exactly, so a message is within about a byte of the symbols' information content instead
of a whole number of 32-bit words. The varint says where the message ends (a receiver reading a
stream of messages needs that), and it is counted in every byte figure.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
COMPRESSION_FILE = "compression.json"
FLOOR = 0.5  # pseudo-count added to every symbol's train count (Krichevsky–Trofimov): unseen symbols stay encodable
HEADLINE_BITS = (4, 6, 8)  # the bit depths, for every model
EXTRA_BITS = (2, 3, 5, 7)  # more points on the curves of the models whose job is compression
CURVE_VARIANTS = ("dense", "sparse")
TABLE_MAX_DIM = 32  # coder tables are stored (for the dashboard's demo) for codes up to this size
JPEG_QUALITIES = (1, 5, 10, 20, 30, 50, 75, 95)
WEBP_QUALITIES = (0, 5, 10, 25, 50, 75)
PCA_DIMS = (10, 32)
BAR = {"max_bytes": 8.0, "min_psnr": 19.0}


# ------------------------------------------------------------------------------------------ quantiser


@dataclass(frozen=True)
class Quantiser:
    """Uniform per-dimension quantiser over [lo, hi] (fitted on train codes); symbols decode to bin centroids."""

    bits: int
    lo: np.ndarray  # float64 [D]
    hi: np.ndarray  # float64 [D]
    centres: np.ndarray  # float64 [D, 2**bits]: the value each symbol decodes to

    @property
    def levels(self) -> int:
        return 2**self.bits

    @property
    def dim(self) -> int:
        return len(self.lo)

    @staticmethod
    def check_bits(bits) -> int:
        if not isinstance(bits, (int, np.integer)) or not 1 <= bits <= 16:
            raise ValueError(f"bits == {bits!r}, must be an integer from 1 to 16.")
        return int(bits)

    @classmethod
    def fit(cls, codes: np.ndarray, bits: int) -> Quantiser:
        """codes: train codes [N, D] -> a quantiser with ranges [min, max] and each bin's mean as its value."""
        bits = cls.check_bits(bits)
        codes = np.asarray(codes, dtype=np.float64)
        if codes.ndim != 2 or len(codes) == 0 or not np.isfinite(codes).all():
            raise ValueError(f"codes of shape {codes.shape} (or with NaN/inf): need finite train codes [N, D].")
        lo, hi = codes.min(0), codes.max(0)
        levels = 2**bits
        step = np.where(hi > lo, (hi - lo) / (levels - 1), 1.0)
        centres = lo[:, None] + step[:, None] * np.arange(levels)[None, :]
        q = _symbols(codes, lo, hi, levels)
        for d in range(codes.shape[1]):  # the conditional mean of each bin: less distortion than its centre
            counts = np.bincount(q[:, d], minlength=levels)
            sums = np.bincount(q[:, d], weights=codes[:, d], minlength=levels)
            seen = counts > 0
            centres[d, seen] = sums[seen] / counts[seen]
        return cls(bits, lo, hi, centres)

    def symbols(self, codes: np.ndarray) -> np.ndarray:
        """codes [N, D] (or [D]) -> int32 symbols in [0, 2**bits), same shape (values outside [lo, hi] clipped)."""
        codes = np.asarray(codes, dtype=np.float64)
        if codes.shape[-1] != self.dim:
            raise ValueError(f"codes have {codes.shape[-1]} dimensions, this quantiser was fitted on {self.dim}.")
        return _symbols(codes, self.lo, self.hi, self.levels)

    def values(self, symbols: np.ndarray) -> np.ndarray:
        """symbols int [N, D] (or [D]) -> float32 codes, same shape."""
        s = np.asarray(symbols)
        return np.take_along_axis(self.centres, np.atleast_2d(s).T, axis=1).T.reshape(s.shape).astype(np.float32)

    def to_dict(self) -> dict:
        return {"bits": self.bits, "lo": self.lo.tolist(), "hi": self.hi.tolist(),
                "centres": np.round(self.centres, 7).tolist()}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> Quantiser:
        q = cls(cls.check_bits(d["bits"]), np.asarray(d["lo"], np.float64), np.asarray(d["hi"], np.float64),
                np.asarray(d["centres"], np.float64))  # fmt: skip
        if q.hi.shape != q.lo.shape or q.centres.shape != (q.dim, q.levels):
            raise ValueError(f"quantiser table shapes lo {q.lo.shape}, hi {q.hi.shape}, centres {q.centres.shape} "
                             f"do not fit {q.bits} bits.")  # fmt: skip
        return q


def _symbols(codes: np.ndarray, lo: np.ndarray, hi: np.ndarray, levels: int) -> np.ndarray:
    scale = np.where(hi > lo, hi - lo, 1.0)
    return np.clip(np.rint((codes - lo) / scale * (levels - 1)), 0, levels - 1).astype(np.int32)


# ---------------------------------------------------------------------------------------------- codec


def write_varint(n: int) -> bytes:
    """LEB128: 7 bits per byte, high bit set on all but the last."""
    if n < 0:
        raise ValueError(f"n == {n}, a length must be >= 0.")
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def read_varint(message: bytes) -> tuple[int, int]:
    """-> (value, bytes used)."""
    value = 0
    for i, b in enumerate(message[:8]):
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value, i + 1
    raise ValueError(f"message {bytes(message[:8]).hex()}…: no complete length header at its start.")


class Codec:
    """Range coding of quantised codes with per-dimension categorical models counted on the train split.

    ``counts``: int [D, 2**bits], how often each symbol occurred per dimension on train. Every count
    gets ``FLOOR`` added, so symbols never seen on train are still encodable (at a high price).
    """

    def __init__(self, quantiser: Quantiser, counts: np.ndarray):
        counts = np.asarray(counts, dtype=np.int64)
        if counts.shape != (quantiser.dim, quantiser.levels) or (counts < 0).any():
            raise ValueError(f"counts of shape {counts.shape} (or negative): need [{quantiser.dim}, "
                             f"{quantiser.levels}] non-negative counts.")  # fmt: skip
        self.quantiser = quantiser
        self.counts = counts
        p = counts + FLOOR
        self.probabilities = np.ascontiguousarray(p / p.sum(1, keepdims=True), dtype=np.float64)  # [D, L]
        self._bits = -np.log2(self.probabilities)

    @classmethod
    def fit(cls, train_codes: np.ndarray, bits: int) -> Codec:
        """Ranges, bin values and symbol counts, all from train codes [N, D]."""
        quantiser = Quantiser.fit(train_codes, bits)
        q = quantiser.symbols(train_codes)
        counts = np.stack([np.bincount(q[:, d], minlength=quantiser.levels) for d in range(quantiser.dim)])
        return cls(quantiser, counts)

    @property
    def dim(self) -> int:
        return self.quantiser.dim

    def entropy_bytes(self, symbols: np.ndarray) -> np.ndarray:
        """Ideal code length (-log2 p, this codec's probabilities) of each row of symbols [N, D], in bytes."""
        s = np.atleast_2d(symbols)
        return self._bits[np.arange(self.dim)[None, :], s].sum(1) / 8.0

    def _model(self):
        import constriction

        return constriction.stream.model.Categorical(perfect=False)

    def _decode_payload(self, payload: bytes, model=None) -> np.ndarray | None:
        import constriction

        padded = payload + b"\0" * (-len(payload) % 4)
        words = np.frombuffer(padded, dtype=">u4").astype(np.uint32)
        try:
            decoder = constriction.stream.queue.RangeDecoder(words)
            return decoder.decode(model or self._model(), self.probabilities)
        except Exception:  # noqa: BLE001 — constriction raises plain exceptions on data it cannot decode
            return None

    def encode_symbols(self, symbols: np.ndarray) -> bytes:
        """symbols int [D] -> the message: varint length + the shortest payload that decodes to exactly them."""
        import constriction

        s = np.asarray(symbols)
        if s.shape != (self.dim,) or not np.issubdtype(s.dtype, np.integer):
            raise ValueError(f"symbols of shape {s.shape} and dtype {s.dtype}: need {self.dim} integers.")
        if s.min() < 0 or s.max() >= self.quantiser.levels:
            raise ValueError(f"symbols must lie in [0, {self.quantiser.levels}), got [{s.min()}, {s.max()}].")
        s = s.astype(np.int32)
        model = self._model()
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(s, model, self.probabilities)
        full = encoder.get_compressed().astype(">u4").tobytes()
        # Shorter payloads cannot hold much less than the information content: start a little below it.
        start = max(0, int(self.entropy_bytes(s)[0]) - 1)
        for k in range(start, len(full) + 1):
            head = full[:k]
            candidates = [head]
            if k:
                up = int.from_bytes(head, "big") + 1
                if up < 256**k:
                    candidates.append(up.to_bytes(k, "big"))
            for payload in candidates:
                decoded = self._decode_payload(payload, model)
                if decoded is not None and np.array_equal(decoded, s):
                    return write_varint(len(payload)) + payload
        raise AssertionError("the range coder's own output did not decode")  # cannot happen: k = len(full) decodes

    def decode_symbols(self, message: bytes) -> np.ndarray:
        """A message (varint length + payload) -> int32 symbols [D]."""
        if not isinstance(message, (bytes, bytearray)):
            raise TypeError(f"message must be bytes, got {type(message).__name__}.")
        n, used = read_varint(message)
        if len(message) != used + n:
            raise ValueError(f"message has {len(message)} bytes, but its header announces {used} + {n}.")
        decoded = self._decode_payload(bytes(message[used:]))
        if decoded is None:
            raise ValueError(f"message {bytes(message).hex()} is not a valid code for this codec.")
        return decoded.astype(np.int32)

    def to_dict(self) -> dict:
        return {"quantiser": self.quantiser.to_dict(), "counts": self.counts.tolist(), "floor": FLOOR}

    @classmethod
    def from_dict(cls, d: dict) -> Codec:
        if d.get("floor", FLOOR) != FLOOR:
            raise ValueError(f"coder table made with floor {d.get('floor')}, this code uses {FLOOR}: "
                             "recreate it with `python -m explorer compress`.")  # fmt: skip
        return cls(Quantiser.from_dict(d["quantiser"]), np.asarray(d["counts"], dtype=np.int64))


# ------------------------------------------------------------------------------------- images <-> bytes


def _as_float_batch(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] / [28, 28] or floats in [0, 1] -> float32 [N, 1, 28, 28]."""
    x = np.asarray(images)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[:, None]
    if x.shape[1:] != (1, 28, 28):
        raise ValueError(f"images of shape {np.shape(images)}: need [N, 28, 28] or [28, 28].")
    return x


def encode_codes(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """images -> model.encode codes float32 [N, D]."""
    import torch

    x = _as_float_batch(images)
    with torch.no_grad():
        return np.concatenate([model.encode(torch.from_numpy(x[i : i + batch_size])).numpy()
                               for i in range(0, len(x), batch_size)]).astype(np.float32)  # fmt: skip


def decode_codes(model, codes: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """codes [N, D] -> images float32 [N, 28, 28] in [0, 1]."""
    import torch

    z = np.asarray(codes, dtype=np.float32)
    with torch.no_grad():
        out = [model.decode(torch.from_numpy(z[i : i + batch_size])).clamp(0, 1).numpy()[:, 0]
               for i in range(0, len(z), batch_size)]  # fmt: skip
    return np.concatenate(out)


def encode_image(model, codec: Codec, image: np.ndarray) -> bytes:
    """One image (uint8 [28, 28] or floats in [0, 1]) -> the exact bytes a receiver needs."""
    return codec.encode_symbols(codec.quantiser.symbols(encode_codes(model, image)[0]))


def decode_bytes(model, codec: Codec, message: bytes) -> np.ndarray:
    """The receiver: a message -> the reconstructed image float32 [28, 28] in [0, 1]."""
    return decode_codes(model, codec.quantiser.values(codec.decode_symbols(message))[None])[0]


# ------------------------------------------------------------------------------------ classical codecs


def pil_encode(image: np.ndarray, fmt: str, quality: int | None = None) -> bytes:
    """uint8 [28, 28] -> the file bytes Pillow writes (PNG lossless, JPEG optimised, WebP lossy)."""
    from PIL import Image

    buf = io.BytesIO()
    img = Image.fromarray(np.asarray(image, dtype=np.uint8), mode="L")
    if fmt == "png":
        img.save(buf, format="PNG", optimize=True)
    elif fmt == "jpeg":
        img.save(buf, format="JPEG", quality=int(quality), optimize=True)
    elif fmt == "webp":
        img.save(buf, format="WEBP", quality=int(quality), method=6)
    else:
        raise ValueError(f"fmt == {fmt!r}, must be 'png', 'jpeg' or 'webp'.")
    return buf.getvalue()


def pil_decode(data: bytes) -> np.ndarray:
    """File bytes -> uint8 [H, W] grey."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("L"))


def classical_settings() -> list[tuple[str, int | None]]:
    return [("png", None)] + [("jpeg", q) for q in JPEG_QUALITIES] + [("webp", q) for q in WEBP_QUALITIES]


def nearest_classical(image: np.ndarray, target_bytes: int, fmt: str) -> dict:
    """The ``fmt`` ('jpeg' or 'webp') quality whose file for this image is nearest ``target_bytes`` in size."""
    qualities = {"jpeg": JPEG_QUALITIES, "webp": WEBP_QUALITIES}[fmt]
    best = None
    for q in qualities:
        data = pil_encode(image, fmt, q)
        if best is None or abs(len(data) - target_bytes) < abs(len(best["data"]) - target_bytes):
            best = {"format": fmt, "quality": q, "data": data, "bytes": len(data)}
    best["image"] = pil_decode(best["data"])
    return best


# ---------------------------------------------------------------------------------- rate–distortion rows


def _psnr(pred01: np.ndarray, images_u8: np.ndarray) -> np.ndarray:
    from .metrics import psnr_per_image

    return psnr_per_image(pred01, images_u8.astype(np.float64) / 255.0)


def code_rows(method: str, family: str, codec: Codec, test_codes: np.ndarray, decode, test_images: np.ndarray,
              progress=None) -> dict:  # fmt: skip
    """Encode every test code to bytes, decode the bytes as the receiver would, measure bytes and PSNR.

    decode: float32 codes [N, D] -> images [N, 28, 28] in [0, 1].
    """
    symbols = codec.quantiser.symbols(test_codes)
    messages = [codec.encode_symbols(s) for s in symbols]
    received = np.stack([codec.decode_symbols(m) for m in messages])
    if not np.array_equal(received, symbols):
        raise AssertionError(f"{method}: the decoded symbols differ from the sent ones")
    sizes = np.array([len(m) for m in messages])
    headers = np.array([read_varint(m)[1] for m in messages])
    psnr = _psnr(decode(codec.quantiser.values(received)), test_images)
    if progress is not None:
        progress.update(1)
    return {
        "method": method, "family": family, "bits": codec.quantiser.bits, "dims": codec.dim,
        "bytes": float(sizes.mean()), "bytes_max": int(sizes.max()), "header_bytes": float(headers.mean()),
        "entropy_bytes": float(codec.entropy_bytes(symbols).mean()), "raw_bytes": codec.dim * codec.quantiser.bits / 8,
        "psnr": float(psnr.mean()),
    }  # fmt: skip


def classical_rows(test_images: np.ndarray, progress=None) -> list[dict]:
    """PNG, JPEG and WebP of every test image: mean file size and mean PSNR of the decoded file."""
    rows = []
    for fmt, q in classical_settings():
        sizes, decoded = [], []
        for img in test_images:
            data = pil_encode(img, fmt, q)
            sizes.append(len(data))
            decoded.append(pil_decode(data))
        psnr = _psnr(np.stack(decoded).astype(np.float64) / 255.0, test_images)
        name = fmt.upper() if q is None else f"{fmt.upper()} q{q}"
        rows.append({"method": name, "family": fmt, "quality": q, "bytes": float(np.mean(sizes)),
                     "bytes_max": int(np.max(sizes)), "psnr": float(psnr.mean())})  # fmt: skip
        if progress is not None:
            progress.update(1)
    return rows


def dense_bytes_at(rows: list[dict], psnr: float, method: str = "dense") -> float | None:
    """Bytes ``method`` needs for ``psnr``, interpolated on its rate–distortion curve (None if out of its range)."""
    pts = sorted((r["bytes"], r["psnr"]) for r in rows if r.get("method") == method)
    hull: list[tuple[float, float]] = []  # the curve's best points: PSNR rising with bytes
    for b, p in pts:
        if not hull or p > hull[-1][1]:
            hull.append((b, p))
    for (b0, p0), (b1, p1) in zip(hull, hull[1:], strict=False):
        if p0 <= psnr <= p1:
            return b0 + (b1 - b0) * (psnr - p0) / (p1 - p0)
    if hull and psnr <= hull[0][1]:
        return hull[0][0] if abs(psnr - hull[0][1]) < 1e-9 else None
    return None


def sparse_savings(rows: list[dict]) -> list[dict]:
    """For each sparse point: the bytes dense needs at the same PSNR (interpolated), and dense at the same bits."""
    dense = [r for r in rows if r.get("method") == "dense"]
    lo, hi = min((r["psnr"] for r in dense), default=None), max((r["psnr"] for r in dense), default=None)
    out = []
    for r in (r for r in rows if r.get("method") == "sparse"):
        same_psnr = dense_bytes_at(rows, r["psnr"])
        if same_psnr is not None:
            note = f"dense needs {same_psnr:.2f} B for {r['psnr']:.2f} dB: sparse saves {same_psnr - r['bytes']:.2f} B"
        elif hi is not None and r["psnr"] > hi:
            note = f"dense never reaches {r['psnr']:.2f} dB (its best is {hi:.2f} dB)"
        else:
            note = f"below dense's lowest measured point ({lo:.2f} dB)" if lo is not None else "no dense curve"
        same_bits = next((d for d in dense if d.get("bits") == r["bits"]), None)
        out.append({
            "bits": r["bits"], "sparse_bytes": r["bytes"], "sparse_psnr": r["psnr"],
            "dense_bytes_same_psnr": same_psnr,
            "saved_same_psnr": None if same_psnr is None else same_psnr - r["bytes"],
            "dense_bytes_same_bits": None if same_bits is None else same_bits["bytes"],
            "dense_psnr_same_bits": None if same_bits is None else same_bits["psnr"],
            "note": note,
        })  # fmt: skip
    return out


def check_bar(rows: list[dict]) -> dict:
    """The issue's bar: an autoencoder at <= 8 bytes per image (all counted) with mean PSNR >= 19 dB."""
    ok = [r for r in rows if r["family"] == "autoencoder" and r["bytes"] <= BAR["max_bytes"]]
    best = max(ok, key=lambda r: r["psnr"], default=None)
    return {**BAR, "best": None if best is None else {k: best[k] for k in ("method", "bits", "bytes", "psnr")},
            "met": best is not None and best["psnr"] >= BAR["min_psnr"]}  # fmt: skip


def render_table(rows: list[dict]) -> str:
    lines = ["| method | bits | bytes/image (all counted) | entropy B | raw B | PSNR dB |", "|---|---|---|---|---|---|"]
    family_order = {"autoencoder": 0, "pca": 1, "webp": 2, "jpeg": 3, "png": 4}
    for r in sorted(rows, key=lambda r: (family_order.get(r["family"], 5), r["method"].split()[0], r["bytes"])):
        ent = f"{r['entropy_bytes']:.2f}" if "entropy_bytes" in r else "–"
        raw = f"{r['raw_bytes']:g}" if "raw_bytes" in r else "–"
        lines.append(f"| {r['method']} | {r.get('bits') or '–'} | {r['bytes']:.2f} | {ent} | {raw} | {r['psnr']:.2f} |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- artefact


class CompressionError(RuntimeError):
    """compression.json is missing, damaged or stale; the message names the command."""


FIX = "python -m explorer compress"


def path_for(root=None) -> Path:
    from .checkpoint import default_root

    return Path(root or default_root()) / COMPRESSION_FILE


def load_compression(root=None) -> dict:
    from .checkpoint import read_json_or_fix

    path = path_for(root)
    data = read_json_or_fix(path, FIX, CompressionError)
    if data.get("format_version") != FORMAT_VERSION or "rows" not in data:
        raise CompressionError(f"{path} is not a format-{FORMAT_VERSION} compression table. Recreate it with `{FIX}`.")
    return data


def load_codec(data: dict, variant: str, bits: int, root=None) -> Codec:
    """The stored coder tables of ``variant`` at ``bits``, checked against the current weights."""
    from .checkpoint import weights_hash

    entry = data.get("codecs", {}).get(variant)
    if entry is None or str(bits) not in entry.get("bits", {}):
        raise CompressionError(f"no stored coder table for {variant} at {bits} bits. Create it with `{FIX}`.")
    if entry.get("weights_sha256") != weights_hash(variant, root):
        raise CompressionError(f"the coder tables of {variant} were made from other weights. Update them with `{FIX}`.")
    return Codec.from_dict(entry["bits"][str(bits)])


def run_compression(names, data_dir=None, root=None, limit: int | None = None, train_limit: int | None = None) -> dict:
    """The ``compress`` command: rate–distortion on the test split, coder tables; writes compression.json.

    ``limit``/``train_limit``: measure on the first N test images / fit on the first N train images (smoke runs).
    """
    from sklearn.decomposition import PCA
    from tqdm import tqdm

    from .checkpoint import CheckpointError, load_model, weights_hash
    from .data import load_fashion_mnist
    from .models import get_variant

    t0 = time.perf_counter()
    data = load_fashion_mnist(data_dir)
    test_images = data.test.images[:limit] if limit else data.test.images
    train_images = data.train.images[:train_limit] if train_limit else data.train.images

    models = {}
    for name in names:
        if not get_variant(name).can("decoder"):
            continue  # its output needs more than its code (the U-Net's skips): not a codec
        try:
            models[name] = load_model(name, root)
        except CheckpointError as e:
            tqdm.write(f"{name}: skipped, {e}")
    bits_for = {n: sorted({*HEADLINE_BITS, *(EXTRA_BITS if n in CURVE_VARIANTS else ())}) for n in models}
    total = sum(len(b) for b in bits_for.values()) + len(PCA_DIMS) * len(HEADLINE_BITS) + len(classical_settings())
    rows: list[dict] = []
    codecs: dict = {}
    weights = {name: weights_hash(name, root) for name in models}
    if not limit and not train_limit:  # keep other variants' rows from a stored table if their weights still match
        try:
            old = load_compression(root)
        except CompressionError:
            old = {}
        for name, sha in old.get("weights", {}).items():
            try:
                current = weights_hash(name, root)
            except CheckpointError:
                continue
            if name not in models and sha == current and old.get("images") == len(test_images):
                weights[name] = sha
                rows += [r for r in old["rows"] if r.get("variant") == name]
                if name in old.get("codecs", {}):
                    codecs[name] = old["codecs"][name]
    with tqdm(total=total, desc="compress", unit="setting") as bar:
        for name, model in models.items():
            train_codes = encode_codes(model, train_images)
            test_codes = encode_codes(model, test_images)
            entry = {"weights_sha256": weights[name], "bits": {}}
            for bits in bits_for[name]:
                codec = Codec.fit(train_codes, bits)
                bar.set_postfix_str(f"{name} {bits} bits")
                rows.append(code_rows(name, "autoencoder", codec, test_codes, lambda z, m=model: decode_codes(m, z),
                                      test_images, bar))  # fmt: skip
                rows[-1]["variant"] = name
                if codec.dim <= TABLE_MAX_DIM and bits in HEADLINE_BITS:
                    entry["bits"][str(bits)] = codec.to_dict()
            if entry["bits"]:
                codecs[name] = entry
        flat_train = train_images.reshape(len(train_images), -1).astype(np.float32) / 255.0
        flat_test = test_images.reshape(len(test_images), -1).astype(np.float32) / 255.0
        for k in PCA_DIMS:
            pca = PCA(n_components=k, random_state=0).fit(flat_train)
            tr, te = pca.transform(flat_train), pca.transform(flat_test)
            dec = lambda z, p=pca: p.inverse_transform(z).reshape(-1, 28, 28)  # noqa: E731
            for bits in HEADLINE_BITS:
                bar.set_postfix_str(f"PCA-{k} {bits} bits")
                rows.append(code_rows(f"PCA-{k}", "pca", Codec.fit(tr, bits), te, dec, test_images, bar))
        bar.set_postfix_str("PNG/JPEG/WebP")
        rows += classical_rows(test_images, bar)

    result = {
        "format_version": FORMAT_VERSION,
        "dataset_sha256": data.sha256,
        "split": "test",
        "images": int(len(test_images)),
        "train_images": int(len(train_images)),
        "message_format": "varint payload length + range-coded symbols (constriction), big-endian, tail cut",
        "floor": FLOOR,
        "weights": weights,
        "rows": rows,
        "sparse_savings": sparse_savings(rows),
        "bar": check_bar(rows),
        "codecs": codecs,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    path = path_for(root)
    path.write_text(json.dumps(result, indent=1) + "\n")
    print(render_table(rows))
    for s in result["sparse_savings"]:
        print(f"sparse {s['bits']} bits: {s['sparse_bytes']:.2f} B at {s['sparse_psnr']:.2f} dB; {s['note']}")
    b = result["bar"]
    print(f"Bar (<= {b['max_bytes']:g} B, >= {b['min_psnr']:g} dB): {'met' if b['met'] else 'NOT MET'} by {b['best']}")
    print(f"-> {path}")
    return result


# -------------------------------------------------------------------------------------------- figures

FAMILY_STYLE = {  # colour per curve; the autoencoders get the class palette's first colours
    "dense": "#4e79a7", "sparse": "#e15759", "vae": "#59a14f", "denoising": "#b07aa1",
    "PCA-10": "#9c755f", "PCA-32": "#bab0ac", "jpeg": "#f28e2b", "webp": "#76b7b2",
}  # fmt: skip


def rd_figure(rows: list[dict], height: int = 520):
    """Rate–distortion chart: bytes per image (log) vs mean test PSNR, one line per method; PNG as a line."""
    import plotly.graph_objects as go

    fig = go.Figure()
    curves: dict[str, list[dict]] = {}
    for r in rows:
        key = r["method"] if r["family"] in ("autoencoder", "pca") else r["family"]
        curves.setdefault(key, []).append(r)
    for key, pts in curves.items():
        if key == "png":
            b = pts[0]["bytes"]
            fig.add_vline(x=b, line_dash="dot", line_color="#555")
            fig.add_annotation(x=np.log10(b), y=38, text=f"PNG, lossless: {b:.0f} B", showarrow=False, xanchor="right")
            continue
        pts = sorted(pts, key=lambda r: r["bytes"])
        label = {"jpeg": "JPEG (optimised)", "webp": "WebP"}.get(key, key)
        text = [f"{r['bits']} bit" if r.get("bits") else f"q{r['quality']}" for r in pts]
        fig.add_trace(go.Scatter(
            x=[r["bytes"] for r in pts], y=[r["psnr"] for r in pts], mode="lines+markers", name=label,
            text=text, line=dict(color=FAMILY_STYLE.get(key), dash="dash" if key.startswith("PCA") else None),
            hovertemplate="%{fullData.name} %{text}<br>%{x:.2f} bytes/image<br>%{y:.2f} dB<extra></extra>",
        ))  # fmt: skip
    fig.add_shape(type="rect", x0=1, x1=BAR["max_bytes"], y0=BAR["min_psnr"], y1=BAR["min_psnr"] + 6,
                  line=dict(width=0), fillcolor="rgba(89,161,79,0.12)", layer="below")  # fmt: skip
    fig.add_annotation(x=np.log10(2), y=BAR["min_psnr"] + 6, xanchor="left", yanchor="top",
                       text=f"bar: ≤ {BAR['max_bytes']:g} B, ≥ {BAR['min_psnr']:g} dB", showarrow=False)  # fmt: skip
    shown = 0
    for s in sparse_savings(rows):  # the tutorial's claim: sparsity saves bytes at the same quality
        saved = s["saved_same_psnr"]
        if saved is None or s["bits"] not in HEADLINE_BITS:
            continue
        verdict = f"saves {saved:.2f} B" if saved >= 0 else f"costs {-saved:.2f} B more"
        fig.add_annotation(
            x=np.log10(s["sparse_bytes"]), y=s["sparse_psnr"], ax=90, ay=-70 - 24 * shown, arrowhead=2,
            arrowcolor=FAMILY_STYLE["sparse"], font=dict(color=FAMILY_STYLE["sparse"], size=11),
            text=f"sparse {s['bits']} bit {verdict} vs dense at {s['sparse_psnr']:.1f} dB", xanchor="left",
        )  # fmt: skip
        shown += 1
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=30, b=10), plot_bgcolor="white",
        xaxis=dict(type="log", title="bytes per image, everything a receiver needs (log scale)", gridcolor="#eee",
                   range=[np.log10(2), np.log10(800)]),
        yaxis=dict(title="mean PSNR on the 10k test images (dB)", gridcolor="#eee", range=[12, 40]),
        legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0, title=None),
    )  # fmt: skip
    return fig
