"""The whole dashboard in real headless Chromium: every page, a click on the map, the generator's sliders.

One ``streamlit run dashboard.py`` per module, on a free 127.0.0.1 port, with the checkpoints of the default root
(``LATENT_EXPLORER_CHECKPOINTS`` or ./checkpoints); each test opens its own page (a fresh Streamlit session) in the
system Chromium (/usr/bin/chromium; no browser is ever downloaded), driven by Playwright. With
``SAVE_SCREENSHOTS=1`` each settled page is also saved, at 1400×900, to ``docs/screenshots/<page>.png``.

    SAVE_SCREENSHOTS=1 .venv/bin/pytest -m browser tests/test_browser.py
"""

from __future__ import annotations

import math
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from explorer import checkpoint
from tests.support.server import IDLE_JS, MAP_DRAWN_JS, NEAREST_POINT_JS, chromium, serve

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 1400, "height": 900}
# Generous: on 2 busy cores the first run of a page loads models and draws a 10k-point map.
START_S, RUN_S = 90, 60
# Every page of the router: (URL path, sidebar title, the page's h1). The map is the default page, at the root URL.
MAP = ("map", "Latent map", "Latent map")
PAGES = (
    MAP,
    ("similar", "Similar items", "Similar items"),
    ("denoiser", "Denoiser", "Denoiser"),
    ("generator", "Generator (VAE)", "Generator"),
    ("compare", "Compare models", "Compare models"),
    ("compression", "Compression", "Compression"),
    ("clustering", "Clustering", "Clustering"),
    ("training", "Training", "Training"),
    ("quality", "Data quality", "Data quality"),
)
NEEDED = ("dense/model.safetensors", "dense/projection-test.npz", "vae/model.safetensors", "vae/projection-test.npz")

# Every <img> decoded, every Plotly chart drawn: what a person would call "the page has loaded".
DRAWN_JS = """() => [...document.querySelectorAll('[data-testid=stMain] img')]
  .every(i => i.complete && i.naturalWidth > 0)
  && [...document.querySelectorAll('[data-testid=stPlotlyChart]')].every(c => c.querySelector('.main-svg'))"""
# The page position of the map point of item ``id`` (the map component's own view), null if not drawn.
ITEM_XY_JS = "id => globalThis.__latentMaps.map_chart.itemXY(id)"
# Where the generator's map shows the latent point (the "generated" star).
STAR_JS = """() => {
  const gd = document.querySelector('.st-key-generator_map .js-plotly-plot');
  const t = gd && gd.data.find(t => t.name === 'generated');
  return t ? [t.x[0], t.y[0]] : null;
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``streamlit run dashboard.py`` on a free loopback port -> its URL; stopped whatever the tests did."""
    root = checkpoint.default_root()
    missing = [f for f in NEEDED if not (root / f).is_file()]
    assert not missing, (
        f"{root} lacks {', '.join(missing)}, which the repository ships: restore them with `git checkout -- {root}`, "
        "or rebuild them with `python -m explorer train` and `python -m explorer project`"
    )
    with serve("dashboard.py", tmp_path_factory.mktemp("server") / "streamlit.log", timeout_s=START_S) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    """A fresh page (its own Streamlit session) at the dashboard's root URL; JavaScript errors are collected."""
    context = browser.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(RUN_S * 1000)
    pg.js_errors = []
    pg.on("pageerror", lambda e: pg.js_errors.append(str(e)))
    pg.goto(server, timeout=RUN_S * 1000)
    try:
        yield pg
    finally:
        context.close()


def settle(page) -> None:
    """Wait for the script run to end (twice, 0.3 s apart: a run can follow a run) and the page to be drawn."""
    for _ in range(2):
        page.wait_for_function(IDLE_JS, timeout=RUN_S * 1000)
        time.sleep(0.3)
    page.wait_for_function(DRAWN_JS, timeout=RUN_S * 1000)


def assert_clean(page, where: str) -> None:
    exceptions = page.locator("[data-testid=stException]")
    assert exceptions.count() == 0, f"{where}: {exceptions.first.inner_text()}"
    failed = page.get_by_text("This page failed")  # dashboard.py's last guard
    assert failed.count() == 0, f"{where}: {failed.first.inner_text()}"
    assert not page.js_errors, f"{where}: JavaScript errors {page.js_errors}"


def screenshot(page, name: str) -> None:
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.mouse.move(1, 1)  # no hover label or focus ring in the picture
        time.sleep(0.5)
        page.screenshot(path=SCREENSHOTS / f"{name}.png")


def open_page(page, path: str, title: str, h1: str) -> None:
    """Open a page from the sidebar (the map: already open at the root URL), wait until it is drawn, check it."""
    if path != MAP[0]:
        page.wait_for_function(IDLE_JS)  # after the first run
        # A click on a page link is clicked once more if it is lost: Streamlit folds a rerun asked for while another
        # is pending into the newer one, page and all (benchmarks/nav_race.py: ~1 click in 40-80 on 2 cores). Two
        # lost clicks in a row fail the test.
        for attempt in (1, 2):
            page.locator(f'[data-testid=stSidebarNav] a[href$="/{path}"]').click()
            try:
                page.wait_for_url(re.compile(rf"/{path}/?(\?|$)"), timeout=20_000)
                page.locator("h1", has_text=h1).first.wait_for(timeout=30_000)
                break
            except PlaywrightTimeout:
                if attempt == 2:
                    raise
    page.locator("h1", has_text=h1).first.wait_for()
    settle(page)
    assert_clean(page, title)


def link_path(href: str) -> str:
    """A sidebar link's URL path; the default page's link is the root URL: the map."""
    path = href.split("://", 1)[-1].partition("/")[2].strip("/")
    return path or MAP[0]


def click_map_point(page) -> dict:
    """Hover, then click, the map point nearest the plot's middle -> where the click landed (page pixels)."""
    page.wait_for_function(MAP_DRAWN_JS)
    page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()
    point = page.evaluate(NEAREST_POINT_JS, [0.5, 0.5])  # the plot's middle
    assert point, "the map has no points"
    page.mouse.move(point["x"] - 8, point["y"] - 8)
    page.mouse.move(point["x"], point["y"])
    page.locator(".st-key-map_chart .lm-card").wait_for(timeout=10_000)  # the hover card: the map is listening
    page.mouse.click(point["x"], point["y"])
    return point


def decoded_image(page):
    return page.locator("[data-testid=stImage]", has_text="Decoded image").locator("img").first


def open_generator(page) -> None:
    open_page(page, *PAGES[3])
    page.locator("canvas.le-canvas, .st-key-z0").first.wait_for()  # either mode, once drawn


def test_sidebar_links_are_exactly_the_router_pages(page):
    settle(page)
    links = page.locator("[data-testid=stSidebarNav] a").evaluate_all("links => links.map(a => a.href)")
    assert sorted(link_path(h) for h in links) == sorted(p for p, _, _ in PAGES)


def test_map_click_shows_the_item(page):
    open_page(page, *MAP)
    clicked = click_map_point(page)
    panel = page.locator("h3", has_text=re.compile(r"^Item \d+: "))
    panel.wait_for()
    settle(page)
    item = int(re.match(r"Item (\d+)", panel.inner_text()).group(1))
    at = page.evaluate(ITEM_XY_JS, item)
    assert at, f"item {item} is not on the map"
    assert math.dist((at["x"], at["y"]), (clicked["x"], clicked["y"])) <= 10, f"item {item} is not where we clicked"
    figure = page.locator("[data-testid=stImage]", has_text="Original (left) and reconstruction (right)")
    assert figure.locator("img").first.evaluate("i => i.naturalWidth") > 0
    assert_clean(page, "map after a click")
    screenshot(page, "map")


# The map and the generator have tests of their own below.
OTHER_PAGES = [p for p in PAGES if p[0] not in (MAP[0], "generator")]


@pytest.mark.parametrize("path, title, h1", OTHER_PAGES, ids=[p[0] for p in OTHER_PAGES])
def test_page_opens_from_the_sidebar(page, path, title, h1):
    open_page(page, path, title, h1)
    screenshot(page, path)


def test_generator_live_slider_redraws_and_reaches_python(page):
    """The default, browser-decoded generator: a key on the z0 slider redraws the canvas, and on release the point
    reaches Python (the page reruns and the star on the map moves)."""
    open_generator(page)
    screenshot(page, "generator")
    assert page.locator("canvas.le-canvas").count(), "the generator does not decode in the browser by default"
    page.wait_for_function("() => Object.values(globalThis.__latentDecoders ?? {}).some(d => d.ready())")
    canvas = page.locator("canvas.le-canvas").first.element_handle()  # in the component's shadow root
    page.wait_for_function(STAR_JS)  # the map is drawn after the run: wait for its star
    before, star = canvas.evaluate("c => c.toDataURL()"), page.evaluate(STAR_JS)
    assert star, "no star on the generator's map"
    thumb = page.locator("input.le-z").first
    thumb.focus()
    thumb.press("End")  # z0 to +3 at once: a change anyone would see
    page.wait_for_function("([c, b]) => c.toDataURL() !== b", arg=[canvas, before])
    page.wait_for_function(f"s => JSON.stringify(({STAR_JS})()) !== JSON.stringify(s)", arg=star)
    settle(page)
    assert_clean(page, "generator after a live slider change")


def test_generator_server_slider_shows_a_new_image(page):
    """The server-side generator: a slider moved by keyboard reruns its fragment; a new image, other pixels."""
    open_generator(page)
    if page.locator("canvas.le-canvas").count():  # the default decodes in the browser: switch it off
        page.locator(".st-key-live_decode label").click()
        page.locator(".st-key-z0").wait_for()
        settle(page)
    before = decoded_image(page).evaluate("i => i.src")
    old = page.request.get(before)
    assert old.ok and old.headers["content-type"].startswith("image/")
    # Streamlit 1.67's slider thumb is a visually hidden <input type="range"> (ARIA role "slider").
    thumb = page.locator(".st-key-z0").get_by_role("slider")
    start = float(thumb.input_value())
    thumb.focus()
    for _ in range(10):  # 10 steps of 0.05: a visible change
        thumb.press("ArrowRight" if start < 2 else "ArrowLeft")
    page.wait_for_function(
        "v => Math.abs(document.querySelector('.st-key-z0 input[type=range]').value - v) < 1e-6",
        arg=start + (0.5 if start < 2 else -0.5),
    )
    page.wait_for_function(
        "before => [...document.querySelectorAll('[data-testid=stImage]')].some(f => "
        "f.textContent.includes('Decoded image') && f.querySelector('img').src !== before)",
        arg=before,
    )
    settle(page)
    new = page.request.get(decoded_image(page).evaluate("i => i.src"))
    assert new.ok and new.headers["content-type"].startswith("image/")
    assert new.body() != old.body(), "the decoded image did not change"
    assert_clean(page, "generator after a slider change")
