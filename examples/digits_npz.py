"""scikit-learn's real UCI handwritten digits as an .npz that ``latent-explorer dataset add`` reads.

    python examples/digits_npz.py digits.npz
    python -m explorer dataset add digits digits.npz

``sklearn.datasets.load_digits`` ships the 1,797 8×8 images (values 0..16, no download); they are scaled to
uint8 0..255 and saved as ``x`` [1797, 8, 8] with ``y`` [1797] (0..9) and ``class_names`` ("0".."9"). The file
holds no split: ``dataset add`` carves a seeded 20 % test split (359 images) and records the seed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def digits_arrays() -> dict[str, np.ndarray]:
    """{"x": uint8 [1797, 8, 8] in 0..255, "y": int64 [1797], "class_names": str [10]}."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = np.round(d.images * (255 / 16)).astype(np.uint8)  # 0..16 -> 0..255
    return {"x": x, "y": d.target.astype(np.int64), "class_names": np.array([str(c) for c in range(10)])}


def write_digits_npz(path: str | Path) -> Path:
    """Write the digits .npz to ``path`` -> the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:  # a file object: np.savez would append .npz to a name without it
        np.savez(f, **digits_arrays())
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="the .npz to write, e.g. digits.npz")
    out = write_digits_npz(p.parse_args().out)
    print(f"wrote {out}: 1,797 8×8 digits (x, y, class_names); next: python -m explorer dataset add digits {out}")


if __name__ == "__main__":
    main()
