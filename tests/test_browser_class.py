"""The Class tab in a real browser (Playwright driving Debian's Chromium, headless).

A student plays a quiz round of five sentences to the end, a generation trace
is stepped through with the slider, and the bundled-style default model is
compared with a copy fine-tuned a moment before in the same page.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlm_explorer.ui import activities
from tests.browser_support import BROWSER_MARKS

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api")

TIMEOUT_MS = 60_000
# The table's own scroll box (Gradio's virtual table) and a dropdown's text box: content vs visible width.
NO_SIDEWAYS_JS = """(sel) => {
  const box = document.querySelector(sel + " .virtual-table-viewport") || document.querySelector(sel);
  return [box.scrollWidth, box.clientWidth];
}"""
FULL_NAME_JS = """(sel) => {
  const box = document.querySelector(sel + " input");
  return [box.scrollWidth, box.clientWidth];
}"""
LIST = "\n".join(f"the [{w}] sat on the mat ." for w in ("cat", "dog", "man", "woman", "children"))


@pytest.fixture(scope="module")
def page(browser_app):
    browser, url = browser_app
    pg = browser.new_page(viewport={"width": 1280, "height": 900})
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(url)
    pg.get_by_role("tab", name="Class").click()
    yield pg
    pg.close()


def _box(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def test_a_quiz_round_of_five_played_to_the_end(page):
    page.get_by_role("tab", name="Quiz").click()
    page.get_by_label("My own list").check()
    _box(page, "quiz-list").fill(LIST)
    page.locator("#quiz-start").click()
    expect = sync_api.expect
    for n in range(1, 6):
        expect(page.locator("#quiz-progress")).to_contain_text(f"Item {n} of 5")
        expect(page.locator("#quiz-sentence")).to_contain_text("____")
        _box(page, "quiz-guess").fill("cat")
        page.locator("#quiz-reveal").click()
        expect(page.locator("#quiz-result")).to_contain_text("The hidden word was")
        expect(page.locator("#quiz-card")).to_contain_text("the model")
        expect(page.locator("#quiz-bars")).to_contain_text("top 10")
        page.locator("#quiz-next").click()
    expect(page.locator("#quiz-progress")).to_contain_text("Round over")
    card = page.locator("#quiz-card")
    expect(card).to_contain_text("you")
    expect(page.locator("#quiz-score")).to_contain_text("after 5 of 5")
    assert "1" in card.inner_text()  # "cat" was right once
    with page.expect_download() as download:  # the file is written when the button is pressed
        page.locator("#quiz-csv").click()
    lines = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("item,sentence,answer") and len(lines) == 6


def test_a_generation_trace_stepped_through(page):
    page.get_by_role("tab", name="Write").click()
    page.locator("#gen-run").click()
    expect = sync_api.expect
    expect(page.locator("#gen-summary")).to_contain_text("wrote")
    # The default: Gibbs, 3 sweeps over the default prompt's blanks.
    steps = 3 * activities.DEFAULT_PROMPT.count("[MASK]")
    expect(page.locator("#gen-summary")).not_to_contain_text("[MASK]")
    expect(page.locator("#gen-step-text")).to_contain_text(f"Step {steps}:")
    number = page.locator("#gen-step input[type=number]")
    for step in ("3", "1", "0"):
        number.fill(step)
        number.press("Enter")
        expected = "Start:" if step == "0" else f"Step {step}:"
        expect(page.locator("#gen-step-text")).to_contain_text(expected)
    expect(page.locator("#gen-strip")).to_contain_text(f"Step 0 of {steps}")
    expect(page.locator("#gen-pll")).to_contain_text("sweep")


def test_the_default_model_side_by_side_with_one_fine_tuned_here(page):
    expect = sync_api.expect
    page.get_by_role("tab", name="Fine-tune").click()
    steps = page.locator("#ft-steps input[type=number]")
    steps.fill("5")
    steps.press("Enter")
    page.locator("#ft-start").click()
    expect(page.locator("#ft-status")).to_contain_text("Done", timeout=180_000)
    # A finished run reaches the other tabs only when the user chooses it.
    page.locator("#ft-use").click()
    expect(page.locator("#model-status")).to_contain_text("ine-tuned", timeout=30_000)
    page.get_by_role("tab", name="Class").click()
    page.get_by_role("tab", name="Compare").click()
    expect(page.locator("#cmp-model-b input")).to_have_value(re.compile("Fine-tuned in this session"))
    # A laptop shows the long name whole in its box (each box as wide as its column), no second line.
    scroll, client = page.evaluate(FULL_NAME_JS, "#cmp-model-b")
    assert scroll <= client, f"the name is cut ({scroll} px of text in a {client} px box)"
    expect(page.locator("#cmp-model-names")).to_be_hidden()
    _box(page, "cmp-text").fill("the cat [MASK] on the mat .")
    page.locator("#cmp-models-run").click()
    line = page.locator("#cmp-models-line")
    expect(line).to_contain_text("B = the model fine-tuned in this session")
    expect(line).to_contain_text(re.compile("They (agree|disagree)"))
    expect(page.locator("#cmp-models-plot")).to_contain_text("one scale")
    expect(page.locator("#cmp-models-table")).to_contain_text("p(B)")


def test_a_link_opens_an_activity_readable_on_a_phone(browser_app):
    """``?tab=class&activity=write`` opens Write; at 390 px inputs and results stack, no sideways scroll."""
    browser, url = browser_app
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.set_default_timeout(TIMEOUT_MS)
    phone.goto(url + "?tab=class&activity=write&__theme=dark")
    expect = sync_api.expect
    expect(phone.get_by_role("tab", name="Class", exact=True)).to_have_attribute("aria-selected", "true")
    expect(phone.get_by_role("tab", name="Write", exact=True)).to_have_attribute("aria-selected", "true")
    expect(phone.locator("#gen-run")).to_be_visible()
    expect(phone.locator("#gen-summary")).to_contain_text("wrote")  # a link to Write writes on open
    phone.locator("#gen-run").click()
    expect(phone.locator("#gen-summary")).to_contain_text("wrote")
    expect(phone.locator("#gen-step")).to_be_visible()
    step, run = phone.locator("#gen-step").bounding_box(), phone.locator("#gen-run").bounding_box()
    assert step["y"] > run["y"] + run["height"] and step["width"] > 300  # stacked, full width
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.get_by_role("tab", name="Quiz", exact=True).click()
    phone.locator("#quiz-start").click()
    expect(phone.locator("#quiz-progress")).to_contain_text("Item 1 of 5")
    expect(phone.locator("#quiz-bars")).to_be_visible()
    guess, bars = phone.locator("#quiz-guess").bounding_box(), phone.locator("#quiz-bars").bounding_box()
    assert bars["y"] > guess["y"] and bars["width"] > 300
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.locator("#copy-link").click()
    expect(phone.locator("#link-box textarea, #link-box input").first).to_have_value(
        re.compile(r"tab=class&activity=quiz")
    )
    phone.close()



def test_fine_tune_metrics_and_compare_names_fit_a_phone(browser_app):
    """At 390 px the before/after metrics fit without scrolling sideways, and both compared models are
    named in full (the box cuts a long name on a phone, the line under the boxes spells it out)."""
    browser, url = browser_app
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.set_default_timeout(TIMEOUT_MS)
    phone.goto(url + "?tab=finetune")
    expect = sync_api.expect
    steps = phone.locator("#ft-steps input[type=number]")
    steps.fill("5")
    steps.press("Enter")
    phone.locator("#ft-start").click()
    expect(phone.locator("#ft-status")).to_contain_text("Done", timeout=180_000)
    metrics = phone.locator("#ft-metrics")
    expect(metrics).to_contain_text("perplexity")
    expect(metrics).to_contain_text("after")
    scroll, client = phone.evaluate(NO_SIDEWAYS_JS, "#ft-metrics")
    assert scroll <= client, f"the metrics table scrolls sideways at 390 px ({scroll} > {client})"
    phone.locator("#ft-use").click()
    expect(phone.locator("#model-status")).to_contain_text("ine-tuned", timeout=30_000)
    phone.get_by_role("tab", name="Class", exact=True).click()
    phone.get_by_role("tab", name="Compare", exact=True).click()
    box = phone.locator("#cmp-model-b input")
    expect(box).to_have_value(re.compile("Fine-tuned in this session: .+ steps"))
    name = box.input_value()
    assert len(name) > 45  # longer than a phone's box shows
    names = phone.locator("#cmp-model-names")
    expect(names).to_be_visible()
    expect(names).to_contain_text(f"B: {name}")
    assert names.bounding_box()["width"] <= 390
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    phone.close()

