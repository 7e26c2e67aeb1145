"""Undecodable gRPC request messages end as INVALID_ARGUMENT (Handle code 4), not UNKNOWN."""

from __future__ import annotations

import inspect
from typing import Any

import grpc

from idnode.registry.errors import ProtocolError
from idnode.resolver.grpc.status import abort


class _Undecodable:
    """What the lenient deserializer hands the method when the bytes are not its request message."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def reject_undecodable(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    """``handler`` with a deserializer that never raises and a check that aborts undecodable requests.

    grpcio answers an exception raised by a request deserializer with
    UNKNOWN ("Unexpected DecodeError raised by servicer method") and logs a
    traceback; a malformed request is the client's error, so it gets
    INVALID_ARGUMENT with a ``ProtocolError`` detail instead, before the
    method runs (nothing is read or written). Handlers whose requests pass
    through as bytes (no deserializer) and request streams are returned as
    they are.
    """
    deserialize = handler.request_deserializer
    if deserialize is None or handler.request_streaming:
        return handler
    name = method.rsplit("/", 1)[-1]

    def lenient(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except Exception as exc:  # protobuf's DecodeError, or whatever a custom deserializer raises
            return _Undecodable(f"the request is not a valid {name} request message ({exc})")

    if handler.unary_unary is not None:
        unary_behaviour = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if type(request) is _Undecodable:
                await abort(context, ProtocolError(request.reason))
            return await unary_behaviour(request, context)

        return handler._replace(request_deserializer=lenient, unary_unary=unary)
    stream_behaviour = handler.unary_stream
    if inspect.isasyncgenfunction(stream_behaviour):

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if type(request) is _Undecodable:
                await abort(context, ProtocolError(request.reason))
            async for reply in stream_behaviour(request, context):
                yield reply

        return handler._replace(request_deserializer=lenient, unary_stream=stream)

    async def writer(request: Any, context: grpc.aio.ServicerContext) -> Any:  # writes with context.write()
        if type(request) is _Undecodable:
            await abort(context, ProtocolError(request.reason))
        return await stream_behaviour(request, context)

    return handler._replace(request_deserializer=lenient, unary_stream=writer)
