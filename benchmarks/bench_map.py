"""The latent map component's bars (issue 13), in headless Chromium without a GPU (/usr/bin/chromium, --disable-gpu).

    .venv/bin/python benchmarks/bench_map.py [--runs 3] [--json-out map.json] [--skip-million]

Each figure is the median of ``--runs`` tries (the machine is shared: the load average is printed with them):

- server launch -> map drawn: from starting ``streamlit run dashboard.py`` (the browser already open) until the map
  component has painted its points; opening the app on the running server -> map drawn (a new browser context each);
- tiles: from the map drawn until every thumbnail tile of the 10k map has arrived; hover -> thumbnail shown: a
  pointer move dispatched over the map until the next frame, with the card showing the item's thumbnails
  (median and 95th percentile of 40 moves, after the tiles arrived; no server round trip);
- bytes on the websocket for the 70k map (the run that draws it, before any thumbnail is asked for);
- 70k points: pan and zoom frames per second (60 frames, one per animation frame, each a full redraw);
- 1,000,000 points (``benchmarks/map_points_app.py``: jittered copies of the 70k map): first paint from
  ``page.goto`` on a running server, pan and zoom frames per second, and the bytes it sends;
- a lasso around ~10k points of the 70k map -> its gallery and class histogram drawn (mouse up until the panel's
  images are decoded, the histogram is on the page and the run has ended);
- where Streamlit's ``server.maxMessageSize`` (200 MB) would stop the map: this component's bytes per point, and
  the Plotly map's it replaced (its figure JSON, measured on the 70k map).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import server  # noqa: E402

TARGETS = {
    "launch_to_map_s": 3.0,
    "open_to_map_s": 1.5,
    "hover_ms": 50,
    "pan_70k_fps": 30,
    "zoom_70k_fps": 30,
    "first_paint_1m_s": 5.0,
    "pan_1m_fps": 15,
    "bytes_70k_mb": 2.0,
    "lasso_10k_s": 1.0,
}
WAIT_MS = 120_000
MAP = "globalThis.__latentMaps.map_chart"
MAX_MESSAGE_MB = 200  # Streamlit's server.maxMessageSize default
PANEL_JS = """() => !!document.querySelector('.st-key-selection_classes')
  && [...document.querySelectorAll('h3')].some(h => /items selected/.test(h.textContent))
  && [...document.querySelectorAll('[data-testid=stMain] img')].every(i => i.complete && i.naturalWidth > 0)"""


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def settle(page) -> None:
    for _ in range(2):
        page.wait_for_function(server.IDLE_JS, timeout=WAIT_MS)
        time.sleep(0.2)


class Frames:
    """Bytes of websocket frames a page receives, from ``mark()`` on."""

    def __init__(self, page):
        self.total = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload) -> None:
        self.total += len(payload) if payload is not None else 0

    def mark(self) -> int:
        return self.total


def launch_to_map(browser, log: Path, parts: list) -> float:
    port = server.free_port()
    url = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    t = time.perf_counter()
    proc = server.start_server("dashboard.py", port, log)
    try:
        server.wait_healthy(url, proc, 60, poll_s=0.02)
        healthy = time.perf_counter() - t
        page.goto(url, timeout=WAIT_MS)
        page.locator("h1", has_text="Latent map").wait_for(timeout=WAIT_MS)  # the page's run has begun
        title = time.perf_counter() - t
        page.wait_for_function(server.MAP_DRAWN_JS, timeout=WAIT_MS, polling=10)
        drawn = time.perf_counter() - t
        parts.append({"healthy_s": healthy, "title_s": title, "drawn_s": drawn})
        return drawn
    finally:
        context.close()
        server.stop_server(proc)


def open_to_map(browser, url: str) -> tuple[float, object, object, Frames]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    frames = Frames(page)
    t = time.perf_counter()
    page.goto(url, timeout=WAIT_MS)
    page.wait_for_function(server.MAP_DRAWN_JS, timeout=WAIT_MS, polling=10)
    return time.perf_counter() - t, context, page, frames


def hover_probes(page, n: int = 40) -> list[dict]:
    page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()
    out, k = [], 0
    while len(out) < n and k < 20 * n:
        k += 1
        fx, fy = 0.1 + 0.8 * ((k * 0.618) % 1), 0.1 + 0.8 * ((k * 0.382) % 1)
        point = page.evaluate(f"f => {MAP}.nearest(f)", [fx, fy])
        box = page.locator(".st-key-map_chart .lm-overlay").bounding_box()
        f = [(point["x"] - box["x"]) / box["width"], (point["y"] - box["y"]) / box["height"]]
        r = page.evaluate(f"f => {MAP}.hoverProbe(f)", f)
        if r["item"] >= 0:
            out.append(r)
    return out


def fps(page, kind: str, frames: int = 60) -> float:
    return page.evaluate(f"n => {MAP}.{kind}(n)", frames)


def lasso_10k(page, target: int = 10_000) -> tuple[int, float]:
    """A circular lasso around the plot's middle holding ~``target`` points -> (points, seconds to the panel)."""
    page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()

    def circle(r: float, cx=0.5, cy=0.5, k=24):
        return [[cx + r * math.cos(2 * math.pi * i / k), cy + r * math.sin(2 * math.pi * i / k)] for i in range(k)]

    lo, hi = 0.01, 0.7
    for _ in range(18):
        mid = (lo + hi) / 2
        if page.evaluate(f"p => {MAP}.countInside(p)", circle(mid)) < target:
            lo = mid
        else:
            hi = mid
    path = circle(hi)
    count = page.evaluate(f"p => {MAP}.countInside(p)", path)
    page.locator('.st-key-map_chart .lm-mode[data-mode="lasso"]').click()
    box = page.locator(".st-key-map_chart .lm-overlay").bounding_box()
    xy = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in path]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:] + [xy[0]]:
        page.mouse.move(x, y)
    t = time.perf_counter()
    page.mouse.up()
    page.wait_for_function(PANEL_JS, timeout=WAIT_MS, polling=10)
    page.wait_for_function(server.IDLE_JS, timeout=WAIT_MS, polling=10)
    page.wait_for_function(PANEL_JS, timeout=WAIT_MS, polling=10)
    return count, time.perf_counter() - t


def plotly_bytes_per_point() -> float:
    import numpy as np

    from explorer import figures, projection

    p = projection.load_projection("dense", "all")
    fig = figures.latent_map(p.coords, p.labels, p.recon_mse)
    return len(fig.to_json().encode()) / len(p.coords) if len(np.asarray(p.coords)) else float("nan")


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--skip-million", action="store_true")
    args = parser.parse_args()
    from explorer import mapdata

    r: dict = {"load_before": loadavg(), "cores": os.cpu_count()}
    log = Path("/tmp") / f"bench_map_{os.getpid()}.log"
    with server.chromium() as browser:
        r["launch_parts"] = []
        r["launch_to_map_s"] = [launch_to_map(browser, log, r["launch_parts"]) for _ in range(args.runs)]
        with server.serve("dashboard.py", log, timeout_s=90) as url:
            warm, context, page, frames = open_to_map(browser, url)  # the first visit warms the server's caches
            context.close()
            opens, tiles = [], []
            for _ in range(args.runs):
                s, context, page, frames = open_to_map(browser, url)
                opens.append(s)
                t = time.perf_counter()
                page.wait_for_function(f"() => {MAP}.tilesLoaded() === {MAP}.tileCount()", timeout=WAIT_MS)
                tiles.append(time.perf_counter() - t)
                context.close()
            r["open_to_map_s"], r["tiles_after_paint_s"] = opens, tiles
            s, context, page, frames = open_to_map(browser, url)
            r["bytes_page_10k_mb"] = frames.mark() / 1e6  # the whole page's first run, with the 10k map
            page.wait_for_function(f"() => {MAP}.tilesLoaded() === {MAP}.tileCount()", timeout=WAIT_MS)
            settle(page)
            probes = hover_probes(page)
            ms = sorted(p["ms"] for p in probes)
            r["hover_ms"] = {
                "median": med(ms),
                "p95": ms[int(0.95 * (len(ms) - 1))],
                "handler_median": med([p["handler"] for p in probes]),
                "with_thumbnail": sum(p["thumb"] for p in probes),
                "moves": len(probes),
            }
            before = frames.mark()
            page.locator(".st-key-map_all label").click()
            page.wait_for_function(f"() => {MAP}.n() === 70000 && {MAP}.ready()", timeout=WAIT_MS, polling=10)
            r["bytes_70k_mb"] = (frames.mark() - before) / 1e6
            r["packed_70k_mb"] = mapdata.message_bytes(70_000) / 1e6
            t = time.perf_counter()  # the 70k map's first thumbnail tile (its atlas made once, then stored)
            page.wait_for_function(f"() => {MAP}.tilesLoaded() >= 1", timeout=WAIT_MS)
            r["first_tile_70k_after_paint_s"] = time.perf_counter() - t
            settle(page)
            page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()
            r["pan_70k_fps"] = [fps(page, "panFps") for _ in range(args.runs)]
            r["zoom_70k_fps"] = [fps(page, "zoomFps") for _ in range(args.runs)]
            page.locator(".st-key-map_chart .lm-reset").click()
            lassos = []
            for _ in range(args.runs):
                lassos.append(lasso_10k(page))
                page.locator(".st-key-map_clear button").click()
                settle(page)
            r["tiles_70k_loaded_at_end"] = page.evaluate(f"() => {MAP}.tilesLoaded()")
            r["lasso_points"] = [c for c, _ in lassos]
            r["lasso_10k_s"] = [s for _, s in lassos]
            context.close()
        if not args.skip_million:
            env = {**os.environ, "MAP_POINTS": "1000000"}
            with server.serve("benchmarks/map_points_app.py", log, env=env, timeout_s=90) as url:
                paints, pans, zooms = [], [], []
                for _ in range(args.runs + 1):  # the first visit packs the points (cached): reported apart
                    s, context, page, frames = open_to_map(browser, url)
                    paints.append(s)
                    r["bytes_1m_mb"] = frames.mark() / 1e6
                    pans.append(fps(page, "panFps", 30))
                    zooms.append(fps(page, "zoomFps", 30))
                    context.close()
                r["first_paint_1m_first_visit_s"] = paints[0]
                r["first_paint_1m_s"], r["pan_1m_fps"], r["zoom_1m_fps"] = paints[1:], pans[1:], zooms[1:]
    r["max_points_component"] = int(MAX_MESSAGE_MB * 1e6 / (mapdata.message_bytes(1_000_000) / 1e6))
    r["plotly_bytes_per_point"] = plotly_bytes_per_point()
    r["max_points_plotly"] = int(MAX_MESSAGE_MB * 1e6 / r["plotly_bytes_per_point"])
    r["load_after"] = loadavg()

    rows = [
        ("server launch -> map drawn (s)", med(r["launch_to_map_s"]), "<=", TARGETS["launch_to_map_s"]),
        ("open app on running server -> map drawn (s)", med(r["open_to_map_s"]), "<=", TARGETS["open_to_map_s"]),
        ("hover -> thumbnail shown, median (ms)", r["hover_ms"]["median"], "<=", TARGETS["hover_ms"]),
        ("hover -> thumbnail shown, p95 (ms)", r["hover_ms"]["p95"], "<=", TARGETS["hover_ms"]),
        ("70k pan (fps)", med(r["pan_70k_fps"]), ">=", TARGETS["pan_70k_fps"]),
        ("70k zoom (fps)", med(r["zoom_70k_fps"]), ">=", TARGETS["zoom_70k_fps"]),
        ("bytes for the 70k map (MB)", r["bytes_70k_mb"], "<=", TARGETS["bytes_70k_mb"]),
        ("lasso ~10k -> gallery + histogram (s)", med(r["lasso_10k_s"]), "<=", TARGETS["lasso_10k_s"]),
    ]
    if not args.skip_million:
        rows += [
            ("1M first paint (s)", med(r["first_paint_1m_s"]), "<=", TARGETS["first_paint_1m_s"]),
            ("1M pan (fps)", med(r["pan_1m_fps"]), ">=", TARGETS["pan_1m_fps"]),
        ]
    print(json.dumps(r, indent=1, default=float))
    print("\n| bar | measured | target | met |\n|---|---|---|---|")
    for name, value, op, target in rows:
        ok = value <= target if op == "<=" else value >= target
        print(f"| {name} | {value:.3g} | {op} {target} | {'yes' if ok else 'no'} |")
    print(f"\nload average before {r['load_before']}, after {r['load_after']}; {r['cores']} cores, shared")
    if args.json_out:
        args.json_out.write_text(json.dumps(r, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
