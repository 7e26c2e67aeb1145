"""Registry calls of a reader worker, forwarded to the node's writer process.

In a prefork node only the writer process opens write transactions
(DESIGN.md, process model). A reader worker answers Resolver calls itself and
passes every ``idnode.v1.Registry`` call through to the writer over a local
channel (a Unix socket): request bytes, the caller's ``authorization``
metadata and deadline go in unchanged; the reply bytes, or the status with
its rich details (the HandleError in ``grpc-status-details-bin``), come back
unchanged. The writer authenticates and authorises exactly as a single
process node does, so there is one write path.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import message_factory

from idnode import requestid
from idnode.proto import registry_pb2
from idnode.resolver.grpc.registry_service import SERVICE_NAME

__all__ = [
    "USAGE_METHOD",
    "WRITE_METHODS",
    "registry_forwarder",
    "servicer_handler",
    "usage_handler",
    "usage_sender",
    "write_forwarder",
]

# The Registry methods that write: a read replica with --forward-writes sends
# these to its primary and answers the others itself.
WRITE_METHODS = frozenset(
    {
        "AddEnterprise",
        "SetEnterpriseStatus",
        "AllocatePrefix",
        "PutTemplate",
        "CreateToken",
        "RevokeToken",
        "CreateIdentifier",
        "UpdateIdentifier",
        "DeleteIdentifier",
        "BatchCreate",
        "BatchUpdate",
        "BatchDelete",
    }
)

log = logging.getLogger(__name__)

USAGE_SERVICE = "idnode.internal.Usage"
USAGE_METHOD = f"/{USAGE_SERVICE}/Add"
"""Per-prefix resolution counts, worker -> writer (JSON ``[[prefix, frontend, resolutions, errors], ...]``).
Served only on the writer's Unix socket: the public port has no such service and forwards only Registry."""

_PASSED_METADATA = ("authorization",)


def _metadata(context: grpc.aio.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    """The caller's credential and this request's id (taken from the caller or made by this worker)."""
    passed = tuple((k, v) for k, v in context.invocation_metadata() or () if k in _PASSED_METADATA)
    return requestid.metadata(passed)


WRITER_UNREACHABLE = "the node's writer process is not reachable; retry"


async def _relay_error(context: grpc.aio.ServicerContext, err: grpc.aio.AioRpcError, unreachable: str) -> None:
    if err.code() == grpc.StatusCode.UNAVAILABLE:
        await context.abort(grpc.StatusCode.UNAVAILABLE, unreachable)
    await context.abort(err.code(), err.details() or "", tuple(err.trailing_metadata() or ()))


def registry_forwarder(channel: grpc.aio.Channel, unreachable: str = WRITER_UNREACHABLE) -> grpc.GenericRpcHandler:
    """A generic handler serving ``idnode.v1.Registry`` by forwarding to ``channel``."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in registry_pb2.DESCRIPTOR.services_by_name["Registry"].methods:
        path = f"/{SERVICE_NAME}/{method.name}"
        if method.server_streaming:
            forward = _unary_stream(channel.unary_stream(path), unreachable)
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(forward)
        else:
            call = _unary_unary(channel.unary_unary(path), unreachable)
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(call)
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def servicer_handler(servicer: Any) -> grpc.GenericRpcHandler:
    """A generic handler serving ``idnode.v1.Registry`` with a local servicer's methods."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in registry_pb2.DESCRIPTOR.services_by_name["Registry"].methods:
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        make = grpc.unary_stream_rpc_method_handler if method.server_streaming else grpc.unary_unary_rpc_method_handler
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=request.FromString,
            response_serializer=response.SerializeToString,
        )
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


class _WriteForwarder(grpc.GenericRpcHandler):
    def __init__(self, local: grpc.GenericRpcHandler, primary: grpc.GenericRpcHandler) -> None:
        self._local = local
        self._primary = primary

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = handler_call_details.method.rpartition("/")[2]
        chosen = self._primary if method in WRITE_METHODS else self._local
        return chosen.service(handler_call_details)


def write_forwarder(local: grpc.GenericRpcHandler, primary: grpc.aio.Channel) -> grpc.GenericRpcHandler:
    """``idnode.v1.Registry`` of a replica with ``--forward-writes``: the write
    methods (:data:`WRITE_METHODS`) go to the primary over ``primary`` (the
    caller's credential is the primary's too: credentials replicate), every
    other method to ``local``. An unreachable primary gives UNAVAILABLE."""
    return _WriteForwarder(local, registry_forwarder(primary, "this replica's primary is not reachable; retry"))


def _unary_unary(call: Any, unreachable: str) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]:
    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            return await call(request, metadata=_metadata(context), timeout=context.time_remaining())
        except grpc.aio.AioRpcError as err:
            await _relay_error(context, err, unreachable)
            raise  # abort() raised already; keeps type checkers content

    return forward


def _unary_stream(call: Any, unreachable: str) -> Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[bytes]]:
    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        stream = call(request, metadata=_metadata(context), timeout=context.time_remaining())
        try:
            async for reply in stream:
                yield reply
        except grpc.aio.AioRpcError as err:
            await _relay_error(context, err, unreachable)

    return forward


Usage = dict[tuple[str, str], list[int]]


def usage_handler(apply: Callable[[Usage], Any]) -> grpc.GenericRpcHandler:
    """The writer's side: hands each worker's counts to ``apply`` (which queues them for the writer)."""

    async def add(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            rows = json.loads(request)
            counts = {(str(p), str(f)): [int(ok), int(bad)] for p, f, ok, bad in rows}
        except (ValueError, TypeError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"malformed usage report: {exc}")
        await asyncio.wrap_future(apply(counts))  # acknowledged once durable
        return b""

    return grpc.method_handlers_generic_handler(
        USAGE_SERVICE,
        {"Add": grpc.unary_unary_rpc_method_handler(add, request_deserializer=None, response_serializer=None)},
    )


def usage_sender(channel: grpc.aio.Channel, give_back: Callable[[Usage], None]) -> Callable[[Usage], None]:
    """A worker's usage sink: sends the counts to the writer in the background; counts it could not
    deliver (the writer restarting) go back through ``give_back`` into the next flush."""
    call = channel.unary_unary(USAGE_METHOD)
    pending: set[asyncio.Task[None]] = set()

    async def send(counts: Usage) -> None:
        payload = json.dumps([[p, f, ok, bad] for (p, f), (ok, bad) in counts.items()]).encode()
        try:
            await call(payload, timeout=10)
        except grpc.aio.AioRpcError as err:
            log.debug("usage report to the writer failed (%s); kept for the next one", err.code().name)
            give_back(counts)

    def sink(counts: Usage) -> None:
        task = asyncio.get_running_loop().create_task(send(counts))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def drain(timeout: float = 5.0) -> None:
        """Wait for the reports in flight (shutdown)."""
        if pending:
            await asyncio.wait(list(pending), timeout=timeout)

    sink.drain = drain  # type: ignore[attr-defined]
    return sink
