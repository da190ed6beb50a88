"""Page: compression. The autoencoders' codes as messages, every byte counted, against PNG, JPEG, WebP and PCA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import compression as cz
from explorer import images
from explorer.checkpoint import CheckpointError, checkpoint_dir, fix_command
from explorer.data import CLASS_NAMES
from explorer.metrics import psnr_per_image
from explorer.models import REGISTRY
from explorer.ui import common


@st.cache_data(show_spinner="Loading the compression table…", max_entries=4)
def _table(root: str, stamp) -> dict | str:
    """compression.json, or the error message naming the command that makes it."""
    try:
        return cz.load_compression(root)
    except cz.CompressionError as e:
        return str(e)


@st.cache_resource(show_spinner=False, max_entries=32)
def _codec(root: str, variant: str, bits: int, stamps: tuple) -> cz.Codec | str:
    data = _table(root, stamps[0])
    if isinstance(data, str):
        return data
    try:
        return cz.load_codec(data, variant, bits, root)
    except (cz.CompressionError, CheckpointError, ValueError, KeyError) as e:
        return str(e)


def page() -> None:
    common.header(
        "Compression",
        "An autoencoder squeezes 784 pixels into a 10-number code. Quantised and entropy-coded, how many bytes "
        "does an image cost, and how does that compare with PNG, JPEG and WebP on the same images?",
    )
    items = common.items()
    root = common.root()
    data = _table(root, common.file_stamp(cz.path_for(root)))
    if isinstance(data, str):
        st.info(f"The rate–distortion table has not been measured yet. {data}")
        st.code(cz.FIX, language="bash")
        st.stop()

    rows = data["rows"]
    st.plotly_chart(cz.rd_figure(rows), key="cz_rd", config={"displaylogo": False})
    st.caption(
        f"Every point is measured on the {data['images']:,} test images. An autoencoder's bytes are the real "
        "messages: a length byte plus the range-coded, quantised code (ranges and symbol statistics learned on the "
        "train split and shared with the receiver, like the model). PNG, JPEG and WebP are whole Pillow files."
    )
    _bar_and_claim(data)
    with st.expander("All measured points"):
        st.dataframe(_rows_frame(rows), hide_index=True)

    st.subheader("Sender and receiver")
    _demo(data, items, root)


def _bar_and_claim(data: dict) -> None:
    bar = data["bar"]
    best = bar["best"]
    text = (f"**Bar: an autoencoder at ≤ {bar['max_bytes']:g} bytes per image with ≥ {bar['min_psnr']:g} dB.** "
            + ("No autoencoder fits in the byte budget." if best is None else
               f"Best within the budget: `{best['method']}` at {best['bits']} bits, {best['bytes']:.2f} B, "
               f"{best['psnr']:.2f} dB."))  # fmt: skip
    (st.success if bar["met"] else st.warning)(text)
    classical = [r for r in data["rows"] if r["family"] in ("jpeg", "webp")]
    if classical and best is not None:
        smallest = min(classical, key=lambda r: r["bytes"])
        st.markdown(f"The smallest classical file, {smallest['method']}, takes **{smallest['bytes']:.0f} B** for "
                    f"{smallest['psnr']:.1f} dB: {smallest['bytes'] / best['bytes']:.0f}× the bytes.")  # fmt: skip
    savings = cz.sparse_savings(data["rows"])  # recomputed: cheap, and always in the current format
    if savings:
        st.markdown("**Does sparsity save bytes?** The tutorial's claim is that the sparse code, mostly near zero, "
                    "entropy-codes to fewer bytes than the dense one. Compared at the same PSNR:")  # fmt: skip
        st.dataframe(pd.DataFrame([{
            "bits": s["bits"], "sparse bytes": s["sparse_bytes"], "sparse PSNR dB": s["sparse_psnr"],
            "dense bytes, same PSNR": s["dense_bytes_same_psnr"], "dense bytes, same bits": s["dense_bytes_same_bits"],
            "dense PSNR, same bits": s["dense_psnr_same_bits"], "verdict": s["note"],
        } for s in savings]), hide_index=True, column_config={
            k: st.column_config.NumberColumn(format="%.2f") for k in ("sparse bytes", "sparse PSNR dB",
            "dense bytes, same PSNR", "dense bytes, same bits", "dense PSNR, same bits")
        })  # fmt: skip


def _rows_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    keep = [c for c in ("method", "family", "bits", "quality", "bytes", "bytes_max", "entropy_bytes", "raw_bytes",
                        "psnr") if c in df]  # fmt: skip
    return df[keep].round(3)


def _demo(data: dict, items: common.Items, root: str) -> None:
    variants = [v for v in data.get("codecs", {}) if v in REGISTRY]
    if not variants:
        st.info("No coder tables are stored. Create them with:")
        st.code(cz.FIX, language="bash")
        return
    c1, c2, c3 = st.columns([2, 2, 2], vertical_alignment="bottom")
    with c1:
        common.default("cz_variant", "sparse" if "sparse" in variants else variants[0])
        name = st.selectbox("Autoencoder", variants, key="cz_variant", format_func=lambda v: REGISTRY[v].title)
    with c2:
        options = sorted(int(b) for b in data["codecs"][name]["bits"])
        common.default("cz_bits", 6 if 6 in options else options[-1])
        bits = st.radio("Bits per number", options, key="cz_bits", horizontal=True)
    with c3:
        common.default("cz_item", 0)
        item = st.number_input("Test image", 0, common.N_TEST - 1, key="cz_item", step=1)
    model = common.require_model(name)
    weights = checkpoint_dir(name, root) / "model.safetensors"
    codec = _codec(root, name, bits, (common.file_stamp(cz.path_for(root)), common.file_stamp(weights)))
    if isinstance(codec, str):
        st.error(codec, icon="⚠️")
        st.code(f"{cz.FIX}\n# or, if the checkpoint itself is missing:\n{fix_command(name)}", language="bash")
        return

    original = items.test_images[int(item)]
    message = cz.encode_image(model, codec, original)
    received = cz.decode_bytes(model, codec, message)
    payload, header = cz.read_varint(message)
    st.markdown(f"**The sender transmits {len(message)} bytes** ({header}-byte length, {payload}-byte payload) "
                f"for test image {int(item)} ({CLASS_NAMES[items.test_labels[int(item)]]}):")  # fmt: skip
    st.code(message.hex(" "), language=None)
    truth = original.astype(np.float64) / 255.0
    shown = [("original", original, "784 bytes of pixels")]
    shown.append((f"receiver, {name}", received,
                  f"{len(message)} B · {psnr_per_image(received, truth)[0]:.1f} dB"))  # fmt: skip
    for fmt in ("webp", "jpeg"):
        near = cz.nearest_classical(original, len(message), fmt)
        shown.append((f"{fmt.upper()} q{near['quality']} (nearest size)", near["image"],
                      f"{near['bytes']} B · {psnr_per_image(near['image'] / 255.0, truth)[0]:.1f} dB"))  # fmt: skip
    for col, (title, img, caption) in zip(st.columns(len(shown)), shown, strict=True):
        with col:
            st.image(images.upscale(images.to_uint8(img), 6), caption=f"{title}: {caption}")
    st.caption("The receiver holds the model's decoder and the coder tables; from these bytes alone it decodes the "
               "symbols exactly, maps each to its bin's value and runs the decoder. JPEG and WebP cannot go as low: "
               "their smallest files are shown.")  # fmt: skip


render = page  # the name the other page modules use
