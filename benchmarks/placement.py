"""How fast and how faithful is placing a new point on a stored map, against UMAP's own transform?

    python benchmarks/placement.py [--variant vae] [--n 500]

Times ``projection.place`` (kNN interpolation of the stored 2-D map) in a fresh process, first call
included, then refits the same UMAP (same parameters and random_state) on the same test codes and
compares ``place`` with ``UMAP.transform`` on ``--n`` train images the map has never seen: the median
distance between the two placements in map units, and as a fraction of the map's extent.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere: the repo root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="vae")
    p.add_argument("--n", type=int, default=500)
    args = p.parse_args()
    torch.set_num_threads(1)

    from explorer import load_fashion_mnist, load_model
    from explorer.inference import encode
    from explorer.projection import UMAP_PARAMS, load_projection, place

    proj = load_projection(args.variant, "test")
    model = load_model(args.variant)
    data = load_fashion_mnist()
    new_codes = encode(model, data.train.images[: args.n])

    t0 = time.perf_counter()
    place(new_codes[0], proj)
    first_ms = (time.perf_counter() - t0) * 1000
    times = []
    for c in new_codes[:200]:
        t0 = time.perf_counter()
        place(c, proj)
        times.append((time.perf_counter() - t0) * 1000)
    placed = place(new_codes, proj)

    import umap

    t0 = time.perf_counter()
    reducer = umap.UMAP(n_components=2, **UMAP_PARAMS).fit(proj.codes)
    fit_s = time.perf_counter() - t0
    refit_matches = float(np.abs(reducer.embedding_ - proj.coords).max())
    t0 = time.perf_counter()
    reducer.transform(new_codes[:1])
    first_transform_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    via_umap = reducer.transform(new_codes)
    transform_ms_per_point = (time.perf_counter() - t0) * 1000 / len(new_codes)

    gap = np.linalg.norm(placed - via_umap, axis=1)
    extent = float(np.ptp(proj.coords, axis=0).max())
    result = {
        "variant": args.variant,
        "place_first_call_ms": round(first_ms, 3),
        "place_median_ms": round(statistics.median(times), 3),
        "place_max_ms": round(max(times), 3),
        "umap_fit_s": round(fit_s, 1),
        "umap_refit_max_abs_diff_from_stored": round(refit_matches, 4),
        "umap_first_transform_s": round(first_transform_s, 1),
        "umap_transform_ms_per_point": round(transform_ms_per_point, 2),
        "median_gap_map_units": round(float(np.median(gap)), 3),
        "map_extent_map_units": round(extent, 2),
        "median_gap_fraction_of_extent": round(float(np.median(gap)) / extent, 4),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
