import json

import numpy as np
import pytest
import torch

from explorer import load_model
from explorer.cli import main
from explorer.models import DenseConfig, TrainRecipe, VAEConfig, get_variant
from explorer.train import cosine_schedule, evaluate_loss, pick_device, train


@pytest.fixture(scope="module")
def few_hundred(fmnist):
    """400 real train images to learn from, 100 to validate on."""
    x = fmnist.train.tensor(np.arange(500))
    return x[:400], x[400:]


@pytest.mark.parametrize(
    ("name", "config"),
    [("dense", DenseConfig(hidden=(128, 64))), ("vae", VAEConfig(hidden=64))],
)
def test_short_training_lowers_the_loss(name, config, few_hundred):
    x_train, x_val = few_hundred
    torch.manual_seed(0)
    model = get_variant(name).build(config)
    before = evaluate_loss(model, x_val, 256, seed=1)["loss"]
    result = train(model, x_train, x_val, TrainRecipe(epochs=5, batch_size=32, lr=3e-3), progress=False)
    after = evaluate_loss(result.model, x_val, 256, seed=1)["loss"]
    assert after < 0.8 * before
    assert [h["epoch"] for h in result.history] == list(range(1, 6))
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert {"train_loss", "val_loss", "lr", "seconds"} <= set(result.history[0])
    assert not result.model.training


def test_early_stopping_keeps_best_weights(few_hundred):
    x_train, x_val = few_hundred
    torch.manual_seed(0)
    # A learning rate far too high makes validation loss climb: training must stop and roll back.
    model = get_variant("vae").build(VAEConfig(hidden=32))
    recipe = TrainRecipe(epochs=30, batch_size=50, lr=0.05, patience=2, schedule="constant")
    result = train(model, x_train, x_val, recipe, progress=False)
    best = min(h["val_loss"] for h in result.history)
    assert result.epochs_run == result.best_epoch + 2 < 30
    assert evaluate_loss(result.model, x_val, 256, seed=1)["loss"] == pytest.approx(best, rel=1e-5)


def test_cosine_schedule_runs_from_lr_to_lr_over_100():
    factor = cosine_schedule(100)
    assert factor(0) == pytest.approx(1.0) and factor(50) == pytest.approx(0.505) and factor(100) == pytest.approx(0.01)
    assert factor(150) == pytest.approx(0.01)  # past the end it stays at the floor


def test_device_choice():
    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="--device == 'tpu'"):
        pick_device("tpu")


def test_train_command_writes_a_loadable_checkpoint(tmp_path, capsys):
    args = ["--variant", "vae", "--epochs", "2", "--limit", "300", "--out", str(tmp_path), "--threads", "1"]
    rc = main(["train", *args])
    assert rc == 0
    config = json.loads((tmp_path / "vae" / "config.json").read_text())
    assert config["recipe"]["epochs"] == 2 and config["training"]["epochs_run"] == 2
    assert config["training"]["device"] == "cpu" and config["dataset_sha256"]
    assert config["training"]["train_images"] == 300 and config["training"]["threads"] == 1
    history = json.loads((tmp_path / "vae" / "history.json").read_text())
    assert len(history) == 2
    assert load_model("vae", tmp_path).code_dim == 10


def test_cli_rejects_unknown_variant(capsys):
    assert main(["train", "--variant", "gan"]) == 2
    assert "Unknown variant 'gan'" in capsys.readouterr().err
