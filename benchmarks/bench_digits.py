"""The digits, end to end, with the README's commands: .npz -> dataset add -> train dense and VAE -> prepare.

    python benchmarks/bench_digits.py [--out bench_digits.json] [--keep DIR]

scikit-learn's real UCI digits (1,797 8×8 images; 359 carved for test) are written as an .npz
(``examples/digits_npz.py``), registered and trained on in a temporary folder (``--keep DIR``: in DIR, kept).
Prints and writes: the dense run's test PSNR and P@10 against PCA-10's (the bar: it must beat both) and the
raw-pixel P@10; the VAE's −ELBO, KL and PSNR; the seconds each train and prepare took; the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))

# Sized to 1,437 training images of 64 pixels: one 512-unit hidden layer (the tutorial's 2000-500-500 overfits).
DENSE_SETS = ("hidden=512", "lr=3e-3", "epochs=300", "batch_size=64", "patience=50")
VAE_SETS = ("hidden=256", "lr=3e-3", "epochs=300", "batch_size=64", "patience=50")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None, help="JSON to write (default: print only)")
    p.add_argument("--keep", default=None, help="work in this folder and keep it (runs/, datasets/)")
    args = p.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-digits-"))
    os.environ["LATENT_EXPLORER_RUNS"] = str(work / "runs")
    os.environ["LATENT_EXPLORER_DATASETS"] = str(work / "datasets")

    from digits_npz import write_digits_npz

    from explorer import cli

    def run(*argv: str) -> float:
        t0 = time.perf_counter()
        if cli.main(list(argv)) != 0:
            raise SystemExit(f"failed: latent-explorer {' '.join(argv)}")
        return round(time.perf_counter() - t0, 1)

    load_before = os.getloadavg()
    npz = write_digits_npz(work / "digits.npz")
    seconds = {"dataset add": run("dataset", "add", "digits", str(npz), "--overwrite")}
    for name, variant, sets in (("dense", "dense", DENSE_SETS), ("vae", "vae", VAE_SETS)):
        flags = [a for s in sets for a in ("--set", s)]
        seconds[f"train {name}"] = run("train", "--dataset", "digits", "--variant", variant, "--name", name,
                                       *flags, "--threads", "1", "--overwrite")  # fmt: skip
        seconds[f"prepare {name}"] = run("prepare", f"digits/{name}", "--threads", "1", "--force")
    dense = json.loads((work / "runs/digits/dense/metrics.json").read_text())
    vae = json.loads((work / "runs/digits/vae/metrics.json").read_text())
    base = dense["baseline"]
    result = {
        "dense": {"psnr": round(dense["psnr"], 2), "precision_at_10": round(dense["precision_at_10"], 4),
                  "set": list(DENSE_SETS)},
        "pca10": {"psnr": round(base["psnr"], 2), "precision_at_10": round(base["precision_at_10"], 4)},
        "raw_pixels_precision_at_10": round(base["raw_pixels_precision_at_10"], 4),
        "bar_dense_beats_pca10_on_both": dense["psnr"] > base["psnr"]
        and dense["precision_at_10"] > base["precision_at_10"],
        "vae": {"neg_elbo": round(vae["neg_elbo"], 2), "kl": round(vae["kl"], 2), "psnr": round(vae["psnr"], 2),
                "precision_at_10": round(vae["precision_at_10"], 4), "set": list(VAE_SETS)},
        "test_images": dense["images"],
        "seconds": seconds,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "work": str(work),
    }  # fmt: skip
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
