"""The ``train-judge`` command: train the judge through the one training loop, save it, measure what ships."""

from __future__ import annotations

import json

import numpy as np
import torch

from ..checkpoint import JUDGE, METRICS, load_judge, weights_hash
from ..judge import Judge, JudgeConfig
from ..models import TrainRecipe
from ..train import device_name, pick_device
from .train import fit_and_save

# How the shipped judge is trained: AdamW with the cosine decay to lr/100, early stopping on validation accuracy.
RECIPE = TrainRecipe(
    epochs=15,
    batch_size=128,
    lr=2e-3,
    weight_decay=1e-4,
    optimizer="adamw",
    patience=3,
    monitor="val_accuracy",
    mode="max",
    flip=True,  # random horizontal flips: every class is left-right symmetric up to the shoe's direction
    max_minutes=12.0,
)


def accuracy(model: Judge, x, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on images ``x`` [N, 1, 28, 28] in [0, 1]."""
    return float((model.predict_proba(x).argmax(1) == np.asarray(labels)).mean())


def run_train_judge(
    data_dir=None,
    root=None,
    recipe: TrainRecipe = RECIPE,
    device: str = "auto",
    limit: int | None = None,
    threads: int | None = None,
    config: JudgeConfig | None = None,
) -> dict:
    """The ``train-judge`` command: train, save (float16), reload and measure test accuracy -> metrics."""
    from ..data import load_fashion_mnist

    dev = pick_device(device)
    data = load_fashion_mnist(data_dir, download_if_missing=True)
    torch.manual_seed(recipe.seed)  # weight initialisation and dropout
    result, out = fit_and_save(
        JUDGE, Judge(config or JudgeConfig()), recipe, data, root, dev, threads, limit, labels=True
    )
    reloaded = load_judge(root)  # measure what ships: the float16-stored weights
    metrics = {
        "test_accuracy": accuracy(reloaded, data.test.tensor(), data.test.labels),
        "val_accuracy": result.history[result.best_epoch - 1]["val_accuracy"],
        "test_images": len(data.test),
        "weights_sha256": weights_hash(JUDGE, root),
    }
    (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"judge: {result.epochs_run} epochs in {result.seconds / 60:.1f} min on {device_name(dev)}, best val "
        f"accuracy {metrics['val_accuracy']:.4f} (epoch {result.best_epoch}), test accuracy "
        f"{metrics['test_accuracy']:.4f} -> {out}"
    )
    return metrics
