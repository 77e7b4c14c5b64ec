"""The Inside tab's endpoints under hostile input (as test_api.py does for the other tabs)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("gradio")

from tests.robustness.strategies import hostile_text as _hostile_text  # noqa: E402
from tests.robustness.strategies import hostile_text_with_mask as _hostile_text_with_mask  # noqa: E402
from tests.robustness.strategies import without_surrogates  # noqa: E402
from tests.robustness.test_api import API_EXAMPLES, call, still_answers  # noqa: E402

hostile_text = _hostile_text.map(without_surrogates)
hostile_text_with_mask = _hostile_text_with_mask.map(without_surrogates)
positions = st.one_of(
    hostile_text, st.sampled_from(["", "1", "-1", "999999999999", "1e9", "nan", "0", "1 2 3"])
)


@API_EXAMPLES
@given(text=hostile_text_with_mask, masked=positions, position=positions, top_k=st.integers(1, 10))
def test_layers(client, text, masked, position, top_k):
    call(client, text, masked, position, top_k, api_name="/layers")


@settings(API_EXAMPLES, max_examples=6)
@given(text=hostile_text_with_mask, masked=positions, position=positions, target=hostile_text,
       baseline=st.sampled_from(["all-[MASK]", "all-[PAD]"]))
def test_saliency(client, text, masked, position, target, baseline):
    call(client, text, masked, position, target, 8, baseline, api_name="/saliency")


@API_EXAMPLES
@given(text=hostile_text, masked=positions, layer=st.integers(0, 11), head=st.integers(0, 11))
def test_attention_diff_and_replot(client, text, masked, layer, head):
    call(client, text, masked, api_name="/attention_diff")
    call(client, layer, head, api_name="/attention_diff_plot")


@API_EXAMPLES
@given(text=hostile_text, other=st.one_of(st.sampled_from(["", "default", "bundled"]), hostile_text,
                                           st.sampled_from(["/etc", "../../etc", "local:x"])))
def test_tokenizer(client, text, other):
    call(client, text, other, api_name="/tokenizer")


def test_server_survives(client):
    still_answers(client)
    assert call(client, "the cat sat on the [MASK] .", "", "", 3, api_name="/layers")
