"""The cases the fuzzing found, pinned as plain tests (each failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlm_explorer import models
from mlm_explorer.finetune import check_probes
from mlm_explorer.masking import PolicyConfig
from mlm_explorer.predict import mask_text, predict
from mlm_explorer.tokens import encode


@pytest.fixture(scope="module")
def lm(tiny_bert_dir: Path):
    return models.load_model(tiny_bert_dir, device="cpu")


@pytest.mark.parametrize("text", ["\ud800 [MASK]", "the cat\udfff sat [MASK]"])
def test_lone_surrogates_are_a_message_not_a_type_error(lm, text):
    # JSON can carry "\ud800"; the tokenizer raised TypeError on it.
    with pytest.raises(ValueError, match="invalid characters"):
        encode(lm, text)
    with pytest.raises(ValueError, match="invalid characters"):
        predict(lm, text)


@pytest.mark.parametrize("seed", [None, "7", 1.5, -1, 2**64, float("nan"), True])
def test_a_nonsense_seed_is_a_message(lm, seed):
    # int(None) raised TypeError from inside the policy.
    with pytest.raises(ValueError, match="seed"):
        mask_text(lm, "the cat sat on the mat .", PolicyConfig(rate=0.5), seed)


def test_a_valid_seed_still_reproduces(lm):
    a = mask_text(lm, "the cat sat on the mat .", PolicyConfig(rate=0.5), 3.0).plan
    assert a == mask_text(lm, "the cat sat on the mat .", PolicyConfig(rate=0.5), 3).plan


@pytest.mark.parametrize(
    "name",
    ["\u200f " * 3000, "x/" + "b" * 300, "a" * 300, "a\x00b"],
    ids=["rtl-6000", "long-part", "300", "nul"],
)
def test_names_no_file_system_accepts_are_not_found(name):
    # Path.exists() raised OSError (ENAMETOOLONG) or ValueError (NUL) before the "not found" message.
    with pytest.raises(models.ModelLoadError) as err:
        models.load_model(name, device="cpu")
    assert len(str(err.value)) < 1000


def test_probe_errors_do_not_echo_ten_thousand_characters():
    with pytest.raises(ValueError) as err:
        check_probes(["[CLS] " * 2000], "[MASK]")
    assert len(str(err.value)) < 200


def test_toggle_token_through_the_api_has_no_click_and_still_answers(tiny_bert_dir: Path):
    pytest.importorskip("gradio")
    from gradio_client import Client

    from tests.app_server import running_app

    with running_app(tiny_bert_dir) as url:
        chips, positions = Client(url, verbose=False).predict("the cat sat .", "", api_name="/toggle_token")
    # Gradio's SelectData crashed on the missing click; now the chips come back unchanged.
    assert [c["token"] for c in chips][:3] == ["the", "cat", "sat"] and positions == ""
