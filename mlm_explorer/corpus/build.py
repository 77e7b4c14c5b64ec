"""Mix the sources into one pretraining corpus: dedupe, hold out, cap each share, write atomically.

Steps, in order:

1. each chosen source is found (fetched under a source folder, or installed)
   and read into sentences; lines are filtered (:func:`~mlm_explorer.corpus.text.keep`)
   and deduplicated across all sources (the first source in :data:`SOURCES`
   order keeps a shared sentence);
2. a fixed ~2% of every source is held out, decided by a hash of the line's
   text, so the split stays the same whatever else changes; each source's
   held-out lines are also written to ``heldout/<source>.txt`` so accuracy can
   be reported per source;
3. no source may make more than its ``max_share`` of the training words: the
   largest corpus that respects every cap is found, and a capped source keeps
   a fixed pseudo-random sample of its lines (ranked by a hash, so rebuilding
   gives the same sample);
4. everything is written into a temporary folder next to ``out`` and renamed
   into place at the end, so a failing source never leaves a half-written corpus.

Output: ``train.txt.gz`` (or ``train.txt``), ``heldout.txt``, ``heldout/<source>.txt``,
``SOURCES.md`` (versions, licences, attribution, words kept) and ``manifest.json``.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlm_explorer.corpus import austen, bible, factbook, relations, sotu, wikipedia, wordnet
from mlm_explorer.corpus.base import DEFAULT_SOURCE_DIR, Found, Source, SourceNotInstalled
from mlm_explorer.corpus.text import dedupe, is_heldout, keep, line_rank, normalise
from mlm_explorer.data import replace_problem

#: Every corpus folder has one; it is what lets the next build replace the folder whole.
MANIFEST = "manifest.json"

#: Every source, in priority order (a sentence found in two sources is kept by the first).
SOURCES: dict[str, Source] = {
    s.name: s for s in (wikipedia.SOURCE, factbook.SOURCE, austen.SOURCE, sotu.SOURCE, bible.SOURCE,
                        wordnet.SOURCE, relations.SOURCE)
}


#: The project's public evaluation sets, kept out by default (where the checkout has them).
_REPO = Path(__file__).resolve().parents[2]  # a source checkout; an installed package has no tests/
DEFAULT_EXCLUDE = (_REPO / "tests/data/cloze_public.jsonl", _REPO / "tests/data/minimal_pairs.tsv")


@dataclass(frozen=True)
class CorpusConfig:
    """How to build the corpus."""

    sources: tuple[str, ...] | None = None  # None: every source that is fetched or installed
    source_dirs: tuple[Path, ...] = (DEFAULT_SOURCE_DIR,)  # where fetched packages are looked for
    max_share: Mapping[str, float] = field(default_factory=dict)  # per-source cap overrides
    repeat: Mapping[str, int] = field(default_factory=dict)  # per-source overrides of Source.repeat
    heldout_every: int = 50  # hold out 1 line in N (2%), by a hash of the text
    max_heldout_lines: int = 1000  # per source: enough for a stable accuracy, quick to evaluate
    max_words: int | None = None  # cap on training words in all (e.g. to fit a transfer budget)
    gzip: bool = True  # train.txt.gz: a quarter of the size; pretrain reads .gz
    # Sentences the corpus must not contain (the evaluation sets, filled in: see evaluation_sentences),
    # so that a score on them measures what the model learned, not what it memorised.
    exclude: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SourceStats:
    """What one source contributed."""

    name: str
    package: str
    version: str
    origin: str
    licence: str
    max_share: float
    repeat: int
    available_words: int  # training-side words after filtering, dedupe and repeats, before the cap
    train_lines: int
    train_words: int
    heldout_lines: int
    heldout_words: int


@dataclass(frozen=True)
class CorpusStats:
    """What :func:`build_corpus` wrote."""

    out: str
    train_file: str
    train_lines: int
    train_words: int
    heldout_lines: int
    heldout_words: int
    sources: tuple[SourceStats, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_sources(config: CorpusConfig) -> list[tuple[Source, Found]]:
    """The chosen sources with their files; raises for unknown or missing ones (what to install)."""
    roots = tuple(Path(d) for d in config.source_dirs)
    if config.sources is None:
        found = [(s, s.find(roots)) for s in SOURCES.values()]
        chosen = [(s, f) for s, f in found if f is not None]
        if not chosen:
            raise SourceNotInstalled(
                "no corpus source is installed: run scripts/fetch_corpus_sources.sh "
                "or install one, e.g. `apt-get install wordnet-base`."
            )
        return chosen
    unknown = [n for n in config.sources if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown source {unknown[0]!r}: choose from {', '.join(SOURCES)}.")
    chosen = []
    for name in dict.fromkeys(config.sources):  # keep the user's order, drop repeats
        source = SOURCES[name]
        found = source.find(roots)
        if found is None:
            raise SourceNotInstalled(
                f"source {name!r} ({source.package}) is not installed: {source.install}."
            )
        chosen.append((source, found))
    chosen.sort(key=lambda pair: list(SOURCES).index(pair[0].name))
    return chosen


def evaluation_sentences(paths: Sequence[Path]) -> frozenset[str]:
    """The sentences of evaluation files, to keep out of a corpus.

    A cloze file (``.jsonl``: ``text`` with ``[MASK]``, ``answers``) gives its text
    with each answer filled in; a minimal-pair file (``.tsv``: grammatical,
    ungrammatical, ...) gives both sentences of every pair. Read with the
    evaluation commands' own readers, so both agree on what an item is.
    """
    # Imported here: the readers' module loads torch, which building a corpus does not need otherwise.
    from mlm_explorer.cloze import read_cloze_file, read_pairs_file

    sentences: set[str] = set()
    for path in map(Path, paths):
        if path.suffix == ".jsonl":
            for item in read_cloze_file(path):
                sentences.update(item.text.replace("[MASK]", answer) for answer in item.answers)
        elif path.suffix == ".tsv":
            for pair in read_pairs_file(path):
                sentences.update((pair.grammatical, pair.ungrammatical))
        else:
            raise ValueError(f"{path}: an evaluation file is .jsonl (cloze) or .tsv (minimal pairs)")
    return frozenset(sentences)


def word_quotas(available: Mapping[str, int], shares: Mapping[str, float]) -> dict[str, int]:
    """Words each source may keep so that none exceeds its share of the total.

    Water-filling: sources under their cap keep everything; the total ``T``
    solves ``T = sum(uncapped words) + sum(capped shares) * T``. Shares of 1.0
    mean no cap. A source with no words keeps none.

    >>> word_quotas({"a": 100, "b": 100}, {"a": 1.0, "b": 0.2})
    {'a': 100, 'b': 25}
    """
    capped: set[str] = set()
    while True:
        free = sum(w for n, w in available.items() if n not in capped)
        share = sum(shares[n] for n in capped)
        total = free / (1.0 - share) if share < 1.0 else float(sum(available.values()))
        newly = {n for n, w in available.items() if n not in capped and w > shares[n] * total + 1e-9}
        if not newly:
            return {n: w if n not in capped else int(shares[n] * total) for n, w in available.items()}
        capped |= newly


def _sample(lines: list[str], words: int) -> list[str]:
    """A fixed pseudo-random subset of ``lines`` of about ``words`` words, in the original order."""
    chosen, total = set(), 0
    for index in sorted(range(len(lines)), key=lambda i: line_rank(lines[i])):
        if total >= words:
            break
        chosen.add(index)
        total += len(lines[index].split())
    return [line for i, line in enumerate(lines) if i in chosen]


def _words(lines: Sequence[str]) -> int:
    return sum(len(line.split()) for line in lines)


def build_corpus(
    out: Path, config: CorpusConfig = CorpusConfig(), log: Callable[[str], None] = lambda message: None
) -> CorpusStats:
    """Read, mix and write the corpus under ``out`` (replaced as a whole, only when all went well)."""
    if config.heldout_every < 2:
        raise ValueError(f"heldout_every must be at least 2, got {config.heldout_every}.")
    if problem := replace_problem(out, MANIFEST):  # before minutes of reading, and again at the swap
        raise ValueError(problem)
    shares = {name: config.max_share.get(name, source.max_share) for name, source in SOURCES.items()}
    bad = {n: v for n, v in shares.items() if not 0.0 < v <= 1.0}
    if bad:
        raise ValueError(f"a max share must be in (0, 1]: {bad}.")
    repeats = {name: config.repeat.get(name, source.repeat) for name, source in SOURCES.items()}
    bad_repeats = {n: r for n, r in repeats.items() if not isinstance(r, int) or r < 1}
    if bad_repeats:  # only the offending ones, as for max shares: the whole table hid the mistake
        raise ValueError(f"a repeat must be a whole number of at least 1: {bad_repeats}.")
    unknown = [n for n in [*config.max_share, *config.repeat] if n not in SOURCES]
    if unknown:
        raise ValueError(f"unknown source {unknown[0]!r}: choose from {', '.join(SOURCES)}.")
    chosen = resolve_sources(config)
    seen: set[str] = {normalise(line).lower() for line in config.exclude}  # dedupe() drops these
    train: dict[str, list[str]] = {}
    held: dict[str, list[str]] = {}
    for source, found in chosen:
        lines = list(dedupe((line for line in source.read(found) if keep(line)), seen))
        held[source.name] = [line for line in lines if is_heldout(line, config.heldout_every)]
        held[source.name] = held[source.name][: config.max_heldout_lines]
        train[source.name] = [line for line in lines if not is_heldout(line, config.heldout_every)]
        log(f"{source.name} {found.version} ({found.origin}): {len(lines):,} lines, {_words(lines):,} words")
    available = {name: _words(lines) * repeats[name] for name, lines in train.items()}
    chosen_shares = {name: shares[name] for name in train}
    if sum(chosen_shares.values()) < 1.0:  # caps that cannot all be met (one or two sources): scale them up
        scale = sum(chosen_shares.values())
        chosen_shares = {name: share / scale for name, share in chosen_shares.items()}
    quotas = word_quotas(available, chosen_shares)
    total = sum(quotas.values())
    if config.max_words is not None and total > config.max_words:
        quotas = {n: int(q * config.max_words / total) for n, q in quotas.items()}
    kept = {
        n: lines * repeats[n] if quotas[n] >= available[n] else _sample(lines * repeats[n], quotas[n])
        for n, lines in train.items()
    }
    stats = tuple(
        SourceStats(
            name=source.name, package=source.package, version=found.version, origin=found.origin,
            licence=source.licence, max_share=chosen_shares[source.name], repeat=repeats[source.name],
            available_words=available[source.name],
            train_lines=len(kept[source.name]), train_words=_words(kept[source.name]),
            heldout_lines=len(held[source.name]), heldout_words=_words(held[source.name]),
        )
        for source, found in chosen
    )
    train_name = "train.txt.gz" if config.gzip else "train.txt"
    result = CorpusStats(
        out=str(out), train_file=train_name,
        train_lines=sum(s.train_lines for s in stats), train_words=sum(s.train_words for s in stats),
        heldout_lines=sum(s.heldout_lines for s in stats), heldout_words=sum(s.heldout_words for s in stats),
        sources=stats,
    )
    _write_atomically(out, lambda folder: _write(folder, train_name, kept, held, result, chosen))
    return result


def _write(folder: Path, train_name: str, kept, held, stats: CorpusStats, chosen) -> None:
    body = "".join(line + "\n" for lines in kept.values() for line in lines).encode("utf-8")
    if train_name.endswith(".gz"):
        with open(folder / train_name, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
            handle.write(body)  # mtime=0: the same corpus gives the same bytes
    else:
        (folder / train_name).write_bytes(body)
    (folder / "heldout").mkdir()
    for name, lines in held.items():
        text = "".join(f"{line}\n" for line in lines)
        (folder / "heldout" / f"{name}.txt").write_text(text, encoding="utf-8")
    all_held = "".join(line + "\n" for lines in held.values() for line in lines)
    (folder / "heldout.txt").write_text(all_held, encoding="utf-8")
    (folder / "SOURCES.md").write_text(sources_markdown(stats, [s for s, _ in chosen]), encoding="utf-8")
    (folder / MANIFEST).write_text(json.dumps(stats.to_dict(), indent=2) + "\n", encoding="utf-8")


def _write_atomically(out: Path, write: Callable[[Path], None]) -> None:
    """Run ``write`` into a fresh temporary folder beside ``out``, then swap it in."""
    out = Path(out)
    if problem := replace_problem(out, MANIFEST):
        raise ValueError(problem)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write(tmp)
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            old.rename(out)  # put the previous corpus back
        raise
    shutil.rmtree(old, ignore_errors=True)


def sources_markdown(stats: CorpusStats, sources: Sequence[Source]) -> str:
    """SOURCES.md: one row per source (version, licence, words kept) and each attribution in full."""
    lines = [
        "# Corpus sources",
        "",
        f"{stats.train_lines:,} training lines ({stats.train_words:,} words) in `{stats.train_file}`, "
        f"{stats.heldout_lines:,} held-out lines ({stats.heldout_words:,} words) in `heldout.txt` "
        "and per source in `heldout/`. Built with `python -m mlm_explorer corpus`: sentences split, "
        "filtered, deduplicated across sources, ~2% held out by a hash of each line, small fact-dense "
        "sources repeated (copies), each source capped at a share of the training words.",
        "",
        "| source | package | version | licence | training words (share) | copies | held-out words | cap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in stats.sources:
        share = s.train_words / max(stats.train_words, 1)
        lines.append(
            f"| {s.name} | {s.package} | {s.version} | {s.licence} | {s.train_words:,} ({share:.0%}) "
            f"| {s.repeat} | {s.heldout_words:,} | {s.max_share:.0%} |"
        )
    lines += ["", "## Attribution", ""]
    lines += [f"- **{source.title}** ({source.name}): {source.attribution}" for source in sources]
    if any("CC BY-SA" in source.licence for source in sources):
        lines += [
            "",
            "Part of this corpus is licensed under CC BY-SA 4.0: whoever redistributes the corpus (or "
            "text taken from it) must keep that licence and the attribution above. A model trained on "
            "it names these sources in its model card.",
        ]
    return "\n".join(lines) + "\n"
