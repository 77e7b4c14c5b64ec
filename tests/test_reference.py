"""Each computation of the library against an independent reference, on all four tiny families.

The references are either transformers itself (a separately loaded
``AutoModelForMaskedLM``, the tokenizer's own special-token mask, the
collator's word grouping) or a few lines from the published definition:
pseudo-log-likelihood (Salazar et al., 2020), whole-word masking (BERT's
``create_pretraining_data.py``), attention rollout (Abnar & Zuidema, 2020),
the logit lens applied to ``output_hidden_states``, Integrated Gradients
(Sundararajan et al., 2017; Captum's ``IntegratedGradients`` on the input
embeddings and a plain Riemann sum). None of them calls the code under test.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForMaskedLM, AutoTokenizer

from mlm_explorer import predict as predict_module
from mlm_explorer.attention import rollout
from mlm_explorer.lens import layer_by_layer
from mlm_explorer.masking import Action, PolicyConfig, corrupt_batch
from mlm_explorer.models import LoadedModel, load_model
from mlm_explorer.predict import attention_for_text, predict, pseudo_log_likelihood
from mlm_explorer.saliency import saliency
from mlm_explorer.tokens import encode

CLOZE = "the capital of france is [MASK] ."


def _reference(folder: Path):
    """The tokenizer and a second, independent copy of the model, as transformers loads them."""
    model = AutoModelForMaskedLM.from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    return AutoTokenizer.from_pretrained(folder), model.eval()


def _redrawn(folder: Path, out: Path, std: float) -> Path:
    """A copy of a tiny checkpoint whose weight matrices are redrawn with standard deviation ``std``."""
    tokenizer, model = _reference(folder)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=generator) * std)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def sharp_dir(tiny_family_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny family saved with weight matrices drawn at std 0.2 instead of 0.02.

    At BERT's initialisation every distribution is near-uniform whatever the
    input, so a wrong position or a wrong layer would still agree to 1e-5.
    """
    return _redrawn(tiny_family_dir, tmp_path_factory.mktemp("sharp_ref") / tiny_family_dir.name, 0.2)


# ---------------------------------------------------------------------------- pseudo-log-likelihood


@pytest.mark.parametrize(
    "text",
    [
        "the woman worked as a nurse at the hospital .",
        "Unbelievable zebras, photographed near Paris!",  # word pieces, capitals, punctuation
        "the cat 😀 sat .",  # an unknown token ([UNK] / <unk>) for WordPiece and SentencePiece
    ],
)
def test_pll_equals_masking_every_token_the_tokenizer_did_not_add(sharp_dir, text) -> None:
    """Salazar et al. (2020), §2.2: PLL(W) = Σ_t log P(w_t | W without t), over every token of W.

    "Every token" is every position the tokenizer's own ``special_tokens_mask``
    leaves at 0 (all but [CLS]/[SEP], <s>/</s>); each masked copy runs through
    a separately loaded model with the tokenizer's full encoding
    (``token_type_ids`` included where the family has them).
    """
    tokenizer, model = _reference(sharp_dir)
    enc = tokenizer(text, return_special_tokens_mask=True, return_tensors="pt")
    added = enc.pop("special_tokens_mask")[0].bool()
    ids = enc["input_ids"][0]
    expected: list[float | None] = []
    with torch.no_grad():
        for i in range(len(ids)):
            if added[i]:
                expected.append(None)
                continue
            copy = {k: v.clone() for k, v in enc.items()}
            copy["input_ids"][0, i] = tokenizer.mask_token_id
            logits = model(**copy).logits[0, i]
            expected.append(float(torch.log_softmax(logits.double(), -1)[ids[i]]))
    scored = [v for v in expected if v is not None]
    score = pseudo_log_likelihood(load_model(sharp_dir), text)
    assert list(score.input_ids) == ids.tolist()
    assert [v is None for v in score.token_log_probs] == [v is None for v in expected]
    assert score.n_scored == len(scored)
    ours = [v for v in score.token_log_probs if v is not None]
    np.testing.assert_allclose(ours, scored, atol=1e-4)
    assert score.pll == pytest.approx(sum(scored), abs=1e-3)
    # Pseudo-perplexity: exp of the mean negative PLL per scored token (Salazar et al., eq. 3).
    assert score.pseudo_perplexity == pytest.approx(math.exp(-sum(scored) / len(scored)), rel=1e-4)


def test_generation_scores_its_sentences_as_the_score_tab_does(tiny_bert_dir) -> None:
    """The PLL per sweep of the Generate tab is the Score tab's PLL of the same ids (unknown tokens too)."""
    from mlm_explorer.generate import _pll

    lm = load_model(tiny_bert_dir)
    score = pseudo_log_likelihood(lm, "the cat 😀 sat .")
    assert lm.tokenizer.unk_token_id in score.input_ids
    assert _pll(lm, list(score.input_ids)) == pytest.approx(score.pll, abs=1e-6)


# ---------------------------------------------------------------------------- whole-word masking


def test_word_boundaries_follow_each_tokenizers_piece_marker(
    tiny_bert_dir: Path, tiny_roberta_dir: Path, tiny_albert_dir: Path
) -> None:
    """A word (``Encoding.word_ids``) starts where the tokenizer family marks a word start.

    WordPiece marks continuations with ``##`` (BERT's ``create_pretraining_data.py``
    groups exactly so); SentencePiece's Metaspace marks every word start with ``▁``
    and splits on whitespace only, so the rule is exact both ways; byte-level BPE
    marks a start after a space with ``Ġ``, and its pre-tokenizer also splits
    punctuation from a word, so there ``Ġ`` implies a start but not conversely.
    """
    text = "Unbelievable zebras photographed near Paris, wildebeests don't ."
    for folder, both_ways in ((tiny_bert_dir, True), (tiny_albert_dir, True), (tiny_roberta_dir, False)):
        lm = load_model(folder)
        enc = encode(lm, text)
        raw = lm.tokenizer.convert_ids_to_tokens(list(enc.input_ids))
        checked = 0
        for i in range(1, len(raw)):
            word = enc.word_ids[i]
            if word is None or lm.tokenizer.convert_tokens_to_ids(raw[i]) == lm.tokenizer.unk_token_id:
                continue
            starts = enc.word_ids[i - 1] != word
            if lm.config.model_type == "bert":
                marked = not raw[i].startswith("##")
            else:
                marked = raw[i].startswith(("Ġ", "▁"))
            assert starts == marked if both_ways else (not marked or starts), (folder.name, i, raw)
            checked += 1
        assert checked > 10 and len(set(enc.word_ids) - {None}) < checked  # multi-piece words exist


def test_whole_word_grouping_and_rate_agree_with_the_transformers_collator(tiny_bert_dir) -> None:
    """transformers 5's ``DataCollatorForLanguageModeling(whole_word_mask=True)`` groups pieces by
    offsets and draws once per word; on text of space-separated words its groups are ours, and the
    share of words selected agrees within sampling noise (its 80/10/10 is off in whole-word mode)."""
    from transformers import DataCollatorForLanguageModeling

    lm = load_model(tiny_bert_dir)
    text = "unbelievable cabinets photographed near paris wildebeests nurses hospital"
    enc = lm.tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    ours_enc = encode(lm, text)
    collator = DataCollatorForLanguageModeling(
        lm.tokenizer, whole_word_mask=True, mlm_probability=0.3, mask_replace_prob=1.0,
        random_replace_prob=0.0, seed=1,
    )
    offsets = np.array([enc["offset_mapping"]])
    special = np.array([enc["special_tokens_mask"]])
    theirs_words, _ = collator._calc_word_ids_and_prob_mask(offsets, special)
    ours_words = ours_enc.word_ids_for_policy
    # Same partition of the tokens into words (their numbering starts at 1, ours at 0).
    assert [w - 1 if w >= 0 else -1 for w in theirs_words[0].tolist()] == list(ours_words)

    n = 4000
    with pytest.warns(UserWarning, match="Random token replacement is not supported"):
        DataCollatorForLanguageModeling(lm.tokenizer, whole_word_mask=True, mask_replace_prob=0.8)
    rows = [{"input_ids": enc["input_ids"], "offset_mapping": enc["offset_mapping"]}] * n
    theirs = collator(rows)["labels"] != -100
    ids = torch.tensor([enc["input_ids"]] * n)
    words = torch.tensor([list(ours_words)] * n)
    mask = torch.tensor([list(ours_enc.special_mask)] * n)
    config = PolicyConfig(rate=0.3, whole_word=True)
    generator = torch.Generator().manual_seed(1)
    out = corrupt_batch(ids, mask, lm.mask_token_id, lm.candidate_ids, config, generator, words)
    ours = out.actions != 0
    n_words = int(words.max()) + 1
    for picked in (theirs, ours):
        # all pieces of a word or none (pieces of one word share one draw) ...
        firsts = torch.stack([picked[:, int((words[0] == w).nonzero()[0])] for w in range(n_words)], 1)
        for w in range(n_words):
            assert bool((picked[:, words[0] == w] == firsts[:, w : w + 1]).all())
        share = float(firsts.float().mean())  # ... drawn with probability 0.3 per word
        assert abs(share - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / firsts.numel()), share


def test_whole_word_split_is_drawn_per_piece_as_in_bert() -> None:
    """BERT's ``create_pretraining_data.py`` picks whole words, then for *each index* of a picked
    word draws [MASK] 80%, keep 10%, random 10%: the split is per piece, not per word."""
    batch, words, pieces = 3000, 6, 3
    word_ids = torch.arange(words).repeat_interleave(pieces)  # 6 words of 3 pieces
    ids = torch.arange(10, 10 + words * pieces).repeat(batch, 1)
    ids = torch.cat([torch.full((batch, 1), 2), ids, torch.full((batch, 1), 3)], 1)  # [CLS] ... [SEP]
    word_ids = torch.cat([torch.tensor([-1]), word_ids, torch.tensor([-1])]).repeat(batch, 1)
    special = word_ids < 0
    out = corrupt_batch(ids, special, 4, torch.arange(100, 200), PolicyConfig(rate=0.5, whole_word=True),
                        torch.Generator().manual_seed(0), word_ids)
    selected = out.actions != 0
    n_sel = int(selected.sum())
    for code, share in ((1, 0.8), (2, 0.1), (3, 0.1)):
        rate = int((out.actions == code).sum()) / n_sel
        assert abs(rate - share) <= 4 * math.sqrt(share * (1 - share) / n_sel), (code, rate)
    # Mixed words exist: some selected word has a [MASK] piece and a kept or random piece.
    grouped = out.actions[:, 1:-1].reshape(batch, words, pieces)
    chosen = grouped[:, :, 0] != 0
    mixed = (grouped != grouped[:, :, :1]).any(-1) & chosen
    expected = 1 - (0.8**3 + 0.1**3 + 0.1**3)  # P(the three pieces' actions are not all equal)
    share = float(mixed.sum()) / int(chosen.sum())
    assert abs(share - expected) <= 4 * math.sqrt(expected * (1 - expected) / int(chosen.sum()))
    assert bool((out.corrupted_ids[out.actions == 2] >= 100).all())  # random draws from the candidates
    assert not bool(selected[special].any())


# ---------------------------------------------------------------------------- attention rollout


def test_rollout_equals_the_definition_on_the_models_own_attention(sharp_dir) -> None:
    """Abnar & Zuidema (2020), §3: Ã_l = norm(0.5·mean_h A_l + 0.5·I), rollout_l = Ã_l · … · Ã_1."""
    tokenizer, model = _reference(sharp_dir)
    text = "paris is the [MASK] of france and a beautiful city ."
    maps, _ = attention_for_text(load_model(sharp_dir), text)
    enc = tokenizer(text.replace("[MASK]", tokenizer.mask_token), return_tensors="pt")
    with torch.no_grad():
        attentions = model(**enc, output_attentions=True).attentions
    n = enc["input_ids"].shape[1]
    eye = torch.eye(n, dtype=torch.float64)
    acc, expected = eye, []
    for a in attentions:
        aug = 0.5 * a[0].double().mean(0) + 0.5 * eye
        acc = (aug / aug.sum(-1, keepdim=True)) @ acc
        expected.append(acc)
    np.testing.assert_allclose(rollout(maps), torch.stack(expected).numpy(), atol=1e-6)
    np.testing.assert_allclose(maps.array, torch.cat(attentions).numpy(), atol=1e-6)


# ---------------------------------------------------------------------------- layer by layer


def _own_head(model: torch.nn.Module, hidden: torch.Tensor) -> torch.Tensor:
    """The MLM head as each ``*ForMaskedLM.forward`` in transformers applies it (written out per family)."""
    kind = model.config.model_type
    if kind == "bert":
        return model.cls(hidden)  # BertOnlyMLMHead: dense, GELU, LayerNorm, decoder
    if kind == "roberta":
        return model.lm_head(hidden)  # RobertaLMHead: dense, GELU, layer_norm, decoder
    if kind == "albert":
        return model.predictions(hidden)  # AlbertMLMHead: dense to embedding size, GELU, LayerNorm, decoder
    if kind == "distilbert":  # DistilBertForMaskedLM.forward: transform, activation, layer norm, projector
        x = model.activation(model.vocab_transform(hidden))
        return model.vocab_projector(model.vocab_layer_norm(x))
    raise AssertionError(kind)


def test_every_layers_reading_is_the_head_on_that_layers_hidden_state(sharp_dir) -> None:
    tokenizer, model = _reference(sharp_dir)
    lens = layer_by_layer(load_model(sharp_dir), CLOZE, top_k=5)
    enc = tokenizer(CLOZE.replace("[MASK]", tokenizer.mask_token), return_tensors="pt")
    assert lens.position == int((enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0, 0])
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
        # Layer 0 is the embedding block's output (after its LayerNorm); ALBERT's is projected to the
        # hidden size first (AlbertTransformer.embedding_hidden_mapping_in), the size its head expects.
        base = model.base_model
        embedded = base.embeddings(input_ids=enc["input_ids"])
        if model.config.model_type == "albert":
            embedded = base.encoder.embedding_hidden_mapping_in(embedded)
        torch.testing.assert_close(out.hidden_states[0], embedded, atol=1e-6, rtol=0)
        assert len(out.hidden_states) == len(lens.layers) == model.config.num_hidden_layers + 1
        for reading, hidden in zip(lens.layers, out.hidden_states, strict=True):
            probs = torch.softmax(_own_head(model, hidden[0, lens.position]).double(), -1)
            top = probs.topk(5)
            assert [c.id for c in reading.top_k] == top.indices.tolist()
            np.testing.assert_allclose([c.prob for c in reading.top_k], top.values.numpy(), atol=1e-5)
            assert reading.entropy == pytest.approx(float(-(probs * probs.log()).sum()), abs=1e-4)
        # The last layer is the model's own output, not a re-derivation of it.
        final = torch.softmax(out.logits[0, lens.position].double(), -1)
        np.testing.assert_allclose([c.prob for c in lens.layers[-1].top_k], final.topk(5).values.numpy(),
                                   atol=1e-6)


# ---------------------------------------------------------------------------- integrated gradients


@pytest.mark.parametrize("text", [CLOZE, "the cat 😀 sat on the [MASK] ."])  # the second has an [UNK]
def test_integrated_gradients_match_captum_on_the_input_embeddings_and_a_riemann_sum(sharp_dir, text) -> None:
    """IG_i = (x_i − x'_i) · ∫₀¹ ∂f(x' + α(x − x'))/∂x_i dα (Sundararajan et al., 2017, eq. 1),
    computed here on ``inputs_embeds`` of an independent model: once with Captum's own
    ``IntegratedGradients`` (same Gauss-Legendre rule) and once with 400 midpoint steps. The
    baseline x' keeps the tokens the tokenizer added and the mask, and masks every other token."""
    from captum.attr import IntegratedGradients

    tokenizer, model = _reference(sharp_dir)
    steps = 32
    s = saliency(load_model(sharp_dir), text, steps=steps)
    enc = tokenizer(text.replace("[MASK]", tokenizer.mask_token), return_tensors="pt",
                    return_special_tokens_mask=True)
    ids = enc["input_ids"]
    added = enc["special_tokens_mask"][0].bool()
    base = torch.where(added, ids[0], torch.full_like(ids[0], tokenizer.mask_token_id))[None]
    lookup = model.get_input_embeddings()
    x, x0 = lookup(ids).detach(), lookup(base).detach()

    def f(embeds: torch.Tensor) -> torch.Tensor:
        mask = torch.ones(embeds.shape[:2], dtype=torch.long)
        logits = model(inputs_embeds=embeds, attention_mask=mask).logits[:, s.position]
        return torch.log_softmax(logits.float(), -1)[:, s.target_id]

    captum = IntegratedGradients(f).attribute(x, baselines=x0, n_steps=steps).sum(-1)[0]
    np.testing.assert_allclose(s.integrated_gradients, captum.detach().numpy(), atol=1e-5)
    total = torch.zeros_like(x)
    for alphas in ((torch.arange(400) + 0.5) / 400).split(100):
        path = (x0 + alphas[:, None, None] * (x - x0)).requires_grad_(True)
        (grad,) = torch.autograd.grad(f(path).sum(), path)
        total += grad.sum(0, keepdim=True)
    riemann = ((x - x0) * total / 400).sum(-1)[0]
    np.testing.assert_allclose(s.integrated_gradients, riemann.numpy(), atol=1e-3)
    with torch.no_grad():
        assert s.target_log_prob == pytest.approx(float(f(x)), abs=1e-5)
        assert s.baseline_log_prob == pytest.approx(float(f(x0)), abs=1e-5)


def test_gradient_times_input_sign_follows_a_one_sided_change(sharp_dir) -> None:
    """Gradient × input is ∂f/∂e_i · e_i: scaling one token's embedding by (1 + ε) changes f by about
    ε times that token's value, with its sign (a finite-difference check on an independent model)."""
    tokenizer, model = _reference(sharp_dir)
    s = saliency(load_model(sharp_dir), CLOZE, steps=4)
    ids = tokenizer(CLOZE.replace("[MASK]", tokenizer.mask_token), return_tensors="pt")["input_ids"]
    x = model.get_input_embeddings()(ids).detach()
    eps = 1e-3

    def f(embeds: torch.Tensor) -> float:
        with torch.no_grad():
            logits = model(inputs_embeds=embeds, attention_mask=torch.ones_like(ids)).logits[0, s.position]
            return float(torch.log_softmax(logits.double(), -1)[s.target_id])

    for i, value in enumerate(s.grad_x_input):
        up, down = x.clone(), x.clone()
        up[0, i] *= 1 + eps
        down[0, i] *= 1 - eps
        assert (f(up) - f(down)) / (2 * eps) == pytest.approx(value, abs=2e-3, rel=2e-2), i


def test_integrated_gradients_completeness_gap_shrinks_with_steps(
    tiny_family_dir: Path, tmp_path: Path
) -> None:
    """Completeness (Sundararajan et al., 2017, Prop. 1): Σ IG_i = f(x) − f(x') for the exact integral;
    the quadrature's gap must shrink as steps grow. Weights at std 0.4 make f curved enough along the
    path that 8 steps are visibly off (at std 0.2 every family is exact to float noise by 16 steps)."""
    lm = load_model(_redrawn(tiny_family_dir, tmp_path / "steep", 0.4))
    coarse, fine = (saliency(lm, CLOZE, steps=steps) for steps in (8, 64))
    change = fine.target_log_prob - fine.baseline_log_prob
    assert abs(change) > 0.5  # the input really moves f, so completeness is not trivially met
    assert abs(fine.completeness_gap) <= 0.25 * abs(coarse.completeness_gap) + 1e-5
    assert abs(fine.completeness_gap) <= 0.02 * abs(change)
    assert fine.completeness_gap == pytest.approx(sum(fine.integrated_gradients) - change, abs=1e-5)


# ---------------------------------------------------------------------------- predictions


def test_predictions_agree_with_the_fill_mask_pipeline_for_every_family(sharp_dir) -> None:
    """transformers' fill-mask pipeline on the text as a pipeline user types it (the model's own mask
    token) gives the same top-k ids and scores (tests/test_predict.py covers BERT and RoBERTa at
    initialisation; here all four, with weights that make the distributions peaked)."""
    from transformers import pipeline

    tokenizer, model = _reference(sharp_dir)
    fill = pipeline("fill-mask", model=model, tokenizer=tokenizer, device="cpu")
    text = "the cat sat on the [MASK] and the dog sat on the [MASK] ."
    theirs = fill(text.replace("[MASK]", tokenizer.mask_token), top_k=5)
    ours = predict(load_model(sharp_dir), text, top_k=5).predictions
    assert len(ours) == len(theirs) == 2
    for pred, rows in zip(ours, theirs, strict=True):
        assert [c.id for c in pred.top_k] == [r["token"] for r in rows]
        np.testing.assert_allclose([c.prob for c in pred.top_k], [r["score"] for r in rows], atol=1e-5)


def test_statistics_are_float32_softmax_of_a_bf16_models_logits(sharp_dir) -> None:
    """A model run in bfloat16 still gets probabilities, entropy and ranks from a float32 softmax.

    bf16 has 8 significant bits: a softmax taken in it would round every
    probability to ~0.4% and the entropy by far more than the 1e-5 asked here.
    """
    shared = load_model(sharp_dir)
    half = _reference(sharp_dir)[1].to(torch.bfloat16)
    lm = LoadedModel(name="bf16", model=half, tokenizer=shared.tokenizer, device=shared.device)
    text = "the cat sat on the [MASK] ."
    enc = encode(lm, text)
    pos = enc.mask_positions[0]
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([enc.input_ids])).logits[0, pos]
    assert logits.dtype == torch.bfloat16
    probs = torch.softmax(logits.float(), -1).double()
    (pred,) = predict(lm, text, top_k=5).predictions
    np.testing.assert_allclose([c.prob for c in pred.top_k], probs.topk(5).values.numpy(), atol=1e-6)
    assert pred.entropy == pytest.approx(float(-(probs * probs.log()).sum()), abs=1e-5)
    low = torch.softmax(logits, -1)  # what a bf16 softmax would have said
    assert abs(float(-(low * low.float().log()).sum()) - pred.entropy) > 1e-5


def test_rank_of_the_original_counts_only_strictly_likelier_tokens() -> None:
    """Ties share the best rank (1 + the number of tokens strictly more likely), as a competition rank."""
    logits = torch.tensor([[2.0, 5.0, 5.0, 1.0, 5.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    entropy, top_p, _, _, ranks = predict_module._distribution_stats(logits, torch.tensor([2, 3]), 3)
    assert ranks.tolist() == [1, 1]
    _, _, _, _, ranks = predict_module._distribution_stats(logits, torch.tensor([0, 0]), 3)
    assert ranks.tolist() == [4, 1]
    assert entropy[1] == pytest.approx(math.log(5))
    tied = math.exp(5) / (3 * math.exp(5) + math.exp(2) + math.exp(1))
    assert top_p[0].tolist() == pytest.approx([tied] * 3)


def test_a_padded_batch_equals_each_sequence_alone_in_transformers(sharp_dir) -> None:
    """Requests of different lengths share one right-padded pass (serving); each must get the logits
    and attention the full model gives its sequence alone, with the tokenizer's own encoding."""
    tokenizer, model = _reference(sharp_dir)
    lm = load_model(sharp_dir)
    texts = ["the [MASK] sat on the mat .", "paris is the [MASK] of france and a city in the [MASK] .",
             "[MASK] ."]
    items, expected = [], []
    for text in texts:
        enc = tokenizer(text.replace("[MASK]", tokenizer.mask_token), return_tensors="pt")
        cols = (enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[:, 0]
        items.append((enc["input_ids"], torch.zeros_like(cols), cols))
        with torch.no_grad():
            out = model(**enc, output_attentions=True)
        expected.append((out.logits[0, cols], out.attentions))
    lengths = {ids.shape[1] for ids, _, _ in items}
    assert len(lengths) == len(texts)  # the batch really is padded
    for (logits, attentions), (ref_logits, ref_attentions) in zip(
        predict_module._run_unique(items, lm, True), expected, strict=True
    ):
        torch.testing.assert_close(logits, ref_logits, atol=2e-5, rtol=1e-5)
        for a, b in zip(attentions, ref_attentions, strict=True):
            torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_whole_word_positions_cover_a_pieces_word_in_predict(tiny_albert_dir) -> None:
    """Masking one piece with ``whole_word`` masks every piece of its SentencePiece word (``▁`` start)."""
    lm = load_model(tiny_albert_dir)
    text = "unbelievable zebras ."
    enc = encode(lm, text)
    raw = lm.tokenizer.convert_ids_to_tokens(list(enc.input_ids))
    start = raw.index("▁", 1) if "▁" in raw[1:] else 1
    end = next(i for i in range(start + 1, len(raw)) if raw[i].startswith("▁") or raw[i] == "[SEP]")
    result = predict(lm, text, positions=[start + 1], whole_word=True)
    assert [p.position for p in result.predictions] == list(range(start, end))
    assert all(p.action is Action.MASK for p in result.predictions)


def test_whole_word_masking_of_a_word_with_an_unknown_piece(tiny_albert_dir) -> None:
    """SentencePiece keeps an unknown character inside its word; hiding that word masks its other
    pieces and leaves the [UNK] as the policy and transformers' whole-word collator do, in every view
    that takes a position (it used to raise "position N is a special token" for a piece never asked)."""
    from mlm_explorer.attention_change import attention_change

    lm = load_model(tiny_albert_dir)
    text = "the zebras sat ."
    enc = encode(lm, text)
    unk = enc.input_ids.index(lm.tokenizer.unk_token_id)
    word = [i for i, w in enumerate(enc.word_ids) if w == enc.word_ids[unk]]
    assert len(word) > 2, enc.tokens  # "▁ <unk> e b r a s": the unknown "z" is inside the word
    piece = word[-1]
    expected = [i for i in word if i != unk]
    result = predict(lm, text, positions=[piece], whole_word=True)
    assert [p.position for p in result.predictions] == expected
    assert result.model_input_ids[unk] == lm.tokenizer.unk_token_id
    assert attention_change(lm, text, [piece]).positions == tuple(expected)
    assert layer_by_layer(lm, text, position=piece, whole_word=True).position == piece
    with pytest.raises(ValueError, match="special token"):
        predict(lm, text, positions=[unk], whole_word=True)  # asked for itself: still refused
