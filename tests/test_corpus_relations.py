"""The relations source: WordNet's links between common words as sentences, on a WordNet made here.

Also the corpus's decontamination: the evaluation sentences never reach a corpus.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from mlm_explorer.cli import main
from mlm_explorer.corpus import CorpusConfig, SourceFormatError, build_corpus, relations
from mlm_explorer.corpus.build import evaluation_sentences

# A tiny WordNet in the wndb(5WN) format: offsets are line ids, pointers "symbol offset pos source/target".
DATA = {
    "data.adj": [
        "00000001 00 a 01 hot 0 002 ! 00000002 a 0101 = 00000010 n 0000 | used of physical heat",
        "00000002 00 a 01 cold 0 002 ! 00000001 a 0101 = 00000010 n 0000 | having a low temperature",
        "00000003 00 a 02 big 0 large 0 000 | above average in size",
        "00000004 00 s 01 tepid 0 001 ! 00000005 a 0101 | moderately warm",
        "00000005 00 a 01 lukewarm 0 001 ! 00000004 s 0101 | not hot and not cold",
    ],
    "data.noun": [
        "00000010 07 n 01 temperature 0 000 | the degree of hotness or coldness",
        "00000020 05 n 01 animal 0 000 | a living organism",
        "00000030 05 n 02 dog 0 domestic_dog 0 002 @ 00000020 n 0000 %p 00000040 n 0000 | a canine",
        "00000040 08 n 01 tail 0 000 | the hindmost part of an animal",
        "00000050 15 n 01 Paris 0 002 @i 00000060 n 0000 #p 00000070 n 0000 | the capital of France",
        "00000060 15 n 01 city 0 000 | a large town",
        "00000070 15 n 01 France 0 000 | a country of Europe",
        "00000080 18 n 01 Shakespeare 0 001 @i 00000090 n 0000 | English poet and dramatist",
        "00000090 18 n 01 writer 0 000 | a person who writes",
        "00000100 27 n 01 ice 0 001 %s 00000110 n 0000 | water frozen in the solid state",
        "00000110 27 n 01 water 0 000 | a clear liquid",
        "00000120 14 n 01 team 0 001 %m 00000130 n 0000 | people who play together",
        "00000130 18 n 01 player 0 000 | a person who plays",
        "00000140 18 n 01 child 0 000 | a young person",
        "00000150 14 n 01 family 0 001 %m 00000140 n 0000 | a social unit",
        "00000160 04 n 01 cry 0 000 | a loud utterance",
    ],
    "data.verb": [
        "00000200 38 v 01 go 0 000 01 + 02 00 | move",
        "00000210 30 v 01 begin 0 000 01 + 02 00 | take the first step",
        "00000220 32 v 01 teach 0 000 01 + 02 00 | impart skills",
        "00000230 41 v 01 abet 0 000 01 + 02 00 | assist",
        "00000240 39 v 01 show 0 000 01 + 02 00 | make visible",
    ],
    "data.adv": [],
}
COUNTS = {  # lemma, pos, SemCor tags: below relations.MIN_COUNT a word is not common
    "hot": ("a", 35), "cold": ("a", 30), "big": ("a", 20), "large": ("a", 25), "tepid": ("a", 1),
    "lukewarm": ("a", 1), "temperature": ("n", 10), "animal": ("n", 40), "dog": ("n", 30),
    "tail": ("n", 8), "city": ("n", 50), "writer": ("n", 12), "ice": ("n", 9), "water": ("n", 60),
    "team": ("n", 15), "player": ("n", 11), "child": ("n", 80), "go": ("v", 500), "begin": ("v", 90),
    "teach": ("v", 40), "abet": ("v", 3), "show": ("v", 70), "family": ("n", 20), "cry": ("n", 9),
}
EXCEPTIONS = {
    "noun.exc": "children child\ncryings cry\n",
    "verb.exc": "went go\ngone go\nbegan begin\nbegun begin\ntaught teach\nabetted abet\nshown show\n",
    "adj.exc": "bigger big\nbiggest big\n",
}
SS_TYPE = {"n": 1, "v": 2, "a": 3, "r": 4}


def write_wordnet(folder: Path) -> Path:
    """The files the relations source reads, consistent with each other."""
    folder.mkdir(parents=True, exist_ok=True)
    offsets: dict[tuple[str, str], str] = {}
    for name, lines in DATA.items():
        (folder / name).write_text("  1 licence header line\n" + "".join(f"{line}  \n" for line in lines))
        for line in lines:
            fields = line.split()
            for i in range(int(fields[3], 16)):
                offsets[("a" if fields[2] == "s" else fields[2], fields[4 + 2 * i].lower())] = fields[0]
    for pos, name in relations.INDEX_FILES.items():
        rows = [f"{lemma} {p} 1 0 1 1 {offset}  "  # one sense, no pointer symbols, one tagged
                for (p, lemma), offset in sorted(offsets.items()) if p == pos]
        (folder / name).write_text("  1 licence header line\n" + "\n".join(rows) + "\n")
    cntlist = [f"{lemma}%{SS_TYPE[pos]}:00:00:: 1 {tags}" for lemma, (pos, tags) in COUNTS.items()]
    (folder / "cntlist.rev").write_text("\n".join(cntlist) + "\n")
    for name, text in EXCEPTIONS.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def wordnet_dir(tmp_path: Path) -> Path:
    return write_wordnet(tmp_path / "deb" / "wordnet-base" / "usr/share/wordnet")


@pytest.fixture
def made(wordnet_dir: Path) -> list[str]:
    return list(relations.sentences(relations.read_lexicon(wordnet_dir)))


def filled(templates, **words: str) -> set[str]:
    return {relations._fill(t, **words) for t in templates}


def test_data_lines_parse_with_their_pointers() -> None:
    entry = relations.parse_data_line(DATA["data.adj"][3] + "  \n", "a")
    assert entry.lemmas == ("tepid",) and entry.offset == 4
    assert entry.pointers == (relations.Pointer("!", ("a", 5), 1, 1),)
    verb = relations.parse_data_line(DATA["data.verb"][0], "v")
    assert verb.lemmas == ("go",) and verb.pointers == ()  # the frames after the pointers are not pointers
    assert relations.parse_data_line("  1 licence header line\n", "n") is None


def test_counts_follow_the_sense_numbers_of_the_index() -> None:
    index = {"n": ["bank n 2 0 2 2 00000001 00000002  "]}
    counts = relations.parse_counts(["bank%1:14:00:: 2 5", "bank%1:17:00:: 1 20"], index)
    assert counts == {("n", 2, "bank"): 5, ("n", 1, "bank"): 20}


def test_each_relation_becomes_a_plain_sentence(made: list[str]) -> None:
    expected = {
        "opposites": filled(relations.ANTONYM_TEMPLATES, a="hot", b="cold"),
        "kinds": filled(relations.KIND_TEMPLATES, x="dog", y="animal", a_x="a dog", a_y="an animal"),
        "places": filled(relations.PLACE_TEMPLATES, x="Paris", y="city", z="France", a_y="a city"),
        "people": filled(relations.PERSON_TEMPLATES, x="Shakespeare", y="writer", a_y="a writer"),
        "parts": filled(relations.PART_TEMPLATES, whole="dog", part="tail", a_whole="a dog", a_part="a tail"),
        "substances": filled(relations.SUBSTANCE_TEMPLATES, whole="ice", part="water"),
        "members": filled(relations.MEMBER_TEMPLATES, whole="team", part="player", a_whole="a team",
                          a_part="a player"),
        "synonyms": filled(relations.SYNONYM_TEMPLATES, a="large", b="big"),
        "plurals": filled(relations.PLURAL_TEMPLATES, s="child", p="children"),
        "past": filled(relations.PAST_TEMPLATES, v="go", past="went"),
        "taught": filled(relations.PAST_TEMPLATES, v="teach", past="taught"),
    }
    for relation, sentences in expected.items():
        assert sentences & set(made), (relation, sorted(sentences))
    assert len(filled(relations.ANTONYM_TEMPLATES, a="hot", b="cold") & set(made)) == 2  # two phrasings
    for sentence in ("Temperature can be cold or hot.", "Gone is the past participle of go.",
                     "Begun is the past participle of begin.", "If this one is big, that one is even bigger.",
                     "It is big, but that one is the biggest of all."):
        assert sentence in made, sentence


def test_rare_words_and_regular_spellings_are_left_out(made: list[str]) -> None:
    text = "\n".join(made).lower()
    assert "tepid" not in text and "lukewarm" not in text  # tagged once: not a common word
    assert "abetted" not in text  # verb.exc also lists regular spellings
    assert "went is the past participle" not in text
    assert "yesterday i shown" not in text and "shown is the past participle of show." in text
    assert "childs" not in text
    assert "a child belongs to a family." in text or "a child is a member of a family." in text
    assert "cryings" not in text  # noun.exc's plural of a gerund
    assert "every " not in text  # "every information is ...": mass nouns take no "every"


@pytest.mark.parametrize("forms, expected", [
    (["gone", "went"], ("went", "gone")),
    (["wrote", "written"], ("wrote", "written")),
    (["began", "begun"], ("began", "begun")),
    (["taught"], ("taught", "taught")),
    (["shown"], (None, "shown")),  # verb.exc often lists only the participle
    (["taught", "teaching"], ("taught", "taught")),
    (["lay", "lain", "lied"], (None, None)),  # three forms: not clear which is which
])
def test_past_and_participle(forms: list[str], expected: tuple) -> None:
    assert relations._past_and_participle(forms) == expected


def test_names_take_the_where_english_does() -> None:
    assert relations._a("United States") == "the United States"
    assert relations._a("France") == "France"
    assert relations._a("animal") == "an animal"


def test_the_source_builds_into_a_corpus(wordnet_dir: Path, tmp_path: Path) -> None:
    root = wordnet_dir.parents[4]
    stats = build_corpus(tmp_path / "c", CorpusConfig(source_dirs=(root,), sources=("relations",),
                                                      gzip=False))
    assert [s.name for s in stats.sources] == ["relations"] and stats.sources[0].repeat == 2
    text = (tmp_path / "c" / "train.txt").read_text() + (tmp_path / "c" / "heldout.txt").read_text()
    assert "One child, two children." in text or "The plural of child is children." in text
    assert "relations" in (tmp_path / "c" / "SOURCES.md").read_text()


def test_a_broken_file_names_the_source(wordnet_dir: Path) -> None:
    (wordnet_dir / "cntlist.rev").write_text("this is not a cntlist line\n")
    found = relations.find([wordnet_dir.parents[4]])
    with pytest.raises(SourceFormatError, match="relations"):
        list(relations.read(found))


def test_without_the_count_files_the_source_is_not_found(wordnet_dir: Path) -> None:
    (wordnet_dir / "cntlist.rev").unlink()
    assert relations.find([wordnet_dir.parents[4]]) is None


# ----------------------------------------------------------------------------- decontamination


def test_evaluation_sentences_fill_every_answer_and_take_both_sides(tmp_path: Path) -> None:
    cloze = tmp_path / "cloze.jsonl"
    item = {"text": "The opposite of hot is [MASK].", "answers": ["cold", "chilly"]}
    cloze.write_text(json.dumps(item) + "\n")
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("grammatical\tungrammatical\tphenomenon\nThe dogs bark.\tThe dogs barks.\tagreement\n")
    assert evaluation_sentences([cloze, pairs]) == {
        "The opposite of hot is cold.", "The opposite of hot is chilly.", "The dogs bark.", "The dogs barks."}
    with pytest.raises(ValueError, match="jsonl"):
        evaluation_sentences([tmp_path / "x.txt"])


def test_the_corpus_never_holds_an_evaluation_sentence(wordnet_dir: Path, tmp_path: Path) -> None:
    root = wordnet_dir.parents[4]
    config = CorpusConfig(source_dirs=(root,), sources=("relations",), gzip=False)
    build_corpus(tmp_path / "all", config)
    everything = set((tmp_path / "all" / "train.txt").read_text().splitlines()) | set(
        (tmp_path / "all" / "heldout.txt").read_text().splitlines())
    victim = sorted(everything)[0]
    build_corpus(tmp_path / "clean", replace(config, exclude=frozenset({victim.upper()})))
    clean = (tmp_path / "clean" / "train.txt").read_text() + (tmp_path / "clean" / "heldout.txt").read_text()
    assert victim not in clean.splitlines()  # matched case-insensitively, like dedupe
    assert len(clean.splitlines()) < len((tmp_path / "all" / "train.txt").read_text().splitlines()) + len(
        (tmp_path / "all" / "heldout.txt").read_text().splitlines())


@pytest.mark.parametrize("line", ["[1]", '{"text": "A [MASK].", "answers": null}', '{"answers": ["x"]}', "{"])
def test_cli_exclude_bad_cloze_file_is_a_clear_error(tmp_path: Path, capsys, line: str) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(line + "\n")
    code = main(["corpus", "--exclude", str(bad), "--out", str(tmp_path / "c")])
    assert code == 2
    assert "--exclude" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_cli_exclude_file_must_exist(tmp_path: Path, capsys) -> None:
    code = main(["corpus", "--exclude", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "c")])
    assert code == 2
    assert capsys.readouterr().err == f"error: No such file: {tmp_path / 'nope.jsonl'}\n"
    assert not (tmp_path / "c").exists()
