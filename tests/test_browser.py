"""The app in a real browser: Playwright driving Debian's Chromium, headless.

One walk through the tabs as a student would click: type, click a token chip to
mask it, predict and see bars; re-roll the policy; switch the attention layer;
and make sure a token like ``<img src=x onerror=alert(1)>`` stays text.
The tiny RoBERTa is used because its byte-level vocabulary keeps ``<`` and
``>`` as they are (the tiny BERT would read them as [UNK]).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.browser_support import BROWSER_MARKS, CHROMIUM, LAUNCH_ARGS

pytestmark = BROWSER_MARKS
sync_api = pytest.importorskip("playwright.sync_api")

from tests.app_server import running_app  # noqa: E402

HOSTILE = "<img src=x onerror=alert(1)> <b>bold</b> [MASK]"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def app_url(tiny_roberta_dir: Path):
    with running_app(tiny_roberta_dir) as url:
        yield url


@pytest.fixture(scope="module")
def page(app_url: str):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        pg = browser.new_page(viewport={"width": 1280, "height": 720})
        pg.set_default_timeout(TIMEOUT_MS)
        dialogs: list[str] = []
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pg.dialogs = dialogs
        pg.goto(app_url)
        yield pg
        browser.close()


def _chip_texts(page, container: str) -> list[str]:
    return page.locator(f"{container} .token .text").all_inner_texts()


def _type(page, selector: str, text: str) -> None:
    box = page.locator(f"{selector} textarea")
    box.fill(text)
    box.dispatch_event("input")


def test_click_a_token_to_mask_it_and_predict(page):
    page.get_by_text("<mask>").first.wait_for()  # chips of the example, drawn on load
    _type(page, "#fill-text", "the cat sat on the mat .")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#fill-chips .token .text')].map(e => e.textContent).join('')"
        ".includes('cat')"
    )
    chips = page.locator("#fill-chips .token")
    chips.nth(1).click()
    positions = page.locator("#fill-positions textarea, #fill-positions input").first
    sync_api.expect(positions).to_have_value(re.compile(r"^\d+$"))
    sync_api.expect(page.locator("#fill-chips .token").nth(1)).to_have_attribute(
        "style", re.compile("230, 159, 0")  # the "masked" colour
    )
    page.locator("#fill-predict").click()
    bars = page.locator("#fill-bars .main-svg").first
    bars.wait_for()
    sync_api.expect(page.locator("#fill-bars")).to_contain_text("position")
    assert page.locator("#fill-bars .bars path").count() >= 1


def _predict_fill(page, text: str, position: str) -> None:
    """Predict ``text`` and wait for its table (the page opens with a table of its own)."""
    _type(page, "#fill-text", text)
    page.locator("#fill-predict").click()
    first_cell = page.locator("#fill-table tbody tr").first.locator("td").first
    sync_api.expect(first_cell).to_have_text(position)


def _download_csv(page) -> list[str]:
    with page.expect_download() as download:  # written now, when the button is pressed
        page.locator("#fill-csv").click()
    assert download.value.suggested_filename.endswith(".csv")
    return Path(download.value.path()).read_text(encoding="utf-8").splitlines()


def test_download_csv_is_written_when_pressed(page):
    page.get_by_role("tab", name="Fill", exact=True).click()
    _predict_fill(page, "the cat sat on the mat and the <mask> .", "9")
    first = _download_csv(page)
    assert first[0].startswith("pos.,") and [r.split(",")[0] for r in first[1:]] == ["9"]
    # A new result, a new file: the download is of this table, not the previous one.
    _predict_fill(page, "the <mask> sat on the mat .", "2")
    second = _download_csv(page)
    assert second[0] == first[0] and [r.split(",")[0] for r in second[1:]] == ["2"]


def test_reroll_the_policy(page):
    page.get_by_role("tab", name="80/10/10").click()
    page.locator("#policy-reroll").click()
    seed = page.get_by_label("Seed")
    sync_api.expect(seed).to_have_value("1")
    sync_api.expect(page.locator("#policy-note")).to_contain_text("Accuracy over the")
    assert len(_chip_texts(page, "#policy-chips")) > 5


def test_switch_the_attention_layer(page):
    page.get_by_role("tab", name="Attention").click()
    page.locator("#attn-run").click()
    sync_api.expect(page.locator("#attn-plot")).to_contain_text("Layer 0, head 0")
    number = page.locator("#attn-layer input[type=number]")
    number.fill("1")
    number.press("Enter")
    sync_api.expect(page.locator("#attn-plot")).to_contain_text("Layer 1, head 0")


def test_user_markup_stays_text(page):
    page.get_by_role("tab", name="Fill", exact=True).click()
    _type(page, "#fill-text", HOSTILE)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#fill-chips .token .text')].map(e => e.textContent).join('')"
        ".includes('onerror')"
    )
    chips = "".join(_chip_texts(page, "#fill-chips"))
    assert "<" in chips and "onerror" in chips  # shown literally, as characters
    page.locator("#fill-predict").click()
    sync_api.expect(page.locator("#fill-table")).to_contain_text("<mask>")
    page.get_by_role("tab", name="Attention").click()
    _type(page, "#attn-text", HOSTILE)
    page.locator("#attn-run").click()
    sync_api.expect(page.locator("#attn-plot")).to_contain_text("<")
    page.wait_for_timeout(500)  # give an injected onerror handler time to fire
    assert page.dialogs == []
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#fill-chips b, #attn-plot b").count() == 0
