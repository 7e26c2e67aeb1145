"""DNS transports: UDP datagrams and TCP messages on one port, answered by a DnsResponder.

Each transport only moves bytes (:class:`~idnode.resolver.dns.answer.DnsResponder`
decides every answer). UDP answers inline in the datagram callback; TCP
reads length-prefixed messages (RFC 1035 4.2.2, RFC 7766), answers them in
order, and closes idle connections. Both sockets take SO_REUSEPORT in prefork
workers, so the kernel spreads queries over the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import threading
from typing import Any

from idnode.resolver.dns.answer import DnsResponder

__all__ = ["DnsServer", "bind_dns_port", "start_dns_server"]

log = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 10.0  # seconds a TCP connection may wait for its next query (RFC 7766 6.2.3)
MAX_TCP_CONNECTIONS = 512  # per process; beyond it new connections are closed at once
UDP_READ_SIZE = 65535  # asyncio's default 256 KiB read buffer costs an mmap per datagram
_LENGTH = struct.Struct(">H")


class _UdpLoop:
    """Blocking receive-answer-send loops on the UDP socket, in their own threads.

    Cheaper per datagram than an asyncio transport (no callback, no selector
    round trip: one ``recvfrom`` and one ``sendto``, both releasing the GIL
    while they wait), and it leaves the event loop to gRPC and DNS over TCP.
    """

    def __init__(self, sock: socket.socket, responder: DnsResponder, threads: int) -> None:
        self.sock = sock
        self.respond = responder.respond
        self.closing = False
        self.threads = [threading.Thread(target=self._run, name=f"dns-udp-{i}", daemon=True) for i in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        recvfrom, sendto, respond = self.sock.recvfrom, self.sock.sendto, self.respond
        while True:
            try:
                data, addr = recvfrom(UDP_READ_SIZE)
            except OSError:
                if self.closing:
                    return
                continue
            if self.closing:
                return
            reply = respond(data)
            if reply is not None:
                try:
                    sendto(reply, addr)
                except OSError as exc:  # e.g. a full send buffer: the client retries
                    log.debug("DNS UDP send failed: %s", exc)

    def close(self) -> None:
        self.closing = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recvfrom calls
        for thread in self.threads:
            thread.join(timeout=2.0)
        self.sock.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, responder: DnsResponder) -> None:
        self.respond = responder.respond
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if hasattr(transport, "max_size"):  # the selector loop's transport (see PERFORMANCE.md)
            transport.max_size = UDP_READ_SIZE  # type: ignore[attr-defined]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        reply = self.respond(data)
        if reply is not None:
            self.transport.sendto(reply, addr)  # type: ignore[union-attr]

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable from a gone client
        log.debug("DNS UDP error: %s", exc)


def _socket(family: int, kind: int, host: str, port: int, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def bind_dns_port(
    host: str, port: int, reuse_port: bool = False, attempts: int = 20
) -> tuple[socket.socket, socket.socket]:
    """A bound UDP socket and a bound (not yet listening) TCP socket on the same port.

    Port 0 picks a port free for both protocols.

    Raises:
        OSError: the port is taken (naming the address), or no common free port was found.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    for _ in range(attempts if port == 0 else 1):
        try:
            udp = _socket(family, socket.SOCK_DGRAM, host, port, reuse_port)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen for DNS on UDP {shown}: {exc.strerror}") from None
        chosen = udp.getsockname()[1]
        try:
            tcp = _socket(family, socket.SOCK_STREAM, host, chosen, reuse_port)
        except OSError as exc:
            udp.close()
            if port == 0:
                continue  # that UDP port's TCP twin is taken: try another
            raise OSError(exc.errno, f"cannot listen for DNS on TCP {shown}: {exc.strerror}") from None
        return udp, tcp
    raise OSError(f"no port free for both UDP and TCP on {host} after {attempts} attempts")


class DnsServer:
    """A running DNS front end: one UDP endpoint and one TCP server on ``port``."""

    def __init__(self, responder: DnsResponder, udp_threads: int = 1) -> None:
        self.responder = responder
        self.udp_threads = udp_threads  # 0: UDP on the event loop instead
        self.port = 0
        self._udp_loop: _UdpLoop | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        udp_sock, tcp_sock = bind_dns_port(host, port, reuse_port)
        try:
            self.port = udp_sock.getsockname()[1]
            if self.udp_threads:
                udp_sock.setblocking(True)
                self._udp_loop = _UdpLoop(udp_sock, self.responder, self.udp_threads)
            else:
                self._udp, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self.responder), sock=udp_sock)
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock, backlog=1024)
        except BaseException:
            udp_sock.close()
            tcp_sock.close()
            if self._udp is not None:
                self._udp.close()
            raise

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self._connections.add(task)  # type: ignore[arg-type]
        try:
            while True:
                try:
                    async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                        (length,) = _LENGTH.unpack(await reader.readexactly(2))
                        message = await reader.readexactly(length)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                reply = self.responder.respond(message, tcp=True)
                if reply is None:  # a response or a fragment: nothing sensible follows on this stream
                    return
                writer.write(_LENGTH.pack(len(reply)) + reply)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            self._connections.discard(task)  # type: ignore[arg-type]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop receiving; let TCP connections finish their current query within ``grace``."""
        if self._udp_loop is not None:
            await asyncio.to_thread(self._udp_loop.close)
            self._udp_loop = None
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp is not None:
            self._tcp.close()
            tasks = list(self._connections)
            if tasks:
                _, pending = await asyncio.wait(tasks, timeout=grace)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            await self._tcp.wait_closed()
            self._tcp = None


async def start_dns_server(registry: Any, settings: Any, *, reuse_port: bool = False) -> DnsServer:
    """Start the DNS front end of ``registry`` on ``settings.dns_listen`` (UDP and TCP).

    Must be called with the event loop that will serve it running.
    """
    from idnode.resolver.dns.answer import zone_config_from_settings
    from idnode.settings import parse_listen

    host, port = parse_listen(settings.dns_listen)
    server = DnsServer(DnsResponder(registry, zone_config_from_settings(settings)))
    await server.start(host, port, reuse_port=reuse_port)
    return server
