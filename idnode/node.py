"""The node process: open the store, start the writer, bootstrap, serve gRPC.

This is the composition root of ``idnode serve`` (with ``prefork.py`` for
``--workers`` > 1, which reuses the pieces here): nothing else wires the
components together. Start-up order of the single-process node: lock the data folder, check the
ports are free (grpcio sets SO_REUSEPORT, so a busy port would otherwise be
shared silently), open LMDB, start the writer, create the admin credential
at first start, load demo data when asked, then bind and serve. SIGTERM and
SIGINT stop accepting, let in-flight calls finish within ``--grace``, drain
the writer and close the store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from idnode import _fastpath, metrics
from idnode.health import health_of
from idnode.registry.errors import StoreError
from idnode.registry.service import Registry
from idnode.registry.store import Store, lock_folder
from idnode.registry.writer import Writer
from idnode.settings import Settings, parse_listen

log = logging.getLogger("idnode")


def check_port_free(listen: str) -> None:
    """Fail clearly when another process holds the TCP port.

    Raises:
        OSError: naming the address, when the port is in use.
    """
    host, port = parse_listen(listen)
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # No SO_REUSEPORT here: this bind must fail when anything listens.
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {listen}: {exc.strerror} (is another node running?)") from None


def _say(text: str) -> None:
    print(text, flush=True)


def _write_secret(path: os.PathLike[str] | str, secret: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")


def _loop_grow_hook(loop: asyncio.AbstractEventLoop) -> Callable[[Callable[[], None]], None]:
    """Run a map resize on the event-loop thread, between requests, where no
    read transaction of this process is open."""

    def hook(resize: Callable[[], None]) -> None:
        try:
            on_loop = asyncio.get_running_loop() is loop
        except RuntimeError:
            on_loop = False
        if on_loop or loop.is_closed():
            resize()
            return
        done = threading.Event()
        failure: list[BaseException] = []

        def call() -> None:
            try:
                resize()
            except BaseException as exc:
                failure.append(exc)
            finally:
                done.set()

        loop.call_soon_threadsafe(call)
        while not done.wait(1.0):
            if not loop.is_running():  # shutting down: no reads are open any more
                resize()
                return
        if failure:
            raise failure[0]

    return hook


def banner(settings: Settings, port: int, node_prefix: str, workers: int = 1) -> str:
    """The line that says the node serves (tests and the benchmark parse it)."""
    host, _ = parse_listen(settings.grpc_listen)
    shown = f"[{host}]" if ":" in host else host
    how = f"{workers} workers" if workers > 1 else "one process"
    fast = _fastpath.IMPLEMENTATION
    if not _fastpath.COMPILED and not os.environ.get("IDNODE_NO_EXTENSIONS"):
        fast += " (compiled fast path not built: install with a C compiler for full speed)"
    return (
        f"idnode: gRPC listening on {shown}:{port} (node prefix {node_prefix}, {how}, "
        f"data {settings.data_dir}, fast path {fast})"
    )


def dns_banner(settings: Settings, port: int) -> str:
    """The line that says the DNS front end serves (tests and the benchmark parse it)."""
    host, _ = parse_listen(settings.dns_listen)
    shown = f"[{host}]" if ":" in host else host
    return f"idnode: DNS listening on {shown}:{port} (UDP and TCP, zone {settings.dns_zone})"


def replication_banner(settings: Settings, port: int) -> str:
    """The line that says the primary serves replicas on its mutual-TLS port (tests parse it)."""
    host, _ = parse_listen(settings.replication_listen)
    shown = f"[{host}]" if ":" in host else host
    return f"idnode: replication listening on {shown}:{port} (mutual TLS: {settings.replication_client_ca})"


async def start_dns(registry: Registry, settings: Settings, reuse_port: bool = False) -> Any:
    """Start the DNS front end unless ``dns_listen`` is ``off``; its server or None."""
    if settings.dns_listen == "off":
        return None
    from idnode.resolver.dns.server import start_dns_server

    return await start_dns_server(registry, settings, reuse_port=reuse_port)


def http_banner(settings: Settings, port: int, tls: bool = False) -> str:
    """The line that says the HTTP front end serves (tests and the benchmark parse it); with ``--demo`` a second
    line gives the web console's URL, to sign in with the demo enterprise token printed before it."""
    host, _ = parse_listen(settings.http_listen)
    shown = f"[{host}]" if ":" in host else host
    line = f"idnode: HTTP listening on {shown}:{port} ({'https' if tls else 'http'})"
    if settings.demo:
        browsable = {"0.0.0.0": "127.0.0.1", "[::]": "[::1]", "": "127.0.0.1"}.get(shown, shown)
        url = f"{'https' if tls else 'http'}://{browsable}:{port}/console/"
        line += f"\nidnode: web console: {url} (sign in with the demo enterprise token above)"
    return line


async def start_http(
    registry: Registry,
    settings: Settings,
    reuse_port: bool = False,
    unix_path: str | None = None,
    forward_to: str | None = None,
) -> Any:
    """Start the HTTP front end unless ``http_listen`` is ``off`` (a Unix socket: always); the server or None."""
    if settings.http_listen == "off" and unix_path is None:
        return None
    from idnode.resolver.http.server import start_http_server

    return await start_http_server(
        registry, settings, reuse_port=reuse_port, unix_path=unix_path, forward_to=forward_to
    )


def open_writer(settings: Settings) -> tuple[Store, Writer, Registry]:
    """Open the store for writing and start the writer role (the one process
    of a single-process node, or the writer process of a prefork node)."""
    store = Store(
        settings.data_dir,
        map_size=settings.map_size,
        max_readers=settings.max_readers,
        lock=False,
        max_map_size=settings.map_size_max,
    )
    writer = Writer(store)
    try:
        registry = Registry(store, writer, settings.node_prefix, replica_of=settings.replica_of)
    except BaseException:
        store.close()
        raise
    registry.top = settings.top or None  # before anything is allocated: with a top node new prefixes start pending
    writer.start()
    from idnode.sync.stats import backfill_registrations

    backfill_registrations(store, writer)  # once per store: the day counters of creations logged before them
    store.grow_hook = _loop_grow_hook(asyncio.get_running_loop())
    return store, writer, registry


def with_port(listen: str, port: int) -> str:
    """``listen`` (``HOST:PORT`` or ``off``) with the real port a server bound."""
    if listen == "off":
        return listen
    host, _ = parse_listen(listen)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def start_sync(store: Store, writer: Writer, registry: Registry, settings: Settings, listens: dict[str, str]) -> Any:
    """Start the outbox to the top-level node when ``--top`` is set (in the
    process that owns the writer); the outbox, or None when stand-alone.

    ``listens`` gives the node's sites with their real ports (``grpc``,
    ``http``, ``dns``: ``HOST:PORT`` or ``off``).
    """
    if settings.replica_of:  # a replica follows its primary and pushes nothing upward
        from idnode.sync.replica import primary_credential, start_follower

        credential = primary_credential(settings.primary_token_file, settings.data_dir)
        follower = start_follower(store, writer, settings.replica_of, credential, tls=primary_tls(settings))
        _say(f"idnode: read replica of {settings.replica_of} (from sequence {follower.position})")
        return follower
    if not settings.top:
        return None
    from idnode.sync.outbox import start_outbox

    registry.top = settings.top
    outbox = start_outbox(
        store,
        writer,
        registry.node_prefix,
        settings.top,
        settings.data_dir,
        listens,
        frozenset(("grpc", "http") if settings.tls_cert else ()),  # owners' sites say TLS: recursion dials it
        tls=top_tls(settings),
        stats_interval=settings.stats_interval,
    )
    _say(f"idnode: pushing the change log to the top-level node {settings.top} (from sequence {outbox.position})")
    return outbox


def top_tls(settings: Settings) -> Any:
    """TLS to the top-level node from ``--top-ca``/``--top-cert``/``--top-key`` (``sync/tls.py``); None: plain.

    Raises:
        OSError: a file cannot be read.
    """
    from idnode.sync.tls import TopTls

    return TopTls.load(settings.top_ca, settings.top_cert, settings.top_key)


def primary_tls(settings: Settings) -> Any:
    """TLS to a replica's primary from ``--primary-ca``/``--primary-cert``/``--primary-key``; None: plain.

    Raises:
        OSError: a file cannot be read.
    """
    from idnode.sync.tls import LinkTls

    return LinkTls.load(settings.primary_ca, settings.primary_cert, settings.primary_key, "primary")


def peer_tls(settings: Settings) -> Any:
    """TLS to owning nodes whose site says TLS, from ``--peer-ca``/``--peer-cert``/``--peer-key``
    (without them: the system roots, no client certificate).

    Raises:
        OSError: a file cannot be read.
    """
    from idnode.sync.tls import LinkTls

    return LinkTls.load(settings.peer_ca, settings.peer_cert, settings.peer_key, "peer") or LinkTls(link="peer")


def add_replica_check(registry: Registry, settings: Settings) -> None:
    """A replica's processes that serve reads are not ready while it bootstraps or lags (``--max-replica-lag``)."""
    if settings.replica_of:
        from idnode.resolver.admission import gate_check
        from idnode.sync.replica import readiness_check

        check = readiness_check(registry.store, settings.max_replica_lag)
        # The same 1 s refresh keeps the process's admission flag: resolves refused while data is partial.
        health_of(registry).add_check("replication", gate_check(registry.store, check))


def start_retention(store: Store, writer: Writer, settings: Settings) -> Any:
    """Start pruning the change log (``--log-retention``; 0 keeps everything) in
    the process that owns the writer; the pruner, or None."""
    if not settings.log_retention:
        return None
    from idnode.sync.retention import Pruner

    pruner = Pruner(store, writer, settings.log_retention, keep_outbox=bool(settings.top))
    pruner.start()
    return pruner


def start_recursion(registry: Any, settings: Settings, grpc_listen: str) -> Any:
    """Give the registry a recursor when ``--top`` is set (every process that
    serves reads); the recursor, or None when stand-alone (then prefixes not
    served here answer 301 as before).

    ``grpc_listen`` is this process's gRPC address with its real port: a site
    naming it is never called (no loop back to itself).
    """
    if not settings.top:
        return None
    from idnode.registry.signing import TrustAnchors
    from idnode.resolver.recursion import Recursor

    trust = None  # --signer-ca: parsed once here (the settings checked it at start)
    if settings.signer_ca is not None:
        trust = TrustAnchors.from_pem(settings.signer_ca.read_bytes(), f"--signer-ca {settings.signer_ca}")
    recursor = Recursor(
        settings.top,
        registry.node_prefix,
        (grpc_listen,),
        recursion=settings.recursion,
        top_tls=top_tls(settings),
        peer_tls=peer_tls(settings),
        trust=trust,
    )
    registry.recursor = recursor
    metrics.watch_recursor(recursor)
    return recursor


def replica_registry_handler(registry: Registry, settings: Settings, local: Any = None) -> Any:
    """``idnode.v1.Registry`` of a replica with ``--forward-writes``: writes to
    the primary, the rest to ``local`` (a generic handler; default: served
    here). None otherwise (the server serves Registry itself, or ``local``)."""
    if not (settings.replica_of and settings.forward_writes):
        return local
    from idnode.resolver.grpc.forward import servicer_handler, write_forwarder
    from idnode.resolver.grpc.registry_service import RegistryService
    from idnode.sync.tls import channel

    primary = channel(settings.replica_of, primary_tls(settings))  # the follower's TLS (--primary-ca ...)
    return write_forwarder(local or servicer_handler(RegistryService(registry)), primary)


def start_usage(writer: Writer) -> None:
    """Per-prefix resolution counts of this process go straight to the writer (it runs here)."""
    tally = metrics.tally()
    if tally is not None:
        from idnode.sync.stats import usage_applier

        apply = usage_applier(writer)
        tally.usage_sink = lambda counts: _logged(apply(counts))


def _logged(future: Any) -> None:
    future.add_done_callback(lambda f: f.exception() and log.warning("daily statistics not stored: %s", f.exception()))


def configure_limits(settings: Settings) -> None:
    """This process's per-client rate limits and stream cap (every serving process has its own buckets)."""
    from idnode.resolver import limits

    limits.configure(
        settings.rate_limit_resolve,
        settings.rate_limit_write,
        settings.max_streams_per_client,
        settings.rate_limit_resolve_exempt,
    )


def close_writer(store: Store, writer: Writer) -> None:
    store.grow_hook = None
    writer.stop()
    store.close()


async def bootstrap(registry: Registry, settings: Settings) -> None:
    """First-start admin credential; demo data when asked (both idempotent). A replica has neither."""
    if settings.replica_of:
        if settings.demo:
            _say("idnode: --demo is ignored on a read replica (it holds the primary's data)")
        return
    token = await registry.ensure_admin_credential()
    if token:
        _write_secret(settings.admin_credential_path, token)
        _say(f"idnode: node-admin credential created and written to {settings.admin_credential_path} (mode 0600)")
    if settings.demo:
        from idnode.demo import DEMO_COUNT, load_demo

        prefix, demo_token = await load_demo(registry, settings.data_dir)
        last = f"{prefix}/DEMO-{DEMO_COUNT:06d}"
        _say(f"idnode: demo data ready: {DEMO_COUNT} identifiers {prefix}/DEMO-000001 .. {last}")
        _say(f"idnode: demo enterprise token (also in {settings.data_dir / 'demo.token'}): {demo_token}")
        _say(f"idnode: node-admin credential: {settings.admin_credential_path}")


async def wait_for_stop(*signals: signal.Signals) -> None:
    """Return when one of ``signals`` arrives."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def serve(settings: Settings) -> int:
    """Run a single-process node until SIGTERM/SIGINT; return the exit code.

    The writer role runs as a thread of this process; reads run inline on
    the event loop. The boundaries are those of the prefork node.
    """
    from idnode.resolver.grpc.server import (
        replication_credentials,
        replication_port,
        server_credentials,
        start_grpc_server,
        stop_grpc_server,
    )

    check_port_free(settings.grpc_listen)
    for listen in (settings.http_listen, settings.replication_listen):
        if listen != "off":
            check_port_free(listen)
    lock_fd = lock_folder(settings.data_dir)
    server = dns = http = outbox = recursor = flusher = pruner = None
    configure_limits(settings)
    if settings.metrics:
        metrics.prepare_dir(settings.data_dir, settings.metrics_dir)
        metrics.process_started("replica" if settings.replica_of else "primary")
    try:
        store, writer, registry = open_writer(settings)
        start_usage(writer)
        try:
            await bootstrap(registry, settings)
            add_replica_check(registry, settings)
            server, port = await start_grpc_server(
                registry,
                settings.grpc_listen,
                registry_handler=replica_registry_handler(registry, settings),
                credentials=server_credentials(settings),  # TLS with --tls-cert, like HTTP
                max_message_bytes=settings.max_message_bytes,
                request_timeout=settings.request_timeout,
                stream_idle_timeout=settings.stream_idle_timeout,
                replication_tls=replication_credentials(settings),  # --replication-listen: replicas with certificates
            )
            recursor = start_recursion(registry, settings, with_port(settings.grpc_listen, port))
            dns = await start_dns(registry, settings)
            http = await start_http(registry, settings)
            outbox = start_sync(
                store,
                writer,
                registry,
                settings,
                {
                    "grpc": with_port(settings.grpc_listen, port),
                    "http": "off" if http is None else with_port(settings.http_listen, http.port),
                    "dns": "off" if dns is None else with_port(settings.dns_listen, dns.port),
                },
            )
            flusher = metrics.start_flusher()
            pruner = start_retention(store, writer, settings)
            _say(banner(settings, port, registry.node_prefix))
            if replication_port(server):
                _say(replication_banner(settings, replication_port(server)))
            if dns is not None:
                _say(dns_banner(settings, dns.port))
            if http is not None:
                _say(http_banner(settings, http.port, http.tls))
            await wait_for_stop(signal.SIGTERM, signal.SIGINT)
            health_of(registry).draining = True
            _say(f"idnode: stopping (grace {settings.grace:g} s)")
            if http is not None:
                await http.stop(settings.grace)
                http = None
            if dns is not None:
                await dns.stop(settings.grace)
                dns = None
            await stop_grpc_server(server, settings.grace)
            server = None
            if outbox is not None:  # the push in flight finishes within the grace period
                await outbox.stop(settings.grace)
                outbox = None
            return 0
        finally:
            if pruner is not None:
                await pruner.stop(0)
            if outbox is not None:
                await outbox.stop(0)
            if http is not None:
                await http.stop(0)
            if dns is not None:
                await dns.stop(0)
            if server is not None:
                await stop_grpc_server(server, 0)
            if recursor is not None:
                await recursor.close()
            if flusher is not None:
                await flusher.stop()
            close_writer(store, writer)
    finally:
        if settings.metrics:
            metrics.remove_dir()
        os.close(lock_fd)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``--log-format json``), UTC timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:  # set by requestid.RequestIdFilter while a request is served
            entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: Settings) -> None:
    from idnode.requestid import RequestIdFilter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())  # every line about a request names its id
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s%(request_tag)s")
        )
    logging.basicConfig(level=settings.log_level.upper(), handlers=[handler])


def run(settings: Settings) -> int:
    """Entry point of ``idnode serve``: one process, or a prefork node."""
    setup_logging(settings)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if settings.tls_cert is not None and settings.http_listen != "off":  # fail before anything starts
            from idnode.resolver.http.server import ssl_context

            ssl_context(settings)
        if settings.top:
            top_tls(settings)  # unreadable --top-ca/--top-cert/--top-key fail the start here
            peer_tls(settings)  # likewise --peer-*
        from idnode.resolver.grpc.server import replication_credentials

        replication_credentials(settings)  # --replication-listen: its files and companions
        if settings.replica_of:  # the node prefix is the primary's (from the folder, else asked at start-up)
            from idnode.sync.replica import primary_credential, replica_node_prefix

            credential = primary_credential(settings.primary_token_file, settings.data_dir)
            tls = primary_tls(settings)  # unreadable --primary-* files fail the start here
            prefix = replica_node_prefix(settings.data_dir, settings.replica_of, credential, tls)
            settings = dataclasses.replace(settings, node_prefix=prefix)
        if settings.workers > 1:
            from idnode.prefork import supervise

            return supervise(settings)
        return asyncio.run(serve(settings))
    except (StoreError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
