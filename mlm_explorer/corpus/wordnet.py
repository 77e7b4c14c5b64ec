"""WordNet 3.0 (Debian ``wordnet-base``): example sentences and glosses as sentences.

Files ``usr/share/wordnet/data.{noun,verb,adj,adv}``, whose licence allows use
and redistribution with its notice (see ``assets/model/LICENSE-WORDNET``). From
each synset we take

- the quoted example sentences ("She sighed sadly"): everyday running English;
- the gloss turned into a definitional sentence ("Paris is the capital and
  largest city of France."), so the encoder sees words in the frames that
  dictionary knowledge takes in ordinary prose;
- the remaining gloss clauses as they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mlm_explorer.corpus.base import Found, Source, SourceFormatError
from mlm_explorer.corpus.text import MIN_WORDS

NAME = "wordnet"

WORDNET_DIR = Path("/usr/share/wordnet")
POS_FILES = {"noun": "data.noun", "verb": "data.verb", "adj": "data.adj", "adv": "data.adv"}


@dataclass(frozen=True)
class Synset:
    """The parts of one WordNet data line that the corpus uses."""

    pos: str
    lemmas: tuple[str, ...]
    definitions: tuple[str, ...]
    examples: tuple[str, ...]


def _split_gloss(gloss: str) -> tuple[list[str], list[str]]:
    """Split a gloss on ``;`` outside double quotes into definitions and examples."""
    parts, buf, in_quote = [], [], False
    for ch in gloss:
        if ch == '"':
            in_quote = not in_quote
        if ch == ";" and not in_quote:
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    definitions, examples = [], []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        quoted = re.findall(r'"([^"]+)"', part)
        if quoted:
            examples.extend(q.strip() for q in quoted)
            rest = re.sub(r'"[^"]*"', "", part).strip(" -,")
            if len(rest.split()) >= MIN_WORDS:
                definitions.append(rest)
        else:
            definitions.append(part)
    return definitions, examples


def lemma_text(lemma: str) -> str:
    """A data-file lemma as text: the adjective marker ``(a)``/``(p)``/``(ip)`` dropped, ``_`` as spaces."""
    return re.sub(r"\(.*\)$", "", lemma).replace("_", " ")


def parse_wordnet_line(line: str, pos: str) -> Synset | None:
    """Parse one line of a WordNet ``data.*`` file (format: wndb(5WN)); None for the header."""
    if line.startswith("  ") or " | " not in line:
        return None
    head, gloss = line.split(" | ", 1)
    fields = head.split()
    n_words = int(fields[3], 16)  # w_cnt is hexadecimal
    lemmas = tuple(lemma_text(fields[4 + 2 * i]) for i in range(n_words))
    definitions, examples = _split_gloss(gloss.strip())
    return Synset(pos=pos, lemmas=lemmas, definitions=tuple(definitions), examples=tuple(examples))


def read_wordnet(folder: Path = WORDNET_DIR) -> Iterator[Synset]:
    """Every synset of the four WordNet data files under ``folder``."""
    for pos, name in POS_FILES.items():
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: install WordNet (`apt-get install wordnet-base`) or pass --wordnet DIR."
            )
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                synset = parse_wordnet_line(line, pos)
                if synset is not None:
                    yield synset


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith((".", "!", "?")) else text + "."


def definitional_sentence(synset: Synset) -> str | None:
    """The first definition as a sentence about the first lemma.

    Nouns: "Paris is the capital and largest city of France." Verbs: "To sigh
    is to heave or utter a sigh." Adjectives and adverbs: "Quick means ...".
    """
    if not synset.definitions or not synset.lemmas:
        return None
    lemma = synset.lemmas[0]
    # Drop a leading domain label such as "(Greek mythology)".
    definition = re.sub(r"^\([^)]*\)\s*", "", synset.definitions[0])
    if not definition:
        return None
    if synset.pos == "noun":
        # A common noun needs its article too ("A dog is ..."); a name does not ("Paris is ...").
        subject = with_article(lemma) if lemma[:1].islower() else lemma
        return _sentence(f"{subject} is {with_article(definition)}")
    if synset.pos == "verb":
        return _sentence(f"to {lemma} is to {definition}")
    return _sentence(f"{lemma} means {definition}")


_DETERMINERS = {
    "a",
    "an",
    "the",
    "any",
    "one",
    "some",
    "each",
    "every",
    "either",
    "neither",
    "no",
    "this",
    "that",
    "these",
    "those",
    "its",
    "his",
    "her",
    "their",
    "our",
    "your",
    "my",
    "all",
    "both",
    "two",
    "three",
    "many",
    "much",
    "more",
    "most",
    "several",
    "something",
    "someone",
    "somebody",
    "anything",
    "used",
}


def with_article(definition: str) -> str:
    """Prefix "a"/"an" to a noun gloss that starts with a bare noun phrase.

    WordNet glosses drop the article ("plant grown for its leaves"); in a
    sentence English needs it ("Rapini is a plant grown for its leaves").
    """
    first = definition.split()[0].lower()
    if first in _DETERMINERS or not first[:1].isalpha():
        return definition
    return ("an " if first[0] in "aeiou" else "a ") + definition


def synset_lines(synset: Synset) -> Iterator[str]:
    """The corpus lines one synset contributes."""
    yield from (_sentence(e) for e in synset.examples)
    made = definitional_sentence(synset)
    if made:
        yield made
    yield from synset.definitions[1:]


def find(roots: Sequence[Path]) -> Found | None:
    candidates = [root / "deb" / "wordnet-base" / "usr/share/wordnet" for root in roots] + [WORDNET_DIR]
    for folder in candidates:
        if all((folder / name).is_file() for name in POS_FILES.values()):
            return Found(folder, "3.0", "installed" if folder == WORDNET_DIR else "fetched")
    return None


def read(found: Found) -> Iterator[str]:
    try:
        for synset in read_wordnet(found.path):
            yield from synset_lines(synset)
    except (ValueError, IndexError) as err:
        raise SourceFormatError(NAME, f"a data line does not parse as wndb(5WN) ({err})") from None


SOURCE = Source(
    name=NAME,
    title="WordNet 3.0: example sentences, glosses as definitional sentences, other gloss clauses",
    package="Debian wordnet-base",
    install="apt-get install wordnet-base, or run scripts/fetch_corpus_sources.sh",
    licence="WordNet 3.0 licence (use and redistribution with its notice; see LICENSE-WORDNET)",
    attribution=(
        "WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved. Used and "
        "redistributed under the WordNet 3.0 licence."
    ),
    max_share=0.30,  # dictionary register: what the first model learned from; now one voice of several
    find=find,
    read=read,
)
