"""Build, bind and start the node's grpc.aio server (Resolver, Registry, Replication, health, reflection)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection as grpc_reflection

from idnode import metrics
from idnode.health import INTERVAL, Health, health_of
from idnode.proto import registry_pb2_grpc, replication_pb2_grpc
from idnode.requestid import RequestIdHandler, RequestIdServer, WrappedHandler, WrappingServer
from idnode.resolver import limits, timeouts
from idnode.resolver.grpc import registry_service, replication_service, resolver_service
from idnode.resolver.grpc.decoding import reject_undecodable
from idnode.resolver.grpc.resolver_service import Meter
from idnode.resolver.grpc.status import abort

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES",
    "replication_credentials",
    "replication_port",
    "server_credentials",
    "start_grpc_server",
    "stop_grpc_server",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
_HEALTH: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # server -> its health servicer
_REFRESH: weakref.WeakKeyDictionary[Any, asyncio.Task[None]] = weakref.WeakKeyDictionary()  # server -> refresh task
_REPLICATION: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # server -> its Replication servicer
_REPLICATION_PORT: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()  # server -> its mTLS port


def _health_servicer() -> Any:
    aio = getattr(grpc_health, "aio", None)
    servicer_class = getattr(aio, "HealthServicer", None) or grpc_health.HealthServicer
    return servicer_class()


async def _set_serving(servicer: Any, service: str, serving: bool = True) -> None:
    status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
    result = servicer.set(service, status)
    if inspect.isawaitable(result):  # the aio servicer's set() is a coroutine
        await result


async def _refresh_health(servicer: Any, names: tuple[str, ...], health: Health) -> None:
    """Keep the health service's status in step with :meth:`Health.problems`, every ``INTERVAL`` seconds."""
    serving = True  # start_grpc_server set SERVING
    while True:
        problems = health.problems()
        if serving != (not problems):
            serving = not problems
            for name in names:
                await _set_serving(servicer, name, serving)
            if serving:
                logger.info("gRPC health: SERVING again")
            else:
                logger.warning("gRPC health: NOT_SERVING: %s", "; ".join(problems))
        await asyncio.sleep(INTERVAL)


def server_credentials(settings: Any) -> grpc.ServerCredentials | None:
    """TLS for the public gRPC port from ``settings.tls_cert``/``tls_key`` (the HTTP front end's files),
    or None without a certificate.

    Raises:
        OSError: a file cannot be read, or holds no PEM certificate or key (naming the file).
    """
    pair = _server_pem(settings)
    return None if pair is None else grpc.ssl_server_credentials([pair])


def _server_pem(settings: Any) -> tuple[bytes, bytes] | None:
    """(key, chain) PEM of ``--tls-cert``/``--tls-key``, None without a certificate (raises as above)."""
    cert, key = getattr(settings, "tls_cert", None), getattr(settings, "tls_key", None)
    if not cert:
        return None
    try:
        chain = Path(cert).read_bytes()
        private = Path(key).read_bytes() if key else chain
    except OSError as exc:
        raise OSError(
            f"cannot read the TLS certificate or key for gRPC: {exc.strerror or exc} ({exc.filename})"
        ) from None
    if b"-----BEGIN" not in chain or b"PRIVATE KEY-----" not in private:
        raise OSError(f"the TLS files {cert} and {key or cert} hold no PEM certificate and key (gRPC)")
    return private, chain


def replication_credentials(settings: Any) -> tuple[str, grpc.ServerCredentials] | None:
    """The primary's replication port: ``(replication_listen, credentials)`` requiring a client certificate
    issued by ``replication_client_ca`` (server certificate: ``--tls-cert``), or None when it is off.

    grpcio can require a client certificate or not ask for one; it cannot ask and let a client without
    one in. So replicas get a port of their own (sync/README.md, "TLS between replica and primary").

    Raises:
        OSError: a flag is missing its companions, or a file cannot be read (naming it).
    """
    listen = getattr(settings, "replication_listen", "off")
    client_ca = getattr(settings, "replication_client_ca", None)
    if listen == "off":
        if client_ca:
            raise OSError("--replication-client-ca needs --replication-listen (the port replicas dial)")
        return None
    if not client_ca:
        raise OSError("--replication-listen needs --replication-client-ca (the CA of the replicas' certificates)")
    pair = _server_pem(settings)
    if pair is None:
        raise OSError("--replication-listen needs --tls-cert/--tls-key (the certificate the primary presents)")
    try:
        roots = Path(client_ca).read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read --replication-client-ca {client_ca}: {exc.strerror or exc}") from None
    if b"-----BEGIN CERTIFICATE" not in roots:
        raise OSError(f"--replication-client-ca {client_ca} holds no PEM certificate")
    credentials = grpc.ssl_server_credentials([pair], root_certificates=roots, require_client_auth=True)
    return listen, credentials


def replication_port(server: grpc.aio.Server) -> int | None:
    """The port ``server`` serves replicas on with mutual TLS (``replication_tls`` of :func:`start_grpc_server`)."""
    return _REPLICATION_PORT.get(server)


async def start_grpc_server(
    registry: Any,
    listen: str,
    *,
    health: bool = True,
    reflection: bool = True,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    reuse_port: bool = False,
    registry_handler: grpc.GenericRpcHandler | None = None,
    count: bool = True,
    extra_handlers: tuple[grpc.GenericRpcHandler, ...] = (),
    credentials: grpc.ServerCredentials | None = None,
    request_timeout: float = 0.0,
    stream_idle_timeout: float = 0.0,
    replication_tls: tuple[str, grpc.ServerCredentials] | None = None,
) -> tuple[grpc.aio.Server, int]:
    """Start a gRPC server for ``registry`` on ``listen``.

    Serves ``idnode.v1.Resolver`` (generic handler, bytes straight through),
    ``idnode.v1.Registry``, ``idnode.v1.Replication`` (read replicas), and
    optionally the standard health service (for ``""`` and the idnode
    services: SERVING while the process's readiness checks,
    :func:`idnode.health.health_of`, find no problem, NOT_SERVING otherwise;
    refreshed every ``idnode.health.INTERVAL`` seconds) and server reflection.
    Must be called with the event loop that will serve it running.

    Args:
        registry: the registry facade (:class:`idnode.registry.service.Registry`).
        listen: ``HOST:PORT``; port 0 picks a free port.
        health: add ``grpc.health.v1.Health``.
        reflection: add server reflection.
        max_message_bytes: the largest request or reply message.
        reuse_port: bind with SO_REUSEPORT (prefork workers share the port;
            the supervisor has checked it was free).
        registry_handler: serves ``idnode.v1.Registry`` instead of a local
            RegistryService (a worker's forwarder to the writer process).
        extra_handlers: more services (the writer's Unix socket: the
            workers' usage reports, ``forward.usage_handler``).
        credentials: serve TLS with these (:func:`server_credentials`); None: plaintext.
        replication_tls: ``(listen, credentials)`` of :func:`replication_credentials`: a second port on
            which clients must present a verified certificate; the Replication service then answers
            only calls that arrived with one (on the public port: UNAUTHENTICATED, code 402).
            Its bound port: :func:`replication_port`.
        count: count Registry calls in ``idnode_requests_total`` (when
            metrics are on); False for the writer's Unix socket, whose calls
            the worker in front of it counted.
        request_timeout: the server's deadline (seconds) of each Resolver
            and Registry unary call (``--request-timeout``; the client's own
            deadline is honoured too); past it the call ends
            DEADLINE_EXCEEDED (Handle code 3). 0: none.
        stream_idle_timeout: the longest wait (seconds) for a client's next
            ``ResolveStream`` message (``--stream-idle-timeout``); 0: none.

    Returns:
        ``(server, bound_port)``; the caller stops the server.

    Raises:
        OSError: ``listen`` cannot be bound (in use, bad address).
    """
    # so_reuseport is off for a single-process node: a second node on a busy
    # port must fail instead of silently sharing it. Prefork workers turn it on
    # after the supervisor has checked the port itself.
    tally = metrics.tally() if count else None  # Registry calls counted (the public server's)
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 1 if reuse_port else 0),
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ],
    )

    # Resolver and Registry calls get a request id (idnode/requestid.py), wrapped once here.
    def timed(handler: grpc.RpcMethodHandler, path: str) -> grpc.RpcMethodHandler:
        return _timed(handler, path, request_timeout, stream_idle_timeout)

    resolver: grpc.GenericRpcHandler = resolver_service.resolver_handler(registry)
    if request_timeout or stream_idle_timeout:
        resolver = WrappedHandler(resolver, timed)
    server.add_generic_rpc_handlers((RequestIdHandler(resolver),))
    if extra_handlers:
        server.add_generic_rpc_handlers(extra_handlers)
    # Registry calls, innermost first: undecodable requests refused, the deadline, the write limit, then the
    # metering (a call refused or cut by the deadline counts with code 3); the request id outside them all.
    wraps: list[Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]] = [reject_undecodable]
    if request_timeout:
        wraps.append(timed)
    write_limiter = limits.write_limiter() if count else None  # the writer's Unix socket is not limited
    if write_limiter is not None:
        wraps.append(lambda h, _: _limited(h, write_limiter))
    if tally is not None:
        wraps.append(lambda h, path: _metered(h, path.rsplit("/", 1)[-1], tally))
    registry_wrap = _chained(wraps)
    if registry_handler is not None:
        server.add_generic_rpc_handlers((RequestIdHandler(WrappedHandler(registry_handler, registry_wrap)),))
    else:
        registry_pb2_grpc.add_RegistryServicer_to_server(
            registry_service.RegistryService(registry), WrappingServer(RequestIdServer(server), registry_wrap)
        )
    replication = replication_service.ReplicationService(registry, client_certificate=replication_tls is not None)
    replication_pb2_grpc.add_ReplicationServicer_to_server(replication, WrappingServer(server, reject_undecodable))
    service_names = [resolver_service.SERVICE_NAME, registry_service.SERVICE_NAME, replication_service.SERVICE_NAME]
    if health:
        servicer = _health_servicer()
        health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
        for name in ("", *service_names):
            await _set_serving(servicer, name)
        service_names.append(health_pb2.DESCRIPTOR.services_by_name["Health"].full_name)
    if reflection:
        service_names.append(grpc_reflection.SERVICE_NAME)
        grpc_reflection.enable_server_reflection(service_names, server)
    try:
        port = server.add_insecure_port(listen) if credentials is None else server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        raise OSError(f"cannot bind the gRPC server to {listen}: {exc}") from None
    if not port:  # older grpcio reports a failed bind as port 0
        raise OSError(f"cannot bind the gRPC server to {listen}")
    if replication_tls is not None:  # the same server (every service) on a port requiring client certificates
        try:
            mtls_port = server.add_secure_port(*replication_tls)
        except RuntimeError as exc:
            raise OSError(f"cannot bind the replication port {replication_tls[0]}: {exc}") from None
        if not mtls_port:
            raise OSError(f"cannot bind the replication port {replication_tls[0]}")
        _REPLICATION_PORT[server] = mtls_port
    await server.start()
    if health:
        _HEALTH[server] = servicer
        names = ("", resolver_service.SERVICE_NAME, registry_service.SERVICE_NAME, replication_service.SERVICE_NAME)
        _REFRESH[server] = asyncio.get_running_loop().create_task(
            _refresh_health(servicer, names, health_of(registry)), name="grpc-health"
        )
    _REPLICATION[server] = replication
    logger.info("gRPC server listening on %s (port %d)", listen, port)
    return server, port


async def stop_grpc_server(server: grpc.aio.Server, grace: float) -> None:
    """Drain: report NOT_SERVING to health checks (so balancers stop sending),
    refuse new calls, and give in-flight calls ``grace`` seconds to finish."""
    refresh = _REFRESH.pop(server, None)
    if refresh is not None:
        refresh.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresh
    servicer = _HEALTH.pop(server, None)
    if servicer is not None:
        result = servicer.enter_graceful_shutdown()
        if inspect.isawaitable(result):
            await result
    replication = _REPLICATION.pop(server, None)
    if replication is not None:  # Follow streams never end by themselves: end them, replicas reconnect
        replication.close()
    await server.stop(grace)


def _around(
    handler: grpc.RpcMethodHandler,
    around: Callable[[grpc.aio.ServicerContext], contextlib.AbstractAsyncContextManager[Any]],
) -> grpc.RpcMethodHandler:
    """``handler`` (unary or server-streaming; others as they are) run inside ``around(context)``
    on every call; built once per method."""
    if handler.unary_unary is not None:
        behaviour = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with around(context):
                return await behaviour(request, context)

        return grpc.unary_unary_rpc_method_handler(
            unary, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
    if handler.unary_stream is not None:
        stream_behaviour = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
            async with around(context):
                async for reply in stream_behaviour(request, context):
                    yield reply

        return grpc.unary_stream_rpc_method_handler(
            stream, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
        )
    return handler


def _metered(handler: grpc.RpcMethodHandler, name: str, tally: metrics.Tally) -> grpc.RpcMethodHandler:
    """``handler`` counting its calls (code: 1, or the Handle code of the status a failure aborted
    with) and their time; built once per method."""

    @contextlib.asynccontextmanager
    async def metering(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        with Meter(tally, name, context):
            yield

    return _around(handler, metering)


def _chained(
    wraps: list[Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]],
) -> Callable[[grpc.RpcMethodHandler, str], grpc.RpcMethodHandler]:
    """One wrap applying ``wraps`` in turn (the first innermost), so a call passes one cached lookup."""

    def wrap(handler: grpc.RpcMethodHandler, path: str) -> grpc.RpcMethodHandler:
        for each in wraps:
            handler = each(handler, path)
        return handler

    return wrap


def _limited(handler: grpc.RpcMethodHandler, limiter: limits.RateLimiter) -> grpc.RpcMethodHandler:
    """``handler`` taking a ``--rate-limit-write`` token per call first (client: the bearer
    credential's token id, else the peer address); over the limit the call ends RESOURCE_EXHAUSTED
    (Handle code 3) before it is decoded. Built once per method."""

    async def refuse(context: grpc.aio.ServicerContext) -> None:
        authorization = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                authorization = value
        try:
            limits.check(limiter, limits.client_key(authorization, limits.peer_ip(context.peer())), "Registry calls")
        except limits.RateLimited as exc:
            await abort(context, exc)

    @contextlib.asynccontextmanager
    async def limiting(context: grpc.aio.ServicerContext) -> AsyncIterator[None]:
        await refuse(context)
        yield

    return _around(handler, limiting)


def _timed(handler: grpc.RpcMethodHandler, path: str, seconds: float, idle: float) -> grpc.RpcMethodHandler:
    """``handler`` under the server's own deadlines (resolver/timeouts.py), built once per method: a
    unary call gets ``seconds`` in all, a client stream ``idle`` seconds per message; past either the
    call ends DEADLINE_EXCEEDED with Handle code 3. Server streams (``Follow``, ``Snapshot``) as they are."""
    name = path.rsplit("/", 1)[-1]
    if handler.unary_unary is not None and seconds:
        behaviour = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async with timeouts.deadline(seconds) as timer:
                    return await behaviour(request, context)
            except TimeoutError:
                if not timer.expired():  # not ours: a failure of the handler's own
                    raise
                await abort(
                    context, timeouts.RequestTimedOut(f"{name} took longer than {seconds:g} s (--request-timeout)")
                )

        return handler._replace(unary_unary=unary)
    if handler.stream_stream is not None and idle:
        stream_behaviour = handler.stream_stream

        async def stream(requests: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for reply in stream_behaviour(timeouts.idle_limited(requests, idle, name), context):
                    yield reply
            except timeouts.RequestTimedOut as exc:
                await abort(context, exc)

        return handler._replace(stream_stream=stream)
    return handler
