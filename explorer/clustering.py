"""Clustering an autoencoder's codes: DEC, N2D and k-means; ACC and NMI; a registry of the methods by name.

- DEC (Xie, Girshick & Farhadi 2016, "Unsupervised Deep Embedding for Clustering Analysis"): soft
  assignments q from a Student-t kernel around k centroids, a sharpened target p = q²/f normalised,
  and the encoder and centroids trained on KL(p || q); centroids start from k-means on the codes.
- N2D (McConville et al. 2020, "N2D: (Not Too) Deep Clustering via Clustering the Local Manifold of
  an Autoencoded Embedding"): UMAP of the codes to k dimensions (min_dist 0), then a Gaussian mixture.

``METHODS`` names every method the ``cluster`` command runs (``explorer.commands.cluster``); ``lookup`` also
resolves ``n2d_<variant>``, N2D on that variant's codes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from . import inference

K = 10
N2D_PARAMS = {"n_components": 10, "n_neighbors": 20, "min_dist": 0.0, "metric": "euclidean"}
N2D_PREFIX = "n2d_"  # "n2d_<variant>": N2D on that variant's codes; plain "n2d" on the command's --encoder's


# ------------------------------------------------------------------------------------------- metrics


def _check_labellings(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape or t.ndim != 1 or len(t) == 0:
        raise ValueError(f"labellings of shapes {t.shape} and {p.shape}: need two equal-length 1-d arrays.")
    if not (np.issubdtype(t.dtype, np.integer) and np.issubdtype(p.dtype, np.integer)) or t.min() < 0 or p.min() < 0:
        raise ValueError("labellings must be non-negative integers.")
    return t.astype(np.int64), p.astype(np.int64)


def contingency(y_true, y_pred) -> np.ndarray:
    """counts [n_clusters, n_classes]: how many items of each class each cluster holds."""
    t, p = _check_labellings(y_true, y_pred)
    m = np.zeros((p.max() + 1, t.max() + 1), dtype=np.int64)
    np.add.at(m, (p, t), 1)
    return m


def max_assignment(weights) -> tuple[np.ndarray, np.ndarray]:
    """The one-to-one row -> column matching of largest total weight: (rows, cols), rows ascending.

    The Hungarian algorithm with potentials (O(n² m)), as ``scipy.optimize.linear_sum_assignment(w,
    maximize=True)`` gives it; here so that a page that matches 10 clusters to 10 classes need not import
    scipy.optimize (0.3 s). Every row is matched when rows <= columns, else every column.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"weights of shape {w.shape}: need a 2-d matrix.")
    flip = w.shape[0] > w.shape[1]
    cost = -(w.T if flip else w)  # rows <= columns from here on; minimise
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # owner[j]: the 1-based row matched to column j, 0 for none
    way = np.zeros(m + 1, dtype=np.int64)
    for i in range(1, n + 1):
        owner[0], j0 = i, 0
        slack, used = np.full(m + 1, np.inf), np.zeros(m + 1, dtype=bool)
        while owner[j0] != 0:
            used[j0] = True
            i0 = owner[j0]
            reduced = cost[i0 - 1] - u[i0] - v[1:]
            better = ~used[1:] & (reduced < slack[1:])
            slack[1:][better], way[1:][better] = reduced[better], j0
            free = np.flatnonzero(~used[1:]) + 1
            j1 = free[np.argmin(slack[free])]
            delta = slack[j1]
            u[owner[used]] += delta
            v[used] -= delta
            slack[~used] -= delta
            j0 = j1
        while j0 != 0:
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    cols = np.flatnonzero(owner[1:])
    rows = owner[1:][cols] - 1
    if flip:
        rows, cols = cols, rows
    order = np.argsort(rows)
    return rows[order], cols[order]


def cluster_to_class(y_true, y_pred) -> dict[int, int]:
    """The one-to-one cluster -> class matching that maximises agreement (Hungarian algorithm)."""
    rows, cols = max_assignment(contingency(y_true, y_pred))
    return {int(r): int(c) for r, c in zip(rows, cols, strict=True)}


def cluster_accuracy(y_true, y_pred) -> float:
    """Unsupervised accuracy: the fraction of items right under the best one-to-one cluster -> class map."""
    m = contingency(y_true, y_pred)
    rows, cols = max_assignment(m)
    return float(m[rows, cols].sum() / m.sum())


def nmi(y_true, y_pred) -> float:
    """Normalised mutual information (sklearn, arithmetic mean normalisation, as DEC and N2D report it)."""
    from sklearn.metrics import normalized_mutual_info_score

    t, p = _check_labellings(y_true, y_pred)
    return float(normalized_mutual_info_score(t, p))


def scores(y_true, y_pred) -> dict[str, float]:
    return {"acc": cluster_accuracy(y_true, y_pred), "nmi": nmi(y_true, y_pred)}


# --------------------------------------------------------------------------------------------- k-means


def kmeans(features: np.ndarray, k: int = K, seed: int = 0, n_init: int = 20):
    """sklearn KMeans -> (assignments int64 [N], centroids [k, D])."""
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(np.asarray(features, dtype=np.float64))
    return km.labels_.astype(np.int64), km.cluster_centers_


# ------------------------------------------------------------------------------------------------- DEC


def soft_assignment(z, centroids, alpha: float = 1.0):
    """Student-t kernel (DEC eq. 1): z [N, D], centroids [k, D] -> q [N, k], rows summing to 1."""
    d2 = ((z[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    q = (1.0 + d2 / alpha) ** (-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q):
    """DEC eq. 3: p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j'), with f_j = Σ_i q_ij the soft cluster sizes."""
    w = q**2 / q.sum(0)
    return w / w.sum(1, keepdim=True)


@dataclass
class DECResult:
    assignments: np.ndarray  # int64 [N]: argmax of the final q
    init_assignments: np.ndarray  # int64 [N]: k-means on the codes before fine-tuning
    centroids: np.ndarray  # float32 [k, D] in the (scaled) embedding
    scale: float  # codes were multiplied by this before the kernel (see dec())
    iterations: int
    stopped: str  # "converged", "time" or "iterations"
    seconds: float
    history: list[dict] = field(default_factory=list)


def _embed(net, x):
    """The encoder being fine-tuned, over all of x without gradients -> tensor [N, D]."""
    import torch

    return torch.from_numpy(inference.batched(net, x, batch_size=2048))


def dec(
    encoder,
    x,
    k: int = K,
    *,
    seed: int = 0,
    alpha: float = 1.0,
    batch_size: int = 256,
    lr: float = 0.01,
    momentum: float = 0.9,
    update_interval: int = 140,
    tol: float = 0.001,
    max_iterations: int = 20_000,
    max_seconds: float | None = None,
    n_init: int = 20,
    progress=None,
) -> DECResult:
    """Deep Embedded Clustering of ``x`` [N, ...] with a copy of ``encoder`` (an nn.Module x -> z [N, D]).

    The caller's encoder is not changed. Hyper-parameters are the paper's (SGD 0.01, momentum 0.9,
    batch 256, target refreshed every ``update_interval`` iterations, stop when fewer than ``tol`` of
    the assignments change between refreshes). The Student-t kernel is not scale-free, and a
    sigmoid code lies in (0, 1)^D where every q would be nearly uniform: the codes are multiplied by
    one fixed scalar, 1 / (their overall standard deviation), before the kernel.
    ``progress``: an optional tqdm-like object, advanced once per iteration.
    """
    import torch

    if k < 2 or k > len(x):
        raise ValueError(f"k == {k}, must be in [2, {len(x)}].")
    if update_interval < 1 or batch_size < 1:
        raise ValueError(f"update_interval == {update_interval}, batch_size == {batch_size}: both must be >= 1.")
    t0 = time.perf_counter()
    net = copy.deepcopy(encoder).train()
    z0 = _embed(net, x)
    scale = float(1.0 / z0.std().clamp_min(1e-8))
    init, centres = kmeans((z0 * scale).numpy(), k, seed, n_init)
    mu = torch.nn.Parameter(torch.tensor(centres, dtype=torch.float32))
    opt = torch.optim.SGD([*net.parameters(), mu], lr=lr, momentum=momentum)
    gen = torch.Generator().manual_seed(seed)
    n = len(x)
    order, pos = torch.randperm(n, generator=gen), 0
    previous, p, history, stopped, it = init, None, [], "iterations", 0
    for it in range(max_iterations + 1):
        out_of_time = max_seconds is not None and time.perf_counter() - t0 > max_seconds
        if it % update_interval == 0 or out_of_time or it == max_iterations:
            with torch.no_grad():
                q_all = soft_assignment(_embed(net, x) * scale, mu, alpha)
            p = target_distribution(q_all)
            labels = q_all.argmax(1).numpy().astype(np.int64)
            delta = float((labels != previous).mean())
            history.append({"iteration": it, "changed": delta, "seconds": round(time.perf_counter() - t0, 1)})
            previous = labels
            if it > 0 and delta < tol:
                stopped = "converged"
                break
            if out_of_time:
                stopped = "time"
                break
        if it == max_iterations:
            break
        if pos + batch_size > n:
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + batch_size]
        pos += batch_size
        q = soft_assignment(net(x[idx]) * scale, mu, alpha)
        loss = torch.nn.functional.kl_div(q.log(), p[idx], reduction="batchmean")  # KL(P || Q), DEC eq. 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        if progress is not None:
            progress.update(1)
            progress.set_postfix_str(f"loss {loss.item():.4f}, changed {history[-1]['changed']:.4f}")
    centroids = mu.detach().numpy().astype(np.float32)
    return DECResult(previous, init, centroids, scale, it, stopped, round(time.perf_counter() - t0, 1), history)


class EncodeOnly(nn.Module):
    """An autoencoder seen as its encoder: forward(x) = model.encode(x) (the module dec() fine-tunes)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model.encode(x)


# ------------------------------------------------------------------------------------------------- N2D


def umap_embed(codes: np.ndarray, seed: int = 0, verbose: bool = False, **params) -> np.ndarray:
    """UMAP of codes [N, D] with N2D's parameters (overridable) -> float32 [N, n_components]."""
    import umap

    p = {**N2D_PARAMS, **params}
    return umap.UMAP(random_state=seed, verbose=verbose, **p).fit_transform(np.asarray(codes)).astype(np.float32)


def gmm(features: np.ndarray, k: int = K, seed: int = 0, n_init: int = 1) -> np.ndarray:
    """A full-covariance Gaussian mixture -> assignments int64 [N]."""
    from sklearn.mixture import GaussianMixture

    g = GaussianMixture(n_components=k, covariance_type="full", random_state=seed, n_init=n_init)
    return g.fit(features).predict(features).astype(np.int64)


def n2d(codes: np.ndarray, k: int = K, seed: int = 0, verbose: bool = False, **umap_params):
    """N2D: UMAP of the codes to k dims (n_neighbors 20, min_dist 0), then a GMM -> (assignments, embedding)."""
    emb = umap_embed(codes, seed, verbose, **{"n_components": k, **umap_params})
    return gmm(emb, k, seed), emb


# -------------------------------------------------------------------------------------------- methods


@dataclass(frozen=True)
class Settings:
    """What a run gives every method; each takes the fields it uses."""

    k: int = K
    seed: int = 0
    umap: dict = field(default_factory=lambda: dict(N2D_PARAMS))  # N2D's UMAP parameters for these codes
    max_seconds: float | None = None  # DEC's time budget
    verbose: bool = False
    progress: object = None  # a tqdm-like bar that iterative methods advance


@dataclass(frozen=True)
class Method:
    """A clustering method: ``fit(x, settings) -> (assignments int64 [N], info dict for clustering.json)``.

    ``takes`` names x: "pixels" (images uint8 [N, 28, 28]), "codes" (a model's codes [N, D]) or "model"
    (``(autoencoder, images)``: the method fine-tunes a copy of the encoder). ``what`` describes it in one line;
    ``{encoder}`` stands for the variant whose codes it clusters.
    """

    fit: Callable[..., tuple[np.ndarray, dict]]
    takes: str
    what: str


def _kmeans_pca10(images, s: Settings):
    from sklearn.decomposition import PCA

    flat = inference.as_unit(images).reshape(len(images), -1)
    return kmeans(PCA(n_components=10, random_state=s.seed).fit_transform(flat), s.k, s.seed)[0], {}


def _kmeans_codes(codes, s: Settings):
    return kmeans(codes, s.k, s.seed)[0], {}


def _n2d_codes(codes, s: Settings):
    umap_params = {k: v for k, v in s.umap.items() if k != "n_components"}  # N2D embeds in k dimensions
    assign, _ = n2d(codes, s.k, s.seed, verbose=s.verbose, **umap_params)
    return assign, {"umap": s.umap}


def _dec_model(model_and_images, s: Settings):
    model, images = model_and_images
    x = inference.as_batch(images)
    r = dec(EncodeOnly(model), x, s.k, seed=s.seed, max_seconds=s.max_seconds, progress=s.progress)
    # "init" is the labelling DEC started from (k-means on the codes): the command stores its scores
    info = {
        "iterations": r.iterations,
        "stopped": r.stopped,
        "init": r.init_assignments,
        "scale": r.scale,
        "history": r.history,
    }
    return r.assignments, info


METHODS: dict[str, Method] = {
    "kmeans_pca10": Method(_kmeans_pca10, "pixels", "k-means (n_init 20) on PCA-10"),
    "kmeans_ae": Method(_kmeans_codes, "codes", "k-means on the {encoder} codes"),
    "n2d": Method(_n2d_codes, "codes", "UMAP of the {encoder} codes + GMM"),
    "dec": Method(_dec_model, "model", "DEC fine-tuning of the encoder"),
}


def lookup(name: str) -> tuple[Method, str | None]:
    """A method's name -> (the method, the variant its name asks for: ``n2d_<variant>`` -> variant, else None)."""
    if name in METHODS:
        return METHODS[name], None
    if name.startswith(N2D_PREFIX) and name != N2D_PREFIX:
        return METHODS["n2d"], name.removeprefix(N2D_PREFIX)
    choices = ", ".join([*METHODS, f"{N2D_PREFIX}<variant>"])
    raise ValueError(f"unknown clustering method {name!r}; choose from {choices}.")


# ---------------------------------------------------------------------------------------------- summaries


def cluster_summary(y_true, y_pred) -> list[dict]:
    """Per cluster, ordered by its matched class: size, matched class, share of that class in the cluster."""
    from .data import CLASS_NAMES

    m = contingency(y_true, y_pred)
    match = cluster_to_class(y_true, y_pred)
    out = []
    for c in range(m.shape[0]):
        size = int(m[c].sum())
        if size == 0:
            continue
        top = int(m[c].argmax())
        cls = match.get(c, top)
        out.append(
            {
                "cluster": c,
                "size": size,
                "class": cls,
                "class_name": CLASS_NAMES[cls],
                "purity": float(m[c, cls] / size),
                "top_class": CLASS_NAMES[top],
            }
        )
    return sorted(out, key=lambda r: (r["class"], -r["size"]))


def samples_per_cluster(assignments: np.ndarray, per_cluster: int = 12, seed: int = 0) -> dict[int, np.ndarray]:
    """A seeded random sample of row indices for every non-empty cluster."""
    rng = np.random.default_rng(seed)
    out = {}
    for c in np.unique(assignments):
        rows = np.flatnonzero(assignments == c)
        out[int(c)] = np.sort(rng.choice(rows, min(per_cluster, len(rows)), replace=False))
    return out
