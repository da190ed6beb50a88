"""Page script run by ``st.navigation`` (dashboard.py): compression."""

from explorer.ui.compression_page import page

page()
