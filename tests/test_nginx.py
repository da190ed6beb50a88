"""deploy/replicas.sh: two Streamlit replicas behind nginx serve the page and upgrade the websocket."""

import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_replicas_behind_nginx_serve_and_upgrade_the_websocket():
    """Fails (not skips) without nginx: `bash .ci/setup` installs it."""
    assert shutil.which("nginx") or Path("/usr/sbin/nginx").exists(), "nginx missing: run bash .ci/setup"
    listen, base = _free_port(), _free_port()
    proc = subprocess.Popen(
        [str(REPO / "deploy" / "replicas.sh"), "2", f"127.0.0.1:{listen}", str(base)],
        cwd=REPO,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{listen}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    assert r.read() == b"ok"
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "replicas behind nginx never became healthy"
                time.sleep(1)
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        with socket.create_connection(("127.0.0.1", listen), timeout=10) as s:
            s.sendall(
                b"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
                b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
            )
            assert s.recv(1024).startswith(b"HTTP/1.1 101")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
