"""Text helpers shared by every source reader: sentences, normalising, dedupe, held-out split.

A line of the corpus is one sentence (or one short paragraph that has no
sentence end): the cloze items and minimal pairs the model is judged on are
single sentences, and ``pretrain`` packs several lines into one row anyway.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Iterable, Iterator

MIN_WORDS = 3  # shorter lines are headings, list items or page furniture
MAX_WORDS = 80  # longer "sentences" are tables or lists run together

# Abbreviations after which a full stop does not end a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "gen", "col", "capt", "lt", "gov", "sen", "rep",
    "rev", "hon", "messrs", "mme", "mt", "ft", "no", "nos", "vol", "vols", "fig", "approx", "ca", "etc",
    "vs", "viz", "al", "inc", "ltd", "co", "corp", "dept", "est", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "e.g", "i.e", "a.m", "p.m", "d.c",
}
# A candidate break: sentence-final punctuation, optional closing quotes/brackets, then space(s)
# and an opening quote, bracket, capital letter or digit.
_BREAK = re.compile(r"""([.!?])(["'”’)\]]*)\s+(?=["'“‘(\[]?[A-Z0-9])""")


def normalise(line: str) -> str:
    """Collapse whitespace (sources have stray double spaces, tabs and trailing blanks)."""
    return " ".join(line.split())


def split_sentences(text: str) -> list[str]:
    """Split running text into sentences; a rule-based splitter that knows common abbreviations.

    >>> split_sentences('Mr. Darcy bowed. "Indeed!" said she. It was 5 p.m. at last.')
    ['Mr. Darcy bowed.', '"Indeed!" said she.', 'It was 5 p.m. at last.']
    """
    text = normalise(text)
    sentences, start = [], 0
    for match in _BREAK.finditer(text):
        before = text[start : match.start(1)]
        last_word = before.rsplit(" ", 1)[-1].lower().lstrip("(\"'“‘")
        if match.group(1) == "." and (last_word in _ABBREVIATIONS or re.fullmatch(r"[a-z]", last_word)):
            continue  # "Mr. Darcy", "J. Smith": not a sentence end
        end = match.end(2)
        sentences.append(text[start:end].strip())
        start = match.end()
    if start < len(text):
        sentences.append(text[start:].strip())
    return [s for s in sentences if s]


def keep(line: str) -> bool:
    """Whether a line is worth training on: enough words, not too many, mostly letters, not a heading."""
    words = line.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    letters = sum(ch.isalpha() for ch in line)
    if letters < 0.6 * len(line.replace(" ", "")):
        return False
    return sum(ch.isupper() for ch in line) <= 0.5 * letters  # not an ALL-CAPS heading


def strip_markup(text: str) -> str:
    """Text of an XML/HTML fragment: tags removed (text on either side joins), entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", text))


def is_heldout(line: str, every: int = 50) -> bool:
    """True for a fixed ~1/every share of lines, decided by the text alone (2% by default)."""
    digest = hashlib.blake2b(line.lower().encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % every == 0


def line_rank(line: str) -> int:
    """A fixed pseudo-random rank of a line: capped sources keep the lowest ranks (a stable sample)."""
    digest = hashlib.blake2b(line.lower().encode("utf-8"), digest_size=8, person=b"mlmrank").digest()
    return int.from_bytes(digest, "big")


def dedupe(lines: Iterable[str], seen: set[str] | None = None) -> Iterator[str]:
    """Normalised lines of at least MIN_WORDS words, first occurrence only (case-insensitive).

    Pass one ``seen`` set to several calls to deduplicate across sources.
    """
    seen = set() if seen is None else seen
    for raw in lines:
        line = normalise(raw)
        key = line.lower()
        if len(line.split()) < MIN_WORDS or key in seen:
            continue
        seen.add(key)
        yield line
