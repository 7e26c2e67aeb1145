"""Building and reading identifier records from Value objects (write path).

The hot read path never comes here: it works on record bytes through
``_fastpath``. This module turns validated values into stored records and
back, for writes, idempotency checks, export and the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable

from idnode import _fastpath
from idnode.registry import gs1
from idnode.registry.model import Record
from idnode.registry.values import (
    PERM_ADMIN_READ,
    PERM_ADMIN_WRITE,
    PERM_PUBLIC_READ,
    TEMPLATE_VERSION_INDEX,
    TEMPLATE_VERSION_TYPE,
    Value,
)

INDEXED_TYPES = {"GTIN": "idx_gtin", "SGTIN": "idx_gtin", "OID": "idx_oid"}


def template_value(version: str, now: int) -> Value:
    """The reserved value at index 1001 naming the template version."""
    return Value(
        TEMPLATE_VERSION_INDEX,
        TEMPLATE_VERSION_TYPE,
        version.encode(),
        timestamp=now,
        permissions=PERM_ADMIN_READ | PERM_ADMIN_WRITE | PERM_PUBLIC_READ,
    )


def build(
    handle: str,
    key: bytes,
    values: Iterable[Value],
    created: int,
    updated: int,
    template_version: str,
    timestamps: dict[int, int] | None = None,
) -> bytes:
    """Encode a live record; values sorted by index.

    ``timestamps`` (index -> seconds) overrides the values' own timestamps
    (see :func:`stamp`) without building new Value objects.
    """
    stamps = timestamps or {}
    frames = [(v.permissions, v.index, v.to_frame(stamps.get(v.index))) for v in sorted(values, key=lambda v: v.index)]
    return _fastpath.encode_record(
        frames,
        created,
        updated,
        template_version,
        handle if _fastpath.key_is_digested(key) else "",
    )


def tombstone(handle: str, key: bytes, created: int, now: int) -> bytes:
    return _fastpath.encode_record(
        [], created, now, "", handle if _fastpath.key_is_digested(key) else "", tombstone=True
    )


def decode(key: bytes, raw: bytes) -> Record:
    """A stored record as a :class:`Record` (all values, no filtering)."""
    flags, created, updated, tv, handle, offset = _fastpath.decode_header(raw)
    if not handle:
        handle = _fastpath.key_handle(key)
    values = tuple(Value.from_frame(frame) for _, _, frame in _fastpath.iter_frames(raw, offset))
    return Record(
        handle=handle,
        values=values,
        template_version=tv,
        created=created,
        updated=updated,
        deleted=bool(flags & _fastpath.FLAG_TOMBSTONE),
    )


def stamp(values: Iterable[Value], old: Iterable[Value], now: int) -> dict[int, int]:
    """Each value's timestamp by index: unchanged values keep theirs, others get ``now``."""
    previous = {v.index: v for v in old}
    out = {}
    for value in values:
        before = previous.get(value.index)
        out[value.index] = before.timestamp if before is not None and before.same_content(value) else now
    return out


def index_text(db: str, text: bytes) -> bytes:
    """The text part of a secondary-index key (the part before ``0x00``).

    In ``idx_gtin`` a GTIN of any length or an SGTIN in one of its common
    spellings is keyed by its GTIN-14 (:func:`idnode.registry.gs1.index_gtin14`),
    so every spelling of one GTIN shares one key range; text from which no
    GTIN-14 can be derived keeps its raw bytes. ``idx_oid`` keys are raw.
    Queries use the same function as writes.
    """
    if db == "idx_gtin":
        try:
            derived = gs1.index_gtin14(text.decode("ascii"))
        except UnicodeDecodeError:
            return text
        if derived is not None:
            return derived.encode("ascii")
    return text


def index_entries(key: bytes, values: Iterable[Value]) -> set[tuple[str, bytes]]:
    """Secondary-index keys (db, key) for the GTIN/SGTIN/OID values of a record.

    Key: :func:`index_text` of the value, ``0x00``, the identifier key.
    Values with the same key (two spellings of one GTIN) give one entry.
    """
    out = set()
    for value in values:
        db = INDEXED_TYPES.get(value.type)
        if db is not None and value.format == "string":
            out.add((db, index_text(db, value.data) + b"\x00" + key))  # type: ignore[arg-type]
    return out
