"""Sections for the Generator and Compare models pages (issue 4): the live generator with attribute-direction
sliders, the judge's label, the latent manifold grid, the interpolation path picker and the generation-quality table.

Each ``*_section`` draws one part of a page and returns what the page needs from it. The page owns the latent point
(``st.session_state["z0"..]``); ``live_section`` reads it, shows it, and writes back what the user released.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import checkpoint, generation
from explorer.data import CLASS_NAMES
from explorer.judge import FIX as JUDGE_FIX
from explorer.judge import judge_dir, load_judge
from explorer.ui import common
from explorer.ui.live_decoder import decoder_weights, live_generator

Z_LIMIT = 3.0

# ------------------------------------------------------------------------------------------- loaders


@st.cache_resource(show_spinner="Loading the judge…", max_entries=2)
def _judge(root_dir: str, stamps: tuple) -> common.Loaded:
    try:
        return common.Loaded(load_judge(root_dir))
    except checkpoint.CheckpointError as e:
        return common.Loaded(error=str(e), fixes=(JUDGE_FIX,))


def judge() -> common.Loaded:
    """The shipped judge (cached; reloaded when its files change), or why it is unavailable."""
    d = judge_dir(common.root())
    return _judge(common.root(), tuple(common.file_stamp(d / f) for f in (checkpoint.CONFIG, checkpoint.WEIGHTS)))


@st.cache_resource(show_spinner=False, max_entries=4)
def _directions(name: str, root_dir: str, model_stamps: tuple, map_stamps: tuple) -> list[tuple[str, np.ndarray]]:
    # The test images' codes (posterior means): 1,000 a class give each direction to within 0.12 per dimension
    # of the 60,000 training images' (directions have norms 1.4-2.6). The test map stores them; without a map
    # they are encoded (10,000 images: a fraction of a second).
    loaded = common._projection(name, "test", root_dir, map_stamps)
    if loaded.ok and loaded.value.codes is not None:
        codes, labels = loaded.value.codes, loaded.value.labels
    else:
        items = common.items()
        codes = generation.encode(common._model(name, root_dir, model_stamps).value, items.test_images)
        labels = items.test_labels
    dirs = generation.directions_from_means(generation.class_means_of_codes(codes, labels))
    return [(generation.direction_label(pair), vec) for pair, vec in dirs.items()]


def directions(name: str) -> list[tuple[str, np.ndarray]]:
    """(label, mean-code difference) for ``generation.DEFAULT_PAIRS``, from the test images' codes."""
    return _directions(name, common.root(), common.model_stamps(name), common.map_stamps(name))


@st.cache_resource(show_spinner=False, max_entries=4)
def _weights(name: str, root_dir: str, stamps: tuple) -> dict[str, np.ndarray]:
    return decoder_weights(common._model(name, root_dir, stamps).value)


# ------------------------------------------------------------------------------------------ sections


def current_z(dim: int) -> np.ndarray:
    return np.array([float(st.session_state.get(f"z{i}", 0.0)) for i in range(dim)], dtype=np.float32)


def judge_text(probabilities: np.ndarray) -> str:
    """ "looks like: Sneaker 87 %" (and the runner-up) from the judge's 10 class probabilities."""
    order = np.argsort(probabilities)[::-1]
    first, second = order[0], order[1]
    return (
        f"looks like: {CLASS_NAMES[first]} {probabilities[first]:.0%}"
        f"  (then {CLASS_NAMES[second]} {probabilities[second]:.0%})"
    )


def live_section(name: str, with_directions: bool = True, preview_ms: int | None = 250) -> None:
    """The browser-decoded image with its sliders (+ direction sliders) and the judge's label under the image.

    Replaces the page's ten ``st.slider`` widgets and its ``st.image``. It runs as a fragment: while a slider
    moves, the browser decodes every frame, and every ``preview_ms`` the point goes to the server for the
    judge's label, which reruns this fragment only. On release the point is written to
    ``st.session_state["z0"..]`` (clipped to ±3, as the page's buttons do) and the whole page reruns, so the
    map marker and the share link follow. Read the point afterwards with ``current_z(dim)``.
    """
    common.require_model(name)  # outside the fragment: a missing model stops the whole page
    _live_fragment(name, with_directions, preview_ms)


@st.fragment
def _live_fragment(name: str, with_directions: bool, preview_ms: int | None) -> None:
    import torch

    model = common.require_model(name)
    loaded = judge()

    def label(z: np.ndarray) -> str:
        if not loaded.ok:
            return f"(no judge yet: train it with `{JUDGE_FIX}`)"
        with torch.no_grad():
            image = model.decode(torch.from_numpy(z[None])).clamp(0, 1)
        return judge_text(loaded.value.predict_proba(image)[0])

    new = live_generator(
        _weights(name, common.root(), common.model_stamps(name)),
        current_z(model.code_dim).tolist(),
        key=f"live_{name}",
        directions=directions(name) if with_directions else [],
        note="decoded in your browser as you drag",
        preview_ms=preview_ms,
        label=label,
    )
    if new is not None:
        for i, v in enumerate(np.clip(np.asarray(new, dtype=np.float32), -Z_LIMIT, Z_LIMIT)):
            st.session_state[f"z{i}"] = round(float(v), 2)
        st.rerun(scope="app")


def judge_label(image) -> np.ndarray | None:
    """ "looks like: Sneaker 87 %" under a generated image (uint8 or floats in [0, 1], [28, 28]) -> probabilities."""
    loaded = judge()
    if not loaded.ok:
        st.caption(f"No judge yet ({loaded.error.split('.')[0]}). Train it with `{JUDGE_FIX}`.")
        return None
    x = np.asarray(image)
    x = x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)
    p = loaded.value.predict_proba(x.reshape(1, 1, 28, 28))[0]
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
def _axis_grid_cached(name: str, root_dir: str, stamps: tuple, i: int, j: int, z, n: int, span: float) -> np.ndarray:
    model = common._model(name, root_dir, stamps).value
    origin, u, v = generation.axis_plane(model.code_dim, i, j, None if z is None else np.asarray(z, np.float32))
    return generation.manifold_grid(model, origin, u, v, n=n, span=span)


def _axis_grid(name: str, i: int, j: int, z: tuple | None, n: int, span: float) -> np.ndarray:
    """The N×N grid over dimensions i, j (through the origin, or the point ``z``): decoded once per choice."""
    return _axis_grid_cached(name, common.root(), common.model_stamps(name), i, j, z, n, span)


def manifold_section(name: str, item_images: np.ndarray, z: np.ndarray | None = None) -> np.ndarray | None:
    """Decode an N×N grid over a plane of latent space, show it and offer it as a PNG -> the grid (uint8)."""
    model = common.require_model(name)
    dim = model.code_dim
    common.default("grid_plane", "dims")
    common.default("grid_n", 15)
    common.default("grid_i", 0)
    common.default("grid_j", 1)
    common.default("grid_span", 3.0)
    common.default("grid_through_point", False)
    for k, item in zip(("grid_item_a", "grid_item_b", "grid_item_c"), (0, 1, 2), strict=True):
        common.default(k, item)

    plane = st.radio(
        "Plane",
        ("dims", "items"),
        key="grid_plane",
        horizontal=True,
        format_func={"dims": "two latent dimensions", "items": "through three items"}.get,
    )
    c = st.columns(4, vertical_alignment="bottom")
    n = int(c[0].slider("Grid size N", 3, 25, key="grid_n"))
    try:
        if plane == "dims":
            i = int(c[1].selectbox("Across: z", range(dim), key="grid_i"))
            j = int(c[2].selectbox("Down: z", range(dim), key="grid_j"))
            span = float(c[3].number_input("Span ±", 0.5, 6.0, step=0.5, key="grid_span"))
            through = st.toggle(
                "Through the sliders' point (else through the origin)",
                key="grid_through_point",
                help="The other dimensions keep the sliders' values",
            )
            through_z = tuple(map(float, z)) if through and z is not None else None
            grid = _axis_grid(name, i, j, through_z, n, span)
            caption = f"z{i} from {-span:g} to {span:g} across, z{j} downwards"
        else:
            last = len(item_images) - 1
            ids = [
                int(c[k + 1].number_input(f"Item {'ABC'[k]}", 0, last, step=1, key=f"grid_item_{'abc'[k]}"))
                for k in range(3)
            ]
            codes = generation.encode(model, item_images[ids])
            origin, u, v = generation.plane_through(*codes)
            grid = generation.manifold_grid(model, origin, u, v, n=n, span=(-0.25, 1.25))
            caption = f"items {ids[0]}, {ids[1]}, {ids[2]} near the top left, top right and bottom left corners"
    except ValueError as e:
        st.error(str(e), icon="⚠️")
        return None
    st.image(grid, caption=f"{n}×{n} decoded points: {caption}")
    st.download_button(
        "Download PNG", data=lambda: generation.grid_png(grid), file_name=f"{name}-manifold-{n}x{n}.png",
        mime="image/png", icon=":material/download:", key="grid_download", on_click="ignore",
    )  # fmt: skip
    return grid


def generation_quality_section() -> dict | None:
    """Compare models: Fashion-FID and judge confidence of VAE samples beside the PCA-Gaussian baseline and the
    train set (from ``checkpoints/generation.json``)."""
    import pandas as pd

    try:
        result = generation.load_generation(common.root())
    except checkpoint.CheckpointError as e:
        st.info(f"Generation quality is not measured yet: {e}")
        st.code("python -m explorer train-judge\npython -m explorer evaluate --variant vae", language="bash")
        return None
    rows = result["rows"]
    table = pd.DataFrame(
        {
            "Fashion-FID to test ↓": [rows[k]["fid"] for k in generation.GENERATION_ROWS if k in rows],
            "judge confidence ↑": [rows[k]["confidence"] for k in generation.GENERATION_ROWS if k in rows],
        },
        index=[label for k, label in generation.GENERATION_ROWS.items() if k in rows],
    )
    st.dataframe(table.style.format(precision=3))
    st.caption(
        f"{result['n']:,} images each. Fashion-FID: Fréchet distance between the judge's penultimate-layer features "
        f"of the images and of the 10,000 test images (0 = same distribution). Judge confidence: its mean top-class "
        f"probability (on the test images themselves: {result['test_confidence']:.3f})."
    )
    return result
