"""Building the pretraining corpus from WordNet's data files."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlm_explorer.cli import main
from mlm_explorer.corpus import (
    dedupe,
    definitional_sentence,
    is_heldout,
    parse_wordnet_line,
    with_article,
    write_corpus,
)

NOUN = ('08932568 15 n 02 Paris 0 City_of_Light 0 001 @ 08524735 n 0000 | the capital and largest city '
        'of France; international center of culture and commerce; "she loved Paris in the spring"  \n')
VERB = ('00004032 29 v 02 sigh 0 suspire 4 001 @ 00001740 v 0000 | heave or utter a sigh; '
        '"She sighed sadly"  \n')
ADJ = '00001740 00 a 01 able 0 000 | (usually followed by `to\') having the necessary means or skill  \n'
HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


def test_parse_line_splits_definitions_and_examples() -> None:
    synset = parse_wordnet_line(NOUN, "noun")
    assert synset is not None
    assert synset.lemmas == ("Paris", "City of Light")
    assert synset.definitions == ("the capital and largest city of France",
                                  "international center of culture and commerce")
    assert synset.examples == ("she loved Paris in the spring",)
    assert parse_wordnet_line(HEADER, "noun") is None


def test_definitional_sentences_read_as_english() -> None:
    assert definitional_sentence(parse_wordnet_line(NOUN, "noun")) == \
        "Paris is the capital and largest city of France."
    assert definitional_sentence(parse_wordnet_line(VERB, "verb")) == "To sigh is to heave or utter a sigh."
    assert definitional_sentence(parse_wordnet_line(ADJ, "adj")).startswith("Able means having")
    assert with_article("plant grown for its leaves") == "a plant grown for its leaves"
    assert with_article("edible fruit") == "an edible fruit"
    assert with_article("the act of hitting") == "the act of hitting"


def test_dedupe_and_heldout_are_stable() -> None:
    lines = list(dedupe(["A  cat sat down.", "a cat sat down.", "too short", "The dog ran home."]))
    assert lines == ["A cat sat down.", "The dog ran home."]
    sample = [f"line number {i} of the corpus" for i in range(5000)]
    held = [s for s in sample if is_heldout(s)]
    assert held == [s for s in sample if is_heldout(s)]  # a function of the text alone
    assert 0.01 < len(held) / len(sample) < 0.03


@pytest.fixture()
def fake_wordnet(tmp_path: Path) -> Path:
    folder = tmp_path / "wordnet"
    folder.mkdir()
    (folder / "data.noun").write_text(HEADER + NOUN, encoding="utf-8")
    (folder / "data.verb").write_text(HEADER + VERB, encoding="utf-8")
    (folder / "data.adj").write_text(ADJ, encoding="utf-8")
    (folder / "data.adv").write_text("", encoding="utf-8")
    return folder


def test_write_corpus_and_cli(fake_wordnet: Path, tmp_path: Path) -> None:
    stats = write_corpus(tmp_path / "out", fake_wordnet)
    text = (tmp_path / "out" / "train.txt").read_text() + (tmp_path / "out" / "heldout.txt").read_text()
    assert "She loved Paris in the spring." in text
    assert "Paris is the capital and largest city of France." in text
    assert stats.train_lines + stats.heldout_lines == len(text.splitlines())
    assert "WordNet 3.0 Copyright 2006" in (tmp_path / "out" / "SOURCES.md").read_text()
    assert main(["corpus", "--wordnet", str(fake_wordnet), "--out", str(tmp_path / "cli")]) == 0
    assert main(["corpus", "--wordnet", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
