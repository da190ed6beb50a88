"""Latent Explorer: autoencoders on Fashion-MNIST (the variants in ``REGISTRY``) and the tools to look inside them.

Public API::

    from explorer import load_model, load_fashion_mnist, VARIANTS
    m = load_model("vae")     # any name in VARIANTS
    z = m.encode(x)           # x: float32 [B, 1, 28, 28] in [0, 1] -> [B, code_dim]
    x_hat = m.decode(z)       # -> [B, 1, 28, 28]

Where things are (one line per module; ``dashboard.py`` lists the pages and their modules)::

    data.py         Fashion-MNIST: find, verify, parse; item ids (N_TEST, N_TRAIN); salt-and-pepper noise
    models.py       the variants: configs, autoencoders, the registry and its capabilities
    plugins.py      variants of one's own: entry points (latent_explorer.variants) and --plugin MODULE, checked
    runs.py         runs (a shipped variant, or <dataset>/<run>): found by key, listed per dataset
    checkpoint.py   load_model and the writer: config.json + model.safetensors, loaded strictly
    inference.py    batched encode / decode / reconstruct, and images -> model input
    train.py        the training loop (autoencoders and the judge) and its provenance
    snapshots.py    a run while it trains: progress.json, history.json, snapshots/ (codes over epochs); read back
    alignment.py    the snapshots laid out aligned frame to frame (and how far items move between frames)
    training_view.py  the Training page's logic: shown frame, followed item, its trail
    judge.py        the judge classifier (for the Fashion-FID and the generator's label)
    metrics.py      PSNR, SSIM, the median filter, code measures, the quantiser
    projection.py   the maps: UMAP of the codes, stored beside the checkpoint; placing new points
    neighbours.py   nearest neighbours, precision@k, one query put to every variant, picking items
    selection.py    what the map page shows of a selection: ids, the image panel, the CSV export
    denoise.py      a model against the 3×3 median filter on salt-and-pepper noise
    generation.py   attribute directions, manifold grids, interpolation (linear, slerp), the Fashion-FID
    compare.py      the Compare page's scores table, training-curve inputs, reconstruction errors
    codec.py        codes as bytes: quantiser, entropy coder, classical codecs
    clustering.py   clustering algorithms: k-means, DEC, N2D, ACC / NMI
    upload.py       a user's picture -> a Fashion-MNIST-like input, and through a model
    urlstate.py     shareable links: the query parameters, parsed and clamped
    figures.py      every Plotly figure and the class palette
    images.py       uint8 conversion, upscaling, mosaics, annotated grids
    exports.py      downloads: PNG (the one writer), CSV, figures as HTML / PNG
    report.py       markdown tables and README sections of the measurements
    commands/       the offline commands, one module each: train, prepare, import_codes, evaluate, project, judge,
                    compress, cluster
    cli.py          ``python -m explorer`` / ``latent-explorer``: argparse, dispatching to commands/
    ui/             the Streamlit pages (``dashboard.py`` routes to them); the only code that imports streamlit
"""

from .checkpoint import CheckpointError, load_model
from .data import DatasetError, load_fashion_mnist
from .models import REGISTRY, VARIANTS

__all__ = [
    "REGISTRY",
    "VARIANTS",
    "CheckpointError",
    "DatasetError",
    "load_fashion_mnist",
    "load_model",
]
