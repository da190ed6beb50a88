"""Page script run by ``st.navigation`` (dashboard.py): compare models."""

from explorer.ui.compare import render

render()
