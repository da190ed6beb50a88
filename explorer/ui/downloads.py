"""Download buttons: a picture as PNG, a figure as standalone HTML or PNG, a selection as CSV.

Every file is made when its button is clicked (``data=`` a callable, run on a thread of its own), not on every
rerun: a figure's HTML inlines plotly.js (~4 MB) and its PNG starts a headless browser (a few seconds).
Clicking a download does not rerun the page (``on_click="ignore"``).
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from explorer import exports


@st.cache_resource(show_spinner=False, ttl=600)
def png_problem() -> str | None:
    """Why figures cannot be exported as PNG here (checked once per process and 10 minutes), or None."""
    return exports.png_export_problem()


def button(label: str, make: Callable[[], bytes], name: str, mime: str, key: str, help: str = "", **options) -> None:
    """One download button whose file ``make()`` builds only when clicked; the page does not rerun.
    ``options``: ``disabled``, and ``where`` (a column; default the page)."""
    where = options.pop("where", st)
    icon = ":material/download:"
    where.download_button(label, make, name, mime, key=key, help=help or None, on_click="ignore", icon=icon, **options)


def image_button(image, file_name: str, key: str, label: str = "PNG", scale: int = 8) -> None:
    """A 28×28 (or any) image as a crisp PNG enlarged ``scale`` times."""
    make = lambda: exports.png_bytes(image, scale=scale)  # noqa: E731
    button(label, make, file_name, "image/png", key, f"The image as PNG, enlarged {scale}×")


def figure_buttons(fig, stem: str, key: str) -> None:
    """Two buttons side by side: the Plotly figure as standalone HTML (interactive, offline) and as PNG."""
    html = png = st.container(horizontal=True)  # side by side at their own width: labels are never cut
    offline = "The interactive figure as one HTML file that opens offline"
    button("HTML", lambda: exports.figure_html(fig), f"{stem}.html", "text/html", f"{key}_html", offline, where=html)
    problem = png_problem()
    picture = problem or "The figure as a picture (takes a few seconds: a headless browser draws it)"
    make = lambda: exports.figure_png(fig)  # noqa: E731
    button("PNG", make, f"{stem}.png", "image/png", f"{key}_png", picture, disabled=problem is not None, where=png)


def csv_button(make: Callable[[], bytes], file_name: str, key: str, label: str = "CSV", help: str = "") -> None:
    button(label, make, file_name, "text/csv", key, help)
