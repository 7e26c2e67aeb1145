"""DNS transports: UDP datagrams and TCP messages on one port, answered by a DnsResponder.

Each transport only moves bytes (:class:`~idnode.resolver.dns.answer.DnsResponder`
decides every answer). UDP is drained in batches by an event-loop reader;
TCP reads length-prefixed messages (RFC 1035 4.2.2, RFC 7766), answers them
in order, and closes idle connections. Both sockets take SO_REUSEPORT in prefork
workers, so the kernel spreads queries over the workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from idnode import metrics
from idnode._fastpath import dns as dnsw
from idnode.resolver import admission, limits
from idnode.resolver.dns.answer import DnsResponder, Pending

__all__ = ["DnsServer", "bind_dns_port", "start_dns_server"]

log = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 10.0  # seconds a TCP connection may wait for its next query (RFC 7766 6.2.3)
MAX_TCP_CONNECTIONS = 512  # per process; beyond it new connections are closed at once
UDP_READ_SIZE = 65535  # asyncio's default 256 KiB read buffer costs an mmap per datagram
_LENGTH = struct.Struct(">H")


def _exempting(check: Callable[[str, float], float], exempt: limits.Exemptions) -> Callable[[str, float], float]:
    def limited(address: str, now: float) -> float:
        return 0.0 if address in exempt else check(address, now)

    return limited


def _gate(replica: bool) -> Callable[[str, float], float] | None:
    """What a query passes before it is answered: ``(source address, now) -> 0`` to answer it, a
    positive wait (over ``--rate-limit-resolve``: REFUSED) or -1 (a replica with partial data,
    resolver/admission.py: SERVFAIL); None when nothing is checked (no limit, a primary)."""
    limiter = limits.resolve_limiter()
    check = None if limiter is None else limiter.check
    exempt = limits.exemptions()
    if check is not None and exempt is not None:  # --rate-limit-resolve-exempt: trusted resolvers pass
        check = _exempting(check, exempt)
    if not replica:
        return check

    def admit(address: str, now: float) -> float:
        if admission.refusal() is not None:
            return -1.0
        return 0.0 if check is None else check(address, now)

    return admit


class _UdpReader:
    """Datagrams answered on the event loop, many per wake-up.

    asyncio's datagram transport reads one datagram per selector round; this
    reader drains the socket (up to ``BATCH`` datagrams) each time it is
    readable, so under load one ``epoll_wait`` serves a batch. Everything
    runs on the event-loop thread, where every LMDB read of the process runs
    (a map resize needs no open read transaction in the process: ``Store.grow``).
    """

    BATCH = 64

    def __init__(
        self,
        sock: socket.socket,
        responder: DnsResponder,
        loop: asyncio.AbstractEventLoop,
        counts: _Counts | None = None,
        replica: bool = False,
    ) -> None:
        self.sock = sock
        self.respond = responder.respond
        self.respond_recursive = responder.respond_recursive
        self.loop = loop
        self.counts = counts
        self.pending: set[asyncio.Task[None]] = set()  # recursive answers in flight
        self.limit = _gate(replica)  # None: every query answered
        self.refuse = responder.refuse
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._readable if counts is None else self._readable_counted)

    def _readable(self) -> None:
        recvfrom, sendto, respond = self.sock.recvfrom, self.sock.sendto, self.respond
        limit, refuse, clock = self.limit, self.refuse, time.monotonic
        for _ in range(self.BATCH):
            try:
                data, addr = recvfrom(UDP_READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable reported for an earlier reply
                log.debug("DNS UDP receive failed: %s", exc)
                continue
            # Over the limit: REFUSED, no bigger than the query (no amplification); resolver/README.md.
            if limit is not None and (wait := limit(addr[0], clock())):
                reply = refuse(data, False, dnsw.REFUSED if wait > 0 else dnsw.SERVFAIL)
            else:
                reply = respond(data)
            if reply.__class__ is Pending:  # not served here, not cached: recurse without blocking the loop
                task = self.loop.create_task(self._recursive(reply, addr))  # type: ignore[arg-type]
                self.pending.add(task)
                task.add_done_callback(self.pending.discard)
                continue
            if reply is not None:
                try:
                    sendto(reply, addr)
                except OSError as exc:  # a full send buffer: the client retries
                    log.debug("DNS UDP send failed: %s", exc)

    def _readable_counted(self) -> None:
        """:meth:`_readable` counting each datagram's rcode and time (metrics on).

        One clock read per datagram: a datagram's time runs from the end of
        the previous one (or the wake-up) to its reply sent, so it covers
        receiving, answering and sending it. Counts go into plain lists.
        """
        recvfrom, sendto, respond = self.sock.recvfrom, self.sock.sendto, self.respond
        limit, refuse, monotonic = self.limit, self.refuse, time.monotonic
        counts = self.counts
        slots = counts.udp_time.counts  # type: ignore[union-attr]
        table = counts.udp  # type: ignore[union-attr]
        find, add = table.get, counts.entry  # type: ignore[union-attr]
        clock = time.perf_counter_ns
        total = 0
        start = clock()
        try:
            for _ in range(self.BATCH):
                try:
                    data, addr = recvfrom(UDP_READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError as exc:
                    log.debug("DNS UDP receive failed: %s", exc)
                    continue
                if limit is not None and (wait := limit(addr[0], monotonic())):
                    reply = refuse(data, False, dnsw.REFUSED if wait > 0 else dnsw.SERVFAIL)
                else:
                    reply = respond(data)
                if reply.__class__ is Pending:
                    task = self.loop.create_task(self._recursive(reply, addr))  # type: ignore[arg-type]
                    self.pending.add(task)
                    task.add_done_callback(self.pending.discard)
                    start = clock()  # counted when its answer is sent
                    continue
                if reply is not None:
                    try:
                        sendto(reply, addr)
                    except OSError as exc:
                        log.debug("DNS UDP send failed: %s", exc)
                # Counted by the question after its first label: for an identifier name with a
                # one-label suffix (the usual), the _h marker, the prefix labels, the zone, type
                # and EDNS: one slice and one dict lookup (_Counts.entry, .fold decode it).
                try:
                    key = data[13 + data[12] :]
                except IndexError:  # shorter than a header and a label
                    key = b""
                entry = find(key) or add(table, key)
                entry[16 if reply is None else reply[3] & 15] += 1  # type: ignore[index]
                end = clock()
                elapsed = end - start
                slots[(elapsed - 1).bit_length()] += 1  # 0 ns (never seen) lands in slot 1: the same bucket
                total += elapsed
                start = end
        finally:
            counts.udp_time.total += total  # type: ignore[union-attr]

    async def _recursive(self, pending: Pending, addr: Any) -> None:
        start = time.perf_counter_ns()
        reply = await self.respond_recursive(pending)
        if self.counts is not None:
            self.counts.recursive("udp", reply, time.perf_counter_ns() - start, pending.wire)
        if reply is not None and self.sock.fileno() >= 0:
            try:
                self.sock.sendto(reply, addr)
            except OSError as exc:
                log.debug("DNS UDP send failed: %s", exc)

    def close(self) -> None:
        self.loop.remove_reader(self.sock.fileno())
        for task in self.pending:
            task.cancel()
        self.sock.close()


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


def _rcode_name(code: int) -> str:
    return metrics.DNS_RCODES.get(code) or f"RCODE{code}"


class _Counts:
    """DNS request counts of one server, kept in plain dicts and lists on the hot path and
    folded into the process's :class:`~idnode.metrics.Tally` at each flush.

    ``udp``/``tcp``: the question's bytes after its first label -> replies by
    header rcode (slots 0..15; slot 16: messages answered with nothing). For
    an identifier name those bytes start with the ``_h`` marker and hold the
    prefix (``names.py``), decoded once per distinct key at flush
    (:meth:`prefix_of`). Names whose marker is further left (a suffix of
    several labels) share the entry of their bytes from the marker on; names
    without one (apex, GTIN, OID, garbage) share the entry of ``b""``, so
    the tables stay small. BADVERS (an extended rcode: 0 in the header) is
    told apart by the responder's ``badvers`` counts.
    """

    __slots__ = ("names", "responder", "tcp", "tcp_time", "udp", "udp_time", "zone_labels")

    def __init__(self, responder: DnsResponder) -> None:
        self.responder = responder
        self.udp: dict[bytes, list[int]] = {}
        self.tcp: dict[bytes, list[int]] = {}
        self.udp_time = metrics.Histo()
        self.tcp_time = metrics.Histo()
        self.zone_labels = [label.lower() for label in getattr(responder, "zone", ())]
        self.names: dict[bytes, str | None] = {}  # key -> prefix text (a bounded cache)

    @staticmethod
    def entry(table: dict[bytes, list[int]], key: bytes) -> list[int]:
        """The slow path of a key not in ``table``: the entry it is counted in (created if need be)."""
        marker = key.find(b"\x02_")
        canonical = key[marker:] if marker >= 0 else b""
        entry = table.get(canonical)
        if entry is None:
            if len(table) >= metrics.MAX_USAGE_KEYS:  # a flood of made-up prefixes: codes still counted
                canonical = b""
                entry = table.get(canonical)
            if entry is None:
                entry = table[canonical] = [0] * 17
        return entry

    def recursive(self, transport: str, reply: bytes | None, elapsed_ns: int, wire: bytes = b"") -> None:
        """Count one answer outside the UDP hot loop (TCP, or a recursive answer)."""
        table, histo = (self.udp, self.udp_time) if transport == "udp" else (self.tcp, self.tcp_time)
        key = wire[13 + wire[12] :] if len(wire) > 12 else b""
        entry = table.get(key) or self.entry(table, key)
        entry[16 if reply is None else reply[3] & 15] += 1
        histo.add(elapsed_ns)

    def prefix_of(self, key: bytes) -> str | None:
        """The prefix of an identifier name from its key (the question from the ``\\x02_h`` marker
        on: ``h`` in any case, the prefix labels, then the zone); None for anything else (a GTIN
        or OID name, another zone, a malformed name)."""
        if key in self.names:
            return self.names[key]
        text = None
        if key[:3] in (b"\x02_h", b"\x02_H"):
            segments, i = [], 3
            while i < len(key) and key[i]:
                n = key[i]
                segments.append(key[i + 1 : i + 1 + n])
                i += 1 + n
            zone = len(self.zone_labels)
            if i < len(key) and len(segments) > zone and [x.lower() for x in segments[-zone:]] == self.zone_labels:
                prefix = segments[: len(segments) - zone]
                text = ".".join(x.decode("ascii", "replace") for x in reversed(prefix)).lower()
        if len(self.names) < metrics.MAX_USAGE_KEYS:
            self.names[key] = text
        return text

    def fold(self, tally: metrics.Tally) -> None:
        badvers = self.responder.badvers
        udp, tcp = self.udp, self.tcp
        self.udp, self.tcp = {}, {}
        for index, transport, table, histo in ((0, "udp", udp, self.udp_time), (1, "tcp", tcp, self.tcp_time)):
            codes = [0] * 17
            for key, entry in table.items():
                for code, n in enumerate(entry):
                    codes[code] += n
                prefix = self.prefix_of(key) if key else None
                if prefix is not None:
                    tally.used(prefix, "dns", True, entry[0])
                    tally.used(prefix, "dns", False, sum(entry[1:16]))
            extended = badvers[index]
            badvers[index] = 0
            codes[0] -= extended
            for code, n in enumerate(codes):
                if n:
                    tally.count("dns", transport, metrics.DNS_DROPPED if code == 16 else _rcode_name(code), n)
            tally.count("dns", transport, "BADVERS", extended)
            counts, total = histo.take()
            if any(counts):
                target = tally.duration("dns", transport)
                target.counts = [a + b for a, b in zip(target.counts, counts, strict=True)]
                target.total += total


class DnsServer:
    """A running DNS front end: one UDP endpoint and one TCP server on ``port``; ``replica``: answer
    SERVFAIL while the replica's data is partial (resolver/admission.py)."""

    def __init__(self, responder: DnsResponder, replica: bool = False) -> None:
        self.responder = responder
        self.port = 0
        self._counts: _Counts | None = None
        tally = metrics.tally()
        if tally is not None:
            self._counts = _Counts(responder)
            tally.sources.append(self._counts.fold)
        self.replica = replica
        self._udp: _UdpReader | None = None
        self._tcp: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int, reuse_port: bool = False) -> None:
        loop = asyncio.get_running_loop()
        udp_sock, tcp_sock = bind_dns_port(host, port, reuse_port)
        try:
            self.port = udp_sock.getsockname()[1]
            self._udp = _UdpReader(udp_sock, self.responder, loop, self._counts, self.replica)
            self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock, backlog=1024)
        except BaseException:
            if self._udp is not None:
                self._udp.close()
                self._udp = None
            else:
                udp_sock.close()
            tcp_sock.close()
            raise

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_TCP_CONNECTIONS:
            writer.close()
            return
        self._connections.add(task)  # type: ignore[arg-type]
        limit = _gate(self.replica)
        peer = (writer.get_extra_info("peername") or ("",))[0]
        try:
            while True:
                try:
                    async with asyncio.timeout(TCP_IDLE_TIMEOUT):
                        (length,) = _LENGTH.unpack(await reader.readexactly(2))
                        message = await reader.readexactly(length)
                except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    return
                start = time.perf_counter_ns()
                if limit is not None and (wait := limit(peer, time.monotonic())):
                    reply = self.responder.refuse(message, True, dnsw.REFUSED if wait > 0 else dnsw.SERVFAIL)
                else:
                    reply = self.responder.respond(message, tcp=True)
                if reply.__class__ is Pending:  # not served here, not cached: recurse (this connection waits)
                    reply = await self.responder.respond_recursive(reply)  # type: ignore[arg-type]
                if self._counts is not None:
                    self._counts.recursive("tcp", reply, time.perf_counter_ns() - start, message)  # type: ignore[arg-type]
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
    replica = bool(getattr(settings, "replica_of", None))
    server = DnsServer(DnsResponder(registry, zone_config_from_settings(settings)), replica=replica)
    await server.start(host, port, reuse_port=reuse_port)
    return server
