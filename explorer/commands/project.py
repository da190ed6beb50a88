"""The ``project`` command: the UMAP map of every variant whose code makes its image, and its hover thumbnails
(``explorer.atlas``), stored beside its checkpoint."""

from __future__ import annotations

from ..checkpoint import CheckpointError
from ..models import get_variant
from ..projection import ProjectionError, compute_projection, load_projection, path_for


def run_projection(names, data_dir=None, root=None, force=False, splits=("test",)) -> None:
    """Compute every missing or stale map (all of them with ``force``), with progress."""
    from tqdm import tqdm

    from ..checkpoint import load_model
    from ..data import load_fashion_mnist
    from .prepare import make_thumbnails

    data = None
    jobs = [(n, s) for n in names for s in splits if get_variant(n).can("decoder")]
    for name, split in tqdm(jobs, desc="project", unit="map"):
        if not force:
            try:
                load_projection(name, split, root)
                tqdm.write(f"{name}/{split}: up to date")
                data = data or load_fashion_mnist(data_dir)
                make_thumbnails(name, split, data, load_model(name, root), root)  # the hover thumbnails, if missing
                continue
            except ProjectionError:
                pass
            except CheckpointError as e:
                tqdm.write(f"{name}: skipped, {e}")
                continue
        data = data or load_fashion_mnist(data_dir)
        compute_projection(name, data, split, root)
        make_thumbnails(name, split, data, load_model(name, root), root, force=True)
        tqdm.write(f"{name}/{split}: written to {path_for(name, split, root)}")
