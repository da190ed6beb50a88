"""The judge: contract, strict checkpoint loading, a short real training run, and the shipped checkpoint's accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.checkpoint import CheckpointError
from explorer.judge import Judge, JudgeConfig, JudgeRecipe, accuracy, judge_dir, load_judge, save_judge, train_judge

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints"
BAR = 0.92  # issue 4: >= 92 % on the test split


def _tiny():
    torch.manual_seed(0)
    return Judge(JudgeConfig(channels=(4, 8, 8), hidden=16)).eval()


def test_contract_shapes_and_probabilities(small_batch):
    x, _ = small_batch
    judge = _tiny()
    assert judge.logits(x).shape == (64, 10)
    assert judge.features(x).shape == (64, 16)
    p = judge.predict_proba(x.numpy())
    assert p.shape == (64, 10) and np.allclose(p.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(judge.predict_proba(x[:, 0].numpy()), p, atol=1e-6)  # [B, 28, 28] works too
    with pytest.raises(ValueError, match=r"\[B, 1, 28, 28\]"):
        judge.features(torch.zeros(2, 784))


def test_config_validation():
    with pytest.raises(ValueError, match="channels"):
        JudgeConfig(channels=(4, 8))
    with pytest.raises(ValueError, match="dropout"):
        JudgeConfig(dropout=1.0)
    with pytest.raises(ValueError, match="epochs"):
        JudgeRecipe(epochs=0)


def test_save_load_round_trip_float16(tmp_path, small_batch):
    x, _ = small_batch
    judge = _tiny()
    save_judge(judge, tmp_path)
    loaded = load_judge(tmp_path)
    # float16 storage: outputs agree to float16 precision of the weights
    np.testing.assert_allclose(loaded.predict_proba(x), judge.predict_proba(x), atol=2e-2)
    again = load_judge(tmp_path)
    np.testing.assert_array_equal(again.predict_proba(x), loaded.predict_proba(x))  # loading is deterministic


def test_load_errors_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match="config.json is missing.*train-judge"):
        load_judge(tmp_path)
    save_judge(_tiny(), tmp_path)
    cfg_path = judge_dir(tmp_path) / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps(cfg | {"model": cfg["model"] | {"hidden": 32}}))
    with pytest.raises(CheckpointError, match="has shape"):
        load_judge(tmp_path)
    cfg_path.write_text(json.dumps(cfg | {"model": cfg["model"] | {"width": 3}}))
    with pytest.raises(CheckpointError, match="only the fields"):
        load_judge(tmp_path)
    cfg_path.write_text(json.dumps(cfg | {"model_class": "VAE"}))
    with pytest.raises(CheckpointError, match="not a Judge"):
        load_judge(tmp_path)
    cfg_path.write_text(json.dumps(cfg))
    (judge_dir(tmp_path) / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_judge(tmp_path)


def test_a_short_training_run_learns(fmnist):
    rng = np.random.default_rng(0)
    tr, va = rng.choice(60_000, 1500, replace=False), rng.choice(10_000, 500, replace=False)
    x, y = fmnist.train.tensor(tr), torch.from_numpy(fmnist.train.labels[tr].astype(np.int64))
    xv, yv = fmnist.test.tensor(va), torch.from_numpy(fmnist.test.labels[va].astype(np.int64))
    recipe = JudgeRecipe(epochs=2, batch_size=64)
    model, history, best = train_judge(
        x, y, xv, yv, recipe, JudgeConfig(channels=(8, 16, 16), hidden=32), progress=False
    )
    assert len(history) == 2 and best in (1, 2)
    assert accuracy(model, xv, yv.numpy()) > 0.6  # chance is 0.1


@pytest.mark.slow
def test_shipped_judge_meets_its_accuracy_on_the_real_test_split(fmnist):
    if not (judge_dir(SHIPPED) / "model.safetensors").is_file():
        pytest.skip(f"no shipped judge in {judge_dir(SHIPPED)}: train it with `python -m explorer train-judge`")
    judge = load_judge(SHIPPED)
    acc = accuracy(judge, fmnist.test.tensor(), fmnist.test.labels)
    print(f"\nshipped judge: test accuracy {acc:.4f} on {len(fmnist.test):,} images")
    assert acc >= BAR
    recorded = json.loads((judge_dir(SHIPPED) / "metrics.json").read_text())["test_accuracy"]
    assert recorded == pytest.approx(acc, abs=1e-4)
