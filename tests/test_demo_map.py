"""The map and Similar pages as a presenter shows them: the link follows the clicked item, a selection
survives a new colour, variant or split, the wheel scrolls the page, and no label is cut off at 1280 px.

The server-side halves run in AppTest (a link's ``item=``; the Similar page's class box). AppTest cannot click a
Plotly point, so the clicks, the box selection and the wheel run in real headless Chromium against one
``streamlit run dashboard.py`` for the module (tests/support/server.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from explorer.data import CLASS_NAMES
from tests.support.pages import open_link
from tests.support.server import IDLE_JS, NEAREST_POINT_JS, chromium, serve

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard.py")
LAPTOP = {"width": 1280, "height": 800}
RUN_S = 60

# The map's selected points as Plotly draws them: item ids of every trace's ``selectedpoints``.
SELECTED_JS = """() => {
  const gd = document.querySelector('.st-key-map_chart .js-plotly-plot');
  if (!gd) return null;
  const ids = [];
  for (const t of gd._fullData) {
    if (!t.customdata || !t.selectedpoints) continue;
    for (const i of t.selectedpoints) ids.push(Math.round(t.customdata[i][0]));
  }
  return ids.sort((a, b) => a - b);
}"""
# The x range of the map's axis, as drawn.
XRANGE_JS = "() => document.querySelector('.st-key-map_chart .js-plotly-plot')._fullLayout.xaxis.range.slice()"
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

    at.radio(key="map_color").set_value("error").run()  # a new colour redraws the chart: the item stays
    assert not at.exception and at.subheader[0].value.startswith("Item 7343: ")
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
    page.locator(".st-key-map_chart .js-plotly-plot .nsewdrag").first.wait_for()
    settle(page)


def click_point(page, at=(0.5, 0.5)) -> None:
    """Hover, then click, the map point nearest a fraction of the plot area."""
    page.locator(".st-key-map_chart").scroll_into_view_if_needed()
    point = page.evaluate(NEAREST_POINT_JS, list(at))
    page.mouse.move(point["x"] - 8, point["y"] - 8)
    page.mouse.move(point["x"], point["y"])
    page.locator(".st-key-map_chart .hoverlayer .hovertext").first.wait_for(timeout=10_000)
    time.sleep(0.3)
    page.mouse.click(point["x"], point["y"])


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

    page.locator(".st-key-map_color label", has_text="reconstruction error").click()  # the chart is redrawn
    page.wait_for_function(f"id => JSON.stringify(({SELECTED_JS})()) === JSON.stringify([id])", arg=item)
    settle(page)
    assert page.locator("h3", has_text=f"Item {item}: ").count() == 1 and url_item(page) == item
    assert not page.js_errors


@pytest.mark.browser
def test_a_box_selection_survives_a_new_colour_and_variant(page, server):
    open_map(page, server, "?page=map&variant=dense")
    chart = page.locator(".st-key-map_chart")
    chart.scroll_into_view_if_needed()
    chart.hover()
    page.locator('.st-key-map_chart .modebar-btn[data-title="Box Select"]').click()
    a, b = page.evaluate(NEAREST_POINT_JS, [0.2, 0.2]), page.evaluate(NEAREST_POINT_JS, [0.8, 0.8])
    box = page.locator(".st-key-map_chart .nsewdrag").first.bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + box["width"] * 0.3, y0 + box["height"] * 0.3, steps=8)
    page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.8, steps=8)
    page.mouse.up()
    assert a and b
    heading = page.locator("h3", has_text=re.compile(r"^[\d,]+ items selected"))
    heading.wait_for()
    settle(page)
    selected = heading.inner_text()
    for change in (
        lambda: page.locator(".st-key-map_color label", has_text="reconstruction error").click(),
        lambda: page.locator(".st-key-map_color label", has_text="class").first.click(),
    ):
        change()
        time.sleep(0.5)
        settle(page)
        assert page.locator("h3", has_text=re.compile(r"items selected")).inner_text() == selected
        assert len(page.evaluate(SELECTED_JS)) == int(re.match(r"[\d,]+", selected).group().replace(",", ""))
    assert not page.js_errors


@pytest.mark.browser
def test_the_wheel_over_the_map_scrolls_the_page(page, server):
    open_map(page, server, "?page=map&variant=dense")
    page.evaluate("() => window.scrollTo(0, 0)")
    main = "document.querySelector('[data-testid=stMain]')"
    top = page.evaluate(f"() => {main}.scrollTop + window.scrollY")
    before = page.evaluate(XRANGE_JS)
    box = page.locator(".st-key-map_chart .nsewdrag").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, min(box["y"] + 40, LAPTOP["height"] - 20))
    for _ in range(5):
        page.mouse.wheel(0, 200)
        time.sleep(0.1)
    time.sleep(0.5)
    assert page.evaluate(f"() => {main}.scrollTop + window.scrollY") > top + 300, "the page did not scroll"
    assert page.evaluate(XRANGE_JS) == before, "the wheel zoomed the map"
    assert page.locator('.st-key-map_chart .modebar-btn[data-title="Zoom in"]').count() == 1


@pytest.mark.browser
@pytest.mark.parametrize("path", ["?page=map&item=3", "similar"])
def test_no_label_is_cut_off_at_1280(page, server, path):
    page.goto(f"{server}/{path}")
    page.locator("h1").first.wait_for()
    settle(page)
    page.locator("[data-testid=stDownloadButton], [data-testid=stButton]").first.wait_for()
    assert page.evaluate(CLIPPED_JS) == []
