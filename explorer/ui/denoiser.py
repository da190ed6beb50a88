"""Page: salt-and-pepper noise removed by an autoencoder, beside a classical 3×3 median filter; also on your picture."""

from __future__ import annotations

import numpy as np
import streamlit as st

from explorer import images
from explorer.data import CLASS_NAMES
from explorer.denoise import DenoiseResult, denoise
from explorer.models import variants_with
from explorer.neighbours import sample_per_class
from explorer.ui import common, urlsync
from explorer.ui.upload_widget import upload_ui
from explorer.upload import upload_view

SCALE = 3  # 28 px -> 84 px cells
# The picker's first choice: the first variant trained to remove noise.
DEFAULT_DENOISER = next(iter(variants_with("denoiser")), None)


def _new_noise() -> None:
    st.session_state["noise_seed"] = st.session_state.get("noise_seed", 0) + 1


def page() -> None:
    common.default("noise_amount", 0.2)
    name, (c2, c3) = common.page_header(
        "Denoiser",
        "Salt-and-pepper noise on one test image of each class, cleaned by an autoencoder and, for comparison, "
        "by a classical 3×3 median filter. Scores against the clean original: PSNR (dB) and SSIM, higher is better.",
        default=DEFAULT_DENOISER,
        memory="_denoiser_variant",
        label="Denoiser",
        columns=(2, 3, 1),
    )
    items = common.items()
    with c2:
        amount = st.slider(
            "Noise amount",
            0.0,
            0.5,
            step=0.01,
            key="noise_amount",
            help="Probability that a pixel is replaced by pure black or white",
        )
    with c3:
        st.button("New noise", key="new_noise", on_click=_new_noise, icon=":material/casino:")
    urlsync.write_url_state(urlsync.current_state("denoiser", name))
    model = common.require_model(name)

    seed = st.session_state.get("noise_seed", 0)
    ids = sample_per_class(items.test_labels, per_class=1, seed=0)
    res = denoise(model, items.test_images[ids], amount, seed=seed)

    m1, m2, m3, m4 = st.columns(4)
    d_psnr = res.psnr_model.mean() - res.psnr_median.mean()
    d_ssim = res.ssim_model.mean() - res.ssim_median.mean()
    m1.metric("Autoencoder PSNR", f"{res.psnr_model.mean():.2f} dB", f"{d_psnr:+.2f} dB vs median")
    m2.metric("3×3 median PSNR", f"{res.psnr_median.mean():.2f} dB")
    m3.metric("Autoencoder SSIM", f"{res.ssim_model.mean():.3f}", f"{d_ssim:+.3f} vs median")
    m4.metric("3×3 median SSIM", f"{res.ssim_median.mean():.3f}")

    def scores(psnr, ssim):
        return [f"{p:.1f} dB\n{s:.3f}" for p, s in zip(psnr, ssim, strict=True)]

    labels = items.test_labels[ids]
    grid = images.annotated_grid(
        [res.noisy, res.model, res.median, res.clean],
        row_labels=[
            f"Noisy input\namount {amount:.2f}\n{res.psnr_noisy.mean():.1f} dB",
            f"Autoencoder\n{res.psnr_model.mean():.1f} dB",
            f"3x3 median\n{res.psnr_median.mean():.1f} dB",  # the grid's bundled font has no ×
            "Clean original",
        ],
        captions=[
            scores(res.psnr_noisy, res.ssim_noisy),
            scores(res.psnr_model, res.ssim_model),
            scores(res.psnr_median, res.ssim_median),
            [CLASS_NAMES[c] for c in labels],
        ],
        scale=SCALE,
    )
    st.image(grid)
    st.caption("Under each image: PSNR against the clean original and SSIM; row labels give the means.")

    with st.expander("Per-image scores"):
        table = res.scores().T
        table.columns = [f"{CLASS_NAMES[c]} ({i})" for c, i in zip(labels, ids, strict=True)]
        st.dataframe(table.style.format("{:.3f}"))

    st.subheader("Your own picture")
    prepared = upload_ui("denoiser_upload", "Upload a picture to noise and clean")
    if prepared is not None:
        show_upload(upload_view(model, prepared.image, noise=amount, seed=seed).denoised, amount)


def show_upload(res: DenoiseResult, amount: float) -> None:
    """An uploaded picture noised with the page's amount, cleaned by the model and by the median, with scores."""
    cells = np.stack([res.noisy[0], res.model[0], res.median[0], res.clean[0]])
    captions = [
        f"Noisy, amount {amount:.2f}\n{res.psnr_noisy[0]:.1f} dB  {res.ssim_noisy[0]:.3f}",
        f"Autoencoder\n{res.psnr_model[0]:.1f} dB  {res.ssim_model[0]:.3f}",
        f"3x3 median\n{res.psnr_median[0]:.1f} dB  {res.ssim_median[0]:.3f}",
        "Your picture",
    ]
    st.image(images.annotated_grid([cells], captions=[captions], scale=5))
    st.caption("The same noise amount and seed as above. Under each image: PSNR and SSIM against your picture.")
