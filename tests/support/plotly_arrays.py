"""Plotly figure JSON arrays back to numpy, for tests that read a figure's spec."""

from __future__ import annotations

import base64

import numpy as np


def decode(arr) -> np.ndarray:
    """A Plotly JSON array -> numpy: a list, or a typed array ``{"dtype", "bdata"[, "shape"]}`` (base64 bytes,
    ``shape`` as "rows,cols"), which is how Plotly sends numeric arrays."""
    if not isinstance(arr, dict):
        return np.asarray(arr)
    a = np.frombuffer(base64.b64decode(arr["bdata"]), dtype=np.dtype(arr["dtype"]))
    return a.reshape([int(n) for n in str(arr["shape"]).split(",")]) if "shape" in arr else a
