"""Take the README's screenshots: every tab at 1280×720 and 390×844, light and dark.

    python docs/screenshots/make_screenshots.py [MODEL_FOLDER] [--only TAB ...]

Starts the app on loopback (default model: ``assets/model``), drives it in
headless Chromium (Debian's ``chromium``) and writes PNGs beside this file:
``<tab>.png`` (1280 px, light), ``<tab>-dark.png``, ``<tab>-390.png`` and
``<tab>-390-dark.png``. Every tab on the strip is taken, including tabs added
later (``--only Fine-tune`` takes just that tab); the ones below get an action
first so they show a result.
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
VARIANTS = [  # (width, height, dark, file suffix)
    (1280, 720, False, ""),
    (1280, 720, True, "-dark"),
    (390, 844, False, "-390"),
    (390, 844, True, "-390-dark"),
]
TAB_FILES = {"Fill": "fill", "80/10/10": "policy", "Score": "score", "Fine-tune": "finetune"}


def _type(page, selector: str, text: str) -> None:
    box = page.locator(f"{selector} textarea").first
    box.fill(text)
    box.dispatch_event("input")


def _fill(page) -> None:
    _type(page, "#fill-text", "The woman worked as a [MASK] in the [MASK].")
    page.wait_for_timeout(1500)
    page.locator("#fill-chips .token").nth(2).click()  # mask "worked" by clicking it
    page.wait_for_timeout(800)
    page.locator("#fill-predict").click()
    expect(page.locator("#fill-bars")).to_contain_text("position 3")


def _policy(page) -> None:
    page.locator("#policy-apply").click()
    expect(page.locator("#policy-note")).to_contain_text("Accuracy")
    page.get_by_text("Draw 1,000 times: do the rates").click()
    page.get_by_role("button", name="Draw 1,000 times", exact=True).click()
    page.wait_for_timeout(3000)


def _attention(page) -> None:
    expect(page.locator("#attn-plot")).to_contain_text("Layer 0")  # drawn on open
    page.get_by_text("all heads of the layer").click()
    expect(page.locator("#attn-plot")).to_contain_text("all 12 heads")


def _score(page) -> None:
    page.locator("#score-run").click()
    expect(page.locator("#score-strip-a")).to_contain_text("PLL")


def _finetune(page) -> None:
    # Two short runs, so the loss figure shows an earlier run under the current one.
    steps = page.locator("#ft-steps input[type=number]")
    for start_from in ["Current model", "Fresh random model (watch it learn)"]:
        page.locator("#ft-start-from").get_by_text(start_from, exact=True).click()
        page.wait_for_timeout(500)
        steps.fill("30")
        steps.press("Enter")
        page.wait_for_timeout(500)
        page.locator("#ft-start").click()
        expect(page.locator("#ft-status")).not_to_contain_text("Done")  # the earlier run's
        expect(page.locator("#ft-status")).to_contain_text("Done", timeout=120_000)
    page.locator("#ft-status").scroll_into_view_if_needed()


ACTIONS = {
    "Fill": _fill, "80/10/10": _policy, "Attention": _attention, "Score": _score, "Fine-tune": _finetune
}


def _file_name(label: str) -> str:
    return TAB_FILES.get(label) or re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")


def shoot(url: str, only: list[str] | None = None) -> list[Path]:
    taken = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for width, height, dark, suffix in VARIANTS:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(60_000)
            page.goto(url + ("?__theme=dark" if dark else ""))
            page.locator("#fill-bars .main-svg").first.wait_for()  # the result drawn on open
            labels = page.get_by_role("tab").all_inner_texts()
            for label in labels:
                label = label.strip()
                if only and label not in only:
                    continue
                page.get_by_role("tab", name=label, exact=True).click()
                page.wait_for_timeout(800)
                if label in ACTIONS:
                    ACTIONS[label](page)
                page.wait_for_timeout(1200)
                path = HERE / f"{_file_name(label)}{suffix}.png"
                page.screenshot(path=path, full_page=True)
                taken.append(path)
            page.close()
        browser.close()
    return taken


def main() -> None:
    args = sys.argv[1:]
    only = args[args.index("--only") + 1:] if "--only" in args else None
    args = args[: args.index("--only")] if "--only" in args else args
    model = Path(args[0]) if args else ROOT / "assets" / "model"
    with running_app(model) as url:
        taken = shoot(url, only)
    print("\n".join(str(p.relative_to(ROOT)) for p in taken))


if __name__ == "__main__":
    main()
