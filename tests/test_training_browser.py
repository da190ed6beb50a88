"""Live training in a real browser: a run's new epoch, written by the trainer's own writer
(``explorer.snapshots.RunRecorder``), shows on the Training page without a reload within 5 s (the issue's bar);
a click on a dot follows that item.

The served dashboard reads a temporary runs root holding one run caught mid-training: this test process is its
trainer (its progress file names this process, which is alive), with a tiny real model and the real test images.
"""

from __future__ import annotations

import os
import time

import pytest

from explorer.snapshots import RunRecorder
from tests.support.server import IDLE_JS, PLOTLY_NEAREST_POINT_JS, chromium, serve

BAR_S = 5.0
# The loss curves' largest epoch on the page, and whether the progress line names epoch ``n``.
CURVE_LAST_EPOCH_JS = """() => {
  const gd = document.querySelector('.st-key-training_curves .js-plotly-plot');
  if (!gd || !gd.data) return 0;
  return Math.max(0, ...gd.data.flatMap(t => Array.from(t.x || [])));
}"""


def _row(epoch: int) -> dict:
    return {"epoch": epoch, "train_loss": 0.1 / epoch, "val_loss": 0.09 / epoch, "seconds": 1.0, "lr": 1e-3}


@pytest.fixture
def live_run(tmp_path, fmnist):
    import torch

    from explorer.models import DenseConfig, get_variant

    torch.manual_seed(0)
    model = get_variant("dense").build(DenseConfig(hidden=(32,), code_dim=10)).eval()
    folder = tmp_path / "runs" / "fashion-mnist" / "live"
    recorder = RunRecorder(folder, 8, fmnist.test.images, snapshots=8, info={"variant": "dense"})
    recorder.start()
    history = [_row(1), _row(2)]
    recorder.on_epoch(1, model, history[:1])
    recorder.on_epoch(2, model, history)
    return recorder, model, history


def test_a_new_epoch_shows_within_5_s_without_a_reload(live_run, tmp_path):
    recorder, model, history = live_run
    env = {**os.environ, "LATENT_EXPLORER_RUNS": str(tmp_path / "runs")}
    with serve("dashboard.py", tmp_path / "streamlit.log", env=env, timeout_s=90) as url, chromium() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(f"{url}/training", timeout=90_000)
        page.wait_for_function(IDLE_JS, timeout=90_000)
        page.get_by_text("training: epoch 2 of 8").wait_for(timeout=60_000)
        page.wait_for_function(f"() => ({CURVE_LAST_EPOCH_JS})() === 2", timeout=60_000)
        loads = page.evaluate("() => performance.getEntriesByType('navigation').length")
        delays = []
        for epoch in (3, 4, 5):
            history.append(_row(epoch))
            start = time.monotonic()
            recorder.on_epoch(epoch, model, history)  # the trainer's writer, as after each epoch's validation
            page.wait_for_function(f"() => ({CURVE_LAST_EPOCH_JS})() === {epoch}", timeout=30_000)
            page.get_by_text(f"training: epoch {epoch} of 8").wait_for(timeout=30_000)
            delays.append(time.monotonic() - start)
        assert page.evaluate("() => performance.getEntriesByType('navigation').length") == loads  # no reload
        assert page.locator("[data-testid=stException]").count() == 0
        print(f"new epoch shown after {[round(d, 2) for d in delays]} s")
        assert max(delays) <= BAR_S, delays
        # a click on a dot follows that item: its image and its path appear
        point = page.evaluate(PLOTLY_NEAREST_POINT_JS, ["training_map", 0.5, 0.5])
        page.mouse.click(point["x"], point["y"])
        page.get_by_text(f"Following item {point['id']}").wait_for(timeout=30_000)
        recorder.finish("finished", history)  # the run ends: the page says so, with its best epoch
        page.get_by_text("finished after epoch 5 of 8; best epoch 5").wait_for(timeout=30_000)
