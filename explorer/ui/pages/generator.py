"""Page script run by ``st.navigation`` (dashboard.py): the generator (VAE)."""

from explorer.ui.generator import render

render()
