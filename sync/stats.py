"""Daily statistics for the top-level node (``ReportStats``), read from the change log.

Days are cut at midnight in ``Asia/Shanghai`` (DESIGN.md; another zone can be
given). Per prefix and day the node reports:

- ``registrations``: identifier creations in the day, counted from the change
  log (``OP_CREATE`` entries of the ``identifiers`` database), so the write
  path pays nothing for them;
- ``resolutions`` and ``errors``: answers and failed answers for identifiers
  under the prefix, summed over the front ends. Each process counts them in
  its metrics tally (``idnode/metrics.py``: plain dicts on the hot path) and
  hands them once a second to the writer, which adds them to durable daily
  totals in the ``usage`` database (:func:`add_usage`): key ``day 0x00
  prefix 0x00 front end`` (day in the statistics zone, prefix lower case),
  value two big-endian u64 (resolutions, errors). They are not change-log
  entries: never replicated, never pushed as changes. A crash loses at most
  the last second (a worker's unflushed tally, or a report in flight to the
  writer); counts reach a day as they are flushed, so a second around
  midnight may land on the next day;

plus ``connected_enterprises``: the approved enterprises. A report holds the
day's totals so far; a later report of the same day replaces it at the top
node.
"""

from __future__ import annotations

import datetime
import json
import struct
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from idnode.proto import toplevel_pb2
from idnode.registry import changelog
from idnode.registry.store import Store, from_u64

DEFAULT_TZ = "Asia/Shanghai"
USAGE_DB = "usage"
WALK_LIMIT = 500_000  # change-log entries one registrations_by_day walk reads at most
FRONTENDS = ("grpc", "dns", "http")
_PAIR = struct.Struct(">QQ")


def zone(name: str = DEFAULT_TZ) -> datetime.tzinfo:
    """The zone ``name``; without tz data, Asia/Shanghai is UTC+8 (no daylight saving)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        if name == DEFAULT_TZ:
            return datetime.timezone(datetime.timedelta(hours=8), DEFAULT_TZ)
        raise


def day_of(when: float, tz: datetime.tzinfo) -> datetime.date:
    return datetime.datetime.fromtimestamp(when, tz).date()


def day_bounds(day: datetime.date, tz: datetime.tzinfo) -> tuple[int, int]:
    """``[start, end)`` of ``day`` in seconds since 1970."""
    start = datetime.datetime.combine(day, datetime.time(), tz)
    end = datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time(), tz)
    return int(start.timestamp()), int(end.timestamp())


def next_midnight(when: float, tz: datetime.tzinfo) -> float:
    return float(day_bounds(day_of(when, tz), tz)[1])


def registrations(store: Store, start: int, end: int) -> dict[str, int]:
    """Identifier creations per prefix with change-log time in ``[start, end)``.

    Walks the change log backwards from its head and stops at the first
    entry older than ``start`` (entries are appended in time order).
    """
    counts: dict[str, int] = {}
    with store.begin() as txn:
        cur = txn.cursor(db=store.dbs["changelog"])
        if not cur.last():
            return counts
        while True:
            entry = changelog.decode_entry(from_u64(bytes(cur.key())), bytes(cur.value()))
            if entry.time < start:
                break
            if entry.time < end and entry.db == "identifiers" and entry.op == changelog.OP_CREATE:
                prefix = entry.handle.split("/", 1)[0]
                if prefix.lower() != "0.na":  # prefix handles are allocations, not registrations
                    counts[prefix] = counts.get(prefix, 0) + 1
            if not cur.prev():
                break
    return counts


def registrations_by_day(
    store: Store,
    first: datetime.date,
    last: datetime.date,
    tz: datetime.tzinfo,
    prefixes: Any = None,
    chunk: int = 5000,
    limit: int = WALK_LIMIT,
) -> Iterator[tuple[dict[tuple[str, str], int], datetime.date | None] | None]:
    """Identifier creations per ``(day, prefix)`` from ``first`` to ``last`` (inclusive), from the change log.

    A generator for callers on an event loop: it walks the log backwards
    from its head in chunks of ``chunk`` entries, each in its own short read
    transaction, yields None after each chunk, and yields the result last:
    ``({(ISO day, lower-case prefix): count}, complete_from)``.
    ``complete_from`` is the first day the log still holds whole (None: the
    log was never pruned, every day is whole); creations on earlier days
    were pruned with their entries (``--log-retention``) and are not known.
    Prefix handles (``0.na``) are allocations and do not count; ``prefixes``
    (lower case) keeps only those. At most ``limit`` entries are walked (a
    page view stays bounded on a very long log): when it stops there,
    ``complete_from`` is the day after the oldest entry it read.
    """
    start = day_bounds(first, tz)[0]
    end = day_bounds(last, tz)[1]
    counts: dict[tuple[str, str], int] = {}
    ids = "identifiers"
    position: bytes | None = None
    total = 0
    oldest_read = 0
    while True:
        walked = 0
        with store.begin() as txn:
            cur = txn.cursor(db=store.dbs["changelog"])
            found = cur.set_range(position) and cur.prev() if position is not None else cur.last()
            while found and walked < chunk:
                op, db, when, key = changelog.peek(cur.value())
                if when < start:
                    found = False
                    break
                walked += 1
                oldest_read = when
                if when < end and db == ids and op == changelog.OP_CREATE:
                    prefix = bytes(key).split(b"\x00", 1)[0].decode()
                    if prefix != "0.na" and (prefixes is None or prefix in prefixes):
                        day = day_of(when, tz).isoformat()
                        counts[day, prefix] = counts.get((day, prefix), 0) + 1
                position = bytes(cur.key())
                found = cur.prev()
        total += walked
        if found and total >= limit:
            yield counts, day_of(oldest_read, tz) + datetime.timedelta(days=1)
            return
        if not found:
            break
        yield None
    pruned_sequence = changelog.pruned(store)[0]
    complete_from = None
    if pruned_sequence:
        with store.begin() as txn:
            cur = txn.cursor(db=store.dbs["changelog"])
            oldest = changelog.peek(cur.value())[2] if cur.first() else time.time()
        complete_from = day_of(oldest, tz) + datetime.timedelta(days=1)
    yield counts, complete_from


def connected_enterprises(store: Store) -> int:
    with store.begin() as txn:
        return sum(1 for _, v in txn.cursor(db=store.dbs["enterprises"]) if json.loads(v)["status"] == "approved")


def _usage_key(day: str, prefix: str, frontend: str) -> bytes:
    return f"{day}\x00{prefix}\x00{frontend}".encode()


def add_usage(ctx: Any, day: datetime.date, counts: dict[tuple[str, str], list[int]]) -> None:
    """Add ``{(prefix, frontend): [resolutions, errors]}`` to ``day``'s totals (a writer operation;
    no change-log entry). Unknown front ends and empty prefixes are left out."""
    text = day.isoformat()
    for (prefix, frontend), (ok, bad) in counts.items():
        if not prefix or frontend not in FRONTENDS or "\x00" in prefix or not (ok or bad):
            continue
        key = _usage_key(text, prefix.lower(), frontend)
        raw = ctx.get(USAGE_DB, key)
        before = _PAIR.unpack(raw) if raw else (0, 0)
        ctx.put(USAGE_DB, key, _PAIR.pack(before[0] + max(ok, 0), before[1] + max(bad, 0)))


def usage_rows(store: Store, first: datetime.date, last: datetime.date, prefixes: Any = None) -> list[dict[str, Any]]:
    """The daily totals from ``first`` to ``last`` (inclusive), in (day, prefix, front end) order:
    ``{"day", "prefix", "frontend", "resolutions", "errors"}``; only ``prefixes`` when given."""
    out: list[dict[str, Any]] = []
    end = (last + datetime.timedelta(days=1)).isoformat().encode()
    with store.begin() as txn:
        cur = txn.cursor(db=store.dbs[USAGE_DB])
        if not cur.set_range(first.isoformat().encode()):
            return out
        for key, raw in cur:
            if bytes(key) >= end:
                break
            day, prefix, frontend = bytes(key).decode().split("\x00")
            if prefixes is not None and prefix not in prefixes:
                continue
            ok, bad = _PAIR.unpack(raw)
            out.append({"day": day, "prefix": prefix, "frontend": frontend, "resolutions": ok, "errors": bad})
    return out


def day_usage(store: Store, day: datetime.date) -> dict[str, tuple[int, int]]:
    """``prefix -> (resolutions, errors)`` of ``day``, summed over the front ends."""
    out: dict[str, tuple[int, int]] = {}
    for row in usage_rows(store, day, day):
        ok, bad = out.get(row["prefix"], (0, 0))
        out[row["prefix"]] = (ok + row["resolutions"], bad + row["errors"])
    return out


def day_report(store: Store, node_prefix: str, day: datetime.date, tz: datetime.tzinfo) -> toplevel_pb2.StatsReport:
    """The ``StatsReport`` of ``day``: a row per prefix with registrations, resolutions or errors that day."""
    start, end = day_bounds(day, tz)
    counts = registrations(store, start, end)
    usage = day_usage(store, day)
    rows: list[Any] = [
        toplevel_pb2.PrefixDayStats(
            prefix=prefix,
            registrations=counts.get(prefix, 0),
            resolutions=usage.get(prefix, (0, 0))[0],
            errors=usage.get(prefix, (0, 0))[1],
        )
        for prefix in sorted(set(counts) | set(usage))
    ]
    return toplevel_pb2.StatsReport(
        node_prefix=node_prefix, day=day.isoformat(), rows=rows, connected_enterprises=connected_enterprises(store)
    )


def usage_applier(writer: Any, tz: datetime.tzinfo | None = None) -> Any:
    """A function ``counts -> future`` adding per-prefix counts to today's totals through ``writer``
    (today in ``tz``, default the statistics zone); the future is done when they are durable."""
    where = tz or zone()

    def apply(counts: dict[tuple[str, str], list[int]]) -> Any:
        day = day_of(time.time(), where)
        return writer.submit(lambda ctx: add_usage(ctx, day, counts))

    return apply
