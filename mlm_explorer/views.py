"""Results as tables and summary numbers: what the app, a notebook or an export shows.

Turns :mod:`mlm_explorer.predict` results into pandas DataFrames (one row per
predicted position or per sentence), fine-tuning results into the Fine-tune
tab's tables; the policy statistics are :func:`mlm_explorer.masking.policy_draws`.
Pure functions over result dataclasses; nothing here runs a model, draws a
figure or imports gradio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from mlm_explorer.compare import Comparison
from mlm_explorer.generate import GenerationTrace
from mlm_explorer.masking import Action
from mlm_explorer.predict import IterativeResult, PredictionResult, SentenceScore, TokenPrediction
from mlm_explorer.quiz import ROUND_COLUMNS, QuizReveal, QuizRound, WordScore, round_rows

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from mlm_explorer.finetune import Probe
    from mlm_explorer.training import Metrics

# What the app calls each action (the legend of the policy tab).
ACTION_LABELS: dict[Action, str] = {
    Action.MASK: "masked",
    Action.RANDOM: "random",
    Action.KEEP: "kept",
    Action.NONE: "untouched",
}


def _top_k_text(pred: TokenPrediction) -> str:
    return ", ".join(f"{c.token} {c.prob:.1%}" for c in pred.top_k)


def _hit(pred: TokenPrediction) -> str:
    correct = pred.correct
    return "" if correct is None else ("hit" if correct else "miss")


def predictions_table(result: PredictionResult) -> pd.DataFrame:
    """One row per predicted position: input, original, top-1, p/rank of the original, entropy."""
    rows = [
        {
            "pos.": p.position,
            "action": ACTION_LABELS[p.action],
            "model saw": p.input_token,
            "original": p.original if p.original is not None else "(unknown)",
            "top-1": p.top_k[0].token,
            "p(top-1)": round(p.top_k[0].prob, 4),
            "p(original)": None if p.original_prob is None else round(p.original_prob, 4),
            "rank": p.original_rank,
            "entropy": round(p.entropy, 3),
            "hit": _hit(p),
            "top-k": _top_k_text(p),
        }
        for p in result.predictions
    ]
    return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)


#: Short headers, so the table fits a phone; the README and About tab explain them
#: (rank 1 = the model's first choice; entropy in nats over the whole vocabulary).
PREDICTION_COLUMNS = [
    "pos.", "action", "model saw", "original", "top-1", "p(top-1)", "p(original)", "rank", "entropy", "hit",
    "top-k",
]


def iterative_table(result: IterativeResult) -> pd.DataFrame:
    """One row per fill step: which position was filled, with what, and how sure the model was."""
    rows = [
        {
            "step": s.step,
            "position": s.prediction.position,
            "filled with": s.chosen.token,
            "p(chosen)": round(s.chosen.prob, 4),
            "entropy": round(s.prediction.entropy, 3),
            "top-k": _top_k_text(s.prediction),
        }
        for s in result.steps
    ]
    columns = ["step", "position", "filled with", "p(chosen)", "entropy", "top-k"]
    return pd.DataFrame(rows, columns=columns)


def scores_table(scores: Sequence[tuple[str, SentenceScore]]) -> pd.DataFrame:
    """One row per (label, sentence score): PLL, pseudo-perplexity, tokens scored."""
    rows = [
        {
            "sentence": label,
            "PLL (nats)": round(s.pll, 3),
            "pseudo-perplexity": round(s.pseudo_perplexity, 3),
            "tokens scored": s.n_scored,
            "least expected token": _least_expected(s),
        }
        for label, s in scores
    ]
    return pd.DataFrame(rows, columns=SCORE_COLUMNS)


SCORE_COLUMNS = ["sentence", "PLL (nats)", "pseudo-perplexity", "tokens scored", "least expected token"]


def _least_expected(score: SentenceScore) -> str:
    scored = [(lp, t) for lp, t in zip(score.token_log_probs, score.tokens, strict=True) if lp is not None]
    if not scored:
        return ""
    lp, token = min(scored)
    return f"{token} ({lp:.2f})"


def scored_tokens(score: SentenceScore) -> tuple[list[str], list[float]]:
    """The scored tokens and their log-probabilities (special tokens left out), for a heat strip."""
    pairs = [(t, lp) for t, lp in zip(score.tokens, score.token_log_probs, strict=True) if lp is not None]
    return [t for t, _ in pairs], [lp for _, lp in pairs]


def table_to_json(table: pd.DataFrame) -> str:
    """A table as a JSON list of records (what the app's JSON export holds)."""
    return table.to_json(orient="records", force_ascii=False, indent=2)


# ------------------------------------------------------------------ tables as a person reads them

#: Columns holding probabilities: shown as percentages on screen, kept as numbers in exports.
PROBABILITY_COLUMNS = (
    "p(top-1)", "p(original)", "p(chosen)",
    "p", "p(token)", "p(A)", "p(B)",  # class activities: quiz reveal, generation, comparison
    "how sure", "final answer's probability", "hidden word's probability",  # inside: layer by layer
)
#: Columns shown with two decimals, and columns of whole numbers that may be missing (ranks).
TWO_DECIMAL_COLUMNS = ("entropy", "uncertainty", "PLL (nats)", "pseudo-perplexity", "A / B", "total |change|")
THREE_DECIMAL_COLUMNS = ("grad×input", "IG")  # attributions: -0.736, 3.936 (the export keeps 5)
WHOLE_COLUMNS = ("rank", "rank A", "rank B", "final answer's rank", "hidden word's rank")
#: The few columns a 390 px phone shows, per table (the export keeps them all).
PHONE_COLUMNS = (
    "pos.", "original", "top-1", "p(top-1)", "rank",  # predictions
    "step", "filled with", "p(chosen)",  # iterative fill
    "sentence", "PLL (nats)", "pseudo-perplexity",  # sentence scores
    "word", "who", "p", "hits@1", "hits@5",  # quiz reveal and score card
    "token", "p(token)",  # generation steps
    "p(A)", "p(B)", "A / B",  # comparison
    "layer", "first guess", "how sure",  # inside: layer by layer (the rank is the chart above it)
    "grad×input", "IG",  # inside: saliency
    "head", "total |change|",  # inside: attention change
    "id",  # inside: the tokenizer (with pos., token, word)
)
_EMPTY = {"", "(unknown)"}


def _is_empty(column: pd.Series) -> bool:
    return all(v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and v in _EMPTY)
               for v in column)


def display_table(
    table: pd.DataFrame, narrow: bool = False, phone_columns: Sequence[str] = PHONE_COLUMNS
) -> Styler:
    """The on-screen form of a results table: percentages, no empty columns, fewer on a phone.

    The numbers stay numbers (Gradio shows the Styler's text and hands the raw
    values to API callers); exports use ``table`` itself, complete.

    >>> t = pd.DataFrame({"pos.": [2], "p(top-1)": [0.4138], "p(original)": [None]})
    >>> display_table(t).to_html().count("41.4%"), list(display_table(t).data.columns)
    (1, ['pos.', 'p(top-1)'])
    """
    keep = [c for c in table.columns if not _is_empty(table[c])]
    if narrow:
        keep = [c for c in keep if c in phone_columns] or keep
    shown = table[keep]
    formats = {c: _percent_cell for c in keep if c in PROBABILITY_COLUMNS}
    formats.update({c: "{:.2f}" for c in keep if c in TWO_DECIMAL_COLUMNS})
    formats.update({c: "{:.3f}" for c in keep if c in THREE_DECIMAL_COLUMNS})
    formats.update({c: _whole for c in keep if c in WHOLE_COLUMNS})
    return shown.style.format(formats, na_rep="").hide(axis="index")


def _percent_cell(p: object) -> str:
    from mlm_explorer.plots import percent  # plots imports nothing of ours: no cycle

    return "" if p is None else percent(float(p))


def _whole(v: object) -> str:
    return "" if v is None or (isinstance(v, float) and v != v) else f"{int(v)}"


# ---------------------------------------------------------------------------- class activities


def quiz_round_table(quiz: QuizRound) -> pd.DataFrame:
    """One row per revealed item of a quiz round (the CSV a teacher downloads)."""
    return pd.DataFrame(round_rows(quiz), columns=ROUND_COLUMNS)


REVEAL_COLUMNS = ["word", "who", "p", "rank", "pieces", "scored"]


def _word_row(score: WordScore, who: str) -> dict:
    return {
        "word": score.word,
        "who": who,
        "p": score.prob,  # unrounded: the page formats it (0.000025% must not read 0%)
        "rank": score.rank,
        "pieces": " ".join(score.pieces),
        "scored": "PLL in place" if score.in_place else "at the blank",
    }


def quiz_reveal_table(reveal: QuizReveal) -> pd.DataFrame:
    """The answer and each guess: probability, rank in the model's distribution, word pieces, how scored."""
    rows = [_word_row(reveal.answer, "answer")]
    rows += [_word_row(g, f"your guess {n}") for n, g in enumerate(reveal.guesses, start=1)]
    return pd.DataFrame(rows, columns=REVEAL_COLUMNS)


SCORE_CARD_COLUMNS = ["who", "hits@1", "hits@5", "items"]


def score_card_table(quiz: QuizRound) -> pd.DataFrame:
    """You and the model, hits@1 and hits@5 over the revealed items."""
    c = quiz.score_card()
    rows = [
        {"who": "you", "hits@1": c.student_hits1, "hits@5": c.student_hits5, "items": c.n},
        {"who": "the model", "hits@1": c.model_hits1, "hits@5": c.model_hits5, "items": c.n},
    ]
    return pd.DataFrame(rows, columns=SCORE_CARD_COLUMNS)


GENERATION_COLUMNS = ["step", "sweep", "position", "token", "p(token)", "text"]


def generation_table(trace: GenerationTrace) -> pd.DataFrame:
    """One row per step of a generation trace."""
    rows = [
        {"step": s.step, "sweep": s.sweep, "position": s.position, "token": s.token,
         "p(token)": round(s.prob, 4), "text": s.text}
        for s in trace.steps
    ]
    return pd.DataFrame(rows, columns=GENERATION_COLUMNS)


def comparison_table(c: Comparison, name_a: str = "A", name_b: str = "B") -> pd.DataFrame:
    """One row per word: each side's probability and rank, and the ratio A/B (empty where undefined)."""
    rows = [
        {
            "word": w.word,
            f"p({name_a})": None if w.prob_a is None else round(w.prob_a, 5),
            f"rank {name_a}": w.rank_a,
            f"p({name_b})": None if w.prob_b is None else round(w.prob_b, 5),
            f"rank {name_b}": w.rank_b,
            f"{name_a} / {name_b}": None if w.ratio is None else round(w.ratio, 3),
        }
        for w in c.words
    ]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else comparison_columns(name_a, name_b))


def comparison_columns(name_a: str = "A", name_b: str = "B") -> list[str]:
    a, b = name_a, name_b
    return ["word", f"p({a})", f"rank {a}", f"p({b})", f"rank {b}", f"{a} / {b}"]


# ------------------------------------------------------------------ fine-tuning

PROBE_COLUMNS = ["probe", "before", "after"]
METRIC_COLUMNS = ["metric", "before", "after", "change"]


def probability_text(p: float) -> str:
    """A probability as a short percentage that never rounds a small one to "0%".

    A random model spreads its guesses over the whole vocabulary (1/30,522 ≈ 0.003%
    each), so whole percents would show every guess as 0%.

    >>> [probability_text(p) for p in (0.4213, 0.031, 0.0042, 0.0000327)]
    ['42%', '3.1%', '0.42%', '0.0033%']
    """
    if p >= 0.1:
        return f"{p:.0%}"
    return f"{100 * p:.2g}%"


def _guesses(probe: Probe | None, k: int = 3) -> str:
    if probe is None:
        return ""
    return " | ".join(
        ", ".join(f"{t} {probability_text(p)}" for t, p in zip(g.tokens[:k], g.probs[:k], strict=True))
        for g in probe.guesses
    )


def probes_table(before: Sequence[Probe], now: Sequence[Probe], now_label: str = "after") -> pd.DataFrame:
    """One row per probe sentence: top guesses before training and now."""
    rows = [
        {"probe": b.text, "before": _guesses(b), now_label: _guesses(now[i] if i < len(now) else None)}
        for i, b in enumerate(before)
    ]
    return pd.DataFrame(rows, columns=["probe", "before", now_label])


def metrics_table(before: Metrics, after: Metrics | None = None) -> pd.DataFrame:
    """Held-out masked-token accuracy, loss and perplexity before and (once known) after."""
    rows = [
        # Short names: the table's label says "masked-token", and a phone shows it 390 px wide.
        ("accuracy", before.accuracy, after.accuracy if after else math.nan),
        ("loss (nats)", before.loss, after.loss if after else math.nan),
        ("perplexity", before.perplexity, after.perplexity if after else math.nan),
    ]
    return pd.DataFrame(
        [
            {"metric": m, "before": round(x, 4), "after": round(y, 4), "change": round(y - x, 4)}
            for m, x, y in rows
        ],
        columns=METRIC_COLUMNS,
    )


# ---------------------------------------------------------------------------- inside a prediction
# Tables of the "Inside" tab; the result types are imported here, not at the top, to keep
# this section self-contained (and importing views light).

#: Headers in a student's words (the table's note says what each means); exports keep the raw numbers.
LAYER_COLUMNS = [
    "layer", "first guess", "how sure", "final answer's rank", "final answer's probability",
    "hidden word's rank", "hidden word's probability", "uncertainty", "top guesses",
]


def layers_table(lens) -> pd.DataFrame:
    """One row per layer of a :class:`~mlm_explorer.lens.LayerLens` (layer 0 = embeddings)."""
    rows = [
        {
            "layer": "embeddings" if r.layer == 0 else str(r.layer),
            "first guess": r.top_k[0].token,
            "how sure": round(r.top_k[0].prob, 4),
            "final answer's rank": r.final_rank,
            "final answer's probability": round(r.final_prob, 4),
            "hidden word's rank": r.original_rank,
            "hidden word's probability": None if r.original_prob is None else round(r.original_prob, 4),
            "uncertainty": round(r.entropy, 3),
            "top guesses": ", ".join(f"{c.token} {c.prob:.1%}" for c in r.top_k),
        }
        for r in lens.layers
    ]
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)


#: Short names: a 390 px phone cut "integrated gradients" to "integrated grad…" (the tab's text
#: names both methods in full, and its IG steps slider says "IG").
SALIENCY_COLUMNS = ["pos.", "token", "grad×input", "IG"]


def saliency_table(result) -> pd.DataFrame:
    """One row per input token of a :class:`~mlm_explorer.saliency.Saliency`."""
    rows = [
        {"pos.": i, "token": t, "grad×input": round(g, 5), "IG": round(ig, 5)}
        for i, (t, g, ig) in enumerate(
            zip(result.tokens, result.grad_x_input, result.integrated_gradients, strict=True)
        )
    ]
    return pd.DataFrame(rows, columns=SALIENCY_COLUMNS)


HEAD_CHANGE_COLUMNS = ["layer", "head", "total |change|"]


def head_change_table(change) -> pd.DataFrame:
    """One row per head of an :class:`~mlm_explorer.attention_change.AttentionChange`, largest first."""
    grid = change.head_change
    rows = [
        {"layer": layer, "head": head, "total |change|": round(float(grid[layer, head]), 4)}
        for layer in range(grid.shape[0])
        for head in range(grid.shape[1])
    ]
    table = pd.DataFrame(rows, columns=HEAD_CHANGE_COLUMNS)
    return table.sort_values("total |change|", ascending=False, kind="stable").reset_index(drop=True)


TOKEN_COLUMNS = ["pos.", "id", "token", "vocabulary entry", "characters", "span", "word", "continues word",
                 "special", "unknown"]


def tokens_table(view) -> pd.DataFrame:
    """One row per token of a :class:`~mlm_explorer.tokenizer_view.TokenizerView`."""
    rows = [
        {
            "pos.": t.position, "id": t.id, "token": t.token, "vocabulary entry": t.vocab_entry,
            "characters": t.piece, "span": f"{t.start}–{t.end}", "word": t.word,
            "continues word": "yes" if t.continues_word else "", "special": "yes" if t.special else "",
            "unknown": "yes: not in the vocabulary" if t.unknown else "",
        }
        for t in view.tokens
    ]
    table = pd.DataFrame(rows, columns=TOKEN_COLUMNS)
    # Special tokens have no word: a plain column would turn float ("1.000000"); Int64 keeps 1.
    table["word"] = table["word"].astype("Int64")
    return table
