"""Minimal-pair evaluation (``eval-pairs``): the file format, the PLL comparison, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlm_explorer.cli import main
from mlm_explorer.cloze import MinimalPair, evaluate_pairs, read_pairs_file
from mlm_explorer.models import load_model
from mlm_explorer.predict import pseudo_log_likelihood

PUBLIC_PAIRS = Path(__file__).parent / "data" / "minimal_pairs.tsv"


def test_public_pair_file_is_large_varied_and_well_formed() -> None:
    pairs = read_pairs_file(PUBLIC_PAIRS)
    assert len(pairs) >= 60
    phenomena = {p.phenomenon for p in pairs}
    assert {"agreement_attractor", "determiner_noun_number", "irregular_past", "irregular_participle",
            "reflexive", "pronoun_case", "comparative", "there_is_are"} <= phenomena
    assert len({p.grammatical for p in pairs}) == len(pairs)  # no pair twice


def test_read_pairs_accepts_two_or_three_columns_and_rejects_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "p.tsv"
    good.write_text("grammatical\tungrammatical\n# a comment\nThe cat runs.\tThe cat run.\n"
                    "They are here.\tThey is here.\tagreement\n", encoding="utf-8")
    assert read_pairs_file(good) == [MinimalPair("The cat runs.", "The cat run.", ""),
                                     MinimalPair("They are here.", "They is here.", "agreement")]
    for text, message in [("only one column\n", "line 1"), ("a\ta\n", "the same"), ("\n", "no pairs")]:
        bad = tmp_path / "bad.tsv"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message):
            read_pairs_file(bad)
    with pytest.raises(ValueError, match="no such file"):
        read_pairs_file(tmp_path / "missing.tsv")


def test_evaluate_pairs_compares_pll_and_groups_by_phenomenon(tiny_bert_dir: Path) -> None:
    lm = load_model(str(tiny_bert_dir))
    pairs = [MinimalPair("the cat sat on the mat .", "the mat sat on the cat .", "a"),
             MinimalPair("the dog ran in the park .", "park the in ran dog the .", "b"),
             MinimalPair("the mat sat on the cat .", "the cat sat on the mat .", "a")]
    result = evaluate_pairs(lm, pairs, batch_size=4)
    expected = [pseudo_log_likelihood(lm, p.grammatical).pll > pseudo_log_likelihood(lm, p.ungrammatical).pll
                for p in pairs]
    assert [o.correct for o in result.outcomes] == expected
    assert expected[0] != expected[2]  # swapping a pair flips the outcome
    assert result.accuracy == pytest.approx(sum(expected) / 3)
    assert [(s.phenomenon, s.n) for s in result.by_phenomenon] == [("a", 2), ("b", 1)]
    assert result.to_dict()["by_phenomenon"]["a"]["n"] == 2


def test_cli_eval_pairs(tiny_bert_dir: Path, tmp_path: Path, capsys) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text("the cat sat on the mat .\tthe mat sat on the cat .\tword_order\n", encoding="utf-8")
    assert main(["eval-pairs", str(path), "--model", str(tiny_bert_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n"] == 1 and set(data["by_phenomenon"]) == {"word_order"}
    assert main(["eval-pairs", str(path), "--model", str(tiny_bert_dir)]) == 0
    assert "1 pairs   accuracy" in capsys.readouterr().out
    assert main(["eval-pairs", str(tmp_path / "none.tsv")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: No such file: {tmp_path / 'none.tsv'}\n"


def test_masked_token_accuracy_is_reproducible_and_bounded(tiny_bert_dir: Path) -> None:
    from mlm_explorer.cloze import masked_token_accuracy

    lm = load_model(str(tiny_bert_dir))
    lines = ["the cat sat on the mat .", "the capital of france is paris .", "birds fly south ."]
    first = masked_token_accuracy(lm, lines * 10, seed=7, batch_size=8)
    assert first == masked_token_accuracy(lm, lines * 10, seed=7, batch_size=8)
    assert first.lines == 30 and first.targets > 0 and 0.0 <= first.accuracy <= 1.0 and first.loss > 0
    assert masked_token_accuracy(lm, lines * 10, rate=0.5, seed=7).targets > first.targets
    with pytest.raises(ValueError, match="No held-out lines"):
        masked_token_accuracy(lm, ["  "])


def test_whole_word_heldout_hides_every_piece_of_a_selected_word() -> None:
    from transformers import AutoTokenizer

    from mlm_explorer.cloze import heldout_batches

    tok = AutoTokenizer.from_pretrained(Path(__file__).resolve().parent.parent / "assets" / "model")
    lines = ["the anthropologists photographed hummingbirds near unbelievably tall waterfalls ."] * 40

    def partial_words(whole_word: bool) -> tuple[int, int]:
        """(words with only some pieces scored, words scored) over every row."""
        partial = scored = 0
        for batch in heldout_batches(tok, lines, rate=0.4, seed=3, batch_size=16, whole_word=whole_word):
            enc = tok(lines[: len(batch["labels"])], truncation=True, max_length=128)
            for row, labels in enumerate(batch["labels"]):
                pieces: dict[int, list[bool]] = {}
                for pos, word in enumerate(enc.word_ids(row)):
                    if word is not None:
                        pieces.setdefault(word, []).append(bool(labels[pos] != -100))
                partial += sum(any(p) and not all(p) for p in pieces.values())
                scored += sum(all(p) for p in pieces.values())
        return partial, scored

    assert any(len(tok.tokenize(w)) > 1 for w in lines[0].split())  # the check needs split words
    whole_partial, whole_scored = partial_words(True)
    assert whole_partial == 0 and whole_scored > 0
    assert partial_words(False)[0] > 0  # token-level selection does split words
