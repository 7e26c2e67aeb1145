"""Prometheus metrics of the node: declarations, cheap per-process tallies, the scrape-time store collector.

Every process of a node (supervisor, writer, reader workers; or the one
process of ``--workers 1``) writes its values into prometheus-client's
multiprocess files in one folder (``PROMETHEUS_MULTIPROC_DIR``, emptied at
start), so any worker answers ``GET /metrics`` with the sum over all
processes. The folder is never on the data disk: prometheus-client grows its
files sparsely and writes them through ``mmap``, so on a full disk the first
new label value kills the process with SIGBUS (seen: a full data disk crashed
workers instead of answering "store full"). By default it is
``/dev/shm/idnode-metrics-<digest of the data folder's path>`` (memory, one
per node, the same across restarts so nothing piles up), or the system's
temporary folder where ``/dev/shm`` is missing; ``--metrics-dir`` names
another.

The hot paths never call prometheus-client: one ``inc()`` or ``observe()``
in multiprocess mode takes a lock and writes an mmap (about 2 µs here, a
sixth of a DNS answer). Front ends count into plain per-process Python
structures (:class:`Tally`, :class:`Histo`) and a flusher moves the sums into
the prometheus values once a second, at each scrape of this process and at
shutdown, with ``Counter.inc(n)``; histograms are counted in power-of-two
buckets (``(n - 1).bit_length()`` of an integer, exact) whose bounds are the
prometheus buckets, and a bucket's count is added to that bucket's value
(see :func:`_add_to_histogram`). A crash can lose at most the last second of
request counts; nothing is ever counted twice.

Store-derived gauges (LMDB map, readers, change-log head, sync lag) are not
pushed by anyone: :class:`StoreCollector` reads them from LMDB at scrape
time, so every worker answers the same. Adding one is one line in
:data:`STORE_GAUGES`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "DNS_RCODES",
    "DURATION_BOUNDS_NS",
    "MULTIPROC_ENV",
    "STORE_GAUGES",
    "Histo",
    "StoreCollector",
    "Tally",
    "declared",
    "default_dir",
    "exposition",
    "prepare_dir",
    "process_started",
    "remove_dir",
    "tally",
]

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
FLUSH_INTERVAL = 1.0  # seconds between moving the tallies into the prometheus values
ROLE = "primary"  # idnode_build_info's role; a read replica reports "replica"

# Power-of-two buckets: a histogram value v (an int) lands in tally slot (v - 1).bit_length(),
# i.e. the smallest j with v <= 2**j. The prometheus bounds are those 2**j (scaled).
DURATION_LOW, DURATION_HIGH = 10, 33  # 2**10 ns (about 1 µs) .. 2**33 ns (about 8.6 s), then +Inf
DURATION_BOUNDS_NS = tuple(2**j for j in range(DURATION_LOW, DURATION_HIGH + 1))
ITEMS_LOW, ITEMS_HIGH = 0, 14  # 1 .. 16384 items (batches hold at most a few thousand)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
SLOTS = 65  # tally slots: bit lengths 0..64
MAX_USAGE_KEYS = 10_000  # distinct (prefix, front end) pairs a process counts between two flushes

DNS_RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
    16: "BADVERS",
}
"""DNS response codes by number (the ``code`` label of DNS requests); others are ``RCODE<n>``."""
DNS_DROPPED = "DROPPED"  # a message answered with nothing (a response, or shorter than a header)


# -- hot-path tallies (plain Python, one process, event-loop thread) ----------------------------


class Histo:
    """Observations of one histogram series, counted in power-of-two slots.

    ``counts[j]`` holds the observations ``v`` with ``(v - 1).bit_length() == j``
    (so ``2**(j-1) < v <= 2**j``; slot 0 holds ``v <= 1``), ``total`` their sum.
    Values are ints (nanoseconds, items). Hot loops may update ``counts`` and
    ``total`` inline.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * SLOTS
        self.total = 0

    def add(self, value: int) -> None:
        self.counts[(value - 1).bit_length() if value > 0 else 0] += 1
        self.total += value

    def take(self) -> tuple[list[int], int]:
        """The counts and sum so far; starts again from zero."""
        counts, total = self.counts, self.total
        self.counts, self.total = [0] * SLOTS, 0
        return counts, total


class Tally:
    """One process's request counts, latencies and batch sizes since the last flush.

    Updated only on the event-loop thread (every front end runs there), so no
    lock. ``sources`` are callables run at each flush before the tally is
    taken; they fold counts kept elsewhere (the DNS transports' lists, the
    recursor's cache statistics) into it.
    """

    __slots__ = ("batches", "durations", "requests", "sources", "usage", "usage_sink")

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.durations: dict[tuple[str, str], Histo] = {}
        self.batches: dict[tuple[str, str], Histo] = {}
        self.sources: list[Callable[[Tally], None]] = []
        # Per-prefix daily statistics (sync/stats.py): (prefix, frontend) -> [resolutions, errors]
        self.usage: dict[tuple[str, str], list[int]] = {}
        self.usage_sink: Callable[[dict[tuple[str, str], list[int]]], None] | None = None

    def request(self, frontend: str, method: str, code: Any, elapsed_ns: int) -> None:
        """Count one request and its duration (``code``: a Handle code, rcode name or HTTP status)."""
        key = (frontend, method, str(code))
        self.requests[key] = self.requests.get(key, 0) + 1
        self.duration(frontend, method).add(elapsed_ns)

    def count(self, frontend: str, method: str, code: Any, n: int = 1) -> None:
        """Count ``n`` requests without their durations (those went into :meth:`duration` already)."""
        if n:
            key = (frontend, method, str(code))
            self.requests[key] = self.requests.get(key, 0) + n

    def duration(self, frontend: str, method: str) -> Histo:
        """The latency histogram of ``(frontend, method)`` (nanoseconds)."""
        key = (frontend, method)
        histo = self.durations.get(key)
        if histo is None:
            histo = self.durations[key] = Histo()
        return histo

    def used(self, prefix: str, frontend: str, ok: bool, n: int = 1) -> None:
        """Count ``n`` resolutions (``ok``) or errors of identifiers under ``prefix`` (any case)."""
        entry = self.usage.get((prefix, frontend))
        if entry is None:
            if len(self.usage) >= MAX_USAGE_KEYS:
                return  # a flood of made-up prefixes: bounded memory (README: not counted per prefix)
            entry = self.usage[(prefix, frontend)] = [0, 0]
        entry[0 if ok else 1] += n

    def used_many(self, frontend: str, handles: Any, failed: Any) -> None:
        """Count a batch: every handle a resolution of its prefix but those in ``failed`` (errors).

        The common batch holds one prefix: that is checked with one join and
        one count at C speed; other batches are counted handle by handle.
        Texts without a ``/`` (malformed handles) name no prefix and are left out.
        """
        if not handles:
            return
        first = handles[0]
        cut = first.find("/")
        if cut > 0 and ("\n" + "\n".join(handles)).count("\n" + first[: cut + 1]) == len(handles):
            counts = {first[:cut]: len(handles)}
        else:
            counts = {}
            for text in handles:
                prefix, slash, _ = text.partition("/")
                if slash:
                    counts[prefix] = counts.get(prefix, 0) + 1
        for text in failed:
            prefix, slash, _ = text.partition("/")
            if slash and prefix in counts:
                counts[prefix] -= 1
                self.used(prefix, frontend, False)
        for prefix, n in counts.items():
            if n > 0:
                self.used(prefix, frontend, True, n)

    def give_back(self, counts: dict[tuple[str, str], list[int]]) -> None:
        """Counts a sink could not deliver, for the next flush."""
        for (prefix, frontend), (ok, bad) in counts.items():
            self.used(prefix, frontend, True, ok)
            self.used(prefix, frontend, False, bad)

    def take_usage(self) -> dict[tuple[str, str], list[int]]:
        """The per-prefix counts so far, keyed by lower-case prefix; starts again from zero."""
        taken, self.usage = self.usage, {}
        out: dict[tuple[str, str], list[int]] = {}
        for (prefix, frontend), (ok, bad) in taken.items():
            entry = out.setdefault((prefix.lower(), frontend), [0, 0])
            entry[0] += ok
            entry[1] += bad
        return out

    def batch(self, frontend: str, method: str, items: int) -> None:
        """Count one batch request of ``items`` items."""
        key = (frontend, method)
        histo = self.batches.get(key)
        if histo is None:
            histo = self.batches[key] = Histo()
        histo.add(items)

    def take(self) -> tuple[dict, dict, dict]:
        """Run the sources, then return and reset ``(requests, durations, batches)``."""
        for source in self.sources:
            source(self)
        taken = self.requests, self.durations, self.batches
        self.requests, self.durations, self.batches = {}, {}, {}
        return taken


_TALLY: Tally | None = None  # set when metrics are on in this process


def tally() -> Tally | None:
    """This process's tally, or None when metrics are off (front ends then count nothing)."""
    return _TALLY


# -- declarations -----------------------------------------------------------------------------------


class _Declared:
    """The prometheus-client metric objects (created once per process tree, after the multiprocess
    folder is set: prometheus-client picks its value class when the first metric is built)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "idnode_requests_total",
            "Requests answered, by front end, method and result code.",
            ["frontend", "method", "code"],
        )
        self.request_duration = Histogram(
            "idnode_request_duration_seconds",
            "Time to answer one request in the node.",
            ["frontend", "method"],
            buckets=[b / 1e9 for b in DURATION_BOUNDS_NS],
        )
        self.batch_items = Histogram(
            "idnode_batch_items",
            "Items per batch request.",
            ["frontend", "method"],
            buckets=[float(2**j) for j in range(ITEMS_LOW, ITEMS_HIGH + 1)],
        )
        self.write_group_size = Histogram(
            "idnode_write_group_size",
            "Write operations per group-commit transaction in the writer.",
            buckets=[float(b) for b in GROUP_BUCKETS],
        )
        self.recursion_cache = Counter(
            "idnode_recursion_cache_total",
            "Recursion cache lookups (site: where a prefix lives; answer: an owner's reply), by result.",
            ["cache", "result"],
        )
        for cache in ("site", "answer"):  # exported from the start (0 on a stand-alone node)
            for result in ("hit", "miss"):
                self.recursion_cache.labels(cache, result)
        self.registrations = Counter(
            "idnode_registrations_total", "Identifiers created (committed), by prefix.", ["prefix"]
        )
        self.worker_restarts = Counter(
            "idnode_worker_restarts_total", "Child processes (reader workers, the writer) restarted by the supervisor."
        )
        self.replication_applied: Any = None  # declared by a read replica's processes (process_started)
        self.build_info = Gauge(
            "idnode_build_info",
            "Always 1; the labels name the version and role.",
            ["version", "role"],
            multiprocess_mode="max",
        )


_DECLARED: _Declared | None = None


def declared() -> _Declared | None:
    """The metric objects, or None when metrics are off in this process."""
    return _DECLARED


def default_dir(data_dir: Path) -> Path:
    """The node's multiprocess folder in memory: ``/dev/shm`` (else the temporary folder), named after the
    data folder's absolute path, so two nodes never share one and a restarted node reuses its own."""
    digest = hashlib.sha256(str(Path(data_dir).resolve()).encode()).hexdigest()[:16]
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else Path(tempfile.gettempdir())
    return base / f"idnode-metrics-{digest}"


def prepare_dir(data_dir: Path, folder: Path | None = None) -> Path:
    """Empty and create the multiprocess folder (``folder``, else :func:`default_dir`) with mode 0700 and point
    prometheus-client at it (before any metric exists).

    Called by the process that starts the node (supervisor or single process), before forking.

    Raises:
        OSError: the folder cannot be emptied or created (naming it; e.g. another user's folder in /dev/shm).
    """
    folder = (Path(folder) if folder else default_dir(data_dir)).resolve()
    try:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(mode=0o700, parents=True)
    except OSError as exc:
        reason = f"cannot prepare the metrics folder {folder}: {exc.strerror} (--metrics-dir)"
        raise OSError(exc.errno, reason) from None
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder


def remove_dir() -> None:
    """Remove this node's multiprocess folder at a clean stop (the supervisor or single process)."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def process_started(role: str = ROLE) -> _Declared:
    """Turn metrics on in this process: declare the metrics (once), start a tally, set build info."""
    global _DECLARED, _TALLY
    from idnode import __version__

    if _DECLARED is None:
        _DECLARED = _Declared()
    if role == "replica" and _DECLARED.replication_applied is None:
        from prometheus_client import Counter

        _DECLARED.replication_applied = Counter(
            "idnode_replication_applied_total", "Change-log entries applied by this read replica."
        )
    _TALLY = Tally()
    _DECLARED.build_info.labels(__version__, role).set(1)
    return _DECLARED


def process_dead(pid: int) -> None:
    """Forget a dead child's live gauges (the supervisor calls this as it reaps)."""
    if _DECLARED is None or not os.environ.get(MULTIPROC_ENV):
        return
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid)


# -- moving tallies into prometheus ----------------------------------------------------------------


def _fold(counts: list[int], low: int, high: int) -> list[int]:
    """Tally slots -> per-bucket counts of bounds ``2**low .. 2**high`` plus +Inf."""
    out = [0] * (high - low + 2)
    out[0] = sum(counts[: low + 1])
    for j in range(low + 1, high + 1):
        out[j - low] = counts[j]
    out[-1] = sum(counts[high + 1 :])
    return out


def _add_to_histogram(child: Any, buckets: list[int], total: float) -> None:
    """Add pre-bucketed observations to one histogram series.

    prometheus-client keeps one value per bucket (non-cumulative; ``observe``
    increments the first bucket whose bound holds the value) plus ``_sum``,
    and exposes the cumulative counts; adding ``n`` to a bucket's value is
    exactly what ``n`` calls of ``observe`` with values in that bucket do.
    There is no public call for it, so this uses the series' ``_buckets`` and
    ``_sum`` values (checked against ``observe`` by a unit test).
    """
    for i, n in enumerate(buckets):
        if n:
            child._buckets[i].inc(n)
    child._sum.inc(total)


def flush() -> None:
    """Move this process's tally into the prometheus values, and its per-prefix counts to the
    usage sink (the writer's daily statistics), on the event-loop thread."""
    if _TALLY is None or _DECLARED is None:
        return
    requests, durations, batches = _TALLY.take()
    if _TALLY.usage_sink is not None and _TALLY.usage:
        _TALLY.usage_sink(_TALLY.take_usage())
    metrics = _DECLARED
    for (frontend, method, code), n in requests.items():
        metrics.requests.labels(frontend, method, code).inc(n)
    for (frontend, method), histo in durations.items():
        counts, total = histo.take()
        if any(counts):
            buckets = _fold(counts, DURATION_LOW, DURATION_HIGH)
            _add_to_histogram(metrics.request_duration.labels(frontend, method), buckets, total / 1e9)
    for (frontend, method), histo in batches.items():
        counts, total = histo.take()
        if any(counts):
            _add_to_histogram(metrics.batch_items.labels(frontend, method), _fold(counts, ITEMS_LOW, ITEMS_HIGH), total)


class Flusher:
    """Flushes the tally every ``interval`` seconds on the running loop, and once more at :meth:`stop`."""

    def __init__(self, interval: float = FLUSH_INTERVAL) -> None:
        self.interval = interval
        self._task = asyncio.get_running_loop().create_task(self._run(), name="idnode-metrics-flush")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                flush()
            except Exception:  # a full disk must not stop the node; the counts stay in the tally
                log.exception("metrics flush failed")

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        flush()
        drain = getattr(_TALLY.usage_sink, "drain", None) if _TALLY is not None else None
        if drain is not None:  # the last per-prefix counts on their way to the writer
            await drain()


def start_flusher() -> Flusher | None:
    """A :class:`Flusher` on the running loop when metrics are on in this process."""
    return Flusher() if _TALLY is not None else None


# -- counts made outside the event loop (writer thread, supervisor) -------------------------------


def write_group(size: int, created: dict[str, int]) -> None:
    """A committed group-commit transaction of ``size`` operations creating ``created`` identifiers per prefix.

    Called by the writer thread once per group (a few per millisecond at most),
    so it updates the prometheus values directly.
    """
    if _DECLARED is None:
        return
    _DECLARED.write_group_size.observe(size)
    for prefix, n in created.items():
        _DECLARED.registrations.labels(prefix).inc(n)


def replication_applied(count: int) -> None:
    """A read replica committed ``count`` change-log entries (once per applied batch, on the writer's loop)."""
    if _DECLARED is not None and _DECLARED.replication_applied is not None:
        _DECLARED.replication_applied.inc(count)


def worker_restarted() -> None:
    if _DECLARED is not None:
        _DECLARED.worker_restarts.inc()


def watch_recursor(recursor: Any) -> None:
    """Report ``recursor.stats`` cache hits and misses as ``idnode_recursion_cache_total`` at each flush."""
    if _TALLY is None or _DECLARED is None:
        return
    seen: dict[str, int] = {}
    counter = _DECLARED.recursion_cache
    keys = (("site_hits", "site", "hit"), ("site_misses", "site", "miss"))
    keys += (("answer_hits", "answer", "hit"), ("answer_misses", "answer", "miss"))

    def source(_: Tally) -> None:
        for key, cache, result in keys:
            now = recursor.stats.get(key, 0)
            delta = now - seen.get(key, 0)
            if delta > 0:
                counter.labels(cache, result).inc(delta)
            seen[key] = now

    _TALLY.sources.append(source)


# -- scrape-time gauges read from LMDB --------------------------------------------------------------


class StoreView:
    """What one scrape reads from the store, once: ``usage`` (map, readers), ``head`` (change-log
    head sequence), ``sync`` (the outbox lag, None when stand-alone) and ``replication`` (a read
    replica's :func:`idnode.sync.replica.replication_status`, None on a primary)."""

    def __init__(self, store: Any, top: bool, now: float) -> None:
        from idnode.registry import changelog
        from idnode.sync.replica import replication_status

        self.replication = replication_status(store, now)

        self.usage = store.usage()
        self.sync = changelog.lag(store, changelog.OUTBOX_CURSOR, now) if top else None
        self.head = self.sync["last_sequence"] if self.sync is not None else store.last_sequence()
        self.store = store
        self.now = now


STORE_GAUGES: list[tuple[str, str, Callable[[StoreView], float | None]]] = [
    ("idnode_lmdb_map_size_bytes", "LMDB map size.", lambda v: v.usage["map_size"]),
    ("idnode_lmdb_used_bytes", "LMDB pages in use, in bytes.", lambda v: v.usage["map_used"]),
    ("idnode_lmdb_readers", "LMDB reader slots in use.", lambda v: v.usage["readers_used"]),
    ("idnode_changelog_sequence", "The change log's head sequence number.", lambda v: v.head),
    (
        "idnode_sync_lag_sequences",
        "Change-log entries the top-level node has not acknowledged (0 when stand-alone).",
        lambda v: v.sync["lag_sequences"] if v.sync else 0,
    ),
    (
        "idnode_sync_lag_seconds",
        "Age of the oldest change the top-level node has not acknowledged (0 when stand-alone).",
        lambda v: v.sync["lag_seconds"] if v.sync else 0,
    ),
    (
        "idnode_replication_lag_sequences",
        "Change-log entries a read replica has not applied yet (replicas only).",
        lambda v: v.replication["lag_sequences"] if v.replication else None,
    ),
    (
        "idnode_replication_lag_seconds",
        "Time since a read replica last held everything its primary had; 0 when caught up (replicas only).",
        lambda v: v.replication["lag_seconds"] if v.replication else None,
    ),
]
"""``(name, help, value of a StoreView)``: the gauges computed at scrape time; a value of None is left out."""


class StoreCollector:
    """A prometheus collector of :data:`STORE_GAUGES`, read from ``store`` at each scrape."""

    def __init__(self, store: Any, top: bool = False, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.top = top
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        view = StoreView(self.store, self.top, self.clock())
        for name, documentation, value in STORE_GAUGES:
            result = value(view)
            if result is not None:
                yield GaugeMetricFamily(name, documentation, value=float(result))


def exposition(store: Any, top: bool = False) -> tuple[bytes, str]:
    """The text exposition of every process's metrics plus the store gauges, and its content type.

    Flushes this process's tally first, so what it counted so far is included
    (other processes' counts are at most one flush interval old).
    """
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
    from prometheus_client import REGISTRY as DEFAULT

    flush()
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        processes: Any = multiprocess.MultiProcessCollector(None)
    else:  # metrics of this process only (in-process tests)
        processes = DEFAULT
    return generate_latest(_Joined((processes, StoreCollector(store, top)))), CONTENT_TYPE_LATEST  # type: ignore[arg-type]


class _Joined:
    """Collectors exposed as one registry (``generate_latest`` only calls ``collect``)."""

    def __init__(self, collectors: tuple[Any, ...]) -> None:
        self.collectors = collectors

    def collect(self) -> Iterator[Any]:
        for collector in self.collectors:
            yield from collector.collect()
