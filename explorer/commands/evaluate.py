"""The ``evaluate`` command: every variant beside the classical tool for its job, on the 10k test split, and the
generation quality of the generative variant judged by the judge.

Writes ``checkpoints/<variant>/metrics.json`` (keyed by the weights' SHA-256), ``checkpoints/baselines.json``,
``checkpoints/generation.json`` and ``checkpoints/evaluation.md`` (the table the README shows; the markdown is
written by ``explorer.report``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import report
from ..checkpoint import (
    JUDGE,
    METRICS,
    CheckpointError,
    checkpoint_dir,
    default_root,
    is_run_key,
    load_judge,
    load_model,
    read_json,
    read_json_or_fix,
    weights_hash,
)
from ..inference import as_batch, encode, reconstruct
from ..metrics import adaptive_median, code_entropy_bytes, code_sparsity, median3, psnr_per_image, ssim_per_image
from ..models import VARIANTS, get_variant, variants_with
from ..neighbours import precision_at_k

NOISE_AMOUNT = 0.2
NOISE_SEED = 1234  # the fixed noise every denoiser and baseline is measured on
ELBO_SEED = 0
BASELINES = "baselines.json"
GENERATION = "generation.json"

# The bars the shipped checkpoints must meet; tests and the table read them from here.
BARS = {
    "dense": {"psnr": 20.0, "precision_at_10": 0.757},
    "sparse": {"sparsity": 0.50},
    "vae": {"neg_elbo": 240.0},
}
# A variant fine-tuned from another (its recipe's init_from: sparse from dense) must stay within 1 dB of it
# and cut its 8-bit code entropy to 60 %: what the fine-tuning is for.
FINE_TUNE_PSNR_DROP, FINE_TUNE_ENTROPY_FRACTION = 1.0, 0.6
# Met by the tutorial's denoiser or its improved sibling (adaptive median + 1 dB).
DENOISE_BARS = {"denoise_psnr": 21.25, "denoise_ssim": 0.88}
LOWER_IS_BETTER = frozenset({"neg_elbo", "code_entropy_bytes"})


class MetricsError(RuntimeError):
    """metrics.json or baselines.json is missing or stale; the message names the command."""


def noisy_test_images(images01: np.ndarray, amount: float = NOISE_AMOUNT, seed: int = NOISE_SEED) -> np.ndarray:
    """The fixed salt-and-pepper noise every denoiser and baseline is measured on (same shape, float32)."""
    from ..data import salt_and_pepper

    return salt_and_pepper(images01, amount, np.random.default_rng(seed)).astype(np.float32)


def quality(pred: np.ndarray, target: np.ndarray) -> dict[str, float]:
    return {"psnr": float(psnr_per_image(pred, target).mean()), "ssim": float(ssim_per_image(pred, target).mean())}


def evaluate_variant(name: str, model, x: np.ndarray, labels: np.ndarray | None, variant=None) -> dict:
    """All measures of one model on images ``x`` float32 [N, C, H, W] in [0, 1]. ``variant``: its registry entry
    (default: the one named ``name``); ``labels`` None: the measures that need labels are marked, never faked."""
    import torch

    variant = variant or get_variant(name)
    t0 = time.perf_counter()
    target = x[:, 0] if x.shape[1] == 1 else x  # what reconstruct returns: greyscale without its channel axis
    m = {"variant": variant.name, "split": "test", "images": len(x), **quality(reconstruct(model, x), target)}
    if variant.can("decoder"):  # neighbours in a code that does not determine the output would mean little
        codes = encode(model, x)
        if labels is None:
            m["needs_labels"] = ["precision_at_10"]
        elif len(codes) <= 10:  # ten neighbours need eleven items
            m["not_measured"] = {"precision_at_10": f"needs more than 10 test images, the split has {len(codes)}"}
        else:
            m["precision_at_10"] = precision_at_k(codes, labels, 10)
        if model.code_range is not None:  # a bounded code: how many entries are ~0, and its bits at 8-bit levels
            lo, hi = (np.full(codes.shape[1], v) for v in model.code_range)
            m["sparsity"] = code_sparsity(codes)
            m["code_entropy_bytes"] = code_entropy_bytes(codes, 8, lo=lo, hi=hi)
    if variant.can("denoiser"):
        q = quality(reconstruct(model, noisy_test_images(x)), target)
        m["denoise_psnr"], m["denoise_ssim"] = q["psnr"], q["ssim"]
        m["noise_amount"] = NOISE_AMOUNT
    if variant.can("generative"):
        gen = torch.Generator().manual_seed(ELBO_SEED)
        with torch.no_grad():
            terms = [model.loss(torch.from_numpy(x[i : i + 1000]), generator=gen) for i in range(0, len(x), 1000)]
        w = [min(1000, len(x) - i) for i in range(0, len(x), 1000)]
        for key, out in (("neg_elbo", "neg_elbo"), ("nll", "nll"), ("kl", "kl")):
            m[out] = float(np.average([float(t[key]) for t in terms], weights=w))
    m["seconds"] = round(time.perf_counter() - t0, 1)
    return m


def evaluate_baselines(data) -> dict:
    """PCA-10/32 reconstruction, raw-pixel and PCA-10 precision@10, noisy input and median filters."""
    from sklearn.decomposition import PCA

    x_train = data.train.images.reshape(len(data.train), -1).astype(np.float32) / 255.0
    x = data.test.images.reshape(len(data.test), -1).astype(np.float32) / 255.0
    out: dict = {"dataset_sha256": data.sha256}
    for k in (10, 32):
        pca = PCA(n_components=k, random_state=0).fit(x_train)
        codes = pca.transform(x)
        recon = pca.inverse_transform(codes).reshape(-1, 28, 28)  # per image, as for the autoencoders
        out[f"pca{k}"] = {
            **quality(recon, x.reshape(-1, 28, 28)),
            "precision_at_10": precision_at_k(codes, data.test.labels),
        }
    out["raw_pixels"] = {"precision_at_10": precision_at_k(x, data.test.labels)}
    noisy = noisy_test_images(x.reshape(-1, 28, 28))
    clean = x.reshape(-1, 28, 28)
    out["noisy_input"] = quality(noisy, clean)
    out["median3"] = quality(median3(noisy), clean)
    out["adaptive_median"] = quality(adaptive_median(noisy), clean)
    return out


def metrics_command(name: str) -> str:
    """The command that measures checkpoint ``name``: ``evaluate`` for a shipped variant, ``prepare`` for a run."""
    return f"python -m explorer prepare {name}" if is_run_key(name) else f"python -m explorer evaluate --variant {name}"


def load_metrics(name: str, root=None) -> dict:
    """The variant's (or run's) metrics.json, if it describes the current weights."""
    path = checkpoint_dir(name, root) / METRICS
    fix = f"Measure it with `{metrics_command(name)}`."
    if not path.is_file():
        raise MetricsError(f"{path} is missing. {fix}")
    try:
        m = read_json(path, name)
    except CheckpointError as e:
        raise MetricsError(f"{e} {fix}") from e
    if m.get("weights_sha256") != weights_hash(name, root):
        raise MetricsError(f"{path} was measured on other weights than the current checkpoint. {fix}")
    return m


def load_baselines(root=None) -> dict:
    return read_json_or_fix(Path(root or default_root()) / BASELINES, "python -m explorer evaluate", MetricsError)


def _bar(measure: str, value: float, bar: float) -> tuple[str, float, str, float]:
    return measure, value, "<=" if measure in LOWER_IS_BETTER else ">=", bar


def check_bars(metrics: dict[str, dict]) -> dict[str, list[tuple[str, float, str, float, bool]]]:
    """Each bar as (measure, value, op, bar, met), grouped by the variant that must meet it."""
    out: dict[str, list] = {}
    for name, m in metrics.items():
        rows = [_bar(k, m[k], b) for k, b in BARS.get(name, {}).items()]
        start = metrics.get(get_variant(name).recipe.init_from)
        if start is not None:
            rows.append(_bar("psnr", m["psnr"], start["psnr"] - FINE_TUNE_PSNR_DROP))
            if "code_entropy_bytes" in m and "code_entropy_bytes" in start:
                bar = FINE_TUNE_ENTROPY_FRACTION * start["code_entropy_bytes"]
                rows.append(_bar("code_entropy_bytes", m["code_entropy_bytes"], bar))
        if rows:
            out[name] = rows
    denoisers = {n: m for n, m in metrics.items() if "denoise_psnr" in m}
    if denoisers:
        best = max(denoisers, key=lambda n: denoisers[n]["denoise_psnr"])
        out[best] = out.get(best, []) + [_bar(k, denoisers[best][k], b) for k, b in DENOISE_BARS.items()]
    return {n: [(k, v, op, b, v >= b if op == ">=" else v <= b) for k, v, op, b in rows] for n, rows in out.items()}


# ------------------------------------------------------------------------------------------ generation


def generator_variant() -> str:
    """The variant whose prior samples generation.json measures: the first generative one."""
    return variants_with("generative")[0]


def run_generation_quality(root=None, data_dir=None, n: int = 10_000, seed: int = 0) -> dict:
    """Measure generation quality with the shipped generative variant and the judge; write ``<root>/generation.json``
    and return it. Raises CheckpointError (naming the command that fixes it) when either is missing."""
    from ..data import load_fashion_mnist
    from ..generation import generation_quality

    name = generator_variant()
    vae, judge = load_model(name, root), load_judge(root)
    data = load_fashion_mnist(data_dir)
    t0 = time.perf_counter()
    result = generation_quality(vae, judge, data, n, seed)
    result |= {
        "seconds": round(time.perf_counter() - t0, 1),
        "vae_weights_sha256": weights_hash(name, root),
        "judge_weights_sha256": weights_hash(JUDGE, root),
        "dataset_sha256": data.sha256,
    }
    path = Path(root or default_root()) / GENERATION
    path.write_text(json.dumps(result, indent=2) + "\n")
    return result


def load_generation(root=None) -> dict:
    """``<root>/generation.json`` if it was measured with the current generative variant's and judge's weights,
    else CheckpointError naming the command."""
    name = generator_variant()
    path = Path(root or default_root()) / GENERATION
    command = f"python -m explorer evaluate --variant {name}"
    result = read_json_or_fix(path, command)
    current = (weights_hash(name, root), weights_hash(JUDGE, root))
    if (result.get("vae_weights_sha256"), result.get("judge_weights_sha256")) != current:
        raise CheckpointError(f"{path} was measured with other {name} or judge weights. Measure it with `{command}`.")
    return result


def load_run_generation(key: str, root=None) -> dict:
    """A generative run's ``generation.json`` (written by ``prepare``) if measured with its current weights and the
    current judge, else CheckpointError naming the command."""
    from ..runs import prepare_command

    path = checkpoint_dir(key, root) / GENERATION
    command = prepare_command(key)
    result = read_json_or_fix(path, command)
    current = (weights_hash(key, root), weights_hash(JUDGE))
    if (result.get("vae_weights_sha256"), result.get("judge_weights_sha256")) != current:
        raise CheckpointError(f"{path} was measured with other weights of {key} or the judge. Remeasure: `{command}`.")
    return result


def evaluate_generation(names, data_dir=None, root=None, n: int = 10_000) -> dict | None:
    """Generation quality: measured again when the generative variant is among ``names`` (writing generation.json),
    else the stored, still-current result; None (with a note printed) when it cannot be had."""
    try:
        return run_generation_quality(root, data_dir, n=n) if generator_variant() in names else load_generation(root)
    except CheckpointError as e:
        print(f"generation quality: skipped, {e}")
        return None


# ---------------------------------------------------------------------------------------------- command


def run_evaluation(names, data_dir=None, root=None, quick=False, readme: Path | None = None) -> dict:
    """The ``evaluate`` command: measure ``names`` (and the baselines, unless stored or ``quick``), write the
    artefacts and the evaluation table (and the README's evaluation and training sections, given ``readme``)."""
    from tqdm import tqdm

    from ..data import load_fashion_mnist

    root_path = Path(root or default_root())
    data = load_fashion_mnist(data_dir)
    x = as_batch(data.test.images).numpy()
    metrics: dict[str, dict] = {}
    for name in tqdm(names, desc="evaluate", unit="variant"):
        try:
            model = load_model(name, root)
        except CheckpointError as e:
            tqdm.write(f"{name}: skipped, {e}")
            continue
        m = evaluate_variant(name, model, x, data.test.labels) | {"weights_sha256": weights_hash(name, root)}
        (checkpoint_dir(name, root) / METRICS).write_text(json.dumps(m, indent=2) + "\n")
        metrics[name] = m
    try:
        base = load_baselines(root)
        if base.get("dataset_sha256") != data.sha256:
            raise MetricsError("baselines from other data")
    except MetricsError:
        base = {} if quick else evaluate_baselines(data)
        if base:
            (root_path / BASELINES).write_text(json.dumps(base, indent=2) + "\n")
    for name in set(VARIANTS) - set(metrics):  # keep the table whole when evaluating a subset
        try:
            metrics[name] = load_metrics(name, root)
        except (MetricsError, CheckpointError):
            pass
    ordered = {n: metrics[n] for n in VARIANTS if n in metrics}
    table = report.render_table(ordered, base, check_bars(ordered), NOISE_AMOUNT)
    generation = evaluate_generation(names, data_dir, root)
    if generation is not None:
        table += report.render_generation_section(generation)
    (root_path / "evaluation.md").write_text(table)
    print(table)
    if readme is not None and report.update_readme(table, readme):
        report.update_readme(report.render_training_table(root), readme, "training")
        print(f"updated the evaluation and training tables in {readme}")
    return ordered
