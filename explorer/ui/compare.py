"""Page: every variant's metrics beside the classical baselines, training curves, reconstructions side by side."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import compare, figures, images, inference
from explorer.models import VARIANTS
from explorer.neighbours import SAMPLE_N, sample_neighbours, sample_per_class
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
    "reconstruction NLL (nats)": ("NLL", "Reconstruction term of −ELBO: Bernoulli negative log-likelihood"),
    "KL (nats)": ("KL", "KL divergence of the posterior from the prior, per image in nats"),
}
COLUMN_HELP = dict(COLUMNS.values())
DIGITS = {"PSNR": 2, "den. PSNR": 2, "bytes": 1, "−ELBO": 1, "NLL": 1, "KL": 1, "sparsity": 2}


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


SELECTED_KEY = "compare_runs"  # the runs compared (a multiselect)


def default_runs(options: list[str]) -> list[str]:
    """What the page compares until the user picks: the shipped variants on Fashion-MNIST, else the first six."""
    shipped = [v for v in VARIANTS if v in options]
    return shipped or options[:6]


def _pick_runs(options: list[str]) -> list[str]:
    kept = [r for r in st.session_state.get(SELECTED_KEY, []) if r in options]
    st.session_state[SELECTED_KEY] = kept if SELECTED_KEY in st.session_state and kept else default_runs(options)
    return st.multiselect(
        "Runs compared",
        options,
        key=SELECTED_KEY,
        format_func=common.title,
        help="Any runs on this dataset: e.g. a β = 1 VAE against β = 4, or latent 2 against 10 against 32.",
    )


@common.of_model
def _reconstructions(model, ids: tuple[int, ...]) -> np.ndarray:
    """A run's reconstructions of test items ``ids`` -> uint8 [n, H, W] (colour [n, C, H, W])."""
    return images.to_uint8(inference.reconstruct(model, common.items().images[list(ids)]))


def _baselines(chosen: list[str]) -> tuple[dict | None, dict[str, dict]]:
    """The shipped study's baselines (Fashion-MNIST), and each chosen run's own PCA baseline (from prepare)."""
    shipped = common.baselines() if common.current_dataset() == common.FASHION_MNIST else None
    own = {}
    for r in chosen:
        b = (common.metrics(r) or {}).get("baseline")
        if isinstance(b, dict) and "components" in b:
            own.setdefault(f"PCA, {b['components']} components (prepare)", b)
    return shipped, own


def page() -> None:
    common.header(
        "Compare models",
        "Any runs on this dataset side by side: their test-set scores beside classical baselines, how each one "
        "trained, the same test images reconstructed by each, and how much their neighbourhoods agree.",
    )
    items = common.items()
    options = common.runs_with(None)
    if not options:
        common.page_header("", "", None)  # names the command that trains one, and stops
    chosen = _pick_runs(options)
    if not chosen:
        st.info("Pick one or more runs to compare.")
        st.stop()
    name = chosen[0]
    common.default("variant", name)
    urlsync.write_url_state(urlsync.current_state("compare", name))
    titles = {v: common.title(v) for v in chosen}

    st.subheader(f"Scores on the {items.n_test:,} test images")
    all_metrics = {v: common.metrics(v) for v in chosen}
    shipped, own = _baselines(chosen)
    table = compare.metrics_table(all_metrics, shipped, titles)
    for title, b in own.items():
        row = {c: np.nan for c in table.columns}
        row["kind"] = "baseline"
        for key, column in compare.METRIC_COLUMNS:
            if key in b and column in row:
                row[column] = float(b[key])
        table.loc[title] = row
    table = short_titles(table.dropna(axis=1, how="all"))
    if table.shape[1] > 1:
        st.dataframe(
            style_table(table, titles[name]),
            height=35 * (len(table) + 1) + 3,  # every row, no inner scrolling
            width="stretch",
            column_config={
                c: st.column_config.Column(help=h, alignment="right") for c, h in COLUMN_HELP.items() if c in table
            },
        )
        st.caption(
            "Grey rows: classical baselines. Hover a column header for what it measures."
            + ("" if items.has_labels else " P@10 needs labels: this dataset has none.")
        )
    missing = [v for v, m in all_metrics.items() if m is None and common.can(v, "decoder")]
    if shipped is None and items.name == common.FASHION_MNIST:
        missing.append("baselines")
    if missing:
        st.info(f"Scores missing or measured on older weights: {', '.join(missing)}. Measure them with:")
        st.code(
            "\n".join(sorted({common.evaluate_command(v if v != "baselines" else None) for v in missing})),
            language="bash",
        )

    generative = [v for v in chosen if common.can(v, "generative") and common.run(v).dataset == common.FASHION_MNIST]
    if generative:
        st.subheader("Generation quality")
        st.caption("How close samples from each VAE's prior come to real apparel, in the eyes of the judge classifier.")
        sections.generation_quality_section(generative)

    st.subheader("Training")
    histories = common.histories(chosen)
    if histories:
        st.caption(
            "Loss per epoch (log scale): validation solid, training dotted; the star marks the epoch whose weights "
            "were kept. Runs with different losses (MSE, nats) get their own panels."
        )
        fig = _curves(tuple(histories), tuple(common.run_stamps(v) for v in histories))
        st.plotly_chart(fig, key="curves", config=common.PLOTLY_CONFIG)
        c1, _ = st.columns([1, 3])
        with c1:
            downloads.figure_buttons(fig, "training-curves", "curves_download")
    for v in chosen:
        if v not in histories and common.run(v).kind == "model":
            st.caption(f"No training history for {titles[v]}.")

    st.subheader("Reconstructions")
    st.caption("One test image of each class (top row), then each model's reconstructions and their mean MSE.")
    ids = sample_per_class(items.test_labels, per_class=1, seed=0)[:10] if items.has_labels else np.arange(10)
    ids = ids[ids < items.n_test]
    originals = items.test_images[ids]
    rows, row_labels = [originals], ["Original"]
    for v in chosen:
        if not common.can(v, "decoder"):
            continue
        loaded = common.model(v)
        if not loaded.ok:
            st.caption(f"{titles[v]} is unavailable: `{(loaded.fixes or ('',))[0]}`")
            continue
        recon = _reconstructions(v, tuple(map(int, ids)))
        mse = compare.reconstruction_mse(originals, recon)
        rows.append(recon)
        row_labels.append(f"{common.grid_label(titles[v])}\nMSE {mse:.4f}")
    captions = [[items.class_name(i) for i in ids]] + [[] for _ in rows[1:]]
    scale = max(1, 84 // items.images.shape[-1])
    st.image(images.annotated_grid(rows, row_labels=row_labels, captions=captions, scale=scale))

    mapped = [v for v in chosen if common.can(v, common.MAP) and common.proj(v, compute=False).ok]
    if len(mapped) >= 2:
        st.subheader("Neighbour agreement")
        st.caption(
            f"For {min(SAMPLE_N, items.n_test):,} test items: the share of their 10 nearest neighbours that "
            "two runs have in common (1: the same neighbourhoods; near 0: unrelated)."
        )
        agreement = _agreement(tuple(mapped))
        agreement.index = agreement.columns = [titles[v] for v in mapped]
        st.dataframe(agreement.style.format("{:.2f}"))


@st.cache_resource(show_spinner=False, max_entries=16)
def _curves(names: tuple[str, ...], stamps: tuple):
    """The overlaid training curves of ``names`` (shared by every session: never mutate it)."""
    histories = common.histories(names)
    titles = {v: common.title(v) for v in histories}
    return figures.overlaid_curves(histories, titles, {v: compare.loss_unit(v) for v in histories})


@common.per_variant
def _sample_neighbours(name: str) -> np.ndarray:
    """The run's stored sample neighbourhoods; a map made before they were stored: computed once from its codes."""
    p = common.proj(name).value
    return p.sample_neighbours if p.sample_neighbours is not None else sample_neighbours(p.codes)


def _agreement(names: tuple[str, ...]):
    return compare.neighbour_agreement({v: _sample_neighbours(v) for v in names})
