"""What a student sees on a 390 px phone (Playwright driving Debian's Chromium, headless).

The Score and 80/10/10 tables fit their box without scrolling sideways; the
Inside tab's layer heatmap keeps its tokens readable and its rank chart keeps
title, legend and rank axis apart; the phone-only CSS (tab buttons, page
margins) reaches the page. Light and dark pages both.
"""

from __future__ import annotations

import pytest

from tests.browser_support import BROWSER_MARKS

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api")

TIMEOUT_MS = 60_000
PHONE = {"width": 390, "height": 844}
# A table's own scroll box (Gradio's virtual table, or the examples' table-wrap): content vs visible width.
SIDEWAYS_JS = """(sel) => {
  const box = document.querySelector(sel + " .virtual-table-viewport")
    || document.querySelector(sel + " .table-wrap");
  return [box.scrollWidth, box.clientWidth];
}"""
# Every visible box that scrolls sideways on its own (e.g. a closed accordion whose arrow pokes out).
SCROLLING_BOXES_JS = """() => [...document.querySelectorAll("*")].filter(el => el.offsetParent !== null
  && ["auto", "scroll"].includes(getComputedStyle(el).overflowX) && el.scrollWidth > el.clientWidth + 1)
  .map(el => `${el.tagName}.${el.className} (${el.scrollWidth} px in ${el.clientWidth})`)"""
# Font sizes (px) of the text plotly draws in a heatmap's cells.
CELL_FONTS_JS = """(sel) => [...document.querySelectorAll(sel + " .heatmap-label text")]
  .map(t => parseFloat(getComputedStyle(t).fontSize))"""
# Boxes of a figure's parts, relative to the figure: its title, legend and y-axis title.
PARTS_JS = """(sel) => {
  const svg = document.querySelector(sel + " .main-svg").getBoundingClientRect();
  const box = (q) => { const e = document.querySelector(sel + " " + q); if (!e) return null;
    const r = e.getBoundingClientRect();
    return [r.left - svg.left, r.top - svg.top, r.right - svg.left, r.bottom - svg.top]; };
  return {svg: [0, 0, svg.width, svg.height], title: box(".gtitle"), legend: box(".legend"),
          ytitle: box(".g-ytitle text")};
}"""


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(params=["light", "dark"])
def phone(request, browser_app):
    browser, url = browser_app
    page = browser.new_page(viewport=PHONE)
    page.set_default_timeout(TIMEOUT_MS)
    page.app_url, page.dark = url, request.param == "dark"
    yield page
    page.close()


def _open(page, tab: str = "fill") -> None:
    page.goto(f"{page.app_url}?tab={tab}" + ("&__theme=dark" if page.dark else ""))


def _fits(page, selector: str) -> None:
    scroll, client = page.evaluate(SIDEWAYS_JS, selector)
    assert scroll <= client, f"{selector} scrolls sideways at 390 px ({scroll} px in a {client} px box)"


def test_score_and_policy_tables_fit_a_phone(phone):
    _open(phone, "score")
    phone.locator("#score-run").click()
    sync_api.expect(phone.locator("#score-table")).to_contain_text("PLL")
    sync_api.expect(phone.locator("#score-table")).to_contain_text("cabinet")
    _fits(phone, "#score-table")
    _fits(phone, "#score-examples")
    phone.get_by_role("tab", name="80/10/10", exact=True).click()
    phone.locator("#policy-apply").click()
    sync_api.expect(phone.locator("#policy-note")).to_contain_text("Accuracy")
    sync_api.expect(phone.locator("#policy-table")).to_contain_text("top-1")
    _fits(phone, "#policy-table")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert phone.evaluate(SCROLLING_BOXES_JS) == []
    phone.get_by_text("Draw 1,000 times: do the rates").click()
    phone.get_by_role("button", name="Draw 1,000 times", exact=True).click()
    sync_api.expect(phone.locator("#policy-rates")).to_contain_text("measured")
    _apart(phone.evaluate(PARTS_JS, "#policy-rates"))


def test_the_layer_heatmap_and_rank_chart_read_on_a_phone(phone):
    _open(phone, "inside")
    text = phone.locator("#inside-text textarea")
    text.fill("the cat sat on the mat .")
    text.dispatch_event("input")
    positions = phone.locator("#inside-positions textarea, #inside-positions input").first
    positions.fill("2")  # a real word hidden: the rank chart has two lines and a two-entry legend
    positions.dispatch_event("input")
    phone.locator("#inside-layers-run").click()
    sync_api.expect(phone.locator("#inside-layers-ranks")).to_contain_text("original")
    phone.locator("#inside-layers-plot .heatmap-label text").first.wait_for()
    fonts = phone.evaluate(CELL_FONTS_JS, "#inside-layers-plot")
    assert fonts and min(fonts) >= 11, f"the heatmap's tokens are {min(fonts)} px on a phone"
    _apart(phone.evaluate(PARTS_JS, "#inside-layers-ranks"))


def _apart(parts: dict) -> None:
    """A figure's title, legend and y-axis title each whole inside it, none over another."""
    svg = parts["svg"]
    for name in ("title", "legend", "ytitle"):
        box = parts[name]
        inside = box[0] >= 0 and box[1] >= 0 and box[2] <= svg[2] and box[3] <= svg[3]
        assert inside, f"{name} is cut: {parts}"
    assert not _overlap(parts["title"], parts["legend"]), f"the legend covers the title: {parts}"
    assert not _overlap(parts["ytitle"], parts["legend"]), parts
    assert not _overlap(parts["ytitle"], parts["title"]), parts


def test_the_phone_css_reaches_the_tab_buttons_and_the_page_margins(phone):
    _open(phone)
    phone.locator("#fill-bars .main-svg").first.wait_for()
    padding = phone.evaluate(
        "() => getComputedStyle(document.querySelector('.tab-container button')).paddingLeft"
    )
    assert padding == "8px"
    margin = phone.evaluate(
        "() => getComputedStyle(document.querySelector('.gradio-container .main')).paddingLeft"
    )
    assert float(margin.rstrip("px")) <= 8, f"the page keeps {margin} each side of a 390 px phone"


def test_every_sub_tab_shows_on_a_phone(phone):
    """Inside's four long names and Class's three activities wrap onto rows, never into a "…" menu."""
    for tab, strip, names in (
        ("inside", "#inside-tabs", ["Layer by layer", "Which words mattered", "Masked vs unmasked attention",
                                    "The tokenizer"]),
        ("class", "#class-tabs", ["Quiz", "Write", "Compare"]),
    ):
        _open(phone, tab)
        for name in names:
            sync_api.expect(phone.locator(strip).get_by_role("tab", name=name, exact=True)).to_be_visible()
        assert phone.evaluate(f"() => document.querySelector('{strip} .overflow-menu') === null")
