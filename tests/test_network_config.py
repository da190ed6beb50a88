"""The server's effective configuration (as Streamlit itself resolves it from the repo root) stays safe to serve."""

import json
import subprocess
import sys
from pathlib import Path

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
