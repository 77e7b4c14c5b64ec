"""Jane Austen's six novels from the R package ``janeaustenr`` (Debian ``r-cran-janeaustenr``).

The novels are stored as R character vectors (one printed line each) in the
package's lazy-load data ``data/Rdata.rdx`` / ``Rdata.rdb``, read with
:mod:`mlm_explorer.corpus.rdata` (no R needed). The novels are in the public
domain; the package (MIT) only packs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlm_explorer.corpus.base import Found, Source, SourceFormatError, debian_control_field, first_existing
from mlm_explorer.corpus.rdata import read_lazyload
from mlm_explorer.corpus.text import split_sentences

NAME = "austen"
PACKAGE_DIR = Path("usr/lib/R/site-library/janeaustenr")
NOVELS = ("emma", "mansfieldpark", "northangerabbey", "persuasion", "prideprejudice", "sensesensibility")


def find(roots: Sequence[Path]) -> Found | None:
    candidates = [root / "deb" / "r-cran-janeaustenr" / PACKAGE_DIR for root in roots]
    folder = first_existing([c for c in candidates] + [Path("/") / PACKAGE_DIR])
    if folder is None or not (folder / "data" / "Rdata.rdb").is_file():
        return None
    origin = "installed" if folder == Path("/") / PACKAGE_DIR else "fetched"
    return Found(folder, debian_control_field(folder / "DESCRIPTION", "Version"), origin)


def paragraphs(lines: list[str]) -> Iterator[str]:
    """Printed lines joined into paragraphs (blank lines separate them)."""
    buffer: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            buffer.append(line.strip())
        elif buffer:
            yield " ".join(buffer)
            buffer = []


def read(found: Found) -> Iterator[str]:
    try:
        objects = read_lazyload(found.path / "data")
    except (ValueError, OSError, EOFError) as err:
        raise SourceFormatError(NAME, f"cannot read the R data ({err})") from None
    missing = [n for n in NOVELS if not isinstance(objects.get(n), list)]
    if missing:
        raise SourceFormatError(NAME, f"no character vector for {', '.join(missing)}")
    for novel in NOVELS:
        for paragraph in paragraphs([line or "" for line in objects[novel]]):
            # Project Gutenberg marks italics with underscores: _very_ -> very.
            yield from split_sentences(re.sub(r"_(\S[^_]*?)_", r"\1", paragraph).replace("_", ""))


SOURCE = Source(
    name=NAME,
    title="Jane Austen's six completed novels",
    package="Debian r-cran-janeaustenr (CRAN janeaustenr)",
    install="apt-get install r-cran-janeaustenr, or run scripts/fetch_corpus_sources.sh",
    licence="public domain (the novels); the package is MIT",
    attribution="Jane Austen's novels from Project Gutenberg, as packaged in janeaustenr by Julia Silge.",
    max_share=0.25,
    find=find,
    read=read,
)
