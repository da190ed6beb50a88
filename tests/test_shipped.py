"""The shipped checkpoints load, their artefacts match them, and they meet the bars on the real test split.

These tests measure again rather than trusting metrics.json: they are what keeps quality from regressing.
"""

import numpy as np
import pytest

from explorer import load_model
from explorer.checkpoint import JUDGE, checkpoint_dir, default_root, load_checkpoint, read_config
from explorer.commands.evaluate import check_bars, evaluate_variant, load_baselines, load_generation, load_metrics
from explorer.judge import Judge
from explorer.models import REGISTRY, VARIANTS, get_variant
from explorer.projection import load_projection

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def measured(fmnist):
    x = fmnist.test.images.astype(np.float32)[:, None] / 255.0
    return {name: evaluate_variant(name, load_model(name), x, fmnist.test.labels) for name in VARIANTS}


@pytest.mark.parametrize("name", VARIANTS)
def test_checkpoint_is_self_describing(name, fmnist):
    config = read_config(name)
    assert config["variant"] == name and config["dataset_sha256"] == fmnist.sha256
    assert {"epochs", "batch_size", "lr"} <= set(config["recipe"])
    assert {"wall_seconds", "epochs_run", "device"} <= set(config["training"])
    assert (default_root() / name / "history.json").is_file()


@pytest.mark.parametrize("name", [*VARIANTS, JUDGE])
def test_the_one_loader_loads_every_shipped_checkpoint(name):
    model = load_checkpoint(checkpoint_dir(name, default_root()))
    expected = REGISTRY[name].model_class if name in REGISTRY else Judge
    assert type(model) is expected and not model.training
    assert all(p.device.type == "cpu" and p.dtype.is_floating_point for p in model.parameters())


def test_shipped_generation_quality_is_current():
    result = load_generation()  # raises if measured with other VAE or judge weights
    assert result["rows"]["vae"]["fid"] < result["rows"]["pca_gaussian"]["fid"]


@pytest.mark.parametrize("name", VARIANTS)
def test_stored_metrics_are_current_and_true(name, measured):
    stored = load_metrics(name)  # raises if measured on other weights
    for key, value in measured[name].items():
        if isinstance(value, float) and key != "seconds":
            assert stored[key] == pytest.approx(value, rel=1e-3, abs=1e-3), key


@pytest.mark.parametrize("name", [n for n in VARIANTS if get_variant(n).can("decoder")])
def test_shipped_projection_is_current(name):
    proj = load_projection(name, "test")
    assert proj.coords.shape == (10000, 2) and np.isfinite(proj.coords).all()


def test_bars_are_met(measured):
    bars = check_bars(measured)
    assert {"dense", "sparse", "vae"} <= set(bars)
    assert any(k == "denoise_ssim" for rows in bars.values() for k, *_ in rows)
    failed = [f"{n} {k} = {v:.4g} (bar {op} {b:.4g})" for n, rows in bars.items() for k, v, op, b, ok in rows if not ok]
    assert not failed, failed


def test_baselines_are_stored():
    base = load_baselines()
    assert 16 < base["pca10"]["psnr"] < base["pca32"]["psnr"] < 21  # the issue measured 16.70 and 18.97 dB
    assert base["noisy_input"]["psnr"] < base["median3"]["psnr"] < base["adaptive_median"]["psnr"]
    assert {"pca10", "pca32", "raw_pixels", "noisy_input", "median3", "adaptive_median"} <= set(base)


def test_evaluation_md_and_the_readme_are_the_report_of_the_stored_measurements():
    """``evaluate`` writes checkpoints/evaluation.md and the README's table from the stored measurements: rendering
    them again must give the same text (a changed report or a stale file fails here)."""
    from pathlib import Path

    from explorer import report
    from explorer.commands.evaluate import NOISE_AMOUNT

    metrics = {name: load_metrics(name) for name in VARIANTS}
    table = report.render_table(metrics, load_baselines(), check_bars(metrics), NOISE_AMOUNT)
    table += report.render_generation_section(load_generation())
    assert table == (default_root() / "evaluation.md").read_text()
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"<!-- evaluation:start -->\n{table}<!-- evaluation:end -->" in readme
    assert f"<!-- training:start -->\n{report.render_training_table()}<!-- training:end -->" in readme
