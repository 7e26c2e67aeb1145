"""Daily statistics for the top-level node (``ReportStats``), read from the change log.

Days are cut at midnight in ``Asia/Shanghai`` (DESIGN.md; another zone can be
given). Per prefix and day the node reports:

- ``registrations``: identifier creations in the day, counted from the change
  log (``OP_CREATE`` entries of the ``identifiers`` database), so the write
  path pays nothing for them;
- ``resolutions`` and ``errors``: 0 — the node does not count them per prefix
  yet (counting resolutions would cost the read hot path);

plus ``connected_enterprises``: the approved enterprises. A report holds the
day's totals so far; a later report of the same day replaces it at the top
node.
"""

from __future__ import annotations

import datetime
import json
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from idnode.proto import toplevel_pb2
from idnode.registry import changelog
from idnode.registry.store import Store, from_u64

DEFAULT_TZ = "Asia/Shanghai"


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


def connected_enterprises(store: Store) -> int:
    with store.begin() as txn:
        return sum(1 for _, v in txn.cursor(db=store.dbs["enterprises"]) if json.loads(v)["status"] == "approved")


def day_report(store: Store, node_prefix: str, day: datetime.date, tz: datetime.tzinfo) -> toplevel_pb2.StatsReport:
    """The ``StatsReport`` of ``day``: a row per prefix with registrations that day."""
    start, end = day_bounds(day, tz)
    counts = registrations(store, start, end)
    rows: list[Any] = [
        toplevel_pb2.PrefixDayStats(prefix=prefix, registrations=n) for prefix, n in sorted(counts.items())
    ]
    return toplevel_pb2.StatsReport(
        node_prefix=node_prefix, day=day.isoformat(), rows=rows, connected_enterprises=connected_enterprises(store)
    )
