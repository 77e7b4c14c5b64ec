"""The class-activity library functions under hostile input: a result or a user message, never a crash."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_explorer import compare, generate, quiz
from tests.robustness.strategies import any_number, any_setting, hostile_text, hostile_text_with_mask
from tests.robustness.test_library import lms, outcome  # noqa: F401 (the fixture is used by name)

bracketed = st.tuples(hostile_text, hostile_text).map(lambda ab: f"{ab[0]} [{ab[1][:10]}] {ab[0]}")


@given(text=st.one_of(hostile_text, st.lists(bracketed, max_size=6).map("\n".join)))
def test_parse_items_any_text(text):
    parsed = outcome(quiz.parse_items, text)
    if parsed is not None:
        assert parsed.items
        for item in parsed.items:
            assert item.sentence[item.start : item.end] == item.answer and item.answer.strip()
            assert "[" not in item.answer and quiz.BLANK in item.blanked


@settings(max_examples=15)
@given(line=bracketed, guesses=st.one_of(hostile_text, st.lists(hostile_text, max_size=7)), top_k=any_setting,
       which=st.integers(0, 1))
def test_score_item_any_item_and_guess(lms, line, guesses, top_k, which):  # noqa: F811
    item = outcome(quiz.parse_line, line)
    if item is None:
        return
    reveal = outcome(quiz.score_item, lms[which], item, guesses, top_k)
    if reveal is not None:
        assert sum(c.prob for c in reveal.top_k) <= 1 + 1e-6
        for score in (reveal.answer, *reveal.guesses):
            assert score.rank >= 1 and 0 <= score.prob <= 1 and math.isfinite(score.log_prob)


@settings(max_examples=15)
@given(start=st.one_of(hostile_text_with_mask, any_number),
       strategy=st.one_of(st.sampled_from(generate.STRATEGIES), hostile_text),
       steps=st.one_of(st.none(), any_setting), temperature=any_setting, top_k=any_setting,
       seed=any_setting, which=st.integers(0, 1))
def test_generate_any_start_and_settings(lms, start, strategy, steps, temperature, top_k, seed, which):  # noqa: F811
    lm = lms[which]
    trace = outcome(generate.generate, lm, start, strategy, steps, temperature, top_k, seed)
    if trace is not None:
        assert not {s.token_id for s in trace.steps} & set(lm.special_ids)
        assert len(trace.pll_per_sweep) == trace.sweeps


@settings(max_examples=15)
@given(a=hostile_text_with_mask, b=hostile_text_with_mask, top_k=any_setting)
def test_compare_any_text(lms, a, b, top_k):  # noqa: F811
    outcome(compare.compare_sentences, lms[0], a, b, top_k)
    outcome(compare.compare_models, lms[0], lms[1], a, top_k)
