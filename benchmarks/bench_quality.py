"""Time and peak memory of ``prepare``'s data-quality step for shipped runs (all 70,000 Fashion-MNIST items).

    python benchmarks/bench_quality.py [dense vae ...]

Runs ``explorer.commands.quality.compute_quality`` (what ``prepare`` calls: encode every item, one neighbour search,
the four lists, the stored file) three times per run on a copy of its checkpoint in a temporary folder, with one
torch thread. Prints each time, the median, the process's peak RSS and the load average.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    import torch

    from explorer.checkpoint import CONFIG, WEIGHTS, default_root
    from explorer.commands import quality as cq
    from explorer.data import load_fashion_mnist

    torch.set_num_threads(1)
    data = load_fashion_mnist()
    print(f"load average before: {os.getloadavg()}")
    for key in sys.argv[1:] or ["dense", "vae"]:
        tmp = Path(tempfile.mkdtemp(prefix="bench-quality-"))
        try:
            (tmp / key).mkdir()
            for f in (CONFIG, WEIGHTS):
                shutil.copy(default_root() / key / f, tmp / key / f)
            times = []
            for _ in range(3):
                t = time.perf_counter()
                cq.compute_quality(key, data, tmp)
                times.append(time.perf_counter() - t)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{key}: {[round(x, 1) for x in times]} s, median {statistics.median(times):.1f} s; "
                  f"peak RSS so far {peak:.0f} MB; load average {os.getloadavg()}")  # fmt: skip
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
