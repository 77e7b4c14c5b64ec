"""Attention extraction, head mean and rollout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mlm_explorer.attention import (
    AttentionMaps,
    attention_from_output,
    compact,
    mean_over_heads,
    rollout,
    select_tokens,
)
from mlm_explorer.models import load_model
from mlm_explorer.predict import attention_for_text, predict


def test_shapes_and_rows_sum_to_one(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    maps, message = attention_for_text(lm, "the cat [MASK] on the mat .")
    t = len(maps.tokens)
    assert message == ""
    assert maps.array.shape == (lm.num_layers, lm.num_heads, t, t) and maps.array.dtype == np.float32
    assert np.allclose(maps.array.sum(-1), 1.0, atol=1e-5)
    assert np.allclose(mean_over_heads(maps).sum(-1), 1.0, atol=1e-5)
    roll = rollout(maps)
    assert roll.shape == (lm.num_layers, t, t)
    assert np.allclose(roll.sum(-1), 1.0, atol=1e-5)
    assert maps.masked_positions == (3,) and maps.special_mask[0] and not maps.special_mask[3]


def test_one_forward_pass_serves_predictions_and_attention(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    text = "the cat [MASK] on the mat ."
    result = predict(lm, text, with_attentions=True)
    maps, _ = attention_for_text(lm, text)
    assert result.attention is not None and result.attention.tokens == maps.tokens
    assert np.allclose(result.attention.array, maps.array, atol=1e-6)


def _maps(array: np.ndarray) -> AttentionMaps:
    tokens = tuple(f"t{i}" for i in range(array.shape[-1]))
    return AttentionMaps(tokens=tokens, array=array.astype(np.float32))


def test_rollout_golden_case() -> None:
    a1 = np.array([[0.5, 0.5], [0.0, 1.0]])
    a2 = np.array([[1.0, 0.0], [0.5, 0.5]])
    heads = np.stack([np.stack([a1, a1]), np.stack([a2, a2])])  # (2 layers, 2 heads, 2, 2)
    roll = rollout(_maps(heads))
    r1 = 0.5 * a1 + 0.5 * np.eye(2)
    r2 = 0.5 * a2 + 0.5 * np.eye(2)
    assert np.allclose(roll[0], r1)
    assert np.allclose(roll[1], r2 @ r1)  # later layer on the left (Abnar & Zuidema, 2020)
    assert not np.allclose(roll[1], r1 @ r2)  # the order matters in this case
    assert np.allclose(rollout(_maps(heads), residual=0.0)[1], a2 @ a1)


def test_mean_over_heads_and_select_tokens() -> None:
    rng = np.random.default_rng(0)
    raw = rng.random((3, 4, 5, 5))
    raw /= raw.sum(-1, keepdims=True)
    maps = _maps(raw)
    assert np.allclose(mean_over_heads(maps), raw.mean(1), atol=1e-6)
    kept = select_tokens(maps.array, [False, True, True, False, True])
    assert kept.shape == (3, 4, 3, 3)
    assert np.allclose(kept[0, 0], raw[0, 0][np.ix_([1, 2, 4], [1, 2, 4])])
    assert maps.head(2, 3).shape == (5, 5)
    with pytest.raises(IndexError, match="layer 3"):
        maps.head(3, 0)


def test_errors_say_how_to_fix() -> None:
    with pytest.raises(ValueError, match="eager"):
        attention_from_output(["a"], [None])
    with pytest.raises(ValueError, match="tokens"):
        attention_from_output(["a", "b"], [torch.ones(1, 1, 3, 3) / 3])
    with pytest.raises(ValueError, match="residual"):
        rollout(_maps(np.ones((1, 1, 2, 2)) / 2), residual=2.0)


# float16 keeps 11 significant bits: a weight in [0, 1] is within 2**-12 of its float32 value.
FP16_TOLERANCE = 2.0**-12


def test_compact_maps_halve_the_bytes_and_show_the_same_values(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    maps, _ = attention_for_text(lm, "the cat [MASK] on the mat and the dog sat on the floor .")
    small = compact(maps)
    assert small.array.dtype == np.float16 and small.array.nbytes * 2 == maps.array.nbytes
    assert (small.tokens, small.special_mask, small.masked_positions) == (
        maps.tokens, maps.special_mask, maps.masked_positions)
    assert maps.array.dtype == np.float32  # the original is untouched
    for layer in range(maps.num_layers):
        heads = small.layer_heads(layer)
        assert heads.dtype == np.float32
        np.testing.assert_allclose(heads, maps.layer_heads(layer), atol=FP16_TOLERANCE, rtol=0)
        for head in range(maps.num_heads):
            one = small.head(layer, head)
            assert one.dtype == np.float32
            np.testing.assert_allclose(one, maps.head(layer, head), atol=FP16_TOLERANCE, rtol=0)
    np.testing.assert_allclose(mean_over_heads(small), mean_over_heads(maps), atol=FP16_TOLERANCE, rtol=0)
    # Rollout multiplies the layers: each factor's rows sum to 1, so the errors add up at most per layer.
    np.testing.assert_allclose(rollout(small), rollout(maps), atol=maps.num_layers * FP16_TOLERANCE, rtol=0)
    with pytest.raises(IndexError, match="layer"):
        small.layer_heads(maps.num_layers)


def test_the_attention_tab_keeps_compact_maps_and_draws_the_same_views(tiny_bert_dir) -> None:
    pytest.importorskip("gradio")
    from mlm_explorer.ui import attention as tab
    from mlm_explorer.ui import common

    session = common.new_session()
    session.model_key = str(tiny_bert_dir)
    text = "the cat [MASK] on the mat ."
    tab.run_attention(text, tab.ONE_HEAD, 1, 1, False, session)
    kept = session.attention
    assert kept is not None and kept.array.dtype == np.float16
    full, _ = attention_for_text(load_model(tiny_bert_dir), text)
    for view in tab.VIEWS:
        shown = tab.attention_figure(kept, view, 1, 1, False)
        exact = tab.attention_figure(full, view, 1, 1, False)
        assert len(shown.data) == len(exact.data) > 0
        for a, b in zip(shown.data, exact.data, strict=True):
            np.testing.assert_allclose(np.asarray(a.z, dtype=float), np.asarray(b.z, dtype=float),
                                       atol=full.num_layers * FP16_TOLERANCE, rtol=0)
