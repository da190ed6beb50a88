"""``--set key=value``: every config and recipe field by name, ``latent`` for any variant, and each bad case named."""

import pytest

from explorer import overrides
from explorer.models import REGISTRY, VARIANTS, variants_with
from explorer.overrides import OverrideError


def _apply(name, *items):
    v = REGISTRY[name]
    return overrides.apply(v.config, v.recipe, overrides.parse_assignments(items))


@pytest.mark.parametrize("name", [n for n in VARIANTS if n in ("dense", "sparse", "vae")])
def test_latent_size_for_every_variant_that_has_one(name):
    config, recipe, applied = _apply(name, "latent=2", "epochs=3", "lr=5e-4", "batch_size=64")
    assert REGISTRY[name].build(config).code_dim == 2
    assert (recipe.epochs, recipe.lr, recipe.batch_size) == (3, 5e-4, 64)
    assert applied["epochs"] == 3


def test_fields_parse_by_their_type():
    config, recipe, _ = _apply("dense", "hidden=64,256", "l1_weight=1e-3", "init_from=none", "schedule=constant")
    assert config.hidden == (64, 256) and config.l1_weight == 1e-3
    assert recipe.init_from is None and recipe.schedule == "constant"
    for name in variants_with("denoiser"):
        assert _apply(name, "noise_amount=0.35")[0].noise_amount == 0.35


@pytest.mark.parametrize(
    "items, message",
    [
        (["epoch=3"], r"unknown key; valid keys are .*batch_size.*epochs"),
        (["epochs=three"], r"epochs='three': must be an integer"),
        (["lr=fast"], r"lr='fast': must be a number"),
        (["latent=0"], r"code_dim == 0, must be a positive integer"),
        (["epochs=0"], r"epochs == 0, must be a positive integer"),
        (["schedule=linear"], r"schedule == 'linear'"),
        (["noequals"], r"write key=value"),
        (["hidden="], r"give a comma list"),
    ],
)
def test_bad_overrides_name_the_key_and_the_fix(items, message):
    with pytest.raises(OverrideError, match=message):
        _apply("dense", *items)


def test_latent_on_a_variant_without_one_says_so():
    with pytest.raises(OverrideError, match="has no latent size to set"):
        _apply("unet", "latent=4")


def test_train_command_checks_overrides_before_loading_anything(tmp_path, capsys):
    from explorer.cli import main

    assert main(["train", "--variant", "dense,vae", "--set", "l1_weight=1", "--out", str(tmp_path)]) == 2
    assert "vae: --set l1_weight: unknown key; valid keys are" in capsys.readouterr().err
    assert main(["train", "--variant", "vae", "--set", "latent=0", "--out", str(tmp_path)]) == 2
    assert "latent_dim == 0, must be a positive integer" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_train_command_with_overrides_writes_a_checkpoint_that_loads_as_set(tmp_path):
    from explorer.checkpoint import load_model, read_config
    from explorer.cli import main

    args = ["train", "--variant", "dense", "--out", str(tmp_path), "--limit", "300", "--threads", "1"]
    sets = ["--set", "hidden=64,32", "--set", "latent=2", "--set", "epochs=1", "--set", "lr=2e-3"]
    assert main([*args, *sets]) == 0
    model = load_model("dense", tmp_path)
    assert model.code_dim == 2 and model.config.hidden == (64, 32)
    config = read_config("dense", tmp_path)
    assert config["recipe"]["epochs"] == 1 and config["recipe"]["lr"] == 2e-3 and config["model"]["code_dim"] == 2
