"""What the Compare models page computes: the scores table, the training curves' inputs, reconstruction errors."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from .checkpoint import HISTORY, checkpoint_dir, stored_variant
from .images import to_uint8
from .models import REGISTRY
from .report import GENERATION_ROWS

# (key in metrics.json / baselines.json, column title), in table order.
METRIC_COLUMNS = (
    ("psnr", "PSNR (dB)"),
    ("ssim", "SSIM"),
    ("precision_at_10", "precision@10"),
    ("denoise_psnr", "denoise PSNR (dB)"),
    ("denoise_ssim", "denoise SSIM"),
    ("sparsity", "code sparsity"),
    ("code_entropy_bytes", "code bytes/image"),
    ("neg_elbo", "−ELBO (nats)"),
    ("nll", "reconstruction NLL (nats)"),
    ("kl", "KL (nats)"),
)
# The classical baselines' rows: key in baselines.json -> (row title, which columns their psnr/ssim belong in).
BASELINE_ROWS = {
    "pca10": ("PCA, 10 components", {}),
    "pca32": ("PCA, 32 components", {}),
    "raw_pixels": ("Raw pixels (784-d)", {}),
    "noisy_input": ("Noisy input, amount 0.2", {"psnr": "denoise_psnr", "ssim": "denoise_ssim"}),
    "median3": ("3×3 median filter", {"psnr": "denoise_psnr", "ssim": "denoise_ssim"}),
    "adaptive_median": ("Adaptive median filter", {"psnr": "denoise_psnr", "ssim": "denoise_ssim"}),
}


def metrics_table(metrics: Mapping[str, Mapping | None], baselines: Mapping[str, Mapping] | None, titles=None):
    """One DataFrame: a row per variant (its metrics.json) then per classical baseline; NaN where not measured.

    ``metrics``: variant -> metrics dict, or None when not evaluated yet. The denoising baselines'
    PSNR/SSIM land in the denoise columns, where the denoiser's are.
    """
    import pandas as pd

    titles = titles or {}
    keys = [k for k, _ in METRIC_COLUMNS]
    rows, index, kinds = [], [], []
    for name, m in metrics.items():
        m = m or {}
        rows.append({k: _number(m.get(k)) for k in keys})
        index.append(titles.get(name, name))
        kinds.append("autoencoder")
    for key, (title, remap) in BASELINE_ROWS.items():
        b = (baselines or {}).get(key)
        if not b:
            continue
        row = {k: np.nan for k in keys}
        for k, v in b.items():
            target = remap.get(k, k)
            if target in row:
                row[target] = _number(v)
        rows.append(row)
        index.append(title)
        kinds.append("baseline")
    df = pd.DataFrame(rows, index=pd.Index(index, name="model"), columns=keys)
    df = df.rename(columns=dict(METRIC_COLUMNS))
    df.insert(0, "kind", kinds)
    return df.dropna(axis=1, how="all")


def generation_table(results: Mapping[str, Mapping], titles: Mapping[str, str]):
    """Generation quality of several generative runs as one DataFrame: a row per run (its prior samples), then the
    reference rows (PCA-Gaussian samples, train images) from the first result that has them; ``results`` maps a
    run key to its generation.json (``run_generation_quality`` or ``prepare``); a run without a title in ``titles`` is
    the shipped VAE."""
    import pandas as pd

    rows, index = [], []
    for key, result in results.items():
        own = result["rows"].get("vae")
        if own is not None:
            index.append(f"{titles[key]}: samples, z ~ N(0, I)" if key in titles else GENERATION_ROWS["vae"])
            rows.append({"fid": own["fid"], "confidence": own["confidence"], "images": own.get("images", result["n"])})
    for name in ("pca_gaussian", "train"):
        found = next((r["rows"][name] for r in results.values() if name in r["rows"]), None)
        if found is not None:
            index.append(GENERATION_ROWS[name])
            rows.append({"fid": found["fid"], "confidence": found["confidence"], "images": found.get("images")})
    table = pd.DataFrame(rows, index=index, columns=["fid", "confidence", "images"])
    return table.rename(columns={"fid": "Fashion-FID to test ↓", "confidence": "judge confidence ↑"})


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def history(name: str, root=None) -> list[dict]:
    """A variant's or run's training history (its history.json: one dict per epoch); [] without a readable one."""
    try:
        rows = json.loads((checkpoint_dir(name, root) / HISTORY).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def loss_unit(name: str) -> str:
    """The unit of a variant's or run's training loss: a generative model trains on the negative ELBO (nats), the
    rest on MSE."""
    entry = REGISTRY.get(stored_variant(name) or "")
    return "nats" if entry is not None and entry.can("generative") else "MSE"


def reconstruction_mse(originals, reconstructions) -> float:
    """Mean per-pixel MSE (in [0, 1] units) of reconstructions as shown (8-bit) against the originals."""
    a, b = to_uint8(originals).astype(np.float32), to_uint8(reconstructions).astype(np.float32)
    return float((((b - a) / 255.0) ** 2).mean())


def neighbour_agreement(neighbours: Mapping[str, np.ndarray]):
    """How alike runs' neighbourhoods are: per pair of runs, the mean share of the same test items' nearest
    neighbours that both find -> a DataFrame [run × run] in [0, 1] (1 on the diagonal).

    ``neighbours``: run -> int [n, k], the ``k`` nearest test items of the same ``n`` items (each row a set, as
    ``explorer.neighbours.sample_neighbours`` gives and every test map stores).
    """
    import pandas as pd

    names = list(neighbours)
    shapes = {np.shape(v) for v in neighbours.values()}
    if len(shapes) > 1:
        raise ValueError(f"neighbour lists of shapes {sorted(shapes)}: runs compared need the same items and k.")
    matrix = np.ones((len(names), len(names)))
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            x, y = np.asarray(neighbours[a]), np.asarray(neighbours[names[j]])
            # rows are sets: count the ids both rows hold (a k×k comparison per row, vectorised)
            shared = (x[:, :, None] == y[:, None, :]).any(axis=2).sum(axis=1)
            matrix[i, j] = matrix[j, i] = float(shared.mean()) / x.shape[1]
    return pd.DataFrame(matrix, index=names, columns=names)
