"""Generation with the VAE: attribute directions, manifold grids, interpolation paths, and the Fashion-FID.

Pure functions of a model and arrays (batched through ``explorer.inference``); the ``evaluate`` command
(``explorer.commands.evaluate``) measures generation quality with them and writes ``checkpoints/generation.json``.
Importing this module does not import torch.
"""

from __future__ import annotations

import warnings

import numpy as np

from .data import CLASS_NAMES
from .inference import as_batch, as_unit, decode, encode

# Latent sliders, links and clipped points span ±3 prior standard deviations: ~99.7% of N(0, 1) per dimension.
Z_LIMIT = 3.0
# Attribute directions offered by default: (from class, to class), by class index.
DEFAULT_PAIRS: tuple[tuple[int, int], ...] = (
    (7, 9),  # Sneaker -> Ankle boot: a shaft grows
    (6, 0),  # Shirt -> T-shirt/top: buttons and collar go, sleeves shorten
    (2, 4),  # Pullover -> Coat
    (0, 3),  # T-shirt/top -> Dress: it gets longer
    (5, 7),  # Sandal -> Sneaker: the straps close up
)


def clip_z(z) -> list[float]:
    """A latent point [D] clipped to the sliders' range ±Z_LIMIT and rounded to two decimals, as slider values."""
    return [round(float(v), 2) for v in np.clip(np.asarray(z), -Z_LIMIT, Z_LIMIT)]


# ------------------------------------------------------------------------------------------ directions


def class_means_of_codes(codes, labels) -> np.ndarray:
    """Mean of codes [N, D] per class -> float32 [10, D]; a class absent from ``labels`` is an error."""
    codes, labels = np.asarray(codes, dtype=np.float32), np.asarray(labels)
    missing = [CLASS_NAMES[c] for c in range(len(CLASS_NAMES)) if not (labels == c).any()]
    if missing:
        raise ValueError(f"no images of class(es) {', '.join(missing)}: pass a sample that holds every class.")
    return np.stack([codes[labels == c].mean(0) for c in range(len(CLASS_NAMES))]).astype(np.float32)


def directions_from_means(means: np.ndarray, pairs=DEFAULT_PAIRS) -> dict[tuple[int, int], np.ndarray]:
    """{(a, b): means[b] - means[a]}: adding the (a, b) vector to class a's mean code lands on class b's."""
    out = {}
    for a, b in pairs:
        if not (0 <= a < len(CLASS_NAMES) and 0 <= b < len(CLASS_NAMES)) or a == b:
            raise ValueError(f"direction pair ({a}, {b}) must be two different class indices in 0..9.")
        out[(a, b)] = means[b] - means[a]
    return out


def direction_label(pair: tuple[int, int]) -> str:
    return f"{CLASS_NAMES[pair[0]]} → {CLASS_NAMES[pair[1]]}"


def labelled_directions(codes, labels, pairs=DEFAULT_PAIRS) -> list[tuple[str, np.ndarray]]:
    """(label, mean-code difference [D]) per pair, e.g. ("Sneaker → Ankle boot", vector), from codes [N, D]."""
    dirs = directions_from_means(class_means_of_codes(codes, labels), pairs)
    return [(direction_label(pair), vec) for pair, vec in dirs.items()]


def principal_directions(codes, n: int = 4) -> list[tuple[str, np.ndarray]]:
    """("PC k (σ …)", the k-th principal axis of codes [N, D] scaled to one standard deviation) for the top ``n``
    axes: directions that move a point where the data varies most, for any latent size."""
    codes = np.asarray(codes, np.float64)
    centred = codes - codes.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    std = s / np.sqrt(max(len(codes) - 1, 1))
    share = s**2 / max(float((s**2).sum()), 1e-12)
    return [
        (f"PC {k + 1} ({share[k]:.0%} of variance)", (vt[k] * std[k]).astype(np.float32)) for k in range(min(n, len(s)))
    ]


# ---------------------------------------------------------------------------------------------- grids


def grid_coordinates(n: int, span: float | tuple[float, float] = 3.0) -> np.ndarray:
    """The ``n`` coordinates of a grid axis: ``linspace(-span, span)``, or ``linspace(lo, hi)`` for a pair."""
    if not isinstance(n, int) or not 2 <= n <= 64:
        raise ValueError(f"n == {n!r}, must be an integer in 2..64.")
    lo, hi = (-float(span), float(span)) if np.isscalar(span) else (float(span[0]), float(span[1]))
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"span == {span!r}, must be a positive number or a pair lo < hi.")
    return np.linspace(lo, hi, n)


def grid_latents(origin, u, v, n: int = 15, span: float | tuple[float, float] = 3.0) -> np.ndarray:
    """Grid latents origin + a·u + b·v -> float32 [n, n, d]; row i has b = coords[i], column j a = coords[j]."""
    origin, u, v = (np.asarray(t, dtype=np.float64).ravel() for t in (origin, u, v))
    if not (origin.shape == u.shape == v.shape):
        raise ValueError(f"origin, u and v must have one length, got {len(origin)}, {len(u)}, {len(v)}.")
    c = grid_coordinates(n, span)
    return (origin + c[None, :, None] * u + c[:, None, None] * v).astype(np.float32)


def manifold_grid(model, origin, u, v, n: int = 15, span: float | tuple[float, float] = 3.0) -> np.ndarray:
    """Decode the n×n grid of ``grid_latents`` into one image -> uint8 [n*H, n*W] (colour: [n*H, n*W, 3]),
    u rightwards, v downwards."""
    z = grid_latents(origin, u, v, n, span)
    tiles = decode(model, z.reshape(n * n, -1))
    if tiles.ndim == 4:  # colour [N, C, H, W] -> channels last
        tiles = tiles.transpose(0, 2, 3, 1)
    h, w = tiles.shape[1:3]
    tiles = tiles.reshape(n, n, h, w, *tiles.shape[3:])
    grid = tiles.swapaxes(1, 2).reshape(n * h, n * w, *tiles.shape[4:])
    return np.round(grid * 255).astype(np.uint8)


def axis_plane(dim: int, i: int, j: int, origin=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The plane of latent dimensions ``i`` (rightwards) and ``j`` (downwards) through ``origin`` (default 0)."""
    if not (0 <= i < dim and 0 <= j < dim) or i == j:
        raise ValueError(f"dimensions ({i}, {j}) must be two different integers in 0..{dim - 1}.")
    origin = np.zeros(dim, np.float32) if origin is None else np.asarray(origin, np.float32).copy()
    u, v = np.zeros(dim, np.float32), np.zeros(dim, np.float32)
    u[i], v[j] = 1.0, 1.0
    if origin.shape != (dim,):
        raise ValueError(f"origin has shape {origin.shape}, expected ({dim},).")
    origin[[i, j]] = 0.0  # the grid's coordinates are the two dimensions' values themselves
    return origin, u, v


def plane_through(z1, z2, z3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(origin, u, v) = (z1, z2 - z1, z3 - z1): on ``span=(0, 1)`` the grid's corners are z1 (top left),
    z2 (top right), z3 (bottom left) and z2 + z3 - z1. Three points on one line span no plane: an error."""
    z1, z2, z3 = (np.asarray(z, dtype=np.float64).ravel() for z in (z1, z2, z3))
    u, v = z2 - z1, z3 - z1
    # Gram determinant |u|²|v|² - (u·v)² = 0 exactly when u and v are parallel (or one is zero).
    gram = (u @ u) * (v @ v) - (u @ v) ** 2
    if not gram > 1e-12 * max((u @ u) * (v @ v), 1e-30):
        raise ValueError("the three items' codes lie on one line (or coincide): pick three different items.")
    return z1.astype(np.float32), u.astype(np.float32), v.astype(np.float32)


def axis_grid(model, i: int, j: int, n: int = 15, span: float = 3.0, through=None) -> np.ndarray:
    """The n×n grid over latent dimensions i (across) and j (down), through the origin or the point ``through``
    [D] (its other dimensions kept) -> uint8 [n*28, n*28]."""
    origin, u, v = axis_plane(model.code_dim, i, j, None if through is None else np.asarray(through, np.float32))
    return manifold_grid(model, origin, u, v, n=n, span=span)


ITEMS_SPAN = (-0.25, 1.25)  # a margin around the three items' corners


def items_grid(model, images, n: int = 15) -> np.ndarray:
    """The n×n grid over the plane through three images' codes (uint8 or floats, [3, 28, 28]): the first near the
    top left corner, the second near the top right, the third near the bottom left -> uint8 [n*28, n*28]."""
    origin, u, v = plane_through(*encode(model, images))
    return manifold_grid(model, origin, u, v, n=n, span=ITEMS_SPAN)


# -------------------------------------------------------------------------------------- interpolation


def interpolate(z_a, z_b, steps: int, mode: str = "linear") -> np.ndarray:
    """``steps`` points from z_a to z_b (both included) -> float32 [steps, d].

    ``linear``: (1-t) z_a + t z_b. ``slerp``: along the great circle, rescaled (Shoemake 1985; White 2016,
    "Sampling Generative Networks", for its use in latent spaces): under a Gaussian prior, codes live near a
    sphere of radius ~sqrt(d), and the straight line's midpoint falls inside it, where the decoder saw few codes.
    """
    a, b = np.asarray(z_a, dtype=np.float64).ravel(), np.asarray(z_b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"z_a and z_b have lengths {len(a)} and {len(b)}; they must be equal.")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError(f"steps == {steps!r}, must be an integer >= 2.")
    t = np.linspace(0.0, 1.0, steps)[:, None]
    if mode == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    if mode != "slerp":
        raise ValueError(f"mode == {mode!r}, must be 'linear' or 'slerp'.")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return ((1 - t) * a + t * b).astype(np.float32)  # no direction to rotate from
    omega = np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))
    if np.sin(omega) < 1e-6:  # (anti)parallel: the great circle is undefined or the path is straight
        return ((1 - t) * a + t * b).astype(np.float32)
    path = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)
    return path.astype(np.float32)


def item_path(model, images, steps: int, mode: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """The path between two images' codes (a VAE's posterior means) -> (codes float32 [steps, D], the decoded
    images float32 [steps, 28, 28] in [0, 1]). ``images``: [2, 28, 28], uint8 or floats."""
    mu = encode(model, images)
    path = interpolate(mu[0], mu[1], steps, mode)
    return path, decode(model, path)


# ------------------------------------------------------------------------------------------------ FID


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Dowson & Landau 1982; Heusel et al. 2017):
    ||mu1 - mu2||² + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^{1/2})."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (len(mu1), len(mu1)):
        raise ValueError(f"shapes do not match: mu {mu1.shape}, {mu2.shape}; sigma {s1.shape}, {s2.shape}.")
    with warnings.catch_warnings():  # dead (always-zero) features make the product singular; sqrtm copes
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():  # nudge both diagonals, as pytorch-fid does
            offset = np.eye(len(mu1)) * 1e-6
            covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        # The product of two PSD matrices has a real square root; imaginary parts are round-off.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3 * max(1.0, np.abs(covmean).max())):
            raise ValueError(f"sqrtm(sigma1 sigma2) has a large imaginary part ({np.abs(covmean.imag).max():.3g}).")
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def feature_stats(judge, images) -> tuple[np.ndarray, np.ndarray]:
    """Mean [F] and covariance [F, F] (float64) of the judge's penultimate features of ``images``: the Fashion-FID
    between two image sets is ``frechet_distance`` of their feature stats."""
    f = judge.embed(as_batch(images)).astype(np.float64)
    if len(f) < 2:
        raise ValueError(f"{len(f)} image(s): a covariance needs at least 2.")
    return f.mean(0), np.cov(f, rowvar=False)


def mean_confidence(judge, images) -> float:
    """The judge's mean top-class probability: how clearly the images look like *some* class."""
    return float(judge.predict_proba(as_batch(images)).max(1).mean())


def pca_gaussian_samples(train_images, n: int, seed: int, k: int = 10) -> np.ndarray:
    """The classical generator: fit PCA-k to ``train_images``, a Gaussian to their codes, decode n draws
    -> float32 [n, 28, 28] clipped to [0, 1]."""
    from sklearn.decomposition import PCA

    x = as_unit(train_images).reshape(len(train_images), -1)
    pca = PCA(n_components=k, random_state=seed).fit(x)
    codes = pca.transform(x)
    rng = np.random.default_rng(seed)
    draws = rng.multivariate_normal(codes.mean(0), np.cov(codes, rowvar=False), size=n)
    return np.clip(pca.inverse_transform(draws), 0, 1).reshape(n, 28, 28).astype(np.float32)


def vae_samples(vae, n: int, seed: int) -> np.ndarray:
    """n images decoded from z ~ N(0, I) (Bernoulli means) -> float32 [n, 28, 28]."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    return decode(vae, torch.randn(n, vae.code_dim, generator=gen).numpy())


def generation_quality(vae, judge, data, n: int = 10_000, seed: int = 0) -> dict:
    """Fashion-FID to the test split and mean judge confidence of: VAE prior samples, the PCA-10 Gaussian
    baseline, and ``n`` train images (the floor) -> {"rows": {name: {...}}, ...}."""
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n == {n!r}, must be an integer >= 2.")
    test = data.test.images
    rng = np.random.default_rng(seed)
    train_idx = np.sort(rng.choice(len(data.train), size=min(n, len(data.train)), replace=False))
    target = feature_stats(judge, test)
    candidates = {
        "vae": lambda: vae_samples(vae, n, seed),
        "pca_gaussian": lambda: pca_gaussian_samples(data.train.images, n, seed),
        "train": lambda: data.train.images[train_idx],
    }
    rows = {}
    for name, make in candidates.items():
        images = make()
        rows[name] = {
            "fid": frechet_distance(*feature_stats(judge, images), *target),
            "confidence": mean_confidence(judge, images),
            "images": len(images),
        }
    return {
        "n": n,
        "seed": seed,
        "test_images": len(test),
        "test_confidence": mean_confidence(judge, test),
        "rows": rows,
    }
