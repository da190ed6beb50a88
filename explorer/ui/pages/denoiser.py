"""Page script run by ``st.navigation`` (dashboard.py): the denoiser."""

from explorer.ui.denoiser import render

render()
