"""In a real browser: hostile markup typed into every other text field never runs or renders.

``tests/test_browser.py`` covers the Fill and Attention tabs; this walks the rest
(policy, score, the model-name field and its status line and toast, the
fine-tune paste box and probes). Pass: no dialog, no ``<img src=x>`` element, no
bold element made from user text.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import BROWSER_MARKS, CHROMIUM, LAUNCH_ARGS

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api")

from tests.app_server import running_app  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b> <script>alert(2)</script>"


@pytest.fixture(scope="module")
def page(tiny_roberta_dir: Path):
    with running_app(tiny_roberta_dir, allow_local_paths=False) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 720})
        pg.set_default_timeout(30_000)
        pg.dialogs = []
        pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
        pg.goto(url)
        yield pg
        browser.close()


def _fill(page, selector: str, text: str) -> None:
    box = page.locator(f"{selector} textarea, {selector} input").first
    box.fill(text)
    box.dispatch_event("input")


def _no_injected_markup(page) -> None:
    page.wait_for_timeout(500)  # give an injected handler time to fire
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("script:text('alert(2)')").count() == 0
    bold = page.locator("b, strong").all_inner_texts()
    assert "bold" not in bold


def test_policy_tab(page):
    page.get_by_role("tab", name="80/10/10").click()
    _fill(page, "#policy-text", HOSTILE + " the cat sat on the mat")
    page.locator("#policy-apply").click()
    sync_api.expect(page.locator("#policy-note")).to_contain_text("Accuracy over the")
    _no_injected_markup(page)


def test_score_tab(page):
    page.get_by_role("tab", name="Score").click()
    _fill(page, "#score-a", HOSTILE)
    _fill(page, "#score-b", "<b>bold</b> " + HOSTILE)
    page.locator("#score-run").click()
    sync_api.expect(page.locator("#score-strip-a")).to_contain_text("PLL")
    _no_injected_markup(page)


def test_model_name_field(page):
    # No "/" in it, so it is judged as an id (and echoed) rather than refused as a path.
    _fill(page, "#model-name", "<img src=x onerror=alert(1)><b>bold<b>")
    page.locator("#model-load").click()
    sync_api.expect(page.locator("#model-status")).to_contain_text("not a valid Hugging Face id")
    assert "<img" in page.locator("#model-status").inner_text()  # shown as characters
    _no_injected_markup(page)


def test_finetune_paste_and_probes(page):
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_label("Paste text").check()
    _fill(page, "#ft-paste", HOSTILE)
    _fill(page, "#ft-probes", HOSTILE + " <mask>")
    page.locator("#ft-start").click()
    sync_api.expect(page.locator("#ft-status")).to_contain_text("Done", timeout=120_000)
    _no_injected_markup(page)
