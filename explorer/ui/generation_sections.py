"""Sections of the Generator and Compare models pages: the live generator with attribute-direction sliders, the
judge's label, the latent manifold grid, the interpolation path picker and the generation-quality table.

Each ``*_section`` draws one part of a page and returns what the page needs from it. The page owns the latent point
(``st.session_state["z0"..]``); ``live_section`` reads it, shows it, and writes back what the user released.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import checkpoint, compare, exports, generation, inference
from explorer.checkpoint import JUDGE, fix_command
from explorer.data import CLASS_NAMES, FASHION_MNIST
from explorer.ui import common
from explorer.ui.live_decoder import decoder_weights, live_generator

# ------------------------------------------------------------------------------------------- cached


MAX_SLIDERS = 16  # latent sliders shown at most; a larger code is moved along its principal directions too


def judged(name: str) -> bool:
    """Whether the judge (a Fashion-MNIST classifier) may label this run's images."""
    return common.run(name).dataset == FASHION_MNIST


@common.per_variant(resource=True)
def directions(name: str) -> list[tuple[str, np.ndarray]]:
    """Sliders that move the point along a direction: on Fashion-MNIST, (label, mean-code difference) for
    ``generation.DEFAULT_PAIRS`` from the test images' codes; on other datasets, or past ``MAX_SLIDERS``
    dimensions, the codes' principal directions."""
    # The test images' codes (posterior means): 1,000 a class give each direction to within 0.12 per dimension
    # of the 60,000 training images' (directions have norms 1.4-2.6).
    codes, labels = _test_codes(name)
    out = generation.labelled_directions(codes, labels) if judged(name) else []
    if not out or codes.shape[1] > MAX_SLIDERS:
        out += generation.principal_directions(codes)
    return out


MAP_DIRECTION_KEY = "_map_direction"  # {"run", "label", "vector"}: the map's group A → group B direction


def map_direction(name: str) -> list[tuple[str, np.ndarray]]:
    """The direction the latent map sent here (its group A → group B), as a slider's (label, vector), for ``name``."""
    sent = st.session_state.get(MAP_DIRECTION_KEY)
    if not sent or sent.get("run") != name:
        return []
    return [(str(sent["label"]), np.asarray(sent["vector"], np.float32))]


N_PRINCIPAL = 4  # principal-direction sliders past MAX_SLIDERS dimensions


@common.per_variant(resource=True)
def principal(name: str) -> list[tuple[str, np.ndarray]]:
    """The test codes' top ``N_PRINCIPAL`` principal directions (one standard deviation long)."""
    return generation.principal_directions(_test_codes(name)[0], N_PRINCIPAL)


def _test_codes(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's test codes and labels: those its test map stores; without a map, encoded (10,000 images: a
    fraction of a second). Called inside the cached functions above."""
    loaded = common.proj(name, compute=False)
    if loaded.ok and loaded.value.codes is not None:
        return loaded.value.codes, loaded.value.labels
    items = common.items(common.run(name).dataset)
    return inference.encode(common.model(name).value, items.test_images), items.test_labels


@common.per_variant(resource=True)
def code_extent(name: str) -> float:
    """The 99th percentile of the test codes' absolute values: a span that covers a low-dimensional latent space
    (for a 2-d code, the manifold grid over it covers the whole map)."""
    loaded = common.proj(name, compute=False)
    if not loaded.ok or loaded.value.codes is None:
        return 3.0
    return float(np.percentile(np.abs(loaded.value.codes), 99))


GRID_PX = 720  # the manifold grid's width on screen (narrower columns shrink it)

weights = common.of_model(decoder_weights, resource=True)
axis_grid = common.of_model(generation.axis_grid)


# ------------------------------------------------------------------------------------------ sections


def current_z(dim: int) -> np.ndarray:
    """The sliders' point [dim]: the first ``MAX_SLIDERS`` dimensions from their sliders, the rest 0 (the
    generator adds its principal-direction offsets: ``generator.point``)."""
    return np.array([float(st.session_state.get(f"z{i}", 0.0)) for i in range(dim)], dtype=np.float32)


def judge_text(probabilities: np.ndarray) -> str:
    """ "looks like: Sneaker 87 %" (and the runner-up) from the judge's 10 class probabilities."""
    order = np.argsort(probabilities)[::-1]
    first, second = order[0], order[1]
    return (
        f"looks like: {CLASS_NAMES[first]} {probabilities[first]:.0%}"
        f"  (then {CLASS_NAMES[second]} {probabilities[second]:.0%})"
    )


def live_section(
    name: str, with_directions: bool = True, preview_ms: int | None = 250, chart: dict | None = None
) -> None:
    """The browser-decoded image with its sliders (+ direction sliders) and the judge's label under the image.

    Replaces the page's ten ``st.slider`` widgets and its ``st.image``. It runs as a fragment: while a slider
    moves, the browser decodes every frame, and every ``preview_ms`` the point goes to the server for the
    judge's label, which reruns this fragment only. On release the point is written to
    ``st.session_state["z0"..]`` (clipped to ±3, as the page's buttons do) and the whole page reruns, so the
    map marker and the share link follow. Read the point afterwards with ``current_z(dim)``. ``chart``: a map
    whose marker the browser moves while a slider moves (see ``live_decoder.live_generator``).
    """
    common.require_model(name)  # outside the fragment: a missing model stops the whole page
    _live_fragment(name, with_directions, preview_ms, chart)


@st.fragment
def _live_fragment(name: str, with_directions: bool, preview_ms: int | None, chart: dict | None = None) -> None:
    model = common.require_model(name)
    loaded = common.judge()

    def label(z: np.ndarray) -> str:
        if not judged(name):
            return ""
        if not loaded.ok:
            return f"(no judge yet: train it with `{fix_command(JUDGE)}`)"
        return judge_text(loaded.value.predict_proba(inference.decode(model, z))[0])

    new = live_generator(
        weights(name),
        current_z(model.code_dim).tolist(),
        key=f"live_{name}",
        directions=(map_direction(name) + directions(name)) if with_directions else [],
        note="decoded in your browser as you drag",
        preview_ms=preview_ms,
        label=label,
        chart=chart,
    )
    if new is not None:
        for i, v in enumerate(generation.clip_z(np.asarray(new, dtype=np.float32))):
            st.session_state[f"z{i}"] = v
        st.rerun(scope="app")


def judge_label(image) -> np.ndarray | None:
    """ "looks like: Sneaker 87 %" under a generated image (uint8 or floats in [0, 1], [28, 28]) -> probabilities."""
    loaded = common.judge()
    if not loaded.ok:
        st.caption(f"No judge yet ({loaded.error.split('.')[0]}). Train it with `{fix_command(JUDGE)}`.")
        return None
    p = loaded.value.predict_proba(inference.as_batch(image))[0]
    st.markdown(judge_text(p))
    return p


def interpolation_mode() -> str:
    """The interpolation path: "linear" or "slerp" (pass it to ``generation.interpolate``)."""
    common.default("interp_mode", "linear")
    return st.radio(
        "Path",
        ("linear", "slerp"),
        key="interp_mode",
        horizontal=True,
        format_func={"linear": "straight line", "slerp": "spherical (slerp)"}.get,
        help="Spherical paths keep the norm of the code, where the Gaussian prior puts its mass; "
        "a straight line's middle passes nearer the origin.",
    )


@st.cache_data(show_spinner=False, max_entries=32)
def _grid_png(grid: np.ndarray, width: int) -> bytes:
    """The manifold grid scaled to ``width`` px with nearest-neighbour cells, as PNG. Given anything wider,
    ``st.image`` scaled it down (bilinear: blurred cells) and re-encoded it as JPEG on every rerun (~10 ms)."""
    from PIL import Image

    from explorer import exports

    h, w = grid.shape[:2]
    picture = Image.fromarray(grid).resize((width, max(1, round(h * width / w))), Image.Resampling.NEAREST)
    return exports.png_bytes(np.asarray(picture))


def manifold_section(name: str, item_images: np.ndarray, z: np.ndarray | None = None) -> np.ndarray | None:
    """Decode an N×N grid over a plane of latent space, show it and offer it as a PNG -> the grid (uint8)."""
    model = common.require_model(name)
    dim = model.code_dim
    common.default("grid_plane", "dims")
    common.default("grid_n", 15)
    common.default("grid_i", 0)
    common.default("grid_j", 1)
    common.default("grid_span", 3.0 if dim > 2 else float(min(6.0, max(0.5, np.ceil(2 * code_extent(name)) / 2))))
    common.default("grid_through_point", False)
    for k, item in zip(("grid_item_a", "grid_item_b", "grid_item_c"), (0, 1, 2), strict=True):
        common.default(k, item)

    # The controls in a narrow column, the grid beside them at GRID_PX: at 28 px a cell (420 px for 15×15) it was a
    # stamp in a 1,840 px column; much wider and it no longer fits a 1080-px-high screen.
    controls, picture = st.columns([1, 2], gap="large")
    with controls:
        plane = st.radio(
            "Plane",
            ("dims", "items"),
            key="grid_plane",
            horizontal=True,
            format_func={"dims": "two latent dimensions", "items": "through three items"}.get,
        )
        n = int(st.slider("Grid size N", 3, 25, key="grid_n"))
        c = st.columns(2, vertical_alignment="bottom")
    try:
        if plane == "dims":
            i = int(c[0].selectbox("Across: z", range(dim), key="grid_i"))
            j = int(c[1].selectbox("Down: z", range(dim), key="grid_j"))
            with controls:
                span = float(st.number_input("Span ±", 0.5, 6.0, step=0.5, key="grid_span"))
                through = st.toggle(
                    "Through the sliders' point",
                    key="grid_through_point",
                    help="On: the other dimensions keep the sliders' values. Off: the grid goes through the origin.",
                )
            through_z = tuple(map(float, z)) if through and z is not None else None
            grid = axis_grid(name, i, j, n, span, through_z)
            caption = f"z{i} from {-span:g} to {span:g} across, z{j} downwards"
        else:
            last = len(item_images) - 1
            slots = [c[0], c[1], controls]
            ids = [
                int(slots[k].number_input(f"Item {'ABC'[k]}", 0, last, step=1, key=f"grid_item_{'abc'[k]}"))
                for k in range(3)
            ]
            grid = generation.items_grid(model, item_images[ids], n)
            caption = f"items {ids[0]}, {ids[1]}, {ids[2]} near the top left, top right and bottom left corners"
    except ValueError as e:
        with controls:
            st.error(str(e), icon="⚠️")
        return None
    with picture:
        st.image(_grid_png(grid, GRID_PX), caption=f"{n}×{n} decoded points: {caption}", width=GRID_PX,
                 output_format="PNG")  # fmt: skip
    with controls:
        st.download_button(
            "Download PNG",
            data=lambda: exports.png_bytes(grid),
            file_name=f"{name}-manifold-{n}x{n}.png",
            mime="image/png",
            icon=":material/download:",
            key="grid_download",
            on_click="ignore",
        )
    return grid


def generation_quality_section(names=("vae",)) -> dict | None:
    """Compare models: Fashion-FID and judge confidence of the prior samples of the generative runs ``names`` beside
    the PCA-Gaussian baseline and the train set (each run's generation.json) -> the results shown, by run."""
    loaded = {n: common.run_generation(n) for n in names}
    results = {n: got.value for n, got in loaded.items() if got.ok}
    for n, got in loaded.items():
        if not got.ok:
            st.info(f"Generation quality of {common.title(n)} is not measured yet: {got.error}")
            st.code("\n".join(got.fixes), language="bash")
    if not results:
        return None
    titles = {n: common.title(n) for n in results if checkpoint.is_run_key(n)}
    st.dataframe(compare.generation_table(results, titles).style.format(precision=3, na_rep="–"))
    sizes = sorted({r["n"] for r in results.values()})
    test_confidence = next(iter(results.values()))["test_confidence"]
    st.caption(
        f"{' or '.join(f'{n:,}' for n in sizes)} images each. Fashion-FID: Fréchet distance between the judge's "
        f"penultimate-layer features of the images and of the 10,000 test images (0 = same distribution). Judge "
        f"confidence: its mean top-class probability (on the test images themselves: {test_confidence:.3f})."
    )
    return results
