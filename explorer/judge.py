"""The judge: a small CNN classifier of Fashion-MNIST that says what a generated image looks like.

It labels the Generator page's image ("looks like: Sneaker 87 %") and its penultimate layer is the
feature space of the Fashion-FID (``explorer.generation``). It is not an autoencoder, so it lives
outside ``models.REGISTRY``; its checkpoint has the same shape as theirs:
``checkpoints/judge/`` config.json + model.safetensors (float16 storage) + metrics.json + history.json.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from .checkpoint import (
    CONFIG,
    METRICS,
    WEIGHTS,
    CheckpointError,
    default_root,
    load_weights_strict,
    read_json_or_fix,
    weights_file_hash,
    write_checkpoint,
)
from .models import config_to_dict

NAME = "judge"
FIX = "python -m explorer train-judge"
# Fashion-MNIST train-set pixel mean and standard deviation (of x/255): inputs are standardised inside the model.
PIXEL_MEAN, PIXEL_STD = 0.2860, 0.3530


@dataclass(frozen=True)
class JudgeConfig:
    channels: tuple[int, ...] = (32, 64, 64)  # conv widths at 28, 14 and 7 pixels: ~5 M MACs, seconds per 10k images
    hidden: int = 256  # the penultimate layer: the Fashion-FID feature dimension
    dropout: float = 0.3  # before the last layer only; BatchNorm regularises the convs

    def __post_init__(self):
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != 3 or any(not isinstance(c, int) or c < 1 for c in self.channels):
            raise ValueError(f"JudgeConfig.channels == {self.channels!r}, must be three positive integers.")
        if not isinstance(self.hidden, int) or self.hidden < 1:
            raise ValueError(f"JudgeConfig.hidden == {self.hidden!r}, must be a positive integer.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"JudgeConfig.dropout == {self.dropout!r}, must be in [0, 1).")


@dataclass(frozen=True)
class JudgeRecipe:
    epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3  # AdamW, one-cycle-free cosine decay to lr/100
    weight_decay: float = 1e-4
    patience: int = 3  # early stopping on validation accuracy
    val_fraction: float = 1 / 12  # 5,000 of the 60,000 train images; the test split is never seen in training
    flip: bool = True  # random horizontal flips: every class is left-right symmetric up to the shoe's direction
    max_minutes: float = 12.0  # time box: stop after the epoch that passes it
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"JudgeRecipe.{name} == {value!r}, must be a positive integer.")
        if not self.lr > 0:
            raise ValueError(f"JudgeRecipe.lr == {self.lr!r}, must be > 0.")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"JudgeRecipe.val_fraction == {self.val_fraction!r}, must be in (0, 1).")
        if not self.max_minutes > 0:
            raise ValueError(f"JudgeRecipe.max_minutes == {self.max_minutes!r}, must be > 0.")


class Judge(nn.Module):
    """conv-BN-ReLU-pool ×3 (28→14→7→3), then a ``hidden``-unit layer (the features) and 10 logits."""

    def __init__(self, config: JudgeConfig | None = None):
        super().__init__()
        self.config = config or JudgeConfig()
        c1, c2, c3 = self.config.channels

        def block(a, b):
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2)]

        self.convs = nn.Sequential(*block(1, c1), *block(c1, c2), *block(c2, c3))
        self.fc = nn.Linear(c3 * 3 * 3, self.config.hidden)
        self.drop = nn.Dropout(self.config.dropout)
        self.head = nn.Linear(self.config.hidden, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 1, 28, 28] in [0, 1] -> penultimate activations [B, hidden] (after ReLU)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
            raise ValueError(f"the judge takes images of shape [B, 1, 28, 28], got {tuple(x.shape)}.")
        h = self.convs((x - PIXEL_MEAN) / PIXEL_STD)
        return F.relu(self.fc(h.flatten(1)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 1, 28, 28] in [0, 1] -> class logits [B, 10]."""
        return self.head(self.drop(self.features(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(x)

    @torch.no_grad()
    def predict_proba(self, x, batch_size: int = 1000) -> np.ndarray:
        """x: [B, 1, 28, 28] (or [B, 28, 28]) floats in [0, 1], tensor or array -> probabilities float32 [B, 10]."""
        return _batched(self, lambda b: torch.softmax(self.logits(b), 1), x, batch_size)

    @torch.no_grad()
    def embed(self, x, batch_size: int = 1000) -> np.ndarray:
        """Like ``features`` for any number of images, batched, without gradients -> float32 [B, hidden]."""
        return _batched(self, self.features, x, batch_size)


def _as_batch(x) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x, dtype=np.float32) if not isinstance(x, torch.Tensor) else x).float()
    return t[:, None] if t.dim() == 3 else t


def _batched(model: nn.Module, fn, x, batch_size: int) -> np.ndarray:
    if model.training:
        raise RuntimeError("the judge is in training mode; call .eval() before predicting.")
    x = _as_batch(x)
    device = next(model.parameters()).device
    outs = [fn(x[i : i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(outs).numpy() if outs else np.zeros((0, 10), np.float32)


def accuracy(model: Judge, x, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on images ``x`` [N, 1, 28, 28] in [0, 1]."""
    return float((model.predict_proba(x).argmax(1) == np.asarray(labels)).mean())


# ------------------------------------------------------------------------------------------- training


def train_judge(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    recipe: JudgeRecipe = JudgeRecipe(),
    config: JudgeConfig = JudgeConfig(),
    device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[Judge, list[dict], int]:
    """Train on ``x_train`` [N, 1, 28, 28], early stopping on validation accuracy -> (model, history, best epoch)."""
    from tqdm import tqdm

    device = torch.device(device)
    torch.manual_seed(recipe.seed)  # weight initialisation and dropout
    model = Judge(config).to(device, memory_format=torch.channels_last)
    x_train, y_train, x_val, y_val = (t.to(device) for t in (x_train, y_train, x_val, y_val))
    opt = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    total = math.ceil(len(x_train) / recipe.batch_size) * recipe.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    shuffle = torch.Generator().manual_seed(recipe.seed)
    history: list[dict] = []
    best_acc, best_state, best_epoch, since_best = -1.0, None, 0, 0
    start = time.perf_counter()
    bar = tqdm(range(1, recipe.epochs + 1), desc=NAME, unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(x_train), generator=shuffle).to(device)
        flips = torch.rand(len(x_train), generator=shuffle).to(device) < 0.5
        loss_sum, correct = 0.0, 0
        for i in range(0, len(x_train), recipe.batch_size):
            idx = perm[i : i + recipe.batch_size]
            xb, yb = x_train[idx], y_train[idx]
            if recipe.flip:
                xb = torch.where(flips[idx, None, None, None], xb.flip(3), xb)
            logits = model(xb.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(xb)
            correct += int((logits.argmax(1) == yb).sum())
        model.eval()
        val_acc = accuracy(model, x_val, y_val.cpu().numpy())
        row = {
            "epoch": epoch,
            "lr": opt.param_groups[0]["lr"],
            "train_loss": loss_sum / len(x_train),
            "train_accuracy": correct / len(x_train),
            "val_accuracy": val_acc,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        history.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{val_acc:.4f}", s=row["seconds"])
        if val_acc > best_acc:
            best_acc, best_epoch, since_best = val_acc, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        if since_best >= recipe.patience:
            break
        if time.perf_counter() - start > recipe.max_minutes * 60:
            bar.write(f"{NAME}: time box of {recipe.max_minutes} min reached after epoch {epoch}.")
            break
    model.load_state_dict(best_state)
    return model.to("cpu", memory_format=torch.contiguous_format).eval(), history, best_epoch


# ------------------------------------------------------------------------------------------ checkpoint


def judge_dir(root: str | os.PathLike | None = None) -> Path:
    """``<checkpoints root>/judge`` (the root defaults to ``$LATENT_EXPLORER_CHECKPOINTS`` or ./checkpoints)."""
    return Path(root or default_root()) / NAME


def save_judge(
    model: Judge,
    root: str | os.PathLike | None = None,
    *,
    recipe: dict | None = None,
    training: dict | None = None,
    history: list[dict] | None = None,
    dataset_sha256: str | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write config.json, model.safetensors (floating tensors stored as ``dtype``) and history.json."""
    return write_checkpoint(
        model, judge_dir(root), {}, config_to_dict(model.config), recipe=recipe, training=training, history=history,
        dataset_sha256=dataset_sha256, dtype=dtype,
    )  # fmt: skip


def load_judge(root: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Judge:
    """The judge of ``<root>/judge``, rebuilt from its config, weights loaded strictly, in eval mode (float32)."""
    directory = judge_dir(root)
    fix = f"Recreate it with `{FIX}`."
    config = read_json_or_fix(directory / CONFIG, FIX)
    if config.get("model_class") != Judge.__name__:
        raise CheckpointError(f"{directory / CONFIG} describes a {config.get('model_class')!r}, not a Judge. {fix}")
    spec = config.get("model")
    names = {f.name for f in fields(JudgeConfig)}
    if not isinstance(spec, dict) or set(spec) - names:
        raise CheckpointError(f"{directory / CONFIG}: 'model' must hold only the fields {sorted(names)}. {fix}")
    try:
        model = Judge(JudgeConfig(**spec))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{directory / CONFIG} has an invalid model config ({e}). {fix}") from e
    load_weights_strict(model, directory / WEIGHTS, directory / CONFIG, fix)
    return model.to(device).eval()


def judge_weights_hash(root: str | os.PathLike | None = None) -> str:
    return weights_file_hash(judge_dir(root) / WEIGHTS, FIX)


def load_judge_metrics(root: str | os.PathLike | None = None) -> dict:
    """metrics.json of the judge, checked against the current weights."""
    m = read_json_or_fix(judge_dir(root) / METRICS, FIX)
    if m.get("weights_sha256") != judge_weights_hash(root):
        raise CheckpointError(f"{judge_dir(root) / METRICS} was measured on other weights. Recreate it with `{FIX}`.")
    return m


def run_train_judge(
    data_dir=None,
    root=None,
    recipe: JudgeRecipe = JudgeRecipe(),
    device: str = "auto",
    limit: int | None = None,
    threads: int | None = None,
) -> dict:
    """The ``train-judge`` command: train, save (float16), reload and measure test accuracy -> metrics."""
    import platform

    from .data import load_fashion_mnist, train_val_split
    from .train import pick_device

    dev = pick_device(device)
    data = load_fashion_mnist(data_dir, download_if_missing=True)
    tr, va = train_val_split(len(data.train), recipe.val_fraction, recipe.seed)
    if limit:
        tr, va = tr[:limit], va[: max(limit // 10, 1)]
    x, y = data.train.tensor(), torch.from_numpy(data.train.labels.astype(np.int64))
    start = time.perf_counter()
    model, history, best_epoch = train_judge(x[tr], y[tr], x[va], y[va], recipe, JudgeConfig(), dev)
    seconds = time.perf_counter() - start
    training = {
        "epochs_run": len(history),
        "best_epoch": best_epoch,
        "wall_seconds": round(seconds, 1),
        "device": str(dev) if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "cpu": platform.processor() or platform.machine(),
        "threads": threads or torch.get_num_threads(),
        "torch": torch.__version__,
        "train_images": len(tr),
        "val_images": len(va),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = save_judge(model, root, recipe=asdict(recipe), training=training, history=history, dataset_sha256=data.sha256)
    reloaded = load_judge(root)  # measure what ships: the float16-stored weights
    metrics = {
        "test_accuracy": accuracy(reloaded, data.test.tensor(), data.test.labels),
        "val_accuracy": history[best_epoch - 1]["val_accuracy"],
        "test_images": len(data.test),
        "weights_sha256": judge_weights_hash(root),
    }
    (out / METRICS).write_text(json.dumps(metrics, indent=2) + "\n")
    print(
        f"judge: {len(history)} epochs in {seconds / 60:.1f} min on {training['device']}, best val accuracy "
        f"{metrics['val_accuracy']:.4f} (epoch {best_epoch}), test accuracy {metrics['test_accuracy']:.4f} -> {out}"
    )
    return metrics
