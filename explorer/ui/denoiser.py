"""Page: salt-and-pepper noise removed by every denoising autoencoder (the best first), beside a 3×3 median
filter; also on your picture."""

from __future__ import annotations

import textwrap

import numpy as np
import streamlit as st

from explorer import images
from explorer.denoise import DenoiseResult, best_first, denoise
from explorer.neighbours import sample_per_class
from explorer.ui import common, urlsync
from explorer.ui.upload_widget import upload_ui
from explorer.upload import upload_view

SCALE = 4  # 28 px -> 112 px cells: the grid's text stays legible when the image is fitted to a projector's column
FONT = 18
SHOWN = 4  # denoisers side by side at most (the best first)
PER_GRID = 10  # test images in the grid: one per class


def _new_noise() -> None:
    st.session_state["noise_seed"] = st.session_state.get("noise_seed", 0) + 1


def ranked_denoisers() -> list[str]:
    """The picked dataset's runs trained to remove noise that load, best first by their stored denoising PSNR
    (at most ``SHOWN``)."""
    ready = [n for n in common.runs_with("denoiser") if common.model(n).ok]
    return best_first(ready, {n: common.metrics(n) for n in ready})[:SHOWN]


def _label(name: str) -> str:
    return textwrap.fill(common.title(name), 16)


def page() -> None:
    common.default("noise_amount", 0.2)
    common.header(
        "Denoiser",
        "Salt-and-pepper noise on one test image of each class, cleaned by each autoencoder trained for it (the best "
        "first, by its stored test score) and, for comparison, by a classical 3×3 median filter. Scores against the "
        "clean original: PSNR (dB) and SSIM, higher is better.",
    )
    items = common.items()
    c1, c2, _ = st.columns((3, 1, 2), vertical_alignment="bottom")
    with c1:
        amount = st.slider(
            "Noise amount",
            0.0,
            0.5,
            step=0.01,
            key="noise_amount",
            help="Probability that a pixel is replaced by pure black or white",
        )
    with c2:
        st.button("New noise", key="new_noise", on_click=_new_noise, icon=":material/casino:")
    names = ranked_denoisers()
    if not names:
        for n in common.runs_with("denoiser"):
            common.show_unavailable(n, common.model(n))
        if not common.runs_with("denoiser"):
            common.page_header("", "", "denoiser")  # names the command that trains one, and stops
        st.stop()
    urlsync.write_url_state(urlsync.current_state("denoiser", names[0]))

    seed = st.session_state.get("noise_seed", 0)
    stamps = tuple(common.run_stamps(n) for n in names)
    results, ids, grid = _denoised(tuple(names), stamps, common.current_dataset(), float(amount), int(seed))
    first = results[names[0]]  # the noisy input and the median are the same for every model (same seed)

    columns = st.columns(len(names) + 1)
    for col, n in zip(columns, names, strict=False):
        res = results[n]
        d_psnr = res.psnr_model.mean() - res.psnr_median.mean()
        d_ssim = res.ssim_model.mean() - res.ssim_median.mean()
        col.markdown(f"**{common.title(n)}**")
        col.metric("PSNR", f"{res.psnr_model.mean():.2f} dB", f"{d_psnr:+.2f} dB vs median")
        col.metric("SSIM", f"{res.ssim_model.mean():.3f}", f"{d_ssim:+.3f} vs median")
    columns[-1].markdown("**3×3 median filter**")
    columns[-1].metric("PSNR", f"{first.psnr_median.mean():.2f} dB")
    columns[-1].metric("SSIM", f"{first.ssim_median.mean():.3f}")
    st.image(grid, width="stretch", output_format="PNG")  # PNG bytes as they are: "auto" re-encoded them as JPEG
    st.caption("Under each image: PSNR against the clean original and SSIM; row labels give the means.")

    with st.expander("Per-image scores"):
        table = score_table(results, names).T
        table.columns = [f"{items.class_name(i)} ({i})" for i in ids]
        st.dataframe(table.style.format("{:.3f}"))

    if not all(common.takes_uploads(common.model(n).value) for n in names):
        return
    st.subheader("Your own picture")
    prepared = upload_ui("denoiser_upload", "Upload a picture to noise and clean")
    if prepared is not None:
        views = {n: upload_view(common.model(n).value, prepared.image, noise=amount, seed=seed).denoised for n in names}
        show_upload(views, names, amount)


@st.cache_data(show_spinner=False, max_entries=32)
def _denoised(names: tuple[str, ...], stamps: tuple, dataset: str, amount: float, seed: int):
    """The grid's items, every model's results and the grid as PNG bytes, for one noise amount and seed: the same
    for every viewer (``stamps``: the models' files), so a rerun that changes nothing else, or another viewer with the
    same setting, does not denoise and encode again (~60 ms of CPU a rerun)."""
    from explorer import exports

    del stamps, dataset  # in the cache key only: other weights or another dataset give other results
    items = common.items()
    ids = sample_per_class(items.test_labels, per_class=1, seed=0)[:PER_GRID] if items.has_labels else None
    ids = np.arange(min(PER_GRID, items.n_test)) if ids is None else ids
    results = {n: denoise(common.model(n).value, items.test_images[ids], amount, seed=seed) for n in names}
    first = results[names[0]]

    def scores(psnr, ssim):
        return [f"{p:.1f} dB\n{s:.3f}" for p, s in zip(psnr, ssim, strict=True)]

    grid = images.annotated_grid(
        [first.noisy, *(results[n].model for n in names), first.median, first.clean],
        row_labels=[
            f"Noisy input\namount {amount:.2f}\n{first.psnr_noisy.mean():.1f} dB",
            *(f"{_label(n)}\n{results[n].psnr_model.mean():.1f} dB" for n in names),
            f"3x3 median\n{first.psnr_median.mean():.1f} dB",  # the grid's bundled font has no ×
            "Clean original",
        ],
        captions=[
            scores(first.psnr_noisy, first.ssim_noisy),
            *(scores(results[n].psnr_model, results[n].ssim_model) for n in names),
            scores(first.psnr_median, first.ssim_median),
            [items.class_name(i) for i in ids],
        ],
        scale=max(1, SCALE * 28 // items.images.shape[-1]),
        font_size=FONT,
    )
    return results, ids, exports.png_bytes(grid)


def score_table(results: dict[str, DenoiseResult], names: list[str]):
    """Per-image PSNR, then SSIM, of the noisy input, each model (in ``names``' order) and the median."""
    import pandas as pd

    first = results[names[0]]
    columns = {"PSNR noisy (dB)": first.psnr_noisy}
    columns |= {f"PSNR {n} (dB)": results[n].psnr_model for n in names}
    columns |= {"PSNR median (dB)": first.psnr_median, "SSIM noisy": first.ssim_noisy}
    columns |= {f"SSIM {n}": results[n].ssim_model for n in names}
    columns["SSIM median"] = first.ssim_median
    return pd.DataFrame(columns)


def show_upload(views: dict[str, DenoiseResult], names: list[str], amount: float) -> None:
    """An uploaded picture noised with the page's amount, cleaned by each model and by the median, with scores."""
    first = views[names[0]]
    cells = np.stack([first.noisy[0], *(views[n].model[0] for n in names), first.median[0], first.clean[0]])
    captions = [
        f"Noisy, amount {amount:.2f}\n{first.psnr_noisy[0]:.1f} dB  {first.ssim_noisy[0]:.3f}",
        *(f"{_label(n)}\n{views[n].psnr_model[0]:.1f} dB  {views[n].ssim_model[0]:.3f}" for n in names),
        f"3x3 median\n{first.psnr_median[0]:.1f} dB  {first.ssim_median[0]:.3f}",
        "Your picture",
    ]
    st.image(images.annotated_grid([cells], captions=[captions], scale=6, font_size=FONT))
    st.caption("The same noise amount and seed as above. Under each image: PSNR and SSIM against your picture.")
