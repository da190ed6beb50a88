"""The ``compress`` command: rate–distortion of every decoder's code against PCA, PNG, JPEG and WebP.

Measured on the test split, every byte counted (``explorer.codec``); stored as ``checkpoints/compression.json``
with the coder tables the dashboard's sender/receiver demo needs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import inference
from ..codec import FLOOR, Codec, classical_settings, pil_decode, pil_encode, read_varint

FORMAT_VERSION = 1
COMPRESSION_FILE = "compression.json"
HEADLINE_BITS = (4, 6, 8)  # measured for every model; their coder tables are the ones stored
EXTRA_BITS = (2, 3, 5, 7)  # more points on the curves of the models whose job is compression
CURVE_VARIANTS = ("dense", "sparse")
TABLE_MAX_DIM = 32  # coder tables are stored (for the dashboard's demo) for codes up to this size
PCA_DIMS = (10, 32)
BAR = {"max_bytes": 8.0, "min_psnr": 19.0}
FIX = "python -m explorer compress"


# ---------------------------------------------------------------------------------- rate–distortion rows


def _psnr(pred01: np.ndarray, images_u8: np.ndarray) -> np.ndarray:
    from ..metrics import psnr_per_image

    return psnr_per_image(pred01, images_u8.astype(np.float64) / 255.0)


def code_rows(
    method: str, family: str, codec: Codec, test_codes: np.ndarray, decode, test_images: np.ndarray, progress=None
) -> dict:
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
        "method": method,
        "family": family,
        "bits": codec.quantiser.bits,
        "dims": codec.dim,
        "bytes": float(sizes.mean()),
        "bytes_max": int(sizes.max()),
        "header_bytes": float(headers.mean()),
        "entropy_bytes": float(codec.entropy_bytes(symbols).mean()),
        "raw_bytes": codec.dim * codec.quantiser.bits / 8,
        "psnr": float(psnr.mean()),
    }


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
        rows.append(
            {
                "method": name,
                "family": fmt,
                "quality": q,
                "bytes": float(np.mean(sizes)),
                "bytes_max": int(np.max(sizes)),
                "psnr": float(psnr.mean()),
            }
        )
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
        out.append(
            {
                "bits": r["bits"],
                "sparse_bytes": r["bytes"],
                "sparse_psnr": r["psnr"],
                "dense_bytes_same_psnr": same_psnr,
                "saved_same_psnr": None if same_psnr is None else same_psnr - r["bytes"],
                "dense_bytes_same_bits": None if same_bits is None else same_bits["bytes"],
                "dense_psnr_same_bits": None if same_bits is None else same_bits["psnr"],
                "note": note,
            }
        )
    return out


def check_bar(rows: list[dict]) -> dict:
    """The bar: an autoencoder at <= 8 bytes per image (all counted) with mean PSNR >= 19 dB."""
    ok = [r for r in rows if r["family"] == "autoencoder" and r["bytes"] <= BAR["max_bytes"]]
    best = max(ok, key=lambda r: r["psnr"], default=None)
    return {
        **BAR,
        "best": None if best is None else {k: best[k] for k in ("method", "bits", "bytes", "psnr")},
        "met": best is not None and best["psnr"] >= BAR["min_psnr"],
    }


def smallest_classical(rows: list[dict]) -> dict | None:
    """The JPEG or WebP row with the fewest bytes per image (None if the table has none)."""
    return min((r for r in rows if r["family"] in ("jpeg", "webp")), key=lambda r: r["bytes"], default=None)


# ------------------------------------------------------------------------------------------- artefact


class CompressionError(RuntimeError):
    """compression.json is missing, damaged or stale; the message names the command."""


def path_for(root=None) -> Path:
    from ..checkpoint import default_root

    return Path(root or default_root()) / COMPRESSION_FILE


def load_compression(root=None) -> dict:
    from ..checkpoint import read_json_or_fix

    path = path_for(root)
    data = read_json_or_fix(path, FIX, CompressionError)
    if data.get("format_version") != FORMAT_VERSION or "rows" not in data:
        raise CompressionError(f"{path} is not a format-{FORMAT_VERSION} compression table. Recreate it with `{FIX}`.")
    return data


def load_codec(data: dict, variant: str, bits: int, root=None) -> Codec:
    """The stored coder tables of ``variant`` at ``bits``, checked against the current weights."""
    from ..checkpoint import weights_hash

    entry = data.get("codecs", {}).get(variant)
    if entry is None or str(bits) not in entry.get("bits", {}):
        raise CompressionError(f"no stored coder table for {variant} at {bits} bits. Create it with `{FIX}`.")
    if entry.get("weights_sha256") != weights_hash(variant, root):
        raise CompressionError(f"the coder tables of {variant} were made from other weights. Update them with `{FIX}`.")
    return Codec.from_dict(entry["bits"][str(bits)])


def _kept_rows(root, models: dict, n_images: int) -> tuple[dict, list[dict], dict]:
    """From a stored table: the weights, rows and coder tables of the variants not measured now whose weights still
    match (a run of one variant keeps the others)."""
    from ..checkpoint import CheckpointError, weights_hash

    try:
        old = load_compression(root)
    except CompressionError:
        return {}, [], {}
    weights, rows, codecs = {}, [], {}
    for name, sha in old.get("weights", {}).items():
        try:
            current = weights_hash(name, root)
        except CheckpointError:
            continue
        if name not in models and sha == current and old.get("images") == n_images:
            weights[name] = sha
            rows += [r for r in old["rows"] if r.get("variant") == name]
            if name in old.get("codecs", {}):
                codecs[name] = old["codecs"][name]
    return weights, rows, codecs


def run_compression(names, data_dir=None, root=None, limit: int | None = None, train_limit: int | None = None) -> dict:
    """The ``compress`` command: rate–distortion on the test split, coder tables; writes compression.json.

    ``limit``/``train_limit``: measure on the first N test images / fit on the first N train images (smoke runs).
    """
    from sklearn.decomposition import PCA
    from tqdm import tqdm

    from ..checkpoint import CheckpointError, load_model, weights_hash
    from ..data import load_fashion_mnist
    from ..models import get_variant
    from ..report import compression_table

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
    weights = {name: weights_hash(name, root) for name in models}
    rows: list[dict] = []
    codecs: dict = {}
    if not limit and not train_limit:  # a smoke run's table is never merged with a full one
        kept, rows, codecs = _kept_rows(root, models, len(test_images))
        weights |= kept
    with tqdm(total=total, desc="compress", unit="setting") as bar:
        for name, model in models.items():
            train_codes = inference.encode(model, train_images)
            test_codes = inference.encode(model, test_images)
            entry = {"weights_sha256": weights[name], "bits": {}}
            for bits in bits_for[name]:
                codec = Codec.fit(train_codes, bits)
                bar.set_postfix_str(f"{name} {bits} bits")
                decode = lambda z, m=model: inference.decode(m, z)
                rows.append(code_rows(name, "autoencoder", codec, test_codes, decode, test_images, bar))
                rows[-1]["variant"] = name
                if codec.dim <= TABLE_MAX_DIM and bits in HEADLINE_BITS:
                    entry["bits"][str(bits)] = codec.to_dict()
            if entry["bits"]:
                codecs[name] = entry
        flat_train = inference.as_unit(train_images).reshape(len(train_images), -1)
        flat_test = inference.as_unit(test_images).reshape(len(test_images), -1)
        for k in PCA_DIMS:
            pca = PCA(n_components=k, random_state=0).fit(flat_train)
            tr, te = pca.transform(flat_train), pca.transform(flat_test)
            decode = lambda z, p=pca: p.inverse_transform(z).reshape(-1, 28, 28)
            for bits in HEADLINE_BITS:
                bar.set_postfix_str(f"PCA-{k} {bits} bits")
                rows.append(code_rows(f"PCA-{k}", "pca", Codec.fit(tr, bits), te, decode, test_images, bar))
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
    print(compression_table(rows))
    for s in result["sparse_savings"]:
        print(f"sparse {s['bits']} bits: {s['sparse_bytes']:.2f} B at {s['sparse_psnr']:.2f} dB; {s['note']}")
    b = result["bar"]
    print(f"Bar (<= {b['max_bytes']:g} B, >= {b['min_psnr']:g} dB): {'met' if b['met'] else 'NOT MET'} by {b['best']}")
    print(f"-> {path}")
    return result
