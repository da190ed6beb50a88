"""The server's memory trimmer: glibc really returns freed heap pages to the OS."""

from __future__ import annotations

import time

import numpy as np
import pytest

from explorer.ui import memory
from tests.support.server import rss_mb

needs_glibc = pytest.mark.skipif(memory._libc() is None, reason="malloc_trim is glibc's")


@needs_glibc
def test_trim_returns_freed_small_objects_to_the_os():
    # Many small allocations live in the heap (not mmap-ed), so freeing them alone does not shrink the process.
    base = rss_mb()
    blocks = [np.ones(1000, np.uint8).tobytes() for _ in range(200_000)]  # ~200 MB of 1 kB objects
    grown = rss_mb()
    assert grown - base > 100
    keep = blocks[-1:]  # one live object at the heap's top pins it: only trimming releases what lies below
    del blocks
    before = rss_mb()
    memory.trim()
    after = rss_mb()
    assert before - after > 50, (base, grown, before, after)
    assert keep


@needs_glibc
def test_trimmer_thread_runs_and_stops():
    t = memory.start_trimmer(every_s=0.05, collect_every=2)
    assert t is not None and t.daemon
    deadline = time.monotonic() + 5
    while t.trims < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    t.stop()
    t.join(2)
    assert t.trims >= 4 and t.collections >= 2 and not t.is_alive()


def test_a_full_collection_frees_cycles_the_trimmer_hands_back():
    import gc

    class Node:
        def __init__(self):
            self.me = self  # a reference cycle: reference counting alone never frees it
            self.payload = [bytes(1000) for _ in range(100)]

    gc.disable()  # as between Streamlit's script runs, with postScriptGC off: only the trimmer collects
    try:
        base = rss_mb()
        nodes = [Node() for _ in range(1500)]  # ~150 MB of small objects held by cycles
        keep = [bytes(1000)]  # allocated last: pins the heap's top
        del nodes
        before = rss_mb()
        memory.trim()
        assert before - rss_mb() < 20  # the cycles still hold their memory
        gc.collect()
        memory.trim()
        assert before - rss_mb() > 80, (base, before, rss_mb())
        assert keep
    finally:
        gc.enable()


@needs_glibc
def test_arena_limit_is_accepted():
    assert memory.limit_arenas(memory.ARENA_MAX)


@needs_glibc
def test_mmap_threshold_is_accepted():
    assert memory.fix_mmap_threshold(memory.MMAP_THRESHOLD)
