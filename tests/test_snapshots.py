"""Snapshots and progress while a run trains (explorer.snapshots), read back as a half-written run, and their aligned
layouts (explorer.alignment). Real Fashion-MNIST slices, tiny real models, real training."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from explorer import alignment, cli
from explorer.snapshots import (
    MAX_SNAPSHOTS,
    PROGRESS,
    RunRecorder,
    SnapshotError,
    check_snapshots,
    fixed_items,
    load_frames,
    read_history,
    read_progress,
    snapshot_epochs,
)

SMALL = ["--limit", "600", "--set", "hidden=32", "--threads", "1"]


def _train(variant: str, name: str, *extra: str) -> int:
    return cli.main(["train", "--dataset", "fashion-mnist", "--variant", variant, "--name", name, *SMALL, *extra])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("snap") / "runs"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENT_EXPLORER_RUNS", str(root))
        assert _train("vae", "vae", "--set", "epochs=4", "--snapshots", "3") == 0
        assert _train("dense", "dense2", "--set", "epochs=3", "--set", "latent=2") == 0
        yield root / "fashion-mnist"


@pytest.mark.parametrize(
    ("epochs", "k", "expected"),
    [(3, 12, [1, 2, 3]), (10, 0, []), (100, 1, [100]), (50, 2, [1, 50])],
)
def test_snapshot_epochs_small_cases(epochs, k, expected):
    assert snapshot_epochs(epochs, k) == expected


@pytest.mark.parametrize("epochs", [13, 20, 60, 200])
def test_snapshot_epochs_are_k_distinct_epochs_from_first_to_last_denser_early(epochs):
    got = snapshot_epochs(epochs, 12)
    assert len(got) == 12 == len(set(got))
    assert got[0] == 1 and got[-1] == epochs and got == sorted(got)
    gaps = np.diff(got)
    assert gaps[: len(gaps) // 2].mean() < gaps[len(gaps) // 2 :].mean()


@pytest.mark.parametrize("k", [-1, MAX_SNAPSHOTS + 1, 2.5, True, "3"])
def test_snapshots_out_of_range_is_refused_naming_the_range(k):
    with pytest.raises(SnapshotError, match=f"must be an integer from 0 .* to {MAX_SNAPSHOTS}"):
        check_snapshots(k)


def test_train_refuses_snapshots_out_of_range_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path))
    assert _train("dense", "x", "--snapshots", "101") == 2
    assert "--snapshots == 101, must be an integer from 0 (no snapshots) to 100" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_run_keeps_its_snapshots_progress_and_history(runs):
    folder = runs / "vae"
    frames = load_frames(folder)
    assert frames is not None
    assert frames.epochs.tolist() == snapshot_epochs(4, 3) == [1, 2, 4]
    ids, ten = fixed_items(10_000)
    assert np.array_equal(frames.ids, ids) and len(ids) == 2000
    assert np.array_equal(frames.recon_ids, ten) and set(ten) <= set(ids)
    assert frames.codes.shape == (3, 2000, 10)
    with np.load(folder / "snapshots" / "epoch-0001.npz") as z:
        assert z["codes"].dtype == np.float16
    assert frames.recon.shape == (3, 10, 28, 28) and frames.recon.dtype == np.uint8
    assert frames.samples is not None and frames.samples.shape == (3, 16, 28, 28)  # a generative run
    assert not np.array_equal(frames.codes[0], frames.codes[-1])  # the model changed between snapshots
    history = json.loads((folder / "history.json").read_text())
    assert [f["val_loss"] for f in frames.losses] == [history[e - 1]["val_loss"] for e in (1, 2, 4)]
    progress = read_progress(folder)
    assert (progress.status, progress.epoch, progress.epochs, progress.best_epoch) == ("finished", 4, 4, 4)
    assert progress.line == "finished after epoch 4 of 4; best epoch 4"
    assert load_frames(runs / "dense2").samples is None  # not generative: no samples


def test_a_half_written_run_reads_as_far_as_it_got(tmp_path, runs):
    assert read_progress(tmp_path) is None and read_history(tmp_path) == [] and load_frames(tmp_path) is None
    (tmp_path / PROGRESS).write_text('{"status": "runn')  # torn: never happens with the writer, tolerated anyway
    (tmp_path / "history.json").write_text("[{")
    assert read_progress(tmp_path) is None and read_history(tmp_path) == []
    (tmp_path / "snapshots").mkdir()
    (tmp_path / "snapshots" / "epoch-0002.npz").write_bytes(b"PK\x03\x04 half a zip")
    (tmp_path / "snapshots" / ".epoch-0003.npz.tmp").write_bytes(b"being written")
    good = (runs / "vae" / "snapshots" / "epoch-0001.npz").read_bytes()
    (tmp_path / "snapshots" / "epoch-0001.npz").write_bytes(good)
    frames = load_frames(tmp_path)
    assert frames.epochs.tolist() == [1]


def test_a_run_whose_trainer_died_reads_as_stopped_with_its_best_epoch(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    recorder = RunRecorder(tmp_path, 10, np.zeros((50, 28, 28), np.uint8), snapshots=0)
    recorder.start()
    history = [{"epoch": 1, "val_loss": 2.0, "seconds": 1.0}, {"epoch": 2, "val_loss": 1.0, "seconds": 3.0}]
    recorder.on_epoch(2, None, history)
    live = read_progress(tmp_path)
    assert (live.status, live.epoch, live.epochs, live.seconds_left) == ("running", 2, 10, 16.0)
    assert live.line == "training: epoch 2 of 10, about 16 s left"
    data = json.loads((tmp_path / PROGRESS).read_text()) | {"pid": int(dead.stdout)}  # its process is gone
    (tmp_path / PROGRESS).write_text(json.dumps(data))
    gone = read_progress(tmp_path)
    assert (gone.status, gone.best_epoch) == ("stopped", 2)
    assert gone.line == "stopped after epoch 2 of 10; best epoch 2"


def test_ctrl_c_leaves_a_stopped_run_with_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path))
    original = RunRecorder.on_epoch

    def interrupt_at_2(self, epoch, model, history):  # Ctrl-C arriving during epoch 2's bookkeeping
        original(self, epoch, model, history)
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunRecorder, "on_epoch", interrupt_at_2)
    assert _train("dense", "cut", "--set", "epochs=5") == 0
    progress = read_progress(tmp_path / "fashion-mnist" / "cut")
    assert (progress.status, progress.epoch, progress.best_epoch) == ("stopped", 2, 2)
    assert (tmp_path / "fashion-mnist" / "cut" / "model.safetensors").is_file()


def test_an_unwritable_runs_folder_is_named(tmp_path, monkeypatch, capsys):
    (tmp_path / "runs").write_text("a file where the runs folder should be")  # unwritable even for root
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    assert _train("dense", "x", "--set", "epochs=1") == 2
    assert "choose a writable --runs folder" in capsys.readouterr().err


def test_displacement_is_the_median_step_over_the_extent():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 10, (500, 2))
    assert alignment.displacement(np.stack([a, a, a])) == 0
    assert alignment.displacement(np.stack([a, a * 3 + 7])) == pytest.approx(0, abs=1e-9)  # scale and shift: none
    moved = a + np.array([1.0, 0.0])  # the whole map shifted: no item moved relative to the map
    assert alignment.displacement(np.stack([a, moved])) == pytest.approx(0, abs=1e-9)
    swapped = a.copy()
    swapped[:250], swapped[250:] = a[250:], a[:250]
    assert alignment.displacement(np.stack([a, swapped])) > 0.2
    with pytest.raises(ValueError, match=r"need \[T >= 2, N, 2\]"):
        alignment.displacement(a[None])


def test_procrustes_undoes_a_rotation_mirror_and_scale():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((100, 2))
    theta = 0.7
    r = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) @ np.diag([1, -1])
    b = a @ r * 2.5 + 4
    assert np.allclose(alignment.procrustes(b, a), a, atol=1e-5)


def test_aligned_layouts_move_items_less_than_independent_fits():
    rng = np.random.default_rng(2)
    centres = rng.standard_normal((5, 8)) * 4
    base = centres[rng.integers(0, 5, 300)] + rng.standard_normal((300, 8))
    codes = np.stack([base + 0.05 * t * rng.standard_normal((300, 8)) for t in range(4)]).astype(np.float32)
    aligned = alignment.aligned_layouts(codes)
    assert aligned.shape == (4, 300, 2)
    assert np.array_equal(aligned, alignment.aligned_layouts(codes))  # seeded
    independent = np.stack([alignment.aligned_layouts(c[None], seed=s)[0] for s, c in enumerate(codes)])
    assert alignment.displacement(aligned) < alignment.displacement(independent) / 3
    two = codes[:, :, :2]
    assert np.array_equal(alignment.aligned_layouts(two), two)  # 2-D codes as they are


def test_prepare_stores_the_aligned_map_and_knows_when_it_is_stale(runs):
    folder = runs / "dense2"
    frames = load_frames(folder)
    assert alignment.stored_layouts(folder, frames.epochs) is None
    assert cli.main(["prepare", "fashion-mnist/dense2", "--threads", "1"]) == 0
    stored = alignment.stored_layouts(folder, frames.epochs)
    assert np.array_equal(stored, frames.codes)  # 2-D codes: the map is the code
    os.utime(folder / "snapshots" / "epoch-0001.npz")  # the snapshots changed: the stored map is stale
    assert alignment.stored_layouts(folder, frames.epochs) is None
