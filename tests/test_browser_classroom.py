"""What a class sees, in a real browser: a result on open, one bar scale, a phone, links, dark mode.

Playwright drives Debian's Chromium (headless) against the app launched on
loopback with the tiny RoBERTa (2 layers × 2 heads), as ``test_browser.py`` does.
Figures are read from the plotly element itself (``gd.layout``), not from pixels.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser_support import BROWSER_MARKS, CHROMIUM, LAUNCH_ARGS

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api")

from tests.app_server import running_app  # noqa: E402

TIMEOUT_MS = 30_000
# The page-open chain (model, Fill, Attention, a linked tab) takes seconds on a busy 2-core machine.
sync_api.expect.set_options(timeout=TIMEOUT_MS)
TAB_NAMES = ["Fill", "80/10/10", "Attention", "Score", "Fine-tune", "About"]
LAYOUT_JS = "(s) => { const gd = document.querySelector(s + ' .js-plotly-plot'); return gd && gd.layout; }"


@pytest.fixture(scope="module")
def app_url(tiny_roberta_dir: Path):
    with running_app(tiny_roberta_dir) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


def _open(browser, url: str, width: int = 1280, height: int = 720):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    return page


def _layout(page, selector: str) -> dict:
    page.locator(f"{selector} .main-svg").first.wait_for()
    return page.evaluate(LAYOUT_JS, selector)


def test_a_result_is_drawn_on_open(browser, app_url):
    page = _open(browser, app_url)
    # The first example has a typed blank: its predictions are there without a click.
    page.locator("#fill-bars .bars path").first.wait_for()
    sync_api.expect(page.locator("#fill-table")).to_contain_text("<mask>")
    sync_api.expect(page.locator("#fill-predict")).to_be_in_viewport()  # the action sits by the input
    page.get_by_role("tab", name="Attention").click()
    sync_api.expect(page.locator("#attn-plot")).to_contain_text("Layer 0, head 0")  # no Run needed
    # The sliders follow the loaded model (2 layers, 2 heads), not a 12-layer default.
    sync_api.expect(page.locator("#attn-layer input[type=range]")).to_have_attribute("max", "1")
    sync_api.expect(page.locator("#attn-plot")).to_contain_text("attention weight")
    page.close()


def test_all_bar_panels_share_one_scale(browser, app_url):
    page = _open(browser, app_url)
    page.locator("#fill-bars .bars path").first.wait_for()
    box = page.locator("#fill-text textarea")
    box.fill("the <mask> sat on the <mask> and the <mask> ran .")
    box.press("Enter")  # Enter in the one-line input runs Predict
    page.wait_for_function(
        "() => Object.keys(document.querySelector('#fill-bars .js-plotly-plot')?.layout || {})"
        ".filter(k => k.startsWith('xaxis')).length === 3"
    )
    layout = _layout(page, "#fill-bars")
    ranges = [v["range"] for k, v in layout.items() if k.startswith("xaxis")]
    assert len(ranges) == 3 and all(r == [0, 1] for r in ranges), ranges
    page.close()


def test_changing_the_input_marks_the_result_stale(browser, app_url):
    page = _open(browser, app_url)
    page.locator("#fill-bars .bars path").first.wait_for()
    page.get_by_label("iterative (most confident first)").check()
    sync_api.expect(page.locator("#fill-results")).to_have_class(re.compile("stale"))
    page.locator("#fill-predict").click()
    sync_api.expect(page.locator("#fill-note")).to_contain_text("Filled:")
    sync_api.expect(page.locator("#fill-results")).not_to_have_class(re.compile("stale"))
    page.close()


def test_a_failed_request_marks_the_old_result_as_the_previous_one(browser, app_url):
    page = _open(browser, app_url)
    page.locator("#fill-bars .bars path").first.wait_for()
    page.locator("#fill-text textarea").fill("The sky is blue.")  # no blank: Predict fails
    page.locator("#fill-predict").click()
    sync_api.expect(page.locator("#fill-results")).to_have_class(re.compile("failed"))
    page.locator("#fill-text textarea").fill("The sky is [MASK].")
    page.locator("#fill-predict").click()
    sync_api.expect(page.locator("#fill-results")).not_to_have_class(re.compile("failed|stale"))
    page.close()


def test_an_example_dims_the_fill_result_and_scores_its_pair(browser, app_url):
    from mlm_explorer.showcase import FILL_EXAMPLES, SCORE_EXAMPLES

    page = _open(browser, app_url)
    page.locator("#fill-bars .bars path").first.wait_for()
    # Loading an example fires no input event: it must dim the old result all the same.
    page.get_by_text(FILL_EXAMPLES[4], exact=True).click()
    sync_api.expect(page.locator("#fill-results")).to_have_class(re.compile("stale"))
    page.get_by_role("tab", name="Score").click()
    good, bad = SCORE_EXAMPLES[2]
    page.locator("#score-examples").get_by_text(good, exact=True).click()
    # A Score example is a whole pair: it is scored at once, no button needed.
    sync_api.expect(page.locator("#score-table")).to_contain_text(bad)
    sync_api.expect(page.locator("#score-results")).not_to_have_class(re.compile("stale"))
    page.close()


def test_a_phone_reaches_every_tab_without_scrolling_sideways(browser, app_url):
    page = _open(browser, app_url, 390, 844)
    page.locator("#fill-bars .main-svg").first.wait_for()
    for name in TAB_NAMES:
        tab = page.get_by_role("tab", name=name, exact=True)
        sync_api.expect(tab).to_be_visible()  # on the strip, not behind a "…" menu
        tab.click()
        sync_api.expect(tab).to_have_attribute("aria-selected", "true")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways on the {name} tab ({width} px)"
    # The model picker folds away on a phone.
    sync_api.expect(page.locator("#model-picker")).to_be_hidden()
    page.close()


def test_a_state_link_round_trip(browser, app_url):
    page = _open(browser, app_url)
    page.locator("#fill-bars .main-svg").first.wait_for()
    page.locator("#fill-text textarea").fill("the cat sat on the mat .")
    page.locator("#fill-text textarea").dispatch_event("input")
    page.wait_for_function(  # the new text's chips are drawn (and the old masks forgotten) first
        "() => [...document.querySelectorAll('#fill-chips .token .text')].map(e => e.textContent).join(' ')"
        ".includes('mat')"
    )
    page.locator("#fill-positions textarea, #fill-positions input").first.fill("2, 6")
    page.locator("#fill-positions textarea, #fill-positions input").first.dispatch_event("input")
    page.get_by_label("iterative (most confident first)").check()
    page.locator("#copy-link").click()
    link = page.locator("#link-box textarea, #link-box input").first
    sync_api.expect(link).to_have_value(re.compile(r"tab=fill"))
    url = link.input_value()
    query = parse_qs(urlparse(url).query)
    assert query["text"] == ["the cat sat on the mat ."] and query["masks"] == ["2, 6"]
    assert query["mode"] == ["iterative"]
    assert page.evaluate("() => window.location.search").startswith("?tab=fill")  # the address bar too
    page.get_by_role("tab", name="Score").click()  # a link to the Fill tab is not one to the Score tab
    sync_api.expect(page.locator("#link-box")).to_be_hidden()
    page.close()

    again = _open(browser, url)
    sync_api.expect(again.locator("#fill-text textarea")).to_have_value("the cat sat on the mat .")
    sync_api.expect(again.locator("#fill-note")).to_contain_text("Filled:")  # predicted, iteratively
    again.close()

    attention = _open(browser, app_url + "?tab=attention&text=a+b+c&view=mean&layer=1")
    sync_api.expect(attention.get_by_role("tab", name="Attention")).to_have_attribute("aria-selected", "true")
    sync_api.expect(attention.locator("#attn-plot")).to_contain_text("Layer 1: mean over heads")
    attention.close()

    score = _open(browser, app_url + "?tab=score&a=the+cat+sat+.&b=the+cat+sit+.")
    sync_api.expect(score.locator("#score-a textarea, #score-a input").first).to_have_value("the cat sat .")
    verdict = score.locator("#score-verdict")
    sync_api.expect(verdict).to_contain_text("more likely than", timeout=TIMEOUT_MS)  # scored on open
    score.close()


def test_dark_mode_figures_follow_the_theme(browser, app_url):
    page = _open(browser, app_url + "?__theme=dark")
    page.locator("#fill-bars .bars path").first.wait_for()
    layout = _layout(page, "#fill-bars")
    assert layout["paper_bgcolor"].replace(" ", "") == "rgba(0,0,0,0)"  # the dark page shows through
    assert layout["font"]["color"].upper() == "#E5E7EB"
    page.close()


def test_the_policy_key_is_painted_as_its_chips_in_the_dark(browser, app_url):
    page = _open(browser, app_url + "?tab=policy&__theme=dark")
    page.locator("#policy-chips .legend-item").first.wait_for()
    colours = page.evaluate(
        "() => [...document.querySelectorAll('#policy-chips .legend-item')]"
        ".map(e => getComputedStyle(e).backgroundColor)"
    )
    # Gradio paints the key at half opacity (dim on a dark page); ours are the chips' opaque colours
    assert colours and all(c.startswith("rgb(") for c in colours), colours
    page.close()


def test_projector_mode_enlarges_figure_text(browser, app_url):
    plain_page = _open(browser, app_url)
    plain = _layout(plain_page, "#fill-bars")
    button_px = "() => parseFloat(getComputedStyle(document.querySelector('#copy-link')).fontSize)"
    plain_button = plain_page.evaluate(button_px)
    wide = _open(browser, app_url + "?projector=1", 1920, 1080)
    wide.locator("#fill-bars .bars path").first.wait_for()
    # Gradio's own text (buttons, labels) grows too, and a wide projector gets the width
    assert wide.evaluate(button_px) >= 1.2 * plain_button
    width = "() => document.querySelector('.gradio-container').getBoundingClientRect().width"
    assert wide.evaluate(width) > 1600
    wide.close()
    page = _open(browser, app_url + "?projector=1&__theme=dark")
    page.locator("#fill-bars .bars path").first.wait_for()
    big = _layout(page, "#fill-bars")
    assert big["font"]["size"] > plain["font"]["size"]
    assert page.evaluate("() => document.body.classList.contains('projector')")
    on = "() => getComputedStyle(document.querySelector('#projector-mode'), '::after').content"
    assert "✓" in page.evaluate(on)  # the button shows that projector mode is on
    page.locator("#projector-mode").click()  # the toggle reopens the same view without it
    page.wait_for_url(re.compile(r"tab=fill"))
    assert "projector" not in page.url and "__theme=dark" in page.url  # the theme stays
    page.locator("#fill-bars .bars path").first.wait_for()
    assert _layout(page, "#fill-bars")["font"]["size"] == plain["font"]["size"]
    page.close()


def _value(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def test_a_class_link_reproduces_the_write_settings_and_the_quiz_item(browser, app_url):
    from mlm_explorer.quiz import load_bundled_items, start_round

    page = _open(browser, app_url + "?tab=class")
    page.get_by_role("tab", name="Write").click()
    page.get_by_label("iterative: most confident blank first").check()
    page.get_by_label("Only blanks").check()  # the tab opens on a prompt; the length is for blanks
    length = page.locator("#gen-length input[type=number]")
    length.fill("12")
    length.press("Enter")
    _value(page, "gen-seed").fill("3")
    _value(page, "gen-seed").press("Tab")
    page.locator("#copy-link").click()
    link = _value(page, "link-box")
    sync_api.expect(link).to_have_value(re.compile(r"activity=write"))
    query = parse_qs(urlparse(link.input_value()).query)
    # Every setting a student needs, and none left at its default (the link stays short).
    assert query == {"tab": ["class"], "activity": ["write"], "start": ["blanks"], "length": ["12"],
                     "strategy": ["iterative"], "seed": ["3"]}
    url = link.input_value()
    page.close()

    again = _open(browser, url)
    sync_api.expect(again.locator("#gen-summary")).to_contain_text("iterative")  # written on open
    sync_api.expect(again.get_by_label("iterative: most confident blank first")).to_be_checked()
    sync_api.expect(again.locator("#gen-length input[type=number]")).to_have_value("12")
    sync_api.expect(_value(again, "gen-seed")).to_have_value("3")
    again.close()

    quiz = _open(browser, app_url + "?tab=class&items=6&seed=4&item=2")  # a round under way, at item 2
    sync_api.expect(quiz.locator("#quiz-progress")).to_contain_text("Item 2 of 6")
    second = start_round(load_bundled_items(), 6, 4).items[1]
    sync_api.expect(quiz.locator("#quiz-sentence")).to_contain_text(second.blanked.split("____")[0].strip())
    quiz.locator("#copy-link").click()
    link = _value(quiz, "link-box")
    sync_api.expect(link).to_have_value(re.compile(r"item=2"))
    assert parse_qs(urlparse(link.input_value()).query) == {
        "tab": ["class"], "activity": ["quiz"], "items": ["6"], "seed": ["4"], "item": ["2"]
    }
    quiz.get_by_label("My own list").check()  # a pasted list travels while short; a long one is cut, and said
    _value(quiz, "quiz-list").fill("\n".join(f"line {i} has a [word] in it ." for i in range(40)))
    quiz.locator("#copy-link").click()
    sync_api.expect(quiz.locator("#link-box")).to_contain_text("list cut to 1,000 characters")
    assert "list=" in _value(quiz, "link-box").input_value()
    quiz.close()


def test_a_hand_edited_class_link_says_what_it_did_not_use(browser, app_url):
    page = _open(browser, app_url + "?tab=class&activity=write&start=blanks&length=abc&temp=9&strategy=zzz")
    toast = page.locator(".toast-body").first
    sync_api.expect(toast).to_contain_text("length='abc' is not a number")
    sync_api.expect(toast).to_contain_text("temp=9 is out of range")
    sync_api.expect(page.get_by_role("tab", name="Write")).to_have_attribute("aria-selected", "true")
    sync_api.expect(page.locator("#gen-length input[type=number]")).to_have_value("10")  # the default
    sync_api.expect(page.get_by_label("Gibbs: re-mask and sample each blank, N sweeps")).to_be_checked()
    page.close()


# What runs past its box: [scrollWidth, clientWidth] of a table's own scroll box.
TABLE_FIT_JS = """(sel) => {
  const box = document.querySelector(sel + " .virtual-table-viewport");
  return [box.scrollWidth, box.clientWidth];
}"""
SMALL_PX_JS = """() => [...document.querySelectorAll("small")].filter(e => e.offsetParent)
  .map(e => parseFloat(getComputedStyle(e).fontSize))"""
# The figure's title: its right edge against the figure's width (plotly draws it in .gtitle).
TITLE_FIT_JS = """(sel) => {
  const svg = document.querySelector(sel + " .main-svg"), title = document.querySelector(sel + " .gtitle");
  return [title.getBoundingClientRect().right - svg.getBoundingClientRect().left, svg.clientWidth];
}"""


@pytest.mark.parametrize(("width", "height", "theme"), [(1280, 720, "light"), (1920, 1080, "dark")])
def test_projector_tables_titles_and_footnotes_fit(browser, app_url, width, height, theme):
    dark = "&__theme=dark" if theme == "dark" else ""
    page = _open(browser, app_url + "?tab=policy&projector=1" + dark, width, height)
    page.wait_for_function("() => document.querySelector('#policy-table')?.innerText.includes('%')")
    scroll, visible = page.evaluate(TABLE_FIT_JS, "#policy-table")
    assert scroll <= visible + 1, f"the 80/10/10 table is clipped: {scroll} px in {visible} px"
    page.get_by_role("tab", name="Inside").click()
    page.locator("#inside-layers-run").click()
    page.wait_for_function("() => document.querySelector('#inside-layers-table')?.innerText.includes('%')")
    scroll, visible = page.evaluate(TABLE_FIT_JS, "#inside-layers-table")
    assert scroll <= visible + 1, f"the per-layer table is clipped: {scroll} px in {visible} px"
    # the footnote under it reads at the info lines' projector size, not the browser's "smaller"
    sizes = page.evaluate(SMALL_PX_JS)
    assert sizes and min(sizes) >= 18, sizes
    page.get_by_role("tab", name="Class").click()
    page.locator("#quiz-start").click()
    _value(page, "quiz-guess").fill("cat")
    page.locator("#quiz-reveal").click()
    sync_api.expect(page.locator("#quiz-bars")).to_contain_text("top")
    right, figure = page.evaluate(TITLE_FIT_JS, "#quiz-bars")
    assert right <= figure, f"the quiz chart's title runs past the figure ({right:.0f} of {figure} px)"
    page.close()


@pytest.mark.parametrize("activity", ["write", "compare"])
def test_a_linked_activity_stays_open_and_the_others_still_open_on_a_click(browser, app_url, activity):
    # The Class tab's sub-tabs mount on the quiz when the tab is first drawn; that must neither undo
    # the linked activity (a linked Write once opened on the quiz, unwritten) nor pin it afterwards.
    page = _open(browser, app_url + f"?tab=class&activity={activity}")
    name = activity.capitalize()
    tab = page.get_by_role("tab", name=name, exact=True)
    sync_api.expect(tab).to_have_attribute("aria-selected", "true")
    if activity == "write":
        sync_api.expect(page.locator("#gen-summary")).to_contain_text("wrote")  # written on open
    page.wait_for_timeout(1500)  # past the mount: still the linked activity
    sync_api.expect(tab).to_have_attribute("aria-selected", "true")
    for other in ("Quiz", "Write", "Compare"):
        page.get_by_role("tab", name=other, exact=True).click()
        clicked = page.get_by_role("tab", name=other, exact=True)
        sync_api.expect(clicked).to_have_attribute("aria-selected", "true")
    page.locator("#copy-link").click()
    sync_api.expect(_value(page, "link-box")).to_have_value(re.compile(r"activity=compare"))
    page.close()
