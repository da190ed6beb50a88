"""What the demo pages show a person: unit checks of the core functions they lay out, and one browser
test that opens every page at 800, 1280 and 1920 px and looks for truncated numbers and buttons."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from explorer.denoise import best_first

REPO = Path(__file__).resolve().parent.parent


def test_the_better_denoiser_comes_first():
    stored = {"denoising": {"denoise_psnr": 20.0}, "unet": {"denoise_psnr": 26.5}, "new": None}
    assert best_first(["denoising", "unet", "new"], stored) == ["unet", "denoising", "new"]
    assert best_first(["a", "b"], {"a": {"denoise_psnr": np.nan}, "b": {}}) == ["a", "b"]  # no score: given order


def test_the_compare_table_titles_are_short_and_each_explained():
    from explorer.compare import METRIC_COLUMNS
    from explorer.ui.compare import COLUMN_HELP, COLUMNS

    assert {title for _, title in METRIC_COLUMNS} == set(COLUMNS)  # every column gets a short title and a help text
    assert all(len(short) <= 9 for short, _ in COLUMNS.values()) and len(COLUMN_HELP) == len(COLUMNS)


def test_the_rate_distortion_chart_reads_on_a_projector():
    from explorer import checkpoint, figures
    from explorer.commands import compress

    rows = compress.load_compression(str(checkpoint.default_root()))["rows"]
    fig = figures.rd_figure(rows)
    assert fig.layout.font.size >= 13 and fig.layout.xaxis.tickfont.size >= 13 and fig.layout.yaxis.tickfont.size >= 13
    callouts = [a for a in fig.layout.annotations if a.showarrow is not False and a.arrowcolor]
    assert callouts, "the sparse-vs-dense callouts are gone"
    line_colours = {t.line.color for t in fig.data}
    assert all(a.arrowcolor not in line_colours and a.arrowwidth <= 1 and a.bgcolor for a in callouts)


def test_the_compression_demo_shows_every_image_at_one_size():
    from streamlit.testing.v1 import AppTest

    from tests.support.pages import switch_page

    at = AppTest.from_file("../dashboard.py", default_timeout=60)
    at.run()
    switch_page(at, "compression").run()
    assert not at.exception
    demo = at.get("image")  # original, receiver, WebP and JPEG: one grid, so one scale for all four
    assert len(demo) == 1


def test_the_cluster_heatmap_labels_sit_on_their_columns_and_its_counts_are_legible():
    from explorer import figures

    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 500)
    fig = figures.confusion_figure(y, (y + rng.integers(0, 2, 500)) % 10)
    heat = fig.data[0]
    assert heat.textfont.size >= 13 and fig.layout.xaxis.tickangle == 0  # horizontal, centred on each column
    assert list(fig.layout.xaxis.tickvals) == list(heat.x)


# ------------------------------------------------------------------------------------------- the browser

WIDTHS = (800, 1280, 1920)
# Elements cut with an ellipsis (or clipped): metric values and labels, button labels, widget labels; and tables
# wider than their frame, whose clipped columns have no scroll cue. -> "what (its text)" for each.
TRUNCATED_JS = """() => {
  const out = [];
  const onScreen = r => r.width > 0 && r.right > 0 && r.left < window.innerWidth;  // a collapsed sidebar is off-screen
  const visible = e => e.offsetParent !== null && onScreen(e.getBoundingClientRect());
  const cut = e => e.scrollWidth > e.clientWidth + 1;
  const check = (what, sel) => document.querySelectorAll(sel).forEach(e => {
    if (visible(e) && (cut(e) || [...e.querySelectorAll('*')].some(c => visible(c) && cut(c))))
      out.push(`${what} (${e.innerText.trim().slice(0, 40)})`);
  });
  check('metric value', '[data-testid=stMetricValue]');
  check('metric label', '[data-testid=stMetricLabel]');
  check('button', '[data-testid=stButton] button, [data-testid=stDownloadButton] button');
  check('widget label', '[data-testid=stWidgetLabel]');
  const main = document.querySelector('[data-testid=stMain]').getBoundingClientRect();
  document.querySelectorAll('[data-testid=stDataFrame]').forEach(f => {
    const frame = f.getBoundingClientRect();
    if (visible(f) && frame.right > main.right + 1) out.push(`table past the page's edge`);
    // columns wider than the frame: its own scroller must scroll sideways (a scroll bar is the cue)
    const s = f.querySelector('.dvn-scroller');
    if (visible(f) && s && s.scrollWidth > s.clientWidth + 1 && !/auto|scroll/.test(getComputedStyle(s).overflowX))
      out.push(`table with clipped columns and no scroll bar`);
  });
  // static tables (st.table, Markdown): wider than their column only inside a container that scrolls sideways
  document.querySelectorAll('[data-testid=stTable] table, [data-testid=stMarkdownContainer] table').forEach(t => {
    if (!visible(t)) return;
    let e = t.parentElement, scrolls = false;
    for (; e && e !== document.body; e = e.parentElement)
      if (/auto|scroll/.test(getComputedStyle(e).overflowX) && e.scrollWidth > e.clientWidth) scrolls = true;
    if (t.getBoundingClientRect().right > main.right + 1 && !scrolls) out.push(`static table cut at the page's edge`);
  });
  // the wheel scrolls the page: no Plotly chart zooms on it (item 11)
  document.querySelectorAll('.js-plotly-plot').forEach(gd => {
    if (gd._context && gd._context._scrollZoom && gd._context._scrollZoom.cartesian)
      out.push(`a chart zooms on the wheel (${gd.closest('[class*=st-key-]')?.className.match(/st-key-\\S+/)})`);
  });
  return out;
}"""
# How much of the window's width the sidebar takes (0 when collapsed).
SIDEBAR_JS = """() => {
  const bar = document.querySelector('[data-testid=stSidebar]');
  if (!bar) return 0;
  const r = bar.getBoundingClientRect();
  return Math.max(0, Math.min(r.right, window.innerWidth) - Math.max(r.left, 0));
}"""


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory):
    from tests.support.server import serve

    with serve(REPO / "dashboard.py", tmp_path_factory.mktemp("demo") / "server.log") as url:
        yield url


@pytest.mark.browser
def test_every_page_is_readable_at_800_1280_and_1920(demo_url):
    """No truncated number, button or label, no table past the page's edge or with clipped columns and no scroll
    bar, no chart that zooms on the wheel, on any page at any width; the sidebar collapsed at 800 px, open at 1920."""
    import dashboard
    from tests.support.server import IDLE_JS, chromium

    problems = []
    with chromium() as browser:
        for width in WIDTHS:
            context = browser.new_context(viewport={"width": width, "height": 900})
            page = context.new_page()
            for *_, path in dashboard.PAGES:
                page.goto(f"{demo_url}/{path}")
                page.locator("h1").first.wait_for(timeout=60_000)
                for _ in range(2):  # a run can follow a run
                    page.wait_for_function(IDLE_JS, timeout=60_000)
                    time.sleep(0.4)
                problems += [f"{path} at {width} px: {p}" for p in page.evaluate(TRUNCATED_JS)]
                sidebar = page.evaluate(SIDEBAR_JS)
                if (width <= 800 and sidebar > 50) or (width >= 1920 and sidebar < 200):
                    problems.append(f"{path} at {width} px: the sidebar takes {sidebar:.0f} px")
            context.close()
    assert not problems, "\n".join(problems)


@pytest.mark.browser
@pytest.mark.parametrize("path, key", [("clustering", "cl_map"), ("compression", "cz_rd")])
def test_the_wheel_over_a_chart_scrolls_the_page(demo_url, path, key):
    """Item 11 on the pages other than the map: at 1280×800 a wheel over a chart scrolls past it, and its axes keep
    their range (the mode bar's + and − still zoom)."""
    from tests.support.server import IDLE_JS, chromium

    chart = f".st-key-{key} .js-plotly-plot"
    xrange = f"() => document.querySelector('{chart}')._fullLayout.xaxis.range.slice()"
    offset = "() => document.querySelector('[data-testid=stMain]').scrollTop + window.scrollY"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"{demo_url}/{path}")
        page.locator(f"{chart} .nsewdrag").first.wait_for(timeout=90_000)
        page.wait_for_function(IDLE_JS, timeout=60_000)
        page.locator(chart).scroll_into_view_if_needed()
        time.sleep(0.5)
        before, top = page.evaluate(xrange), page.evaluate(offset)
        box = page.locator(f"{chart} .nsewdrag").first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, max(box["y"] + 20, min(box["y"] + box["height"] / 2, 780)))
        for _ in range(4):
            page.mouse.wheel(0, 150)
            time.sleep(0.1)
        time.sleep(0.5)
        assert page.evaluate(offset) > top + 200, "the page did not scroll"
        assert page.evaluate(xrange) == before, "the wheel zoomed the chart"
