"""Attention: one forward pass, then layer/head pickers that only re-plot the cached tensors."""

from __future__ import annotations

import gradio as gr
import numpy as np

from mlm_explorer import plots
from mlm_explorer.attention import attention_from_output, mean_over_heads, rollout, select_tokens
from mlm_explorer.predict import forward
from mlm_explorer.tokens import encode
from mlm_explorer.ui.common import (
    MODEL_EVENT,
    check_user_text,
    md_escape,
    session_model,
    user_error,
)
from mlm_explorer.ui.state import Session

EXAMPLE = "The cat sat on the [MASK] because it was tired."
ONE_HEAD = "one head"
ALL_HEADS = "all heads of the layer"
MEAN = "mean over heads"
ROLLOUT = "rollout up to the layer"
VIEWS = [ONE_HEAD, ALL_HEADS, MEAN, ROLLOUT]
# All heads at once draws heads × T² cells: 12 × 128² ≈ 200k cells is a 6 MB figure; at 512
# tokens it is 100 MB of JSON and minutes of server time (bench/worst_case.py).
MAX_ALL_HEADS_TOKENS = 128


def _clamp(value: float | None, top: int) -> int:
    return min(max(int(value or 0), 0), top)


def attention_figure(maps, view: str, layer: float, head: float, hide_special: bool):
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
        weights = select_tokens(maps.array[layer_i], keep)
        title = f"Layer {layer_i}: all {maps.num_heads} heads (one colour scale)"
        return plots.attention_small_multiples(weights, tokens, masked, title=title)
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
        enc = encode(lm, text)
        out = forward(lm, enc.input_ids, with_attentions=True, positions=[0])
        typed = set(enc.mask_positions)
        maps = attention_from_output(
            enc.tokens, out.attentions,
            special_mask=[s and i not in typed for i, s in enumerate(enc.special_mask)],
            masked_positions=enc.mask_positions,
        )
    except ValueError as err:
        raise user_error(err) from None
    session.attention = maps
    caption = _caption(maps, enc.message)
    figure = attention_figure(maps, view, layer, head, hide_special)
    layer_update = gr.update(maximum=maps.num_layers - 1, value=_clamp(layer, maps.num_layers - 1))
    head_update = gr.update(maximum=maps.num_heads - 1, value=_clamp(head, maps.num_heads - 1))
    return figure, caption, layer_update, head_update, session


def replot_attention(view: str, layer: float, head: float, hide_special: bool, session: Session):
    """Re-plot the cached attention for another layer, head or view (the model does not run)."""
    maps = session.attention
    if maps is None:
        return plots.empty_figure("Press “Run” first (or predict in the Fill tab)."), ""
    return attention_figure(maps, view, layer, head, hide_special), _caption(maps)


def _caption(maps, message: str = "") -> str:
    words = " ".join(maps.tokens)
    text = (
        f"Showing the last forward pass of this session: {md_escape(words[:300])}  \n"
        "Row = the token attending, column = the token attended to; masked positions in **bold orange**."
    )
    return text + (f"\n\n⚠️ {md_escape(message)}" if message else "")


def build_attention_tab(session: gr.State) -> None:
    """Layout and wiring of the Attention tab."""
    gr.Markdown(
        "Each layer has several attention **heads**; each head decides how much every token looks at every "
        "other. Run the model once, then browse layers and heads."
    )
    with gr.Row():
        text = gr.Textbox(label="Text", value=EXAMPLE, lines=2, max_length=5000, scale=4, elem_id="attn-text")
        run = gr.Button("Run", variant="primary", scale=1, elem_id="attn-run")
    view = gr.Radio(VIEWS, value=ONE_HEAD, label="View")
    with gr.Row():
        layer = gr.Slider(0, 11, value=0, step=1, label="Layer", elem_id="attn-layer")
        head = gr.Slider(0, 11, value=0, step=1, label="Head")
        hide_special = gr.Checkbox(label="Hide special tokens", value=False)
    caption = gr.Markdown()
    plot = gr.Plot(label="Attention", show_label=False, elem_id="attn-plot")

    gr.on(
        [run.click, text.submit], run_attention, [text, view, layer, head, hide_special, session],
        [plot, caption, layer, head, session], api_name="attention", **MODEL_EVENT,
    )
    gr.on(
        # .change, not .release: keyboard users move sliders with arrow keys; a re-plot is cheap.
        [view.input, layer.change, head.change, hide_special.input], replot_attention,
        [view, layer, head, hide_special, session], [plot, caption], api_name="attention_plot",
        trigger_mode="always_last", concurrency_limit=8,
    )
