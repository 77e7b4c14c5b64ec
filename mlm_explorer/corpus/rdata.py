"""Read character vectors from an R package's lazy-load data (``data/Rdata.rdx`` + ``Rdata.rdb``).

Enough of R's serialization format (R Internals, "Serialization Formats";
``src/main/serialize.c``) to read the objects a data-only package stores:
character, logical, integer and double vectors, lists, pairlists with tags,
symbols and references. Anything else raises ``ValueError`` naming the type,
so a format change is reported, never misread.

The ``.rdx`` index is a gzipped serialized list ``variables`` (name ->
``c(offset, length)`` into the ``.rdb``), ``references``, ``compressed``; each
``.rdb`` entry is a 4-byte big-endian uncompressed length and zlib data.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

# SEXP types (Rinternals.h) and the pseudo-types of serialize.c.
NILSXP, SYMSXP, LISTSXP, CHARSXP, LGLSXP, INTSXP, REALSXP, STRSXP, VECSXP = 0, 1, 2, 9, 10, 13, 14, 16, 19
REFSXP, NILVALUE_SXP = 255, 254
_NA_INT = -(2**31)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.refs = data, 0, []

    def int(self) -> int:
        (value,) = struct.unpack_from(">i", self.data, self.pos)
        self.pos += 4
        return value

    def bytes(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError("R data ends early")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def header(self) -> None:
        if self.bytes(2) != b"X\n":
            raise ValueError("not R XDR serialization (expected 'X\\n')")
        version = self.int()
        self.int(), self.int()  # writer's R version, minimal reader version
        if version == 3:
            self.bytes(self.int())  # native encoding name
        elif version != 2:
            raise ValueError(f"R serialization version {version} is not supported")

    def item(self):  # noqa: C901 - one branch per SEXP type, as in serialize.c
        flags = self.int()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind == NILVALUE_SXP:
            return None
        if kind == REFSXP:
            index = flags >> 8 or self.int()
            return self.refs[index - 1]
        if kind == SYMSXP:
            name = self.item()
            self.refs.append(name)
            return name
        if kind == CHARSXP:
            n = self.int()
            return None if n == -1 else self.bytes(n).decode("utf-8", errors="replace")
        if kind == LISTSXP:
            pairs = []
            while kind == LISTSXP:
                attr = self.item() if has_attr else None
                del attr
                tag = self.item() if has_tag else None
                pairs.append((tag, self.item()))
                flags = self.int()
                kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
            if kind != NILVALUE_SXP:
                raise ValueError(f"pairlist ends with SEXP type {kind}")
            return pairs
        n = self.int()
        if kind in (LGLSXP, INTSXP):
            values = [None if v == _NA_INT else v for v in struct.unpack_from(f">{n}i", self.bytes(4 * n))]
        elif kind == REALSXP:
            values = list(struct.unpack_from(f">{n}d", self.bytes(8 * n)))
        elif kind in (STRSXP, VECSXP):
            values = [self.item() for _ in range(n)]
        else:
            raise ValueError(f"R SEXP type {kind} is not supported")
        if has_attr:
            attributes = dict(self.item())
            if "names" in attributes and kind == VECSXP:
                return dict(zip(attributes["names"], values, strict=True))
        return values


def unserialize(data: bytes):
    """One R object from XDR serialization bytes (vectors as lists, named lists as dicts)."""
    reader = _Reader(data)
    reader.header()
    return reader.item()


def read_lazyload(folder: Path, base: str = "Rdata") -> dict[str, object]:
    """Every object of ``folder/<base>.rdx`` + ``.rdb``, by name."""
    index = unserialize(gzip.decompress((folder / f"{base}.rdx").read_bytes()))
    if not isinstance(index, dict) or not isinstance(index.get("variables"), dict):
        raise ValueError("the .rdx index has no 'variables' list")
    blob = (folder / f"{base}.rdb").read_bytes()
    objects = {}
    for name, (offset, length) in index["variables"].items():
        entry = blob[offset : offset + length]
        (size,) = struct.unpack_from(">I", entry, 0)
        payload = zlib.decompress(entry[4:])
        if len(payload) != size:
            raise ValueError(f"object {name!r}: {len(payload)} bytes, the index says {size}")
        objects[name] = unserialize(payload)
    return objects
