"""Build, bind and start the node's aiohttp application (every HTTP route, limits, error mapping, write forwarding).

Where an HTTP request goes: ``server.py`` (limits, error mapping, and in a
prefork worker the forwarding of writes to the writer process) -> the route
modules (``handle_api.py`` Handle.Net REST, ``enterprise_api.py`` the
operators' enterprise API, ``pages.py`` resolver pages, ``openapi.py``) ->
``auth.py`` (who is calling) -> the registry. Errors are mapped once, in
``errors.py``.

Why aiohttp: a maintained asyncio HTTP/1.1 server and client with a C
request parser, SO_REUSEPORT and TLS on its TCP sites, Unix-socket sites and
connectors (the worker -> writer forwarding), and request size limits; it
runs on the same event loop as grpc.aio, so one process serves every front
end without threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import math
import ssl
import time
from typing import Any

from aiohttp import ClientSession, DummyCookieJar, UnixConnector, web
from multidict import CIMultiDict

from idnode import metrics, requestid
from idnode.health import health_of
from idnode.registry.errors import HandleError
from idnode.resolver import admission, limits, timeouts
from idnode.resolver.http.errors import error_response, from_handle_error, json_response
from idnode.resolver.http.keys import AUTHENTICATORS, REGISTRY, SETTINGS, UNREACHABLE_ANSWERS

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_URL_BYTES",
    "RUNNER_ARGS",
    "HttpServer",
    "build_app",
    "runner_args",
    "ssl_context",
    "start_http_server",
]

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024  # default of --max-body-bytes: a batch of 2000 items fits; larger bodies get 413
MAX_URL_BYTES = 8192  # default of --max-url-bytes: longer request targets get 414
# pages last: it holds the catch-all /{handle}; console (the web console under /console/) just before it
ROUTE_MODULES = ("handle_api", "enterprise_api", "openapi", "console", "pages")
# aiohttp's own request-line limit sits far above ours, so our middleware answers every long target with a
# JSON 414; only a request line over 1 MiB meets aiohttp's parser first (a plain-text 400).
MAX_REQUEST_LINE_BYTES = 1024 * 1024
RUNNER_ARGS: dict[str, Any] = {
    "access_log": None,
    "max_line_size": MAX_REQUEST_LINE_BYTES,
    "max_field_size": MAX_URL_BYTES * 2,
}


def runner_args(settings: Any) -> dict[str, Any]:
    """The aiohttp runner arguments of ``settings``: header limits above ``--max-url-bytes`` (so the
    middleware answers a long target with a JSON 414), and ``--request-timeout`` as the keep-alive
    timeout, which aiohttp also applies to a connection whose next request head has not fully
    arrived (headers trickled byte by byte are cut off there)."""
    url = getattr(settings, "max_url_bytes", MAX_URL_BYTES)
    args = dict(RUNNER_ARGS, max_line_size=max(MAX_REQUEST_LINE_BYTES, 2 * url), max_field_size=2 * url)
    timeout = getattr(settings, "request_timeout", 0.0)
    if timeout:
        args["keepalive_timeout"] = timeout
    return args


_SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
# and X-Request-Id; Cookie .. X-CSRF-Token and Host: the console's sessions, CSRF and same-origin checks
_FORWARDED_REQUEST_HEADERS = ("Authorization", "Content-Type", "Accept", "Accept-Language")
_FORWARDED_REQUEST_HEADERS += ("Cookie", "Origin", "Sec-Fetch-Site", "Referer", "X-CSRF-Token", "Host")
_FORWARDED_RESPONSE_HEADERS = ("Content-Type", "Location", "WWW-Authenticate")  # and every Set-Cookie
_FORWARDED_RESPONSE_HEADERS += (
    "Cache-Control",
    "Content-Disposition",
    "Content-Security-Policy",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
)


class _InFlight:
    """The requests being handled, body upload included, so that a drain can wait for them.

    aiohttp's own shutdown drops the bytes of a body still being uploaded
    once it starts closing connections, so :meth:`HttpServer.stop` first stops
    listening and waits here, and only then lets aiohttp close connections.
    """

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.count += 1
        self.idle.clear()
        try:
            return await handler(request)
        finally:
            self.count -= 1
            if not self.count:
                self.idle.set()


_IN_FLIGHT: web.AppKey[_InFlight] = web.AppKey("in_flight", _InFlight)


@web.middleware
async def _request_id(request: web.Request, handler: Any) -> web.StreamResponse:
    """The request's id (``X-Request-Id`` or new): current while it is served, returned in the response."""
    request_id = requestid.accept(request.headers.get(requestid.HTTP_HEADER))
    requestid.set_current(request_id)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects and the like travel as exceptions
        exc.headers[requestid.HTTP_HEADER] = request_id
        log.debug("HTTP %s %s %d", request.method, request.path, exc.status)
        raise
    response.headers[requestid.HTTP_HEADER] = request_id
    log.debug("HTTP %s %s %d", request.method, request.path, response.status)
    return response


def _errors(max_url: int, max_body: int) -> Any:
    """Middleware: every failure as a JSON body with the mapped status; nothing escapes as an HTML page.
    ``max_url``/``max_body``: ``--max-url-bytes`` (checked here: 414) and ``--max-body-bytes`` (413)."""

    @web.middleware
    async def errors(request: web.Request, handler: Any) -> web.StreamResponse:
        if len(request.raw_path) > max_url:
            return error_response(
                4, f"request target of {len(request.raw_path)} bytes, at most {max_url} (--max-url-bytes)", status=414
            )
        try:
            return await handler(request)
        except HandleError as exc:
            return from_handle_error(exc)
        except web.HTTPRequestEntityTooLarge:
            return error_response(4, f"request body over {max_body} bytes (--max-body-bytes)", status=413)
        except web.HTTPException as exc:
            if exc.status < 400 or exc.content_type == "application/json":
                raise
            code = 100 if exc.status == 404 else 4
            response = error_response(code, exc.reason or "error", status=exc.status)
            if exc.status == 405 and "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            return error_response(2, "internal server error", status=500)

    return errors


_CLOSE_AFTER_408 = 1.0  # seconds a trickled upload's connection stays after its 408 (its FIN sent)
# The request's asyncio.Timeout while its handler runs (and its answer has not started).
_DEADLINE: web.RequestKey[asyncio.Timeout] = web.RequestKey("deadline", asyncio.Timeout)


def _deadline(seconds: float) -> Any:
    """Middleware: the whole request, body upload included, within ``seconds`` (``--request-timeout``,
    resolver/timeouts.py), until its answer starts (a streamed answer, such as the console's upload
    progress, is not cut once sent: :func:`_answer_started`). Past it: 408 and the connection closed
    while the body was still arriving (a trickled upload), else 503 (a handler that took too long);
    Handle code 3 either way."""

    @web.middleware
    async def deadline(request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            async with timeouts.deadline(seconds) as timer:
                request[_DEADLINE] = timer
                try:
                    return await handler(request)
                finally:
                    del request[_DEADLINE]  # the answers below start after it
        except TimeoutError:
            if not timer.expired():  # not ours: a failure of the handler's own
                raise
        if request.body_exists and not request.content.is_eof():  # a trickled upload
            response = error_response(
                3, f"the request body did not arrive within {seconds:g} s (--request-timeout)", status=408
            )
            response.force_close()
            response.headers[requestid.HTTP_HEADER] = requestid.current() or ""  # sent here, before _request_id
            await response.prepare(request)
            await response.write_eof()
            # The answer, then our FIN, so the client reads the 408 before the connection goes; close it
            # shortly after (aiohttp would linger up to 10 s reading the rest of the body, which only
            # keeps a trickling client's connection): closing at once, while the client still sends,
            # resets the connection, which may discard the 408 before the client has read it.
            transport = request.transport
            if transport is not None and transport.can_write_eof():
                transport.write_eof()
            asyncio.get_running_loop().call_later(_CLOSE_AFTER_408, request.protocol.force_close)
            return response
        response = error_response(
            3, f"the request took longer than {seconds:g} s (--request-timeout); retry", status=503
        )
        response.headers["Retry-After"] = "1"
        return response

    return deadline


async def _answer_started(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the answer's head is going out, so the request's deadline ends here."""
    timer = request.get(_DEADLINE)
    if timer is not None and not timer.expired():
        timer.reschedule(None)


_UNLIMITED_PATHS = frozenset(("/healthz", "/readyz", "/metrics"))  # balancers and Prometheus poll these


@web.middleware
async def _admission(request: web.Request, handler: Any) -> web.StreamResponse:
    """A replica's resolves while its data is partial (resolver/admission.py): 503, Handle code 3."""
    refused = admission.refusal()
    if refused is None or request.method not in _SAFE_METHODS or request.path in _UNLIMITED_PATHS:
        return await handler(request)
    response = error_response(3, refused, status=503)
    response.headers["Retry-After"] = "1"
    return response


def _rate_limit(resolve: limits.RateLimiter | None, write: limits.RateLimiter | None) -> Any:
    """Middleware: per-client limits (resolver/limits.py, this process's limiters, set before the app is
    built): GET/HEAD/OPTIONS take a ``resolve`` token (unless the peer is exempt), other methods a
    ``write`` token; over the limit: 429 with ``Retry-After`` and Handle code 3, before the body is read."""
    exempt = limits.exemptions() or ()

    @web.middleware
    async def rate_limit(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method in _SAFE_METHODS:
            limiter, what = resolve, "resolves"
            if limiter is None or (request.remote or "") in exempt:
                return await handler(request)
        else:
            limiter, what = write, "writes"
        if limiter is None or request.path in _UNLIMITED_PATHS:
            return await handler(request)
        client = limits.client_key(request.headers.get("Authorization"), request.remote or "")
        try:
            limits.check(limiter, client, what)
        except limits.RateLimited as exc:
            response = error_response(exc.code, exc.message, status=429)
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
            return response
        return await handler(request)

    return rate_limit


def _forwarder(target: str) -> Any:
    """Middleware of a prefork worker: every request that may write goes to the writer process unchanged."""
    state: dict[str, ClientSession] = {}

    @web.middleware
    async def forward(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method in _SAFE_METHODS:
            return await handler(request)
        session = state.get("session")
        if session is None or session.closed:
            # No cookie jar: the writer's Set-Cookie goes back to the browser only, never into this shared
            # session (it would be sent with every later forwarded request, whoever makes it).
            session = state["session"] = ClientSession(
                connector=UnixConnector(path=target), auto_decompress=False, cookie_jar=DummyCookieJar()
            )
        headers = {k: request.headers[k] for k in _FORWARDED_REQUEST_HEADERS if k in request.headers}
        headers[requestid.HTTP_HEADER] = requestid.ensure()  # the writer logs under the same id
        body = await request.read()
        try:
            async with session.request(
                request.method, f"http://writer{request.path_qs}", headers=headers, data=body, allow_redirects=False
            ) as reply:
                out = CIMultiDict((k, reply.headers[k]) for k in _FORWARDED_RESPONSE_HEADERS if k in reply.headers)
                for cookie in reply.headers.getall("Set-Cookie", ()):
                    out.add("Set-Cookie", cookie)
                if reply.headers.get("Content-Length") is not None or reply.status in (204, 304):
                    return web.Response(body=await reply.read(), status=reply.status, headers=out)
                # A streamed (chunked) answer, e.g. a bulk upload's progress: pass each piece on as it comes.
                streamed = web.StreamResponse(status=reply.status, headers=out)
                await streamed.prepare(request)
                async for chunk in reply.content.iter_any():
                    await streamed.write(chunk)
                await streamed.write_eof()
                return streamed
        except OSError:
            message = "the node's writer process is not reachable; retry"
            for start, answer in request.app[UNREACHABLE_ANSWERS].items():
                if request.path.startswith(start):
                    return answer(message)
            return error_response(3, message, status=503)

    async def close(app: web.Application) -> None:
        if "session" in state:
            await state["session"].close()

    forward.close = close  # type: ignore[attr-defined]
    return forward


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "alive"})


async def _readyz(request: web.Request) -> web.Response:
    """200 when this process is ready to serve, else 503 naming every problem (``idnode/health.py``)."""
    report = health_of(request.app[REGISTRY]).report()
    return json_response(report, status=503 if report["problems"] else 200)


def _meter(tally: metrics.Tally) -> Any:
    """Outermost middleware: counts every request by method and route template (``GET /api/handles/{handle}``;
    ``other`` when no route matched) and final HTTP status, with its time."""

    @web.middleware
    async def meter(request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter_ns()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except BaseException:
            status = 499 if request.transport is None or request.transport.is_closing() else 500
            raise
        finally:
            route = request.match_info.route.resource
            method = f"{request.method} {route.canonical}" if route is not None else f"{request.method} other"
            tally.request("http", method, status, time.perf_counter_ns() - start)
            handle = request.match_info.get("handle") if request.method == "GET" else None
            if handle and "/" in handle:  # a resolution: the prefix's daily statistics (sync/stats.py)
                tally.used(handle.partition("/")[0], "http", status < 400)

    return meter


async def _metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: every process's metrics (Prometheus text format); 404 with ``--no-metrics``."""
    if metrics.tally() is None:
        return error_response(100, "metrics are off (--no-metrics)", status=404)
    registry = request.app[REGISTRY]
    body, content_type = metrics.exposition(registry.store, bool(getattr(registry, "top", None)))
    response = web.Response(body=body)
    response.headers["Content-Type"] = content_type
    return response


def build_app(registry: Any, settings: Any, *, forward_to: str | None = None, count: bool = True) -> web.Application:
    """The aiohttp application of ``registry``.

    Args:
        registry: the registry facade.
        settings: the node's settings (zone, public URL, limits).
        forward_to: a Unix socket of the writer process's HTTP server; when
            given (prefork workers), requests other than GET/HEAD/OPTIONS are
            passed to it unchanged, so there is one write path.
        count: count requests in ``idnode_requests_total`` when metrics are
            on (False for the writer's Unix socket: the worker counted them).
    """
    in_flight = _InFlight()
    tally = metrics.tally() if count else None
    meter = [] if tally is None else [_meter(tally)]
    resolve, write = limits.resolve_limiter(), limits.write_limiter()
    limited = [_rate_limit(resolve, write)] if count and (resolve or write) else []
    if count and getattr(settings, "replica_of", None):
        limited.insert(0, _admission)  # a replica refuses resolves while its data is partial
    timeout = getattr(settings, "request_timeout", 0.0) if count else 0.0  # the writer's socket: the worker timed it
    timed = [_deadline(timeout)] if timeout else []
    max_body = getattr(settings, "max_body_bytes", MAX_BODY_BYTES)
    errors = _errors(getattr(settings, "max_url_bytes", MAX_URL_BYTES), max_body)
    middlewares = [in_flight.middleware, *meter, _request_id, *timed, *limited, errors]
    forwarder = None
    if forward_to is not None:
        forwarder = _forwarder(forward_to)
        middlewares.append(forwarder)
    app = web.Application(client_max_size=max_body, middlewares=middlewares)
    app[_IN_FLIGHT] = in_flight
    if timed:
        app.on_response_prepare.append(_answer_started)
    app[REGISTRY] = registry
    app[SETTINGS] = settings
    app[AUTHENTICATORS] = {}
    app[UNREACHABLE_ANSWERS] = {}
    if forwarder is not None:
        app.on_cleanup.append(forwarder.close)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(f"idnode.resolver.http.{name}")
        except ModuleNotFoundError as exc:  # TEMPORARY while the route modules land one by one
            if exc.name != f"idnode.resolver.http.{name}":
                raise
            continue
        module.setup(app)
    return app


def ssl_context(settings: Any) -> ssl.SSLContext | None:
    """The server TLS context of ``settings.tls_cert``/``tls_key``, or None without a certificate.

    Raises:
        OSError: a file is missing or unreadable, or holds no matching certificate and key (naming both files).
    """
    cert, key = getattr(settings, "tls_cert", None), getattr(settings, "tls_key", None)
    if not cert:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(cert), str(key) if key else None)
    except (ssl.SSLError, OSError) as exc:
        shown = f"certificate {cert}" + (f" and key {key}" if key else " (key in the same file)")
        reason = exc.strerror or getattr(exc, "reason", None) or str(exc)
        raise OSError(f"cannot load the TLS {shown}: {reason} (PEM files expected)") from None
    return context


class HttpServer:
    """A running HTTP front end."""

    def __init__(self, runner: web.AppRunner, port: int, tls: bool) -> None:
        self.runner = runner
        self.port = port
        self.tls = tls

    async def stop(self, grace: float = 0.0) -> None:
        """Stop accepting; let in-flight requests (uploads included) finish within ``grace``."""
        for site in list(self.runner.sites):
            await site.stop()  # no new connections from here on
        in_flight = self.runner.app[_IN_FLIGHT]
        if grace > 0 and in_flight.count:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(in_flight.idle.wait(), grace)
        await self.runner.shutdown()
        await self.runner.cleanup()


async def start_http_server(
    registry: Any,
    settings: Any,
    *,
    reuse_port: bool = False,
    unix_path: str | None = None,
    forward_to: str | None = None,
) -> HttpServer:
    """Start the HTTP front end on ``settings.http_listen`` (or on ``unix_path``, the writer's socket).

    Must be called with the event loop that will serve it running.
    """
    from idnode.settings import parse_listen

    app = build_app(registry, settings, forward_to=forward_to, count=unix_path is None)
    runner = web.AppRunner(
        app, handle_signals=False, shutdown_timeout=float(getattr(settings, "grace", 10.0)), **runner_args(settings)
    )
    await runner.setup()
    if unix_path is not None:
        site: web.BaseSite = web.UnixSite(runner, unix_path)
        await site.start()
        return HttpServer(runner, 0, False)
    host, port = parse_listen(settings.http_listen)
    context = ssl_context(settings)
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port, ssl_context=context, backlog=1024)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise OSError(exc.errno, f"cannot listen for HTTP on {settings.http_listen}: {exc.strerror}") from None
    server = site._server  # the bound asyncio server: learn the real port for port 0
    bound = server.sockets[0].getsockname()[1] if server is not None and server.sockets else port
    return HttpServer(runner, bound, context is not None)
