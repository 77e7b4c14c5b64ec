"""Sentence score: per-token pseudo-log-likelihood and pseudo-perplexity, two sentences side by side."""

from __future__ import annotations

import math

import gradio as gr

from mlm_explorer import plots
from mlm_explorer.predict import pseudo_log_likelihoods
from mlm_explorer.score_gap import explain_gap, gap_line
from mlm_explorer.showcase import SCORE_EXAMPLES
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
from mlm_explorer.views import scored_tokens, scores_table

EXAMPLES = [list(pair) for pair in SCORE_EXAMPLES]  # minimal pairs, the grammatical one first
# How to read a PLL gap (nats): under 1, the model barely prefers one (e^1 ≈ 2.7×);
# over 3, it clearly does (e^3 ≈ 20×). Rough classroom guides, not a statistical test.
SMALL_GAP, LARGE_GAP = 1.0, 3.0
MEANINGS = (
    "<small>**PLL** (pseudo-log-likelihood): the sum over tokens of log p(token | all the others), "
    "each token hidden in turn; closer to 0 = more natural to the model. **nats**: natural-log units; "
    "a gap of 1 nat means e ≈ 2.7 times more likely. **pseudo-perplexity** = e^(−PLL / tokens): "
    "on average, how many words the model hesitates between.</small>"
)


def _gap_words(gap: float) -> str:
    if gap < SMALL_GAP:
        return "a small gap: the model barely prefers it"
    if gap < LARGE_GAP:
        return "a clear gap"
    return "a large gap: the model strongly prefers it"


def verdict_text(text_a: str, text_b: str, pll_a: float, pll_b: float) -> str:
    """Say in words which sentence the model prefers, by how much, and whether it got a known pair right."""
    better, worse, gap = ("A", "B", pll_a - pll_b) if pll_a >= pll_b else ("B", "A", pll_b - pll_a)
    times = math.exp(min(gap, 50.0))
    line = (
        f"The model finds **{better}** more likely than {worse}: PLL {max(pll_a, pll_b):.2f} vs "
        f"{min(pll_a, pll_b):.2f}, a gap of {gap:.2f} nats "
        f"(≈ {times:,.{1 if times < 10 else 0}f}× more likely), "
        f"{_gap_words(gap)}."
        if times < 1e6 else
        f"The model finds **{better}** more likely than {worse} by {gap:.2f} nats, {_gap_words(gap)}."
    )
    pair = [text_a.strip(), text_b.strip()]
    for good, bad in EXAMPLES:
        if pair in ([good, bad], [bad, good]):
            grammatical = "A" if pair[0] == good else "B"
            agreed = grammatical == better
            line += (
                f"  \n**{grammatical}** is the grammatical sentence of this pair: the model "
                + ("**agreed** ✓." if agreed else "**disagreed** ✗ (a known weak spot: try another model).")
            )
    return line


def score_sentences(text_a: str, text_b: str, session: Session):
    """Score one or two sentences: heat strips, a table, and which one the model prefers."""
    lm = session_model(session)
    texts = [("A", check_user_text(text_a, "first sentence"))]
    if isinstance(text_b, str) and text_b.strip():
        texts.append(("B", check_user_text(text_b, "second sentence")))
    try:
        scores = list(zip([label for label, _ in texts], pseudo_log_likelihoods(lm, [t for _, t in texts]),
                          strict=True))
    except ValueError as err:
        raise user_error(err) from None
    strips = [scored_tokens(s) for _, s in scores]
    zmin = min(min(lps, default=-1.0) for _, lps in strips)  # one scale, so colours compare
    figures = [
        look.figure(plots.pll_strip(
            toks, lps, zmin=zmin,
            title=f"{label}: PLL {s.pll:.2f}, pseudo-perplexity {s.pseudo_perplexity:.2f}",
        ), session)
        for (label, s), (toks, lps) in zip(scores, strips, strict=True)
    ]
    if len(figures) == 1:
        figures.append(look.figure(plots.empty_figure("Type a second sentence to compare."), session))
    table = scores_table([(t, s) for (_, t), (_, s) in zip(texts, scores, strict=True)])
    verdict = ""
    if len(scores) == 2:
        (_, a), (_, b) = scores
        verdict = verdict_text(texts[0][1], texts[1][1], a.pll, b.pll)
        breakdown = gap_line(explain_gap(a, b), md_escape)
        if breakdown:
            verdict += "\n\n" + breakdown
    notes = [md_escape(s.message) for _, s in scores if s.message]
    if notes:
        verdict += "\n\n⚠️ " + " ".join(notes)
    remember_export(session, "scores", table)
    return figures[0], figures[1], look.table(table, session), verdict


def build_score_tab(session: gr.State) -> TabParts:
    """Layout and wiring of the Sentence-score tab."""
    gr.Markdown(
        "**Pseudo-log-likelihood** (Salazar et al., 2020): hide each token in turn and ask the model how "
        "likely the real one is. Dark tokens surprised the model; bright ones it expected."
    )
    with gr.Row(equal_height=True):
        text_a = gr.Textbox(label="Sentence A (Enter = Score)", value=EXAMPLES[0][0], scale=3, min_width=200,
                            elem_id="score-a")
        text_b = gr.Textbox(label="Sentence B (optional)", value=EXAMPLES[0][1], scale=3, min_width=200,
                            elem_id="score-b")
        run = gr.Button("Score", variant="primary", scale=1, min_width=90, elem_id="score-run")
    examples = gr.Examples(
        EXAMPLES, inputs=[text_a, text_b], label="Minimal pairs (the first sentence is grammatical)",
        elem_id="score-examples",
    )
    with gr.Column(elem_id="score-results", elem_classes=["results"]):
        verdict = gr.Markdown(elem_id="score-verdict")
        strip_a = gr.Plot(label="Sentence A", show_label=False, elem_id="score-strip-a")
        strip_b = gr.Plot(label="Sentence B", show_label=False, elem_id="score-strip-b")
    table = gr.Dataframe(label="Scores", wrap=True, interactive=False, elem_id="score-table",
                         elem_classes=["results-table"])
    gr.Markdown(MEANINGS)
    download_buttons(session, "scores", "press Score", "score")
    inputs = [text_a, text_b, session]
    outputs = [strip_a, strip_b, table, verdict]
    gr.on(
        [text_a.input, text_b.input], None, None, None, js=look.stale_js("#score-results", "#score-table"),
        api_name=False, queue=False,
    )
    scored = gr.on(
        [run.click, text_a.submit, text_b.submit], score_sentences, inputs, outputs, api_name="score",
        **MODEL_EVENT,
    )
    look.mark_fresh(scored, "#score-results", "#score-table")
    # A pair is complete as it stands: clicking one scores it at once (the old result dims meanwhile).
    look.stale_on_examples(examples, "#score-results", "#score-table")
    from_example = examples.load_input_event.then(score_sentences, inputs, outputs, api_name=False,
                                                  **MODEL_EVENT)
    look.mark_fresh(from_example, "#score-results", "#score-table")
    links = [(LinkField("a", "score", "text"), text_a), (LinkField("b", "score", "text"), text_b)]
    return TabParts(links=links, on_link=OnLoad(score_sentences, inputs, outputs))
