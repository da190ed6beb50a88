"""The "your own picture" widget: upload, before/after, notices; a bad file is one message, never a traceback.

Uploads stay in memory (Streamlit keeps them in RAM, ``prepare_upload`` works on bytes) and nothing is written
to disk. Place ``prepared = upload_ui("similar_upload")`` on a page, then encode ``prepared.image``.
"""

from __future__ import annotations

import re

import streamlit as st

from explorer.images import to_uint8, upscale
from explorer.upload import ACCEPTED, CLUTTERED, MAX_BYTES, PreparedImage, UploadError, prepare_upload

TYPES = ["png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff"]


def _safe_name(name: str | None) -> str | None:
    """A file name reduced to harmless characters: messages are rendered as Markdown."""
    if not name:
        return None
    return re.sub(r"[^\w.\- ]", "_", name)[:60]


def _limit_bytes() -> int:
    try:
        return int(st.get_option("server.maxUploadSize")) * 2**20
    except Exception:  # an odd config value: fall back to the module's default
        return MAX_BYTES


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def _prepare(data: bytes, name: str | None, max_bytes: int) -> PreparedImage:
    # Keyed by the bytes' hash: a rerun does not decode the same picture again. Errors are not cached.
    return prepare_upload(data, name, max_bytes)


def upload_ui(key: str, label: str = "Or upload your own picture") -> PreparedImage | None:
    """A file uploader (``key``), then the picture before/after and what was done to it; None until a good file."""
    file = st.file_uploader(
        label,
        type=TYPES,
        key=key,
        help=f"{ACCEPTED}. It is turned into a 28×28 Fashion-MNIST-like image: greyscale, object light on black, "
        "trimmed, fitted and centred.",
    )
    if file is None:
        return None
    try:
        prepared = _prepare(file.getvalue(), _safe_name(file.name), _limit_bytes())
    except UploadError as e:
        st.error(str(e), icon="⚠️")
        return None
    if prepared.cluttered:  # said before the pictures: the preview on the right is what the model will see
        st.warning(CLUTTERED, icon=":material/wallpaper:")
    before, after = st.columns(2)
    width, height = prepared.original_size
    before.image(prepared.original_preview, caption=f"Your picture ({width}×{height} px)")
    after.image(upscale(to_uint8(prepared.image), 6), caption="As the model sees it (28×28)")
    for notice in prepared.notices:
        st.caption(f":material/info: {notice}")
    return prepared
