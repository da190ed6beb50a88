"""Plugins: the example package's variant trains, loads and prepares like a built-in one; it is found by a real
entry point or by --plugin; every broken plugin gets one message naming it and leaves the registry as it was.

Real data: 300 Fashion-MNIST test images registered as a small dataset; tiny epochs."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import checkpoint, cli, models, plugins
from explorer.checkpoint import CheckpointError, load_checkpoint, load_model
from explorer.runs import list_runs

EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "examples" / "latent_explorer_example"
EXAMPLE = "latent_explorer_example"
BUILT_IN = ("dense", "sparse", "denoising", "vae", "unet")
TRAIN = ["--set", "epochs=1", "--set", "latent=2", "--threads", "1"]


@pytest.fixture()
def clean(monkeypatch):
    """The registry, the loadable classes and the plugin loader's memory as they were, after each test; the
    modules the test imported forgotten."""
    registry, classes, modules = dict(models.REGISTRY), dict(checkpoint.MODEL_CLASSES), set(sys.modules)
    monkeypatch.setattr(plugins, "_LOADED", {})
    monkeypatch.setattr(plugins, "_PROBLEMS", [])
    monkeypatch.setattr(plugins, "_SCANNED", False)
    yield
    for table, before in ((models.REGISTRY, registry), (checkpoint.MODEL_CLASSES, classes)):
        table.clear()
        table.update(before)
    for name in set(sys.modules) - modules:
        if name == EXAMPLE or name.startswith("plug_"):
            del sys.modules[name]


@pytest.fixture()
def example(clean, monkeypatch):
    """The example package importable by name (as after `pip install -e`, without its entry point)."""
    monkeypatch.syspath_prepend(str(EXAMPLE_DIR))


@pytest.fixture()
def fm300(tmp_path, monkeypatch, fmnist):
    """A dataset of 300 real Fashion-MNIST images (60 carved for test); runs and datasets in tmp_path."""
    npz = tmp_path / "fm300.npz"
    np.savez(npz, x=fmnist.test.images[:300], y=fmnist.test.labels[:300])
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_EXPLORER_DATASETS", str(tmp_path / "datasets"))
    assert cli.main(["dataset", "add", "fm300", str(npz)]) == 0
    return tmp_path


def write_module(folder: Path, name: str, body: str) -> str:
    """A plugin module ``name`` in ``folder``: a valid 4-number linear autoencoder ``Good``, then ``body``."""
    header = """
        import math
        from dataclasses import dataclass

        import torch.nn.functional as F
        from torch import nn

        from explorer.models import Autoencoder, TrainRecipe, Variant


        @dataclass(frozen=True)
        class Cfg:
            code_dim: int = 4
            image_shape: tuple[int, ...] = (1, 28, 28)


        class Good(Autoencoder):
            config_class = Cfg

            def __init__(self, config):
                super().__init__(config)
                self.enc = nn.Linear(math.prod(config.image_shape), config.code_dim)
                self.dec = nn.Linear(config.code_dim, math.prod(config.image_shape))

            @property
            def code_dim(self):
                return self.config.code_dim

            def encode(self, x):
                return self.enc(x.flatten(1))

            def decode(self, z):
                return self.dec(z).view(-1, *self.image_shape)

            def loss(self, x, y=None, generator=None):
                return {"loss": F.mse_loss(self.reconstruct(x), x)}


        def variant(name, cls, caps=("encoder", "decoder"), config=None):
            return Variant(name, cls, config or Cfg(), TrainRecipe(epochs=1), name, "a test plugin", set(caps))
    """
    (folder / f"{name}.py").write_text(textwrap.dedent(header) + textwrap.dedent(body))
    importlib.invalidate_caches()
    return name


# ----------------------------------------------------------------------------------- the example package


def test_the_example_trains_loads_and_prepares_through_the_cli(example, fm300, capsys):
    from latent_explorer_example import LinearAutoencoder

    args = ["--plugin", EXAMPLE, "train", "--dataset", "fm300", "--variant", "linear", "--name", "mine", *TRAIN]
    assert cli.main(args) == 0
    run = fm300 / "runs" / "fm300" / "mine"
    config = json.loads((run / "config.json").read_text())
    assert (config["variant"], config["model_class"], config["model"]["code_dim"]) == ("linear", "LinearAutoencoder", 2)
    model = load_model("fm300/mine")
    assert type(model) is LinearAutoencoder and model.code_dim == 2
    listed = {r.key: r for r in list_runs(dataset="fm300")}["fm300/mine"]
    assert listed.variant == "linear" and listed.has_map and listed.capabilities == {"encoder", "decoder"}
    x = torch.from_numpy(np.load(fm300 / "datasets" / "fm300" / "data.npz")["images"][:4] / 255.0).float()
    assert model.decode(model.encode(x)).shape == x.shape
    # --plugin may follow the command too
    assert cli.main(["prepare", "fm300/mine", "--threads", "1", "--plugin", EXAMPLE]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["variant"] == "linear" and np.isfinite(metrics["psnr"]) and "precision_at_10" in metrics
    assert metrics["baseline"]["components"] == 2  # PCA-2 beside it
    with np.load(run / "projection-test.npz") as z:
        np.testing.assert_allclose(z["coords"], z["codes"], atol=1e-6)  # a 2-number code is its own map
        assert z["coords"].shape == (60, 2)


def test_a_plugin_variant_is_not_a_shipped_checkpoint(example, fm300, capsys):
    assert cli.main(["--plugin", EXAMPLE, "train", "--variant", "linear", *TRAIN]) == 2
    assert "trains as a run" in capsys.readouterr().err
    assert not (checkpoint.default_root() / "linear").exists()


def _dist_info(site: Path, lines: str) -> None:
    info = site / "latent_explorer_example-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: latent-explorer-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[latent_explorer.variants]\n{lines}\n")


def test_an_installed_package_is_found_by_its_entry_point(example, fm300, tmp_path, monkeypatch, capsys):
    # what `pip install` leaves on sys.path: a *.dist-info folder with METADATA and entry_points.txt
    _dist_info(tmp_path / "site", "linear = latent_explorer_example:variants\nbroken = plug_not_there_at_all")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    assert "linear" not in models.REGISTRY
    with pytest.warns(plugins.PluginWarning, match="plug_not_there_at_all.*pip uninstall latent-explorer-example"):
        assert plugins.load_plugins([]) == ["linear"]  # the broken entry point does not stop the good one
    assert models.REGISTRY["linear"].model_class.__module__ == EXAMPLE
    assert "plug_not_there_at_all" in plugins.problems()[0]
    # the CLI loads entry points by itself: no --plugin needed, a warning for the broken one
    plugins._LOADED.clear()
    del models.REGISTRY["linear"]
    assert cli.main(["train", "--dataset", "fm300", "--variant", "linear", "--name", "ep", *TRAIN]) == 0
    assert "warning: plugin 'plug_not_there_at_all'" in capsys.readouterr().err
    assert type(load_model("fm300/ep")).__name__ == "LinearAutoencoder"
    # and so does the Python API, where a run names a variant that is not registered yet
    del models.REGISTRY["linear"]
    plugins._LOADED.clear()
    monkeypatch.setattr(plugins, "_SCANNED", False)
    with pytest.warns(plugins.PluginWarning, match="plug_not_there_at_all"):
        assert type(load_model("fm300/ep")).__name__ == "LinearAutoencoder"


# ------------------------------------------------------------------------------------------- bad plugins


def _unchanged(before: dict) -> None:
    assert models.REGISTRY == before
    assert tuple(models.REGISTRY)[:5] == BUILT_IN
    for name in BUILT_IN:
        models.probe_variant(models.REGISTRY[name])  # the built-ins still build and keep the contract


BAD = [
    ("import plug_missing_dependency_xyz\n", r"plugin module '{m}' failed to import \(ModuleNotFoundError.*"
     r"plug_missing_dependency_xyz.*PYTHONPATH"),
    ("raise RuntimeError('no GPU here')\n", r"'{m}' failed to import \(RuntimeError: no GPU here\)"),
    ("", r"'{m}' defines no variants: add `def variants\(\)"),
    ("""
     class NoDecode(Good):
         decode = None

     def variants():
         return [variant("nodecode", NoDecode)]
     """, r"'nodecode'.*declares 'decoder' but does not implement decode\(\).*drop 'decoder'"),
    ("""
     class Short(Good):
         def encode(self, x):
             return self.enc(x.flatten(1))[:, :3]

     def variants():
         return [variant("short", Short)]
     """, r"encode\(\) of a zero batch returned shape \(2, 3\), the contract needs \(2, 4\)"),
    ("""
     def variants():
         return [variant("dense", Good)]
     """, r"'dense' is a built-in variant's; give yours another name"),
    ("""
     def variants():
         return [variant("ok-one", Good), variant("Bad Name", Good)]
     """, r"variant name 'Bad Name': use lower-case letters"),
    ("""
     class NotAModule:
         config_class = Cfg

     def variants():
         return [variant("plain", NotAModule)]
     """, r"not an nn.Module subclass"),
    ("""
     def variants():
         return [variant("nodecoder", Good, caps=("decoder", "speaks"))]
     """, r"variants\(\) raised ValueError: Variant 'nodecoder': unknown capabilities \['speaks'\]"),
    ("""
     class Crash(Good):
         def decode(self, z):
             raise RuntimeError("shape mismatch in my decoder")

     def variants():
         return [variant("crash", Crash)]
     """, r"decode\(\) failed in the contract probe \(RuntimeError: shape mismatch in my decoder\)"),
    ("""
     class NoSize(Autoencoder):
         config_class = Cfg

         def encode(self, x):
             return x.flatten(1)

         def decode(self, z):
             return z.view(-1, 1, 28, 28)

         def loss(self, x, y=None, generator=None):
             return {"loss": x.sum()}

     def variants():
         return [variant("nosize", NoSize)]
     """, r"'nosize'.*its image_shape and code_dim properties failed in the contract probe \(NotImplementedError"),
    ("""
     class NoShape:
         code_dim = 4

     class Bare(Good):
         config_class = NoShape

     def variants():
         return [variant("bare", Bare, config=NoShape())]
     """, r"config_class attribute naming a dataclass"),
    ("""
     def variants():
         return "linear"
     """, r"must return a list of explorer.models.Variant"),
]  # fmt: skip


@pytest.mark.parametrize("body, message", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_a_broken_plugin_is_named_with_its_fix_and_registers_nothing(clean, tmp_path, monkeypatch, body, message):
    monkeypatch.syspath_prepend(str(tmp_path))
    module = write_module(tmp_path, f"plug_bad_{abs(hash(body)) % 10**8}", body)
    before, classes = dict(models.REGISTRY), dict(checkpoint.MODEL_CLASSES)
    with pytest.raises(plugins.PluginError, match=message.format(m=module)) as e:
        plugins.load_plugins([module], entry_points=False)
    assert module in str(e.value)
    _unchanged(before)
    assert checkpoint.MODEL_CLASSES == classes


def test_one_broken_plugin_does_not_stop_another(clean, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    good = write_module(tmp_path, "plug_good", "def variants():\n    return [variant('good', Good)]\n")
    bad = write_module(tmp_path, "plug_broken", "raise ImportError('needs my_lib')\n")
    before = dict(models.REGISTRY)
    with pytest.raises(plugins.PluginError, match="plug_broken") as e:
        plugins.load_plugins([bad, good], entry_points=False)
    assert "plug_good" not in str(e.value)
    assert set(models.REGISTRY) - set(before) == {"good"} and "Good" in checkpoint.MODEL_CLASSES
    assert plugins.load_plugins([good], entry_points=False) == ["good"]  # loading it again is a no-op


def test_a_plugin_that_registers_on_import_and_then_breaks_leaves_nothing(clean, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    body = "from explorer.models import register_variant\nregister_variant(variant('early', Good))\n1 / 0\n"
    module = write_module(tmp_path, "plug_early", body)
    before = dict(models.REGISTRY)
    with pytest.raises(plugins.PluginError, match="ZeroDivisionError"):
        plugins.load_plugins([module], entry_points=False)
    assert models.REGISTRY == before and "Good" not in checkpoint.MODEL_CLASSES


def test_two_plugins_cannot_take_one_name(clean, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    first = write_module(tmp_path, "plug_first", "def variants():\n    return [variant('same', Good)]\n")
    second = write_module(tmp_path, "plug_second", "def variants():\n    return [variant('same', Good)]\n")
    plugins.load_plugins([first], entry_points=False)
    with pytest.raises(plugins.PluginError, match=r"plug_second.*'same' is taken by plug_first"):
        plugins.load_plugins([second], entry_points=False)


def test_a_failing_plugin_on_the_command_line_stops_before_anything_is_written(clean, fm300, tmp_path, capsys):
    args = ["--plugin", "plug_nowhere", "train", "--dataset", "fm300", "--variant", "dense", "--name", "x", *TRAIN]
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert "plugin module 'plug_nowhere' failed to import" in err and "PYTHONPATH" in err
    assert not (fm300 / "runs" / "fm300" / "x").exists()
    assert cli.main(["--plugin", "plugins/my_model.py", "train"]) == 2
    assert "not a path" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, modules, rest",
    [
        (["dashboard.py", "--plugin", "a", "--plugin=b.c"], ["a", "b.c"], ["dashboard.py"]),
        (["train", "--plugin", "a", "--variant", "x"], ["a"], ["train", "--variant", "x"]),
        (["prepare", "d/r"], [], ["prepare", "d/r"]),
    ],
)
def test_plugins_from_argv(argv, modules, rest):
    assert plugins.plugins_from_argv(argv) == modules
    assert plugins.strip_plugin_args(argv) == rest


@pytest.mark.parametrize("argv", [["--plugin"], ["--plugin="], ["--plugin", "--set"]])
def test_a_plugin_flag_without_a_module_is_refused(argv):
    with pytest.raises(plugins.PluginError, match="--plugin needs a module name"):
        plugins.plugins_from_argv(argv)


# ---------------------------------------------------------------- checkpoints never import what they name


def test_a_checkpoint_of_an_unregistered_plugin_variant_says_how_to_load_it(example, fm300, capsys):
    assert cli.main(["--plugin", EXAMPLE, "train", "--dataset", "fm300", "--variant", "linear", "--name", "m",
                     *TRAIN]) == 0  # fmt: skip
    del models.REGISTRY["linear"], checkpoint.MODEL_CLASSES["LinearAutoencoder"], sys.modules[EXAMPLE]
    with pytest.raises(CheckpointError, match=r"names variant 'linear', which is not registered.*--plugin MODULE"):
        load_model("fm300/m")
    assert cli.main(["prepare", "fm300/m"]) == 2
    assert "not registered here: pass --plugin MODULE" in capsys.readouterr().err
    # a config.json that names a module's class is not obeyed: nothing is imported because a file said so
    directory = fm300 / "runs" / "fm300" / "m"
    config = json.loads((directory / "config.json").read_text())
    config["model_class"] = f"{EXAMPLE}.LinearAutoencoder"
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="is not a known model class"):
        load_checkpoint(directory)
    assert EXAMPLE not in sys.modules
    # with the plugin, it loads again
    plugins._LOADED.clear()
    assert cli.main(["--plugin", EXAMPLE, "prepare", "fm300/m", "--threads", "1"]) == 2  # the edited class name
    config["model_class"] = "LinearAutoencoder"
    (directory / "config.json").write_text(json.dumps(config))
    assert cli.main(["--plugin", EXAMPLE, "prepare", "fm300/m", "--threads", "1"]) == 0


def test_the_dashboard_shows_a_plugin_run_given_by_its_start_command(example, fm300, monkeypatch):
    """`streamlit run dashboard.py -- --plugin MODULE`: the router registers the plugin, its run is offered."""
    from tests.support.pages import open_link

    args = ["--plugin", EXAMPLE, "train", "--dataset", "fm300", "--variant", "linear", "--name", "mine", *TRAIN]
    assert cli.main(args) == 0
    assert cli.main(["prepare", "fm300/mine", "--threads", "1", "--plugin", EXAMPLE]) == 0
    monkeypatch.setattr(sys, "argv", ["dashboard.py", "--plugin", EXAMPLE])
    at = open_link({"page": "map", "dataset": "fm300", "variant": "fm300/mine"})
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert at.selectbox(key="variant").value == "fm300/mine"
    assert at.get("bidi_component")


def test_the_dashboard_names_a_broken_plugin_and_keeps_working(clean, monkeypatch):
    from tests.support.pages import open_link

    monkeypatch.setattr(sys, "argv", ["dashboard.py", "--plugin", "no_such_plugin_module"])
    at = open_link({"page": "map"})
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert "no_such_plugin_module" in "\n".join(w.value for w in at.warning)
    assert at.get("bidi_component"), "the shipped runs still work"
