"""The Inside tab in a real browser: each view renders, and user markup stays text.

Carries the Fill tab's sentence over with one click, runs the four views on
it, then again on ``<img src=x onerror=alert(1)>`` typed in. The tiny
RoBERTa keeps ``<`` and ``>`` as characters (the tiny BERT reads [UNK]).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser_support import BROWSER_MARKS, CHROMIUM, LAUNCH_ARGS

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api")

from tests.app_server import running_app  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b> [MASK]"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def page(tiny_roberta_dir: Path):
    with running_app(tiny_roberta_dir) as url, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.set_default_timeout(TIMEOUT_MS)
        sync_api.expect.set_options(timeout=TIMEOUT_MS)  # plotly draws after the first load of its bundle
        dialogs: list[str] = []
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pg.dialogs = dialogs
        pg.goto(url)
        yield pg
        browser.close()


def _type(page, selector: str, text: str) -> None:
    box = page.locator(f"{selector} textarea, {selector} input").first
    box.fill(text)
    box.dispatch_event("input")


def _run_all_views(page, expect_in_plots: str) -> None:
    """Run the four views; ``expect_in_plots`` is a piece of the input the token axes must show."""
    page.get_by_role("tab", name="Layer by layer").click()
    page.locator("#inside-layers-run").click()
    sync_api.expect(page.locator("#inside-layers-plot")).to_contain_text("embeddings")
    sync_api.expect(page.locator("#inside-layers-note")).to_contain_text("first choice")

    page.get_by_role("tab", name="Which words mattered").click()
    page.locator("#inside-saliency-run").click()
    sync_api.expect(page.locator("#inside-saliency-plot")).to_contain_text("integrated gradients")
    sync_api.expect(page.locator("#inside-saliency-note")).to_contain_text("add up to")
    sync_api.expect(page.locator("#inside-saliency-plot")).to_contain_text(expect_in_plots)

    page.get_by_role("tab", name="Masked vs unmasked attention").click()
    page.locator("#inside-attention-run").click()
    sync_api.expect(page.locator("#inside-attention-grid")).to_contain_text("head")
    sync_api.expect(page.locator("#inside-attention-plot")).to_contain_text("unmasked − masked")
    sync_api.expect(page.locator("#inside-attention-plot")).to_contain_text(expect_in_plots)

    page.get_by_role("tab", name="The tokenizer").click()
    page.locator("#inside-tokens-run").click()
    sync_api.expect(page.locator("#inside-tokens-chips")).to_contain_text("<s>")
    sync_api.expect(page.locator("#inside-tokens-table")).to_contain_text(expect_in_plots)


def test_each_view_renders_the_fill_tab_sentence(page):
    page.get_by_text("<mask>").first.wait_for()  # the Fill tab's chips, drawn on load
    page.get_by_role("tab", name="Inside").click()
    _type(page, "#inside-text", "")
    page.locator("#inside-carry").click()
    box = page.locator("#inside-text textarea")
    sync_api.expect(box).to_have_value("The capital of France is [MASK].")
    _type(page, "#inside-positions", "2")  # a word to hide for the attention comparison
    _run_all_views(page, "cap")  # the tiny vocabulary splits "capital" into Ġcap + ital
    assert page.dialogs == []


def test_user_markup_stays_text_in_every_view(page):
    page.get_by_role("tab", name="Inside").click()
    _type(page, "#inside-text", HOSTILE)
    _type(page, "#inside-positions", "3")
    _run_all_views(page, "<")
    page.wait_for_timeout(500)  # give an injected onerror handler time to fire
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    inside = ", ".join(
        f"#inside-{part} b" for part in ("layers-plot", "saliency-plot", "attention-plot", "tokens-table")
    )
    # Our own bold (the final answer) is allowed in the layer heatmap; the user's <b>bold</b> is not.
    assert all(t != "bold" for t in page.locator(inside).all_inner_texts())
