"""The latent map component's data as AppTest sees it (``explorer.ui.map_component``): its JSON, and the points'
binary columns decoded back to arrays."""

from __future__ import annotations

import base64
import json

import numpy as np


def map_data(at, key: str = "map_chart") -> dict:
    """The ``data`` the map component with ``key`` was last drawn with."""
    found = [e for e in at.get("bidi_component") if e.proto.id.endswith(key)]
    assert found, f"no map component with key {key!r}"
    return json.loads(found[0].proto.json)


def points(packed: dict) -> dict:
    """``explorer.mapdata.pack_points``'s columns -> {"xy": float [N, 2] (dequantised), "label", "error"}."""
    q = np.frombuffer(base64.b64decode(packed["xy"]), "<u2").reshape(-1, 2).astype(np.float64) / 65535
    x0, x1, y0, y1 = packed["bounds"]
    xy = np.column_stack([x0 + q[:, 0] * (x1 - x0), y0 + q[:, 1] * (y1 - y0)])
    label = None if packed["label"] is None else np.frombuffer(base64.b64decode(packed["label"]), np.uint8)
    error = None if packed["error"] is None else np.frombuffer(base64.b64decode(packed["error"]), "<f2")
    return {"xy": xy, "label": label, "error": error}
