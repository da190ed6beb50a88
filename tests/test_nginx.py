"""deploy/replicas.sh: two Streamlit replicas behind Debian's nginx, used through it by a real browser.

One ``deploy/replicas.sh 2 127.0.0.1:PORT BASE`` per module (loopback only). Checked: both replicas and nginx
answer, the websocket upgrades through nginx; and in headless Chromium through nginx only: pages load, the one
websocket the page opens holds across page changes, a picture uploads (the PUT must reach the replica that holds
the session: nginx's ``ip_hash``) and a download arrives.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from tests.support.server import IDLE_JS, chromium, free_port, wait_healthy

REPO = Path(__file__).resolve().parents[1]
START_S, RUN_S = 150, 90  # two replicas starting at once on 2 shared cores, each paying torch's import


@pytest.fixture(scope="module")
def proxy():
    """nginx on a free loopback port in front of 2 replicas -> (nginx's URL, the replicas' ports)."""
    assert shutil.which("nginx") or Path("/usr/sbin/nginx").exists(), "nginx missing: run bash .ci/setup"
    listen, base = free_port(), free_port()
    while listen in (base, base + 1) or base + 1 > 65535:
        base = free_port()
    proc = subprocess.Popen(
        [str(REPO / "deploy" / "replicas.sh"), "2", f"127.0.0.1:{listen}", str(base)],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{listen}"
    try:
        for port in (base, base + 1):
            wait_healthy(f"http://127.0.0.1:{port}", proc, START_S, poll_s=1)
        wait_healthy(url, proc, START_S, poll_s=1)
        yield url, (base, base + 1)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_two_replicas_behind_nginx_serve_and_upgrade_the_websocket(proxy):
    url, _ = proxy
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as r:
        assert r.read() == b"ok"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200 and b"<html" in r.read().lower()
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            b"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        assert s.recv(1024).startswith(b"HTTP/1.1 101")


def _picture(tmp_path: Path) -> Path:
    """A Fashion-MNIST-like photo: a dark T-shape on a light background, 140 px (a PNG any phone could make)."""
    from PIL import Image

    img = np.full((140, 140), 235, np.uint8)
    img[20:50, 15:125] = 40  # shoulders and sleeves
    img[50:125, 45:95] = 40  # the body
    path = tmp_path / "shirt.png"
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


@pytest.mark.browser
def test_a_real_browser_works_through_nginx(proxy, tmp_path):
    """Pages load, the websocket holds, an upload and a download go through: all via nginx."""
    url, _ = proxy
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(RUN_S * 1000)
        js_errors, sockets = [], []
        page.on("pageerror", lambda e: js_errors.append(str(e)))
        page.on("websocket", lambda ws: "/_stcore/stream" in ws.url and sockets.append(ws))
        try:
            page.goto(url, timeout=RUN_S * 1000)
            page.locator("h1", has_text="Latent map").first.wait_for()
            page.wait_for_function(IDLE_JS)
            for path, h1 in (("similar", "Similar items"), ("denoiser", "Denoiser"), ("map", None)):
                link = page.locator(f'[data-testid=stSidebarNav] a[href$="/{path}"]')
                if h1 is None:  # the map, the default page: its link is the root URL
                    link = page.locator("[data-testid=stSidebarNav] a").first
                link.click()
                page.locator("h1", has_text=h1 or "Latent map").first.wait_for()
                page.wait_for_function(IDLE_JS)
                assert page.url.startswith(url)

            # An upload: the file goes to /_stcore/upload_file/<session>/… through nginx, to the session's replica.
            page.locator(".st-key-map_upload input[type='file']").set_input_files(str(_picture(tmp_path)))
            page.get_by_text("Your picture", exact=True).first.wait_for()
            page.wait_for_function(IDLE_JS)

            # A download: the map as standalone HTML (a few MB, made when clicked), through nginx.
            with page.expect_download(timeout=RUN_S * 1000) as info:
                page.locator(".st-key-map_download_html button").first.click()
            body = Path(info.value.path()).read_bytes()
            assert info.value.suggested_filename.endswith(".html")
            assert len(body) > 100_000 and b"plotly" in body.lower() and re.search(rb"<html", body[:2000], re.I)

            assert page.locator("[data-testid=stException]").count() == 0
            assert not js_errors, js_errors
            # The websocket held: the page opened one, through nginx, and it is still open after all of the above.
            assert len(sockets) == 1 and sockets[0].url.startswith(url.replace("http", "ws")), [s.url for s in sockets]
            assert not sockets[0].is_closed()
            assert page.get_by_text("Connection error").count() == 0
        finally:
            context.close()
