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

import pandas as pd
import torch

from mlm_explorer.masking import ACTIONS, IGNORE_INDEX, Action, PolicyConfig, corrupt_batch
from mlm_explorer.predict import IterativeResult, PredictionResult, SentenceScore, TokenPrediction

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


# ---------------------------------------------------------------------------- inside a prediction
# Tables of the "Inside" tab; the result types are imported here, not at the top, to keep
# this section self-contained (and importing views light).

LAYER_COLUMNS = [
    "layer", "top-1", "p(top-1)", "rank of final", "p(final)", "rank of original", "p(original)", "entropy",
    "top-k",
]


def layers_table(lens) -> pd.DataFrame:
    """One row per layer of a :class:`~mlm_explorer.lens.LayerLens` (layer 0 = embeddings)."""
    rows = [
        {
            "layer": "embeddings" if r.layer == 0 else str(r.layer),
            "top-1": r.top_k[0].token,
            "p(top-1)": round(r.top_k[0].prob, 4),
            "rank of final": r.final_rank,
            "p(final)": round(r.final_prob, 4),
            "rank of original": r.original_rank,
            "p(original)": None if r.original_prob is None else round(r.original_prob, 4),
            "entropy": round(r.entropy, 3),
            "top-k": ", ".join(f"{c.token} {c.prob:.1%}" for c in r.top_k),
        }
        for r in lens.layers
    ]
    return pd.DataFrame(rows, columns=LAYER_COLUMNS)


SALIENCY_COLUMNS = ["pos.", "token", "grad × input", "integrated gradients"]


def saliency_table(result) -> pd.DataFrame:
    """One row per input token of a :class:`~mlm_explorer.saliency.Saliency`."""
    rows = [
        {"pos.": i, "token": t, "grad × input": round(g, 5), "integrated gradients": round(ig, 5)}
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
                 "special"]


def tokens_table(view) -> pd.DataFrame:
    """One row per token of a :class:`~mlm_explorer.tokenizer_view.TokenizerView`."""
    rows = [
        {
            "pos.": t.position, "id": t.id, "token": t.token, "vocabulary entry": t.vocab_entry,
            "characters": t.piece, "span": f"{t.start}–{t.end}", "word": t.word,
            "continues word": "yes" if t.continues_word else "", "special": "yes" if t.special else "",
        }
        for t in view.tokens
    ]
    return pd.DataFrame(rows, columns=TOKEN_COLUMNS)
