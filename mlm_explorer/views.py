"""Results as tables and summary numbers: what the app, a notebook or an export shows.

Turns :mod:`mlm_explorer.predict` results into pandas DataFrames (one row per
predicted position or per sentence), and fine-tuning results into the
Fine-tune tab's tables. Pure functions over result dataclasses; nothing here
runs a model, draws a figure or imports gradio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from mlm_explorer.masking import Action
from mlm_explorer.predict import IterativeResult, PredictionResult, SentenceScore, TokenPrediction

if TYPE_CHECKING:
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
        ("masked-token accuracy", before.accuracy, after.accuracy if after else math.nan),
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
