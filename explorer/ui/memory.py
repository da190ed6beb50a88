"""Give the server's freed memory back to the operating system.

CPython frees a closed session's objects, but glibc's allocator keeps the freed pages in its per-thread
arenas (Streamlit runs every session's script on a thread of its own), so the server's resident size would
stay at its peak after a roomful of sessions has gone. ``malloc_trim(0)`` returns the free pages of every
arena; a daemon thread calls it every few seconds (a few milliseconds each time, nothing when there is
nothing to return). On a system without glibc this is a no-op.

Streamlit's own full garbage collection after every script run is switched off (``runner.postScriptGC`` in
``.streamlit/config.toml``): with torch, plotly and the maps in memory it costs ~0.16 s of CPU per rerun, a
large share of the server's work under load. Reference counting frees almost everything a run leaves; for the rest
(reference cycles, e.g. a closed session's objects) the same thread runs a full collection every 30 s.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import threading

TRIM_EVERY_S = 10.0
ARENA_MAX = 2  # malloc arenas shared by all threads (glibc's default allows 8 per core)
_M_ARENA_MAX = -8  # mallopt's parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024  # blocks this big or bigger get pages of their own (mmap), handed back when freed
COLLECT_EVERY = 3  # a full garbage collection every third trim (30 s): ~0.16 s with everything loaded


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        return libc
    except (OSError, AttributeError):  # not glibc (musl, macOS, Windows): nothing to trim
        return None


def limit_arenas(n: int = ARENA_MAX) -> bool:
    """Let all threads share at most ``n`` malloc arenas -> True if glibc took it.

    Every session's script runs on a thread of its own, and glibc gives threads arenas of their own (up to 8 per
    core): each keeps its freed memory, so ten sessions leave the heap spread, and fragmented, over up to 16
    arenas. glibc reads this limit when a thread first needs a new arena beyond its eighth, so it must be set
    before that: on the server's first script run.
    """
    libc = _libc()
    return bool(libc.mallopt(_M_ARENA_MAX, n)) if libc is not None else False


def fix_mmap_threshold(nbytes: int = MMAP_THRESHOLD) -> bool:
    """Serve every allocation of ``nbytes`` or more from pages of its own -> True if glibc took it.

    glibc starts at 128 KiB but raises the threshold each time such a block is freed (up to 32 MiB), so a busy
    server's large, short-lived blocks (a rerun's messages, PNGs, JSON of a figure) soon come from the heap and
    leave it fragmented: after a roomful of sessions had gone, 130 MB of the heap was free but interleaved with
    live blocks, and the resident size stayed ~80-175 MB above where it began. Setting the threshold fixes it
    at ``nbytes`` (glibc stops adjusting it); such blocks are then unmapped when freed.
    """
    libc = _libc()
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(nbytes))) if libc is not None else False


def trim() -> bool:
    """Return free heap pages to the OS now -> True if glibc released any."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


class Trimmer(threading.Thread):
    """A daemon thread that calls ``trim()`` every ``every_s`` seconds, after a full garbage collection every
    ``collect_every``-th time (0: never), until ``stop()``."""

    def __init__(self, every_s: float = TRIM_EVERY_S, collect_every: int = COLLECT_EVERY):
        super().__init__(name="explorer-malloc-trim", daemon=True)
        self.every_s, self.collect_every = every_s, collect_every
        self.trims = self.collections = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.every_s):
            if self.collect_every and (self.trims + 1) % self.collect_every == 0:
                gc.collect()  # reference cycles first, so that their memory is free to hand back
                self.collections += 1
            trim()
            self.trims += 1

    def stop(self) -> None:
        self._stop_event.set()


def start_trimmer(every_s: float = TRIM_EVERY_S, collect_every: int = COLLECT_EVERY) -> Trimmer | None:
    """Start a ``Trimmer`` for the life of the process (None without glibc: nothing to trim)."""
    if _libc() is None:
        return None
    trimmer = Trimmer(every_s, collect_every)
    trimmer.start()
    return trimmer
