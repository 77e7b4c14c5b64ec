"""Attention: one forward pass, then layer/head pickers that only re-plot the cached tensors."""

from __future__ import annotations

import gradio as gr
import numpy as np

from mlm_explorer import plots
from mlm_explorer.attention import compact, mean_over_heads, rollout, select_tokens
from mlm_explorer.predict import attention_for_text
from mlm_explorer.ui import look
from mlm_explorer.ui.common import ATTENTION_EVENT, check_user_text, md_escape, session_model, user_error
from mlm_explorer.ui.look import LinkField, TabParts
from mlm_explorer.ui.state import OnLoad, Session

EXAMPLE = "The cat sat on the [MASK] because it was tired."
ONE_HEAD = "one head"
ALL_HEADS = "all heads of the layer"
MEAN = "mean over heads"
ROLLOUT = "rollout up to the layer"
VIEWS = [ONE_HEAD, ALL_HEADS, MEAN, ROLLOUT]
# All heads at once draws heads × T² cells: 12 × 128² ≈ 200k cells is a 6 MB figure; at 512
# tokens it is 100 MB of JSON and minutes of server time (bench/worst_case.py).
MAX_ALL_HEADS_TOKENS = 128
VIEW_ALIASES = (("head", ONE_HEAD), ("heads", ALL_HEADS), ("mean", MEAN), ("rollout", ROLLOUT))
TOP_KEY = "attention_top"  # session.extras: the top of the last colour scale, to say when it changes
# session.extras: which tab made session.attention ("fill" or "attention"). A re-plot draws the last
# pass, which may be the Fill tab's sentence while this tab's box holds another: the caption says so.
FROM_KEY = "attention_from"
FROM_FILL = "fill"
MEANINGS = (
    "<small>**Rollout** (Abnar & Zuidema, 2020): multiply the attention of every layer up to this one "
    "(plus the direct path), to estimate how much each input token flows into each position overall.</small>"
)


def _clamp(value: float | None, top: int) -> int:
    return min(max(int(value or 0), 0), top)


def attention_figure(maps, view: str, layer: float, head: float, hide_special: bool, columns: int = 4):
    """The figure for the picked view, from cached :class:`AttentionMaps` (no model run)."""
    layer_i = _clamp(layer, maps.num_layers - 1)
    head_i = _clamp(head, maps.num_heads - 1)
    n = len(maps.tokens)
    keep = [not s for s in maps.special_mask] if hide_special and maps.special_mask else [True] * n
    if not any(keep):
        keep = [True] * len(maps.tokens)
    tokens = [t for t, k in zip(maps.tokens, keep, strict=True) if k]
    masked_all = [i in set(maps.masked_positions) for i in range(len(maps.tokens))]
    masked = [m for m, k in zip(masked_all, keep, strict=True) if k]
    if view == ALL_HEADS:
        if len(tokens) > MAX_ALL_HEADS_TOKENS:
            return plots.empty_figure(
                f"All heads at once is drawn for up to {MAX_ALL_HEADS_TOKENS} tokens and this text has "
                f"{len(tokens)}: pick one head, the mean or rollout, or a shorter text."
            )
        weights = select_tokens(maps.layer_heads(layer_i), keep)
        title = f"Layer {layer_i}: all {maps.num_heads} heads (one colour scale)"
        return plots.attention_small_multiples(weights, tokens, masked, title=title, columns=columns)
    if view == MEAN:
        weights, title = mean_over_heads(maps)[layer_i], f"Layer {layer_i}: mean over heads"
    elif view == ROLLOUT:
        weights, title = rollout(maps)[layer_i], f"Attention rollout through layer {layer_i}"
    else:
        weights, title = maps.head(layer_i, head_i), f"Layer {layer_i}, head {head_i}"
    return plots.attention_heatmap(select_tokens(np.asarray(weights), keep), tokens, masked, title=title)


def run_attention(text: str, view: str, layer: float, head: float, hide_special: bool, session: Session):
    """Run the model once on the text and plot its attention."""
    lm = session_model(session)
    text = check_user_text(text)
    try:
        maps, message = attention_for_text(lm, text)
    except ValueError as err:
        raise user_error(err) from None
    maps = compact(maps)  # kept by the session for re-plots: drawn from what is kept, now and later
    session.attention = maps
    session.extras[FROM_KEY] = "attention"
    figure, caption = _draw(maps, view, layer, head, hide_special, session, message)
    layer_update = gr.update(maximum=maps.num_layers - 1, value=_clamp(layer, maps.num_layers - 1))
    head_update = gr.update(
        maximum=maps.num_heads - 1, value=_clamp(head, maps.num_heads - 1), interactive=view == ONE_HEAD
    )
    return figure, caption, layer_update, head_update, session


def replot_attention(view: str, layer: float, head: float, hide_special: bool, session: Session):
    """Re-plot the cached attention for another layer, head or view (the model does not run)."""
    if any(look.consume_linked(session, "attention", n, v) for n, v in (("layer", layer), ("head", head))):
        return gr.skip(), gr.skip()  # a state link moved the slider: its own run draws the plot
    maps = session.attention
    if maps is None:
        return look.figure(plots.empty_figure("Press “Run” first (or predict in the Fill tab)."), session), ""
    return _draw(maps, view, layer, head, hide_special, session)


def head_picker(view: str):
    """The Head slider only matters for the one-head view: grey it out elsewhere."""
    return gr.update(interactive=view == ONE_HEAD)


def _draw(maps, view, layer, head, hide_special, session: Session, message: str = ""):
    columns = look.columns(session, wide=4, narrow=2)
    fig = attention_figure(maps, view, layer, head, hide_special, columns=columns)
    top = _scale_top(fig)
    before = session.extras.get(TOP_KEY)
    if top is None:  # nothing drawn (all heads of a text too long for them): the figure says why
        scale = "No colour scale: nothing is drawn"  # and the last scale drawn stays the one to compare
    else:
        session.extras[TOP_KEY] = top
        scale = f"Colour scale: 0 (dark) to {top:.2f} (bright), the largest weight shown"
        if before is not None and abs(before - top) > 0.005:
            scale += f" — **it changed from {before:.2f}**, so compare colours only within one picture"
    if hide_special:
        scale += "; special tokens hidden (they often take most of the attention)"
    caption = _caption(maps, message, from_fill=session.extras.get(FROM_KEY) == FROM_FILL)
    return look.figure(fig, session), caption + "  \n" + scale + "."


def _scale_top(fig) -> float | None:
    coloraxis = fig.layout.coloraxis
    if coloraxis is not None and coloraxis.cmax is not None:
        return float(coloraxis.cmax)
    zmax = getattr(fig.data[0], "zmax", None) if fig.data else None
    return None if zmax is None else float(zmax)


def _caption(maps, message: str = "", from_fill: bool = False) -> str:
    words = " ".join(maps.tokens)
    source = (
        "⚠️ **Showing the Fill tab's last Predict, not the text in the box above** (press Run to draw "
        "that one)"
        if from_fill else "Showing the last forward pass of this session"
    )
    text = (
        f"{source}: {md_escape(words[:300])}  \n"
        "Row = the token attending, column = the token attended to; masked positions in **bold orange**."
    )
    return text + (f"\n\n⚠️ {md_escape(message)}" if message else "")


def build_attention_tab(session: gr.State) -> TabParts:
    """Layout and wiring of the Attention tab."""
    gr.Markdown(
        "Each layer has several attention **heads**; each head decides how much every token looks at every "
        "other. Run the model once, then browse layers and heads."
    )
    with gr.Row():
        text = gr.Textbox(
            label="Text (Enter = Run)", value=EXAMPLE, lines=1, max_lines=4, max_length=5000, scale=4,
            min_width=200, elem_id="attn-text",
        )
        run = gr.Button("Run", variant="primary", scale=1, min_width=90, elem_id="attn-run")
    with gr.Row():
        view = gr.Radio(VIEWS, value=ONE_HEAD, label="View", scale=3, elem_id="attn-view")
        hide_special = gr.Checkbox(label="Hide special tokens", value=False, scale=1, elem_id="attn-special")
    with gr.Row():
        # The ranges follow the loaded model when a page opens and after each run.
        layer = gr.Slider(0, 11, value=0, step=1, label="Layer", elem_id="attn-layer")
        head = gr.Slider(0, 11, value=0, step=1, label="Head (one-head view)", elem_id="attn-head")
    caption = gr.Markdown(elem_id="attn-caption")
    plot = gr.Plot(label="Attention", show_label=False, elem_id="attn-plot")
    gr.Markdown(MEANINGS)

    inputs = [text, view, layer, head, hide_special, session]
    outputs = [plot, caption, layer, head, session]
    gr.on([run.click, text.submit], run_attention, inputs, outputs, api_name="attention", **ATTENTION_EVENT)
    gr.on(
        # .change, not .release: keyboard users move sliders with arrow keys; a re-plot is cheap.
        [view.input, layer.change, head.change, hide_special.input], replot_attention,
        [view, layer, head, hide_special, session], [plot, caption], api_name="attention_plot",
        trigger_mode="always_last", concurrency_limit=8,
    )
    view.change(head_picker, [view], [head], api_name=False, queue=False, show_progress="hidden")
    links = [
        (LinkField("text", "attention", "text"), text),
        (LinkField("view", "attention", "choice", choices=VIEW_ALIASES), view),
        (LinkField("layer", "attention", "int", 0, 100), layer),
        (LinkField("head", "attention", "int", 0, 100), head),
        (LinkField("special", "attention", "bool"), hide_special),
    ]
    return TabParts(links=links, on_open=OnLoad(open_attention, inputs, outputs))


def open_attention(text: str, view: str, layer: float, head: float, hide_special: bool, session: Session):
    """A result on open: the attention of the default (or linked) sentence, sliders fitted to the model."""
    try:
        return run_attention(text, view, layer, head, hide_special, session)
    except gr.Error as err:
        empty = look.figure(plots.empty_figure("Type a sentence and press Run."), session)
        return empty, f"⚠️ {err.message}", gr.skip(), gr.skip(), session
