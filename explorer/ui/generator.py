"""Page: walk a generative run's latent space with its sliders; see the decoded image and where it falls on the map.

Any latent size: up to ``MAX_SLIDERS`` sliders, and direction sliders (class to class on Fashion-MNIST, the codes'
principal directions elsewhere or past 16 dimensions). A 2-d latent space is its own map, and the manifold grid
spans it. The browser decodes live where the model is the shipped VAE's shape (28×28 greyscale, two dense layers).
"""

from __future__ import annotations

import secrets

import numpy as np
import streamlit as st

from explorer import figures, generation, images, inference, projection
from explorer.data import FASHION_MNIST
from explorer.generation import Z_LIMIT
from explorer.ui import common, downloads, urlsync
from explorer.ui import generation_sections as sections
from explorer.ui.generation_sections import MAX_SLIDERS

# The page opens on (and "Reset" returns to) this test item's posterior mean: a T-shirt/top near its class's mean
# code, which the judge calls a T-shirt/top at 99.9 % (z = 0, the prior's mean, decodes to a grey blob).
OPENING_ITEM = 264
MAP_KEY, STAR = "generator_map", "generated"  # the map's widget key, the star's trace name (the browser moves it)


def _set_z(z: np.ndarray) -> None:
    for i, v in enumerate(generation.clip_z(z)[:MAX_SLIDERS]):
        st.session_state[f"z{i}"] = v
    for k in range(sections.N_PRINCIPAL):  # a new point: the principal offsets start again from 0
        st.session_state.pop(f"pc{k}", None)


def live_capable(model) -> bool:
    """Whether the browser can decode this model: the shipped VAE's decoder shape (two dense layers, 28×28
    greyscale) and at most ``MAX_SLIDERS`` latent dimensions."""
    decoder = getattr(model, "decoder", None)
    try:
        shapes = [tuple(decoder[i].weight.shape) for i in (0, 2)]
    except (TypeError, IndexError, AttributeError):
        return False
    return (
        tuple(getattr(model, "image_shape", ())) == (1, 28, 28)
        and shapes[1][0] == 784
        and model.code_dim <= MAX_SLIDERS
    )


def _random_sample(dim: int) -> None:
    # One seed per session, drawn from the OS: every visitor sees other samples; within a session the n-th draw is
    # reproducible from (seed, n).
    seed = st.session_state.setdefault("_z_seed", secrets.randbits(64))
    st.session_state["_z_draws"] = st.session_state.get("_z_draws", 0) + 1
    _set_z(np.random.default_rng([seed, st.session_state["_z_draws"]]).standard_normal(dim))


def opening_z(name: str) -> np.ndarray:
    """The point the page opens on: ``OPENING_ITEM``'s posterior mean on Fashion-MNIST, the first test item's
    elsewhere (clipped to the sliders' range)."""
    return generation.clip_z(_opening_code(name))


def _opening_item(name: str) -> int:
    return OPENING_ITEM if common.run(name).dataset == FASHION_MNIST else 0


@common.per_variant
def _opening_code(name: str) -> np.ndarray:
    item = _opening_item(name)
    return inference.encode(common.model(name).value, common.items(common.run(name).dataset).test_images[item])[0]


def _reset(name: str) -> None:
    _set_z(opening_z(name))


def _from_item(name: str, item_images: np.ndarray) -> None:
    loaded = common.model(name)
    if loaded.ok:
        _set_z(inference.encode(loaded.value, item_images[int(st.session_state["from_item_index"])])[0])


def page() -> None:
    name, _ = common.page_header(
        "Generator",
        "Every point of a VAE's latent space decodes to an image. Move the sliders to walk through it; "
        "the star shows where the point falls on the model's map of the test images.",
        "generative",
        memory="_generator_variant",
        label="Generative model",
        columns=(1, 1),  # room for a run's title ("vae-latent2 (Variational autoencoder)") at 1280 px
    )
    items = common.items()
    model = common.require_model(name)
    shown = min(model.code_dim, MAX_SLIDERS)
    if st.session_state.get("_generator_run") != name:  # a new run: its own opening point (a link's z came first)
        fresh = st.session_state.get("_generator_run") is not None
        st.session_state["_generator_run"] = name
        if fresh or any(f"z{i}" not in st.session_state for i in range(shown)):
            _set_z(opening_z(name))
    common.default("from_item_index", 0)
    fashion = common.run(name).dataset == FASHION_MNIST
    common.default("interp_a", int(np.flatnonzero(items.test_labels == 5)[0]) if fashion else 0)  # a sandal …
    common.default("interp_b", int(np.flatnonzero(items.test_labels == 9)[0]) if fashion else 1)  # … to a boot
    for key in ("interp_a", "interp_b", "from_item_index"):  # another dataset may have fewer items
        if st.session_state[key] >= len(items.images):
            st.session_state[key] = 0
    common.default("interp_steps", 10)
    common.default("interp_mode", "linear")
    common.default("live_decode", True)
    if not live_capable(model):
        st.session_state["live_decode"] = False

    # The interpolation is drawn on the map too; its widgets come further down, their values are known now.
    a, b, steps = (int(st.session_state[k]) for k in ("interp_a", "interp_b", "interp_steps"))
    path, decoded = _interpolation(name, a, b, steps, st.session_state["interp_mode"])
    loaded = common.proj(name)
    path_xy = projection.place(path, loaded.value) if loaded.ok else None
    explore(name, items.images, path_xy)

    st.divider()
    st.subheader("Interpolation")
    st.caption("Decoded points on a path between two items' posterior means; the real items at both ends.")
    sections.interpolation_mode()
    i1, i2, i3 = st.columns(3)
    n = len(items.labels) - 1
    i1.number_input("From item", 0, n, step=1, key="interp_a", help=items.id_help)
    i2.number_input("To item", 0, n, step=1, key="interp_b")
    i3.slider("Steps", 8, 12, key="interp_steps")
    strip = np.concatenate([items.images[a : a + 1], decoded, items.images[b : b + 1]])
    st.image(images.mosaic(strip, scale=max(1, 84 // items.images.shape[-1]), pad=6))
    st.caption(f"{items.class_name(a)} (item {a}) → {items.class_name(b)} (item {b})")

    st.divider()
    st.subheader("Latent manifold")
    st.caption("An N×N grid of decoded points over a plane through latent space.")
    sections.manifold_section(name, items.images, point(name, model.code_dim))


@common.of_model
def _interpolation(model, a: int, b: int, steps: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """The path's codes [steps, D] between items a and b's posterior means, and its decoded images (uint8):
    computed once per choice, not on every slider move."""
    shape = tuple(getattr(model, "image_shape", (1, 28, 28)))
    item_images = common.items().images
    if item_images.shape[1:] not in (shape, shape[1:]):
        raise ValueError(f"the run takes {shape} images, the picked dataset has {item_images.shape[1:]}")
    path, decoded = generation.item_path(model, item_images[[a, b]], steps, mode)
    return path, images.to_uint8(decoded)


def point(name: str, dim: int) -> np.ndarray:
    """The latent point [dim]: the sliders' values, plus the principal-direction sliders' offsets (server mode,
    past ``MAX_SLIDERS`` dimensions)."""
    z = sections.current_z(dim)
    if dim > MAX_SLIDERS:
        for k, (_, vec) in enumerate(sections.principal(name)):
            z = z + float(st.session_state.get(f"pc{k}", 0.0)) * vec
    return z.astype(np.float32)


def explore(name: str, item_images: np.ndarray, path_xy: np.ndarray | None) -> None:
    """The latent point's controls, its image and its place on the map.

    Live (the default): the sliders decode in the browser at every frame (``generation_sections.live_section``)
    and the page reruns on release. Otherwise: ten server-side sliders in a fragment.
    """
    if st.session_state["live_decode"]:
        _explore_live(name, item_images, path_xy)
    else:
        _explore_server(name, item_images, path_xy)


def _buttons(name: str, item_images: np.ndarray, dim: int, one_row: bool = False) -> None:
    """Random sample, Reset, the item picker and "Start from this item": in one row across the page (live mode,
    above the sliders and the map) or two rows in a column (server mode). The live toggle is ``_live_toggle``."""
    if one_row:
        b1, b2, n1, n2 = st.columns(4, vertical_alignment="bottom")
    else:
        b1, b2 = st.columns(2)
        n1, n2 = st.columns([1, 1], vertical_alignment="bottom")
    wide = {"width": "stretch"}
    prior = "Draw z from the prior N(0, I)"
    b1.button("Random sample", "random_sample", prior, _random_sample, (dim,), icon=":material/casino:", **wide)
    back = f"Back to the opening point: test item {_opening_item(name)}'s posterior mean"
    b2.button("Reset", "reset", back, _reset, (name,), icon=":material/restart_alt:", **wide)
    n1.number_input(
        "Item",
        0,
        len(item_images) - 1,
        step=1,
        key="from_item_index",
        help=common.items().id_help,
    )
    n2.button(
        "Start from item",
        key="from_item",
        on_click=_from_item,
        args=(name, item_images),
        width="stretch",
        help="Set the sliders to the item's posterior mean μ",
    )


def _live_toggle(capable: bool = True) -> None:
    st.toggle(
        "Live decoding",
        key="live_decode",
        disabled=not capable,
        help="On: the browser decodes the image at every frame of a drag. Off: the server decodes on release."
        + ("" if capable else " The browser decodes only the shipped VAE's shape (28×28, two dense layers)."),
    )


def _explore_live(name: str, item_images: np.ndarray, path_xy: np.ndarray | None) -> None:
    # The sliders first, right under the header (at 1280×800 they start above the fold); the buttons and the map
    # beside them. While a slider moves, the browser moves the map's star too (``live_section(chart=...)``).
    model = common.require_model(name)
    dim = model.code_dim
    _buttons(name, item_images, dim, one_row=True)
    controls, chart = st.columns([5, 3], gap="medium")
    with controls:
        sections.live_section(name, chart=_live_chart(name))
    z = sections.current_z(dim)
    generated = images.to_uint8(inference.decode(model, z)[0])
    st.session_state["generated"] = generated
    urlsync.write_url_state(urlsync.current_state("generator", name))
    with controls:
        d1, d2 = st.columns(2, vertical_alignment="center")
        with d1:
            downloads.image_button(generated, "generated.png", "download_generated", "Download PNG")
        with d2:
            _live_toggle()
    with chart:
        _map(name, z, path_xy)


def _live_chart(name: str) -> dict | None:
    """What the browser needs to move the map's star while a slider moves: the map's key, the star's trace name
    and the test codes and map coordinates ``projection.place`` interpolates between (None without a map)."""
    loaded = common.proj(name)
    if not loaded.ok or loaded.value.codes is None:
        return None
    return {"key": MAP_KEY, "trace": STAR, "codes": loaded.value.codes, "coords": loaded.value.coords}


@st.fragment
def _explore_server(name: str, item_images: np.ndarray, path_xy: np.ndarray | None) -> None:
    """Server-side sliders, the decoded image and the map: a fragment, so that a slider reruns only this part."""
    model = common.require_model(name)
    dim = model.code_dim
    sliders, picture, chart = st.columns([3, 2, 3], gap="large")
    with sliders:
        _buttons(name, item_images, dim)
        _live_toggle(live_capable(model))
        halves = st.columns(2)
        for i in range(min(dim, MAX_SLIDERS)):
            with halves[i % 2]:
                common.default(f"z{i}", 0.0)
                st.slider(f"z{i}", -Z_LIMIT, Z_LIMIT, step=0.05, key=f"z{i}", format="%.2f")
        if dim > MAX_SLIDERS:
            st.caption(f"z{MAX_SLIDERS}–z{dim - 1} stay at 0; these move the point along the codes' main axes:")
            for k, (label, _) in enumerate(sections.principal(name)):
                common.default(f"pc{k}", 0.0)
                st.slider(label, -Z_LIMIT, Z_LIMIT, step=0.05, key=f"pc{k}", format="%.2f")
    z = point(name, dim)
    generated = images.to_uint8(inference.decode(model, z)[0])
    st.session_state["generated"] = generated  # 784 bytes; lets tests read the pixels
    urlsync.write_url_state(urlsync.current_state("generator", name))  # here: a slider reruns only this fragment
    with picture:
        st.image(images.mosaic(generated[None], scale=max(1, 280 // generated.shape[1])), caption="Decoded image")
        if sections.judged(name):
            sections.judge_label(generated)
        downloads.image_button(generated, "generated.png", "download_generated", "Download PNG")
    with chart:
        _map(name, z, path_xy)


def _map(name: str, z: np.ndarray, path_xy: np.ndarray | None) -> None:
    """The model's map of the test images with the latent point (star) and the interpolation path."""
    loaded = common.proj(name)
    if not loaded.ok:
        st.info("The map is not available for this model yet. Create it with:")
        st.code(projection.fix_command(name), language="bash")
        return
    fig = figures.generator_map(
        common.map_dict(name), projection.place(z, loaded.value), path_xy, height=440, star_name=STAR
    )
    st.plotly_chart(fig, key=MAP_KEY, config=common.PLOTLY_CONFIG)
    st.caption("Dots: the test images, by class. Dotted line: the interpolation. Star: the sliders' point.")
