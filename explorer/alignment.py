"""Aligned maps of a run's snapshots: the same items laid out frame after frame so that a point's motion means
something, and the measure of how much they move. No streamlit.

Independent UMAP fits of consecutive snapshots place the same item anywhere (each fit is free to rotate, mirror and
rearrange the clusters), so an animation of them jumps. ``aligned_layouts`` fits UMAP once, on the last snapshot
(the trained model's map), then walks back through the earlier ones, each fitted for a few epochs starting from the
layout of the frame after it (``init=``) and turned onto it by a Procrustes fit; 2-D codes are used as they are.

``stored_layouts`` is what ``prepare`` writes beside the snapshots (``snapshots-map.npz``), keyed by the snapshot
files it was made from; ``quick_layouts`` is the dashboard's stand-in until then (PCA, for a run still training).
"""

from __future__ import annotations

import hashlib
import time
import zipfile
from pathlib import Path

import numpy as np

from .projection import UMAP_PARAMS, enable_numba_cache
from .snapshots import snapshot_files

MAP_FILE = "snapshots-map.npz"
# An earlier frame is fitted from the next one's layout for a few UMAP epochs (a full fit: 500) at a low learning rate
# (UMAP's default: 1): measured on real dense snapshots (benchmarks/bench_alignment.py, before the init stretch was
# undone), 60 epochs at rate 1 moved items 4.7 % of the map between frames, 60 at 0.2 3.2 %, 20 at 0.1 2.7 % in a
# third of the time (2.0 % with the stretch undone), keeping about as many neighbours as independent fits.
REFINE_EPOCHS = 20
REFINE_RATE = 0.1
METHOD = f"umap-last-then-init-{REFINE_EPOCHS}-lr{REFINE_RATE}+procrustes"


def extent(xy: np.ndarray) -> float:
    """A map's size: the larger side of the box holding its middle 98 % of points (robust to a few far points)."""
    lo, hi = np.percentile(xy, [1, 99], axis=0)
    return float(max(np.max(hi - lo), 1e-12))


def normalise(xy: np.ndarray) -> np.ndarray:
    """A layout centred on its median and divided by its ``extent``: frames of any scale compare."""
    return (xy - np.median(xy, axis=0)) / extent(xy)


def displacement(layouts: np.ndarray) -> float:
    """Median distance an item moves between consecutive frames, as a fraction of the map's extent (each frame
    ``normalise``d). ``layouts``: [T, N, 2], the same items in the same order in every frame."""
    layouts = np.asarray(layouts, np.float64)
    if layouts.ndim != 3 or layouts.shape[2] != 2 or len(layouts) < 2:
        raise ValueError(f"layouts of shape {layouts.shape}: need [T >= 2, N, 2].")
    frames = [normalise(f) for f in layouts]
    steps = [np.linalg.norm(b - a, axis=1) for a, b in zip(frames, frames[1:], strict=False)]
    return float(np.median(np.concatenate(steps)))


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``source`` [N, 2] moved onto ``target`` [N, 2] by the similarity transform (shift, rotation or mirror, scale)
    that minimises the squared distances of the same items."""
    mu_s, mu_t = source.mean(0), target.mean(0)
    a, b = source - mu_s, target - mu_t
    u, s, vt = np.linalg.svd(a.T @ b)
    rotation = u @ vt
    scale = s.sum() / max((a**2).sum(), 1e-12)
    return (a @ rotation * scale + mu_t).astype(np.float32)


def neighbour_preservation(codes: np.ndarray, layout: np.ndarray, k: int = 10) -> float:
    """How faithful a layout is: the mean fraction of each item's ``k`` nearest neighbours by code that are among its
    ``k`` nearest on the map (1: all kept). Alignment must not buy stillness by leaving the codes behind."""
    from .neighbours import knn

    codes, layout = np.asarray(codes, np.float32), np.asarray(layout, np.float32)
    own = np.arange(len(codes))
    by_code, _ = knn(codes, codes, k, exclude=own)
    by_map, _ = knn(layout, layout, k, exclude=own)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(by_code, by_map, strict=True)]))


def _umap(codes: np.ndarray, seed: int, init=None, n_epochs: int | None = None, learning_rate: float = 1.0):
    import umap

    params = {**UMAP_PARAMS, "random_state": seed, "n_jobs": 1}  # seeded: single-threaded anyway
    if init is None:
        return umap.UMAP(n_components=2, **params).fit_transform(np.asarray(codes, np.float32)).astype(np.float32)
    # UMAP stretches an initial layout to [0, 10] on each axis before optimising it (umap_.simplicial_set_embedding):
    # a stretch that a Procrustes fit cannot undo, which moved every item a few % of the map. Give it the layout in
    # that box already and map the result back by the inverse of the same stretch.
    init = np.asarray(init, np.float64)
    lo, span = init.min(0), np.maximum(init.max(0) - init.min(0), 1e-12)
    boxed = 10.0 * (init - lo) / span
    params |= {"init": boxed, "n_epochs": n_epochs, "learning_rate": learning_rate}
    fitted = umap.UMAP(n_components=2, **params).fit_transform(np.asarray(codes, np.float32))
    return (lo + np.asarray(fitted, np.float64) * span / 10.0).astype(np.float32)


def independent_layouts(codes: np.ndarray, seed: int | None = 42) -> np.ndarray:
    """One full UMAP fit per frame, each on its own: [T, N, D] -> [T, N, 2] (the baseline alignment must beat).
    ``seed``: every frame's (as ``prepare``'s maps), or None: frame t's seed is t (nothing shared between frames)."""
    enable_numba_cache()
    return np.stack([_umap(c, t if seed is None else seed) for t, c in enumerate(codes)])


def aligned_layouts(
    codes: np.ndarray, seed: int = 42, refine_epochs: int = REFINE_EPOCHS, learning_rate: float = REFINE_RATE
) -> np.ndarray:
    """Snapshot codes [T, N, D] -> aligned layouts [T, N, 2]: 2-D codes as they are; else a full UMAP fit of the
    last frame, then each earlier frame fitted from the next one's layout for ``refine_epochs`` and moved onto it
    by ``procrustes``. Seeded: the same codes give the same layouts."""
    codes = np.asarray(codes, np.float32)
    if codes.ndim != 3 or len(codes) == 0:
        raise ValueError(f"codes of shape {codes.shape}: need [T >= 1, N, D].")
    if codes.shape[2] == 2:
        return codes.copy()
    enable_numba_cache()
    out = np.empty((*codes.shape[:2], 2), np.float32)
    out[-1] = _umap(codes[-1], seed)
    for t in range(len(codes) - 2, -1, -1):
        fitted = _umap(codes[t], seed, init=out[t + 1], n_epochs=refine_epochs, learning_rate=learning_rate)
        out[t] = procrustes(fitted, out[t + 1])
    return out


def _pca2(x: np.ndarray) -> np.ndarray:
    x = x - x.mean(0)
    if x.shape[1] <= 2:
        return np.pad(x, ((0, 0), (0, 2 - x.shape[1]))).astype(np.float32)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return (x @ vt[:2].T).astype(np.float32)


def quick_layouts(codes: np.ndarray) -> np.ndarray:
    """A cheap stand-in while a run trains or before ``prepare``: [T, N, D] -> [T, N, 2], each frame's first two
    principal components (2-D codes as they are), moved onto the next frame by ``procrustes``. Milliseconds."""
    codes = np.asarray(codes, np.float32)
    if codes.shape[2] == 2:
        return codes.copy()
    out = np.empty((*codes.shape[:2], 2), np.float32)
    out[-1] = _pca2(codes[-1])
    for t in range(len(codes) - 2, -1, -1):
        out[t] = procrustes(_pca2(codes[t]), out[t + 1])
    return out


def frames_key(directory: Path) -> str:
    """What a stored map was made from: the snapshot files' names, sizes and modification times, hashed."""
    h = hashlib.sha256()
    for path in snapshot_files(directory):
        s = path.stat()
        h.update(f"{path.name}:{s.st_size}:{s.st_mtime_ns};".encode())
    return h.hexdigest()


def write_aligned(directory: Path, seed: int = 42) -> tuple[Path, float] | None:
    """Lay a run's snapshots out aligned and store them (``snapshots-map.npz``) -> (path, seconds); None if the run
    has no snapshots."""
    from .snapshots import load_frames, save_npz_atomic

    directory = Path(directory)
    frames = load_frames(directory)
    if frames is None:
        return None
    key = frames_key(directory)
    t0 = time.perf_counter()
    coords = aligned_layouts(frames.codes, seed)
    seconds = time.perf_counter() - t0
    path = save_npz_atomic(
        directory / MAP_FILE,
        key=np.array(key),
        method=np.array(METHOD if frames.codes.shape[2] != 2 else "codes"),
        epochs=frames.epochs,
        ids=frames.ids,
        coords=coords,
        seconds=np.float64(seconds),
    )
    return path, seconds


def stored_layouts(directory: Path, epochs: np.ndarray) -> np.ndarray | None:
    """The aligned layouts ``prepare`` stored, if they were made from the snapshots there now (same files, same
    epochs); None otherwise (missing, stale or unreadable)."""
    path = Path(directory) / MAP_FILE
    try:
        with np.load(path) as z:
            if str(z["key"]) != frames_key(directory) or not np.array_equal(z["epochs"], epochs):
                return None
            return z["coords"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
