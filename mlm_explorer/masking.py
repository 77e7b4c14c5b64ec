"""Which positions to corrupt, and how: manual masks and BERT's 80/10/10 policy.

A *mask plan* says, for every token of one sequence, what happened to it:

- ``none``   – untouched, not a prediction target;
- ``mask``   – replaced by the model's mask token;
- ``random`` – replaced by a random (non-special) token of the vocabulary;
- ``keep``   – left as it was, but still a prediction target.

The policy follows BERT (Devlin et al., 2019, §3.1 and Appendix A.1) and
transformers' ``DataCollatorForLanguageModeling.torch_mask_tokens``: every
non-special token is *selected* independently with probability ``rate``; of the
selected, ``mask_share`` become the mask token, ``random_share`` a random token
and the rest stay unchanged. All selected positions are targets.

Two deliberate differences from the transformers collator:

- random replacements never draw special tokens (the collator draws from the
  whole vocabulary, ``[CLS]`` and ``[PAD]`` included);
- randomness comes only from an explicit seed or ``torch.Generator``.

The same :func:`corrupt_batch` serves the app (one sequence, shown to the user)
and pretraining / fine-tuning (a batch), so what the policy tab shows is what
training does. This module does not tokenize text or run a model.

Example::

    >>> import torch
    >>> ids = torch.tensor([[101, 7592, 2088, 102]])        # [CLS] hello world [SEP]
    >>> special = torch.tensor([[True, False, False, True]])
    >>> out = corrupt_batch(ids, special, mask_token_id=103,
    ...                     candidate_ids=torch.arange(999, 30522),
    ...                     config=PolicyConfig(rate=1.0, mask_share=1.0, random_share=0.0),
    ...                     generator=torch.Generator().manual_seed(0))
    >>> out.corrupted_ids.tolist()
    [[101, 103, 103, 102]]
    >>> out.labels.tolist()
    [[-100, 7592, 2088, -100]]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import torch

#: Label value ignored by ``torch.nn.CrossEntropyLoss`` and transformers' MLM loss.
IGNORE_INDEX = -100
#: The largest seed anywhere in the project (policy tab, CLI, fine-tuning): 32 bits, as numpy
#: takes, small enough to type and to stay exact in a browser's numbers.
MAX_SEED = 2**32 - 1


class Action(str, Enum):
    """What the plan did to one token (the string values are the CLI/JSON names)."""

    NONE = "none"
    MASK = "mask"
    RANDOM = "random"
    KEEP = "keep"


# Integer codes used inside tensors; index into ACTIONS to get the enum.
ACTIONS: tuple[Action, ...] = (Action.NONE, Action.MASK, Action.RANDOM, Action.KEEP)
_NONE, _MASK, _RANDOM, _KEEP = range(4)


@dataclass(frozen=True)
class PolicyConfig:
    """Settings of the 80/10/10 corruption policy (defaults: BERT §3.1)."""

    rate: float = 0.15  # P(a non-special token is selected as a target); BERT uses 15%.
    mask_share: float = 0.8  # of the selected: replaced by the mask token (BERT: 80%).
    random_share: float = 0.1  # of the selected: replaced by a random token (BERT: 10%).
    whole_word: bool = False  # select whole words, then apply the split to each piece.

    @property
    def keep_share(self) -> float:
        """Share of selected tokens left unchanged (BERT: 10%)."""
        return max(0.0, 1.0 - self.mask_share - self.random_share)


def validate_policy(config: PolicyConfig) -> None:
    """Raise ``ValueError`` with a user-facing sentence if the settings make no sense."""
    for name in ("rate", "mask_share", "random_share"):
        value = getattr(config, name)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be between 0 and 1, got {value}.")
    if config.mask_share + config.random_share > 1.0 + 1e-9:
        raise ValueError(
            "mask_share + random_share must be at most 1 (the rest is kept unchanged), "
            f"got {config.mask_share} + {config.random_share}."
        )


@dataclass(frozen=True)
class CorruptedBatch:
    """Result of :func:`corrupt_batch`; all tensors have shape (batch, T)."""

    corrupted_ids: torch.Tensor  # model input after corruption
    labels: torch.Tensor  # original id at targets, IGNORE_INDEX elsewhere
    actions: torch.Tensor  # int8 codes, see ACTIONS


def frequency_weights(counts: torch.Tensor, threshold: float) -> torch.Tensor:
    """Per-id selection weights that mask frequent tokens less: ``min(1, sqrt(threshold / f))``.

    ``f`` is an id's share of ``counts`` (how often each id occurs in the training rows). This is
    word2vec's subsampling of frequent words (Mikolov et al. 2013, §2.3) used for *selection*:
    at ``threshold`` 1e-3 the weight of "the" (f ≈ 0.05) is about 0.14 while every id rarer than
    0.1% keeps weight 1, so more of the 15% budget falls on content words, the kind a cloze
    question asks for (REALM's salient-span masking and PMI-masking make the same trade:
    Guu et al. 2020, §3.4; Levine et al. 2021). Ids never seen get weight 1.
    """
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}.")
    counts = counts.double()
    share = counts / counts.sum().clamp(min=1.0)
    weights = torch.sqrt(threshold / share.clamp(min=1e-30)).clamp(max=1.0)
    return torch.where(counts > 0, weights, torch.ones_like(weights)).float()


def _selection_probabilities(
    special_mask: torch.Tensor,
    rate: float,
    word_ids: torch.Tensor | None,
    generator: torch.Generator,
    token_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bool (batch, T): which tokens are selected as targets.

    Token-level: one Bernoulli(rate) draw per non-special token, as in the
    transformers collator. Whole-word: one draw per word (``word_ids`` >= 0),
    shared by all of its pieces, as in BERT's whole-word-masking release and
    transformers' ``DataCollatorForLanguageModeling(whole_word_mask=True)`` (v5; it
    replaced ``DataCollatorForWholeWordMask``); unlike v5's collator, which masks
    every selected piece, the 80/10/10 split is then drawn per piece, as BERT's
    ``create_pretraining_data.py`` does. With ``token_weights`` (batch, T) a unit
    (token, or word: the largest weight of its pieces, so a rare word split into a
    common first piece stays rare) is drawn with probability ``rate * w / mean(w)``,
    the mean over the batch's tokens (a word's weight counted for each of its pieces),
    capped at 1: the expected share of selected tokens stays ``rate`` (a little under
    it where the cap bites).
    """
    batch, length = special_mask.shape
    if word_ids is None:
        draws = torch.rand((batch, length), generator=generator)
        if token_weights is None:
            return (draws < rate) & ~special_mask
        valid = ~special_mask
        mean = token_weights[valid].mean() if valid.any() else token_weights.new_tensor(1.0)
        return (draws < (rate * token_weights / mean).clamp(max=1.0)) & valid
    n_words = max(int(word_ids.max().item()) + 1 if word_ids.numel() else 0, 1)
    valid = (word_ids >= 0) & ~special_mask
    word_rate = torch.full((batch, n_words), rate)
    if token_weights is not None:
        index = torch.where(valid, word_ids, 0)
        weight = torch.zeros((batch, n_words)).scatter_reduce(
            1, index, torch.where(valid, token_weights.float(), 0.0), reduce="amax"
        )
        # The mean is over tokens (each word counted once per piece), not over words: rare words
        # have more pieces, so a per-word mean would select more than ``rate`` of the tokens.
        pieces = torch.zeros((batch, n_words)).scatter_add(1, index, valid.float())
        total = pieces.sum()
        mean = (weight * pieces).sum() / total if total > 0 else weight.new_tensor(1.0)
        word_rate = (rate * weight / mean).clamp(max=1.0)
    word_draws = torch.rand((batch, n_words), generator=generator) < word_rate
    picked = torch.gather(word_draws, 1, word_ids.clamp(min=0))
    return picked & valid


def corrupt_batch(
    input_ids: torch.Tensor,
    special_mask: torch.Tensor,
    mask_token_id: int,
    candidate_ids: torch.Tensor,
    config: PolicyConfig,
    generator: torch.Generator,
    word_ids: torch.Tensor | None = None,
    token_weights: torch.Tensor | None = None,
) -> CorruptedBatch:
    """Apply the 80/10/10 policy to a batch of token ids.

    Args:
        input_ids: (batch, T) original token ids.
        special_mask: (batch, T) bool, True at special tokens and padding; never selected.
        mask_token_id: the model's own mask token id.
        candidate_ids: 1-D ids that a ``random`` replacement may draw (no special tokens).
        config: rate and shares; checked with :func:`validate_policy`.
        generator: the only source of randomness, so a seed reproduces the plan.
        word_ids: optional (batch, T) word index per token, -1 for special tokens;
            given and ``config.whole_word`` set, selection is per word.
        token_weights: optional (batch, T) selection weights (see :func:`frequency_weights`);
            ``None`` is BERT's uniform selection.
    """
    validate_policy(config)
    if candidate_ids.numel() == 0:
        raise ValueError("The vocabulary has no non-special token to draw random replacements from.")
    special_mask = special_mask.bool()
    selected = _selection_probabilities(
        special_mask, config.rate, word_ids if config.whole_word else None, generator, token_weights
    )
    # One uniform draw per token splits the selected ones into mask / random / keep
    # with exactly the configured shares (the collator uses two chained Bernoullis,
    # 0.8 then 0.5 of the rest, which is the same distribution at 80/10/10).
    split = torch.rand(input_ids.shape, generator=generator)
    to_mask = selected & (split < config.mask_share)
    to_random = selected & ~to_mask & (split < config.mask_share + config.random_share)
    to_keep = selected & ~to_mask & ~to_random

    random_pick = torch.randint(len(candidate_ids), input_ids.shape, generator=generator)
    corrupted = input_ids.clone()
    corrupted[to_mask] = mask_token_id
    corrupted[to_random] = candidate_ids[random_pick[to_random]]

    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[selected] = input_ids[selected]

    actions = torch.zeros(input_ids.shape, dtype=torch.int8)
    actions[to_mask] = _MASK
    actions[to_random] = _RANDOM
    actions[to_keep] = _KEEP
    return CorruptedBatch(corrupted_ids=corrupted, labels=labels, actions=actions)


@dataclass(frozen=True)
class MaskPlan:
    """What happened to each token of one sequence (special tokens included).

    ``original_known[i]`` is False where the user typed a mask token: then the
    original word is unknown and ``original_ids[i]`` is the mask id itself.
    """

    original_ids: tuple[int, ...]
    corrupted_ids: tuple[int, ...]
    actions: tuple[Action, ...]
    original_known: tuple[bool, ...]

    @property
    def targets(self) -> tuple[int, ...]:
        """Positions the model must predict (every action except ``none``)."""
        return tuple(i for i, a in enumerate(self.actions) if a is not Action.NONE)

    def count(self, action: Action) -> int:
        """How many tokens got ``action``."""
        return sum(a is action for a in self.actions)


def check_seed(seed: object) -> int:
    """``seed`` as an int for ``torch.Generator.manual_seed``, or ``ValueError`` with a sentence."""
    ok = isinstance(seed, (int, float)) and not isinstance(seed, bool) and math.isfinite(seed)
    if not ok or int(seed) != seed or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"The seed must be a whole number between 0 and {MAX_SEED}, got {seed!r}.")
    return int(seed)


def policy_plan(
    input_ids: Sequence[int],
    special_mask: Sequence[bool],
    mask_token_id: int,
    candidate_ids: torch.Tensor,
    config: PolicyConfig,
    seed: int,
    word_ids: Sequence[int] | None = None,
) -> MaskPlan:
    """The 80/10/10 plan for one sequence, reproducible from ``seed``.

    Uses :func:`corrupt_batch` itself, so the app shows what training does.
    """
    ids = torch.tensor([list(input_ids)], dtype=torch.long)
    special = torch.tensor([list(special_mask)], dtype=torch.bool)
    words = None if word_ids is None else torch.tensor([list(word_ids)], dtype=torch.long)
    out = corrupt_batch(
        ids, special, mask_token_id, candidate_ids, config,
        torch.Generator().manual_seed(check_seed(seed)), words,
    )
    n = ids.shape[1]
    return MaskPlan(
        original_ids=tuple(ids[0].tolist()),
        corrupted_ids=tuple(out.corrupted_ids[0].tolist()),
        actions=tuple(ACTIONS[c] for c in out.actions[0].tolist()),
        original_known=(True,) * n,
    )


def manual_plan(
    input_ids: Sequence[int],
    special_mask: Sequence[bool],
    mask_token_id: int,
    positions: Sequence[int] = (),
) -> MaskPlan:
    """Mask the given positions, plus any mask token already in ``input_ids``.

    Typed mask tokens become targets whose original is unknown. Special
    positions cannot be masked: asking for one raises ``ValueError``.
    """
    n = len(input_ids)
    chosen = set()
    for p in positions:
        if not 0 <= p < n:
            raise ValueError(f"Position {p} is outside the sentence (0..{n - 1}).")
        if special_mask[p] and input_ids[p] != mask_token_id:
            raise ValueError(f"Position {p} is a special token and cannot be masked.")
        chosen.add(p)
    typed = {i for i, t in enumerate(input_ids) if t == mask_token_id}
    actions = tuple(Action.MASK if (i in chosen or i in typed) else Action.NONE for i in range(n))
    corrupted = tuple(
        mask_token_id if a is Action.MASK else t for a, t in zip(actions, input_ids, strict=True)
    )
    return MaskPlan(
        original_ids=tuple(input_ids),
        corrupted_ids=corrupted,
        actions=actions,
        original_known=tuple(i not in typed for i in range(n)),
    )


def whole_word_positions(word_ids: Sequence[int | None], positions: Sequence[int]) -> tuple[int, ...]:
    """Extend token positions to every piece of the words they belong to.

    ``word_ids`` is the fast tokenizer's ``word_ids()`` (None for special tokens).
    """
    words = {word_ids[p] for p in positions if word_ids[p] is not None}
    extra = {i for i, w in enumerate(word_ids) if w is not None and w in words}
    return tuple(sorted(extra | {p for p in positions if word_ids[p] is None}))


def replacement_candidates(vocab_size: int, excluded_ids: Sequence[int]) -> torch.Tensor:
    """Ids a ``random`` replacement may draw: the whole vocabulary less ``excluded_ids``.

    Pass the tokenizer's special ids (and, for BERT vocabularies, the
    ``[unusedN]`` placeholders), so a replacement is always a real token.
    """
    keep = torch.ones(vocab_size, dtype=torch.bool)
    excluded = torch.tensor([i for i in excluded_ids if 0 <= i < vocab_size], dtype=torch.long)
    keep[excluded] = False
    return torch.arange(vocab_size)[keep]


@dataclass(frozen=True)
class PolicyDraws:
    """Empirical rates of the 80/10/10 policy over many draws on one sentence."""

    draws: int
    empirical: dict[str, float]  # "selected" of eligible tokens; "masked"/"random"/"kept" of selected
    nominal: dict[str, float]
    counts: dict[str, int]  # trials behind each empirical rate (for error bars)


def policy_draws(
    input_ids: Sequence[int],
    special_mask: Sequence[bool],
    mask_token_id: int,
    candidate_ids: torch.Tensor,
    config: PolicyConfig,
    draws: int = 1000,
    seed: int = 0,
    word_ids: Sequence[int] | None = None,
) -> PolicyDraws:
    """Run the policy ``draws`` times on one sentence (one batched call) and count what happened.

    Uses :func:`corrupt_batch` itself, the code training uses, so the
    chart tests the real thing rather than a re-implementation.
    """
    if not 1 <= draws <= 100_000:
        raise ValueError(f"draws must be between 1 and 100000, got {draws}.")
    ids = torch.tensor([list(input_ids)] * draws, dtype=torch.long)
    special = torch.tensor([list(special_mask)] * draws, dtype=torch.bool)
    words = None if word_ids is None else torch.tensor([list(word_ids)] * draws, dtype=torch.long)
    generator = torch.Generator().manual_seed(check_seed(seed))
    out = corrupt_batch(ids, special, mask_token_id, candidate_ids, config, generator, words)
    eligible = int((~special).sum())
    selected = int((out.labels != IGNORE_INDEX).sum())
    codes = {"masked": Action.MASK, "random": Action.RANDOM, "kept": Action.KEEP}
    counts = {name: int((out.actions == ACTIONS.index(a)).sum()) for name, a in codes.items()}
    denominator = max(selected, 1)
    empirical = {"selected": selected / max(eligible, 1)}
    empirical.update({name: n / denominator for name, n in counts.items()})
    nominal = {
        "selected": config.rate,
        "masked": config.mask_share,
        "random": config.random_share,
        "kept": config.keep_share,
    }
    trials = {"selected": eligible, "masked": selected, "random": selected, "kept": selected}
    return PolicyDraws(draws=draws, empirical=empirical, nominal=nominal, counts=trials)
