"""Take the README's screenshots: every tab at 1280×720 and 390×844, light and dark.

    python docs/screenshots/make_screenshots.py [MODEL_FOLDER] [--only TAB ...]

Starts the app on loopback (default model: ``assets/model``), drives it in
headless Chromium (Debian's ``chromium``) and writes PNGs beside this file:
``<tab>.png`` (1280 px, light), ``<tab>-dark.png``, ``<tab>-390.png`` and
``<tab>-390-dark.png``. Every tab on the strip is taken, including tabs added
later (``--only Fine-tune`` takes just that tab, ``--only Class`` the Class
pictures); the ones below get an action first so they show a result. The Class
tab is taken once per activity (``class-quiz``, ``class-write``,
``class-compare``): a quiz item revealed, a Gibbs trace stepped back, and the
model fine-tuned for a few steps compared with itself before ("before vs
after") and on a probe pair.
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


def _box(page, elem_id: str):
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def _quiz(page) -> None:
    page.get_by_role("tab", name="Quiz", exact=True).click()
    page.locator("#quiz-start").click()
    expect(page.locator("#quiz-progress")).to_contain_text("Item 1 of 5")
    _box(page, "quiz-guess").fill("water, fire")
    page.locator("#quiz-reveal").click()
    expect(page.locator("#quiz-result")).to_contain_text("hidden word")


def _write(page) -> None:
    page.get_by_role("tab", name="Write", exact=True).click()
    page.locator("#gen-run").click()
    expect(page.locator("#gen-summary")).to_contain_text("wrote")
    number = page.locator("#gen-step input[type=number]")
    number.fill("12")
    number.press("Enter")
    expect(page.locator("#gen-step-text")).to_contain_text("Step 12:")


def _compare(page) -> None:
    page.get_by_role("tab", name="Fine-tune", exact=True).click()
    steps = page.locator("#ft-steps input[type=number]")
    steps.fill("20")
    steps.press("Enter")
    page.locator("#ft-start").click()
    expect(page.locator("#ft-status")).to_contain_text("Done", timeout=300_000)
    page.locator("#ft-use").click()  # only "Use this model" hands it to the other tabs
    expect(page.locator("#model-status")).to_contain_text(re.compile("fine-tuned", re.I))
    page.get_by_role("tab", name="Class", exact=True).click()
    page.get_by_role("tab", name="Compare", exact=True).click()
    expect(page.locator("#cmp-model-b input")).to_have_value(re.compile("Fine-tuned in this session"))
    page.locator("#cmp-models-run").click()
    expect(page.locator("#cmp-models-line")).to_contain_text("They")
    page.locator("#cmp-sents-run").click()
    expect(page.locator("#cmp-sents-line")).to_contain_text("They")
    page.mouse.move(0, 0)  # no hover box over a bar


def _inside_layers(page) -> None:
    page.get_by_role("tab", name="Layer by layer").click()
    page.locator("#inside-layers-run").click()
    page.locator("#inside-layers-plot .main-svg").first.wait_for()


#: Tabs with several pictures: (file name, action) each, taken in this order.
SUB_SHOTS = {
    "Class": [("class-quiz", _quiz), ("class-write", _write), ("class-compare", _compare)],
    "Inside": [("inside-layers", _inside_layers)],
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
            expect.set_options(timeout=60_000)
            page.goto(url + ("?__theme=dark" if dark else ""))
            page.locator("#fill-bars .main-svg").first.wait_for()  # the result drawn on open
            labels = page.get_by_role("tablist").first.get_by_role("tab").all_inner_texts()
            for label in labels:
                label = label.strip()
                if only and label not in only:
                    continue
                page.get_by_role("tab", name=label, exact=True).click()
                page.wait_for_timeout(800)
                for name, action in SUB_SHOTS.get(label, []):
                    action(page)
                    page.wait_for_timeout(1500)
                    path = HERE / f"{name}{suffix}.png"
                    page.screenshot(path=path, full_page=True)
                    taken.append(path)
                if label in SUB_SHOTS:
                    continue
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
