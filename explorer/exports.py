"""Downloads: images as PNG, a selection or any table as CSV, a figure as standalone HTML or PNG (bytes in memory).

Figures as PNG go through Kaleido 1.x, which drives the system's headless Chromium (Debian's ``chromium``; it
finds it on PATH, or at ``BROWSER_PATH``) and takes plotly.js from the installed plotly package, so it works
without a network. It starts a browser per figure (a few seconds): pages should offer it as a deferred download
(``st.download_button(data=callable)``), and ``figure_png`` runs one export at a time.
"""

from __future__ import annotations

import importlib.util
import io
import os
import shutil
import threading

import numpy as np

from .data import CLASS_NAMES
from .images import to_uint8, upscale

_png_lock = threading.Lock()  # one headless browser at a time, whatever the number of sessions


class ExportError(RuntimeError):
    """This export cannot run here (e.g. no Kaleido or no Chromium); the message says how to enable it."""


def png_bytes(image, scale: int = 1) -> bytes:
    """An image -> PNG file bytes (the one PNG writer). uint8 or floats in [0, 1]: [H, W], [1, H, W], [1, 1, H, W]
    or [H, W, 3].

    ``scale`` enlarges by pixel repetition (a 28×28 item at scale 8 is a crisp 224×224 picture).
    """
    a = to_uint8(image)
    while a.ndim > 2 and a.shape[0] == 1:
        a = a[0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)):
        raise ValueError(f"image of shape {np.shape(image)}: expected [H, W] or [H, W, 3].")
    if a.ndim == 3:
        a = np.repeat(np.repeat(a, scale, axis=0), scale, axis=1) if scale > 1 else a
    else:
        a = upscale(a, scale)
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def selection_csv(indices, labels, coords, codes, class_names=CLASS_NAMES) -> bytes:
    """Selected items as CSV: index, label, class_name, x, y, code_0..code_{D-1} (UTF-8, one header row).

    indices, labels: [N]; coords: [N, 2] map coordinates; codes: [N, D] latent codes (D may be 0).
    """
    import pandas as pd

    indices, labels = np.asarray(indices, dtype=np.int64).ravel(), np.asarray(labels, dtype=np.int64).ravel()
    coords = np.asarray(coords, dtype=np.float64).reshape(-1, 2) if np.size(coords) else np.zeros((0, 2))
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim == 1:
        codes = codes.reshape(len(indices), -1) if len(indices) else codes.reshape(0, 0)
    n = len(indices)
    if not (len(labels) == len(coords) == len(codes) == n):
        raise ValueError(
            f"selection of {n} indices with {len(labels)} labels, {len(coords)} coordinates and {len(codes)} codes: "
            "all must have one row per selected item."
        )
    bad = labels[(labels < 0) | (labels >= len(class_names))]
    if len(bad):
        raise ValueError(f"label == {int(bad[0])}: labels must be 0..{len(class_names) - 1}.")
    frame = pd.DataFrame(
        {
            "index": indices,
            "label": labels,
            "class_name": [class_names[i] for i in labels],
            "x": coords[:, 0],
            "y": coords[:, 1],
        }
    )
    frame = pd.concat([frame, pd.DataFrame(codes, columns=[f"code_{j}" for j in range(codes.shape[1])])], axis=1)
    return table_csv(frame)


def figure_html(fig) -> bytes:
    """A Plotly figure as one standalone HTML file with plotly.js inlined (opens offline, no CDN)."""
    html = fig.to_html(include_plotlyjs=True, include_mathjax=False, full_html=True, config={"displaylogo": False})
    return html.encode("utf-8")


def png_export_problem() -> str | None:
    """None when figures can be exported as PNG here, else what is missing and how to fix it."""
    if importlib.util.find_spec("kaleido") is None:  # found, not imported: importing it costs a page ~50 ms
        return "Kaleido is not installed: pip install -r requirements.txt (it pins kaleido)."
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
    if not (os.environ.get("BROWSER_PATH") or any(shutil.which(n) for n in names)):
        return "No Chromium found for Kaleido: apt-get install chromium (or set BROWSER_PATH to a Chrome)."
    return None


def figure_png(fig, width: int = 900, height: int = 700, scale: float = 2.0) -> bytes:
    """A Plotly figure rendered to PNG bytes by Kaleido with the local Chromium; raises ExportError."""
    problem = png_export_problem()
    if problem:
        raise ExportError(problem)
    import kaleido

    fig_dict = fig.to_dict() if hasattr(fig, "to_dict") else fig
    with _png_lock:
        try:
            # mathjax=False: its default is a CDN URL, which cannot load offline and only slows the page down.
            return kaleido.calc_fig_sync(
                fig_dict,
                opts={"format": "png", "width": width, "height": height, "scale": scale},
                kopts={"mathjax": False},
            )
        except Exception as e:  # browser start-up or render failures come in many types
            raise ExportError(f"PNG export failed ({type(e).__name__}: {str(e)[:200]}). Use HTML export.") from e


def table_csv(frame) -> bytes:
    """A table (a pandas DataFrame) as CSV bytes: UTF-8, one header row, no index, floats to 6 significant digits."""
    buf = io.StringIO()
    frame.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    return buf.getvalue().encode("utf-8")
