"""DNS answers for the node's zone: a query's bytes in, the response's bytes out (sans-IO).

:class:`DnsResponder` is the whole DNS behaviour of a node; the transports in
``server.py`` only move datagrams and TCP messages. Each query reads through
one LMDB read transaction (``Registry.snapshot``), so every answer reflects
the latest commit, and nothing is cached between queries.

What a name answers (README.md here has the table):

- the apex: SOA and NS; the server name: A/AAAA of the listen address;
- an identifier name: NAPTR and URI records for each public-readable
  URL-typed value, TXT with every public-readable value; NXDOMAIN for unknown
  and deleted identifiers; under prefixes this node does not serve: the
  owner's values through recursion with the AA bit clear when the node has
  a top-level node (``--top``; :meth:`DnsResponder.respond` returns
  :class:`Pending` unless the answer is cached, and the transport awaits
  :meth:`DnsResponder.respond_recursive`), else REFUSED;
- a GTIN or OID name: NAPTR/URI/TXT pointing at the identifiers holding that
  GTIN (or SGTIN) or OID value, by the secondary indexes;
- every other name: NODATA when it is an ancestor of an existing name (an
  empty non-terminal, RFC 8020), else NXDOMAIN; negative answers carry the
  SOA, its TTL the negative TTL (RFC 2308);
- outside the zone: REFUSED. ANY gets one RRset (RFC 8482).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import struct
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from idnode import _fastpath
from idnode._fastpath import FLAG_TOMBSTONE, PERM_PUBLIC_READ, RecordError
from idnode._fastpath import dns as dnsw
from idnode.registry import gs1
from idnode.registry.errors import HandleError
from idnode.registry.service import Snapshot
from idnode.registry.values import Value
from idnode.resolver.dns import names

__all__ = ["DnsResponder", "Pending", "ZoneConfig"]

log = logging.getLogger(__name__)

Record = tuple[tuple[bytes, ...], int, int, int, bytes]  # owner labels, type, class, ttl, rdata

SOA_TTL = 3600
NS_TTL = 3600
SOA_REFRESH = 3600
SOA_RETRY = 600
SOA_EXPIRE = 1209600
DEFAULT_NEGATIVE_TTL = 60
NAPTR_ORDER = 100
NAPTR_PREFERENCE = 10
URI_PRIORITY = 10
URI_WEIGHT = 1
MAX_KEY_MATCHES = 20  # identifiers answered for one GTIN or OID name
_URL_TYPES = ("URL", "URL.")
_META_TYPES = frozenset((dnsw.OPT, 128, 129, 130, 131, 132, 133, 134, 135, 136))  # not askable
_TRANSFER_TYPES = frozenset((dnsw.AXFR, dnsw.IXFR, 253, 254))  # AXFR, IXFR, MAILB, MAILA


@dataclass(frozen=True)
class ZoneConfig:
    """The zone a node answers for.

    Attributes:
        zone: the apex, text (``id.local.``).
        nameserver: the NS name, text; default ``ns.<zone>``.
        nameserver_addresses: the server name's A/AAAA addresses (text); the
            listen host when it is a specific address.
        negative_ttl: the SOA minimum: how long resolvers keep NXDOMAIN/NODATA.
        resolve_url: the base of the resolution URLs that GTIN and OID names
            point to (``<resolve_url><handle>``).
    """

    zone: str = names.DEFAULT_ZONE
    nameserver: str = ""
    nameserver_addresses: tuple[str, ...] = ()
    negative_ttl: int = DEFAULT_NEGATIVE_TTL
    resolve_url: str = "http://127.0.0.1:8000/"

    def __post_init__(self) -> None:
        labels = names.zone_labels(self.zone)
        if not self.nameserver:
            object.__setattr__(self, "nameserver", names.labels_to_text((b"ns", *labels)))
        names.text_to_labels(self.nameserver)
        for address in self.nameserver_addresses:
            ipaddress.ip_address(address)
        if not 0 <= self.negative_ttl <= 2**31 - 1:
            raise ValueError(f"negative TTL {self.negative_ttl} is outside 0..2147483647")


def _server_addresses(host: str) -> tuple[str, ...]:
    """The listen host as the server name's address, unless it is a wildcard or a name."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return ()
    return () if address.is_unspecified else (str(address),)


def zone_config_from_settings(settings: Any) -> ZoneConfig:
    """The :class:`ZoneConfig` of a node's settings (``dns_zone``, ``dns_listen``, ``http_listen``...)."""
    from idnode.settings import parse_listen

    host, _ = parse_listen(settings.dns_listen)
    http_host, http_port = parse_listen(settings.http_listen if settings.http_listen != "off" else "127.0.0.1:8000")
    if ":" in http_host:
        http_host = f"[{http_host}]"
    base = settings.public_url or f"http://{http_host}:{http_port}/"
    return ZoneConfig(
        zone=settings.dns_zone,
        nameserver=settings.dns_nameserver,
        nameserver_addresses=_server_addresses(host),
        negative_ttl=settings.dns_negative_ttl,
        resolve_url=base if base.endswith("/") else base + "/",
    )


def _naptr_regexp(url: str) -> str:
    """``!^.*$!<url>!`` with ``\\`` and ``!`` in the URL escaped (RFC 3402 section 3.2)."""
    return "!^.*$!" + url.replace("\\", "\\\\").replace("!", "\\!") + "!"


def _value_text(value: Value) -> str:
    """A value's data as TXT shows it."""
    if value.format == "string":
        return value.data.decode("utf-8", "replace")  # type: ignore[union-attr]
    if value.format == "admin":
        admin = value.data
        return f"{admin.handle} {admin.index} {admin.permissions:012b}"  # type: ignore[union-attr]
    if value.format == "vlist":
        return ",".join(f"{ref.index}:{ref.handle}" for ref in value.data)  # type: ignore[union-attr]
    return value.text  # base64 / hex: their Handle text forms


def _ttl(value: Value, now: float) -> int:
    if value.ttl_absolute:
        return max(0, min(int(value.ttl - now), 2**31 - 1))
    return min(value.ttl, 2**31 - 1)


@dataclass(frozen=True)
class _RRsets:
    """The rdata (and RRset TTL: the smallest of its values') of one name, per type."""

    naptr: tuple[bytes, ...] = ()
    uri: tuple[bytes, ...] = ()
    txt: tuple[bytes, ...] = ()
    naptr_ttl: int = 0
    uri_ttl: int = 0
    txt_ttl: int = 0


def _url_rrsets(urls: list[tuple[str, str, int]], texts: list[tuple[str, int]]) -> _RRsets:
    """NAPTR/URI for ``(service, url, ttl)`` and TXT for ``(text, ttl)``; values DNS cannot carry are left out."""
    naptr, uri, txt = [], [], []
    naptr_ttl = uri_ttl = txt_ttl = 2**31 - 1
    for service, url, ttl in urls:
        try:
            naptr.append(dnsw.rdata_naptr(NAPTR_ORDER, NAPTR_PREFERENCE, "U", service, _naptr_regexp(url)))
            naptr_ttl = min(naptr_ttl, ttl)
        except dnsw.DnsEncodeError:  # a regexp over 255 bytes: the URI record still carries it
            pass
        if url:
            uri.append(dnsw.rdata_uri(URI_PRIORITY, URI_WEIGHT, url))
            uri_ttl = min(uri_ttl, ttl)
    for text, ttl in texts:
        txt.append(dnsw.rdata_txt(text))
        txt_ttl = min(txt_ttl, ttl)
    return _RRsets(tuple(naptr), tuple(uri), tuple(txt), naptr_ttl, uri_ttl, txt_ttl)


def values_rrsets(values: Any, now: float) -> _RRsets:
    """The RRsets of values already filtered to the public-readable ones (a recursive answer)."""
    urls: list[tuple[str, str, int]] = []
    texts: list[tuple[str, int]] = []
    for value in values:
        ttl = _ttl(value, now)
        if value.format == "string" and _fastpath.type_matches(value.type, _URL_TYPES):
            urls.append((value.type, value.data.decode("utf-8", "replace"), ttl))  # type: ignore[union-attr]
        texts.append((f"{value.index} {value.type} {_value_text(value)}", ttl))
    return _url_rrsets(urls, texts)


class Pending:
    """What :meth:`DnsResponder.respond` returns for a name under a prefix this node
    does not serve whose answer is not cached: the transport awaits
    :meth:`DnsResponder.respond_recursive` (off the datagram loop) and sends its bytes."""

    __slots__ = ("handle", "prefix", "tcp", "wire")

    def __init__(self, wire: bytes, tcp: bool, prefix: str, handle: str) -> None:
        self.wire = wire
        self.tcp = tcp
        self.prefix = prefix
        self.handle = handle


class _NeedsRecursion(Exception):
    def __init__(self, prefix: str, handle: str) -> None:
        super().__init__(handle)
        self.prefix = prefix
        self.handle = handle


def record_rrsets(record: bytes, now: float) -> _RRsets | None:
    """The RRsets of a stored identifier record; None for a tombstone.

    Raises:
        RecordError: a damaged record.
    """
    flags, _, _, _, _, offset = _fastpath.decode_header(record)
    if flags & FLAG_TOMBSTONE:
        return None
    urls: list[tuple[str, str, int]] = []
    texts: list[tuple[str, int]] = []
    for perms, _index, frame in _fastpath.iter_frames(record, offset):
        if not perms & PERM_PUBLIC_READ:
            continue
        value = Value.from_frame(frame)
        ttl = _ttl(value, now)
        if value.format == "string" and _fastpath.type_matches(value.type, _URL_TYPES):
            urls.append((value.type, value.data.decode("utf-8", "replace"), ttl))  # type: ignore[union-attr]
        texts.append((f"{value.index} {value.type} {_value_text(value)}", ttl))
    return _url_rrsets(urls, texts)


_GTIN_TYPES = ("GTIN", "SGTIN")


def _public_holders(snap: Any, handles: list[str], types: tuple[str, ...], key: str) -> list[str]:
    """The handles whose matching GTIN/SGTIN/OID value is public-readable (the index
    holds every value; DNS shows only what anyone may read)."""
    out = []
    for handle in handles:
        prefix, _, suffix = handle.partition("/")
        raw = snap.lookup(prefix, suffix)
        if raw is None:
            continue
        flags, _, _, _, _, offset = _fastpath.decode_header(raw)
        if flags & FLAG_TOMBSTONE:
            continue
        for perms, _index, frame in _fastpath.iter_frames(raw, offset):
            if perms & PERM_PUBLIC_READ and _fastpath.frame_type(frame) in types:
                value = Value.from_frame(frame)
                if value.format != "string":
                    continue
                text = value.data.decode("utf-8", "replace")  # type: ignore[union-attr]
                if (gs1.index_gtin14(text) if types is _GTIN_TYPES else text) == key:
                    out.append(handle)
                    break
    return out


class DnsResponder:
    """Answers DNS messages for one zone from a registry (sans-IO: bytes in, bytes out).

    Args:
        registry: the node's :class:`~idnode.registry.service.Registry`
            (read-only use: ``snapshot()``, ``serves``).
        config: the zone.
        clock: seconds since 1970, for absolute value TTLs.
    """

    def __init__(self, registry: Any, config: ZoneConfig, clock: Callable[[], float] = time.time) -> None:
        self.registry = registry
        self.config = config
        self.clock = clock
        self.zone = names.zone_labels(config.zone)
        self.nameserver = names.text_to_labels(config.nameserver)
        self._hostmaster = (b"hostmaster", *self.zone)
        self._ns_rdata = dnsw.rdata_ns(self.nameserver)
        self._zone_wire = b"".join(bytes((len(label),)) + label for label in self.zone) + b"\x00"
        self._node_prefix = registry.node_prefix
        self._begin = registry.store.begin
        self._direct = _fastpath.answer_direct
        self._serial = self._last_sequence
        self.badvers = [0, 0]  # BADVERS answers over UDP, TCP (metrics: an extended rcode reads 0 in the header)
        # The direct path renders NXDOMAIN when the NS name is one label under the zone (the default).
        self._soa_direct = None
        if len(self.nameserver) == len(self.zone) + 1 and self.nameserver[1:] == self.zone:
            timers = struct.pack(">IIII", SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, config.negative_ttl)
            self._soa_direct = (self.nameserver[0], config.negative_ttl, timers)
        self._addresses: list[tuple[int, bytes]] = []
        for text in config.nameserver_addresses:
            address = ipaddress.ip_address(text)
            self._addresses.append((dnsw.A if address.version == 4 else dnsw.AAAA, address.packed))

    # -- the entry point ---------------------------------------------------------

    def respond(self, wire: bytes, tcp: bool = False) -> bytes | None:
        """The response to one DNS message, or None when nothing must be sent.

        Args:
            wire: a UDP datagram, or a TCP message without its length prefix.
            tcp: the message came over TCP (no size limit but 65535 bytes).

        Never raises for any input: a query the server cannot answer gets
        SERVFAIL (and a log line), malformed ones FORMERR or NOTIMP, and
        responses or fragments shorter than an id get nothing.
        """
        try:
            with self._begin("identifiers") as txn:  # one read transaction for both paths
                serial = functools.partial(self._serial, txn)
                reply = self._direct(wire, txn.get, self._zone_wire, self._node_prefix, tcp, serial, self._soa_direct)
                if reply is not None:  # the direct path: one bound get, nothing else
                    return reply
                return self._respond_full(Snapshot(self.registry, txn), wire, tcp)
        except Exception:  # the store itself failed: answer SERVFAIL when the query can be read
            log.exception("DNS query failed")
            return self._servfail(wire, tcp)

    def _respond_full(self, snap: Any, wire: bytes, tcp: bool) -> bytes | None:
        """The full path: every query, every answer (the definition the direct path matches)."""
        try:
            query = dnsw.parse_query(wire)
        except (dnsw.DnsFormatError, dnsw.DnsNotImplemented) as exc:
            return dnsw.build_error(exc)
        max_size = None if tcp else dnsw.max_udp_size(query)
        try:
            rcode, answers, authority, additional, aa = self._answer(snap, query)
            if rcode == dnsw.BADVERS:
                self.badvers[tcp] += 1
            return dnsw.build_response(query, rcode, answers, authority, additional, aa=aa, max_size=max_size)
        except _NeedsRecursion as pending:
            return Pending(wire, tcp, pending.prefix, pending.handle)  # type: ignore[return-value]
        except Exception:
            log.exception("DNS query %s type %d failed", names.labels_to_text(query.qname), query.qtype)
            return dnsw.build_response(query, dnsw.SERVFAIL, aa=False, max_size=max_size)

    @staticmethod
    def _servfail(wire: bytes, tcp: bool) -> bytes | None:
        return DnsResponder.refuse(wire, tcp, dnsw.SERVFAIL)

    @staticmethod
    def refuse(wire: bytes, tcp: bool = False, rcode: int = dnsw.REFUSED) -> bytes | None:
        """An answer of just ``rcode`` (REFUSED: a client over its rate limit) to the query in ``wire``,
        no larger than the query; a malformed message gets FORMERR or NOTIMP as in :meth:`respond`."""
        try:
            query = dnsw.parse_query(wire)
        except (dnsw.DnsFormatError, dnsw.DnsNotImplemented) as exc:
            return dnsw.build_error(exc)
        return dnsw.build_response(query, rcode, aa=False, max_size=None if tcp else dnsw.max_udp_size(query))

    # -- deciding the answer -------------------------------------------------------

    def _answer(self, snap: Any, query: dnsw.DnsQuery) -> tuple[int, list[Record], list[Record], list[Record], bool]:
        if query.edns is not None and query.edns.version != 0:
            return dnsw.BADVERS, [], [], [], False
        qtype = query.qtype
        if qtype in _META_TYPES:
            return dnsw.FORMERR, [], [], [], False
        if query.qclass not in (dnsw.CLASS_IN, dnsw.CLASS_ANY):
            return dnsw.REFUSED, [], [], [], False
        try:
            info = names.classify_name(query.qname_lower, self.zone)
        except names.OutsideZone:
            return dnsw.REFUSED, [], [], [], False
        except names.MalformedName:
            info = None
        if qtype in _TRANSFER_TYPES:
            return dnsw.REFUSED, [], [], [], False  # no zone transfers: the zone is the registry
        if info is None:
            exists = self._malformed_exists(snap, query.qname_lower)
            return self._negative(snap, exists)
        kind = info.kind
        if kind == names.HANDLE:
            return self._handle(snap, query, info.value)
        if kind == names.APEX:
            return self._apex(snap, query)
        if kind == names.GTIN:
            handles = _public_holders(snap, snap.find_gtin(info.value, limit=MAX_KEY_MATCHES), _GTIN_TYPES, info.value)
            return self._key_answer(snap, query, handles, exists_below=False)
        if kind == names.OID:
            handles = _public_holders(snap, snap.find_oid(info.value, limit=MAX_KEY_MATCHES), ("OID",), info.value)
            below = not handles and snap.oid_prefix_exists(info.value + ".")
            return self._key_answer(snap, query, handles, exists_below=below)
        return self._other(snap, query)

    def _negative(self, snap: Any, exists: bool) -> tuple[int, list, list, list, bool]:
        """NODATA (the name exists) or NXDOMAIN, with the SOA for negative caching."""
        return (dnsw.NOERROR if exists else dnsw.NXDOMAIN), [], [self._soa(snap, self.config.negative_ttl)], [], True

    def _last_sequence(self, txn: Any) -> int:
        return self.registry.store.last_sequence(txn) & 0xFFFFFFFF

    def _soa(self, snap: Any, ttl: int) -> Record:
        serial = snap.last_sequence() & 0xFFFFFFFF
        config = self.config
        rdata = dnsw.rdata_soa(
            self.nameserver, self._hostmaster, serial, SOA_REFRESH, SOA_RETRY, SOA_EXPIRE, config.negative_ttl
        )
        return (self.zone, dnsw.SOA, dnsw.CLASS_IN, ttl, rdata)

    def _rrset(self, query: dnsw.DnsQuery, rtype: int, ttl: int, rdatas) -> list[Record]:
        owner = query.qname
        return [(owner, rtype, dnsw.CLASS_IN, ttl, rdata) for rdata in rdatas]

    def _apex(self, snap: Any, query: dnsw.DnsQuery):
        qtype = query.qtype
        if qtype in (dnsw.SOA, dnsw.ANY):
            soa = self._soa(snap, SOA_TTL)
            return dnsw.NOERROR, [(query.qname, *soa[1:])], [], [], True
        if qtype == dnsw.NS:
            glue = self._glue()
            return dnsw.NOERROR, self._rrset(query, dnsw.NS, NS_TTL, [self._ns_rdata]), [], glue, True
        return self._negative(snap, True)

    def _glue(self) -> list[Record]:
        if not names_in_zone(self.nameserver, self.zone):
            return []
        return [(self.nameserver, rtype, dnsw.CLASS_IN, NS_TTL, packed) for rtype, packed in self._addresses]

    def _rrsets_answer(self, snap: Any, query: dnsw.DnsQuery, rrsets: _RRsets):
        qtype = query.qtype
        if qtype == dnsw.ANY:  # RFC 8482: one RRset
            qtype = dnsw.NAPTR if rrsets.naptr else dnsw.TXT
        if qtype == dnsw.NAPTR and rrsets.naptr:
            return dnsw.NOERROR, self._rrset(query, dnsw.NAPTR, rrsets.naptr_ttl, rrsets.naptr), [], [], True
        if qtype == dnsw.URI and rrsets.uri:
            return dnsw.NOERROR, self._rrset(query, dnsw.URI, rrsets.uri_ttl, rrsets.uri), [], [], True
        if qtype == dnsw.TXT and rrsets.txt:
            return dnsw.NOERROR, self._rrset(query, dnsw.TXT, rrsets.txt_ttl, rrsets.txt), [], [], True
        return self._negative(snap, True)

    async def respond_recursive(self, pending: Pending) -> bytes | None:
        """The response to a query :meth:`respond` left :class:`Pending`: resolve the
        handle through the recursor (``--top``), then answer it non-authoritatively.

        Failures: 100 from the owner or the top node is NXDOMAIN (AA clear),
        303 (recursion off) REFUSED, anything else (301, 6) SERVFAIL.
        """
        recursor = getattr(self.registry, "recursor", None)
        reply = None
        try:
            if recursor is not None:
                reply = await recursor.resolve(pending.prefix, pending.handle)
        except HandleError as exc:
            try:
                query = dnsw.parse_query(pending.wire)
            except (dnsw.DnsFormatError, dnsw.DnsNotImplemented) as bad:
                return dnsw.build_error(bad)
            max_size = None if pending.tcp else dnsw.max_udp_size(query)
            rcode = {100: dnsw.NXDOMAIN, 303: dnsw.REFUSED}.get(exc.code, dnsw.SERVFAIL)
            return dnsw.build_response(query, rcode, aa=False, max_size=max_size)
        except Exception:
            log.exception("recursive DNS resolution of %s failed", pending.handle)
            return self._servfail(pending.wire, pending.tcp)
        try:
            query = dnsw.parse_query(pending.wire)
        except (dnsw.DnsFormatError, dnsw.DnsNotImplemented) as bad:
            return dnsw.build_error(bad)
        max_size = None if pending.tcp else dnsw.max_udp_size(query)
        if reply is None:
            return dnsw.build_response(query, dnsw.REFUSED, aa=False, max_size=max_size)
        try:
            with self.registry.snapshot() as snap:
                rcode, answers, authority, additional, _ = self._recursed(snap, query, reply)
            return dnsw.build_response(query, rcode, answers, authority, additional, aa=False, max_size=max_size)
        except Exception:
            log.exception("DNS query %s type %d failed", names.labels_to_text(query.qname), query.qtype)
            return dnsw.build_response(query, dnsw.SERVFAIL, aa=False, max_size=max_size)

    def _recursed(self, snap: Any, query: dnsw.DnsQuery, reply: bytes):
        """The answer built from the owner's ResolveResponse bytes; AA clear."""
        from idnode.proto import resolver_pb2
        from idnode.resolver.recursion import SIGNATURE_FAILED

        message = resolver_pb2.ResolveResponse.FromString(reply)
        if message.signature in SIGNATURE_FAILED:  # like a DNSSEC-validating resolver's answer to bogus data
            return dnsw.SERVFAIL, [], [], [], False
        rrsets = values_rrsets([Value.from_pb(v) for v in message.values], self.clock())
        rcode, answers, authority, additional, _ = self._rrsets_answer(snap, query, rrsets)
        if rcode == dnsw.NOERROR and not answers:
            authority = []  # NODATA of another node's name: no SOA of this zone claims it
        return rcode, answers, authority, additional, False

    def _handle(self, snap: Any, query: dnsw.DnsQuery, handle: str):
        prefix, _, suffix = handle.partition("/")
        if not snap.serves(prefix):
            recursor = getattr(self.registry, "recursor", None)
            if recursor is None or not recursor.recursion:
                return dnsw.REFUSED, [], [], [], False  # no recursion (stand-alone or --no-recursion)
            try:
                reply = recursor.peek(handle)
            except HandleError as exc:
                return (dnsw.NXDOMAIN if exc.code == 100 else dnsw.SERVFAIL), [], [], [], False
            if reply is None:
                raise _NeedsRecursion(prefix, handle)
            return self._recursed(snap, query, reply)
        raw = snap.lookup(prefix, suffix)
        if raw is not None:
            try:
                rrsets = record_rrsets(raw, self.clock())
            except RecordError:
                log.exception("damaged record for %s", handle)
                return dnsw.SERVFAIL, [], [], [], False
            if rrsets is not None:
                return self._rrsets_answer(snap, query, rrsets)
        exists = self._handle_name_below(snap, query.qname_lower)
        return self._negative(snap, exists)

    def _key_answer(self, snap: Any, query: dnsw.DnsQuery, handles: list[str], exists_below: bool):
        """A GTIN or OID name: records pointing at the identifiers holding that key."""
        if not handles:
            return self._negative(snap, exists_below)
        base = self.config.resolve_url
        urls = []
        texts = []
        for handle in handles:
            url = base + urllib.parse.quote(handle, safe="/")
            urls.append(("HANDLE", url, self.config.negative_ttl))
            texts.append((handle, self.config.negative_ttl))
        return self._rrsets_answer(snap, query, _url_rrsets(urls, texts))

    # -- names that are no record's own: do any live names lie below them? --------

    def _other(self, snap: Any, query: dnsw.DnsQuery):
        labels = query.qname_lower
        inner = labels[: len(labels) - len(self.zone)]
        if labels == self.nameserver:
            wanted = [(t, p) for t, p in self._addresses if query.qtype in (t, dnsw.ANY)][
                : 1 if query.qtype == dnsw.ANY else None
            ]
            if wanted:
                return dnsw.NOERROR, [(query.qname, t, dnsw.CLASS_IN, NS_TTL, p) for t, p in wanted], [], [], True
            return self._negative(snap, True)
        top = inner[-1]
        if top == names.GTIN_LABEL:
            digits = b"".join(reversed(inner[:-1])).decode("ascii")  # classify_name checked: single digits, < 13
            return self._negative(snap, snap.gtin_prefix_exists(digits))
        if top == names.OID_LABEL:  # oid.<zone> alone
            return self._negative(snap, snap.oid_prefix_exists(""))
        if names.HANDLE_MARKER in inner:  # _h.<prefix>: identifiers with exactly that prefix
            prefix = b".".join(reversed(inner[1:])).decode("ascii")
            return self._negative(snap, snap.has_identifiers(prefix, subprefixes=False))
        if all(names.is_prefix_segment(label) for label in inner):
            prefix = b".".join(reversed(inner)).decode("ascii")
            return self._negative(snap, snap.has_identifiers(prefix, subprefixes=True))
        return self._negative(snap, False)

    def _handle_name_below(self, snap: Any, labels: tuple[bytes, ...]) -> bool:
        """True when a live identifier's name lies below this identifier-shaped name."""
        split = names.split_handle_name(labels, self.zone)
        if split is None:
            return False
        prefix, encoded = split
        return snap.has_suffix_encoding_below(prefix, encoded)

    def _malformed_exists(self, snap: Any, labels: tuple[bytes, ...]) -> bool:
        """A name ``classify_name`` refused may still be the ancestor of identifier names:
        a 63-character suffix piece is not always whole bytes on its own."""
        return self._handle_name_below(snap, labels)


def names_in_zone(labels: tuple[bytes, ...], zone: tuple[bytes, ...]) -> bool:
    return len(labels) > len(zone) and labels[len(labels) - len(zone) :] == zone
