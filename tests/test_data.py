"""Reading fine-tuning texts: formats, limits, encodings, held-out split, windows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from mlm_explorer import data
from mlm_explorer.data import DataError

SAMPLES = Path(__file__).resolve().parent.parent / "assets" / "data"


def test_txt_one_example_a_line():
    out = data.read_bytes(b"first line\n\n  second line  \r\nthird\n", "notes.txt")
    assert out.examples == ("first line", "second line", "third")
    assert out.format == "txt" and out.source == "notes.txt"
    assert out.bad_encoding_lines == 0 and out.notes == ()


def test_txt_paragraphs_are_joined():
    raw = b"a wrapped\nparagraph here\n\nsecond\nparagraph\n"
    assert data.read_bytes(raw, "p.txt").examples == ("a wrapped paragraph here", "second paragraph")
    assert data.read_bytes(raw, "p.txt", split="lines").examples == (
        "a wrapped", "paragraph here", "second", "paragraph",
    )


def test_csv_and_tsv_pick_the_column():
    raw = b'id,body\n1,"hello, world"\n2,\n3,bye\n'
    out = data.read_bytes(raw, "t.csv", text_column="body")
    assert out.examples == ("hello, world", "bye") and out.skipped == 1
    tsv = data.read_bytes(b"text\tlabel\nsome words\t1\n", "t.tsv")  # "text" chosen by name
    assert tsv.examples == ("some words",)


def test_csv_without_the_column_names_the_columns():
    with pytest.raises(DataError, match=r"no column 'text'.*id, body"):
        data.read_bytes(b"id,body\n1,x\n", "t.csv", text_column="text")
    with pytest.raises(DataError, match="choose the text column"):
        data.read_bytes(b"id,body\n1,x\n", "t.csv")


def test_jsonl_text_field_and_bad_lines_counted():
    lines = [json.dumps({"text": "one"}), "{not json", json.dumps({"other": 1}), json.dumps({"text": "two"})]
    out = data.read_bytes("\n".join(lines).encode(), "d.jsonl")
    assert out.examples == ("one", "two") and out.skipped == 2
    with pytest.raises(DataError, match="no valid JSON"):
        data.read_bytes(b"nope\nstill nope\n", "d.jsonl")


def test_empty_and_binary_and_oversized_are_rejected(tmp_path):
    with pytest.raises(DataError, match="empty"):
        data.read_bytes(b"  \n\n", "e.txt")
    with pytest.raises(DataError, match="binary"):
        data.read_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.txt")
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * (data.MAX_BYTES // 5 + 10))
    with pytest.raises(DataError, match="limit is 5 MB"):
        data.read_file(big)
    with pytest.raises(DataError, match="limit is 20,000"):
        data.read_bytes(b"x\n" * (data.MAX_LINES + 1), "many.txt")
    with pytest.raises(DataError, match="unsupported file type"):
        data.read_bytes(b"abc", "model.bin")
    with pytest.raises(DataError, match="empty"):
        data.read_pasted("   ")


def test_wrong_encoding_is_repaired_and_counted():
    raw = "café ok\n".encode() + "naïve\n".encode("latin-1") + b"plain\n" + "über\n".encode("cp1252")
    out = data.read_bytes(raw, "mixed.txt")
    assert out.bad_encoding_lines == 2
    assert out.examples[0] == "café ok" and out.examples[2] == "plain"
    assert "\N{REPLACEMENT CHARACTER}" in out.examples[1]
    assert "2 line(s) were not valid UTF-8" in out.notes[0]
    assert data.read_bytes(b"\xef\xbb\xbfbom first\n", "b.txt").examples == ("bom first",)


def test_heldout_split_is_seeded_disjoint_and_complete():
    examples = tuple(f"sentence {i}" for i in range(50))
    a = data.split_heldout(examples, fraction=0.2, seed=3)
    assert a == data.split_heldout(examples, fraction=0.2, seed=3)
    assert a != data.split_heldout(examples, fraction=0.2, seed=4)
    assert len(a.heldout) == 10 and set(a.train).isdisjoint(a.heldout)
    assert sorted(a.train + a.heldout) == sorted(examples)
    assert data.split_heldout(("only one",)).heldout == ()
    with pytest.raises(DataError):
        data.split_heldout(examples, fraction=1.5)


def test_long_lines_become_windows_not_cut(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    long = " ".join(["the cat sat on the mat ."] * 12)
    n_text_tokens = len(tok(long, add_special_tokens=False)["input_ids"])
    win = data.tokenize_windows([long, "the dog sat"], tok, max_length=16)
    assert win.n_split == 1 and win.n_examples == 2
    assert all(len(ids) <= 16 for ids in win.input_ids)
    real = sum(not s for mask in win.special_mask[:-1] for s in mask)
    assert real == n_text_tokens  # every token of the long line is in some window, once
    assert all(m[0] and m[-1] for m in win.special_mask)


@pytest.mark.parametrize("name", ["recipes.txt", "science.txt", "nursery.txt"])
def test_bundled_samples_read_cleanly(name):
    out = data.read_file(SAMPLES / name)
    assert len(out.examples) >= 200 and out.notes == ()
    assert len(set(out.examples)) > 0.9 * len(out.examples)
