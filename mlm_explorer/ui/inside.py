"""Inside: how a guess forms (layer by layer), which words mattered, masked vs unmasked attention, tokens.

Four sub-tabs share one sentence and its masked positions, which one click
copies from the Fill tab. Each handler is thin: UI values → a library call
(``lens``, ``saliency``, ``attention_change``, ``tokenizer_view``) → a
figure from ``plots``, a table from ``views`` (both fitted to the page by
:mod:`~mlm_explorer.ui.look`), CSV/JSON exports and one sentence that says
what the figure shows.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
from gradio.context import Context

from mlm_explorer import plots
from mlm_explorer.attention_change import attention_change, keep
from mlm_explorer.lens import layer_by_layer
from mlm_explorer.saliency import DEFAULT_STEPS, MAX_SALIENCY_COST, MAX_STEPS, max_steps_for, saliency
from mlm_explorer.tokenizer_view import tokenizer_view
from mlm_explorer.tokens import normalise_masks
from mlm_explorer.ui import look
from mlm_explorer.ui.common import (
    check_user_text,
    download_buttons,
    load_key,
    md_escape,
    model_choices,
    parse_positions,
    remember_export,
    session_model,
    user_error,
)
from mlm_explorer.ui.state import SESSION_MODEL, Session
from mlm_explorer.views import (
    HEAD_CHANGE_COLUMNS,
    LAYER_COLUMNS,
    SALIENCY_COLUMNS,
    TOKEN_COLUMNS,
    head_change_table,
    layers_table,
    saliency_table,
    tokens_table,
)

# A real word, hidden by position, rather than a typed [MASK]: every view works on it as it
# opens (Masked vs unmasked needs the word itself), and Layer by layer can say where the hidden
# word ranks. [CLS] the capital of france is paris . : "paris" is token 6 for WordPiece, BPE and
# SentencePiece alike.
EXAMPLE = "The capital of France is Paris."
EXAMPLE_POSITIONS = "6"
MASK_BASELINE = "all-[MASK]"
PAD_BASELINE = "all-[PAD]"
_BASELINES = {MASK_BASELINE: "mask", PAD_BASELINE: "pad"}
#: Measured with `python bench/bench_inside.py` (bundled model, 16 tokens, 32 steps, 2 CPU cores).
SALIENCY_COST = (
    "One explanation costs about 30 predictions (0.5 s for a 16-token sentence with the bundled model on "
    "2 CPU cores; more for long texts and big models); one runs at a time on this server, so you may wait "
    "for someone else's. To keep that wait short, long texts get fewer steps: tokens × steps is at most "
    f"{MAX_SALIENCY_COST:,} (a 512-token text: {max_steps_for(512)} steps; {DEFAULT_STEPS} steps: up to "
    f"{MAX_SALIENCY_COST // DEFAULT_STEPS} tokens)."
)
# "unknown": [UNK] standing for characters the vocabulary lacks (a word of the text, not a marker).
CHIP_COLORS = {"word start": "#EEF2F7", "continues word": "#56B4E9", "special": "#D9D9D9",
               "unknown": "#F0E442"}
LAYER_MEANINGS = (
    "<small>**first guess**: the head's top token after that layer; **how sure**: its probability. "
    "**final answer**: the first guess after the last layer; its **rank** 1 = first guess at that layer. "
    "**hidden word**: the word that was masked, when the text had one (✓ in the heatmap). "
    "**uncertainty** (entropy, in nats): how spread the guesses are; 0 = certain, about 10 = no idea "
    "among 30,000 words.</small>"
)
# Every layer's row in view, the last (the answer) included: Gradio's default 500 px box cut a row in
# half and hid the rest. 25 layers (the largest models offered) × ~70 px for a wrapped row, + header.
LAYERS_TABLE_PX = 25 * 70 + 60
_CHANGE_KEY = "inside_attention_change"  # session.extras: the last comparison, re-plotted per head


def _position(value: object) -> int | None:
    """A typed token position → an int, None when blank (a blank Number field would send 0)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise user_error(f"The position must be a whole number such as 6, got {str(value)[:30]!r}.") from None


def _component(elem_id: str):
    """A component already built in this app (the Fill tab's text and positions), or None."""
    root = Context.root_block
    blocks = getattr(root, "blocks", {}) if root is not None else {}
    return next((b for b in blocks.values() if getattr(b, "elem_id", None) == elem_id), None)


def carry_from_fill(text: str, positions: str) -> tuple[str, str]:
    """Copy the Fill tab's sentence and masked positions here."""
    return text or "", positions or ""


# ---------------------------------------------------------------------------- layer by layer


def explain_layers(lens) -> str:
    """One sentence in a student's words about where the answer appears."""
    final = md_escape(lens.final.token)
    first = lens.settles_at
    where = "straight from the embeddings" if first == 0 else f"after layer {first}"
    text = f"The model's answer **{final}** becomes its first choice {where} and stays first to the end."
    if lens.original is not None:
        rank = lens.layers[-1].original_rank
        text += f" The hidden word **{md_escape(lens.original)}** ends at rank {rank}."
    return text + " Lower layers mostly guess frequent or nearby words; the meaning arrives higher up."


def run_layers(text: str, positions: str, position: str, top_k: float, session: Session):
    """Layer by layer: the MLM head's guess after every layer at one masked position."""
    lm = session_model(session)
    try:
        lens = layer_by_layer(
            lm, check_user_text(text), position=_position(position), masked=parse_positions(positions),
            top_k=int(top_k),
        )
    except ValueError as err:
        raise user_error(err) from None
    layers = [r.layer for r in lens.layers]
    title = f"Position {lens.position}: the head's top {len(lens.layers[0].top_k)} after each layer"
    narrow = look.session_look(session).narrow
    heat = look.figure(plots.layer_lens_heatmap(
        layers, [[c.token for c in r.top_k] for r in lens.layers],
        [[c.prob for c in r.top_k] for r in lens.layers], final=lens.final.token, original=lens.original,
        title=title, narrow=narrow,
    ), session)
    ranks = look.figure(plots.layer_rank_lines(
        layers, [r.final_rank for r in lens.layers], [r.original_rank for r in lens.layers],
        final=lens.final.token, original=lens.original, title="Rank of the answer after each layer",
        narrow=narrow,
    ), session)
    table = layers_table(lens)
    note = explain_layers(lens) + (f"\n\n⚠️ {md_escape(lens.message)}" if lens.message else "")
    remember_export(session, "layers", table)
    return heat, ranks, note, look.table(table, session)


# ---------------------------------------------------------------------------- saliency


def explain_saliency(result) -> str:
    """Which word helped the candidate most, which hurt it, and whether IG adds up."""
    ig = result.integrated_gradients
    order = sorted(range(len(ig)), key=lambda i: ig[i])
    target = md_escape(result.target)
    text = f"For **{target}** at position {result.position}, by Integrated Gradients: "
    up, down = order[-1], order[0]
    if ig[up] > 0:
        text += f"**{md_escape(result.tokens[up])}** pushed it up the most"
    if ig[down] < 0:
        text += ("; " if ig[up] > 0 else "") + f"**{md_escape(result.tokens[down])}** pulled it down the most"
    if ig[up] <= 0 and ig[down] >= 0:
        text += "no word moved it"
    gxi = result.grad_x_input
    clashes = [i for i in (up, down) if ig[i] * gxi[i] < 0]
    if clashes:
        # Seen in class: the strip's top row red where the note says "pushed it up". Why they may differ:
        # gradient × input is the slope at this sentence only; IG sums it along the path from the
        # baseline (Sundararajan et al., 2017), so a word can help overall and hurt at the margin.
        words = " and ".join(f"**{md_escape(result.tokens[i])}**" for i in clashes)
        text += (f" (gradient × input, the top row, gives {words} the opposite sign: it is the slope at "
                 "this sentence only, IG the whole path from the baseline, so the two can disagree)")
    change = result.target_log_prob - result.baseline_log_prob
    verdict = "sound" if result.relative_gap <= 0.05 else "rough: add steps"
    return text + (
        f". Integrated gradients add up to {sum(ig):+.3f} against a real change of {change:+.3f} "
        f"(log-probability from the {md_escape(result.baseline)}-only sentence to this one): a gap of "
        f"{result.relative_gap:.1%}, so the approximation is {verdict}."
    )


def run_saliency(
    text: str, positions: str, position: str, target: str, steps: float, baseline: str,
    session: Session,
):
    """Which words mattered: gradient × input and Integrated Gradients for one candidate."""
    lm = session_model(session)
    try:
        result = saliency(
            lm, check_user_text(text), position=_position(position), target=(target or "").strip() or None,
            steps=int(steps), masked=parse_positions(positions), baseline=_BASELINES.get(baseline, "mask"),
        )
    except ValueError as err:
        raise user_error(err) from None
    marked = [i == result.position for i in range(len(result.tokens))]
    # A phone gives the row names ~half of 390 px: the table's short names leave the strip its width.
    narrow = look.session_look(session).narrow
    names = tuple(SALIENCY_COLUMNS[2:]) if narrow else ("grad × input", "integrated gradients")
    figure = look.figure(plots.saliency_strip(
        result.tokens, dict(zip(names, (result.grad_x_input, result.integrated_gradients), strict=True)),
        marked=marked, title=f"What pushed “{result.target}” up (blue) or down (red)",
    ), session)
    table = saliency_table(result)
    note = explain_saliency(result) + (f"\n\n⚠️ {md_escape(result.message)}" if result.message else "")
    remember_export(session, "saliency", table)
    return figure, note, look.table(table, session)


# ---------------------------------------------------------------------------- masked vs unmasked attention


def _change_figures(change, layer: float | None, head: float | None, session: Session):
    layers, heads = change.head_change.shape
    lay = min(max(int(layer or 0), 0), layers - 1)
    hd = min(max(int(head or 0), 0), heads - 1)
    masked = [i in set(change.positions) for i in range(len(change.tokens))]
    diff = look.figure(plots.attention_difference_heatmap(
        change.difference[lay, hd].astype(np.float32), change.tokens, masked,
        title=f"Layer {lay}, head {hd}: unmasked − masked",
    ), session)
    return diff, lay, hd


def explain_change(change) -> str:
    grid = change.head_change
    lay, hd = divmod(int(grid.argmax()), grid.shape[1])
    hidden = " ".join(change.tokens[p] for p in change.positions)
    return (
        f"Hiding **{md_escape(hidden)}** changes where the other words look. Head {hd} of layer {lay} "
        f"changes most ({grid[lay, hd]:.2f} of a possible {2 * len(change.tokens)}). In the heatmap blue "
        "means a word looks there more when it can see the hidden word, red more when it is masked."
    )


def run_attention_change(text: str, positions: str, session: Session):
    """Attention with and without the masked words: which heads change, and how (unmasked − masked)."""
    lm = session_model(session)
    chosen = parse_positions(positions)
    if not chosen:
        typed = (
            f" A {lm.mask_token} typed in the text does not count: this view compares attention with "
            "the real word and without it, so it needs the word."
            if isinstance(text, str) and lm.mask_token in normalise_masks(text, lm.mask_token) else ""
        )
        raise user_error(
            "Choose a word to hide: type its token position in “Masked token positions” (the Tokenizer "
            "view numbers the tokens), or carry a masked word over from the Fill tab." + typed
        )
    try:
        change = attention_change(lm, check_user_text(text), chosen)
    except ValueError as err:
        raise user_error(err) from None
    kept = keep(change)  # the difference in float16: drawn from what is kept, now and on re-plots
    session.extras[_CHANGE_KEY] = kept
    grid = change.head_change
    lay, hd = divmod(int(grid.argmax()), grid.shape[1])
    summary = plots.head_change_grid(grid, title="Total attention change per head (layers × heads)")
    diff, lay, hd = _change_figures(kept, lay, hd, session)
    table = head_change_table(change)
    note = explain_change(change) + (f"\n\n⚠️ {md_escape(change.message)}" if change.message else "")
    layer_update = gr.update(maximum=grid.shape[0] - 1, value=lay)
    head_update = gr.update(maximum=grid.shape[1] - 1, value=hd)
    remember_export(session, "attention-change", table)
    summary, shown = look.figure(summary, session), look.table(table, session)
    return summary, diff, note, shown, layer_update, head_update, session


def replot_attention_change(layer: float, head: float, session: Session):
    """Show another head's difference from the last comparison (the model does not run)."""
    change = session.extras.get(_CHANGE_KEY)
    if change is None:
        return look.figure(plots.empty_figure("Press “Compare” first."), session)
    return _change_figures(change, layer, head, session)[0]


# ---------------------------------------------------------------------------- the tokenizer


def _chips(view) -> list[tuple[str, str]]:
    return [(f"{t.token} ({t.id})", t.kind) for t in view.tokens]


def explain_tokens(view, other=None) -> str:
    pieces = sum(1 for t in view.tokens if t.continues_word)
    text = (
        f"{md_escape(view.algorithm)} cuts this text into {len(view.tokens)} tokens "
        f"({len(view.words)} words, {pieces} of the tokens continue a word); {md_escape(view.convention)}. "
        "Whole-word masking hides all pieces of a word together."
    )
    if other is not None:
        text += f" The other tokenizer ({md_escape(other.algorithm)}) needs {len(other.tokens)}."
    return text


def run_tokenizer(text: str, compare: str | None, session: Session):
    """The tokenizer, shown: ids, character spans, word pieces, and another model's split side by side."""
    lm = session_model(session)
    text = check_user_text(text)
    try:
        view = tokenizer_view(lm, text)
        other = None
        if compare:
            # Only what the picker offers: a free-form key would let an API caller load any path.
            if compare not in {key for _, key in model_choices(session)}:
                raise ValueError(f"{str(compare)[:60]!r} is not one of the models offered above.")
            other_lm = session.own_model if compare == SESSION_MODEL else load_key(compare)
            if other_lm is None:
                raise ValueError("This session has no fine-tuned model to compare with.")
            other = tokenizer_view(other_lm, text)
    except ValueError as err:  # ModelLoadError is a ValueError: say it, keep going
        raise user_error(err) from None
    table = tokens_table(view)
    other_table = look.table(tokens_table(other), session) if other is not None else None
    note = explain_tokens(view, other) + (f"\n\n⚠️ {md_escape(view.message)}" if view.message else "")
    remember_export(session, "tokens", table)
    return (
        _chips(view), _chips(other) if other is not None else [], note, look.table(table, session),
        other_table if other_table is not None else gr.update(value=None),
    )


def compare_choices(session: Session) -> dict:
    """Refresh the list of models whose tokenizer can be shown beside this one."""
    return gr.update(choices=[("(none)", ""), *model_choices(session)])


# ---------------------------------------------------------------------------- layout


def build_inside_tab(session: gr.State) -> None:
    """Layout and wiring of the Inside tab: four views of one sentence."""
    gr.Markdown(
        "Look **inside** one prediction: how the guess forms layer by layer, which words it relied on, "
        "how hiding a word re-routes attention, and how the text was cut into tokens."
    )
    fill_text, fill_positions = _component("fill-text"), _component("fill-positions")
    with gr.Row():
        text = gr.Textbox(
            label="Text", value=EXAMPLE, lines=2, max_length=5000, scale=4, elem_id="inside-text"
        )
        positions = gr.Textbox(
            label="Masked token positions", value=EXAMPLE_POSITIONS, placeholder="e.g. 2, 5", scale=2,
            elem_id="inside-positions",
        )
    carry = gr.Button(
        "Use the Fill tab's sentence and masks", size="sm", elem_id="inside-carry",
        visible=fill_text is not None,
    )
    with gr.Tabs(elem_id="inside-tabs", overflow_behavior="wrap"):  # four long names: rows, not a "…" menu
        with gr.Tab("Layer by layer", id="inside-layers"):
            gr.Markdown(
                "The model's own prediction head is applied to what each layer has built so far "
                "(a *logit lens*): where does the answer first appear?"
            )
            with gr.Row():
                lens_pos = gr.Textbox(label="Position (blank = first blank)", placeholder="e.g. 6")
                lens_k = gr.Slider(1, 10, value=5, step=1, label="Top-k per layer")
                lens_run = gr.Button("Show layers", variant="primary", elem_id="inside-layers-run")
            lens_note = gr.Markdown(elem_id="inside-layers-note")
            lens_heat = gr.Plot(show_label=False, elem_id="inside-layers-plot")
            lens_ranks = gr.Plot(show_label=False, elem_id="inside-layers-ranks")
            lens_table = gr.Dataframe(
                headers=LAYER_COLUMNS, wrap=True, interactive=False, label="Per layer",
                elem_id="inside-layers-table", elem_classes=["results-table"], max_height=LAYERS_TABLE_PX,
            )
            gr.Markdown(LAYER_MEANINGS)
            download_buttons(session, "layers", "press Show layers", "inside-layers")
        with gr.Tab("Which words mattered", id="inside-saliency"):
            gr.Markdown(
                "How much each input token pushed one candidate up or down: **gradient × input** (one "
                "backward pass) and **Integrated Gradients** from a baseline sentence where every word is "
                f"hidden (all-[MASK], or all-[PAD]). {SALIENCY_COST}"
            )
            with gr.Row():
                sal_pos = gr.Textbox(label="Position (blank = first blank)", placeholder="e.g. 6")
                sal_target = gr.Textbox(label="Candidate (blank = top-1)", placeholder="e.g. paris")
                sal_steps = gr.Slider(8, MAX_STEPS, value=DEFAULT_STEPS, step=8, label="IG steps")
                sal_base = gr.Radio([MASK_BASELINE, PAD_BASELINE], value=MASK_BASELINE, label="Baseline")
            sal_run = gr.Button("Explain", variant="primary", elem_id="inside-saliency-run")
            sal_note = gr.Markdown(elem_id="inside-saliency-note")
            sal_plot = gr.Plot(show_label=False, elem_id="inside-saliency-plot")
            sal_table = gr.Dataframe(headers=SALIENCY_COLUMNS, interactive=False, label="Attributions")
            download_buttons(session, "saliency", "press Explain", "inside-saliency")
        with gr.Tab("Masked vs unmasked attention", id="inside-attention"):
            gr.Markdown(
                "The same sentence twice: as written, and with the masked positions hidden. Every head's "
                "attention is compared (unmasked − masked)."
            )
            att_run = gr.Button("Compare", variant="primary", elem_id="inside-attention-run")
            att_note = gr.Markdown(elem_id="inside-attention-note")
            att_grid = gr.Plot(show_label=False, elem_id="inside-attention-grid")
            with gr.Row():
                att_layer = gr.Slider(0, 11, value=0, step=1, label="Layer", elem_id="inside-attention-layer")
                att_head = gr.Slider(0, 11, value=0, step=1, label="Head")
            att_diff = gr.Plot(show_label=False, elem_id="inside-attention-plot")
            att_table = gr.Dataframe(headers=HEAD_CHANGE_COLUMNS, interactive=False, label="Heads by change")
            download_buttons(session, "attention-change", "press Compare", "inside-attention")
        with gr.Tab("The tokenizer", id="inside-tokens"):
            gr.Markdown(
                "Every token with its id and the characters it covers; light = starts a word, blue = "
                "continues one, grey = special, yellow = unknown (characters the vocabulary lacks, such as "
                "an emoji). Pick another model to see its split beside this one."
            )
            with gr.Row():
                tok_other = gr.Dropdown(
                    [("(none)", ""), *model_choices()], value="", label="Compare with", scale=3,
                    elem_id="inside-tokens-compare",
                )
                tok_run = gr.Button("Show tokens", variant="primary", scale=1, elem_id="inside-tokens-run")
            tok_note = gr.Markdown(elem_id="inside-tokens-note")
            with gr.Row():
                tok_chips = gr.HighlightedText(
                    label="This model", color_map=CHIP_COLORS, show_legend=True, combine_adjacent=False,
                    elem_id="inside-tokens-chips",
                )
                tok_other_chips = gr.HighlightedText(
                    label="The other model", color_map=CHIP_COLORS, show_legend=False, combine_adjacent=False,
                    elem_id="inside-tokens-other",
                )
            tok_table = gr.Dataframe(
                headers=TOKEN_COLUMNS, wrap=True, interactive=False, label="Tokens",
                elem_id="inside-tokens-table",
            )
            tok_other_table = gr.Dataframe(
                headers=TOKEN_COLUMNS, wrap=True, interactive=False, label="The other model"
            )
            download_buttons(session, "tokens", "press Show tokens", "inside-tokens")

    if fill_text is not None:
        carry_inputs = [fill_text, fill_positions if fill_positions is not None else positions]
        carry.click(carry_from_fill, carry_inputs, [text, positions], api_name=False, show_progress="hidden")
    gr.on(
        [lens_run.click], run_layers, [text, positions, lens_pos, lens_k, session],
        [lens_heat, lens_ranks, lens_note, lens_table], api_name="layers",
        concurrency_limit=4,
    )
    sal_run.click(
        run_saliency, [text, positions, sal_pos, sal_target, sal_steps, sal_base, session],
        [sal_plot, sal_note, sal_table], api_name="saliency",
        # Backward passes over a batch of 32 sentences: one at a time, in its own queue.
        concurrency_limit=1, concurrency_id="saliency",
    )
    att_run.click(
        run_attention_change, [text, positions, session],
        [att_grid, att_diff, att_note, att_table, att_layer, att_head, session],
        api_name="attention_diff", concurrency_limit=2,
    )
    gr.on(
        [att_layer.change, att_head.change], replot_attention_change, [att_layer, att_head, session],
        [att_diff], api_name="attention_diff_plot", trigger_mode="always_last", concurrency_limit=8,
    )
    tok_other.focus(compare_choices, [session], [tok_other], api_name=False, show_progress="hidden")
    tok_run.click(
        run_tokenizer, [text, tok_other, session],
        [tok_chips, tok_other_chips, tok_note, tok_table, tok_other_table],
        api_name="tokenizer", concurrency_limit=4,
    )
