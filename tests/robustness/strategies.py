"""Hypothesis strategies for hostile input: text, settings and uploaded bytes.

Shared by the library and the API suites. Text mixes arbitrary Unicode (control
characters and lone surrogates included, which JSON can carry as ``\\ud800``)
with fragments that have broken tokenizers and renderers elsewhere: zero-width
and bidi controls, combining marks, emoji sequences, right-to-left scripts,
mask and special-token strings, markup and script tags, and very long strings.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

#: Pieces that are each a known way to surprise a tokenizer, a model or a renderer.
FRAGMENTS = (
    "[MASK]", "<mask>", "[mask]", "<MASK>", "[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>",
    "<unk>", "[CLS] [SEP]", "##ing", "Ġthe", "▁the",
    "\u200b", "\u200c", "\u200d", "\ufeff", "\u200f", "\u202e", "\u2066", "\u00ad",  # zero-width, bidi
    "e\u0301", "a\u0308\u0308\u0308\u0308", "Z\u0335\u0321\u0322\u0327\u0328",  # combining marks
    "🎭", "👩\u200d👩\u200d👧", "🏳️\u200d🌈", "🇫🇷", "\U0001f9d1\U0001f3fd",  # emoji sequences
    "שלום עולם", "مرحبا بالعالم", "日本語の文", "한국어", "ﷺ", "𝕳𝖊𝖑𝖑𝖔",  # RTL, CJK, math letters
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<b>bold</b>", "<br>", "<a href=x>",
    "&lt;b&gt;", "javascript:alert(1)", "{{7*7}}", "${7*7}", "'; DROP TABLE x;--", "%s%n", "\\",
    "\x00", "\x07", "\x1b[31m", "\r\n", "\t", "\x7f", "\ud800", "\udfff", "\uffff", "\U0010ffff",
    "the", "cat", "sat", "on", "mat", ".", ",", "?", "1999", "   ",
)



def without_surrogates(text: str) -> str:
    """``text`` with lone surrogates replaced (for transports that must encode it as UTF-8)."""
    return text.encode("utf-8", "replace").decode("utf-8")


fragment_text = st.lists(st.sampled_from(FRAGMENTS), min_size=0, max_size=12).map(" ".join)
any_unicode = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
only_masks = st.integers(1, 200).map(lambda n: " ".join(["[MASK]"] * n))
only_specials = st.lists(
    st.sampled_from(["[CLS]", "[SEP]", "[PAD]", "[UNK]", "<s>", "</s>", "<pad>"]), min_size=1, max_size=20
).map(" ".join)
# Long text: about 10,000 characters (over every model's 512 tokens), with or without a mask.
long_text = st.tuples(st.sampled_from(FRAGMENTS), st.booleans()).map(
    lambda t: ((t[0] + " ") * (10_000 // (len(t[0]) + 1) + 1))[:10_000] + (" [MASK]" if t[1] else "")
)

hostile_text = st.one_of(fragment_text, any_unicode, only_masks, only_specials, long_text)
#: Hostile text that still contains a blank, so prediction paths run past the "no mask" check.
hostile_text_with_mask = st.tuples(hostile_text, st.integers(0, 3)).map(
    lambda t: t[0] + " [MASK]" * t[1]
)

#: What a slider or number box may receive from a hostile client: anything JSON can carry.
any_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, 1, -1, 0.5, 1.0000001, -0.0, 1e308, -1e-308, math.inf, -math.inf, math.nan]),
)
any_setting = st.one_of(
    any_number, st.none(), st.booleans(), st.text(max_size=12), st.lists(st.integers(), max_size=3)
)
any_fraction = st.one_of(st.floats(0, 1), any_number)
# What JSON can carry (no NaN or infinity, which gradio_client refuses to send).
json_number = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**70), 2**70))
json_setting = st.one_of(
    json_number, st.none(), st.booleans(), st.text(max_size=12), st.lists(st.integers(), max_size=3)
)
json_fraction = st.one_of(st.floats(0, 1), json_number)

# Uploaded bytes: random, binary with NUL, broken UTF-8, UTF-16, huge lines, CSV/JSON shapes.
any_bytes = st.one_of(
    st.binary(max_size=2000),
    st.text(st.characters(codec="utf-8"), max_size=400).map(lambda s: s.encode("utf-8")),
    st.text(max_size=200).map(lambda s: s.encode("utf-16")),
    st.lists(st.sampled_from([b"text\n", b'"a,b",c\n', b'{"text": 1}\n', b"\xff\xfe\x00", b"\xc3\x28\n",
                              b"\xef\xbb\xbf", b'{"text": "the cat"}\n', b"\r", b"\n\n", b",,,\n",
                              b"x" * 5000, b"text\tlabel\n"]), max_size=30).map(b"".join),
)
upload_names = st.sampled_from(
    ["data.txt", "data.csv", "data.tsv", "data.jsonl", "DATA.TXT", "data", "data.exe", "data.txt.exe",
     "../../etc/passwd", "data.md", ".jsonl", "a b.csv", "日本.txt"]
)
