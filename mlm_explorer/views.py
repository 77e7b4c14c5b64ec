"""Results as tables and summary numbers: what the app, a notebook or an export shows.

Turns :mod:`mlm_explorer.predict` results into pandas DataFrames (one row per
predicted position or per sentence) and computes the "draw the 80/10/10
policy many times" statistics. Pure functions over result dataclasses and
token ids; nothing here runs a model, draws a figure or imports gradio.

Example::

    >>> from mlm_explorer.masking import PolicyConfig
    >>> stats = policy_draws([101, 5, 6, 7, 102], [True, False, False, False, True],
    ...                      mask_token_id=103, candidate_ids=torch.arange(200, 300),
    ...                      config=PolicyConfig(), draws=2000, seed=0)
    >>> abs(stats.empirical["selected"] - 0.15) < 0.03
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from mlm_explorer.compare import Comparison
from mlm_explorer.generate import GenerationTrace
from mlm_explorer.masking import ACTIONS, IGNORE_INDEX, Action, PolicyConfig, corrupt_batch
from mlm_explorer.predict import IterativeResult, PredictionResult, SentenceScore, TokenPrediction
from mlm_explorer.quiz import ROUND_COLUMNS, QuizReveal, QuizRound, WordScore, round_rows

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

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


@dataclass(frozen=True)
class PolicyDraws:
    """Empirical rates of the 80/10/10 policy over many draws on one sentence."""

    draws: int
    empirical: dict[str, float]  # "selected" of eligible tokens; "masked"/"random"/"kept" of selected
    nominal: dict[str, float]
    counts: dict[str, int]  # trials behind each empirical rate (for error bars)


def policy_draws(
    input_ids: Sequence[int],
    special_mask: Sequence[bool],
    mask_token_id: int,
    candidate_ids: torch.Tensor,
    config: PolicyConfig,
    draws: int = 1000,
    seed: int = 0,
    word_ids: Sequence[int] | None = None,
) -> PolicyDraws:
    """Run the policy ``draws`` times on one sentence (one batched call) and count what happened.

    Uses :func:`masking.corrupt_batch` itself, the code training uses, so the
    chart tests the real thing rather than a re-implementation.
    """
    if not 1 <= draws <= 100_000:
        raise ValueError(f"draws must be between 1 and 100000, got {draws}.")
    ids = torch.tensor([list(input_ids)] * draws, dtype=torch.long)
    special = torch.tensor([list(special_mask)] * draws, dtype=torch.bool)
    words = None if word_ids is None else torch.tensor([list(word_ids)] * draws, dtype=torch.long)
    out = corrupt_batch(
        ids, special, mask_token_id, candidate_ids, config, torch.Generator().manual_seed(int(seed)), words
    )
    eligible = int((~special).sum())
    selected = int((out.labels != IGNORE_INDEX).sum())
    codes = {"masked": Action.MASK, "random": Action.RANDOM, "kept": Action.KEEP}
    counts = {name: int((out.actions == ACTIONS.index(a)).sum()) for name, a in codes.items()}
    denominator = max(selected, 1)
    empirical = {"selected": selected / max(eligible, 1)}
    empirical.update({name: n / denominator for name, n in counts.items()})
    nominal = {
        "selected": config.rate,
        "masked": config.mask_share,
        "random": config.random_share,
        "kept": config.keep_share,
    }
    trials = {"selected": eligible, "masked": selected, "random": selected, "kept": selected}
    return PolicyDraws(draws=draws, empirical=empirical, nominal=nominal, counts=trials)


# ------------------------------------------------------------------ tables as a person reads them

#: Columns holding probabilities: shown as percentages on screen, kept as numbers in exports.
PROBABILITY_COLUMNS = ("p(top-1)", "p(original)", "p(chosen)")
#: The few columns a 390 px phone shows, per table (the export keeps them all).
PHONE_COLUMNS = (
    "pos.", "original", "top-1", "p(top-1)", "rank",  # predictions
    "step", "filled with", "p(chosen)",  # iterative fill
    "sentence", "PLL (nats)", "pseudo-perplexity",  # sentence scores
)
_EMPTY = {"", "(unknown)"}


def _is_empty(column: pd.Series) -> bool:
    return all(v is None or (isinstance(v, float) and v != v) or (isinstance(v, str) and v in _EMPTY)
               for v in column)


def display_table(table: pd.DataFrame, narrow: bool = False) -> Styler:
    """The on-screen form of a results table: percentages, no empty columns, fewer on a phone.

    The numbers stay numbers (Gradio shows the Styler's text and hands the raw
    values to API callers); exports use ``table`` itself, complete.

    >>> t = pd.DataFrame({"pos.": [2], "p(top-1)": [0.4138], "p(original)": [None]})
    >>> display_table(t).to_html().count("41.4%"), list(display_table(t).data.columns)
    (1, ['pos.', 'p(top-1)'])
    """
    keep = [c for c in table.columns if not _is_empty(table[c])]
    if narrow:
        keep = [c for c in keep if c in PHONE_COLUMNS] or keep
    shown = table[keep]
    formats = {c: _percent_cell for c in keep if c in PROBABILITY_COLUMNS}
    formats.update({c: "{:.2f}" for c in keep if c in ("entropy", "PLL (nats)", "pseudo-perplexity")})
    formats.update({c: _whole for c in keep if c == "rank"})
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
        "p": round(score.prob, 6),
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
