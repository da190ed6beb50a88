"""Page: data quality. The data's own mistakes in a run's code space: likely mislabels, outliers, near-duplicates.

Computed offline by ``prepare`` (``explorer.commands.quality``, stored as the run's ``quality.npz``); this page only
loads the lists and lays them out, each as a gallery with the neighbours that make the case, and a CSV.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import exports, figures, images
from explorer import quality as q
from explorer.commands import quality as cq
from explorer.ui import common, downloads

ROWS = (10, 25, 50)  # rows per gallery page


def page() -> None:
    name, (controls,) = common.page_header(
        "Data quality",
        "Where the data itself looks wrong, seen through the run's codes: labels that disagree with their "
        "neighbours, items far from everything else, and images that appear twice. Computed offline by `prepare`.",
        common.MAP,
    )
    items = common.items()
    fix = cq.fix_command(name)
    loaded = common.run_artefact(cq.load_quality, name, cq.QUALITY, fix=fix)
    if not loaded.ok:
        st.info(f"There are no data-quality lists for this run yet. {loaded.error}")
        st.code(fix, language="bash")
        st.stop()
    lists = loaded.value
    if lists.n_items != len(items.images) or lists.n_test != items.n_test:
        st.warning(
            f"These lists cover {lists.n_items:,} items ({lists.n_test:,} test), but {items.name} has "
            f"{len(items.images):,} ({items.n_test:,} test) today. Compute them again:",
            icon=":material/warning:",
        )
        st.code(fix + " --force", language="bash")
        st.stop()
    with controls:
        common.default("dq_rows", ROWS[0])
        st.segmented_control("Rows per page", ROWS, key="dq_rows", help="Rows of each gallery shown at once")
    rows = st.session_state.get("dq_rows") or ROWS[0]
    mislabel_tab, outlier_tab, duplicate_tab = st.tabs(["Likely mislabels", "Outliers", "Near-duplicates"])
    with mislabel_tab:
        _mislabels(name, lists, items, rows)
    with outlier_tab:
        _outliers(name, lists, items, rows)
    with duplicate_tab:
        _duplicates(name, lists, items, rows)


def _window(n: int, rows: int, key: str) -> slice:
    """Which rows of a list of ``n`` to show: a page picker when there is more than one page."""
    pages = max(1, -(-n // rows))
    if pages == 1:
        return slice(0, n)
    common.default(key, 1)
    if st.session_state[key] > pages:
        st.session_state[key] = pages
    with st.columns([1, 3])[0]:
        start = (st.number_input(f"Page (of {pages})", 1, pages, key=key) - 1) * rows
    return slice(start, min(start + rows, n))


def _csv(frame, stem: str, name: str, key: str, what: str) -> None:
    downloads.button(
        "CSV",
        lambda: exports.table_csv(frame),
        f"{stem}-{name.replace('/', '-')}.csv",
        "text/csv",
        key,
        f"The whole list of {what} ({len(frame):,} rows) as CSV",
    )


def _scale(items) -> int:
    return max(1, 56 // items.images.shape[-1])


def _bars(items, ids) -> list[str | None]:
    return [figures.class_color(items.labels[i]) if items.has_labels else None for i in ids]


def _near(items, ids, distances) -> list[str]:
    """Captions of neighbour cells: class and code distance."""
    return [f"{items.class_name(j)}\n{d:.3g}" for j, d in zip(ids, distances, strict=True)]


def _split(i: int, n_test: int) -> str:
    return "test" if i < n_test else "train"


def _mislabels(name: str, lists, items, rows: int) -> None:
    m = lists.mislabels
    if m is None or not items.has_labels:
        st.info(
            f"Likely mislabels {q.NEEDS_LABELS}, and **{items.name}** has none. Outliers and near-duplicates "
            "do not need labels: see the other tabs."
        )
        return
    if len(m) == 0:
        st.info("No items to rank: the dataset is too small for neighbours to vote.")
        return
    st.markdown(
        f"Items whose label their {q.K_VOTE} nearest neighbours in code space disagree with, likeliest first. "
        "**Confidence** = 1 − the neighbours' (distance-weighted) vote for the given label. Each row: the item, "
        f"then its {m.neighbours.shape[1]} nearest neighbours with their labels and code distances."
    )
    frame = m.frame(items.labels, items.class_names, lists.n_test)
    _csv(frame, "mislabels", name, "dq_csv_mislabels", "likely mislabels")
    part = _window(len(m), rows, "dq_page_mislabels")
    shown = m.head(part.stop)
    ids = range(part.start, part.stop)
    grid = images.annotated_grid(
        [items.images[[shown.ids[r], *shown.neighbours[r]]] for r in ids],
        row_labels=[
            f"#{r + 1} · id {shown.ids[r]} ({_split(shown.ids[r], lists.n_test)})\n"
            f"given: {items.class_names[shown.given[r]]}\n"
            f"looks like: {items.class_names[shown.suggested[r]]}\nconfidence {shown.confidence[r]:.2f}"
            for r in ids
        ],
        captions=[["the item", *_near(items, shown.neighbours[r], shown.distances[r])] for r in ids],
        bars=[_bars(items, [shown.ids[r], *shown.neighbours[r]]) for r in ids],
        scale=_scale(items),
    )
    st.image(grid)


def _outliers(name: str, lists, items, rows: int) -> None:
    common.default("dq_outlier", "error")
    kind = st.radio(
        "Outliers by",
        ["error", "density"],
        key="dq_outlier",
        horizontal=True,
        format_func={"error": "highest reconstruction error", "density": "lowest density (kNN distance)"}.get,
    )
    o = lists.by_error if kind == "error" else lists.by_density
    if len(o) == 0:
        st.info("No reconstruction errors for this run: nothing to rank." if kind == "error" else "No items to rank.")
        return
    recon = lists.reconstructions if kind == "error" else np.zeros((0,))
    if kind == "error":
        st.markdown(
            "The items the model reconstructs worst (mean squared error per pixel): each row shows the item, its "
            "reconstruction (*rebuilt*, for the first "
            f"{len(recon)}), then its nearest neighbours in code space with their distances."
        )
    else:
        st.markdown(
            "The items in the emptiest parts of code space: the highest mean distance to their "
            f"{o.neighbours.shape[1]} nearest codes. Each row: the item, then those neighbours with their distances."
        )
    labels = items.labels if items.has_labels else None
    frame = o.frame(labels, items.class_names, lists.n_test)
    _csv(frame, f"outliers-{kind}", name, f"dq_csv_{kind}", f"outliers by {o.measure}")
    part = _window(len(o), rows, f"dq_page_{kind}")
    row_ids = range(part.start, part.stop)
    cells, captions, bars = [], [], []
    for r in row_ids:
        item, near = o.ids[r], o.neighbours[r]
        own = items.images[[item]]
        if r < len(recon):  # the item and its reconstruction, then its neighbours
            own = np.concatenate([own, recon[[r]].reshape(own.shape)])
        cells.append(np.concatenate([own, items.images[near]]))
        captions.append(["the item", "rebuilt"][: len(own)] + _near(items, near, o.distances[r]))
        bars.append([*_bars(items, [item]), *[None] * (len(own) - 1), *_bars(items, near)])
    grid = images.annotated_grid(
        cells,
        row_labels=[
            f"#{r + 1} · id {o.ids[r]} ({_split(o.ids[r], lists.n_test)})\n{items.class_name(o.ids[r])}\n"
            f"{o.measure}\n{o.score[r]:.4g}"
            for r in row_ids
        ],
        captions=captions,
        bars=bars,
        scale=_scale(items),
    )
    st.image(grid)


def _duplicates(name: str, lists, items, rows: int) -> None:
    d = lists.duplicates
    if len(d) == 0:
        st.info("No near-duplicate pairs were found among the items' nearest codes.")
        return
    kinds = d.kinds(lists.n_test)
    counts = {k: kinds.count(k) for k in dict.fromkeys(kinds)}
    st.markdown(
        "Pairs of items whose codes are among each other's nearest, ranked by how alike their pixels are "
        "(**pixel distance**: RMS difference, 0 = identical, 1 = black against white). A test image with a twin "
        "in the train split is one a model has, in effect, seen. "
        + ", ".join(f"{v} {k}" for k, v in counts.items())
        + f" among the {len(d)} closest pairs."
    )
    labels = items.labels if items.has_labels else None
    frame = d.frame(labels, items.class_names, lists.n_test)
    _csv(frame, "near-duplicates", name, "dq_csv_duplicates", "near-duplicate pairs")
    part = _window(len(d), rows, "dq_page_duplicates")
    row_ids = range(part.start, part.stop)
    grid = images.annotated_grid(
        [items.images[[d.a[r], d.b[r]]] for r in row_ids],
        row_labels=[
            f"#{r + 1} · {kinds[r]}\ncode distance {d.code_distance[r]:.3g}\npixel distance {d.pixel_distance[r]:.3g}"
            for r in row_ids
        ],
        captions=[
            [f"id {i}\n{_split(i, lists.n_test)}\n{items.class_name(i)}" for i in (d.a[r], d.b[r])] for r in row_ids
        ],
        bars=[_bars(items, [d.a[r], d.b[r]]) for r in row_ids],
        scale=_scale(items) + 1,
    )
    st.image(grid)
