"""Read replicas: follow the primary's change log, bootstrap from its snapshot, report the replication state.

``idnode serve --replica-of HOST:PORT`` runs a :class:`Follower` as the
singleton of the process that owns the writer (the single-process node, or
the prefork writer process). It resumes from the replica's own change-log
head: ``Follow(from_sequence=head + 1)`` on the primary's ``Replication``
service (``proto/replication.proto``) streams the entries as they are stored
there; the follower checks each one continues the chain (sequence + 1, and
its previous-entry digest is the digest of the replica's newest entry), then
hands the batch to the writer, which stores the entries under their own
sequences and applies their effect (:func:`idnode.sync.restore.apply_entry`:
identifier records byte for byte with their indexes and counters, other
databases as logged) in one transaction together with the replication state
(``meta/replica_state``). A replica's change log, chain and data are
therefore byte-identical to the primary's, and a crash at any point resumes
with no gap and no duplicate: the head and the data commit together.
The same transaction counts the applied ``OP_CREATE`` entries in the day
counters of registrations (``sync/stats.py``, by each entry's own time), so a
replica's dashboard shows the primary's figures.

When the entries it needs were pruned on the primary (``OUT_OF_RANGE``), the
follower bootstraps: it clears the replicated databases, loads
``Snapshot`` (one read transaction on the primary, in chunks, each chunk one
write here), and records the snapshot's sequence and entry digest as the
start of its log (``meta/changelog_pruned``), then follows from there. The
snapshot also carries the primary's day counters of registrations (``usage``
keys ending in ``registrations``, consistent with the snapshot's sequence),
which replace the replica's. An
interrupted bootstrap (``meta/replica_bootstrap`` still set) starts over.
Failures reconnect with full-jitter exponential backoff; a broken chain
(the primary and the replica diverged, e.g. a primary restored from an older
backup) is logged and retried with backoff, never applied.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import logging
import random
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import grpc

from idnode import metrics
from idnode.proto import replication_pb2, replication_pb2_grpc
from idnode.registry import changelog
from idnode.registry.errors import HandleError, ServerError, StoreError
from idnode.registry.store import Store, u64
from idnode.registry.writer import WriteContext, Writer
from idnode.sync import stats
from idnode.sync.outbox import backoff_delay
from idnode.sync.restore import apply_entry
from idnode.sync.tls import LinkTls, channel, failure_hint

log = logging.getLogger(__name__)

STATE = b"replica_state"  # meta: JSON {primary, state, primary_sequence, primary_time, caught_up_at, updated, error}
BOOTSTRAP = b"replica_bootstrap"  # meta: set while a snapshot is being loaded
# Meta keys that belong to this folder, never copied from a primary's snapshot.
LOCAL_META = frozenset({b"schema_version", changelog.OUTBOX_CURSOR, changelog.PRUNED, STATE, BOOTSTRAP})
# The databases a snapshot carries (not the change log, not the per-node sessions).
SNAPSHOT_DBS = ("identifiers", "prefixes", "enterprises", "templates", "credentials", "idx_gtin", "idx_oid", "counters")
CREDENTIAL_FILE = "primary.credential"  # default --primary-token-file, in the replica's data folder
STALE = 5.0  # seconds without a word from the primary after which a following replica counts as disconnected
BATCH_ENTRIES = 500
IN_FLIGHT = 4  # batches handed to the writer before the follower waits for the oldest
BACKOFF_BASE = 0.1
BACKOFF_CAP = 10.0
MAX_MESSAGE_BYTES = 64 << 20
CHANNEL_OPTIONS = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)
CHUNK_BYTES = 1 << 20  # snapshot chunk size

Verified = list[tuple[int, bytes, changelog.Entry]]


# -- status (any process of the node; read from the store) ----------------------------


def replication_status(store: Store, now: float | None = None) -> dict[str, Any] | None:
    """The replication state of a replica's folder, or None when it is not a replica.

    Returns:
        ``primary``, ``state`` (bootstrapping, following or disconnected: a
        following replica that has not heard from the primary for
        :data:`STALE` seconds counts as disconnected), ``applied_sequence``
        (this folder's change-log head), ``primary_sequence`` (the primary's
        head as last seen), ``lag_sequences``, ``lag_seconds`` (0 while
        following with nothing outstanding, else the time since the replica
        last held everything the primary had, measured against the primary's
        clock), ``updated`` (when the primary was last heard from, s since 1970)
        and ``error`` (why the follower is disconnected, e.g. a refused TLS
        handshake; "" while following).
    """
    now = time.time() if now is None else now
    with store.begin() as txn:
        raw = txn.get(STATE, db=store.dbs["meta"])
        if raw is None:
            return None
        applied = store.last_sequence(txn)
    st = json.loads(raw)
    primary_sequence = max(int(st.get("primary_sequence", 0)), applied)
    lag = primary_sequence - applied
    state = st.get("state", "disconnected")
    updated = float(st.get("updated", 0.0))
    if state == "following" and now - updated > STALE:
        state = "disconnected"
    if state == "following" and lag == 0:
        seconds = 0.0
    else:
        seconds = max(now - float(st.get("caught_up_at") or updated or now), 0.0)
    return {
        "primary": st.get("primary", ""),
        "state": state,
        "applied_sequence": applied,
        "primary_sequence": primary_sequence,
        "lag_sequences": lag,
        "lag_seconds": seconds,
        "updated": updated,
        "error": st.get("error", "") if state == "disconnected" else "",
    }


def readiness_check(store: Store, max_lag: float) -> Callable[[], str | None]:
    """A readiness check (``idnode/health.py``) of a replica's process.

    Not ready before the replica first reached its primary, while it
    bootstraps, and while its ``lag_seconds`` exceeds ``max_lag``
    (``--max-replica-lag``; 0 = no bound). A replica whose primary is down
    keeps serving reads, and leaves the pool once its lag passes the bound.
    """

    def check() -> str | None:
        status = replication_status(store)
        if status is None or not status["updated"]:  # no state, or only "disconnected" records
            why = f": {status['error']}" if status and status["error"] else ""
            return "the replica has not reached its primary yet" + why
        if status["state"] == "bootstrapping":
            return "bootstrapping from the primary's snapshot"
        if max_lag and status["lag_seconds"] > max_lag:
            return (
                f"replication lag {status['lag_seconds']:.1f} s above --max-replica-lag {max_lag:g} s "
                f"({status['state']}, {status['lag_sequences']} entries behind"
                + (f"; {status['error']}" if status["error"] else "")
                + ")"
            )
        return None

    return check


# -- the pure parts: checking and applying ---------------------------------------------


def verify(head: tuple[int, bytes], entries: Iterable[tuple[int, bytes]]) -> tuple[Verified, tuple[int, bytes]]:
    """Check ``entries`` continue the chain after ``head`` (``(sequence, digest)``).

    Returns:
        The decoded entries and the new head.

    Raises:
        ChangeLogError: a gap, a malformed entry, or a previous-entry digest
        that is not the digest of the entry before it (the logs diverged).
    """
    sequence, prev = head
    out: Verified = []
    for seq, raw in entries:
        if seq != sequence + 1:
            raise changelog.ChangeLogError(f"gap in the primary's stream: expected {sequence + 1}, got {seq}")
        entry = changelog.decode_entry(seq, raw)
        if entry.prev_digest != prev:
            raise changelog.ChangeLogError(
                f"entry {seq} does not continue this replica's change log at {sequence}: "
                "the replica and the primary have diverged (rebuild the replica from an empty folder)"
            )
        out.append((seq, raw, entry))
        sequence, prev = seq, changelog.digest(raw)
    return out, (sequence, prev)


def _put_state(ctx: WriteContext, state: dict[str, Any]) -> None:
    ctx.put("meta", STATE, json.dumps(state, separators=(",", ":")).encode())


def apply_batch(ctx: WriteContext, entries: Verified, state: dict[str, Any]) -> int:
    """Write operation: store verified entries under their sequences, apply them, record ``state``.

    Raises:
        ServerError: the entries do not start at the writer's head + 1 (an
            earlier batch failed): nothing is written, the follower resumes
            from the store's head.
    """
    if entries:
        first, _, entry = entries[0]
        if first != ctx.sequence + 1 or entry.prev_digest != ctx.last_digest:
            raise ServerError(f"replica apply out of step: entry {first} after head {ctx.sequence}")
        log_db = ctx.store.dbs["changelog"]
        for sequence, raw, entry in entries:
            ctx.txn.put(u64(sequence), raw, db=log_db, append=True)
            apply_entry(ctx, entry)
        ctx.sequence = entries[-1][0]
        ctx.last_digest = changelog.digest(entries[-1][1])
    _put_state(ctx, state)
    return len(entries)


def begin_bootstrap(ctx: WriteContext, state: dict[str, Any]) -> None:
    """Write operation: empty the replicated databases and the change log, mark a bootstrap in progress."""
    for name in (*SNAPSHOT_DBS, "changelog"):
        ctx.txn.drop(ctx.store.dbs[name], delete=False)
    stats.clear_registrations(ctx)  # the snapshot brings the primary's day counters
    stale = [bytes(k) for k, _ in ctx.cursor("meta") if bytes(k) not in LOCAL_META]
    for key in (*stale, changelog.PRUNED):
        if ctx.get("meta", key) is not None:
            ctx.delete("meta", key)
    ctx.put("meta", BOOTSTRAP, b"1")
    ctx.sequence, ctx.last_digest = 0, changelog.GENESIS
    _put_state(ctx, state)


def load_items(ctx: WriteContext, items: list[tuple[str, bytes, bytes]]) -> int:
    """Write operation: one snapshot chunk (items in key order per database, after :func:`begin_bootstrap`)."""
    for db, key, value in items:
        if db == "meta":
            if key not in LOCAL_META:
                ctx.put("meta", key, value)
        elif db == stats.USAGE_DB:  # only the day counters of registrations; resolutions are per node
            if stats.is_registration_key(key):
                ctx.put(db, key, value)
        else:
            ctx.put(db, key, value)
    return len(items)


def finish_bootstrap(ctx: WriteContext, sequence: int, digest: bytes, state: dict[str, Any]) -> None:
    """Write operation: the log continues after the snapshot's ``sequence`` (whose entry has ``digest``)."""
    ctx.put("meta", changelog.PRUNED, u64(sequence) + digest)
    ctx.delete("meta", BOOTSTRAP)
    stats.counted_after_snapshot(ctx, sequence)
    ctx.sequence, ctx.last_digest = sequence, digest
    _put_state(ctx, state)


def snapshot_chunks(store: Any, chunk_bytes: int = CHUNK_BYTES) -> Iterator[replication_pb2.SnapshotChunk]:
    """Every replicated database in one pinned read transaction, as chunks; the last one says where it stands.

    Items go database by database, each in key order (the replica appends
    them). Meta keys of :data:`LOCAL_META` stay behind. The final chunk
    (``done``) carries the change-log sequence the transaction saw and the
    digest of that entry, so the replica's chain continues from it.
    """
    with store.pinned() as txn:
        sequence, digest = changelog.head(store, txn)
        chunk = replication_pb2.SnapshotChunk()
        size = total = 0
        for name, items in (
            *((name, txn.cursor(db=store.dbs[name])) for name in (*SNAPSHOT_DBS, "meta")),
            (stats.USAGE_DB, stats.registration_items(txn, store)),  # the day counters, not the resolutions
        ):
            for key, value in items:
                if name == "meta" and bytes(key) in LOCAL_META:
                    continue
                chunk.items.add(db=name, key=key, value=value)
                size += len(key) + len(value) + 16
                total += 1
                if size >= chunk_bytes:
                    yield chunk
                    chunk = replication_pb2.SnapshotChunk()
                    size = 0
        chunk.done = True
        chunk.sequence = sequence
        chunk.sequence_digest = digest
        chunk.items_total = total
        chunk.primary_time = time.time()
        yield chunk


# -- the follower ----------------------------------------------------------------------


class Follower:
    """Follows the primary at ``primary`` into ``store`` through ``writer``.

    Args:
        store: the replica's open store.
        writer: its writer role (every change goes through it).
        primary: ``HOST:PORT`` of the primary's gRPC port.
        credential: a node-admin or auditor credential of the primary.
        replica_id: named in the primary's logs.
        tls: TLS to the primary (``--primary-ca``/``--primary-cert``/``--primary-key``); None: plain gRPC.
        batch_entries: entries per Follow message asked for.
        backoff_base, backoff_cap, rng: reconnect backoff (full jitter).

    Attributes (status, metrics): ``applied_total`` entries applied by this
    process, ``state`` (bootstrapping, following, disconnected), ``position``
    the head it started from.
    """

    def __init__(
        self,
        store: Store,
        writer: Writer,
        primary: str,
        *,
        credential: str,
        replica_id: str = "",
        batch_entries: int = BATCH_ENTRIES,
        backoff_base: float = BACKOFF_BASE,
        backoff_cap: float = BACKOFF_CAP,
        rng: Callable[[], float] = random.random,
        tls: LinkTls | None = None,
    ) -> None:
        self.store = store
        self.writer = writer
        self.primary = primary
        self.tls = tls
        self.replica_id = replica_id or f"{socket.gethostname()}:{store.path.resolve()}"
        self.batch_entries = batch_entries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.rng = rng
        self._metadata = (("authorization", f"Bearer {credential}"),)
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._call: Any = None
        self.position = store.last_sequence()
        self.applied_total = 0
        self.state = "disconnected"
        self._caught_up_at = 0.0
        self._primary_sequence = 0
        self._primary_time = 0.0
        self._heard = 0.0  # when the primary last answered (s since 1970)
        old = store.get("meta", STATE)
        if old is not None:
            st = json.loads(old)
            self._heard = float(st.get("updated", 0.0))
            self._caught_up_at = float(st.get("caught_up_at", 0.0))
            self._primary_sequence = int(st.get("primary_sequence", 0))
            self._primary_time = float(st.get("primary_time", 0.0))

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="idnode-replica")

    async def stop(self, grace: float) -> None:
        """Stop following; batches already handed to the writer still commit (writer.stop drains them)."""
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        task, self._task = self._task, None
        if task is None:
            return
        _, running = await asyncio.wait({task}, timeout=grace)
        if running:
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """Follow (bootstrapping when needed) until stopped; every failure backs off and reconnects."""
        primary_channel = channel(self.primary, self.tls, CHANNEL_OPTIONS)
        stub = replication_pb2_grpc.ReplicationStub(primary_channel)
        attempt = 0
        need_snapshot = self.store.get("meta", BOOTSTRAP) is not None
        try:
            while not self._stop.is_set():
                try:
                    if need_snapshot:
                        await self._bootstrap(stub)
                        need_snapshot = False
                    if await self._follow(stub):
                        attempt = 0
                    if not self._stop.is_set():  # the primary ended the stream (it is stopping)
                        attempt = await self._back_off(attempt)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if self._stop.is_set() and task is not None and not task.cancelling():
                        break  # stop() cancelled the call, not this task
                    raise
                except grpc.aio.AioRpcError as exc:
                    if self._stop.is_set():
                        break
                    if exc.code() == grpc.StatusCode.OUT_OF_RANGE:
                        log.warning("replica: %s; bootstrapping from the primary's snapshot", exc.details())
                        need_snapshot = True
                        continue
                    error = f"{exc.code().name} {exc.details()}{failure_hint(exc.details(), self.tls, 'primary')}"
                    if self.state != "disconnected" or attempt == 0:  # once per outage
                        log.warning("replica: primary %s: %s; reconnecting with backoff", self.primary, error)
                    attempt = await self._back_off(attempt, error)
                except (changelog.ChangeLogError, HandleError) as exc:
                    log.error("replica: %s; retrying with backoff", exc)
                    attempt = await self._back_off(attempt, str(exc))
                except Exception:
                    log.exception("replica: following %s failed; retrying with backoff", self.primary)
                    attempt = await self._back_off(attempt)
        finally:
            await primary_channel.close()

    # -- steps -------------------------------------------------------------------------

    def _state(self, state: str, error: str = "") -> dict[str, Any]:
        """The replication state to record; ``updated`` is when the primary last answered."""
        if state != "disconnected":
            self._heard = time.time()
        return {
            "primary": self.primary,
            "state": state,
            "primary_sequence": self._primary_sequence,
            "primary_time": self._primary_time,
            "caught_up_at": self._caught_up_at,
            "updated": self._heard,
            "error": error,
        }

    async def _write(self, fn: Callable[[WriteContext], Any]) -> Any:
        # Shielded: a stop that cancels this task must not cancel a queued write.
        return await asyncio.shield(asyncio.wrap_future(self.writer.submit(fn)))

    async def _disconnected(self, error: str = "") -> None:
        """Record the state ``disconnected`` and why (once per outage and reason)."""
        self.state = "disconnected"
        stored = self.store.get("meta", STATE)
        if stored is not None:
            old = json.loads(stored)
            if old.get("state") == "disconnected" and old.get("error", "") == error:
                return
        state = self._state("disconnected", error)
        with contextlib.suppress(HandleError):
            await self._write(lambda ctx: _put_state(ctx, state))

    async def _follow(self, stub: replication_pb2_grpc.ReplicationStub) -> bool:
        """Follow until the stream ends; True when at least one message arrived."""
        with self.store.begin() as txn:
            head = changelog.head(self.store, txn)
        self._call = call = stub.Follow(
            replication_pb2.FollowRequest(
                from_sequence=head[0] + 1, max_entries=self.batch_entries, replica_id=self.replica_id
            ),
            metadata=self._metadata,
        )
        pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        received = False
        try:
            async for msg in call:
                received = True
                entries, head = verify(head, ((e.sequence, e.entry) for e in msg.entries))
                self._primary_sequence = max(msg.primary_sequence, head[0])
                self._primary_time = msg.primary_time
                if head[0] >= msg.primary_sequence:
                    self._caught_up_at = msg.primary_time
                if self.state != "following":
                    log.info("replica: following %s from sequence %d", self.primary, head[0] - len(entries) + 1)
                    self.state = "following"
                state = self._state("following")
                future = asyncio.ensure_future(self._write(lambda ctx, e=entries, s=state: apply_batch(ctx, e, s)))
                future.add_done_callback(functools.partial(self._applied, len(entries)))
                pending.append(future)
                while pending and (len(pending) >= IN_FLIGHT or pending[0].done()):
                    await pending.popleft()
        finally:
            self._call = None
            for future in pending:
                with contextlib.suppress(HandleError, asyncio.CancelledError):
                    await future
        return received

    def _applied(self, count: int, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.applied_total += count
            metrics.replication_applied(count)

    async def _bootstrap(self, stub: replication_pb2_grpc.ReplicationStub) -> None:
        """Replace the replicated databases with the primary's snapshot."""
        self.state = "bootstrapping"
        started = time.monotonic()
        state = self._state("bootstrapping")
        await self._write(lambda ctx: begin_bootstrap(ctx, state))
        self._call = stream = stub.Snapshot(replication_pb2.SnapshotRequest(), metadata=self._metadata)
        pending: collections.deque[asyncio.Future[Any]] = collections.deque()
        received = 0
        try:
            async for chunk in stream:
                items = [(i.db, i.key, i.value) for i in chunk.items]
                for db, _, _ in items:
                    if db not in SNAPSHOT_DBS and db != "meta" and db != stats.USAGE_DB:
                        raise changelog.ChangeLogError(f"the primary's snapshot carries an unknown database {db!r}")
                received += len(items)
                pending.append(asyncio.ensure_future(self._write(lambda ctx, i=items: load_items(ctx, i))))
                while pending and (len(pending) >= IN_FLIGHT or pending[0].done()):
                    await pending.popleft()
                if chunk.done:
                    while pending:
                        await pending.popleft()
                    if received != chunk.items_total:
                        raise changelog.ChangeLogError(
                            f"snapshot incomplete: {received} items received, {chunk.items_total} sent"
                        )
                    self._primary_sequence = max(self._primary_sequence, chunk.sequence)
                    self._primary_time = self._caught_up_at = chunk.primary_time
                    final = self._state("following")
                    at, digest = chunk.sequence, bytes(chunk.sequence_digest)
                    await self._write(lambda ctx, a=at, d=digest, f=final: finish_bootstrap(ctx, a, d, f))
                    log.info(
                        "replica: bootstrapped %d items at sequence %d in %.1f s",
                        received,
                        chunk.sequence,
                        time.monotonic() - started,
                    )
                    return
        finally:
            self._call = None
            for future in pending:
                with contextlib.suppress(HandleError, asyncio.CancelledError):
                    await future
        raise changelog.ChangeLogError("the primary's snapshot stream ended before its last chunk")

    async def _back_off(self, attempt: int, error: str = "") -> int:
        """Mark the link down (with ``error``) and sleep the backoff of ``attempt``; the next attempt's number."""
        await self._disconnected(error)
        await self._sleep(backoff_delay(attempt, self.backoff_base, self.backoff_cap, self.rng))
        return attempt + 1

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)


# -- start-up helpers (node.py, prefork writer) ----------------------------------------


def primary_credential(path: Path | None, data_dir: Path) -> str:
    """The primary's credential a replica presents (``--primary-token-file``, else ``<data-dir>/primary.credential``).

    Raises:
        StoreError: the file cannot be read or is empty (a clear start-up error).
    """
    path = path or data_dir / CREDENTIAL_FILE
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise StoreError(
            f"a replica needs a node-admin or auditor credential of its primary in {path} "
            f"(--primary-token-file): {exc.strerror}"
        ) from None
    if not text:
        raise StoreError(f"the primary's credential file {path} is empty")
    return text


def primary_info(
    primary: str, credential: str, timeout: float = 30.0, tls: LinkTls | None = None
) -> replication_pb2.ReplicationInfo:
    """``GetReplicationInfo`` from the primary (TLS with ``tls``), retried for up to ``timeout`` seconds (start-up).

    Raises:
        StoreError: the primary did not answer, or refused the credential (with a hint when TLS looks wrong).
    """
    deadline = time.monotonic() + timeout
    with channel(primary, tls, aio=False) as primary_channel:
        stub = replication_pb2_grpc.ReplicationStub(primary_channel)
        while True:
            try:
                return stub.GetReplicationInfo(
                    replication_pb2.ReplicationInfoRequest(),
                    metadata=(("authorization", f"Bearer {credential}"),),
                    timeout=max(min(5.0, deadline - time.monotonic()), 0.1),
                )
            except grpc.RpcError as exc:
                code = exc.code()  # type: ignore[attr-defined]
                details = exc.details()  # type: ignore[attr-defined]
                why = f"{code.name} {details}{failure_hint(details, tls, 'primary')}"
                if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise StoreError(f"primary {primary} refused the replica: {why}") from None
                if time.monotonic() >= deadline:
                    raise StoreError(f"primary {primary} is not reachable: {why}") from None
                time.sleep(0.2)


def replica_node_prefix(data_dir: Path, primary: str, credential: str, tls: LinkTls | None = None) -> str:
    """The node prefix a replica serves: its folder's, else the primary's (asked at start-up)."""
    if (data_dir / "lmdb").exists():
        try:
            store = Store(data_dir, map_size=1 << 20, lock=False, writable=False)
        except StoreError:
            store = None
        if store is not None:
            try:
                stored = store.get("meta", b"node_prefix")
            finally:
                store.close()
            if stored:
                return stored.decode()
    return primary_info(primary, credential, tls=tls).node_prefix


def start_follower(store: Store, writer: Writer, primary: str, credential: str, **options: Any) -> Follower:
    """Build and start the follower of a replica (node.py, prefork writer)."""
    follower = Follower(store, writer, primary, credential=credential, **options)
    follower.start()
    return follower
