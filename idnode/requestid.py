"""Request ids: one id per request, accepted from the caller or made here, in every log line and every hop.

The id lives in a context variable, so every log line written while a
request is served (in its task, across awaits) carries it, through
:class:`RequestIdFilter` on the log handler (``request_id`` in JSON logs,
``[request_id=...]`` at the end of a text line).

Where it enters and leaves:

- HTTP: the ``X-Request-Id`` request header, or a new id; always returned
  in the ``X-Request-Id`` response header (``resolver/http/server.py``).
- gRPC: the ``x-request-id`` metadata, or a new id; always returned in the
  trailing metadata, errors included (:class:`RequestIdHandler` around the
  Resolver and Registry services, ``resolver/grpc/status.py``; the health
  and reflection services have none).
- DNS: DNS messages carry no id; a query the node resolves through another
  node gets a new one (so the hops can be followed).
- Passed on: a prefork worker forwarding a write to the writer process
  (HTTP header, gRPC metadata) and a recursive resolution to the top-level
  node and the owning node (gRPC metadata) send the current id, so one id
  follows a request across processes and nodes.

A caller's id is kept when it is 1..128 characters of ``A-Z a-z 0-9 . _ : -``
(a UUID, a W3C trace id, a hex string); anything else is replaced by a new
id (an invalid header is not worth refusing the request).
"""

from __future__ import annotations

import contextvars
import inspect
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import grpc

__all__ = [
    "GRPC_KEY",
    "HTTP_HEADER",
    "RequestIdFilter",
    "RequestIdHandler",
    "RequestIdServer",
    "WrappingServer",
    "accept",
    "current",
    "ensure",
    "metadata",
    "new_id",
]

HTTP_HEADER = "X-Request-Id"
GRPC_KEY = "x-request-id"
MAX_LENGTH = 128
_VALID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

log = logging.getLogger(__name__)

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("idnode_request_id", default=None)


def new_id() -> str:
    """A fresh id: 16 random bytes as 32 hex digits (the shape of a W3C trace id)."""
    return os.urandom(16).hex()


def accept(value: str | bytes | None) -> str:
    """The caller's id when it is acceptable, else a new one."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if value and _VALID.fullmatch(value):
        return value
    return new_id()


def current() -> str | None:
    """The id of the request being served in this context, or None."""
    return _current.get()


def set_current(request_id: str) -> contextvars.Token[str | None]:
    """Make ``request_id`` the current id of this context (a task, or the caller's context)."""
    return _current.set(request_id)


def ensure() -> str:
    """The current id, made and set now when there is none (e.g. a DNS query that recurses)."""
    request_id = _current.get()
    if request_id is None:
        request_id = new_id()
        _current.set(request_id)
    return request_id


def metadata(extra: Iterable[tuple[str, str]] = ()) -> tuple[tuple[str, str], ...]:
    """gRPC metadata for an outgoing call: ``extra`` plus the current id (made when missing)."""
    return (*extra, (GRPC_KEY, ensure()))


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (or None) and ``request_tag`` (`` [request_id=...]`` or "") to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current.get()
        record.request_id = request_id
        record.request_tag = f" [request_id={request_id}]" if request_id else ""
        return True


# -- gRPC -------------------------------------------------------------------------------


def _incoming(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == GRPC_KEY:
            return accept(value)
    return new_id()


def _enter(context: grpc.aio.ServicerContext, method: str) -> None:
    request_id = _incoming(context)
    _current.set(request_id)
    context.set_trailing_metadata(((GRPC_KEY, request_id),))
    log.debug("gRPC %s", method)


def _wrap_unary(behaviour: Callable[..., Awaitable[Any]], method: str) -> Callable[..., Awaitable[Any]]:
    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        _enter(context, method)
        return await behaviour(request, context)

    return unary


def _wrap_streaming(behaviour: Callable[..., Any], method: str) -> Callable[..., Any]:
    if not inspect.isasyncgenfunction(behaviour):  # a coroutine that writes with context.write()
        return _wrap_unary(behaviour, method)

    async def streaming(request: Any, context: grpc.aio.ServicerContext) -> Any:
        _enter(context, method)
        async for reply in behaviour(request, context):
            yield reply

    return streaming


def _wrap(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        return handler._replace(unary_unary=_wrap_unary(handler.unary_unary, method))
    if handler.stream_unary is not None:
        return handler._replace(stream_unary=_wrap_unary(handler.stream_unary, method))
    if handler.unary_stream is not None:
        return handler._replace(unary_stream=_wrap_streaming(handler.unary_stream, method))
    return handler._replace(stream_stream=_wrap_streaming(handler.stream_stream, method))


class WrappedHandler(grpc.GenericRpcHandler):
    """A generic handler whose method handlers are ``wrap(handler, method path)``, each built once
    and cached, so a call costs one dictionary lookup more than the bare handler (a server
    interceptor would add a coroutine chain to every call)."""

    __slots__ = ("_inner", "_wrap", "_wrapped")

    def __init__(
        self, inner: grpc.GenericRpcHandler, wrap: Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]
    ) -> None:
        self._inner = inner
        self._wrap = wrap
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is None or cached[0] is not handler:
            cached = self._wrapped[method] = (handler, self._wrap(handler, method))
        return cached[1]


class RequestIdHandler(WrappedHandler):
    """Wraps a generic handler so that every call it serves has a request id (``x-request-id``
    metadata or new), current while the call is served and returned in its trailing metadata.
    At ``--log-level debug`` each call writes one line naming its method."""

    __slots__ = ()

    def __init__(self, inner: grpc.GenericRpcHandler) -> None:
        super().__init__(inner, _wrap)


class WrappingServer:
    """Stands in for a ``grpc.aio.Server`` (or another stand-in) while generated
    ``add_XServicer_to_server`` functions register a service: every method handler becomes
    ``wrap(handler, method path)`` once, at registration, then goes on to ``server``."""

    __slots__ = ("_server", "_wrap")

    def __init__(self, server: Any, wrap: Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]) -> None:
        self._server = server
        self._wrap = wrap

    def add_generic_rpc_handlers(self, handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(WrappedHandler(h, self._wrap) for h in handlers))

    def add_registered_method_handlers(self, service: str, handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        wrapped = {name: self._wrap(h, f"/{service}/{name}") for name, h in handlers.items()}
        self._server.add_registered_method_handlers(service, wrapped)


class RequestIdServer(WrappingServer):
    """Registers services whose calls have request ids (as :class:`RequestIdHandler`)."""

    __slots__ = ()

    def __init__(self, server: Any) -> None:
        super().__init__(server, _wrap)
