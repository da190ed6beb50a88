"""Nearest neighbours in a latent space, and precision@k."""

from __future__ import annotations

import numpy as np


def pairwise_sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a: [M, D], b: [N, D] -> squared Euclidean distances [M, N] (float64 accumulation)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)


def knn(codes: np.ndarray, query: np.ndarray, k: int, exclude: np.ndarray | int | None = None):
    """The k nearest rows of ``codes`` [N, D] to each query [M, D] (or [D]).

    ``exclude``: a row index per query (or one for all) left out, e.g. the query itself.
    Returns (indices [M, k], distances [M, k]), nearest first; 1-d results for a 1-d query.
    """
    single = np.ndim(query) == 1
    q = np.atleast_2d(query)
    n = len(codes)
    if not 1 <= k < n:
        raise ValueError(f"k == {k}, must be in [1, {n - 1}].")
    d = pairwise_sq_dists(q, codes)
    if exclude is not None:
        ex = np.broadcast_to(np.asarray(exclude), (len(q),))
        d[np.arange(len(q)), ex] = np.inf
    part = np.argpartition(d, k, axis=1)[:, :k]
    order = np.take_along_axis(d, part, 1).argsort(1, kind="stable")
    idx = np.take_along_axis(part, order, 1)
    dist = np.sqrt(np.take_along_axis(d, idx, 1))
    return (idx[0], dist[0]) if single else (idx, dist)


def precision_at_k(codes: np.ndarray, labels: np.ndarray, k: int = 10, batch: int = 1000) -> float:
    """Mean fraction of each item's k nearest neighbours (self excluded) that share its label."""
    codes = np.asarray(codes, dtype=np.float32)
    hits = 0
    for i in range(0, len(codes), batch):
        rows = np.arange(i, min(i + batch, len(codes)))
        idx, _ = knn(codes, codes[rows], k, exclude=rows)
        hits += int((labels[idx] == labels[rows, None]).sum())
    return hits / (len(codes) * k)
