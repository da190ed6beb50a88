"""Page script run by ``st.navigation`` (dashboard.py): the latent map."""

from explorer.ui.latent_map import render

render()
