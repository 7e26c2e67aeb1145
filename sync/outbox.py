"""The outbox: push the change log to the top-level node, from a durable cursor.

One asyncio task in the process that owns the writer (the single-process
node, or the prefork writer process) when ``--top`` is set. It registers the
node (``RegisterNode`` with its sites), then loops: read change-log entries
after its position, push them in batches (``PushChanges``), and move the
durable cursor (``meta/outbox_cursor``, written through the writer, so it is
as crash-safe as the data) to the ``highest_contiguous`` the top-level node
acknowledges. Failures back off exponentially with full jitter and never
skip an entry: after an outage of any length the backlog is drained in
order. After a crash the node resumes from the cursor (or the top node's
own acknowledgement); a change sent twice is a harmless duplicate, since the
top node applies by sequence number.

Prefix approval: every enterprise prefix the node allocated while it has a
top node starts *pending*. The outbox asks the top-level node to approve it
(``RequestPrefix`` with the node's sites: the prefix's HS_SITE) and then polls
``GetPrefixStatus`` every ``approval_poll`` seconds while any prefix is pending
or rejected, recording the answer in the prefix record through the writer
(``registry._accounts.set_prefix_status``); registrations under the prefix
are accepted once it is approved.

Statistics: at start, every ``--stats-interval`` (300 s) and after every
midnight (Asia/Shanghai by default, ``stats_tz``) the outbox sends
``ReportStats`` for yesterday and today (``sync/stats.py``: registrations per
prefix from the day counters the writer keeps, resolutions and errors per
prefix from the daily totals, approved enterprises); a report of a day
replaces the earlier one at the top node. The counters' days are cut in the
writer's zone (``Writer(stats_tz=...)``, Asia/Shanghai by default): give
both the same zone.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc

from idnode.proto import registry_pb2, toplevel_pb2, toplevel_pb2_grpc
from idnode.registry import _accounts, changelog
from idnode.registry.store import Store
from idnode.registry.writer import Writer
from idnode.sync import stats
from idnode.sync.tls import TopTls, failure_hint, top_channel

log = logging.getLogger(__name__)

CREDENTIAL_FILE = "top.credential"  # the node's own credential towards the top-level node (mode 0600)
BATCH_ENTRIES = 500
BATCH_BYTES = 1 << 20
DEADLINE = 10.0  # seconds for one call to the top-level node
HEARTBEAT = 10.0  # seconds between heartbeats
POLL = 0.05  # seconds between looks at the change-log head while idle
BACKOFF_BASE = 0.2
BACKOFF_CAP = 30.0
MAX_MESSAGE_BYTES = 64 << 20
APPROVAL_POLL = 1.0  # seconds between looks at the top node's decisions while a prefix awaits one
STATS_INTERVAL = 300.0  # seconds between ReportStats of the day so far (also at each midnight)
_TRANSIENT = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}
)
_APPROVAL_STATUS = {
    registry_pb2.PREFIX_STATUS_PENDING: "pending",
    registry_pb2.PREFIX_STATUS_APPROVED: "approved",
    registry_pb2.PREFIX_STATUS_REJECTED: "rejected",
}

_KINDS = {
    changelog.OP_CREATE: toplevel_pb2.CHANGE_KIND_CREATE,
    changelog.OP_UPDATE: toplevel_pb2.CHANGE_KIND_UPDATE,
    changelog.OP_DELETE: toplevel_pb2.CHANGE_KIND_DELETE,
}
_PROTOCOLS = {
    "grpc": toplevel_pb2.SITE_PROTOCOL_GRPC,
    "http": toplevel_pb2.SITE_PROTOCOL_HTTP,
    "dns": toplevel_pb2.SITE_PROTOCOL_DNS,
}
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


def backoff_delay(
    attempt: int, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP, rng: Callable[[], float] = random.random
) -> float:
    """Full-jitter exponential backoff: uniform in ``[0, min(cap, base * 2**attempt))``."""
    return rng() * min(cap, base * 2 ** min(attempt, 62))


def to_change(sequence: int, raw: bytes) -> toplevel_pb2.Change:
    """One stored change-log entry as the protocol's ``Change`` (the raw entry included, for restores)."""
    entry = changelog.decode_entry(sequence, raw)
    kind = _KINDS.get(entry.op, toplevel_pb2.CHANGE_KIND_OTHER) if entry.db == "identifiers" else None
    return toplevel_pb2.Change(
        sequence=sequence,
        kind=kind if kind is not None else toplevel_pb2.CHANGE_KIND_OTHER,
        handle=entry.handle,
        record=entry.payload,
        time=entry.time,
        key=entry.key,
        db=entry.db,
        entry=raw,
    )


def node_credential(data_dir: Path) -> str:
    """The node's credential towards the top-level node, created at first use.

    The top node binds its digest to the node prefix at the first
    registration (trust on first use), so it must outlive restarts: it is
    kept in the data folder, readable by the owner only.
    """
    path = data_dir / CREDENTIAL_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    secret = "idnt." + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret


def site(protocol: str, listen: str, tls: bool = False) -> toplevel_pb2.Site | None:
    """A ``Site`` for a listen address (``HOST:PORT``; ``off`` gives None); ``tls``: served over TLS.

    A wildcard host (``0.0.0.0``, ``::``) is replaced by this machine's name.
    """
    if not listen or listen == "off":
        return None
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in _WILDCARDS:
        host = socket.getfqdn()
    return toplevel_pb2.Site(protocol=_PROTOCOLS[protocol], host=host, port=int(port), tls=tls)


class Outbox:
    """Pushes the change log of ``store`` to the top-level node at ``target``.

    Args:
        store: the open store (read here: the change log and the cursor).
        writer: the writer role; the cursor is written through it.
        target: the top-level node, ``HOST:PORT``.
        node_prefix: this node's prefix.
        credential: the node's bearer credential (:func:`node_credential`).
        sites: the node's sites for ``RegisterNode``.
        node_id, version: the installation's identity and idnode version.
        batch_entries, batch_bytes: at most this many entries and bytes a push.
        deadline: seconds for each call.
        heartbeat: seconds between heartbeats.
        poll: seconds between looks at the change-log head while idle.
        backoff_base, backoff_cap: the backoff's first and largest step.
        rng: uniform [0, 1) (tests fix it).

    Attributes (for status and metrics): ``pushed_total`` changes the top
    node newly stored, ``duplicates_total``, ``batches_total``,
    ``failures_total`` failed calls, ``connected`` whether the last call
    succeeded, ``last_push`` time of the last successful push (s since 1970).
    """

    def __init__(
        self,
        store: Store,
        writer: Writer,
        target: str,
        node_prefix: str,
        *,
        credential: str,
        sites: Sequence[toplevel_pb2.Site] = (),
        node_id: str = "",
        version: str = "",
        batch_entries: int = BATCH_ENTRIES,
        batch_bytes: int = BATCH_BYTES,
        deadline: float = DEADLINE,
        heartbeat: float = HEARTBEAT,
        poll: float = POLL,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        rng: Callable[[], float] = random.random,
        approval_poll: float = APPROVAL_POLL,
        stats_tz: str = stats.DEFAULT_TZ,
        tls: TopTls | None = None,
        stats_interval: float = STATS_INTERVAL,
    ) -> None:
        self.store = store
        self.writer = writer
        self.target = target
        self.node_prefix = node_prefix
        self.sites = list(sites)
        self.node_id = node_id or f"{socket.gethostname()}:{store.path.resolve()}"
        self.version = version
        self.batch_entries = min(batch_entries, 2000)  # the protocol's limit per call
        self.batch_bytes = batch_bytes
        self.deadline = deadline
        self.heartbeat = heartbeat
        self.poll = poll
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rng = rng
        self.approval_poll = approval_poll
        self.stats_tz = stats.zone(stats_tz)
        self.stats_interval = stats_interval
        self.tls = tls
        self.stats_reported = 0.0  # s since 1970 of the last ReportStats
        self._requested: set[str] = set()  # prefixes asked for in this run (then polled)
        self._refused: dict[str, grpc.StatusCode] = {}  # prefixes the top node refused (logged once)
        self._metadata = (("authorization", f"Bearer {credential}"),)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.position = store.meta_u64(changelog.OUTBOX_CURSOR)  # next push starts after this
        self.pushed_total = 0
        self.duplicates_total = 0
        self.batches_total = 0
        self.failures_total = 0
        self.connected = False
        self.last_push = 0.0

    # -- status --------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """``top``, ``last_sequence``, ``acked_sequence``, ``lag_sequences``, ``lag_seconds``, ``connected``."""
        return {
            "top": self.target,
            **changelog.lag(self.store, changelog.OUTBOX_CURSOR, time.time()),
            "connected": self.connected,
        }

    @property
    def acked_sequence(self) -> int:
        return self.store.meta_u64(changelog.OUTBOX_CURSOR)

    @property
    def lag_sequences(self) -> int:
        return self.status()["lag_sequences"]

    @property
    def lag_seconds(self) -> float:
        return self.status()["lag_seconds"]

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="idnode-outbox")

    async def stop(self, grace: float) -> None:
        """Stop: the push in flight (and its cursor write) may finish within ``grace`` seconds."""
        self._stop.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            log.warning("outbox: the push in flight did not finish within %g s; it resumes from the cursor", grace)

    async def run(self) -> None:
        """Register, then push until stopped; every failure backs off and retries."""
        channel = top_channel(
            self.target,
            self.tls,
            [
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ],
        )
        stub = toplevel_pb2_grpc.TopLevelStub(channel)
        registered = False
        attempt = 0
        next_heartbeat = 0.0
        next_approval = 0.0
        next_stats = 0.0  # s since 1970: at start, then after each midnight
        try:
            while not self._stop.is_set():
                try:
                    if not registered:
                        await self._register(stub)
                        registered = True
                        next_heartbeat = time.monotonic() + self.heartbeat
                    if time.monotonic() >= next_approval:
                        await self._approvals(stub)
                        next_approval = time.monotonic() + self.approval_poll
                    if time.time() >= next_stats:
                        now = time.time()
                        await self._report_stats(stub, now)
                        next_stats = min(stats.next_midnight(now, self.stats_tz), now + self.stats_interval)
                    batch = self.store.changes_after(self.position, self.batch_entries, self.batch_bytes)
                    if batch:
                        progressed = await self._push(stub, batch)
                    elif time.monotonic() >= next_heartbeat:
                        await self._heartbeat(stub)
                        next_heartbeat = time.monotonic() + self.heartbeat
                        progressed = True
                    else:
                        await self._wait_for_changes(min(next_heartbeat, next_approval))
                        continue
                    if not self.connected:
                        log.info("outbox: connected to the top-level node %s", self.target)
                    self.connected = True
                    if progressed:
                        attempt = 0
                    else:  # nothing stored, the ack did not move: do not spin, back off
                        await self._sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, self.rng))
                        attempt += 1
                except grpc.aio.AioRpcError as exc:
                    self.failures_total += 1
                    if self.connected or attempt == 0:
                        log.warning(
                            "outbox: top-level node %s: %s %s%s; retrying with backoff",
                            self.target,
                            exc.code().name,
                            exc.details(),
                            failure_hint(exc.details(), self.tls),
                        )
                    self.connected = False
                    registered = False  # a restarted top node may have lost us: register again
                    self._requested.clear()
                    await self._sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, self.rng))
                    attempt += 1
                except Exception:
                    self.failures_total += 1
                    self.connected = False
                    log.exception("outbox: push failed; retrying with backoff")
                    await self._sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, self.rng))
                    attempt += 1
        finally:
            await channel.close()

    # -- steps -----------------------------------------------------------------------

    async def _register(self, stub: toplevel_pb2_grpc.TopLevelStub) -> None:
        info = await stub.RegisterNode(
            toplevel_pb2.RegisterNodeRequest(
                node_prefix=self.node_prefix, sites=self.sites, node_id=self.node_id, version=self.version
            ),
            metadata=self._metadata,
            timeout=self.deadline,
        )
        await self._acknowledged(info.highest_contiguous)

    async def _push(self, stub: toplevel_pb2_grpc.TopLevelStub, batch: list[tuple[int, bytes]]) -> bool:
        """Push one batch; True when the top node's acknowledgement moved."""
        before = self.position
        request = toplevel_pb2.PushChangesRequest(
            node_prefix=self.node_prefix, changes=[to_change(seq, raw) for seq, raw in batch]
        )
        ack = await stub.PushChanges(request, metadata=self._metadata, timeout=self.deadline)
        self.batches_total += 1
        self.pushed_total += ack.applied
        self.duplicates_total += ack.duplicates
        self.last_push = time.time()
        await self._acknowledged(ack.highest_contiguous)
        return self.position != before

    async def _approvals(self, stub: toplevel_pb2_grpc.TopLevelStub) -> None:
        """Ask for every pending prefix not asked for yet; poll the decision of the others.

        A refusal of one prefix (say another node claimed it) is logged once
        and retried at the next poll; it does not hold up the push. An
        unreachable top node raises (the loop backs off).
        """
        for data in _accounts.prefixes_awaiting(self.store):
            prefix = data["prefix"]
            try:
                answer = await self._approval_of(stub, data)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in _TRANSIENT:
                    raise
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    self._requested.discard(prefix)  # the top node lost the request: ask again
                    continue
                if self._refused.get(prefix) != exc.code():
                    self._refused[prefix] = exc.code()
                    log.warning(
                        "outbox: the top-level node refused prefix %s: %s %s", prefix, exc.code().name, exc.details()
                    )
                continue
            self._refused.pop(prefix, None)
            status = _APPROVAL_STATUS.get(answer.status)
            if status is None or status == "pending":
                continue
            if status != data["status"]:
                log.info("outbox: the top-level node %s prefix %s", status, prefix)
            await asyncio.shield(
                asyncio.wrap_future(
                    self.writer.submit(
                        lambda ctx, p=prefix, s=status, a=answer: _accounts.set_prefix_status(
                            ctx, p, s, a.reason, a.decided
                        )
                    )
                )
            )

    async def _approval_of(
        self, stub: toplevel_pb2_grpc.TopLevelStub, data: dict[str, Any]
    ) -> toplevel_pb2.PrefixApproval:
        prefix = data["prefix"]
        if data["status"] == "pending" and prefix not in self._requested:
            answer = await stub.RequestPrefix(
                toplevel_pb2.RequestPrefixRequest(
                    node_prefix=self.node_prefix, prefix=prefix, credit_code=data["owner"], sites=self.sites
                ),
                metadata=self._metadata,
                timeout=self.deadline,
            )
            self._requested.add(prefix)
            return answer
        return await stub.GetPrefixStatus(
            toplevel_pb2.GetPrefixStatusRequest(node_prefix=self.node_prefix, prefix=prefix),
            metadata=self._metadata,
            timeout=self.deadline,
        )

    async def _report_stats(self, stub: toplevel_pb2_grpc.TopLevelStub, now: float) -> None:
        """``ReportStats`` for yesterday and today (the day totals so far)."""
        today = stats.day_of(now, self.stats_tz)
        for day in (today - datetime.timedelta(days=1), today):
            report = await asyncio.to_thread(stats.day_report, self.store, self.node_prefix, day, self.stats_tz)
            await stub.ReportStats(report, metadata=self._metadata, timeout=self.deadline)
        self.stats_reported = now

    async def _heartbeat(self, stub: toplevel_pb2_grpc.TopLevelStub) -> None:
        reply = await stub.Heartbeat(
            toplevel_pb2.HeartbeatRequest(
                node_prefix=self.node_prefix, last_sequence=self.store.last_sequence(), time=int(time.time())
            ),
            metadata=self._metadata,
            timeout=self.deadline,
        )
        await self._acknowledged(reply.highest_contiguous)

    async def _acknowledged(self, highest: int) -> None:
        """Take the top node's ``highest_contiguous`` as the position and the durable cursor.

        It is normally at or past the position. Below it, the top node lost
        part of its copy (restored from an older backup): resend from there.
        Past the change-log head it cannot be trusted (this folder was
        restored or replaced): push from the head.
        """
        last = self.store.last_sequence()
        if highest > last:
            log.warning("outbox: the top-level node acknowledges %d, past this node's change log (%d)", highest, last)
            highest = last
        if highest < self.position:
            log.warning(
                "outbox: the top-level node holds changes up to %d only; resending from %d", highest, highest + 1
            )
        if highest != self.store.meta_u64(changelog.OUTBOX_CURSOR):
            # Shielded: a stop that cancels this task must not cancel the
            # writer's future (the write is queued and happens anyway).
            await asyncio.shield(
                asyncio.wrap_future(
                    self.writer.submit(lambda ctx: changelog.set_cursor(ctx, changelog.OUTBOX_CURSOR, highest))
                )
            )
        self.position = highest

    async def _wait_for_changes(self, until: float) -> None:
        """Return when the log grows past the position, at ``until`` (monotonic), or on stop."""
        while not self._stop.is_set() and time.monotonic() < until:
            if self.store.last_sequence() > self.position:
                return
            await self._sleep(self.poll)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, cut short by :meth:`stop`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)


def start_outbox(
    store: Store,
    writer: Writer,
    node_prefix: str,
    top: str,
    data_dir: Path,
    listens: dict[str, str],
    secure: frozenset[str] = frozenset(),
    **options: Any,
) -> Outbox:
    """Build and start the outbox of a node (node.py, prefork writer).

    Args:
        listens: ``{"grpc": HOST:PORT, "http": ..., "dns": ...}`` with the real
            ports (``off`` or missing: not a site).
        secure: the protocols served over TLS (``--tls-cert``): their sites say so.
    """
    from idnode.resolver.grpc.registry_service import node_version

    sites = [s for protocol, listen in listens.items() if (s := site(protocol, listen, protocol in secure)) is not None]
    outbox = Outbox(
        store,
        writer,
        top,
        node_prefix,
        credential=node_credential(data_dir),
        sites=sites,
        version=node_version(),
        **options,
    )
    outbox.start()
    return outbox
