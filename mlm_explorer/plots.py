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

# Okabe–Ito palette: distinguishable with the common colour-vision deficiencies
# and on a washed-out classroom projector.
ORIGINAL_COLOR = "#D55E00"  # the true token among the predictions
BAR_COLOR = "#0072B2"
ACTION_COLORS: dict[str, str] = {
    "masked": "#E69F00",
    "random": "#CC79A7",
    "kept": "#56B4E9",
    "untouched": "#D9D9D9",
}
HEAT_SCALE = "Viridis"
PLL_SCALE = "RdYlGn"  # red = surprising token, green = expected token

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


def _mark(label: str, marked: bool) -> str:
    """Wrap an already-escaped label in our own markup for marked (masked) positions."""
    return f'<span style="color:{ORIGINAL_COLOR}"><b>{label}</b></span>' if marked else label


def _tick_labels(tokens: Sequence[str], marked: Sequence[bool] | None) -> list[str]:
    marks = marked if marked is not None else [False] * len(tokens)
    return [_mark(safe_label(t), bool(m)) for t, m in zip(tokens, marks, strict=True)]


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


def _layout_basics(title: str | None, height: int, top: int = 0) -> dict:
    """Title, height, margins and font shared by every figure (``title`` already escaped).

    ``top`` adds room above the plot area, e.g. for panel titles of a grid;
    the app's plot label also covers the top-left corner.
    """
    return dict(
        title=dict(text=title, x=0.0, xanchor="left") if title else None,
        height=height + top,
        margin=dict(l=10, r=10, t=(50 if title else 20) + top, b=10),
        font=_FONT,
    )


def _base_layout(fig: go.Figure, title: str | None, height: int) -> go.Figure:
    fig.update_layout(**_layout_basics(title, height))
    return fig


def _percent_format(probs: Sequence[float]) -> str:
    """Tick format that tells ticks apart: whole percents unless every bar is under 5%."""
    return ".0%" if max([0.0, *probs]) >= 0.05 else ".1%"


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
    colors = [ORIGINAL_COLOR if h else BAR_COLOR for h in hits]
    labels = [safe_label(t) for t in tokens]
    fig = _figure(
        go.Bar(
            x=list(probs),
            y=list(range(n)),
            orientation="h",
            marker_color=colors,
            text=[f"{p:.1%}" for p in probs],
            textposition="auto",
            customdata=labels,
            hovertemplate="%{customdata}: %{x:.2%}<extra></extra>",
        )
    )
    ticks = [_mark(lbl, h) for lbl, h in zip(labels, hits, strict=True)]
    fig.update_yaxes(tickvals=list(range(n)), ticktext=ticks, autorange="reversed")
    fig.update_xaxes(
        range=[0, max([1e-9, *probs]) * 1.15], tickformat=_percent_format(probs), nticks=5,
        title="probability",
    )
    if original is not None and not any(hits):
        rank = f", rank {original_rank}" if original_rank is not None else ""
        prob = f"{original_prob:.2%}" if original_prob is not None else "?"
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
        if p.original is not None and p.original not in p.tokens:
            rank = f", rank {p.original_rank}" if p.original_rank is not None else ""
            prob = f"{p.original_prob:.1%}" if p.original_prob is not None else "?"
            note = f"original “{safe_label(p.original)}”: {prob}{rank}"
            t += f"<br><span style='font-size:12px;color:{ORIGINAL_COLOR}'>{note}</span>"
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
        data.append(
            {"type": "bar", "x": [float(v) for v in p.probs], "y": list(range(len(p.tokens))),
             "orientation": "h", "xaxis": xref, "yaxis": yref,
             "marker": {"color": [ORIGINAL_COLOR if h else BAR_COLOR for h in hits]},
             "text": [f"{v:.1%}" for v in p.probs], "textposition": "auto", "customdata": labels,
             "hovertemplate": "%{customdata}: %{x:.2%}<extra></extra>", "showlegend": False}
        )
        x_name, y_name = "xaxis" + xref[1:], "yaxis" + yref[1:]
        axes[y_name].update(
            tickvals=list(range(len(p.tokens))), autorange="reversed",
            ticktext=[_mark(lbl, h) for lbl, h in zip(labels, hits, strict=True)],
        )
        axes[x_name].update(
            range=[0, max([1e-9, *p.probs]) * 1.2], tickformat=_percent_format(p.probs), nticks=4
        )
    basics = _layout_basics(
        safe_label(title, 80) if title else None, height=60 + rows * (70 + 30 * k), top=45
    )
    return _unchecked_figure(data, {**axes, "annotations": notes, **basics})


def _check_square(weights: np.ndarray, tokens: Sequence[str]) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape[-2:] != (len(tokens), len(tokens)):
        raise ValueError(f"attention of shape {w.shape} does not match {len(tokens)} tokens.")
    return w


def attention_heatmap(
    weights: np.ndarray,
    tokens: Sequence[str],
    masked: Sequence[bool] | None = None,
    title: str | None = None,
    zmax: float | None = None,
) -> go.Figure:
    """One ``(T, T)`` attention map: row = the token attending, column = the token attended to.

    Masked positions are drawn in bold orange on both axes.
    """
    w = _check_square(weights, tokens)
    top = float(zmax if zmax is not None else max(w.max(initial=0.0), 1e-9))
    n = len(tokens)
    labels = [safe_label(t) for t in tokens]
    trace = {
        "type": "heatmap", "z": w.tolist(), "x": list(range(n)), "y": list(range(n)),
        "colorscale": HEAT_SCALE, "zmin": 0.0, "zmax": top,
        # hover: "from → to: weight" (row attends to column).
        "customdata": [[f"{labels[i]} → {labels[j]}" for j in range(n)] for i in range(n)],
        "hovertemplate": "%{customdata}: %{z:.3f}<extra></extra>",
    }
    axis = dict(tickvals=list(range(n)), ticktext=_tick_labels(tokens, masked), showgrid=False)
    layout = {
        "xaxis": {**axis, "tickangle": -60, "side": "bottom", "title": {"text": "attended to"}},
        "yaxis": {**axis, "autorange": "reversed", "title": {"text": "attending"}},
        **_layout_basics(safe_label(title, 80) if title else None, min(760, 180 + 28 * n)),
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
    """
    w = _check_square(weights, tokens)
    if w.ndim != 3:
        raise ValueError(f"expected (heads, T, T), got shape {w.shape}.")
    heads = w.shape[0]
    cols = max(1, min(columns, heads))
    rows = math.ceil(heads / cols)
    axes, refs, notes = _grid(
        heads, cols, hspace=0.03, vspace=0.08 if rows > 1 else 0.1, titles=[f"head {h}" for h in range(heads)]
    )
    n = len(tokens)
    labels = [safe_label(t) for t in tokens]
    hover = [[f"{labels[i]} → {labels[j]}" for j in range(n)] for i in range(n)]
    data = [
        {"type": "heatmap", "z": w[h].tolist(), "x": list(range(n)), "y": list(range(n)),
         "xaxis": xref, "yaxis": yref, "coloraxis": "coloraxis", "customdata": hover,
         "hovertemplate": "%{customdata}: %{z:.3f}<extra></extra>"}
        for h, (xref, yref) in enumerate(refs)
    ]
    # Tick labels only where they fit: with many tokens a small panel shows none.
    ticks = _tick_labels(tokens, masked) if n <= 16 else [""] * n
    tick_axis = dict(tickvals=list(range(n)), ticktext=ticks, showgrid=False, tickfont=dict(size=9))
    for name, axis in axes.items():
        axis.update(tick_axis)
        if name.startswith("x"):
            axis.update(tickangle=-60)
        else:
            axis.update(autorange="reversed")
    top = float(max(w.max(initial=0.0), 1e-9))
    basics = _layout_basics(safe_label(title, 80) if title else None, height=120 + 230 * rows, top=20)
    coloraxis = dict(colorscale=HEAT_SCALE, cmin=0.0, cmax=top)
    return _unchecked_figure(data, {**axes, "annotations": notes, "coloraxis": coloraxis, **basics})


def _binomial_halfwidth(p: float, n: int) -> float:
    """95% normal-approximation half-width of a rate estimated from n draws."""
    return 1.96 * math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else 0.0


def policy_rates_chart(
    empirical: Mapping[str, float],
    nominal: Mapping[str, float],
    counts: Mapping[str, int] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Empirical vs nominal rates of the 80/10/10 policy over many draws.

    ``empirical`` and ``nominal`` map the same names (e.g. "selected", "masked",
    "random", "kept") to rates; ``counts`` gives the number of trials behind
    each empirical rate, for a 95% error bar.
    """
    names = list(nominal)
    emp = [float(empirical.get(k, float("nan"))) for k in names]
    errors = [_binomial_halfwidth(e, (counts or {}).get(k, 0)) for k, e in zip(names, emp, strict=True)]
    labels = [safe_label(k) for k in names]
    fig = _figure(
        [
            go.Bar(name="nominal", x=labels, y=[nominal[k] for k in names], marker_color="#BBBBBB",
                   text=[f"{nominal[k]:.0%}" for k in names], textposition="outside"),
            go.Bar(name="empirical", x=labels, y=emp, marker_color=BAR_COLOR,
                   error_y=dict(type="data", array=errors, visible=counts is not None),
                   text=[f"{e:.1%}" for e in emp], textposition="outside"),
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
    """Per-token pseudo-log-likelihood as a one-row heat strip (red = surprising).

    Pass the same ``zmin`` to two strips to compare them on one scale.
    """
    if len(tokens) != len(log_probs):
        raise ValueError(f"tokens and log_probs differ in length: {len(tokens)} vs {len(log_probs)}.")
    n = len(tokens)
    lp = np.asarray(log_probs, dtype=float)
    low = float(zmin if zmin is not None else min(lp.min(initial=0.0), -1e-6))
    labels = [safe_label(t) for t in tokens]
    fig = _figure(
        go.Heatmap(
            z=[lp], x=list(range(n)), y=[0], zmin=low, zmax=0.0, colorscale=PLL_SCALE,
            text=[[f"{v:.2f}" for v in lp]], texttemplate="%{text}", customdata=[labels],
            hovertemplate="%{customdata}: log p = %{z:.3f}<extra></extra>",
            colorbar=dict(title="log p", thickness=12),
        )
    )
    fig.update_xaxes(tickvals=list(range(n)), ticktext=labels, tickangle=-45, showgrid=False)
    fig.update_yaxes(visible=False)
    return _base_layout(fig, safe_label(title, 80) if title else None, height=230)


def loss_curve(
    steps: Sequence[int],
    losses: Sequence[float],
    eval_steps: Sequence[int] = (),
    eval_losses: Sequence[float] = (),
    title: str | None = "Training loss",
) -> go.Figure:
    """Training loss per step, with held-out loss points when there are any."""
    train = go.Scatter(x=list(steps), y=list(losses), mode="lines", name="train", line_color=BAR_COLOR)
    fig = _figure(train)
    if len(eval_steps):
        fig.add_trace(
            go.Scatter(x=list(eval_steps), y=list(eval_losses), mode="lines+markers", name="held-out",
                       line_color=ORIGINAL_COLOR)
        )
    fig.update_xaxes(title="step")
    fig.update_yaxes(title="loss")
    fig.update_layout(legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return _base_layout(fig, safe_label(title, 80) if title else None, height=320)


# ---------------------------------------------------------------------------- inside a prediction
# Figures of the "Inside" tab (layer by layer, saliency, masked vs unmasked attention).

# Red–blue diverging (ColorBrewer RdBu): readable with the common colour-vision
# deficiencies; red = pushed down / lost attention, blue = pushed up / gained.
DIVERGING_SCALE = "RdBu"


def layer_lens_heatmap(
    layers: Sequence[int],
    tokens: Sequence[Sequence[str]],
    probs: Sequence[Sequence[float]],
    final: str | None = None,
    original: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Layers (rows, embeddings at the bottom) × top-k tokens (columns), coloured by probability.

    Each cell names the token the MLM head reads at that rank after that
    layer. The model's final answer is in bold, the original token in orange,
    so a student can see at which layer the answer appears.
    """
    if len(tokens) != len(layers) or len(probs) != len(layers):
        raise ValueError("layers, tokens and probs must have one entry per layer.")
    k = max((len(row) for row in tokens), default=0)
    z, text, hover = [], [], []
    for layer, row_t, row_p in zip(layers, tokens, probs, strict=True):
        if len(row_t) != len(row_p):
            raise ValueError(f"layer {layer}: tokens and probs differ in length.")
        pad = k - len(row_t)
        z.append([float(p) for p in row_p] + [None] * pad)
        cells, tips = [], []
        for t in row_t:
            label = safe_label(t, 14)
            if original is not None and t == original:
                label = f'<span style="color:{ORIGINAL_COLOR}">{label}</span>'
            cells.append(f"<b>{label}</b>" if final is not None and t == final else label)
            tips.append(safe_label(t))
        text.append(cells + [""] * pad)
        hover.append(tips + [""] * pad)
    n = len(layers)
    trace = {
        "type": "heatmap", "z": z, "x": list(range(1, k + 1)), "y": list(range(n)), "text": text,
        "texttemplate": "%{text}", "customdata": hover, "colorscale": HEAT_SCALE, "zmin": 0.0,
        "zmax": max([1e-9, *(p for row in z for p in row if p is not None)]),
        "hovertemplate": "%{customdata}: %{z:.2%}<extra></extra>",
        "colorbar": {"title": {"text": "p"}, "thickness": 12, "tickformat": ".0%"},
    }
    ticks = ["embeddings" if layer == 0 else f"layer {layer}" for layer in layers]
    layout = {
        "xaxis": {"tickvals": list(range(1, k + 1)), "title": {"text": "rank at this layer"},
                  "showgrid": False},
        "yaxis": {"tickvals": list(range(n)), "ticktext": ticks, "showgrid": False},
        **_layout_basics(safe_label(title, 80) if title else None, height=80 + 44 * n),
    }
    return _unchecked_figure([trace], layout)


def layer_rank_lines(
    layers: Sequence[int],
    final_ranks: Sequence[int],
    original_ranks: Sequence[int | None] | None = None,
    final: str | None = None,
    original: str | None = None,
    title: str | None = None,
) -> go.Figure:
    """Rank of the final answer (and of the original) after each layer, on a log scale, 1 at the top."""
    names = ["embeddings" if layer == 0 else f"layer {layer}" for layer in layers]
    data = [{
        "type": "scatter", "mode": "lines+markers", "x": names, "y": [int(r) for r in final_ranks],
        "name": f"final answer “{safe_label(final)}”" if final is not None else "final answer",
        "line": {"color": BAR_COLOR}, "hovertemplate": "%{x}: rank %{y}<extra></extra>",
    }]
    if original_ranks is not None and any(r is not None for r in original_ranks):
        data.append({
            "type": "scatter", "mode": "lines+markers", "x": names, "y": list(original_ranks),
            "name": f"original “{safe_label(original)}”" if original is not None else "original",
            "line": {"color": ORIGINAL_COLOR, "dash": "dot"},
            "hovertemplate": "%{x}: rank %{y}<extra></extra>",
        })
    layout = {
        "yaxis": {"type": "log", "autorange": "reversed", "title": {"text": "rank (1 = first choice)"}},
        "legend": {"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
        **_layout_basics(safe_label(title, 80) if title else None, height=300),
    }
    return _unchecked_figure(data, layout)


def saliency_strip(
    tokens: Sequence[str],
    rows: Mapping[str, Sequence[float]],
    marked: Sequence[bool] | None = None,
    title: str | None = None,
) -> go.Figure:
    """The sentence with each token shaded by its attribution, one row per method.

    Diverging (blue = pushed the candidate up, red = down, white = no effect);
    each row is scaled to its own largest magnitude, since the methods' units
    differ, and the cell text gives the raw number.
    """
    n = len(tokens)
    z, text, names = [], [], []
    for name, values in rows.items():
        if len(values) != n:
            raise ValueError(f"{name}: {len(values)} values for {n} tokens.")
        top = max([1e-12, *(abs(float(v)) for v in values)])
        z.append([float(v) / top for v in values])
        text.append([f"{float(v):.2f}" for v in values])
        names.append(safe_label(name, 30))
    labels = [safe_label(t) for t in tokens]
    trace = {
        "type": "heatmap", "z": z, "x": list(range(n)), "y": list(range(len(z))), "text": text,
        "texttemplate": "%{text}", "colorscale": DIVERGING_SCALE, "zmin": -1.0, "zmax": 1.0, "zmid": 0.0,
        "customdata": [labels] * len(z), "showscale": False,
        "hovertemplate": "%{customdata}: %{text}<extra></extra>",
    }
    layout = {
        "xaxis": {"tickvals": list(range(n)), "ticktext": _tick_labels(tokens, marked), "tickangle": -45,
                  "showgrid": False},
        "yaxis": {"tickvals": list(range(len(z))), "ticktext": names, "showgrid": False,
                  "autorange": "reversed"},
        **_layout_basics(safe_label(title, 80) if title else None, height=120 + 60 * len(z)),
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
