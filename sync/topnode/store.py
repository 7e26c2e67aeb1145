"""The top-level node's LMDB: registered nodes, prefix approvals, HS_SITE, the DR copy, acks, statistics.

One environment in ``<data-dir>/lmdb`` (the folder is locked with
``node.lock`` like a node's). Named databases:

========  ==============================================================
nodes     node prefix -> JSON {node_prefix, node_id, sites, registered,
          last_seen, last_sequence, version, credential (SHA-256 hex)}
prefixes  prefix -> JSON {prefix, node_prefix, credit_code, status,
          requested, decided, reason}
sites     prefix -> JSON list of sites registered for that prefix
dr        node prefix 0x00 u64 sequence -> serialized idnode.v1.Change
acks      node prefix -> u64 highest contiguous sequence stored in dr
stats     node prefix 0x00 day -> JSON {connected_enterprises, received,
          rows: {prefix: [registrations, resolutions, errors]}}
========  ==============================================================

Every change of state happens in one write transaction, so an
acknowledgement is never ahead of the data it covers. A full map is doubled
and the aborted transaction runs again (``service.py``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lmdb

from idnode.registry.store import from_u64, lock_folder, u64

DB_NAMES = ("nodes", "prefixes", "sites", "dr", "acks", "stats")
DEFAULT_MAP_SIZE = 1 << 30
MAX_GROWTH_STEP = 8 << 30

log = logging.getLogger(__name__)


def dr_key(node_prefix: str, sequence: int) -> bytes:
    return node_prefix.encode() + b"\x00" + u64(sequence)


class TopStore:
    """An open top-level node data folder.

    Raises:
        StoreLocked: another process holds the folder.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, map_size: int = DEFAULT_MAP_SIZE, readonly: bool = False
    ) -> None:
        self.path = Path(path)
        if readonly:  # an audit beside the running top node: no folder lock, no write transaction
            self._lock_fd: int | None = None
            self.env = lmdb.open(str(self.path / "lmdb"), max_dbs=len(DB_NAMES) + 1, subdir=True, readonly=True)
            self.dbs = {name: self.env.open_db(name.encode(), create=False) for name in DB_NAMES}
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_fd = lock_folder(self.path)
        self.env = lmdb.open(str(self.path / "lmdb"), map_size=map_size, max_dbs=len(DB_NAMES) + 1, subdir=True)
        with self.env.begin(write=True) as txn:
            self.dbs = {name: self.env.open_db(name.encode(), txn=txn, create=True) for name in DB_NAMES}

    def close(self) -> None:
        self.env.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def grow(self) -> int:
        """Double the map (by at most 8 GiB); call with no transaction open in this process."""
        current = self.env.info()["map_size"]
        new = current + min(current, MAX_GROWTH_STEP)
        self.env.set_mapsize(new)
        log.info("LMDB map grown from %d to %d bytes", current, new)
        return new

    def read(self) -> lmdb.Transaction:
        return self.env.begin()

    def write(self) -> lmdb.Transaction:
        return self.env.begin(write=True)

    # -- typed access inside a transaction ---------------------------------------

    def get_json(self, txn: lmdb.Transaction, db: str, key: str) -> Any:
        raw = txn.get(key.encode(), db=self.dbs[db])
        return None if raw is None else json.loads(raw)

    def put_json(self, txn: lmdb.Transaction, db: str, key: str, value: Any) -> None:
        txn.put(key.encode(), json.dumps(value, sort_keys=True).encode(), db=self.dbs[db])

    def all_json(self, txn: lmdb.Transaction, db: str) -> Iterator[tuple[str, Any]]:
        for key, raw in txn.cursor(db=self.dbs[db]):
            yield bytes(key).decode(), json.loads(raw)

    def ack(self, txn: lmdb.Transaction, node_prefix: str) -> int:
        raw = txn.get(node_prefix.encode(), db=self.dbs["acks"])
        return from_u64(raw) if raw else 0

    def set_ack(self, txn: lmdb.Transaction, node_prefix: str, sequence: int) -> None:
        txn.put(node_prefix.encode(), u64(sequence), db=self.dbs["acks"])

    def put_change(self, txn: lmdb.Transaction, node_prefix: str, sequence: int, raw: bytes) -> None:
        txn.put(dr_key(node_prefix, sequence), raw, db=self.dbs["dr"])

    def changes(self, node_prefix: str, after: int, upto: int, chunk: int = 1000) -> Iterator[tuple[int, bytes]]:
        """DR entries of one node with ``after < sequence <= upto``, in order; short read transactions of ``chunk``."""
        head = node_prefix.encode() + b"\x00"
        while after < upto:
            batch: list[tuple[int, bytes]] = []
            with self.read() as txn:
                cur = txn.cursor(db=self.dbs["dr"])
                if not cur.set_range(dr_key(node_prefix, after + 1)):
                    return
                for key, raw in cur:
                    if not key.startswith(head) or len(key) != len(head) + 8:
                        break
                    sequence = from_u64(key[len(head) :])
                    if sequence > upto or len(batch) >= chunk:
                        break
                    batch.append((sequence, bytes(raw)))
            if not batch:
                return
            yield from batch
            after = batch[-1][0]
