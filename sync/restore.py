"""``idnode restore-from-top``: rebuild a node's data folder from the top-level node's DR copy.

The top node holds every change-log entry of the node, raw (``Change.entry``)
and acknowledged up to its highest contiguous sequence. A restore streams them
from sequence 1 (``FetchChanges``), checks the digest chain, and replays them
into an empty folder: each entry is stored in the change log under its own
sequence (so the restored log continues the original one, and the outbox
resumes without re-pushing or colliding), and its effect is applied to its
database — identifier records byte for byte (with their secondary indexes and
the per-prefix counters), prefixes, enterprises, templates, credentials and
meta entries as logged. Batches of ``batch`` entries go in one transaction
each. The outbox cursor is set to the last sequence (the top node holds it).

Only what the change log carries comes back: sessions and other state that is
not logged are not. Counters are recomputed: the per-prefix totals, and the
registrations per day (``sync/stats.py``), whole for every day because the
DR copy holds the history from sequence 1; the resolutions per day are not
logged and do not come back.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lmdb

from idnode.proto import toplevel_pb2, toplevel_pb2_grpc
from idnode.registry import _records, changelog
from idnode.registry._base import _counter_key
from idnode.registry._identifiers import IdentifiersMixin
from idnode.registry.errors import StoreError
from idnode.registry.store import Store, u64
from idnode.registry.writer import WriteContext
from idnode.sync import stats
from idnode.sync.tls import TopTls, top_channel

BATCH = 1000
MAX_MESSAGE_BYTES = 64 << 20


@dataclass
class RestoreResult:
    changes: int = 0  # change-log entries replayed
    identifiers: int = 0  # identifier records in the folder afterwards (tombstones included)
    live: int = 0
    deleted: int = 0
    last_sequence: int = 0
    digest: str = ""  # Store.identifiers_digest()


def _prefix_of(handle: str) -> str:
    return handle.split("/", 1)[0]


def apply_entry(ctx: WriteContext, entry: changelog.Entry) -> None:
    """One change-log entry's effect on the store."""
    if entry.db == "identifiers":
        old_raw = ctx.get("identifiers", entry.key)
        old = _records.decode(entry.key, old_raw) if old_raw is not None else None
        new = _records.decode(entry.key, entry.payload)
        prefix = _prefix_of(new.handle)
        ctx.put("identifiers", entry.key, entry.payload)
        IdentifiersMixin._reindex(
            ctx, entry.key, old.values if old and not old.deleted else (), () if new.deleted else new.values
        )
        if prefix.lower() == "0.na":  # prefix handles are not counted
            return
        if old is not None:
            ctx.add_counter(_counter_key(prefix, "tombstones" if old.deleted else "live"), -1)
        ctx.add_counter(_counter_key(prefix, "tombstones" if new.deleted else "live"), 1)
        if entry.op == changelog.OP_CREATE:
            ctx.add_counter(_counter_key(prefix, "created"), 1)
            ctx.count_creation(entry.time, entry.key.partition(b"\x00")[0])  # the day counters, by the entry's time
        elif entry.op == changelog.OP_DELETE:
            ctx.add_counter(_counter_key(prefix, "deleted"), 1)
    elif entry.op == changelog.OP_DELETE:
        ctx.delete(entry.db, entry.key)
    else:
        ctx.put(entry.db, entry.key, entry.payload)


def replay(store: Store, changes: Iterable[tuple[int, bytes]], batch: int = BATCH) -> int:
    """Replay raw change-log entries (in order, from sequence 1) into an empty ``store``; return the count.

    Raises:
        StoreError: the folder already holds a change log.
        ChangeLogError: a gap or a broken digest chain in ``changes``.
    """
    if store.last_sequence() != 0:
        raise StoreError(f"data folder {store.path} is not empty (its change log has entries): restore into a new one")
    prev = changelog.GENESIS
    count = 0
    pending: list[tuple[int, bytes]] = []

    def flush() -> None:
        while True:
            try:
                with store.env.begin(write=True) as txn:
                    ctx = WriteContext(txn, store, int(time.time()), 0, b"")
                    for sequence, raw in pending:
                        txn.put(u64(sequence), raw, db=store.dbs["changelog"], append=True)
                        apply_entry(ctx, changelog.decode_entry(sequence, raw))
                    ctx.flush_counters()
                    stats.add_registrations(txn, store, stats.per_day(ctx.registered, stats.zone()))
                    stats.set_counted(ctx, pending[-1][0], ctx.now, None)  # from sequence 1: every day is whole
                    changelog.set_cursor(ctx, changelog.OUTBOX_CURSOR, pending[-1][0])
                break
            except lmdb.MapFullError:
                store.grow()
        pending.clear()

    for sequence, raw in changes:
        changelog.verify_chain([(sequence, raw)], prev)
        if sequence != count + 1:
            raise changelog.ChangeLogError(f"gap in the DR copy: expected {count + 1}, found {sequence}")
        prev = changelog.digest(raw)
        pending.append((sequence, raw))
        count += 1
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return count


def fetch(
    target: str, node_prefix: str, credential: str, timeout: float = 600.0, tls: TopTls | None = None
) -> Iterator[tuple[int, bytes]]:
    """The DR copy of ``node_prefix`` from the top node at ``target``: ``(sequence, raw entry)`` in order.

    ``tls``: TLS (and the client certificate) to the top node, see ``sync/tls.py``; None: a plain channel.
    """
    options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
    with top_channel(target, tls, options, aio=False) as channel:
        stub = toplevel_pb2_grpc.TopLevelStub(channel)
        stream = stub.FetchChanges(
            toplevel_pb2.FetchChangesRequest(node_prefix=node_prefix, after_sequence=0),
            metadata=(("authorization", f"Bearer {credential}"),),
            timeout=timeout,
        )
        for change in stream:
            if not change.entry:
                raise changelog.ChangeLogError(f"change {change.sequence} carries no raw entry: cannot restore")
            yield change.sequence, change.entry


def restore_from_top(
    target: str, data_dir: Path, node_prefix: str, credential: str, map_size: int = 1 << 30, tls: TopTls | None = None
) -> RestoreResult:
    """Rebuild ``data_dir`` (new or empty) from the top node's DR copy; the node must be stopped."""
    store = Store(data_dir, map_size=map_size)
    try:
        result = RestoreResult()
        result.changes = replay(store, fetch(target, node_prefix, credential, tls=tls))
        stored = store.get("meta", b"node_prefix")
        if stored is not None and stored.decode() != node_prefix:
            raise StoreError(f"the DR copy belongs to node prefix {stored.decode()}, not {node_prefix}")
        result.last_sequence = store.last_sequence()
        result.identifiers, result.digest = store.identifiers_digest()
        with store.begin() as txn:
            for key, value in txn.cursor(db=store.dbs["identifiers"]):
                if _records.decode(bytes(key), bytes(value)).deleted:
                    result.deleted += 1
        result.live = result.identifiers - result.deleted
        return result
    finally:
        store.close()
