import json
import shutil

import numpy as np
import pytest
import torch

from explorer.checkpoint import save_checkpoint
from explorer.models import VAEConfig, get_variant
from explorer.projection import ProjectionError, compute_projection, load_projection, place


@pytest.fixture(scope="module")
def tiny_projection(tmp_path_factory, fmnist):
    """A tiny VAE and a real UMAP map of 600 real test images, stored the way the command stores it."""
    from explorer.data import FashionMNIST, Split

    root = tmp_path_factory.mktemp("ck")
    torch.manual_seed(0)
    save_checkpoint(get_variant("vae").build(VAEConfig(hidden=32)), "vae", root)
    small = FashionMNIST(fmnist.train, Split(fmnist.test.images[:600], fmnist.test.labels[:600]), fmnist.source, "x")
    return root, compute_projection("vae", small, "test", root)


def test_projection_roundtrip(tiny_projection):
    root, proj = tiny_projection
    again = load_projection("vae", "test", root)
    assert proj.coords.shape == (600, 2) and proj.codes.shape == (600, 10)
    assert np.array_equal(again.coords, proj.coords) and np.isfinite(proj.coords).all()
    assert (proj.recon_mse > 0).all()


def test_place_puts_known_codes_near_their_points(tiny_projection):
    _, proj = tiny_projection
    placed = place(proj.codes[:50] + 1e-4, proj)
    spread = np.ptp(proj.coords, axis=0).max()
    assert np.median(np.linalg.norm(placed - proj.coords[:50], axis=1)) < 0.05 * spread
    assert place(proj.codes[0], proj).shape == (2,)


def test_stale_projection_is_detected(tiny_projection, tmp_path):
    root, _ = tiny_projection
    shutil.copytree(root, tmp_path / "ck")
    torch.manual_seed(1)
    config = json.loads((tmp_path / "ck" / "vae" / "config.json").read_text())
    save_checkpoint(get_variant("vae").build(VAEConfig(**config["model"])), "vae", tmp_path / "ck")
    with pytest.raises(ProjectionError, match=r"other weights.*python -m explorer project --variant vae"):
        load_projection("vae", "test", tmp_path / "ck")


def test_missing_and_damaged_projection(tiny_projection, tmp_path):
    root, _ = tiny_projection
    shutil.copytree(root, tmp_path / "ck")
    path = tmp_path / "ck" / "vae" / "projection-test.npz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ProjectionError, match=r"damaged.*python -m explorer project --variant vae"):
        load_projection("vae", "test", tmp_path / "ck")
    path.unlink()
    with pytest.raises(ProjectionError, match=r"missing.*python -m explorer project --variant vae"):
        load_projection("vae", "test", tmp_path / "ck")
