"""Load test: N viewers speak Streamlit's own protocol to the dashboard while ONE real Chromium does the same.

    .venv/bin/python benchmarks/load_test.py --sessions 20 --seconds 60
    .venv/bin/python benchmarks/load_test.py --sessions 5,10,20,40 --seconds 60     # a capacity curve
    .venv/bin/python benchmarks/load_test.py --sessions 20 --replicas 2             # 2 replicas behind nginx
    .venv/bin/python benchmarks/load_test.py --sessions 20 --url http://127.0.0.1:8080   # a server already running

Each protocol session (``tests/support/protocol.py``) is one viewer without a browser: it opens the app's websocket
(``/_stcore/stream``, with the XSRF token from ``/_stcore/health`` as the front end does) and sends the
``BackMsg``s a browser would send, using the protobufs that ship with ``streamlit``. In a loop, pausing 1-3 s
(``--think``) between actions as people do, it:

- opens a page (a click in the navigation: ``rerun_script`` with that page's script hash);
- changes the run (the ``variant`` selectbox: one of the options the server sent);
- moves a slider or changes an item (a keyed slider or number input the page drew: ``k``, ``noise_amount``,
  ``item_index``, ``cz_item``, ...; a random value in the widget's own range);
- clicks a point on the map (the ``select`` event the map component ``map_chart`` sends, with the item's id;
  ``st.plotly_chart``'s selection state for a Plotly map; for a map the client cannot click, a new viewer opens a
  shared link ``?page=map&item=N`` instead, reported as "map link");
- uploads a picture (a Fashion-MNIST test image as PNG, put to ``/_stcore/upload_file/...``, then the
  ``map_upload`` file uploader's state), on the map page.

Each viewer connects from its own loopback address (127.0.<n>.1; all of 127/8 is loopback on Linux), so that nginx's
``ip_hash`` spreads viewers over replicas as it spreads people on different machines. Widgets are found by key in
the deltas the server sends (a keyed widget's id ends in ``-<key>``). The server-side
latency of an action is the time from the message sent to the ``script_finished`` ForwardMsg received (an upload:
from asking for its URL, through the PUT, to ``script_finished``). An error: an exception or the router's "This page
failed" drawn, a closed socket, a refused upload, no ``script_finished`` within 60 s.

During the same minute ONE headless Chromium (``--browser 0`` for none) does the same actions through the real
front end (navigation links, the variant picker, a slider thumb, a click on a map point, a file chosen in the
uploader) and measures what a person waits: from the action to the end of the script run it caused, as the page
shows it (``data-test-script-state`` on ``stApp``); its first load is reported apart.

Before the measured minute a warm-up viewer opens every page with every run (first model loads are not growth).
Memory: the server's resident set (every replica's, summed) sampled every 0.25 s: warm, peak, and after the
sessions closed (the session TTL, 30 s, then one short visit, since Streamlit reaps expired sessions on its next
session write, then the server's memory trimmer). CPU seconds of the server(s), this client and the browser over
the measured window are reported: on one machine they share the cores. Prints a JSON summary (``--json-out``
writes it too); ``--check`` exits 1 when a bar is missed.

Traffic goes to 127.0.0.1 only (``--url`` must be a loopback address); every loop is bounded in time and the whole
run has a hard deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere: the repo root

from tests.support import server  # noqa: E402

START_WAIT_S = 120  # server start-up, first model loads included
SESSION_TTL_S = 30  # .streamlit/config.toml server.disconnectedSessionTTL: closed sessions expire after it
TRIM_WAIT_S = 32  # the server collects garbage every 30 s and returns freed memory (explorer.ui.memory)
THINK_S = (1.0, 3.0)  # a person's pause between two actions (uniform)
PAGES = ("map", "similar", "denoiser", "generator", "compare", "compression", "clustering")
RUN_PICKERS = ("variant", "cz_variant", "cl_method")  # the run (or method) a page shows: a selectbox or radio
SLIDERS = ("k", "noise_amount", "grid_n", "interp_steps")  # keyed sliders the pages draw
ITEMS = ("item_index", "cz_item", "from_item_index", "interp_a", "interp_b")  # keyed item pickers
N_TEST = 10_000
BARS = {"errors": 0, "browser_p95_ms": 1000, "server_p95_ms": 300, "rss_growth_mb": 200, "rss_back_within_mb": 50}
FASHION_MNIST_TEST = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))


# ------------------------------------------------------------------------------------------------ stats


class Stats:
    """Latencies by action kind (ms), errors, and how many actions were sent and finished."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.skipped: dict[str, int] = {}
        self.sent = 0
        self.finished = 0
        self.timeline: list[tuple[float, str, float]] = []  # (when it finished, monotonic s; kind; ms)

    def add(self, kind: str, ms: float) -> None:
        self.latencies.setdefault(kind, []).append(ms)
        self.timeline.append((round(time.monotonic(), 3), kind, round(ms, 1)))

    def error(self, who: str, what: str) -> None:
        self.errors.append(f"{who}: {what[:300]}")

    def skip(self, kind: str) -> None:
        self.skipped[kind] = self.skipped.get(kind, 0) + 1


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def latency_summary(stats: Stats, exclude=("first load", "open")) -> dict:
    actions = [v for k, vs in stats.latencies.items() if k not in exclude for v in vs]

    def r(v):
        return None if v is None else round(v, 1)

    return {
        "n": len(actions),
        "p50_ms": r(percentile(actions, 50)),
        "p95_ms": r(percentile(actions, 95)),
        "max_ms": r(max(actions)) if actions else None,
        "by_kind": {
            k: {"n": len(v), "p50_ms": r(percentile(v, 50)), "p95_ms": r(percentile(v, 95))}
            for k, v in sorted(stats.latencies.items())
        },
    }


# --------------------------------------------------------------------------------------------- pictures


def test_pictures(n: int = 32) -> list[bytes]:
    """``n`` Fashion-MNIST test images as PNGs the way a person would photograph them: dark on light, 112 px."""
    import numpy as np
    from PIL import Image

    raw = gzip.decompress((FASHION_MNIST_TEST / "t10k-images-idx3-ubyte.gz").read_bytes())
    images = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
    out = []
    for i in np.random.default_rng(0).choice(len(images), n, replace=False):
        big = np.kron(255 - images[i], np.ones((4, 4), np.uint8))
        buf = io.BytesIO()
        Image.fromarray(big).save(buf, "PNG")
        out.append(buf.getvalue())
    return out


# -------------------------------------------------------------------------------------- protocol sessions


async def think(rng: random.Random, think_s: tuple[float, float], deadline: float) -> bool:
    """A person's pause (never past the deadline) -> whether there is time for another action."""
    pause = min(rng.uniform(*think_s), max(0.0, deadline - time.monotonic()))
    if pause > 0:
        await asyncio.sleep(pause)
    return time.monotonic() < deadline


async def timed(stats: Stats, who: str, kind: str, action) -> object | None:
    """Run one action (a coroutine returning a RunResult); record its latency, its errors, or its failure."""
    stats.sent += 1
    t0 = time.perf_counter()
    try:
        result = await action
    except Exception as e:  # noqa: BLE001 - every failure is an error of this run, with its kind
        stats.error(who, f"{kind}: {type(e).__name__}: {e}")
        return None
    stats.finished += 1
    stats.add(kind, (time.perf_counter() - t0) * 1e3)
    for problem in result.errors:
        stats.error(who, f"{kind}: {problem}")
    return result


def widget_value(widget, rng: random.Random) -> dict:
    """A new value inside a slider's or number input's own range, as the widget state it sends."""
    p = widget.proto
    lo, hi = float(p.min), float(p.max)
    step = float(p.step) or 1.0
    steps = max(1, int(round((hi - lo) / step)))
    v = lo + step * rng.randrange(steps + 1)
    if widget.kind == "slider":
        return {"double_array_value": [v]}
    return {"double_value": v}


async def protocol_viewer(
    base: str, n: int, seconds: float, stats: Stats, think_s, pictures: list[bytes], ready: asyncio.Event
) -> None:
    """One viewer: open the app by a link, wait for the room (``ready``), then act for ``seconds``."""
    from tests.support.protocol import Session

    rng = random.Random(1000 + n)
    who = f"viewer {n}"
    first_page = PAGES[n % len(PAGES)]
    s = await Session.open(base, source=viewer_address(base, n))
    try:
        r = await timed(stats, who, "open", s.rerun(page="", query=f"page={first_page}"))  # a shared link
        if r is None:
            return
        await ready.wait()
        deadline = time.monotonic() + seconds
        # a person looks at the page before acting: without this pause all viewers would send their first action
        # in the same millisecond when the room is ready, a burst no room of people makes
        if not await think(rng, think_s, deadline):
            return
        cycle = 0
        while time.monotonic() < deadline:
            cycle += 1
            page = rng.choice([p for p in PAGES if p != s.page and not (p == "map" and s.page == "")])
            await timed(stats, who, f"page {page}", s.rerun(page=page))
            if not await think(rng, think_s, deadline):
                break
            picker = next((k for k in RUN_PICKERS if s.has(k, "selectbox") or s.has(k, "radio")), None)
            if picker is not None:
                w = s.widgets[picker]
                options = list(w.proto.options)
                current = s.states.get(w.id)
                choices = [o for o in options if current is None or o != current.string_value] or options
                await timed(stats, who, "variant", s.set_widget(picker, string_value=rng.choice(choices)))
                if not await think(rng, think_s, deadline):
                    break
            else:
                stats.skip("variant")
            present = [k for k in (*SLIDERS, *ITEMS) if s.has(k, "slider") or s.has(k, "number_input")]
            if present:
                key = rng.choice(present)
                kind = "slider" if s.widgets[key].kind == "slider" else "item"
                await timed(stats, who, kind, s.set_widget(key, **widget_value(s.widgets[key], rng)))
                if not await think(rng, think_s, deadline):
                    break
            else:
                stats.skip("slider or item")
            if s.page not in ("map", ""):
                await timed(stats, who, "page map", s.rerun(page="map"))
                if not await think(rng, think_s, deadline):
                    break
            point = rng.randrange(N_TEST)
            if s.has("map_chart", "bidi_component"):  # the map component's select event
                await timed(stats, who, "map click", s.select_on_map("map_chart", [point]))
            elif s.has("map_chart", "plotly_chart"):
                await timed(stats, who, "map click", s.select_points("map_chart", [point]))
            else:  # no map the client knows how to click: a viewer opens a shared link to a point instead
                await timed(stats, who, "map link", open_link(base, f"page=map&item={point}"))
            if not await think(rng, think_s, deadline):
                break
            if cycle % 2 == 1 and s.has("map_upload", "file_uploader"):
                r = await timed(stats, who, "upload", s.upload("map_upload", "photo.png", rng.choice(pictures)))
                if r is not None and "Your picture" not in r.headings:
                    stats.error(who, "upload: the map page did not show the picture")
                if not await think(rng, think_s, deadline):
                    break
    finally:
        await s.close()


def viewer_address(base: str, n: int) -> str | None:
    """Viewer n's own loopback address, 127.0.<n+1>.1 (all of 127/8 is loopback on Linux; nginx's ip_hash keys on the
    first three octets), so that viewers spread over replicas as people on different machines do; None when the
    target is not an IPv4 loopback address."""
    host = urllib.parse.urlsplit(base).hostname or ""
    return f"127.0.{n % 254 + 1}.1" if host.startswith("127.") else None


async def open_link(base: str, query: str):
    """A new viewer opening a shared link (its first run's result); it leaves at once."""
    from tests.support.protocol import Session

    s = await Session.open(base)
    try:
        return await s.rerun(page="", query=query)
    finally:
        await s.close()


async def warm_up(base: str, pictures: list[bytes]) -> None:
    """One viewer does once what the viewers will do: every page with every run (or method) it offers, each slider
    and item picker moved, a map click and an upload. First model loads, lazily built resources (the upload's
    judge, a method's codes) and shared caches are then part of the warm figure, not of the growth."""
    from tests.support.protocol import Session

    rng = random.Random(0)
    s = await Session.open(base)
    try:
        for page in PAGES:
            r = await s.rerun(page=page) if s.pages else await s.rerun(page="", query=f"page={page}")
            picker = next((k for k in RUN_PICKERS if s.has(k, "selectbox") or s.has(k, "radio")), None)
            if picker is not None:
                for option in list(s.widgets[picker].proto.options):
                    r = await s.set_widget(picker, string_value=option)
                    for key in (*SLIDERS, *ITEMS):
                        if s.has(key, "slider") or s.has(key, "number_input"):
                            r = await s.set_widget(key, **widget_value(s.widgets[key], rng))
            if r.errors:
                raise RuntimeError(f"warm-up, page {page}: {r.errors}")
        await s.rerun(page="map")
        if s.has("map_chart", "bidi_component"):
            for option in list(s.widgets["variant"].proto.options) if s.has("variant", "selectbox") else [None]:
                if option is not None:
                    await s.set_widget("variant", string_value=option)
                await s.load_map_tiles("map_chart")  # what a browser asks for: each map's thumbnails
            await s.select_on_map("map_chart", [rng.randrange(N_TEST)])
        if s.has("map_upload", "file_uploader"):
            await s.upload("map_upload", "photo.png", pictures[0])
    finally:
        await s.close()


# --------------------------------------------------------------------------------------------- the browser

# Recorded in the page: each script run's start and end (performance.now(), ms).
OBSERVER_JS = """
(() => {
  window.__st = {runs: [], busy: false};
  const BUSY = new Set(['running', 'rerunRequested']);
  const attach = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (!app) { setTimeout(attach, 25); return; }
    const record = () => {
      const busy = BUSY.has(app.getAttribute('data-test-script-state'));
      const t = performance.now();
      if (busy && !window.__st.busy) window.__st.runs.push({start: t, end: null});
      if (!busy && window.__st.busy) { const r = window.__st.runs.at(-1); if (r) r.end = t; }
      window.__st.busy = busy;
    };
    record();
    new MutationObserver(record).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  };
  attach();
})();
"""
IDLE_JS = "window.__st && window.__st.runs.some(r => r.end !== null) && !window.__st.busy"
NAV_LINKS = '[data-testid="stSidebarNav"] a'
THUMB = "input[type='range'], [role='slider']"
RERUN_START_WAIT_S = 5.0  # an action that starts no script run within this caused none (e.g. a click off a point)


async def wait_run(page, t0: float) -> float | None:
    """ms from t0 (page clock) to the end of the first script run that started after t0; None if none started."""
    try:
        await page.wait_for_function(
            "t0 => window.__st && window.__st.runs.some(r => r.start >= t0)", arg=t0, timeout=RERUN_START_WAIT_S * 1e3
        )
    except Exception:  # noqa: BLE001 - no run started: nothing to time
        return None
    handle = await page.wait_for_function(
        "t0 => { const r = window.__st.runs.find(r => r.start >= t0 && r.end !== null); "
        "return r ? r.end - t0 : null; }",
        arg=t0,
        timeout=60_000,
    )
    return float(await handle.json_value())


async def browser_action(page, stats: Stats, kind: str, act) -> None:
    """Do ``act`` (False: nothing to do here) and time it to the end of the script run it caused, from its start or
    from the moment ``act`` returns (a float, the page clock's ms): e.g. the click on a run, not the scroll to its
    picker."""
    t0 = await page.evaluate("performance.now()")
    stats.sent += 1
    try:
        done = await act()
        if done is False:
            stats.sent -= 1
            stats.skip(kind)
            return
        ms = await wait_run(page, done if isinstance(done, float) else t0)
    except Exception as e:  # noqa: BLE001 - a failed action is an error of the run
        stats.error("browser", f"{kind}: {type(e).__name__}: {e}")
        return
    stats.finished += 1
    if ms is None:
        stats.skip(f"{kind} (no rerun)")
    else:
        stats.add(kind, ms)
    if await page.locator('[data-testid="stException"]').count():
        stats.error("browser", f"exception shown after {kind}")


async def browser_viewer(browser, base: str, seconds: float, stats: Stats, think_s, picture: Path, ready) -> None:
    """One real Chromium: open the app, wait for the room, then page / variant / slider / map click / upload."""
    rng = random.Random(7)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    await context.add_init_script(OBSERVER_JS)
    page = await context.new_page()
    page.on("pageerror", lambda e: stats.error("browser", f"page error: {e}"))
    # A failed resource is recorded with its URL (its console line, "Failed to load resource", names none).
    page.on("response", lambda r: r.status >= 400 and stats.error("browser", f"HTTP {r.status} for {r.url}"))
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.text.startswith("Failed to load resource")
            and stats.error("browser", f"console error: {m.text}")
        ),
    )
    try:
        t0 = time.monotonic()
        await page.goto(base, wait_until="domcontentloaded", timeout=60_000)
        await page.wait_for_function(IDLE_JS, timeout=120_000)
        stats.add("first load", (time.monotonic() - t0) * 1e3)
        await ready.wait()
        deadline = time.monotonic() + seconds
        # a person looks at the page before acting: without this pause all viewers would send their first action
        # in the same millisecond when the room is ready, a burst no room of people makes
        if not await think(rng, think_s, deadline):
            return
        cycle = 0
        while time.monotonic() < deadline:
            cycle += 1
            hrefs = await page.locator(NAV_LINKS).evaluate_all("links => links.map(a => a.href)")
            here = page.url.split("?")[0].rstrip("/")
            href = rng.choice([h for h in hrefs if h.rstrip("/") != here] or hrefs)
            await browser_action(
                page, stats, "page", lambda h=href: page.locator(f'{NAV_LINKS}[href="{h}"]').first.click()
            )
            for kind, act in (("variant", change_variant), ("slider", nudge_slider)):
                if not await think(rng, think_s, deadline):
                    return
                await browser_action(page, stats, kind, lambda act=act: act(page, rng))
            if not await think(rng, think_s, deadline):
                return
            if not await page.locator(".st-key-map_chart").count():
                map_link = page.locator(f'{NAV_LINKS}[href="{hrefs[0]}"]').first  # the default page: the map
                await browser_action(page, stats, "page", map_link.click)
                if not await think(rng, think_s, deadline):
                    return
            await browser_action(page, stats, "map click", lambda: click_map(page, rng))
            if cycle % 2 == 1:
                if not await think(rng, think_s, deadline):
                    return
                await browser_action(page, stats, "upload", lambda: choose_file(page, picture))
            if not await think(rng, think_s, deadline):
                return
    finally:
        await context.close()


async def change_variant(page, rng: random.Random) -> bool | float:
    """Another option of the page's run picker (a selectbox) -> when it was clicked (page clock, ms); False if the
    page has no picker or no other option."""
    box = page.locator(".st-key-variant [role='combobox'], .st-key-cz_variant [role='combobox']")
    if not await box.count():
        return False
    options = page.locator('[role="listbox"] [role="option"]').first
    for attempt in range(2):  # a click that lands while the page redraws may open nothing: a person clicks again
        await page.wait_for_function(IDLE_JS, timeout=30_000)
        # below the fold (Compression's picker): scrolled to first, as a person does, so that the click does not
        # land while images above it are still moving the page
        await box.first.scroll_into_view_if_needed()
        await page.wait_for_timeout(150)
        await box.first.click()
        try:
            await options.wait_for(timeout=5000)
            break
        except Exception:  # noqa: BLE001 - Playwright's TimeoutError; the second miss is the action's error
            if attempt:
                raise
            await page.keyboard.press("Escape")
    others = page.locator('[role="listbox"] [role="option"]:not([aria-selected="true"])')
    n = await others.count()
    if not n:
        await page.keyboard.press("Escape")
        return False
    choice = others.nth(rng.randrange(n))
    clicked = await page.evaluate("performance.now()")  # the wait starts at the click on the run
    await choice.click()
    return float(clicked)


async def nudge_slider(page, rng: random.Random) -> bool:
    present = [k for k in SLIDERS if await page.locator(f".st-key-{k} {THUMB}").count()]
    if not present:
        return False
    thumb = page.locator(f".st-key-{rng.choice(present)} {THUMB}").first
    await thumb.focus()
    await thumb.press(rng.choice(["ArrowRight", "ArrowLeft"]))
    return True


# The page position of a random map point (the map component's own view), so a click lands on a real point.
RANDOM_POINT_JS = """seed => {
  const m = globalThis.__latentMaps?.map_chart;
  if (!m || !m.ready() || !m.n()) return null;
  return m.itemXY((seed * 7919) % m.n());
}"""


async def click_map(page, rng: random.Random) -> bool:
    if not await page.locator(".st-key-map_chart").count():
        return False
    await page.wait_for_function("() => !!globalThis.__latentMaps?.map_chart?.ready()", timeout=15_000)
    await page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()
    point = await page.evaluate(RANDOM_POINT_JS, rng.randrange(1 << 30))
    if not point:
        return False
    # Hover first (the card shows the item), then click it: a selection, hence a rerun.
    await page.mouse.move(point["x"] - 6, point["y"] - 6)
    await page.mouse.move(point["x"], point["y"])
    await page.wait_for_timeout(250)
    await page.mouse.click(point["x"], point["y"])
    return True


async def choose_file(page, picture: Path) -> bool:
    field = page.locator(".st-key-map_upload input[type='file']")
    if not await field.count():
        return False
    await field.first.set_input_files(str(picture))
    return True


# -------------------------------------------------------------------------------------------- one level


async def run_level(base: str, sessions: int, seconds: float, think_s, browser_on: bool, pictures, tmp: Path) -> Stats:
    """``sessions`` protocol viewers (and the browser) for ``seconds`` -> the stats, browser's under "browser"."""
    proto, browser_stats = Stats(), Stats()
    ready = asyncio.Event()
    picture = tmp / "photo.png"
    picture.write_bytes(pictures[0])

    async def staggered(i: int):
        await asyncio.sleep(0.1 * i)  # a room arriving, not one instant
        await protocol_viewer(base, i, seconds, proto, think_s, pictures, ready)

    async def room():
        tasks = [asyncio.create_task(staggered(i)) for i in range(sessions)]
        opened = time.monotonic()
        while len(proto.latencies.get("open", [])) + len(proto.errors) < sessions:
            if time.monotonic() - opened > START_WAIT_S:
                break
            await asyncio.sleep(0.1)
        return tasks

    if browser_on:
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await server.launch_chromium(p.chromium)
            try:
                btask = asyncio.create_task(
                    browser_viewer(browser, base, seconds, browser_stats, think_s, picture, ready)
                )
                tasks = await room()
                while "first load" not in browser_stats.latencies and not btask.done():
                    await asyncio.sleep(0.1)
                ready.set()
                results = await asyncio.gather(btask, *tasks, return_exceptions=True)
            finally:
                await browser.close()
    else:
        tasks = await room()
        ready.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for i, r in enumerate(results):
        if isinstance(r, BaseException):
            (browser_stats if browser_on and i == 0 else proto).error(
                f"session {i}", f"failed: {type(r).__name__}: {r}"
            )
    proto.browser = browser_stats
    return proto


# ------------------------------------------------------------------------------------------------ server


def group_pids(pgid: int) -> list[int]:
    """The streamlit processes of a process group (the server, or the replicas under deploy/replicas.sh)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmd = (stat.parent / "cmdline").read_bytes()
            if int(fields[2]) == pgid and (b"streamlit" in cmd or b"explorer\0serve" in cmd):
                out.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def browser_pids() -> list[int]:
    """This run's Chromium processes (descendants of this process: other people's browsers are not counted)."""
    me, pids = os.getpid(), []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"chromium" not in cmdline.read_bytes():
                continue
            pid = p = int(cmdline.parent.name)
        except (OSError, ValueError):
            continue
        for _ in range(12):  # chromium <- playwright's driver <- this process
            p = _parent(p)
            if p in (me, 0, 1):
                break
        if p == me:
            pids.append(pid)
    return pids


class Sampler(threading.Thread):
    """The servers' summed RSS (its peak) and the CPU seconds of the servers, this client and the browsers."""

    def __init__(self, pids: list[int], every_s: float = 0.25):
        super().__init__(daemon=True)
        self.pids, self.every_s = pids, every_s
        self.peak = 0.0
        self.cpu0 = {p: server.cpu_seconds(p) or 0.0 for p in pids}
        self.client0 = server.cpu_seconds() or 0.0
        self.browser_cpu: dict[int, float] = {}
        self.browser0 = {p: server.cpu_seconds(p) or 0.0 for p in browser_pids()}
        self.stop_event = threading.Event()
        self.t0 = time.monotonic()

    def rss(self) -> float | None:
        values = [server.rss_mb(p) for p in self.pids]
        return None if any(v is None for v in values) else sum(values)

    def run(self) -> None:
        while not self.stop_event.wait(self.every_s):
            v = self.rss()
            if v is not None:
                self.peak = max(self.peak, v)
            for p in browser_pids():
                c = server.cpu_seconds(p)
                if c is not None:
                    self.browser_cpu[p] = c

    def cpu(self) -> dict:
        each = [round((server.cpu_seconds(p) or 0.0) - self.cpu0[p], 1) for p in self.pids]
        servers = sum(each)
        browsers = sum(c - self.browser0.get(p, 0.0) for p, c in self.browser_cpu.items())
        return {
            "servers": round(servers, 1),
            "each_server": each,
            "this_client": round((server.cpu_seconds() or 0.0) - self.client0, 1),
            "browser": round(browsers, 1),
            "wall_s": round(time.monotonic() - self.t0, 1),
            "cores": os.cpu_count(),
        }


def start_replicas(n: int, log: Path) -> tuple[subprocess.Popen, str]:
    """deploy/replicas.sh: n replicas behind nginx on free loopback ports -> (its process, nginx's URL)."""
    listen, base_port = server.free_port(), server.free_port()
    while base_port + n > 65535 or listen in range(base_port, base_port + n):
        base_port = server.free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(ROOT / "deploy" / "replicas.sh"), str(n), f"127.0.0.1:{listen}", str(base_port)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, f"http://127.0.0.1:{listen}"


def wait_replicas(proc, url: str, n: int) -> None:
    """Health through nginx, then every replica healthy (nginx answers once any one is)."""
    server.wait_healthy(url, proc, START_WAIT_S, poll_s=0.5)
    deadline = time.monotonic() + START_WAIT_S
    while len(group_pids(proc.pid)) < n and time.monotonic() < deadline:
        time.sleep(0.5)
    for port in listening_ports(group_pids(proc.pid)):
        server.wait_healthy(f"http://127.0.0.1:{port}", None, START_WAIT_S, poll_s=0.5)


def listening_ports(pids: list[int]) -> list[int]:
    """The TCP ports the replicas were started on (from their command lines)."""
    ports = []
    for p in pids:
        try:
            args = (Path(f"/proc/{p}/cmdline").read_bytes()).split(b"\0")
        except OSError:
            continue
        if b"--server.port" in args:
            ports.append(int(args[args.index(b"--server.port") + 1]))
    return ports


def loopback_only(url: str) -> str:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"--url {url}: this load test sends traffic to loopback addresses only (127.0.0.1).")
    return url.rstrip("/")


# ------------------------------------------------------------------------------------------------- main


def level_summary(sessions: int, stats: Stats, mem: dict, cpu: dict | None) -> dict:
    browser = stats.browser
    server_lat = latency_summary(stats)
    browser_lat = latency_summary(browser)
    growth = None if mem.get("peak") is None or mem.get("warm") is None else round(mem["peak"] - mem["warm"], 1)
    after = mem.get("after_close")
    back = None if after is None or mem.get("warm") is None else round(after - mem["warm"], 1)
    errors = stats.errors + browser.errors
    out = {
        "sessions": sessions,
        "actions_sent": stats.sent,
        "actions_finished": stats.finished,  # each with its script_finished
        "server": server_lat,
        "open_ms": latency_summary(stats, exclude=())["by_kind"].get("open"),
        "browser": {**browser_lat, "sent": browser.sent, "finished": browser.finished, "skipped": browser.skipped},
        "skipped": stats.skipped,
        "errors": len(errors),
        "error_samples": errors[:10],
        "server_rss_mb": {k: None if v is None else round(v, 1) for k, v in mem.items()},
        "rss_growth_mb": growth,
        "rss_after_close_minus_warm_mb": back,
        "cpu_s": cpu,
    }
    b95, s95 = browser_lat["p95_ms"], server_lat["p95_ms"]
    out["bars"] = {
        "errors == 0": len(errors) == 0,
        "browser p95 <= 1 s": None if b95 is None else b95 <= BARS["browser_p95_ms"],
        "server p95 <= 300 ms": None if s95 is None else s95 <= BARS["server_p95_ms"],
        "rss growth <= 200 MB": None if growth is None else growth <= BARS["rss_growth_mb"],
        "rss back within 50 MB of warm": None if back is None else back <= BARS["rss_back_within_mb"],
    }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", default="20", help="protocol viewers; several ('5,10,20,40') for a capacity curve")
    ap.add_argument("--seconds", type=float, default=60.0, help="the measured window of each level")
    ap.add_argument("--url", default=None, help="a server (or nginx) already running on a loopback address")
    ap.add_argument("--replicas", type=int, default=0, help="start N replicas behind nginx (deploy/replicas.sh)")
    ap.add_argument("--browser", type=int, choices=(0, 1), default=1, help="one real Chromium alongside (default 1)")
    ap.add_argument("--think", default=f"{THINK_S[0]:g},{THINK_S[1]:g}", help="'MIN,MAX' seconds between actions")
    ap.add_argument("--no-warm-up", action="store_true", help="count first model loads in the memory growth")
    ap.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds after the last level before the last memory reading (default: the session TTL, "
        f"{SESSION_TTL_S} s, a short visit that lets Streamlit reap expired sessions, then {TRIM_WAIT_S} s)",
    )
    ap.add_argument("--json-out", type=Path, default=None, help="also write the summary here")
    ap.add_argument("--check", action="store_true", help="exit 1 when a bar is missed (at the last level)")
    args = ap.parse_args(argv)
    try:
        levels = [int(v) for v in args.sessions.split(",")]
        if not levels or not all(1 <= n <= 60 for n in levels):
            raise ValueError
    except ValueError:
        ap.error(f"--sessions {args.sessions!r}: give 1-60 viewers, or several separated by commas (a bounded test).")
    if not 1 <= args.seconds <= 600:
        ap.error(f"--seconds {args.seconds} must be 1-600 (a bounded test).")
    try:
        bounds = [float(v) for v in args.think.split(",")]
        think_s = (bounds[0], bounds[-1])
        if len(bounds) > 2 or not 0 <= think_s[0] <= think_s[1] <= 30:
            raise ValueError
    except ValueError:
        ap.error(f"--think {args.think!r}: give 'MIN,MAX' seconds with 0 <= MIN <= MAX <= 30, or one number.")
    if args.browser and not Path(server.CHROMIUM).exists():
        ap.error(server.NO_CHROMIUM)
    if args.url and args.replicas:
        ap.error("--url and --replicas: give one (--replicas starts its own nginx).")

    hard_limit = int(START_WAIT_S * 2 + sum(args.seconds + 90 + 2 * n for n in levels) + 180)

    def over_time(*_):
        raise TimeoutError(f"the run passed its hard limit of {hard_limit} s")

    signal.signal(signal.SIGALRM, over_time)
    signal.alarm(hard_limit)

    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    log = tmp / f"load_test_server_{os.getpid()}.log"
    proc, pids = None, []
    if args.url:
        base = loopback_only(args.url)
    elif args.replicas:
        proc, base = start_replicas(args.replicas, log)
    else:
        port = server.free_port()
        base = f"http://127.0.0.1:{port}"
        proc = server.start_server("dashboard.py", port, log)
    pictures = test_pictures()
    result: dict = {
        "target": base,
        "replicas": args.replicas or (None if args.url else 1),
        "think_s": list(think_s),
        "seconds": args.seconds,
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "levels": [],
    }
    failed = None
    t_start = time.monotonic()
    try:
        if args.replicas:
            wait_replicas(proc, base, args.replicas)
        else:
            server.wait_healthy(base, proc, START_WAIT_S, poll_s=0.5)
        pids = group_pids(proc.pid) if proc else []
        result["server_pids"] = len(pids)
        mem0 = Sampler(pids).rss() if pids else None
        if not args.no_warm_up:
            ports = listening_ports(pids) if args.replicas else []
            for target in [f"http://127.0.0.1:{p}" for p in ports] or [base]:  # each replica warmed directly
                asyncio.run(warm_up(target, pictures))
        warm = Sampler(pids).rss() if pids else None
        result["server_rss_mb"] = {"start": mem0, "warm": warm}
        for n in levels:
            sampler = Sampler(pids)
            sampler.start()
            stats = asyncio.run(run_level(base, n, args.seconds, think_s, bool(args.browser), pictures, tmp))
            sampler.stop_event.set()
            sampler.join()
            mem = {"warm": warm, "peak": max(sampler.peak, warm or 0) if pids else None}
            level = level_summary(n, stats, mem, sampler.cpu() if pids else None)
            if args.json_out:  # every action's (when it ended, kind, ms), from the level's start: for finding stalls
                t0 = min((t for t, _, _ in stats.timeline), default=0.0)
                level["timeline"] = [(round(t - t0, 2), k, ms) for t, k, ms in sorted(stats.timeline)]
                level["timeline_t0_monotonic"] = t0  # the clock (CLOCK_MONOTONIC) server-side logs can use too
            level["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
            result["levels"].append(level)
            print(json.dumps({k: level[k] for k in ("sessions", "errors", "bars")}), file=sys.stderr, flush=True)
        if pids:
            if args.settle is None:
                # Streamlit drops expired sessions on its next session write (its store reaps lazily): after the
                # TTL, one more visitor comes and goes; then the trimmer hands the freed memory back.
                time.sleep(SESSION_TTL_S + 2)
                asyncio.run(open_link(base, "page=compare"))
                time.sleep(TRIM_WAIT_S)
            else:
                time.sleep(args.settle)
            after = Sampler(pids).rss()
            last = result["levels"][-1]
            last["server_rss_mb"]["after_close"] = after
            back = None if after is None or warm is None else round(after - warm, 1)
            last["rss_after_close_minus_warm_mb"] = back
            last["bars"]["rss back within 50 MB of warm"] = None if back is None else back <= BARS["rss_back_within_mb"]
    except Exception as e:  # noqa: BLE001 - reported in the summary, with the server log
        failed = f"{type(e).__name__}: {e}"
    finally:
        signal.alarm(0)
        if proc is not None:
            server.stop_server(proc)
    result["wall_s"] = round(time.monotonic() - t_start, 1)
    result["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    if failed:
        result["failed"] = failed
    if failed or any(level["errors"] for level in result["levels"]):
        result["server_log_tail"] = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    levels = [{k: v for k, v in lv.items() if not k.startswith("timeline")} for lv in result["levels"]]
    brief = {**result, "levels": levels}
    print(json.dumps(brief, indent=2))  # the per-action timelines go to --json-out only
    if args.json_out:
        args.json_out.write_text(json.dumps(result, indent=2))
    if failed:
        return 2
    if args.check:
        return 0 if all(v is not False for v in result["levels"][-1]["bars"].values()) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
