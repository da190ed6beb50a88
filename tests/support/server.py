"""Run a Streamlit app as a child process on a free loopback port, and the headless Chromium that drives it: for
the browser tests and the benchmarks (which put the repository root on ``sys.path`` to import this).

The server gets its own process group, so stopping it stops exactly what was started here.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's package: no browser is ever downloaded
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
NO_CHROMIUM = f"{CHROMIUM} is missing: install it with `sudo apt-get install chromium` (no browser is ever downloaded)"
# True when the page's script run has ended (Streamlit's own marker on the app's root element).
IDLE_JS = "() => document.querySelector('[data-testid=stApp]')?.getAttribute('data-test-script-state') === 'notRunning'"
# In a page showing the latent map (the map component, explorer/ui/map_component.py): the page position of the
# visible map point nearest a fraction [fx, fy] of the plot area, and its item id ({x, y, id}); null without points.
NEAREST_POINT_JS = "([fx, fy]) => globalThis.__latentMaps?.map_chart?.nearest([fx, fy]) ?? null"
# The page position and id of the point of a Plotly chart (by its widget key, e.g. the Training page's map) nearest
# the fraction (fx, fy) of its plot area: ``page.evaluate(PLOTLY_NEAREST_POINT_JS, [key, fx, fy])``.
PLOTLY_NEAREST_POINT_JS = """([key, fx, fy]) => {
  const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
  if (!gd || !gd._fullLayout) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, box = gd.getBoundingClientRect();
  const cx = xa._offset + xa._length * fx, cy = ya._offset + ya._length * fy;
  let best = null;
  for (const t of gd._fullData) {
    if (t.visible !== true || !t.customdata) continue;
    for (let i = 0; i < t.x.length; i++) {
      const px = xa._offset + xa.l2p(t.x[i]), py = ya._offset + ya.l2p(t.y[i]);
      const d = (px - cx) ** 2 + (py - cy) ** 2;
      if (!best || d < best.d) best = {d, x: box.left + px, y: box.top + py, id: Math.round(t.customdata[i][0])};
    }
  }
  return best;
}"""
# True once the map component has drawn its points.
MAP_DRAWN_JS = "() => !!globalThis.__latentMaps?.map_chart?.ready()"


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident memory of a process in MiB (VmRSS from /proc), None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int | str = "self") -> float | None:
    """User + system CPU time a process has used so far (from /proc), None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(
    script: str | Path, port: int, log: Path, env: dict | None = None, plain: bool = False
) -> subprocess.Popen:
    """The dashboard as the README starts it (``python -m explorer serve``), any other script (or the dashboard with
    ``plain``) with ``streamlit run script``; headless on 127.0.0.1:``port``, output appended to ``log``."""
    options = {
        "server.headless": "true",
        "server.port": str(port),
        "server.address": "127.0.0.1",
        "browser.gatherUsageStats": "false",
        "server.fileWatcherType": "none",
    }
    if (REPO / script).resolve() == REPO / "dashboard.py" and not plain:
        cmd = [sys.executable, "-m", "explorer", "serve"]
    else:
        cmd = [sys.executable, "-m", "streamlit", "run", str(script)]
    cmd += [arg for name, value in options.items() for arg in (f"--{name}", value)]
    with open(log, "ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_healthy(url: str, proc: subprocess.Popen | None, timeout_s: float, poll_s: float = 0.3) -> None:
    """Wait until ``url``/_stcore/health answers; RuntimeError if the server exits or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode} before {url} was healthy")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(poll_s)
    raise RuntimeError(f"{url}/_stcore/health did not answer within {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen, timeout_s: float = 15) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)


@contextlib.contextmanager
def serve(script: str | Path, log: Path, env: dict | None = None, timeout_s: float = 90, plain: bool = False):
    """The server of ``script`` (see ``start_server``) on a free 127.0.0.1 port -> its URL; stopped on exit, whatever
    happened.

    RuntimeError with the end of the server's log when it does not become healthy within ``timeout_s``.
    """
    port = free_port()
    proc = start_server(script, port, log, env=env, plain=plain)
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, proc, timeout_s)
        except RuntimeError as e:
            raise RuntimeError(
                f"streamlit did not answer on {url} ({e}): {log.read_text(errors='replace')[-3000:]}"
            ) from e
        yield url
    finally:
        stop_server(proc)


def launch_chromium(browser_type):
    """The system Chromium, headless, from Playwright's ``p.chromium`` (sync or async API: what ``launch`` returns).

    FileNotFoundError with the install command when /usr/bin/chromium is missing.
    """
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(NO_CHROMIUM)
    return browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


def sync_playwright():
    """Playwright's synchronous API context manager; ImportError with the fix when playwright is not installed."""
    try:
        from playwright.sync_api import sync_playwright as start
    except ImportError as e:
        raise ImportError("playwright is not installed: pip install -r requirements.txt") from e
    return start()


@contextlib.contextmanager
def chromium():
    """The system Chromium, headless, driven through Playwright's synchronous API; closed on exit."""
    with sync_playwright() as p:
        browser = launch_chromium(p.chromium)
        try:
            yield browser
        finally:
            browser.close()
