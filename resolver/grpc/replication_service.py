"""The Replication gRPC service: a node's change log and snapshot for its read replicas.

Served by every process that serves the public gRPC port (reader workers read
their own read-only LMDB environment). ``Follow`` polls the change-log head
while it has nothing to send: every ``poll_min`` seconds (2 ms), doubling up
to ``poll_max`` (20 ms) while the log stays still and back to ``poll_min`` as
soon as an entry arrives; each poll is one short read transaction, a few
microseconds on the event loop. An idle stream carries a heartbeat (no
entries, the head and the time) every ``heartbeat`` seconds. ``Snapshot``
reads every replicated database in one pinned read transaction, chunk by
chunk in a worker thread, so the event loop never blocks on it.
See sync/README.md ("Read replicas").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from idnode import metrics
from idnode.proto import replication_pb2, replication_pb2_grpc
from idnode.registry import auth, changelog
from idnode.registry.errors import AuthenticationNeeded, HandleError
from idnode.resolver import limits
from idnode.resolver.grpc.resolver_service import Meter, principal_of
from idnode.resolver.grpc.status import abort
from idnode.sync.replica import CHUNK_BYTES, snapshot_chunks

__all__ = ["SERVICE_NAME", "ReplicationService"]

SERVICE_NAME: str = replication_pb2.DESCRIPTOR.services_by_name["Replication"].full_name

POLL_MIN = 0.002
POLL_MAX = 0.02
HEARTBEAT = 1.0
BATCH_ENTRIES = 500
MAX_BATCH_ENTRIES = 5000
BATCH_BYTES = 4 << 20
MAX_CHUNK_BYTES = 16 << 20


class ReplicationService(replication_pb2_grpc.ReplicationServicer):
    """``idnode.v1.Replication`` over one registry facade (its store and its authentication).

    Every call needs a node-admin or auditor credential: the stream carries
    every value, private ones included, and the credentials' digests. With
    ``client_certificate`` (a primary with ``--replication-listen``) a call
    must also have arrived over a connection whose client certificate the
    server verified (only the replication port asks for one); others are
    refused with UNAUTHENTICATED (code 402) before the credential is looked at.
    """

    def __init__(
        self,
        registry: Any,
        *,
        poll_min: float = POLL_MIN,
        poll_max: float = POLL_MAX,
        heartbeat: float = HEARTBEAT,
        client_certificate: bool = False,
    ) -> None:
        self._registry = registry
        self.client_certificate = client_certificate
        self._store = registry.store
        self.poll_min = poll_min
        self.poll_max = poll_max
        self.heartbeat = heartbeat
        self._closing = asyncio.Event()

    def close(self) -> None:
        """End every open Follow stream (the server is draining); replicas reconnect elsewhere or later."""
        self._closing.set()

    def _authorise(self, context: grpc.aio.ServicerContext) -> None:
        if self.client_certificate and not context.peer_identities():
            raise AuthenticationNeeded(
                "replication from this primary needs a client certificate: dial its replication port "
                "(--replication-listen) with --primary-cert/--primary-key"
            )
        auth.require_role(principal_of(context, self._registry), "node-admin", "auditor")

    async def GetReplicationInfo(
        self, request: replication_pb2.ReplicationInfoRequest, context: grpc.aio.ServicerContext
    ) -> replication_pb2.ReplicationInfo:
        try:
            self._authorise(context)
            store = self._store
            with store.begin() as txn:
                pruned, _ = changelog.pruned(store, txn)
                last = store.last_sequence(txn)
                cur = txn.cursor(db=store.dbs["changelog"])
                first = pruned + 1 if cur.first() else 0
            from idnode.resolver.grpc.registry_service import node_version

            return replication_pb2.ReplicationInfo(
                node_prefix=self._registry.node_prefix,
                first_sequence=first,
                last_sequence=last,
                pruned_sequence=pruned,
                version=node_version(),
            )
        except Exception as exc:
            await abort(context, exc)

    async def Follow(
        self, request: replication_pb2.FollowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[replication_pb2.FollowResponse]:
        with Meter(metrics.tally(), "Follow") as meter:  # a refused Follow counts as a request, like other refusals
            try:
                self._authorise(context)
                authorization = dict(context.invocation_metadata() or ()).get("authorization")
                release = limits.open_stream(limits.client_key(authorization, limits.peer_ip(context.peer())))
            except HandleError as exc:
                meter.code = exc.code
                await abort(context, exc)
            meter.tally = None  # open: an accepted Follow runs for hours, it is not timed as a request
        try:
            async for message in self._follow(request, context):
                yield message
        finally:
            release()  # --max-streams-per-client

    async def _follow(
        self, request: replication_pb2.FollowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[replication_pb2.FollowResponse]:
        store = self._store
        start = request.from_sequence
        if start < 1:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "from_sequence must be at least 1")
        limit = min(request.max_entries or BATCH_ENTRIES, MAX_BATCH_ENTRIES)
        pruned, _ = changelog.pruned(store)
        last = store.last_sequence()
        if start <= pruned:
            await context.abort(
                grpc.StatusCode.OUT_OF_RANGE,
                f"entries up to {pruned} were pruned by the primary's --log-retention "
                f"(asked from {start}): bootstrap from Snapshot",
            )
        if start > last + 1:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"from_sequence {start} is past the primary's change log (head {last}): "
                "the replica holds changes this primary does not have",
            )
        position = start - 1
        delay = self.poll_min
        next_beat = time.monotonic()  # the first message goes out at once, entries or not
        while not self._closing.is_set():
            batch = store.changes_after(position, limit, BATCH_BYTES)
            if batch and batch[0][0] != position + 1:  # pruned while we were behind
                await context.abort(
                    grpc.StatusCode.OUT_OF_RANGE,
                    f"entry {position + 1} was pruned while this replica followed: bootstrap from Snapshot",
                )
            if batch or time.monotonic() >= next_beat:
                position = batch[-1][0] if batch else position
                yield replication_pb2.FollowResponse(
                    entries=[replication_pb2.LogEntry(sequence=s, entry=raw) for s, raw in batch],
                    primary_sequence=max(store.last_sequence(), position),
                    primary_time=time.time(),
                )
                next_beat = time.monotonic() + self.heartbeat
                if batch:
                    delay = self.poll_min
                    continue
            await self._wait(delay)
            delay = min(delay * 2, self.poll_max)

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def Snapshot(
        self, request: replication_pb2.SnapshotRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[replication_pb2.SnapshotChunk]:
        try:
            self._authorise(context)
        except HandleError as exc:
            await abort(context, exc)
        chunk_bytes = min(request.chunk_bytes or CHUNK_BYTES, MAX_CHUNK_BYTES)
        chunks = snapshot_chunks(self._store, chunk_bytes)
        sentinel = object()
        try:
            while True:
                # Each chunk is read in a worker thread (the pinned transaction
                # is entered there too: it may wait for a map resize).
                chunk = await asyncio.to_thread(next, chunks, sentinel)
                if chunk is sentinel:
                    return
                yield chunk
        finally:
            # A chunk still being read in its thread (the call was cancelled)
            # cannot be closed now; the generator closes when collected.
            with contextlib.suppress(ValueError):
                await asyncio.to_thread(chunks.close)
