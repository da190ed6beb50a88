"""``python -m explorer serve``: the dashboard's server, warm before its first visitor, and quick to answer.

It is ``streamlit run dashboard.py`` (any ``--server.*`` option passes through, ``.streamlit/config.toml`` still
applies) with three things done first, in this process:

- **Warm-up.** torch, pandas, plotly and the pages' logic are imported before the server listens, so the first
  visitor does not wait through them (2-3 s on 2 cores; a plain ``streamlit run`` shows a start-up notice
  instead, see ``dashboard.py``).
  The objects they made are then frozen out of the garbage collector's full collections (:func:`warm_up`).
- **Threads.** One torch thread and one BLAS thread (:func:`one_thread_each`): every session's script runs on a
  thread of its own, and numpy's OpenBLAS worker otherwise spins beside each matrix product, burning a core
  that other sessions need.
- **No Nagle delay.** Streamlit binds its listening socket itself, without ``IPPROTO_TCP``, so asyncio does not
  switch off Nagle's algorithm on the connections it accepts: the first message of a script run goes out, the
  rest wait for the viewer's delayed ACK, and every interaction took at least ~44 ms on loopback (a page whose
  script runs in 6 ms included). TCP_NODELAY on the listening socket is inherited by every connection
  (:func:`no_nagle`), and reruns finish in their script's time.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboard.py"
# Imported before the server listens: the libraries and the page logic that the first visitor of any page would
# otherwise wait for. Not the pages themselves (explorer/ui): their Streamlit caches must be made once the runtime
# exists. Not umap (numba): only `prepare` and an uncomputed map need it.
WARM_MODULES = (
    "torch",
    "pandas",
    "plotly.graph_objects",
    "PIL.Image",
    "explorer.inference",
    "explorer.figures",
    "explorer.images",
    "explorer.upload",
    "explorer.selection",
    "explorer.mapdata",
    "explorer.atlas",
    "explorer.generation",
    "explorer.compare",
    "explorer.codec",
    "explorer.clustering",
    "explorer.quality",
    "explorer.training_view",
    "explorer.exports",
)


def one_thread_each() -> dict:
    """One torch intra-op thread and one BLAS thread for this process -> what was set.

    Called by ``serve`` and by the dashboard's first script run (``common.configure_threads``), so a plain
    ``streamlit run`` gets it too. OpenBLAS's thread count is process-wide, set once here.
    """
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1, user_api="blas")  # numpy's OpenBLAS (and torch's, where it brings one)
    return {"torch": torch.get_num_threads()}


def no_nagle() -> bool:
    """Make the sockets Streamlit binds switch off Nagle's algorithm (TCP_NODELAY) -> False if this Streamlit has no
    such binder (then nothing changes: the server works, each rerun is ~40 ms slower on loopback)."""
    try:
        from streamlit.web.server.starlette import starlette_server
    except ImportError:
        return False
    bind = getattr(starlette_server, "_bind_socket", None)
    if bind is None or getattr(bind, "no_nagle", False):
        return bind is not None

    def bind_no_nagle(address: str, port: int, backlog: int) -> socket.socket:
        sock = bind(address, port, backlog)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted connections inherit it
        return sock

    bind_no_nagle.no_nagle = True
    starlette_server._bind_socket = bind_no_nagle
    return True


def warm_up(modules: tuple[str, ...] = WARM_MODULES) -> float:
    """Import ``modules``, set the thread counts, then freeze what exists (``gc.freeze``) -> seconds it took.

    The imports are most of the objects the garbage collector would otherwise walk on every full collection:
    with them frozen (they live as long as the process anyway), a full collection takes a few milliseconds instead
    of ~130 ms during which every session's script waits for the GIL. Objects made later (sessions, caches) are
    collected as ever.
    """
    import gc
    import importlib

    t0 = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    one_thread_each()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - t0


def streamlit_args(options: list[str], plugins: list[str]) -> list[str]:
    """``streamlit run`` arguments: the dashboard, the server options, then the plugins for the dashboard."""
    args = ["run", str(DASHBOARD), *options]
    if plugins:
        args += ["--", *[a for m in plugins for a in ("--plugin", m)]]
    return args


def serve(options: list[str], plugins: list[str]) -> int:
    """Warm up, then run Streamlit's own command line on the dashboard (it exits when the server stops; a wrong
    option is Streamlit's own usage error)."""
    from . import memory

    memory.limit_arenas()  # before the warm-up's allocations (the dashboard's first run sets them again: no-ops)
    memory.fix_mmap_threshold()
    nagle = no_nagle()
    print("Latent Explorer: warming up (torch, pandas, plotly and the pages' logic)…", file=sys.stderr, flush=True)
    seconds = warm_up()
    print(
        f"Latent Explorer: warm in {seconds:.1f} s"
        + ("" if nagle else " (this Streamlit binds its sockets elsewhere: Nagle's delay stays on)"),
        file=sys.stderr,
        flush=True,
    )
    from streamlit.web import cli as streamlit_cli

    return streamlit_cli.main.main(args=streamlit_args(options, plugins), prog_name="streamlit")
