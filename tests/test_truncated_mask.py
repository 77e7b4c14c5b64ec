"""A mask past the model's length: every view that needs a blank says where it looked, in one wording.

The tiny models read 64 tokens, so a text of 20 short sentences and then a
``[MASK]`` has its mask past the cut. Predict, layer by layer, saliency and both
comparisons must say "No mask within the first 64 tokens", not "type [MASK]"
alone (the text has one) nor "found 0".
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlm_explorer.compare import compare_models, compare_sentences
from mlm_explorer.generate import generate
from mlm_explorer.lens import layer_by_layer
from mlm_explorer.models import load_model
from mlm_explorer.predict import iterative_fill, no_mask_message, predict
from mlm_explorer.saliency import saliency
from mlm_explorer.tokens import encode

PAST_THE_CUT = "the cat sat on the mat . " * 20 + " the [MASK] ."
WHERE = "No mask within the first 64 tokens"


@pytest.fixture(scope="module")
def bert(tiny_bert_dir: Path):
    return load_model(tiny_bert_dir)


def test_the_shared_message_says_where_the_model_looked(bert):
    cut, whole = encode(bert, PAST_THE_CUT), encode(bert, "the cat sat .")
    assert cut.truncated and not cut.mask_positions and bert.max_length == 64
    assert no_mask_message(bert, cut).startswith(WHERE)
    assert no_mask_message(bert, whole).startswith("No mask: type [MASK]")
    assert "positions" in no_mask_message(bert, whole)
    assert "positions" not in no_mask_message(bert, whole, positions=False)


@pytest.mark.parametrize(
    "view",
    [
        lambda lm: predict(lm, PAST_THE_CUT),
        lambda lm: layer_by_layer(lm, PAST_THE_CUT),
        lambda lm: saliency(lm, PAST_THE_CUT, steps=2),
        lambda lm: compare_models(lm, lm, PAST_THE_CUT),
        lambda lm: compare_sentences(lm, "the [MASK] sat .", PAST_THE_CUT),
        lambda lm: iterative_fill(lm, PAST_THE_CUT),
        lambda lm: generate(lm, PAST_THE_CUT, "gibbs", steps=1),
    ],
    ids=["predict", "layers", "saliency", "compare_models", "compare_sentences", "iterative", "generate"],
)
def test_every_view_says_the_mask_is_past_the_cut(bert, view):
    with pytest.raises(ValueError, match=WHERE) as err:
        view(bert)
    assert "found 0" not in str(err.value)


# ---------------------------------------------------------------------------- the UI's messages

@pytest.fixture()
def session(looked_session):
    from mlm_explorer import plots

    return looked_session(plots.Look(dark=False, projector=False, narrow=False))


@pytest.mark.parametrize("view", ["layers", "saliency", "compare_models", "compare_sentences"])
def test_each_ui_view_says_the_mask_is_past_the_cut(session, view):
    gr = pytest.importorskip("gradio")
    from mlm_explorer.ui import activities as act
    from mlm_explorer.ui import inside

    text = PAST_THE_CUT
    calls = {
        "layers": lambda: inside.run_layers(text, "", "", 3, session),
        "saliency": lambda: inside.run_saliency(text, "", "", "", 8, inside.MASK_BASELINE, session),
        "compare_models": lambda: act.compare_two_models("default", "default", text, 5, session),
        "compare_sentences": lambda: act.compare_two_sentences("the [MASK] .", text, 5, session),
    }
    with pytest.raises(gr.Error, match=WHERE) as err:
        calls[view]()
    assert "type [MASK]" in str(err.value) and "found 0" not in str(err.value)
