"""Fashion-MNIST: find, verify and parse the four IDX files; salt-and-pepper noise.

Where the files are looked for, in order:
1. an explicit directory (``--data-dir`` or the ``FASHION_MNIST_DIR`` environment variable);
2. Debian's ``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``);
3. the user cache (``$XDG_CACHE_HOME/latent-explorer/fashion-mnist``).
If none holds them, they are downloaded into the cache from the official mirror (only when
``download=True``). Every file is checked by the SHA-256 of its *decompressed* bytes, since
Debian recompressed the ``.gz`` files and their MD5s differ from the official list.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# One item-id space everywhere (maps, clusterings, the dashboard, URLs): ids 0..9,999 are the test images,
# 10,000..69,999 the train images. Test first, so that a test index is its own id.
N_TEST, N_TRAIN = 10_000, 60_000

# SHA-256 of the decompressed IDX bytes.
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
EXPECTED_SHAPES = {
    "train-images-idx3-ubyte": (60000, 28, 28),
    "train-labels-idx1-ubyte": (60000,),
    "t10k-images-idx3-ubyte": (10000, 28, 28),
    "t10k-labels-idx1-ubyte": (10000,),
}
MIRROR = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"

HOW_TO_FIX = (
    "Install it with `apt-get install dataset-fashion-mnist`, or point to a directory holding the "
    f"four IDX files with `--data-dir DIR` or the {ENV_VAR} environment variable."
)

# IDX type codes (third byte of the magic number) -> numpy dtype, big-endian.
_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class DatasetError(RuntimeError):
    """The dataset is missing, truncated or altered; the message says how to fix it."""


FASHION_MNIST = "fashion-mnist"  # the default dataset's name: a registry key, a CLI value and a URL value


@dataclass(frozen=True)
class Split:
    """One split: ``images`` uint8 [N, H, W] (greyscale) or [N, C, H, W], ``labels`` int64 [N] or None (unlabelled)."""

    images: np.ndarray
    labels: np.ndarray | None

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of each image."""
        return (1, *self.images.shape[1:]) if self.images.ndim == 3 else tuple(self.images.shape[1:])

    def tensor(self, idx=slice(None)):
        """Images as float32 torch tensor [N, C, H, W] in [0, 1]."""
        from .inference import as_batch

        return as_batch(self.images[idx], self.image_shape)


@dataclass(frozen=True)
class FashionMNIST:
    """Fashion-MNIST's two splits. Every dataset a run trains on offers this interface (``explorer.datasets``):
    ``train``, ``test``, ``sha256``, ``name``, ``class_names``, ``image_shape``, ``has_labels``, ``all_images``,
    ``all_labels``."""

    train: Split
    test: Split
    source: Path
    sha256: str  # one hash over the four files' hashes: names the exact data a model saw
    name: str = FASHION_MNIST
    class_names: tuple[str, ...] = CLASS_NAMES

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.test.image_shape

    @property
    def has_labels(self) -> bool:
        return self.test.labels is not None

    # In item-id order (see N_TEST).
    @property
    def all_images(self) -> np.ndarray:
        """uint8 [70000, 28, 28]: the 10k test images, then the 60k train images."""
        return np.concatenate([self.test.images, self.train.images])

    @property
    def all_labels(self) -> np.ndarray | None:
        """int64 [70000], in ``all_images`` order (None for a dataset without labels)."""
        return None if not self.has_labels else np.concatenate([self.test.labels, self.train.labels])


def parse_idx(raw: bytes, name: str = "IDX file") -> np.ndarray:
    """Parse IDX bytes by their header: magic (0, 0, type, ndim), then ndim big-endian sizes."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DatasetError(f"{name}: not an IDX file (bad magic number). {HOW_TO_FIX}")
    dtype = _IDX_DTYPES.get(raw[2])
    if dtype is None:
        raise DatasetError(f"{name}: unknown IDX data type 0x{raw[2]:02x}. {HOW_TO_FIX}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DatasetError(f"{name}: truncated IDX header. {HOW_TO_FIX}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DatasetError(
            f"{name}: header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(raw) - header}; it is truncated or damaged. {HOW_TO_FIX}"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _read_raw(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DatasetError(f"{path}: cannot be read ({e}); it is truncated or damaged. {HOW_TO_FIX}") from e


def _find_file(directory: Path, stem: str) -> Path | None:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.is_file():
            return candidate
    return None


def load_file(path: Path, stem: str) -> np.ndarray:
    """Read one IDX file (gzipped or not), verify its SHA-256 and shape, return the array."""
    raw = _read_raw(path)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256[stem]:
        raise DatasetError(
            f"{path}: SHA-256 of the decompressed bytes is {digest[:16]}…, expected "
            f"{SHA256[stem][:16]}…; the file is altered or truncated. Delete it and reinstall. {HOW_TO_FIX}"
        )
    arr = parse_idx(raw, str(path))
    if arr.shape != EXPECTED_SHAPES[stem]:  # unreachable with a matching hash; kept as a guard
        raise DatasetError(f"{path}: shape {arr.shape}, expected {EXPECTED_SHAPES[stem]}. {HOW_TO_FIX}")
    return arr


def user_cache(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/latent-explorer/<parts>`` (``~/.cache`` by default): what can be remade, outside the repo."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).joinpath("latent-explorer", *parts)


def cache_dir() -> Path:
    return user_cache("fashion-mnist")


def candidate_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched, in order."""
    explicit = data_dir or os.environ.get(ENV_VAR)
    if explicit:
        return [Path(explicit)]  # an explicit choice is never silently replaced by another
    return [DEBIAN_DIR, cache_dir()]


def locate(data_dir: str | os.PathLike | None = None) -> Path | None:
    """The first directory holding all four files, or None."""
    for d in candidate_dirs(data_dir):
        if all(_find_file(d, stem) for stem in SHA256):
            return d
    return None


def download(target: Path) -> Path:
    """Download the four official files into ``target`` with a progress bar."""
    from tqdm import tqdm

    target.mkdir(parents=True, exist_ok=True)
    print(f"Fashion-MNIST not found locally; downloading it into {target}")
    for stem in SHA256:
        dest = target / f"{stem}.gz"
        if dest.is_file():
            continue
        tmp = dest.with_suffix(".part")
        try:
            with urllib.request.urlopen(MIRROR + dest.name, timeout=60) as r:
                total = int(r.headers.get("Content-Length") or 0)
                with open(tmp, "wb") as f, tqdm(total=total, unit="B", unit_scale=True, desc=dest.name) as bar:
                    while chunk := r.read(1 << 16):
                        f.write(chunk)
                        bar.update(len(chunk))
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise DatasetError(f"Download of {dest.name} failed ({e}). {HOW_TO_FIX}") from e
        tmp.rename(dest)
    return target


def _verified_cache(path: Path, stem: str) -> Path:
    """Where the verified array of ``path`` is kept: named by the file's identity (path, size, mtime)."""
    st = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{SHA256[stem]}".encode()).hexdigest()[:16]
    return cache_dir() / "verified" / f"{stem}-{key}.npy"


def load_verified(path: Path, stem: str) -> np.ndarray:
    """``load_file``, remembered: once a file has passed its SHA-256 check, its array is kept in the user
    cache and reloaded in milliseconds (a dashboard start would otherwise spend ~0.4 s re-hashing)."""
    cached = _verified_cache(path, stem)
    if cached.is_file():
        try:
            arr = np.load(cached, allow_pickle=False)
            if arr.shape == EXPECTED_SHAPES[stem]:
                return arr
        except (OSError, ValueError):
            pass  # a damaged cache entry is rebuilt below
    arr = load_file(path, stem)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        for old in cached.parent.glob(f"{stem}-*.npy"):
            old.unlink(missing_ok=True)
        tmp = cached.with_suffix(".tmp.npy")
        np.save(tmp, arr, allow_pickle=False)
        tmp.replace(cached)
    except OSError:
        pass  # a read-only cache only costs speed
    return arr


def load_fashion_mnist(data_dir: str | os.PathLike | None = None, download_if_missing: bool = False) -> FashionMNIST:
    """Find, verify and load Fashion-MNIST (60k train, 10k test)."""
    directory = locate(data_dir)
    if directory is None:
        if not download_if_missing:
            searched = ", ".join(str(d) for d in candidate_dirs(data_dir))
            raise DatasetError(f"Fashion-MNIST not found (looked in: {searched}). {HOW_TO_FIX}")
        directory = download(Path(data_dir or os.environ.get(ENV_VAR) or cache_dir()))
    arrays = {stem: load_verified(_find_file(directory, stem), stem) for stem in SHA256}
    combined = hashlib.sha256("".join(SHA256.values()).encode()).hexdigest()
    return FashionMNIST(
        train=Split(arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"].astype(np.int64)),
        test=Split(arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"].astype(np.int64)),
        source=directory,
        sha256=combined,
    )


def train_val_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of ``range(n)`` into train and validation indices (validation is carved from train)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction == {val_fraction}, must be in (0, 1).")
    perm = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction))
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def salt_and_pepper(x, amount: float, generator=None):
    """Replace each pixel with probability ``amount`` by 0 or 1 (equal chance).

    Works on torch tensors (``generator``: torch.Generator) and numpy arrays
    (``generator``: np.random.Generator). x: any shape, values in [0, 1].
    """
    if not 0.0 <= amount <= 1.0:
        raise ValueError(f"amount == {amount}, must be in [0, 1].")
    if isinstance(x, np.ndarray):
        rng = generator if generator is not None else np.random.default_rng()
        hit = rng.random(x.shape) < amount
        salt = rng.random(x.shape) < 0.5
        return np.where(hit, salt.astype(x.dtype), x)
    import torch

    hit = torch.rand(x.shape, generator=generator, device=x.device) < amount
    salt = (torch.rand(x.shape, generator=generator, device=x.device) < 0.5).to(x.dtype)
    return torch.where(hit, salt, x)
