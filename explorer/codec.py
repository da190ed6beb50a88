"""An autoencoder's code as a message, every byte counted; and the classical codecs it is measured against.

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

The classical codecs are whole Pillow files: PNG (lossless), JPEG (optimised) and WebP.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from . import inference

FLOOR = 0.5  # pseudo-count added to every symbol's train count (Krichevsky–Trofimov): unseen symbols stay encodable
JPEG_QUALITIES = (1, 5, 10, 20, 30, 50, 75, 95)
WEBP_QUALITIES = (0, 5, 10, 25, 50, 75)


# ------------------------------------------------------------------------------------------ quantiser


def quantise(codes: np.ndarray, bits: int, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Uniform per-dimension quantisation of codes [..., D] to 2**bits levels over [lo, hi] -> int32 symbols.

    Values outside [lo, hi] are clipped to the end levels; a dimension with lo == hi maps to level 0.
    """
    top = 2**bits - 1
    scale = np.where(hi > lo, hi - lo, 1.0)
    return np.clip(np.rint((codes - lo) / scale * top), 0, top).astype(np.int32)


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
        q = quantise(codes, bits, lo, hi)
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
        return quantise(codes, self.bits, self.lo, self.hi)

    def values(self, symbols: np.ndarray) -> np.ndarray:
        """symbols int [N, D] (or [D]) -> float32 codes, same shape."""
        s = np.asarray(symbols)
        return np.take_along_axis(self.centres, np.atleast_2d(s).T, axis=1).T.reshape(s.shape).astype(np.float32)

    def to_dict(self) -> dict:
        return {
            "bits": self.bits,
            "lo": self.lo.tolist(),
            "hi": self.hi.tolist(),
            "centres": np.round(self.centres, 7).tolist(),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Quantiser:
        lo, hi, centres = (np.asarray(d[k], np.float64) for k in ("lo", "hi", "centres"))
        q = cls(cls.check_bits(d["bits"]), lo, hi, centres)
        if q.hi.shape != q.lo.shape or q.centres.shape != (q.dim, q.levels):
            raise ValueError(
                f"quantiser table shapes lo {q.lo.shape}, hi {q.hi.shape}, centres {q.centres.shape} "
                f"do not fit {q.bits} bits."
            )
        return q


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
            raise ValueError(
                f"counts of shape {counts.shape} (or negative): need [{quantiser.dim}, "
                f"{quantiser.levels}] non-negative counts."
            )
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
            raise ValueError(
                f"coder table made with floor {d.get('floor')}, this code uses {FLOOR}: "
                "recreate it with `python -m explorer compress`."
            )
        return cls(Quantiser.from_dict(d["quantiser"]), np.asarray(d["counts"], dtype=np.int64))


# ------------------------------------------------------------------------------------- images <-> bytes


def encode_image(model, codec: Codec, image: np.ndarray) -> bytes:
    """One image (uint8 [28, 28] or floats in [0, 1]) -> the exact bytes a receiver needs."""
    return codec.encode_symbols(codec.quantiser.symbols(inference.encode(model, image)[0]))


def decode_bytes(model, codec: Codec, message: bytes) -> np.ndarray:
    """The receiver: a message -> the reconstructed image float32 [28, 28] in [0, 1]."""
    return inference.decode(model, codec.quantiser.values(codec.decode_symbols(message))[None])[0]


def transmit(model, codec: Codec, image: np.ndarray, classical=("webp", "jpeg")) -> dict:
    """One uint8 image [28, 28] sent and received, beside the classical files of the nearest size.

    -> {"message": bytes, "payload": its length, "header": the varint's length, "received": float32 [28, 28],
    "psnr": dB of the received image, "classical": [nearest_classical(...) with "psnr", one per format]}.
    """
    from .metrics import psnr_per_image

    truth = np.asarray(image).astype(np.float64) / 255.0
    message = encode_image(model, codec, image)
    received = decode_bytes(model, codec, message)
    payload, header = read_varint(message)
    near = [nearest_classical(image, len(message), fmt) for fmt in classical]
    for n in near:
        n["psnr"] = float(psnr_per_image(n["image"] / 255.0, truth)[0])
    psnr = float(psnr_per_image(received, truth)[0])
    return {
        "message": message,
        "payload": payload,
        "header": header,
        "received": received,
        "psnr": psnr,
        "classical": near,
    }


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
    """Every (format, quality) the rate–distortion table measures: PNG once, then each JPEG and WebP quality."""
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
