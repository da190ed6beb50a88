"""2-D maps of the latent codes (UMAP), computed offline and stored beside each checkpoint.

``projection-test.npz`` holds, for the 10k test images: the codes, the fitted UMAP coordinates,
each image's reconstruction error, and the SHA-256 of the weights they came from, so a map made
from other weights is recognised as stale. ``projection-all.npz`` holds the coordinates of all
70k images (the 10k test images first, then the 60k train images: one item-id space everywhere).
A run of imported codes (``import-codes``) has no weights: its ``projection-test.npz`` is written by that command,
keyed by the SHA-256 of its ``codes.npz`` instead, with a NaN reconstruction error (no model, no reconstruction).
Placing a new point never calls UMAP: it is a distance-weighted average of the coordinates of its
k nearest test codes (``place``), well under a millisecond.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from .checkpoint import WEIGHTS, checkpoint_dir, file_sha256, is_run_key, load_model, weights_hash
from .inference import encode_with_error
from .neighbours import SearchCodes, knn, search_codes

UMAP_PARAMS = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean", "random_state": 42}
SPLITS = ("test", "all")


class ProjectionError(RuntimeError):
    """A projection is missing, stale or damaged; the message names the command that recreates it."""

    recomputable = False  # True where computing it again is all it takes (missing or stale, not damaged)


class ProjectionMissingError(ProjectionError):
    recomputable = True


class ProjectionStaleError(ProjectionError):
    recomputable = True


@dataclass(frozen=True)
class Projection:
    variant: str
    split: str  # "test": the 10k test images; "all": 10k test then 60k train
    weights_sha256: str  # of the weights it was made from (an imported-codes run: of its codes.npz)
    labels: np.ndarray  # int64 [N]
    coords: np.ndarray  # float32 [N, 2]
    codes: np.ndarray | None  # float32 [N, D]; stored for "test" only
    recon_mse: np.ndarray  # float32 [N]: per-image MSE of the (clipped) reconstruction; NaN for imported codes
    # the 10 nearest test items of each of explorer.neighbours.sample_items(N), int32 [n, 10]: how runs' neighbourhoods
    # are compared (Compare page) without their codes; stored with a test map
    sample_neighbours: np.ndarray | None = None

    @cached_property
    def search(self) -> SearchCodes | None:
        """The codes prepared for nearest-neighbour queries (once per loaded map; None without codes)."""
        return None if self.codes is None else search_codes(self.codes)


def path_for(name: str, split: str = "test", root=None) -> Path:
    if split not in SPLITS:
        raise ValueError(f"split == {split!r}, must be one of {SPLITS}.")
    return checkpoint_dir(name, root) / f"projection-{split}.npz"


def codes_file(name: str, root=None) -> Path | None:
    """An imported-codes run's ``codes.npz`` (a run folder with codes and no weights), else None."""
    from .runs import CODES

    directory = checkpoint_dir(name, root)
    codes = directory / CODES
    return codes if is_run_key(name) and codes.is_file() and not (directory / WEIGHTS).is_file() else None


def source_sha256(name: str, root=None) -> str:
    """SHA-256 of what a map is made from: the checkpoint's weights, or an imported-codes run's ``codes.npz``."""
    codes = codes_file(name, root)
    return file_sha256(codes) if codes is not None else weights_hash(name, root)


def fix_command(name: str, split: str = "test", root=None) -> str:
    if codes_file(name, root) is not None:
        from .runs import import_codes_command

        return import_codes_command(name, root)
    if is_run_key(name):
        return f"python -m explorer prepare {name}" + (" --all" if split == "all" else "")
    return f"python -m explorer project --variant {name}" + (" --all" if split == "all" else "")


def layout(codes: np.ndarray) -> np.ndarray:
    """2-D map coordinates of codes [N, D]: the codes themselves where D == 2 (the latent space is the map, no
    UMAP), else a UMAP fit (``fit_umap``)."""
    codes = np.asarray(codes, np.float32)
    return codes.copy() if codes.ndim == 2 and codes.shape[1] == 2 else fit_umap(codes)


def load_projection(name: str, split: str = "test", root=None) -> Projection:
    """Load a stored projection; ProjectionError if missing, damaged or made from other weights."""
    path = path_for(name, split, root)
    fix = fix_command(name, split, root)
    if not path.is_file():
        raise ProjectionMissingError(f"No {split} map for {name} yet ({path} is missing). Create it with `{fix}`.")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        proj = Projection(
            variant=name,
            split=split,
            weights_sha256=str(d["weights_sha256"]),
            labels=d["labels"].astype(np.int64),
            coords=d["coords"].astype(np.float32),
            codes=d["codes"].astype(np.float32) if "codes" in d else None,
            recon_mse=d["recon_mse"].astype(np.float32),
            sample_neighbours=d["sample_neighbours"].astype(np.int32) if "sample_neighbours" in d else None,
        )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ProjectionError(f"{path} is damaged ({e}). Recreate it with `{fix}`.") from e
    if proj.weights_sha256 != source_sha256(name, root):
        raise ProjectionStaleError(
            f"{path} was made from other weights (or codes) than the run holds now. Update it with `{fix}`."
        )
    n = len(proj.labels)
    if proj.coords.shape != (n, 2) or len(proj.recon_mse) != n or (proj.codes is not None and len(proj.codes) != n):
        raise ProjectionError(f"{path} has inconsistent array lengths. Recreate it with `{fix}`.")
    return proj


def place(codes_new: np.ndarray, proj: Projection, k: int = 10) -> np.ndarray:
    """Map coordinates [M, 2] for new codes [M, D] ([2] for one code [D]): inverse-distance-weighted kNN."""
    if proj.codes is None:
        raise ValueError("place() needs a projection that stores codes (split 'test').")
    idx, dist = knn(proj.search, np.asarray(codes_new, dtype=np.float32), k)
    w = 1.0 / (dist + 1e-6)
    w /= w.sum(-1, keepdims=True)
    return (proj.coords[idx] * w[..., None]).sum(-2).astype(np.float32)


# UMAP's and pynndescent's numba functions, compiled once and cached on disk (numba's own cache, beside the
# packages or in the user cache), so that a later process does not compile them again: that compilation was
# most of a 10k-image map's minute. Compiled code is the same code, so the maps are identical.
NUMBA_MODULES = ("umap.umap_", "umap.layouts", "umap.utils", "umap.spectral", "umap.distances", "umap.sparse",
                 "pynndescent.pynndescent_", "pynndescent.utils", "pynndescent.distances", "pynndescent.sparse",
                 "pynndescent.rp_trees", "pynndescent.graph_utils")  # fmt: skip
_numba_cached = False


def enable_numba_cache() -> int:
    """Turn on numba's on-disk cache for every not-yet-cached jitted function of ``NUMBA_MODULES`` -> how many."""
    global _numba_cached
    if _numba_cached:
        return 0
    import importlib

    from numba.core.caching import FunctionCache
    from numba.core.registry import CPUDispatcher

    n = 0
    for name in NUMBA_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for f in vars(module).values():
            if isinstance(f, CPUDispatcher) and not isinstance(f._cache, FunctionCache):
                try:
                    f.enable_caching()
                    n += 1
                except Exception:  # noqa: BLE001 - a function numba cannot cache just compiles as before
                    pass
    _numba_cached = True
    return n


def fit_umap(codes: np.ndarray, verbose: bool = False) -> np.ndarray:
    """UMAP with a fixed random_state (reproducible, single-threaded) -> coords float32 [N, 2]."""
    import umap

    enable_numba_cache()
    return umap.UMAP(n_components=2, verbose=verbose, **UMAP_PARAMS).fit_transform(codes).astype(np.float32)


def split_images(data, split: str) -> tuple[np.ndarray, np.ndarray | None]:
    """A map's images and labels (None: unlabelled): the test split, or all items for split "all"."""
    return (data.test.images, data.test.labels) if split == "test" else (data.all_images, data.all_labels)


def compute_projection(name: str, data, split: str = "test", root=None, model=None, encoded=None) -> Projection:
    """Encode the split (codes and each image's reconstruction error), fit UMAP, save the artefact, return it.
    ``encoded``: the split's (codes, errors) computed already (by several processes, ``prepare`` under torchrun)."""
    model = model if model is not None else load_model(name, root)
    images, labels = split_images(data, split)
    labels = np.full(len(images), -1, np.int64) if labels is None else labels  # -1: no label
    codes, mse = encoded if encoded is not None else encode_with_error(model, images)
    coords = layout(codes)
    stored = (codes.astype(np.float16) if codes.shape[1] > 32 else codes) if split == "test" else None
    write_projection(path_for(name, split, root), weights_hash(name, root), labels, coords, mse, stored)
    return load_projection(name, split, root)


def write_projection(path: Path, sha256: str, labels, coords, recon_mse, codes=None) -> Path:
    """Save a projection's arrays in the format ``load_projection`` reads (labels int [N], -1: none; coords [N, 2];
    recon_mse [N]; codes [N, D] or None)."""
    labels = np.asarray(labels, np.int64)
    arrays = {
        "weights_sha256": np.array(sha256),
        "labels": labels.astype(np.uint8) if labels.min(initial=0) >= 0 and labels.max(initial=0) < 256 else labels,
        "coords": np.asarray(coords, np.float32),
        "recon_mse": np.asarray(recon_mse, np.float32),
    }
    if codes is not None:
        from .neighbours import sample_neighbours

        arrays["codes"] = codes
        found = sample_neighbours(codes)
        if found is not None:
            arrays["sample_neighbours"] = found
    np.savez_compressed(path, **arrays)
    return path
