"""How the app looks on the page that asked: theme, screen width, projector mode, and state links.

The browser tells the server what it is once, when a page opens (a small
script reads the theme, the width and the query string); the answer lives in
the session (``session.extras``), so every handler can fit its figures and
tables to that page: :func:`figure` and :func:`table`.

State links: a teacher's link such as ``?tab=fill&text=The+cat+sat+.&masks=2&k=5``
opens the app on that tab with those inputs. :class:`LinkField` says which
query parameter sets which input; reading and writing links are pure functions
over plain values in :mod:`mlm_explorer.links`, tested without a browser.

Colours come from :mod:`mlm_explorer.plots` (one meaning each, stated once by
:func:`legend_html`); the CSS here only makes Gradio's chips and tables follow them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import pandas as pd

from mlm_explorer import plots
from mlm_explorer.links import MAX_LINK_TEXT as MAX_LINK_TEXT  # re-exported: the tabs read links here
from mlm_explorer.links import LinkField, read_link
from mlm_explorer.links import make_link as make_link
from mlm_explorer.ui.state import Session
from mlm_explorer.views import PHONE_COLUMNS, display_table

if TYPE_CHECKING:
    import gradio as gr

LOOK_KEY = "look"  # session.extras key of this page's plots.Look
NARROW_MAX_PX = 600  # a phone held upright; tablets and laptops get the full layout


# ------------------------------------------------------------------ the page's look


def page_look(page: object) -> plots.Look:
    """The :class:`plots.Look` of a page from what its browser reported (a JSON string or dict)."""
    info = _page_info(page)
    params = dict(parse_qsl(str(info.get("search", "")).lstrip("?")))
    width = info.get("width")
    return plots.Look(
        dark=bool(info.get("dark")),
        projector=params.get("projector", "") in {"1", "true", "yes", "on"},
        narrow=isinstance(width, (int, float)) and 0 < width < NARROW_MAX_PX,
    )


def _page_info(page: object) -> dict:
    if isinstance(page, dict):
        return page
    try:
        info = json.loads(page) if isinstance(page, str) and page else {}
    except ValueError:
        info = {}
    return info if isinstance(info, dict) else {}


def session_look(session: Session) -> plots.Look:
    look = session.extras.get(LOOK_KEY) if session is not None else None
    return look if isinstance(look, plots.Look) else plots.DEFAULT_LOOK


def figure(fig, session: Session):
    """``fig`` restyled for this session's page (dark theme, projector text, phone width)."""
    return plots.apply_look(fig, session_look(session))


def table(frame: pd.DataFrame, session: Session, phone_columns: Sequence[str] = PHONE_COLUMNS):
    """``frame`` as this session's page shows it: percentages, no empty columns, few on a phone
    (``phone_columns``: the ones this table keeps there)."""
    return display_table(frame, narrow=session_look(session).narrow, phone_columns=phone_columns)


def columns(session: Session, wide: int, narrow: int = 1) -> int:
    """How many panels side by side a grid of figures gets on this page."""
    return narrow if session_look(session).narrow else wide


# ------------------------------------------------------------------ state links


def parse_link(search: str, fields: Sequence[LinkField], tabs: Sequence[str]) -> tuple[str | None, list]:
    """The tab and one value per field a link asks for (None = leave it); see :func:`links.read_link`,
    which also says what did not fit."""
    state = read_link(search, fields, tabs)
    return state.tab, list(state.values)


LINKED_KEY = "linked"  # session.extras: {(tab, field name): value} a link has just set


def remember_linked(session: Session, fields: Sequence[LinkField], values: Sequence) -> None:
    """Note the values a link set, so a ``.change`` handler can tell them from the user's typing."""
    pairs = zip(fields, values, strict=True)
    session.extras[LINKED_KEY] = {(f.tab, f.name): v for f, v in pairs if v is not None}


def linked_value(session: Session, tab: str, name: str) -> object | None:
    """What the page's link put in the input ``name`` of ``tab`` (None: the link did not set it or it
    was consumed); unlike the input itself, no event in the browser can have changed it since."""
    return (session.extras.get(LINKED_KEY) or {}).get((tab, name))


def consume_linked(session: Session, tab: str, name: str, value: object) -> bool:
    """True (once) when ``value`` is what a link just put in the input ``name`` of ``tab``."""
    linked = session.extras.get(LINKED_KEY) or {}
    if (tab, name) in linked and linked[(tab, name)] == value:
        del linked[(tab, name)]
        return True
    return False


# ------------------------------------------------------------------ legend and CSS


LEGEND_ITEMS: tuple[tuple[str, str], ...] = (
    (plots.MASKED_COLOR, "masked (hidden)"),
    (plots.RANDOM_COLOR, "random token"),
    (plots.KEPT_COLOR, "kept as is"),
    (plots.ORIGINAL_COLOR, "original (true) token"),
    (plots.GUESS_COLOR, "model's other guesses"),
)


def legend_html() -> str:
    """The one legend of the app's colours (constants only: nothing user-typed goes in here)."""
    swatches = "".join(
        f'<span class="swatch" style="background:{color};color:{plots.text_color_on(color)}">{label}</span>'
        for color, label in LEGEND_ITEMS
    )
    scale = '<span class="scale"><span class="ramp"></span> amounts: dark = low, bright = high</span>'
    return (
        f'<div class="legend" role="note" aria-label="Colours used in this app"><b>Colours:</b> '
        f"{swatches}{scale}</div>"
    )


def _rgb(hex_color: str) -> str:
    h = hex_color.lstrip("#")
    return ", ".join(str(int(h[i : i + 2], 16)) for i in (0, 2, 4))


def _chip_css() -> str:
    """Opaque chips with readable text: Gradio paints chips at half opacity (3.8:1 on orange)."""
    rules = []
    for color in plots.ACTION_COLORS.values():
        text = plots.text_color_on(color)
        rgb = _rgb(color)
        parts = [f'.chips .token[style*="rgba({rgb},"]', f'.chips .token[style*="rgb({rgb})"]']
        rules.append(f"{', '.join(parts)} {{ background-color: {color} !important; }}")
        rules.append(f"{', '.join(p + ' .text' for p in parts)} {{ color: {text} !important; }}")
        # The key above the chips (show_legend) is painted the same half-transparent way: dim on a
        # dark page, and then not quite the colour of the chips it names.
        key = f'.chips .legend-item[style*="rgba({rgb},"]'
        rules.append(f"{key} {{ background-color: {color} !important; color: {text} !important; }}")
    return "\n".join(rules)


CSS = f"""
/* Tabs wrap onto a second row instead of hiding behind a menu (8 tabs on a 390 px phone). */
.gradio-container .tab-wrapper, .gradio-container .tab-container {{ height: auto !important; }}
.gradio-container .tab-container {{ flex-wrap: wrap !important; row-gap: 2px; }}
.gradio-container .tab-container button {{ white-space: nowrap; }}
#app-title h1 {{ margin: 0 !important; font-size: 1.6rem; }}
#app-title p {{ margin: 0 !important; }}
#link-box textarea, #link-box input {{ font-size: 0.85rem; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 4px 8px; align-items: center; font-size: 0.85rem; }}
.legend .swatch {{ padding: 1px 8px; border-radius: 4px; white-space: nowrap; font-weight: 600; }}
.legend .scale {{ white-space: normal; }}
#app-header {{ align-items: center; flex-wrap: wrap !important; row-gap: 4px; }}
#app-title {{ flex: 1 1 280px !important; min-width: min(280px, 100%) !important; }}
#app-header > button {{ align-self: center; flex: 0 0 auto !important; }}
/* Two columns (inputs | results) side by side on a laptop, stacked on a phone. */
.gradio-container .two-up {{ flex-wrap: wrap !important; }}
.gradio-container .two-up > .column {{ min-width: min(330px, 100%) !important; }}
/* A text box with its buttons beside it; the buttons keep a readable width on a phone. */
.gradio-container .action-row {{ flex-wrap: wrap !important; }}
.gradio-container .action-row > .column {{ min-width: 110px !important; }}
#model-accordion {{ padding-top: 4px !important; padding-bottom: 4px !important; }}
.legend .ramp {{ display: inline-block; width: 64px; height: 0.8em; vertical-align: middle;
  border-radius: 2px;
  background: linear-gradient(to right, #440154, #3b528b, #21918c, #5ec962, #fde725); }}
{_chip_css()}
/* Tables: one-line headers, wrapped top-k, scroll inside the block rather than widen the page. */
.results-table th, .results-table th * {{ white-space: nowrap !important; }}
.results-table td:last-child {{ min-width: 14em; white-space: normal !important; }}
/* A result whose input changed since: dimmed, with a line that says so. */
.stale > * {{ opacity: 0.4; transition: opacity 0.2s; }}
.results.stale::before {{ content: "⟳ Out of date: the input changed. Press the button again to update.";
  display: block; font-weight: 600; padding: 2px 0; }}
/* A request that failed leaves the last result in place (under the framework's "Error" badges): dim
   it too, and say it is the older one; the reason is in the message box. */
.failed > * {{ opacity: 0.4; transition: opacity 0.2s; }}
.results.failed::before {{ content: "⚠️ Not updated: the last request failed (the message says why). "
  "What is below is the previous result."; display: block; font-weight: 600; padding: 2px 0; }}
/* Projector mode (?projector=1): larger text everywhere; figures are scaled on the server. */
body.projector .gradio-container {{ font-size: 1.25rem; }}
/* Gradio sizes labels, buttons, info lines and footnotes from its theme's --text-* scale (the Soft theme
   at "lg": 10 to 35 px), not from the container's font size: projector mode raises the whole scale by
   about 1.3, and a wide projector gets the width (1,280 px left a third of a 1,920 px screen empty). */
body.projector .gradio-container {{ max-width: min(1800px, 100vw) !important;
  --text-xxs: 13px; --text-xs: 16px; --text-sm: 18px; --text-md: 21px; --text-lg: 26px;
  --text-xl: 31px; --text-xxl: 36px;
  /* set again, not only inherited: a custom property that names another is resolved where it is set */
  --block-info-text-size: 18px; --block-label-text-size: 21px; --block-title-text-size: 21px;
  --body-text-size: 21px; --button-large-text-size: 26px; --button-medium-text-size: 21px;
  --button-small-text-size: 18px; --checkbox-label-text-size: 21px; --input-text-size: 21px;
  --prose-text-size: 21px; --section-header-text-size: 21px; }}
body.projector #legend .legend {{ font-size: 1.1rem; }}
body.projector #projector-mode::after {{ content: " ✓"; }}  /* the button says projector mode is on */
body.projector .results-table table, body.projector .results-table td, body.projector .results-table th
  {{ font-size: 1.2rem !important; }}
body.projector .chips .token {{ font-size: 1.35rem !important; }}
/* Footnotes under tables (<small> in Markdown) kept the browser's "smaller" of a 16 px default; on a
   projector they read at the info lines' size. */
body.projector .prose small, body.projector .md small {{ font-size: var(--text-sm) !important; }}
/* Projector tables at 1.2rem ran past their block (Inside's per-layer table by ~480 px at 1,280 px, the
   80/10/10 table by ~75 px): headers may break between words (never inside one) and the top-k column
   gives up its laptop minimum; the hidden sizing copy Gradio measures wraps the same way (see the phone
   rules below), so the columns share the width instead of scrolling sideways. Gradio repeats every
   rule here under ".gradio-container.gradio-container-<version> .contain" (4 classes): these name
   ".gradio-container .contain" too, so they outrank that copy of the laptop rules above. */
body.projector .gradio-container .contain .results-table th,
body.projector .gradio-container .contain .results-table th * {{ white-space: normal !important;
  word-break: normal !important; overflow-wrap: normal !important; }}
body.projector .gradio-container .contain .results-table td:last-child {{ min-width: 8em !important; }}
body.projector .gradio-container .contain .results-table .sizing-body td {{ white-space: normal !important; }}
/* A phone: the look keeps few columns (look.table); the last is no longer the wide top-k one, and a
   header may break between its words (never inside one), so the table fits 390 px without scrolling.
   Gradio sizes a table's columns from a hidden copy of its rows (".sizing-body") laid out on one line
   and 16 px wider than the cells shown: there the cells may wrap too, with the padding they really have,
   so the columns share the phone's width instead of running past it. */
@media (max-width: {NARROW_MAX_PX - 1}px) {{
  .results-table td:last-child {{ min-width: 0 !important; }}
  .results-table th, .results-table th * {{ white-space: normal !important; word-break: normal !important;
    overflow-wrap: normal !important; }}
  .table-wrap .sizing-body td {{ white-space: normal !important; padding-left: 0 !important;
    padding-right: 0 !important; }}
  .table-wrap {{ --input-text-size: 14px; }}  /* 16 px monospace: five short columns overflow 390 px */
  .table-wrap th {{ white-space: normal !important; }}  /* examples' headers too (Gradio: one line) */
  /* A closed accordion's open/close arrow (rotated, its box wider than the glyph) pokes 6 px past
     the box, which then scrolls sideways; only empty space is clipped. */
  .gr-accordion {{ overflow-x: hidden !important; }}
}}
/* Said again for a phone only (e.g. a long model name its narrow box cuts off). Inside a media
   query Gradio prefixes every selector with ".gradio-container... .contain": none may start with
   ".gradio-container" there, or it never matches; what lies outside ".contain" (the page's own
   margins) is in PAGE_CSS instead. */
@media (min-width: {NARROW_MAX_PX}px) {{
  .phone-only {{ display: none !important; }}
}}
@media (max-width: 480px) {{
  .tab-container button {{ padding: 4px 8px !important; font-size: 0.95rem; }}
  #app-title h1 {{ font-size: 1.3rem; }}
}}
"""

#: CSS that Gradio must not rewrite, sent in the page's ``<head>`` as written (see :func:`head_html`).
#: Gradio's own page keeps 32 px of margin each side of a 390 px phone; its CSS option cannot reach
#: that element from a media query (the prefix above), so a phone's margins are set here.
PAGE_CSS = """
@media (max-width: 480px) {
  .gradio-container .main.app { padding-left: 8px !important; padding-right: 8px !important; }
}
"""

#: Runs in the browser when a page opens: report the page to the server (theme, width,
#: query string), mark projector mode, fold the model picker on a phone.
PAGE_JS = f"""
() => {{
  const params = new URLSearchParams(window.location.search);
  const projector = ["1", "true", "yes", "on"].includes(params.get("projector") || "");
  document.body.classList.toggle("projector", projector);
  const width = window.innerWidth;
  if (width < {NARROW_MAX_PX}) {{
    const acc = document.querySelector("#model-accordion > button, #model-accordion .label-wrap");
    const open = document.querySelector("#model-accordion .label-wrap.open, #model-accordion > button.open");
    if (acc && (open || acc.getAttribute("aria-expanded") === "true")) acc.click();
  }}
  const dark = document.body.classList.contains("dark");
  return JSON.stringify({{dark, width, search: window.location.search}});
}}
"""

def head_html() -> str:
    """``<head>`` extras: :data:`PAGE_CSS`, and start fetching and compiling plotly.js while the page opens.

    Every page now opens with a figure drawn; Gradio loads its 4.5 MB plotly bundle
    only when the first plot mounts, which cost ~2 s after the result had arrived.
    A ``modulepreload`` overlaps that with the page's own start-up. The bundle's
    name carries a hash, so it is looked up in the installed Gradio (no file: no hint).
    """
    import gradio

    assets = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
    bundles = sorted(assets.glob("PlotlyPlot-*.js"))
    preload = f'<link rel="modulepreload" href="assets/{bundles[0].name}">' if bundles else ""
    return preload + f"<style>{PAGE_CSS}</style>"


#: After "Copy link": put the link in the address bar and on the clipboard.
COPY_JS = """
(query) => {
  if (!query) return query;
  const url = window.location.origin + window.location.pathname + query;
  window.history.replaceState(null, "", url);
  if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).catch(() => {});
  return url;
}
"""

#: After "Projector mode": reopen the same state with projector mode switched.
RELOAD_JS = """
(query) => {
  if (query) {
    // Gradio's theme is a query parameter too: the reopened page keeps it (dark stays dark).
    const theme = new URLSearchParams(window.location.search).get("__theme");
    const keep = theme && !query.includes("__theme=") ? "&__theme=" + encodeURIComponent(theme) : "";
    window.location.assign(window.location.origin + window.location.pathname + query + keep);
  }
  return query;
}
"""


@dataclass(frozen=True)
class TabParts:
    """What a tab's builder hands back to the page: its link fields and what to run on open."""

    links: list  # [(LinkField, component)]: inputs a state link can set
    on_open: object = None  # OnLoad run when every page opens (a first result), or None
    on_link: object = None  # OnLoad (or a list of them) run when a link opens this tab: its main action


def stale_js(*selectors: str) -> str:
    """Browser code that marks results out of date (their input changed since they were drawn)."""
    return _class_js(selectors, "add", "stale")


def fresh_js(*selectors: str) -> str:
    """Browser code that marks results current again (after the action ran)."""
    return _class_js(selectors, "remove", "stale", "failed")


def failed_js(*selectors: str) -> str:
    """Browser code that marks results as the ones before a request that failed."""
    return _class_js(selectors, "add", "failed")


def _class_js(selectors: Sequence[str], method: str, *names: str) -> str:
    targets, classes = json.dumps(list(selectors)), ", ".join(json.dumps(n) for n in names)
    return f"() => {{ for (const s of {targets}) document.querySelector(s)?.classList.{method}({classes}); }}"


def stale_on_examples(examples: gr.Examples, *selectors: str) -> None:
    """Loading an example changes the inputs without an ``input`` event: dim the results then too."""
    examples.dataset.click(None, None, None, js=stale_js(*selectors), api_name=False, queue=False)


def mark_fresh(event, *selectors: str):
    """After ``event`` succeeds, mark its results current again (see :func:`stale_js`); after it
    fails, mark them as the previous ones (:func:`failed_js`)."""
    event.failure(None, None, None, js=failed_js(*selectors), api_name=False, queue=False)
    return event.success(None, None, None, js=fresh_js(*selectors), api_name=False, queue=False)
