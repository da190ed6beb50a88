"""The Training page's logic, apart from Streamlit: which epoch is shown, which item is followed, its trail.

A run's snapshots are frames (``explorer.snapshots.Frames``); their layouts are ``explorer.alignment``'s (aligned
by ``prepare``, or the quick PCA stand-in while a run trains).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def next_frame(index: int, n_frames: int) -> int:
    """Play: the frame after ``index``, back to the first after the last."""
    if n_frames < 1:
        raise ValueError(f"n_frames == {n_frames}, must be >= 1.")
    return (index + 1) % n_frames


def shown_frame(asked: int | None, n_frames: int, before: int | None) -> int:
    """The frame to show now that the run has ``n_frames`` (``before``: how many it had when the viewer last saw
    it): the newest when the viewer was on the newest (a live run's map follows training) or asked for none, else
    the one asked for, clamped to the frames there are."""
    if n_frames < 1:
        raise ValueError(f"n_frames == {n_frames}, must be >= 1.")
    if asked is None or (before is not None and asked == before - 1):
        return n_frames - 1
    return min(max(int(asked), 0), n_frames - 1)


def followed_item(current: int | None, clicked: Sequence[int], ids: np.ndarray) -> int | None:
    """The item followed through time after a click on the map: the first clicked item that is among the frames'
    ``ids`` (a click on the followed item keeps it); no click (or only clicks on other things) keeps ``current``."""
    known = set(np.asarray(ids).tolist())
    for item in clicked:
        if int(item) in known:
            return int(item)
    return current


def trail(layouts: np.ndarray, ids: np.ndarray, item: int, upto: int | None = None) -> np.ndarray:
    """Where ``item`` is in each frame [T, N, 2] -> [T', 2], frames 0..``upto`` (all if None). ValueError if the
    item is not among ``ids``."""
    rows = np.flatnonzero(np.asarray(ids) == item)
    if len(rows) == 0:
        raise ValueError(f"item {item} is not among the snapshots' {len(ids)} items.")
    end = len(layouts) if upto is None else upto + 1
    return np.asarray(layouts[:end, rows[0]], np.float32)


def frame_ranges(layouts: np.ndarray, pad: float = 0.05) -> tuple[tuple[float, float], tuple[float, float]]:
    """Axis ranges holding every frame (so that the map does not jump as frames change): ((x0, x1), (y0, y1))."""
    flat = np.asarray(layouts, np.float64).reshape(-1, 2)
    lo, hi = np.percentile(flat, [0.5, 99.5], axis=0)
    span = np.maximum(hi - lo, 1e-9)
    lo, hi = lo - pad * span, hi + pad * span
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def frame_caption(epochs: np.ndarray, index: int, losses: Sequence[dict]) -> str:
    """ "Epoch 5 (frame 4 of 12): validation loss 0.0213"."""
    loss = losses[index].get("val_loss") if index < len(losses) else None
    tail = f": validation loss {loss:.4g}" if isinstance(loss, (int, float)) else ""
    return f"Epoch {int(epochs[index])} (frame {index + 1} of {len(epochs)}){tail}"


def final_clusters(codes: np.ndarray, k: int = 10, seed: int = 0) -> np.ndarray:
    """Each item's k-means cluster of its code in the last frame (``codes`` [T, N, D]) -> int [N]: every frame is
    coloured by where its items end up, so the colours follow the items as the clusters form."""
    from sklearn.cluster import KMeans

    last = np.asarray(codes[-1], np.float32)
    k = min(k, len(last))
    if k < 1:
        raise ValueError("no items to cluster.")
    return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(last).astype(np.int64)
