"""The Generator and Compare pages' sections on one page, for AppTest (tests/test_generation_sections.py) and the
browser test of the live section."""

import streamlit as st

from explorer import inference
from explorer.ui import common
from explorer.ui import generation_sections as gx

common.configure_threads()
model = common.require_model("vae")
gx.live_section("vae")
z = gx.current_z(model.code_dim)
st.session_state["shown_z"] = z.tolist()
st.markdown(f"page z2 = {z[2]:.2f}")
gx.judge_label(inference.decode(model, z)[0])
st.session_state["interp_mode_value"] = gx.interpolation_mode()
grid = gx.manifold_section("vae", common.items().images, z)
st.session_state["grid_shape"] = None if grid is None else grid.shape
gx.generation_quality_section()
