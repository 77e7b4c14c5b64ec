"""Fill in the blanks: text → token chips (click to mask) → top-k bars and a table."""

from __future__ import annotations

import gradio as gr

from mlm_explorer import plots
from mlm_explorer.attention import compact
from mlm_explorer.predict import (
    MAX_TOP_K,
    copies_context,
    iterative_fill,
    manual_plan_for,
    opens_sequence,
    predict_encoding,
)
from mlm_explorer.showcase import FILL_EXAMPLES
from mlm_explorer.tokens import encode
from mlm_explorer.ui import attention as attention_tab
from mlm_explorer.ui import look
from mlm_explorer.ui.common import (
    MODEL_EVENT,
    check_user_text,
    download_buttons,
    format_positions,
    md_escape,
    parse_positions,
    remember_export,
    session_model,
    user_error,
)
from mlm_explorer.ui.look import LinkField, TabParts
from mlm_explorer.ui.state import OnLoad, Session
from mlm_explorer.views import iterative_table, predictions_table

EXAMPLES = list(FILL_EXAMPLES)
INDEPENDENT = "independent (one pass)"
ITERATIVE = "iterative (most confident first)"
CHIP_COLORS = {"token": plots.UNTOUCHED_COLOR, "masked": plots.MASKED_COLOR}
MEANINGS = (
    "<small>**rank** (when you mask a word of the text): where that original word is in the model's "
    "list (1 = its first choice). "
    "**entropy** (in nats, natural-log units): how spread the guesses are; 0 = certain, "
    "about 10 = no idea among 30,000 words.</small>"
)


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


def show_tokens(text: str, session: Session):
    """Tokenize the text into chips (and forget the clicked positions of the old text)."""
    if look.consume_linked(session, "fill", "text", text):
        return gr.skip(), gr.skip(), gr.skip()  # a state link set it, with its masks: keep them
    if not isinstance(text, str) or not text.strip():
        return [], "", ""
    lm = session_model(session)
    try:
        encoding = encode(lm, check_user_text(text))
    except ValueError as err:
        raise user_error(err) from None
    # The note keeps an earlier result's summary (marked stale in the page) unless there is news.
    return _chips(encoding, set()), "", md_escape(encoding.message) if encoding.message else gr.skip()


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


# The Attention tab re-plots Predict's own pass for texts up to this long; a longer text's maps
# (layers x heads x T x T, 75 MB at 512 tokens) would sit in the session, so that tab recomputes.
KEEP_ATTENTION_TOKENS = 128
MAX_BAR_PANELS = 24  # panels drawn per Predict; the table and exports keep every blank


def fill_blanks(text: str, positions: str, top_k: float, whole_word: bool, mode: str, session: Session):
    """Predict the masked tokens: top-k bars per blank and a table (kept for its downloads)."""
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
            encoding = encode(lm, text)
            keep = len(encoding) <= KEEP_ATTENTION_TOKENS
            result = predict_encoding(
                lm, encoding, k, chosen, whole_word=bool(whole_word), with_attentions=keep
            )
            table = predictions_table(result)
            panels = [
                _panel(p, f"position {p.position}" + (f" (was “{p.original}”)" if p.original else ""))
                for p in result.predictions
            ]
            # The Attention tab can re-plot this pass (None: recompute), kept in float16.
            session.attention = None if result.attention is None else compact(result.attention)
            session.extras[attention_tab.FROM_KEY] = attention_tab.FROM_FILL
            note = ""
    except ValueError as err:
        raise user_error(err) from None
    iterative = mode == ITERATIVE
    # Iterative fill reads a context that changes at every step: the copy note is for one pass.
    summary = _summary(result.steps if iterative else result.predictions, iterative,
                       () if iterative else result.context)
    note = "\n\n".join(part for part in (note, summary) if part)
    if result.message:
        note = (note + "\n\n" if note else "") + f"⚠️ {md_escape(result.message)}"
    if len(panels) > MAX_BAR_PANELS:
        # A panel per blank of a 512-mask text is a figure of hundreds of MB in the browser and the
        # server (SECURITY.md, bench/worst_case.py); nobody reads more than a screenful of them.
        note += f"\n\nBars for the first {MAX_BAR_PANELS} of {len(panels)} blanks; the table has them all."
        panels = panels[:MAX_BAR_PANELS]
    columns = look.columns(session, wide=1 if len(panels) < 3 else 2)
    figure = plots.topk_bars_grid(panels, columns=columns, title="Top-k predictions (0–100% scale)")
    remember_export(session, "fill", table)
    return look.figure(figure, session), look.table(table, session), note, session


COPY_NOTE = " — a word copied from the sentence, what an MLM often guesses when it lacks the fact"


def _summary(items, iterative: bool, context: tuple[str, ...] = ()) -> str:
    """One line per blank in words: the first guess, how sure, where the original ranks, and
    whether the guess is copied from the sentence (:func:`~mlm_explorer.predict.copies_context`)."""
    lines = []
    for item in items[:4]:
        p = item.prediction if iterative else item
        best = p.top_k[0]
        guess = f"**“{md_escape(best.token)}”** ({plots.percent(best.prob)})"
        line = f"Position {p.position}: first guess {guess}"
        if p.original is not None and p.original_rank is not None:
            if p.original_rank == 1:
                line += f"; the original “{md_escape(p.original)}” is its first choice ✓"
            else:
                line += f"; the original “{md_escape(p.original)}” is its choice number {p.original_rank}"
        if best.prob < plots.UNSURE_BELOW:
            line += " — the model is unsure"
        starts = True if opens_sequence(context, p.position) else None
        if p.original_rank != 1 and copies_context(best.token, context, starts):
            line += COPY_NOTE
        lines.append(line + ".")
    if len(items) > 4:
        lines.append(f"… and {len(items) - 4} more in the table.")
    return "  \n".join(lines)


def open_fill(text: str, positions: str, top_k: float, whole_word: bool, mode: str, session: Session):
    """A result on open: the chips and, when the text has a blank, its predictions."""
    chips = redraw_chips(text, positions, session)
    message = ""
    try:
        results = fill_blanks(text, positions, top_k, whole_word, mode, session)
    except gr.Error:  # no blank yet: the chips invite a click
        empty = plots.empty_figure("Click a token above (or type [MASK]) and press Predict.")
        return chips, look.figure(empty, session), None, message, session
    return (chips, *results[:2], results[2] or message, results[3])


def clear_masks(text: str, session: Session) -> tuple[list, str]:
    """Unmask every clicked token (blanks typed in the text stay: delete them there)."""
    chips, _, _ = show_tokens(text, session)
    if any(category == "masked" for _, category in chips):
        gr.Info("The blanks typed in the text stay: delete them there.")
    return chips, ""


def build_fill_tab(session: gr.State) -> TabParts:
    """Layout and wiring of the Fill-in-the-blanks tab; returns its link fields and first result."""
    gr.Markdown(
        "Type a sentence with `[MASK]` where a word is missing, or **click a token** to hide it. "
        "The model guesses each hidden token from the words on *both* sides."
    )
    with gr.Row(equal_height=False, elem_classes=["two-up"]):
        with gr.Column(scale=1, min_width=320):
            with gr.Row():
                text = gr.Textbox(
                    label="Text (Enter = Predict)", value=EXAMPLES[0], lines=1, max_lines=4, max_length=5000,
                    scale=4, min_width=200, elem_id="fill-text",
                )
                run = gr.Button("Predict", variant="primary", scale=1, min_width=90, elem_id="fill-predict")
            chips = gr.HighlightedText(
                label="Tokens: click one to mask or unmask it", color_map=CHIP_COLORS, show_legend=False,
                show_inline_category=False, combine_adjacent=False, elem_id="fill-chips",
                elem_classes=["chips"],
            )
            with gr.Row():
                positions = gr.Textbox(
                    label="Masked positions", placeholder="click tokens, or type e.g. 2, 5",
                    scale=2, min_width=140, elem_id="fill-positions",
                )
                clear = gr.Button("Clear all masks", size="sm", scale=1, min_width=110, elem_id="fill-clear")
            with gr.Row():
                top_k = gr.Slider(
                    1, MAX_TOP_K, value=5, step=1, label="Top-k", scale=2, min_width=160, elem_id="fill-k"
                )
                whole_word = gr.Checkbox(
                    label="Whole words", info="mask every piece of a clicked word", scale=1
                )
            mode = gr.Radio(
                [INDEPENDENT, ITERATIVE], value=INDEPENDENT, label="With several blanks, fill them",
                elem_id="fill-mode",
            )
            examples = gr.Examples(EXAMPLES, inputs=text, label="Examples")
        with gr.Column(scale=1, min_width=320, elem_id="fill-results", elem_classes=["results"]):
            note = gr.Markdown(elem_id="fill-note")
            bars = gr.Plot(label="Top-k predictions", show_label=False, elem_id="fill-bars")
    table = gr.Dataframe(
        label="Predictions", wrap=True, interactive=False, elem_id="fill-table",
        elem_classes=["results-table"],
    )
    gr.Markdown(MEANINGS)
    download_buttons(session, "fill", "press Predict", "fill")

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
    clear.click(
        clear_masks, [text, session], [chips, positions], api_name="clear_masks", show_progress="hidden"
    )
    # Anything the user changes after a result makes it stale: dim it at once, in the browser.
    gr.on(
        [text.input, chips.select, clear.click, positions.input, mode.input, whole_word.input, top_k.release],
        None, None, None, js=look.stale_js("#fill-results", "#fill-table"), api_name=False, queue=False,
    )
    # An example only fills the box (its masks come with it; Predict runs it): the old result dims.
    look.stale_on_examples(examples, "#fill-results", "#fill-table")
    inputs = [text, positions, top_k, whole_word, mode, session]
    outputs = [bars, table, note, session]
    predicted = gr.on(
        [run.click, text.submit], fill_blanks, inputs, outputs, api_name="predict", **MODEL_EVENT
    )
    look.mark_fresh(predicted, "#fill-results", "#fill-table")
    modes = (("independent", INDEPENDENT), ("iterative", ITERATIVE))
    links = [
        (LinkField("text", "fill", "text"), text),
        (LinkField("masks", "fill", "positions"), positions),
        (LinkField("k", "fill", "int", 1, MAX_TOP_K), top_k),
        (LinkField("ww", "fill", "bool"), whole_word),
        (LinkField("mode", "fill", "choice", choices=modes), mode),
    ]
    opened = OnLoad(open_fill, inputs, [chips, *outputs])
    return TabParts(links=links, on_open=opened)
