"""Take the README's screenshots of the Class tab: Quiz, Write and Compare at 1280 px wide.

    python docs/screenshots/make_class_screenshots.py [MODEL_FOLDER]

Starts the app on loopback (default model: ``assets/model``), plays one quiz
item, writes with Gibbs sampling, fine-tunes the model for a few steps on the
bundled recipes sample and compares it with the original ("before vs after"),
in headless Chromium (Debian's ``chromium``), and writes PNGs beside this file.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.app_server import running_app  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 180_000


def _box(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def shoot(url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)
        page.goto(url)
        page.get_by_role("tab", name="Class").click()

        page.locator("#quiz-start").click()
        expect(page.locator("#quiz-progress")).to_contain_text("Item 1 of 5")
        _box(page, "quiz-guess").fill("water, fire")
        page.locator("#quiz-reveal").click()
        expect(page.locator("#quiz-result")).to_contain_text("hidden word")
        page.wait_for_timeout(1500)
        page.screenshot(path=HERE / "class-quiz.png", full_page=True)

        page.get_by_role("tab", name="Write").click()
        page.locator("#gen-run").click()
        expect(page.locator("#gen-summary")).to_contain_text("wrote")
        number = page.locator("#gen-step input[type=number]")
        number.fill("12")
        number.press("Enter")
        expect(page.locator("#gen-step-text")).to_contain_text("Step 12:")
        page.wait_for_timeout(1500)
        page.screenshot(path=HERE / "class-write.png", full_page=True)

        page.get_by_role("tab", name="Fine-tune").click()
        steps = page.locator("#ft-steps input[type=number]")
        steps.fill("40")
        steps.press("Enter")
        page.locator("#ft-start").click()
        expect(page.locator("#ft-status")).to_contain_text("Done")
        page.get_by_role("tab", name="Class").click()
        page.get_by_role("tab", name="Compare").click()
        expect(page.locator("#cmp-model-b input")).to_have_value(re.compile("Fine-tuned in this session"))
        page.locator("#cmp-models-run").click()
        expect(page.locator("#cmp-models-line")).to_contain_text("They")
        page.locator("#cmp-sents-run").click()
        expect(page.locator("#cmp-sents-line")).to_contain_text("They")
        page.wait_for_timeout(1500)
        page.screenshot(path=HERE / "class-compare.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "model"
    with running_app(model, allow_local_paths=False) as url:
        shoot(url)
