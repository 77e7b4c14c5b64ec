"""Looking inside a prediction: layer by layer, saliency, masked vs unmasked attention, the tokenizer.

Every view is checked on the four tiny families (BERT, DistilBERT, RoBERTa,
ALBERT) against an independent computation: predict() for the last layer,
plain autograd for gradient × input, IG's completeness axiom, the attention
of the Attention tab, and the original characters for token spans.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from mlm_explorer.attention_change import attention_change, keep
from mlm_explorer.lens import layer_by_layer
from mlm_explorer.models import load_model
from mlm_explorer.predict import attention_for_text, mlm_head, predict
from mlm_explorer.saliency import resolve_target, saliency
from mlm_explorer.tokenizer_view import tokenizer_view
from tests.tiny_models import build_tiny_bert

SENTENCE = "the capital of france is [MASK] ."
PLAIN = "the cat sat on the mat and unbelievable things happen every day ."


@pytest.fixture(scope="module")
def family(tiny_family_dir: Path):
    return load_model(tiny_family_dir)


# ---------------------------------------------------------------------------- head split


def test_every_family_has_a_verified_head(family):
    head = mlm_head(family)  # DistilBERT's four-module head is chained in forward order
    assert head is not None
    ids = torch.tensor([family.tokenizer(PLAIN)["input_ids"]])
    with torch.inference_mode():
        full = family.model(input_ids=ids).logits
        split = head(family.model.base_model(input_ids=ids)[0])
    torch.testing.assert_close(split, full, atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------- layer by layer


def test_last_layer_equals_predict(family):
    lens = layer_by_layer(family, SENTENCE, top_k=5)
    pred = predict(family, SENTENCE, top_k=5).predictions[0]
    assert lens.position == pred.position
    assert len(lens.layers) == family.num_layers + 1
    last = lens.layers[-1]
    assert [c.id for c in last.top_k] == [c.id for c in pred.top_k]
    np.testing.assert_allclose([c.prob for c in last.top_k], [c.prob for c in pred.top_k], atol=1e-5)
    assert last.final_rank == 1 and lens.final.id == pred.top_k[0].id
    assert lens.settles_at <= family.num_layers


def test_hidden_states_come_from_one_forward_pass(family):
    calls = []
    handle = family.model.base_model.register_forward_hook(lambda *a: calls.append(1))
    try:
        layer_by_layer(family, SENTENCE)
    finally:
        handle.remove()
    assert len(calls) == 1


def test_original_rank_when_a_word_is_masked(family):
    enc_tokens = tokenizer_view(family, PLAIN).tokens
    pos = next(t.position for t in enc_tokens if t.word == 1)  # first piece of "cat"
    lens = layer_by_layer(family, PLAIN, position=pos, top_k=3)
    assert lens.original is not None and lens.original_id == enc_tokens[pos].id
    pred = predict(family, PLAIN, top_k=3, positions=[pos]).predictions[0]
    assert lens.layers[-1].original_rank == pred.original_rank
    assert lens.layers[-1].original_prob == pytest.approx(pred.original_prob, abs=1e-5)
    assert all(1 <= r.original_rank <= family.vocab_size for r in lens.layers)
    payload = lens.to_dict()
    assert {"model", "tokens", "position", "layers"} <= payload.keys()
    assert payload["layers"][0]["layer"] == 0
    assert {"layer", "top_k", "final_rank", "original_rank"} <= payload["layers"][0].keys()
    assert {"token", "id", "prob"} == payload["layers"][0]["top_k"][0].keys()


def test_layer_by_layer_rejects_bad_input(tiny_bert_dir):
    lm = load_model(tiny_bert_dir)
    with pytest.raises(ValueError, match="No mask"):
        layer_by_layer(lm, "the cat sat .")
    with pytest.raises(ValueError, match="outside"):
        layer_by_layer(lm, SENTENCE, position=99)
    with pytest.raises(ValueError, match="special"):
        layer_by_layer(lm, SENTENCE, position=0)


# ---------------------------------------------------------------------------- saliency


@pytest.fixture(scope="module")
def sharp(tiny_family_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A private copy of a tiny family with weights drawn 10× wider than BERT's 0.02.

    A freshly initialised model gives almost the same distribution whatever the
    input (f(input) − f(baseline) ~ 1e-4), which would make completeness trivial.
    """
    import shutil

    folder = tmp_path_factory.mktemp("sharp") / tiny_family_dir.name
    shutil.copytree(tiny_family_dir, folder)
    return _sharpen(load_model(folder))


def _sharpen(lm):
    """Redraw every weight matrix with std 0.2 (in place: only for test-private models)."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in lm.model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.2)
    return lm


def test_integrated_gradients_completeness(sharp):
    family = sharp
    s = saliency(family, SENTENCE)  # default steps
    change = s.target_log_prob - s.baseline_log_prob
    assert abs(change) > 0.02  # the test means something only if the sentence changes f
    assert abs(sum(s.integrated_gradients) - change) <= 0.05 * abs(change)
    assert s.relative_gap <= 0.05
    assert s.passes == 1  # 32 steps of a short sentence: one batched forward+backward
    # Tokens equal to the baseline (specials, the mask itself) get exactly nothing.
    for tok_id, ig in zip(torch.tensor(family.tokenizer(SENTENCE)["input_ids"]).tolist(),
                          s.integrated_gradients, strict=False):
        if tok_id in family.special_ids:
            assert ig == 0.0


def test_grad_x_input_equals_manual_autograd(family):
    s = saliency(family, SENTENCE)
    ids = torch.tensor([family.tokenizer(SENTENCE.replace("[MASK]", family.mask_token))["input_ids"]])
    assert ids.shape[1] == len(s.tokens)
    embeds = family.model.get_input_embeddings()(ids).detach().requires_grad_(True)
    logits = family.model(inputs_embeds=embeds, attention_mask=torch.ones_like(ids)).logits[0, s.position]
    log_p = torch.log_softmax(logits, dim=-1)[s.target_id]
    value = float(log_p.detach())
    (grad,) = torch.autograd.grad(log_p, embeds)
    manual = (grad * embeds).sum(dim=-1)[0]
    np.testing.assert_allclose(s.grad_x_input, manual.detach().numpy(), rtol=1e-4, atol=1e-6)
    assert s.target_log_prob == pytest.approx(value, abs=1e-5)


def test_saliency_leaves_the_shared_model_untouched(family):
    def hooks() -> list[int]:  # transformers keeps hooks of its own: compare before and after
        return [len(m._forward_hooks) + len(m._forward_pre_hooks) for m in family.model.modules()]

    before = hooks()
    saliency(family, SENTENCE, steps=4)
    assert all(p.grad is None for p in family.model.parameters())
    assert hooks() == before


def _block_attention_to(model: torch.nn.Module, column: int) -> list:
    """Make every attention head of a tiny BERT ignore one token (test-only model surgery)."""

    def hook(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        block = torch.zeros(1, 1, 1, hidden.shape[1], dtype=hidden.dtype)
        block[..., column] = torch.finfo(hidden.dtype).min
        mask = kwargs.get("attention_mask")
        kwargs["attention_mask"] = block if mask is None else mask + block
        return args, kwargs

    return [
        layer.attention.self.register_forward_pre_hook(hook, with_kwargs=True)
        for layer in model.bert.encoder.layer
    ]


def test_a_token_that_cannot_influence_gets_zero(tmp_path: Path):
    lm = _sharpen(load_model(build_tiny_bert(tmp_path / "blocked", seed=3)))
    blocked = 3  # "of" in [CLS] the capital of france is [MASK] . [SEP]
    handles = _block_attention_to(lm.model, blocked)
    try:
        s = saliency(lm, SENTENCE)
    finally:
        for h in handles:
            h.remove()
    assert s.tokens[blocked] == "of"
    assert abs(s.integrated_gradients[blocked]) < 1e-6
    assert abs(s.grad_x_input[blocked]) < 1e-6
    others = [abs(v) for i, v in enumerate(s.integrated_gradients) if i in (1, 2, 4, 5)]
    assert max(others) > 1e-2  # the others do matter: zero is not everywhere


def test_saliency_target_and_settings(tiny_bert_dir, tiny_roberta_dir):
    bert, roberta = load_model(tiny_bert_dir), load_model(tiny_roberta_dir)
    assert resolve_target(bert, "paris") == bert.tokenizer.convert_tokens_to_ids("paris")
    assert resolve_target(roberta, "Ġthe") == roberta.tokenizer.convert_tokens_to_ids("Ġthe")
    assert resolve_target(roberta, "the") == roberta.tokenizer.convert_tokens_to_ids("Ġthe")  # a word
    assert resolve_target(roberta, "paris") == roberta.tokenizer.convert_tokens_to_ids("paris")  # no Ġparis
    with pytest.raises(ValueError, match="not one token"):
        resolve_target(bert, "paris france")
    s = saliency(bert, SENTENCE, target="paris", steps=8, baseline="pad")
    assert s.target == "paris" and s.baseline == "pad" and s.steps == 8
    with pytest.raises(ValueError, match="steps"):
        saliency(bert, SENTENCE, steps=1)
    with pytest.raises(ValueError, match="baseline"):
        saliency(bert, SENTENCE, baseline="zeros")
    payload = s.to_dict()
    assert {"model", "tokens", "position", "target", "attributions", "completeness_gap"} <= payload.keys()
    assert set(payload["attributions"]) == {"grad_x_input", "integrated_gradients"}


# ---------------------------------------------------------------------------- masked vs unmasked attention


def test_attention_difference_is_zero_where_nothing_was_masked(family):
    same = attention_change(family, PLAIN, [])
    assert same.positions == ()
    assert np.abs(same.difference).max() == 0.0
    assert same.head_change.shape == (family.num_layers, family.num_heads)


def test_hiding_only_a_typed_mask_is_a_message_not_an_all_zero_grid(family):
    text = f"the cat sat on the {family.mask_token} ."
    typed = attention_change(family, text, []).tokens.index(family.mask_token)
    with pytest.raises(ValueError, match="already .* in the text: there is no word to hide"):
        attention_change(family, text, [typed])
    assert attention_change(family, text, [2]).positions  # a real word beside the typed mask still works


def test_attention_change_reuses_the_attention_tab_extraction(family):
    change = attention_change(family, PLAIN, [2])
    maps, _ = attention_for_text(family, PLAIN)
    np.testing.assert_array_equal(change.unmasked.array, maps.array)
    assert change.masked_tokens[2] == family.mask_token
    assert set(change.masked.masked_positions) >= set(change.positions) >= {2}
    diff = change.difference
    np.testing.assert_allclose(diff.sum(axis=-1), 0.0, atol=1e-5)  # rows of both sum to 1
    assert change.head_change.max() > 0
    assert np.all(change.head_change <= 2 * len(change.tokens) + 1e-4)


def test_a_kept_change_is_a_quarter_of_the_bytes_and_re_plots_the_same(family):
    change = attention_change(family, PLAIN, [2])
    kept = keep(change)
    full = change.difference
    assert kept.difference.dtype == np.float16
    assert kept.difference.nbytes * 4 == change.unmasked.array.nbytes + change.masked.array.nbytes
    np.testing.assert_allclose(kept.difference.astype(np.float32), full, atol=2.0**-12, rtol=0)
    np.testing.assert_array_equal(kept.head_change, change.head_change)  # summed before compacting
    assert (kept.tokens, kept.positions) == (change.tokens, change.positions)


# ---------------------------------------------------------------------------- the tokenizer


def _strip_marks(token: str) -> str:
    for mark in ("##", "Ġ", "▁"):
        if token.startswith(mark):
            token = token[len(mark):]
    return token


def test_spans_map_back_to_the_original_characters(family):
    text = "The cat sat on the mat; unbelievable things happen every day."
    view = tokenizer_view(family, text)
    assert view.text == text
    unk = family.tokenizer.unk_token_id
    for t in view.tokens:
        assert t.piece == text[t.start : t.end]
        if t.special:
            continue
        surface = _strip_marks(t.token)
        if t.id == unk:
            continue
        if surface:
            assert surface.lower() == t.piece.lower().strip(), t
        else:  # a bare word-start mark ("▁", "Ġ") stands for the space before its word
            assert t.end - t.start <= 1
    # Each word's pieces cover its characters, and the words are what whole-word masking hides.
    for group in view.words:
        start = min(view.tokens[p].start for p in group)
        end = max(view.tokens[p].end for p in group)
        word = text[start:end]
        assert word and " " not in word
        assert all(view.tokens[p].continues_word for p in group[1:])
        assert not view.tokens[group[0]].continues_word
    assert view.algorithm in {"WordPiece", "byte-level BPE", "SentencePiece"}


def test_conventions_per_family(tiny_bert_dir, tiny_roberta_dir, tiny_albert_dir):
    expected = {tiny_bert_dir: ("WordPiece", "##"), tiny_roberta_dir: ("byte-level BPE", "Ġ"),
                tiny_albert_dir: ("SentencePiece", "▁")}
    for folder, (algorithm, mark) in expected.items():
        view = tokenizer_view(load_model(folder), "unbelievable things")
        assert view.algorithm == algorithm and mark in view.convention
        assert view.tokens[0].special and view.tokens[-1].special


def test_few_rows_projection_changes_only_the_operand_order(family):
    from mlm_explorer.lens import _FewRowsProjection, _hidden_rows

    rows = _hidden_rows(family, family.tokenizer(PLAIN)["input_ids"], 2)
    head = mlm_head(family)
    with torch.inference_mode():
        plain = head(rows)
        with _FewRowsProjection(family.vocab_size):
            fast = head(rows)
        after = head(rows)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-4)
    assert torch.equal(after, plain)  # the mode ends with the block


def test_an_unknown_token_is_a_word_of_its_own_kind_not_a_special_one(tiny_bert_dir):
    from mlm_explorer.views import display_table, tokens_table

    view = tokenizer_view(load_model(tiny_bert_dir), "the cat 😀 sat .")
    unk = next(t for t in view.tokens if t.token == "[UNK]")
    assert unk.unknown and not unk.special and unk.kind == "unknown" and unk.piece == "😀"
    assert [t.kind for t in (view.tokens[0], view.tokens[-1])] == ["special", "special"]  # [CLS], [SEP]
    # The word count agrees with the word numbers: the emoji is a word of the text (0..4: five words).
    numbered = {t.word for t in view.tokens if t.word is not None}
    assert len(view.words) == len(numbered) == 5 and (unk.position,) in view.words
    table = tokens_table(view)
    row = table.iloc[unk.position]
    assert row["unknown"].startswith("yes") and row["special"] == ""
    assert str(table["word"].dtype) == "Int64"  # whole numbers with blanks, not 1.000000
    html = display_table(table).to_html()
    assert ">2<" in html and "2.0" not in html


def test_saliency_work_is_bounded_by_tokens_times_steps(tiny_bert_dir):
    from mlm_explorer.saliency import MAX_SALIENCY_COST, check_saliency_cost, max_steps_for

    bert = load_model(tiny_bert_dir)
    full = "the [MASK] sat on the mat . " * 20  # cut at the tiny model's 64 tokens
    assert max_steps_for(64) == MAX_SALIENCY_COST // 64 and max_steps_for(4) == 256  # never past MAX_STEPS
    s = saliency(bert, full, steps=max_steps_for(64))  # exactly the cap: runs
    assert len(s.tokens) == 64 and s.steps * len(s.tokens) == MAX_SALIENCY_COST and s.truncated
    with pytest.raises(ValueError, match=r"Saliency on 64 tokens is limited to 64 steps .*4,096.*256 steps"):
        saliency(bert, full, steps=256)
    with pytest.raises(ValueError, match="Saliency on 10 tokens is limited to 3 steps"):
        check_saliency_cost(10, 4, budget=30)
    with pytest.raises(ValueError, match="at most 15 tokens; this one has 16"):
        check_saliency_cost(16, 2, budget=30)  # not even two steps fit
    check_saliency_cost(10, 3, budget=30)
