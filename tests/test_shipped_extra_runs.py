"""The extra shipped runs (checkpoints/<dataset>/<run>/) come prepared: metrics and a test map of their weights."""

from __future__ import annotations

import numpy as np
import pytest

from explorer.commands.evaluate import load_metrics
from explorer.projection import load_projection
from explorer.runs import find_run

EXTRA = {"digits/dense": 359, "digits/vae": 359, "fashion-mnist/vae-beta4": 10_000, "fashion-mnist/vae-latent2": 10_000}


@pytest.mark.parametrize("key, n_test", EXTRA.items())
def test_an_extra_shipped_run_is_prepared(key, n_test, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path))  # only the shipped root
    run = find_run(key)
    assert run.shipped
    root = run.directory.parent.parent
    metrics = load_metrics(key, root)  # raises unless measured on the current weights
    proj = load_projection(key, "test", root)
    assert metrics["images"] == n_test and proj.coords.shape == (n_test, 2)
    assert np.isfinite(proj.coords).all() and np.isfinite(metrics["psnr"])
    if run.variant == "vae":
        assert metrics["kl"] > 0 and metrics["neg_elbo"] > metrics["kl"]
    if key == "fashion-mnist/vae-latent2":  # a 2-number code is its own map
        np.testing.assert_allclose(proj.coords, proj.codes, atol=1e-6)


def test_the_shipped_digits_dense_run_beats_pca10_on_both():
    m = load_metrics("digits/dense", find_run("digits/dense").directory.parent.parent)
    assert m["psnr"] > m["baseline"]["psnr"] and m["precision_at_10"] > m["baseline"]["precision_at_10"]


@pytest.mark.parametrize(
    "key, says",
    [
        ("digits/dense", "Dense autoencoder on digits: 8×8 images (64 values) to a 10-number code"),
        ("fashion-mnist/vae-beta4", "28×28 images (784 values) to a 10-number code, β = 4"),
        ("fashion-mnist/vae-latent2", "to a 2-number code"),
        ("dense", "784 pixels to a 10-number code"),  # a shipped variant keeps its own sentence
    ],
)
def test_a_runs_description_is_sized_to_its_own_data(key, says, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path))
    assert says in find_run(key).job
