"""The Denoiser page's comparison: salt-and-pepper noise removed by a model and by a classical 3×3 median filter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import salt_and_pepper
from .inference import as_unit, reconstruct
from .metrics import median3, psnr_per_image, ssim_per_image


@dataclass(frozen=True)
class DenoiseResult:
    """Noisy inputs, the model's and the 3×3 median's outputs (float [N, 28, 28] in [0, 1]) and their scores."""

    clean: np.ndarray
    noisy: np.ndarray
    model: np.ndarray
    median: np.ndarray
    psnr_noisy: np.ndarray
    psnr_model: np.ndarray
    psnr_median: np.ndarray
    ssim_noisy: np.ndarray
    ssim_model: np.ndarray
    ssim_median: np.ndarray

    def scores(self):
        """Per-image PSNR/SSIM of the noisy input, the model and the median, one row per image, as a DataFrame."""
        import pandas as pd

        return pd.DataFrame(
            {
                "PSNR noisy (dB)": self.psnr_noisy,
                "PSNR model (dB)": self.psnr_model,
                "PSNR median (dB)": self.psnr_median,
                "SSIM noisy": self.ssim_noisy,
                "SSIM model": self.ssim_model,
                "SSIM median": self.ssim_median,
            }
        )


def denoise(model, clean: np.ndarray, amount: float, seed: int) -> DenoiseResult:
    """Salt-and-pepper noise (seeded) on images [N, 28, 28], then the model vs a 3×3 median filter.

    ``clean``: uint8, or floats in [0, 1] (an uploaded picture).
    """
    x = as_unit(clean)
    noisy = salt_and_pepper(x, amount, np.random.default_rng(seed))
    out = reconstruct(model, noisy)
    med = median3(noisy)
    return DenoiseResult(
        clean=x,
        noisy=noisy,
        model=out,
        median=med,
        psnr_noisy=psnr_per_image(noisy, x),
        psnr_model=psnr_per_image(out, x),
        psnr_median=psnr_per_image(med, x),
        ssim_noisy=ssim_per_image(noisy, x),
        ssim_model=ssim_per_image(out, x),
        ssim_median=ssim_per_image(med, x),
    )


def best_first(names, stored, key: str = "denoise_psnr") -> list[str]:
    """``names`` ordered by their stored score ``stored[name][key]``, best first (higher is better); a variant
    without that score (no metrics yet) comes last, in the given order."""
    names = list(names)

    def score(name: str) -> float:
        value = (stored.get(name) or {}).get(key)
        return -float(value) if value is not None and np.isfinite(value) else np.inf

    return sorted(names, key=lambda n: (score(n), names.index(n)))
