"""The Class tab's endpoints under hostile input, through gradio_client (same pass rule as test_api.py).

A result, or one of our messages; never Gradio's generic error, a hang, or a server that stops answering.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("gradio")

from mlm_explorer.ui import activities  # noqa: E402
from tests.robustness.strategies import json_number as any_number  # noqa: E402
from tests.robustness.strategies import json_setting as any_setting  # noqa: E402
from tests.robustness.test_api import (  # noqa: E402
    API_EXAMPLES,
    call,
    hostile_text,
    hostile_text_with_mask,
    still_answers,
)

SOURCES = [activities.BUNDLED_SOURCE, activities.TEACHER_SOURCE]
STARTS = [activities.START_BLANKS, activities.START_PROMPT]
STRATEGIES = list(activities.STRATEGY_LABELS)
bracketed = st.tuples(hostile_text, hostile_text).map(lambda ab: f"{ab[0]} [{ab[1][:8]}] {ab[0]}")


@API_EXAMPLES
@given(source=st.one_of(st.sampled_from(SOURCES), hostile_text), size=any_number, seed=any_number,
       listing=st.one_of(hostile_text, st.lists(bracketed, max_size=8).map("\n".join)), guess=hostile_text)
def test_quiz(client, source, size, seed, listing, guess):
    call(client, source, size, seed, listing, api_name="/quiz_start")
    call(client, guess, api_name="/quiz_reveal")
    call(client, api_name="/quiz_next")
    still_answers(client)


@settings(API_EXAMPLES, max_examples=8)
@given(start=st.one_of(st.sampled_from(STARTS), hostile_text), length=any_number,
       prompt=hostile_text_with_mask, strategy=st.one_of(st.sampled_from(STRATEGIES), hostile_text),
       sweeps=any_number, temperature=any_number, top_k=any_number, seed=any_number, l2r=any_setting,
       step=any_number)
def test_generate(client, start, length, prompt, strategy, sweeps, temperature, top_k, seed, l2r, step):
    call(client, start, length, prompt, strategy, sweeps, temperature, top_k, seed, l2r, api_name="/generate")
    call(client, step, api_name="/generate_step")


@settings(API_EXAMPLES, max_examples=8)
@given(a=hostile_text_with_mask, b=hostile_text_with_mask, key=hostile_text, top_k=any_number)
def test_compare(client, a, b, key, top_k):
    call(client, a, b, top_k, api_name="/compare_sentences")
    call(client, "default", key, a, top_k, api_name="/compare_models")
    still_answers(client)
