"""The 80/10/10 policy: corrupt a sentence as BERT's pretraining does, predict every target."""

from __future__ import annotations

import gradio as gr

from mlm_explorer import plots
from mlm_explorer.masking import MAX_SEED, Action, PolicyConfig, check_seed, policy_draws, validate_policy
from mlm_explorer.predict import mask_text, predict_plan
from mlm_explorer.ui import look
from mlm_explorer.ui.common import (
    MODEL_EVENT,
    check_user_text,
    download_buttons,
    md_escape,
    remember_export,
    session_model,
    user_error,
)
from mlm_explorer.ui.look import LinkField, TabParts
from mlm_explorer.ui.state import OnLoad, Session
from mlm_explorer.views import ACTION_LABELS, predictions_table

EXAMPLE = (
    "The children walked to school in the morning, and the teacher read them a story "
    "about a dragon who lived under the old bridge."
)
TOP_K = 5
DRAWS = 1000


def _config(rate: float, mask_share: float, random_share: float, whole_word: bool) -> PolicyConfig:
    config = PolicyConfig(
        rate=float(rate), mask_share=float(mask_share), random_share=float(random_share),
        whole_word=bool(whole_word),
    )
    try:
        validate_policy(config)
    except ValueError as err:
        raise user_error(err) from None
    return config


def _seed(seed: float | None) -> int:
    if seed is None:
        raise user_error("The seed is empty: type a whole number.")
    try:
        return check_seed(seed)
    except ValueError as err:
        raise user_error(err) from None


def _chip(original: str, seen: str, action: Action) -> tuple[str, str]:
    if action in (Action.MASK, Action.RANDOM):
        return f"{original}→{seen}", ACTION_LABELS[action]
    return original, ACTION_LABELS[action]


def _masked_text(
    text: str, rate: float, mask_share: float, random_share: float, seed: float, whole_word: bool,
    session: Session,
):
    """The session's model, the checked policy settings and the text with one draw of the policy."""
    lm = session_model(session)
    text = check_user_text(text)
    config = _config(rate, mask_share, random_share, whole_word)
    try:
        return lm, config, mask_text(lm, text, config, _seed(seed))
    except ValueError as err:
        raise user_error(err) from None


def apply_policy(
    text: str, rate: float, mask_share: float, random_share: float, seed: float, whole_word: bool,
    session: Session,
):
    """Corrupt the text with the 80/10/10 policy and predict at every selected position."""
    lm, config, masked = _masked_text(text, rate, mask_share, random_share, seed, whole_word, session)
    plan = masked.plan
    chips = [
        _chip(masked.tokens[i], masked.corrupted_tokens[i], plan.actions[i])
        for i in range(len(plan.actions))
        if masked.encoding.word_ids[i] is not None  # every token of the text, [UNK] included
    ]
    if not plan.targets:
        note = "No token was selected this time: raise the selection rate or re-roll."
        empty = look.figure(plots.empty_figure(note), session)
        return chips, note, empty, None, gr.update(interactive=False), gr.update(interactive=False)
    try:
        result = predict_plan(lm, plan, TOP_K, truncated=masked.truncated, message=masked.message)
    except ValueError as err:
        raise user_error(err) from None
    table = predictions_table(result)
    n = len(result.predictions)
    accuracy = result.accuracy or 0.0
    hits = round(accuracy * n)
    actions = (Action.MASK, Action.RANDOM, Action.KEEP)
    counts = ", ".join(f"{plan.count(a)} {ACTION_LABELS[a]}" for a in actions)
    note = (
        f"**Accuracy over the {n} selected positions: {hits}/{n} ({accuracy:.0%})** · {counts}. "
        "The model must recover the original at random and kept positions too."
    )
    if masked.message:
        note += f"\n\n⚠️ {md_escape(masked.message)}"
    panels = [
        plots.BarPanel(
            tokens=[c.token for c in p.top_k], probs=[c.prob for c in p.top_k], original=p.original,
            original_prob=p.original_prob, original_rank=p.original_rank,
            title=f"{p.position}: {ACTION_LABELS[p.action]} “{p.input_token}” "
            f"({'hit' if p.correct else 'miss'})",
        )
        for p in result.predictions
    ]
    figure = plots.topk_bars_grid(
        panels, columns=look.columns(session, wide=2), title="Predictions at the selected positions"
    )
    remember_export(session, "policy", table)
    return chips, note, look.figure(figure, session), look.table(table, session, phone_also=("action",))


def reroll_policy(
    text: str, rate: float, mask_share: float, random_share: float, seed: float, whole_word: bool,
    session: Session,
):
    """Draw again with the next seed."""
    new_seed = (_seed(seed) + 1) % (MAX_SEED + 1)
    return (new_seed, *apply_policy(text, rate, mask_share, random_share, new_seed, whole_word, session))


def draw_many(
    text: str, rate: float, mask_share: float, random_share: float, seed: float, whole_word: bool,
    session: Session,
):
    """Apply the policy 1,000 times and chart the empirical rates against the nominal ones."""
    lm, config, masked = _masked_text(text, rate, mask_share, random_share, seed, whole_word, session)
    try:
        enc = masked.encoding
        stats = policy_draws(
            enc.input_ids, enc.special_mask, lm.mask_token_id, lm.candidate_ids, config, DRAWS, _seed(seed),
            word_ids=enc.word_ids_for_policy if config.whole_word else None,
        )
    except ValueError as err:
        raise user_error(err) from None
    title = f"{DRAWS:,} draws: empirical vs nominal rates"
    chart = plots.policy_rates_chart(stats.empirical, stats.nominal, stats.counts, title=title,
                                     narrow=look.session_look(session).narrow)
    return look.figure(chart, session)


def keep_share_note(mask_share: float, random_share: float) -> str:
    """Say what share of the selected tokens stays unchanged."""
    keep = 1.0 - float(mask_share) - float(random_share)
    if keep < -1e-9:
        return "⚠️ mask + random exceed 100%: lower one of them."
    return f"Kept unchanged (but still predicted): **{max(keep, 0.0):.0%}** of the selected tokens."


def build_policy_tab(session: gr.State) -> TabParts:
    """Layout and wiring of the 80/10/10 tab."""
    gr.Markdown(
        "BERT learns by corrupting its input: it **selects** 15% of the tokens; of those, 80% become "
        "`[MASK]`, 10% a random token, 10% stay as they are, and it must predict the original at all of them."
    )
    with gr.Row(equal_height=True, elem_classes=["action-row"]):
        text = gr.Textbox(
            label="Text (Enter = Apply)", value=EXAMPLE, lines=2, max_lines=5, max_length=5000, scale=4,
            min_width=200, elem_id="policy-text",
        )
        with gr.Column(scale=1, min_width=110):
            apply_btn = gr.Button("Apply", variant="primary", elem_id="policy-apply")
            reroll = gr.Button("Re-roll", elem_id="policy-reroll")
    with gr.Row():
        rate = gr.Slider(0.0, 1.0, value=0.15, step=0.01, label="Selection rate", elem_id="policy-rate")
        mask_share = gr.Slider(0.0, 1.0, value=0.8, step=0.05, label="→ mask share", elem_id="policy-mask")
        random_share = gr.Slider(
            0.0, 1.0, value=0.1, step=0.05, label="→ random share", elem_id="policy-random"
        )
    with gr.Row():
        keep_note = gr.Markdown(keep_share_note(0.8, 0.1))
        seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", scale=1, min_width=100)
        whole_word = gr.Checkbox(label="Whole words", scale=1, min_width=100)
    chips = gr.HighlightedText(
        label="What the model sees (original→replacement)", color_map=plots.ACTION_COLORS,
        show_legend=True, show_inline_category=False, elem_id="policy-chips", elem_classes=["chips"],
    )
    with gr.Column(elem_id="policy-results", elem_classes=["results"]):
        note = gr.Markdown(elem_id="policy-note")
        bars = gr.Plot(label="Predictions at the selected positions", show_label=False, elem_id="policy-bars")
    table = gr.Dataframe(
        label="Selected positions", wrap=True, interactive=False, elem_id="policy-table",
        elem_classes=["results-table"],
    )
    download_buttons(session, "policy", "press Apply", "policy")
    with gr.Accordion("Draw 1,000 times: do the rates match the settings?", open=False):
        gr.Markdown(
            "*selected* is a share of all (non-special) tokens; *masked*, *random* and *kept* are shares of "
            "the selected ones. Outline = the setting, filled bar = what 1,000 draws gave; "
            "error bars: 95% intervals."
        )
        draw_btn = gr.Button(f"Draw {DRAWS:,} times")
        draw_plot = gr.Plot(label="Empirical vs nominal rates", show_label=False, elem_id="policy-rates")

    inputs = [text, rate, mask_share, random_share, seed, whole_word, session]
    outputs = [chips, note, bars, table]
    applied = gr.on(
        [apply_btn.click, rate.release, mask_share.release, random_share.release, whole_word.input,
         text.submit],
        apply_policy, inputs, outputs, api_name="policy", **MODEL_EVENT,
    )
    rerolled = reroll.click(reroll_policy, inputs, [seed, *outputs], api_name="reroll", **MODEL_EVENT)
    for event in (applied, rerolled):
        look.mark_fresh(event, "#policy-results", "#policy-table")
    gr.on(
        [text.input, seed.input], None, None, None, js=look.stale_js("#policy-results", "#policy-table"),
        api_name=False, queue=False,
    )
    draw_btn.click(draw_many, inputs, [draw_plot], api_name="policy_draws", concurrency_limit=2)
    gr.on(
        [mask_share.change, random_share.change], keep_share_note, [mask_share, random_share], [keep_note],
        api_name="keep_share", show_progress="hidden", concurrency_limit=None,
    )
    links = [
        (LinkField("text", "policy", "text"), text),
        (LinkField("rate", "policy", "number", 0.0, 1.0), rate),
        (LinkField("mask", "policy", "number", 0.0, 1.0), mask_share),
        (LinkField("random", "policy", "number", 0.0, 1.0), random_share),
        (LinkField("seed", "policy", "int", 0, MAX_SEED), seed),
        (LinkField("ww", "policy", "bool"), whole_word),
    ]
    return TabParts(links=links, on_link=OnLoad(apply_policy, inputs, outputs))
