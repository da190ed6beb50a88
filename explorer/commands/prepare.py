"""The ``prepare`` command: everything the dashboard shows for one run, computed once and stored in its folder.

Steps (one progress bar): the run's metrics on its dataset's test split beside PCA with as many components as the
code has numbers (``metrics.json``, keyed by the weights' hash), the test map (``projection-test.npz``: UMAP, or the
codes themselves for a 2-d code), and, for a generative run on Fashion-MNIST, generation quality judged by the
shipped judge (``generation.json``), the data-quality lists (``quality.npz``: likely mislabels, outliers,
near-duplicates over every item; ``explorer.commands.quality``) and, for a run trained with snapshots, their aligned
maps (``explorer.alignment``). Measures that need labels are marked "needs labels" on unlabelled data.

Under torchrun (``torchrun --nproc_per_node N -m explorer prepare KEY``) every process encodes its share of each
map's images (the step that grows with the data: 70,000 images with ``--all``) and rank 0 gathers the codes, then
computes the rest and writes alone; images are converted one batch at a time, so memory stays bounded.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

GENERATION_SAMPLES = 5_000  # prior samples judged per generative run (the shipped VAE's table uses 10,000)


def baseline_cache_dir() -> Path:
    """Where dataset-level baselines are kept once computed: ``$XDG_CACHE_HOME/latent-explorer/baselines``."""
    from ..data import user_cache

    return user_cache("baselines")


def cached_linear_baseline(data, components: int) -> dict:
    """``linear_baseline``, computed once per dataset content and code size (it depends on nothing else: PCA with
    a fixed seed) and kept as JSON under ``baseline_cache_dir()``; a damaged cache file is recomputed."""
    from ..checkpoint import write_json_atomic

    path = baseline_cache_dir() / f"{data.sha256}-pca{int(components)}.json"
    try:
        cached = json.loads(path.read_text())
        if isinstance(cached, dict) and cached.get("components"):
            return cached
    except (OSError, ValueError):
        pass
    out = linear_baseline(data, components)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, out)
    except OSError:  # a read-only home: computed again next time, nothing breaks
        pass
    return out


def linear_baseline(data, components: int) -> dict:
    """PCA with ``components`` components fitted on the train split: test PSNR, SSIM and precision@10 (if
    labelled), and raw-pixel precision@10: what an autoencoder's code of that size must beat."""
    from sklearn.decomposition import PCA

    from ..metrics import psnr_per_image, ssim_per_image
    from ..neighbours import precision_at_k

    x_train = data.train.images.reshape(len(data.train), -1).astype(np.float32) / 255.0
    x = data.test.images.reshape(len(data.test), -1).astype(np.float32) / 255.0
    k = max(1, min(components, *x_train.shape))
    pca = PCA(n_components=k, random_state=0).fit(x_train)
    codes = pca.transform(x)
    recon = np.clip(pca.inverse_transform(codes), 0, 1).reshape(data.test.images.shape)
    target = data.test.images.astype(np.float32) / 255.0
    out = {
        "components": k,
        "psnr": float(psnr_per_image(recon, target).mean()),
        "ssim": float(ssim_per_image(recon, target).mean()),
    }
    labels = data.test.labels
    if labels is not None and len(labels) > 10:
        out["precision_at_10"] = precision_at_k(codes, labels, 10)
        out["raw_pixels_precision_at_10"] = precision_at_k(x, labels, 10)
    return out


def make_thumbnails(key: str, split: str, data, model, root=None, force: bool = False) -> None:
    """The run's ``split`` map atlas (``explorer.atlas``), unless a current one is stored (or ``force``)."""
    from .. import atlas, projection

    path, sha = atlas.path_for(key, split, root), projection.source_sha256(key, root)
    try:
        if force:
            raise atlas.AtlasError("forced")
        atlas.load_atlas(path, sha, atlas.fix_command(key, split, root))
    except atlas.AtlasError:
        images = data.test.images if split == "test" else data.all_images
        atlas.make_atlas(key, split, images, model, root)


def sharded_codes(model, images) -> tuple[np.ndarray, np.ndarray]:
    """``encode_with_error`` of ``images`` with each process encoding its contiguous share -> the whole (codes,
    errors) on every process (one process: all of it)."""
    from .. import distributed
    from ..inference import encode_with_error

    part = distributed.shard(len(images))
    codes, mse = encode_with_error(model, images[part])
    joined = distributed.gather_rows(np.concatenate([codes, mse[:, None]], 1), len(images))
    return np.ascontiguousarray(joined[:, :-1]), np.ascontiguousarray(joined[:, -1])


def _preparable(key: str, runs):
    """Run ``key``, found; RunError unless it has a model this process can load."""
    from ..runs import RunError, find_run

    run = find_run(key, runs)
    if run.kind == "codes":
        raise RunError(f"{key} holds imported codes: `import-codes` made its map already; there is nothing to prepare.")
    if run.entry is None:
        raise RunError(
            f"{key} was trained as variant {run.variant!r}, which is not registered here: pass --plugin MODULE "
            "or install the package that provides it."
        )
    return run


def _stale(key: str, split: str, root) -> bool:
    from ..projection import ProjectionError, load_projection

    try:
        load_projection(key, split, root)
    except ProjectionError:
        return True
    return False


def run_prepare(key: str, runs=None, data_dir=None, datasets_root=None, force: bool = False, splits=("test",)) -> dict:
    """Prepare run ``key`` (a shipped variant's name or ``"<dataset>/<run>"``) -> {step: seconds}. Under torchrun
    the maps' encoding is shared out; rank 0 alone computes the rest and writes (the others return {})."""
    from tqdm import tqdm

    from .. import alignment, distributed, projection
    from ..checkpoint import JUDGE, METRICS, checkpoint_dir, load_judge, load_model, weights_hash, write_json_atomic
    from ..data import FASHION_MNIST, DatasetError
    from ..datasets import load_data
    from ..inference import as_batch
    from ..snapshots import load_frames, snapshot_files
    from .evaluate import MetricsError, evaluate_variant, load_metrics

    run = distributed.checked(lambda: _preparable(key, runs), "finding the run")
    root = None if run.shipped and "/" not in key else run.directory.parent.parent
    steps = ["model", "data", *(["encode (shared)"] if distributed.world() > 1 else []), "metrics"]
    steps += [*(f"map ({s})" for s in splits), *(f"thumbnails ({s})" for s in splits)]
    generative = run.can("generative") and run.dataset == FASHION_MNIST
    if generative:
        steps.append("generation quality")
    has_snapshots = bool(snapshot_files(run.directory))
    if has_snapshots:
        steps.append("snapshots map")
    if run.has_map:
        steps.append("data quality")
    timings: dict[str, float] = {}
    bar = tqdm(steps, desc=f"prepare {key}", unit="step", disable=not distributed.is_main())
    t = time.perf_counter()

    def done(step: str) -> None:
        nonlocal t
        timings[step] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        bar.set_postfix_str(step)
        bar.update(1)

    model = distributed.checked(lambda: load_model(key, root), "loading the model")
    done("model")
    try:
        data = distributed.checked(lambda: load_data(run.dataset, data_dir=data_dir, root=datasets_root), "data")
    except DatasetError as e:
        raise DatasetError(f"run {key} was trained on dataset {run.dataset!r}, which cannot be loaded: {e}") from e
    seen = run.read_config().get("dataset_sha256")
    if seen and seen != data.sha256 and distributed.is_main():
        tqdm.write(f"note: {key} was trained on other data than today's {run.dataset!r} (its content hash differs).")
    done("data")
    encoded = {}
    if distributed.world() > 1:  # every process encodes a share of the maps rank 0 will make; then only rank 0 goes on
        todo = distributed.broadcast_object([s for s in splits if run.has_map and (force or _stale(key, s, root))])
        for split in todo:
            encoded[split] = sharded_codes(model, projection.split_images(data, split)[0])
        if not distributed.is_main():
            bar.close()
            return {}
        done("encode (shared)")
    directory = checkpoint_dir(key, root)
    try:
        if force:
            raise MetricsError("forced")
        load_metrics(key, root)
    except (MetricsError, RuntimeError):
        x = as_batch(data.test.images, data.image_shape).numpy()
        m = evaluate_variant(key, model, x, data.test.labels, variant=run.entry)
        m |= {"run": key, "dataset": run.dataset, "weights_sha256": weights_hash(key, root)}
        m["baseline"] = cached_linear_baseline(data, model.code_dim) if run.can("decoder") else None
        write_json_atomic(directory / METRICS, m)
    done("metrics")
    for split in splits:
        try:
            if force:
                raise projection.ProjectionError("forced")
            projection.load_projection(key, split, root)
        except projection.ProjectionError:
            if run.has_map:
                projection.compute_projection(key, data, split, root, model, encoded.get(split))
        done(f"map ({split})")
    for split in splits:  # the map's hover thumbnails (sprite atlas) and clusters, beside the map
        if run.has_map:
            make_thumbnails(key, split, data, model if run.can("decoder") else None, root, force)
        done(f"thumbnails ({split})")
    if generative:
        from ..generation import generation_quality

        try:
            judge = load_judge()
        except RuntimeError as e:
            tqdm.write(f"generation quality: skipped, {e}")
        else:
            result = generation_quality(model, judge, data, GENERATION_SAMPLES, 0)
            result |= {
                "vae_weights_sha256": weights_hash(key, root),
                "judge_weights_sha256": weights_hash(JUDGE),
                "dataset_sha256": data.sha256,
            }
            write_json_atomic(directory / "generation.json", result)
        done("generation quality")
    if has_snapshots:  # the training's frames, laid out aligned (explorer.alignment); redone when they change
        frames = load_frames(run.directory)
        if frames is not None and (force or alignment.stored_layouts(run.directory, frames.epochs) is None):
            alignment.write_aligned(run.directory)
        done("snapshots map")
    if run.has_map:
        from . import quality

        try:
            if force:
                raise quality.QualityError("forced")
            stored = quality.load_quality(key, root)
            if stored.dataset_sha256 != data.sha256 or stored.k_vote != quality.q.K_VOTE:
                raise quality.QualityError("computed from other data or with other settings")
        except quality.QualityError:
            quality.compute_quality(key, data, root, model)
        done("data quality")
    bar.close()
    return timings
