"""Image folders end to end: real greyscale and RGB images -> dataset add -> train (the real trainer) -> prepare.

Greyscale: real Fashion-MNIST test images as PNG files, one subfolder per class. RGB: 32×32 crops of the
photos scikit-learn ships. Each run has a 2-number code (its own map: no UMAP, so the test stays fast)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explorer import cli
from explorer.datasets import load_dataset
from tests.support.image_folders import fashion_png_folder, photo_crop_folder


@pytest.fixture()
def roots(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_EXPLORER_DATASETS", str(tmp_path / "datasets"))
    return tmp_path


def _add_train_prepare(name, folder, variant, roots, sets):
    assert cli.main(["dataset", "add", name, str(folder)]) == 0
    flags = [a for s in ("latent=2", "epochs=2", "batch_size=16", *sets) for a in ("--set", s)]
    assert cli.main(["train", "--dataset", name, "--variant", variant, "--name", "small", *flags,
                     "--threads", "1"]) == 0  # fmt: skip
    assert cli.main(["prepare", f"{name}/small", "--threads", "1"]) == 0
    run = roots / "runs" / name / "small"
    metrics = json.loads((run / "metrics.json").read_text())
    with np.load(run / "projection-test.npz") as z:
        proj = {k: z[k] for k in z.files}
    return load_dataset(name), json.loads((run / "config.json").read_text()), metrics, proj


def _check_sane(dataset, metrics, proj):
    n_test = dataset.n_test
    assert metrics["images"] == n_test
    assert np.isfinite(metrics["psnr"]) and 5 < metrics["psnr"] < 60
    assert 0 <= metrics["precision_at_10"] <= 1 and np.isfinite(metrics["baseline"]["psnr"])
    assert proj["coords"].shape == (n_test, 2) and np.isfinite(proj["coords"]).all()
    assert proj["recon_mse"].shape == (n_test,) and (proj["recon_mse"] > 0).all()
    np.testing.assert_array_equal(proj["labels"], dataset.labels[dataset.test])
    assert np.ptp(proj["coords"], axis=0).min() > 0  # the points are spread, not one dot


def test_greyscale_fashion_pngs_train_and_prepare(roots, fmnist):
    folder = fashion_png_folder(roots / "fashion-pngs", fmnist, per_class=6)
    dataset, config, metrics, proj = _add_train_prepare("fashion-pngs", folder, "dense", roots, ["hidden=32"])
    assert dataset.shape == (1, 28, 28) and len(dataset) == 60 and len(dataset.class_names) == 10
    # the stored test images are the PNGs' pixels, exactly (PNG is lossless)
    originals = {tuple(im.ravel()) for im in fmnist.test.images[np.isin(fmnist.test.labels, range(10))]}
    assert all(tuple(im.ravel()) in originals for im in dataset.images[:, 0])
    assert config["model"]["image_shape"] == [1, 28, 28] and config["dataset_sha256"] == dataset.sha256
    _check_sane(dataset, metrics, proj)


def test_rgb_photo_crops_train_and_prepare(roots):
    folder = photo_crop_folder(roots / "photos", per_photo=30)  # 12 test images: P@10 needs 11
    dataset, config, metrics, proj = _add_train_prepare("photos", folder, "vae", roots, ["hidden=32"])
    assert dataset.shape == (3, 32, 32) and len(dataset) == 60 and dataset.class_names == ("china", "flower")
    assert dataset.images.std(axis=(0, 2, 3)).min() > 0 and not np.array_equal(
        dataset.images[:, 0], dataset.images[:, 1]
    )  # real colour: the channels differ
    assert config["model"]["image_shape"] == [3, 32, 32] and config["variant"] == "vae"
    _check_sane(dataset, metrics, proj)
    assert np.isfinite(metrics["neg_elbo"]) and metrics["kl"] >= 0


def _shown_in_the_dashboard(dataset: str, pages=("map", "similar", "compare", "generator")) -> None:
    """The run on each page that can serve it, through the real router, without an error."""
    from tests.support.pages import open_link

    for page in pages:
        at = open_link({"page": page, "dataset": dataset, "variant": f"{dataset}/small"})
        problems = [e.value for e in [*at.exception, *at.error]]
        assert not problems, f"{page}: {problems}"
        if page != "compare":
            assert at.selectbox(key="variant").value == f"{dataset}/small", page


def test_the_greyscale_and_rgb_runs_show_in_the_dashboard(roots, fmnist):
    grey = fashion_png_folder(roots / "fashion-pngs", fmnist, per_class=6)
    _add_train_prepare("fashion-pngs", grey, "vae", roots, ["hidden=32"])
    _shown_in_the_dashboard("fashion-pngs")
    colour = photo_crop_folder(roots / "photos", per_photo=30)
    _add_train_prepare("photos", colour, "vae", roots, ["hidden=32"])
    _shown_in_the_dashboard("photos")
