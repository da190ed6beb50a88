"""The ``train`` command: train autoencoders and write their checkpoints; ``fit_and_save`` serves the judge too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_model, save_checkpoint
from ..models import TrainRecipe, get_variant
from ..train import TrainResult, device_name, pick_device, provenance, train


def fit_and_save(
    name: str,
    model: nn.Module,
    recipe: TrainRecipe,
    data,
    root=None,
    device: torch.device | str = "cpu",
    threads: int | None = None,
    limit: int | None = None,
    labels: bool = False,
) -> tuple[TrainResult, Path]:
    """Train ``model`` on the recipe's seeded train/validation split of ``data.train`` (the first ``limit``
    images only, for smoke runs; ``labels``: give the model the class labels) and save it as checkpoint folder
    ``name`` with its recipe, history and provenance -> (result, folder)."""
    from ..data import train_val_split

    device = torch.device(device)
    tr, va = train_val_split(len(data.train), recipe.val_fraction, recipe.seed)
    if limit:
        tr, va = tr[:limit], va[: max(limit // 10, 1)]
    x = data.train.tensor()
    y = torch.from_numpy(data.train.labels.astype("int64")) if labels else None
    supervised = {"y_train": y[tr], "y_val": y[va]} if labels else {}
    result = train(model, x[tr], x[va], recipe, device, desc=name, **supervised)
    training = provenance(result, device, threads or torch.get_num_threads(), len(tr), len(va))
    out = save_checkpoint(
        result.model,
        name,
        root,
        recipe=dataclasses.asdict(recipe),
        training=training,
        history=result.history,
        dataset_sha256=data.sha256,
    )
    return result, out


def plan(names, epochs: int | None = None, batch_size: int | None = None, assignments=()) -> list[tuple]:
    """Each variant's (name, config, recipe, applied overrides): the registry's, with ``--epochs``,
    ``--batch-size`` and every ``--set key=value`` applied and checked, before any data is loaded."""
    from ..overrides import OverrideError, apply, parse_assignments

    sets = parse_assignments(assignments)
    sets = {**{k: str(v) for k, v in {"epochs": epochs, "batch_size": batch_size}.items() if v}, **sets}
    out = []
    for name in names:
        variant = get_variant(name)
        try:
            config, recipe, applied = apply(variant.config, variant.recipe, sets)
        except OverrideError as e:
            raise OverrideError(f"{name}: {e}") from None
        out.append((name, config, recipe, applied))
    return out


def run_training(
    names,
    data_dir=None,
    root=None,
    device: str = "auto",
    epochs: int | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    threads: int | None = None,
    assignments=(),
) -> None:
    """The ``train`` command: each variant from its registry config and recipe, with the overrides applied
    (``--epochs``, ``--batch-size``, ``--set key=value``; checked before any data is loaded)."""
    from ..data import load_fashion_mnist

    jobs = plan(names, epochs, batch_size, assignments)
    dev = pick_device(device)
    data = load_fashion_mnist(data_dir, download_if_missing=True)
    for name, config, recipe, applied in jobs:
        variant = get_variant(name)
        if applied:
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in applied.items()))
        torch.manual_seed(recipe.seed)  # weight initialisation
        model = variant.build(config)
        if recipe.init_from:
            start = load_model(recipe.init_from, root)
            if type(start) is not type(model) or start.code_dim != model.code_dim:
                raise ValueError(f"{name}: init_from={recipe.init_from!r} has another architecture.")
            model.load_state_dict(start.state_dict())
        result, out = fit_and_save(name, model, recipe, data, root, dev, threads, limit)
        best = result.history[result.best_epoch - 1]
        print(
            f"{name}: {result.epochs_run} epochs in {result.seconds / 60:.1f} min on {device_name(dev)}, "
            f"best val loss {best['val_loss']:.5g} (epoch {result.best_epoch}) -> {out}"
        )
    print("Now measure them: python -m explorer evaluate")
