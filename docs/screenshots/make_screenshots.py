"""Take the README's screenshots: each tab at 1280×720, and the Fill tab at 390 px wide.

    python docs/screenshots/make_screenshots.py [MODEL_FOLDER]

Starts the app on loopback (default model: ``assets/model``), drives it in
headless Chromium (Debian's ``chromium``) and writes PNGs beside this file.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import expect, sync_playwright  # noqa: E402

from tests.app_server import running_app  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _type(page, selector: str, text: str) -> None:
    box = page.locator(f"{selector} textarea").first
    box.fill(text)
    box.dispatch_event("input")


def shoot(url: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.set_default_timeout(60_000)
        page.goto(url)
        page.locator("#fill-chips .token").first.wait_for()
        _type(page, "#fill-text", "The woman worked as a [MASK] in the [MASK].")
        page.wait_for_timeout(1500)
        page.locator("#fill-chips .token").nth(2).click()  # mask "worked" by clicking it
        page.wait_for_timeout(800)
        page.locator("#fill-predict").click()
        page.locator("#fill-bars .main-svg").first.wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=HERE / "fill.png", full_page=True)

        page.get_by_role("tab", name="80/10/10 policy").click()
        page.locator("#policy-apply").click()
        expect(page.locator("#policy-note")).to_contain_text("Accuracy")
        page.get_by_text("Draw 1,000 times: do the rates").click()
        page.get_by_role("button", name="Draw 1,000 times", exact=True).click()
        page.wait_for_timeout(3000)
        page.screenshot(path=HERE / "policy.png", full_page=True)

        page.get_by_role("tab", name="Attention").click()
        page.locator("#attn-run").click()
        expect(page.locator("#attn-plot")).to_contain_text("Layer 0")
        page.get_by_text("all heads of the layer").click()
        page.wait_for_timeout(2500)
        page.screenshot(path=HERE / "attention.png", full_page=True)

        page.get_by_role("tab", name="Sentence score").click()
        page.locator("#score-run").click()
        expect(page.locator("#score-strip-a")).to_contain_text("PLL")
        page.wait_for_timeout(1000)
        page.screenshot(path=HERE / "score.png", full_page=True)

        page.get_by_role("tab", name="Fine-tune").click()
        page.wait_for_timeout(1000)
        page.screenshot(path=HERE / "finetune.png", full_page=True)

        page.get_by_role("tab", name="About").click()
        page.wait_for_timeout(1000)
        page.screenshot(path=HERE / "about.png", full_page=True)

        phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        phone.set_default_timeout(60_000)
        phone.goto(url)
        phone.locator("#fill-chips .token").first.wait_for()
        phone.locator("#fill-predict").click()
        phone.locator("#fill-bars .main-svg").first.wait_for()
        phone.wait_for_timeout(1000)
        phone.screenshot(path=HERE / "fill-390.png", full_page=True)
        browser.close()


def main() -> None:
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "assets" / "model"
    with running_app(model) as url:
        shoot(url)
    print("\n".join(str(p.relative_to(ROOT)) for p in sorted(HERE.glob("*.png"))))


if __name__ == "__main__":
    main()
