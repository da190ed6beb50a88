"""The map and Similar pages as a presenter shows them: the link follows the clicked item, a selection
survives a new colour, variant or split, the wheel scrolls the page, and no label is cut off at 1280 px; the map
component's hover card shows the item's thumbnails, and a selection's summary, gallery and exports follow a lasso.

The server-side halves run in AppTest (a link's ``item=``; the Similar page's class box). AppTest cannot click a
map point, so the clicks, the box and lasso selections, the hover and the wheel run in real headless Chromium
against one ``streamlit run dashboard.py`` for the module (tests/support/server.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from explorer.data import CLASS_NAMES
from explorer.projection import load_projection
from tests.support.map_data import map_data
from tests.support.pages import open_link
from tests.support.server import IDLE_JS, MAP_DRAWN_JS, NEAREST_POINT_JS, chromium, serve

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard.py")
LAPTOP = {"width": 1280, "height": 800}
RUN_S = 60

# The map's selected item ids as the map component draws them (sorted), and its view (scale and offset).
MAP = "globalThis.__latentMaps?.map_chart"
SELECTED_JS = f"() => {MAP}?.selected() ?? null"
VIEW_JS = f"() => {MAP}.view()"
# Buttons whose label is cut off (an ellipsis: the text is wider than its box).
CLIPPED_JS = """() => [...document.querySelectorAll('[data-testid=stMain] button, [data-testid=stMain] a[download]')]
  .filter(b => b.offsetParent !== null)
  .flatMap(b => [...b.querySelectorAll('p, span')].filter(e => e.scrollWidth > e.clientWidth + 1)
  .map(() => b.innerText.trim()))"""


# ------------------------------------------------------------------------------------------- AppTest


def test_a_map_link_with_an_item_shows_that_item():
    at = open_link({"page": "map", "variant": "dense", "item": "7343"})
    assert not at.exception
    assert at.subheader[0].value.startswith("Item 7343: ")
    assert at.query_params["item"] == "7343"
    assert at.session_state["map_selection"] == [7343]

    at.toggle(key="map_all").set_value(True).run()  # the 70k map holds item 7343 too: it stays selected
    assert not at.exception and at.subheader[0].value.startswith("Item 7343: ")
    assert map_data(at)["selected"] == [7343]
    at.selectbox(key="variant").set_value("vae").run()
    assert not at.exception and at.subheader[0].value.startswith("Item 7343: ")

    at.button(key="map_clear").click().run()
    assert not at.exception and not at.subheader and at.session_state["map_selection"] == []


def test_a_map_link_without_an_item_selects_nothing():
    at = open_link({"page": "map", "variant": "dense"})
    assert not at.exception and not at.subheader
    assert "Click a point" in at.info[0].value


def test_the_similar_class_box_is_labelled_as_what_it_is(fmnist):
    """The box is the class the Draw button picks from, not the query's class (the query's caption says that)."""
    at = open_link({"page": "similar", "variant": "dense", "item": "1"})
    assert not at.exception
    box = at.selectbox(key="query_class")
    assert box.label == "Draw from class" and box.value == CLASS_NAMES.index("Sneaker")
    assert at.button(key="random_item").label == "Draw"
    assert f"Query: item 1, {CLASS_NAMES[fmnist.test.labels[1]]}" in at.get("image")[0].captions[0]
    box.set_value(CLASS_NAMES.index("Bag")).run()
    at.button(key="random_item").click().run()
    item = at.number_input(key="item_index").value
    assert fmnist.test.labels[item] == CLASS_NAMES.index("Bag")
    at.button(key="random_item").click().run()
    other = at.number_input(key="item_index").value
    assert other != item and fmnist.test.labels[other] == CLASS_NAMES.index("Bag")
    assert not at.exception


# ------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve("dashboard.py", tmp_path_factory.mktemp("server") / "streamlit.log", timeout_s=90) as url:
        yield url


@pytest.fixture(scope="module")
def page(server):
    """One page at 1280×800 for the module's browser tests (each starts from a URL of its own)."""
    with chromium() as browser:
        context = browser.new_context(viewport=LAPTOP)
        pg = context.new_page()
        pg.set_default_timeout(RUN_S * 1000)
        pg.js_errors = []
        pg.on("pageerror", lambda e: pg.js_errors.append(str(e)))
        yield pg
        context.close()


def settle(page) -> None:
    for _ in range(2):
        page.wait_for_function(IDLE_JS, timeout=RUN_S * 1000)
        time.sleep(0.4)


def open_map(page, server, query: str = "") -> None:
    page.goto(f"{server}/{query}")
    page.wait_for_function(MAP_DRAWN_JS)
    settle(page)


def plot_box(page) -> dict:
    page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()
    return page.locator(".st-key-map_chart .lm-overlay").bounding_box()


def click_point(page, at=(0.5, 0.5)) -> None:
    """Hover, then click, the map point nearest a fraction of the plot area."""
    plot_box(page)
    point = page.evaluate(NEAREST_POINT_JS, list(at))
    page.mouse.move(point["x"] - 8, point["y"] - 8)
    page.mouse.move(point["x"], point["y"])
    page.locator(".st-key-map_chart .lm-card").wait_for(timeout=10_000)
    page.mouse.click(point["x"], point["y"])


def set_colour(page, mode: str) -> None:
    """The map's own colour picker (in the browser: no rerun unless a selection is shown)."""
    page.locator(".st-key-map_chart select.lm-color").select_option(mode)


def pick_variant(page, title: str) -> None:
    settle(page)
    box = page.locator(".st-key-variant input").first
    box.scroll_into_view_if_needed()
    box.click()
    page.keyboard.type(title)
    page.keyboard.press("Enter")


def drag(page, mode: str, path: list[tuple[float, float]]) -> None:
    """Pick the Box or Lasso tool and drag through ``path`` (fractions of the plot area)."""
    page.locator(f'.st-key-map_chart .lm-mode[data-mode="{mode}"]').click()
    box = plot_box(page)
    xy = [(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy) for fx, fy in path]
    page.mouse.move(*xy[0])
    page.mouse.down()
    for x, y in xy[1:]:
        page.mouse.move(x, y, steps=4)
    page.mouse.up()


def url_item(page) -> int:
    return int(re.search(r"[?&]item=(\d+)", page.url).group(1))


@pytest.mark.browser
def test_the_url_follows_a_click_and_the_selection_survives_a_new_colour(page, server):
    open_map(page, server, "?page=map&variant=dense&item=5141")
    assert page.locator("h3", has_text="Item 5141: ").count() == 1  # the link's item, selected
    assert page.evaluate(SELECTED_JS) == [5141]
    click_point(page, (0.3, 0.6))
    panel = page.locator("h3", has_text=re.compile(r"^Item (?!5141:)\d+: "))  # Plotly picks among overlapping dots
    panel.wait_for()
    settle(page)
    item = int(re.match(r"Item (\d+)", panel.inner_text()).group(1))
    page.wait_for_function("id => new URLSearchParams(location.search).get('item') === String(id)", arg=item)

    set_colour(page, "error")  # recoloured in the browser: the selection stays
    page.wait_for_function(f"id => JSON.stringify(({SELECTED_JS})()) === JSON.stringify([id])", arg=item)
    settle(page)
    assert page.locator("h3", has_text=f"Item {item}: ").count() == 1 and url_item(page) == item
    assert not page.js_errors


@pytest.mark.browser
def test_a_box_selection_survives_a_new_colour_and_variant(page, server):
    open_map(page, server, "?page=map&variant=dense")
    a, b = page.evaluate(NEAREST_POINT_JS, [0.2, 0.2]), page.evaluate(NEAREST_POINT_JS, [0.8, 0.8])
    drag(page, "box", [(0.2, 0.2), (0.5, 0.5), (0.8, 0.8)])
    assert a and b
    heading = page.locator("h3", has_text=re.compile(r"^[\d,]+ items selected"))
    heading.wait_for()
    settle(page)
    selected = heading.inner_text()
    for change in (
        lambda: set_colour(page, "error"),
        lambda: set_colour(page, "class"),
        lambda: page.locator(".st-key-map_all label").click(),  # the 70k map holds every test item
        lambda: pick_variant(page, "Sparse"),
    ):
        change()
        time.sleep(0.5)
        settle(page)
        assert page.locator("h3", has_text=re.compile(r"items selected")).inner_text() == selected
        assert len(page.evaluate(SELECTED_JS)) == int(re.match(r"[\d,]+", selected).group().replace(",", ""))
    assert (
        page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]", has_text="Sparse autoencoder:").count()
        == 1
    )
    assert not page.js_errors


@pytest.mark.browser
def test_the_wheel_over_the_map_scrolls_the_page(page, server):
    open_map(page, server, "?page=map&variant=dense")
    page.evaluate("() => window.scrollTo(0, 0)")
    main = "document.querySelector('[data-testid=stMain]')"
    top = page.evaluate(f"() => {main}.scrollTop + window.scrollY")
    before = page.evaluate(VIEW_JS)
    box = page.locator(".st-key-map_chart .lm-overlay").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, min(box["y"] + 40, LAPTOP["height"] - 20))
    for _ in range(5):
        page.mouse.wheel(0, 200)
        time.sleep(0.1)
    time.sleep(0.5)
    assert page.evaluate(f"() => {main}.scrollTop + window.scrollY") > top + 300, "the page did not scroll"
    assert page.evaluate(VIEW_JS) == before, "the wheel zoomed the map"
    assert page.locator(".st-key-map_chart .lm-zin").count() == 1
    page.locator(".st-key-map_chart .lm-plot").scroll_into_view_if_needed()  # a click gives the map focus: zoom
    box = page.locator(".st-key-map_chart .lm-overlay").bounding_box()
    page.mouse.click(box["x"] + 3, box["y"] + 3)
    page.mouse.wheel(0, -200)
    page.wait_for_function(f"s => ({VIEW_JS})().s > s * 1.1", arg=before["s"])


@pytest.mark.browser
@pytest.mark.parametrize("path", ["?page=map&item=3", "similar"])
def test_no_label_is_cut_off_at_1280(page, server, path):
    page.goto(f"{server}/{path}")
    page.locator("h1").first.wait_for()
    settle(page)
    page.locator("[data-testid=stDownloadButton], [data-testid=stButton]").first.wait_for()
    assert page.evaluate(CLIPPED_JS) == []


# The hover card's two thumbnails, as drawn: [original, reconstruction], each the sum of its pixels' grey values.
CARD_INK_JS = """card => [...card.querySelectorAll('.lm-thumbs canvas')].map(c => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0; for (let i = 0; i < d.length; i += 4) s += d[i];
  return s;
})"""


@pytest.mark.browser
def test_hover_shows_the_item_and_its_reconstruction_from_the_tiles(page, server):
    open_map(page, server, "?page=map&variant=dense")
    page.wait_for_function(f"() => {MAP}.tilesLoaded() >= 1", timeout=RUN_S * 1000)  # asked for after first paint
    plot_box(page)
    point = page.evaluate(NEAREST_POINT_JS, [0.5, 0.5])
    page.mouse.move(point["x"] - 6, point["y"] - 6)
    page.mouse.move(point["x"], point["y"])
    card = page.locator(".st-key-map_chart .lm-card")
    card.wait_for()
    page.wait_for_function(
        "c => c.dataset.thumb === '1'", arg=card.element_handle(), timeout=RUN_S * 1000
    )  # its tile arrives
    item = int(card.get_attribute("data-item"))
    at = page.evaluate(f"id => {MAP}.itemXY(id)", item)  # the dot under the pointer (dots overlap)
    assert abs(at["x"] - point["x"]) <= 4 and abs(at["y"] - point["y"]) <= 4
    assert re.match(rf"item {item} · \S", card.locator(".lm-card-id").inner_text())
    assert re.match(r"MSE 0\.\d{4}", card.locator(".lm-card-err").inner_text())
    original, reconstruction = card.element_handle().evaluate(CARD_INK_JS)
    assert original > 0 and reconstruction > 0, "a thumbnail is blank"
    page.mouse.move(point["x"] + 400, point["y"] + 400)  # off the map: the card goes
    assert not page.js_errors


@pytest.mark.browser
def test_a_lasso_selection_its_summary_exports_and_bad_input(page, server):
    open_map(page, server, "?page=map&variant=dense")
    drag(page, "lasso", [(0.3, 0.3), (0.7, 0.3), (0.7, 0.7), (0.3, 0.7), (0.3, 0.31)])
    heading = page.locator("h3", has_text=re.compile(r"^[\d,]+ items selected"))
    heading.wait_for()
    settle(page)
    n = int(re.match(r"[\d,]+", heading.inner_text()).group().replace(",", ""))
    assert n > 30 and len(page.evaluate(SELECTED_JS)) == n
    assert page.locator(".st-key-selection_classes").count() == 1  # the class histogram
    assert page.get_by_text("Mean reconstruction error of the").count() == 1
    for key in ("selection_csv", "selection_png"):
        assert page.locator(f".st-key-{key}").count() >= 1, key
    legend = page.locator(".st-key-map_chart .lm-legend .lm-count").all_inner_texts()
    assert sum(int(t.split("/")[0].replace(",", "")) for t in legend) == n  # the legend counts follow it

    # A lasso around nothing: a calm note, the selection kept.
    drag(page, "lasso", [(0.002, 0.002), (0.02, 0.002), (0.02, 0.02), (0.002, 0.02)])
    page.wait_for_function(f"() => {MAP}.message().startsWith('No points inside')")
    assert len(page.evaluate(SELECTED_JS)) == n

    # A filter that leaves nothing: a note, the map still answers.
    page.locator(".st-key-map_chart .lm-emin").fill("5")
    page.locator(".st-key-map_chart .lm-emin").press("Enter")
    page.wait_for_function(f"() => {MAP}.visibleCount() === 0 && {MAP}.message().startsWith('No point passes')")
    page.locator(".st-key-map_chart .lm-emin").fill("")
    page.locator(".st-key-map_chart .lm-emin").press("Enter")
    page.wait_for_function(f"() => {MAP}.visibleCount() === 10000")

    # Find: a missing id is named; an existing one is selected, and the link follows it.
    search = page.locator(".st-key-map_chart .lm-search")
    search.fill("99999")
    search.press("Enter")
    page.wait_for_function(f"() => {MAP}.message().startsWith('There is no item 99999')")
    search.fill("123")
    search.press("Enter")
    page.locator("h3", has_text="Item 123: ").wait_for()
    page.wait_for_function("() => new URLSearchParams(location.search).get('item') === '123'")
    assert page.evaluate(SELECTED_JS) == [123]
    assert not page.js_errors


def test_groups_a_to_b_decode_along_the_direction_and_open_in_the_generator(fmnist):
    """Two selections kept as groups A and B: the strip decoded between their centroids, items similar to the
    selection, and the VAE's generator opened at A's centroid with an A -> B slider."""
    from explorer.selection import MapSelection

    labels = fmnist.test.labels
    sandals, boots = np.flatnonzero(labels == 5)[:40], np.flatnonzero(labels == 9)[:40]
    at = open_link({"page": "map", "variant": "vae", "item": str(int(sandals[0]))})
    at.session_state["_map_selection_state"] = MapSelection(("vae", "test"), tuple(int(i) for i in sandals))
    at.run()
    assert not at.exception and at.subheader[0].value == "40 items selected"
    at.button(key="map_group_A").click().run()
    at.toggle(key="map_similar").set_value(True).run()
    assert any("nearest the mean code of the 40 selected" in c.value for c in at.caption)
    at.session_state["_map_selection_state"] = MapSelection(("vae", "test"), tuple(int(i) for i in boots))
    at.run()
    at.button(key="map_group_B").click().run()
    assert not at.exception
    assert any("t = 0 is group A's centroid" in (c or "") for img in at.get("image") for c in img.captions)
    at.button(key="map_open_generator").click().run()
    assert not at.exception and at.title[0].value == "Generator"
    live = map_data(at, "live_vae")
    assert live["directions"][0]["label"] == "A (Sandal) → B (Ankle boot)"
    codes = load_projection("vae").codes
    want = codes[boots].mean(axis=0) - codes[sandals].mean(axis=0)
    assert np.allclose(live["directions"][0]["vector"], want, atol=1e-5)
    assert np.allclose(live["z"], np.clip(codes[sandals].mean(axis=0), -3, 3), atol=0.006)  # sliders: 0.01 steps
