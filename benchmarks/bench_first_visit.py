"""What the first visitor of a freshly started server waits for (issue 14, item 14), in headless Chromium.

    .venv/bin/python benchmarks/bench_first_visit.py [--repeats 3] [--how serve,plain]

Each repeat starts the server afresh, the README's way (``python -m explorer serve``: warm before it listens) and
with a plain ``streamlit run dashboard.py`` (the first visitor pays torch's import, behind a start-up notice). It
records how long the server took to answer its health check, then opens its root page at 1280×800 and records,
from the navigation's start: the first heading (the start-up notice, where there is one), the Latent map page's
heading, and the end of the first script run; and whether the page ever went blank after the first heading. Prints
each repeat, the medians per way and the load average (on shared cores the figures depend on what else runs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run from anywhere: the repo root

from tests.support import server  # noqa: E402
from tests.test_demo_startup import RECORD_JS  # noqa: E402 (one recorder for the test and the benchmark)


def visit(browser, log: Path, plain: bool) -> dict:
    t0 = time.perf_counter()
    with server.serve(ROOT / "dashboard.py", log, plain=plain) as url:
        healthy_ms = (time.perf_counter() - t0) * 1e3
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
    blank = any(not h for _, h, _ in seen[next(i for i, s in enumerate(seen) if s[1]) :])
    notice = any(starting for _, _, starting in seen)
    return {
        "healthy_ms": healthy_ms,
        "first_heading_ms": first,
        "page_heading_ms": shown,
        "first_run_done_ms": idle_ms,
        "notice": notice,
        "blank_after": blank,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--how", default="serve,plain", help="serve (the README's command), plain (streamlit run)")
    args = parser.parse_args()
    ways = args.how.split(",")
    if not ways or set(ways) - {"serve", "plain"}:
        parser.error(f"--how {args.how!r}: serve, plain or both (comma-separated)")
    runs: dict[str, list[dict]] = {w: [] for w in ways}
    with server.chromium() as browser, tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            for way in ways:  # interleaved: both ways see the same machine load
                runs[way].append(visit(browser, Path(tmp) / f"server-{way}{i}.log", plain=way == "plain"))
                print(way, {k: round(v) if isinstance(v, float) else v for k, v in runs[way][-1].items()}, flush=True)
    for way, rs in runs.items():
        for key in ("healthy_ms", "first_heading_ms", "page_heading_ms", "first_run_done_ms"):
            print(f"{way}: {key}: median {statistics.median(r[key] for r in rs):.0f} ms over {len(rs)}")
        print(
            f"{way}: notice shown in {sum(r['notice'] for r in rs)}, blank after the first heading in "
            f"{sum(r['blank_after'] for r in rs)} of {len(rs)}"
        )
    print("load average: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
