"""How many frames per second the live generator draws in headless Chromium while a latent slider is dragged.

    .venv/bin/python benchmarks/bench_live_decoder.py [--windows 3] [--seconds 2] [--json-out live.json]

Serves ``tests/apps/live_decoder_app.py`` (the live generator alone, with the VAE of
``$LATENT_EXPLORER_CHECKPOINTS`` or ./checkpoints), holds the z0 slider down and sweeps it left and right with
the mouse for ``--seconds`` per window, and counts the frames the browser decoded and drew in each window
(the component's ``renders()``). Prints each window's rate, their median, and the load average: on shared cores
the figure depends on what else runs. The target is the screen's rate, 30 frames per second or more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere: the repo root

from tests.support import server  # noqa: E402

APP = ROOT / "tests" / "apps" / "live_decoder_app.py"
TARGET_FPS = 30
RENDERS_JS = "() => globalThis.__latentDecoders.live.renders()"


def drag_windows(page, windows: int, seconds: float) -> list[dict]:
    """Hold z0's thumb and sweep it for ``seconds``, ``windows`` times -> each window's frames per second."""
    box = page.locator("input.le-z").first.bounding_box()
    y, x0, width = box["y"] + box["height"] / 2, box["x"] + 4, box["width"] - 8
    page.mouse.move(x0 + width / 2, y)
    page.mouse.down()
    out = []
    for _ in range(windows):
        start, t0, moves = page.evaluate(RENDERS_JS), time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            phase = (moves % 200) / 100  # left to right and back
            page.mouse.move(x0 + width * (phase if phase <= 1 else 2 - phase) * 0.9 + width * 0.05, y)
            moves += 1
        elapsed = time.perf_counter() - t0
        fps = (page.evaluate(RENDERS_JS) - start) / elapsed
        out.append({"fps": round(fps, 1), "seconds": round(elapsed, 2), "mouse_moves": moves})
    page.mouse.up()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--windows", type=int, default=3, help="how many drag windows (the median is reported)")
    ap.add_argument("--seconds", type=float, default=2.0, help="the length of one drag window")
    ap.add_argument("--json-out", type=Path, default=None, help="also write the summary here")
    args = ap.parse_args(argv)
    if not 1 <= args.windows <= 20 or not 0.5 <= args.seconds <= 30:
        ap.error(f"--windows {args.windows} must be 1-20 and --seconds {args.seconds} 0.5-30 (a bounded run).")
    if not Path(server.CHROMIUM).exists():
        ap.error(server.NO_CHROMIUM)
    log = Path(os.environ.get("TMPDIR", "/tmp")) / "bench_live_decoder_server.log"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    load_start = os.getloadavg()
    with server.serve(APP, log, env=env, timeout_s=120) as url, server.chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(url)
        page.wait_for_function("() => globalThis.__latentDecoders?.live?.ready()", timeout=120_000)
        windows = drag_windows(page, args.windows, args.seconds)
    median = statistics.median(w["fps"] for w in windows)
    result = {
        "median_fps": median,
        "target_fps": TARGET_FPS,
        "meets_target": median >= TARGET_FPS,
        "windows": windows,
        "cores": os.cpu_count(),
        "loadavg_1_5_15_at_start": [round(x, 2) for x in load_start],
        "loadavg_1_5_15_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    text = json.dumps(result, indent=2)
    print(text)
    print(
        f"\nlive decoding while dragging: median {median:g} frames/s over {len(windows)} windows of "
        f"{args.seconds:g} s ({', '.join(str(w['fps']) for w in windows)}); target >= {TARGET_FPS}; "
        f"load average {' / '.join(map(str, result['loadavg_1_5_15_at_end']))} on {result['cores']} cores"
    )
    if args.json_out:
        args.json_out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
