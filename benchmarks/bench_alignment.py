"""Is aligning a run's snapshots worth it, and fast enough? Bars: aligned displacement ≤ 1/3 of independent UMAP
fits'; aligning 12 snapshots of 2,000 points ≤ 60 s on this 2-core CPU.

    python benchmarks/bench_alignment.py fashion-mnist/dense-snap fashion-mnist/vae-snap [--repeats 3]

For each run (trained with snapshots, e.g. ``train --dataset fashion-mnist --variant dense --name dense-snap``), reads
its snapshots (``explorer.snapshots.load_frames``) and reports the four figures:

- ``aligned``: the median frame-to-frame displacement of the same item, as a fraction of the map's extent
  (``explorer.alignment.displacement``), of ``aligned_layouts`` (what ``prepare`` stores);
- ``independent``: the same of one independent full UMAP fit per frame (same parameters and seed);
- ``ratio``: aligned / independent (bar: ≤ 1/3);
- ``seconds``: the median over ``--repeats`` of ``aligned_layouts``' wall time (bar: ≤ 60 s), torch and numba at
  one thread, warm: UMAP's numba functions compiled (and cached on disk) by a small fit first.

Also prints, for reference: the independent fits with a different seed per frame (``independent_seeds``: nothing
shared between frames); the independent fits' displacement after each is Procrustes-fitted onto the next (the best a
rigid alignment of independent fits can do); each layout's mean neighbour preservation over the frames (the share of
an item's 10 nearest by code that are among its 10 nearest on the map: alignment must not buy stillness by leaving
the codes behind); and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def kept(codes, layouts) -> float:
    """Mean over frames of ``neighbour_preservation``."""
    from explorer.alignment import neighbour_preservation

    return round(sum(neighbour_preservation(c, xy) for c, xy in zip(codes, layouts, strict=True)) / len(codes), 3)


def main() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    import numpy as np
    import torch

    torch.set_num_threads(1)
    from explorer import alignment
    from explorer.runs import find_run
    from explorer.snapshots import load_frames

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="run keys trained with snapshots")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()

    warm = np.random.default_rng(0).standard_normal((300, 10)).astype(np.float32)
    alignment.aligned_layouts(np.stack([warm, warm * 1.1]))  # compile (or load) UMAP's numba functions
    for key in args.runs:
        directory = find_run(key).directory
        frames = load_frames(directory)
        if frames is None:
            raise SystemExit(f"{key}: no snapshots in {directory}; train it with --snapshots K.")
        before = os.getloadavg()
        times, aligned = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            aligned = alignment.aligned_layouts(frames.codes)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        independent = alignment.independent_layouts(frames.codes)
        independent_s = time.perf_counter() - t0
        seeds = alignment.independent_layouts(frames.codes, seed=None)
        rigid = independent.copy()
        for t in range(len(rigid) - 2, -1, -1):
            rigid[t] = alignment.procrustes(independent[t], rigid[t + 1])
        a, i = alignment.displacement(aligned), alignment.displacement(independent)

        print(
            json.dumps(
                {
                    "run": key,
                    "frames": len(frames),
                    "epochs": frames.epochs.tolist(),
                    "points": int(frames.codes.shape[1]),
                    "code_dim": int(frames.codes.shape[2]),
                    "method": alignment.METHOD,
                    "aligned": round(a, 4),
                    "independent": round(i, 4),
                    "ratio": round(a / i, 3),
                    "seconds": round(statistics.median(times), 1),
                    "seconds_each": [round(s, 1) for s in times],
                    "independent_seconds": round(independent_s, 1),
                    "independent_seeds": round(alignment.displacement(seeds), 4),
                    "ratio_seeds": round(a / alignment.displacement(seeds), 3),
                    "independent_procrustes": round(alignment.displacement(rigid), 4),
                    "kept_aligned": kept(frames.codes, aligned),
                    "kept_independent": kept(frames.codes, independent),
                    "load_before": [round(v, 2) for v in before],
                    "load_after": [round(v, 2) for v in os.getloadavg()],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
