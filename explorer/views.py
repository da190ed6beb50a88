"""What the dashboard's pages show, as plain functions: selections, image panels, neighbours, metrics, latent paths.

Arrays and dicts in, arrays and DataFrames out; nothing here knows of Streamlit, so tests call it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from .data import CLASS_NAMES
from .images import to_uint8
from .neighbours import knn

# Item ids: one space for every page, whichever map a selection came from.
# 0..9,999 are the test images, 10,000..69,999 the training images; an "all" map lists its rows in
# this order too (``FashionMNIST.all_images``), so its row index is the item id.
N_TEST, N_TRAIN = 10_000, 60_000


def all_rows_to_items(n: int) -> np.ndarray:
    """Item ids of the rows of an "all" projection (test then train, as the item ids) -> int [n]."""
    if n != N_TRAIN + N_TEST:
        raise ValueError(f"an 'all' map has {N_TRAIN + N_TEST} rows, this one {n}.")
    return np.arange(n)


def items_to_all_rows(ids) -> np.ndarray:
    """Rows of an "all" projection for item ids (the inverse of ``all_rows_to_items``)."""
    return np.asarray(ids)


def coords_of_test_items(coords: np.ndarray, split: str) -> np.ndarray:
    """The coordinates [10000, 2] of the test items 0..9,999 on a map of ``split`` ("test" or "all")."""
    return np.asarray(coords) if split == "test" else np.asarray(coords)[items_to_all_rows(np.arange(N_TEST))]


# ---------------------------------------------------------------------------------------- selection


def selected_ids(event) -> list[int]:
    """Global row ids of the points in a Plotly selection event, in selection order, without repeats.

    ``event``: what ``st.plotly_chart(..., on_select="rerun")`` returns (``{"selection": {"points": [...]}}``),
    its ``selection`` part, or None. Each point's ``customdata`` is the row id, or a row starting with it: a
    list, or the ``{"0": id, "1": …}`` object a typed-array row becomes in the browser. Points without
    customdata (e.g. an overlay marker) are ignored.
    """
    if not event:
        return []
    selection = event.get("selection", event) if isinstance(event, Mapping) else getattr(event, "selection", None)
    points = (selection or {}).get("points") or []
    seen: dict[int, None] = {}
    for p in points:
        custom = p.get("customdata") if isinstance(p, Mapping) else None
        if isinstance(custom, Mapping):  # a numpy customdata row reaches the browser as a typed array: {"0": id, …}
            custom = custom.get("0", custom.get(0))
        if custom is None:
            continue
        if isinstance(custom, (list, tuple, np.ndarray)):
            if len(custom) == 0:
                continue
            custom = custom[0]
        try:
            seen.setdefault(int(round(float(custom))), None)
        except (TypeError, ValueError):
            continue
    return list(seen)


def display_order(ids: list[int], limit: int, errors: np.ndarray | None = None, seed: int = 0) -> list[int]:
    """Which selected ids the panel shows, in order: the worst ``limit`` by ``errors`` (aligned with ids) when
    given, else all of them if they fit, else a seeded random sample (a lasso's points come class by class)."""
    if errors is not None:
        order = np.argsort(-np.asarray(errors), kind="stable")[:limit]
        return [ids[i] for i in order]
    if len(ids) <= limit:
        return list(ids)
    pick = np.sort(np.random.default_rng(seed).choice(len(ids), size=limit, replace=False))
    return [ids[i] for i in pick]


def class_summary(labels: np.ndarray, top: int = 3) -> str:
    """'42% Sneaker, 30% Sandal, 28% Ankle boot' for a selection's labels."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return ""
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    order = np.argsort(-counts, kind="stable")[:top]
    return ", ".join(f"{100 * counts[c] / len(labels):.0f}% {CLASS_NAMES[c]}" for c in order if counts[c])


def majority_class(labels: np.ndarray) -> int:
    """The most common label (the smallest on a tie), e.g. of an uploaded picture's neighbours."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        raise ValueError("labels is empty: no majority class.")
    return int(np.argmax(np.bincount(labels, minlength=len(CLASS_NAMES))))


@dataclass(frozen=True)
class PanelRow:
    """One selected item: its row id, class, reconstruction error and both images (uint8 [28, 28])."""

    id: int
    label: int
    error: float
    original: np.ndarray
    reconstruction: np.ndarray

    @property
    def class_name(self) -> str:
        return CLASS_NAMES[self.label]


def reconstruct(model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """A model's reconstructions of uint8 images [N, 28, 28], clipped to [0, 1] -> uint8 [N, 28, 28]."""
    import torch

    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch_size):
            x = torch.from_numpy(np.asarray(images[i : i + batch_size], dtype=np.float32) / 255.0).unsqueeze(1)
            out.append(to_uint8(model.reconstruct(x).clamp(0, 1)))
    return np.concatenate(out) if out else np.zeros((0, 28, 28), np.uint8)


def panel_rows(
    ids: Iterable[int],
    images: np.ndarray,
    labels: np.ndarray,
    reconstruct_fn: Callable[[np.ndarray], np.ndarray],
    limit: int = 48,
) -> list[PanelRow]:
    """The image panel for selected row ids: at most ``limit`` rows; ids outside the arrays are dropped.

    images uint8 [N, 28, 28] and labels [N] are indexed by id; ``reconstruct_fn``: uint8 [n, 28, 28] ->
    [n, 28, 28] (uint8 or floats in [0, 1]), e.g. ``lambda x: reconstruct(model, x)``. The error is the
    per-pixel MSE of the reconstruction as shown (in [0, 1] units).
    """
    ids = [int(i) for i in ids if 0 <= int(i) < len(labels)][:limit]
    if not ids:
        return []
    originals = np.asarray(images)[np.asarray(ids)]
    recons = to_uint8(reconstruct_fn(originals))
    errors = (((recons.astype(np.float32) - originals) / 255.0) ** 2).mean(axis=(1, 2))
    return [PanelRow(i, int(labels[i]), float(errors[j]), originals[j], recons[j]) for j, i in enumerate(ids)]


def panel_image(rows: list[PanelRow], per_row: int = 5, scale: int = 2) -> np.ndarray:
    """The panel as one RGB image: per ``per_row`` items, originals (with a bar in their class colour) over
    reconstructions (captioned with item id and MSE)."""
    from .figures import CLASS_COLORS
    from .images import annotated_grid

    if not rows:
        raise ValueError("rows is empty: nothing selected.")
    chunks = [rows[i : i + per_row] for i in range(0, len(rows), per_row)]
    grid_rows, labels, captions, bars = [], [], [], []
    for chunk in chunks:
        grid_rows += [np.stack([r.original for r in chunk]), np.stack([r.reconstruction for r in chunk])]
        labels += ["original", "recon."]
        captions += [[], [f"#{r.id}\n{r.error:.4f}" for r in chunk]]
        bars += [[CLASS_COLORS[r.label] for r in chunk], []]
    return annotated_grid(grid_rows, row_labels=labels, captions=captions, bars=bars, scale=scale, font_size=12)


# --------------------------------------------------------------------------------------- neighbours


@dataclass(frozen=True)
class Neighbours:
    variant: str
    idx: np.ndarray  # int [k], nearest first
    dist: np.ndarray  # float [k]


def neighbours_all(
    codes: Mapping[str, np.ndarray], queries: Mapping[str, np.ndarray], k: int, exclude: int | None = None
) -> dict[str, Neighbours]:
    """The k nearest items to one query in every variant's latent space.

    codes: name -> [N, D_name] (same N rows, e.g. the 10k test images); queries: name -> [D_name], the
    query's code in that space; ``exclude``: a row left out (the query itself when it is one of the rows).
    """
    out = {}
    for name, c in codes.items():
        idx, dist = knn(c, np.asarray(queries[name], dtype=np.float32), k, exclude=exclude)
        out[name] = Neighbours(name, idx, dist)
    return out


def agreement(results: Mapping[str, Neighbours], reference: str) -> dict[str, int]:
    """How many of each variant's neighbours are also among ``reference``'s (the reference agrees with itself: k)."""
    ref = set(results[reference].idx.tolist())
    return {name: len(ref.intersection(r.idx.tolist())) for name, r in results.items()}


def agreement_matrix(results: Mapping[str, Neighbours]):
    """Shared neighbours between every pair of variants, as a square DataFrame."""
    import pandas as pd

    names = list(results)
    sets = {n: set(results[n].idx.tolist()) for n in names}
    return pd.DataFrame([[len(sets[a] & sets[b]) for b in names] for a in names], index=names, columns=names)


def same_class(results: Mapping[str, Neighbours], labels: np.ndarray, query_label: int) -> dict[str, int]:
    """How many of each variant's neighbours share the query's class."""
    return {name: int((np.asarray(labels)[r.idx] == query_label).sum()) for name, r in results.items()}


def sample_per_class(labels: np.ndarray, per_class: int = 1, seed: int = 0) -> np.ndarray:
    """``per_class`` random row ids of each class, ordered by class (seeded)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    picks = []
    for c in range(len(CLASS_NAMES)):
        rows = np.flatnonzero(labels == c)
        if len(rows):
            picks.append(rng.choice(rows, size=min(per_class, len(rows)), replace=False))
    return np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)


def random_of_class(labels: np.ndarray, cls: int, seed: int) -> int:
    """One seeded random row id of class ``cls``."""
    rows = np.flatnonzero(np.asarray(labels) == cls)
    if len(rows) == 0:
        raise ValueError(f"class == {cls}: no item of that class.")
    return int(np.random.default_rng(seed).choice(rows))


# ----------------------------------------------------------------------------------------- denoiser


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
    import torch

    from .data import salt_and_pepper
    from .metrics import median3, psnr_per_image, ssim_per_image

    x = _unit(clean)
    noisy = salt_and_pepper(x, amount, np.random.default_rng(seed))
    with torch.no_grad():
        out = model.reconstruct(torch.from_numpy(noisy).unsqueeze(1)).clamp(0, 1)[:, 0].numpy()
    med = median3(noisy)
    return DenoiseResult(
        clean=x, noisy=noisy, model=out, median=med,
        psnr_noisy=psnr_per_image(noisy, x), psnr_model=psnr_per_image(out, x), psnr_median=psnr_per_image(med, x),
        ssim_noisy=ssim_per_image(noisy, x), ssim_model=ssim_per_image(out, x), ssim_median=ssim_per_image(med, x),
    )  # fmt: skip


# ---------------------------------------------------------------------------------------- generator


def interpolate(za: np.ndarray, zb: np.ndarray, steps: int) -> np.ndarray:
    """``steps`` points on the straight line from za to zb [D], ends included -> [steps, D]."""
    if steps < 2:
        raise ValueError(f"steps == {steps}, must be >= 2.")
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    za, zb = np.asarray(za, dtype=np.float32), np.asarray(zb, dtype=np.float32)
    return (1 - t) * za + t * zb


def decode(model, z: np.ndarray) -> np.ndarray:
    """Decode latent points [M, D] (or [D]) -> floats [M, 28, 28] in [0, 1] (linear decoders are clipped)."""
    import torch

    z = np.atleast_2d(np.asarray(z, dtype=np.float32))
    with torch.no_grad():
        return model.decode(torch.from_numpy(z)).clamp(0, 1)[:, 0].numpy()


def posterior_mean(model, images: np.ndarray) -> np.ndarray:
    """A VAE's posterior means μ of uint8 images [N, 28, 28] (or one [28, 28]) -> [N, D]."""
    import torch

    x = np.asarray(images, dtype=np.float32).reshape(-1, 1, 28, 28) / 255.0
    with torch.no_grad():
        return model.posterior(torch.from_numpy(x))[0].numpy()


# --------------------------------------------------------------------------------- your own picture


def _unit(images) -> np.ndarray:
    """Images as float32 in [0, 1]: uint8 is divided by 255, floats are taken as they are."""
    a = np.asarray(images)
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)


def encode(model, images: np.ndarray) -> np.ndarray:
    """Latent codes of images [N, 28, 28] (uint8, or floats in [0, 1]) -> float32 [N, D]."""
    import torch

    x = torch.from_numpy(_unit(images).reshape(-1, 1, 28, 28))
    with torch.no_grad():
        return model.encode(x).numpy().astype(np.float32)


def item_codes(model, ids, test_codes: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Codes of item ids [N] -> float32 [N, D]: the stored ones for test items, encoded for training items.

    ``test_codes``: the test projection's codes [10000, D]; ``images``: uint8 [70000, 28, 28] in item-id order.
    """
    ids = np.asarray(ids, dtype=np.int64).ravel()
    out = np.empty((len(ids), test_codes.shape[1]), np.float32)
    test = ids < N_TEST
    out[test] = test_codes[ids[test]]
    if not test.all():
        out[~test] = encode(model, images[ids[~test]])
    return out


def selection_export(model, ids, labels: np.ndarray, images: np.ndarray, test_codes, map_coords, split: str) -> bytes:
    """The map's selected item ids as CSV (id, label, class, map x/y, latent code), see ``exports.selection_csv``.

    ``labels``/``images``: every item in item-id order; ``map_coords``: the shown map's coordinates [rows, 2] of
    ``split`` ("test": row = item id; "all": rows as ``items_to_all_rows`` maps them).
    """
    from .exports import selection_csv

    ids = np.asarray(ids, dtype=np.int64).ravel()
    rows = ids if split == "test" else items_to_all_rows(ids)
    codes = item_codes(model, ids, test_codes, images)
    return selection_csv(ids, np.asarray(labels)[ids], np.asarray(map_coords)[rows], codes)


@dataclass(frozen=True)
class UploadView:
    """What a page shows for an uploaded picture. Images are float32 [28, 28] in [0, 1]."""

    image: np.ndarray  # the model's input, as ``prepare_upload`` made it
    reconstruction: np.ndarray
    error: float  # per-pixel MSE of the reconstruction
    code: np.ndarray | None = None  # [D], with a projection
    neighbours: Neighbours | None = None  # the nearest test items, with a projection
    xy: np.ndarray | None = None  # [2]: where it falls on the map, with a projection
    denoised: DenoiseResult | None = None  # with a noise amount: noised, cleaned, beside the 3×3 median


def upload_view(
    model, image: np.ndarray, proj=None, k: int = 10, map_coords=None, noise: float | None = None, seed: int = 0
) -> UploadView:
    """An uploaded picture (float32 [28, 28] in [0, 1]) through a model: its reconstruction, and optionally more.

    ``proj``: the model's test projection: adds the code, the ``k`` nearest test items and the place on the map
    (``explorer.projection.place``; ``map_coords`` [10000, 2]: the test items' coordinates on the map shown, when
    it is not ``proj``'s own). ``noise``: a salt-and-pepper amount: adds the picture noised (seeded) and cleaned.
    """
    import torch

    from .projection import place

    image = _unit(image)
    if image.shape != (28, 28):
        raise ValueError(f"image of shape {image.shape}: expected [28, 28], as prepare_upload makes it.")
    with torch.no_grad():
        recon = model.reconstruct(torch.from_numpy(image)[None, None]).clamp(0, 1)[0, 0].numpy()
    extra = {}
    if proj is not None:
        code = encode(model, image)[0]
        idx, dist = knn(proj.codes, code, k)
        on_map = proj if map_coords is None else replace(proj, coords=np.asarray(map_coords, dtype=np.float32))
        extra.update(code=code, neighbours=Neighbours(proj.variant, idx, dist), xy=place(code, on_map))
    if noise is not None:
        extra["denoised"] = denoise(model, image[None], noise, seed)
    return UploadView(image, recon, float(((recon - image) ** 2).mean()), **extra)


# ------------------------------------------------------------------------------------------ metrics

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
)
# Baselines: row title and, for the classical denoisers, which columns their psnr/ssim belong in.
BASELINES = {
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
    for key, (title, remap) in BASELINES.items():
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


def _number(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")
