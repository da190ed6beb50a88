"""Page: every variant's metrics beside the classical baselines, training curves, reconstructions side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import compare, figures, images, inference
from explorer.data import CLASS_NAMES
from explorer.models import REGISTRY, VARIANTS
from explorer.neighbours import sample_per_class
from explorer.ui import common, downloads, urlsync
from explorer.ui import generation_sections as sections

# The table's column titles, short so that all eight fit a 1280 px laptop: (title, unit and meaning on hover).
COLUMNS = {
    "PSNR (dB)": (
        "PSNR",
        "Reconstruction of the clean test images: PSNR in dB, higher is better",
    ),
    "SSIM": ("SSIM", "Reconstruction of the clean test images: structural similarity, 1 is perfect"),
    "precision@10": ("P@10", "precision@10: share of same-class items among each test image's 10 nearest neighbours"),
    "denoise PSNR (dB)": (
        "den. PSNR",
        "Cleaning salt-and-pepper noise (amount 0.2): PSNR (dB) vs the clean image",
    ),
    "denoise SSIM": ("den. SSIM", "Cleaning salt-and-pepper noise (amount 0.2): SSIM against the clean image"),
    "code sparsity": ("sparsity", "Share of code entries near zero (below 0.05)"),
    "code bytes/image": (
        "bytes",
        "Code bytes per image: entropy of the 8-bit quantised code (ideal coder)",
    ),
    "−ELBO (nats)": ("−ELBO", "Negative evidence lower bound per image in nats, lower is better"),
}
COLUMN_HELP = dict(COLUMNS.values())
DIGITS = {"PSNR": 2, "den. PSNR": 2, "bytes": 1, "−ELBO": 1, "sparsity": 2}


def short_titles(table):
    """The metrics table with the page's short column titles (``COLUMN_HELP`` says what each one measures)."""
    return table.rename(columns={long: short for long, (short, _) in COLUMNS.items()})


def style_table(table, highlight: str):
    """Numbers rounded per column, "–" where not measured, the chosen model's row highlighted, baselines grey."""
    kinds = table.pop("kind") if "kind" in table else None
    shown = table.copy().astype(object)
    for c in table.columns:  # as text: Streamlit shows a missing number as "None"
        shown[c] = [("–" if np.isnan(v) else f"{v:.{DIGITS.get(c, 3)}f}") for v in table[c]]

    def row_style(row):
        if row.name == highlight:
            return ["background-color: #fff4d6; font-weight: 600"] * len(row)
        if kinds is not None and kinds[row.name] == "baseline":
            return ["color: #6b7280"] * len(row)
        return [""] * len(row)

    return shown.style.apply(row_style, axis=1)


def _curves(root: str):
    """The training-curves figure (cached as an artefact of the history files: never mutate it), None without any."""
    histories = compare.histories(root)
    return figures.training_curves(histories, compare.curve_titles(histories)) if histories else None


@common.of_model
def _reconstructions(model, ids: tuple[int, ...]) -> np.ndarray:
    """A variant's reconstructions of test items ``ids`` -> uint8 [n, 28, 28]."""
    return images.to_uint8(inference.reconstruct(model, common.items().images[list(ids)]))


def page() -> None:
    name, _ = common.page_header(
        "Compare models",
        "Every autoencoder's test-set scores beside classical baselines, how each one trained, "
        "and the same test images reconstructed by each.",
        label="Highlight",
    )
    items = common.items()
    urlsync.write_url_state(urlsync.current_state("compare", name))
    titles = {v: REGISTRY[v].title for v in VARIANTS}

    st.subheader("Scores on the 10,000 test images")
    all_metrics = {v: common.metrics(v) for v in VARIANTS}
    table = short_titles(compare.metrics_table(all_metrics, common.baselines(), titles))
    if table.shape[1] > 1:
        st.dataframe(
            style_table(table, titles[name]),
            height=35 * (len(table) + 1) + 3,  # every row, no inner scrolling
            width="stretch",
            column_config={
                c: st.column_config.Column(help=h, alignment="right") for c, h in COLUMN_HELP.items() if c in table
            },
        )
        st.caption("Grey rows: classical baselines. Hover a column header for what it measures.")
    missing = [v for v, m in all_metrics.items() if m is None] + ([] if common.baselines() else ["baselines"])
    if missing:
        st.info(f"Scores missing or measured on older weights: {', '.join(missing)}. Measure them with:")
        st.code(common.evaluate_command(), language="bash")

    st.subheader("Generation quality")
    st.caption("How close 10,000 VAE samples from the prior come to real apparel, in the eyes of the judge classifier.")
    sections.generation_quality_section()

    st.subheader("Training")
    histories = common.histories()
    if histories:
        st.caption(
            "Loss per epoch on the training images and on the held-out validation images (log scale); "
            "the star marks the epoch whose weights were kept."
        )
        fig = common.artefact(_curves).value
        st.plotly_chart(fig, key="curves", config={"displaylogo": False})
        c1, _ = st.columns([1, 3])
        with c1:
            downloads.figure_buttons(fig, "training-curves", "curves_download")
    for v in VARIANTS:
        if v not in histories:
            st.caption(f"No training history for {titles[v]}: `python -m explorer train --variant {v}`")

    st.subheader("Reconstructions")
    st.caption("One test image of each class (top row), then each model's reconstructions and their mean MSE.")
    ids = sample_per_class(items.test_labels, per_class=1, seed=0)
    originals = items.test_images[ids]
    rows, row_labels = [originals], ["Original"]
    for v in VARIANTS:
        loaded = common.model(v)
        if not loaded.ok:
            st.caption(f"{titles[v]} is unavailable: `{loaded.fixes[0]}`")
            continue
        recon = _reconstructions(v, tuple(map(int, ids)))
        mse = compare.reconstruction_mse(originals, recon)
        rows.append(recon)
        row_labels.append(f"{titles[v]}\nMSE {mse:.4f}")
    captions = [[CLASS_NAMES[c] for c in items.test_labels[ids]]] + [[] for _ in rows[1:]]
    st.image(images.annotated_grid(rows, row_labels=row_labels, captions=captions, scale=3))
