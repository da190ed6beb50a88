"""Image datasets of your own: read from a source, checked, converted once and registered under a name.

A dataset is a named set of images with a fixed item order, one image shape C×H×W (greyscale or RGB, from 8 px),
optional labels with class names, and a train/test split. Its items are stored test first, then train, so that
item ids 0..n_test-1 are the test images, as for Fashion-MNIST everywhere else in Latent Explorer.

Sources (``read_source`` picks one by what the path is):

- a folder of MNIST-format IDX files (``*-images-idx3-ubyte[.gz]`` with ``*-labels-idx1-ubyte[.gz]``; the file
  names say which split is which: ``train``/``t10k``/``test``), e.g. MNIST, KMNIST or EMNIST;
- an image folder with one subfolder per class (PNG, JPEG, WebP, BMP), or a flat folder of images (no labels);
  images of other sizes are resized to the most common size, with a notice;
- an ``.npz`` with ``x`` [N, H, W] or [N, H, W, C] (uint8, or floats in [0, 1]) and optional ``y`` [N] and
  ``class_names``.

Where a source gives no test split, one is carved with a fixed seed and the seed is recorded. ``add_dataset``
writes ``<root>/<name>/data.npz`` and ``dataset.json`` into a temporary folder and renames it into place, so an
interrupted or failed add leaves nothing behind. The content hash (SHA-256 over the stored arrays) lets every run
name the exact data it saw. Nothing here imports torch or streamlit.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import DatasetError, parse_idx

FORMAT_VERSION = 1
ENV_VAR = "LATENT_EXPLORER_DATASETS"
DATA, INFO = "data.npz", "dataset.json"
MIN_SIDE = 8
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
TEST_FRACTION = 0.2  # carved when a source has no test split
SPLIT_SEED = 0
NAME_RULE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")  # a registry key, a CLI value, a folder name and a URL value


@dataclass(frozen=True)
class Dataset:
    """Images uint8 [N, C, H, W] (test items first), labels int64 [N] or None, and how it was made."""

    name: str
    images: np.ndarray
    n_test: int
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] | None = None
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(self.images.shape[1:])

    @property
    def has_labels(self) -> bool:
        return self.labels is not None

    @property
    def test(self) -> slice:
        return slice(0, self.n_test)

    @property
    def train(self) -> slice:
        return slice(self.n_test, len(self.images))

    @property
    def sha256(self) -> str:
        return self.info.get("sha256") or content_hash(self.images, self.labels, self.class_names)

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class Source:
    """What a source reader found: images uint8 [N, C, H, W], labels or None, a test mask or None, and notices."""

    images: np.ndarray
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None
    is_test: np.ndarray | None  # bool [N]; None: no split given, one is carved
    kind: str
    notices: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------------- checks


def check_name(name: str) -> str:
    """A dataset name: lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 48."""
    if not isinstance(name, str) or not NAME_RULE.match(name):
        raise DatasetError(
            f"dataset name {name!r} is not allowed: use lower-case letters, digits, '-' and '_' "
            "(at most 48, starting with a letter or digit), e.g. `digits` or `my-shoes`."
        )
    return name


def _check_images(images: np.ndarray, where: str) -> np.ndarray:
    """-> uint8 [N, C, H, W]; from uint8 or floats in [0, 1], [N, H, W] or [N, H, W, C] (C = 1 or 3)."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DatasetError(f"{where}: images of shape {x.shape}; need [N, H, W] (grey) or [N, H, W, C] with C 1 or 3.")
    if len(x) == 0:
        raise DatasetError(f"{where}: holds no images.")
    if min(x.shape[1:3]) < MIN_SIDE:
        raise DatasetError(f"{where}: images of {x.shape[1]}×{x.shape[2]} px; the smallest side must be >= {MIN_SIDE}.")
    if x.dtype == np.uint8:
        pass
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 1:
            raise DatasetError(f"{where}: float images must be finite and in [0, 1] (or store uint8 0..255).")
        x = np.round(x * 255).astype(np.uint8)
    elif np.issubdtype(x.dtype, np.integer):
        if x.min() < 0 or x.max() > 255:
            raise DatasetError(f"{where}: integer images must lie in 0..255, found {x.min()}..{x.max()}.")
        x = x.astype(np.uint8)
    else:
        raise DatasetError(f"{where}: images of dtype {x.dtype}; need uint8, or floats in [0, 1].")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _check_labels(labels, n: int, class_names, where: str):
    """-> (labels int64 [n], class names) or (None, None); at least two classes."""
    if labels is None:
        return None, None
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != n:
        raise DatasetError(f"{where}: {len(y) if y.ndim else 1} labels for {n} images; need exactly one per image.")
    if not np.issubdtype(y.dtype, np.integer):
        if y.dtype.kind in "US":  # labels given as strings: their sorted set names the classes
            names = tuple(sorted(set(y.tolist())))
            y = np.searchsorted(np.asarray(names), y)
            class_names = class_names if class_names is not None else names
        else:
            raise DatasetError(f"{where}: labels of dtype {y.dtype}; need integers 0..K-1 (or class-name strings).")
    y = y.astype(np.int64)
    if y.min() < 0:
        raise DatasetError(f"{where}: negative label {y.min()}; labels must be 0..K-1.")
    k = int(y.max()) + 1
    if class_names is None:
        class_names = tuple(str(c) for c in range(k))
    class_names = tuple(str(c) for c in np.asarray(class_names).ravel().tolist())
    if len(class_names) < k:
        raise DatasetError(f"{where}: labels go up to {k - 1} but only {len(class_names)} class names are given.")
    if len(np.unique(y)) < 2:
        raise DatasetError(
            f"{where}: every image has the same label; a labelled dataset needs at least two classes "
            "(leave the labels out for an unlabelled one)."
        )
    return y, class_names


# ------------------------------------------------------------------------------------------- sources


def _idx_arrays(folder: Path) -> dict[str, dict[str, np.ndarray]]:
    """{'train'|'test': {'images': ..., 'labels': ...}} from the IDX files in ``folder``."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for path in sorted(folder.iterdir()):
        m = re.search(r"(train|t10k|test).*-(images|labels)-idx[13]-ubyte(\.gz)?$", path.name)
        if not m:
            continue
        split = "train" if m.group(1) == "train" else "test"
        try:
            raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
        except (OSError, EOFError) as e:
            raise DatasetError(f"{path}: cannot be read ({e}); it is truncated or damaged.") from e
        found.setdefault(split, {})[m.group(2)] = parse_idx(raw, str(path))
    return found


def read_idx_folder(folder: Path) -> Source:
    """MNIST-format IDX files: a train and/or test pair of images and labels."""
    found = _idx_arrays(folder)
    if not any("images" in s for s in found.values()):
        raise DatasetError(f"{folder}: no IDX image files (named like train-images-idx3-ubyte.gz).")
    parts, labels, is_test = [], [], []
    for split in ("test", "train"):
        if split not in found:
            continue
        arrays = found[split]
        if "images" not in arrays:
            raise DatasetError(f"{folder}: the {split} labels have no {split} images file beside them.")
        parts.append(arrays["images"])
        labels.append(arrays.get("labels"))
        is_test.append(np.full(len(arrays["images"]), split == "test"))
    if any(lab is not None for lab in labels) and any(lab is None for lab in labels):
        raise DatasetError(f"{folder}: one split has a labels file and the other does not; add it or remove both.")
    y = np.concatenate(labels) if labels[0] is not None else None
    split = np.concatenate(is_test) if len(parts) == 2 else None
    return Source(np.concatenate(parts), y, None, split, "idx")


def _read_image(path: Path):
    """-> (uint8 [H, W] or [H, W, 3], mode) or None when the file is not a readable image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            mode = "L" if img.mode in ("1", "L", "I;16", "I", "F", "LA") else "RGB"
            return np.asarray(img.convert(mode)), mode
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def read_image_folder(folder: Path, progress: Callable | None = None) -> Source:
    """One subfolder per class (labels = subfolder names, sorted), or a flat folder of images (no labels)."""
    from PIL import Image

    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    files = [(f, i) for i, c in enumerate(classes) for f in sorted(c.iterdir()) if f.is_file()]
    if not classes:
        files = [(f, None) for f in sorted(folder.iterdir()) if f.is_file() and not f.name.startswith(".")]
    elif len(classes) == 1:
        raise DatasetError(
            f"{folder}: one class folder ({classes[0].name}); a labelled image folder needs at least two. "
            "Put the images straight in the folder for an unlabelled dataset."
        )
    if not files:
        raise DatasetError(
            f"{folder}: no files found. Put images (PNG, JPEG, WebP, BMP) in it, one subfolder per class."
        )
    read, skipped = [], 0
    for f, label in progress(files) if progress else files:
        got = _read_image(f) if f.suffix.lower() in IMAGE_SUFFIXES else None
        if got is None:
            skipped += 1
        else:
            read.append((got[0], got[1], label))
    if not read:
        raise DatasetError(f"{folder}: none of its {len(files)} files is a readable PNG, JPEG, WebP or BMP image.")
    notices = [f"skipped {skipped} file(s) that are not readable images"] if skipped else []
    modes = Counter(m for _, m, _ in read)
    mode = "RGB" if modes["RGB"] else "L"
    if len(modes) > 1:
        notices.append(f"mixed colour modes ({modes['L']} grey, {modes['RGB']} colour): all stored as RGB")
    sizes = Counter(a.shape[:2] for a, _, _ in read)
    (h, w), _ = sizes.most_common(1)[0]
    if len(sizes) > 1:
        notices.append(
            f"{sum(n for s, n in sizes.items() if s != (h, w))} image(s) resized to {w}×{h} px (the most common size)"
        )
    out = np.empty((len(read), h, w, 3 if mode == "RGB" else 1), np.uint8)
    for i, (a, m, _) in enumerate(read):
        if m != mode:
            a = np.repeat(a[..., None], 3, axis=2)
        if a.shape[:2] != (h, w):
            a = np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.LANCZOS))
        out[i] = a.reshape(h, w, -1)
    labels = None if not classes else np.array([label for _, _, label in read], np.int64)
    names = tuple(c.name for c in classes) if classes else None
    if labels is not None:
        present = np.unique(labels)
        if len(present) < 2:
            raise DatasetError(f"{folder}: readable images in only one class folder; a labelled dataset needs two.")
    return Source(out, labels, names, None, "image-folder", notices)


def read_npz(path: Path) -> Source:
    """``x`` [N, H, W] or [N, H, W, C]; optional ``y`` [N], ``class_names`` [K] (never unpickled)."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{path}: not a readable .npz without pickled objects ({e}).") from e
    if "x" not in arrays:
        raise DatasetError(
            f"{path}: has no array named 'x' (it holds {sorted(arrays) or 'nothing'}); save the images as x=."
        )
    return Source(arrays["x"], arrays.get("y"), arrays.get("class_names"), None, "npz")


def read_source(path: str | os.PathLike, progress: Callable | None = None) -> Source:
    """The source at ``path``: an .npz file, a folder of IDX files, or an image folder."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"{p} does not exist. Give an .npz file, a folder of IDX files, or a folder of images.")
    if p.is_file():
        if p.suffix.lower() != ".npz":
            raise DatasetError(f"{p}: a file source must be an .npz with x (and optional y, class_names).")
        return read_npz(p)
    if any(re.search(r"-idx[13]-ubyte(\.gz)?$", f.name) for f in p.iterdir()):
        return read_idx_folder(p)
    return read_image_folder(p, progress)


# -------------------------------------------------------------------------------------------- build


def carve_test(n: int, fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED) -> np.ndarray:
    """A seeded test mask: bool [n] with round(n * fraction) test items (at least one, and one train item left)."""
    if n < 2:
        raise DatasetError(f"{n} image(s): a train/test split needs at least 2.")
    k = min(max(1, int(round(n * fraction))), n - 1)
    mask = np.zeros(n, bool)
    mask[np.random.default_rng(seed).permutation(n)[:k]] = True
    return mask


def content_hash(images: np.ndarray, labels: np.ndarray | None, class_names=None) -> str:
    """SHA-256 over the stored images (with their shape), labels and class names: names the exact data."""
    h = hashlib.sha256()
    h.update(repr(tuple(images.shape)).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    if labels is not None:
        h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
        h.update(json.dumps(list(class_names or ())).encode())
    return h.hexdigest()


def build(name: str, source: Source, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED) -> Dataset:
    """Check and order a source's arrays (test first) -> a Dataset with its info record."""
    check_name(name)
    images = _check_images(source.images, name)
    labels, class_names = _check_labels(source.labels, len(images), source.class_names, name)
    carved = source.is_test is None
    is_test = carve_test(len(images), test_fraction, seed) if carved else np.asarray(source.is_test, bool)
    order = np.concatenate([np.flatnonzero(is_test), np.flatnonzero(~is_test)])
    images = images[order]
    labels = labels[order] if labels is not None else None
    info = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "source_kind": source.kind,
        "shape": list(images.shape[1:]),
        "n_items": len(images),
        "n_test": int(is_test.sum()),
        "split": {"carved": True, "fraction": test_fraction, "seed": seed} if carved else {"carved": False},
        "class_names": list(class_names) if class_names else None,
        "notices": list(source.notices),
        "sha256": content_hash(images, labels, class_names),
    }
    return Dataset(name, images, int(is_test.sum()), labels, class_names, info)


# ------------------------------------------------------------------------------------------ registry


def default_root() -> Path:
    """``$LATENT_EXPLORER_DATASETS`` or ``~/.cache/latent-explorer/datasets``."""
    from .data import user_cache

    return Path(os.environ.get(ENV_VAR) or user_cache("datasets"))


def add_dataset(
    name: str,
    path: str | os.PathLike,
    root: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: Callable | None = None,
) -> Dataset:
    """Read, check, convert and register a dataset once; atomic (a failed add leaves nothing behind)."""
    check_name(name)
    root = Path(root or default_root())
    target = root / name
    if target.exists() and not overwrite:
        raise DatasetError(
            f"a dataset named {name!r} exists already ({target}); choose another name or pass --overwrite."
        )
    dataset = build(name, read_source(path, progress))
    dataset.info["source"] = str(Path(path).resolve())
    with staged_folder(target) as tmp:
        arrays = {"images": dataset.images}
        if dataset.labels is not None:
            arrays["labels"] = dataset.labels
        np.savez(tmp / DATA, **arrays)
        (tmp / INFO).write_text(json.dumps(dataset.info, indent=2) + "\n")
    return dataset


@contextlib.contextmanager
def staged_folder(target: Path):
    """A temporary folder beside ``target`` to write into; on success it replaces ``target`` (one rename), on any
    failure it is removed: a reader never sees a half-written folder, and a failed write leaves nothing behind."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_dataset(name: str, root: str | os.PathLike | None = None) -> Dataset:
    """A registered dataset, checked against its recorded content hash."""
    import zipfile

    directory = Path(root or default_root()) / check_name(name)
    fix = f"Register it with `latent-explorer dataset add {name} PATH`."
    if not (directory / INFO).is_file() or not (directory / DATA).is_file():
        raise DatasetError(f"no dataset named {name!r} in {directory.parent}. {fix}")
    try:
        info = json.loads((directory / INFO).read_text())
        with np.load(directory / DATA, allow_pickle=False) as z:
            images, labels = z["images"], (z["labels"] if "labels" in z.files else None)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DatasetError(f"{directory} is damaged ({e}). Register it again with --overwrite.") from e
    names = tuple(info["class_names"]) if info.get("class_names") else None
    if content_hash(images, labels, names) != info.get("sha256"):
        raise DatasetError(f"{directory / DATA} does not match its recorded hash. Register it again with --overwrite.")
    return Dataset(name, images, int(info["n_test"]), labels, names, info)


def list_datasets(root: str | os.PathLike | None = None) -> list[dict]:
    """The info records of every registered dataset, by name (damaged ones are listed with their problem)."""
    root = Path(root or default_root())
    out = []
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        if d.name.startswith(".") or not d.is_dir():
            continue
        try:
            out.append(json.loads((d / INFO).read_text()))
        except (OSError, ValueError) as e:
            out.append({"name": d.name, "problem": f"unreadable {INFO} ({e})"})
    return out


# ------------------------------------------------------------------------------- what runs train on


def as_splits(dataset: Dataset):
    """A registered dataset in the interface training, evaluation and maps use (``explorer.data.FashionMNIST``'s):
    ``train``/``test`` Splits (greyscale images [N, H, W], colour [N, C, H, W]), ``sha256``, ``name``,
    ``class_names``, ``image_shape``."""
    from .data import FashionMNIST, Split

    images = dataset.images[:, 0] if dataset.shape[0] == 1 else dataset.images
    labels = dataset.labels
    test = Split(images[dataset.test], None if labels is None else labels[dataset.test])
    train = Split(images[dataset.train], None if labels is None else labels[dataset.train])
    source = Path(dataset.info.get("source") or dataset.name)
    return FashionMNIST(train, test, source, dataset.sha256, dataset.name, dataset.class_names)


def load_data(name: str, data_dir=None, root=None, download_if_missing: bool = False):
    """The dataset a run names, in the training interface: ``fashion-mnist`` (the default, found as
    ``explorer.data.load_fashion_mnist`` finds it) or a registered one (``load_dataset``)."""
    from .data import FASHION_MNIST, load_fashion_mnist

    if name == FASHION_MNIST:
        return load_fashion_mnist(data_dir, download_if_missing=download_if_missing)
    return as_splits(load_dataset(name, root))


def dataset_names(root=None) -> list[str]:
    """Fashion-MNIST, then every registered dataset that loads (by name)."""
    from .data import FASHION_MNIST

    return [
        FASHION_MNIST,
        *(r["name"] for r in list_datasets(root) if "problem" not in r and r["name"] != FASHION_MNIST),
    ]
