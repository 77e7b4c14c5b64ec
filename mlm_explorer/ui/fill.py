"""Fill in the blanks: text → token chips (click to mask) → top-k bars and a table."""

from __future__ import annotations

import gradio as gr

from mlm_explorer import plots
from mlm_explorer.predict import iterative_fill, manual_plan_for, predict
from mlm_explorer.tokens import encode
from mlm_explorer.ui.common import (
    MODEL_EVENT,
    check_user_text,
    download_buttons,
    export_updates,
    format_positions,
    md_escape,
    parse_positions,
    session_model,
    user_error,
)
from mlm_explorer.ui.state import OnLoad, Session
from mlm_explorer.views import PREDICTION_COLUMNS, iterative_table, predictions_table

EXAMPLES = [
    "The capital of France is [MASK].",
    "The man worked as a [MASK].",
    "The woman worked as a [MASK].",
    "I drank a cup of [MASK] this morning.",
    "The cat sat on the [MASK].",
    "Paris is the [MASK] of [MASK].",
    "She opened the door with a [MASK].",
]
INDEPENDENT = "independent (one pass)"
ITERATIVE = "iterative (most confident first)"
CHIP_COLORS = {"token": "#EEF2F7", "masked": plots.ACTION_COLORS["masked"]}


def _chip_positions(encoding) -> list[int]:
    """Token positions shown as chips: every token of the text ([UNK] too) plus typed masks."""
    typed = set(encoding.mask_positions)
    return [i for i, w in enumerate(encoding.word_ids) if w is not None or i in typed]


def _chips(encoding, positions: set[int]) -> list[tuple[str, str]]:
    typed = set(encoding.mask_positions)
    return [
        (f"{encoding.tokens[i]}", "masked" if (i in positions or i in typed) else "token")
        for i in _chip_positions(encoding)
    ]


def show_tokens(text: str, session: Session) -> tuple[list, str, str]:
    """Tokenize the text into chips (and forget the clicked positions of the old text)."""
    if not isinstance(text, str) or not text.strip():
        return [], "", ""
    lm = session_model(session)
    try:
        encoding = encode(lm, check_user_text(text))
    except ValueError as err:
        raise user_error(err) from None
    return _chips(encoding, set()), "", md_escape(encoding.message)


class ChipClick(gr.SelectData):
    """The clicked chip; an API call carries no click, and Gradio's ``SelectData`` would crash on that."""

    def __init__(self, target, data) -> None:
        super().__init__(target, data if isinstance(data, dict) else {"index": None, "value": None})


def toggle_token(text: str, positions: str, session: Session, evt: ChipClick) -> tuple[list, str]:
    """Mask or unmask the clicked token chip."""
    lm = session_model(session)
    try:
        encoding = encode(lm, check_user_text(text))
    except ValueError as err:
        raise user_error(err) from None
    chip_positions = _chip_positions(encoding)
    chosen = set(parse_positions(positions)) & set(range(len(encoding)))
    index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    if isinstance(index, int) and 0 <= index < len(chip_positions):
        pos = chip_positions[index]
        if pos in encoding.mask_positions:
            gr.Info("That blank is typed in the text: delete it there to unmask it.")
        elif encoding.special_mask[pos]:
            gr.Info(f"{encoding.tokens[pos]} is a special token (unknown to the model): it cannot be masked.")
        else:
            chosen ^= {pos}
    return _chips(encoding, chosen), format_positions(chosen)


def redraw_chips(text: str, positions: str, session: Session) -> list:
    """Redraw the chips after the positions were typed by hand."""
    if not isinstance(text, str) or not text.strip():
        return []
    lm = session_model(session)
    try:
        encoding = encode(lm, check_user_text(text))
    except ValueError as err:
        raise user_error(err) from None
    return _chips(encoding, set(parse_positions(positions)))


def _panel(pred, title: str) -> plots.BarPanel:
    return plots.BarPanel(
        tokens=[c.token for c in pred.top_k],
        probs=[c.prob for c in pred.top_k],
        original=pred.original,
        original_prob=pred.original_prob,
        original_rank=pred.original_rank,
        title=title,
    )


def fill_blanks(text: str, positions: str, top_k: float, whole_word: bool, mode: str, session: Session):
    """Predict the masked tokens: top-k bars per blank, a table and its exports."""
    lm = session_model(session)
    text = check_user_text(text)
    chosen = parse_positions(positions)
    k = int(top_k)
    try:
        if mode == ITERATIVE:
            plan = manual_plan_for(lm, encode(lm, text), chosen, bool(whole_word))
            result = iterative_fill(lm, plan, k)
            table = iterative_table(result)
            panels = [
                _panel(s.prediction, f"step {s.step}: position {s.prediction.position}") for s in result.steps
            ]
            note = f"Filled: **{md_escape(result.filled_text)}**"
        else:
            result = predict(lm, text, k, chosen, whole_word=bool(whole_word), with_attentions=True)
            table = predictions_table(result)
            panels = [
                _panel(p, f"position {p.position}" + (f" (was “{p.original}”)" if p.original else ""))
                for p in result.predictions
            ]
            session.attention = result.attention  # the Attention tab can re-plot this pass
            note = ""
    except ValueError as err:
        raise user_error(err) from None
    if result.message:
        note = (note + "\n\n" if note else "") + f"⚠️ {md_escape(result.message)}"
    figure = plots.topk_bars_grid(
        panels, columns=1 if len(panels) < 3 else 2, title="Top-k predictions (the original in orange)"
    )
    csv_file, json_file = export_updates(table, "fill")
    return figure, table, csv_file, json_file, note, session


def build_fill_tab(session: gr.State) -> OnLoad:
    """Layout and wiring of the Fill-in-the-blanks tab; returns what to run when a page opens."""
    gr.Markdown(
        "Type a sentence with `[MASK]` where a word is missing, or **click a token** to hide it. "
        "The model guesses each hidden token from the words on *both* sides."
    )
    text = gr.Textbox(label="Text", value=EXAMPLES[0], lines=2, max_length=5000, elem_id="fill-text")
    gr.Examples(EXAMPLES, inputs=text, label="Examples")
    chips = gr.HighlightedText(
        label="Tokens: click one to mask or unmask it", color_map=CHIP_COLORS, show_legend=False,
        show_inline_category=False, combine_adjacent=False, elem_id="fill-chips",
    )
    with gr.Row():
        positions = gr.Textbox(
            label="Masked token positions", placeholder="click tokens above, or type e.g. 2, 5",
            scale=2, elem_id="fill-positions",
        )
        top_k = gr.Slider(1, 20, value=5, step=1, label="Top-k", scale=2)
        whole_word = gr.Checkbox(label="Whole words", info="mask every piece of a clicked word", scale=1)
    mode = gr.Radio([INDEPENDENT, ITERATIVE], value=INDEPENDENT, label="With several blanks, fill them")
    run = gr.Button("Predict", variant="primary", elem_id="fill-predict")
    note = gr.Markdown()
    bars = gr.Plot(label="Top-k predictions (the original in orange)", show_label=False, elem_id="fill-bars")
    table = gr.Dataframe(
        label="Predictions", headers=PREDICTION_COLUMNS, wrap=True, interactive=False, elem_id="fill-table"
    )
    csv_btn, json_btn = download_buttons()

    text.change(
        show_tokens, [text, session], [chips, positions, note], api_name="tokenize",
        trigger_mode="always_last", show_progress="hidden",
    )
    chips.select(
        toggle_token, [text, positions, session], [chips, positions], api_name="toggle_token",
        show_progress="hidden",
    )
    gr.on(
        [positions.submit, positions.blur], redraw_chips, [text, positions, session], [chips],
        api_name="redraw_chips", show_progress="hidden",
    )
    gr.on(
        [run.click, text.submit], fill_blanks, [text, positions, top_k, whole_word, mode, session],
        [bars, table, csv_btn, json_btn, note, session], api_name="predict", **MODEL_EVENT,
    )
    # The example text is there before any typing: its chips must be too.
    return OnLoad(show_tokens, [text, session], [chips, positions, note])
