"""The server's effective configuration (as Streamlit itself resolves it from the repo root) stays safe to serve."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import runs
from explorer.upload import MAX_BYTES

REPO = Path(__file__).resolve().parents[1]
OPTIONS = ["server.address", "server.enableXsrfProtection", "server.maxUploadSize", "browser.gatherUsageStats"]
PROBE = (
    "import json, sys\n"
    "from streamlit import config\n"
    "config.get_config_options(force_reparse=True)\n"
    "print(json.dumps({k: config.get_option(k) for k in sys.argv[1:]}))\n"
)


def test_effective_config_binds_loopback_with_xsrf_and_upload_cap():
    """Binding beyond 127.0.0.1 needs an explicit --server.address; XSRF and the upload cap stay on."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *OPTIONS], cwd=REPO, capture_output=True, text=True, timeout=120, check=True
    )
    effective = json.loads(out.stdout.strip().splitlines()[-1])
    assert effective["server.address"] == "127.0.0.1"
    assert effective["server.enableXsrfProtection"] is True
    assert effective["server.maxUploadSize"] * 2**20 == MAX_BYTES
    assert effective["browser.gatherUsageStats"] is False


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_size) for p in root.rglob("*") if p.is_file()}


def test_visiting_every_page_writes_nothing_into_the_checkpoints(tmp_path, monkeypatch):
    """What a viewer can do (open each page, pick each run it offers) leaves the checkpoints as they were: no file
    written, changed or added. (The dashboard computes a missing map once and saves it; the shipped runs have all
    theirs, so a demo of them writes nothing.)"""
    import shutil

    import dashboard
    from explorer.checkpoint import ENV_VAR, default_root
    from tests.support.pages import open_link

    root = tmp_path / "checkpoints"
    shutil.copytree(default_root(), root, ignore=shutil.ignore_patterns("projection-all.npz"))
    monkeypatch.setenv(ENV_VAR, str(root))
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))  # an empty runs folder: the shipped runs only
    before = _tree(root)
    for *_, page in dashboard.PAGES:
        at = open_link({"page": page})
        assert not at.exception, [e.value for e in at.exception]
        if page in ("map", "similar", "generator", "denoiser"):
            from explorer.runs import list_runs

            for run in list_runs("fashion-mnist"):
                at = open_link({"page": page, "variant": run.key})
                assert not at.exception, [e.value for e in at.exception]
    assert _tree(root) == before


@pytest.mark.parametrize(
    "address, loopback",
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        (" LocalHost ", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),  # Streamlit binds every interface when server.address is empty or unset
        (None, False),
        ("192.168.1.20", False),
        ("my-laptop.local", False),  # a host name may resolve beyond this machine
    ],
)
def test_is_loopback(address, loopback):
    assert runs.is_loopback(address) is loopback


def test_the_dashboard_writes_only_into_runs_and_only_on_loopback(tmp_path):
    checkpoints, own = tmp_path / "checkpoints", tmp_path / "runs" / "digits" / "dense"
    (checkpoints / "dense").mkdir(parents=True)
    own.mkdir(parents=True)
    assert runs.dashboard_write_refusal(own, "127.0.0.1", checkpoints) is None
    assert "never writes into the checkpoints" in runs.dashboard_write_refusal(
        checkpoints / "dense", "127.0.0.1", checkpoints
    )
    assert "never writes into the checkpoints" in runs.dashboard_write_refusal(
        checkpoints / "fashion-mnist" / "vae-beta4", "127.0.0.1", checkpoints
    )
    for address in ("0.0.0.0", "", None, "192.168.1.20"):
        assert "writes nothing" in runs.dashboard_write_refusal(own, address, checkpoints), address


@pytest.fixture
def server_address():
    """Set Streamlit's ``server.address`` for AppTest (which runs the app in this process), restored after."""
    from streamlit import config

    before = config.get_option("server.address")
    yield lambda address: config.set_option("server.address", address)
    config.set_option("server.address", before)


def test_a_shipped_run_missing_its_map_is_never_computed_into_the_checkpoints(tmp_path, monkeypatch, server_address):
    """Even on loopback: the page names the command, the checkpoints stay as they were."""
    import shutil

    from explorer.checkpoint import ENV_VAR, default_root
    from explorer.projection import fix_command
    from tests.support.pages import open_link

    server_address("127.0.0.1")
    root = tmp_path / "checkpoints"
    shutil.copytree(default_root(), root)
    (root / "dense" / "projection-test.npz").unlink()
    monkeypatch.setenv(ENV_VAR, str(root))
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    before = _tree(root)
    at = open_link({"page": "map", "variant": "dense"})
    assert not at.exception, [e.value for e in at.exception]
    assert any("never writes into the checkpoints" in e.value for e in at.error), [e.value for e in at.error]
    assert fix_command("dense") in "\n".join(c.value for c in at.code)
    assert _tree(root) == before


def test_served_to_a_network_a_run_of_ones_own_is_not_prepared_but_named(tmp_path, monkeypatch, server_address):
    """A small run without metrics or map: on loopback the dashboard prepares it on first open; bound to 0.0.0.0
    it writes nothing and shows the prepare command instead (and the sidebar does not show the server's folders)."""
    import numpy as np
    from sklearn.datasets import load_digits

    from explorer import cli
    from tests.support.pages import open_link

    d = load_digits()
    x = (d.images * 255 / 16).round().astype(np.uint8)
    np.savez(tmp_path / "digits.npz", x=x, y=d.target)
    monkeypatch.setenv("LATENT_EXPLORER_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("LATENT_EXPLORER_DATASETS", str(tmp_path / "datasets"))
    assert cli.main(["dataset", "add", "digits", str(tmp_path / "digits.npz")]) == 0
    tiny = ["--set", "latent=2", "--set", "epochs=1", "--set", "hidden=16", "--threads", "1"]
    assert cli.main(["train", "--dataset", "digits", "--variant", "dense", "--name", "fresh", *tiny]) == 0
    run = tmp_path / "runs" / "digits" / "fresh"
    link = {"page": "map", "dataset": "digits", "variant": "digits/fresh"}

    server_address("0.0.0.0")
    before = _tree(run)
    at = open_link(link)
    assert not at.exception, [e.value for e in at.exception]
    assert _tree(run) == before, "nothing written while served to a network"
    assert "prepare digits/fresh" in "\n".join(c.value for c in at.code)
    assert any("writes nothing" in i.value for i in at.info), [i.value for i in at.info]
    assert not any("Checkpoints:" in c.value for c in at.sidebar.caption), "no server paths shown to a network"

    server_address("127.0.0.1")
    at = open_link(link)
    assert not at.exception, [e.value for e in at.exception]
    assert (run / "metrics.json").is_file() and (run / "projection-test.npz").is_file()
    assert any("Checkpoints:" in c.value for c in at.sidebar.caption), "on loopback the sidebar names the folders"


def _listening_addresses(port: int) -> set[str]:
    """The local addresses with a TCP socket listening on ``port`` (from /proc/net/tcp and tcp6, hex-decoded)."""
    import ipaddress

    found = set()
    for table, size in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            raw = b"".join(raw[i : i + 4][::-1] for i in range(0, size, 4))  # each 32-bit word is little-endian
            found.add(str(ipaddress.ip_address(raw)))
    return found


def test_the_real_server_started_from_elsewhere_listens_on_loopback_with_xsrf_and_the_upload_cap(tmp_path):
    """The README's ``python -m explorer serve`` from another folder still reads the repo's config (Streamlit reads a
    ``.streamlit/config.toml`` beside the script): it listens on 127.0.0.1 only; an upload without the XSRF token is
    refused (403), and one over the 5 MB cap too (413)."""
    import asyncio

    from tests.support.protocol import Session
    from tests.support.server import free_port, stop_server, wait_healthy

    port = free_port()
    cmd = [sys.executable, "-m", "explorer", "serve", "--server.port", str(port)]
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, 120)
        assert _listening_addresses(port) == {"127.0.0.1"}

        async def uploads():
            s = await Session.open(url)
            try:
                await s.rerun(page="", query="page=map")
                assert s.has("map_upload", "file_uploader")
                without_token = await s.put_file(await s.file_urls("a.png"), "a.png", b"\x89PNG", xsrf=False)
                too_big = await s.put_file(await s.file_urls("b.png"), "b.png", b"\0" * (MAX_BYTES + 1))
                fits = await s.put_file(await s.file_urls("c.png"), "c.png", b"\x89PNG")
                return without_token, too_big, fits
            finally:
                await s.close()

        assert asyncio.run(uploads()) == (403, 413, 204)
    finally:
        stop_server(proc)
