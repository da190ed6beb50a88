"""Page script run by ``st.navigation`` (dashboard.py): clustering."""

from explorer.ui.clustering_page import page

page()
