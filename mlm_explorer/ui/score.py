"""Sentence score: per-token pseudo-log-likelihood and pseudo-perplexity, two sentences side by side."""

from __future__ import annotations

import gradio as gr

from mlm_explorer import plots
from mlm_explorer.predict import pseudo_log_likelihood
from mlm_explorer.ui.common import (
    MODEL_EVENT,
    check_user_text,
    download_buttons,
    export_updates,
    md_escape,
    session_model,
    user_error,
)
from mlm_explorer.ui.state import Session
from mlm_explorer.views import SCORE_COLUMNS, scored_tokens, scores_table

EXAMPLES = [
    ["The keys to the cabinet are here.", "The keys to the cabinet is here."],
    ["The author that the guards like laughs.", "The author that the guards like laugh."],
    ["She has lived here since 2010.", "She has lived here for 2010."],
]


def score_sentences(text_a: str, text_b: str, session: Session):
    """Score one or two sentences: heat strips, a table, and which one the model prefers."""
    lm = session_model(session)
    texts = [("A", check_user_text(text_a, "first sentence"))]
    if isinstance(text_b, str) and text_b.strip():
        texts.append(("B", check_user_text(text_b, "second sentence")))
    try:
        scores = [(label, pseudo_log_likelihood(lm, t)) for label, t in texts]
    except ValueError as err:
        raise user_error(err) from None
    strips = [scored_tokens(s) for _, s in scores]
    zmin = min(min(lps, default=-1.0) for _, lps in strips)  # one scale, so colours compare
    figures = [
        plots.pll_strip(
            toks, lps, zmin=zmin,
            title=f"{label}: PLL {s.pll:.2f}, pseudo-perplexity {s.pseudo_perplexity:.2f}",
        )
        for (label, s), (toks, lps) in zip(scores, strips, strict=True)
    ]
    if len(figures) == 1:
        figures.append(plots.empty_figure("Type a second sentence to compare."))
    table = scores_table([(t, s) for (_, t), (_, s) in zip(texts, scores, strict=True)])
    verdict = ""
    if len(scores) == 2:
        (_, a), (_, b) = scores
        better, worse, gap = ("A", "B", a.pll - b.pll) if a.pll >= b.pll else ("B", "A", b.pll - a.pll)
        verdict = (
            f"The model finds **{better}** more likely than {worse} by {gap:.2f} nats of "
            "pseudo-log-likelihood (higher PLL, lower pseudo-perplexity = more natural to the model)."
        )
    notes = [md_escape(s.message) for _, s in scores if s.message]
    if notes:
        verdict += "\n\n⚠️ " + " ".join(notes)
    csv_file, json_file = export_updates(table, "scores")
    return figures[0], figures[1], table, verdict, csv_file, json_file


def build_score_tab(session: gr.State) -> None:
    """Layout and wiring of the Sentence-score tab."""
    gr.Markdown(
        "**Pseudo-log-likelihood** (Salazar et al., 2020): hide each token in turn and ask the model how "
        "likely the real one is. Red tokens surprised the model."
    )
    with gr.Row():
        text_a = gr.Textbox(label="Sentence A", value=EXAMPLES[0][0], elem_id="score-a")
        text_b = gr.Textbox(label="Sentence B (optional)", value=EXAMPLES[0][1], elem_id="score-b")
    gr.Examples(EXAMPLES, inputs=[text_a, text_b], label="Minimal pairs")
    run = gr.Button("Score", variant="primary", elem_id="score-run")
    verdict = gr.Markdown()
    strip_a = gr.Plot(label="Sentence A", show_label=False, elem_id="score-strip-a")
    strip_b = gr.Plot(label="Sentence B", show_label=False)
    table = gr.Dataframe(label="Scores", headers=SCORE_COLUMNS, wrap=True, interactive=False)
    csv_btn, json_btn = download_buttons()
    run.click(
        score_sentences, [text_a, text_b, session], [strip_a, strip_b, table, verdict, csv_btn, json_btn],
        api_name="score", **MODEL_EVENT,
    )
