"""Build a pretraining corpus from licence-clean text a user can get from package registries.

One small reader per source (Wikipedia leads, the World Factbook, Jane Austen,
State of the Union addresses, the World English Bible, WordNet and WordNet's links
between words as sentences), each reading
only the data files of a fetched or installed package; :mod:`.build` mixes
them with a cap per source and writes the corpus with its SOURCES.md.

This package writes text files; it does not tokenize or train.
"""

from mlm_explorer.corpus.base import Found, Source, SourceFormatError, SourceNotInstalled
from mlm_explorer.corpus.build import (
    SOURCES,
    CorpusConfig,
    CorpusStats,
    SourceStats,
    build_corpus,
    word_quotas,
)
from mlm_explorer.corpus.text import dedupe, is_heldout, keep, normalise, split_sentences
from mlm_explorer.corpus.wordnet import definitional_sentence, parse_wordnet_line, with_article

__all__ = [
    "SOURCES", "CorpusConfig", "CorpusStats", "Found", "Source", "SourceFormatError", "SourceNotInstalled",
    "SourceStats", "build_corpus", "dedupe", "definitional_sentence", "is_heldout", "keep", "normalise",
    "parse_wordnet_line", "split_sentences", "with_article", "word_quotas",
]
