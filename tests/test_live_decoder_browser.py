"""The live generator in headless Chromium: the browser's decoder equals PyTorch's, and it draws while dragged.

Starts ``tests/apps/live_decoder_app.py`` with ``streamlit run`` on a free port, with the shipped VAE
(./checkpoints/vae), and drives the system Chromium (/usr/bin/chromium; no browser is downloaded) with
Playwright. How fast it draws is measured by ``benchmarks/bench_live_decoder.py``, not here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from explorer.checkpoint import checkpoint_dir, load_model
from tests.support.server import chromium, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
APP = REPO / "tests" / "apps" / "live_decoder_app.py"
SHIPPED = REPO / "checkpoints"
# Two animation frames after an input (the component draws on the next one): the canvas's grey levels, the point
# the browser holds, and whether the canvas shows that very point's decode.
FRAME_JS = """c => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {
  const live = globalThis.__latentDecoders.live, z = live.z();
  const pixels = Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data).filter((_, i) => i % 4 === 0);
  const want = live.decode(z).map(v => Math.round(v * 255));
  done({z, pixels, current: pixels.every((v, i) => v === want[i])});
})))"""
CANVAS_PIXELS_JS = "c => Array.from(c.getContext('2d').getImageData(0, 0, 28, 28).data).filter((_, i) => i % 4 === 0)"


@pytest.fixture(scope="module")
def checkpoint_root():
    weights = checkpoint_dir("vae", SHIPPED) / "model.safetensors"
    assert weights.is_file(), f"{weights} is missing; the repository ships it: `git checkout -- {SHIPPED}`"
    return SHIPPED


def serving(app: Path, checkpoints: Path, log: Path):
    """``streamlit run app`` on a free 127.0.0.1 port, with ``checkpoints`` as the checkpoint root -> its URL."""
    env = os.environ | {"LATENT_EXPLORER_CHECKPOINTS": str(checkpoints), "PYTHONPATH": str(REPO)}
    return serve(app, log, env=env, timeout_s=60)


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def page(browser, checkpoint_root, tmp_path_factory):
    with serving(APP, checkpoint_root, tmp_path_factory.mktemp("log") / "streamlit.log") as url:
        pg = browser.new_page(viewport={"width": 1200, "height": 900})
        pg.goto(url)
        pg.wait_for_function("() => globalThis.__latentDecoders?.live?.ready()", timeout=60_000)
        yield pg
        pg.close()


def torch_pixels(vae, z) -> np.ndarray:
    """PyTorch's decode of latents ``z`` [N, D] -> [N, 784] float64."""
    with torch.no_grad():
        return vae.decode(torch.as_tensor(np.asarray(z, np.float32))).reshape(len(z), 784).double().numpy()


def test_browser_decoder_matches_pytorch(page, checkpoint_root):
    vae = load_model("vae", checkpoint_root)
    z = np.random.default_rng(0).normal(0.0, 1.5, size=(100, vae.code_dim)).astype(np.float32)
    got = np.asarray(page.evaluate("zs => zs.map(z => globalThis.__latentDecode(z))", z.tolist()), np.float64)
    diff = np.abs(got - torch_pixels(vae, z)).max()
    print(f"\nbrowser vs PyTorch decoder, 100 random latents: max |Δpixel| = {diff:.3g}")
    assert got.shape == (100, 784)
    assert diff <= 1e-4


def test_drag_draws_frames_and_release_reaches_python(page, checkpoint_root):
    vae = load_model("vae", checkpoint_root)
    slider = page.locator("input.le-z").first
    canvas = page.locator("canvas.le-canvas")
    box = slider.bounding_box()
    y, x0, width = box["y"] + box["height"] / 2, box["x"] + 4, box["width"] - 8
    renders = "() => globalThis.__latentDecoders.live.renders()"
    page.mouse.move(x0 + width / 2, y)
    page.mouse.down()
    drawn_before, frames = page.evaluate(renders), []
    for k in range(12):  # from the middle to the right end, then back past it; z0 is never 0 (Python's label)
        phase = (k + 1) / 6 if k < 6 else 1 - (k - 5) / 6 * 1.4
        page.mouse.move(x0 + width * (0.5 + 0.45 * phase), y)
        frames.append(canvas.evaluate(FRAME_JS))
    drawn = page.evaluate(renders) - drawn_before
    # Each move is drawn by the next animation frame, mid-drag: the canvas shows the point the slider is at now
    # (not one Python saw at its last rerun), and so shows another image at every step.
    stale = [f["z"][0] for f in frames if not f["current"]]
    assert not stale, f"mid-drag, the canvas did not show the slider's point at z0 = {stale}"
    assert drawn >= 2 and len({tuple(f["pixels"]) for f in frames}) > 2, f"{drawn} frames drawn while dragging"
    mid = frames[len(frames) // 2]  # and a mid-drag frame is PyTorch's image, to one grey level
    assert np.abs(np.asarray(mid["pixels"]) - np.round(torch_pixels(vae, [mid["z"]])[0] * 255)).max() <= 1
    # While dragging, the point also reached Python every 200 ms (the app counts those reruns).
    page.get_by_text("previews:").wait_for(timeout=5_000)
    page.get_by_text("previews: 0").wait_for(state="detached", timeout=5_000)
    label = page.locator(".le-label").inner_text()  # Python's label for a previewed point, shown mid-drag
    assert label.startswith("label for z0 = ") and label != "label for z0 = 0.00"
    page.mouse.move(x0 + width * 0.8, y)  # release at z0 = +1.8
    page.mouse.up()
    z0 = page.evaluate("() => globalThis.__latentDecoders.live.z()[0]")
    assert 1.5 < z0 < 2.1
    page.get_by_text(f"committed: {z0:.2f}").wait_for(timeout=15_000)  # the released point reached Python
    page.get_by_text(f"label for z0 = {z0:.2f}").wait_for(timeout=15_000)
    # After that rerun (which sends no weights) the canvas still shows the decoded point: pixel for pixel the
    # browser's decode, and within one grey level of PyTorch's.
    z = page.evaluate("() => globalThis.__latentDecoders.live.z()")
    assert z[0] == pytest.approx(z0)
    pixels = np.asarray(canvas.evaluate(CANVAS_PIXELS_JS), np.float64)
    np.testing.assert_array_equal(
        pixels, np.round(np.asarray(page.evaluate("z => globalThis.__latentDecode(z)", z)) * 255)
    )
    want = np.round(torch_pixels(vae, [z])[0] * 255)
    assert np.abs(pixels - want).max() <= 1


@pytest.fixture(scope="module")
def sections_root(tmp_path_factory):
    from explorer.checkpoint import JUDGE, save_checkpoint
    from explorer.judge import Judge
    from explorer.models import REGISTRY

    root = tmp_path_factory.mktemp("ck_sections")
    torch.manual_seed(0)
    save_checkpoint(REGISTRY["vae"].build(), "vae", root)
    save_checkpoint(Judge().eval(), JUDGE, root)
    return root


def test_generator_section_labels_while_dragging_and_commits_to_the_page(browser, sections_root, tmp_path):
    """explorer.ui.generation_sections.live_section: a fragment whose release reruns the whole page."""
    with serving(REPO / "tests" / "apps" / "generation_sections_app.py", sections_root, tmp_path / "log") as url:
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.goto(url)
        pg.wait_for_function("() => globalThis.__latentDecoders?.live_vae?.ready()", timeout=90_000)
        assert pg.locator(".le-label").inner_text().startswith("looks like: ")
        assert pg.locator("input.le-dir").count() == 5  # the five default class directions
        slider = pg.locator("input.le-z").nth(2)
        box = slider.bounding_box()
        y = box["y"] + box["height"] / 2
        pg.mouse.move(box["x"] + box["width"] / 2, y)
        pg.mouse.down()
        for k in range(30):
            pg.mouse.move(box["x"] + box["width"] * (0.5 + 0.4 * k / 29), y)
        pg.mouse.up()
        z2 = pg.evaluate("() => globalThis.__latentDecoders.live_vae.z()[2]")
        assert z2 > 2.0
        pg.get_by_text(f"page z2 = {z2:.2f}").wait_for(timeout=20_000)  # the page (outside the fragment) reran
        pg.close()
