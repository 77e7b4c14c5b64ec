"""State links: a page's inputs as a short query string, and back, checked like any user input.

A teacher's link such as ``?tab=class&activity=write&strategy=iterative&length=12``
opens the app on that tab with those inputs. :class:`LinkField` says which query
parameter sets which input, its bounds, its default and when it applies;
:func:`make_link` writes only the values that differ from the defaults (a link
stays short enough to read aloud or paste into a chat) and :func:`read_link`
reads a hand-edited link without ever raising: a value that does not fit is
left out (the input keeps its default) or clamped, and a line in
:attr:`LinkState.problems` says so.

Plain values only (strings, numbers, booleans): no gradio, no model. The UI
(``ui/look.py``) maps fields to components.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

MAX_LINK_TEXT = 1000  # characters of text a link may carry (a URL stays shareable)
MAX_POSITIONS = 64  # masked positions a link may carry
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class LinkField:
    """One query parameter of a state link and the input it sets.

    ``kind`` is "text", "number", "int", "bool", "choice" or "positions";
    ``low``/``high`` clamp numbers, ``choices`` lists the allowed values
    (a short alias → the component's value, e.g. "iterative" → the radio's label).
    ``default`` is the input's value on a fresh page: a link leaves it out.
    ``when`` names other fields of the same tab and the value each must have for
    this one to apply (e.g. a temperature only for the Gibbs strategy); a link
    that leaves such a field out is read with its default.
    """

    name: str  # the query parameter, e.g. "text"
    tab: str  # the tab whose state it belongs to ("" = every tab, e.g. the model)
    kind: str
    low: float | None = None
    high: float | None = None
    choices: tuple[tuple[str, str], ...] = ()  # (alias in the link, value of the component)
    default: object = None  # the input's starting value, not written into a link (None: always written)
    # (field name, alias or value, or a tuple of them of which one must hold) that must all hold
    when: tuple[tuple[str, str | tuple[str, ...]], ...] = ()
    always: bool = False  # written even at its default: it names the view (e.g. the Class activity)


@dataclass(frozen=True)
class LinkState:
    """What a link asks for: the tab to open (None: the first), one value per field (None: leave the
    input as it is) and one plain-language line per value that was not usable as written."""

    tab: str | None
    values: tuple
    problems: tuple[str, ...] = ()


def _number(field: LinkField, raw: str) -> tuple[object, str]:
    try:
        value = float(raw)
    except ValueError:
        return None, f"{field.name}={raw[:20]!r} is not a number"
    if not math.isfinite(value):
        return None, f"{field.name}={raw[:20]!r} is not a number"
    note = ""
    if field.kind == "int" and value != int(value):
        note = f"{field.name}={raw[:20]} is not a whole number: used {int(value)}"
    low, high = field.low, field.high
    if (low is not None and value < low) or (high is not None and value > high):
        value = min(max(value, low if low is not None else value), high if high is not None else value)
        shown = int(value) if field.kind == "int" else f"{value:g}"
        note = f"{field.name}={raw[:20]} is out of range ({_range(field)}): used {shown}"
    return (int(value) if field.kind == "int" else value), note


def _range(field: LinkField) -> str:
    def show(v: float | None) -> str:
        return "…" if v is None else (str(int(v)) if field.kind == "int" else f"{v:g}")

    return f"{show(field.low)} to {show(field.high)}"


def parse_value(field: LinkField, raw: str) -> tuple[object, str]:
    """The component value for a raw query value (None when unusable) and a note when it was changed.

    >>> parse_value(LinkField("k", "fill", "int", 1, 20), "99")
    (20, 'k=99 is out of range (1 to 20): used 20')
    >>> parse_value(LinkField("k", "fill", "int", 1, 20), "abc")
    (None, "k='abc' is not a number")
    """
    if field.kind == "text":
        note = f"{field.name} was cut to {MAX_LINK_TEXT} characters" if len(raw) > MAX_LINK_TEXT else ""
        return raw[:MAX_LINK_TEXT], note
    if field.kind == "positions":
        parts = [p for p in raw.replace(" ", ",").split(",") if p]
        # str.isdigit() also accepts "²" and other digits int() refuses; 6 digits is past any model.
        if not all(p.isascii() and p.isdigit() and len(p) <= 6 for p in parts):
            return None, f"{field.name}={raw[:20]!r} is not a list of token positions"
        return ", ".join(str(v) for v in sorted({int(p) for p in parts})[:MAX_POSITIONS]), ""
    if field.kind == "bool":
        word = raw.lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS, ""
        return None, f"{field.name}={raw[:20]!r} is not 1 or 0"
    if field.kind in {"number", "int"}:
        return _number(field, raw)
    if field.kind == "choice":
        for alias, value in field.choices:
            if raw in (alias, value):
                return value, ""
        allowed = ", ".join(alias for alias, _ in field.choices)
        return None, f"{field.name}={raw[:20]!r} is not one of {allowed}"
    raise ValueError(f"unknown link field kind {field.kind!r}")


def _choice_value(fields: Sequence[LinkField], tab: str, name: str, wanted: str) -> str:
    """``wanted`` (an alias or a value) as the component value of the field ``name`` of ``tab``."""
    for f in fields:
        if f.name == name and f.tab in ("", tab):
            return next((v for alias, v in f.choices if wanted in (alias, v)), wanted)
    return wanted


def _applies(field: LinkField, tab: str, fields: Sequence[LinkField], values: Mapping[str, object]) -> bool:
    """Whether every condition of ``field`` holds, given the values of its tab's fields by name."""
    def holds(name: str, wanted: str | tuple[str, ...]) -> bool:
        options = wanted if isinstance(wanted, tuple) else (wanted,)
        return any(values.get(name) == _choice_value(fields, tab, name, w) for w in options)

    return all(holds(name, wanted) for name, wanted in field.when)


def _tab_values(tab: str, fields: Sequence[LinkField], values: Sequence) -> dict[str, object]:
    """The values of ``tab``'s fields by name (a value left as None falls back to the default)."""
    return {f.name: (f.default if v is None else v) for f, v in zip(fields, values, strict=True)
            if f.tab in ("", tab)}


def read_link(search: str, fields: Sequence[LinkField], tabs: Sequence[str]) -> LinkState:
    """Read a query string: the tab to open, one value per field and what did not fit.

    Only the linked tab's fields (and the shared ones) are read, so two tabs may
    both have a ``text``; a field whose ``when`` does not hold is not read either.
    Unknown parameters are ignored; a link is user input and never raises.

    >>> f = [LinkField("k", "fill", "int", 1, 20), LinkField("text", "fill", "text"),
    ...      LinkField("text", "attention", "text")]
    >>> state = read_link("?tab=fill&k=99&text=a+%5BMASK%5D&x=1", f, ["fill", "attention"])
    >>> state.tab, state.values
    ('fill', (20, 'a [MASK]', None))
    >>> state.problems
    ('k=99 is out of range (1 to 20): used 20',)
    """
    params = dict(parse_qsl(search.lstrip("?"), keep_blank_values=True))
    problems: list[str] = []
    asked = params.get("tab")
    tab = asked if asked in tabs else None
    if asked is not None and tab is None:
        problems.append(f"tab={asked[:20]!r} is not a tab of this app: opened the first one")
    here = tab or (tabs[0] if tabs else "")
    parsed = [
        parse_value(f, params[f.name]) if f.name in params and f.tab in ("", here) else (None, "")
        for f in fields
    ]
    by_name = _tab_values(here, fields, [v for v, _ in parsed])
    values: list = []
    for field, (value, note) in zip(fields, parsed, strict=True):
        ours = field.name in params and field.tab in ("", here)
        if not ours or not _applies(field, here, fields, by_name):
            values.append(None)
            continue
        values.append(value)
        if note:
            problems.append(note + ("" if value is not None else ": kept the default"))
    # Two fields of a tab may share a name when they never apply together (the quiz's and Write's seed).
    return LinkState(tab, tuple(values), tuple(dict.fromkeys(problems)))


def _text(field: LinkField, value: object) -> str | None:
    """How a component value is written into a link (None: it is not written)."""
    if field.kind == "bool":
        return "1" if value else "0"
    if field.kind == "int":
        try:
            return str(int(float(value)))  # type: ignore[arg-type]
        except (TypeError, ValueError, OverflowError):
            return None
    if field.kind == "number":
        try:
            return f"{float(value):g}"  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
    if field.kind == "choice":
        return next((alias for alias, v in field.choices if v == value), None)
    return str(value)[:MAX_LINK_TEXT]


def _is_default(field: LinkField, value: object) -> bool:
    if field.default is None or field.always:
        return False
    if field.kind in {"int", "number"}:
        try:
            return float(value) == float(field.default)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return False
    return value == field.default


def make_link(tab: str, fields: Sequence[LinkField], values: Sequence, projector: bool = False) -> str:
    """The query string (``?tab=...``) that reopens ``tab`` with these input values.

    Only the fields of that tab (and the shared ones, such as the model) whose
    ``when`` holds and whose value is not the default are written.

    >>> f = [LinkField("k", "fill", "int", 1, 20, default=5), LinkField("seed", "policy", "int", 0)]
    >>> make_link("fill", f, [8, 3]), make_link("fill", f, [5, 3])
    ('?tab=fill&k=8', '?tab=fill')
    """
    by_name = _tab_values(tab, fields, values)
    pairs: list[tuple[str, str]] = [("tab", tab)]
    for field, value in zip(fields, values, strict=True):
        if field.tab not in ("", tab) or value is None or value == "" or _is_default(field, value):
            continue
        if not _applies(field, tab, fields, by_name):
            continue
        text = _text(field, value)
        if text is not None:
            pairs.append((field.name, text))
    if projector:
        pairs.append(("projector", "1"))
    return "?" + urlencode(pairs)


def cut_fields(tab: str, fields: Sequence[LinkField], values: Sequence) -> tuple[str, ...]:
    """The text fields :func:`make_link` would cut to :data:`MAX_LINK_TEXT` characters (for a note).

    >>> cut_fields("quiz", [LinkField("list", "quiz", "text")], ["x" * 1001])
    ('list',)
    """
    by_name = _tab_values(tab, fields, values)
    return tuple(
        f.name for f, v in zip(fields, values, strict=True)
        if f.kind == "text" and f.tab in ("", tab) and isinstance(v, str) and len(v) > MAX_LINK_TEXT
        and _applies(f, tab, fields, by_name)
    )


def problems_message(problems: Sequence[str], limit: int = 4) -> str:
    """One message for the page about a link's unusable values ("" when there are none).

    >>> problems_message(["seed='x' is not a number: kept the default"])
    "This link has a value that does not fit: seed='x' is not a number: kept the default."
    """
    if not problems:
        return ""
    more = len(problems) - limit
    shown = "; ".join(problems[:limit]) + (f"; and {more} more" if more > 0 else "")
    what = "a value that does not fit" if len(problems) == 1 else "values that do not fit"
    return f"This link has {what}: {shown}."
