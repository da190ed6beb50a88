"""One trainer for every model: Adam(W), cosine schedule, early stopping on a monitored validation measure.

A model only has to offer ``loss(x, y=None, generator=None) -> {"loss": ..., other logged terms}``: the
autoencoders (labels unused, early stopping on the lowest validation loss) and the judge (a classifier,
early stopping on the highest validation accuracy) train through the same loop; their ``TrainRecipe``s
say how. ``provenance`` is the one description of a run that checkpoints store.

Under torchrun (``explorer.distributed``) the same loop trains a DistributedDataParallel copy per process. The
recipe's ``batch_size`` is the *global* batch: each of N processes takes ``batch_size / N`` images per step from
its DistributedSampler share, and DDP averages the gradients, so a step sees the same number of images, the
learning rate means the same and an epoch has the same number of steps whatever N is. Losses are summed over
all ranks, so every rank logs and early-stops on the same numbers; rank 0 takes the stop decisions.
"""

from __future__ import annotations

import copy
import math
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import distributed
from .models import TrainRecipe

VAL_BATCH = 1024  # validation batch: only memory, not the result, depends on it


@dataclass
class TrainResult:
    model: nn.Module  # holding the best epoch's weights, in eval mode
    history: list[dict]
    best_epoch: int
    epochs_run: int
    seconds: float
    interrupted: bool = False  # Ctrl-C ended it early


def pick_device(device: str = "auto") -> torch.device:
    """``--device``: auto (CUDA where torch sees it, else CPU), cpu or cuda; under torchrun a CUDA process takes the
    GPU of its local rank."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"--device == {device!r}, must be auto, cpu or cuda.")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu (or auto).")
    if device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", distributed.local_rank() % torch.cuda.device_count())


def cosine_schedule(total_steps: int):
    """The learning-rate factor at step s: from 1 down to 1/100 over ``total_steps`` by half a cosine."""
    return lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))


@torch.no_grad()
def evaluate_loss(model: nn.Module, x: torch.Tensor, batch_size: int, seed: int, y=None) -> dict[str, float]:
    """Mean of each loss term over ``x`` (labels ``y`` for a supervised model), in eval mode, with fixed noise
    so that epochs compare."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    totals: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        xb, yb = x[i : i + batch_size], None if y is None else y[i : i + batch_size]
        for k, v in model.loss(xb, yb, generator=gen).items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(xb)
    return {k: v / len(x) for k, v in totals.items()}


@torch.no_grad()
def _sharded_val_loss(model: nn.Module, x: torch.Tensor, seed: int, y=None) -> dict[str, float]:
    """``evaluate_loss`` over all ranks: each measures its share of ``x`` and the sums are added -> the same means
    on every rank (one process: exactly ``evaluate_loss``)."""
    if distributed.world() == 1:
        return evaluate_loss(model, x, VAL_BATCH, seed, y)
    part = distributed.shard(len(x))
    xs, ys = x[part], None if y is None else y[part]
    terms = evaluate_loss(model, xs, VAL_BATCH, seed + distributed.rank(), ys) if len(xs) else {}
    keys = distributed.broadcast_object(list(terms))  # rank 0 always has a share
    sums = distributed.all_sum([terms.get(k, 0.0) * len(xs) for k in keys] + [len(xs)])
    return {k: v / sums[-1] for k, v in zip(keys, sums[:-1], strict=True)}


class _LossOf(nn.Module):
    """``model.loss`` as a module's ``forward``: DistributedDataParallel averages gradients only through forward."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x, y, generator):
        return self.model.loss(x, y, generator=generator)


def _has_unused_parameters(model: nn.Module, x: torch.Tensor, y) -> bool:
    """Whether some trainable parameter gets no gradient from ``model.loss`` (DDP must then be told); the probe
    leaves the weights, buffers and gradients as they were."""
    state = copy.deepcopy(model.state_dict())
    model.train()
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # dropout draws from the global generator: leave it untouched
        model.loss(x, y, generator=torch.Generator(device=x.device).manual_seed(0))["loss"].backward()
    unused = any(p.requires_grad and p.grad is None for p in model.parameters())
    model.zero_grad(set_to_none=True)
    model.load_state_dict(state)
    return unused


def _wrap(model: nn.Module, x: torch.Tensor, y, device: torch.device) -> nn.Module:
    """``model.loss`` as a module, in DistributedDataParallel under torchrun."""
    net = _LossOf(model)
    if distributed.world() == 1:
        return net
    from torch.nn.parallel import DistributedDataParallel

    unused = _has_unused_parameters(model, x[:2], None if y is None else y[:2])
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids, find_unused_parameters=unused)


def local_batch_size(batch_size: int, world: int) -> int:
    """Each process's share of the global ``batch_size``; ValueError unless it divides evenly."""
    if batch_size % world:
        fits = batch_size - batch_size % world or world
        raise ValueError(
            f"--batch-size {batch_size} is the global batch and must split evenly over the {world} processes: "
            f"use a multiple of {world}, e.g. --batch-size {fits}."
        )
    return batch_size // world


def _optimizer(model: nn.Module, recipe: TrainRecipe) -> torch.optim.Optimizer:
    make = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[recipe.optimizer]
    return make(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)


def train(
    model: nn.Module,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    recipe: TrainRecipe,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "train",
    *,
    y_train: torch.Tensor | None = None,
    y_val: torch.Tensor | None = None,
    on_epoch: Callable[[int, nn.Module, list[dict]], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``x_train`` [N, 1, 28, 28] (with labels ``y_train`` [N] if its loss needs them),
    early stopping on ``recipe.monitor`` measured on ``x_val``; the best epoch's weights are kept. ``on_epoch(epoch,
    model, history)`` is called after each epoch's validation (snapshots, progress files)."""
    from tqdm import tqdm

    if (y_train is None) != (y_val is None):
        raise ValueError("give both y_train and y_val (a supervised model), or neither.")
    device = torch.device(device)
    # channels_last speeds up the convolutions ~1.3x on CPU; a no-op for the MLPs.
    cl = torch.channels_last
    model = model.to(device, memory_format=cl)
    x_train, x_val = x_train.to(device, memory_format=cl), x_val.to(device, memory_format=cl)
    if y_train is not None:
        y_train, y_val = y_train.to(device), y_val.to(device)
    world, rank = distributed.world(), distributed.rank()
    batch = local_batch_size(recipe.batch_size, world)
    net = _wrap(model, x_train, y_train, device)
    sampler = None
    if world > 1:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(len(x_train)), world, rank, shuffle=True, seed=recipe.seed)
    opt = _optimizer(model, recipe)
    total_steps = math.ceil((len(sampler) if sampler else len(x_train)) / batch) * recipe.epochs
    factor = cosine_schedule(total_steps) if recipe.schedule == "cosine" else (lambda s: 1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    gen = torch.Generator(device=device).manual_seed(recipe.seed + rank)  # the model's noise: its own per rank
    shuffle_gen = torch.Generator().manual_seed(recipe.seed)
    sign = 1.0 if recipe.mode == "min" else -1.0  # compare sign * value: lower is better

    history: list[dict] = []
    best, best_state, best_epoch, since_best = math.inf, None, 0, 0
    start = time.perf_counter()
    bar = tqdm(range(1, recipe.epochs + 1), desc=desc, disable=not progress or rank != 0, unit="epoch")
    try:
        for epoch in bar:
            net.train()
            t0 = time.perf_counter()
            perm = torch.randperm(len(x_train), generator=shuffle_gen).to(device)
            if sampler is not None:  # this rank's share; every rank still draws perm, so flips stay alike
                sampler.set_epoch(epoch)
                perm = torch.tensor(list(sampler), device=device)
            if recipe.flip:  # which images are mirrored this epoch
                flips = (torch.rand(len(x_train), generator=shuffle_gen) < 0.5).to(device)
            sums: dict[str, float] = {}
            for i in range(0, len(perm), batch):
                idx = perm[i : i + batch]
                xb, yb = x_train[idx], None if y_train is None else y_train[idx]
                if recipe.flip:
                    xb = torch.where(flips[idx, None, None, None], xb.flip(3), xb).contiguous(memory_format=cl)
                terms = net(xb, yb, gen)
                opt.zero_grad(set_to_none=True)
                terms["loss"].backward()
                opt.step()
                sched.step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(xb)
            keys = list(sums)  # the model's order, the same on every rank
            totals = distributed.all_sum([sums[k] for k in keys] + [len(perm)])
            train_terms = {k: v / totals[-1] for k, v in zip(keys, totals[:-1], strict=True)}
            val_terms = _sharded_val_loss(model, x_val, seed=recipe.seed + 1, y=y_val)
            if not math.isfinite(train_terms["loss"]):
                raise FloatingPointError(f"training loss became {train_terms['loss']} at epoch {epoch}; lower --lr.")
            row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "seconds": round(time.perf_counter() - t0, 2)}
            row |= {f"train_{k}": v for k, v in train_terms.items()} | {f"val_{k}": v for k, v in val_terms.items()}
            if recipe.monitor not in row:
                raise ValueError(
                    f"TrainRecipe.monitor == {recipe.monitor!r} is not measured; this model logs {sorted(row)}."
                )
            history.append(row)
            if on_epoch is not None:
                on_epoch(epoch, model, history)
            bar.set_postfix(loss=f"{train_terms['loss']:.4g}", val=f"{val_terms['loss']:.4g}")
            # rank 0 decides, every rank follows: the same epoch is kept and the loop ends at once everywhere
            improved = sign * row[recipe.monitor] < best
            timed_out = recipe.max_minutes is not None and time.perf_counter() - start > recipe.max_minutes * 60
            improved, timed_out = distributed.broadcast_flags(improved, timed_out)
            if improved:
                best, best_epoch, since_best = sign * row[recipe.monitor], epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
                if since_best >= recipe.patience:
                    break
            if timed_out:
                bar.write(f"{desc}: time box of {recipe.max_minutes} min reached after epoch {epoch}.")
                break
    except KeyboardInterrupt:  # Ctrl-C ends training early and keeps the best epoch so far
        if best_state is None:
            raise
        print(f"\ninterrupted after {len(history)} epochs; keeping epoch {best_epoch}")
        interrupted = True
    else:
        interrupted = False
    model.load_state_dict(best_state)
    seconds = time.perf_counter() - start
    return TrainResult(model.eval(), history, best_epoch, len(history), seconds, interrupted)


def device_name(device: torch.device) -> str:
    """ "cpu", or the GPU's name."""
    return str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)


def provenance(result: TrainResult, device: torch.device, threads: int, train_images: int, val_images: int) -> dict:
    """How a run was made, as checkpoints store it under "training": epochs, time, machine, library, data sizes."""
    return {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "wall_seconds": round(result.seconds, 1),
        "device": device_name(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": threads,
        "torch": torch.__version__,
        "train_images": train_images,
        "val_images": val_images,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
