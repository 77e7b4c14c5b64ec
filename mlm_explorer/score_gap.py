"""Where the pseudo-log-likelihood gap between two sentences comes from.

Two sentences of a minimal pair differ in a word or two ("The author that the
guards like **laughs**." / "... **laugh**."). Their PLL gap is a sum over every
token, and it splits exactly in two:

- the tokens that differ: how likely the model finds each sentence's own
  words at that place (the verb: does the model know which form agrees?);
- the tokens both sentences share: how much more at home each shared token
  feels next to one version than the other (the context's response).

A model can prefer the grammatical sentence while preferring the wrong form at
the differing word, the gap coming from the shared tokens; a class should see
that rather than read "agreed" as "knows agreement". Salazar et al. (2020,
"Masked Language Model Scoring") score with the same sum; BLiMP compares whole
sentences, Marvin & Linzen (2018) compare the differing word alone: this split
shows both at once.

Tokens are aligned with :class:`difflib.SequenceMatcher` on token ids, so a
pair that differs in length (a word added) splits too. Special tokens are not
scored and take no part. This module does not draw anything.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from mlm_explorer.predict import SentenceScore

#: Under this many nats a part of the gap is "about the same" in words.
NEGLIGIBLE = 0.05


@dataclass(frozen=True)
class Span:
    """Consecutive tokens of one sentence and the sum of their log-probabilities (nats)."""

    tokens: tuple[str, ...]
    log_prob: float

    def describe(self, name: str, escape: Callable[[str], str]) -> str:
        """“laughs” (A) -12.43."""
        return f"“{escape(' '.join(self.tokens))}” ({name}) {self.log_prob:.2f}"


@dataclass(frozen=True)
class DifferingSpan:
    """Where the sentences differ: A's tokens there and B's."""

    a: Span
    b: Span

    @property
    def gap(self) -> float:
        return self.a.log_prob - self.b.log_prob

    def describe(self, name_a: str, name_b: str, escape: Callable[[str], str]) -> str:
        """“laughs” (A) -12.43 vs “laugh” (B) -11.68, or “big” only in B, -8.75."""
        if not self.a.tokens:
            return f"“{escape(' '.join(self.b.tokens))}” only in {name_b}, {self.b.log_prob:.2f}"
        if not self.b.tokens:
            return f"“{escape(' '.join(self.a.tokens))}” only in {name_a}, {self.a.log_prob:.2f}"
        return f"{self.a.describe(name_a, escape)} vs {self.b.describe(name_b, escape)}"


@dataclass(frozen=True)
class SharedToken:
    """A token both sentences have, at aligned places, with its log-probability in each."""

    token: str
    log_prob_a: float
    log_prob_b: float

    @property
    def gap(self) -> float:
        return self.log_prob_a - self.log_prob_b


@dataclass(frozen=True)
class GapBreakdown:
    """PLL(A) − PLL(B) = differing_gap + shared_gap (up to float rounding)."""

    total: float
    differing: tuple[DifferingSpan, ...]
    shared: tuple[SharedToken, ...]

    @property
    def differing_gap(self) -> float:
        return sum(d.gap for d in self.differing)

    @property
    def shared_gap(self) -> float:
        return sum(s.gap for s in self.shared)

    @property
    def largest_shared(self) -> SharedToken | None:
        """The shared token that moved most in the direction the shared tokens lean together."""
        leaning = [s for s in self.shared if (s.gap > 0) == (self.shared_gap > 0) and s.gap != 0]
        return max(leaning, key=lambda s: abs(s.gap), default=None)

    @property
    def only_swaps(self) -> bool:
        """Every differing place has as many tokens in A as in B (nothing added or left out)."""
        return all(len(d.a.tokens) == len(d.b.tokens) for d in self.differing)


def _span(score: SentenceScore, start: int, end: int) -> Span:
    scored = [i for i in range(start, end) if score.token_log_probs[i] is not None]
    return Span(tuple(score.tokens[i] for i in scored), sum(score.token_log_probs[i] for i in scored))


def explain_gap(a: SentenceScore, b: SentenceScore) -> GapBreakdown:
    """Split PLL(a) − PLL(b) into the tokens that differ and the tokens both share.

    Both scores must come from the same model (the same vocabulary): tokens are
    matched by id.
    """
    matcher = difflib.SequenceMatcher(None, a.input_ids, b.input_ids, autojunk=False)
    differing, shared = [], []
    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            for i, j in zip(range(a0, a1), range(b0, b1), strict=True):
                lp_a, lp_b = a.token_log_probs[i], b.token_log_probs[j]
                if lp_a is not None and lp_b is not None:
                    shared.append(SharedToken(a.tokens[i], lp_a, lp_b))
        else:
            span_a, span_b = _span(a, a0, a1), _span(b, b0, b1)
            if span_a.tokens or span_b.tokens:
                differing.append(DifferingSpan(span_a, span_b))
    return GapBreakdown(total=a.pll - b.pll, differing=tuple(differing), shared=tuple(shared))


def _favours(gap: float, name_a: str, name_b: str) -> str:
    return f"**{name_a if gap > 0 else name_b}** by {abs(gap):.2f} nats"


def _shared(n: int, verb: str) -> str:
    """'The 1 token they share favours', 'The 7 tokens they share favour'."""
    return f"The 1 token they share {verb}s" if n == 1 else f"The {n} tokens they share {verb}"


def gap_line(
    g: GapBreakdown, escape: Callable[[str], str], name_a: str = "A", name_b: str = "B", max_spans: int = 3
) -> str:
    """Markdown: the two parts of the gap in words, and a warning when they point different ways.

    Tokens come from the user's text: ``escape`` makes each one literal Markdown
    (the UI passes its ``md_escape``). Empty when the sentences are the same token for token.
    A token only one sentence has can only lower that sentence's PLL (each log-probability
    is negative), so such a difference is reported as a cost, not as the model's preference.
    """
    if not g.differing:
        return ""
    spans = "; ".join(d.describe(name_a, name_b, escape) for d in g.differing[:max_spans])
    spans += "; …" if len(g.differing) > max_spans else ""
    differ = g.differing_gap
    line = f"**Where the gap comes from.** The tokens that differ: {spans}; "
    if abs(differ) < NEGLIGIBLE:
        line += "they score about the same. "
    elif g.only_swaps:
        line += f"they favour {_favours(differ, name_a, name_b)}. "
    elif not any(d.a.tokens and d.b.tokens for d in g.differing):
        longer = name_b if differ > 0 else name_a
        line += (f"that costs {longer} {abs(differ):.2f} nats, as any token more would (each lowers a PLL: "
                 "compare sentences of equal length where you can). ")
    else:
        line += (f"they favour {_favours(differ, name_a, name_b)}, partly because a sentence with more "
                 "tokens there has more log-probabilities to add (compare sentences of equal length "
                 "where you can). ")
    n = len(g.shared)
    if not g.shared:
        return line + "The sentences share no tokens."
    top = g.largest_shared
    if abs(g.shared_gap) < NEGLIGIBLE or top is None:
        return line + f"{_shared(n, 'score')} about the same in both."
    line += (f"{_shared(n, 'favour')} {_favours(g.shared_gap, name_a, name_b)}, "
             f"most at “{escape(top.token)}” ({top.log_prob_a:.2f} in {name_a}, "
             f"{top.log_prob_b:.2f} in {name_b}).")
    # Only a swap (laughs/laugh) says which form the model prefers; a tie has no winner to explain.
    if g.only_swaps and abs(differ) >= NEGLIGIBLE and g.total != 0 and (differ > 0) != (g.total > 0):
        winner, other = (name_a, name_b) if g.total > 0 else (name_b, name_a)
        line += (f"  \nSo **{winner}** wins through the tokens they share: where they differ, "
                 f"the model prefers {other}'s.")
    return line
