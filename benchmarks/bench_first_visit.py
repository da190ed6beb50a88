"""What the first visitor of a freshly started server waits for (issue 14, item 14), in headless Chromium.

    .venv/bin/python benchmarks/bench_first_visit.py [--repeats 3]

Each repeat starts ``streamlit run dashboard.py`` afresh, opens its root page at 1280×800 and records, from the
navigation's start: the first heading (the start-up notice, drawn before torch is imported), the Latent map page's
heading, and the end of the first script run; and whether the page ever went blank after the notice. Prints each
repeat, the medians and the load average (on shared cores the figures depend on what else runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere: the repo root

from tests.support import server  # noqa: E402
from tests.test_demo_startup import RECORD_JS  # noqa: E402 (one recorder for the test and the benchmark)


def visit(browser, log: Path) -> dict:
    with server.serve(ROOT / "dashboard.py", log) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(f"({RECORD_JS})()")
        page.goto(url)
        page.wait_for_function("() => document.querySelector('h1')?.innerText.includes('Latent map')", timeout=120_000)
        page.wait_for_function(server.IDLE_JS, timeout=60_000)
        idle_ms = page.evaluate("performance.now()")
        seen = page.evaluate("window.__seen")
        page.close()
    first = next(t for t, h, _ in seen if h)
    shown = next(t for t, h, _ in seen if h == "Latent map")
    blank = any(not h for _, h, _ in seen[[i for i, s in enumerate(seen) if s[1]][0] :])
    return {"first_heading_ms": first, "page_heading_ms": shown, "first_run_done_ms": idle_ms, "blank_after": blank}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    runs = []
    with server.chromium() as browser, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            runs.append(visit(browser, Path(tmp) / f"server{i}.log"))
            print({k: round(v) if isinstance(v, float) else v for k, v in runs[-1].items()}, flush=True)
    for key in ("first_heading_ms", "page_heading_ms", "first_run_done_ms"):
        print(f"{key}: median {statistics.median(r[key] for r in runs):.0f} ms over {len(runs)}")
    print(f"blank page after the notice in {sum(r['blank_after'] for r in runs)} of {len(runs)}")
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
