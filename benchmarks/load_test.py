"""Load test: N concurrent headless-Chromium sessions drive the dashboard on loopback for S seconds.

    .venv/bin/python benchmarks/load_test.py --sessions 10 --seconds 60

Starts ``streamlit run dashboard.py`` on a free 127.0.0.1 port (or uses --port), waits for /_stcore/health,
then each session (its own browser context, so its own Streamlit session) repeatedly: opens a page from the
sidebar navigation, changes the variant, nudges a slider (``z0``..``z9``, ``noise_amount``) and clicks the map
(``map_chart``). Widgets are found by the ``st-key-<key>`` class Streamlit puts on keyed elements.

Every session first opens the app (its "first load", reported apart: ten at once take seconds on two cores);
when all are in, each acts for S seconds, pausing 1-3 s between actions as people do (``--think``; ``--think 0``
hammers). Latency of an interaction: from the action to the end of the script run it caused, read in the page
from the ``data-test-script-state`` attribute of ``stApp`` (the app's "running" state). Errors: any
``stException`` element, page errors and console errors; an action that times out (a starved browser) is
counted apart, as a timeout. Server memory: resident set size from /proc (psutil if
installed) sampled every 0.25 s: at start, after a warm-up visit of every page with every variant, its peak, and
after all sessions closed (their TTL, 30 s, then one short visit, since Streamlit reaps expired sessions
on its next session write, then the server's memory trimming). Prints a JSON summary; exit
status 1 when --check is given and a target is missed.

Traffic goes to 127.0.0.1 only; every loop is bounded in time and the whole run has a hard deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere: the repo root

from tests.support import server  # noqa: E402

THUMB = "input[type='range'], [role='slider']"
SLIDER_KEYS = tuple(f"z{i}" for i in range(10)) + ("noise_amount",)
START_WAIT_S = 120  # server start-up, first model loads included
RERUN_START_WAIT_S = 5.0  # an action that starts no script run within this is "no rerun", not an error
RUN_END_WAIT_S = 60  # a script run longer than this is an error
SESSION_TTL_S = 30  # .streamlit/config.toml server.disconnectedSessionTTL: closed sessions expire after it
TRIM_WAIT_S = 32  # the server collects garbage every 30 s and returns freed memory (explorer.ui.memory)
THINK_S = (1.0, 3.0)  # a person's pause between two actions (uniform); --think 0 hammers without pauses
IDLE_JS = "window.__st && window.__st.runs.some(r => r.end !== null) && !window.__st.busy"

# Recorded in every page: each script run's start and end (performance.now(), ms).
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


# ------------------------------------------------------------------------------------------------ server


def browser_pids() -> list[int]:
    """The Chromium processes on this machine (the load test's own: it runs the only ones)."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if b"chromium" in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except (OSError, ValueError):
            continue
    return pids


class MemorySampler(threading.Thread):
    """Samples the server's RSS (its peak) and the CPU time of the server and of the browsers while it runs."""

    def __init__(self, pid: int, every_s: float = 0.25):
        super().__init__(daemon=True)
        self.pid, self.every_s = pid, every_s
        self.peak = 0.0
        self.server_cpu0 = server.cpu_seconds(pid) or 0.0
        self.server_cpu = 0.0
        self.browser_cpu: dict[int, float] = {}  # pid -> last CPU time seen (a closed browser keeps its last)
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.wait(self.every_s):
            v = server.rss_mb(self.pid)
            if v is not None:
                self.peak = max(self.peak, v)
            self.server_cpu = (server.cpu_seconds(self.pid) or self.server_cpu0) - self.server_cpu0
            for p in browser_pids():
                c = server.cpu_seconds(p)
                if c is not None:
                    self.browser_cpu[p] = c


# ---------------------------------------------------------------------------------------------- sessions


class Stats:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.no_rerun: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.errors: list[str] = []
        self.timeouts: list[str] = []  # an action the browser could not finish in time: slowness, not a failure

    def error(self, session: int, what: str) -> None:
        self.errors.append(f"session {session}: {what[:300]}")

    def timeout(self, session: int, what: str) -> None:
        self.timeouts.append(f"session {session}: {what[:300]}")


async def wait_idle(page, t0: float) -> float | None:
    """ms from t0 (page clock) to the end of the first script run that started after t0; None if none started."""
    try:
        await page.wait_for_function(
            "t0 => window.__st && window.__st.runs.some(r => r.start >= t0)", arg=t0, timeout=RERUN_START_WAIT_S * 1e3
        )
    except Exception:
        return None
    handle = await page.wait_for_function(
        "t0 => { const r = window.__st.runs.find(r => r.start >= t0 && r.end !== null); "
        "return r ? r.end - t0 : null; }",
        arg=t0,
        timeout=RUN_END_WAIT_S * 1e3,
    )
    return float(await handle.json_value())


async def measured(page, stats: Stats, session: int, kind: str, action) -> None:
    t0 = await page.evaluate("performance.now()")
    try:
        if await action() is False:  # nothing to act on on this page
            stats.skipped[kind] = stats.skipped.get(kind, 0) + 1
            return
        ms = await wait_idle(page, t0)
    except Exception as e:
        record = stats.timeout if "Timeout" in type(e).__name__ else stats.error
        record(session, f"{kind}: {type(e).__name__}: {e}")
        return
    if ms is None:
        stats.no_rerun[kind] = stats.no_rerun.get(kind, 0) + 1
    else:
        stats.latencies.setdefault(kind, []).append(ms)
    n = await page.locator('[data-testid="stException"]').count()
    if n:
        text = await page.locator('[data-testid="stException"]').first.inner_text()
        stats.error(session, f"exception shown after {kind}: {text}")


NAV_LINKS = '[data-testid="stSidebarNav"] a'


async def nav_hrefs(page) -> list[str]:
    """The sidebar's page links (the default page's is the app's root URL)."""
    return await page.locator(NAV_LINKS).evaluate_all("links => links.map(a => a.href)")


async def visit(page, href: str) -> bool:
    link = page.locator(f'{NAV_LINKS}[href="{href}"]')
    if not await link.count():
        raise LookupError(f"no sidebar link to {href}")
    await link.first.click()
    return True


async def change_variant(page, rng: random.Random) -> bool:
    box = page.locator(".st-key-variant [role='combobox']")
    if not await box.count():
        return False
    await box.first.click()
    await page.locator('[role="listbox"] [role="option"]').first.wait_for(timeout=5000)
    others = page.locator('[role="listbox"] [role="option"]:not([aria-selected="true"])')
    n = await others.count()
    if not n:
        await page.keyboard.press("Escape")
        return False
    await others.nth(rng.randrange(n)).click()
    return True


async def nudge_slider(page, rng: random.Random) -> bool:
    # Streamlit 1.67's slider is a react-aria Slider: its thumb is a visually hidden <input type="range">.
    present = [k for k in SLIDER_KEYS if await page.locator(f".st-key-{k} {THUMB}").count()]
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


def _matches(href: str, wanted: list[str] | None) -> bool:
    path = href.split("://", 1)[-1].partition("/")[2].strip("/")
    return wanted is None or path in wanted or (path == "" and "" in wanted)


async def think(rng: random.Random, think_s: tuple[float, float], deadline: float) -> None:
    """A person's pause before the next action (never past the deadline)."""
    pause = min(rng.uniform(*think_s), max(0.0, deadline - time.monotonic()))
    if pause > 0:
        await asyncio.sleep(pause)


async def run_session(
    browser,
    base: str,
    pages: list[str] | None,
    session: int,
    seconds: float,
    stats: Stats,
    ready: asyncio.Barrier,
    think_s: tuple[float, float] = THINK_S,
) -> None:
    """Open the app, wait until every session has (``ready``), then act for ``seconds``."""
    rng = random.Random(session)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(15_000)
    await context.add_init_script(OBSERVER_JS)
    page = await context.new_page()
    page.on("pageerror", lambda e: stats.error(session, f"page error: {e}"))
    page.on("console", lambda m: m.type == "error" and stats.error(session, f"console error: {m.text}"))
    try:
        t0 = time.monotonic()
        await page.goto(base, wait_until="domcontentloaded", timeout=60_000)
        await page.wait_for_function(IDLE_JS, timeout=120_000)
        stats.latencies.setdefault("first load", []).append((time.monotonic() - t0) * 1e3)
        hrefs = [h for h in await nav_hrefs(page) if _matches(h, pages)]
        if not hrefs:
            raise LookupError("no sidebar navigation links to visit")
        await asyncio.wait_for(ready.wait(), START_WAIT_S)  # the room is in: the measured minute starts
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            here = page.url.rstrip("/")
            href = rng.choice([h for h in hrefs if h.rstrip("/") != here] or hrefs)  # the current page's link: no run
            await measured(page, stats, session, "page", lambda h=href: visit(page, h))
            for kind, act in (("variant", change_variant), ("slider", nudge_slider), ("map click", click_map)):
                await think(rng, think_s, deadline)
                if time.monotonic() >= deadline:
                    break
                await measured(page, stats, session, kind, lambda act=act: act(page, rng))
            await think(rng, think_s, deadline)
    except BaseException:
        await ready.abort()  # the others stop waiting for this session
        raise
    finally:
        await context.close()


async def visit_every_variant(page) -> None:
    """On the current page, choose each option of the variant picker once (warm-up: every shared cache filled)."""
    box = page.locator(".st-key-variant [role='combobox']")
    if not await box.count():
        return
    await box.first.click()
    n = await page.locator('[role="listbox"] [role="option"]').count()
    await page.keyboard.press("Escape")
    for i in range(n):
        await box.first.click()
        await page.locator('[role="listbox"] [role="option"]').nth(i).click()
        await page.wait_for_timeout(300)
        await page.wait_for_function(IDLE_JS, timeout=120_000)


async def drive(
    base: str,
    pages: list[str] | None,
    sessions: int,
    seconds: float,
    stats: Stats,
    warm_up: bool,
    think_s: tuple[float, float] = THINK_S,
    probe: bool = False,
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await server.launch_chromium(p.chromium)
        try:
            if warm_up or probe:  # one visitor: opens the app and waits for its run; then leaves (probe) or first
                # visits every page with every variant (warm-up: first model loads and shared caches are not growth)
                ctx = await browser.new_context()
                await ctx.add_init_script(OBSERVER_JS)
                pg = await ctx.new_page()
                await pg.goto(base, timeout=120_000)
                await pg.wait_for_function(IDLE_JS, timeout=120_000)
                for href in [h for h in await nav_hrefs(pg) if _matches(h, pages)] if warm_up else []:
                    await pg.goto(href, timeout=120_000)
                    await pg.wait_for_function(IDLE_JS, timeout=120_000)
                    await visit_every_variant(pg)
                await ctx.close()
                return
            ready = asyncio.Barrier(sessions)

            async def staggered(i: int):
                await asyncio.sleep(0.3 * i)
                await run_session(browser, base, pages, i, seconds, stats, ready, think_s)

            results = await asyncio.gather(*(staggered(i) for i in range(sessions)), return_exceptions=True)
            for i, r in enumerate(results):
                if isinstance(r, BaseException):
                    stats.error(i, f"session failed: {type(r).__name__}: {r}")
        finally:
            await browser.close()


# ------------------------------------------------------------------------------------------------ report


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def summary(args, stats: Stats, mem: dict, wall_s: float) -> dict:
    interactions = [v for k, vs in stats.latencies.items() if k != "first load" for v in vs]
    by_kind = {
        k: {"n": len(v), "p50_ms": round(percentile(v, 50), 1), "p95_ms": round(percentile(v, 95), 1)}
        for k, v in stats.latencies.items()
    }
    p95 = percentile(interactions, 95)
    growth = None if mem.get("peak") is None or mem.get("warm") is None else mem["peak"] - mem["warm"]
    # "Falls back": after the sessions close, at least half of the growth is returned (or it was under 20 MB).
    after = mem.get("after_close")
    fell_back = None if growth is None or after is None else bool(after - mem["warm"] <= max(20.0, growth / 2))
    return {
        "sessions": args.sessions,
        "think_s": args.think,
        "seconds": args.seconds,
        "wall_s": round(wall_s, 1),
        "interactions": len(interactions),
        "no_rerun": stats.no_rerun,
        "skipped": stats.skipped,
        "latency_ms": {
            "p50": None if p95 is None else round(percentile(interactions, 50), 1),
            "p95": None if p95 is None else round(p95, 1),
            "max": None if p95 is None else round(max(interactions), 1),
            "by_kind": by_kind,
        },
        "errors": len(stats.errors),
        "error_samples": stats.errors[:10],
        "timeouts": len(stats.timeouts),
        "timeout_samples": stats.timeouts[:5],
        "server_rss_mb": {k: None if v is None else round(v, 1) for k, v in mem.items()},
        "rss_growth_mb": None if growth is None else round(growth, 1),
        "rss_fell_back": fell_back,
        "targets": {"errors": 0, "p95_ms": 1000, "rss_growth_mb": 200, "rss_fell_back": True},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--port", type=int, default=None, help="use a server already running on 127.0.0.1:PORT")
    ap.add_argument("--pages", default="", help="comma-separated URL paths to visit (default: every sidebar link)")
    ap.add_argument("--no-warm-up", action="store_true", help="count first model loads in the memory growth")
    ap.add_argument(
        "--think",
        default=f"{THINK_S[0]:g},{THINK_S[1]:g}",
        help="a session's pause between actions, 'MIN,MAX' seconds (uniform); '0' for none",
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds to wait after the sessions close before the last memory reading (default: the session TTL, "
        f"{SESSION_TTL_S} s, then one short visit that lets Streamlit reap the expired sessions, then {TRIM_WAIT_S} s "
        "for the memory trimmer)",
    )
    ap.add_argument("--json-out", type=Path, default=None, help="also write the summary here")
    ap.add_argument("--check", action="store_true", help="exit 1 when errors > 0, p95 > 1 s or growth > 200 MB")
    args = ap.parse_args(argv)
    if not 1 <= args.sessions <= 50 or not 1 <= args.seconds <= 600:
        ap.error(f"--sessions {args.sessions} must be 1-50 and --seconds {args.seconds} 1-600 (a bounded test).")
    try:
        bounds = [float(v) for v in args.think.split(",")]
        think_s = (bounds[0], bounds[-1])
        if len(bounds) > 2 or not 0 <= think_s[0] <= think_s[1] <= 30:
            raise ValueError
    except ValueError:
        ap.error(f"--think {args.think!r}: give 'MIN,MAX' seconds with 0 <= MIN <= MAX <= 30, or one number.")
    if not Path(server.CHROMIUM).exists():
        ap.error(server.NO_CHROMIUM)

    hard_limit = int(START_WAIT_S + args.seconds + 180 + 10 * args.sessions)

    def over_time(*_):
        raise TimeoutError(f"the run passed its hard limit of {hard_limit} s")

    signal.signal(signal.SIGALRM, over_time)
    signal.alarm(hard_limit)

    port = args.port or server.free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"load_test_server_{port}.log"
    proc = None if args.port else server.start_server("dashboard.py", port, log_path)
    stats, mem, cpu = Stats(), {}, None
    t_start = time.monotonic()
    try:
        server.wait_healthy(base, proc, START_WAIT_S, poll_s=0.5)
        pid = proc.pid if proc else None
        mem["start"] = server.rss_mb(pid) if pid else None
        sampler = MemorySampler(pid) if pid else None
        pages = [p.strip("/") for p in args.pages.split(",") if p] or None
        if not args.no_warm_up:
            asyncio.run(drive(base, pages, 0, 0, Stats(), warm_up=True))
        mem["warm"] = server.rss_mb(pid) if pid else None
        if sampler:
            sampler.start()
            t_sampled = time.monotonic()
        asyncio.run(drive(base, pages, args.sessions, args.seconds, stats, warm_up=False, think_s=think_s))
        if sampler:
            sampler.stop_event.set()
            sampler.join()
            mem["peak"] = max(sampler.peak, mem["warm"] or 0)
            cpu = {
                "server": round(sampler.server_cpu, 1),
                "browsers": round(sum(sampler.browser_cpu.values()), 1),
                "wall_s": round(time.monotonic() - t_sampled, 1),
                "cores": os.cpu_count(),
            }
            if args.settle is None:
                # Streamlit drops expired sessions on its next session write (its store reaps lazily): after the
                # TTL, one more visitor comes and goes; then the trimmer hands the freed memory back.
                time.sleep(SESSION_TTL_S + 2)
                asyncio.run(drive(base, pages, 0, 0, Stats(), warm_up=False, probe=True))
                time.sleep(TRIM_WAIT_S)
            else:
                time.sleep(args.settle)
            mem["after_close"] = server.rss_mb(pid)
    except Exception as e:
        stats.error(-1, f"run failed: {type(e).__name__}: {e}")
    finally:
        signal.alarm(0)
        if proc is not None:
            server.stop_server(proc)
    result = summary(args, stats, mem, time.monotonic() - t_start)
    result["cpu_s"] = cpu  # during the sessions: the server's, the browsers', and what the cores had (wall × cores)
    if proc is not None and stats.errors:
        result["server_log_tail"] = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text)
    if args.check:
        p95 = result["latency_ms"]["p95"]
        growth = result["rss_growth_mb"]
        ok = result["errors"] == 0 and result["timeouts"] == 0 and p95 is not None and p95 <= 1000
        ok = ok and (growth is None or growth <= 200)
        ok = ok and result["rss_fell_back"] is not False
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
