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
