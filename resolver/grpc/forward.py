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

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from idnode import requestid
from idnode.proto import registry_pb2
from idnode.resolver.grpc.registry_service import SERVICE_NAME

__all__ = ["registry_forwarder"]

_PASSED_METADATA = ("authorization",)


def _metadata(context: grpc.aio.ServicerContext) -> tuple[tuple[str, str | bytes], ...]:
    """The caller's credential and this request's id (taken from the caller or made by this worker)."""
    passed = tuple((k, v) for k, v in context.invocation_metadata() or () if k in _PASSED_METADATA)
    return requestid.metadata(passed)


async def _relay_error(context: grpc.aio.ServicerContext, err: grpc.aio.AioRpcError) -> None:
    if err.code() == grpc.StatusCode.UNAVAILABLE:
        await context.abort(grpc.StatusCode.UNAVAILABLE, "the node's writer process is not reachable; retry")
    await context.abort(err.code(), err.details() or "", tuple(err.trailing_metadata() or ()))


def registry_forwarder(channel: grpc.aio.Channel) -> grpc.GenericRpcHandler:
    """A generic handler serving ``idnode.v1.Registry`` by forwarding to ``channel``."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in registry_pb2.DESCRIPTOR.services_by_name["Registry"].methods:
        path = f"/{SERVICE_NAME}/{method.name}"
        if method.server_streaming:
            handlers[method.name] = grpc.unary_stream_rpc_method_handler(_unary_stream(channel.unary_stream(path)))
        else:
            handlers[method.name] = grpc.unary_unary_rpc_method_handler(_unary_unary(channel.unary_unary(path)))
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


def _unary_unary(call: Any) -> Callable[[bytes, grpc.aio.ServicerContext], Awaitable[bytes]]:
    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        try:
            return await call(request, metadata=_metadata(context), timeout=context.time_remaining())
        except grpc.aio.AioRpcError as err:
            await _relay_error(context, err)
            raise  # abort() raised already; keeps type checkers content

    return forward


def _unary_stream(call: Any) -> Callable[[bytes, grpc.aio.ServicerContext], AsyncIterator[bytes]]:
    async def forward(request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        stream = call(request, metadata=_metadata(context), timeout=context.time_remaining())
        try:
            async for reply in stream:
                yield reply
        except grpc.aio.AioRpcError as err:
            await _relay_error(context, err)

    return forward
