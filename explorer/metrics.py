"""Image-quality and code measures used by ``evaluate`` and the dashboard (numpy in, numbers out)."""

from __future__ import annotations

import numpy as np

from .codec import quantise


def _as_batch(x: np.ndarray) -> np.ndarray:
    """Greyscale [N, H, W], [N, 1, H, W], [N, 784] or one [H, W]; colour [N, 3, H, W] -> float64 clipped to [0, 1],
    [N, H, W] (greyscale) or [N, 3, H, W] (colour)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 2:
        # A batch of flattened Fashion-MNIST images [N, 784], else one image [H, W]: never one huge "image".
        x = x.reshape(len(x), 28, 28) if x.shape[1] == 784 and x.shape != (28, 28) else x[None]
    return np.clip(x, 0.0, 1.0)


def psnr_per_image(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """PSNR = 10·log10(1 / MSE) per image, outputs clipped to [0, 1]; capped at 100 dB for exact copies."""
    p, t = _as_batch(pred), _as_batch(target)
    mse = ((p - t) ** 2).mean(axis=tuple(range(1, p.ndim)))
    return 10.0 * np.log10(1.0 / np.maximum(mse, 1e-10))


def ssim_per_image(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """skimage ``structural_similarity(data_range=1)`` per image (colour: over the channel axis)."""
    from skimage.metrics import structural_similarity

    p, t = _as_batch(pred), _as_batch(target)
    colour = {"channel_axis": 0} if p.ndim == 4 else {}
    return np.array([structural_similarity(a, b, data_range=1.0, **colour) for a, b in zip(p, t, strict=True)])


def median3(x: np.ndarray) -> np.ndarray:
    """3×3 median filter per image (edges reflected): the classical salt-and-pepper remedy."""
    from scipy.ndimage import median_filter

    b = _as_batch(x)
    return median_filter(b, size=(1,) * (b.ndim - 2) + (3, 3), mode="reflect")


def adaptive_median(x: np.ndarray, max_window: int = 7) -> np.ndarray:
    """Adaptive median filter (Hwang & Haddad 1995) per image, windows 3, 5, … ``max_window``.

    A pixel is replaced only if it is an impulse (equal to the window's min or max) and the
    window's median is not itself an impulse; otherwise the window grows.
    """
    from scipy.ndimage import maximum_filter, median_filter, minimum_filter

    b = _as_batch(x)
    out = b.copy()
    done = np.zeros(b.shape, dtype=bool)
    for w in range(3, max_window + 1, 2):
        size = (1,) * (b.ndim - 2) + (w, w)
        zmin = minimum_filter(b, size=size, mode="reflect")
        zmax = maximum_filter(b, size=size, mode="reflect")
        zmed = median_filter(b, size=size, mode="reflect")
        median_ok = (zmin < zmed) & (zmed < zmax)
        pixel_ok = (zmin < b) & (b < zmax)
        decide = median_ok & ~done
        out[decide] = np.where(pixel_ok, b, zmed)[decide]
        done |= median_ok
        if w == max_window:
            out[~done] = zmed[~done]
    return out


def code_sparsity(codes: np.ndarray, threshold: float = 0.05) -> float:
    """Fraction of code entries below ``threshold`` (the codes are sigmoid outputs in (0, 1))."""
    return float((np.asarray(codes) < threshold).mean())


def code_entropy_bytes(codes: np.ndarray, bits: int = 8, lo=None, hi=None) -> float:
    """Empirical entropy of the ``bits``-bit quantised code (``codec.quantise`` over [lo, hi], by default the codes'
    own range), summed over dimensions, in bytes per image."""
    codes = np.asarray(codes, dtype=np.float64)
    lo = codes.min(0) if lo is None else lo
    hi = codes.max(0) if hi is None else hi
    q = quantise(codes, bits, lo, hi)
    total_bits = 0.0
    for d in range(q.shape[1]):
        p = np.bincount(q[:, d], minlength=2**bits) / len(q)
        p = p[p > 0]
        total_bits += float(-(p * np.log2(p)).sum())
    return total_bits / 8.0
