"""A freshly started server (issue 14, item 14): its first visitor, who pays torch's imports, sees the start-up
notice at once and then the page, never a blank page in between; the notice is gone once the page is drawn.

Its own ``streamlit run dashboard.py`` (a server that has served nobody yet) and one headless Chromium. How long the
first visit takes is measured by ``benchmarks/bench_first_visit.py``, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.server import IDLE_JS, chromium, serve

REPO = Path(__file__).resolve().parent.parent
# From the first paint on: every change of (first heading, whether the start-up notice shows), with its time (ms).
RECORD_JS = """() => {
  window.__seen = [];
  const note = () => {
    const h = document.querySelector('[data-testid=stMain] h1, h1');
    const state = [h ? h.innerText.trim() : '', document.body?.innerText.includes('Starting: loading') || false];
    const last = window.__seen[window.__seen.length - 1];
    if (!last || last[1] !== state[0] || last[2] !== state[1]) window.__seen.push([performance.now(), ...state]);
  };
  new MutationObserver(note).observe(document, {subtree: true, childList: true, characterData: true});
}"""


@pytest.mark.browser
def test_the_first_visitor_sees_progress_then_the_page_and_never_a_blank(tmp_path):
    with serve(REPO / "dashboard.py", tmp_path / "server.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.add_init_script(f"({RECORD_JS})()")
        page.goto(url)
        page.wait_for_function("() => document.querySelector('h1')?.innerText.includes('Latent map')", timeout=120_000)
        page.wait_for_function(IDLE_JS, timeout=60_000)
        seen = [(h, starting) for _, h, starting in page.evaluate("window.__seen")]
        drawn = [s for s in seen if s[0]]  # from the first heading on
        assert drawn and drawn[0][0] == "Latent Explorer", seen  # the notice came first …
        assert any(starting for _, starting in drawn), seen  # … with its progress line
        assert all(h for h, _ in seen[seen.index(drawn[0]) :]), f"a blank page after the notice: {seen}"
        assert drawn[-1] == ("Latent map", False), seen  # the page, and the notice gone
        assert page.locator("text=Starting: loading").count() == 0
