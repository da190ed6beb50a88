"""A run's data-quality lists, computed by ``prepare`` and stored beside the run as ``quality.npz``.

Every item of the run's dataset (test split first, then train: item ids) is encoded with the run's weights; the
lists of ``explorer.quality`` are computed from those codes, the labels, the images and the reconstruction errors,
and their top rows are stored with the SHA-256 of the weights (a list made from other weights is stale) and of the
dataset. A dataset without labels stores no mislabels: the page says they need labels. The reconstructions of the
worst-reconstructed items are stored too (uint8), so the page shows them without the model.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import quality as q

QUALITY = "quality.npz"
FORMAT_VERSION = 1
RECONSTRUCTIONS = 50  # the worst-reconstructed items whose reconstruction is stored (uint8, 39 KB at 28×28)


class QualityError(RuntimeError):
    """The stored lists are missing, damaged or made from other weights; the message names the command."""


@dataclass(frozen=True)
class Quality:
    """A run's stored lists (``explorer.quality`` tables) and what they were computed from."""

    run: str
    weights_sha256: str
    dataset_sha256: str
    n_items: int
    n_test: int
    k: int  # neighbours kept per row (and that measure density)
    k_vote: int  # neighbours that voted on each label
    mislabels: q.Mislabels | None  # None: the dataset has no labels (``q.NEEDS_LABELS``)
    by_error: q.Outliers
    by_density: q.Outliers
    duplicates: q.Duplicates
    reconstructions: np.ndarray  # uint8 [R, ...image]: of by_error.ids[:R]


def path_for(key: str, root=None) -> Path:
    from ..checkpoint import checkpoint_dir

    return checkpoint_dir(key, root) / QUALITY


def fix_command(key: str) -> str:
    from ..runs import prepare_command

    return prepare_command(key)


def compute_lists(codes, labels, images, errors, k: int = q.K, top: int = q.TOP, k_vote: int = q.K_VOTE) -> dict:
    """The four lists from arrays in item-id order (codes [N, D], labels [N] or None, images, errors [N]); one
    neighbour search serves them all -> {"mislabels": Mislabels | None, "by_error", "by_density", "duplicates"}.
    ``k_vote`` neighbours vote on labels; ``k`` measure density and are kept per row."""
    hood = q.code_neighbours(codes, max(k, k_vote, q.DUPLICATE_CANDIDATES))
    mislabels = None if labels is None else q.likely_mislabels(codes, labels, k_vote, top=top, neighbours=hood, show=k)
    return {
        "mislabels": mislabels,
        "by_error": q.by_error(errors, (hood[0][:, :k], hood[1][:, :k]), top),
        "by_density": q.by_density((hood[0][:, :k], hood[1][:, :k]), top),
        "duplicates": q.near_duplicates(images, hood, top=top),
    }


def compute_quality(key: str, data, root=None, model=None) -> Quality:
    """Encode every item of ``data`` with run ``key``'s model, compute the lists, write ``quality.npz``, load it."""
    from ..checkpoint import load_model, weights_hash
    from ..images import to_uint8
    from ..inference import encode_with_error, reconstruct

    model = model if model is not None else load_model(key, root)
    images = data.all_images
    codes, errors = encode_with_error(model, images)
    lists = compute_lists(codes, data.all_labels, images, errors, k_vote=q.K_VOTE)
    worst = lists["by_error"].ids[:RECONSTRUCTIONS]
    recon = to_uint8(reconstruct(model, images[worst])) if len(worst) else np.zeros((0, *images.shape[1:]), np.uint8)
    write_quality(
        path_for(key, root),
        lists,
        recon.reshape(len(worst), *images.shape[1:]),
        weights_sha256=weights_hash(key, root),
        dataset_sha256=data.sha256,
        n_test=len(data.test),
        n_items=len(images),
        k_vote=q.K_VOTE,
    )
    return load_quality(key, root)


def write_quality(
    path: Path, lists: dict, reconstructions, *, weights_sha256, dataset_sha256, n_test, n_items, k_vote=q.K_VOTE
):
    """Save ``compute_lists``' tables (atomically: written beside, then renamed into place)."""
    arrays = {
        "format_version": np.array(FORMAT_VERSION),
        "weights_sha256": np.array(weights_sha256),
        "dataset_sha256": np.array(dataset_sha256),
        "n_test": np.array(n_test),
        "n_items": np.array(n_items),
        "k_vote": np.array(k_vote),
        "has_labels": np.array(lists["mislabels"] is not None),
        "reconstructions": np.asarray(reconstructions, np.uint8),
    }
    for name in ("mislabels", "by_error", "by_density", "duplicates"):
        table = lists[name]
        if table is not None:
            for f, v in vars(table).items():
                if isinstance(v, np.ndarray):  # ids and labels as int32, neighbour distances as float16: half the file
                    small = np.int32 if v.dtype.kind in "iu" else np.float16 if v.ndim == 2 else v.dtype
                    arrays[f"{name}__{f}"] = v.astype(small)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(path)
    return path


def _table(cls, arrays: dict, name: str, **extra):
    def column(f: str) -> np.ndarray:
        a = arrays[f"{name}__{f}"]
        return a.astype(np.int64 if a.dtype.kind in "iu" else np.float32)

    return cls(**{f: column(f) for f in cls.__dataclass_fields__ if f not in extra}, **extra)


def load_quality(key: str, root=None, check_weights: bool = True) -> Quality:
    """Run ``key``'s stored lists; QualityError (naming the command) if missing, damaged or from other weights."""
    from ..checkpoint import weights_hash

    path = path_for(key, root)
    fix = fix_command(key)
    if not path.is_file():
        raise QualityError(f"No data-quality lists for {key} yet ({path.name} is missing). Create them with `{fix}`.")
    try:
        with np.load(path, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        if int(a["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"format {int(a['format_version'])}, this version reads {FORMAT_VERSION}")
        k = a["by_density__neighbours"].shape[1]
        result = Quality(
            run=key,
            weights_sha256=str(a["weights_sha256"]),
            dataset_sha256=str(a["dataset_sha256"]),
            n_items=int(a["n_items"]),
            n_test=int(a["n_test"]),
            k=k,
            k_vote=int(a["k_vote"]),
            mislabels=_table(q.Mislabels, a, "mislabels") if bool(a["has_labels"]) else None,
            by_error=_table(q.Outliers, a, "by_error", measure="reconstruction error"),
            by_density=_table(q.Outliers, a, "by_density", measure="kNN distance"),
            duplicates=_table(q.Duplicates, a, "duplicates"),
            reconstructions=a["reconstructions"],
        )
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
        raise QualityError(f"{path} is damaged or of another version ({e}). Recreate it with `{fix}`.") from e
    if check_weights and result.weights_sha256 != weights_hash(key, root):
        raise QualityError(f"{path} was computed from other weights than the run holds now. Update it with `{fix}`.")
    return result
