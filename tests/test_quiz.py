"""Guess-first quiz: reading a teacher's list, scoring guesses, rounds and the score card."""

from __future__ import annotations

import csv
import io
import math

import pytest
import torch

from mlm_explorer import quiz
from mlm_explorer.models import load_model
from mlm_explorer.predict import forward, masked_copy_log_probs, predict
from mlm_explorer.quiz import QuizItem, parse_items, parse_line, score_item
from mlm_explorer.tokens import encode


@pytest.fixture(scope="module")
def bert(tiny_bert_dir):
    return load_model(tiny_bert_dir)


# ---------------------------------------------------------------------------- parsing


def test_a_bracketed_word_becomes_the_hidden_answer():
    item = parse_line("  The [cat] sat on the mat. ")
    assert item.answer == "cat" and item.sentence == "The cat sat on the mat."
    assert item.blanked == "The ____ sat on the mat."
    assert item.masked("<mask>") == "The <mask> sat on the mat."


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("The cat sat on the mat.", "no word in [brackets]"),
        ("The [cat] sat on the [mat].", "2 words in brackets"),
        ("The [] sat.", "empty"),
        ("The [big cat] sat.", "one word"),
        ("The [MASK] sat.", "not a mask token"),
        ("The [cat] sat on the <mask>.", "mask token"),
        ("The [cat] sat ] on.", "unmatched"),
        ("[cat]", "nothing but the hidden word"),
        ("The [cat] " + "x" * 400, "longer than"),
    ],
)
def test_bad_lines_are_refused_with_the_reason(line, why):
    with pytest.raises(ValueError, match=r"(?i)" + why.replace("[", r"\[").replace("]", r"\]")):
        parse_line(line)


def test_a_list_skips_bad_and_empty_lines_and_names_them():
    text = "The [cat] sat.\n\n   \nNo bracket.\nTwo [a] and [b].\nShe drank [tea].\n"
    parsed = parse_items(text)
    assert [i.answer for i in parsed.items] == ["cat", "tea"]
    assert parsed.problems == (
        "line 4: no word in [brackets], skipped.",
        "line 5: 2 words in brackets; mark exactly one, skipped.",
    )
    assert parsed.message == ""


def test_ten_thousand_lines_are_capped_with_a_message():
    text = "\n".join(f"Line {n} has a [word]." for n in range(10_000))
    parsed = parse_items(text)
    assert len(parsed.items) == quiz.MAX_LINES
    assert "10,000 lines" in parsed.message and f"first {quiz.MAX_LINES}" in parsed.message


@pytest.mark.parametrize("text", ["", "   \n\n", "no brackets at all\nnor here"])
def test_a_list_with_nothing_usable_is_an_error(text):
    with pytest.raises(ValueError, match="(?i)empty|no usable line"):
        parse_items(text)


def test_bundled_set_has_forty_items_of_every_kind_and_notes_for_the_hard_ones():
    items = quiz.load_bundled_items()
    assert len(items) >= 40
    kinds = {i.kind for i in items}
    assert {"fact", "grammar", "common sense", "hard"} <= kinds
    assert all(i.note for i in items if i.kind == "hard")
    assert len({i.sentence for i in items}) == len(items)


def test_rounds_are_reproducible_and_sized_five_to_ten():
    items = quiz.load_bundled_items()
    assert quiz.pick_round(items, 7, seed=3) == quiz.pick_round(items, 7, seed=3)
    assert quiz.pick_round(items, 7, seed=3) != quiz.pick_round(items, 7, seed=4)
    assert len(set(quiz.pick_round(items, 10, seed=0))) == 10
    for bad in (4, 11, "5", True):
        with pytest.raises(ValueError):
            quiz.pick_round(items, bad)


# ---------------------------------------------------------------------------- scoring


def test_a_single_token_guess_gets_its_probability_and_rank_at_the_blank(bert):
    item = parse_line("the [cat] sat on the mat .")
    reveal = score_item(bert, item, "dog", top_k=5)
    # The same distribution as the Fill tab's prediction at the mask.
    pred = predict(bert, "the [MASK] sat on the mat .", top_k=5).predictions[0]
    assert [c.id for c in reveal.top_k] == [c.id for c in pred.top_k]
    enc = encode(bert, item.masked("[MASK]"))
    probs = torch.softmax(forward(bert, enc.input_ids, positions=enc.mask_positions).logits[0], -1)
    dog = bert.tokenizer.convert_tokens_to_ids("dog")
    (guess,) = reveal.guesses
    assert not guess.in_place and guess.pieces == ("dog",)
    assert guess.prob == pytest.approx(float(probs[dog]), rel=1e-5)
    assert guess.rank == int((probs > probs[dog]).sum()) + 1
    assert reveal.answer.word == "cat" and not reveal.answer.in_place


def test_a_guess_of_several_pieces_is_scored_by_its_pll_in_place(bert):
    item = parse_line("the [cat] sat on the mat .")
    reveal = score_item(bert, item, "dogcat")  # dog ##c ##at
    (guess,) = reveal.guesses
    assert guess.in_place and len(guess.pieces) > 1
    enc = encode(bert, "the dogcat sat on the mat .")
    pieces = [i for i, (a, b) in enumerate(enc.offsets) if a >= 4 and b <= 10 and b > a]
    expected = float(masked_copy_log_probs(bert, enc.input_ids, pieces).sum())
    assert guess.log_prob == pytest.approx(expected, rel=1e-6)
    assert guess.prob == pytest.approx(math.exp(expected))
    assert guess.rank >= 1


def test_hits_for_the_student_and_the_model(bert):
    item = parse_line("the [cat] sat on the mat .")
    r = score_item(bert, item, "Nope, CAT")
    assert not r.student_hit1 and r.student_hit5  # right on the second guess, case ignored
    assert score_item(bert, item, "cat.").student_hit1  # surrounding punctuation ignored
    r = score_item(bert, item, "")
    assert r.guesses == () and not r.student_hit1 and not r.student_hit5
    # The model hits when its own top-1 / top-5 word is the answer: put its best whole word in the blank.
    words = [c.token for c in score_item(bert, item, top_k=50).top_k if c.token.isalpha()]
    for word in words[:6]:
        sentence = item.sentence.replace("cat", word)
        r = score_item(bert, QuizItem(sentence=sentence, start=4, end=4 + len(word)))
        assert r.model_hit1 == (r.answer.rank == 1 and not r.answer.in_place)
        assert r.model_hit5 == (r.answer.rank <= 5 and not r.answer.in_place)


def test_bad_guesses_are_refused(bert):
    item = parse_line("the [cat] sat .")
    for bad in ("two words", "a,b,c,d,e,f", "x" * 41):
        with pytest.raises(ValueError):
            score_item(bert, item, bad)


def test_a_round_keeps_score_and_exports_csv(bert):
    words = ("cat", "dog", "man", "cat", "dog")
    items = parse_items("\n".join(f"the [{w}] sat on the mat ." for w in words)).items
    game = quiz.start_round(items, 5, seed=0, source="teacher's list")
    for item in game.items:
        game = game.with_reveal(score_item(bert, item, item.answer))
    assert game.done
    with pytest.raises(ValueError, match="over"):
        game.with_reveal(score_item(bert, items[0]))
    card = game.score_card()
    assert (card.n, card.student_hits1, card.student_hits5) == (5, 5, 5)
    assert 0 <= card.model_hits1 <= card.model_hits5 <= 5
    rows = list(csv.DictReader(io.StringIO(quiz.round_csv(game))))
    assert len(rows) == 5 and rows[0]["answer"] == game.items[0].answer
    assert list(rows[0]) == quiz.ROUND_COLUMNS


def test_roberta_words_are_scored_with_their_word_start_marks(tiny_roberta_dir):
    lm = load_model(tiny_roberta_dir)
    reveal = score_item(lm, parse_line("the [cat] sat on the mat ."), "dog")
    assert reveal.answer.pieces[0].startswith("Ġ") and reveal.guesses[0].rank >= 1


def test_a_word_the_vocabulary_lacks_is_scored_as_the_unknown_token(bert):
    reveal = score_item(bert, parse_line("the [zebra] sat on the mat ."), "zebra")
    assert reveal.answer.pieces == ("[UNK]",) and reveal.guesses[0].pieces == ("[UNK]",)
    assert reveal.student_hit1 and not reveal.model_hit5  # [UNK] never counts as the model's word


def test_a_tiny_guess_probability_is_not_rounded_to_zero_on_the_page():
    import pandas as pd

    from mlm_explorer.quiz import WordScore
    from mlm_explorer.views import _word_row, display_table

    tiny = WordScore("the", ("the",), math.log(2.5e-7), 90, False)
    near = WordScore("a", ("a",), math.log(6.2e-7), 70, False)
    html = display_table(pd.DataFrame([_word_row(tiny, "you"), _word_row(near, "you")])).to_html()
    # rounded to 6 decimals first, these read "0%" and "0.00010%" while the text said 0.000025%
    assert "0.000025%" in html and "0.000062%" in html
