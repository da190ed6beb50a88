import json
import pickle

import numpy as np
import pytest
import torch

from explorer import load_model
from explorer.checkpoint import MODEL_CLASSES, CheckpointError, check_model, load_checkpoint, save_checkpoint
from explorer.models import (
    REGISTRY,
    VARIANTS,
    ConvConfig,
    DenseConfig,
    TrainRecipe,
    UNetConfig,
    VAEConfig,
    config_from_dict,
    get_variant,
)
from tests.support.tiny import TINY


def test_registry_is_the_one_vocabulary():
    assert VARIANTS[:4] == ("dense", "sparse", "denoising", "vae")  # the tutorial's four, then improvements
    assert set(TINY) == set(REGISTRY)
    with pytest.raises(ValueError, match=r"Unknown variant 'vea'; choose one of: dense, sparse"):
        get_variant("vea")


@pytest.mark.parametrize("name", VARIANTS)
def test_contract_shapes_and_finite_loss(name, small_batch):
    x, _ = small_batch
    torch.manual_seed(0)
    model = get_variant(name).build(TINY[name]).eval()
    z = model.encode(x)
    assert z.shape == (len(x), model.code_dim)
    if get_variant(name).can("decoder"):
        assert model.decode(z).shape == x.shape
    else:
        with pytest.raises(NotImplementedError, match="reconstruct"):
            model.decode(z)
    assert model.reconstruct(x).shape == x.shape
    terms = model.loss(x, generator=torch.Generator().manual_seed(0))
    assert "loss" in terms and torch.isfinite(terms["loss"]) and terms["loss"].ndim == 0
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", VARIANTS)
def test_full_architecture_matches_the_tutorial(name):
    model = get_variant(name).build()
    x = torch.rand(2, 1, 28, 28)
    expected_code = {"dense": 10, "sparse": 10, "denoising": 256, "vae": 10, "unet": 64 * 49}[name]
    assert model.encode(x).shape == (2, expected_code)
    if name in ("dense", "sparse"):
        sizes = [m.out_features for m in model.encoder if isinstance(m, torch.nn.Linear)]
        assert sizes == [2000, 500, 500, 10]
        assert isinstance(model.encoder[-1], torch.nn.Sigmoid)
        assert isinstance(model.decoder[-1], torch.nn.Linear)  # linear output
    if name == "denoising":
        assert model.encoder(x).shape == (2, 16, 4, 4)  # 28 -> 14 -> 7 -> 4 ('same' pooling)
    if name == "vae":
        mu, logvar = model.posterior(x)
        assert mu.shape == logvar.shape == (2, 10)
        assert torch.equal(model.encode(x), mu)
        out = model.decode(mu)
        assert 0 <= out.min() and out.max() <= 1


def test_vae_loss_is_bernoulli_nll_plus_kl():
    model = get_variant("vae").build(TINY["vae"])
    x = torch.rand(8, 1, 28, 28)
    terms = model.loss(x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(terms["loss"], terms["nll"] + terms["kl"])
    assert terms["kl"] >= 0 and terms["nll"] > 0


def test_sparse_penalty_is_l1_on_code():
    x = torch.rand(8, 1, 28, 28)
    torch.manual_seed(0)
    model = get_variant("sparse").build(TINY["sparse"])
    terms = model.loss(x)
    assert torch.allclose(terms["loss"], terms["mse"] + 1e-3 * terms["l1"])
    assert torch.allclose(terms["l1"], model.encode(x).sum(1).mean())


@pytest.mark.parametrize("name", [n for n in VARIANTS if get_variant(n).can("denoiser")])
def test_denoising_loss_sees_noise_but_targets_clean(name):
    torch.manual_seed(0)
    model = get_variant(name).build(TINY[name])
    x = torch.rand(4, 1, 28, 28)
    a = model.loss(x, generator=torch.Generator().manual_seed(1))["loss"]
    b = model.loss(x, generator=torch.Generator().manual_seed(1))["loss"]
    c = model.loss(x, generator=torch.Generator().manual_seed(2))["loss"]
    assert a == b and a != c


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: DenseConfig(code_dim=0), r"DenseConfig.code_dim == 0"),
        (lambda: DenseConfig(hidden=(10, -1)), r"DenseConfig.hidden == \(10, -1\)"),
        (lambda: DenseConfig(l1_weight=-1.0), r"DenseConfig.l1_weight == -1.0"),
        (lambda: DenseConfig(l1_weight=float("nan")), r"DenseConfig.l1_weight == nan"),
        (lambda: ConvConfig(channels=(1, 2)), r"ConvConfig.channels == \(1, 2\)"),
        (lambda: ConvConfig(noise_amount=2.0), r"ConvConfig.noise_amount == 2.0"),
        (lambda: VAEConfig(latent_dim=0), r"VAEConfig.latent_dim == 0"),
        (lambda: UNetConfig(channels=(4, 0, 8)), r"UNetConfig.channels == \(4, 0, 8\)"),
        (lambda: TrainRecipe(schedule="step"), r"TrainRecipe.schedule == 'step'"),
        (lambda: TrainRecipe(lr=0), r"TrainRecipe.lr == 0"),
        (lambda: TrainRecipe(batch_size=0), r"TrainRecipe.batch_size == 0"),
        (lambda: TrainRecipe(optimizer="sgd"), r"TrainRecipe.optimizer == 'sgd'"),
        (lambda: TrainRecipe(mode="up"), r"TrainRecipe.mode == 'up'"),
        (lambda: TrainRecipe(monitor="accuracy"), r"TrainRecipe.monitor == 'accuracy'"),
        (lambda: TrainRecipe(max_minutes=0), r"TrainRecipe.max_minutes == 0"),
        (lambda: config_from_dict(VAEConfig, {"hiden": 3}), r"unknown VAEConfig field\(s\): hiden"),
        (lambda: config_from_dict(VAEConfig, {"hidden": 3}), r"missing VAEConfig field\(s\): latent_dim"),
    ],
)
def test_config_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("name", VARIANTS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_save_load_roundtrip(name, dtype, tmp_path, small_batch):
    x, _ = small_batch
    torch.manual_seed(0)
    model = get_variant(name).build(TINY[name]).eval()
    save_checkpoint(model, name, tmp_path, recipe={"epochs": 1}, dtype=dtype)
    loaded = load_model(name, tmp_path)
    assert not loaded.training and loaded.config == model.config
    if dtype == torch.float16:  # the stored weights are float16: compare against the same rounding
        model.load_state_dict({k: v.half().float() for k, v in model.state_dict().items()})
    with torch.no_grad():
        assert torch.equal(model.reconstruct(x), loaded.reconstruct(x))
    config = json.loads((tmp_path / name / "config.json").read_text())
    assert config["variant"] == name and config["recipe"] == {"epochs": 1}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    save_checkpoint(get_variant("vae").build(TINY["vae"]), "vae", tmp_path)
    return tmp_path / "vae"


def _truncate(d):
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[:-1000])


def _pickle_renamed(d):
    (d / "model.safetensors").write_bytes(pickle.dumps({"encoder.0.weight": np.zeros(3)}))


def _bad_json(d):
    (d / "config.json").write_text('{"variant": "vae", ')


def _missing_weights(d):
    (d / "model.safetensors").unlink()


def _missing_config(d):
    (d / "config.json").unlink()


def _wrong_shape(d):
    c = json.loads((d / "config.json").read_text())
    c["model"]["hidden"] = 33
    (d / "config.json").write_text(json.dumps(c))


def _unknown_field(d):
    c = json.loads((d / "config.json").read_text())
    c["model"]["depth"] = 3
    (d / "config.json").write_text(json.dumps(c))


def _missing_field(d):
    c = json.loads((d / "config.json").read_text())
    del c["model"]["hidden"]
    (d / "config.json").write_text(json.dumps(c))


def _other_class(d):
    c = json.loads((d / "config.json").read_text())
    c["model_class"] = "DenseAutoencoder"
    (d / "config.json").write_text(json.dumps(c))


def _other_variant(d):
    c = json.loads((d / "config.json").read_text())
    c["variant"] = "dense"
    (d / "config.json").write_text(json.dumps(c))


def _nan_weights(d):
    from safetensors.torch import load_file, save_file

    state = load_file(str(d / "model.safetensors"))
    state["mu.bias"][0] = float("nan")
    save_file(state, str(d / "model.safetensors"))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (_truncate, r"model.safetensors is not a readable safetensors file"),
        (_pickle_renamed, r"model.safetensors is not a readable safetensors file"),
        (_bad_json, r"config.json is not valid JSON"),
        (_missing_weights, r"model.safetensors is missing"),
        (_missing_config, r"config.json is missing"),
        (_wrong_shape, r"tensor .* has shape .*, the config needs"),
        (_unknown_field, r"invalid model config .*depth"),
        (_missing_field, r"invalid model config .*missing VAEConfig field\(s\): hidden"),
        (_other_variant, r"describes variant 'dense', not 'vae'"),
        (_other_class, r"describes model_class 'DenseAutoencoder', not 'VAE'"),
        (_nan_weights, r"NaN or infinite"),
    ],
)
def test_damaged_checkpoint_names_file_and_fix(saved, damage, match):
    damage(saved)
    with pytest.raises(CheckpointError, match=match) as e:
        load_model("vae", saved.parent)
    assert "python -m explorer train --variant vae" in str(e.value)
    if damage is _nan_weights:  # the header-only check (the sidebar's) cannot see values: loading does
        check_model("vae", saved.parent)
    else:
        with pytest.raises(CheckpointError, match=match):
            check_model("vae", saved.parent)


def test_header_check_passes_a_sound_checkpoint(saved):
    check_model("vae", saved.parent)


def test_one_loader_refuses_an_unknown_model_class_naming_the_known_ones(saved):
    c = json.loads((saved / "config.json").read_text())
    (saved / "config.json").write_text(json.dumps(c | {"model_class": "os.system"}))
    with pytest.raises(CheckpointError, match=r"model_class == 'os.system' is not a known model class; known: .*Judge"):
        load_checkpoint(saved)
    assert set(MODEL_CLASSES) == {v.model_class.__name__ for v in REGISTRY.values()} | {"Judge"}


def test_one_loader_loads_any_folder_by_the_class_its_config_names(saved, small_batch):
    x, _ = small_batch
    model = load_checkpoint(saved)  # no variant name given: config.json says what it is
    assert type(model).__name__ == "VAE" and not model.training
    with torch.no_grad():
        assert torch.equal(model.reconstruct(x), load_model("vae", saved.parent).reconstruct(x))


def test_a_registered_plugin_class_loads_through_the_same_loader(tmp_path, monkeypatch):
    from dataclasses import dataclass

    from explorer import checkpoint

    @dataclass(frozen=True)
    class PluginConfig:
        width: int = 3

    class Plugin(torch.nn.Module):
        config_class = PluginConfig

        def __init__(self, config):
            super().__init__()
            self.config = config
            self.lin = torch.nn.Linear(config.width, 1)

    monkeypatch.setattr(checkpoint, "MODEL_CLASSES", dict(checkpoint.MODEL_CLASSES))
    checkpoint.write_checkpoint(Plugin(PluginConfig()), tmp_path / "p", {}, {"width": 3})
    with pytest.raises(CheckpointError, match="'Plugin' is not a known model class"):
        load_checkpoint(tmp_path / "p", fix="python -m my_plugin train")
    checkpoint.register_model_class(Plugin)
    assert load_checkpoint(tmp_path / "p").lin.in_features == 3
    with pytest.raises(TypeError, match="config_class"):
        checkpoint.register_model_class(torch.nn.Linear)
