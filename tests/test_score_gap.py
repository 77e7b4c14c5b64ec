"""Where a PLL gap comes from (mlm_explorer.score_gap): the tokens that differ and the tokens shared."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mlm_explorer.models import load_model
from mlm_explorer.predict import SentenceScore, pseudo_log_likelihoods
from mlm_explorer.score_gap import explain_gap, gap_line


def score(tokens: list[str], log_probs: list[float | None]) -> SentenceScore:
    """A hand-made score: ids are the tokens' positions in a shared made-up vocabulary."""
    vocab = {t: i for i, t in enumerate(["[CLS]", "[SEP]", "the", "author", "laughs", "laugh", "like", "big",
                                         "mat", "*x*", "."])}
    scored = [v for v in log_probs if v is not None]
    pll = sum(scored)
    return SentenceScore(model="hand", tokens=tuple(tokens), input_ids=tuple(vocab[t] for t in tokens),
                         token_log_probs=tuple(log_probs), pll=pll,
                         pseudo_perplexity=math.exp(-pll / len(scored)), n_scored=len(scored))


def plain(text: str) -> str:
    return text


@pytest.mark.parametrize("pair", [
    ("The keys to the cabinet are here.", "The keys to the cabinet is here."),
    ("The cat sat on the mat.", "The cat sat on the big mat."),  # one sentence a token longer
    ("Dogs bark loudly.", "A cat purrs softly at night."),  # hardly anything shared
])
def test_the_two_parts_add_up_to_the_gap(tiny_model_dir: Path, pair: tuple[str, str]) -> None:
    lm = load_model(str(tiny_model_dir))
    a, b = pseudo_log_likelihoods(lm, list(pair))
    g = explain_gap(a, b)
    assert g.total == pytest.approx(a.pll - b.pll)
    assert g.differing_gap + g.shared_gap == pytest.approx(g.total, abs=1e-4)
    # every scored token of each sentence is counted once: shared, or in a differing span
    n_a = len(g.shared) + sum(len(d.a.tokens) for d in g.differing)
    n_b = len(g.shared) + sum(len(d.b.tokens) for d in g.differing)
    assert (n_a, n_b) == (a.n_scored, b.n_scored)
    assert all(s.token in a.tokens and s.token in b.tokens for s in g.shared)


def test_a_one_word_difference_is_one_span(tiny_bert_dir: Path) -> None:
    lm = load_model(str(tiny_bert_dir))
    a, b = pseudo_log_likelihoods(lm, ["the cat sat on the mat .", "the cat sat on the big mat ."])
    g = explain_gap(a, b)
    (span,) = g.differing
    assert span.a.tokens == () and "".join(t.removeprefix("##") for t in span.b.tokens) == "big"
    first = b.tokens.index(span.b.tokens[0])  # "big", or its pieces in the tiny vocabulary
    assert span.gap == pytest.approx(-sum(b.token_log_probs[first:first + len(span.b.tokens)]))
    assert explain_gap(a, a).differing == () and gap_line(explain_gap(a, a), plain) == ""


def test_the_line_warns_when_the_context_decides() -> None:
    # A wins overall, but at the verb the model prefers B's "laugh": the shared "like" decides.
    a = score(["[CLS]", "the", "author", "like", "laughs", ".", "[SEP]"],
              [None, -1.0, -12.0, -8.0, -12.4, -0.1, None])
    b = score(["[CLS]", "the", "author", "like", "laugh", ".", "[SEP]"],
              [None, -1.0, -12.0, -11.0, -11.7, -0.1, None])
    g = explain_gap(a, b)
    assert g.total == pytest.approx(2.3) and g.differing_gap == pytest.approx(-0.7)
    assert g.largest_shared.token == "like" and g.largest_shared.gap == pytest.approx(3.0)
    line = gap_line(g, plain)
    assert "“laughs” (A) -12.40 vs “laugh” (B) -11.70; they favour **B** by 0.70 nats" in line
    assert ("The 4 tokens they share favour **A** by 3.00 nats, most at “like” (-8.00 in A, -11.00 in B)"
            in line)
    assert "So **A** wins through the tokens they share: where they differ, the model prefers B's." in line
    # the same pair with the verb right: no warning
    right = score(["[CLS]", "the", "author", "like", "laughs", ".", "[SEP]"],
                  [None, -1.0, -12.0, -8.0, -11.0, -0.1, None])
    assert "wins through" not in gap_line(explain_gap(right, b), plain)


def test_an_added_token_is_a_cost_not_a_preference() -> None:
    # B has an extra token: it lowers B's PLL whatever the model thinks, so no "prefers" warning,
    # even though the shared tokens favour B and the total favours A.
    a = score(["[CLS]", "the", "mat", "[SEP]"], [None, -1.0, -4.0, None])
    b = score(["[CLS]", "the", "big", "mat", "[SEP]"], [None, -1.0, -3.0, -2.0, None])
    line = gap_line(explain_gap(a, b), plain)
    assert "“big” only in B, -3.00; that costs B 3.00 nats, as any token more would" in line
    assert "favour **B** by 2.00 nats, most at “mat”" in line and "wins through" not in line
    # a swap and an addition together: the addition is named as part of the reason
    a2 = score(["[CLS]", "the", "laughs", "mat", "[SEP]"], [None, -1.0, -2.0, -4.0, None])
    b2 = score(["[CLS]", "the", "laugh", "big", "mat", "[SEP]"], [None, -1.0, -2.5, -3.0, -2.0, None])
    mixed = gap_line(explain_gap(a2, b2), plain)
    assert "“laughs” (A) -2.00 vs “laugh big” (B) -5.50; they favour **A** by 3.50 nats, partly" in mixed
    assert "wins through" not in mixed


def test_most_at_names_a_token_that_leans_the_way_the_shared_tokens_do() -> None:
    # shared: "the" +1.0 for A, "author" -0.6 (for B, but the larger |gap| among A-leaning is "the")
    a = score(["[CLS]", "the", "author", "laughs", "[SEP]"], [None, -1.0, -12.6, -12.0, None])
    b = score(["[CLS]", "the", "author", "laugh", "[SEP]"], [None, -2.0, -12.0, -11.0, None])
    g = explain_gap(a, b)
    assert g.shared_gap == pytest.approx(0.4) and g.largest_shared.token == "the"
    b_big = score(["[CLS]", "the", "author", "laugh", "[SEP]"], [None, -2.0, -10.0, -11.0, None])
    assert explain_gap(a, b_big).largest_shared.token == "author"  # now the shared tokens favour B


def test_the_line_escapes_every_user_token_and_counts_in_words() -> None:
    from mlm_explorer.ui.common import md_escape

    a = score(["[CLS]", "*x*", "the", "[SEP]"], [None, -2.0, -1.0, None])
    b = score(["[CLS]", "*x*", "mat", "[SEP]"], [None, -5.0, -3.0, None])
    line = gap_line(explain_gap(a, b), md_escape, name_a="first", name_b="second")
    assert "“the” (first) -1.00 vs “mat” (second) -3.00; they favour **first** by 2.00 nats" in line
    assert "The 1 token they share favours **first** by 3.00 nats, most at “\\*x\\*”" in line
    assert "*x*”" not in line.replace("\\*x\\*", "")  # the shared token went through md_escape


def test_a_tie_gets_no_winner() -> None:
    a = score(["[CLS]", "the", "laughs", "[SEP]"], [None, -1.0, -3.0, None])
    b = score(["[CLS]", "the", "laugh", "[SEP]"], [None, -3.0, -1.0, None])
    line = gap_line(explain_gap(a, b), plain)
    assert explain_gap(a, b).total == 0 and "wins through" not in line
