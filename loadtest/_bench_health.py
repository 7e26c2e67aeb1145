"""Readiness checks (idnode/health.py) timed beside one raw LMDB read, on the benchmark's own data folder.

What a ``GET /readyz`` or a gRPC health refresh costs a worker: the ``store``
check (one read transaction and one get) and the ``writer`` check (a
non-blocking connect to each of the writer's Unix sockets), against the
floor of one py-lmdb read transaction with one get on the same environment.
Medians of three rounds of ``n`` calls each, in µs per call, measured in the
bench process while the node serves.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from idnode.health import Health, store_check, unix_socket_check
from idnode.registry.store import Store

__all__ = ["compare"]

ROUNDS = 3


def _per_call_us(call: Callable[[], Any], n: int) -> float:
    rounds = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(n):
            call()
        rounds.append((time.perf_counter() - started) / n * 1e6)
    return statistics.median(rounds)


def compare(data_dir: Path, n: int) -> dict[str, Any]:
    """``lmdb_get_us``, ``store_check_us``, ``writer_check_us`` (None without writer sockets), ``readiness_us``
    (every check of a prefork worker together) and ``readiness_vs_lmdb_get``."""
    store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
    try:
        with store.begin(db="identifiers") as txn:
            cursor = txn.cursor()
            key = bytes(cursor.key()) if cursor.first() else b"\x00"  # an empty folder: a miss
        identifiers = store.dbs["identifiers"]

        def lmdb_get() -> None:
            with store.env.begin() as txn:
                txn.get(key, db=identifiers)

        check_store = store_check(store)
        health = Health()
        health.add_check("store", check_store)
        sockets = [str(p) for p in (data_dir / "writer.sock", data_dir / "writer-http.sock") if p.exists()]
        writer = unix_socket_check("the writer process", *sockets) if sockets else None
        if writer is not None:
            health.add_check("writer", writer)
        problems = health.problems()
        out: dict[str, Any] = {
            "lmdb_get_us": _per_call_us(lmdb_get, n),
            "store_check_us": _per_call_us(check_store, n),
            "writer_check_us": _per_call_us(writer, n) if writer is not None else None,
            "writer_sockets": len(sockets),
            "readiness_us": _per_call_us(health.problems, n),
            "problems": problems,
        }
    finally:
        store.close()
    out["readiness_vs_lmdb_get"] = out["readiness_us"] / out["lmdb_get_us"] if out["lmdb_get_us"] else None
    return out
