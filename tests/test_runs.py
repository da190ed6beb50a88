"""Runs of one's own: any image shape, train --dataset/--name, prepare, and the errors that name the fix.

Real data: scikit-learn's UCI digits (1,797 8x8 images), registered as an .npz; tiny epochs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from explorer import cli
from explorer.checkpoint import load_model
from explorer.models import REGISTRY


@pytest.fixture()
def digits_env(tmp_path, monkeypatch):
    from sklearn.datasets import load_digits

    d = load_digits()
    npz = tmp_path / "digits.npz"
    x = np.round(d.images * 255 / 16).astype(np.uint8)
    np.savez(npz, x=x, y=d.target, class_names=np.array([str(i) for i in range(10)]))
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_EXPLORER_DATASETS", str(tmp_path / "datasets"))
    assert cli.main(["dataset", "add", "digits", str(npz)]) == 0
    return tmp_path


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 13, 21), (3, 9, 30), (1, 28, 28)])
@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_variant_takes_any_image_shape(name, shape):
    v = REGISTRY[name]
    model = v.build(dataclasses.replace(v.config, image_shape=shape))
    x = torch.rand(2, *shape)
    assert model.reconstruct(x).shape == x.shape
    z = model.encode(x)
    assert z.shape == (2, model.code_dim)
    if v.can("decoder"):
        assert model.decode(z).shape == x.shape


def test_a_digits_run_trains_prepares_and_loads(digits_env, capsys):
    args = ["train", "--dataset", "digits", "--variant", "dense", "--name", "d64", "--set", "hidden=64"]
    assert cli.main([*args, "--set", "epochs=2", "--threads", "1"]) == 0
    run = digits_env / "runs" / "digits" / "d64"
    config = json.loads((run / "config.json").read_text())
    assert (config["variant"], config["dataset"], config["run"]) == ("dense", "digits", "d64")
    assert config["model"]["image_shape"] == [1, 8, 8] and config["model"]["hidden"] == [64]
    model = load_model("digits/d64")
    assert model.image_shape == (1, 8, 8)
    # the same name again is refused, and nothing is changed
    before = (run / "model.safetensors").read_bytes()
    assert cli.main([*args, "--set", "epochs=1"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (run / "model.safetensors").read_bytes() == before
    assert cli.main(["prepare", "digits/d64", "--threads", "1"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["baseline"]["components"] == 10 and "raw_pixels_precision_at_10" in metrics["baseline"]
    with np.load(run / "projection-test.npz") as z:
        assert z["coords"].shape == (359, 2)


def test_a_two_number_code_is_its_own_map(digits_env):
    assert cli.main(["train", "--dataset", "digits", "--variant", "vae", "--name", "v2", "--set", "latent=2",
                     "--set", "beta=4", "--set", "epochs=1", "--threads", "1"]) == 0  # fmt: skip
    assert cli.main(["prepare", "digits/v2", "--threads", "1"]) == 0
    with np.load(digits_env / "runs" / "digits" / "v2" / "projection-test.npz") as z:
        np.testing.assert_allclose(z["coords"], z["codes"], atol=1e-6)
    assert load_model("digits/v2").config.beta == 4.0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--set", "latent=0"], "latent_dim"),
        (["--set", "nope=1"], "unknown key"),
        (["--set", "beta=x"], "must be a number"),
        (["--set", "image_shape=1,8,8"], "the dataset's"),
    ],
)
def test_bad_overrides_name_the_key_and_write_nothing(digits_env, capsys, extra, message):
    assert cli.main(["train", "--dataset", "digits", "--variant", "vae", "--name", "bad", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (digits_env / "runs" / "digits" / "bad").exists()


def test_a_run_whose_dataset_is_gone_says_how_to_bring_it_back(digits_env, capsys):
    import shutil

    assert cli.main(["train", "--dataset", "digits", "--variant", "dense", "--name", "g",
                     "--set", "epochs=1", "--threads", "1"]) == 0  # fmt: skip
    shutil.rmtree(digits_env / "datasets" / "digits")
    assert cli.main(["prepare", "digits/g"]) == 2
    err = capsys.readouterr().err
    assert "digits" in err and "dataset add digits" in err


def test_an_unknown_run_lists_the_runs_there_are(digits_env, capsys):
    assert cli.main(["prepare", "digits/nothing"]) == 2
    err = capsys.readouterr().err
    assert "no run 'digits/nothing'" in err and "dense" in err


def test_a_test_split_of_ten_or_fewer_images_is_prepared_without_precision(tmp_path, monkeypatch):
    """Ten neighbours need eleven items: on a tiny split P@10 is marked not measured, the rest is there."""
    from sklearn.datasets import load_digits

    d = load_digits()
    np.savez(tmp_path / "tiny.npz", x=np.round(d.images[:40] * 255 / 16).astype(np.uint8), y=d.target[:40])
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_EXPLORER_DATASETS", str(tmp_path / "datasets"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert cli.main(["dataset", "add", "tiny", str(tmp_path / "tiny.npz")]) == 0
    args = ["train", "--dataset", "tiny", "--variant", "dense", "--name", "d", "--set", "latent=2"]
    assert cli.main([*args, "--set", "epochs=1", "--set", "hidden=16", "--threads", "1"]) == 0
    assert cli.main(["prepare", "tiny/d", "--threads", "1"]) == 0
    m = json.loads((tmp_path / "runs" / "tiny" / "d" / "metrics.json").read_text())
    assert "precision_at_10" not in m and "precision_at_10" in m["not_measured"] and np.isfinite(m["psnr"])
    # the dataset-level PCA baseline is kept once per dataset content and code size, and reused
    (cached,) = (tmp_path / "cache" / "latent-explorer" / "baselines").glob("*-pca2.json")
    assert json.loads(cached.read_text()) == m["baseline"]
