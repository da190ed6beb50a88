"""A one-component app for the browser test: the live generator with the shipped VAE's decoder.

The VAE comes from ``$LATENT_EXPLORER_CHECKPOINTS`` (default ./checkpoints); the test points that at the
smoke checkpoints when the real one is absent. The released latent is echoed so the test can see it reach Python.
"""

import numpy as np
import streamlit as st

from explorer.checkpoint import load_model
from explorer.ui.live_decoder import decoder_weights, live_generator, preview


@st.cache_resource
def _vae():
    return load_model("vae")


vae = _vae()
if "z" not in st.session_state:
    st.session_state["z"] = [0.0] * vae.code_dim
direction = np.linspace(-1.0, 1.0, vae.code_dim)
new = live_generator(
    decoder_weights(vae),
    st.session_state["z"],
    key="live",
    directions=[("test direction", direction)],
    preview_ms=200,
    label=lambda z: f"label for z0 = {z[0]:.2f}",
)
if new is not None:
    st.session_state["z"] = new
if preview("live") is not None:
    st.session_state["previews"] = st.session_state.get("previews", 0) + 1
st.markdown(f"previews: `{st.session_state.get('previews', 0)}`")
st.markdown(f"committed: `{','.join(f'{v:.2f}' for v in st.session_state['z'])}`")
