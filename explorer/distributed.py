"""Several processes under ``torchrun``: its environment, the process group, and the few collectives that training
and ``prepare`` use.

A process started without torchrun is world 1, rank 0, and every helper here is then a no-op, so single-process
code paths stay as they are. Under torchrun (``WORLD_SIZE`` > 1) ``setup`` joins the group: gloo on CPU, nccl on
CUDA (one GPU per process, ``cuda:LOCAL_RANK``), with a timeout so that a rank that never arrives ends the others
with an error rather than a hang. ``checked`` runs a step that may fail on one rank only (a dataset missing on one
machine, a run folder rank 0 cannot write) and makes every rank fail with a message that names the rank and why.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import numpy as np

TIMEOUT_ENV = "LATENT_EXPLORER_DIST_TIMEOUT"  # seconds a collective may wait for the slowest rank
DEFAULT_TIMEOUT_S = 900  # long enough for rank 0's UMAP in `prepare --all` while the others wait


class DistributedError(RuntimeError):
    """Another rank failed, or the process group could not be formed."""


def _dist():
    import torch.distributed as dist

    return dist


def launched() -> bool:
    """Whether torchrun started this process as one of several (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def active() -> bool:
    """Whether this process is in an initialised process group of more than one process."""
    dist = _dist()
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world() -> int:
    return _dist().get_world_size() if active() else 1


def rank() -> int:
    return _dist().get_rank() if active() else 0


def is_main() -> bool:
    """Rank 0: the one process that writes checkpoints, history and logs, and shows progress."""
    return rank() == 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def local_world() -> int:
    """Processes on this machine (torchrun's ``--nproc_per_node``); 1 without torchrun."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1"))


def timeout_s() -> float:
    value = os.environ.get(TIMEOUT_ENV, str(DEFAULT_TIMEOUT_S))
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_ENV} == {value!r}, must be a positive number of seconds.")
    return seconds


def setup(device) -> None:
    """Join torchrun's process group (nothing without torchrun): nccl for a CUDA ``device``, else gloo."""
    dist = _dist()
    if not launched() or dist.is_initialized():
        return
    cuda = getattr(device, "type", str(device)) == "cuda"
    if cuda:  # nccl's collectives run on the current device: this process's GPU (``train.pick_device``)
        import torch

        torch.cuda.set_device(device if getattr(device, "index", None) is not None else local_rank())
    try:
        dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(seconds=timeout_s()))
    except Exception as e:  # rendezvous failures come as several exception types
        raise DistributedError(
            f"could not join torchrun's process group ({e}); check --rdzv-endpoint / --master_addr and the port."
        ) from e


def teardown() -> None:
    dist = _dist()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextmanager
def session(device):
    """``setup`` on entry, ``teardown`` on exit (also on error)."""
    setup(device)
    try:
        yield
    finally:
        teardown()


def _tensor_device():
    import torch

    return torch.device("cuda", torch.cuda.current_device()) if _dist().get_backend() == "nccl" else torch.device("cpu")


def agree(problem: str | None) -> None:
    """Every rank says whether its step went well (``problem`` None) or not; if any did not, every rank raises
    DistributedError naming the ranks that failed and why. A collective: every rank must call it."""
    if not active():
        if problem:
            raise DistributedError(problem)
        return
    problems: list = [None] * world()
    _dist().all_gather_object(problems, problem)
    failed = [(r, p) for r, p in enumerate(problems) if p]
    if failed:
        raise DistributedError("; ".join(f"rank {r} failed: {p}" for r, p in failed))


def checked(step, what: str):
    """Run ``step()`` on every rank -> its result; if it raised on any rank, every rank stops: the failing rank with
    its own error, the others with a DistributedError naming it (no rank is left waiting for it)."""
    if not active():
        return step()
    try:
        out = step()
    except Exception as e:
        try:
            agree(f"{what}: {e}")
        except DistributedError:
            pass
        raise
    agree(None)
    return out


def barrier() -> None:
    if active():
        _dist().barrier()


def all_sum(values) -> list[float]:
    """Element-wise sum of ``values`` (floats) over all ranks, in float64; the same list on every rank."""
    if not active():
        return [float(v) for v in values]
    import torch

    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_tensor_device())
    _dist().all_reduce(t)
    return t.cpu().tolist()


def broadcast_flags(*flags: bool) -> list[bool]:
    """Rank 0's ``flags`` on every rank: decisions (stop, keep these weights) that every rank must take alike."""
    if not active():
        return list(flags)
    import torch

    t = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=_tensor_device())
    _dist().broadcast(t, 0)
    return [bool(v) for v in t.cpu().tolist()]


def broadcast_object(obj):
    """Rank 0's ``obj`` (small, picklable: a plan, a list of names) on every rank."""
    if not active():
        return obj
    box = [obj]
    _dist().broadcast_object_list(box, 0)
    return box[0]


def shard(n: int) -> slice:
    """This rank's contiguous part of ``n`` items: the first ``n % world`` ranks get one more."""
    size, extra, r = n // world(), n % world(), rank()
    start = r * size + min(r, extra)
    return slice(start, start + size + (r < extra))


def gather_rows(part: np.ndarray, n: int) -> np.ndarray:
    """Every rank's ``shard(n)`` rows of an array, concatenated in rank order -> the [n, ...] array, on every rank."""
    if not active():
        return part
    import torch

    width = n // world() + (n % world() > 0)
    padded = np.zeros((width, *part.shape[1:]), part.dtype)
    padded[: len(part)] = part
    t = torch.from_numpy(padded).to(_tensor_device())
    parts = [torch.empty_like(t) for _ in range(world())]
    _dist().all_gather(parts, t)
    sizes = [n // world() + (r < n % world()) for r in range(world())]
    return np.concatenate([p[:s].cpu().numpy() for p, s in zip(parts, sizes, strict=True)])
