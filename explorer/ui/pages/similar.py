"""Page script run by ``st.navigation`` (dashboard.py): similar items."""

from explorer.ui.similar import render

render()
