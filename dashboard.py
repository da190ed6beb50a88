"""Latent Explorer dashboard: ``streamlit run dashboard.py``.

A router: each page is one function, ``page()`` of a module in ``explorer/ui/``, served at its URL path
(``/map``, ``/similar``, …). A shared link (``/?page=similar&variant=vae&item=123``, see ``explorer.urlstate``)
is read here, on the session's first run: it seeds the widgets and opens the page it names.

Where each page's code lives:

- map          explorer/ui/latent_map.py   (selection: explorer/selection.py; your picture: explorer/upload.py)
- similar      explorer/ui/similar.py      (explorer/neighbours.py)
- denoiser     explorer/ui/denoiser.py     (explorer/denoise.py)
- generator    explorer/ui/generator.py    (explorer/generation.py; sections: explorer/ui/generation_sections.py)
- compare      explorer/ui/compare.py      (explorer/compare.py)
- compression  explorer/ui/compression_page.py
- clustering   explorer/ui/clustering_page.py
- training     explorer/ui/training.py     (explorer/snapshots.py, explorer/alignment.py, explorer/training_view.py)
- quality      explorer/ui/quality_page.py     (explorer/quality.py; stored by explorer/commands/quality.py)
"""

import importlib
import logging
import sys
from collections.abc import Callable

import streamlit as st

PAGE_CONFIG = dict(page_title="Latent Explorer", page_icon="🧭", layout="wide", initial_sidebar_state="auto")
# A fresh server's first visitor pays torch's import (several seconds on 2 cores) before any element could be
# drawn: a white page. Until then, a notice with a spinner, drawn before the heavy imports below (later runs find
# torch imported and skip it).
_starting = None
if __name__ == "__main__" and "torch" not in sys.modules:
    st.set_page_config(**PAGE_CONFIG)
    _starting = st.empty()
    with _starting.container():
        st.title("Latent Explorer")
        st.status("Starting: loading the models' libraries, once per server (a few seconds)…", state="running")

from explorer import plugins  # noqa: E402 (after the start-up notice)

# Variants of one's own, before the pages import the registry: installed packages' entry points, and
# `streamlit run dashboard.py -- --plugin MODULE` (once per process; a broken plugin is named on every page).
try:
    plugins.load_plugins(plugins.plugins_from_argv(sys.argv[1:]))
    PLUGIN_ERROR = None
except plugins.PluginError as e:
    PLUGIN_ERROR = str(e)

from explorer.ui import common, urlsync  # noqa: E402
from explorer.urlstate import ViewState  # noqa: E402

PAGES = (
    # (module whose page() draws it, title, Material icon, URL path)
    ("explorer.ui.latent_map", "Latent map", ":material/scatter_plot:", "map"),
    ("explorer.ui.similar", "Similar items", ":material/join_inner:", "similar"),
    ("explorer.ui.denoiser", "Denoiser", ":material/auto_fix_high:", "denoiser"),
    ("explorer.ui.generator", "Generator (VAE)", ":material/tune:", "generator"),
    ("explorer.ui.compare", "Compare models", ":material/table_chart:", "compare"),
    ("explorer.ui.compression_page", "Compression", ":material/compress:", "compression"),
    ("explorer.ui.clustering_page", "Clustering", ":material/bubble_chart:", "clustering"),
    ("explorer.ui.training", "Training", ":material/timeline:", "training"),
    ("explorer.ui.quality_page", "Data quality", ":material/rule:", "quality"),
)


def page_function(module: str) -> Callable[[], None]:
    """The page's function, its module imported when the page is first shown: a visitor to one page does not pay
    for the imports of all seven (PIL, pandas' Styler, scipy, …; 0.1-0.3 s on 2 cores)."""

    def show() -> None:
        importlib.import_module(module).page()

    show.__name__ = module.rsplit(".", 1)[-1]
    return show


PAGE_FUNCTIONS = {url_path: page_function(module) for module, _, _, url_path in PAGES}  # one per page, kept

# What a link may ask of each page: the capability of the runs its picker offers, and the Similar page's neighbour
# slider range.
PAGE_NEEDS = {
    "map": common.MAP,
    "similar": common.MAP,
    "quality": common.MAP,
    "generator": "generative",
    "denoiser": "denoiser",
}
LINK_LIMITS = {"k": (4, 20)}


# Below this width the sidebar starts collapsed. Streamlit's "auto" collapses it only at <= 768 px (its md
# breakpoint), so at 800 px it squeezed every page to ~500 px: metric values and buttons were cut to "19.7…".
NARROW_PX = 1100
COLLAPSE_WHEN_NARROW = f"""<script>
(() => {{
  if (window.innerWidth >= {NARROW_PX}) return;
  const collapse = (tries) => {{
    const bar = document.querySelector('[data-testid=stSidebar]');
    const button = document.querySelector(
      '[data-testid=stSidebarCollapseButton] button, button[data-testid=stSidebarCollapseButton]');
    if (bar && button && bar.getBoundingClientRect().width > 50) button.click();
    else if (tries > 0) setTimeout(() => collapse(tries - 1), 100);
  }};
  collapse(30);
}})();
</script>"""


def collapse_sidebar_when_narrow() -> None:
    """On a session's first run only: a visitor who opens the sidebar again keeps it open."""
    if not st.session_state.get("_sidebar_checked"):
        st.session_state["_sidebar_checked"] = True
        st.sidebar.html(COLLAPSE_WHEN_NARROW, unsafe_allow_javascript=True)


def show_link_notices() -> None:
    """The link's problems, once per session, as one notice at the top of the page: it pushes the page down instead
    of covering its controls, as toasts in the top-right corner did."""
    notices = st.session_state.pop(urlsync._UNANNOUNCED, None) or []  # one per parameter (urlsync)
    if not notices:
        return
    if len(notices) == 1:
        st.warning(f"Link: {notices[0]}", icon=":material/link_off:")
    else:  # quoted safely by explorer.urlstate
        st.warning(
            f"Link: {len(notices)} problems\n" + "\n".join(f"- {n}" for n in notices), icon=":material/link_off:"
        )


def main() -> None:
    st.set_page_config(**PAGE_CONFIG)
    common.configure_threads()
    common.start_memory_trimmer()
    common.keep_widget_state()
    pages = {u: st.Page(PAGE_FUNCTIONS[u], title=t, icon=i, url_path=u) for _, t, i, u in PAGES}
    page = st.navigation(list(pages.values()))
    common.set_router_pages(pages)
    shown = next(u for u, p in pages.items() if p is page)
    try:
        common.list_again_if_missing(st.query_params.get("variant"))  # before the dataset choices: runs name some
        choices = common.dataset_choices()
        urlsync.seed_dataset(choices)
        with st.sidebar:
            common.dataset_picker()
        # without the dataset, one page explains how to get it, whichever page was asked for
        n_items = len(common.items().images)
        keys = common.runs_with(None) or ["none"]
        page_variants = {p: common.runs_with(need) or keys for p, need in PAGE_NEEDS.items()}
        urlsync.read_url_state(
            n_items,
            keys,
            list(pages),
            ViewState(page=shown, dataset=common.current_dataset()),
            LINK_LIMITS,
            page_variants,
            toast=False,
            datasets=choices,
        )
        asked = urlsync.link_page()
        if asked and asked != shown:
            st.switch_page(pages[asked])  # a rerun on that page (not caught below: it is no Exception)
        show_link_notices()
        for problem in [PLUGIN_ERROR, *plugins.problems()]:
            if problem:
                st.warning(f"Plugin: {problem}", icon=":material/extension_off:")
        collapse_sidebar_when_narrow()
        with st.sidebar:
            st.caption("Autoencoders and the tools to look inside them: pick a dataset, then a run on each page.")
            common.sidebar_status()
        page.run()
    except Exception as e:  # the last guard: a message on the page, the traceback in the server log
        logging.getLogger("explorer.dashboard").exception("page %s failed", page.title)
        st.error(f"This page failed: {type(e).__name__}: {e}", icon=":material/error:")
    finally:
        if _starting is not None:  # the start-up notice stays until the page is drawn: no blank page in between
            _starting.empty()


if __name__ == "__main__":  # what `streamlit run` runs; importing the router (tests) only reads PAGES
    main()
