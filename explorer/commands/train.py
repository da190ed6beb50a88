"""The ``train`` command: train autoencoders and write their checkpoints; ``fit_and_save`` serves the judge too."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from .. import distributed
from ..checkpoint import CheckpointError, checkpoint_dir, is_run_key, load_model, runs_root, save_checkpoint
from ..data import FASHION_MNIST
from ..models import TrainRecipe, get_variant
from ..snapshots import DEFAULT_SNAPSHOTS, check_snapshots
from ..train import TrainResult, device_name, local_batch_size, pick_device, provenance, train


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
    variant: str | None = None,
    snapshots: int | None = None,
) -> tuple[TrainResult, Path]:
    """Train ``model`` on the recipe's seeded train/validation split of ``data.train`` (the first ``limit``
    images only, for smoke runs; ``labels``: give the model the class labels) and save it as checkpoint folder
    ``name`` (a run's key ``"<dataset>/<run>"``, of registry ``variant``) with its recipe, history and provenance
    -> (result, folder). ``snapshots``: K snapshots of the latent space and a progress file written while it trains
    (``explorer.snapshots``; 0: the progress file only; None: neither, e.g. the judge)."""
    from ..data import train_val_split

    device = torch.device(device)
    tr, va = train_val_split(len(data.train), recipe.val_fraction, recipe.seed)
    if limit:
        tr, va = tr[:limit], va[: max(limit // 10, 1)]
    x = data.train.tensor()
    y = torch.from_numpy(data.train.labels.astype("int64")) if labels else None
    supervised = {"y_train": y[tr], "y_val": y[va]} if labels else {}
    # rank 0 alone records (under torchrun the other processes only train)
    record = snapshots is not None and distributed.is_main()
    recorder = recorder_for(name, model, recipe, data, root, snapshots, variant) if record else None
    if recorder is None:
        result = train(model, x[tr], x[va], recipe, device, desc=name, **supervised)
    else:
        recorder.start()
        try:
            result = train(model, x[tr], x[va], recipe, device, desc=name, on_epoch=recorder.on_epoch, **supervised)
        except KeyboardInterrupt:
            recorder.finish("stopped", [])
            raise
        except BaseException:
            recorder.finish("failed", [])
            raise
    training = provenance(result, device, threads or torch.get_num_threads(), len(tr), len(va))
    if distributed.world() > 1:
        training["processes"] = distributed.world()
    save = lambda: save_checkpoint(  # noqa: E731
        result.model,
        name,
        root,
        recipe=dataclasses.asdict(recipe),
        training=training,
        history=result.history,
        dataset_sha256=data.sha256,
        **({"variant": variant} if variant else {}),
    )
    # rank 0 alone writes; the others wait for it, so that a later step (an init_from) finds the checkpoint
    out = distributed.checked(lambda: save() if distributed.is_main() else None, f"writing {name}")
    distributed.barrier()
    if recorder is not None:
        recorder.finish("stopped" if result.interrupted else "finished", result.history)
    return result, out or run_folder(name, root)


def check_writable(directory: Path, what: str, flag: str = "--runs folder (or $LATENT_EXPLORER_RUNS)") -> None:
    """ValueError naming ``directory`` and the fix unless files can be created in it (it is made if missing): the
    check runs before any data is read, so a run never trains for nothing."""
    import tempfile

    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".write-check-"):
            pass
    except OSError as e:
        raise ValueError(
            f"cannot write {what} to {directory} ({e.strerror or e}); choose a writable {flag}, or make it writable."
        ) from None


def writable_on_main(directory: Path, what: str, *flag: str) -> None:
    """``check_writable`` on rank 0 (the writer), agreed by every rank."""
    distributed.checked(lambda: check_writable(directory, what, *flag) if distributed.is_main() else None, "run folder")


def say(*args, **kwargs) -> None:
    """``print`` on rank 0 only: one log, not one per process."""
    if distributed.is_main():
        print(*args, **kwargs)


def run_folder(name: str, root=None) -> Path:
    """Where ``save_checkpoint`` will write ``name``: a run's key under the runs root, else a checkpoint folder."""
    return Path(root or runs_root()) / name if is_run_key(name) else checkpoint_dir(name, root)


def recorder_for(name: str, model: nn.Module, recipe: TrainRecipe, data, root, snapshots: int, variant=None):
    """The ``RunRecorder`` that writes run ``name``'s snapshots and progress while it trains."""
    from ..snapshots import RunRecorder

    entry = get_variant(variant or name)
    dataset, _, run = name.rpartition("/")
    return RunRecorder(
        run_folder(name, root),
        recipe.epochs,
        data.test.images,
        snapshots=snapshots,
        generative="generative" in entry.capabilities,
        monitor=recipe.monitor,
        mode=recipe.mode,
        info={"variant": variant or name, "dataset": dataset or FASHION_MNIST, "run": run},
    )


def plan(
    names, epochs: int | None = None, batch_size: int | None = None, assignments=(), image_shape=None
) -> list[tuple]:
    """Each variant's (name, config, recipe, applied overrides): the registry's, with ``--epochs``,
    ``--batch-size`` and every ``--set key=value`` applied and checked, before any data is loaded. ``image_shape``:
    the dataset's (C, H, W), which the model takes (not a ``--set`` key: it is the data's)."""
    from ..overrides import OverrideError, apply, parse_assignments

    sets = parse_assignments(assignments)
    if "image_shape" in sets:
        raise OverrideError("--set image_shape: the image shape is the dataset's; choose the data with --dataset.")
    sets = {**{k: str(v) for k, v in {"epochs": epochs, "batch_size": batch_size}.items() if v}, **sets}
    out = []
    for name in names:
        variant = get_variant(name)
        base = variant.config
        if image_shape is not None and hasattr(base, "image_shape"):
            base = dataclasses.replace(base, image_shape=tuple(image_shape))
        try:
            config, recipe, applied = apply(base, variant.recipe, sets)
            local_batch_size(recipe.batch_size, distributed.world())
        except (OverrideError, ValueError) as e:
            raise OverrideError(f"{name}: {e}") from None
        out.append((name, config, recipe, applied))
    return out


def start_from(model: nn.Module, start: nn.Module, what: str, hint: str = "") -> None:
    """Load ``start``'s weights into ``model`` (a recipe's ``init_from``); ValueError naming ``what`` unless both
    have the same class, code size and image shape."""
    if type(start) is not type(model) or start.code_dim != model.code_dim or start.image_shape != model.image_shape:
        raise ValueError(f"{what} has another architecture{hint}.")
    model.load_state_dict(start.state_dict())


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
    snapshots: int = DEFAULT_SNAPSHOTS,
) -> None:
    """The ``train`` command: each variant from its registry config and recipe, with the overrides applied
    (``--epochs``, ``--batch-size``, ``--set key=value``; checked before any data is loaded)."""
    from ..data import load_fashion_mnist

    check_snapshots(snapshots)
    jobs = plan(names, epochs, batch_size, assignments)
    dev = pick_device(device)
    writable_on_main(checkpoint_dir(names[0], root).parent, "checkpoints", "--out folder")
    data = distributed.checked(lambda: load_fashion_mnist(data_dir, download_if_missing=True), "loading Fashion-MNIST")
    for name, config, recipe, applied in jobs:
        variant = get_variant(name)
        if applied:
            say(f"{name}: " + ", ".join(f"{k}={v}" for k, v in applied.items()))
        torch.manual_seed(recipe.seed)  # weight initialisation
        model = variant.build(config)
        if recipe.init_from:
            start = distributed.checked(lambda: load_model(recipe.init_from, root), "init_from")  # noqa: B023
            start_from(model, start, f"{name}: init_from={recipe.init_from!r}")
        result, out = fit_and_save(name, model, recipe, data, root, dev, threads, limit, snapshots=snapshots)
        best = result.history[result.best_epoch - 1]
        say(
            f"{name}: {result.epochs_run} epochs in {result.seconds / 60:.1f} min on {_where(dev)}, "
            f"best val loss {best['val_loss']:.5g} (epoch {result.best_epoch}) -> {out}"
        )
    say("Now measure them: python -m explorer evaluate")


def _where(device: torch.device) -> str:
    n = distributed.world()
    return device_name(device) + (f" × {n} processes" if n > 1 else "")


def run_key_for(dataset: str, variant: str, name: str | None) -> str:
    from ..runs import check_run_name, run_key

    return run_key(dataset, check_run_name(name or variant))


def train_run(
    dataset: str,
    variant_name: str,
    name: str | None = None,
    runs=None,
    overwrite: bool = False,
    datasets_root=None,
    data_dir=None,
    device: str = "auto",
    epochs: int | None = None,
    batch_size: int | None = None,
    limit: int | None = None,
    threads: int | None = None,
    assignments=(),
    snapshots: int = DEFAULT_SNAPSHOTS,
) -> Path:
    """``train --dataset NAME --variant V --name RUN``: one run of variant ``V`` on a dataset, written to
    ``<runs>/<dataset>/<run>/`` (refused if it exists, unless ``overwrite``). The model takes the dataset's image
    shape; every override is checked before any data is read or anything is written."""
    from ..checkpoint import CONFIG, runs_root
    from ..datasets import load_data
    from ..runs import RunError

    check_snapshots(snapshots)
    key = run_key_for(dataset, variant_name, name)
    root = Path(runs or runs_root())
    target = root / key
    if (target / CONFIG).exists() and not overwrite:
        raise RunError(f"a run {key!r} exists already ({target}); choose another --name or pass --overwrite.")
    plan([variant_name], epochs, batch_size, assignments)  # every override checked before any data is read
    dev = pick_device(device)
    writable_on_main(target if target.exists() else target.parent, f"run {key}")
    data = distributed.checked(
        lambda: load_data(dataset, data_dir=data_dir, root=datasets_root, download_if_missing=dataset == FASHION_MNIST),
        f"loading dataset {dataset!r}",
    )
    ((_, config, recipe, applied),) = plan([variant_name], epochs, batch_size, assignments, data.image_shape)
    if applied:
        say(f"{key}: " + ", ".join(f"{k}={v}" for k, v in applied.items()))
    dev = pick_device(device)
    torch.manual_seed(recipe.seed)
    model = get_variant(variant_name).build(config)
    if recipe.init_from:  # a run of the same dataset (e.g. sparse from a dense run), else the shipped one
        own = run_key_for(dataset, recipe.init_from, recipe.init_from)
        shipped = dataset == FASHION_MNIST and not (root / own / CONFIG).exists()
        start_key, start_root = (recipe.init_from, None) if shipped else (own, root)
        try:
            start = distributed.checked(lambda: load_model(start_key, start_root), "init_from")
        except CheckpointError as e:
            raise RunError(f"{key}: init_from={recipe.init_from!r} needs run {start_key!r} first ({e})") from None
        start_from(model, start, f"{key}: init_from={recipe.init_from!r}", "; --set init_from=none")
    result, out = fit_and_save(
        key, model, recipe, data, root, dev, threads, limit, variant=variant_name, snapshots=snapshots
    )
    best = result.history[result.best_epoch - 1]
    say(
        f"{key}: {result.epochs_run} epochs in {result.seconds / 60:.1f} min on {_where(dev)}, "
        f"best {recipe.monitor} {best[recipe.monitor]:.5g} (epoch {result.best_epoch}) -> {out}"
    )
    say(f"Now prepare it for the dashboard: python -m explorer prepare {key}")
    return out
