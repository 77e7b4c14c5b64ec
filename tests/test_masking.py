"""The 80/10/10 policy: statistics, agreement with transformers' collator, invariants."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_explorer.masking import (
    IGNORE_INDEX,
    Action,
    PolicyConfig,
    corrupt_batch,
    frequency_weights,
    manual_plan,
    policy_plan,
    replacement_candidates,
    validate_policy,
    whole_word_positions,
)
from mlm_explorer.models import load_model
from mlm_explorer.predict import mask_text

_MASK, _RANDOM, _KEEP = 1, 2, 3
BATCH, LENGTH = 200, 120  # 200 × 118 = 23,600 selectable tokens (≥ 20,000)


def _batch(vocab: int = 300, first: int = 5, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids of non-special tokens framed by [CLS]=2 … [SEP]=3, and the special mask."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(first, vocab, (BATCH, LENGTH), generator=gen)
    ids[:, 0], ids[:, -1] = 2, 3
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    return ids, special


def _within(observed: float, p: float, n: int, sds: float = 4.0) -> bool:
    return abs(observed - p) <= sds * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(
    "config", [PolicyConfig(), PolicyConfig(rate=0.3, mask_share=0.6, random_share=0.25)]
)
def test_empirical_rates_within_four_standard_deviations(config: PolicyConfig) -> None:
    ids, special = _batch()
    out = corrupt_batch(ids, special, 4, torch.arange(5, 300), config, torch.Generator().manual_seed(1))
    n = int((~special).sum())
    assert n >= 20_000
    selected = out.actions != 0
    n_sel = int(selected.sum())
    assert _within(n_sel / n, config.rate, n)
    shares = ((_MASK, config.mask_share), (_RANDOM, config.random_share), (_KEEP, config.keep_share))
    for code, share in shares:
        assert _within(int((out.actions == code).sum()) / n_sel, share, n_sel), (code, share)
    # Labels: the original at every selected position, ignored elsewhere.
    assert torch.equal(out.labels[selected], ids[selected])
    assert bool((out.labels[~selected] == IGNORE_INDEX).all())
    assert bool((out.corrupted_ids[out.actions == _MASK] == 4).all())
    assert torch.equal(out.corrupted_ids[out.actions == _KEEP], ids[out.actions == _KEEP])


def _rates(original: torch.Tensor, corrupted: torch.Tensor, labels: torch.Tensor, mask_id: int):
    selected = labels != IGNORE_INDEX
    n_sel = int(selected.sum())
    masked = int((selected & (corrupted == mask_id)).sum())
    changed = int((selected & (corrupted != mask_id) & (corrupted != original)).sum())
    return n_sel, masked / n_sel, changed / n_sel


def _same_distribution(a: float, na: int, b: float, nb: int) -> bool:
    pooled = (a * na + b * nb) / (na + nb)
    return abs(a - b) <= 4 * math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))


@pytest.mark.parametrize("shares", [(0.8, 0.1), (0.5, 0.4)])
def test_agrees_with_transformers_collator(tiny_bert_dir, shares) -> None:
    from transformers import DataCollatorForLanguageModeling

    lm = load_model(tiny_bert_dir)
    vocab = len(lm.tokenizer)
    ids, special = _batch(vocab=vocab, first=max(lm.special_ids) + 1)
    ids[:, 0], ids[:, -1] = lm.tokenizer.cls_token_id, lm.tokenizer.sep_token_id
    mask_share, random_share = shares
    # seed=0 is ignored by the collator (falsy check), so use 1.
    collator = DataCollatorForLanguageModeling(
        lm.tokenizer, mlm_probability=0.15, mask_replace_prob=mask_share, random_replace_prob=random_share,
        seed=1,
    )
    theirs = collator([{"input_ids": row.tolist()} for row in ids])
    config = PolicyConfig(rate=0.15, mask_share=mask_share, random_share=random_share)
    gen = torch.Generator().manual_seed(2)
    ours = corrupt_batch(ids, special, lm.mask_token_id, lm.candidate_ids, config, gen)
    n = int((~special).sum())
    n1, mask1, rand1 = _rates(ids, theirs["input_ids"], theirs["labels"], lm.mask_token_id)
    n2, mask2, rand2 = _rates(ids, ours.corrupted_ids, ours.labels, lm.mask_token_id)
    assert _same_distribution(n1 / n, n, n2 / n, n)
    assert _same_distribution(mask1, n1, mask2, n2)
    # "changed to another token": the collator's random draw may hit the original
    # (1/|V|) and so may ours; both rates must agree within sampling noise.
    assert _same_distribution(rand1, n1, rand2, n2)
    # The collator never touches special tokens either.
    assert bool((theirs["labels"][special] == IGNORE_INDEX).all())


@settings(max_examples=60, deadline=None)
@given(
    length=st.integers(2, 40),
    rate=st.floats(0, 1),
    mask_share=st.floats(0, 1),
    seed=st.integers(0, 2**31 - 1),
    data=st.data(),
)
def test_special_tokens_never_selected_and_random_draws_are_candidates(length, rate, mask_share, seed, data):
    special = data.draw(st.lists(st.booleans(), min_size=length, max_size=length))
    random_share = data.draw(st.floats(0, 1 - mask_share))
    ids = list(range(10, 10 + length))
    candidates = torch.arange(50, 60)
    config = PolicyConfig(rate=rate, mask_share=mask_share, random_share=random_share)
    plan = policy_plan(ids, special, 4, candidates, config, seed)
    for i, action in enumerate(plan.actions):
        if special[i]:
            assert action is Action.NONE and plan.corrupted_ids[i] == ids[i]
        if action is Action.RANDOM:
            assert plan.corrupted_ids[i] in set(candidates.tolist())
        if action is Action.NONE or action is Action.KEEP:
            assert plan.corrupted_ids[i] == ids[i]
    assert policy_plan(ids, special, 4, candidates, config, seed) == plan  # same seed, same plan


def test_rate_one_selects_every_non_special_token_only() -> None:
    ids, special = _batch()
    out = corrupt_batch(ids, special, 4, torch.arange(5, 300), PolicyConfig(rate=1.0), torch.Generator())
    assert torch.equal(out.actions != 0, ~special)


def test_seeds_reproduce_and_differ(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    text = "the cat sat on the mat . the dog sat on the floor . birds fly south in the winter ."
    config = PolicyConfig(rate=0.4)
    a, b = mask_text(lm, text, config, seed=7), mask_text(lm, text, config, seed=7)
    assert a.plan == b.plan and a.plan.targets
    assert any(mask_text(lm, text, config, seed=s).plan != a.plan for s in range(8, 12))


def test_whole_word_masking_selects_all_pieces(tiny_model_dir) -> None:
    lm = load_model(tiny_model_dir)
    # Words outside the toy corpus split into several pieces in both tokenizers.
    text = "unbelievable zebras photographed extraordinary wildebeests near paris"
    config = PolicyConfig(rate=0.5, whole_word=True)
    enc = mask_text(lm, text, config, seed=0).encoding
    words = {w for w in enc.word_ids if w is not None}
    multi = [w for w in words if enc.word_ids.count(w) > 1]
    assert multi, f"test text has no multi-piece word: {enc.tokens}"
    partial_seen = False
    for seed in range(30):
        plan = mask_text(lm, text, config, seed=seed).plan
        for w in words:
            picked = {plan.actions[i] is not Action.NONE for i, x in enumerate(enc.word_ids) if x == w}
            assert len(picked) == 1, (seed, w, enc.tokens, plan.actions)
        token_level = mask_text(lm, text, PolicyConfig(rate=0.5), seed=seed).plan
        for w in multi:
            picked = {token_level.actions[i] is not Action.NONE for i, x in enumerate(enc.word_ids) if x == w}
            partial_seen |= len(picked) == 2
    assert partial_seen  # without whole_word, words do get split: the check above can fail


def test_whole_word_positions_extends_to_word() -> None:
    word_ids = [None, 0, 1, 1, 1, 2, None]
    assert whole_word_positions(word_ids, [3]) == (2, 3, 4)
    assert whole_word_positions(word_ids, [1, 5]) == (1, 5)


def test_manual_plan_typed_and_chosen_positions() -> None:
    plan = manual_plan([2, 10, 4, 12, 3], [True, False, True, False, True], mask_token_id=4, positions=[3])
    assert plan.targets == (2, 3)
    assert plan.original_known == (True, True, False, True, True)
    assert plan.corrupted_ids == (2, 10, 4, 4, 3)
    with pytest.raises(ValueError, match="special"):
        manual_plan([2, 10, 3], [True, False, True], 4, positions=[0])
    with pytest.raises(ValueError, match="outside"):
        manual_plan([2, 10, 3], [True, False, True], 4, positions=[3])


@pytest.mark.parametrize(
    "config, match",
    [
        (PolicyConfig(rate=-0.1), "rate"),
        (PolicyConfig(rate=1.5), "rate"),
        (PolicyConfig(rate=float("nan")), "rate"),
        (PolicyConfig(mask_share=1.2, random_share=0.0), "mask_share"),
        (PolicyConfig(random_share=-0.01), "random_share"),
        (PolicyConfig(mask_share=0.8, random_share=0.3), "at most 1"),
        (PolicyConfig(rate=True), "rate"),
    ],
)
def test_nonsense_settings_rejected(config, match) -> None:
    with pytest.raises(ValueError, match=match):
        validate_policy(config)


def test_candidates_exclude_special_and_unused_tokens(tiny_bert_dir) -> None:
    lm = load_model(tiny_bert_dir)
    cands = set(lm.candidate_ids.tolist())
    assert cands and not cands & lm.special_ids
    assert len(cands) == len(lm.tokenizer) - len(lm.special_ids)
    assert replacement_candidates(6, [0, 5, 9]).tolist() == [1, 2, 3, 4]


# ------------------------------------------------------------------ frequency-weighted selection


def test_frequency_weights_follow_the_subsampling_formula() -> None:
    counts = torch.tensor([500, 100, 1, 0, 399])  # shares 0.5, 0.1, 0.001, unseen, 0.399
    weights = frequency_weights(counts, threshold=1e-3)
    assert weights[0].item() == pytest.approx(math.sqrt(1e-3 / 0.5))
    assert weights[1].item() == pytest.approx(math.sqrt(1e-3 / 0.1))
    assert weights[2].item() == 1.0 and weights[3].item() == 1.0  # rare and unseen ids: full weight
    assert weights[0] < weights[4] < weights[1] < 1.0
    with pytest.raises(ValueError, match="threshold must be positive"):
        frequency_weights(counts, threshold=0.0)


@pytest.mark.parametrize("whole_word", [False, True])
def test_weighted_selection_keeps_the_rate_and_favours_rare_tokens(whole_word: bool) -> None:
    # Half the tokens are id 7 (weight 0.1), half spread over ids 10..299 (weight 1).
    gen = torch.Generator().manual_seed(0)
    ids = torch.where(torch.rand((BATCH, LENGTH), generator=gen) < 0.5, 7,
                      torch.randint(10, 300, (BATCH, LENGTH), generator=gen))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    words = torch.cumsum(~special, dim=1) - 1  # one word per token: whole-word = token level here
    words[special] = -1
    id_weights = torch.ones(300)
    id_weights[7] = 0.1
    config = PolicyConfig(rate=0.15, whole_word=whole_word)
    uniform = corrupt_batch(ids, special, 3, torch.arange(10, 300), config,
                            torch.Generator().manual_seed(1), words)
    weighted = corrupt_batch(ids, special, 3, torch.arange(10, 300), config,
                             torch.Generator().manual_seed(1), words, id_weights[ids])
    n = int((~special).sum())
    for out in (uniform, weighted):  # the budget stays 15% of the tokens
        assert (out.labels != IGNORE_INDEX).sum().item() / n == pytest.approx(0.15, abs=0.01)
    share_frequent = [((out.labels == 7).sum() / (out.labels != IGNORE_INDEX).sum()).item()
                      for out in (uniform, weighted)]
    assert share_frequent[0] == pytest.approx(0.5, abs=0.03)
    assert share_frequent[1] == pytest.approx(0.1 / 1.1, abs=0.03)  # 0.05 / (0.05 + 0.5)


def test_weighted_whole_word_takes_a_words_rarest_piece() -> None:
    # Word 0 = pieces [7, 20] (a common first piece, a rare second); word 1 = [7] alone.
    ids = torch.tensor([[1, 7, 20, 7, 2]]).repeat(4000, 1)
    special = torch.tensor([[True, False, False, False, True]]).repeat(4000, 1)
    words = torch.tensor([[-1, 0, 0, 1, -1]]).repeat(4000, 1)
    id_weights = torch.ones(30)
    id_weights[7] = 0.1
    out = corrupt_batch(ids, special, 3, torch.arange(10, 30), PolicyConfig(rate=0.15, whole_word=True),
                        torch.Generator().manual_seed(0), words, id_weights[ids])
    selected = out.labels != IGNORE_INDEX
    assert torch.equal(selected[:, 1], selected[:, 2])  # pieces of a word go together
    assert selected[:, 1].float().mean() > 5 * selected[:, 3].float().mean()


def test_weighted_whole_word_keeps_the_token_rate_when_rare_words_have_more_pieces() -> None:
    # Word 0 = three rare pieces (weight 1), word 1 = one frequent token (weight 0.1): per-word
    # normalisation would select 0.15 * 1 / 0.55 * 3 / 4 = 20% of the tokens.
    ids = torch.tensor([[1, 20, 21, 22, 7, 2]]).repeat(20000, 1)
    special = torch.tensor([[True, False, False, False, False, True]]).repeat(20000, 1)
    words = torch.tensor([[-1, 0, 0, 0, 1, -1]]).repeat(20000, 1)
    id_weights = torch.ones(30)
    id_weights[7] = 0.1
    out = corrupt_batch(ids, special, 3, torch.arange(10, 30), PolicyConfig(rate=0.15, whole_word=True),
                        torch.Generator().manual_seed(0), words, id_weights[ids])
    selected = out.labels != IGNORE_INDEX
    assert selected.sum().item() / int((~special).sum()) == pytest.approx(0.15, abs=0.005)
    assert selected[:, 1].float().mean() > 5 * selected[:, 4].float().mean()
