"""Moving between the dashboard's pages under AppTest.

The router registers functions (``st.Page(page, url_path="map")``), and ``AppTest.switch_page`` finds only page
files. A page's script hash is the hash of its ``url_path`` (the default page's too, though it is served at
``/``), which is what a click in the navigation sends; ``switch_page`` here sends the same.
"""

from __future__ import annotations

from streamlit.util import calc_hash


def switch_page(at, url_path: str):
    """Make ``at``'s next run show the page registered at ``url_path`` (after a first ``at.run()``) -> ``at``."""
    page_hash = calc_hash(url_path)
    if page_hash not in at._registered_pages:
        known = sorted(info.get("url_pathname") or "(default)" for info in at._registered_pages.values())
        raise ValueError(f"url_path == {url_path!r}: not a page the router registered ({', '.join(known)}).")
    at._page_hash = page_hash
    return at


def open_link(query: dict, timeout_s: float = 60):
    """The dashboard opened at its root URL with these query parameters (a value may be a list: a repeated key),
    server-side sliders on (``live_decode`` off: AppTest has no browser to decode in), after its first run."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "dashboard.py"), default_timeout=timeout_s)
    at.session_state["live_decode"] = False
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()
