"""The LMDB environment: named databases, folder lock, schema check, map growth.

One environment per data folder holds everything (DESIGN.md, "One truth, one
log"). Named databases:

=============  ======================================================
identifiers    handle key -> record (see ``_fastpath/_record_py.py``)
prefixes       prefix (UTF-8) -> JSON {prefix, owner, status, created}
enterprises    credit code -> JSON {credit_code, name, contact, status, created}
templates      prefix 0x00 version -> JSON (enterprise-API template shape)
credentials    token id -> JSON credential (digests only, never secrets)
idx_gtin       GTIN-14 0x00 handle key -> b"" (GTIN/SGTIN values; the raw
               text when no GTIN-14 can be derived; see _records.index_text)
idx_oid        OID text 0x00 handle key -> b""
counters       prefix 0x00 name -> u64 big-endian
changelog      u64 big-endian sequence -> change-log entry
meta           name -> value (schema_version, node_prefix, admin token id,
               outbox_cursor: u64 sequence the top-level node acknowledged,
               registrations_since / registrations_from: what the day
               counters of registrations cover, sync/stats.py)
sessions       SHA-256 of a session id -> JSON session (registry/_sessions.py)
usage          day 0x00 prefix 0x00 front end -> u64 resolutions, u64 errors;
               day 0x00 prefix 0x00 "registrations" -> u64 creations
               (daily statistics, sync/stats.py; not in the change log)
=============  ======================================================

Only the writer role opens write transactions; reads are short read
transactions. When the map is full the writer asks :meth:`Store.grow`, which
doubles it; other processes adopt a grown map when their next transaction
starts (``MapResizedError`` -> ``set_mapsize(0)``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lmdb
from google.protobuf.message import DecodeError

from idnode.registry import _records
from idnode.registry.errors import HandleError, SchemaMismatch, ServerBusy, StorageFull, StoreError, StoreLocked

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


def _rebuild_gtin_index(txn: lmdb.Transaction, store: Store) -> None:
    """1 -> 2: ``idx_gtin`` keys become the GTIN-14 (raw text before).

    Rebuilt from the live identifier records. A record that cannot be decoded
    is logged and left out of the index (it is still resolvable) rather than
    failing the start.
    """
    index = store.dbs["idx_gtin"]
    txn.drop(index, delete=False)
    skipped = 0
    for key, raw in txn.cursor(db=store.dbs["identifiers"]):
        try:
            record = _records.decode(key, raw)
        except (HandleError, ValueError, DecodeError) as exc:
            skipped += 1
            log.warning("GTIN index rebuild: identifier key %r not decodable (%s); not indexed", key, exc)
            continue
        if record.deleted:
            continue
        for db, index_key in _records.index_entries(key, record.values):
            if db == "idx_gtin":
                txn.put(index_key, b"", db=index)
    if skipped:
        log.warning("GTIN index rebuild left out %d undecodable identifier records", skipped)


# Migrations from version N to N + 1, applied in order at open (start-up and
# `idnode migrate`), each in one write transaction with the version bump.
# Every change of an on-disk format adds one here, with a test that opens a
# folder written in the previous version.
MIGRATIONS: dict[int, Callable[[lmdb.Transaction, Store], None]] = {1: _rebuild_gtin_index}
DB_NAMES = (
    "identifiers",
    "prefixes",
    "enterprises",
    "templates",
    "credentials",
    "idx_gtin",
    "idx_oid",
    "counters",
    "changelog",
    "meta",
    "sessions",  # Handle REST sessions (registry/_sessions.py); not in the change log
    # Daily resolutions/errors per prefix and front end (sync/stats.py); not in the change log. A new
    # database leaves every existing format as it was (an older idnode ignores it; this one creates it
    # when the writer opens a folder written before it), so it needs no migration.
    "usage",
)
DEFAULT_MAP_SIZE = 1 << 30
MAX_GROWTH_STEP = 8 << 30
_U64 = struct.Struct(">Q")


def lock_folder(path: Path) -> int:
    """Take the data folder's lock (``node.lock``, flock) and return its fd.

    Held for the node's life by the process that owns the folder (the
    single process, or the supervisor of a prefork node; children inherit it).

    Raises:
        StoreLocked: another node holds it.
    """
    fd = os.open(path / "node.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(fd, 64, 0).decode(errors="replace").strip()
        os.close(fd)
        raise StoreLocked(
            f"data folder {path} is in use by another idnode process" + (f" (pid {owner})" if owner else "")
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    return fd


def _digest_entry(key: bytes, value: bytes) -> bytes:
    """One identifier's bytes in :meth:`Store.identifiers_digest`: u32 length, key, u32 length, record."""
    return struct.pack(">I", len(key)) + bytes(key) + struct.pack(">I", len(value)) + bytes(value)


def u64(value: int) -> bytes:
    return _U64.pack(value)


def from_u64(raw: bytes) -> int:
    return _U64.unpack(raw)[0]


class Store:
    """An open data folder.

    Args:
        path: the data folder (created if missing); LMDB lives in ``path/lmdb``.
        map_size: initial map size in bytes; the map grows by itself.
        max_readers: reader-table slots, sized for many worker processes.
        lock: take the folder lock (the supervisor does; workers of the same
            node do not).
        writable: False in a reader worker: it opens no write transaction, so
            the databases must exist already (the writer creates them).
        max_map_size: :meth:`grow` never grows the map past this (0: no cap).

    Raises:
        StoreLocked: another node holds the folder.
        SchemaMismatch: the folder was written with another schema version.
        StoreError: the folder cannot be opened.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        map_size: int = DEFAULT_MAP_SIZE,
        max_readers: int = 2048,
        lock: bool = True,
        writable: bool = True,
        max_map_size: int = 0,
    ) -> None:
        self.path = Path(path)
        self.max_map_size = max_map_size
        self.writable = writable
        self._lock_fd: int | None = None
        self._grow_lock = threading.Lock()
        self._pins = 0  # long read transactions open in this process (a replication snapshot)
        self._pin_lock = threading.Lock()
        self.grow_hook: Callable[[Callable[[], None]], None] | None = None
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create data folder {self.path}: {exc.strerror}") from None
        if lock:
            self._take_lock()
        try:
            self.env = lmdb.open(
                str(self.path / "lmdb"),
                map_size=map_size,
                max_dbs=len(DB_NAMES) + 4,
                max_readers=max_readers,
                subdir=True,
                readahead=False,
                meminit=False,
                readonly=not writable,
                # Durable commits (registry/README.md, "Crash safety"): fsync data and meta pages at
                # every commit, no writable map. Not configurable: an acknowledged write survives power loss.
                sync=True,
                metasync=True,
                map_async=False,
                writemap=False,
            )
        except lmdb.Error as exc:
            self.release()
            raise StoreError(f"cannot open LMDB in {self.path / 'lmdb'}: {exc}") from None
        stale = self.env.reader_check()
        if stale:
            log.warning("cleared %d stale LMDB reader slots left by an unclean stop", stale)
        try:
            if writable:
                with self.env.begin(write=True) as txn:
                    self.dbs = {name: self.env.open_db(name.encode(), txn=txn, create=True) for name in DB_NAMES}
            else:  # a read-only environment: py-lmdb keeps these handles valid
                self.dbs = {name: self.env.open_db(name.encode(), create=False) for name in DB_NAMES}
        except lmdb.NotFoundError:
            self.close()
            raise StoreError(f"data folder {self.path} has not been initialised by the node's writer") from None
        if writable:
            self._check_schema()
        elif self.schema_version != SCHEMA_VERSION:
            found = self.schema_version
            self.close()
            raise SchemaMismatch(f"data folder {self.path} has schema version {found}, not {SCHEMA_VERSION}")

    def _take_lock(self) -> None:
        self._lock_fd = lock_folder(self.path)

    def _check_schema(self) -> None:
        meta = self.dbs["meta"]
        with self.env.begin(write=True) as txn:
            raw = txn.get(b"schema_version", db=meta)
            if raw is None:
                txn.put(b"schema_version", str(SCHEMA_VERSION).encode(), db=meta)
                return
        found = int(raw)
        while found < SCHEMA_VERSION and found in MIGRATIONS:
            try:
                with self.env.begin(write=True) as txn:
                    MIGRATIONS[found](txn, self)
                    txn.put(b"schema_version", str(found + 1).encode(), db=meta)
            except lmdb.MapFullError:
                # A rebuild holds old and new pages until it commits; the
                # aborted migration runs again whole in the grown map.
                self.grow()
                continue
            found += 1
            log.warning("data folder %s migrated to schema version %d", self.path, found)
        if found != SCHEMA_VERSION:
            self.close()
            raise SchemaMismatch(
                f"data folder {self.path} has schema version {found}; this idnode reads "
                f"version {SCHEMA_VERSION} and has no migration from it (use an idnode release that knows both)"
            )

    @property
    def schema_version(self) -> int:
        return int(self.get("meta", b"schema_version") or b"0")

    # -- reads -----------------------------------------------------------------

    def begin(self, db: str | None = None) -> lmdb.Transaction:
        """A read transaction; adopts a map grown by another process.

        ``db`` names the database its ``get``/``cursor`` use by default (a
        bound ``txn.get`` is the cheapest lookup py-lmdb has).
        """
        handle = None if db is None else self.dbs[db]
        try:
            return self.env.begin(db=handle)
        except lmdb.MapResizedError:
            if self._pins:  # remapping now would pull the map from under the pinned transaction
                raise ServerBusy("the store is being snapshotted for a replica while its map grew; retry") from None
            self.env.set_mapsize(0)
            return self.env.begin(db=handle)

    @contextlib.contextmanager
    def pinned(self) -> Iterator[lmdb.Transaction]:
        """A read transaction that may stay open long (a replica's snapshot), in any thread.

        While it is open this process does not remap the map: a resize
        (:meth:`grow`) waits for it, and a read that needs the grown map gets
        ServerBusy (retry) instead of the remap that would invalidate it.
        Enter it off the event-loop thread: it waits for a resize in progress,
        which may need that thread.
        """
        with self._grow_lock, self._pin_lock:
            txn = self.begin()
            self._pins += 1
        try:
            yield txn
        finally:
            txn.abort()
            with self._pin_lock:
                self._pins -= 1

    def get(self, db: str, key: bytes) -> bytes | None:
        """One key in one short read transaction."""
        with self.begin() as txn:
            return txn.get(key, db=self.dbs[db])

    def last_sequence(self, txn: lmdb.Transaction | None = None) -> int:
        """The newest change-log sequence number (0 for an empty log), in ``txn`` or a short one of its own."""
        if txn is None:
            with self.begin() as own:
                return self.last_sequence(own)
        cur = txn.cursor(db=self.dbs["changelog"])
        if cur.last():
            return from_u64(cur.key())
        # An empty log continues from its pruned marker (a replica right after a snapshot).
        marker = txn.get(b"changelog_pruned", db=self.dbs["meta"])
        return from_u64(marker[:8]) if marker else 0

    def changes_after(self, sequence: int, limit: int = 500, max_bytes: int = 1 << 20) -> list[tuple[int, bytes]]:
        """Raw change-log entries after ``sequence``, in order, in one read transaction.

        At most ``limit`` entries and, past the first, at most ``max_bytes``
        of entry bytes (one entry larger than that still comes alone, so a
        reader never stalls). Decode them with :func:`changelog.decode_entry`.
        """
        out: list[tuple[int, bytes]] = []
        size = 0
        with self.begin() as txn:
            cur = txn.cursor(db=self.dbs["changelog"])
            if not cur.set_range(u64(sequence + 1)):
                return out
            for key, raw in cur:
                size += len(raw)
                if out and (len(out) >= limit or size > max_bytes):
                    break
                out.append((from_u64(key), bytes(raw)))
        return out

    def meta_u64(self, name: bytes) -> int:
        """A u64 kept in the meta database (0 when absent), e.g. the outbox cursor."""
        raw = self.get("meta", name)
        return from_u64(raw) if raw else 0

    # -- map growth ------------------------------------------------------------

    def grow(self) -> int:
        """Double the map (by at most 8 GiB, never past ``max_map_size``) and return the new size.

        LMDB allows resizing only while this process has no transaction open,
        so when a ``grow_hook`` is set (the node sets one that runs the resize
        on the event-loop thread, between requests) the resize runs through it.

        Raises:
            StorageFull: the map is at ``max_map_size`` already.
        """
        with self._grow_lock:
            current = self.env.info()["map_size"]
            new = current + min(current, MAX_GROWTH_STEP)
            if self.max_map_size:
                if current >= self.max_map_size:
                    raise StorageFull(
                        f"the store is full: the LMDB map is at its cap of {current} bytes (--map-size-max); "
                        "raise the cap and restart the node"
                    )
                new = min(new, self.max_map_size)

            def resize() -> None:
                self.env.set_mapsize(new)

            # A snapshot's pinned transaction is open: remap after it ends (rare;
            # bounded by its stream). New pins wait for the grow lock held here.
            while self._pins:
                time.sleep(0.01)

            if self.grow_hook is not None:
                self.grow_hook(resize)
            else:
                resize()
            log.info("LMDB map grown from %d to %d bytes", current, new)
            return new

    def usage(self) -> dict[str, int]:
        """Map size, bytes in use, and reader slots in use / available."""
        info = self.env.info()
        stat = self.env.stat()
        used_pages = info["last_pgno"] + 1
        return {
            "map_size": info["map_size"],
            "map_used": used_pages * stat["psize"],
            "readers_used": info["num_readers"],
            "readers_max": info["max_readers"],
        }

    def identifiers_digest(self, txn: lmdb.Transaction | None = None) -> tuple[int, str]:
        """``(count, SHA-256 hex)`` over every identifier key and record (tombstones included), in key order.

        Each entry adds ``len(key)`` (u32), the key, ``len(record)`` (u32) and
        the record: two folders with the same digest hold byte-identical
        identifiers (``idnode checksum``; a restore is checked with it).
        ``txn``: read in that transaction (a backup's snapshot) instead of a
        short one of its own.
        """
        if txn is None:
            with self.begin() as own:
                return self.identifiers_digest(own)
        sha = hashlib.sha256()
        count = 0
        for key, value in txn.cursor(db=self.dbs["identifiers"]):
            sha.update(_digest_entry(key, value))
            count += 1
        return count, sha.hexdigest()

    def prefix_digests(self, txn: lmdb.Transaction | None = None) -> tuple[tuple[int, str], dict[str, tuple[int, str]]]:
        """:meth:`identifiers_digest` and the same digest per prefix (``0.na`` holds the prefix handles), in one pass.

        Returns:
            ``((count, hex), {prefix: (count, hex)})``, prefixes as stored
            (lower case), in key order. Two nodes with equal per-prefix
            digests hold that prefix's identifiers byte for byte.
        """
        if txn is None:
            with self.begin() as own:
                return self.prefix_digests(own)
        whole = hashlib.sha256()
        count = 0
        per: dict[str, list[Any]] = {}
        for key, value in txn.cursor(db=self.dbs["identifiers"]):
            entry = _digest_entry(key, value)
            whole.update(entry)
            count += 1
            prefix = bytes(key).split(b"\x00", 1)[0].decode(errors="replace")
            slot = per.get(prefix)
            if slot is None:
                slot = per[prefix] = [0, hashlib.sha256()]
            slot[0] += 1
            slot[1].update(entry)
        return (count, whole.hexdigest()), {p: (n, sha.hexdigest()) for p, (n, sha) in per.items()}

    # -- lifecycle -------------------------------------------------------------

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def close(self) -> None:
        env = getattr(self, "env", None)
        if env is not None:
            env.close()
            self.env = None  # type: ignore[assignment]
        self.release()
