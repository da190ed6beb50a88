"""A freshly started server (issue 14, item 14). Started the README's way (``python -m explorer serve``), it is warm
before it listens: its first visitor gets the page with no start-up notice. Started with a plain ``streamlit run
dashboard.py``, the first visitor, who pays torch's imports, sees the start-up notice at once and then the page,
never a blank page in between; the notice is gone once the page is drawn.

Each test has its own server (one that has served nobody yet) and one headless Chromium. How long the first visit
takes is measured by ``benchmarks/bench_first_visit.py``, not here. The serve command's socket option is checked
against Streamlit's own binder.
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


def first_visit(url: str, browser) -> list[tuple[str, bool]]:
    """Open the root page in a new tab -> every (first heading, start-up notice shown) it went through."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.add_init_script(f"({RECORD_JS})()")
    page.goto(url)
    page.wait_for_function("() => document.querySelector('h1')?.innerText.includes('Latent map')", timeout=120_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)
    assert page.locator("text=Starting: loading").count() == 0
    return [(h, starting) for _, h, starting in page.evaluate("window.__seen")]


@pytest.mark.browser
def test_the_served_dashboard_is_warm_for_its_first_visitor(tmp_path):
    log = tmp_path / "server.log"
    with serve(REPO / "dashboard.py", log) as url, chromium() as browser:
        seen = first_visit(url, browser)
    assert "Latent Explorer: warm in" in log.read_text(), log.read_text()[-2000:]
    drawn = [s for s in seen if s[0]]
    assert drawn and all(h == "Latent map" and not starting for h, starting in drawn), seen  # the page, at once
    assert all(h for h, _ in seen[seen.index(drawn[0]) :]), f"a blank page after the first heading: {seen}"


def test_serve_hands_streamlit_its_options_and_the_dashboard_its_plugins():
    from explorer.ui.serve import DASHBOARD, streamlit_args

    assert DASHBOARD == REPO / "dashboard.py"
    assert streamlit_args(["--server.port", "8502"], []) == ["run", str(DASHBOARD), "--server.port", "8502"]
    assert streamlit_args([], ["a", "b"]) == ["run", str(DASHBOARD), "--", "--plugin", "a", "--plugin", "b"]


def test_serve_switches_off_nagle_on_the_sockets_streamlit_binds():
    """Without it, a rerun's messages after the first wait for the viewer's delayed ACK (~40 ms on loopback)."""
    import socket

    from streamlit.web.server.starlette import starlette_server

    from explorer.ui.serve import no_nagle

    assert no_nagle() and no_nagle()  # patched once; a second call keeps it
    sock = starlette_server._bind_socket("127.0.0.1", 0, 8)
    try:
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        with socket.create_connection(sock.getsockname()[:2]) as client:
            sock.setblocking(True)
            accepted, _ = sock.accept()
            with accepted:  # what the server's connections inherit
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                assert client
    finally:
        sock.close()


@pytest.mark.browser
def test_the_first_visitor_of_a_plain_streamlit_run_sees_progress_then_the_page_and_never_a_blank(tmp_path):
    with serve(REPO / "dashboard.py", tmp_path / "server.log", plain=True) as url, chromium() as browser:
        seen = first_visit(url, browser)
    drawn = [s for s in seen if s[0]]  # from the first heading on
    assert drawn and drawn[0][0] == "Latent Explorer", seen  # the notice came first …
    assert any(starting for _, starting in drawn), seen  # … with its progress line
    assert all(h for h, _ in seen[seen.index(drawn[0]) :]), f"a blank page after the notice: {seen}"
    assert drawn[-1] == ("Latent map", False), seen  # the page, and the notice gone
