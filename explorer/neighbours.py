"""Nearest neighbours in a latent space, precision@k, one query put to every variant, and picking items."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .data import CLASS_NAMES


def pairwise_sq_dists(a: np.ndarray, b: np.ndarray, b_sq: np.ndarray | None = None) -> np.ndarray:
    """a: [M, D], b: [N, D] -> squared Euclidean distances [M, N] (float64 accumulation).

    ``b_sq``: ``(b * b).sum(1)`` in float64, when the caller keeps it (``SearchCodes``) with ``b`` already float64:
    then nothing of size N×D is copied or recomputed per query.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if b_sq is None:
        b_sq = (b * b).sum(1)
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + b_sq[None, :]
    return np.maximum(d, 0.0)


@dataclass(frozen=True)
class SearchCodes:
    """Codes prepared once for many nearest-neighbour queries: float64 rows and their squared norms.

    A query against 10k 256-number codes otherwise copied them to float64 and summed their squares each time
    (~20 ms; ~1 ms prepared). Made by ``search_codes`` and kept with the map (``Projection.search``).
    """

    codes: np.ndarray  # float64 [N, D]
    sq_norms: np.ndarray  # float64 [N]

    def __len__(self) -> int:
        return len(self.codes)


def search_codes(codes: np.ndarray) -> SearchCodes:
    c = np.ascontiguousarray(codes, dtype=np.float64)
    return SearchCodes(c, (c * c).sum(1))


def knn(codes: np.ndarray | SearchCodes, query: np.ndarray, k: int, exclude: np.ndarray | int | None = None):
    """The k nearest rows of ``codes`` [N, D] (or prepared ``SearchCodes``) to each query [M, D] (or [D]).

    ``exclude``: a row index per query (or one for all) left out, e.g. the query itself.
    Returns (indices [M, k], distances [M, k]), nearest first; 1-d results for a 1-d query.
    """
    single = np.ndim(query) == 1
    q = np.atleast_2d(query)
    n = len(codes)
    if not 1 <= k < n:
        raise ValueError(f"k == {k}, must be in [1, {n - 1}].")
    if isinstance(codes, SearchCodes):
        d = pairwise_sq_dists(q, codes.codes, codes.sq_norms)
    else:
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


# ----------------------------------------------------------------- one query put to every variant


@dataclass(frozen=True)
class Neighbours:
    """One variant's nearest items to a query."""

    variant: str
    idx: np.ndarray  # int [k], nearest first
    dist: np.ndarray  # float [k]


def neighbours_all(
    codes: Mapping[str, np.ndarray | SearchCodes],
    queries: Mapping[str, np.ndarray],
    k: int,
    exclude: int | None = None,
) -> dict[str, Neighbours]:
    """The k nearest items to one query in every variant's latent space.

    codes: name -> [N, D_name] or its ``SearchCodes`` (same N rows, e.g. the 10k test images); queries: name ->
    [D_name], the query's code in that space; ``exclude``: a row left out (the query itself when it is one of the
    rows).
    """
    out = {}
    for name, c in codes.items():
        idx, dist = knn(c, np.asarray(queries[name], dtype=np.float32), k, exclude=exclude)
        out[name] = Neighbours(name, idx, dist)
    return out


def agreement(results: Mapping[str, Neighbours], reference: str) -> dict[str, int]:
    """How many of each variant's neighbours are also among ``reference``'s (the reference agrees with itself: k)."""
    ref = set(results[reference].idx.tolist())
    return {name: len(ref.intersection(r.idx.tolist())) for name, r in results.items()}


def same_class(results: Mapping[str, Neighbours], labels: np.ndarray, query_label: int) -> dict[str, int]:
    """How many of each variant's neighbours share the query's class."""
    return {name: int((np.asarray(labels)[r.idx] == query_label).sum()) for name, r in results.items()}


# --------------------------------------------------------------------------------- picking items


def sample_per_class(labels: np.ndarray, per_class: int = 1, seed: int = 0) -> np.ndarray:
    """``per_class`` random row ids of each class, ordered by class (seeded)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    picks = []
    for c in range(max(len(CLASS_NAMES), int(labels.max()) + 1 if len(labels) else 0)):
        rows = np.flatnonzero(labels == c)
        if len(rows):
            picks.append(rng.choice(rows, size=min(per_class, len(rows)), replace=False))
    return np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)


def random_of_class(labels: np.ndarray, cls: int, seed: int) -> int:
    """One seeded random row id of class ``cls``."""
    rows = np.flatnonzero(np.asarray(labels) == cls)
    if len(rows) == 0:
        raise ValueError(f"class == {cls}: no item of that class.")
    return int(np.random.default_rng(seed).choice(rows))


SAMPLE_N, SAMPLE_K, SAMPLE_SEED = 1000, 10, 0  # the fixed test items whose neighbourhoods runs are compared on


def sample_items(n_items: int, n: int = SAMPLE_N, seed: int = SAMPLE_SEED) -> np.ndarray:
    """The ``n`` test items (sorted, seeded) whose neighbourhoods every run stores: the same for every run of a
    dataset, so that runs can be compared without their codes."""
    return np.sort(np.random.default_rng(seed).choice(n_items, size=min(n, n_items), replace=False))


def sample_neighbours(codes: np.ndarray, k: int = SAMPLE_K) -> np.ndarray | None:
    """The ``k`` nearest test items of each of ``sample_items(len(codes))`` -> int32 [n, k], each row sorted by
    id (a set); None when there are too few items."""
    codes = np.asarray(codes, np.float32)
    if len(codes) <= k:
        return None
    picks = sample_items(len(codes))
    idx = np.concatenate(
        [knn(codes, codes[b], k, exclude=b)[0] for b in np.array_split(picks, max(1, len(picks) // 250))]
    )
    return np.sort(idx, axis=1).astype(np.int32)
