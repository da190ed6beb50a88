"""Time one training epoch of every variant on this machine and project the full retraining time.

    python benchmarks/train_speed.py [--threads N] [--steps S]

Times S optimiser steps (after 2 warm-up steps) per variant at its recipe's batch size, scales to one
epoch of 55,000 images and to the epochs each shipped checkpoint actually ran (config.json). Run it on
an otherwise idle machine: the figure is the retraining budget the README reports.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: the repo root

from explorer.checkpoint import read_config
from explorer.models import REGISTRY


def time_steps(name: str, steps: int) -> float:
    variant = REGISTRY[name]
    torch.manual_seed(0)
    model = variant.build().to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x = torch.rand(variant.recipe.batch_size, 1, 28, 28).contiguous(memory_format=torch.channels_last)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        loss = model.loss(x, generator=gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows, total = [], 0.0
    for name, variant in REGISTRY.items():
        step = time_steps(name, args.steps)
        epoch = step * math.ceil(55000 / variant.recipe.batch_size) * 1.05  # + ~5 % validation pass
        try:
            epochs = read_config(name)["training"]["epochs_run"]
        except Exception:  # noqa: BLE001 - no checkpoint yet: the recipe's maximum
            epochs = variant.recipe.epochs
        total += epoch * epochs
        minutes = round(epoch * epochs / 60, 1)
        rows.append(
            {
                "variant": name,
                "step_ms": round(step * 1000, 1),
                "epoch_s": round(epoch, 1),
                "epochs": epochs,
                "minutes": minutes,
            }
        )
    print(json.dumps({"threads": args.threads, "variants": rows, "total_minutes": round(total / 60, 1)}, indent=1))


if __name__ == "__main__":
    main()
