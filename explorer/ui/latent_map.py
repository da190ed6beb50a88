"""Page: a variant's latent map, the images behind any point or region selected on it, and your own picture."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from explorer import exports, figures, generation, images, inference, projection, selection
from explorer.ui import common, downloads, generation_sections, map_component, urlsync
from explorer.ui.upload_widget import upload_ui
from explorer.upload import UploadView, upload_view

PANEL_LIMIT = 30  # items in the image panel; a lasso can hold thousands of points
SELECTION_CAP = 5000  # item ids kept in session state for the other pages
SELECTION_KEY = "map_selection"  # the ids, for the other pages (the Similar page's query)
STATE_KEY = "_map_selection_state"  # explorer.selection.MapSelection: the selection across redraws of the chart
COLOR_LABELS = {"class": "class", "error": "reconstruction error"}
UPLOAD_NEIGHBOURS = 10
SHEET_LIMIT = 100  # items on the selection's PNG contact sheet


def page() -> None:
    name, (c2, c3) = common.page_header(
        "Latent map",
        "Each dot is a test image, placed by UMAP so that images with nearby latent codes sit together. "
        "Hover a dot to see the image and its reconstruction; click it, or pick Box or Lasso above the map and draw "
        "around a region, to see the images below. Drag to pan; zoom with + and −, or the wheel once you have "
        "clicked the map (or with Ctrl held). Click a class in the legend to hide it.",
        common.MAP,
        columns=(2, 2, 1.4),
    )
    items = common.items()
    decodes = common.can(name, "decoder")  # imported codes have a map and neighbours, but no reconstructions
    modes = [
        m for m in (*figures.COLOR_MODES, "cluster") if (m != "class" or items.has_labels) and (m != "error" or decodes)
    ]
    modes = modes or ["cluster"]
    common.default("map_color", modes[0])
    if st.session_state["map_color"] not in modes:
        st.session_state["map_color"] = modes[0]
    with c3:
        common.default("map_all", False)
        n_all, n_train = len(items.images), len(items.images) - items.n_test
        want_all = st.toggle(
            f"All {_short(n_all)}", key="map_all", help=f"All {n_all:,} images: the {n_train:,} training images too."
        )
    st.caption(f"**{common.title(name)}**: {common.job(name)}.")
    if not items.has_labels:
        st.caption("This dataset has no labels: the map is coloured by reconstruction error or by cluster.")

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
    sel = selection.redraw(_selection_state(), (name, split), len(common.proj(name, split).value.coords))
    marks = [(float(upload.xy[0]), float(upload.xy[1]), "your picture")] if upload is not None else []
    with left:
        event = map_component.latent_map(
            "map_chart",
            common.map_points(name, split),
            items.class_names,
            figures.CLASS_COLORS,
            modes,
            selected=sel.ids,
            marks=marks,
            atlas=common.map_atlas(name, split),
            name=f"{name.replace('/', '-')}-{split}",
            color=st.session_state["map_color"],
        )
    if event.color in modes:
        st.session_state["map_color"] = event.color
    color_by = st.session_state["map_color"]
    if event.selected is not None:
        sel = replace(sel, ids=tuple(event.selected), restored=(), seen=())
    _keep_selection(sel)
    ids = list(sel.ids)
    urlsync.write_url_state(urlsync.current_state("map", name))
    with left:
        downloads_row(model, name, split, color_by, ids)
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
        if ids:
            show_summary(items, ids, common.proj(name, split).value.recon_mse)
            show_similar(model, name, items, ids)
        show_groups(model, name, split, items, ids)


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


def downloads_row(model, name: str, split: str, color_by: str, ids: list[int]) -> None:
    """The map as interactive HTML (Plotly, built when clicked; the map's own PNG button is above it); the
    selected items (id, class, map position, code) as CSV and their originals and reconstructions as a PNG."""
    fig_col, csv_col, png_col = st.columns([2, 2, 2], vertical_alignment="center")
    with fig_col:
        st.caption("Download the map")
        plotly_mode = color_by if color_by in figures.COLOR_MODES else "class"
        downloads.button(
            "HTML",
            lambda: exports.figure_html(common.map_figure(name, split, plotly_mode)),
            f"latent-map-{name.replace('/', '-')}-{split}.html",
            "text/html",
            "map_download_html",
            "The interactive map as one HTML file that opens offline",
        )
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
    with png_col:
        st.caption("Contact sheet")
        downloads.button(
            "PNG",
            lambda: exports.png_bytes(contact_sheet(model, items, ids)),
            f"selection-{name.replace('/', '-')}.png",
            "image/png",
            "selection_png",
            f"The first {SHEET_LIMIT} selected items: originals over reconstructions, with ids and errors",
        )


UPLOAD_GRID_COLS = 5  # the upload's neighbours, 5 a row: 10 in one row shrank their captions to ~6 px at 1280


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
    rows = [near[i : i + UPLOAD_GRID_COLS] for i in range(0, len(near), UPLOAD_GRID_COLS)]  # legible in a column
    st.image(
        images.annotated_grid(
            [items.test_images[r] for r in rows],
            captions=[[f"{items.class_name(i)}\n#{i}" for i in r] for r in rows],
            bars=[[figures.class_color(items.test_labels[i]) for i in r] for r in rows],
            scale=2,
            font_size=14,
        )
    )
    classes = (
        f": {selection.class_summary(items.test_labels[near], class_names=items.class_names)}"
        if items.has_labels
        else ""
    )
    st.caption(f"Its {len(near)} nearest test images in the latent space, nearest first{classes}.")
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


def contact_sheet(model, items: common.Items, ids: list[int]) -> np.ndarray:
    """The first ``SHEET_LIMIT`` selected items as one picture: originals over reconstructions (ids, errors)."""
    shown = ids[:SHEET_LIMIT]
    if model is None:
        return images.mosaic(items.images[np.asarray(shown)], cols=10, scale=2)
    rows = selection.panel_rows(
        shown,
        items.images,
        items.labels,
        lambda x: inference.reconstruct(model, x),
        limit=SHEET_LIMIT,
        class_names=items.class_names,
    )
    return selection.panel_image(rows, per_row=10)


def show_summary(items: common.Items, ids: list[int], errors: np.ndarray) -> None:
    """The selection's classes (a bar per class) and its mean reconstruction error beside the whole map's."""
    summary = selection.summary(ids, items.labels if items.has_labels else None, errors, items.class_names)
    if summary.mean_error is not None:
        st.caption(
            f"Mean reconstruction error of the {len(ids):,} selected: **{summary.mean_error:.4f}** "
            f"(the whole map: {summary.map_error:.4f})."
        )
    if summary.counts is not None:
        st.container(key="selection_classes").dataframe(
            {"class": list(summary.names), "items": summary.counts.tolist(), "share": summary.shares.tolist()},
            hide_index=True,
            column_config={
                "share": st.column_config.ProgressColumn("share", format="percent", min_value=0.0, max_value=1.0)
            },
            height=min(400, 36 + 35 * len(summary.names)),
        )


SIMILAR_K = 20  # items shown as "similar to this selection"
GROUP_KEY = "_map_groups"  # {"A": (run, split, ids), "B": …}: the two groups of the A → B direction
MAP_DIRECTION_KEY = generation_sections.MAP_DIRECTION_KEY


def _selection_codes(model, name: str, items: common.Items, ids) -> np.ndarray:
    """The codes of selected item ids (stored for test items; encoded for training items, with a model)."""
    test_codes = common.proj(name).value.codes
    ids = np.asarray(ids, dtype=np.int64)
    if model is None:
        ids = ids[ids < len(test_codes)]
    return selection.item_codes(model, ids[:SELECTION_CAP], test_codes, items.images)


def show_similar(model, name: str, items: common.Items, ids: list[int]) -> None:
    """On demand: the test items nearest the selection's centroid in code space (the selection left out)."""
    if common.proj(name).value.codes is None:
        return
    if not st.toggle("Similar to this selection", key="map_similar", help="Nearest test items to its mean code"):
        return
    codes = _selection_codes(model, name, items, ids)
    if not len(codes):
        st.info("The selection holds only training items, whose codes this run does not store.")
        return
    near, dist = selection.similar_to(codes, common.proj(name).value.codes, SIMILAR_K, exclude=ids)
    if not len(near):
        st.info("Every test item is in the selection: there is nothing else to compare.")
        return
    st.image(
        images.annotated_grid(
            [items.test_images[near]],
            captions=[[f"#{i}\n{d:.2f}" for i, d in zip(near, dist, strict=True)]],
            bars=[[figures.class_color(items.test_labels[i]) for i in near]] if items.has_labels else None,
            scale=2,
        )
    )
    st.caption(
        f"The {len(near)} test items nearest the mean code of the {len(ids):,} selected, nearest first "
        "(under each: its id and distance in code space)."
    )


def _groups() -> dict:
    return st.session_state.setdefault(GROUP_KEY, {})


def _set_group(which: str, name: str, split: str, ids: list[int]) -> None:
    _groups()[which] = (name, split, tuple(ids[:SELECTION_CAP]))


def show_groups(model, name: str, split: str, items: common.Items, ids: list[int]) -> None:
    """From group A to group B: keep two selections, decode along the direction between their mean codes; for a
    generative run, open it in the generator as a live direction slider."""
    groups = {k: v for k, v in _groups().items() if v[0] == name}
    if not ids and not groups:
        return
    st.subheader("From group A to group B")
    cols = st.columns(2)
    for col, which in zip(cols, "AB", strict=True):
        with col:
            kept = groups.get(which)
            st.button(
                f"Selection as group {which}",
                key=f"map_group_{which}",
                on_click=_set_group,
                args=(which, name, split, ids),
                disabled=not ids,
                icon=":material/group_add:",
            )
            summary = ""
            if kept is not None and items.has_labels:
                summary = ": " + selection.class_summary(
                    items.labels[np.asarray(kept[2])], top=2, class_names=items.class_names
                )
            st.caption(f"{len(kept[2]):,} items{summary}" if kept else f"Group {which}: not set")
    if len(groups) < 2:
        st.caption("Select a region, keep it as group A; select another, keep it as group B.")
        return
    if model is None:
        st.info("This run holds imported codes, without a decoder: there is nothing to decode the direction with.")
        return
    start, vector = selection.group_direction(
        _selection_codes(model, name, items, groups["A"][2]), _selection_codes(model, name, items, groups["B"][2])
    )
    t, codes = selection.strip_points(start, vector)
    decoded = images.to_uint8(inference.decode(model, codes))
    st.image(
        images.annotated_grid([decoded], captions=[[f"{v:+.2f}" for v in t]], scale=2),
        caption="Decoded along A's mean code + t × (B's − A's): t = 0 is group A's centroid, t = 1 group B's.",
    )
    if common.can(name, "generative"):
        st.button(
            "Open in the generator",
            key="map_open_generator",
            on_click=_to_generator,
            args=(name, start, vector, _group_label(items, groups)),
            icon=":material/tune:",
            help="The generator starts at group A's centroid, with an A → B slider",
        )
        if st.session_state.pop("_map_go_generator", False):
            st.switch_page(common.router_page("generator"))


def _group_label(items: common.Items, groups: dict) -> str:
    if not items.has_labels:
        return "group A → group B"
    major = [items.class_names[selection.majority_class(items.labels[np.asarray(groups[k][2])])] for k in "AB"]
    return f"A ({major[0]}) → B ({major[1]})"


def _to_generator(name: str, start: np.ndarray, vector: np.ndarray, label: str) -> None:
    """The generator opens on this run at A's centroid, with the A → B direction as a slider."""
    st.session_state[MAP_DIRECTION_KEY] = {"run": name, "label": label, "vector": [float(v) for v in vector]}
    for i, v in enumerate(generation.clip_z(np.asarray(start, np.float32))[: generation_sections.MAX_SLIDERS]):
        st.session_state[f"z{i}"] = float(v)
    st.session_state["_generator_variant"] = name
    st.session_state["_generator_run"] = name
    st.session_state["live_decode"] = True
    st.session_state["_map_go_generator"] = True
