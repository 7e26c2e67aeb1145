"""Run the reference top-level node: the TopLevel gRPC server (optionally TLS), admin credential, SIGTERM drain."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc

from idnode.proto import toplevel_pb2_grpc
from idnode.sync.topnode.service import TopLevel, TopNodeError
from idnode.sync.topnode.store import TopStore

__all__ = ["DEFAULT_LISTEN", "TopLevelServicer", "admin_credential", "run", "start_topnode_server"]

logger = logging.getLogger(__name__)

DEFAULT_LISTEN = "127.0.0.1:50061"
CREDENTIAL_FILE = "admin.credential"
_UNARY = (
    "RegisterNode",
    "RequestPrefix",
    "GetPrefixStatus",
    "PushChanges",
    "ReportStats",
    "Heartbeat",
    "ApprovePrefix",
    "RejectPrefix",
    "ListNodes",
    "ListPrefixes",
    "GetStats",
)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


def bearer(context: grpc.aio.ServicerContext) -> str | None:
    """The ``authorization: Bearer`` credential of a call, or None."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and value.startswith("Bearer "):
            return value[7:].strip() or None
    return None


def _unary(core_method: Callable[[str | None, Any], Any]) -> Callable[..., Any]:
    async def method(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return core_method(bearer(context), request)
        except TopNodeError as exc:
            await context.abort(getattr(grpc.StatusCode, exc.status), str(exc))

    return method


class TopLevelServicer(toplevel_pb2_grpc.TopLevelServicer):
    """Moves requests to :class:`TopLevel` and its errors to gRPC statuses."""

    def __init__(self, core: TopLevel) -> None:
        for name in _UNARY:
            setattr(self, name, _unary(getattr(core, _snake(name))).__get__(self))
        self.core = core

    async def ResolvePrefix(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return self.core.resolve_prefix(request)

    async def FetchChanges(self, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            changes = self.core.fetch_changes(bearer(context), request)
        except TopNodeError as exc:
            await context.abort(getattr(grpc.StatusCode, exc.status), str(exc))
        for change in changes:
            yield change


async def start_topnode_server(
    core: TopLevel, listen: str, *, server_credentials: grpc.ServerCredentials | None = None
) -> tuple[grpc.aio.Server, int]:
    """Start the TopLevel service on ``listen`` (port 0 picks one); TLS when ``server_credentials`` is given.

    Raises:
        OSError: ``listen`` cannot be bound.
    """
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    toplevel_pb2_grpc.add_TopLevelServicer_to_server(TopLevelServicer(core), server)
    try:
        if server_credentials is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, server_credentials)
    except RuntimeError as exc:
        raise OSError(f"cannot bind the gRPC server to {listen}: {exc}") from None
    if not port:
        raise OSError(f"cannot bind the gRPC server to {listen}")
    await server.start()
    return server, port


def admin_credential(data_dir: Path) -> str:
    """The admin credential in ``<data_dir>/admin.credential``, written (mode 0600) at first start."""
    path = data_dir / CREDENTIAL_FILE
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    if text:
        return text
    text = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    return text


def _split(listen: str) -> str:
    host, _, _ = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0"


async def _serve(
    data_dir: Path, listen: str, grace: float, tls: tuple[bytes, bytes] | None, client_ca: bytes | None = None
) -> int:
    store = TopStore(data_dir)
    try:
        core = TopLevel(store, admin_credential(data_dir))
        creds = None
        if tls:  # with client_ca: mutual TLS, every client must show a certificate issued by it
            creds = grpc.ssl_server_credentials(
                [(tls[1], tls[0])], root_certificates=client_ca, require_client_auth=client_ca is not None
            )
        server, port = await start_topnode_server(core, listen, server_credentials=creds)
        print(f"idnode topnode: gRPC listening on {_split(listen)}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        logger.info("draining (grace %.1fs)", grace)
        await server.stop(grace)
    finally:
        store.close()
    return 0


def run(
    data_dir: str | os.PathLike[str],
    listen: str = DEFAULT_LISTEN,
    *,
    grace: float = 10.0,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls_client_ca: str | None = None,
) -> int:
    """Serve until SIGTERM/SIGINT, then drain in-flight calls for ``grace`` seconds; the exit status.

    ``tls_cert`` (PEM chain) and ``tls_key`` (PEM key; default: in the
    certificate file) turn on TLS; ``tls_client_ca`` (PEM roots) makes it
    mutual: a client without a certificate issued by it cannot connect.

    Raises:
        OSError: a file cannot be read, or ``tls_client_ca`` without ``tls_cert``.
    """
    tls = None
    if tls_cert:
        cert = Path(tls_cert).read_bytes()
        tls = (cert, Path(tls_key).read_bytes() if tls_key else cert)
    if tls_client_ca and not tls:
        raise OSError("--tls-client-ca needs --tls-cert (mutual TLS is TLS first)")
    client_ca = Path(tls_client_ca).read_bytes() if tls_client_ca else None
    return asyncio.run(_serve(Path(data_dir), listen, grace, tls, client_ca))
