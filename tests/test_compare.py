"""Side by side: two models on one sentence, two sentences on one model, and the two model slots."""

from __future__ import annotations

import gc
import json
import weakref

import pytest
import torch

from mlm_explorer import cli
from mlm_explorer.compare import (
    PROBE_PAIRS,
    ModelSlots,
    agreement_line,
    blank_distribution,
    compare_models,
    compare_sentences,
)
from mlm_explorer.models import load_model


@pytest.fixture(scope="module")
def bert(tiny_bert_dir):
    return load_model(tiny_bert_dir)


@pytest.fixture(scope="module")
def roberta(tiny_roberta_dir):
    return load_model(tiny_roberta_dir)


def test_a_model_against_itself_agrees_everywhere(bert):
    c = compare_models(bert, bert, "the cat [MASK] on the mat .", top_k=5, labels=("A", "B"))
    assert c.agree and c.shared == 5 and len(c.words) == 5
    assert all(w.prob_a == w.prob_b and w.ratio == pytest.approx(1.0) for w in c.words)
    assert agreement_line(c).startswith("They agree")


def test_two_vocabularies_are_matched_by_word_on_one_scale(bert, roberta):
    c = compare_models(bert, roberta, "the cat [MASK] on the mat .", top_k=5)
    assert not any(w.word.startswith("Ġ") and len(w.word) > 1 for w in c.words)  # a lone Ġ is a space
    probs_a, _ = blank_distribution(bert, "the cat [MASK] on the mat .")
    for w in c.words:
        if w.prob_a is not None:
            i = bert.tokenizer.convert_tokens_to_ids(w.word)
            assert w.prob_a == pytest.approx(float(probs_a[i]))
    maxima = [max(w.prob_a or 0, w.prob_b or 0) for w in c.words]
    assert maxima == sorted(maxima, reverse=True)
    line = agreement_line(c)
    assert line.startswith("They agree") == c.agree and "share" in line


def test_two_sentences_are_aligned_by_token_with_the_ratio(bert):
    a, b = "the man worked as a [MASK] .", "the woman worked as a [MASK] ."
    c = compare_sentences(bert, a, b, top_k=4)
    pa, _ = blank_distribution(bert, a)
    pb, _ = blank_distribution(bert, b)
    assert 4 <= len(c.words) <= 8
    for w in c.words:
        i = bert.tokenizer.convert_tokens_to_ids(w.word)
        assert (w.prob_a, w.prob_b) == pytest.approx((float(pa[i]), float(pb[i])))
        assert w.ratio == pytest.approx(float(pa[i] / pb[i]))
        assert w.rank_a == int((pa > pa[i]).sum()) + 1
    assert "×" in agreement_line(c)
    assert set(c.top_a) <= {w.word for w in c.words} and set(c.top_b) <= {w.word for w in c.words}


def test_the_probe_pairs_have_one_blank_each_and_differ(bert):
    assert len(PROBE_PAIRS) >= 3
    for a, b in PROBE_PAIRS:
        assert a != b and a.count("[MASK]") == b.count("[MASK]") == 1
        compare_sentences(bert, a, b)


@pytest.mark.parametrize(
    ("text", "message"), [("no blank here", "No mask: type"), ("two [MASK] blanks [MASK]", "exactly one")]
)
def test_a_comparison_needs_exactly_one_blank(bert, text, message):
    with pytest.raises(ValueError, match=message):
        compare_models(bert, bert, text)
    with pytest.raises(ValueError, match=message):
        compare_sentences(bert, text, "the [MASK] sat .")


def test_top_k_is_bounded(bert):
    for bad in (0, 21, True, "5"):
        with pytest.raises(ValueError, match="top_k"):
            compare_sentences(bert, "the [MASK] sat .", "a [MASK] sat .", top_k=bad)


def test_slots_hold_two_models_and_release_the_oldest():
    made: dict[str, weakref.ref] = {}

    def loader(key: str) -> torch.nn.Module:
        model = torch.nn.Linear(2, 2)
        made[key] = weakref.ref(model)
        return model

    slots = ModelSlots()
    first = slots.get("a", loader)
    assert slots.get("a", loader) is first  # held: not loaded again
    slots.get("b", loader)
    slots.get("a", loader)  # "a" is now the most recent
    slots.get("c", loader)
    assert slots.keys() == ("a", "c")
    del first
    gc.collect()
    assert made["b"]() is None  # released: nothing else held it
    assert made["a"]() is not None and made["c"]() is not None
    slots.clear()
    assert slots.keys() == ()


def test_cli_compare(capsys, tiny_bert_dir, tiny_roberta_dir):
    model = ["--model", str(tiny_bert_dir)]
    assert cli.main(["compare", "the man worked as a [MASK] .", "the woman worked as a [MASK] .", *model,
                     "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "sentences" and data["words"] and "summary" in data
    assert cli.main(["compare", "the cat [MASK] .", "--with", str(tiny_roberta_dir), *model]) == 0
    assert "They " in capsys.readouterr().out
    assert cli.main(["compare", "the cat [MASK] .", *model]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_cli_quiz(capsys, tiny_bert_dir, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text("the [cat] sat on the mat .\n\nno bracket\nthe [dog] sat .\n", encoding="utf-8")
    assert cli.main(["quiz", str(listing), "--model", str(tiny_bert_dir), "--json"]) == 0
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data["n"] == 2 and 0 <= data["hits1"] <= data["hits5"] <= 2
    assert "line 3: no word in [brackets]" in out.err
    listing.write_bytes(b"\xff\xfe bad")
    assert cli.main(["quiz", str(listing), "--model", str(tiny_bert_dir)]) == 2
