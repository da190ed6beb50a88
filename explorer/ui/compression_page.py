"""Page: compression. The autoencoders' codes as messages, every byte counted, against PNG, JPEG, WebP and PCA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from explorer import codec as cd
from explorer import figures, images
from explorer.checkpoint import fix_command
from explorer.commands import compress as cz
from explorer.data import CLASS_NAMES, N_TEST
from explorer.models import REGISTRY
from explorer.ui import common, urlsync

SAVINGS_COLUMNS = {  # sparse_savings key -> (column title, what it means); short titles: 7 columns fit at 800 px
    "bits": ("bits", "Bits per number of the sparse code"),
    "sparse_bytes": ("sparse B", "Bytes per image of the sparse code"),
    "sparse_psnr": ("sparse dB", "PSNR of the sparse code's reconstructions"),
    "dense_bytes_same_psnr": ("dense B, same dB", "Bytes the dense code needs for the sparse code's PSNR"),
    "dense_bytes_same_bits": ("dense B, same bits", "Bytes of the dense code at the same bits per number"),
    "dense_psnr_same_bits": ("dense dB, same bits", "PSNR of the dense code at the same bits per number"),
    # negative: the sparse code costs more than dense at its PSNR
    "saved_same_psnr": (
        "saved B",
        "Bytes the sparse code saves against dense at the same PSNR; negative: it costs more",
    ),
}
DEMO_SCALE = 7  # 28 px -> 196 px cells in the sender/receiver demo
ROW_COLUMNS = ("method", "family", "bits", "quality", "bytes", "bytes_max", "entropy_bytes", "raw_bytes", "psnr")


def _load_codec(variant: str, bits: int, root) -> cd.Codec:
    """The stored coder table of ``variant`` at ``bits`` (checked against the current weights)."""
    return cz.load_codec(cz.load_compression(root), variant, bits, root)


def _rd_figure(root):
    """The rate-distortion chart of the stored table (shared by every session: never mutate it)."""
    return figures.rd_figure(cz.load_compression(root)["rows"])


def page() -> None:
    common.header(
        "Compression",
        "An autoencoder squeezes 784 pixels into a 10-number code. Quantised and entropy-coded, how many bytes "
        "does an image cost, and how does that compare with PNG, JPEG and WebP on the same images?",
    )
    common.require_fashion_mnist("Compression")
    items = common.items()
    data = common.require_artefact(cz.load_compression, fix=cz.FIX, missing="No rate–distortion table yet.")

    rows = data["rows"]
    rd = common.artefact(_rd_figure, fix=cz.FIX).value  # the table loaded above: built once per process (~25 ms)
    st.plotly_chart(rd, key="cz_rd", config=common.PLOTLY_CONFIG)
    st.caption(
        f"Every point is measured on the {data['images']:,} test images. An autoencoder's bytes are the real "
        "messages: a length byte plus the range-coded, quantised code (ranges and symbol statistics learned on the "
        "train split and shared with the receiver, like the model). PNG, JPEG and WebP are whole Pillow files."
    )
    _bar_and_claim(data)
    with st.expander("All measured points"):
        frame = pd.DataFrame(rows)
        st.dataframe(frame[[c for c in ROW_COLUMNS if c in frame]].round(3), hide_index=True)

    st.subheader("Sender and receiver")
    _demo(data, items)


def _bar_and_claim(data: dict) -> None:
    bar = data["bar"]
    best = bar["best"]
    budget = f"**Bar: an autoencoder at ≤ {bar['max_bytes']:g} bytes per image with ≥ {bar['min_psnr']:g} dB.** "
    if best is None:
        verdict = "No autoencoder fits in the byte budget."
    else:
        verdict = (
            f"Best within the budget: `{best['method']}` at {best['bits']} bits, {best['bytes']:.2f} B, "
            f"{best['psnr']:.2f} dB."
        )
    (st.success if bar["met"] else st.warning)(budget + verdict)
    smallest = cz.smallest_classical(data["rows"])
    if smallest is not None and best is not None:
        st.markdown(
            f"The smallest classical file, {smallest['method']}, takes **{smallest['bytes']:.0f} B** for "
            f"{smallest['psnr']:.1f} dB: {smallest['bytes'] / best['bytes']:.0f}× the bytes."
        )
    savings = cz.sparse_savings(data["rows"])  # recomputed: cheap, and always in the current format
    if savings:
        st.markdown(
            "**Does sparsity save bytes?** The tutorial's claim is that the sparse code, mostly near zero, "
            "entropy-codes to fewer bytes than the dense one. Compared at the same PSNR:"
        )
        st.dataframe(
            savings_frame(savings),
            hide_index=True,
            column_config={t: st.column_config.TextColumn(help=meaning) for t, meaning in SAVINGS_COLUMNS.values()},
            width="stretch",
        )
        if any(r["dense_bytes_same_psnr"] is None for r in savings):
            st.caption("—: the dense code never reaches that PSNR (or has no point at those bits), so there is no "
                       "byte count to compare with.")  # fmt: skip


def savings_frame(savings: list[dict]) -> pd.DataFrame:
    """``sparse_savings`` rows as the table shows them: numbers formatted, and "—" where dense has no comparable
    point (an empty cell read as "None" on a projector)."""

    def cell(key: str, v) -> str:
        if v is None:
            return "—"
        return f"{int(v)}" if key == "bits" else f"{v:+.2f}" if key == "saved_same_psnr" else f"{v:.2f}"

    rows = [{title: cell(key, r.get(key)) for key, (title, _) in SAVINGS_COLUMNS.items()} for r in savings]
    return pd.DataFrame(rows, columns=[title for title, _ in SAVINGS_COLUMNS.values()])


def _demo(data: dict, items: common.Items) -> None:
    variants = [v for v in data.get("codecs", {}) if v in REGISTRY]
    if not variants:
        st.info("No coder tables are stored. Create them with:")
        st.code(cz.FIX, language="bash")
        return
    # A link's variant, bits and item (explorer.urlstate) were put in these widgets' state: checked first, their
    # notices above the row of widgets.
    urlsync.fit_choice("cz_variant", variants, "sparse" if "sparse" in variants else variants[0], "variant")
    common.default("cz_variant", "sparse" if "sparse" in variants else variants[0])
    options = sorted(int(b) for b in data["codecs"][st.session_state["cz_variant"]]["bits"])
    urlsync.fit_choice("cz_bits", options, 6 if 6 in options else options[-1], "bits")
    urlsync.fit_choice("cz_item", range(N_TEST), 0, "item")  # the demo takes test images only
    c1, c2, c3 = st.columns([2, 2, 2], vertical_alignment="bottom")
    with c1:
        name = st.selectbox("Autoencoder", variants, key="cz_variant", format_func=lambda v: REGISTRY[v].title)
    with c2:
        common.default("cz_bits", 6 if 6 in options else options[-1])
        bits = st.radio("Bits per number", options, key="cz_bits", horizontal=True)
    with c3:
        common.default("cz_item", 0)
        item = int(st.number_input("Test image", 0, N_TEST - 1, key="cz_item", step=1))
    urlsync.write_url_state(urlsync.current_state("compression", name, item=item, bits=int(bits)))
    model = common.require_model(name)
    loaded = common.artefact(_load_codec, name, bits, fix=cz.FIX)
    if not loaded.ok:
        st.error(loaded.error, icon="⚠️")
        st.code(f"{cz.FIX}\n# or, if the checkpoint itself is missing:\n{fix_command(name)}", language="bash")
        return

    original = items.test_images[item]
    sent = cd.transmit(model, loaded.value, original)
    message = sent["message"]
    st.markdown(
        f"**The sender transmits {len(message)} bytes** ({sent['header']}-byte length, {sent['payload']}-byte "
        f"payload) for test image {item} ({CLASS_NAMES[items.test_labels[item]]}):"
    )
    st.code(message.hex(" "), language=None)
    shown = [
        ("original", original, "784 bytes of pixels"),
        (f"receiver ({name})", sent["received"], f"{len(message)} B · {sent['psnr']:.1f} dB"),
    ]
    for near in sent["classical"]:
        title = f"{near['format'].upper()} q{near['quality']}, nearest size"
        shown.append((title, near["image"], f"{near['bytes']} B · {near['psnr']:.1f} dB"))
    # One image, every cell at the same scale: the 28×28 sources are compared at one size.
    grid = images.annotated_grid(
        [np.stack([images.to_uint8(img) for _, img, _ in shown])],
        captions=[[f"{title}\n{caption}" for title, _, caption in shown]],
        scale=DEMO_SCALE,
        font_size=16,
    )
    st.image(grid)
    st.caption(
        "The receiver holds the model's decoder and the coder tables; from these bytes alone it decodes the "
        "symbols exactly, maps each to its bin's value and runs the decoder. JPEG and WebP cannot go as low: "
        "their smallest files are shown."
    )
