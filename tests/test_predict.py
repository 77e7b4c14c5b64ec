"""Predictions, iterative fill and pseudo-log-likelihood against transformers and naive loops."""

from __future__ import annotations

import copy
import dataclasses
import math
import threading

import pytest
import torch

from mlm_explorer import predict as predict_module
from mlm_explorer.masking import Action, PolicyConfig
from mlm_explorer.models import load_model
from mlm_explorer.predict import (
    forward,
    iterative_fill,
    mask_text,
    predict,
    predict_plan,
    pseudo_log_likelihood,
)
from mlm_explorer.tokens import encode, normalise_masks


@pytest.fixture(scope="module")
def pipelines():
    return {}


def _pipeline(lm, cache):
    from transformers import pipeline

    key = id(lm)
    if key not in cache:
        cache[key] = pipeline("fill-mask", model=lm.model, tokenizer=lm.tokenizer, device=lm.device)
    return cache[key]


@pytest.mark.parametrize("text", ["the cat [MASK] on the mat .", "the [MASK] sat on the [MASK] ."])
def test_agrees_with_fill_mask_pipeline(tiny_model_dir, pipelines, text) -> None:
    lm = load_model(tiny_model_dir)
    fill = _pipeline(lm, pipelines)
    theirs = fill(normalise_masks(text, lm.mask_token), top_k=5)
    if isinstance(theirs[0], dict):  # one mask: a flat list
        theirs = [theirs]
    ours = predict(lm, text, top_k=5).predictions
    assert len(ours) == len(theirs) == text.count("[MASK]")
    for pred, rows in zip(ours, theirs, strict=True):
        assert [c.id for c in pred.top_k] == [r["token"] for r in rows]
        for c, r in zip(pred.top_k, rows, strict=True):
            assert c.prob == pytest.approx(r["score"], abs=1e-5)


def test_prediction_fields_match_direct_computation(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    enc = encode(lm, "the cat sat on the mat .")
    pos = 3
    result = predict(lm, "the cat sat on the mat .", top_k=7, positions=[pos])
    (pred,) = result.predictions
    ids = list(enc.input_ids)
    ids[pos] = lm.mask_token_id
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([ids], device=lm.device)).logits[0, pos].cpu()
    probs = logits.softmax(-1).double()
    original = enc.input_ids[pos]
    assert pred.action is Action.MASK and pred.original_id == original and pred.original == enc.tokens[pos]
    assert pred.input_token == lm.mask_token
    assert pred.original_prob == pytest.approx(float(probs[original]), abs=1e-6)
    assert pred.original_rank == int((probs > probs[original]).sum()) + 1
    assert pred.entropy == pytest.approx(float(-(probs * probs.log()).sum()), abs=1e-4)
    assert 0 < pred.entropy <= math.log(lm.vocab_size) + 1e-6
    top = [c.prob for c in pred.top_k]
    assert top == sorted(top, reverse=True) and len(top) == 7
    assert pred.correct == (pred.original_rank == 1)
    assert result.tokens == enc.tokens and result.model_input_ids[pos] == lm.mask_token_id


@pytest.mark.parametrize("typed", ["[MASK]", "<mask>", "[mask]", "<MASK>"])
def test_typed_masks_normalised_for_any_model(tiny_model_dir, typed) -> None:
    lm = load_model(tiny_model_dir)
    enc = encode(lm, f"the cat {typed} on the mat .")
    assert enc.mask_positions and enc.input_ids.count(lm.mask_token_id) == 1
    # The mask is one token: no stray "Ġ" before RoBERTa's <mask> (lstrip, as roberta-base).
    assert len(enc) == len(encode(lm, "the cat sat on the mat ."))
    (pred,) = predict(lm, f"the cat {typed} on the mat .").predictions
    assert pred.original is None and pred.original_prob is None and pred.original_rank is None


def test_whole_word_and_all_positions(tiny_roberta_dir) -> None:
    lm = load_model(tiny_roberta_dir)
    text = "the unbelievable cat"
    enc = encode(lm, text)
    pieces = [i for i, w in enumerate(enc.word_ids) if w == enc.word_ids[3]]
    assert len(pieces) > 1
    result = predict(lm, text, positions=[3], whole_word=True)
    assert [p.position for p in result.predictions] == pieces
    everything = predict(lm, text, all_positions=True)
    visible = [i for i, s in enumerate(enc.special_mask) if not s]
    assert [p.position for p in everything.predictions] == visible
    assert all(p.action is Action.NONE for p in everything.predictions)


def test_truncation_is_reported(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    text = "the cat [MASK] on the mat . " + "the dog sat on the floor . " * 30
    result = predict(lm, text)
    assert result.truncated and str(lm.max_length) in result.message
    assert len(result.tokens) == lm.max_length
    with pytest.raises(ValueError, match="first 64 tokens"):
        predict(lm, "the dog sat on the floor . " * 30 + "[MASK]")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"text": ""}, "empty"),
        ({"text": "  \n\t "}, "empty"),
        ({"text": "the cat sat"}, "No mask"),
        ({"text": "the [MASK]", "top_k": 0}, "top_k"),
        ({"text": "the [MASK]", "positions": [99]}, "outside"),
        ({"text": "the [MASK]", "positions": [0]}, "special"),
    ],
)
def test_bad_input(tiny_bert_dir, kwargs, match) -> None:
    lm = load_model(tiny_bert_dir)
    with pytest.raises(ValueError, match=match):
        predict(lm, **kwargs)


def test_predict_plan_uses_corrupted_ids_at_every_target(tiny_bert_dir) -> None:
    lm = load_model(tiny_bert_dir)
    text = "the cat sat on the mat . the dog sat on the floor . birds fly south in the winter ."
    # The first seed whose plan has all three actions (so every kind of target is checked).
    plans = (mask_text(lm, text, PolicyConfig(rate=0.6), seed=s) for s in range(100))
    masked = next(m for m in plans if {Action.MASK, Action.RANDOM, Action.KEEP} <= set(m.plan.actions))
    result = predict_plan(lm, masked.plan, top_k=3)
    assert tuple(p.position for p in result.predictions) == masked.plan.targets
    with torch.inference_mode():
        corrupted = torch.tensor([masked.plan.corrupted_ids], device=lm.device)
        logits = lm.model(input_ids=corrupted).logits[0].cpu()
    for p in result.predictions:
        assert p.top_k[0].id == int(logits[p.position].argmax())
        assert p.input_token == masked.corrupted_tokens[p.position]
        assert p.original_id == masked.plan.original_ids[p.position]
    acc = result.accuracy
    assert acc == sum(p.correct for p in result.predictions) / len(result.predictions)


def test_forward_fast_path_equals_full_model(tiny_model_dir, monkeypatch) -> None:
    lm = load_model(tiny_model_dir)
    ids = encode(lm, "the [MASK] sat on the mat .").input_ids
    with torch.inference_mode():
        full = lm.model(input_ids=torch.tensor([ids], device=lm.device), output_attentions=True)
    assert predict_module._head_split_works(lm)
    fast = forward(lm, ids, with_attentions=True)
    assert torch.allclose(fast.logits, full.logits[0].cpu(), atol=1e-5)
    assert all(torch.allclose(a, b.cpu()) for a, b in zip(fast.attentions, full.attentions, strict=True))
    monkeypatch.setattr(predict_module, "_head_split_works", lambda lm: False)
    slow = forward(lm, ids, positions=[2, 4])
    assert torch.allclose(slow.logits, full.logits[0, [2, 4]].cpu(), atol=1e-5)


@pytest.fixture(scope="module", params=["bert", "distilbert", "roberta", "albert"])
def family_lm(request, tiny_bert_dir, tiny_roberta_dir, tiny_distilbert_dir, tiny_albert_dir):
    return load_model({"bert": tiny_bert_dir, "distilbert": tiny_distilbert_dir,
                       "roberta": tiny_roberta_dir, "albert": tiny_albert_dir}[request.param])


def test_last_layer_at_the_read_outs_equals_the_full_model(family_lm, monkeypatch) -> None:
    lm = family_lm
    bert_like = lm.model.config.model_type in {"bert", "roberta"}
    assert predict_module._narrow_works(lm) is bert_like  # the others keep the whole last layer
    ids = encode(lm, "the [MASK] sat on the mat and the dog sat on the [MASK] .").input_ids
    with torch.inference_mode():
        full = lm.model(input_ids=torch.tensor([ids], device=lm.device), output_attentions=True)
    positions = [7, 2, 3]  # out of order, as predict_plan never asks but a caller may
    monkeypatch.setattr(predict_module, "NARROW_LAST_LAYER", True)
    fast = forward(lm, ids, with_attentions=True, positions=positions)
    torch.testing.assert_close(fast.logits, full.logits[0, positions].cpu(), atol=1e-5, rtol=0)
    for a, b in zip(fast.attentions, full.attentions, strict=True):  # every position's maps, last layer's too
        assert a.shape == b.shape
        torch.testing.assert_close(a, b.cpu(), atol=1e-6, rtol=0)
    sentence = "the keys to the cabinet are on the table ."
    narrow = pseudo_log_likelihood(lm, sentence)
    monkeypatch.setattr(predict_module, "NARROW_LAST_LAYER", False)
    whole = pseudo_log_likelihood(lm, sentence)
    assert abs(narrow.pll - whole.pll) <= 1e-5 * max(1.0, abs(whole.pll))
    for x, y in zip(narrow.token_log_probs, whole.token_log_probs, strict=True):
        assert (x is None) == (y is None) and (x is None or abs(x - y) <= 1e-5)


def test_read_outs_narrow_only_the_pass_of_the_thread_that_asked(tiny_bert_dir) -> None:
    lm = load_model(tiny_bert_dir)
    assert predict_module._narrow_works(lm)
    output = predict_module._last_attention_output(lm.model)
    ids = torch.tensor([encode(lm, "the cat sat on the mat .").input_ids], device=lm.device)
    with torch.inference_mode():
        expected = lm.model.base_model(input_ids=ids)[0]
    state = predict_module._READ_OUT
    # A pass on this thread is under way (its read-outs are set, not yet taken) ...
    state.module, state.rows, state.cols = output, torch.tensor([0]), torch.tensor([2])
    seen = []

    def other_thread() -> None:  # ... while a handler thread runs the same model directly.
        with torch.inference_mode():
            seen.append(lm.model.base_model(input_ids=ids)[0])

    try:
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(30)
        assert state.module is output  # the other thread's pass did not take this thread's read-outs
        with torch.inference_mode():
            narrowed = lm.model.base_model(input_ids=ids)[0]
        assert state.module is None  # this thread's pass took them, once
        with torch.inference_mode():
            again = lm.model.base_model(input_ids=ids)[0]
    finally:
        state.module = state.rows = state.cols = None
    assert seen[0].shape == expected.shape
    torch.testing.assert_close(seen[0], expected)
    assert narrowed.shape == (1, 1, expected.shape[-1])
    torch.testing.assert_close(narrowed[0, 0], expected[0, 2], atol=1e-5, rtol=0)
    torch.testing.assert_close(again, expected)  # the next pass is whole again


def test_a_copied_model_keeps_narrowing_once(tiny_bert_dir) -> None:
    lm = load_model(tiny_bert_dir)
    assert predict_module._narrow_works(lm)
    # Fine-tuning trains a deep copy, which carries the shared model's hook and gets its own.
    twin = dataclasses.replace(lm, model=copy.deepcopy(lm.model))
    assert predict_module._narrow_works(twin)
    output = predict_module._last_attention_output(twin.model)
    assert len(output._forward_pre_hooks) == 2
    ids = encode(lm, "the [MASK] sat on the mat .").input_ids
    with torch.inference_mode():
        full = twin.model(input_ids=torch.tensor([ids], device=lm.device)).logits[0, [2, 5]].cpu()
    torch.testing.assert_close(forward(twin, ids, positions=[2, 5]).logits, full, atol=1e-5, rtol=0)


def test_iterative_fill(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    text = "the [MASK] sat on the [MASK] . [MASK] fly south"
    independent = predict(lm, text)
    result = iterative_fill(lm, text)
    assert len(result.steps) == 3 and lm.mask_token_id not in result.filled_ids
    assert sorted(s.prediction.position for s in result.steps) == list(independent.plan.targets)
    # Step 1 sees the same input as the independent pass: it fills the most confident mask.
    best = max(independent.predictions, key=lambda p: p.top_k[0].prob)
    assert result.steps[0].prediction.position == best.position
    assert result.steps[0].chosen.id == best.top_k[0].id
    # Later steps see earlier fills; each step writes its own top-1.
    for s in result.steps:
        assert result.filled_ids[s.prediction.position] == s.chosen.id
    single = iterative_fill(lm, "the cat [MASK] on the mat .")
    assert single.steps[0].chosen.id == predict(lm, "the cat [MASK] on the mat .").predictions[0].top_k[0].id
    with pytest.raises(ValueError, match="No mask"):
        iterative_fill(lm, "no blank here")


def _naive_log_probs(lm, ids: tuple[int, ...]) -> list[float]:
    out = []
    with torch.inference_mode():
        for i, token in enumerate(ids):
            if token in lm.special_ids:
                continue
            copy = list(ids)
            copy[i] = lm.mask_token_id
            logits = lm.model(input_ids=torch.tensor([copy], device=lm.device)).logits[0, i]
            out.append(float(torch.log_softmax(logits, -1)[token]))
    return out


def test_batched_pll_equals_naive_loop(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    text = "the woman worked as a nurse at the hospital ."
    naive = None
    for batch_size in (1, 3, 32):  # one copy per pass, a ragged last batch, all in one batch
        score = pseudo_log_likelihood(lm, text, batch_size=batch_size)
        naive = naive or _naive_log_probs(lm, score.input_ids)
        ours = [lp for lp in score.token_log_probs if lp is not None]
        assert len(ours) == len(naive) == score.n_scored
        assert ours == pytest.approx(naive, abs=1e-5)
        assert score.pll == pytest.approx(sum(naive), abs=1e-4)
        assert score.pseudo_perplexity == pytest.approx(math.exp(-score.pll / score.n_scored))
        assert [lp is None for lp in score.token_log_probs] == [t in lm.special_ids for t in score.input_ids]


def test_pll_bad_input(tiny_bert_dir) -> None:
    lm = load_model(tiny_bert_dir)
    for text, match in (("", "empty"), ("the [MASK] sat", "remove the mask"), ("the cat", None)):
        if match is None:
            with pytest.raises(ValueError, match="batch_size"):
                pseudo_log_likelihood(lm, text, batch_size=0)
        else:
            with pytest.raises(ValueError, match=match):
                pseudo_log_likelihood(lm, text)
    long = pseudo_log_likelihood(lm, "the cat sat on the mat . " * 20)
    assert long.truncated and long.message and len(long.tokens) == lm.max_length
