"""A model-agnostic trainer: Adam, cosine schedule, early stopping on a validation split."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch

from .models import Autoencoder, TrainRecipe


@dataclass
class TrainResult:
    model: Autoencoder  # holding the best validation weights
    history: list[dict]
    best_epoch: int
    epochs_run: int
    seconds: float


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu.")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device == {device!r}, must be auto, cpu or cuda.")
    return torch.device(device)


@torch.no_grad()
def evaluate_loss(model: Autoencoder, x: torch.Tensor, batch_size: int, seed: int) -> dict[str, float]:
    """Mean of each loss term over ``x``, with fixed noise so that epochs compare."""
    model.eval()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    totals: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        xb = x[i : i + batch_size]
        for k, v in model.loss(xb, gen).items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(xb)
    return {k: v / len(x) for k, v in totals.items()}


def train(
    model: Autoencoder,
    x_train: torch.Tensor,
    x_val: torch.Tensor,
    recipe: TrainRecipe,
    device: torch.device | str = "cpu",
    progress: bool = True,
    desc: str = "train",
) -> TrainResult:
    """Train ``model`` on ``x_train`` [N, 1, 28, 28] with early stopping on ``x_val``."""
    from tqdm import tqdm

    device = torch.device(device)
    # channels_last speeds up the denoiser's convolutions ~1.3x on CPU; a no-op for the MLPs.
    cl = torch.channels_last
    model = model.to(device, memory_format=cl)
    x_train, x_val = x_train.to(device, memory_format=cl), x_val.to(device, memory_format=cl)
    opt = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    steps_per_epoch = math.ceil(len(x_train) / recipe.batch_size)
    total_steps = steps_per_epoch * recipe.epochs
    if recipe.schedule == "cosine":  # from lr down to lr/100 over the whole run
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))
        )
    else:
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    gen = torch.Generator(device=device).manual_seed(recipe.seed)
    shuffle_gen = torch.Generator().manual_seed(recipe.seed)

    history: list[dict] = []
    best, best_state, best_epoch, since_best = math.inf, None, 0, 0
    start = time.perf_counter()
    bar = tqdm(range(1, recipe.epochs + 1), desc=desc, disable=not progress, unit="epoch")
    try:
        for epoch in bar:
            model.train()
            t0 = time.perf_counter()
            perm = torch.randperm(len(x_train), generator=shuffle_gen).to(device)
            sums: dict[str, float] = {}
            for i in range(0, len(x_train), recipe.batch_size):
                xb = x_train[perm[i : i + recipe.batch_size]]
                terms = model.loss(xb, gen)
                opt.zero_grad(set_to_none=True)
                terms["loss"].backward()
                opt.step()
                sched.step()
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(xb)
            train_terms = {k: v / len(x_train) for k, v in sums.items()}
            val_terms = evaluate_loss(model, x_val, 1024, seed=recipe.seed + 1)
            if not math.isfinite(train_terms["loss"]):
                raise FloatingPointError(f"training loss became {train_terms['loss']} at epoch {epoch}; lower --lr.")
            row = {"epoch": epoch, "lr": opt.param_groups[0]["lr"], "seconds": round(time.perf_counter() - t0, 2)}
            row |= {f"train_{k}": v for k, v in train_terms.items()} | {f"val_{k}": v for k, v in val_terms.items()}
            history.append(row)
            bar.set_postfix(loss=f"{train_terms['loss']:.4g}", val=f"{val_terms['loss']:.4g}")
            if val_terms["loss"] < best:
                best, best_epoch, since_best = val_terms["loss"], epoch, 0
                best_state = copy.deepcopy(model.state_dict())
            else:
                since_best += 1
                if since_best >= recipe.patience:
                    break
    except KeyboardInterrupt:  # Ctrl-C ends training early and keeps the best epoch so far
        if best_state is None:
            raise
        print(f"\ninterrupted after {len(history)} epochs; keeping epoch {best_epoch}")
    model.load_state_dict(best_state)
    return TrainResult(model.eval(), history, best_epoch, len(history), time.perf_counter() - start)
