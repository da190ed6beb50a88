"""The Generator page as a demo shows it: the star and the path over the map's dots, the star following a
live drag, an opening point that is apparel, random samples that differ between sessions, sliders that keep their
place while the judge's label changes, a legend, a manifold grid worth looking at, and unbroken direction labels.

Unit and AppTest checks first; then one real Chromium on the dashboard (module-scoped server, shipped checkpoints).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer import figures
from tests.support.pages import switch_page
from tests.support.server import IDLE_JS, chromium, serve

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard.py")
MAP = ".st-key-generator_map .js-plotly-plot"
# The map's traces as the browser holds them: [type, name, x, y] each.
TRACES_JS = (
    f"""() => document.querySelector('{MAP}').data.map(t => [t.type, t.name, Array.from(t.x), Array.from(t.y)])"""
)
# The star laid over the map while a slider moves: its map point, whether it shows, and how far (px) its centre is
# from that point on Plotly's axes.
OVERLAY_JS = f"""() => {{
  const el = document.querySelector('.le-map-marker'), gd = document.querySelector('{MAP}');
  if (!el) return null;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis, g = gd.getBoundingClientRect();
  const r = el.getBoundingClientRect(), x = Number(el.dataset.x), y = Number(el.dataset.y);
  return {{x, y, shown: el.style.display !== 'none',
    dx: r.left + r.width / 2 - (g.left + xa._offset + xa.l2p(x)),
    dy: r.top + r.height / 2 - (g.top + ya._offset + ya.l2p(y))}};
}}"""
DECODER_JS = "() => Object.values(globalThis.__latentDecoders || {}).find(d => d.ready())"


# ------------------------------------------------------------------------------------------------ unit


def test_the_star_and_the_path_draw_over_the_maps_dots(fmnist):
    """Plotly draws WebGL traces above SVG ones and later WebGL traces above earlier ones: the map's dots are
    WebGL, so the path and then the star must be WebGL traces that come after them."""
    labels = fmnist.test.labels[:200]
    base = figures.latent_map(np.random.default_rng(0).normal(size=(200, 2)), labels, np.zeros(200)).to_dict()
    fig = figures.generator_map(base, [0.5, 0.5], np.zeros((8, 2)))
    types = [t.type for t in fig.data]
    assert [t.name for t in fig.data[-2:]] == ["interpolation", "generated"]
    assert set(types) == {"scattergl"}, types  # one SVG trace would sit under every dot
    assert fig.layout.showlegend is True  # the class legend
    assert {t.name for t in fig.data if t.showlegend is not False} == set(figures.CLASS_NAMES)
    assert figures.marker_trace([1.0, 2.0], "x")["type"] == "scattergl"


# -------------------------------------------------------------------------------------------- AppTest


def _generator() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["live_decode"] = False  # AppTest has no browser: the server-side sliders
    at.run()
    return switch_page(at, "generator").run()


def _z(at: AppTest) -> list[float]:
    return [at.slider(key=f"z{i}").value for i in range(10)]


def test_the_generator_opens_on_apparel_and_reset_returns_there(fmnist):
    from explorer import load_model
    from explorer.checkpoint import load_judge
    from explorer.inference import decode, encode
    from explorer.ui.generator import OPENING_ITEM

    at = _generator()
    assert not at.exception
    mu = encode(load_model("vae"), fmnist.test.images[OPENING_ITEM])[0]
    assert np.allclose(_z(at), np.clip(mu, -3, 3), atol=0.006)
    p = load_judge().predict_proba(decode(load_model("vae"), np.asarray(_z(at), np.float32)))[0]
    assert p.argmax() == fmnist.test.labels[OPENING_ITEM] and p.max() > 0.9  # not the grey blob z = 0 is
    opening = _z(at)
    at.slider(key="z0").set_value(-2.0).run()
    at.button(key="reset").click().run()
    assert _z(at) == opening


def test_random_samples_differ_between_sessions():
    first = []
    for _ in range(2):
        at = _generator()
        at.button(key="random_sample").click().run()
        assert not at.exception
        first.append(_z(at))
    assert first[0] != first[1], "two sessions drew the same first random sample"


# -------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    env = os.environ | {"PYTHONPATH": str(REPO)}
    with serve(APP, tmp_path_factory.mktemp("log") / "streamlit.log", env=env) as u:
        yield u


def _open(browser, url, width: int, height: int = 800):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(f"{url}/generator")
    page.wait_for_function(f"() => ({DECODER_JS})() && document.querySelector('{MAP}')?.data", timeout=90_000)
    page.wait_for_function(IDLE_JS, timeout=60_000)
    return page


@pytest.mark.browser
def test_live_drag_moves_the_star_and_not_the_sliders(browser, url):
    page = _open(browser, url, 1280)
    try:
        sliders = page.locator("input.le-z")
        assert sliders.nth(9).bounding_box()["y"] + 20 < 800, "at 1280×800 the z sliders must be above the fold"
        traces = page.evaluate(TRACES_JS)
        assert [t[1] for t in traces[-2:]] == ["interpolation", "generated"]
        assert {t[0] for t in traces} == {"scattergl"}
        start = traces[-1][2:]

        box = sliders.first.bounding_box()
        y, x0, w = box["y"] + box["height"] / 2, box["x"] + 4, box["width"] - 8
        column = page.locator(".le-sliders")
        lefts, label_boxes, labels, stars = set(), set(), set(), []
        page.mouse.move(x0 + w * 0.5, y)
        page.mouse.down()
        for k in range(10):
            page.mouse.move(x0 + w * (0.05 + 0.1 * k), y)
            page.wait_for_timeout(150)  # the judge's label follows every 250 ms
            lefts.add(round(column.bounding_box()["x"], 1))
            lb = page.locator(".le-label").bounding_box()
            label_boxes.add((round(lb["width"], 1), round(lb["height"], 1)))
            labels.add(page.locator(".le-label").inner_text())
            stars.append(page.evaluate(OVERLAY_JS))
        z = page.evaluate(f"() => ({DECODER_JS})().z()")
        placed = page.evaluate(f"z => ({DECODER_JS})().place(z)", z)
        page.mouse.up()
        # The star followed the drag, mid-drag, to where projection.place puts the browser's point, drawn at that
        # point of Plotly's axes.
        assert all(s is not None and s["shown"] for s in stars), stars
        assert len({(s["x"], s["y"]) for s in stars}) >= 5 and [stars[-1]["x"], stars[-1]["y"]] != start
        assert np.allclose([stars[-1]["x"], stars[-1]["y"]], placed, atol=1e-9)
        assert abs(stars[-1]["dx"]) < 1 and abs(stars[-1]["dy"]) < 1, stars[-1]
        # The label changed length, its box and the sliders beside it did not move.
        assert len(labels) >= 2, labels
        assert len(label_boxes) == 1 and len(lefts) == 1, (label_boxes, lefts)
        # After the release the server redraws the map: its star is where the browser had put it.
        page.wait_for_function(IDLE_JS, timeout=30_000)
        page.wait_for_timeout(500)
        final = page.evaluate(f"() => ({DECODER_JS})().z()")
        from explorer.projection import load_projection, place

        want = place(np.asarray(final, np.float32), load_projection("vae"))
        page.wait_for_function("() => !document.querySelector('.le-map-marker')", timeout=10_000)
        got = page.evaluate(TRACES_JS)[-1][2:]
        assert np.allclose([got[0][0], got[1][0]], want, atol=1e-3)
        assert np.allclose(page.evaluate(f"z => ({DECODER_JS})().place(z)", final), want, atol=1e-3)
        # Direction labels stay on one line.
        for h in page.locator("label.le-dir-label").evaluate_all("ls => ls.map(l => l.getClientRects().length)"):
            assert h == 1
        heights = page.locator("label.le-dir-label").evaluate_all("ls => ls.map(l => l.getBoundingClientRect().height)")
        assert max(heights) < 1.6 * min(heights) and max(heights) < 26, heights
    finally:
        page.close()


@pytest.mark.browser
def test_projector_layout_legend_and_grid(browser, url):
    page = _open(browser, url, 1920, 1080)
    try:
        assert page.evaluate(f"() => document.querySelector('{MAP}')._fullLayout.showlegend") is True
        assert page.locator(f"{MAP} .legend .traces").count() == 10
        grid = page.locator("[data-testid=stImage] img").last
        grid.scroll_into_view_if_needed()
        assert grid.bounding_box()["width"] >= 600, "the manifold grid is a stamp"
    finally:
        page.close()
