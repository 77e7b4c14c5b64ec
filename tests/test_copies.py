"""The Fill tab says when the first guess is a word copied from the sentence."""

from __future__ import annotations

from pathlib import Path

from mlm_explorer.masking import Action
from mlm_explorer.models import load_model
from mlm_explorer.predict import (
    GAP,
    Candidate,
    TokenPrediction,
    copies_context,
    opens_sequence,
    predict,
    word_key,
    words_of,
)
from mlm_explorer.ui.fill import COPY_NOTE, _summary

CONTEXT = ("[CLS]", "berlin", "is", "the", "capital", "of", ".", "[SEP]")


def test_word_key_drops_every_tokenizer_marker() -> None:
    assert {word_key(t) for t in ("Berlin", "Ġberlin", "▁Berlin", "##berlin")} == {"berlin"}


def test_a_copy_is_a_word_of_the_context() -> None:
    assert copies_context("berlin", CONTEXT)
    assert copies_context("ĠBerlin", ("<s>", "ĠBerlin", "Ġis", "</s>"))  # RoBERTa's byte-level pieces
    assert not copies_context("germany", CONTEXT)
    assert not copies_context(".", CONTEXT)  # punctuation is no word
    assert not copies_context("##lin", ("ber", "##lin"))  # a piece of a word is no word
    assert not copies_context("a", ("a", "b"))  # one letter: too common to mean anything


def test_pieces_are_joined_into_words_by_their_tokenizers_marks() -> None:
    assert words_of(("[CLS]", "ber", "##lin", "is", "big", ".", "[SEP]")) == ("berlin", "is", "big")
    assert words_of(("<s>", "Ber", "lin", "Ġis", "Ġbig", ".", "</s>")) == ("berlin", "is", "big")
    assert words_of(("[CLS]", "▁ber", "lin", "▁is", "[SEP]")) == ("berlin", "is")
    # WordPiece: a whole word copies, a piece of one does not (it only spells part of "berlin")
    assert copies_context("berlin", ("[CLS]", "ber", "##lin", "is", "[SEP]"))
    assert not copies_context("lin", ("[CLS]", "ber", "##lin", "is", "[SEP]"))
    # byte-level BPE: an unmarked guess continues a word; "lin" is part of "Berlin", no word of its own
    roberta = ("<s>", "Ber", "lin", "Ġis", "Ġthe", "Ġcapital", "Ġof", ".", "</s>")
    assert copies_context("ĠBerlin", roberta) and copies_context("Ġcapital", roberta)
    assert not copies_context("lin", roberta) and not copies_context("Ġlin", roberta)
    # a one-word BPE context has no Ġ of its own: the marked guess says how to join it
    assert not copies_context("Ġlin", ("<s>", "Ber", "lin", ".", "</s>"))


def _prediction(guess: str, original: str | None, rank: int | None) -> TokenPrediction:
    return TokenPrediction(
        position=6, action=Action.MASK, input_token="[MASK]", original=original,
        original_id=None if original is None else 7, top_k=(Candidate(guess, 5, 0.77),),
        original_prob=None if original is None else 0.1, original_rank=rank, entropy=2.0,
    )


def test_the_summary_names_a_copy_but_not_a_right_answer() -> None:
    copied = _summary([_prediction("berlin", None, None)], False, CONTEXT)
    assert COPY_NOTE in copied and "“berlin”" in copied
    assert COPY_NOTE not in _summary([_prediction("germany", None, None)], False, CONTEXT)
    # The original is the first guess: a right answer that happens to repeat a word is no copy to flag.
    assert COPY_NOTE not in _summary([_prediction("berlin", "berlin", 1)], False, CONTEXT)
    assert COPY_NOTE not in _summary([_prediction("berlin", None, None)], False, ())


def test_the_context_is_what_the_model_could_read(tiny_bert_dir: Path) -> None:
    lm = load_model(str(tiny_bert_dir))
    result = predict(lm, "the cat sat on the [MASK] .", 3, [2])  # also hide "cat" (position 2)
    targets = set(result.plan.targets)
    assert 2 in targets and result.tokens[2] == "cat"
    assert "cat" not in result.context and "sat" in result.context
    # aligned to positions, a gap at each target: pieces on either side never join into a word
    assert len(result.context) == len(result.tokens)
    assert [i for i, t in enumerate(result.context) if t == GAP] == sorted(targets)


def test_pieces_either_side_of_a_blank_are_no_word() -> None:
    context = ("[CLS]", "cat", "##s", "and", GAP, "##s", "[SEP]")  # "cats and [dog]s"
    assert words_of(context) == ("cats", "and", "s")
    assert not copies_context("ands", context)


def test_a_blank_that_opens_a_bpe_sentence_starts_a_word() -> None:
    # RoBERTa writes the first word without Ġ: "<mask> is the capital of France."
    context = ("<s>", GAP, "Ġis", "Ġthe", "Ġcapital", "Ġof", "ĠFrance", ".", "</s>")
    assert opens_sequence(context, 1) and not opens_sequence(context, 2)
    assert copies_context("France", context, starts_word=opens_sequence(context, 1))
    assert not copies_context("France", context)  # without the position, unmarked reads as a piece
    # in the Fill summary the position decides
    blank = TokenPrediction(
        position=1, action=Action.MASK, input_token="<mask>", original=None, original_id=None,
        top_k=(Candidate("France", 5, 0.6),), original_prob=None, original_rank=None, entropy=2.0,
    )
    assert COPY_NOTE in _summary([blank], False, context)
