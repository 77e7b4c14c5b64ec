"""WordNet 3.0's links between common words, said in plain sentences.

The ``wordnet`` source reads glosses and examples: it defines one word at a
time. What a class asks an encoder first is usually the *link* between two
words ("The opposite of up is [MASK].", "Paris is a city in [MASK].", "Ice is
made of [MASK].", "One child, two [MASK]."), and WordNet stores those links as
pointers that no gloss spells out. This reader writes each link between common
words as a short sentence, as the Factbook reader turns a country's fields into
sentences:

- antonyms (``!``): "The opposite of hot is cold.";
- kinds (``@`` hypernym): "A dog is a kind of animal."; names (``@i`` instance,
  with ``#p`` part holonym): "Paris is a city in France.";
- parts (``%p``), substances (``%s``) and members (``%m``): "A car has a wheel.",
  "Ice is made of water.", "A player is a member of a team.";
- synonyms (lemmas of one synset): "Big means the same as large.";
- irregular forms (``noun.exc``, ``verb.exc``, ``adj.exc``): "The plural of
  child is children.", "Today I go; yesterday I went.";
- attributes (``=``) with an antonym pair: "Temperature can be hot or cold."

Each link gets phrasings picked by a hash of the words (fixed, varied across
links) so the model learns the relation rather than one template. "Common"
means the word sense was tagged at least ``MIN_COUNT`` times in the SemCor
counts WordNet ships (``cntlist.rev``); names (instances) need no count.
Same files and licence as the ``wordnet`` source (Debian ``wordnet-base``).
File formats: wndb(5WN), wninput(5WN) and cntlist(5WN) of the WordNet manual.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlm_explorer.corpus import wordnet
from mlm_explorer.corpus.base import Found, Source, SourceFormatError

NAME = "relations"
MIN_COUNT = 3  # SemCor tags of a word sense for it to count as common (cntlist.rev)
DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
INDEX_FILES = {"n": "index.noun", "v": "index.verb", "a": "index.adj", "r": "index.adv"}
EXCEPTION_FILES = {"n": "noun.exc", "v": "verb.exc", "a": "adj.exc"}
_SS_TYPE_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}  # sense keys: 5 = adjective satellite
_PERSON_LEXFILE = 18  # noun.person (lexnames(5WN)): instances there are people ("Shakespeare was ...")


@dataclass(frozen=True)
class Pointer:
    """One pointer of a data line: its symbol, target synset and, for lexical pointers, the words."""

    symbol: str
    target: tuple[str, int]  # (pos, offset)
    source_word: int  # 0: the whole synset (a semantic pointer); else 1-based word number
    target_word: int


@dataclass(frozen=True)
class Entry:
    """The parts of one synset that the relations use."""

    pos: str  # n, v, a, r (adjective satellites are "a")
    offset: int
    lexfile: int
    lemmas: tuple[str, ...]
    pointers: tuple[Pointer, ...]


@dataclass(frozen=True)
class Lexicon:
    """Synsets by (pos, offset), tag counts by (pos, offset, lemma), irregular forms by pos."""

    entries: Mapping[tuple[str, int], Entry]
    counts: Mapping[tuple[str, int, str], int]
    exceptions: Mapping[str, tuple[tuple[str, str], ...]]  # pos -> (inflected form, base form)
    totals: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (pos, lemma): all senses

    def count(self, entry: Entry, lemma: str) -> int:
        return self.counts.get((entry.pos, entry.offset, lemma.lower()), 0)

    def word_count(self, lemma: str, pos: str) -> int:
        """Tag count of a word over all its senses of one part of speech."""
        return self.totals.get((pos, lemma.lower()), 0)


def word_totals(counts: Mapping[tuple[str, int, str], int]) -> dict[tuple[str, str], int]:
    """Tag counts per (pos, lemma), summed over the lemma's senses."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for (pos, _offset, lemma), n in counts.items():
        totals[(pos, lemma)] += n
    return dict(totals)


def parse_data_line(line: str, pos: str) -> Entry | None:
    """One synset of a ``data.*`` file with its pointers (wndb(5WN)); None for the licence header."""
    if line.startswith("  ") or " | " not in line:
        return None
    fields = line.split(" | ", 1)[0].split()
    n_words = int(fields[3], 16)
    lemmas = tuple(wordnet.lemma_text(fields[4 + 2 * i]) for i in range(n_words))
    at = 4 + 2 * n_words
    n_pointers = int(fields[at])
    pointers = []
    for i in range(n_pointers):
        symbol, offset, target_pos, words = fields[at + 1 + 4 * i : at + 5 + 4 * i]
        target = ("a" if target_pos == "s" else target_pos, int(offset))
        pointers.append(Pointer(symbol, target, int(words[:2], 16), int(words[2:], 16)))
    return Entry(pos, int(fields[0]), int(fields[1]), lemmas, tuple(pointers))


def parse_counts(
    cntlist: Sequence[str], index: Mapping[str, Sequence[str]]
) -> dict[tuple[str, int, str], int]:
    """Tag counts per (pos, offset, lemma) from ``cntlist.rev`` lines and the ``index.*`` lines.

    A cntlist line is ``sense_key sense_number tag_count``; the sense number is the
    position of the synset among the lemma's offsets in ``index.<pos>`` (most frequent first).
    """
    offsets: dict[tuple[str, str], list[int]] = {}
    for pos, lines in index.items():
        for line in lines:
            if line.startswith(" ") or not line.strip():
                continue  # the licence header, blank lines
            fields = line.split()
            n_synsets, first = int(fields[2]), 6 + int(fields[3])  # offsets follow the pointer symbols
            offsets[(pos, fields[0])] = [int(o) for o in fields[first : first + n_synsets]]
    counts: dict[tuple[str, int, str], int] = {}
    for line in cntlist:
        key, number, tags = line.split()
        lemma, rest = key.split("%", 1)
        pos = _SS_TYPE_POS[rest[0]]
        senses = offsets.get((pos, lemma))
        if senses and 0 < int(number) <= len(senses):
            offset = senses[int(number) - 1]
            counts[(pos, offset, lemma.replace("_", " "))] = int(tags)
    return counts


def read_lexicon(folder: Path) -> Lexicon:
    """Parse the WordNet files under ``folder`` (the ``wordnet`` source's folder)."""
    entries: dict[tuple[str, int], Entry] = {}
    for pos, name in DATA_FILES.items():
        with (folder / name).open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                entry = parse_data_line(line, pos)
                if entry is not None:
                    entries[(pos, entry.offset)] = entry
    index = {pos: (folder / name).read_text(encoding="utf-8", errors="replace").splitlines()
             for pos, name in INDEX_FILES.items()}
    counts = parse_counts((folder / "cntlist.rev").read_text(encoding="utf-8").splitlines(), index)
    exceptions = {}
    for pos, name in EXCEPTION_FILES.items():
        pairs = []
        for line in (folder / name).read_text(encoding="utf-8", errors="replace").splitlines():
            fields = line.split()
            pairs.extend((fields[0].replace("_", " "), base.replace("_", " ")) for base in fields[1:])
        exceptions[pos] = tuple(pairs)
    return Lexicon(entries, counts, exceptions, word_totals(counts))


# --- phrasing ----------------------------------------------------------------------------------

def _pick(key: str, templates: Sequence[str], n: int = 1) -> list[str]:
    """``n`` templates chosen by a hash of ``key``: fixed for a link, varied across links."""
    start = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=4).digest(), "big")
    return [templates[(start + i) % len(templates)] for i in range(min(n, len(templates)))]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# Names that English says with "the" ("Maryland is a state in the United States").
_THE_NAMES = re.compile(
    r"^(United |Republic )|( Islands| States| Kingdom| Republic)$"
    r"|^(Netherlands|Philippines|Bahamas|Maldives|Gambia|Alps|Andes|Himalayas|Sahara|Vatican)$"
)


def _a(noun: str) -> str:
    """The noun with "a"/"an"; a name (capitalised) as it is, or with "the" where English has it."""
    if noun[:1].isupper():
        return _name(noun)
    return wordnet.with_article(noun)


def _name(name: str) -> str:
    return f"the {name}" if _THE_NAMES.search(name) else name


def _fill(template: str, **words: str) -> str:
    return _cap(template.format(**words))


# --- relations ---------------------------------------------------------------------------------

def _common(lexicon: Lexicon, entry: Entry, minimum: int = MIN_COUNT) -> list[str]:
    """The entry's lemmas whose sense is common, most tagged first."""
    scored = [(lexicon.count(entry, lemma), i, lemma) for i, lemma in enumerate(entry.lemmas)]
    return [lemma for n, _i, lemma in sorted(scored, key=lambda t: (-t[0], t[1])) if n >= minimum]


ANTONYM_TEMPLATES = (
    "the opposite of {a} is {b}.",
    "{a} is the opposite of {b}.",
    "{a} and {b} are opposites.",
    "the word {a} means the opposite of {b}.",
)


def antonym_sentences(lexicon: Lexicon) -> Iterator[str]:
    for entry in lexicon.entries.values():
        for p in entry.pointers:
            if p.symbol != "!" or not p.source_word or p.target not in lexicon.entries:
                continue
            other = lexicon.entries[p.target]
            a, b = entry.lemmas[p.source_word - 1], other.lemmas[p.target_word - 1]
            if lexicon.count(entry, a) >= MIN_COUNT and lexicon.count(other, b) >= MIN_COUNT:
                for t in _pick(f"!{a}|{b}", ANTONYM_TEMPLATES, 2):
                    yield _fill(t, a=a, b=b)


KIND_TEMPLATES = (
    "{a_x} is a kind of {y}.",
    "{a_x} is {a_y}.",
    "{a_x} is a type of {y}.",
)
INSTANCE_TEMPLATES = ("{x} is {a_y}.", "{x} is the name of {a_y}.")
PLACE_TEMPLATES = ("{x} is {a_y} in {z}.", "{x} is in {z}.", "{x} is {a_y} of {z}.")
PERSON_TEMPLATES = ("{x} was {a_y}.", "{x} was a famous {y}.")


def _hypernym_words(lexicon: Lexicon, entry: Entry, depth: int = 2) -> list[str]:
    """Common words for the entry's hypernyms, going one level higher where a parent has none."""
    words = []
    for p in entry.pointers:
        if p.symbol in ("@", "@i") and p.target in lexicon.entries:
            parent = lexicon.entries[p.target]
            common = _common(lexicon, parent)
            if common:
                words.append(common[0])
            elif depth > 1:
                words.extend(_hypernym_words(lexicon, parent, depth - 1))
    return list(dict.fromkeys(words))


def kind_sentences(lexicon: Lexicon) -> Iterator[str]:
    for entry in lexicon.entries.values():
        if entry.pos != "n":
            continue
        instance = any(p.symbol == "@i" for p in entry.pointers)
        subjects = entry.lemmas[:2] if instance else _common(lexicon, entry)[:2]
        for x in subjects:
            for y in _hypernym_words(lexicon, entry):
                if y.lower() == x.lower():
                    continue
                if not instance:
                    for t in _pick(f"@{x}|{y}", KIND_TEMPLATES):
                        yield _fill(t, x=x, y=y, a_x=_a(x), a_y=_a(y))
                elif entry.lexfile == _PERSON_LEXFILE:
                    for t in _pick(f"@i{x}|{y}", PERSON_TEMPLATES):
                        yield _fill(t, x=x, y=y, a_y=_a(y))
                else:
                    wholes = [_name(lexicon.entries[p.target].lemmas[0]) for p in entry.pointers
                              if p.symbol == "#p" and p.target in lexicon.entries]
                    for z in wholes[:1]:
                        for t in _pick(f"@p{x}|{y}|{z}", PLACE_TEMPLATES):
                            yield _fill(t, x=x, y=y, z=z, a_y=_a(y))
                    if not wholes:
                        for t in _pick(f"@i{x}|{y}", INSTANCE_TEMPLATES):
                            yield _fill(t, x=x, y=y, a_y=_a(y))


PART_TEMPLATES = ("{a_part} is part of {a_whole}.", "{a_whole} has {a_part}.")
SUBSTANCE_TEMPLATES = ("{whole} is made of {part}.", "{whole} is made from {part}.")
MEMBER_TEMPLATES = ("{a_part} is a member of {a_whole}.", "{a_part} belongs to {a_whole}.")


def part_sentences(lexicon: Lexicon) -> Iterator[str]:
    templates = {"%p": PART_TEMPLATES, "%s": SUBSTANCE_TEMPLATES, "%m": MEMBER_TEMPLATES}
    for entry in lexicon.entries.values():
        for p in entry.pointers:
            if p.symbol not in templates or p.target not in lexicon.entries:
                continue
            whole_words, part_words = _common(lexicon, entry), _common(lexicon, lexicon.entries[p.target])
            if not whole_words or not part_words:
                continue
            whole, part = whole_words[0], part_words[0]
            if whole.lower() == part.lower() or (p.symbol == "%m" and whole[:1].isupper()):
                continue  # a genus (Bombus) is no group one is "a member of"
            whole, part = _name(whole), _name(part)
            for t in _pick(f"{p.symbol}{whole}|{part}", templates[p.symbol]):
                yield _fill(t, whole=whole, part=part, a_whole=_a(whole), a_part=_a(part))


SYNONYM_TEMPLATES = (
    "{a} means the same as {b}.",
    "another word for {a} is {b}.",
    "{a} and {b} mean the same thing.",
)


def synonym_sentences(lexicon: Lexicon) -> Iterator[str]:
    for entry in lexicon.entries.values():
        common = _common(lexicon, entry)[:3]
        for i, a in enumerate(common):
            for b in common[i + 1:]:
                if a.lower() != b.lower():
                    for t in _pick(f"={a}|{b}", SYNONYM_TEMPLATES):
                        yield _fill(t, a=a, b=b)


def attribute_sentences(lexicon: Lexicon) -> Iterator[str]:
    """ "Temperature can be hot or cold.": an attribute noun with an antonym pair of its adjectives."""
    for entry in lexicon.entries.values():
        if entry.pos != "a":
            continue
        for p in entry.pointers:
            if p.symbol != "!" or not p.source_word or p.target not in lexicon.entries:
                continue
            other = lexicon.entries[p.target]
            a, b = entry.lemmas[p.source_word - 1], other.lemmas[p.target_word - 1]
            if a > b or lexicon.count(entry, a) < MIN_COUNT or lexicon.count(other, b) < MIN_COUNT:
                continue  # each pair once (the pointer is there both ways)
            for q in entry.pointers:
                if q.symbol == "=" and q.target in lexicon.entries:
                    nouns = _common(lexicon, lexicon.entries[q.target], 1)
                    if nouns:
                        yield _fill("{n} can be {a} or {b}.", n=nouns[0], a=a, b=b)


def _is_common(lexicon: Lexicon, lemma: str, pos: str) -> bool:
    return lexicon.word_count(lemma, pos) >= MIN_COUNT


def _past_and_participle(forms: Sequence[str]) -> tuple[str | None, str | None]:
    """Which of a verb's irregular forms is the past and which the participle, where that is clear.

    One form: both ("taught"), or the participle alone if it ends in -n or -ne ("shown").
    Two: the one ending in -n or -ne is the participle ("went"/"gone",
    "wrote"/"written"), or the one with u where the other has a ("began"/"begun").
    """
    forms = [f for f in dict.fromkeys(forms) if not f.endswith("ing")]
    if len(forms) == 1:  # verb.exc often lists only the participle ("beaten beat", "shown show")
        return (None, forms[0]) if forms[0].endswith(("n", "ne")) else (forms[0], forms[0])
    if len(forms) != 2:
        return None, None
    x, y = forms
    if x.endswith(("n", "ne")) != y.endswith(("n", "ne")):
        return (y, x) if x.endswith(("n", "ne")) else (x, y)
    if len(x) == len(y):
        diff = [(c, d) for c, d in zip(x, y, strict=True) if c != d]
        if diff == [("a", "u")]:
            return x, y
        if diff == [("u", "a")]:
            return y, x
    return None, None


PLURAL_TEMPLATES = (
    "the plural of {s} is {p}.",
    "one {s}, two {p}.",
    "there was one {s}, and then there were many {p}.",
)
PAST_TEMPLATES = ("today I {v}; yesterday I {past}.", "I {v} every day, and yesterday I {past} too.")
PARTICIPLE_TEMPLATES = ("I have {pp} before.", "it has already been {pp}.")


def form_sentences(lexicon: Lexicon) -> Iterator[str]:
    for plural, singular in lexicon.exceptions.get("n", ()):
        # noun.exc also has plurals of gerunds ("cryings"): not the irregular plurals a class asks about.
        if plural != singular and _is_common(lexicon, singular, "n") and not plural.endswith("ings"):
            for t in _pick(f"pl{singular}|{plural}", PLURAL_TEMPLATES, 2):
                yield _fill(t, s=singular, p=plural)
    forms_of: dict[str, list[str]] = defaultdict(list)
    for form, base in lexicon.exceptions.get("v", ()):
        # verb.exc also lists regular spellings ("abetted", British "installed" of "instal"): not irregular.
        regular = form.startswith(base[:-1] if base.endswith("e") else base) and form.endswith(("ed", "ing"))
        if form != base and " " not in base and not regular:
            forms_of[base].append(form)
    for base, forms in forms_of.items():
        if not _is_common(lexicon, base, "v"):
            continue
        past, participle = _past_and_participle(forms)
        if past:
            for t in _pick(f"past{base}", PAST_TEMPLATES):
                yield _fill(t, v=base, past=past)
        if participle and participle != past:
            for t in _pick(f"pp{base}", PARTICIPLE_TEMPLATES):
                yield _fill(t, pp=participle)
                yield _fill("{pp} is the past participle of {v}.", pp=participle, v=base)
    for form, base in lexicon.exceptions.get("a", ()):
        if form == base or not _is_common(lexicon, base, "a"):
            continue
        if form.endswith("est"):
            yield _fill("it is {a}, but that one is the {f} of all.", a=base, f=form)
        elif form.endswith("er") or form in ("worse",):
            yield _fill("if this one is {a}, that one is even {f}.", a=base, f=form)


RELATIONS: tuple[Callable[[Lexicon], Iterator[str]], ...] = (
    antonym_sentences, attribute_sentences, kind_sentences, part_sentences, synonym_sentences,
    form_sentences,
)


def sentences(lexicon: Lexicon) -> Iterator[str]:
    for relation in RELATIONS:
        yield from relation(lexicon)


def find(roots: Sequence[Path]) -> Found | None:
    found = wordnet.find(roots)
    if found is None:
        return None
    needed = [*INDEX_FILES.values(), *EXCEPTION_FILES.values(), "cntlist.rev"]
    return found if all((found.path / name).is_file() for name in needed) else None


def read(found: Found) -> Iterator[str]:
    try:
        lexicon = read_lexicon(found.path)
    except (ValueError, IndexError, KeyError) as err:
        detail = f"a WordNet file does not parse as wndb/cntlist(5WN) ({err!r})"
        raise SourceFormatError(NAME, detail) from None
    yield from sentences(lexicon)


SOURCE = Source(
    name=NAME,
    title="WordNet 3.0 links between common words (opposites, kinds, parts, irregular forms) as sentences",
    package="Debian wordnet-base",
    install="apt-get install wordnet-base, or run scripts/fetch_corpus_sources.sh",
    licence="WordNet 3.0 licence (use and redistribution with its notice; see LICENSE-WORDNET)",
    attribution=wordnet.SOURCE.attribution,
    max_share=0.06,  # templated sentences: a few links each, not a register to imitate
    repeat=2,  # small (about 140,000 words): two copies so a run sees each link more than once
    find=find,
    read=read,
)
