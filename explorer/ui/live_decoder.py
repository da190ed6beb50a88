"""The live generator: latent sliders whose decoded image follows them at screen rate, decoded in the browser.

An ``st.components.v2`` component, rendered in the app's DOM inside a shadow root; no build step: its JS and
CSS are the plain files ``assets/live_decoder.js`` and ``assets/live_decoder.css``, read on first use. The VAE
decoder (z -> 500 ReLU -> 784 sigmoid, ~400k weights) is sent to the browser once per session and decoded
there on every slider ``input`` event, at most once per animation frame; nothing goes to the server while a
slider moves. When a slider is released the final latent goes back to Python
(a trigger value: ``live_generator`` returns it in that one run, else None).

Weights travel exactly: when every value is a float16 (the shipped checkpoints store float16), they are
sent as float16 bits and widened exactly in JS; otherwise as float32. JS accumulates in float64, so the
browser's image matches PyTorch's float32 decoder to ~1e-7 (the browser test checks <= 1e-4).

With ``chart``, the browser also moves a marker of a Plotly map on the page while a slider moves: it places the
point on the map as ``explorer.projection.place`` does (the inverse-distance-weighted mean of the k nearest test
codes' map coordinates; the codes and coordinates, 10,000 x (D + 2) float32, are sent once per session) and draws
a star there over the chart, on Plotly's own axes, while the trace's star stays faded where it was (restyling the
trace would redraw every WebGL dot at each frame). On release the page redraws the map with the star at that
point, and the overlay goes.

For tests, each instance exposes ``window.__latentDecoders[key]`` = {decode(z) -> 784 floats, place(z) -> [x, y]
or null, renders(), ready(), z()} and ``window.__latentDecode`` (the last mounted instance's decode).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import streamlit as st

from explorer.generation import Z_LIMIT  # latent sliders span ±Z_LIMIT prior standard deviations

COMPONENT_NAME = "latent_explorer.live_decoder"
PLACE_K = 10  # neighbours a point is placed from, as explorer.projection.place's default
DIRECTION_RANGE = 1.5  # a direction slider at 1 moves the point from class a's mean code to class b's

HTML = (
    '<div class="le-root"><div class="le-picture"><canvas class="le-canvas" width="28" height="28"></canvas>'
    '<div class="le-label"></div><div class="le-note"></div></div><div class="le-sliders"></div></div>'
)
ASSETS = Path(__file__).resolve().parent / "assets"  # live_decoder.js and live_decoder.css, shipped as package data


def preview(key: str) -> list[float] | None:
    """The point sent while dragging (``preview_ms``) if this run was triggered by one, else None."""
    return st.session_state.get(f"_{key}__previewed")


@lru_cache(maxsize=1)
def _component():
    """The component, registered on first use with its JS and CSS read from ``assets/``."""
    css = (ASSETS / "live_decoder.css").read_text(encoding="utf-8")
    js = (ASSETS / "live_decoder.js").read_text(encoding="utf-8")
    return st.components.v2.component(COMPONENT_NAME, html=HTML, css=css, js=js)


def decoder_weights(vae) -> dict[str, np.ndarray]:
    """The VAE decoder's two layers as numpy: w1 [H, D], b1 [H], w2 [784, H], b2 [784] (torch Linear layout)."""
    first, last = vae.decoder[0], vae.decoder[2]
    return {
        "w1": first.weight.detach().cpu().numpy(),
        "b1": first.bias.detach().cpu().numpy(),
        "w2": last.weight.detach().cpu().numpy(),
        "b2": last.bias.detach().cpu().numpy(),
    }


def _pack_one(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a, dtype=np.float32)
    half = a.astype(np.float16)
    exact = np.array_equal(half.astype(np.float32), a, equal_nan=False) and np.isfinite(a).all()
    raw = half.astype("<f2").tobytes() if exact else a.astype("<f4").tobytes()
    return {"dtype": "float16" if exact else "float32", "shape": list(a.shape), "b64": base64.b64encode(raw).decode()}


_PACKED: dict[str, dict] = {}


def pack_weights(weights: dict[str, np.ndarray]) -> tuple[str, dict]:
    """(content hash, JSON-ready weights): float16 bits when every value is a float16, else float32 bits."""
    missing = {"w1", "b1", "w2", "b2"} - set(weights)
    if missing:
        raise ValueError(f"decoder weights lack {sorted(missing)}; build them with decoder_weights(vae).")
    arrays = {k: np.ascontiguousarray(weights[k], dtype=np.float32) for k in ("w1", "b1", "w2", "b2")}
    (h, _), (p, h2) = arrays["w1"].shape, arrays["w2"].shape
    if h != h2 or arrays["b1"].shape != (h,) or arrays["b2"].shape != (p,) or p != 784:
        raise ValueError(
            f"decoder weights have shapes w1 {arrays['w1'].shape}, b1 {arrays['b1'].shape}, w2 {arrays['w2'].shape}, "
            f"b2 {arrays['b2'].shape}; expected [H, D], [H], [784, H], [784]."
        )
    digest = hashlib.sha256()
    for k in ("w1", "b1", "w2", "b2"):
        digest.update(arrays[k].tobytes())
    key = digest.hexdigest()[:16]
    if key not in _PACKED:
        _PACKED.clear()  # one decoder at a time is plenty; keep the memory bounded
        _PACKED[key] = {k: _pack_one(a) for k, a in arrays.items()}
    return key, _PACKED[key]


_PLACES: dict[str, dict] = {}


def pack_places(codes: np.ndarray, coords: np.ndarray) -> tuple[str, dict]:
    """(content hash, JSON-ready codes [N, D] and map coordinates [N, 2] as float32 bits) for placing in JS."""
    codes = np.ascontiguousarray(codes, dtype=np.float32)
    coords = np.ascontiguousarray(coords, dtype=np.float32)
    if codes.ndim != 2 or coords.shape != (len(codes), 2) or len(codes) <= PLACE_K:
        raise ValueError(f"codes {codes.shape} and coords {coords.shape}: need [N, D] and [N, 2], N > {PLACE_K}.")
    key = hashlib.sha256(codes.tobytes() + coords.tobytes()).hexdigest()[:16]
    if key not in _PLACES:
        _PLACES.clear()
        _PLACES[key] = {
            name: {
                "dtype": "float32",
                "shape": list(a.shape),
                "b64": base64.b64encode(a.astype("<f4").tobytes()).decode(),
            }
            for name, a in (("codes", codes), ("coords", coords))
        }
    return key, _PLACES[key]


def live_generator(
    weights: dict[str, np.ndarray],
    z_init: Sequence[float],
    key: str,
    directions: Sequence[tuple[str, Sequence[float]]] = (),
    note: str = "",
    z_range: float = Z_LIMIT,
    direction_range: float = DIRECTION_RANGE,
    preview_ms: int | None = None,
    label: Callable[[np.ndarray], str] | None = None,
    chart: dict | None = None,
) -> list[float] | None:
    """Draw the live generator; returns the latent the user released a slider at (in that run only), else None.

    ``weights``: ``decoder_weights(vae)``. ``z_init``: the point to show (Python stays the source of truth:
    pass back what this returned). ``directions``: (label, vector) pairs shown as extra sliders that move the
    point along ``vector`` while dragged (recentring on release). ``preview_ms``: also send the point to Python
    every that many milliseconds while a slider moves (a rerun each; read it with ``preview(key)``), e.g. to keep
    a server-side label in step; None sends only on release. ``label(z) -> str``: text shown under the image,
    computed in Python for the point shown (the previewed one while dragging), e.g. the judge's verdict.
    ``chart``: {"key": a ``st.plotly_chart``'s key, "trace": the name of its marker trace, "codes": [N, D],
    "coords": [N, 2]}: while a slider moves, a star follows on that chart, placed from ``codes`` onto ``coords``.
    """
    wkey, packed = pack_weights(weights)
    dim = packed["w1"]["shape"][1]
    z = [float(v) for v in z_init]
    if len(z) != dim:
        raise ValueError(f"z_init has {len(z)} values, the decoder takes {dim}.")
    dirs = []
    for title, vec in directions:
        vec = [float(v) for v in vec]
        if len(vec) != dim:
            raise ValueError(f"direction {title!r} has {len(vec)} values, the decoder takes {dim}.")
        dirs.append({"label": str(title), "vector": vec})

    # Callbacks run before the script: a released point must reach ``data`` in this very run, or the component
    # would be handed the stale point and jump back to it.
    commit_key, preview_key, need_key = f"_{key}__commit", f"_{key}__preview", f"_{key}__need_weights"

    def _stash(event: str, target: str):
        value = (st.session_state.get(key) or {}).get(event)
        if isinstance(value, list) and len(value) == dim:
            st.session_state[target] = [float(v) for v in value]

    def _on_commit():
        _stash("commit", commit_key)

    def _on_preview():
        _stash("preview", preview_key)

    def _on_need_weights():
        st.session_state[need_key] = True

    committed = st.session_state.pop(commit_key, None)
    if committed is not None:
        z = committed
    previewed = st.session_state.pop(preview_key, None)
    st.session_state[f"_{key}__previewed"] = previewed
    sent_flag = f"_{key}__weights_sent"
    if st.session_state.pop(need_key, False):  # the browser lost the decoder (e.g. its scripts reloaded)
        st.session_state.pop(sent_flag, None)
    send = st.session_state.get(sent_flag) != wkey
    places = None
    if chart is not None:
        pkey, packed_places = pack_places(chart["codes"], chart["coords"])
        if packed_places["codes"]["shape"][1] != dim:
            raise ValueError(
                f"chart codes have {packed_places['codes']['shape'][1]} dimensions, the decoder takes {dim}."
            )
        places_flag = f"_{key}__places_sent"
        if send:  # a browser that lost the decoder lost the codes too
            st.session_state.pop(places_flag, None)
        places = {
            "chart": str(chart["key"]),
            "trace": str(chart["trace"]),
            "k": PLACE_K,
            "hash": pkey,
            "arrays": packed_places if st.session_state.get(places_flag) != pkey else None,
        }
        st.session_state[places_flag] = pkey
    data = {
        "instance": key,
        "hash": wkey,
        "weights": packed if send else None,
        "z": z,
        "directions": dirs,
        "range": float(z_range),
        "dir_range": float(direction_range),
        "note": note,
        "preview_ms": int(preview_ms or 0),
        "label": label(np.asarray(committed or previewed or z, dtype=np.float32)) if label is not None else "",
        "places": places,
    }
    result = _component()(
        key=key,
        data=data,
        on_commit_change=_on_commit,
        on_preview_change=_on_preview,
        on_need_weights_change=_on_need_weights,
    )
    st.session_state[sent_flag] = wkey
    del result  # everything it holds was taken by the callbacks, before ``data`` was built
    return committed
