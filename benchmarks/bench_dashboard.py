"""Dashboard speed and memory on this machine, with the shipped checkpoints and projections.

    .venv/bin/python benchmarks/bench_dashboard.py [--json-out bench.json] [--no-browser]

Measures, against the dashboard's speed and memory targets (``TARGETS``):

- each page's first script run in a fresh process (AppTest through the router, the page named by a shared link,
  ``?page=<URL path>``; timed around ``at.run()`` only, after importing the libraries (streamlit, torch, pandas,
  plotly, scipy.ndimage, explorer) and one run of a one-line app that pays AppTest's own set-up: the data, models
  and maps are loaded in the timed run), and warm (median of 5 reruns);
- a generator slider change server-side (AppTest: set ``z0`` and run; median of 10). AppTest reruns the whole
  page, where the server reruns only the sliders' fragment: an upper bound;
- in headless Chromium (/usr/bin/chromium, never downloaded): launching the server process until the map
  component has painted its points, and the same from ``page.goto`` on a warm server; a click on a map point until
  its images are drawn; a slider key press until the new decoded image is shown (medians of 3);
- the server's resident memory (VmRSS of it and its children) after every page has been shown with every variant;
- one full ``gc.collect()`` with every page loaded (what Streamlit's ``runner.postScriptGC``, switched off in
  ``.streamlit/config.toml``, would add to every rerun).

Prints a JSON summary and a markdown table; notes the load average (2 shared cores: the figures depend on it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere: the repo root

from tests.support import server  # noqa: E402

# The router's URL paths; "map" is the default page.
PAGES = ("map", "similar", "denoiser", "generator", "compare", "compression", "clustering")
TARGETS = {  # what a page's run, a slider, the server's start and its memory may take on this machine
    "cold_ms": 1000,
    "warm_ms": 200,
    "slider_ms": 50,
    "start_to_map_s": 3.0,
    "click_to_images_ms": 1000,
    "rss_mb": 1536,
}
WAIT_MS = 120_000  # one step's limit: generous, on 2 busy cores
MAP_JS = server.MAP_DRAWN_JS  # the map component has painted its points
PANEL_JS = """() => [...document.querySelectorAll('[data-testid=stImage]')].some(f =>
  f.textContent.includes('Original (left)') && f.querySelector('img')?.complete
  && f.querySelector('img').naturalWidth > 0)"""
DECODED_JS = """before => [...document.querySelectorAll('[data-testid=stImage]')].some(f =>
  f.textContent.includes('Decoded image') && f.querySelector('img')?.src !== before
  && f.querySelector('img').complete)"""


# ------------------------------------------------------------------------------------------------- AppTest


def cold_page(page: str) -> dict:
    """In this (fresh) process: the page's first run through the router, 5 warm reruns, and for the generator
    10 slider changes. Imports are done before any clock starts."""
    import pandas  # noqa: F401  (what the pages import lazily: st.dataframe imports pandas on first use)
    import plotly.express  # noqa: F401
    import plotly.graph_objects  # noqa: F401
    import scipy.ndimage  # noqa: F401
    import streamlit  # noqa: F401
    import streamlit.emojis  # noqa: F401  (st.set_page_config(page_icon="🧭") looks the emoji up in it)
    import torch
    from streamlit.testing.v1 import AppTest

    import explorer.ui.common  # noqa: F401

    torch.set_num_threads(1)  # as the dashboard does (common.configure_threads)
    # AppTest's own one-time setup (it scans installed packages for components on its first run; a server does
    # that when it starts), paid on a one-line app so that the clock below times the dashboard only.
    AppTest.from_string("import streamlit as st\nst.write('warm-up')").run()
    at = dashboard_at(page)
    t = time.perf_counter()
    at.run()
    out = {"page": page, "cold_ms": (time.perf_counter() - t) * 1e3, "warm_ms": []}
    out["title"] = at.title[0].value if len(at.title) else None
    out["exceptions"] = [str(e.value)[:300] for e in at.exception]
    for _ in range(5):
        t = time.perf_counter()
        at.run()
        out["warm_ms"].append((time.perf_counter() - t) * 1e3)
    if page == "generator":  # the server-side sliders (the page's default decodes in the browser)
        at.session_state["live_decode"] = False
        at.run()
        out["slider_ms"] = []
        for i in range(10):
            at.slider(key="z0").set_value(round(0.1 * (i + 1), 2))
            t = time.perf_counter()
            at.run()
            out["slider_ms"].append((time.perf_counter() - t) * 1e3)
        out["exceptions"] += [str(e.value)[:300] for e in at.exception]
    if page == PAGES[-1]:  # then every other page too, and the cost of one full garbage collection of it all
        import gc

        others = [dashboard_at(other).run() for other in PAGES[:-1]]  # kept: their sessions stay in memory
        out["gc_full_ms"] = []
        for _ in range(5):
            t = time.perf_counter()
            gc.collect()
            out["gc_full_ms"].append((time.perf_counter() - t) * 1e3)
        del others
    return out


def dashboard_at(page: str):
    """An AppTest of the router whose first run opens ``page``, named by its URL path in a shared link."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=WAIT_MS / 1000)
    if page != "map":
        at.query_params["page"] = page
    return at


def run_cold_pages() -> list[dict]:
    results = []
    for page in PAGES:
        proc = subprocess.run(
            [sys.executable, __file__, "--cold-page", page],
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},  # the script's folder, not the repo, is on sys.path
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"the cold run of page {page!r} failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results


# ------------------------------------------------------------------------------------------ server, browser


def rss_mb_tree(pid: int) -> float:
    """VmRSS of ``pid`` and all its descendants, MiB (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        total += server.rss_mb(p) or 0.0
    return total


def settle(page) -> None:
    for _ in range(2):
        page.wait_for_function(server.IDLE_JS, timeout=WAIT_MS)
        time.sleep(0.2)


def open_map(context, url: str) -> tuple[object, float, float]:
    """A new page of ``context`` at ``url`` -> (page, seconds from goto to the page's title, to the map's canvas)."""
    page = context.new_page()
    t = time.perf_counter()
    page.goto(url, timeout=WAIT_MS)
    page.locator("h1").first.wait_for(timeout=WAIT_MS)
    title = time.perf_counter() - t
    page.wait_for_function(MAP_JS, timeout=WAIT_MS, polling=20)
    return page, title, time.perf_counter() - t


def click_point(page, fx: float, fy: float) -> float:
    """Click the map point nearest (fx, fy) of the plot -> ms until its original and reconstruction are drawn."""
    settle(page)
    page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()
    point = page.evaluate(server.NEAREST_POINT_JS, [fx, fy])
    page.mouse.move(point["x"], point["y"])
    page.locator(".st-key-map_chart .lm-card").wait_for(timeout=10_000)
    time.sleep(0.2)
    t = time.perf_counter()
    page.mouse.click(point["x"], point["y"])
    page.wait_for_function(PANEL_JS, timeout=WAIT_MS, polling=20)
    return (time.perf_counter() - t) * 1e3


def slider_step(page) -> float:
    """One ArrowRight on z0 -> ms until the new decoded image is shown."""
    settle(page)
    before = page.evaluate(
        "() => [...document.querySelectorAll('[data-testid=stImage]')]"
        ".find(f => f.textContent.includes('Decoded image')).querySelector('img').src"
    )
    thumb = page.locator(".st-key-z0").get_by_role("slider")
    thumb.focus()
    t = time.perf_counter()
    thumb.press("ArrowRight")
    page.wait_for_function(DECODED_JS, arg=before, timeout=WAIT_MS, polling=20)
    return (time.perf_counter() - t) * 1e3


def live_step(page, key: str) -> float:
    """One key on the browser-decoded z0 slider -> ms until its canvas shows another image."""
    canvas = page.locator("canvas.le-canvas").first.element_handle()  # in the component's shadow root
    before = canvas.evaluate("c => c.toDataURL()")
    thumb = page.locator("input.le-z").first
    thumb.focus()
    t = time.perf_counter()
    thumb.press(key)
    page.wait_for_function("([c, b]) => c.toDataURL() !== b", arg=[canvas, before], timeout=WAIT_MS, polling=5)
    ms = (time.perf_counter() - t) * 1e3
    settle(page)  # the release went to the server: let its rerun end
    return ms


def visit_everything(page, url: str) -> list[str]:
    """Every page with every option of its variant picker; returns what was shown ("page/option")."""
    seen = []
    for name in PAGES:
        page.goto(f"{url}/{'' if name == 'map' else name}", timeout=WAIT_MS)
        settle(page)
        box = page.locator(".st-key-variant [role=combobox]")
        if not box.count():
            seen.append(name)
            continue
        box.first.click()
        n = page.locator("[role=listbox] [role=option]").count()
        page.keyboard.press("Escape")
        for i in range(n):
            box.first.click()
            option = page.locator("[role=listbox] [role=option]").nth(i)
            label = option.inner_text()
            option.click()
            settle(page)
            seen.append(f"{name}/{label}")
    return seen


def browser_measures(log: Path) -> dict:
    measures = ("start_to_map_s", "start_to_health_s", "goto_to_title_s", "goto_to_map_s", "click_to_images_ms")
    out: dict = {k: [] for k in (*measures, "browser_slider_ms")}
    with server.chromium() as browser:
        proc = None
        try:
            for i in range(3):  # a fresh server each time: its first run loads the data, models and maps
                port = server.free_port()
                url = f"http://127.0.0.1:{port}"
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                t = time.perf_counter()
                proc = server.start_server("dashboard.py", port, log)
                server.wait_healthy(url, proc, 120, poll_s=0.05)  # fine polling: this wait is being timed
                out["start_to_health_s"].append(time.perf_counter() - t)
                page, _, _ = open_map(context, url)
                out["start_to_map_s"].append(time.perf_counter() - t)
                context.close()
                if i < 2:
                    server.stop_server(proc)
            for fx, fy in ((0.5, 0.5), (0.35, 0.4), (0.65, 0.6)):  # warm server, a new session each time
                context = browser.new_context(viewport={"width": 1400, "height": 900})
                page, title, s = open_map(context, url)
                out["goto_to_title_s"].append(title)
                out["goto_to_map_s"].append(s)
                out["click_to_images_ms"].append(click_point(page, fx, fy))
                context.close()
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.goto(f"{url}/generator", timeout=WAIT_MS)
            settle(page)
            page.locator("canvas.le-canvas, .st-key-z0").first.wait_for(timeout=WAIT_MS)  # either mode, drawn
            if page.locator("canvas.le-canvas").count():  # live: decoded in the browser, then the server sliders
                page.wait_for_function("() => Object.values(globalThis.__latentDecoders ?? {}).some(d => d.ready())")
                out["browser_live_ms"] = [live_step(page, k) for k in ("PageUp", "PageDown", "PageUp")]
                page.locator(".st-key-live_decode label").click()
            page.locator(".st-key-z0").wait_for(timeout=WAIT_MS)
            for _ in range(3):
                out["browser_slider_ms"].append(slider_step(page))
            out["visited"] = visit_everything(page, url)
            time.sleep(2)
            out["exceptions_shown"] = page.locator("[data-testid=stException]").count()
            out["rss_mb"] = rss_mb_tree(proc.pid)
            context.close()
        finally:
            if proc is not None:
                server.stop_server(proc)
    return out


# -------------------------------------------------------------------------------------------------- report


def med(values) -> float | None:
    return statistics.median(values) if values else None


def summarise(cold: list[dict], browser: dict | None, load: tuple, wall_s: float) -> dict:
    pages = {
        r["page"]: {
            "cold_ms": round(r["cold_ms"], 1),
            "warm_ms": round(med(r["warm_ms"]), 1),
            "title": r["title"],
            "exceptions": r["exceptions"],
        }
        for r in cold
    }
    gen = next(r for r in cold if r["page"] == "generator")
    result = {
        "machine": {
            "cores": os.cpu_count(),
            "loadavg_1_5_15_at_start": [round(x, 2) for x in load[0]],
            "loadavg_1_5_15_at_end": [round(x, 2) for x in load[1]],
        },
        "checkpoints": os.environ.get("LATENT_EXPLORER_CHECKPOINTS", str(ROOT / "checkpoints")),
        "pages": pages,
        "slider_ms": round(med(gen["slider_ms"]), 1),
        # what Streamlit's runner.postScriptGC (off in .streamlit/config.toml) would add to every rerun
        "gc_full_ms": round(med(next(r["gc_full_ms"] for r in cold if "gc_full_ms" in r)), 1),
        "wall_s": round(wall_s, 1),
    }
    if browser:
        measures = [k for k, v in browser.items() if isinstance(v, list) and v and isinstance(v[0], float)]
        result["browser"] = {k: round(med(browser[k]), 3 if k.endswith("_s") else 1) for k in measures}
        result["browser"]["runs"] = {k: [round(v, 3) for v in browser[k]] for k in measures}
        result["browser"] |= {k: browser[k] for k in ("rss_mb", "visited", "exceptions_shown")}
        result["browser"]["rss_mb"] = round(browser["rss_mb"], 1)
    result["targets"] = TARGETS
    return result


def table(r: dict) -> str:
    def row(what, value, unit, target, limit_unit=None):
        ok = "—" if value is None else ("✅" if value <= target else "❌")
        v = "n/a" if value is None else f"{value:g} {unit}"
        return f"| {what} | {v} | ≤ {target:g} {limit_unit or unit} | {ok} |"

    lines = ["| measure | measured | target | |", "|---|---|---|---|"]
    for name, p in r["pages"].items():
        lines.append(row(f"`{name}` cold first run (AppTest, fresh process)", p["cold_ms"], "ms", TARGETS["cold_ms"]))
        lines.append(row(f"`{name}` warm rerun (median of 5)", p["warm_ms"], "ms", TARGETS["warm_ms"]))
    lines.append(
        row("generator slider, whole page rerun (AppTest, median of 10)", r["slider_ms"], "ms", TARGETS["slider_ms"])
    )
    lines.append(f"| one full garbage collection, every page loaded (median of 5) | {r['gc_full_ms']:g} ms | | |")
    b = r.get("browser")
    if b:

        def info(what, key, unit):
            if b.get(key) is not None:
                lines.append(f"| {what} | {b[key]:g} {unit} | | |")

        lines.append(
            row("server launch → map canvas (median of 3)", b["start_to_map_s"], "s", TARGETS["start_to_map_s"])
        )
        info("… of which server launch → /_stcore/health answers", "start_to_health_s", "s")
        lines.append(
            row("page.goto → map canvas, warm server (median of 3)", b["goto_to_map_s"], "s", TARGETS["start_to_map_s"])
        )
        info("… of which page.goto → page title shown", "goto_to_title_s", "s")
        lines.append(
            row(
                "click on a point → its images drawn (median of 3)",
                b["click_to_images_ms"],
                "ms",
                TARGETS["click_to_images_ms"],
            )
        )
        info("server slider key press → new decoded image (browser, median of 3)", "browser_slider_ms", "ms")
        info("live slider key press → canvas redrawn (browser, median of 3)", "browser_live_ms", "ms")
        lines.append(row("server RSS after every page × variant", b["rss_mb"], "MB", TARGETS["rss_mb"]))
    m = r["machine"]
    a, b = (" / ".join(map(str, m[k])) for k in ("loadavg_1_5_15_at_start", "loadavg_1_5_15_at_end"))
    lines.append(f"\n{m['cores']} cores; load average (1/5/15 min) {a} at the start, {b} at the end.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json-out", type=Path, default=None, help="also write the JSON summary here")
    ap.add_argument("--no-browser", action="store_true", help="AppTest measures only (no Chromium, no server)")
    ap.add_argument("--cold-page", choices=PAGES, help=argparse.SUPPRESS)  # the fresh process of one page
    args = ap.parse_args(argv)
    if args.cold_page:
        print(json.dumps(cold_page(args.cold_page)))
        return 0
    if not args.no_browser and not Path(server.CHROMIUM).exists():
        ap.error(f"{server.NO_CHROMIUM}; or pass --no-browser.")
    t = time.monotonic()
    load = os.getloadavg()
    cold = run_cold_pages()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_dashboard_server.log"
    browser = None if args.no_browser else browser_measures(log)
    result = summarise(cold, browser, (load, os.getloadavg()), time.monotonic() - t)
    text = json.dumps(result, indent=2)
    print(text)
    print()
    print(table(result))
    if args.json_out:
        args.json_out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
