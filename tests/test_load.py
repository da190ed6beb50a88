"""A shortened load test: 3 protocol-level viewers and one real Chromium drive the dashboard for 15 s, on loopback.

A smoke test, without timing assertions (the timed bars are benchmarks/load_test.py's): every action a viewer sent
(open a page, change the run, move a slider or an item, click a map point, upload a picture) got its
``script_finished``, nothing failed, and the browser got through too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.server import CHROMIUM, NO_CHROMIUM

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.browser
def test_three_viewers_and_a_browser_for_fifteen_seconds(tmp_path):
    assert Path(CHROMIUM).exists(), NO_CHROMIUM
    out = tmp_path / "load.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "load_test.py"), "--sessions", "3", "--seconds", "15"]
    cmd += ["--settle", "1", "--think", "0.5,1", "--json-out", str(out)]  # short pauses: a few cycles in 15 s
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    level = result["levels"][0]
    dump = json.dumps(level, indent=2)
    assert level["errors"] == 0, dump
    assert level["actions_sent"] == level["actions_finished"] > 0, dump  # each got its script_finished
    done = level["server"]["by_kind"]
    pages = sum(v["n"] for k, v in done.items() if k.startswith("page "))  # "page similar", … (one kind per page)
    assert pages >= 1, f"no page was opened:\n{dump}"
    for kind in ("open", "map click", "upload"):
        assert done.get(kind, {}).get("n", 0) >= 1, f"no {kind!r} action finished:\n{dump}"
    browser = level["browser"]
    assert "first load" in browser["by_kind"] and browser["sent"] == browser["finished"] >= 1, dump
    assert level["server_rss_mb"]["peak"] is not None
