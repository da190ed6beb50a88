"""The latent map as an ``st.components.v2`` component: points drawn, panned, zoomed, hovered, coloured, filtered and
selected in the browser; only a selection (item ids) comes back to Python.

No build step: its JS and CSS are the plain files ``assets/map.js`` and ``assets/map.css``, read on first use (as
``live_decoder``). Points travel once per session and map, as binary columns (``explorer.mapdata.pack_points``);
later runs send the map's hash only, and the browser keeps the points (a browser that lost them asks again with the
``need_points`` trigger). Thumbnails come from the run's sprite atlas (``explorer.atlas``): after the first paint
the browser asks for tiles (``tiles`` trigger, a few at a time) and a run answers with them as base64 PNGs; from
then on a hover draws the item from the tiles it holds, with no server round trip.

For tests and benchmarks each instance exposes ``window.__latentMaps[key]`` (see the end of ``assets/map.js``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import streamlit as st

COMPONENT_NAME = "latent_explorer.latent_map"
ASSETS = Path(__file__).resolve().parent / "assets"
TILE_BATCH = 4  # tiles (each with its reconstructions' tile) a run sends at once: ~2-4 MB of base64
HTML = (
    '<div class="lm-root"><div class="lm-tools">'
    '<span class="lm-group"><button class="lm-mode lm-on" data-mode="pan" title="Drag to pan">Pan</button>'
    '<button class="lm-mode" data-mode="box" title="Drag a box to select (or Shift-drag)">Box</button>'
    '<button class="lm-mode" data-mode="lasso" title="Draw around points to select them">Lasso</button></span>'
    '<span class="lm-group"><button class="lm-zin" title="Zoom in">+</button>'
    '<button class="lm-zout" title="Zoom out">−</button>'
    '<button class="lm-reset" title="Show the whole map">Reset</button></span>'
    '<label class="lm-group">Colour <select class="lm-color"></select></label>'
    '<span class="lm-group lm-errfilter" title="Show only points whose reconstruction error is in this range">'
    'MSE <input class="lm-emin" placeholder="min" inputmode="decimal"> – '
    '<input class="lm-emax" placeholder="max" inputmode="decimal"></span>'
    '<span class="lm-group"><input class="lm-search" placeholder="item id" inputmode="numeric">'
    '<button class="lm-go" title="Find and select this item">Find</button></span>'
    '<button class="lm-png" title="The map as drawn, as PNG">PNG</button>'
    '<span class="lm-status"></span></div>'
    '<div class="lm-plot"><canvas class="lm-canvas"></canvas><canvas class="lm-overlay"></canvas>'
    '<div class="lm-msg"></div><div class="lm-card"><div class="lm-card-id"></div>'
    '<div class="lm-thumbs"><canvas width="84" height="84" title="original"></canvas>'
    '<canvas width="84" height="84" title="reconstruction"></canvas></div>'
    '<div class="lm-card-wait"></div><div class="lm-card-err"></div></div></div>'
    '<div class="lm-legend"></div></div>'  # below the plot: counts that change never move the map
)


@lru_cache(maxsize=1)
def _component():
    css = (ASSETS / "map.css").read_text(encoding="utf-8")
    js = (ASSETS / "map.js").read_text(encoding="utf-8")
    return st.components.v2.component(COMPONENT_NAME, html=HTML, css=css, js=js)


@dataclass(frozen=True)
class AtlasSource:
    """Where the map's thumbnails come from: ``hash`` names the atlas (run, split, weights); ``load()`` -> an
    ``explorer.atlas.Atlas`` (built once if missing; may raise), called only when the browser asks for tiles."""

    hash: str
    tiles: int
    side: int
    item_shape: tuple[int, ...]
    has_recon: bool
    load: Callable


@dataclass(frozen=True)
class MapEvent:
    """What the browser sent in this run: a new selection (ids; None if none), the colour it shows."""

    selected: list[int] | None
    color: str | None


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def latent_map(
    key: str,
    points: dict,
    class_names: Sequence[str],
    colors: Sequence[str],
    modes: Sequence[str],
    selected: Sequence[int] = (),
    marks: Sequence[tuple[float, float, str]] = (),
    atlas: AtlasSource | None = None,
    atlas_note: str = "",
    height: int = 620,
    name: str = "map",
    color: str = "class",
) -> MapEvent:
    """Draw the map (``points``: ``explorer.mapdata.pack_points``) -> what the browser sent in this run.

    ``selected``: the ids drawn as selected (Python's selection: a link's item, a kept lasso). ``marks``: stars
    (x, y, label) over the points, e.g. an uploaded picture. ``modes``: colourings offered ("class", "error",
    "cluster": the last once the atlas's clusters arrived).
    """
    sel_key, tiles_key, need_key, color_key = (f"_{key}__{s}" for s in ("select", "tiles", "need", "color"))
    ss = st.session_state

    def _take(event: str, target: str):
        value = (ss.get(key) or {}).get(event)
        if value is not None:
            ss[target] = value

    committed = ss.pop(sel_key, None)
    wanted = ss.pop(tiles_key, None)
    color_now = ss.pop(color_key, None)
    sent_flag, clusters_flag = f"_{key}__points_sent", f"_{key}__clusters_sent"
    if ss.pop(need_key, False):
        ss.pop(sent_flag, None)
        ss.pop(clusters_flag, None)
    send = ss.get(sent_flag) != points["hash"]
    data = {
        "instance": key,
        "name": name,
        "hash": points["hash"],
        "points": points if send else None,
        "class_names": list(class_names),
        "colors": list(colors),
        "modes": list(modes),
        "color": color,
        "selected": [int(i) for i in selected],
        "marks": [{"x": float(x), "y": float(y), "label": str(t)} for x, y, t in marks],
        "atlas": None,
        "atlas_note": atlas_note,
        "tiles": None,
        "clusters": None,
        "height": int(height),
    }
    if isinstance(committed, dict):  # the browser's new selection is what it shows
        data["selected"] = [int(i) for i in committed.get("ids") or []]
    if atlas is not None:
        data["atlas"] = {
            "hash": atlas.hash,
            "tiles": atlas.tiles,
            "side": atlas.side,
            "item_shape": list(atlas.item_shape),
            "has_recon": atlas.has_recon,
            "batch": TILE_BATCH,
        }
        if isinstance(wanted, dict) and wanted.get("hash") == atlas.hash:
            data["tiles"], clusters = _tiles(atlas, wanted.get("tiles") or [])
            data["tiles"]["ask"] = wanted.get("ask")  # an answer differs from the last one even when both say "pending"
            sent = ss.setdefault(clusters_flag, set())
            if clusters is not None and atlas.hash not in sent:
                data["clusters"] = clusters
                sent.add(atlas.hash)
    result = _component()(
        key=key,
        data=data,
        on_select_change=lambda: _take("select", sel_key),
        on_tiles_change=lambda: _take("tiles", tiles_key),
        on_need_points_change=lambda: ss.__setitem__(need_key, True),
        on_color_change=lambda: _take("color", color_key),
    )
    del result
    ss[sent_flag] = points["hash"]
    ids = None
    if isinstance(committed, dict):
        ids = [int(i) for i in committed.get("ids") or []]
        color_now = committed.get("color") or color_now
    return MapEvent(ids, color_now if isinstance(color_now, str) else None)


def _tiles(atlas: AtlasSource, wanted: Sequence[int]) -> tuple[dict, str | None]:
    """The asked-for tiles as base64 PNGs ({"hash", "orig": {t: b64 | None}, "recon": {…}}; None: a tile that
    cannot be had, which the browser shows as "thumbnail unavailable"), and the clusters (b64 uint8) if any."""
    from explorer import mapdata

    want = sorted({int(t) for t in wanted if 0 <= int(t) < atlas.tiles})[:TILE_BATCH]
    out = {"hash": atlas.hash, "orig": {}, "recon": {}}
    try:
        loaded = atlas.load()
    except Exception as e:  # noqa: BLE001 - the browser shows "thumbnail unavailable"; the map stays usable
        if type(e).__name__ == "AtlasPendingError":  # being made: the browser asks again in a moment
            return {**out, "pending": True}, None
        loaded = None
    for t in want:
        ok = loaded is not None and t < len(loaded.originals)
        out["orig"][str(t)] = _b64(loaded.originals[t]) if ok else None
        if atlas.has_recon:
            out["recon"][str(t)] = _b64(loaded.reconstructions[t]) if ok and loaded.reconstructions else None
    clusters = mapdata.pack_clusters(loaded.clusters, loaded.n) if loaded is not None else None
    return out, clusters
