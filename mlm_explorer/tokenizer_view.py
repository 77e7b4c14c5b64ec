"""The tokenizer, shown: every token with its id, characters, word and marks.

- :func:`tokenizer_view` — text → :class:`TokenizerView`: per token its id,
  display string and vocabulary entry, the character span it covers (into
  the text after mask normalisation), its word, whether it continues a word,
  whether it is special; the groups whole-word masking hides together; and
  which algorithm and continuation mark the tokenizer uses.

The three marks learners meet, all read from the tokenizer itself:

- WordPiece (BERT, DistilBERT): ``##`` starts a piece that *continues* the
  word before it (``un ##believ ##able``).
- byte-level BPE (RoBERTa): ``Ġ`` (a space byte) starts a piece that *begins*
  a word; a piece without it continues one (``Ġun believ able``).
- SentencePiece (ALBERT, ``▁``): like ``Ġ``, ``▁`` marks a word start.

"Continues a word" is not guessed from those strings: it comes from the fast
tokenizer's word ids (the same ones whole-word masking uses, see
``tokens.py``), so it holds for every convention. This module does not run
the model.

Example (a BERT tokenizer)::

    >>> [(t.token, t.piece, t.continues_word) for t in tokenizer_view(lm, "unbelievable").tokens]
    ... # doctest: +SKIP
    [('[CLS]', '', False), ('un', 'un', False), ('##bel', 'bel', True), ('##ievable', 'ievable', True), ...]
"""

from __future__ import annotations

from dataclasses import dataclass

from mlm_explorer.models import LoadedModel
from mlm_explorer.tokens import _is_byte_level, encode

# Decoder class name (tokenizers.decoders) → (the algorithm, how its pieces mark words).
_CONVENTIONS: dict[str, tuple[str, str]] = {
    "WordPiece": ("WordPiece", "“##” starts a piece that continues the word before it"),
    "ByteLevel": ("byte-level BPE", "“Ġ” (a space) starts a new word; a piece without it continues a word"),
    "Metaspace": ("SentencePiece", "“▁” (a space) starts a new word; a piece without it continues a word"),
}


@dataclass(frozen=True)
class TokenInfo:
    """One token of the input."""

    position: int
    id: int
    token: str  # display string (byte-level BPE decoded, markers kept)
    vocab_entry: str  # the vocabulary's own string (e.g. "Ã©" for a byte-level "é")
    start: int  # character span in TokenizerView.text; (0, 0) for added special tokens
    end: int
    piece: str  # text[start:end]: the characters this token stands for
    word: int | None  # word index (None for special tokens)
    continues_word: bool  # a later piece of the same word as the token before it
    special: bool  # [CLS], [SEP], <s>, a typed mask, ...
    # The unknown token ([UNK], <unk>) standing for characters of the text the vocabulary lacks
    # (an emoji, a rare script): a word of the text, not a marker the tokenizer added.
    unknown: bool = False

    @property
    def kind(self) -> str:
        """What the token is, in the view's words: "special", "unknown", "continues word" or "word start"."""
        if self.special:
            return "special"
        if self.unknown:
            return "unknown"
        return "continues word" if self.continues_word else "word start"

    def to_dict(self) -> dict:
        return {
            "position": self.position, "id": self.id, "token": self.token, "vocab_entry": self.vocab_entry,
            "start": self.start, "end": self.end, "piece": self.piece, "word": self.word,
            "continues_word": self.continues_word, "special": self.special, "unknown": self.unknown,
        }


@dataclass(frozen=True)
class TokenizerView:
    """How one model's tokenizer splits one text."""

    model: str
    text: str  # after mask normalisation: spans index into this
    algorithm: str  # "WordPiece", "byte-level BPE", "SentencePiece", or the tokenizer's model name
    convention: str  # how its pieces mark word starts or continuations
    vocab_size: int
    tokens: tuple[TokenInfo, ...]
    words: tuple[tuple[int, ...], ...]  # the positions of each word of the text (unknown ones included)
    truncated: bool = False
    message: str = ""

    def to_dict(self) -> dict:
        return {
            "model": self.model, "text": self.text, "algorithm": self.algorithm,
            "convention": self.convention, "vocab_size": self.vocab_size,
            "tokens": [t.to_dict() for t in self.tokens], "words": [list(w) for w in self.words],
            "truncated": self.truncated, "message": self.message,
        }


def _algorithm(lm: LoadedModel) -> tuple[str, str]:
    backend = lm.tokenizer.backend_tokenizer
    decoder = type(getattr(backend, "decoder", None)).__name__
    if _is_byte_level(lm.tokenizer):
        decoder = "ByteLevel"
    if decoder in _CONVENTIONS:
        return _CONVENTIONS[decoder]
    return type(backend.model).__name__, "words are found by the tokenizer's pre-tokenizer"


def tokenizer_view(lm: LoadedModel, text: str) -> TokenizerView:
    """Every token of ``text`` with id, span, word and marks (raises ``ValueError`` for empty text)."""
    encoding = encode(lm, text)
    raw = lm.tokenizer.convert_ids_to_tokens(list(encoding.input_ids))
    unk_id = lm.tokenizer.unk_token_id
    infos = []
    previous_word: int | None = None
    for p, (tid, tok, (a, b), word) in enumerate(
        zip(encoding.input_ids, encoding.tokens, encoding.offsets, encoding.word_ids, strict=True)
    ):
        # The unknown token is among the tokenizer's special tokens (encoding.special_mask), but
        # one that covers characters of the text stands for a word: counted and shown as one.
        unknown = unk_id is not None and tid == unk_id and b > a and word is not None
        special = encoding.special_mask[p] and not unknown
        infos.append(
            TokenInfo(
                position=p, id=tid, token=tok, vocab_entry=raw[p] or "", start=a, end=b,
                piece=encoding.text[a:b], word=word,
                continues_word=word is not None and word == previous_word and not special,
                special=special, unknown=unknown,
            )
        )
        previous_word = word
    groups: dict[int, list[int]] = {}
    for info in infos:
        if info.word is not None and not info.special:
            groups.setdefault(info.word, []).append(info.position)
    algorithm, convention = _algorithm(lm)
    return TokenizerView(
        model=lm.name,
        text=encoding.text,
        algorithm=algorithm,
        convention=convention,
        vocab_size=len(lm.tokenizer),
        tokens=tuple(infos),
        words=tuple(tuple(g) for _, g in sorted(groups.items())),
        truncated=encoding.truncated,
        message=encoding.message,
    )
