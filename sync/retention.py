"""Change-log retention: the writer process prunes entries older than ``--log-retention``.

A singleton task of the process that owns the writer. Every ``interval``
seconds it deletes, through the writer and in transactions of at most
``limit`` entries (so writes are never held up for long), the oldest
change-log entries committed more than ``retention`` seconds ago. It never
deletes the newest entry (the head the next write chains from) nor, with
``--top``, anything the top-level node has not acknowledged (the outbox
cursor). Each transaction records the sequence and digest of the last entry
it deleted (``meta/changelog_pruned``), so the chain stays verifiable from
the first entry kept, and a replica asking for pruned entries is told to
bootstrap from a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from idnode.registry import changelog
from idnode.registry.store import Store, from_u64
from idnode.registry.writer import WriteContext, Writer

log = logging.getLogger(__name__)

INTERVAL = 60.0
LIMIT = 10_000


def prune_op(before: float, keep_outbox: bool, limit: int = LIMIT) -> Callable[[WriteContext], int]:
    """The write operation pruning entries older than ``before`` (s since 1970); it returns how many went."""

    def op(ctx: WriteContext) -> int:
        keep_from = ctx.sequence  # the head is always kept
        if keep_outbox:
            raw = ctx.get("meta", changelog.OUTBOX_CURSOR)
            keep_from = min(keep_from, (from_u64(raw) if raw else 0) + 1)
        return changelog.prune(ctx, before, keep_from, limit)

    return op


class Pruner:
    """Prunes the change log of ``store`` through ``writer``.

    Args:
        retention: seconds of log kept (> 0).
        keep_outbox: never pass the outbox cursor (the node has ``--top``).
        interval: seconds between passes (default: a quarter of the
            retention, at most 60 s, at least 0.2 s).
        clock: seconds since 1970.
    """

    def __init__(
        self,
        store: Store,
        writer: Writer,
        retention: float,
        *,
        keep_outbox: bool,
        interval: float | None = None,
        limit: int = LIMIT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.writer = writer
        self.retention = retention
        self.keep_outbox = keep_outbox
        self.interval = interval if interval is not None else min(INTERVAL, max(retention / 4, 0.2))
        self.limit = limit
        self.clock = clock
        self.pruned_total = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="idnode-pruner")

    async def stop(self, grace: float = 0) -> None:
        self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    async def prune_once(self) -> int:
        """One pass: prune until nothing old is left; return how many entries went."""
        total = 0
        while not self._stop.is_set():
            op = prune_op(self.clock() - self.retention, self.keep_outbox, self.limit)
            count = await asyncio.shield(asyncio.wrap_future(self.writer.submit(op)))
            total += count
            if count < self.limit:
                break
        if total:
            self.pruned_total += total
            log.info("change log: pruned %d entries older than %g s", total, self.retention)
        return total

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                await self.prune_once()
            except Exception:
                log.exception("change log: pruning failed; retrying in %g s", self.interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
