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


def image_button(image, file_name: str, key: str, label: str = "PNG", scale: int = 8) -> None:
    """A 28×28 (or any) image as a crisp PNG enlarged ``scale`` times."""
    st.download_button(
        label,
        data=lambda: exports.png_bytes(image, scale=scale),
        file_name=file_name,
        mime="image/png",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        help=f"The image as PNG, enlarged {scale}×",
    )


def figure_buttons(fig, stem: str, key: str) -> None:
    """Two buttons side by side: the Plotly figure as standalone HTML (interactive, offline) and as PNG."""
    html, png = st.columns(2)
    html.download_button(
        "HTML",
        data=lambda: exports.figure_html(fig),
        file_name=f"{stem}.html",
        mime="text/html",
        key=f"{key}_html",
        on_click="ignore",
        icon=":material/download:",
        help="The interactive figure as one HTML file that opens offline",
    )
    problem = png_problem()
    png.download_button(
        "PNG",
        data=lambda: exports.figure_png(fig),
        file_name=f"{stem}.png",
        mime="image/png",
        key=f"{key}_png",
        on_click="ignore",
        icon=":material/download:",
        disabled=problem is not None,
        help=problem or "The figure as a picture (takes a few seconds: a headless browser draws it)",
    )


def csv_button(make: Callable[[], bytes], file_name: str, key: str, label: str = "CSV", help: str = "") -> None:
    st.download_button(
        label,
        data=make,
        file_name=file_name,
        mime="text/csv",
        key=key,
        on_click="ignore",
        icon=":material/download:",
        help=help or None,
    )
