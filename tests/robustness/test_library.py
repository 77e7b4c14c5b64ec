"""Every library entry point under hostile input: a result or a ValueError with a sentence, never a crash.

"A clear message" is checked, not assumed: the error is a ``ValueError`` (``ModelLoadError``
and ``DataError`` are ones), its text is one non-empty line a person can read, and the
result, when there is one, keeps its own invariants (probabilities sum to at most 1,
special tokens are never policy targets, attention rows sum to 1).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlm_explorer import data, models
from mlm_explorer.attention import mean_over_heads, rollout
from mlm_explorer.finetune import FinetuneConfig, check_probes, validate_config
from mlm_explorer.masking import Action, PolicyConfig, validate_policy
from mlm_explorer.predict import attention_for_text, iterative_fill, mask_text, predict, pseudo_log_likelihood
from mlm_explorer.tokens import encode
from tests.robustness.strategies import (
    any_bytes,
    any_fraction,
    any_number,
    any_setting,
    hostile_text,
    hostile_text_with_mask,
    upload_names,
)


def assert_user_message(err: BaseException) -> None:
    """A message meant for a person: a ValueError with one non-empty, bounded line."""
    assert isinstance(err, ValueError), f"{type(err).__name__} escaped: {err!r}"
    text = str(err)
    assert text.strip(), "an error without a message"
    assert len(text) < 2000, "a message nobody reads"
    assert "Traceback" not in text


def outcome(fn, *args, **kwargs):
    """Call ``fn``; return its result, or None after checking that the error is a user message."""
    try:
        return fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - the point is to see what escapes
        assert_user_message(err)
        return None


@pytest.fixture(scope="module")
def lms(tiny_bert_dir: Path, tiny_roberta_dir: Path):
    """Both tiny families (WordPiece with [MASK], byte-level BPE with <mask>)."""
    return [models.load_model(tiny_bert_dir, device="cpu"), models.load_model(tiny_roberta_dir, device="cpu")]


@given(text=hostile_text, which=st.integers(0, 1))
def test_encode_any_text(lms, text, which):
    lm = lms[which]
    enc = outcome(encode, lm, text)
    if enc is not None:
        assert 0 < len(enc) <= lm.max_length
        assert len(enc.tokens) == len(enc.input_ids) == len(enc.offsets) == len(enc.word_ids)
        assert enc.truncated == bool(enc.message)


@given(text=hostile_text_with_mask, top_k=any_setting, whole_word=st.booleans(), which=st.integers(0, 1),
       positions=st.lists(st.integers(-5, 600), max_size=4))
def test_predict_any_text_and_settings(lms, text, top_k, whole_word, which, positions):
    lm = lms[which]
    result = outcome(predict, lm, text, top_k, positions, whole_word=whole_word, with_attentions=True)
    if result is not None:
        assert result.predictions
        for p in result.predictions:
            probs = [c.prob for c in p.top_k]
            assert all(0.0 <= x <= 1.0 + 1e-6 for x in probs) and sum(probs) <= 1.0 + 1e-5
            assert math.isfinite(p.entropy) and p.entropy >= -1e-6


@given(text=hostile_text_with_mask, top_k=any_setting, which=st.integers(0, 1))
@settings(max_examples=10)
def test_iterative_fill_any_text(lms, text, top_k, which):
    result = outcome(iterative_fill, lms[which], text, top_k)
    if result is not None:
        assert len(result.steps) >= 1


@given(text=hostile_text, rate=any_fraction, mask_share=any_fraction, random_share=any_fraction,
       whole_word=st.booleans(), seed=any_setting, which=st.integers(0, 1))
def test_mask_text_any_policy(lms, text, rate, mask_share, random_share, whole_word, seed, which):
    lm = lms[which]
    config = PolicyConfig(rate=rate, mask_share=mask_share, random_share=random_share, whole_word=whole_word)
    masked = outcome(mask_text, lm, text, config, seed)
    if masked is not None:
        special = masked.encoding.special_mask
        typed = set(masked.encoding.mask_positions)
        for i, action in enumerate(masked.plan.actions):
            if special[i] and i not in typed:
                assert action is Action.NONE, "a special token was chosen by the policy"


@given(rate=any_setting, mask_share=any_setting, random_share=any_setting)
def test_validate_policy_any_values(rate, mask_share, random_share):
    config = PolicyConfig(rate=rate, mask_share=mask_share, random_share=random_share)
    if outcome(validate_policy, config) is None and _is_error(validate_policy, config):
        return
    assert all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in (rate, mask_share, random_share))


def _is_error(fn, *args) -> bool:
    try:
        fn(*args)
    except ValueError:
        return True
    return False


@given(text=hostile_text, which=st.integers(0, 1))
@settings(max_examples=15)
def test_score_any_text(lms, text, which):
    score = outcome(pseudo_log_likelihood, lms[which], text)
    if score is not None:
        assert math.isfinite(score.pll) and score.pll <= 1e-6
        assert score.pseudo_perplexity >= 1.0 - 1e-6


@given(text=hostile_text, which=st.integers(0, 1))
def test_attention_any_text(lms, text, which):
    out = outcome(attention_for_text, lms[which], text)
    if out is not None:
        maps, _ = out
        rows = maps.array.sum(axis=-1)
        np.testing.assert_allclose(rows, 1.0, atol=1e-4)
        assert np.isfinite(rollout(maps)).all() and np.isfinite(mean_over_heads(maps)).all()


@given(raw=any_bytes, name=upload_names, column=st.sampled_from([None, "text", "", "x", "日本"]))
def test_read_bytes_any_upload(raw, name, column):
    got = outcome(data.read_bytes, raw, name, text_column=column)
    if got is not None:
        assert got.examples and all(e.strip() for e in got.examples)
        assert "/" not in got.source and ".." not in got.source.split("/")


@given(raw=any_bytes, name=upload_names)
@settings(max_examples=15)
def test_read_file_any_upload(tmp_path_factory, raw, name):
    folder = tmp_path_factory.mktemp("upload")
    path = folder / Path(name).name
    path.write_bytes(raw)
    outcome(data.read_file, path)


@given(text=hostile_text)
def test_read_pasted_any_text(text):
    got = outcome(data.read_pasted, text)
    if got is not None:
        assert got.examples


def test_oversized_upload_is_refused_before_parsing():
    with pytest.raises(data.DataError, match="limit"):
        data.read_bytes(b"word " * (data.MAX_BYTES // 5 + 10), "big.txt")
    with pytest.raises(data.DataError, match="limit"):
        data.read_bytes(b"a\n" * (data.MAX_LINES + 5), "many.txt")


@given(
    steps=any_setting, lr=any_setting, rate=any_setting, seed=any_setting, batch_size=any_setting,
    max_seconds=any_setting, warmup=any_setting, max_length=any_setting,
)
def test_finetune_config_validation_any_values(
    steps, lr, rate, seed, batch_size, max_seconds, warmup, max_length
):
    config = FinetuneConfig(
        steps=steps, lr=lr, rate=rate, seed=seed, batch_size=batch_size, max_seconds=max_seconds,
        warmup=warmup, max_length=max_length,
    )
    outcome(validate_config, config)


@given(probes=st.lists(hostile_text, max_size=4), mask=st.sampled_from(["[MASK]", "<mask>"]))
def test_check_probes_any_text(probes, mask):
    outcome(check_probes, probes, mask)


@given(name=st.one_of(hostile_text, st.sampled_from([
    "../../etc", "/etc/passwd", "~/.ssh", "..\\..\\windows", "file:///etc/passwd", "a/b/c", "http://x/y",
    "google-bert/bert-base-uncased\x00", " ", "/", ".", "..", "-", "a" * 500,
])))
@settings(max_examples=30)
def test_load_model_any_name_is_refused_cleanly(name, monkeypatch_env):
    """Offline, nothing but a real folder loads; every other name is a ModelLoadError, never a crash."""
    try:
        models.load_model(name, device="cpu")
    except models.ModelLoadError as err:
        assert_user_message(err)
    except Exception as err:  # noqa: BLE001
        pytest.fail(f"{type(err).__name__} escaped load_model({name!r}): {err}")


@pytest.fixture(scope="module")
def monkeypatch_env():
    """Hub access off for the load test (conftest sets it too; make it explicit here)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield
    mp.undo()


@given(value=any_number)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys is read after every call
def test_cli_rejects_nonsense_numbers_with_one_line(value, capsys):
    from mlm_explorer.cli import main

    code = main(["mask", "the cat sat", "--rate", str(value), "--model", "/nonexistent"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
