"""Training seen over time: snapshots of a run's latent space, its progress file, and reading both back. No streamlit.

While ``train`` runs, the run's folder (``<runs>/<dataset>/<run>/``, or a shipped variant's checkpoint folder)
holds, each file written atomically (a temporary file, then a rename), so that a reader never sees half a file:

- ``progress.json`` every epoch: status (running, finished, stopped, failed), epoch i of n, seconds per epoch,
  time left, the best epoch so far, the trainer's process id;
- ``history.json`` every epoch: the losses so far (the checkpoint writer rewrites it at the end);
- ``snapshots/epoch-NNNN.npz`` at each snapshot epoch (``snapshot_epochs``: denser early, where most changes):
  the codes of a fixed seeded subset of test images (float16), each one's reconstruction error, the
  reconstructions of ten fixed items, for a generative run the decodings of fixed latent points, and the losses.

``config.json`` and the weights appear only when training ends: everything here works without them.
"""

from __future__ import annotations

import json
import os
import socket
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .checkpoint import HISTORY, write_json_atomic

PROGRESS = "progress.json"
SNAPSHOTS = "snapshots"  # the folder of epoch-NNNN.npz files, beside the checkpoint
DEFAULT_SNAPSHOTS = 12  # about a dozen frames: enough to watch the map form, small on disk
MAX_SNAPSHOTS = 100
SUBSET = 2_000  # test images whose codes every snapshot keeps
RECONSTRUCTED = 10  # fixed items whose reconstructions every snapshot keeps
SAMPLES = 16  # fixed latent points a generative run decodes at every snapshot
SEED = 0  # the subset, the ten items and the latent points: the same for every run of a dataset
STATUSES = ("running", "finished", "stopped", "failed")


class SnapshotError(ValueError):
    """Bad snapshot settings or an unwritable run folder; the message says what to do."""


def check_snapshots(k: int) -> int:
    """``--snapshots K``: 0 (none) to ``MAX_SNAPSHOTS``."""
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_SNAPSHOTS:
        raise SnapshotError(
            f"--snapshots == {k!r}, must be an integer from 0 (no snapshots) to {MAX_SNAPSHOTS}; "
            f"the default is {DEFAULT_SNAPSHOTS}."
        )
    return k


def snapshot_epochs(epochs: int, k: int = DEFAULT_SNAPSHOTS) -> list[int]:
    """The epochs (1-based) at which a run of ``epochs`` keeps a snapshot: ``k`` of them spaced geometrically from
    epoch 1 to the last (the map changes most early), every epoch if there are no more than ``k``."""
    check_snapshots(k)
    if k == 0 or epochs < 1:
        return []
    if epochs <= k:
        return list(range(1, epochs + 1))
    if k == 1:
        return [epochs]
    chosen: set[int] = set()
    for i in range(k):  # 1 .. epochs geometrically; collisions among the first few are filled in below
        chosen.add(round(epochs ** (i / (k - 1))))
    e = 1
    while len(chosen) < k:  # fill the densest (earliest) gaps first
        if e not in chosen:
            chosen.add(e)
        e += 1
    return sorted(chosen)


def fixed_items(n_test: int, subset: int = SUBSET, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """-> (the sorted test item ids whose codes are kept, the ten whose reconstructions are kept: the subset's first
    ten in a seeded order). The same for every run on a dataset of ``n_test`` test images."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(n_test, size=min(subset, n_test), replace=False))
    ten = ids[rng.permutation(len(ids))[:RECONSTRUCTED]]
    return ids, np.sort(ten)


def fixed_latents(code_dim: int, n: int = SAMPLES, seed: int = SEED) -> np.ndarray:
    """float32 [n, code_dim]: the prior points a generative run decodes at every snapshot (standard normal)."""
    return np.random.default_rng(seed).standard_normal((n, code_dim)).astype(np.float32)


def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8)


def save_npz_atomic(path: Path, **arrays) -> Path:
    """Write arrays through a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class RunRecorder:
    """What a run's folder shows while it trains: ``start()`` once, ``on_epoch`` after each epoch's validation
    (the trainer's callback), ``finish(status)`` at the end. Writes only; the trainer decides nothing from it."""

    def __init__(
        self,
        directory: Path,
        epochs: int,
        test_images: np.ndarray,
        *,
        snapshots: int = DEFAULT_SNAPSHOTS,
        subset: int = SUBSET,
        generative: bool = False,
        monitor: str = "val_loss",
        mode: str = "min",
        info: dict | None = None,
    ):
        self.directory = Path(directory)
        self.epochs = epochs
        self.epochs_at = set(snapshot_epochs(epochs, check_snapshots(snapshots)))
        self.ids, self.ten = fixed_items(len(test_images), subset)
        self.images = test_images[self.ids]
        self.ten_images = test_images[self.ten]
        self.generative = generative
        self.monitor, self.mode = monitor, mode
        self.info = info or {}
        self.started = time.time()
        self.last: dict = {}

    def start(self) -> None:
        """Make the folder, clear an earlier run's snapshots, write the first progress; SnapshotError if the folder
        cannot be written."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            folder = self.directory / SNAPSHOTS
            folder.mkdir(exist_ok=True)
            for old in folder.glob("epoch-*.npz"):
                old.unlink()
            self._progress("running", [])
        except OSError as e:
            raise SnapshotError(
                f"cannot write the run's folder {self.directory} ({e.strerror or e}); choose a writable --runs "
                "folder (or $LATENT_EXPLORER_RUNS)."
            ) from None

    def _best(self, history: list[dict]) -> int | None:
        rows = [r for r in history if isinstance(r.get(self.monitor), (int, float))]
        if not rows:
            return None
        pick = min if self.mode == "min" else max
        return int(pick(rows, key=lambda r: r[self.monitor])["epoch"])

    def _progress(self, status: str, history: list[dict]) -> None:
        epoch = len(history)
        seconds = [r["seconds"] for r in history if isinstance(r.get("seconds"), (int, float))]
        per_epoch = sum(seconds) / len(seconds) if seconds else None
        left = None if per_epoch is None or status != "running" else round(per_epoch * (self.epochs - epoch), 1)
        self.last = {
            **self.info,
            "status": status,
            "epoch": epoch,
            "epochs": self.epochs,
            "seconds_per_epoch": None if per_epoch is None else round(per_epoch, 2),
            "seconds_left": left,
            "best_epoch": self._best(history),
            "monitor": self.monitor,
            "started": self.started,
            "updated": time.time(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "snapshot_epochs": sorted(self.epochs_at),
        }
        write_json_atomic(self.directory / PROGRESS, self.last)

    def on_epoch(self, epoch: int, model, history: list[dict]) -> None:
        """After epoch ``epoch``'s validation: the history and progress, and a snapshot if it is a snapshot epoch."""
        if epoch in self.epochs_at:
            self.snapshot(epoch, model, history[-1] if history else {})
        write_json_atomic(self.directory / HISTORY, history, indent=1)
        self._progress("running", history)

    def snapshot(self, epoch: int, model, losses: dict) -> Path:
        """Write ``snapshots/epoch-NNNN.npz`` of ``model`` as it is now."""
        from .inference import decode, encode_with_error, reconstruct

        was_training = model.training
        model.eval()
        try:
            codes, errors = encode_with_error(model, self.images)
            recon = reconstruct(model, self.ten_images)
            arrays = {}
            if self.generative:
                arrays["samples"] = _to_uint8(decode(model, fixed_latents(model.code_dim)))
        finally:
            model.train(was_training)
        return save_npz_atomic(
            self.directory / SNAPSHOTS / f"epoch-{epoch:04d}.npz",
            epoch=np.int64(epoch),
            ids=self.ids.astype(np.int64),
            codes=codes.astype(np.float16),
            errors=errors.astype(np.float32),
            recon_ids=self.ten.astype(np.int64),
            recon=_to_uint8(recon),
            losses=np.array(json.dumps({k: v for k, v in losses.items() if isinstance(v, (int, float))})),
            **arrays,
        )

    def finish(self, status: str, history: list[dict]) -> None:
        """The last progress: ``finished``, ``stopped`` (Ctrl-C) or ``failed``."""
        if status not in STATUSES:
            raise ValueError(f"status == {status!r}, must be one of {STATUSES}.")
        if history:
            write_json_atomic(self.directory / HISTORY, history, indent=1)
        self._progress(status, history)


# ---- reading a run's progress and snapshots back (the dashboard; tolerant of a run still being written) ----


@dataclass(frozen=True)
class Progress:
    status: str  # running, finished, stopped or failed
    epoch: int  # epochs done
    epochs: int  # epochs asked for
    seconds_left: float | None
    best_epoch: int | None
    updated: float
    variant: str | None = None  # the registry variant it trains

    @property
    def loss_unit(self) -> str:
        """A generative model trains on the negative ELBO (nats), the rest on MSE (as ``compare.loss_unit``)."""
        from .models import REGISTRY

        entry = REGISTRY.get(self.variant or "")
        return "nats" if entry is not None and entry.can("generative") else "MSE"

    @property
    def line(self) -> str:
        """One line for a person: "training: epoch 3 of 20, about 1 min left", "stopped after 4 of 20 (best 3)"."""
        if self.status == "running":
            left = "" if self.seconds_left is None else f", about {format_seconds(self.seconds_left)} left"
            return f"training: epoch {self.epoch} of {self.epochs}{left}"
        best = "" if self.best_epoch is None else f"; best epoch {self.best_epoch}"
        return f"{self.status} after epoch {self.epoch} of {self.epochs}{best}"


def format_seconds(s: float) -> str:
    if s < 90:
        return f"{max(round(s), 0)} s"
    if s < 5400:
        return f"{round(s / 60)} min"
    return f"{s / 3600:.1f} h"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_progress(directory: Path) -> Progress | None:
    """A run's progress, or None if it has none (trained before snapshots, or not started). A run still marked
    running whose process on this machine is gone (killed, crashed) reads as stopped."""
    data = _read_json(Path(directory) / PROGRESS)
    if not isinstance(data, dict) or data.get("status") not in STATUSES:
        return None
    status = data["status"]
    pid = data.get("pid")
    if status == "running" and data.get("host") == socket.gethostname() and isinstance(pid, int):
        if not _pid_alive(pid):
            status = "stopped"
    history = read_history(directory)
    epochs = int(data.get("epochs") or 0)
    best = data.get("best_epoch")
    return Progress(
        status,
        int(data.get("epoch") or 0),
        epochs,
        data.get("seconds_left") if status == "running" else None,
        best if isinstance(best, int) else _best_from(history, data.get("monitor", "val_loss")),
        float(data.get("updated") or 0.0),
        data.get("variant") if isinstance(data.get("variant"), str) else None,
    )


def _best_from(history: list[dict], monitor: str) -> int | None:
    rows = [r for r in history if isinstance(r.get(monitor), (int, float))]
    return int(min(rows, key=lambda r: r[monitor])["epoch"]) if rows else None


def read_history(directory: Path) -> list[dict]:
    """The run's losses so far ([] if none yet or unreadable)."""
    data = _read_json(Path(directory) / HISTORY)
    return [r for r in data if isinstance(r, dict) and "epoch" in r] if isinstance(data, list) else []


def snapshot_files(directory: Path) -> list[Path]:
    """The run's snapshot files, by epoch."""
    folder = Path(directory) / SNAPSHOTS
    return sorted(folder.glob("epoch-[0-9]*.npz")) if folder.is_dir() else []


@dataclass(frozen=True)
class Frames:
    """A run's snapshots, stacked: ``epochs`` [T]; ``ids`` [N] test item ids; ``codes`` float32 [T, N, D];
    ``errors`` [T, N]; ``recon_ids`` [10]; ``recon`` uint8 [T, 10, H, W] (or [T, 10, C, H, W]); ``samples`` uint8
    [T, S, H, W] or None; ``losses`` one dict per frame."""

    epochs: np.ndarray
    ids: np.ndarray
    codes: np.ndarray
    errors: np.ndarray
    recon_ids: np.ndarray
    recon: np.ndarray
    samples: np.ndarray | None
    losses: list[dict]

    def __len__(self) -> int:
        return len(self.epochs)


def load_frames(directory: Path) -> Frames | None:
    """Every readable snapshot of a run (an unreadable one, e.g. of another subset, is skipped); None if none."""
    rows = []
    for path in snapshot_files(directory):
        try:
            with np.load(path) as z:
                rows.append({k: z[k] for k in z.files})
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            continue
    if rows:
        ids = rows[-1]["ids"]
        rows = [r for r in rows if np.array_equal(r["ids"], ids) and r["codes"].shape == rows[-1]["codes"].shape]
    if not rows:
        return None
    samples = [r.get("samples") for r in rows]
    return Frames(
        epochs=np.array([int(r["epoch"]) for r in rows]),
        ids=rows[-1]["ids"],
        codes=np.stack([r["codes"].astype(np.float32) for r in rows]),
        errors=np.stack([r["errors"] for r in rows]),
        recon_ids=rows[-1]["recon_ids"],
        recon=np.stack([r["recon"] for r in rows]),
        samples=np.stack(samples) if all(s is not None for s in samples) else None,
        losses=[json.loads(str(r["losses"])) for r in rows],
    )


@dataclass(frozen=True)
class WatchedRun:
    """A run with a progress file or snapshots: one training now, or trained with ``--snapshots``."""

    key: str  # a run key ("<dataset>/<run>", or a shipped variant's name)
    dataset: str
    directory: Path
    progress: Progress | None

    @property
    def label(self) -> str:
        """The picker's label: "dense-snap: training: epoch 3 of 15, about 2 min left"."""
        name = self.key.rsplit("/", 1)[-1]
        return f"{name}: {self.progress.line}" if self.progress is not None else f"{name}: snapshots"


def watched_runs(dataset: str | None, runs, checkpoints) -> list[WatchedRun]:
    """The runs of ``dataset`` (all if None) under the runs root and the checkpoints root that have a progress file
    or snapshots, training ones first, then by key. A run need not have a checkpoint yet."""
    from .checkpoint import is_run_key

    found: dict[str, WatchedRun] = {}
    for root in (Path(checkpoints), Path(runs)):  # a key in both: the runs root's (as explorer.runs)
        if not root.is_dir():
            continue
        folders = [*root.glob(f"*/{PROGRESS}"), *root.glob(f"*/*/{PROGRESS}"), *root.glob(f"*/*/{SNAPSHOTS}")]
        folders += list(root.glob(f"*/{SNAPSHOTS}"))
        for path in folders:
            directory = path.parent
            key = directory.relative_to(root).as_posix()
            if any(part.startswith(".") for part in key.split("/")):
                continue
            progress = read_progress(directory)
            data = _read_json(directory / PROGRESS) or {}
            run_dataset = key.split("/", 1)[0] if is_run_key(key) else data.get("dataset") or "fashion-mnist"
            if dataset is None or run_dataset == dataset:
                found[key] = WatchedRun(key, run_dataset, directory, progress)
    return sorted(found.values(), key=lambda r: (r.progress is None or r.progress.status != "running", r.key))
