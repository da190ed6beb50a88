"""Page: a variant's latent map, the images behind any point or region selected on it, and your own picture."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import figures, images, inference, projection, selection
from explorer.ui import common, downloads, urlsync
from explorer.ui.upload_widget import upload_ui
from explorer.upload import UploadView, upload_view

PANEL_LIMIT = 30  # items in the image panel; a lasso can hold thousands of points
SELECTION_CAP = 5000  # item ids kept in session state for the other pages
SELECTION_KEY = "map_selection"  # the ids, for the other pages (the Similar page's query)
STATE_KEY = "_map_selection_state"  # explorer.selection.MapSelection: the selection across redraws of the chart
COLOR_LABELS = {"class": "class", "error": "reconstruction error"}
UPLOAD_NEIGHBOURS = 10


def page() -> None:
    name, (c2, c3) = common.page_header(
        "Latent map",
        "Each dot is a test image, placed by UMAP so that images with nearby latent codes sit together. "
        "Click a dot, or pick the lasso or box tool beside the map and draw around a region, to see the images "
        "and the model's reconstructions. Drag to pan; zoom with the + and − buttons beside the map.",
        common.MAP,
        columns=(2, 2, 1.4),
    )
    items = common.items()
    decodes = common.can(name, "decoder")  # imported codes have a map and neighbours, but no reconstructions
    modes = [m for m in figures.COLOR_MODES if (m != "class" or items.has_labels) and (m != "error" or decodes)]
    modes = modes or ["class"]
    with c2:
        common.default("map_color", modes[0])
        if st.session_state["map_color"] not in modes:
            st.session_state["map_color"] = modes[0]
        color_by = st.radio("Colour by", modes, key="map_color", horizontal=True, format_func=COLOR_LABELS.get)
    with c3:
        common.default("map_all", False)
        n_all, n_train = len(items.images), len(items.images) - items.n_test
        want_all = st.toggle(
            f"All {_short(n_all)}", key="map_all", help=f"All {n_all:,} images: the {n_train:,} training images too."
        )
    st.caption(f"**{common.title(name)}**: {common.job(name)}.")

    model = common.require_model(name) if decodes else None
    common.require_projection(name, "test")
    split = "test"
    if want_all:
        if common.proj(name, "all").ok:
            split = "all"
        else:
            st.info(
                "There is no map of all 70k images for this model yet; showing the 10k test images. Create it with:"
            )
            st.code(projection.fix_command(name, "all"), language="bash")

    left, right = st.columns([3, 2], gap="large")
    prepared = None
    with right:  # first: an uploaded picture is drawn on the map
        if model is not None and common.takes_uploads(model):
            prepared = upload_ui("map_upload", "Place your own picture on the map")
    upload = None
    if prepared is not None:
        coords = selection.coords_of_test_items(common.proj(name, split).value.coords, items.n_test)
        upload = upload_view(model, prepared.image, common.proj(name).value, UPLOAD_NEIGHBOURS, coords)
    view = (name, split, color_by, None if upload is None else tuple(np.round(upload.xy, 6)))
    sel = selection.redraw(_selection_state(), view, len(common.proj(name, split).value.coords))
    base = common.map_dict(name, split, color_by)
    traces = base["data"]
    if sel.restored:  # a redrawn chart has lost its selection: ours is drawn as its selected points
        picked = selection.selected_points(traces, sel.restored)
        traces = [t if p is None else {**t, "selectedpoints": p} for t, p in zip(traces, picked, strict=True)]
    marks = [figures.marker_trace(upload.xy, "your picture", "star", 22)] if upload is not None else []
    fig = figures.overlay({"data": traces, "layout": base["layout"]}, marks)
    with left:
        event = st.plotly_chart(
            fig,
            key="map_chart",
            on_select="rerun",
            selection_mode=("points", "box", "lasso"),
            # The wheel scrolls the page; the mode bar's + and − zoom (Plotly cannot tie wheel zoom to focus).
            config={"displaylogo": False, "scrollZoom": False, "displayModeBar": True},
        )
    sel = selection.chart_reported(sel, selection.selected_ids(event))
    _keep_selection(sel)
    ids = list(sel.ids)
    urlsync.write_url_state(urlsync.current_state("map", name))
    with left:
        downloads_row(model, name, split, fig, ids)
    with right:
        if upload is not None:
            show_upload(items, upload)
        if ids:
            st.button("Clear selection", key="map_clear", on_click=_clear_selection, icon=":material/deselect:")
        errors = None
        if ids and color_by == "error":  # exploring errors: the worst of the selection first
            errors = common.proj(name, split).value.recon_mse[np.asarray(ids)]  # a map's row index is the item id
        how = ", worst reconstruction first" if errors is not None else ""
        if errors is None and len(ids) > PANEL_LIMIT:
            how = ", a random sample"
        show_panel(model, items, ids, selection.display_order(ids, PANEL_LIMIT, errors), how)


def _short(n: int) -> str:
    """70000 -> "70k", 1797 -> "1,797"."""
    return f"{n // 1000}k" if n >= 10_000 else f"{n:,}"


def _selection_state() -> selection.MapSelection:
    """The map's selection so far; a session's first map opens with its link's item selected, if it gave one."""
    if STATE_KEY not in st.session_state:
        linked = urlsync.linked("item") and urlsync.ITEM_KEY in st.session_state
        ids = [int(st.session_state[urlsync.ITEM_KEY])] if linked else []
        st.session_state[STATE_KEY] = selection.seeded(ids)
    return st.session_state[STATE_KEY]


def _keep_selection(sel: selection.MapSelection) -> None:
    """Store the selection; a new one names the page's item (the URL's ``item``, the Similar page's query)."""
    if sel.ids and sel.ids != st.session_state[STATE_KEY].ids:
        st.session_state[urlsync.ITEM_KEY] = int(sel.ids[0])
    st.session_state[STATE_KEY] = sel
    st.session_state[SELECTION_KEY] = list(sel.ids[:SELECTION_CAP])


def _clear_selection() -> None:
    st.session_state[STATE_KEY] = selection.cleared(st.session_state[STATE_KEY])
    st.session_state[SELECTION_KEY] = []


def downloads_row(model, name: str, split: str, fig, ids: list[int]) -> None:
    """The map as HTML or PNG; the selected items (id, class, map position, code) as CSV."""
    fig_col, csv_col, _ = st.columns([2, 2, 1], vertical_alignment="center")
    with fig_col:
        st.caption("Download the map")
        downloads.figure_buttons(fig, f"latent-map-{name}-{split}", "map_download")
    if not ids:
        return
    items, test_codes, coords = common.items(), common.proj(name).value.codes, common.proj(name, split).value.coords
    with csv_col:
        st.caption(f"Download the {len(ids):,} selected items")
        downloads.csv_button(
            lambda: selection.selection_export(
                model, ids, items.labels, items.images, test_codes, coords, items.class_names, items.n_test
            ),
            f"selection-{name}.csv",
            "selection_csv",
            help="One row per item: id, class, position on the map, latent code",
        )


def show_upload(items: common.Items, upload: UploadView) -> None:
    """An uploaded picture: as the model sees it, its reconstruction, and its nearest test images."""
    st.subheader("Your picture")
    pair = np.stack([images.to_uint8(upload.image), images.to_uint8(upload.reconstruction)])
    st.image(
        images.mosaic(pair, pad=8, scale=5),
        caption=f"As the model sees it (left) and its reconstruction (right) · MSE {upload.error:.4f} · "
        "the star on the map marks where it falls",
    )
    near = upload.neighbours.idx
    st.image(
        images.annotated_grid(
            [items.test_images[near]],
            captions=[[f"{items.class_name(i)}\n#{i}" for i in near]],
            bars=[[figures.class_color(items.test_labels[i]) for i in near]],
            scale=2,
        )
    )
    st.caption(f"Its {len(near)} nearest test images in the latent space, nearest first.")
    st.divider()


def show_panel(model, items: common.Items, ids: list[int], shown: list[int], how: str = "") -> None:
    """Originals and reconstructions of the ``shown`` items among the selected ``ids``, with class and error."""
    if not ids:
        st.info(
            "Click a point, or draw around a region with the lasso or box tool beside the map, to see its images here. "
            "Double-click the map to clear the selection."
        )
        return
    if model is None:  # imported codes: the images, no reconstructions
        st.subheader(f"{len(ids):,} item{'s' * (len(ids) > 1)} selected")
        if items.has_labels:
            st.caption(selection.class_summary(items.labels[np.asarray(ids)], class_names=items.class_names))
        st.image(images.mosaic(items.images[np.asarray(shown)], cols=10, scale=2))
        st.caption(f"Showing {len(shown)} of {len(ids):,}{how}; imported codes have no reconstructions.")
        return
    rows = selection.panel_rows(
        shown, items.images, items.labels, lambda x: inference.reconstruct(model, x), class_names=items.class_names
    )
    if len(ids) == 1:
        r = rows[0]
        split = "test" if r.id < items.n_test else "training"
        st.subheader(f"Item {r.id}: {r.class_name}" if items.has_labels else f"Item {r.id}")
        st.image(
            images.mosaic(np.stack([r.original, r.reconstruction]), pad=8, scale=max(1, 224 // r.original.shape[-1])),
            caption=f"Original (left) and reconstruction (right) · {split} image · MSE {r.error:.4f}",
        )
        st.caption("Open **Similar items** to see its nearest neighbours.")
        return
    st.subheader(f"{len(ids):,} items selected")
    if items.has_labels:
        st.caption(selection.class_summary(items.labels[np.asarray(ids)], class_names=items.class_names))
    st.image(selection.panel_image(rows))
    which = f"all {len(ids)}" if len(shown) == len(ids) else f"{len(shown)} of {len(ids):,}"
    st.caption(f"Showing {which}{how}. Under each reconstruction: the item id and its MSE.")
