"""Latent Explorer dashboard: ``streamlit run dashboard.py``.

A router: each page is a small script in ``explorer/ui/pages/`` that calls one page module's ``render()``.
"""

import logging

import streamlit as st

from explorer.ui import common

PAGES = (
    # (script, title, Material icon, URL path)
    ("explorer/ui/pages/map.py", "Latent map", ":material/scatter_plot:", "map"),
    ("explorer/ui/pages/similar.py", "Similar items", ":material/join_inner:", "similar"),
    ("explorer/ui/pages/denoiser.py", "Denoiser", ":material/auto_fix_high:", "denoiser"),
    ("explorer/ui/pages/generator.py", "Generator (VAE)", ":material/tune:", "generator"),
    ("explorer/ui/pages/compare.py", "Compare models", ":material/table_chart:", "compare"),
)


def main() -> None:
    st.set_page_config(page_title="Latent Explorer", page_icon="🧭", layout="wide")
    common.configure_torch()
    common.keep_widget_state()
    page = st.navigation([st.Page(path, title=t, icon=i, url_path=u) for path, t, i, u in PAGES])
    try:
        common.items()  # without the dataset, one page explains how to install it, whichever page was asked for
        with st.sidebar:
            st.caption("Four autoencoders trained on Fashion-MNIST, and the tools to look inside them.")
            common.sidebar_status()
        page.run()
    except Exception as e:  # the last guard: a message on the page, the traceback in the server log
        logging.getLogger("explorer.dashboard").exception("page %s failed", page.title)
        st.error(f"This page failed: {type(e).__name__}: {e}", icon=":material/error:")


main()
