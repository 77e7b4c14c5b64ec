"""The World English Bible from the SWORD module in Debian ``sword-text-web``.

A SWORD ``zText`` module (CrossWire, ``src/modules/texts/ztext``) stores each
testament in three files: ``ot.bzs`` / ``nt.bzs`` (blocks: offset, compressed
size, size; little-endian uint32 each), ``*.bzz`` (zlib-compressed blocks, one
per book with ``BlockType=BOOK``) and ``*.bzv`` (one entry per verse: block
number, offset and size in the decompressed block; uint32, uint32, uint16).
Verse text is OSIS XML; notes and titles are dropped, the rest becomes plain
text, joined per book and split into sentences.

The World English Bible is public domain. Its publisher asks that a changed
text not be called "World English Bible"; the corpus keeps sentences of it,
so SOURCES.md says "text from the World English Bible".
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlm_explorer.corpus.base import Found, Source, SourceFormatError
from mlm_explorer.corpus.text import normalise, split_sentences, strip_markup

NAME = "bible"
SWORD_DIR = Path("usr/share/sword")
MODULE = "engweb2015eb"  # the module's id, compared case-insensitively
_DROP = re.compile(r"<(note|title)\b[^>]*>.*?</\1>", re.DOTALL)


def read_conf(path: Path) -> dict[str, str]:
    """``Key=Value`` lines of a SWORD module .conf (the first value of a repeated key)."""
    conf: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            conf.setdefault(key.strip(), value.strip())
    return conf


def _conf_in(library: Path) -> Path | None:
    folder = library / "mods.d"
    if not folder.is_dir():
        return None
    return next((p for p in sorted(folder.glob("*.conf")) if p.stem.lower() == MODULE), None)


def find(roots: Sequence[Path]) -> Found | None:
    candidates = [root / "deb" / "sword-text-web" / SWORD_DIR for root in roots] + [Path("/") / SWORD_DIR]
    for library in candidates:
        conf = _conf_in(library)
        if conf is not None:
            origin = "installed" if library == Path("/") / SWORD_DIR else "fetched"
            return Found(conf, read_conf(conf).get("Version", "unknown"), origin)
    return None


def verses(module: Path, testament: str) -> Iterator[tuple[int, str]]:
    """(block number, OSIS text) of every non-empty verse entry of one testament."""
    blocks_raw = (module / f"{testament}.bzs").read_bytes()
    index_raw = (module / f"{testament}.bzv").read_bytes()
    data = (module / f"{testament}.bzz").read_bytes()
    if len(blocks_raw) % 12 or len(index_raw) % 10:
        raise ValueError(f"{testament}.bzs/.bzv sizes are not whole entries")
    blocks = [struct.unpack_from("<III", blocks_raw, i) for i in range(0, len(blocks_raw), 12)]
    cache: dict[int, bytes] = {}
    for i in range(0, len(index_raw), 10):
        block, start, size = struct.unpack_from("<IIH", index_raw, i)
        if size == 0:
            continue
        if block not in cache:
            cache.clear()  # verses come block by block; keep one decompressed book
            offset, csize, usize = blocks[block]
            cache[block] = zlib.decompress(data[offset : offset + csize])
            if len(cache[block]) != usize:
                raise ValueError(f"block {block} decompresses to {len(cache[block])} bytes, not {usize}")
        yield block, cache[block][start : start + size].decode("utf-8", errors="replace")


def read(found: Found) -> Iterator[str]:
    conf = read_conf(found.path)
    expected = {"ModDrv": "zText", "CompressType": "ZIP", "SourceType": "OSIS"}
    wrong = {k: conf.get(k) for k, v in expected.items() if conf.get(k, "").lower() != v.lower()}
    if wrong:
        raise SourceFormatError(NAME, f"module settings {wrong} differ from {expected}")
    module = found.path.parents[1] / conf.get("DataPath", "").lstrip("./")
    try:
        for testament in ("ot", "nt"):
            book, text = None, []
            for block, osis in verses(module, testament):
                if block != book and text:
                    yield from split_sentences(" ".join(text))
                    text = []
                book = block
                text.append(normalise(strip_markup(_DROP.sub(" ", osis))))
            if text:
                yield from split_sentences(" ".join(text))
    except (OSError, ValueError, IndexError, struct.error, zlib.error) as err:
        raise SourceFormatError(NAME, f"cannot read the zText module ({err})") from None


SOURCE = Source(
    name=NAME,
    title="World English Bible (with Deuterocanon), SWORD module engWEB2015eb",
    package="Debian sword-text-web",
    install="apt-get install sword-text-web, or run scripts/fetch_corpus_sources.sh",
    licence="public domain",
    attribution=(
        'Sentences from the World English Bible (public domain, https://ebible.org/web/); "World English '
        'Bible" is a trademark of eBible.org, and this selection is not the World English Bible.'
    ),
    max_share=0.15,  # archaic register and repetitive genealogies: a small share only
    find=find,
    read=read,
)
