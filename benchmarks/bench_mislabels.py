"""The mislabel bar: 1 % of the Fashion-MNIST test labels flipped, found in code space and in raw pixels.

    python benchmarks/bench_mislabels.py [--runs dense vae ...] [--seed 0] [--ks 10 20 50 100] [--no-logistic]

100 of the 10,000 test labels (1 %, ``quality.flip_labels`` with ``--seed``, default 0) are changed to another
class uniformly at random. The detector (``quality.likely_mislabels``: the k nearest neighbours' distance-weighted
vote, ranked by 1 - p(given label)) ranks the 10,000 test items in each space: each shipped run's codes (all
70,000 images encoded with its weights) and the raw pixels (784 numbers in [0, 1]). Two references are measured:

- ``test``: the neighbours are other test items, whose labels include the flipped ones (the data alone);
- ``all``: the neighbours are any of the 70,000 items, the 60,000 train labels unflipped (what ``prepare`` stores:
  every item ranked against every other).

Reported: precision@100, recall of the flipped items within the top 300 and average precision, per space,
reference, k, distance (Euclidean, cosine) and vote (distance-weighted or one each); and, as an alternative
detector, a 5-fold cross-validated logistic regression's p(given label) on the test split. The headline rows are
the detector as ``prepare`` runs it (k = ``quality.K_VOTE``, Euclidean, weighted, every item as reference).
The bar: code space beats raw pixels. One torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FRACTION = 0.01
KS = (10, 20, 50, 100)
METRICS = ("euclidean", "cosine")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", default=["dense", "vae"], help="shipped runs whose codes are measured")
    p.add_argument("--seed", type=int, default=0, help="seed of the flipped labels (default 0)")
    p.add_argument("--ks", type=int, nargs="+", default=list(KS), help="neighbours that vote")
    p.add_argument("--no-logistic", action="store_true", help="skip the logistic alternative (minutes on pixels)")
    p.add_argument("--out", default=None, help="JSON to write (default: print only)")
    args = p.parse_args()

    import torch

    from explorer import quality
    from explorer.checkpoint import load_model
    from explorer.data import load_fashion_mnist
    from explorer.inference import encode

    torch.set_num_threads(1)
    load_before = os.getloadavg()
    data = load_fashion_mnist()
    n_test = len(data.test)
    images = data.all_images
    labels = data.all_labels
    noisy_test, flipped = quality.flip_labels(data.test.labels, FRACTION, args.seed)
    noisy = labels.copy()
    noisy[:n_test] = noisy_test
    print(f"flipped {len(flipped)} of {n_test:,} test labels (seed {args.seed})")

    spaces = {}
    for name in args.runs:
        t0 = time.perf_counter()
        spaces[name] = encode(load_model(name), images)
        print(f"{name}: encoded {len(images):,} images in {time.perf_counter() - t0:.1f} s")
    spaces["raw pixels"] = images.reshape(len(images), -1).astype(np.float32) / 255.0

    rows = []
    test_ids = np.arange(n_test)
    for space, codes in spaces.items():
        for metric in METRICS:
            for reference in ("test", "all"):
                ref = codes[:n_test] if reference == "test" else codes
                ref_labels = noisy[:n_test] if reference == "test" else noisy
                t0 = time.perf_counter()
                hood = quality.code_neighbours(ref, max(args.ks), metric, rows=test_ids)
                seconds = time.perf_counter() - t0
                for k in args.ks:
                    for weighted in (True, False):
                        full = (np.zeros((len(ref), k), np.int64), np.zeros((len(ref), k), np.float32))
                        full[0][:n_test], full[1][:n_test] = hood[0][:, :k], hood[1][:, :k]
                        ranked = quality.likely_mislabels(
                            ref, ref_labels, k, among=test_ids, weighted=weighted, neighbours=full
                        )
                        s = quality.ranking_scores(ranked.ids, flipped, 100, 300)
                        row = {"space": space, "metric": metric, "reference": reference, "k": k,
                               "weighted": weighted, **{m: round(v, 4) for m, v in s.items()},
                               "knn_seconds": round(seconds, 1)}  # fmt: skip
                        rows.append(row)
                        print(json.dumps(row))
    for space, codes in spaces.items() if not args.no_logistic else ():
        rows.append(logistic_row(space, codes[:n_test], noisy[:n_test], flipped, args.seed))
        print(json.dumps(rows[-1]))
    headline = [r for r in rows if r["k"] == quality.K_VOTE and r["metric"] == "euclidean" and r["weighted"]
                and r["reference"] == "all"]  # fmt: skip
    print(f"\nflipped {len(flipped)} of {n_test:,} test labels, seed {args.seed}; detector as prepare runs it")
    print("| space | precision@100 | recall in top 300 | average precision |\n|---|---|---|---|")
    for r in headline:
        print(
            f"| {r['space']} | {r['precision_at_100']:.2f} | {r['recall_at_300']:.2f} | {r['average_precision']:.3f} |"
        )
    pixels = next(r for r in headline if r["space"] == "raw pixels")
    for r in headline:
        if r["space"] != "raw pixels":
            beats = r["average_precision"] > pixels["average_precision"]
            print(f"{r['space']}: {'beats' if beats else 'does NOT beat'} raw pixels on average precision")
    print(f"load average before {load_before}, after {os.getloadavg()}")
    result = {
        "seed": args.seed,
        "flipped": len(flipped),
        "rows": rows,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))


def logistic_row(space: str, x, labels, flipped, seed: int) -> dict:
    """The alternative detector: p(given label) from a 5-fold cross-validated logistic regression on ``x``
    (standardised), ranked as the kNN vote is: 1 - p(given label), highest first."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from explorer import quality

    t0 = time.perf_counter()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300))
    folds = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, x, labels, cv=folds, method="predict_proba")
    confidence = 1.0 - p[np.arange(len(labels)), labels]
    ranked = np.argsort(-confidence, kind="stable")
    s = quality.ranking_scores(ranked, flipped, 100, 300)
    return {"space": space, "metric": "logistic (5-fold)", "reference": "test", "k": 0, "weighted": False,
            **{m: round(v, 4) for m, v in s.items()}, "knn_seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


if __name__ == "__main__":
    main()
