"""What the map page shows of a selection: the ids picked on the map, the image panel, the CSV export.

Item ids are one space for every page (``explorer.data.N_TEST``): test images first, then training images.
An "all" map lists its rows in item-id order, so there a row index is the item id; a "test" map holds the test
items only, whose ids are their row indices too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .data import CLASS_NAMES, N_TEST
from .images import to_uint8


def selected_ids(event) -> list[int]:
    """Global row ids of the points in a Plotly selection event, in selection order, without repeats.

    ``event``: what ``st.plotly_chart(..., on_select="rerun")`` returns (``{"selection": {"points": [...]}}``),
    its ``selection`` part, or None. Each point's ``customdata`` is the row id, or a row starting with it: a
    list, or the ``{"0": id, "1": …}`` object a typed-array row becomes in the browser. Points without
    customdata (e.g. an overlay marker) are ignored.
    """
    if not event:
        return []
    selection = event.get("selection", event) if isinstance(event, Mapping) else getattr(event, "selection", None)
    points = (selection or {}).get("points") or []
    seen: dict[int, None] = {}
    for p in points:
        custom = p.get("customdata") if isinstance(p, Mapping) else None
        if isinstance(custom, Mapping):  # a numpy customdata row reaches the browser as a typed array: {"0": id, …}
            custom = custom.get("0", custom.get(0))
        if custom is None:
            continue
        if isinstance(custom, (list, tuple, np.ndarray)):
            if len(custom) == 0:
                continue
            custom = custom[0]
        try:
            seen.setdefault(int(round(float(custom))), None)
        except (TypeError, ValueError):
            continue
    return list(seen)


def display_order(ids: list[int], limit: int, errors: np.ndarray | None = None, seed: int = 0) -> list[int]:
    """Which selected ids the panel shows, in order: the worst ``limit`` by ``errors`` (aligned with ids) when
    given, else all of them if they fit, else a seeded random sample (a lasso's points come class by class)."""
    if errors is not None:
        order = np.argsort(-np.asarray(errors), kind="stable")[:limit]
        return [ids[i] for i in order]
    if len(ids) <= limit:
        return list(ids)
    pick = np.sort(np.random.default_rng(seed).choice(len(ids), size=limit, replace=False))
    return [ids[i] for i in pick]


def class_summary(labels: np.ndarray, top: int = 3, class_names=CLASS_NAMES) -> str:
    """'42% Sneaker, 30% Sandal, 28% Ankle boot' for a selection's labels."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return ""
    counts = np.bincount(labels, minlength=len(class_names))
    order = np.argsort(-counts, kind="stable")[:top]
    return ", ".join(f"{100 * counts[c] / len(labels):.0f}% {class_names[c]}" for c in order if counts[c])


def majority_class(labels: np.ndarray) -> int:
    """The most common label (the smallest on a tie), e.g. of an uploaded picture's neighbours."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("labels is empty: no majority class.")
    return int(np.argmax(np.bincount(labels, minlength=len(CLASS_NAMES))))


@dataclass(frozen=True)
class PanelRow:
    """One selected item: its row id, class, reconstruction error and both images (uint8 [H, W] or [C, H, W])."""

    id: int
    label: int
    error: float
    original: np.ndarray
    reconstruction: np.ndarray
    class_names: tuple[str, ...] = CLASS_NAMES

    @property
    def class_name(self) -> str:
        return self.class_names[self.label]


def panel_rows(
    ids: Iterable[int],
    images: np.ndarray,
    labels: np.ndarray,
    reconstruct_fn: Callable[[np.ndarray], np.ndarray],
    limit: int = 48,
    class_names=CLASS_NAMES,
) -> list[PanelRow]:
    """The image panel for selected row ids: at most ``limit`` rows; ids outside the arrays are dropped.

    images uint8 [N, 28, 28] and labels [N] are indexed by id; ``reconstruct_fn``: uint8 [n, 28, 28] ->
    [n, 28, 28] (uint8 or floats in [0, 1]), e.g. ``lambda x: inference.reconstruct(model, x)``. The error is
    the per-pixel MSE of the reconstruction as shown (in [0, 1] units).
    """
    ids = [int(i) for i in ids if 0 <= int(i) < len(labels)][:limit]
    if not ids:
        return []
    originals = np.asarray(images)[np.asarray(ids)]
    recons = to_uint8(reconstruct_fn(originals))
    errors = (((recons.astype(np.float32) - originals) / 255.0) ** 2).reshape(len(ids), -1).mean(axis=1)
    names = tuple(class_names)
    return [PanelRow(i, int(labels[i]), float(errors[j]), originals[j], recons[j], names) for j, i in enumerate(ids)]


def panel_image(rows: list[PanelRow], per_row: int = 5, scale: int = 2) -> np.ndarray:
    """The panel as one RGB image: per ``per_row`` items, originals (with a bar in their class colour) over
    reconstructions (captioned with item id and MSE)."""
    from .figures import class_color
    from .images import annotated_grid

    if not rows:
        raise ValueError("rows is empty: nothing selected.")
    chunks = [rows[i : i + per_row] for i in range(0, len(rows), per_row)]
    grid_rows, labels, captions, bars = [], [], [], []
    for chunk in chunks:
        grid_rows += [np.stack([r.original for r in chunk]), np.stack([r.reconstruction for r in chunk])]
        labels += ["original", "recon."]
        captions += [[], [f"#{r.id}\n{r.error:.4f}" for r in chunk]]
        bars += [[class_color(r.label) for r in chunk], []]
    return annotated_grid(grid_rows, row_labels=labels, captions=captions, bars=bars, scale=scale, font_size=12)


def coords_of_test_items(coords: np.ndarray, n_test: int = N_TEST) -> np.ndarray:
    """The coordinates [n_test, 2] of the test items on a map ("test", or "all": test items first)."""
    return np.asarray(coords)[:n_test]


def item_codes(model, ids, test_codes: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Codes of item ids [N] -> float32 [N, D]: the stored ones for test items, encoded for training items.

    ``test_codes``: the test projection's codes [10000, D]; ``images``: uint8 [70000, 28, 28] in item-id order.
    """
    from .inference import encode

    ids = np.asarray(ids, dtype=np.int64).ravel()
    out = np.empty((len(ids), test_codes.shape[1]), np.float32)
    test = ids < len(test_codes)
    out[test] = test_codes[ids[test]]
    if not test.all():
        out[~test] = encode(model, images[ids[~test]])
    return out


def selection_export(
    model, ids, labels: np.ndarray, images: np.ndarray, test_codes, map_coords, class_names=CLASS_NAMES, n_test=None
) -> bytes:
    """The map's selected item ids as CSV (id, label, class, map x/y, latent code), see ``exports.selection_csv``.

    ``labels``/``images``: every item in item-id order; ``map_coords``: the shown map's coordinates [rows, 2]
    (a map's row index is the item id).
    """
    from .exports import selection_csv

    ids = np.asarray(ids, dtype=np.int64).ravel()
    if model is None:  # imported codes: the stored ones only (test items)
        ids = ids[ids < len(test_codes)]
    codes = item_codes(model, ids, test_codes, images)
    return selection_csv(ids, np.asarray(labels)[ids], np.asarray(map_coords)[ids], codes, class_names)


@dataclass(frozen=True)
class MapSelection:
    """The map's selection across reruns, kept apart from the chart (whose own selection a redraw loses).

    A new colour, variant or split redraws the chart as a new element, empty of any selection: the ids that are on
    the new map are ``restored`` (drawn as selected points), and only what the person then does on that chart
    replaces them. ``seen``: what the chart as drawn reported last, so an unchanged report is not a new selection.
    """

    view: tuple = ()  # what the chart shows: (variant, split, colour, …)
    ids: tuple[int, ...] = ()  # the selected item ids, in selection order
    restored: tuple[int, ...] = ()  # ids drawn as selected when the chart was drawn for this view
    seen: tuple[int, ...] = ()  # the chart's own selection, as last reported


def redraw(state: MapSelection, view: tuple, n_rows: int) -> MapSelection:
    """Before drawing the chart for ``view`` (a map of ``n_rows`` rows, row index = item id): the same view keeps
    everything; a new one re-applies the ids that are on its map and drops the rest (training items, on the
    test map)."""
    if view == state.view:
        return state
    kept = tuple(i for i in state.ids if 0 <= i < n_rows)
    return MapSelection(view, kept, kept, ())


def chart_reported(state: MapSelection, event_ids: Sequence[int]) -> MapSelection:
    """After drawing: the chart's selection (``selected_ids`` of its event). A change is what the person did (a
    click, a lasso, a double-click that cleared it) and becomes the selection; the same report changes nothing."""
    event_ids = tuple(int(i) for i in event_ids)
    if event_ids == state.seen:
        return state
    return replace(state, ids=event_ids, seen=event_ids)


def cleared(state: MapSelection) -> MapSelection:
    """Nothing selected, and nothing re-applied (a chart drawn with restored points cannot clear them itself)."""
    return replace(state, ids=(), restored=(), seen=())


def seeded(ids: Sequence[int]) -> MapSelection:
    """A selection not yet drawn (e.g. a link's item): re-applied on the first chart, whatever its view."""
    return MapSelection(view=("unseen",), ids=tuple(int(i) for i in ids))


def selected_points(traces: Sequence[Mapping], ids: Sequence[int]) -> list[list[int] | None]:
    """Per trace, the point indices whose id (``customdata[:, 0]``) is in ``ids``, for Plotly's ``selectedpoints``;
    None for a trace without customdata (an overlay marker). Empty ``ids``: None everywhere (no dimming)."""
    wanted = np.asarray(sorted(set(int(i) for i in ids)), dtype=np.int64)
    out: list[list[int] | None] = []
    for t in traces:
        custom = t.get("customdata")
        if custom is None or not len(wanted):
            out.append(None)
            continue
        row_ids = np.rint(_plotly_array(custom).astype(np.float64)[:, 0]).astype(np.int64)
        out.append(np.flatnonzero(np.isin(row_ids, wanted)).tolist())
    return out


def _plotly_array(a) -> np.ndarray:
    """A figure dict's array: a list, an ndarray, or the typed array ``to_dict()`` makes of one
    (``{"dtype", "bdata"[, "shape"]}``: base64 bytes, shape as "rows, cols")."""
    if not isinstance(a, Mapping):
        return np.asarray(a)
    import base64

    out = np.frombuffer(base64.b64decode(a["bdata"]), dtype=np.dtype(a["dtype"]))
    return out.reshape([int(n) for n in str(a["shape"]).split(",")]) if "shape" in a else out


@dataclass(frozen=True)
class Summary:
    """A selection at a glance: per class (most common first) its count and share; mean errors."""

    names: tuple[str, ...]
    counts: np.ndarray | None  # int [k] of the classes present, most first; None without labels
    shares: np.ndarray | None
    mean_error: float | None  # of the selection; None where errors are unknown (NaN, imported codes)
    map_error: float | None  # of the whole map


def summary(ids, labels: np.ndarray | None, errors: np.ndarray | None, class_names=CLASS_NAMES) -> Summary:
    """``ids``: selected row ids; ``labels``/``errors``: per row of the map (None: unknown)."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == 0:
        raise ValueError("ids is empty: nothing selected.")
    counts = shares = None
    names: tuple[str, ...] = ()
    if labels is not None:
        all_counts = np.bincount(np.asarray(labels)[ids], minlength=len(class_names))
        order = [c for c in np.argsort(-all_counts, kind="stable") if all_counts[c]]
        names = tuple(class_names[c] for c in order)
        counts = all_counts[order]
        shares = counts / counts.sum()
    mean_error = map_error = None
    if errors is not None and np.isfinite(errors).any():
        mean_error, map_error = float(np.nanmean(np.asarray(errors)[ids])), float(np.nanmean(errors))
    return Summary(names, counts, shares, mean_error, map_error)


def similar_to(codes: np.ndarray, bank: np.ndarray, k: int = 20, exclude=()) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` rows of ``bank`` [N, D] nearest the centroid of ``codes`` [n, D] (a selection's codes), leaving
    out the rows in ``exclude`` (e.g. the selection itself) -> (row indices [k'], distances [k']), nearest first."""
    codes, bank = np.asarray(codes, np.float32), np.asarray(bank, np.float32)
    if codes.ndim != 2 or len(codes) == 0 or bank.ndim != 2 or codes.shape[1] != bank.shape[1]:
        raise ValueError(f"codes {codes.shape} and bank {bank.shape}: need [n >= 1, D] and [N, D].")
    d = np.linalg.norm(bank - codes.mean(axis=0), axis=1)
    skip = np.asarray([int(i) for i in exclude if 0 <= int(i) < len(bank)], dtype=np.int64)
    d[skip] = np.inf
    order = np.argsort(d, kind="stable")[:k]
    order = order[np.isfinite(d[order])]
    return order, d[order]


def group_direction(codes_a: np.ndarray, codes_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From group A to group B (Latent Space Cartography's attribute vector): (A's centroid, B's centroid − A's),
    both [D]; ``start + t * vector`` is A's centroid at t = 0 and B's at t = 1."""
    a, b = np.asarray(codes_a, np.float32), np.asarray(codes_b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or not len(a) or not len(b) or a.shape[1] != b.shape[1]:
        raise ValueError(f"group codes {a.shape} and {b.shape}: need [n >= 1, D] each, the same D.")
    start = a.mean(axis=0)
    return start, b.mean(axis=0) - start


def strip_points(start: np.ndarray, vector: np.ndarray, steps: int = 9, span=(-0.25, 1.25)) -> tuple:
    """``steps`` codes along ``start + t * vector`` for t evenly over ``span`` -> (t [steps], codes [steps, D])."""
    if steps < 2:
        raise ValueError(f"steps == {steps}, must be >= 2.")
    t = np.linspace(span[0], span[1], steps, dtype=np.float32)
    return t, np.asarray(start, np.float32)[None, :] + t[:, None] * np.asarray(vector, np.float32)[None, :]
