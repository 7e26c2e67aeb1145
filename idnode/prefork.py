"""Prefork node: a supervisor, one writer process and N reader workers.

``idnode serve --workers N`` (N > 1) runs :func:`supervise`. The supervisor
creates no gRPC object and opens no LMDB environment: it takes the data
folder's lock, checks the gRPC port is free and reserves it (for port 0 it
picks the real port once), then forks

- the **writer** process: opens the store for writing, runs the writer role
  (group commit, map growth), the first-start bootstrap and demo data, and
  serves ``idnode.v1.Registry`` on a Unix socket for the workers;
- N **reader workers**: each opens its own read-only LMDB environment and
  binds the public gRPC port with SO_REUSEPORT; it answers Resolver calls
  inline and forwards Registry calls to the writer
  (:mod:`idnode.resolver.grpc.forward`).

It restarts a child that dies (a writer that keeps dying within seconds
stops the node), and on SIGTERM or SIGINT stops the workers first (each
reports NOT_SERVING, refuses new calls and drains in-flight ones within
``--grace``), then the writer (which finishes its queued writes). Children
die with the supervisor (PR_SET_PDEATHSIG), so a killed supervisor leaves
no orphan holding the port or the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import logging
import os
import select
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from idnode import metrics
from idnode.health import health_of, unix_socket_check
from idnode.node import (
    _say,
    add_replica_check,
    banner,
    bootstrap,
    check_port_free,
    close_writer,
    configure_limits,
    dns_banner,
    http_banner,
    open_writer,
    replica_registry_handler,
    replication_banner,
    start_dns,
    start_http,
    start_recursion,
    start_retention,
    start_sync,
    start_usage,
    wait_for_stop,
)
from idnode.registry.store import lock_folder
from idnode.settings import Settings, parse_listen

log = logging.getLogger("idnode.prefork")

READY_TIMEOUT = 600.0  # a writer loading demo data into a slow disk may take a while
RESTART_WINDOW = 10.0  # a child that dies sooner than this after start is "crash looping"
MAX_QUICK_RESTARTS = 5
_PR_SET_PDEATHSIG = 1


@dataclasses.dataclass
class _Child:
    role: str  # "writer" or "worker"
    index: int
    pid: int = 0
    started: float = 0.0
    quick_restarts: int = 0

    @property
    def name(self) -> str:
        return "writer" if self.role == "writer" else f"worker {self.index}"


def _reserve_port(host: str, port: int) -> socket.socket:
    """Bind (without listening) a SO_REUSEPORT socket on the port, so the port
    stays ours while workers come and go; for port 0 this picks the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _reserve_listen(listen: str) -> tuple[socket.socket, str]:
    """Check a TCP ``HOST:PORT`` is free, keep it reserved; the socket and ``listen`` with the real port."""
    check_port_free(listen)
    host, port = parse_listen(listen)
    sock = _reserve_port(host, port)
    shown = f"[{host}]" if ":" in host else host
    return sock, f"{shown}:{sock.getsockname()[1]}"


def _reserve_dns_port(settings: Settings) -> tuple[Settings, socket.socket]:
    """Check the DNS port is free for UDP and TCP (for port 0: pick one), keep
    its TCP side reserved, and return the settings naming the real port.

    Only the TCP socket is kept: a bound TCP socket that does not listen takes
    no connections, while a bound UDP socket in the SO_REUSEPORT group would
    receive a share of the queries and never answer them.
    """
    from idnode.resolver.dns.server import bind_dns_port

    host, port = parse_listen(settings.dns_listen)
    udp, tcp = bind_dns_port(host, port, reuse_port=port == 0)
    port = udp.getsockname()[1]
    udp.close()
    if tcp.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 0:  # the plain check of a fixed port
        tcp.close()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        tcp = socket.socket(family, socket.SOCK_STREAM)
        tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        tcp.bind((host, port))
    shown = f"[{host}]" if ":" in host else host
    return dataclasses.replace(settings, dns_listen=f"{shown}:{port}"), tcp


def _writer_socket(data_dir: Path, name: str = "writer.sock") -> tuple[str, Path]:
    """A Unix socket the writer serves the workers on (paths over ~100
    bytes do not fit a sockaddr_un; then a private temporary folder)."""
    path = (data_dir / name).resolve()
    if len(str(path)) > 100:
        path = Path(tempfile.mkdtemp(prefix="idnode-")) / "writer.sock"
    path.unlink(missing_ok=True)
    return f"unix:{path}", path


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the supervisor's SIGTERM path still stops children
        return


# -- the roles (run in the forked children) ------------------------------------


async def _writer_role(settings: Settings, target: str, http_path: str, ready: Callable[[], None]) -> int:
    from idnode.resolver.grpc.server import start_grpc_server, stop_grpc_server

    if settings.metrics:
        metrics.process_started("replica" if settings.replica_of else "primary")
    from idnode.resolver.grpc.forward import usage_handler
    from idnode.sync.stats import usage_applier

    store, writer, registry = open_writer(settings)
    start_usage(writer)
    outbox = flusher = pruner = None
    try:
        await bootstrap(registry, settings)
        usage = usage_handler(usage_applier(writer))  # the workers' per-prefix counts
        server, _ = await start_grpc_server(
            registry,
            target,
            reflection=False,
            count=False,
            extra_handlers=(usage,),
            max_message_bytes=settings.max_message_bytes,
        )
        flusher = metrics.start_flusher()
        http = await start_http(registry, settings, unix_path=http_path) if settings.http_listen != "off" else None
        # The supervisor passes the real ports (port 0 already picked).
        listens = {"grpc": settings.grpc_listen, "http": settings.http_listen, "dns": settings.dns_listen}
        outbox = start_sync(store, writer, registry, settings, listens)
        pruner = start_retention(store, writer, settings)
        ready()
        await wait_for_stop(signal.SIGTERM)
        health_of(registry).draining = True
        if http is not None:
            await http.stop(settings.grace)
        await stop_grpc_server(server, settings.grace)
        if outbox is not None:  # after the workers stopped; the push in flight finishes within the grace period
            await outbox.stop(settings.grace)
            outbox = None
        return 0
    finally:
        if pruner is not None:
            await pruner.stop(0)
        if outbox is not None:
            await outbox.stop(0)
        if flusher is not None:
            await flusher.stop()
        close_writer(store, writer)


async def _worker_role(settings: Settings, listen: str, target: str, http_path: str, ready: Callable[[], None]) -> int:
    import grpc

    from idnode.registry.service import Registry
    from idnode.registry.store import Store
    from idnode.resolver.grpc.forward import registry_forwarder, usage_sender
    from idnode.resolver.grpc.server import (
        replication_credentials,
        server_credentials,
        start_grpc_server,
        stop_grpc_server,
    )

    if settings.metrics:
        metrics.process_started("replica" if settings.replica_of else "primary")
    configure_limits(settings)  # per worker: its own buckets
    store = Store(
        settings.data_dir, map_size=settings.map_size, max_readers=settings.max_readers, lock=False, writable=False
    )
    flusher = None
    channel = grpc.aio.insecure_channel(
        target,
        options=[
            ("grpc.max_receive_message_length", settings.max_message_bytes),
            ("grpc.max_send_message_length", settings.max_message_bytes),
        ],
    )
    try:
        registry = Registry(store, None, settings.node_prefix, replica_of=settings.replica_of)
        registry.top = settings.top  # stats name it; the writer process runs the outbox
        sockets = (target.removeprefix("unix:"), *((http_path,) if settings.http_listen != "off" else ()))
        health_of(registry).add_check("writer", unix_socket_check("the writer process", *sockets))
        add_replica_check(registry, settings)
        server, _ = await start_grpc_server(
            registry,
            listen,
            reuse_port=True,
            registry_handler=replica_registry_handler(registry, settings, registry_forwarder(channel)),
            credentials=server_credentials(settings),  # TLS with --tls-cert, like HTTP
            max_message_bytes=settings.max_message_bytes,
            request_timeout=settings.request_timeout,
            stream_idle_timeout=settings.stream_idle_timeout,
            replication_tls=replication_credentials(settings),  # the supervisor reserved its real port
        )
        recursor = start_recursion(registry, settings, listen)
        dns = await start_dns(registry, settings, reuse_port=True)
        http = await start_http(registry, settings, reuse_port=True, forward_to=http_path)
        tally = metrics.tally()
        if tally is not None:
            tally.usage_sink = usage_sender(channel, tally.give_back)
        flusher = metrics.start_flusher()
        ready()
        await wait_for_stop(signal.SIGTERM)
        health_of(registry).draining = True
        if http is not None:
            await http.stop(settings.grace)
        if dns is not None:
            await dns.stop(settings.grace)
        await stop_grpc_server(server, settings.grace)
        if recursor is not None:
            await recursor.close()
        return 0
    finally:
        if flusher is not None:
            await flusher.stop()
        await channel.close()
        store.close()


def _child_main(run: Callable[[Callable[[], None]], int], ready_fd: int) -> int:
    """Common start of every child: die with the parent, leave SIGINT to the
    supervisor, report readiness on the pipe."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def ready() -> None:
        os.write(ready_fd, b"ready\n")
        os.close(ready_fd)

    return run(ready)


# -- the supervisor --------------------------------------------------------------


class _Supervisor:
    def __init__(self, settings: Settings, listen: str, target: str, http_path: str, keep: list[int]) -> None:
        self.settings = settings
        self.listen = listen
        self.target = target
        self.http_path = http_path  # the writer's HTTP server (Unix socket), where workers forward writes
        self.keep = keep  # fds children must close (the reserved port)
        self.children: dict[int, _Child] = {}
        self.stopping = False
        self.restarts = 0

    def spawn(self, child: _Child) -> None:
        """Fork ``child`` and wait until it reports ready.

        Raises:
            RuntimeError: it exited or did not get ready in time.
        """
        read_fd, write_fd = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.close(read_fd)
                for fd in self.keep:
                    os.close(fd)
                settings = self.settings
                if child.role == "writer":
                    code = _child_main(
                        lambda ready: asyncio.run(_writer_role(settings, self.target, self.http_path, ready)), write_fd
                    )
                else:
                    code = _child_main(
                        lambda ready: asyncio.run(
                            _worker_role(settings, self.listen, self.target, self.http_path, ready)
                        ),
                        write_fd,
                    )
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(write_fd)
        child.pid, child.started = pid, time.monotonic()
        self.children[pid] = child
        try:
            ready, _, _ = select.select([read_fd], [], [], READY_TIMEOUT)
            line = os.read(read_fd, 64) if ready else b""
        finally:
            os.close(read_fd)
        if line != b"ready\n":
            self.reap(block=False)
            raise RuntimeError(f"the {child.name} process (pid {pid}) did not start; see the messages above")
        log.info("%s started (pid %d)", child.name, pid)

    def reap(self, block: bool) -> list[_Child]:
        """Collect exited children."""
        gone = []
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0 if block else os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            child = self.children.pop(pid, None)
            metrics.process_dead(pid)
            if child is not None:
                code = os.waitstatus_to_exitcode(status)
                if not self.stopping:
                    log.warning("%s (pid %d) exited with %s", child.name, pid, code)
                gone.append(child)
            if block:
                break
        return gone

    def restart(self, child: _Child) -> None:
        now = time.monotonic()
        child.quick_restarts = child.quick_restarts + 1 if now - child.started < RESTART_WINDOW else 0
        if child.quick_restarts > MAX_QUICK_RESTARTS:
            raise RuntimeError(f"the {child.name} keeps dying right after start; stopping the node")
        time.sleep(min(0.1 * 2**child.quick_restarts, 2.0))
        self.restarts += 1
        metrics.worker_restarted()
        _say(f"idnode: restarting the {child.name} (restart {self.restarts})")
        self.spawn(child)

    def stop(self) -> None:
        """Workers first (they drain within the grace period), then the writer."""
        self.stopping = True
        grace = self.settings.grace
        for role, timeout in (("worker", grace + 5), ("writer", grace + 30)):
            pids = [pid for pid, c in self.children.items() if c.role == role]
            for pid in pids:
                _signal(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while any(pid in self.children for pid in pids) and time.monotonic() < deadline:
                self.reap(block=False)
                time.sleep(0.05)
            for pid in pids:
                if pid in self.children:
                    log.warning("%s (pid %d) did not stop in time; killing it", self.children[pid].name, pid)
                    _signal(pid, signal.SIGKILL)
            while any(pid in self.children for pid in pids):
                self.reap(block=True)

    def run(self) -> int:
        stop_requested = []

        def on_signal(signum: int, _frame: object) -> None:
            stop_requested.append(signum)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            self.spawn(_Child("writer", 0))
            for index in range(1, self.settings.workers + 1):
                self.spawn(_Child("worker", index))
            port = int(self.listen.rsplit(":", 1)[1])
            _say(banner(self.settings, port, self.settings.node_prefix, self.settings.workers))
            if self.settings.replication_listen != "off":
                _say(replication_banner(self.settings, parse_listen(self.settings.replication_listen)[1]))
            if self.settings.dns_listen != "off":
                _say(dns_banner(self.settings, parse_listen(self.settings.dns_listen)[1]))
            if self.settings.http_listen != "off":
                _say(
                    http_banner(
                        self.settings, parse_listen(self.settings.http_listen)[1], self.settings.tls_cert is not None
                    )
                )
            while not stop_requested:
                for child in self.reap(block=False):
                    if not stop_requested:
                        self.restart(child)
                time.sleep(0.1)
            _say(f"idnode: stopping (grace {self.settings.grace:g} s)")
            return 0
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            self.stop()


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def supervise(settings: Settings) -> int:
    """Run a prefork node until SIGTERM/SIGINT; return the exit code."""
    check_port_free(settings.grpc_listen)
    lock_fd = lock_folder(settings.data_dir)
    if settings.metrics:  # before any child exists: every process writes its values under this folder
        metrics.prepare_dir(settings.data_dir, settings.metrics_dir)
        metrics.process_started("replica" if settings.replica_of else "primary")
    host, port = parse_listen(settings.grpc_listen)
    reserved = _reserve_port(host, port)
    port = reserved.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    settings = dataclasses.replace(settings, grpc_listen=f"{shown}:{port}")  # the real port (the outbox's site)
    keep = [reserved.fileno(), lock_fd]
    dns_reserved = http_reserved = repl_reserved = None
    if settings.dns_listen != "off":
        settings, dns_reserved = _reserve_dns_port(settings)
        keep.append(dns_reserved.fileno())
    if settings.http_listen != "off":
        http_reserved, http_listen = _reserve_listen(settings.http_listen)
        keep.append(http_reserved.fileno())
        settings = dataclasses.replace(settings, http_listen=http_listen)
    if settings.replication_listen != "off":  # the primary's mutual-TLS port, like HTTP
        repl_reserved, replication_listen = _reserve_listen(settings.replication_listen)
        keep.append(repl_reserved.fileno())
        settings = dataclasses.replace(settings, replication_listen=replication_listen)
    target, socket_path = _writer_socket(settings.data_dir)
    _, http_socket = _writer_socket(settings.data_dir, "writer-http.sock")
    try:
        return _Supervisor(settings, f"{shown}:{port}", target, str(http_socket), keep).run()
    finally:
        reserved.close()
        for extra in (dns_reserved, http_reserved, repl_reserved):
            if extra is not None:
                extra.close()
        http_socket.unlink(missing_ok=True)
        socket_path.unlink(missing_ok=True)
        if settings.metrics:
            metrics.remove_dir()
        os.close(lock_fd)
