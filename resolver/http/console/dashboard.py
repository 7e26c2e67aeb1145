"""The operator dashboard: the node's own daily statistics and status shaped into charts (node admin, auditors).

Data (all through the registry facade, with the signed-in principal):

- resolutions and errors per day, prefix and front end: ``Registry.usage``
  (the daily totals the writer keeps, ``sync/stats.py``);
- registrations per day and prefix: ``Registry.daily_registrations``, the
  day counters the writer keeps (``sync/stats.py``); days before the
  counters' start (a store upgraded from an older idnode, backfilled from
  the retained change log only) are drawn as gaps, never as zero;
- error ratio, change-log head, sync and replication lag, LMDB used and map
  size: ``Registry.stats`` (what ``idnode stats`` shows).

:func:`shape` is pure (rows in, chart series out) and unit-tested; the
handler only gathers, shapes and renders.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from idnode.resolver.http.console.charts import Series
from idnode.sync.stats import FRONTENDS

__all__ = ["DEFAULT_DAYS", "MAX_PREFIX_SERIES", "RANGES", "Shaped", "day_range", "registrations", "shape"]

RANGES = (7, 30, 90)  # the range selector's choices, in days
DEFAULT_DAYS = 30
MAX_PREFIX_SERIES = 7  # prefixes drawn one by one; the rest are summed as "other"
OTHER = "other"


@dataclasses.dataclass(frozen=True, slots=True)
class Shaped:
    """Everything the dashboard draws, for one range and prefix filter."""

    days: tuple[str, ...]  # ISO days, oldest first
    resolutions_by_frontend: tuple[Series, ...]  # per day, one series per front end
    errors_by_frontend: tuple[Series, ...]  # per day, one series per front end
    registrations_by_prefix: tuple[Series, ...]  # per day, one series per prefix (None: day not known)
    prefixes: tuple[str, ...]  # the categories of the per-prefix bars, most resolutions first
    prefix_bars: tuple[Series, ...]  # resolutions per prefix over the range, one series per front end
    resolutions: int  # in the range (answers that succeeded)
    errors: int  # in the range (failed answers)
    registered: int  # creations counted in the known days of the range
    complete_from: str  # first day whose registrations are known ("" = every day)
    all_prefixes: tuple[str, ...]  # every prefix seen in the range (the filter's choices)


def day_range(today: datetime.date, days: int) -> list[datetime.date]:
    """The ``days`` days ending with ``today``, oldest first."""
    return [today - datetime.timedelta(days=offset) for offset in range(days - 1, -1, -1)]


async def registrations(walk: Iterable[Any]) -> tuple[dict[tuple[str, str], int], datetime.date | None]:
    """Drive ``Registry.daily_registrations``' generator, letting the event loop run between its chunks."""
    for result in walk:
        if result is not None:
            return result
        await asyncio.sleep(0)
    raise RuntimeError("the registrations walk ended without a result")  # not reached: the generator always answers


def _top(totals: dict[str, int], limit: int) -> list[str]:
    """The ``limit`` largest keys, largest first, ties by name."""
    return [name for name, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def shape(
    days: Sequence[datetime.date],
    usage_rows: Iterable[dict[str, Any]],
    created: dict[tuple[str, str], int],
    complete_from: datetime.date | None,
    prefix: str = "",
) -> Shaped:
    """Chart series from the registry's rows.

    Args:
        days: the days drawn, oldest first.
        usage_rows: ``Registry.usage`` rows (``day``, ``prefix``, ``frontend``,
            ``resolutions``, ``errors``).
        created: ``{(ISO day, prefix): creations}`` from ``Registry.daily_registrations``.
        complete_from: its first whole day (None: every day is known).
        prefix: only this prefix (lower case compared), ``""`` for all.
    """
    labels = tuple(day.isoformat() for day in days)
    where = {label: i for i, label in enumerate(labels)}
    wanted = prefix.lower()
    ok = {frontend: [0] * len(labels) for frontend in FRONTENDS}
    bad = {frontend: [0] * len(labels) for frontend in FRONTENDS}
    per_prefix: dict[str, dict[str, int]] = {}
    seen: set[str] = set()
    for row in usage_rows:
        i = where.get(row["day"])
        if i is None or row["frontend"] not in ok:
            continue
        seen.add(row["prefix"])
        if wanted and row["prefix"] != wanted:
            continue
        ok[row["frontend"]][i] += row["resolutions"]
        bad[row["frontend"]][i] += row["errors"]
        counts = per_prefix.setdefault(row["prefix"], dict.fromkeys(FRONTENDS, 0))
        counts[row["frontend"]] += row["resolutions"]

    known_from = complete_from.isoformat() if complete_from else ""
    by_prefix: dict[str, list[int]] = {}
    for (day, name), count in created.items():
        i = where.get(day)
        if i is None:
            continue
        seen.add(name)
        if (wanted and name != wanted) or (known_from and day < known_from):
            continue
        by_prefix.setdefault(name, [0] * len(labels))[i] += count
    drawn = _top({name: sum(counts) for name, counts in by_prefix.items()}, MAX_PREFIX_SERIES)
    rest = [name for name in by_prefix if name not in drawn]
    rows = [(name, by_prefix[name]) for name in drawn]
    if rest:
        rows.append((OTHER, [sum(by_prefix[name][i] for name in rest) for i in range(len(labels))]))
    unknown = [bool(known_from) and label < known_from for label in labels]
    registration_series = tuple(
        Series(name, tuple(None if unknown[i] else counts[i] for i in range(len(labels)))) for name, counts in rows
    )

    bars = _top({name: sum(counts.values()) for name, counts in per_prefix.items()}, 12)
    return Shaped(
        days=labels,
        resolutions_by_frontend=tuple(Series(f, tuple(ok[f])) for f in FRONTENDS),
        errors_by_frontend=tuple(Series(f, tuple(bad[f])) for f in FRONTENDS),
        registrations_by_prefix=registration_series,
        prefixes=tuple(bars),
        prefix_bars=tuple(Series(f, tuple(per_prefix[name][f] for name in bars)) for f in FRONTENDS),
        resolutions=sum(sum(v) for v in ok.values()),
        errors=sum(sum(v) for v in bad.values()),
        registered=sum(sum(counts) for counts in by_prefix.values()),
        complete_from=known_from if known_from and known_from > labels[0] else "",
        all_prefixes=tuple(sorted(seen)),
    )
