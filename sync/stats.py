"""Daily statistics for the top-level node (``ReportStats``) and the dashboard: durable day counters.

Days are cut at midnight in ``Asia/Shanghai`` (DESIGN.md; another zone can be
given). Per prefix and day the node reports:

- ``registrations``: identifier creations in the day (a new handle, or a
  handle created again after it was deleted; an identical repeat is not one;
  prefix handles ``0.NA/...`` are allocations and never count). The writer
  counts them in the same LMDB write transaction as the creations
  (:func:`add_registrations`, called once per group commit with the group's
  creations summed per day and prefix), so a rolled-back creation is never
  counted and a reader reads one key per day and prefix instead of walking
  the change log. Key ``day 0x00 prefix 0x00 "registrations"`` in the
  ``usage`` database, value one big-endian u64. A read replica counts the
  ``OP_CREATE`` entries it applies the same way, in its apply transaction, by
  the entry's own time, so its counters equal the primary's; a snapshot
  bootstrap copies the primary's counters (:func:`registration_items`);
  ``idnode restore-from-top`` replays the whole history and so recounts
  them; ``idnode backup``/``restore`` copy them with the rest of the store.
  Two ``meta`` keys say what the counters cover: ``registrations_since``
  (u64 sequence + u64 time: the first transaction that counted saw the log
  head at that sequence; every later entry is counted as written) and
  ``registrations_from`` (the first day whose count is whole, ISO text; empty:
  every day; absent: the one-time backfill of an older store is pending).
  :func:`backfill_registrations`, at writer start, counts what the change
  log still holds up to ``registrations_since`` and sets
  ``registrations_from`` in one write, so it runs once; days before the
  oldest retained entry stay unknown ("not counted" on the dashboard);
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
import logging
import struct
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from idnode.proto import toplevel_pb2
from idnode.registry import changelog
from idnode.registry.store import Store, from_u64, u64

log = logging.getLogger(__name__)

DEFAULT_TZ = "Asia/Shanghai"
USAGE_DB = "usage"
FRONTENDS = ("grpc", "dns", "http")
REGISTRATIONS = "registrations"  # the last field of a registration counter's usage key
COUNTED_SINCE = b"registrations_since"  # meta: u64 sequence + u64 time; later entries are counted as written
COUNTED_FROM = b"registrations_from"  # meta: first whole day (ISO; b"" = every day); absent: backfill pending
_PAIR = struct.Struct(">QQ")
_U64 = struct.Struct(">Q")
_REG_SUFFIX = b"\x00" + REGISTRATIONS.encode()


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


class DayOf:
    """``when -> ISO day`` in ``tz``, remembering the last day's bounds (a group's entries share a day)."""

    __slots__ = ("_bounds", "_text", "tz")

    def __init__(self, tz: datetime.tzinfo) -> None:
        self.tz = tz
        self._bounds = (0, 0)
        self._text = ""

    def __call__(self, when: float) -> str:
        start, end = self._bounds
        if not start <= when < end:
            day = day_of(when, self.tz)
            self._bounds = day_bounds(day, self.tz)
            self._text = day.isoformat()
        return self._text


def created_prefix(op: int, db: str, key: bytes) -> bytes | None:
    """The lower-case prefix (handle-key bytes) a change-log entry registers an identifier under, else None."""
    if op != changelog.OP_CREATE or db != "identifiers":
        return None
    prefix = bytes(key).partition(b"\x00")[0]
    return None if prefix == b"0.na" else prefix  # prefix handles are allocations, not registrations


def add_registrations(txn: Any, store: Store, counts: dict[tuple[str, bytes], int]) -> None:
    """Add ``{(ISO day, prefix key): creations}`` to the day counters, in ``txn`` (one get + put per key)."""
    db = store.dbs[USAGE_DB]
    for (day, prefix), n in counts.items():
        if n <= 0:
            continue
        key = day.encode() + b"\x00" + prefix + _REG_SUFFIX
        raw = txn.get(key, db=db)
        txn.put(key, _U64.pack((_U64.unpack(raw)[0] if raw else 0) + n), db=db)


def per_day(created: dict[tuple[float, bytes], int], tz: datetime.tzinfo) -> dict[tuple[str, bytes], int]:
    """``{(time, prefix key): n}`` (what a write transaction created) summed per ``(ISO day, prefix key)``."""
    day = DayOf(tz)
    out: dict[tuple[str, bytes], int] = {}
    for (when, prefix), n in created.items():
        k = day(when), prefix
        out[k] = out.get(k, 0) + n
    return out


def start_counting(txn: Any, store: Store, sequence: int, now: float) -> None:
    """Record, in the first write transaction that counts, that entries after ``sequence`` are counted live.

    An empty history (``sequence`` 0) has nothing to backfill: every day is known.
    """
    meta = store.dbs["meta"]
    if txn.get(COUNTED_SINCE, db=meta) is None:
        txn.put(COUNTED_SINCE, _U64.pack(sequence) + _U64.pack(int(now)), db=meta)
        if sequence == 0 and txn.get(COUNTED_FROM, db=meta) is None:
            txn.put(COUNTED_FROM, b"", db=meta)


def set_counted(ctx: Any, sequence: int, now: float, complete_from: datetime.date | None) -> None:
    """Write operation: the counters hold every creation up to ``sequence``, whole from ``complete_from``
    (None: every day). A replica's snapshot bootstrap and ``restore-from-top`` end with it."""
    ctx.put("meta", COUNTED_SINCE, _U64.pack(sequence) + _U64.pack(int(now)))
    ctx.put("meta", COUNTED_FROM, complete_from.isoformat().encode() if complete_from else b"")


def counted_after_snapshot(ctx: Any, sequence: int) -> None:
    """Write operation ending a replica's snapshot bootstrap at ``sequence``: entries after it are counted as
    applied. A snapshot from a primary without counters (no ``registrations_from``) leaves every day before
    tomorrow unknown."""
    if ctx.get("meta", COUNTED_FROM) is None:
        ctx.put("meta", COUNTED_FROM, (day_of(ctx.now, zone()) + datetime.timedelta(days=1)).isoformat().encode())
    ctx.put("meta", COUNTED_SINCE, _U64.pack(sequence) + _U64.pack(int(ctx.now)))


def clear_registrations(ctx: Any) -> int:
    """Write operation: delete every registration counter and their meta keys (a snapshot replaces them)."""
    cur = ctx.cursor(USAGE_DB)
    count = 0
    found = cur.first()
    while found:
        if bytes(cur.key()).endswith(_REG_SUFFIX):
            found = cur.delete()  # moves to the next key
            count += 1
        else:
            found = cur.next()
    for key in (COUNTED_SINCE, COUNTED_FROM):
        if ctx.get("meta", key) is not None:
            ctx.delete("meta", key)
    return count


def registration_items(txn: Any, store: Store) -> Iterator[tuple[bytes, bytes]]:
    """Every registration counter (key, value) in ``txn``, in key order (a replica snapshot carries them)."""
    for key, value in txn.cursor(db=store.dbs[USAGE_DB]):
        if bytes(key).endswith(_REG_SUFFIX):
            yield bytes(key), bytes(value)


def is_registration_key(key: bytes) -> bool:
    return bytes(key).endswith(_REG_SUFFIX)


def counted_from(store: Store, tz: datetime.tzinfo, txn: Any = None) -> datetime.date | None:
    """The first day whose registration count is whole; None when every day is.

    Before the backfill ran (``registrations_from`` absent) only days after
    the day counting started are whole; a store never written since the
    counters exist knows no day (tomorrow).
    """
    if txn is None:
        with store.begin() as own:
            return counted_from(store, tz, own)
    meta = store.dbs["meta"]
    raw = txn.get(COUNTED_FROM, db=meta)
    if raw is not None:
        return datetime.date.fromisoformat(bytes(raw).decode()) if raw else None
    since = txn.get(COUNTED_SINCE, db=meta)
    when = _U64.unpack(bytes(since)[8:16])[0] if since else time.time()
    return day_of(when, tz) + datetime.timedelta(days=1)


def day_registrations(store: Store, day: datetime.date) -> dict[str, int]:
    """``prefix -> creations`` of ``day`` (lower-case prefixes), from the counters."""
    *_, (counts, _) = registrations_by_day(store, day, day, zone(), chunk=1 << 30)
    return {prefix: n for (_, prefix), n in counts.items()}


def registrations_by_day(
    store: Store,
    first: datetime.date,
    last: datetime.date,
    tz: datetime.tzinfo,
    prefixes: Any = None,
    chunk: int = 5000,
) -> Iterator[tuple[dict[tuple[str, str], int], datetime.date | None] | None]:
    """Identifier creations per ``(day, prefix)`` from ``first`` to ``last`` (inclusive), from the day counters.

    A generator for callers on an event loop: it reads the ``usage`` keys of
    the range in one read transaction, yields None after every ``chunk``
    keys, and yields the result last: ``({(ISO day, lower-case prefix):
    count}, complete_from)``. ``complete_from`` is the first day whose count
    is whole (:func:`counted_from`; None: every day); earlier days hold what
    the backfill found in the retained change log, if anything, and are
    not known. ``prefixes`` (lower case) keeps only those.
    """
    counts: dict[tuple[str, str], int] = {}
    end = (last + datetime.timedelta(days=1)).isoformat().encode()
    with store.begin() as txn:
        complete_from = counted_from(store, tz, txn)
        cur = txn.cursor(db=store.dbs[USAGE_DB])
        found = cur.set_range(first.isoformat().encode())
        read = 0
        while found:
            key = bytes(cur.key())
            if key >= end:
                break
            if key.endswith(_REG_SUFFIX):
                day, prefix, _ = key.decode().split("\x00")
                if prefixes is None or prefix in prefixes:
                    counts[day, prefix] = _U64.unpack(cur.value())[0]
            read += 1
            if read % chunk == 0:
                yield None
            found = cur.next()
    yield counts, complete_from


def backfill_registrations(store: Store, writer: Any, tz: datetime.tzinfo | None = None, chunk: int = 10_000) -> int:
    """Count the creations an older store logged before the counters existed, once; return how many.

    Runs at writer start (``idnode/node.py`` ``open_writer``) before anything
    else is submitted. It makes sure live counting has started (a no-op
    write: the writer's first group records ``registrations_since``), walks
    the retained change log up to that sequence in chunks of ``chunk``
    entries (each its own read transaction), and adds the counts together
    with ``registrations_from`` in one write, which also makes it run once.
    Days before the oldest retained entry (``--log-retention`` pruned them)
    stay unknown: ``registrations_from`` is the day after that entry's day,
    or empty when the whole history is still there.
    """
    where = tz or zone()
    if store.get("meta", COUNTED_FROM) is not None:
        return 0
    writer.run(lambda ctx: None)
    raw = store.get("meta", COUNTED_SINCE)
    if store.get("meta", COUNTED_FROM) is not None or raw is None:
        return 0
    since, since_time = _U64.unpack(raw[:8])[0], _U64.unpack(raw[8:16])[0]
    day = DayOf(where)
    counts: dict[tuple[str, bytes], int] = {}
    first: tuple[int, int] | None = None  # (sequence, time) of the oldest entry read
    position = 0
    total = 0
    done = False
    while not done:
        with store.begin() as txn:
            cur = txn.cursor(db=store.dbs["changelog"])
            found = cur.set_range(u64(position + 1))
            walked = 0
            while found and walked < chunk:
                position = from_u64(bytes(cur.key()))
                if position > since:
                    found = False
                    break
                op, db, when, key = changelog.peek(cur.value())
                if first is None:
                    first = position, when
                prefix = created_prefix(op, db, key)
                if prefix is not None:
                    k = day(when), prefix
                    counts[k] = counts.get(k, 0) + 1
                    total += 1
                walked += 1
                found = cur.next()
            done = not found
    if first is None:
        complete = None if since == 0 else day_of(since_time, where) + datetime.timedelta(days=1)
    elif first[0] == 1:
        complete = None  # the whole history is still in the log
    else:
        complete = day_of(first[1], where) + datetime.timedelta(days=1)

    def apply(ctx: Any) -> None:
        if ctx.get("meta", COUNTED_FROM) is None:
            add_registrations(ctx.txn, ctx.store, counts)
            ctx.put("meta", COUNTED_FROM, complete.isoformat().encode() if complete else b"")

    writer.run(apply)
    log.info("registration counters: %d creations backfilled from the change log, whole from %s", total, complete)
    return total


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
            if frontend == REGISTRATIONS or (prefixes is not None and prefix not in prefixes):
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
    counts = day_registrations(store, day)
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
