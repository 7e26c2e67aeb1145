"""The Resolver gRPC service: request bytes in, reply bytes out, on the event loop.

Registered as a generic handler with identity (de)serializers, so gRPC hands
over the raw request bytes and sends the bytes the read pipeline assembled
(DESIGN.md principle 2). Requests are decoded by ``_fastpath``; reads run
inline on the event loop (they take microseconds), never in an executor.
Failures abort the call with the status built by
:func:`idnode.resolver.grpc.status.to_status`; batch items fail in-band.
Handles under prefixes this node does not serve are resolved recursively
(``resolver/recursion.py``) when the node runs with ``--top``: the reply is
the owner's, with ``non_authoritative`` set; the ``x-idnode-hops`` metadata
of the request bounds the recursion.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

from idnode import metrics
from idnode._fastpath import RecordError, decode_batch_request, decode_resolve_request
from idnode.proto import resolver_pb2
from idnode.registry.auth import ANONYMOUS, Principal
from idnode.registry.errors import AuthenticationFailed, HandleError, ProtocolError, ServerNotResponsible
from idnode.resolver import admission, limits, pipeline, timeouts
from idnode.resolver.grpc.status import abort, handle_code_of_metadata
from idnode.resolver.recursion import hops_of

__all__ = ["SERVICE_NAME", "ResolverService", "principal_of", "resolver_handler"]

CANCELLED = "cancelled"  # the code label of a call the client cancelled (metrics)
SERVICE_NAME: str = resolver_pb2.DESCRIPTOR.services_by_name["Resolver"].full_name


def principal_of(context: grpc.aio.ServicerContext, registry: Any) -> Principal:
    """The caller, from the ``authorization: Bearer <token>`` metadata.

    No ``authorization`` metadata gives :data:`ANONYMOUS` without asking the
    registry (the anonymous read is the hot path).

    Raises:
        AuthenticationFailed (403): not of the form ``Bearer <token>``, or
            rejected by ``registry.authenticate``.
    """
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            scheme, _, token = value.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise AuthenticationFailed("authorization metadata must be 'Bearer <token>'")
            return registry.authenticate(token)
    return ANONYMOUS


def limit(principal: Principal, context: grpc.aio.ServicerContext, peer: str | None = None) -> None:
    """Admit a resolve: the process serves resolves, and the caller (its credential, else its peer
    address ``peer``, read from ``context`` when not given) has a resolve token.

    Raises:
        ReplicaNotReady (3, UNAVAILABLE): a replica whose data is partial (``resolver/admission.py``).
        RateLimited (3, RESOURCE_EXHAUSTED): over ``--rate-limit-resolve`` (unless the peer address
            is in ``--rate-limit-resolve-exempt``).
    """
    refused = admission.refusal()
    if refused is not None:
        raise admission.ReplicaNotReady(refused)
    limiter = limits.resolve_limiter()
    if limiter is not None:
        if peer is None:
            peer = limits.peer_ip(context.peer())
        if not limits.exempt(peer):  # --rate-limit-resolve-exempt: a trusted resolver or node
            limits.check(limiter, principal.token_id or peer, "resolves")


class ResolverService:
    """The three Resolver methods over one registry; each takes and returns wire bytes."""

    __slots__ = ("_registry", "_tally")

    def __init__(self, registry: Any) -> None:
        self._registry = registry
        self._tally = metrics.tally()  # None: metrics off

    async def resolve(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """``Resolve``: one handle; a failure aborts with its status."""
        with Meter(self._tally, "Resolve") as meter:
            try:
                principal = principal_of(context, self._registry)
                limit(principal, context)
                try:
                    handle, indexes, types = decode_resolve_request(request)
                except RecordError as exc:
                    raise ProtocolError(f"malformed ResolveRequest: {exc}") from None
                meter.handle = handle
                query = pipeline.Query(handle, indexes, types, principal)
                try:
                    return pipeline.resolve(query, self._registry)
                except ServerNotResponsible as exc:  # a prefix not served here: recursion (--top), else 301
                    return await pipeline.recurse(query, self._registry, exc, hops_of(context.invocation_metadata()))
            except Exception as exc:
                meter.code = _code_of(exc)
                await abort(context, exc)

    async def batch_resolve(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        """``BatchResolve``: up to 1000 handles, failures in-band, in order."""
        with Meter(self._tally, "BatchResolve") as meter:
            try:
                principal = principal_of(context, self._registry)
                limit(principal, context)
                return await self._batch(request, principal, context, "BatchResolve")
            except Exception as exc:
                meter.code = _code_of(exc)
                await abort(context, exc)

    async def resolve_stream(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """``ResolveStream``: each request message is a batch, answered in order.

        A malformed or oversized message ends the stream with its status.
        """
        with Meter(self._tally, "ResolveStream") as meter:  # a stream refused at its start counts as one request
            try:
                principal = principal_of(context, self._registry)
                peer = limits.peer_ip(context.peer())  # once per stream, not per message
                release = limits.open_stream(principal.token_id or peer)
            except Exception as exc:
                meter.code = _code_of(exc)
                await abort(context, exc)
            meter.tally = None  # open: each of its messages counts as a request (below), not the opening
        try:
            async for reply in self._stream(requests, principal, context, peer):
                yield reply
        finally:
            release()

    async def _stream(
        self, requests: AsyncIterator[bytes], principal: Principal, context: grpc.aio.ServicerContext, peer: str
    ) -> AsyncIterator[bytes]:
        async for request in requests:
            with Meter(self._tally, "ResolveStream") as meter:  # each message is one request of the stream
                try:
                    limit(
                        principal, context, peer
                    )  # each message is a request: a flooded stream ends RESOURCE_EXHAUSTED
                    reply = await self._batch(request, principal, context, "ResolveStream")
                except Exception as exc:
                    meter.code = _code_of(exc)
                    await abort(context, exc)
            yield reply

    async def _batch(
        self, request: bytes, principal: Principal, context: grpc.aio.ServicerContext, method: str
    ) -> bytes:
        try:
            handles, indexes, types = decode_batch_request(request)
        except RecordError as exc:
            raise ProtocolError(f"malformed BatchResolveRequest: {exc}") from None
        tally = self._tally
        if tally is None:
            failed = None
        else:
            tally.batch("grpc", method, len(handles))
            failed = []
        if pipeline.recursor_of(self._registry) is None:
            reply = pipeline.resolve_many(handles, indexes, types, principal, self._registry, failed)
        else:
            hops = hops_of(context.invocation_metadata())
            reply = await pipeline.resolve_many_recursive(
                handles, indexes, types, principal, self._registry, hops, failed
            )
        if tally is not None:
            tally.used_many("grpc", handles, failed)
        return reply


class Meter:
    """Counts one gRPC request in ``idnode_requests_total`` and its time (a no-op when ``tally`` is None).

    ``code`` is 1 unless the caller sets the failure's Handle code; with a
    ``context``, a failure's code is read from the status the call aborted
    with (its HandleError detail; 2 without one); a cancelled call counts as
    ``cancelled``, unless the server's own deadline cancelled it (``--request-timeout``,
    resolver/timeouts.py): code 3.
    """

    __slots__ = ("code", "context", "handle", "method", "start", "tally")

    def __init__(self, tally: metrics.Tally | None, method: str, context: Any = None) -> None:
        self.tally = tally
        self.method = method
        self.context = context
        self.code: int | str = 1
        self.handle = ""  # set once decoded: the request counts for its prefix's daily statistics

    def __enter__(self) -> Meter:
        self.start = time.perf_counter_ns()
        return self

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        if self.tally is None:
            return
        if kind is asyncio.CancelledError:
            self.code = 3 if timeouts.expired() else CANCELLED
        elif kind is not None and self.context is not None:
            try:
                metadata = self.context.trailing_metadata()
            except Exception:  # a grpcio without the getter
                metadata = ()
            self.code = handle_code_of_metadata(metadata) or 2
        self.tally.request("grpc", self.method, self.code, time.perf_counter_ns() - self.start)
        if self.handle and self.code != CANCELLED:
            self.tally.used(self.handle.partition("/")[0], "grpc", self.code == 1)


def _code_of(error: BaseException) -> int:
    """The Handle response code a failure is answered with (2 for anything unexpected)."""
    return error.code if isinstance(error, HandleError) else 2


def resolver_handler(registry: Any) -> grpc.GenericRpcHandler:
    """The generic handler serving ``idnode.v1.Resolver`` with pass-through serializers."""
    service = ResolverService(registry)
    return grpc.method_handlers_generic_handler(
        SERVICE_NAME,
        {
            "Resolve": grpc.unary_unary_rpc_method_handler(
                service.resolve, request_deserializer=None, response_serializer=None
            ),
            "BatchResolve": grpc.unary_unary_rpc_method_handler(
                service.batch_resolve, request_deserializer=None, response_serializer=None
            ),
            "ResolveStream": grpc.stream_stream_rpc_method_handler(
                service.resolve_stream, request_deserializer=None, response_serializer=None
            ),
        },
    )
