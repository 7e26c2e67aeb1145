"""The writer role: the only place that opens LMDB write transactions.

Callers submit write operations (functions of a :class:`WriteContext`); a
dedicated thread groups whatever is queued into one transaction (group
commit: one fsync for many writes), runs each operation in a nested
transaction so a failing one rolls back alone, appends change-log entries in
the same transaction as the data, and resolves each caller's future only
after the commit is durable. When the map is full the whole group is rolled
back, the map grown and the group run again, so no error reaches a user, unless the map is at its
cap (``--map-size-max``) or the disk is full: then the group fails whole
with :class:`StorageFull` (code 3, RESOURCE_EXHAUSTED, HTTP 507), nothing of
it is written, and later groups are tried again as they come.

Each group also adds its identifier creations to the day counters
(``sync/stats.py``: one counter update per day and prefix per group, in the
group's transaction), so a rolled-back creation is never counted.

A bulk import therefore never blocks a reader's event loop: readers use
their own short read transactions, and the writer runs off the loop thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import datetime
import logging
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import lmdb

from idnode import metrics
from idnode.registry import changelog
from idnode.registry.errors import HandleError, ServerError, StorageFull
from idnode.registry.store import Store, from_u64, u64
from idnode.sync import stats

log = logging.getLogger(__name__)

WriteOp = Callable[["WriteContext"], Any]
# An LMDB error while committing counts as a full disk (StorageFull) when it is ENOSPC, or when less than
# this is free on the data folder's file system: LMDB reports a short page write (the disk filled during
# the write) as EIO.
DISK_FULL_MARGIN = 64 << 20


class WriteContext:
    """What one write operation sees: its transaction, the time, and the log.

    Attributes:
        txn: the operation's (nested) write transaction.
        now: seconds since 1970 UTC, fixed for the whole group.
    """

    __slots__ = ("counters", "created", "last_digest", "now", "registered", "sequence", "store", "txn")

    def __init__(self, txn: lmdb.Transaction, store: Store, now: int, sequence: int, last_digest: bytes) -> None:
        self.txn = txn
        self.store = store
        self.now = now
        self.sequence = sequence
        self.last_digest = last_digest
        self.counters: dict[bytes, int] = {}
        self.created: dict[bytes, int] = {}  # identifiers created per prefix key (idnode_registrations_total)
        self.registered: dict[tuple[float, bytes], int] = {}  # creations per (time, prefix key): day counters

    def get(self, db: str, key: bytes) -> bytes | None:
        return self.txn.get(key, db=self.store.dbs[db])

    def put(self, db: str, key: bytes, value: bytes) -> None:
        self.txn.put(key, value, db=self.store.dbs[db])

    def delete(self, db: str, key: bytes) -> None:
        self.txn.delete(key, db=self.store.dbs[db])

    def cursor(self, db: str) -> lmdb.Cursor:
        return self.txn.cursor(db=self.store.dbs[db])

    def add_counter(self, key: bytes, delta: int) -> None:
        """Add to a u64 counter; deltas are summed in memory and written once
        when the operation ends (:meth:`flush_counters`), in its transaction."""
        self.counters[key] = self.counters.get(key, 0) + delta

    def flush_counters(self) -> None:
        for key, delta in self.counters.items():
            if delta:
                raw = self.get("counters", key)
                self.put("counters", key, u64(max((from_u64(raw) if raw else 0) + delta, 0)))
        self.counters.clear()

    @contextlib.contextmanager
    def nested(self) -> Iterator[None]:
        """Run a block in a nested transaction: on an exception everything it
        wrote (data and log entries) is rolled back and the exception re-raised."""
        parent = self.txn
        sequence, last_digest, counters = self.sequence, self.last_digest, dict(self.counters)
        created, registered = dict(self.created), dict(self.registered)
        child = self.store.env.begin(write=True, parent=parent)
        self.txn = child
        try:
            yield
        except BaseException:
            child.abort()
            self.sequence, self.last_digest, self.counters, self.created = sequence, last_digest, counters, created
            self.registered = registered
            raise
        else:
            child.commit()
        finally:
            self.txn = parent

    def log(self, op: int, db: str, key: bytes, payload: bytes, actor: str) -> int:
        """Append a change-log entry; return its sequence number."""
        self.sequence += 1
        raw = changelog.encode_entry(op, db, self.now, actor, key, payload, self.last_digest)
        self.txn.put(u64(self.sequence), raw, db=self.store.dbs["changelog"], append=True)
        self.last_digest = changelog.digest(raw)
        prefix = stats.created_prefix(op, db, key)
        if prefix is not None:
            self.created[prefix] = self.created.get(prefix, 0) + 1
            self.count_creation(self.now, prefix)
        return self.sequence

    def count_creation(self, when: float, prefix: bytes) -> None:
        """Count an identifier created at ``when`` under ``prefix`` (handle-key bytes) in the day counters;
        the writer adds them up once per group, in its transaction (a replica's apply calls this too)."""
        k = when, prefix
        self.registered[k] = self.registered.get(k, 0) + 1


class _Job:
    __slots__ = ("context", "fn", "future")

    def __init__(self, fn: WriteOp) -> None:
        self.fn = fn
        self.future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        # the submitter's context variables (its request id): the op and its log lines run in them
        self.context = contextvars.copy_context()


_STOP = object()


class Writer:
    """Group-committing writer over one store.

    Args:
        store: the open store.
        max_group: at most this many operations share one transaction.
        clock: seconds since 1970 (tests inject one).
        stats_tz: the zone whose midnight cuts the day counters (default Asia/Shanghai).
        count_registrations: keep the day counters of creations (off only to measure their cost).
    """

    def __init__(
        self,
        store: Store,
        *,
        max_group: int = 512,
        clock: Callable[[], float] = time.time,
        stats_tz: datetime.tzinfo | None = None,
        count_registrations: bool = True,
    ) -> None:
        self.store = store
        self.max_group = max_group
        self.clock = clock
        self.stats_tz = stats_tz or stats.zone()
        self.count_registrations = count_registrations
        self._counting = False  # registrations_since is known to be recorded
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.sequence, self.last_digest = self._log_head()
        self.commits = 0
        self._created: dict[str, int] = {}

    def _log_head(self) -> tuple[int, bytes]:
        with self.store.begin() as txn:
            return changelog.head(self.store, txn)

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="idnode-writer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Finish everything queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    # -- submission ------------------------------------------------------------

    def submit(self, fn: WriteOp) -> concurrent.futures.Future[Any]:
        """Queue ``fn``; the future holds its result once the commit is durable.

        Without a running thread (offline tools) the operation runs at once.
        """
        job = _Job(fn)
        if self._thread is None:
            self._run_group([job])
        else:
            self._queue.put(job)
        return job.future

    def run(self, fn: WriteOp) -> Any:
        """Submit and wait (synchronous callers)."""
        return self.submit(fn).result()

    # -- the loop --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            group = [first]
            stop = False
            while len(group) < self.max_group:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                group.append(job)
            self._run_group(group)
            if stop:
                return

    def _run_group(self, group: list[_Job]) -> None:
        # A caller that gave up before its write started (an asyncio caller's
        # cancellation cancels the wrapped future) is skipped; a running
        # future cannot be cancelled, so settling it below cannot raise and
        # kill this thread.
        group = [job for job in group if job.future.set_running_or_notify_cancel()]
        if not group:
            return
        attempts = 0
        while True:
            attempts += 1
            try:
                outcomes, head = self._attempt(group)
                break
            except lmdb.MapFullError:
                try:
                    if attempts > 40:
                        raise StorageFull("the store is full: the LMDB map cannot grow any further") from None
                    self.store.grow()
                except StorageFull as exc:
                    self._fail(group, exc)
                    return
            except Exception as exc:  # commit failed: nothing of the group is durable
                self._fail(group, self._commit_error(exc))
                return
        self.sequence, self.last_digest = head
        self.commits += 1
        self._counting = self.count_registrations
        metrics.write_group(len(group), self._created)
        for job, (ok, value) in zip(group, outcomes, strict=False):
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    def _commit_error(self, exc: Exception) -> HandleError:
        """What the callers of a group whose transaction failed are told (called in the ``except`` block)."""
        if isinstance(exc, lmdb.Error):
            free = shutil.disk_usage(self.store.path).free
            if isinstance(exc, lmdb.DiskError) or free < DISK_FULL_MARGIN:
                log.error("write failed: disk full under %s (%d bytes free; %s)", self.store.path, free, exc)
                return StorageFull("the store is full: no space left on the disk of its data folder")
        log.exception("write transaction failed")
        return ServerError(f"write failed: {type(exc).__name__}")

    def _fail(self, group: list[_Job], err: HandleError) -> None:
        """Fail every job of a group that did not commit; the log head is re-read from the store."""
        for job in group:
            job.future.set_exception(err)
        self.sequence, self.last_digest = self._log_head()

    def _attempt(self, group: list[_Job]) -> tuple[list[tuple[bool, Any]], tuple[int, bytes]]:
        env = self.store.env
        now = int(self.clock())
        outcomes: list[tuple[bool, Any]] = []
        sequence, last_digest = self.sequence, self.last_digest
        created: dict[str, int] = {}
        registered: dict[tuple[float, bytes], int] = {}
        with env.begin(write=True) as parent:
            if self.count_registrations and not self._counting:
                # this writer's first group: live counting starts after the head it sees (sync/stats.py)
                stats.start_counting(parent, self.store, self.sequence, now)
            for job in group:
                child = env.begin(write=True, parent=parent)
                ctx = WriteContext(child, self.store, now, sequence, last_digest)
                try:
                    value = job.context.run(job.fn, ctx)
                    ctx.flush_counters()
                except (lmdb.MapFullError, lmdb.DiskError):  # the whole group fails or is retried
                    child.abort()
                    raise
                except HandleError as exc:
                    child.abort()
                    outcomes.append((False, exc))
                    continue
                except Exception as exc:
                    child.abort()
                    job.context.run(log.exception, "write operation failed")
                    outcomes.append((False, ServerError(f"write failed: {type(exc).__name__}")))
                    continue
                child.commit()
                sequence, last_digest = ctx.sequence, ctx.last_digest
                for prefix, n in ctx.created.items():
                    name = prefix.decode("utf-8", "replace")
                    created[name] = created.get(name, 0) + n
                for k, n in ctx.registered.items():
                    registered[k] = registered.get(k, 0) + n
                outcomes.append((True, value))
            if registered and self.count_registrations:  # one counter update per day and prefix per group
                stats.add_registrations(parent, self.store, stats.per_day(registered, self.stats_tz))
        self._created = created  # counted once the whole group is durable (_run_group)
        return outcomes, (sequence, last_digest)
