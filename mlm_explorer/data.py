"""Read small training texts for fine-tuning, split them, and cut them into model-sized windows.

Inputs: a ``.txt`` file (one example a line, or paragraphs separated by blank
lines), a ``.csv``/``.tsv`` file (one chosen text column), a ``.jsonl`` file
(one JSON object a line with a ``text`` field), or text pasted into a box.

Every reader returns a :class:`TextData` (plain strings plus what went wrong
on the way: undecodable lines, skipped rows), so the caller can show the
user what was read. Bad input raises :class:`DataError`, a ``ValueError``
whose message is a sentence meant for the user.

Decoding: strict UTF-8 first (a byte-order mark is dropped); if that fails,
each line that is not valid UTF-8 is decoded with U+FFFD replacement
characters and counted, so the user learns "12 lines had encoding
problems" instead of a traceback or silently mangled text.

This module does not mask tokens or run a model; :func:`tokenize_windows`
only needs a tokenizer.

Example::

    >>> data = read_pasted("the cat sat on the mat\\n\\nthe dog sat on the rug")
    >>> data.examples
    ('the cat sat on the mat', 'the dog sat on the rug')
    >>> split_heldout(data.examples, fraction=0.5, seed=0).heldout
    ('the cat sat on the mat',)
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

#: Largest upload read (bytes). A classroom text is a few kB; 5 MB keeps one
#: visitor from filling a CPU Space's memory with tokenized data.
MAX_BYTES = 5 * 1024 * 1024
#: Most lines (or rows) read; more would not be seen by a one-minute CPU run anyway.
MAX_LINES = 20_000
#: How many bytes are sniffed for NUL bytes to tell a binary file from text
#: (the same heuristic as git and grep: text files do not contain NUL).
BINARY_SNIFF_BYTES = 8192

#: File types read as plain text (one example a line or paragraph), and all that are read.
TEXT_SUFFIXES = (".txt", ".text", ".md")
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, ".csv", ".tsv", ".jsonl")

TxtSplit = Literal["auto", "lines", "paragraphs"]


class DataError(ValueError):
    """The input cannot be used; the message tells the user why and what to do."""


@dataclass(frozen=True)
class TextData:
    """Examples read from one source, and what was dropped or repaired on the way."""

    examples: tuple[str, ...]  # non-empty, stripped texts, in file order
    source: str  # file name (no folders) or "pasted text"
    format: str  # "txt", "csv", "tsv", "jsonl" or "pasted"
    bad_encoding_lines: int = 0  # lines that were not valid UTF-8 (decoded with U+FFFD)
    skipped: int = 0  # empty rows, rows without the text field, unparsable JSON lines

    @property
    def notes(self) -> tuple[str, ...]:
        """Human sentences about repairs, for the UI and the CLI summary."""
        out = []
        if self.bad_encoding_lines:
            out.append(
                f"{self.bad_encoding_lines} line(s) were not valid UTF-8; "
                "undecodable bytes were replaced by \N{REPLACEMENT CHARACTER}."
            )
        if self.skipped:
            out.append(f"{self.skipped} empty or unreadable row(s) were skipped.")
        return tuple(out)


@dataclass(frozen=True)
class Split:
    """Training and held-out examples; the same seed always gives the same split."""

    train: tuple[str, ...]
    heldout: tuple[str, ...]


@dataclass(frozen=True)
class Windows:
    """Token-id sequences (special tokens included) no longer than the model's maximum."""

    input_ids: tuple[tuple[int, ...], ...]
    special_mask: tuple[tuple[bool, ...], ...]  # True at [CLS]/[SEP]/<s>/</s>: never masked
    n_examples: int  # examples tokenized
    n_split: int  # examples longer than the maximum, split into several windows
    max_length: int  # window length, special tokens included

    @property
    def n_tokens(self) -> int:
        """Tokens over all windows, special tokens included."""
        return sum(len(s) for s in self.input_ids)


# ---------------------------------------------------------------- decoding


def _check_size(raw: bytes, name: str) -> None:
    if not raw.strip():
        raise DataError(f"{name} is empty: give at least one line of text.")
    if len(raw) > MAX_BYTES:
        raise DataError(
            f"{name} is {len(raw) / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB. "
            "Use a smaller sample of the text."
        )
    if b"\x00" in raw[:BINARY_SNIFF_BYTES]:
        raise DataError(
            f"{name} looks like a binary file (it contains NUL bytes). "
            "Give plain text: .txt, .csv, .tsv or .jsonl."
        )


def decode_text(raw: bytes) -> tuple[str, int]:
    """Decode bytes as UTF-8; return the text and how many lines needed replacement characters.

    Strict decoding first; on failure each line is decoded on its own so only
    the broken lines are repaired and counted.
    """
    try:
        return raw.decode("utf-8-sig"), 0
    except UnicodeDecodeError:
        pass
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines, bad = [], 0
    for line in raw.split(b"\n"):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("utf-8", errors="replace"))
            bad += 1
    return "\n".join(lines), bad


def _too_many_lines(n: int, name: str) -> DataError:
    return DataError(f"{name} has {n:,} lines; the limit is {MAX_LINES:,}. Use a smaller sample.")


# ---------------------------------------------------------------- parsers


def _parse_txt(text: str, split: TxtSplit) -> tuple[list[str], int]:
    """Examples of a plain text: lines, or blank-line separated paragraphs.

    ``auto`` picks paragraphs when blank lines separate blocks and more than
    half of the blocks span several lines (prose wrapped at a fixed width),
    else one example a line; the caller can force either.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b for b in (blk.strip() for blk in text.split("\n\n")) if b]
    if split == "auto":
        multi = sum("\n" in b for b in blocks)
        split = "paragraphs" if len(blocks) > 1 and multi * 2 > len(blocks) else "lines"
    if split == "paragraphs":
        return [" ".join(line.strip() for line in b.split("\n") if line.strip()) for b in blocks], 0
    lines = text.split("\n")
    examples = [line.strip() for line in lines if line.strip()]
    return examples, 0


def _parse_table(text: str, delimiter: str, column: str | None, name: str) -> tuple[list[str], int]:
    """Examples from one column of a CSV/TSV with a header row."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [h for h in (reader.fieldnames or []) if h is not None]
    if not header:
        raise DataError(f"{name} has no header row; the first row must name the columns.")
    if column is None:
        # A lone column, or one called "text", is the obvious choice; otherwise ask.
        if "text" in header:
            column = "text"
        elif len(header) == 1:
            column = header[0]
        else:
            raise DataError(
                f"{name} has several columns ({', '.join(header)}); choose the text column."
            )
    if column not in header:
        raise DataError(f"{name} has no column {column!r}; its columns are: {', '.join(header)}.")
    examples, skipped = [], 0
    for row in reader:
        value = (row.get(column) or "").strip()
        if value:
            examples.append(value)
        else:
            skipped += 1
    return examples, skipped


def _parse_jsonl(text: str, field: str | None, name: str) -> tuple[list[str], int]:
    """Examples from the ``text`` (or chosen) field of one JSON object a line."""
    field = field or "text"
    examples, skipped, parsed = [], 0, 0
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            skipped += 1
            continue
        parsed += 1
        value = obj.get(field) if isinstance(obj, dict) else None
        if isinstance(value, str) and value.strip():
            examples.append(value.strip())
        else:
            skipped += 1
    if parsed == 0:
        raise DataError(f"{name} has no valid JSON line; .jsonl needs one JSON object a line.")
    if not examples:
        raise DataError(f'No line of {name} has a non-empty "{field}" string field.')
    return examples, skipped


# ---------------------------------------------------------------- readers


def format_of(name: str) -> str:
    """The format implied by a file name's suffix, or :class:`DataError` if unsupported."""
    suffix = Path(name).suffix.lower()
    if suffix in (*TEXT_SUFFIXES, ""):
        return "txt"
    if suffix in SUPPORTED_SUFFIXES:
        return suffix[1:]
    raise DataError(
        f"{Path(name).name}: unsupported file type {suffix!r}; use .txt, .csv, .tsv or .jsonl."
    )


def read_bytes(
    raw: bytes,
    name: str,
    text_column: str | None = None,
    split: TxtSplit = "auto",
) -> TextData:
    """Parse an uploaded file's bytes; ``name`` gives the format (by suffix) and the messages."""
    shown = Path(name).name
    fmt = format_of(shown)
    _check_size(raw, shown)
    text, bad = decode_text(raw)
    n_lines = text.count("\n") + 1
    if n_lines > MAX_LINES:
        raise _too_many_lines(n_lines, shown)
    if fmt == "txt":
        examples, skipped = _parse_txt(text, split)
    elif fmt in ("csv", "tsv"):
        examples, skipped = _parse_table(text, "," if fmt == "csv" else "\t", text_column, shown)
    else:
        examples, skipped = _parse_jsonl(text, text_column, shown)
    if not examples:
        raise DataError(f"{shown} contains no text to train on.")
    return TextData(tuple(examples), shown, fmt, bad_encoding_lines=bad, skipped=skipped)


def read_limited(path: str | Path, max_bytes: int | None = None) -> bytes:
    """The bytes of a regular file, refusing anything else and reading at most ``max_bytes``.

    ``st_size`` is not trusted: it is 0 for ``/dev/zero``, a FIFO or ``/proc``
    files, which read forever. The file is opened without blocking (a FIFO
    would wait for a writer), checked with ``fstat`` on the open descriptor (no
    swap between check and read), and read up to one byte past the limit, so
    an oversized file is refused without reading it all. ``max_bytes`` defaults
    to :data:`MAX_BYTES`. Raises :class:`DataError`.
    """
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    path = Path(path)
    name = path.name or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise DataError(f"Cannot read {name}: no such file.") from None
    except IsADirectoryError:
        raise DataError(f"{name} is a folder, not a file.") from None
    except OSError as err:
        raise DataError(f"Cannot read {name}: {err.strerror or err}.") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise DataError(f"{name} is a folder, not a file.")
        raise DataError(f"{name} is not a regular file (a device, pipe or socket); give a text file.")
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read(max_bytes + 1)
        except OSError as err:
            raise DataError(f"Cannot read {name}: {err.strerror or err}.") from None
    if len(raw) > max_bytes:
        raise DataError(
            f"{name} is over {max_bytes / 1e6:.0f} MB; the limit is {max_bytes / 1e6:.0f} MB. "
            "Use a smaller sample of the text."
        )
    return raw


def replace_problem(out: str | Path, marker: str | tuple[str, ...], cwd: Path | None = None) -> str:
    """Why ``out`` must not be written over ("" when it may be).

    Writers that replace or fill their output folder (fine-tuning, the corpus,
    pretraining) may only touch what they wrote before, recognised by a
    ``marker`` (a file or folder they always write), or an empty folder.
    ``--out ""`` is the current folder and ``--out ~`` a home: fine-tuning
    deleted either wholesale before this check.
    """
    markers = (marker,) if isinstance(marker, str) else marker
    out = Path(out)
    if not out.exists():
        return ""
    if not out.is_dir():
        return f"{out} exists and is not a folder."
    here = (cwd or Path.cwd()).resolve()
    target = (here / out).resolve()  # a relative `out` is relative to `here`; an absolute one stays
    if target == here or target in here.parents:
        return f"{out} is the current folder or holds it; give a new folder for the output."
    if any((out / m).exists() for m in markers) or not any(out.iterdir()):
        return ""
    return (f"{out} already exists and was not written by this command (no {' or '.join(markers)} in it); "
            "give a new folder, or remove this one first.")


def read_file(path: str | Path, text_column: str | None = None, split: TxtSplit = "auto") -> TextData:
    """Read a .txt/.csv/.tsv/.jsonl file: a regular file of at most :data:`MAX_BYTES`."""
    path = Path(path)
    format_of(path.name)  # reject an unsupported type before reading anything
    return read_bytes(read_limited(path), path.name, text_column=text_column, split=split)


def read_pasted(text: str, split: TxtSplit = "auto") -> TextData:
    """Examples from text typed or pasted into a box (same rules as a .txt file)."""
    if text is None or not text.strip():
        raise DataError("The text box is empty: paste at least one line of text.")
    raw = text.encode("utf-8")
    if len(raw) > MAX_BYTES:
        raise DataError(f"The pasted text is over {MAX_BYTES / 1e6:.0f} MB; paste a smaller sample.")
    n_lines = text.count("\n") + 1
    if n_lines > MAX_LINES:
        raise _too_many_lines(n_lines, "The pasted text")
    examples, _ = _parse_txt(text, split)
    return TextData(tuple(examples), "pasted text", "pasted")


# ---------------------------------------------------------------- split and windows


def split_heldout(
    examples: Sequence[str], fraction: float = 0.1, seed: int = 0, max_heldout: int = 200
) -> Split:
    """Hold out ``fraction`` of the examples (at most ``max_heldout``, at least one).

    A seeded shuffle of the indices, so the split depends only on the data and
    the seed. With fewer than two examples nothing can be held out and the
    held-out part is empty (the caller then evaluates on the training text and
    says so).
    """
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"The held-out fraction must be in [0, 1), got {fraction}.")
    n = len(examples)
    n_held = 0 if n < 2 or fraction == 0 else min(max_heldout, max(1, round(n * fraction)), n - 1)
    order = list(range(n))
    random.Random(seed).shuffle(order)
    held = sorted(order[:n_held])
    held_set = set(held)
    return Split(
        train=tuple(examples[i] for i in range(n) if i not in held_set),
        heldout=tuple(examples[i] for i in held),
    )


def tokenize_windows(examples: Sequence[str], tokenizer, max_length: int) -> Windows:
    """Tokenize examples; one longer than ``max_length`` becomes several windows, none is cut.

    Uses the fast tokenizer's overflow mode (``return_overflowing_tokens``),
    which adds the special tokens to every window. ``max_length`` counts
    special tokens, as the model's position embeddings do.
    """
    if max_length < tokenizer.num_special_tokens_to_add() + 1:
        raise DataError(f"max_length {max_length} leaves no room for text between the special tokens.")
    if not examples:
        return Windows((), (), 0, 0, max_length)
    enc = tokenizer(
        list(examples), truncation=True, max_length=max_length,
        return_overflowing_tokens=True, return_special_tokens_mask=True,
    )
    ids, special = enc["input_ids"], enc["special_tokens_mask"]
    mapping = enc["overflow_to_sample_mapping"]
    counts: dict[int, int] = {}
    for m in mapping:
        counts[m] = counts.get(m, 0) + 1
    keep = [i for i, s in enumerate(special) if not all(s)]  # drop windows with no real token
    return Windows(
        input_ids=tuple(tuple(ids[i]) for i in keep),
        special_mask=tuple(tuple(bool(x) for x in special[i]) for i in keep),
        n_examples=len(examples),
        n_split=sum(1 for c in counts.values() if c > 1),
        max_length=max_length,
    )
