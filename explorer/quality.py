"""The data's own mistakes, found in a run's code space: likely mislabels, outliers and near-duplicates.

Pure functions over arrays, one row per item in item-id order (the test split first, then train):
codes [N, D], labels int [N] (or None), images uint8 [N, H, W] or [N, C, H, W], reconstruction errors [N].
They return plain tables (frozen dataclasses of numpy arrays, each with ``frame()`` for a CSV); no torch, no
Streamlit, no files. ``explorer.commands.quality`` computes them for a run and stores them beside it.

- **likely mislabels**: an item's k nearest neighbours vote for its class; the less weight they give to its own
  label, the likelier it is wrong (the kNN label-noise filters of Wilson 1972 and Brodley & Friedl 1999; cleanlab
  ranks by the same "self-confidence", p(given label), from out-of-sample probabilities).
- **outliers**: the highest reconstruction errors, and the lowest density (the mean distance to the k nearest
  codes: the kNN-distance outlier score of Ramaswamy et al. 2000).
- **near-duplicates**: each item's nearest codes are the candidates (a few per item, so memory stays linear in N),
  confirmed and ranked by the RMS pixel difference of the two images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

K = 10  # neighbours that measure density and are shown: precision@10 is the codebase's neighbourhood measure
# neighbours that vote on a label: of 10, 20, 50 and 100, 100 found the most flipped labels for the dense and VAE
# codes and for raw pixels alike (benchmarks/bench_mislabels.py)
K_VOTE = 100
DUPLICATE_CANDIDATES = 5  # nearest codes per item checked in pixel space
TOP = 300  # rows kept per stored list (the mislabel bar looks at the top 300)
NEEDS_LABELS = "needs labels: likely mislabels are found by comparing each item's label with its neighbours'"


def _check_codes(codes) -> np.ndarray:
    codes = np.asarray(codes, np.float32)
    if codes.ndim != 2:
        raise ValueError(f"codes of shape {codes.shape}: expected [N, D].")
    if not np.isfinite(codes).all():
        raise ValueError("codes hold NaN or inf values: re-encode the items with a model whose weights load cleanly.")
    return codes


def code_neighbours(codes, k: int = K, metric: str = "euclidean", rows=None, batch: int = 2048):
    """Each item's k nearest other items: (indices int64 [N, k], distances float32 [N, k]), nearest first.

    ``rows``: only these items' neighbours ([len(rows), k]), still looked for among all N.
    ``metric``: "euclidean" or "cosine" (Euclidean on unit-length codes, monotone in cosine distance). Exact
    duplicates stay each other's neighbours; only the item itself is left out. Memory: O(N·k) plus one batch.
    """
    from sklearn.neighbors import NearestNeighbors

    codes = _check_codes(codes)
    rows = np.arange(len(codes)) if rows is None else np.asarray(rows, np.int64).ravel()
    n = len(rows)
    k = min(int(k), len(codes) - 1)
    if k < 1:
        return np.zeros((n, 0), np.int64), np.zeros((n, 0), np.float32)
    if metric == "cosine":
        codes = codes / np.maximum(np.linalg.norm(codes, axis=1, keepdims=True), 1e-12)
    elif metric != "euclidean":
        raise ValueError(f"metric == {metric!r}, must be 'euclidean' or 'cosine'.")
    index = NearestNeighbors(n_neighbors=k + 1).fit(codes)
    idx = np.empty((n, k), np.int64)
    dist = np.empty((n, k), np.float32)
    for start in range(0, n, batch):
        part = slice(start, min(start + batch, n))
        query = rows[part]
        d, i = index.kneighbors(codes[query])
        # drop the item itself (not always in column 0 when it has exact duplicates), else the farthest
        is_self = i == query[:, None]
        drop = np.where(is_self.any(1), is_self.argmax(1), k)
        keep = np.ones_like(is_self)
        keep[np.arange(len(query)), drop] = False
        idx[part] = i[keep].reshape(len(query), k)
        dist[part] = d[keep].reshape(len(query), k)
    return idx, dist


# ------------------------------------------------------------------------------------------- mislabels


@dataclass(frozen=True)
class Mislabels:
    """Items ranked by how likely their label is wrong, likeliest first."""

    ids: np.ndarray  # int64 [M] item ids
    given: np.ndarray  # int64 [M] the label the data gives
    suggested: np.ndarray  # int64 [M] the neighbours' majority (weighted) label
    confidence: np.ndarray  # float32 [M] 1 - p(given label | neighbours): how sure the neighbours are it is wrong
    neighbours: np.ndarray  # int64 [M, k] the neighbours that make the case, nearest first
    distances: np.ndarray  # float32 [M, k] their code distances

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, n: int) -> Mislabels:
        return Mislabels(*(a[:n] for a in _fields(self)))

    def frame(self, labels, class_names, n_test: int):
        """The list as a table: rank, id, split, given and suggested label and class, confidence, neighbours."""
        import pandas as pd

        labels = np.asarray(labels)
        return pd.DataFrame(
            {
                "rank": np.arange(1, len(self) + 1),
                "id": self.ids,
                "split": split_names(self.ids, n_test),
                "given_label": self.given,
                "given_class": _names(self.given, class_names),
                "suggested_label": self.suggested,
                "suggested_class": _names(self.suggested, class_names),
                "confidence": np.round(self.confidence.astype(np.float64), 4),
                "neighbour_ids": [" ".join(map(str, r)) for r in self.neighbours],
                "neighbour_labels": [" ".join(map(str, labels[r])) for r in self.neighbours],
            }
        )


def label_votes(neighbours, distances, ref_labels, n_classes: int, weighted: bool = True) -> np.ndarray:
    """Per item, the neighbours' vote for each class -> float64 [N, n_classes], rows summing to 1.

    ``weighted``: each neighbour's vote is 1 / (its distance + the item's median neighbour distance) (near ones
    count more, and no single duplicate dominates); else one vote each. Half a vote is spread evenly over the
    classes, so no class is ever certain from a handful of votes.
    """
    neighbours = np.asarray(neighbours, np.int64)
    ref_labels = np.asarray(ref_labels, np.int64)
    n, k = neighbours.shape
    if weighted and k:
        d = np.asarray(distances, np.float64)
        w = 1.0 / (d + np.median(d, axis=1, keepdims=True) + 1e-12)
    else:
        w = np.ones((n, k))
    votes = np.zeros((n, n_classes))
    np.add.at(votes, (np.repeat(np.arange(n), k), ref_labels[neighbours].ravel()), w.ravel())
    votes += 0.5 * w.sum(1, keepdims=True).clip(min=1e-12) / max(k, 1) / n_classes
    return votes / votes.sum(1, keepdims=True)


def likely_mislabels(
    codes,
    labels,
    k: int = K_VOTE,
    among=None,
    top: int | None = None,
    metric: str = "euclidean",
    weighted: bool = True,
    neighbours: tuple[np.ndarray, np.ndarray] | None = None,
    show: int | None = None,
) -> Mislabels:
    """Items whose label disagrees with their k nearest neighbours' in code space, likeliest first.

    codes [N, D], labels int [N] (None: ValueError, the list needs labels). ``among``: the item ids ranked (default
    all); their neighbours are looked for among all N items (e.g. rank the test split with the labelled train split
    as reference). ``neighbours``: a precomputed ``code_neighbours(codes, k)``. Ranked by confidence = 1 - p(given
    label), ties broken by the suggested label's share. ``top``: keep that many rows (default all of ``among``);
    ``show``: the nearest neighbours kept per row (default all k).
    """
    if labels is None:
        raise ValueError(f"labels == None: this dataset has no labels, so the list {NEEDS_LABELS}.")
    codes = _check_codes(codes)
    labels = np.asarray(labels, np.int64)
    if len(labels) != len(codes):
        raise ValueError(f"{len(labels)} labels for {len(codes)} codes: one label per item.")
    if len(labels) and labels.min() < 0:
        raise ValueError(f"label == {int(labels.min())}: labels must be 0 or more (this list {NEEDS_LABELS}).")
    rows = np.arange(len(codes)) if among is None else np.asarray(among, np.int64).ravel()
    if neighbours is not None:  # every item's, [N, >= k] (a view, not a copy, when all are ranked)
        pick = slice(None) if among is None else rows
        idx, dist = neighbours[0][pick, :k], neighbours[1][pick, :k]
    else:
        idx, dist = code_neighbours(codes, k, metric, rows=rows)
    if len(rows) == 0 or idx.shape[1] == 0:
        return _empty_mislabels(idx.shape[1])
    n_classes = int(labels.max()) + 1
    batch = 8192  # votes a batch at a time: memory O(batch·k), not O(N·k) per temporary
    p = np.concatenate(
        [
            label_votes(idx[s : s + batch], dist[s : s + batch], labels, n_classes, weighted)
            for s in range(0, len(rows), batch)
        ]
    )
    given = labels[rows]
    confidence = 1.0 - p[np.arange(len(rows)), given]
    suggested_p = np.where(np.arange(n_classes)[None, :] == given[:, None], -1.0, p)
    suggested = suggested_p.argmax(1)
    order = np.lexsort((-suggested_p.max(1), -confidence))[:top]
    return Mislabels(
        ids=rows[order],
        given=given[order],
        suggested=suggested[order].astype(np.int64),
        confidence=confidence[order].astype(np.float32),
        neighbours=idx[order, :show],
        distances=dist[order, :show],
    )


def _empty_mislabels(k: int) -> Mislabels:
    return Mislabels(
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        np.zeros(0, np.float32),
        np.zeros((0, k), np.int64),
        np.zeros((0, k), np.float32),
    )


# -------------------------------------------------------------------------------------------- outliers


@dataclass(frozen=True)
class Outliers:
    """Items ranked by an outlier score, highest first, with their nearest codes (what they are far from)."""

    ids: np.ndarray  # int64 [M]
    score: np.ndarray  # float32 [M]: reconstruction error, or mean distance to the k nearest codes
    neighbours: np.ndarray  # int64 [M, k]
    distances: np.ndarray  # float32 [M, k]
    measure: str  # "reconstruction error" or "kNN distance"

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, n: int) -> Outliers:
        return Outliers(*(a[:n] for a in _fields(self)), self.measure)

    def frame(self, labels, class_names, n_test: int):
        """rank, id, split, label, class, score (named by its measure), nearest ids and distances."""
        import pandas as pd

        out = {"rank": np.arange(1, len(self) + 1), "id": self.ids, "split": split_names(self.ids, n_test)}
        if labels is not None:
            labels = np.asarray(labels)
            out |= {"label": labels[self.ids], "class": _names(labels[self.ids], class_names)}
        out[self.measure.replace(" ", "_")] = self.score.astype(np.float64)
        out["neighbour_ids"] = [" ".join(map(str, r)) for r in self.neighbours]
        out["neighbour_distances"] = [" ".join(f"{x:.4g}" for x in r) for r in self.distances]
        return pd.DataFrame(out)


def by_error(errors, neighbours: tuple[np.ndarray, np.ndarray], top: int | None = TOP) -> Outliers:
    """Items with the highest reconstruction error [N] (NaN, as for imported codes, ranks last and is dropped)."""
    errors = np.asarray(errors, np.float64)
    idx, dist = neighbours
    if len(errors) != len(idx):
        raise ValueError(f"{len(errors)} errors for {len(idx)} items: one reconstruction error per item.")
    ok = np.flatnonzero(np.isfinite(errors))
    order = ok[np.argsort(-errors[ok], kind="stable")][:top]
    return Outliers(order, errors[order].astype(np.float32), idx[order], dist[order], "reconstruction error")


def by_density(neighbours: tuple[np.ndarray, np.ndarray], top: int | None = TOP) -> Outliers:
    """Items in the emptiest parts of code space: the highest mean distance to their k nearest codes."""
    idx, dist = neighbours
    score = dist.mean(1) if dist.shape[1] else np.zeros(len(dist))
    order = np.argsort(-score, kind="stable")[:top]
    return Outliers(order, score[order].astype(np.float32), idx[order], dist[order], "kNN distance")


# ------------------------------------------------------------------------------------- near-duplicates


@dataclass(frozen=True)
class Duplicates:
    """Pairs of items (a < b) whose codes and pixels are both close, closest in pixels first."""

    a: np.ndarray  # int64 [M]
    b: np.ndarray  # int64 [M]
    code_distance: np.ndarray  # float32 [M]
    pixel_distance: np.ndarray  # float32 [M]: RMS difference of the two images in [0, 1] units (0: identical)

    def __len__(self) -> int:
        return len(self.a)

    def head(self, n: int) -> Duplicates:
        return Duplicates(*(x[:n] for x in _fields(self)))

    def kinds(self, n_test: int) -> list[str]:
        """Per pair, the splits it spans: "test-test", "train-train" or "test-train" (a train image in the test)."""
        a, b = split_names(self.a, n_test), split_names(self.b, n_test)
        return [f"{x}-{y}" for x, y in zip(a, b, strict=True)]

    def frame(self, labels, class_names, n_test: int):
        """rank, id_a, id_b, splits, labels and classes (if any), code and pixel distance."""
        import pandas as pd

        out = {"rank": np.arange(1, len(self) + 1), "id_a": self.a, "id_b": self.b, "splits": self.kinds(n_test)}
        if labels is not None:
            labels = np.asarray(labels)
            out |= {
                "label_a": labels[self.a],
                "label_b": labels[self.b],
                "class_a": _names(labels[self.a], class_names),
                "class_b": _names(labels[self.b], class_names),
            }
        out |= {
            "code_distance": self.code_distance.astype(np.float64),
            "pixel_distance": self.pixel_distance.astype(np.float64),
        }
        return pd.DataFrame(out)


def pixel_distance(images, a, b, batch: int = 4096) -> np.ndarray:
    """RMS difference in [0, 1] units between images[a[i]] and images[b[i]] -> float32 [M] (batched)."""
    images = np.asarray(images)
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    flat = images.reshape(len(images), -1)
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    out = np.empty(len(a), np.float32)
    for s in range(0, len(a), batch):
        x = flat[a[s : s + batch]].astype(np.float32) - flat[b[s : s + batch]].astype(np.float32)
        out[s : s + batch] = np.sqrt((x * x).mean(1)) / scale
    return out


def near_duplicates(
    images,
    neighbours: tuple[np.ndarray, np.ndarray],
    candidates: int = DUPLICATE_CANDIDATES,
    top: int | None = TOP,
    max_pixel_distance: float | None = None,
) -> Duplicates:
    """Pairs whose codes are among each other's ``candidates`` nearest, ranked by pixel distance (then code).

    images: [N, ...] uint8 (or floats in [0, 1]) in item-id order; ``neighbours``: ``code_neighbours(codes, k)``
    with k >= ``candidates``. ``max_pixel_distance``: drop pairs farther apart than that. Memory: O(N·candidates).
    """
    idx, dist = neighbours
    if len(images) != len(idx):
        raise ValueError(f"{len(images)} images for {len(idx)} codes: one image per item.")
    c = min(candidates, idx.shape[1])
    if c < 1:
        return _empty_duplicates()
    a = np.repeat(np.arange(len(idx)), c)
    b = idx[:, :c].ravel()
    d = dist[:, :c].ravel()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    _, first = np.unique(lo * len(idx) + hi, return_index=True)  # each pair once
    lo, hi, d = lo[first], hi[first], d[first]
    px = pixel_distance(images, lo, hi)
    keep = np.ones(len(px), bool) if max_pixel_distance is None else px <= max_pixel_distance
    lo, hi, d, px = lo[keep], hi[keep], d[keep], px[keep]
    order = np.lexsort((d, px))[:top]
    return Duplicates(lo[order], hi[order], d[order].astype(np.float32), px[order])


def _empty_duplicates() -> Duplicates:
    return Duplicates(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32), np.zeros(0, np.float32))


# ------------------------------------------------------------------------------------------- measures


def ranking_scores(ranked_ids, flipped, k: int = 100, within: int = 300) -> dict:
    """How well a ranking finds the ``flipped`` items: precision@k, recall within the top ``within`` and average
    precision (the mean of precision@rank over the ranks of the flipped items; flipped items not ranked count 0)."""
    ranked_ids = np.asarray(ranked_ids, np.int64)
    flipped = np.asarray(flipped, np.int64)
    if len(flipped) == 0:
        raise ValueError("no flipped items: precision and recall are undefined.")
    hit = np.isin(ranked_ids, flipped)
    ranks = np.flatnonzero(hit) + 1
    ap = float((np.arange(1, len(ranks) + 1) / ranks).sum() / len(flipped))
    return {
        f"precision_at_{k}": float(hit[:k].mean()) if len(hit) else 0.0,
        f"recall_at_{within}": float(hit[:within].sum() / len(flipped)),
        "average_precision": ap,
    }


def flip_labels(labels, fraction: float, seed: int, n_classes: int | None = None):
    """A copy of ``labels`` with ``fraction`` of them changed to another class, uniformly at random (seeded)
    -> (noisy labels, the flipped positions sorted)."""
    labels = np.asarray(labels, np.int64)
    n_classes = n_classes or int(labels.max()) + 1
    rng = np.random.default_rng(seed)
    n = int(round(fraction * len(labels)))
    flipped = np.sort(rng.choice(len(labels), n, replace=False))
    noisy = labels.copy()
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, n)) % n_classes
    return noisy, flipped


# ------------------------------------------------------------------------------------------------ small


def split_names(ids, n_test: int) -> np.ndarray:
    """ "test" for item ids below ``n_test`` (the test split comes first), else "train"."""
    return np.where(np.asarray(ids) < n_test, "test", "train")


def _names(labels, class_names) -> list[str]:
    return [class_names[int(i)] if 0 <= int(i) < len(class_names) else str(int(i)) for i in labels]


def _fields(table) -> list[np.ndarray]:
    return [v for v in vars(table).values() if isinstance(v, np.ndarray)]
