"""Page: the nearest neighbours of one item (or of your own picture) in a variant's latent space, and the same
query put to every variant."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import figures, images, inference
from explorer.neighbours import agreement, neighbours_all, random_of_class, same_class
from explorer.selection import item_codes, majority_class
from explorer.ui import common, urlsync
from explorer.ui.upload_widget import upload_ui
from explorer.upload import upload_view

COMPARED = 8  # runs put to the same query at most (the chosen one first)


def _use_selection_item() -> None:
    st.session_state["item_index"] = st.session_state["selection_item"]


def _random_item(labels: np.ndarray) -> None:
    """A random test item of the class box's class as the query (never the item already shown)."""
    st.session_state["_draws"] = st.session_state.get("_draws", 0) + 1
    cls = st.session_state.get("query_class", 0)
    current = st.session_state.get("item_index")
    for extra in range(10):  # never the item already shown
        pick = random_of_class(labels, cls, seed=st.session_state["_draws"] + 1000 * extra)
        if pick != current:
            break
    st.session_state["item_index"] = pick


def _precision(name: str) -> str:
    p = (common.metrics(name) or {}).get("precision_at_10")
    return f"{p:.3f}" if p is not None else "not measured"


def page() -> None:
    name, (c2, c3, c4, c5) = common.page_header(
        "Similar items",
        "The images a model places nearest to one image in its latent space: what it considers alike. "
        "Below, the same question put to every model.",
        common.MAP,
        columns=(3, 2, 2, 2, 2),
    )
    items = common.items()
    names = items.class_names

    # A new selection on the map becomes the query (before the widget that shows it is created).
    selection = st.session_state.get("map_selection") or []
    if selection and selection != st.session_state.get("_applied_selection"):
        st.session_state["item_index"] = selection[0]
        st.session_state["_applied_selection"] = selection
    common.default("item_index", 0)
    common.default("k", 10)
    common.default("query_class", 7 if len(names) > 7 else 0)
    if st.session_state["query_class"] >= len(names):
        st.session_state["query_class"] = 0

    with c2:
        k = st.slider("Neighbours", 4, 20, key="k")
    with c3:
        item = int(
            st.number_input(
                "Item",
                0,
                len(items.labels) - 1,
                step=1,
                key="item_index",
                help=items.id_help,
            )
        )
    with c4:
        # Not the query's class (the caption under the query says that): the class the button draws from.
        st.selectbox(
            "Draw from class",
            range(len(names)),
            key="query_class",
            format_func=names.__getitem__,
            disabled=not items.has_labels,
            help="The Draw button picks a random test item of this class as the query",
        )
    with c5:
        st.button(
            "Draw",
            key="random_item",
            on_click=_random_item,
            args=(items.test_labels,),
            icon=":material/shuffle:",
            help="A random test item of the class on the left as the query",
            width="stretch",
        )
    if len(selection) > 1:
        st.selectbox(
            f"Or one of the {len(selection):,} items selected on the map",
            selection[:500],
            key="selection_item",
            format_func=lambda i: f"item {i}: {items.class_name(i)}",
            on_change=_use_selection_item,
        )
    urlsync.write_url_state(urlsync.current_state("similar", name))
    model = common.require_model(name) if common.can(name, "decoder") else None
    prepared = None
    if model is not None and common.takes_uploads(model):
        prepared = upload_ui("similar_upload", "Or use your own picture as the query")
    common.require_projection(name)
    if model is None and item >= items.n_test:
        st.info(f"Imported codes cover the test items only: pick an item below {items.n_test:,}.")
        st.stop()
    upload = upload_view(model, prepared.image, common.proj(name).value, k) if prepared else None
    codes, queries, unavailable = {}, {}, []
    others = [v for v in common.runs_with(common.MAP) if v != name][: COMPARED - 1]
    for v in [name, *others]:
        pv = common.proj(v, compute=v == name)
        needs_model = upload is not None or item >= items.n_test  # test items' codes are stored with the map
        m = common.model(v) if needs_model else None
        if not pv.ok or (m is not None and not m.ok):
            unavailable.append((v, pv if not pv.ok else m))
            continue
        codes[v] = pv.value.search  # prepared once per map
        if upload is not None:
            queries[v] = upload.code if v == name else inference.encode(m.value, upload.image)[0]
        else:  # stored for test items, encoded on the fly for training items
            queries[v] = item_codes(None if m is None else m.value, [item], pv.value.codes, items.images)[0]
    exclude = item if upload is None and item < items.n_test else None  # an item is not its own neighbour
    found = neighbours_all(codes, queries, k, exclude=exclude)
    mine = found[name]
    # The query's class: the item's label; an uploaded picture has none, its neighbours' majority stands in.
    query_label = int(items.labels[item]) if upload is None else majority_class(items.test_labels[mine.idx])
    hits = same_class(found, items.test_labels, query_label)

    left, right = st.columns([1, 4], gap="large")
    with left:
        if upload is None:
            caption = f"Query: item {item}" + (f", {names[query_label]}" if items.has_labels else "")
            st.image(images.mosaic(items.images[[item]], scale=max(1, 168 // items.images.shape[-1])), caption=caption)
            if items.has_labels:
                st.metric("Same class", f"{hits[name]} / {k}")
        else:
            pair = np.stack([images.to_uint8(upload.image), images.to_uint8(upload.reconstruction)])
            st.image(images.mosaic(pair, pad=6, scale=3), caption="Query: your picture, and its reconstruction")
            st.metric(f"Most are {names[query_label]}", f"{hits[name]} / {k}")
        m = common.metrics(name)
        if m and "precision_at_10" in m:
            st.metric(
                "precision@10",
                f"{m['precision_at_10']:.3f}",
                help="Mean share of same-class items among the 10 nearest neighbours, over the test set",
            )
        else:
            st.caption(
                f"precision@10 not measured yet: `{common.evaluate_command(name)}`"
                if items.has_labels
                else "precision@10 needs labels: this dataset has none."
            )
    with right:
        st.subheader(f"Nearest in the space of {common.title(name)}")
        per_row = k if k <= 10 else -(-k // 2)
        chunks = [mine.idx[i : i + per_row] for i in range(0, k, per_row)]
        dists = [mine.dist[i : i + per_row] for i in range(0, k, per_row)]
        grid = images.annotated_grid(
            [items.test_images[c] for c in chunks],
            captions=[
                [f"{items.class_name(i)}\n{d:.3g}" for i, d in zip(c, ds, strict=True)]
                for c, ds in zip(chunks, dists, strict=True)
            ],
            bars=[[figures.class_color(items.test_labels[i]) for i in c] for c in chunks] if items.has_labels else None,
            scale=max(1, 84 // items.images.shape[-1]),
        )
        st.image(grid)
        st.caption(
            "Nearest first. Under each image: its class (the bar in the map's class colour) and its latent "
            "distance to the query."
        )

    st.divider()
    st.subheader("Every model, same query")
    st.caption(
        f"How many of its {k} neighbours each model shares with {common.title(name)}, "
        + (
            "and how many have the query's class."
            if upload is None
            else f"and how many are of class {names[query_label]}, that of most of its own neighbours."
        )
    )
    agree = agreement(found, name)
    table = {
        "model": [common.title(v) for v in found],
        "same class": [f"{hits[v]} / {k}" for v in found],
        f"shared with {name}": [f"{agree[v]} / {k}" for v in found],
        "precision@10": [_precision(v) for v in found],
    }
    st.dataframe(table, hide_index=True)
    st.image(
        images.annotated_grid(
            [items.test_images[r.idx] for r in found.values()],
            row_labels=[
                f"{common.grid_label(common.title(v), 24)}\n{hits[v]} same class\n{agree[v]} shared" for v in found
            ],
            bars=[[figures.class_color(items.test_labels[i]) for i in r.idx] for r in found.values()],
            scale=max(1, 56 // items.images.shape[-1]),
        )
    )
    for v, status in unavailable:
        st.caption(f"Not compared: {common.title(v)}, unavailable. Fix: `{' && '.join(status.fixes)}`")
