"""Plotly figures for the app and notebooks: bars, heatmaps, strips, curves.

Every function here takes plain numbers and strings (token texts, probabilities,
``(T, T)`` arrays) and returns a ``plotly.graph_objects.Figure``. Nothing here
loads or runs a model, tokenizes text or imports gradio: extraction lives in
``predict.py`` / ``attention.py``, wiring in ``mlm_explorer.ui``.

User text never becomes markup. Plotly renders a subset of HTML in titles, tick
labels, bar texts and hover labels (``<b>``, ``<br>``, ``<a href>``,
``<span style>``), and it decodes entities only *inside* the text between tags.
So every token goes through :func:`safe_label`, which entity-escapes ``&``,
``<`` and ``>``: plotly then shows ``<img src=x onerror=alert(1)>`` literally.

Token axes are numeric (0..T-1) with ``ticktext``: a categorical axis would
merge two occurrences of the same word into one row.

Example::

    >>> fig = topk_bars(["paris", "london"], [0.7, 0.2], original="paris")
    >>> [bar.y[0] for bar in fig.data][:1]
    [0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

# One colour language for the whole app, stated once in the legend under the title
# (``ui/look.py`` draws it from these names). Okabe–Ito hues (Okabe & Ito, 2008):
# distinguishable with the common colour-vision deficiencies and on a washed-out
# projector. One meaning per colour: the roles of tokens get hues, plain numbers get
# neutrals, amounts (attention, log p) get one sequential scale, dark = low, bright = high.
MASKED_COLOR = "#E69F00"  # orange: hidden from the model ([MASK]), on chips, bars' panels and axes
RANDOM_COLOR = "#CC79A7"  # reddish purple: replaced by a random token (80/10/10)
KEPT_COLOR = "#56B4E9"  # sky blue: selected as a target but left unchanged (80/10/10)
UNTOUCHED_COLOR = "#E3E6EA"  # light grey: not selected, a plain token
ORIGINAL_COLOR = "#009E73"  # bluish green: the original (true) token, wherever it appears
GUESS_COLOR = "#7B8794"  # neutral slate: the model's other guesses (bars)
TRAIN_COLOR = "#0072B2"  # blue: a training curve (Fine-tune)
HELD_OUT_COLOR = "#D55E00"  # vermillion: a held-out measurement (Fine-tune)
SELECTED_COLOR = "#5F6B7A"  # dark slate: "selected" (any of masked, random, kept) in the rates chart
BAR_COLOR = GUESS_COLOR  # older name, kept for callers
ACTION_COLORS: dict[str, str] = {
    "masked": MASKED_COLOR,
    "random": RANDOM_COLOR,
    "kept": KEPT_COLOR,
    "untouched": UNTOUCHED_COLOR,
}
#: Chip background → text colour with at least 4.5:1 contrast (WCAG AA), see :func:`text_color_on`.
HEAT_SCALE = "Viridis"  # attention weights: dark = little, bright = much
PLL_SCALE = "Viridis"  # log p per token: dark = surprising, bright = expected (same scale, same reading)
ATTENTION_BAR_TITLE = "attention weight"
#: Gradio's dark theme paints a figure's block gray-800 (measured on the page; the figure's own
#: background is transparent there, see :func:`apply_look`).
DARK_PANEL = "#1F2937"
#: WCAG 2.1 SC 1.4.11 (non-text contrast): a graphical object needs 3:1 against what surrounds it.
DOT_CONTRAST = 3.0
#: A colour lifted for the dark panel aims a little above 3:1, so its see-through dots can reach 3:1.
DARK_LIFT_CONTRAST = 4.0

MAX_LABEL_CHARS = 24  # longer tokens are cut: a label must not push a chart off a phone screen
_FONT = dict(size=15)  # readable from the back of a classroom


def safe_label(text: object, max_chars: int = MAX_LABEL_CHARS) -> str:
    """Make ``text`` safe to put in a plotly label: shown literally, never parsed as markup.

    >>> safe_label("<b>bold</b> & co")
    '&lt;b&gt;bold&lt;/b&gt; &amp; co'
    """
    s = str(text)
    # Line breaks would become <br>-like new lines in hover boxes; tabs and
    # zero-width characters stay (they are what the tokenizer saw).
    s = s.replace("\r", " ").replace("\n", " ")
    if len(s) > max_chars:
        s = s[: max_chars - 1] + "…"
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mark(label: str, marked: bool, color: str = MASKED_COLOR) -> str:
    """Wrap an already-escaped label in our own markup: bold, in ``color`` (masked positions by default)."""
    return f'<span style="color:{color}"><b>{label}</b></span>' if marked else label


def _tick_labels(tokens: Sequence[str], marked: Sequence[bool] | None) -> list[str]:
    marks = marked if marked is not None else [False] * len(tokens)
    return [_mark(safe_label(t), bool(m)) for t, m in zip(tokens, marks, strict=True)]


def percent(p: float | None) -> str:
    """A probability as a percentage that never reads "0.0%" for a small non-zero value.

    >>> [percent(x) for x in (0.4138, 0.0042, 0.00003, 0.0)]
    ['41.4%', '0.42%', '0.0030%', '0%']
    """
    if p is None or p != p:
        return ""
    if p <= 0:
        return "0%"
    if p >= 0.01:
        return f"{p:.1%}"
    digits = min(6, max(2, 1 - math.floor(math.log10(p * 100))))  # two significant digits
    return f"{p * 100:.{digits}f}%"


def _luminance(hex_color: str) -> float:
    """Relative luminance of an ``#RRGGBB`` colour (WCAG 2.1)."""
    h = hex_color.lstrip("#")
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#RRGGBB`` colours (1 to 21; 4.5 is the AA level for text).

    >>> round(contrast_ratio("#000000", "#FFFFFF"), 1)
    21.0
    """
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def blend(color: str, background: str, alpha: float) -> str:
    """``color`` drawn at opacity ``alpha`` over ``background``, as the ``#RRGGBB`` the eye sees.

    >>> blend("#000000", "#FFFFFF", 0.5)
    '#808080'
    """
    a, b = (color.lstrip("#"), background.lstrip("#"))
    mixed = (alpha * int(a[i : i + 2], 16) + (1 - alpha) * int(b[i : i + 2], 16) for i in (0, 2, 4))
    return "#" + "".join(f"{round(v):02X}" for v in mixed)


def dot_opacity(color: str, background: str, ratio: float = DOT_CONTRAST) -> float:
    """The faintest opacity (in steps of 0.05) at which ``color`` reaches ``ratio`` on ``background``.

    Raw points under a smoothed line are drawn see-through so the line reads
    first, but never fainter than this (1.0 when even an opaque dot falls short).

    >>> dot_opacity("#000000", "#FFFFFF", 3.0)
    0.45
    """
    for step in range(1, 21):
        if contrast_ratio(blend(color, background, step / 20), background) >= ratio:
            return step / 20
    return 1.0


def lift_color(color: str, background: str, ratio: float = DARK_LIFT_CONTRAST) -> str:
    """``color`` mixed toward white (on a dark ``background``) or black (on a light one) until it
    reaches ``ratio`` there: the same hue, light enough to stand out. Unchanged if it already does.

    >>> lift_color("#0072B2", DARK_PANEL) != "#0072B2" and contrast_ratio(lift_color("#0072B2", DARK_PANEL),
    ...                                                                   DARK_PANEL) >= 4.0
    True
    """
    if contrast_ratio(color, background) >= ratio:
        return color
    toward = "#FFFFFF" if _luminance(background) < 0.18 else "#000000"
    for step in range(1, 21):
        mixed = blend(toward, color, step / 20)
        if contrast_ratio(mixed, background) >= ratio:
            return mixed
    return toward


def dark_scatter_style(color: str, opacity: float = 1.0) -> tuple[str, float]:
    """The colour and opacity a line or dot drawn for a white page gets on the dark theme's panel.

    A colour under 3:1 on the panel (the training blue: 2.8:1) is lifted to
    :data:`DARK_LIFT_CONTRAST`; a see-through dot keeps the contrast it had on white,
    so raw loss points are as visible on a dark page as on a light one.
    """
    lifted = lift_color(color, DARK_PANEL) if contrast_ratio(color, DARK_PANEL) < DOT_CONTRAST else color
    if opacity >= 1.0:
        return lifted, 1.0
    on_white = contrast_ratio(blend(color, "#FFFFFF", opacity), "#FFFFFF")
    return lifted, dot_opacity(lifted, DARK_PANEL, on_white)


def text_color_on(background: str) -> str:
    """Black or white, whichever reads better on ``background`` (chips, swatches)."""
    black, white = contrast_ratio(background, "#000000"), contrast_ratio(background, "#FFFFFF")
    return "#000000" if black >= white else "#FFFFFF"


@dataclass(frozen=True)
class Look:
    """How a page shows figures: the theme and the screen (read by the browser when a page opens)."""

    dark: bool = False  # the page is in dark mode (``?__theme=dark`` or the system's setting)
    projector: bool = False  # larger text for the back of a classroom
    narrow: bool = False  # a phone-sized screen (under ~600 px): fewer columns, wrapped titles

    @property
    def scale(self) -> float:
        return 1.35 if self.projector else 1.0


DEFAULT_LOOK = Look()
_DARK_TEXT = "#E5E7EB"  # gray-200: text on Gradio's dark panels
_DARK_GRID = "#374151"
_NARROW_TITLE_CHARS = 30  # a 390 px screen holds ~30 characters of a 17 px title
# A half-width column of a 1,280 px projector (~600 px) holds ~40 characters of the projector's ~28 px
# title: the quiz's "The model's top 10 (answer: green, yours: ← you)" ran past it, cut off.
_PROJECTOR_TITLE_CHARS = 40


def _wrap(text: str, width: int) -> str:
    """Break a plain (tag-free) title at spaces into lines of at most ``width`` characters."""
    if "<" in text or len(text) <= width:
        return text
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def _scaled(font: object, scale: float, default: float) -> dict:
    size = (font or {}).get("size") if isinstance(font, dict) else None
    return {"size": round((size or default) * scale)}


def apply_look(fig: go.Figure, look: Look = DEFAULT_LOOK) -> go.Figure:
    """Restyle a finished figure for the page: dark theme, projector text, phone-width titles.

    Works on any figure of this module (and others built on its template), so a
    view builds its figure once and the UI adapts it to the page that asked.
    Returns the same figure, changed in place.
    """
    if look == DEFAULT_LOOK:
        return fig
    layout = fig.layout.to_plotly_json()
    update: dict = {}
    s = look.scale
    base = (layout.get("font") or {}).get("size") or _FONT["size"]
    update["font"] = {"size": round(base * s)}
    if look.dark:
        update.update(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
        update["font"]["color"] = _DARK_TEXT
        update["hoverlabel"] = {"bgcolor": "#111827", "font": {"color": _DARK_TEXT}}
    axes = {name: axis for name, axis in layout.items() if name.startswith(("xaxis", "yaxis"))}
    if look.dark:  # an axis left to the template keeps its light grid: white lines on a dark page
        axes = {"xaxis": {}, "yaxis": {}, **axes}
    for name, axis in axes.items():
        change: dict = {}
        if axis.get("tickfont") and s != 1:
            change["tickfont"] = _scaled(axis["tickfont"], s, base)
        if look.dark:
            change.update(gridcolor=_DARK_GRID, zerolinecolor=_DARK_GRID, linecolor=_DARK_GRID)
        if change:
            update[name] = change
    if layout.get("annotations"):
        notes = []
        for note in layout["annotations"]:
            note = dict(note)
            if s != 1 or note.get("font"):
                note["font"] = {**(note.get("font") or {}), **_scaled(note.get("font"), s, base)}
            notes.append(note)
        update["annotations"] = notes
    title = layout.get("title") or {}
    if isinstance(title, dict) and title.get("text"):
        text = title["text"]
        if look.narrow:
            text = _wrap(text, int(_NARROW_TITLE_CHARS / s))
        elif look.projector:
            text = _wrap(text, _PROJECTOR_TITLE_CHARS)
        lines = text.count("<br>")
        update["title"] = {**title, "text": text}
        if lines:  # each extra title line takes room from above the plot, not from the plot
            margin = dict(layout.get("margin") or {})
            margin["t"] = (margin.get("t") or 50) + round(20 * lines * s)
            update["margin"] = margin
            if layout.get("height"):
                update["height"] = layout["height"] + round(20 * lines * s)
    if s != 1 and layout.get("height"):
        update["height"] = round(update.get("height", layout["height"]) * (1 + (s - 1) * 0.6))
    if s != 1:
        margin = dict(update.get("margin") or layout.get("margin") or {})
        if margin.get("t"):
            margin["t"] = round(margin["t"] * s)
        update["margin"] = margin
    if look.narrow:
        update.update(_legend_below(fig, layout, update, s))
    fig.update_layout(update)
    for trace in fig.data:
        if look.dark and getattr(trace, "type", "") == "scatter":
            _darken_scatter(trace)
        colorbar = getattr(trace, "colorbar", None)
        if colorbar is not None and (s != 1 or look.dark):
            trace.update(colorbar=_colorbar_look(trace.colorbar.to_plotly_json(), look, base))
        if s != 1 and getattr(trace, "type", "") == "heatmap" and trace.texttemplate:
            # A phone's cells hold no more text in projector mode: a size chosen for them stays.
            fixed = trace.textfont.size if look.narrow else None
            trace.update(textfont={"size": fixed or round(base * 0.9 * s)})
    coloraxis = layout.get("coloraxis")
    if coloraxis and coloraxis.get("colorbar") is not None:
        fig.update_layout(coloraxis={"colorbar": _colorbar_look(coloraxis["colorbar"], look, base)})
    return fig


def _darken_scatter(trace) -> None:
    """Lines and dots of one scatter trace restyled for the dark panel (:func:`dark_scatter_style`)."""
    line = trace.line.color if trace.line is not None else None
    if isinstance(line, str) and line.startswith("#") and len(line) == 7:
        trace.update(line={"color": dark_scatter_style(line)[0]})
    marker = trace.marker.color if trace.marker is not None else None
    if isinstance(marker, str) and marker.startswith("#") and len(marker) == 7:
        opacity = trace.marker.opacity
        color, alpha = dark_scatter_style(marker, 1.0 if opacity is None else float(opacity))
        trace.update(marker={"color": color, "opacity": alpha})


_LEGEND_ROW_PX = 26  # one row of a horizontal legend at 15 px text


def _legend_below(fig: go.Figure, layout: dict, update: dict, s: float) -> dict:
    """On a phone, a legend top right above the plot moves to the foot of the figure, one entry a row.

    Top right it shared the top margin with the title, which a phone wraps onto
    two lines: the legend covered the title. At the foot it has a band of its own
    under the x axis (which plotly's automargin keeps above that band).
    """
    legend = layout.get("legend") or {}
    # Only a legend top right: one left-aligned under a pinned title was laid out for a phone already.
    if legend.get("yanchor") != "bottom" or (legend.get("y") or 0) < 1 or legend.get("xanchor") != "right":
        return {}
    entries = sum(1 for t in fig.data if t.name and t.showlegend is not False)
    if entries < 2 and not any(t.showlegend for t in fig.data):
        return {}  # plotly shows no legend for a single trace
    band = round(_LEGEND_ROW_PX * entries * s)
    margin = dict(update.get("margin") or layout.get("margin") or {})
    margin["b"] = (margin.get("b") or 10) + band
    out: dict = {
        "legend": {"orientation": "h", "x": 0.0, "xanchor": "left", "yref": "container", "y": 0.0,
                   "yanchor": "bottom"},
        "margin": margin,
    }
    if update.get("height") or layout.get("height"):
        out["height"] = (update.get("height") or layout["height"]) + band
    return out


def _colorbar_look(colorbar: dict, look: Look, base: float) -> dict:
    out = {"tickfont": _scaled(colorbar.get("tickfont"), look.scale, base)}
    if look.dark:
        out["tickfont"]["color"] = _DARK_TEXT
        out["outlinecolor"] = _DARK_GRID
    if colorbar.get("title"):
        font = _scaled((colorbar["title"] or {}).get("font"), look.scale, base)
        out["title"] = {**colorbar["title"], "font": font}
        if look.dark:
            out["title"]["font"]["color"] = _DARK_TEXT
    return out


# A small explicit template: plotly.py otherwise deep-copies its large default
# template into every new figure, which costs more than the model's forward pass.
_TEMPLATE = {
    "layout": {
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": "#EBEEF2", "zerolinecolor": "#D5DAE1", "automargin": True},
        "yaxis": {"gridcolor": "#EBEEF2", "zerolinecolor": "#D5DAE1", "automargin": True},
        "hoverlabel": {"align": "left"},
    }
}


def _figure(data=None) -> go.Figure:
    """A new figure with the light template (see ``_TEMPLATE``)."""
    return go.Figure(data=data, layout={"template": _TEMPLATE})


def _unchecked_figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, skipping plotly.py's per-property validation.

    Validation costs ~100 ms for a grid of bar charts, more than the model's
    forward pass; ``tests/test_plots.py`` validates every figure kind instead.
    """
    return go.Figure({"data": data, "layout": {"template": _TEMPLATE, **layout}}, _validate=False)


def _span(a: float, b: float) -> list[float]:
    return [min(1.0, max(0.0, round(a, 6))), min(1.0, max(0.0, round(b, 6)))]


def _grid(
    n: int, cols: int, hspace: float, vspace: float, titles: Sequence[str]
) -> tuple[dict, list[tuple[str, str]], list[dict]]:
    """Axes of an n-panel grid laid out as ``make_subplots`` would, row by row from the top.

    Returns the layout's axis entries, each panel's (xaxis, yaxis) reference,
    and the panel titles as annotations.
    """
    rows = math.ceil(n / cols)
    width = (1 - hspace * (cols - 1)) / cols
    height = (1 - vspace * (rows - 1)) / rows
    axes: dict = {}
    refs: list[tuple[str, str]] = []
    notes: list[dict] = []
    for i in range(n):
        r, c = divmod(i, cols)
        k = "" if i == 0 else str(i + 1)
        x0, y1 = c * (width + hspace), 1 - r * (height + vspace)
        # Rounded and clamped: float error can put the last edge at -5e-17, which plotly refuses.
        axes[f"xaxis{k}"] = {"domain": _span(x0, x0 + width), "anchor": f"y{k}"}
        axes[f"yaxis{k}"] = {"domain": _span(y1 - height, y1), "anchor": f"x{k}"}
        refs.append((f"x{k}", f"y{k}"))
        notes.append(
            {"text": titles[i], "x": x0 + width / 2, "y": y1, "xref": "paper", "yref": "paper",
             "xanchor": "center", "yanchor": "bottom", "showarrow": False, "font": {"size": 14}}
        )
    return axes, refs, notes


def _layout_basics(title: str | None, height: int, top: int = 0, above_ticks: bool = False) -> dict:
    """Title, height, margins and font shared by every figure (``title`` already escaped).

    ``top`` adds room above the plot area, e.g. for panel titles of a grid;
    the app's plot label also covers the top-left corner. ``above_ticks`` keeps
    the title clear of tick labels drawn on top of the plot (plotly's title automargin).
    """
    # Tick labels on top take the top margin: pin the title to the figure's top edge instead.
    # So with panel titles in the top margin (``top``): plotly centres a title in its margin, so a
    # title wrapped onto two lines (a phone) grew down onto the panels' titles.
    place = dict(yref="container", y=1.0, yanchor="top", pad=dict(t=16)) if above_ticks or top else {}
    return dict(
        title=dict(text=title, x=0.0, xanchor="left", **place) if title else None,
        height=height + top,
        margin=dict(l=10, r=10, t=(50 if title else 20) + top, b=10),
        font=_FONT,
    )


def _base_layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(**_layout_basics(title, height))
    return fig


#: One 0–100% probability axis for every panel of top-k bars: a 5% bar must look shorter
#: than an 80% one, in this panel and the next, so confidence compares at a glance.
PROB_AXIS: dict = {
    "range": [0.0, 1.0], "tickvals": [0, 0.25, 0.5, 0.75, 1.0], "tickformat": ".0%", "fixedrange": True
}
#: Below this top probability a panel says that the model is unsure (its bars are slivers).
UNSURE_BELOW = 0.05


def _percent_format(probs: Sequence[float]) -> str:
    """Tick format that tells ticks apart: whole percents unless every bar is under 5%."""
    return ".0%" if max([0.0, *probs]) >= 0.05 else ".1%"


def _bar_text(colors: Sequence[str]) -> dict:
    """Where a bar's percentage goes and in what colour, readable in both themes.

    Inside a bar that holds it, black or white, whichever contrasts more with that
    bar (:func:`text_color_on`): plotly's own pick was dark grey on the grey guesses'
    bars, about 2:1 and unreadable on a projector. A bar too short for it gets it
    outside, in the page's text colour (which the dark theme turns light).
    """
    return {"textposition": "auto", "insidetextfont": {"color": [text_color_on(c) for c in colors]}}


def empty_figure(message: str = "Nothing to show yet.", height: int = 220) -> go.Figure:
    """A blank figure carrying a short message (placeholders before the first run)."""
    fig = _figure()
    fig.add_annotation(
        text=safe_label(message, max_chars=200), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper"
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base_layout(fig, None, height)


def topk_bars(
    tokens: Sequence[str],
    probs: Sequence[float],
    original: str | None = None,
    original_prob: float | None = None,
    original_rank: int | None = None,
    title: str | None = None,
) -> go.Figure:
    """Horizontal bars of the top-k predictions, best on top, the original highlighted.

    ``original`` is the token that was really there (None when the user typed
    the mask, so it is unknown). When it is not among the top-k, a note under
    the bars gives its probability and rank instead.
    """
    if len(tokens) != len(probs):
        raise ValueError(f"tokens and probs differ in length: {len(tokens)} vs {len(probs)}.")
    n = len(tokens)
    hits = [original is not None and t == original for t in tokens]
    colors = [ORIGINAL_COLOR if h else GUESS_COLOR for h in hits]
    labels = [safe_label(t) for t in tokens]
    fig = _figure(
        go.Bar(
            x=list(probs),
            y=list(range(n)),
            orientation="h",
            marker_color=colors,
            text=[percent(p) for p in probs],
            **_bar_text(colors),
            customdata=labels,
            hovertemplate="%{customdata}: %{x:.2%}<extra></extra>",
        )
    )
    ticks = [_mark(lbl, h, ORIGINAL_COLOR) for lbl, h in zip(labels, hits, strict=True)]
    fig.update_yaxes(tickvals=list(range(n)), ticktext=ticks, autorange="reversed")
    fig.update_xaxes(**PROB_AXIS, title="probability")
    if original is not None and not any(hits):
        rank = f", rank {original_rank}" if original_rank is not None else ""
        prob = percent(original_prob) if original_prob is not None else "?"
        fig.add_annotation(
            text=f"original “{safe_label(original)}”: {prob}{rank}",
            showarrow=False, x=1.0, y=-0.02, xref="paper", yref="paper",
            xanchor="right", yanchor="top", font=dict(color=ORIGINAL_COLOR),
        )
    return _base_layout(fig, safe_label(title, 80) if title else None, height=90 + 34 * max(n, 1))


@dataclass(frozen=True)
class BarPanel:
    """One position's top-k, for :func:`topk_bars_grid`."""

    tokens: Sequence[str]
    probs: Sequence[float]
    original: str | None = None  # the true token, None when unknown (typed mask)
    original_prob: float | None = None
    original_rank: int | None = None
    title: str = ""


def topk_bars_grid(panels: Sequence[BarPanel], columns: int = 2, title: str | None = None) -> go.Figure:
    """Several positions' top-k bars in one figure (one panel per masked position).

    Each panel is drawn as :func:`topk_bars` draws one; an original outside the
    top-k is named in the panel title. Panels fill ``columns`` columns.
    """
    if not panels:
        return empty_figure("No masked position to show.")
    cols = max(1, min(columns, len(panels)))
    rows = math.ceil(len(panels) / cols)
    titles = []
    for p in panels:
        t = safe_label(p.title, 60)
        notes_ = []
        if p.original is not None and p.original not in p.tokens:
            rank = f", rank {p.original_rank}" if p.original_rank is not None else ""
            prob = percent(p.original_prob) if p.original_prob is not None else "?"
            note = f"original “{safe_label(p.original)}”: {prob}{rank}"
            notes_.append(f"<span style='color:{ORIGINAL_COLOR}'>{note}</span>")
        if max([0.0, *p.probs]) < UNSURE_BELOW:
            notes_.append(f"every guess under {UNSURE_BELOW:.0%}: the model is unsure")
        if notes_:
            t += "<br><span style='font-size:12px'>" + " · ".join(notes_) + "</span>"
        titles.append(t)
    k = max(len(p.tokens) for p in panels)
    axes, refs, notes = _grid(
        len(panels), cols, hspace=0.25 if cols > 1 else 0.1,
        vspace=min(0.3, 0.5 / rows) if rows > 1 else 0.1, titles=titles,
    )
    data = []
    for n, (p, (xref, yref)) in enumerate(zip(panels, refs, strict=True)):
        if len(p.tokens) != len(p.probs):
            raise ValueError(f"panel {n}: tokens and probs differ in length.")
        hits = [p.original is not None and t == p.original for t in p.tokens]
        labels = [safe_label(t) for t in p.tokens]
        colors = [ORIGINAL_COLOR if h else GUESS_COLOR for h in hits]
        data.append(
            {"type": "bar", "x": [float(v) for v in p.probs], "y": list(range(len(p.tokens))),
             "orientation": "h", "xaxis": xref, "yaxis": yref, "marker": {"color": colors},
             "text": [percent(v) for v in p.probs], **_bar_text(colors), "customdata": labels,
             "hovertemplate": "%{customdata}: %{x:.2%}<extra></extra>", "showlegend": False}
        )
        x_name, y_name = "xaxis" + xref[1:], "yaxis" + yref[1:]
        axes[y_name].update(
            tickvals=list(range(len(p.tokens))), autorange="reversed",
            ticktext=[_mark(lbl, h, ORIGINAL_COLOR) for lbl, h in zip(labels, hits, strict=True)],
            fixedrange=True,
        )
        axes[x_name].update(PROB_AXIS)
    basics = _layout_basics(
        safe_label(title, 80) if title else None, height=60 + rows * (70 + 30 * k), top=45
    )
    basics["margin"]["r"] = 28  # the "100%" tick label ends past the last panel's edge
    return _unchecked_figure(data, {**axes, "annotations": notes, **basics})


def _check_square(weights: np.ndarray, tokens: Sequence[str]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape[-2:] != (len(tokens), len(tokens)):
        raise ValueError(f"attention of shape {w.shape} does not match {len(tokens)} tokens.")
    return w


def _colorbar_below(title: str, top: float, decimals: int = 2) -> dict:
    """A horizontal colour bar under the plot: it takes no width from a phone-sized heatmap."""
    return {
        "orientation": "h", "x": 0.5, "xanchor": "center", "y": -0.02, "yanchor": "top",
        "len": 0.8, "thickness": 12, "outlinewidth": 0,
        "title": {"text": title, "side": "top"},
        "tickvals": [0.0, top / 2, top], "ticktext": [f"{v:.{decimals}f}" for v in (0.0, top / 2, top)],
    }


_COLORBAR_ROOM = 70  # pixels under the plot for a horizontal colour bar, its ticks and its title


def _top_tick_room(labels: Sequence[str], angle: float) -> int:
    """Pixels that rotated tick labels take above the plot (15 px text, ~0.55 em a character)."""
    longest = max((len(t) for t in labels), default=1)
    return int(longest * _FONT["size"] * 0.55 * math.sin(math.radians(angle))) + 12


_AXIS_TITLE_ROOM = 26  # an axis title of 15 px text and its gap to the tick labels


def _slanted_run(label: str, angle: float) -> int:
    """Pixels a tick label slanted by ``angle`` runs past its tick, sideways (15 px text)."""
    return int(len(label) * _FONT["size"] * 0.55 * math.cos(math.radians(angle))) + 8


def attention_heatmap(
    weights: np.ndarray,
    tokens: Sequence[str],
    masked: Sequence[bool] | None = None,
    title: str | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """One ``(T, T)`` attention map: row = the token attending, column = the token attended to.

    Columns are labelled on top (read it like a table), the colour bar sits under
    the plot. Masked positions are drawn in bold orange on both axes.
    """
    w = _check_square(weights, tokens)
    top = float(zmax if zmax is not None else max(w.max(initial=0.0), 1e-9))
    n = len(tokens)
    labels = [safe_label(t) for t in tokens]
    trace = {
        "type": "heatmap", "z": w.tolist(), "x": list(range(n)), "y": list(range(n)),
        "colorscale": HEAT_SCALE, "zmin": 0.0, "zmax": top,
        "colorbar": _colorbar_below(ATTENTION_BAR_TITLE, top),
        # hover: "from → to: weight" (row attends to column).
        "customdata": [[f"{labels[i]} → {labels[j]}" for j in range(n)] for i in range(n)],
        "hovertemplate": "%{customdata}: %{z:.3f}<extra></extra>",
    }
    ticks = _tick_labels(tokens, masked)
    axis = dict(tickvals=list(range(n)), ticktext=ticks, showgrid=False, fixedrange=True)
    height = min(760, 180 + 28 * n)
    room = _top_tick_room(labels, 60)
    basics = _layout_basics(
        safe_label(title, 80) if title else None, height + room + _AXIS_TITLE_ROOM, above_ticks=True
    )
    basics["margin"]["b"] = _COLORBAR_ROOM
    # The "attended to" title sits above the slanted names: a band of its own under the figure's
    # title, which on a phone it overlapped (both sit left of ~200 px there).
    basics["margin"]["t"] += room + _AXIS_TITLE_ROOM
    # A name slanted at 60° runs right of its column by half its length: the last one ([SEP])
    # needs that room, or plotly hides it as running past the figure's edge.
    basics["margin"]["r"] = max(basics["margin"]["r"], _slanted_run(labels[-1] if labels else "", 60))
    layout = {
        "xaxis": {**axis, "tickangle": -60, "side": "top", "title": {"text": "attended to"}},
        "yaxis": {**axis, "autorange": "reversed", "title": {"text": "attending"}},
        **basics,
    }
    return _unchecked_figure([trace], layout)


def attention_small_multiples(
    weights: np.ndarray,
    tokens: Sequence[str],
    masked: Sequence[bool] | None = None,
    title: str | None = None,
    columns: int = 4,
) -> go.Figure:
    """All heads of one layer, ``(H, T, T)``, as a grid sharing one colour scale.

    One shared scale (0 .. the layer's maximum) makes heads comparable: a
    per-panel scale would make a nearly uniform head look as sharp as a focused one.
    Token names label the rows of the first column only, so no label runs into the
    next panel; columns are the same tokens in the same order (hover names both).
    """
    w = _check_square(weights, tokens)
    if w.ndim != 3:
        raise ValueError(f"expected (heads, T, T), got shape {w.shape}.")
    heads = w.shape[0]
    cols = max(1, min(columns, heads))
    rows = math.ceil(heads / cols)
    n = len(tokens)
    show_ticks = n <= 24  # with more tokens a panel row is under ~8 px: labels would be a smear
    label_room = 0.16 if show_ticks else 0.0  # the first column's token names sit left of the grid
    axes, refs, notes = _grid(
        heads, cols, hspace=0.02, vspace=0.22 / rows if rows > 1 else 0.1,
        titles=[f"head {h}" for h in range(heads)],
    )
    if label_room:  # squeeze the grid right of the labels
        for name, axis in axes.items():
            if name.startswith("x"):
                a, b = axis["domain"]
                axis["domain"] = _span(label_room + a * (1 - label_room), label_room + b * (1 - label_room))
        for note in notes:
            note["x"] = label_room + note["x"] * (1 - label_room)
    labels = [safe_label(t) for t in tokens]
    hover = [[f"{labels[i]} → {labels[j]}" for j in range(n)] for i in range(n)]
    data = [
        {"type": "heatmap", "z": w[h].tolist(), "x": list(range(n)), "y": list(range(n)),
         "xaxis": xref, "yaxis": yref, "coloraxis": "coloraxis", "customdata": hover,
         "hovertemplate": "%{customdata}: %{z:.3f}<extra></extra>"}
        for h, (xref, yref) in enumerate(refs)
    ]
    ticks = _tick_labels(tokens, masked)
    for h, (xref, yref) in enumerate(refs):
        x_axis, y_axis = axes["xaxis" + xref[1:]], axes["yaxis" + yref[1:]]
        x_axis.update(showticklabels=False, showgrid=False, fixedrange=True)
        first_col = h % cols == 0
        y_axis.update(
            autorange="reversed", showgrid=False, fixedrange=True, tickvals=list(range(n)), ticktext=ticks,
            showticklabels=show_ticks and first_col, tickfont=dict(size=11 if n <= 12 else 9),
            automargin=False,
        )
    top = float(max(w.max(initial=0.0), 1e-9))
    panel = 230 if cols > 2 else 190
    basics = _layout_basics(safe_label(title, 80) if title else None, height=panel * rows, top=20)
    basics["margin"]["b"] = _COLORBAR_ROOM
    coloraxis = dict(
        colorscale=HEAT_SCALE, cmin=0.0, cmax=top, colorbar=_colorbar_below(ATTENTION_BAR_TITLE, top)
    )
    return _unchecked_figure(data, {**axes, "annotations": notes, "coloraxis": coloraxis, **basics})


def _binomial_halfwidth(p: float, n: int) -> float:
    """95% normal-approximation half-width of a rate estimated from n draws."""
    return 1.96 * math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else 0.0


def policy_rates_chart(
    empirical: Mapping[str, float],
    nominal: Mapping[str, float],
    counts: Mapping[str, int] | None = None,
    title: str | None = None,
    narrow: bool = False,
) -> go.Figure:
    """Empirical vs nominal rates of the 80/10/10 policy over many draws.

    ``empirical`` and ``nominal`` map the same names (e.g. "selected", "masked",
    "random", "kept") to rates; ``counts`` gives the number of trials behind
    each empirical rate, for a 95% error bar. ``narrow`` (a phone): only the
    measured rate is written over its bar, at full size; the setting's outline
    and the axis give the other.
    """
    names = list(nominal)
    emp = [float(empirical.get(k, float("nan"))) for k in names]
    errors = [_binomial_halfwidth(e, (counts or {}).get(k, 0)) for k, e in zip(names, emp, strict=True)]
    labels = [safe_label(k) for k in names]
    colors = [ACTION_COLORS.get(k, SELECTED_COLOR) for k in names]
    fig = _figure(
        [
            # The setting as an outline, what happened as the filled bar, both in the action's colour.
            go.Bar(name="setting (outline)", x=labels, y=[nominal[k] for k in names],
                   marker=dict(color="rgba(0,0,0,0)", line=dict(color=colors, width=2.5)),
                   text=None if narrow else [f"{nominal[k]:.0%}" for k in names], textposition="outside"),
            # Plotly shrinks an outside label to its bar's width ("constraintext"): on a phone's
            # narrow bars "80.8%" came out at about 6 px. There it alone is written, unshrunk.
            go.Bar(name="measured (filled)", x=labels, y=emp, marker_color=colors,
                   error_y=dict(type="data", array=errors, visible=counts is not None),
                   text=[f"{e:.1%}" for e in emp], textposition="outside",
                   constraintext="none" if narrow else "both", cliponaxis=not narrow),
        ]
    )
    legend = dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom")
    fig.update_layout(barmode="group", legend=legend)
    fig.update_yaxes(range=[0, 1.12], tickformat=".0%", title="rate")
    return _base_layout(fig, safe_label(title, 80) if title else None, height=380)


def pll_strip(
    tokens: Sequence[str],
    log_probs: Sequence[float],
    title: str | None = None,
    zmin: float | None = None,
) -> go.Figure:
    """Per-token pseudo-log-likelihood as a one-row heat strip (dark = surprising, bright = expected).

    Pass the same ``zmin`` to two strips to compare them on one scale.
    """
    if len(tokens) != len(log_probs):
        raise ValueError(f"tokens and log_probs differ in length: {len(tokens)} vs {len(log_probs)}.")
    n = len(tokens)
    lp = np.asarray(log_probs, dtype=float)
    low = float(zmin if zmin is not None else min(lp.min(initial=0.0), -1e-6))
    labels = [safe_label(t) for t in tokens]
    colorbar = _colorbar_below("log p (nats)", 0.0)
    colorbar.update(tickvals=[low, low / 2, 0.0], ticktext=[f"{v:.1f}" for v in (low, low / 2, 0.0)])
    fig = _figure(
        go.Heatmap(
            z=[lp], x=list(range(n)), y=[0], zmin=low, zmax=0.0, colorscale=PLL_SCALE,
            text=[[f"{v:.2f}" for v in lp]], texttemplate="%{text}", customdata=[labels],
            hovertemplate="%{customdata}: log p = %{z:.3f}<extra></extra>",
            colorbar=colorbar,
        )
    )
    fig.update_xaxes(tickvals=list(range(n)), ticktext=labels, tickangle=-45, showgrid=False, side="top",
                     fixedrange=True)
    fig.update_yaxes(visible=False, fixedrange=True)
    room = _top_tick_room(labels, 45)
    # height: the title (50 px) and tick labels above, a 60 px strip, the colour bar below
    height = 50 + room + 60 + _COLORBAR_ROOM
    basics = _layout_basics(safe_label(title, 80) if title else None, height, above_ticks=True)
    basics["margin"].update(b=_COLORBAR_ROOM, t=basics["margin"]["t"] + room)
    fig.update_layout(**basics)
    return fig


def loss_curve(
    steps: Sequence[int],
    losses: Sequence[float],
    eval_steps: Sequence[int] = (),
    eval_losses: Sequence[float] = (),
    title: str | None = "Training loss",
) -> go.Figure:
    """Training loss per step, with held-out loss points when there are any."""
    train = go.Scatter(x=list(steps), y=list(losses), mode="lines", name="train", line_color=TRAIN_COLOR)
    fig = _figure(train)
    if len(eval_steps):
        fig.add_trace(
            go.Scatter(x=list(eval_steps), y=list(eval_losses), mode="lines+markers", name="held-out",
                       line_color=HELD_OUT_COLOR)
        )
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss")
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return _base_layout(fig, safe_label(title, 80) if title else None, height=320)


def loss_runs_chart(
    runs: Sequence[tuple[str, Sequence[int], Sequence[float]]],
    smoothing: float = 0.8,
    title: str | None = "Training loss (masked tokens)",
) -> go.Figure:
    """Several training runs' losses on one figure: raw points, a smoothed line over them.

    ``runs`` is ``[(name, steps, losses), ...]``, oldest first; the last is the
    current run: drawn last (on top), solid, in :data:`TRAIN_COLOR`. Earlier runs
    are neutral grey, told apart by their dash and their legend name. The line is
    an exponential moving average with weight ``smoothing`` (0 = none), debiased
    at the start as in Adam (Kingma & Ba, 2015, sec. 3) so it does not begin at 0.

    >>> fig = loss_runs_chart([("run 1", [1, 2], [3.0, 2.0]), ("run 2", [1, 2], [2.5, 1.0])])
    >>> [t.name for t in fig.data if t.showlegend is not False]
    ['run 1', 'run 2']
    """
    a = min(max(float(smoothing), 0.0), 0.99)
    dashes = ("dot", "dash", "dashdot", "longdash")
    fig = _figure()
    for i, (name, steps, losses) in enumerate(runs):
        current = i == len(runs) - 1
        color = TRAIN_COLOR if current else GUESS_COLOR
        # The current run's raw points reach 3:1 on white (WCAG non-text contrast); earlier runs' stay
        # fainter (2:1), behind. At 0.35 opacity and 4 px they were barely there (1.6:1).
        dots = dict(color=color, size=6 if current else 5,
                    opacity=dot_opacity(color, "#FFFFFF", DOT_CONTRAST if current else 2.0))
        label = safe_label(name, 40)
        smooth, avg = [], 0.0
        for t, loss in enumerate(losses, start=1):
            avg = a * avg + (1 - a) * float(loss)
            smooth.append(avg / (1 - a**t))
        fig.add_trace(go.Scatter(
            x=list(steps), y=[float(v) for v in losses], mode="markers", legendgroup=f"run{i}",
            showlegend=False, name=label, marker=dots,
            hovertemplate="step %{x}: loss %{y:.3f}<extra>" + label + "</extra>",
        ))
        fig.add_trace(go.Scatter(
            x=list(steps), y=smooth, mode="lines", legendgroup=f"run{i}", name=label,
            line=dict(color=color, width=3 if current else 1.5, dash="solid" if current else dashes[i % 4]),
            opacity=1.0 if current else 0.8, hoverinfo="skip",
        ))
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss")
    # Under the axis title, left-aligned: run names are long and a phone has no room beside the title.
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", y=-0.38, yanchor="top"))
    return _base_layout(fig, safe_label(title, 80) if title else None, height=320 + 24 * len(runs))


# ---------------------------------------------------------------------------- class activities
# Quiz, generation and side-by-side figures. They speak the colour language above:
# the true word is ORIGINAL_COLOR, the model's other guesses GUESS_COLOR, a blank still
# hidden MASKED_COLOR, a plain token UNTOUCHED_COLOR. Two things only the class figures show:
#: The student's own guesses and scores (Quiz): Okabe–Ito blue, "yours" (the Fine-tune tab's
#: training curve is the same blue: the student's own run). 5.2:1 on white, 3.7:1 on the dark theme.
STUDENT_COLOR = "#0072B2"
#: Side B of a comparison: the guess colour again, hatched, so A and B differ without a new hue
#: (neither side is a role of the colour language: they are two runs of the same thing).
SIDE_B_PATTERN = {
    "shape": "/", "fgcolor": GUESS_COLOR, "bgcolor": "rgba(0,0,0,0)", "size": 7, "solidity": 0.45
}
#: The shared rule for probability axes: the one 0–100% scale, unless every bar would be a
#: sliver; then the axis zooms and its title says so loudly.
ZOOM_BELOW = 0.3


def class_prob_axis(probs: Sequence[float | None], what: str = "probability") -> dict:
    """The x axis of a class figure's probability bars: 0–100%, or zoomed with a loud title.

    ``what`` names the axis (plain text, ours). A zoomed axis says so on a second
    line, short enough for a 390 px phone.

    >>> class_prob_axis([0.6, 0.2])["range"], class_prob_axis([0.04])["title"]["text"]
    ([0.0, 1.0], 'probability<br><b>ZOOMED: 0–5%</b>, not 0–100%')
    """
    top = max([0.0, *(p for p in probs if p is not None)])
    if top >= ZOOM_BELOW:
        return {**PROB_AXIS, "title": {"text": f"{what} (0–100%)"}}
    # A round upper bound a reader can quote: 1, 2, 5, 10, 20 or 30%.
    high = next((v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.3) if top * 1.15 <= v), 0.3)
    return {
        "range": [0.0, high], "tickformat": _percent_format([top]), "nticks": 5, "fixedrange": True,
        "title": {"text": f"{what}<br><b>ZOOMED: 0–{high:.0%}</b>, not 0–100%"},
    }


def quiz_bars(
    tokens: Sequence[str],
    probs: Sequence[float],
    answer: Sequence[bool],
    guess: Sequence[bool],
    title: str | None = None,
) -> go.Figure:
    """The model's top-k at a quiz blank: the answer in the original colour, the student's guess outlined.

    The answer's bar and tick are ORIGINAL_COLOR, the model's other guesses
    GUESS_COLOR; a bar the student guessed gets a STUDENT_COLOR outline and
    "← you" on its tick. Where the answer or a guess ranks outside the top-k
    is for the caller to say in text (the app does, under the figure).
    """
    n = len(tokens)
    if not len(probs) == len(answer) == len(guess) == n:
        raise ValueError("tokens, probs, answer and guess must have the same length.")
    labels = [safe_label(t) for t in tokens]
    you = f' <span style="color:{STUDENT_COLOR}"><b>← you</b></span>'
    marks = zip(labels, answer, guess, strict=True)
    ticks = [_mark(lbl, a, ORIGINAL_COLOR) + (you if g else "") for lbl, a, g in marks]
    colors = [ORIGINAL_COLOR if a else GUESS_COLOR for a in answer]
    trace = {
        "type": "bar", "x": [float(p) for p in probs], "y": list(range(n)), "orientation": "h",
        "marker": {
            "color": colors,
            "line": {"color": [STUDENT_COLOR if g else "rgba(0,0,0,0)" for g in guess], "width": 4},
        },
        "text": [percent(p) for p in probs], **_bar_text(colors), "customdata": labels,
        "hovertemplate": "%{customdata}: %{x:.2%}<extra></extra>", "showlegend": False,
    }
    layout = {
        "xaxis": class_prob_axis(probs),
        "yaxis": {"tickvals": list(range(n)), "ticktext": ticks, "autorange": "reversed", "fixedrange": True},
        **_layout_basics(safe_label(title, 80) if title else None, height=100 + 34 * max(n, 1)),
    }
    return _unchecked_figure([trace], layout)


def score_card_chart(
    student: Sequence[int], model: Sequence[int], n: int, title: str | None = "Score card"
) -> go.Figure:
    """Hits@1 and hits@5 of the student (STUDENT_COLOR) and of the model (GUESS_COLOR) out of ``n`` items."""
    names = ["hits@1", "hits@5"]
    fig = _figure(
        [
            go.Bar(name="you", x=names, y=list(student), marker_color=STUDENT_COLOR,
                   text=[f"{v} / {n}" for v in student], textposition="outside", cliponaxis=False),
            go.Bar(name="the model", x=names, y=list(model), marker_color=GUESS_COLOR,
                   text=[f"{v} / {n}" for v in model], textposition="outside", cliponaxis=False),
        ]
    )
    legend = dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom")
    fig.update_layout(barmode="group", legend=legend)
    fig.update_xaxes(fixedrange=True)
    fig.update_yaxes(range=[0, max(n, 1) * 1.2], title="items", dtick=1 if n <= 10 else None, fixedrange=True)
    return _base_layout(fig, safe_label(title, 80) if title else None, height=300)


#: A generation strip longer than this many tokens wraps into rows of STRIP_WIDE_COLUMNS cells.
STRIP_WRAP_AT = 12
STRIP_WIDE_COLUMNS = 8


def generation_strip(
    tokens: Sequence[str], changed: int | None = None, blanks: Sequence[bool] | None = None,
    title: str | None = None, positions: Sequence[int] | None = None, columns: int | None = None,
) -> go.Figure:
    """One step of a generation trace: the sequence as a row of token cells, the token just written marked.

    ``columns`` wraps the row into lines of that many cells (a phone: 5), each
    cell then naming its position under the token; left out, a sequence longer
    than :data:`STRIP_WRAP_AT` wraps into rows of :data:`STRIP_WIDE_COLUMNS`.

    Cells still blank are MASKED_COLOR (hidden, as on the chips); written or
    given tokens UNTOUCHED_COLOR (plain tokens); the token written at this step
    (index ``changed`` into ``tokens``) GUESS_COLOR, bold: it is the model's guess,
    not a true word. ``positions`` label the cells (default 0..n-1).
    """
    n = len(tokens)
    if columns is None and n > STRIP_WRAP_AT:
        # A prompt of 16+ tokens in one row leaves ~35 px a cell in half a laptop's width: a word
        # such as "mountains" then covers its neighbours. Rows of 8 keep every token readable.
        columns = STRIP_WIDE_COLUMNS
    ticks = list(positions) if positions is not None else list(range(n))
    if len(ticks) != n:
        raise ValueError("tokens and positions must have the same length.")
    blank = list(blanks) if blanks is not None else [False] * n
    if len(blank) != n:
        raise ValueError("tokens and blanks must have the same length.")
    codes = [2 if i == changed else (0 if blank[i] else 1) for i in range(n)]
    wrapped = columns is not None and 0 < columns < n
    labels = [safe_label(t, 9 if wrapped else 14) for t in tokens]
    shown = [f"<b>{lbl}</b>" if i == changed else lbl for i, lbl in enumerate(labels)]
    if (columns if wrapped else n) >= 8:
        # A row of 8+ cells leaves each about 60 px on a projector: a long token in 15 px text runs
        # into its neighbour ("##alic languages"), so it is set smaller (the hover names it in full).
        shown = [f"<span style='font-size:11px'>{s}</span>" if len(lbl) > 6 else s
                 for s, lbl in zip(shown, labels, strict=True)]
    if wrapped:
        shown = [f"{s}<br><span style='font-size:11px'>{t}</span>" for s, t in zip(shown, ticks, strict=True)]
    width = columns if wrapped else max(n, 1)
    rows = math.ceil(n / width) if n else 1

    def grid(values: list, pad: object) -> list[list]:
        cells = values + [pad] * (rows * width - len(values))
        return [cells[r * width : (r + 1) * width] for r in range(rows)]

    scale = [[0.0, MASKED_COLOR], [0.5, UNTOUCHED_COLOR], [1.0, GUESS_COLOR]]
    trace = {
        "type": "heatmap", "z": grid(codes, None), "x": list(range(width)), "y": list(range(rows)),
        "zmin": 0, "zmax": 2, "colorscale": scale, "showscale": False, "text": grid(shown, ""),
        "texttemplate": "%{text}",
        # Black reads on all three cells (9.3, 16.8 and 5.7 : 1), in either theme.
        "textfont": {"size": 15, "color": "#000000"}, "xgap": 3, "ygap": 3,
        "customdata": grid([f"position {t}: {lbl}" for t, lbl in zip(ticks, labels, strict=True)], ""),
        "hovertemplate": "%{customdata}<extra></extra>",
    }
    xaxis = {"showgrid": False, "fixedrange": True}
    if wrapped:
        xaxis["visible"] = False
    else:
        xaxis.update(tickvals=list(range(n)), ticktext=[str(t) for t in ticks],
                     title={"text": "token position"})
    layout = {
        "xaxis": xaxis,
        "yaxis": {"visible": False, "fixedrange": True, "autorange": "reversed"},
        **_layout_basics(
            safe_label(title, 100) if title else None, height=(110 if wrapped else 170) + 60 * (rows - 1)
        ),
    }
    return _unchecked_figure([trace], layout)


def pll_per_sweep_chart(
    series: Mapping[str, Sequence[float]], title: str | None = "Sentence PLL after each sweep",
    unit: str = "sweep",
) -> go.Figure:
    """Pseudo-log-likelihood after each sweep, one line per strategy (higher = more natural to the model).

    ``unit`` names the x axis: "sweep" (Gibbs) or "round" (mask-predict).

    Strategies are not roles of the colour language: every line is GUESS_COLOR
    (the model's writing), told apart by dash and marker, which survive any
    colour vision and a washed-out projector.
    """
    dashes = ["solid", "dash", "dot", "dashdot"]
    symbols = ["circle", "square", "diamond", "triangle-up"]
    sweeps = max((len(v) for v in series.values()), default=1)

    def line(i: int, name: str, values: Sequence[float]) -> go.Scatter:
        style = {"line": {"color": GUESS_COLOR, "dash": dashes[i % 4], "width": 3},
                 "marker": {"symbol": symbols[i % 4], "size": 9, "color": GUESS_COLOR}}
        if len(values) == 1 and sweeps > 1:
            # A one-pass strategy (left-to-right) has no sweeps: a level line across them to compare
            # with, not a lone point at "sweep 1" that reads as the first of several.
            return go.Scatter(x=[1, sweeps], y=[values[0], values[0]], mode="lines",
                              name=safe_label(f"{name} (one pass)"), **style)
        return go.Scatter(x=list(range(1, len(values) + 1)), y=list(values), mode="lines+markers",
                          name=safe_label(name), **style)

    fig = _figure([line(i, k, v) for i, (k, v) in enumerate(series.items())])
    fig.update_xaxes(title=unit, dtick=1, fixedrange=True)
    fig.update_yaxes(title="PLL (nats)", fixedrange=True)
    # Left-aligned under the title (pinned to the top), so the two never overlap on a phone.
    basics = _layout_basics(safe_label(title, 80) if title else None, height=320, above_ticks=True)
    fig.update_layout(**basics)
    fig.update_layout(legend=dict(orientation="h", y=1.0, x=0, xanchor="left", yanchor="bottom"),
                      margin={"t": (50 if title else 20) + 30})
    return fig


def compare_bars(
    words: Sequence[str],
    probs_a: Sequence[float | None],
    probs_b: Sequence[float | None],
    name_a: str = "A",
    name_b: str = "B",
    title: str | None = None,
) -> go.Figure:
    """Two sides' probabilities of the same words as paired bars on one shared scale.

    A is solid GUESS_COLOR, B the same colour hatched (:data:`SIDE_B_PATTERN`).
    The axis is :func:`class_prob_axis` of both sides together. A missing
    probability (the word is not one token of that side's vocabulary) draws no
    bar and says so on hover, rather than a bar at 0.
    """
    n = len(words)
    if not len(probs_a) == len(probs_b) == n:
        raise ValueError("words, probs_a and probs_b must have the same length.")
    labels = [safe_label(w) for w in words]

    def bars(probs: Sequence[float | None], name: str, marker: dict) -> dict:
        shown = safe_label(name, 40)
        return {
            "type": "bar", "orientation": "h", "name": shown, "y": list(range(n)),
            "x": [p if p is not None else None for p in probs], "marker": marker,
            "text": ["" if p is None else percent(p) for p in probs], "textposition": "outside",
            "cliponaxis": False,
            "customdata": [[lbl, "not one token here" if p is None else f"{p:.2%}"]
                           for lbl, p in zip(labels, probs, strict=True)],
            "hovertemplate": f"{shown}<br>%{{customdata[0]}}: %{{customdata[1]}}<extra></extra>",
        }

    axis = class_prob_axis([*probs_a, *probs_b], what="probability, one scale for both")
    layout = {
        "barmode": "group",
        "xaxis": axis,
        "yaxis": {
            "tickvals": list(range(n)), "ticktext": labels, "autorange": "reversed", "fixedrange": True
        },
        # Left-aligned under the title: long side names (a model, a sentence) never run into it.
        "legend": {"orientation": "h", "y": 1.0, "x": 0, "xanchor": "left", "yanchor": "bottom"},
        **_layout_basics(safe_label(title, 100) if title else None, height=130 + 44 * max(n, 1),
                         above_ticks=True),
    }
    layout["margin"]["r"] = 48  # the value printed past the longest bar
    layout["margin"]["t"] += 50  # room for the legend's one or two lines between title and bars
    side_a = {"color": GUESS_COLOR}
    side_b = {"color": "rgba(0,0,0,0)", "pattern": SIDE_B_PATTERN, "line": {"color": GUESS_COLOR, "width": 2}}
    data = [bars(probs_a, name_a, side_a), bars(probs_b, name_b, side_b)]
    return _unchecked_figure(data, layout)


# ---------------------------------------------------------------------------- inside a prediction
# Figures of the "Inside" tab (layer by layer, saliency, masked vs unmasked attention).

# Red–blue diverging (ColorBrewer RdBu): readable with the common colour-vision
# deficiencies; red = pushed down / lost attention, blue = pushed up / gained.
# Spelled out, low → high: these figures skip plotly.py's validation, and plotly.js's own
# "RdBu" runs the other way (blue low, red high) from plotly.py's and ColorBrewer's.
_RDBU = ("#67001f", "#b2182b", "#d6604d", "#f4a582", "#fddbc7", "#f7f7f7",
         "#d1e5f0", "#92c5de", "#4393c3", "#2166ac", "#053061")
DIVERGING_SCALE = [[i / (len(_RDBU) - 1), c] for i, c in enumerate(_RDBU)]


#: A phone's plot area is about this wide once the axis labels are drawn (390 px screen, page margins).
_NARROW_PLOT_PX = 300
_NARROW_CELL_FONT = 12  # heatmap cell text on a phone: plotly would shrink it to fit a cell, to ~4 px


def _layer_names(layers: Sequence[int], short: bool = False) -> list[str]:
    """``embeddings``, ``layer 1``, ...; on a phone ``emb.``, ``1``, ... under an axis titled "layer"."""
    if short:
        return ["emb." if layer == 0 else str(layer) for layer in layers]
    return ["embeddings" if layer == 0 else f"layer {layer}" for layer in layers]


def _round_ticks(top: float) -> dict:
    """Three or four round ticks on a 0..``top`` probability scale (0%, 10%, 20%): they fit level."""
    half = max(top / 2, 1e-9)
    power = 10 ** math.floor(math.log10(half))
    step = max(m * power for m in (1, 2, 2.5, 5) if m * power <= half)
    values = [i * step for i in range(4) if i * step <= top * (1 + 1e-9)]
    fmt = ".0%" if step >= 0.01 and round(step * 100) == step * 100 else ".1%"
    return {"tickvals": values, "ticktext": [f"{v:{fmt}}" for v in values]}


def _bar_under(plot_px: float, gap_px: float) -> dict:
    """A horizontal colour bar ``gap_px`` under the plot area (``plot_px`` high), title above it.

    Anchored to the plot (paper), not to the figure's foot: with ``yref`` "container" plotly.js
    drew a title on top of the bar it names.
    """
    return {"orientation": "h", "x": 0.5, "xanchor": "center", "yref": "paper", "yanchor": "top",
            "y": -gap_px / max(plot_px, 1.0), "thickness": 10, "outlinewidth": 0, "tickangle": 0}


def layer_lens_heatmap(
    layers: Sequence[int],
    tokens: Sequence[Sequence[str]],
    probs: Sequence[Sequence[float]],
    final: str | None = None,
    original: str | None = None,
    title: str | None = None,
    narrow: bool = False,
) -> go.Figure:
    """Layers (rows, embeddings at the bottom) × top-k tokens (columns), coloured by probability.

    Each cell names the token the MLM head reads at that rank after that
    layer. The model's final answer is in bold, the original (hidden) token marked ✓,
    so a student can see at which layer the answer appears.

    ``narrow`` (a phone): plotly shrinks cell text until it fits its cell, which
    on a 390 px screen left the tokens ~4 px high. So the layer names are
    shortened, the colour bar moves under the plot, and the cells get a fixed
    readable size, each token cut to what its cell holds (the hover names it whole).
    """
    if len(tokens) != len(layers) or len(probs) != len(layers):
        raise ValueError("layers, tokens and probs must have one entry per layer.")
    k = max((len(row) for row in tokens), default=0)
    # Characters of a cell: its width over ~0.6 em a character (plotly's Open Sans), at most 14.
    cell_chars = max(3, min(14, int(_NARROW_PLOT_PX / max(k, 1) / (0.6 * _NARROW_CELL_FONT))))
    z, text, hover = [], [], []
    for layer, row_t, row_p in zip(layers, tokens, probs, strict=True):
        if len(row_t) != len(row_p):
            raise ValueError(f"layer {layer}: tokens and probs differ in length.")
        pad = k - len(row_t)
        z.append([float(p) for p in row_p] + [None] * pad)
        cells, tips = [], []
        for t in row_t:
            label = safe_label(t, cell_chars if narrow else 14)
            if original is not None and t == original:
                # A tick, not the original's green: green text vanished on a likely (green) cell, and
                # plotly sized every cell's text down to fit the markup of a coloured label.
                label = f"{label} ✓"
            cells.append(f"<b>{label}</b>" if final is not None and t == final else label)
            tips.append(safe_label(t))
        text.append(cells + [""] * pad)
        hover.append(tips + [""] * pad)
    n = len(layers)
    names = _layer_names(layers)
    trace = {
        "type": "heatmap", "z": z, "x": list(range(1, k + 1)), "y": list(range(n)), "text": text,
        "texttemplate": "%{text}", "customdata": hover, "colorscale": HEAT_SCALE, "zmin": 0.0,
        "zmax": max([1e-9, *(p for row in z for p in row if p is not None)]),
        "hovertemplate": "%{customdata}: %{z:.2%}<extra></extra>",
        "colorbar": {"title": {"text": "p"}, "thickness": 12, "tickformat": ".0%"},
    }
    layout = {
        "xaxis": {"tickvals": list(range(1, k + 1)), "title": {"text": "rank at this layer"},
                  "showgrid": False},
        "yaxis": {"tickvals": list(range(n)), "ticktext": names, "showgrid": False},
        **_layout_basics(safe_label(title, 80) if title else None, height=80 + 44 * n),
    }
    if narrow:
        trace["textfont"] = {"size": _NARROW_CELL_FONT}
        trace["customdata"] = [[f"{name}, rank {i + 1}: {tip}" for i, tip in enumerate(row)]
                               for name, row in zip(names, hover, strict=True)]
        # At the foot of the figure, under the x axis's numbers and title (their ~60 px, ~80 in
        # projector mode, come first: the margin below the plot holds both).
        layout["yaxis"].update(ticktext=_layer_names(layers, short=True), title={"text": "layer"})
        layout["height"] += 145
        layout["margin"]["b"] = 155
        plot_px = layout["height"] - layout["margin"]["t"] - layout["margin"]["b"]
        trace["colorbar"] = {
            **_bar_under(plot_px, 88), "len": 0.9,
            # Title above the bar (beside it, it took half the bar's length) and level labels: on a
            # 300 px bar plotly turned five of them by 90° rather than drop any. Three or four fit level.
            "title": {"text": "p (probability)", "side": "top"}, **_round_ticks(float(trace["zmax"])),
        }
    return _unchecked_figure([trace], layout)


def layer_rank_lines(
    layers: Sequence[int],
    final_ranks: Sequence[int],
    original_ranks: Sequence[int | None] | None = None,
    final: str | None = None,
    original: str | None = None,
    title: str | None = None,
    narrow: bool = False,
) -> go.Figure:
    """Rank of the final answer (and of the original) after each layer, on a log scale, 1 at the top.

    ``narrow`` (a phone): the layers are numbered on an axis titled "layer" (no
    slanted labels) and the plot is taller, so the rank axis's title fits beside
    it; :func:`apply_look` with a narrow look moves the legend under the plot.
    """
    names = _layer_names(layers)
    cut = 12 if narrow else MAX_LABEL_CHARS
    x = _layer_names(layers, short=True) if narrow else names
    # When the answer is the hidden word the two lines coincide and the second hides the first, so a
    # legend naming two lines shows one: draw one line, in the hidden word's colour, that says so.
    same = original_ranks is not None and [int(r) for r in final_ranks] == list(original_ranks)
    label = f"final answer “{safe_label(final, cut)}”" if final is not None else "final answer"
    data = [{
        "type": "scatter", "mode": "lines+markers", "x": x, "y": [int(r) for r in final_ranks],
        "name": f"{label} = the hidden word" if same else label,
        "line": {"color": ORIGINAL_COLOR if same else BAR_COLOR}, "customdata": names,
        "hovertemplate": "%{customdata}: rank %{y}<extra></extra>",
    }]
    if not same and original_ranks is not None and any(r is not None for r in original_ranks):
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": x, "y": list(original_ranks),
            "name": f"original “{safe_label(original, cut)}”" if original is not None else "original",
            "line": {"color": ORIGINAL_COLOR, "dash": "dot"}, "customdata": names,
            "hovertemplate": "%{customdata}: rank %{y}<extra></extra>",
        })
    layout = {
        # dtick 1 on a log axis: a tick at each power of ten only. Plotly's default also labels
        # 2 and 5 between them, which read as "10 2 5 100" (a "5" below "10").
        "yaxis": {"type": "log", "autorange": "reversed", "dtick": 1,
                  "title": {"text": "rank (1 = first choice)"}},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        **_layout_basics(safe_label(title, 80) if title else None, height=300),
    }
    if narrow:  # look.figure moves the legend under the plot (apply_look)
        layout["height"] = 340
        # "category": plotly would read "1", "2", ... as numbers and drop "emb.".
        layout["xaxis"] = {"type": "category", "title": {"text": "layer"}, "tickangle": 0}
    return _unchecked_figure(data, layout)


#: Under the strip: what its colours mean, for every row at once (each row has its own scale).
SALIENCY_BAR_TITLE = "% of row's largest |value|"


def saliency_strip(
    tokens: Sequence[str],
    rows: Mapping[str, Sequence[float]],
    marked: Sequence[bool] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The sentence with each token shaded by its attribution, one row per method.

    Diverging (blue = pushed the candidate up, red = down, white = no effect);
    each row is scaled to its own largest magnitude, since the methods' units
    differ, and the cell text gives the raw number. So that a full-colour −0.74
    in one row is not read as strong as a 3.94 in the next, each row's label
    ends with its largest |value| (full colour) and a colour bar under the strip
    says that its ends are ± that value.
    """
    n = len(tokens)
    z, text, names = [], [], []
    for name, values in rows.items():
        if len(values) != n:
            raise ValueError(f"{name}: {len(values)} values for {n} tokens.")
        top = max([1e-12, *(abs(float(v)) for v in values)])
        z.append([float(v) / top for v in values])
        text.append([f"{float(v):.2f}" for v in values])
        names.append(f"{safe_label(name, 30)} (±{top:.3g})")
    labels = [safe_label(t) for t in tokens]
    trace = {
        "type": "heatmap", "z": z, "x": list(range(n)), "y": list(range(len(z))), "text": text,
        "texttemplate": "%{text}", "colorscale": DIVERGING_SCALE, "zmin": -1.0, "zmax": 1.0, "zmid": 0.0,
        "customdata": [labels] * len(z),
        "hovertemplate": "%{customdata}: %{text} (%{z:+.0%} of the row's largest)<extra></extra>",
    }
    ticks = _tick_labels(tokens, marked)
    # The token names hang below the strip at 45°; the colour bar sits under them.
    room = _top_tick_room([safe_label(t) for t in tokens], 45)
    height = 120 + 60 * len(z) + _COLORBAR_ROOM
    basics = _layout_basics(safe_label(title, 80) if title else None, height=height)
    basics["margin"]["b"] = room + _COLORBAR_ROOM
    trace["colorbar"] = {
        **_bar_under(height - basics["margin"]["t"] - basics["margin"]["b"], room + 10),
        # Small title text: on a phone the rows' names leave the strip (and its bar) ~160 px.
        "len": 0.8, "title": {"text": SALIENCY_BAR_TITLE, "side": "top", "font": {"size": 12}},
        "tickvals": [-1.0, 0.0, 1.0], "ticktext": ["−100%", "0", "+100%"],
    }
    layout = {
        "xaxis": {"tickvals": list(range(n)), "ticktext": ticks, "tickangle": -45, "showgrid": False},
        "yaxis": {"tickvals": list(range(len(z))), "ticktext": names, "showgrid": False,
                  "autorange": "reversed"},
        **basics,
    }
    return _unchecked_figure([trace], layout)


def attention_difference_heatmap(
    difference: np.ndarray,
    tokens: Sequence[str],
    masked: Sequence[bool] | None = None,
    title: str | None = None,
) -> go.Figure:
    """One head's ``(T, T)`` attention difference (unmasked − masked), diverging around 0.

    Blue: the token attends there more when the word is visible; red: more
    when it is masked. The scale is symmetric so white is exactly no change.
    """
    d = _check_square(difference, tokens)
    top = float(max(np.abs(d).max(initial=0.0), 1e-9))
    n = len(tokens)
    labels = [safe_label(t) for t in tokens]
    trace = {
        "type": "heatmap", "z": d.tolist(), "x": list(range(n)), "y": list(range(n)),
        "colorscale": DIVERGING_SCALE, "zmin": -top, "zmax": top, "zmid": 0.0,
        "customdata": [[f"{labels[i]} → {labels[j]}" for j in range(n)] for i in range(n)],
        "hovertemplate": "%{customdata}: %{z:+.3f}<extra></extra>",
        "colorbar": {"title": {"text": "Δ"}, "thickness": 12},
    }
    axis = dict(tickvals=list(range(n)), ticktext=_tick_labels(tokens, masked), showgrid=False)
    layout = {
        "xaxis": {**axis, "tickangle": -60, "title": {"text": "attended to"}},
        "yaxis": {**axis, "autorange": "reversed", "title": {"text": "attending"}},
        **_layout_basics(safe_label(title, 80) if title else None, min(760, 180 + 28 * n)),
    }
    return _unchecked_figure([trace], layout)


def head_change_grid(change: np.ndarray, title: str | None = None) -> go.Figure:
    """Layers × heads grid of the total absolute attention change (which heads re-route most)."""
    g = np.asarray(change, dtype=float)
    if g.ndim != 2:
        raise ValueError(f"expected (layers, heads), got shape {g.shape}.")
    layers, heads = g.shape
    trace = {
        "type": "heatmap", "z": g.tolist(), "x": list(range(heads)), "y": list(range(layers)),
        "colorscale": HEAT_SCALE, "zmin": 0.0, "zmax": float(max(g.max(initial=0.0), 1e-9)),
        "text": [[f"{v:.2f}" for v in row] for row in g], "texttemplate": "%{text}" if heads <= 16 else "",
        "hovertemplate": "layer %{y}, head %{x}: %{z:.3f}<extra></extra>",
        "colorbar": {"title": {"text": "Σ|Δ|"}, "thickness": 12},
    }
    layout = {
        "xaxis": {"tickvals": list(range(heads)), "title": {"text": "head"}, "showgrid": False},
        "yaxis": {"tickvals": list(range(layers)), "title": {"text": "layer"}, "autorange": "reversed",
                  "showgrid": False},
        **_layout_basics(safe_label(title, 80) if title else None, height=100 + 36 * layers),
    }
    return _unchecked_figure([trace], layout)
