"""Encoding a split in bounded memory, and as fast as converting it whole: ``prepare``'s encoding step, measured.

    python benchmarks/bench_encode_memory.py [--variant dense] [--split test|all] [--repeats 3]

Compares ``inference.encode_with_error`` (images become float32 one batch at a time) with the same model run on the
split converted whole first (``as_batch`` of every image, what the step did before), on the real Fashion-MNIST, one
torch thread, a shipped checkpoint: the median seconds of ``--repeats`` runs and numpy's peak allocation
(tracemalloc) of each, printed as JSON with the load average.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: the repo root

from explorer import load_model
from explorer.data import load_fashion_mnist
from explorer.inference import as_batch, batched, encode_with_error


def whole_first(model, images):
    """The step as it was: the whole split as float32, then batches."""
    x = as_batch(images)

    def both(b):
        z = model.encode(b)
        err = ((model.decode(z).clamp(0, 1) - b) ** 2).flatten(1).mean(1, keepdim=True)
        return torch.cat([z.flatten(1), err], 1)

    return batched(both, x)


def measure(fn, repeats: int) -> dict:
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t0)
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"median_s": round(statistics.median(seconds), 3), "numpy_peak_mb": round(peak / 1e6, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="dense")
    p.add_argument("--split", choices=("test", "all"), default="all")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(1)
    data = load_fashion_mnist()
    images = data.test.images if args.split == "test" else data.all_images
    model = load_model(args.variant)
    out = {
        "variant": args.variant,
        "images": len(images),
        "threads": 1,
        "per_batch": measure(lambda: encode_with_error(model, images), args.repeats),
        "whole_first": measure(lambda: whole_first(model, images), args.repeats),
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
