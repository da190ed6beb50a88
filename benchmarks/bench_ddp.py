"""Training throughput of one process against several under torchrun (gloo, CPU), thread counts stated.

    python benchmarks/bench_ddp.py [--variant dense] [--images 6000] [--epochs 3] [--repeats 3]

Each configuration trains the same run (``train --dataset fashion-mnist --limit IMAGES``) as a real command, one
process with ``python -m explorer train`` or N with ``torchrun --standalone --nproc_per_node N``; its throughput
is train images / the median epoch's seconds from the run's history.json (process start, data loading and the
checkpoint write are left out; an epoch includes its validation). The repeats run round-robin over the
configurations; the median over ``--repeats`` runs is printed with the load average, as JSON. The global batch
is the recipe's in every configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (processes, torch threads per process): one process with 1 and with all cores, then N processes of 1 thread
CONFIGS = [(1, 1), (1, 2), (2, 1)]


def samples_per_second(processes: int, threads: int, variant: str, images: int, epochs: int) -> float:
    with tempfile.TemporaryDirectory() as runs:
        args = ["train", "--dataset", "fashion-mnist", "--variant", variant, "--name", "bench", "--runs", runs]
        args += ["--limit", str(images), "--epochs", str(epochs), "--threads", str(threads), "--device", "cpu"]
        launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
        cmd = [*launcher, "-m", "explorer", *args] if processes > 1 else [sys.executable, "-m", "explorer", *args]
        subprocess.run(cmd, cwd=REPO, check=True, capture_output=True, timeout=900)
        run = Path(runs) / "fashion-mnist" / "bench"
        history = json.loads((run / "history.json").read_text())
        train_images = json.loads((run / "config.json").read_text())["training"]["train_images"]
    return train_images / statistics.median(h["seconds"] for h in history)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="dense")
    p.add_argument("--images", type=int, default=6000, help="train images (the first N of the recipe's split)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    # round-robin: each repeat runs every configuration once, so that a load that changes (the machine is shared)
    # falls on all of them alike rather than on whichever ran last
    runs: dict[tuple[int, int], list[float]] = {c: [] for c in CONFIGS}
    for _ in range(args.repeats):
        for processes, threads in CONFIGS:
            runs[processes, threads].append(
                samples_per_second(processes, threads, args.variant, args.images, args.epochs)
            )
            time.sleep(1)
    rows = [
        {
            "processes": processes,
            "threads_per_process": threads,
            "samples_per_s_median": round(statistics.median(r), 1),
            "samples_per_s_runs": [round(v, 1) for v in r],
        }
        for (processes, threads), r in runs.items()
    ]
    for row in rows:
        print(json.dumps(row))
    base = rows[0]["samples_per_s_median"]
    print(
        json.dumps(
            {
                "variant": args.variant,
                "train_images": args.images,
                "epochs": args.epochs,
                "cores": os.cpu_count(),
                "speedup_vs_1x1": {
                    f"{r['processes']}x{r['threads_per_process']}": round(r["samples_per_s_median"] / base, 2)
                    for r in rows
                },
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
    )


if __name__ == "__main__":
    main()
