"""Training over several processes under the real torchrun (gloo on 2 CPU processes), its bad input, and the CUDA
path where a GPU exists. Each torchrun test starts real processes on a slice of the real Fashion-MNIST."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer import distributed, load_model
from explorer.checkpoint import weights_hash
from explorer.cli import main
from explorer.models import DenseConfig, TrainRecipe, get_variant
from explorer.train import local_batch_size, pick_device, train

REPO = Path(__file__).resolve().parent.parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra) -> dict:
    # the processes' output is read here, so no colour; the group's timeout short, so that a test cannot hang
    return {**os.environ, "PYTHONUNBUFFERED": "1", distributed.TIMEOUT_ENV: "60", **extra}


def test_one_process_is_world_one_rank_zero():
    assert (distributed.world(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    assert distributed.all_sum([1.5, 2]) == [1.5, 2.0] and distributed.broadcast_flags(True, False) == [True, False]
    assert distributed.shard(10) == slice(0, 10)
    with pytest.raises(distributed.DistributedError, match="rank 0 failed|disk full"):
        distributed.agree("disk full")


@pytest.mark.parametrize(("batch", "world", "local"), [(128, 1, 128), (128, 2, 64), (120, 3, 40)])
def test_the_global_batch_is_shared_out(batch, world, local):
    assert local_batch_size(batch, world) == local


def test_a_global_batch_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match=r"--batch-size 129 is the global batch .* e\.g\. --batch-size 128"):
        local_batch_size(129, 2)


def test_torchrun_two_cpu_processes_train_a_loadable_run(tmp_path, fmnist):
    """The CI bar: 2 gloo processes on 2,000 real images, < 60 s in all; the run loads and its val loss fell."""
    args = ["--dataset", "fashion-mnist", "--variant", "dense", "--name", "ddp", "--runs", str(tmp_path)]
    args += ["--epochs", "3", "--limit", "2000", "--device", "cpu"]
    start = time.perf_counter()
    out = subprocess.run(
        [*TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "explorer", "train", *args],
        cwd=REPO,
        env=env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    seconds = time.perf_counter() - start
    assert out.returncode == 0, out.stderr[-3000:]
    assert seconds < 60
    model = load_model("fashion-mnist/ddp", tmp_path)
    assert model.code_dim == get_variant("dense").config.code_dim
    config = json.loads((tmp_path / "fashion-mnist" / "ddp" / "config.json").read_text())
    assert config["training"]["processes"] == 2 and config["training"]["threads"] == max(1, os.cpu_count() // 2)
    assert config["training"]["train_images"] == 2000
    history = json.loads((tmp_path / "fashion-mnist" / "ddp" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[-1]["val_loss"] < 0.95 * history[0]["val_loss"]
    # rank 0 alone logs: one summary line, not one per process
    assert out.stdout.count("× 2 processes") == 1, out.stdout
    # the weights stored are the best epoch's, measured again on the same validation images in one process
    x = fmnist.train.tensor(np.arange(100))
    assert np.isfinite(model.loss(x)["loss"].item())


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(ValueError, match="--device cuda was asked for, but torch sees no CUDA device; use --device"):
        pick_device("cuda")
    assert pick_device("auto").type == "cpu"
    rc = main(
        ["train", "--variant", "dense", "--device", "cuda", "--epochs", "1", "--limit", "50", "--out", str(tmp_path)]
    )
    assert rc == 2 and "torch sees no CUDA device" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_run_folder_that_cannot_be_written_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the runs root should be")
    args = ["train", "--dataset", "fashion-mnist", "--variant", "dense", "--name", "r", "--runs", str(blocker)]
    start = time.perf_counter()
    rc = main([*args, "--epochs", "50", "--limit", "5000", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot write run fashion-mnist/r to" in err and "make it writable" in err, err
    assert time.perf_counter() - start < 10  # refused before 50 epochs started
    assert blocker.read_text() == "a file where the runs root should be"


@pytest.fixture(scope="module")
def mini_dataset(tmp_path_factory, fmnist):
    """600 real Fashion-MNIST images registered as dataset "mini" in a datasets root of its own."""
    from explorer.datasets import add_dataset

    src = tmp_path_factory.mktemp("src") / "mini.npz"
    np.savez(src, x=fmnist.train.images[:600], y=fmnist.train.labels[:600], class_names=np.array(fmnist.class_names))
    root = tmp_path_factory.mktemp("datasets")
    add_dataset("mini", src, root)
    return root


def test_a_dataset_missing_on_one_machine_fails_every_rank_with_the_reason(tmp_path, mini_dataset, capsys):
    """Two torchrun agents (--nnodes 2, one process each) as two machines would run them; the second machine has
    no dataset "mini". Both must stop soon, each saying why, and the run trained before stays as it was."""
    runs = tmp_path / "runs"
    common = ["train", "--dataset", "mini", "--variant", "dense", "--name", "r", "--runs", str(runs), "--epochs", "1"]
    assert (
        main([*common, "--threads", "1", "--datasets", str(mini_dataset)]) == 0
    )  # a finished run that the failed one must not damage
    before = weights_hash("mini/r", runs)
    port = free_port()
    empty = tmp_path / "no-datasets"
    empty.mkdir()
    procs = []
    for node, datasets in ((0, mini_dataset), (1, empty)):
        launcher = [*TORCHRUN, "--nnodes", "2", "--nproc_per_node", "1", "--node_rank", str(node)]
        launcher += ["--master_addr", "127.0.0.1", "--master_port", str(port)]
        cmd = [*launcher, "-m", "explorer", *common, "--overwrite", "--device", "cpu"]
        procs.append(
            subprocess.Popen(
                cmd,
                cwd=REPO,
                env=env(LATENT_EXPLORER_DATASETS=str(datasets)),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = []
    try:
        for p in procs:
            outs.append(p.communicate(timeout=90))
    finally:
        for p in procs:
            p.kill()
    (_, err0), (_, err1) = outs
    assert procs[0].returncode != 0 and procs[1].returncode != 0
    assert "error: rank 1 failed: loading dataset 'mini'" in err0, err0[-3000:]
    assert "error: " in err1 and "mini" in err1 and "dataset add" in err1, err1[-3000:]
    assert weights_hash("mini/r", runs) == before
    assert load_model("mini/r", runs).code_dim == get_variant("dense").config.code_dim


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_short_run_on_the_gpu_matches_the_cpu(fmnist, tmp_path):
    """The same seeded run on CPU and on CUDA: the same curve within float tolerance (TF32 and other kernels)."""
    x = fmnist.train.tensor(np.arange(1200))
    recipe = TrainRecipe(epochs=3, batch_size=64, lr=2e-3)
    losses = {}
    for device in ("cpu", "cuda"):
        torch.manual_seed(0)
        model = get_variant("dense").build(DenseConfig(hidden=(128, 64)))
        result = train(model, x[:1000], x[1000:], recipe, pick_device(device), progress=False)
        losses[device] = [h["val_loss"] for h in result.history]
        assert next(result.model.parameters()).device.type == device
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=2e-2)
    assert losses["cuda"][-1] < losses["cuda"][0]
    # the command too: --device auto takes the GPU, names it, and the checkpoint loads on the CPU
    args = ["--variant", "dense", "--epochs", "1", "--limit", "300", "--out", str(tmp_path), "--device", "auto"]
    assert main(["train", *args]) == 0
    config = json.loads((tmp_path / "dense" / "config.json").read_text())
    assert config["training"]["device"] == torch.cuda.get_device_name(0)
    assert next(load_model("dense", tmp_path).parameters()).device.type == "cpu"


def test_prepare_under_torchrun_shares_the_encoding(tmp_path, mini_dataset):
    """Two processes each encode half of every map's images; rank 0 writes the same map one process makes."""
    from explorer.datasets import load_data
    from explorer.inference import encode
    from explorer.projection import load_projection

    runs = tmp_path / "runs"
    args = ["--dataset", "mini", "--variant", "dense", "--name", "l2", "--runs", str(runs), "--set", "latent=2"]
    assert main(["train", *args, "--epochs", "1", "--threads", "1", "--datasets", str(mini_dataset)]) == 0
    out = subprocess.run(
        [*TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "explorer", "prepare", "mini/l2", "--all"]
        + ["--runs", str(runs), "--datasets", str(mini_dataset)],
        cwd=REPO,
        env=env(XDG_CACHE_HOME=str(tmp_path / "cache")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("mini/l2: prepared in") == 1 and "encode (shared)" in out.stdout, out.stdout
    model, data = load_model("mini/l2", runs), load_data("mini", root=mini_dataset)
    for split, images in (("test", data.test.images), ("all", data.all_images)):
        stored = load_projection("mini/l2", split, runs)
        assert stored.coords == pytest.approx(encode(model, images), abs=1e-5)  # a 2-d code is its own map
    assert json.loads((runs / "mini" / "l2" / "metrics.json").read_text())["run"] == "mini/l2"


def test_a_torchrun_run_stopped_mid_training_leaves_the_finished_run_readable(tmp_path, mini_dataset):
    """SIGTERM to torchrun (what a scheduler or Ctrl-C sends on) while its processes train over a finished run of
    the same name (--overwrite): both processes end, and the finished run loads as it was."""
    import signal
    import threading

    runs = tmp_path / "runs"
    common = ["train", "--dataset", "mini", "--variant", "dense", "--name", "r", "--runs", str(runs)]
    common += ["--datasets", str(mini_dataset)]
    assert main([*common, "--epochs", "1", "--threads", "1"]) == 0
    before = weights_hash("mini/r", runs)
    cmd = [*TORCHRUN, "--standalone", "--nproc_per_node", "2", "-m", "explorer", *common]
    cmd += ["--epochs", "10000", "--overwrite", "--device", "cpu"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    training = threading.Event()
    lines: list[str] = []

    def watch():
        for chunk in iter(lambda: proc.stderr.read(64), ""):
            lines.append(chunk)
            if "epoch/s" in "".join(lines[-3:]) or "s/epoch" in "".join(lines[-3:]):
                training.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert training.wait(60), "".join(lines)[-2000:]
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0
    assert weights_hash("mini/r", runs) == before
    assert load_model("mini/r", runs).code_dim == get_variant("dense").config.code_dim
    # the stopped attempt leaves only its live-training files (progress, snapshots) beside the finished run's
    names = {p.name for p in (runs / "mini" / "r").iterdir()}
    assert {"config.json", "history.json", "model.safetensors"} <= names
    assert names - {"config.json", "history.json", "model.safetensors"} <= {"progress.json", "snapshots"}


def test_commands_that_do_not_share_their_work_refuse_torchrun(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["evaluate", "--variant", "dense"]) == 2
    assert "evaluate runs in one process: start it without torchrun" in capsys.readouterr().err
