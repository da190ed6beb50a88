"""A page with only the latent map component, on a synthetic map of N points (``MAP_POINTS``, default 1,000,000):
jittered copies of the dense model's 70k map (``explorer.mapdata.jittered``). For ``bench_map.py``.

    MAP_POINTS=1000000 streamlit run benchmarks/map_points_app.py
"""

import os
import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from explorer import figures, mapdata, projection  # noqa: E402
from explorer.data import CLASS_NAMES  # noqa: E402
from explorer.ui import map_component  # noqa: E402


@st.cache_resource
def packed(n: int) -> dict:
    p = projection.load_projection("dense", "all")
    coords, labels, errors = mapdata.jittered(p.coords, p.labels, p.recon_mse, n)
    return mapdata.pack_points(coords, labels, errors)


st.set_page_config(layout="wide")
n = int(os.environ.get("MAP_POINTS", "1000000"))
event = map_component.latent_map(
    "map_chart", packed(n), CLASS_NAMES, figures.CLASS_COLORS, ["class", "error"], name=f"synthetic-{n}"
)
if event.selected:
    st.write(f"{len(event.selected):,} selected")
