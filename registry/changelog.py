"""Change-log entries: the tamper-evident, monotonic record of every write.

Each write transaction appends one entry per changed key, keyed by a
big-endian u64 sequence in the ``changelog`` database, in the same
transaction as the data, indexes and counters. Entry layout (big-endian)::

    u8  format version (1)
    u8  operation      1 create, 2 update, 3 delete (identifiers; templates); 4 put (other data)
    u8  database       index into store.DB_NAMES
    u64 time           seconds since 1970 UTC
    u16 actor length,  actor (UTF-8)
    u16 key length,    key
    u32 payload length, payload (the new record, a tombstone record, the
                        new JSON of a non-identifier key, or empty for a
                        deleted template)
    32  digest of the previous entry (zeros for the first)

The digest of an entry is the SHA-256 of its bytes, so every entry commits
to the whole history before it; :func:`verify_chain` checks it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import struct
from collections.abc import Iterable
from typing import Any

from idnode.registry.store import DB_NAMES, Store, from_u64, u64

FORMAT_VERSION = 1
OP_CREATE = 1
OP_UPDATE = 2
OP_DELETE = 3
OP_PUT = 4
OP_NAMES = {OP_CREATE: "create", OP_UPDATE: "update", OP_DELETE: "delete", OP_PUT: "put"}
GENESIS = bytes(32)
OUTBOX_CURSOR = b"outbox_cursor"  # meta key: the highest sequence the top-level node acknowledged
PRUNED = b"changelog_pruned"  # meta key: u64 sequence + digest of the last entry pruned (or before a snapshot)

_HEAD = struct.Struct(">BBBQ")


class ChangeLogError(ValueError):
    """A change-log entry that cannot be decoded or breaks the chain."""


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    sequence: int
    op: int
    db: str
    time: int
    actor: str
    key: bytes
    payload: bytes
    prev_digest: bytes

    @property
    def op_name(self) -> str:
        return OP_NAMES.get(self.op, str(self.op))

    @property
    def handle(self) -> str:
        """The identifier an ``identifiers`` entry changed (from its record, else its key); "" for other data."""
        if self.db != "identifiers":
            return ""
        from idnode import _fastpath

        if self.payload:
            try:
                stored = _fastpath.decode_header(self.payload)[4]
            except ValueError:
                stored = ""
            if stored:
                return stored
        return _fastpath.key_handle(self.key)


def encode_entry(op: int, db: str, time: int, actor: str, key: bytes, payload: bytes, prev: bytes) -> bytes:
    a = actor.encode()
    return b"".join(
        (
            _HEAD.pack(FORMAT_VERSION, op, DB_NAMES.index(db), time),
            struct.pack(">H", len(a)),
            a,
            struct.pack(">H", len(key)),
            key,
            struct.pack(">I", len(payload)),
            payload,
            prev,
        )
    )


def _actor_and_key(raw: bytes) -> tuple[bytes, bytes, int]:
    """``(actor, key, offset after the key)`` of an entry past its fixed head; ``struct.error`` when truncated."""
    pos = _HEAD.size
    (n,) = struct.unpack_from(">H", raw, pos)
    actor = raw[pos + 2 : pos + 2 + n]
    pos += 2 + n
    (n,) = struct.unpack_from(">H", raw, pos)
    return actor, bytes(raw[pos + 2 : pos + 2 + n]), pos + 2 + n


def peek(raw: bytes) -> tuple[int, str, int, bytes]:
    """``(op, database name, time, key)`` of a stored entry without decoding its payload (cheap scans).

    Raises:
        ChangeLogError: truncated or unknown version.
    """
    try:
        version, op, db_index, time = _HEAD.unpack_from(raw, 0)
        if version != FORMAT_VERSION:
            raise ChangeLogError(f"unknown change-log format version {version}")
        return op, DB_NAMES[db_index], time, _actor_and_key(raw)[1]
    except (struct.error, IndexError) as exc:
        raise ChangeLogError(f"truncated change-log entry: {exc}") from None


def digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def decode_entry(sequence: int, raw: bytes) -> Entry:
    """Decode one stored entry.

    Raises:
        ChangeLogError: truncated or unknown version.
    """
    try:
        version, op, db_index, time = _HEAD.unpack_from(raw, 0)
        if version != FORMAT_VERSION:
            raise ChangeLogError(f"entry {sequence}: unknown format version {version}")
        actor_bytes, key, pos = _actor_and_key(raw)
        actor = actor_bytes.decode()
        (n,) = struct.unpack_from(">I", raw, pos)
        payload = bytes(raw[pos + 4 : pos + 4 + n])
        pos += 4 + n
        prev = bytes(raw[pos : pos + 32])
        if len(prev) != 32 or pos + 32 != len(raw):
            raise ChangeLogError(f"entry {sequence}: truncated")
        return Entry(sequence, op, DB_NAMES[db_index], time, actor, key, payload, prev)
    except (struct.error, IndexError, UnicodeDecodeError):
        raise ChangeLogError(f"entry {sequence}: malformed") from None


@dataclasses.dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place a change log stops verifying.

    ``kind`` is ``gap`` (a sequence is missing: ``expected``/``found`` are
    sequences), ``digest mismatch`` (the entry's previous-entry digest is not
    the digest of the entry before it, or of the pruned/genesis anchor: hex
    digests) or ``undecodable entry`` (``found`` is the decoder's complaint).
    A flipped byte in entry N shows as a digest mismatch at N + 1: the
    newest entry is covered only by copies of it (a replica, the top node).
    """

    sequence: int
    kind: str
    expected: str
    found: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclasses.dataclass(frozen=True, slots=True)
class ChainWalk:
    """What :func:`walk_chain` saw: entries checked, the last good ``(sequence, digest)``, the first break."""

    checked: int
    last: tuple[int, bytes]
    broken: ChainBreak | None


def walk_chain(entries: Iterable[tuple[int, bytes]], anchor: tuple[int, bytes] | None = None) -> ChainWalk:
    """Walk ``(sequence, raw entry)`` in order and stop at the first break.

    Args:
        anchor: ``(sequence, digest)`` the first entry must follow (the
            pruned marker, or ``(0, GENESIS)``); None trusts the first entry.
    """
    expected_seq, expected_prev = (anchor[0] + 1, anchor[1]) if anchor is not None else (None, None)
    last = anchor if anchor is not None else (0, GENESIS)
    count = 0
    for sequence, raw in entries:
        try:
            entry = decode_entry(sequence, raw)
        except ChangeLogError as exc:
            return ChainWalk(count, last, ChainBreak(sequence, "undecodable entry", "", str(exc), str(exc)))
        if expected_seq is not None and sequence != expected_seq:
            message = f"gap in the change log: expected {expected_seq}, found {sequence}"
            return ChainWalk(count, last, ChainBreak(sequence, "gap", str(expected_seq), str(sequence), message))
        if expected_prev is not None and entry.prev_digest != expected_prev:
            message = f"entry {sequence}: previous-entry digest does not match"
            found = entry.prev_digest.hex()
            return ChainWalk(count, last, ChainBreak(sequence, "digest mismatch", expected_prev.hex(), found, message))
        expected_prev = digest(raw)
        expected_seq = sequence + 1
        last = sequence, expected_prev
        count += 1
    return ChainWalk(count, last, None)


def verify_chain(entries: Iterable[tuple[int, bytes]], start_digest: bytes | None = None) -> int:
    """Check sequence continuity and digests; return the number of entries checked.

    Args:
        entries: ``(sequence, raw entry)`` in order.
        start_digest: digest expected in the first entry (None = trust the first).

    Raises:
        ChangeLogError: naming the first sequence that breaks the chain.
    """
    it = iter(entries)
    first = next(it, None)
    if first is None:
        return 0
    anchor = None if start_digest is None else (first[0] - 1, start_digest)
    result = walk_chain(itertools.chain((first,), it), anchor)
    if result.broken is not None:
        raise ChangeLogError(result.broken.message)
    return result.checked


def audit(store: Store) -> tuple[tuple[int, bytes], ChainWalk]:
    """Walk the whole kept log of ``store`` in one read transaction, anchored on the pruned marker.

    Returns:
        ``(anchor, walk)``: the ``(sequence, digest)`` the first kept entry
        must follow (``(0, GENESIS)`` when nothing was pruned), and the walk.
    """
    with store.begin() as txn:
        anchor = pruned(store, txn)
        cur = txn.cursor(db=store.dbs["changelog"])
        entries = ((_sequence(key), bytes(raw)) for key, raw in cur)
        return anchor, walk_chain(entries, anchor)


def _sequence(key: bytes) -> int:
    """A change-log key as a sequence; a key that is not 8 bytes becomes -1 (reported as a gap)."""
    return from_u64(key) if len(key) == 8 else -1


def pruned(store: Store, txn: Any = None) -> tuple[int, bytes]:
    """``(sequence, digest)`` of the last entry no longer kept (``(0, GENESIS)`` when none was pruned).

    Written by :func:`prune` (retention) and by a replica's snapshot
    bootstrap, whose log starts after the snapshot's sequence. The first kept
    entry's previous-entry digest equals this digest, so the chain stays
    verifiable from there.
    """
    raw = store.get("meta", PRUNED) if txn is None else txn.get(PRUNED, db=store.dbs["meta"])
    if not raw:
        return 0, GENESIS
    return from_u64(raw[:8]), bytes(raw[8:40])


def head(store: Store, txn: Any) -> tuple[int, bytes]:
    """``(sequence, digest)`` of the newest entry, in ``txn``: the next entry's sequence - 1 and previous digest.

    An empty log continues from the pruned marker (a replica right after its
    snapshot), else from ``(0, GENESIS)``.
    """
    cur = txn.cursor(db=store.dbs["changelog"])
    if cur.last():
        return from_u64(cur.key()), digest(cur.value())
    return pruned(store, txn)


def prune(ctx: Any, before: float, keep_from: int, limit: int = 10_000) -> int:
    """Delete the oldest entries written before ``before`` (s since 1970), at most ``limit``; return how many.

    A write operation for the writer. It never deletes ``keep_from`` or any
    later sequence (the caller passes the outbox cursor + 1 with ``--top``,
    else the head: the newest entry is always kept), and it records the
    sequence and digest of the last entry deleted in ``meta/changelog_pruned``
    in the same transaction. Pruning writes no change-log entry.
    """
    cur = ctx.cursor("changelog")
    count = 0
    last: tuple[int, bytes] | None = None
    if not cur.first():
        return 0
    while count < limit:
        key = cur.key()
        if not key:  # deleted the last entry: the cursor is past the end
            break
        sequence, raw = from_u64(key), bytes(cur.value())
        if sequence >= keep_from or decode_entry(sequence, raw).time >= before:
            break
        last = sequence, digest(raw)
        count += 1
        cur.delete()  # moves to the next entry
    if last is not None:
        ctx.put("meta", PRUNED, u64(last[0]) + last[1])
    return count


def set_cursor(ctx: Any, name: bytes, sequence: int) -> int:
    """Set the u64 cursor ``name`` in ``meta`` to ``sequence``; return it.

    A write operation for the writer (``ctx`` is its ``WriteContext``), so a
    cursor is as durable as the data it follows. Setting it logs no
    change-log entry: a cursor is bookkeeping, not data (logging it would
    give the outbox a new change for every acknowledgement).
    """
    ctx.put("meta", name, u64(sequence))
    return sequence


def lag(store: Store, name: bytes, now: float) -> dict[str, Any]:
    """How far the cursor ``name`` trails the log, in one read transaction.

    Returns:
        ``last_sequence``, ``acked_sequence``, ``lag_sequences`` and
        ``lag_seconds``: the age of the oldest change after the cursor (its
        entry's commit time), 0 when nothing is pending.
    """
    with store.begin() as txn:
        last = store.last_sequence(txn)
        raw = txn.get(name, db=store.dbs["meta"])
        acked = min(from_u64(raw) if raw else 0, last)
        seconds = 0.0
        if last > acked:
            oldest = txn.get(u64(acked + 1), db=store.dbs["changelog"])
            if oldest is not None:
                seconds = max(now - decode_entry(acked + 1, oldest).time, 0.0)
    return {"last_sequence": last, "acked_sequence": acked, "lag_sequences": last - acked, "lag_seconds": seconds}
