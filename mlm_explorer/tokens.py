"""Text → token ids with everything the rest needs: offsets, word ids, display strings.

- A user may type ``[MASK]`` or ``<mask>`` (any case) for any model; both are
  rewritten to the model's own mask token before tokenizing.
- Text longer than the model's maximum is truncated, and the result says so.
- Word ids come from the fast tokenizer (its pre-tokenizer's word boundaries),
  not from string tests on ``##`` / ``Ġ`` / ``▁``, so whole-word masking works
  the same for WordPiece, byte-level BPE and SentencePiece.
- Display strings are what a person should see for a token: byte-level BPE
  tokens are decoded from their byte alphabet (``Ã©`` → ``é``) and keep ``Ġ`` as
  the visible word-start mark; WordPiece ``##`` and SentencePiece ``▁`` are kept.

This module does not run the model.

Example (a BERT tokenizer)::

    >>> enc = encode(lm, "Paris is the <mask> of France.")            # doctest: +SKIP
    >>> enc.tokens                                                    # doctest: +SKIP
    ('[CLS]', 'paris', 'is', 'the', '[MASK]', 'of', 'france', '.', '[SEP]')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlm_explorer.models import LoadedModel

# What users type for a blank, whatever the model: BERT's and RoBERTa's spellings.
_TYPED_MASK = re.compile(r"\[mask\]|<mask>", re.IGNORECASE)
# Lone UTF-16 surrogates: valid in a Python str, not in UTF-8, and fatal to the tokenizer.
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Encoding:
    """One tokenized text; every tuple is aligned to token positions (specials included)."""

    text: str  # the text after mask normalisation (offsets index into it)
    input_ids: tuple[int, ...]
    tokens: tuple[str, ...]  # display strings, see display_tokens()
    offsets: tuple[tuple[int, int], ...]  # (start, end) character span; (0, 0) for specials
    word_ids: tuple[int | None, ...]  # word index per token, None for special tokens
    special_mask: tuple[bool, ...]  # True at special tokens (and typed masks): never policy-selected
    mask_positions: tuple[int, ...]  # where the text itself has a (typed) mask token
    truncated: bool  # the text did not fit and was cut to max_length tokens
    message: str  # a sentence for the user when truncated, else ""

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def word_ids_for_policy(self) -> tuple[int, ...]:
        """Word ids with -1 for special tokens, as :func:`masking.corrupt_batch` takes them."""
        return tuple(-1 if w is None else w for w in self.word_ids)


def normalise_masks(text: str, mask_token: str) -> str:
    """Rewrite typed ``[MASK]`` / ``<mask>`` (any case) to ``mask_token``.

    >>> normalise_masks("the [mask] sat on the <MASK>.", "<mask>")
    'the <mask> sat on the <mask>.'
    """
    return _TYPED_MASK.sub(lambda _: mask_token, text)


def check_text(text: object) -> str:
    """Return ``text`` if it is a non-blank string, else raise ``ValueError``."""
    if not isinstance(text, str):
        raise ValueError(f"The text must be a string, got {type(text).__name__}.")
    if not text.strip():
        raise ValueError("The text is empty: type a sentence.")
    if _SURROGATE.search(text):
        # Only a hand-made request carries these (JSON "\\ud800"); the tokenizer raises a TypeError on them.
        raise ValueError("The text contains invalid characters (unpaired surrogates): send UTF-8 text.")
    return text


def encode(lm: LoadedModel, text: str) -> Encoding:
    """Tokenize ``text`` for ``lm``: normalise typed masks, truncate to the model's length.

    Raises ``ValueError`` for empty or whitespace-only text.
    """
    check_text(text)
    tokenizer = lm.tokenizer
    normalised = normalise_masks(text, lm.mask_token)
    max_length = lm.max_length
    # return_overflowing_tokens tells us whether anything was cut without a second
    # tokenization and without transformers' "sequence too long" warning.
    batch = tokenizer(
        normalised,
        truncation=True,
        max_length=max_length,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    first = batch.encodings[0]
    truncated = len(batch.encodings) > 1
    ids = tuple(int(i) for i in first.ids)
    if not any(w is not None for w in first.word_ids):
        raise ValueError("The text has no tokens the model can read.")
    special = lm.special_ids
    message = ""
    if truncated:
        message = (
            f"The text is longer than the model's maximum of {max_length} tokens; "
            f"only the first {max_length} tokens were used."
        )
    return Encoding(
        text=normalised,
        input_ids=ids,
        tokens=display_tokens(lm, ids),
        offsets=tuple((int(a), int(b)) for a, b in first.offsets),
        word_ids=tuple(first.word_ids),
        special_mask=tuple(i in special for i in ids),
        mask_positions=tuple(p for p, i in enumerate(ids) if i == lm.mask_token_id),
        truncated=truncated,
        message=message,
    )


def _is_byte_level(tokenizer) -> bool:
    from tokenizers import decoders

    return isinstance(getattr(tokenizer.backend_tokenizer, "decoder", None), decoders.ByteLevel)


def display_tokens(lm: LoadedModel, ids) -> tuple[str, ...]:
    """Readable strings for token ids (special tokens as themselves).

    Byte-level BPE (RoBERTa, GPT-2 vocabularies) stores bytes as printable
    stand-ins (``Ġ`` = space, ``Ã©`` = the two bytes of ``é``); decode them so
    accents read normally, and keep ``Ġ`` as the word-start mark learners know.
    """
    tokenizer = lm.tokenizer
    raw = tokenizer.convert_ids_to_tokens([int(i) for i in ids])
    if not _is_byte_level(tokenizer):
        return tuple(t if t is not None else "" for t in raw)
    special = lm.special_ids
    out = []
    for i, tok in zip(ids, raw, strict=True):
        if tok is None:
            out.append("")
        elif int(i) in special:
            out.append(tok)
        else:
            text = tokenizer.convert_tokens_to_string([tok])
            out.append("Ġ" + text[1:] if text.startswith(" ") else text)
    return tuple(out)
