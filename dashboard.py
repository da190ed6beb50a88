"""Latent Explorer dashboard: ``streamlit run dashboard.py``.

A router: each page is a small script in ``explorer/ui/pages/`` that calls one page module's ``render()``.
A shared link (``/?page=similar&variant=vae&item=123``, see ``explorer.urlstate``) is read here, on the session's
first run: it seeds the widgets and opens the page it names.
"""

import logging

import streamlit as st

from explorer.models import VARIANTS, variants_with
from explorer.ui import common, urlsync
from explorer.urlstate import ViewState

PAGES = (
    # (script, title, Material icon, URL path)
    ("explorer/ui/pages/map.py", "Latent map", ":material/scatter_plot:", "map"),
    ("explorer/ui/pages/similar.py", "Similar items", ":material/join_inner:", "similar"),
    ("explorer/ui/pages/denoiser.py", "Denoiser", ":material/auto_fix_high:", "denoiser"),
    ("explorer/ui/pages/generator.py", "Generator (VAE)", ":material/tune:", "generator"),
    ("explorer/ui/pages/compare.py", "Compare models", ":material/table_chart:", "compare"),
    ("explorer/ui/pages/compression.py", "Compression", ":material/compress:", "compression"),
    ("explorer/ui/pages/clustering.py", "Clustering", ":material/bubble_chart:", "clustering"),
)
# What a link may ask of each page: the variants its picker offers, and the Similar page's neighbour slider range.
PAGE_VARIANTS = {
    "map": common.MAPPED,
    "similar": common.MAPPED,
    "generator": variants_with("generative"),
}
LINK_LIMITS = {"k": (4, 20)}


def main() -> None:
    st.set_page_config(page_title="Latent Explorer", page_icon="🧭", layout="wide")
    common.configure_torch()
    common.start_memory_trimmer()
    common.keep_widget_state()
    pages = {u: st.Page(path, title=t, icon=i, url_path=u) for path, t, i, u in PAGES}
    page = st.navigation(list(pages.values()))
    shown = next(u for u, p in pages.items() if p is page)
    try:
        common.items()  # without the dataset, one page explains how to install it, whichever page was asked for
        urlsync.read_url_state(
            common.N_TEST + common.N_TRAIN, VARIANTS, list(pages), ViewState(page=shown), LINK_LIMITS,
            PAGE_VARIANTS, toast=False,
        )  # fmt: skip
        asked = urlsync.link_page()
        if asked and asked != shown:
            st.switch_page(pages[asked])  # a rerun on that page (not caught below: it is no Exception)
        urlsync.announce()
        with st.sidebar:
            st.caption("Autoencoders trained on Fashion-MNIST, and the tools to look inside them.")
            common.sidebar_status()
        page.run()
    except Exception as e:  # the last guard: a message on the page, the traceback in the server log
        logging.getLogger("explorer.dashboard").exception("page %s failed", page.title)
        st.error(f"This page failed: {type(e).__name__}: {e}", icon=":material/error:")


main()
