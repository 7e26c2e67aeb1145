"""Pure-Python direct DNS answer of the common case: a NAPTR or URI query for a live local identifier.

``answer_direct`` turns one query datagram into the response bytes in one
pass over the wire, the key and the stored record, without the parsed-query
objects, name classification and per-value objects of the full path
(``resolver/dns/answer.py``). It returns ``None`` for everything else
(another type or class, any name but an identifier name, a prefix this node
does not serve, an unknown or deleted identifier, no value to show, EDNS
other than version 0 with well-formed options, a reply over the size limit,
anything unusual in the query), which the caller answers through the full
path — the full path stays the definition of every answer, and for every
query this function answers the full path gives the same bytes (the tests
check it). This twin is the specification of the compiled module.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from idnode._fastpath._common import FLAG_TOMBSTONE, MAX_KEY_BYTES, PERM_PUBLIC_READ, RecordError
from idnode._fastpath._identifiers_py import handle_key, parse_handle
from idnode._fastpath._record_py import _read_varint as _varint
from idnode._fastpath._record_py import decode_header, iter_frames
from idnode.registry.errors import InvalidHandle

__all__ = ["answer_direct"]

_NAPTR = 35
_URI = 256
_OPT = 41
_CLASS_IN = 1
_EDNS_PAYLOAD = 1232
_FLAG_QR = 0x8000
_FLAG_AA = 0x0400
_FLAG_RD_CD = 0x0110
_DEFAULT_TTL = 86400
_MAX_TTL = 2**31 - 1
_HEADER = struct.Struct(">HHHHHH")
_RR = struct.Struct(">HHHIH")  # pointer, type, class, ttl, rdlength
_NAPTR_HEAD = b"\x00\x64\x00\x0a\x01U"  # order 100, preference 10, flags "U"
_URI_HEAD = b"\x00\x0a\x00\x01"  # priority 10, weight 1
_B32 = b"0123456789abcdefghijklmnopqrstuv"
_OUT = 4096  # larger answers take the full path (the compiled twin writes into a buffer of this size)
_MAX_RECORDS = 128
_SEGMENT = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789-_")
_VALID_TAIL = (0, 2, 4, 5, 7)


def _url_value(frame: bytes) -> tuple[bytes, bytes, int] | None:
    """``(type, url, ttl)`` of a string-format URL-typed value with a relative TTL; None otherwise.

    Raises:
        RecordError: a malformed frame, a non-ASCII URL or an absolute TTL
            (the caller defers the whole query).
    """
    vtype = data = b""
    fmt = 0
    ttl = _DEFAULT_TTL
    pos = 0
    size = len(frame)
    while pos < size:
        tag, pos = _varint(frame, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            number, pos = _varint(frame, pos)
            if field == 3:
                fmt = number
            elif field == 7:
                ttl = number
            elif field == 8 and number:
                raise RecordError("absolute TTL")
        elif wire == 2:
            length, pos = _varint(frame, pos)
            if pos + length > size:
                raise RecordError("truncated field")
            if field == 2:
                vtype = frame[pos : pos + length]
            elif field == 4:
                data = frame[pos : pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise RecordError("bad wire type")
    if pos != size:
        raise RecordError("truncated frame")
    if fmt not in (0, 1) or not (vtype == b"URL" or vtype.startswith(b"URL.")):
        return None
    if not data.isascii():
        raise RecordError("non-ASCII URL")
    return vtype, data, min(ttl, _MAX_TTL)


def _opt(do_bit: bool) -> bytes:
    """The OPT record closing every EDNS answer: payload 1232, the DO bit copied."""
    return b"\x00" + struct.pack(">HHIH", _OPT, _EDNS_PAYLOAD, 0x8000 if do_bit else 0, 0)


def answer_direct(
    wire: bytes,
    get: Callable[[bytes], bytes | None],
    zone: bytes,
    node_prefix: str,
    tcp: bool = False,
    serial: Callable[[], int] | None = None,
    soa: tuple[bytes, int, bytes] | None = None,
) -> bytes | None:
    """The response to a NAPTR or URI query for an identifier of this node, or None to defer.

    Answers a live identifier's URL values, and NXDOMAIN for an unknown or
    deleted identifier whose name can have no names below it (its leftmost
    label is shorter than 63 characters) when ``serial`` and ``soa`` are given.

    Args:
        wire: the query message (a datagram, or a TCP message without its length).
        get: the LMDB lookup of one read transaction (key -> record or None).
        zone: the zone apex in wire form, lower case (``b"\\x02id\\x05local\\x00"``).
        node_prefix: the prefix this node serves (it and the prefixes under it).
        tcp: the message came over TCP (65535-byte limit instead of the UDP payload size).
        serial: the SOA serial of a negative answer (called only for one).
        soa: ``(nameserver label, negative TTL, refresh/retry/expire/minimum as
            16 bytes)`` for the SOA of a negative answer; its name server is
            ``<label>.<zone>`` and its mailbox ``hostmaster.<zone>``.
    """
    if type(wire) is not bytes:
        return None
    size = len(wire)
    if size < 12:
        return None
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if flags & 0xF800 or qdcount != 1 or ancount or nscount or arcount > 1:  # QR, opcode
        return None
    # The question name: plain labels, lowered as we go.
    labels = []
    pos = 12
    while True:
        if pos >= size:
            return None
        length = wire[pos]
        if length == 0:
            pos += 1
            break
        if length > 63 or pos + 1 + length > size:
            return None
        labels.append(wire[pos + 1 : pos + 1 + length].lower())
        pos += 1 + length
    if pos - 12 > 255 or pos + 4 > size:
        return None
    qtype = wire[pos] << 8 | wire[pos + 1]
    qclass = wire[pos + 2] << 8 | wire[pos + 3]
    if (qtype != _NAPTR and qtype != _URI) or qclass != _CLASS_IN:
        return None
    question_end = pos + 4
    pos = question_end
    # The one optional record: an OPT of EDNS version 0 with well-formed options.
    edns = False
    do_bit = False
    limit = 512
    if arcount:
        if pos + 11 > size or wire[pos] != 0:
            return None
        rtype, payload, ext, rdlength = struct.unpack_from(">HHIH", wire, pos + 1)
        if rtype != _OPT or ext & 0x00FF0000:  # version 0 only
            return None
        pos += 11
        end = pos + rdlength
        if end > size:
            return None
        while pos < end:
            if pos + 4 > end:
                return None
            pos += 4 + (wire[pos + 2] << 8 | wire[pos + 3])
        if pos != end:
            return None
        edns = True
        do_bit = bool(ext & 0x8000)
        limit = min(max(payload, 512), _EDNS_PAYLOAD)
    if pos != size:
        return None
    if tcp:
        limit = 65535
    # Zone, marker, prefix labels, suffix pieces.
    name = b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"
    if not name.endswith(zone):
        return None
    inner_size = len(name) - len(zone)
    count = 0
    at = 0
    while at < inner_size:  # count the labels before the zone
        at += 1 + name[at]
        count += 1
    if at != inner_size:
        return None
    inner = labels[:count]
    if b"_h" not in inner:
        return None
    marker = inner.index(b"_h")
    pieces, prefix_part = inner[:marker], inner[marker + 1 :]
    if not pieces or not prefix_part or prefix_part[-1] in (b"gtin", b"oid"):
        return None
    for label in prefix_part:
        if label == b"_h" or not all(byte in _SEGMENT for byte in label):
            return None
    for piece in pieces[1:]:
        if len(piece) != 63:
            return None
    encoded = b"".join(reversed(pieces))
    if len(encoded) % 8 not in _VALID_TAIL:
        return None
    value = 0
    for byte in encoded:
        digit = _B32.find(bytes((byte,)))
        if digit < 0:
            return None
        value = value << 5 | digit
    whole, spare = divmod(5 * len(encoded), 8)
    if value & ((1 << spare) - 1):
        return None
    raw = (value >> spare).to_bytes(whole, "big")
    if not raw.isascii():  # non-ASCII suffixes (NFC checks) take the full path
        return None
    prefix = b".".join(reversed(prefix_part)).decode("ascii")
    suffix = raw.decode("ascii")
    try:
        if parse_handle(prefix + "/" + suffix) != (prefix, suffix):
            return None
    except InvalidHandle:
        return None
    if prefix != node_prefix and not prefix.startswith(node_prefix + "."):
        return None
    key = handle_key(prefix, suffix)
    if len(key) == MAX_KEY_BYTES:
        return None
    record = get(key)
    if record is not None and (len(record) < 19 or record[0] != 1):
        return None  # not a record this version reads: the full path reports it
    if record is None or record[1] & FLAG_TOMBSTONE:
        if serial is None or soa is None or len(pieces[0]) == 63 or len(zone) == 1:
            return None  # a 63-character leftmost label may have names below it: the full path checks
        if prefix_part[-1] in (soa[0], b"hostmaster"):
            return None  # the question would hold the SOA's names: the full path compresses them
        zone_at = 12 + len(name) - len(zone)
        return _nxdomain(wire, qid, flags, question_end, zone_at, edns, do_bit, limit, serial(), soa)
    # The record's public URL values.
    rdatas = []
    ttl = _MAX_TTL
    try:
        head = decode_header(record)
        for perms, _index, frame in iter_frames(record, head[5]):
            if not perms & PERM_PUBLIC_READ:
                continue
            found = _url_value(frame)
            if found is None:
                continue
            vtype, url, value_ttl = found
            if qtype == _NAPTR:
                regexp = b"!^.*$!" + url.replace(b"\\", b"\\\\").replace(b"!", b"\\!") + b"!"
                if len(vtype) > 255 or len(regexp) > 255:
                    continue
                rdata = _NAPTR_HEAD + bytes((len(vtype),)) + vtype + bytes((len(regexp),)) + regexp + b"\x00"
            else:
                if not url:
                    continue
                rdata = _URI_HEAD + url
            rdatas.append(rdata)
            ttl = min(ttl, value_ttl)
    except RecordError:
        return None
    if not rdatas or len(rdatas) > _MAX_RECORDS:
        return None
    out = [
        _HEADER.pack(qid, _FLAG_QR | _FLAG_AA | (flags & _FLAG_RD_CD), 1, len(rdatas), 0, 1 if edns else 0),
        wire[12:question_end],
    ]
    for rdata in rdatas:
        if len(rdata) > 0xFFFF:
            return None
        out.append(_RR.pack(0xC00C, qtype, _CLASS_IN, ttl, len(rdata)))
        out.append(rdata)
    if edns:
        out.append(_opt(do_bit))
    reply = b"".join(out)
    if len(reply) > limit or len(reply) > _OUT:
        return None
    return reply


def _nxdomain(
    wire: bytes,
    qid: int,
    flags: int,
    question_end: int,
    zone_at: int,
    edns: bool,
    do_bit: bool,
    limit: int,
    serial: int,
    soa: tuple[bytes, int, bytes],
) -> bytes | None:
    """NXDOMAIN with the zone's SOA (names compressed against the question) in the authority section."""
    ns_label, negative_ttl, timers = soa
    pointer = struct.pack(">H", 0xC000 | zone_at)
    rdata = (
        bytes((len(ns_label),)) + ns_label + pointer + b"\x0ahostmaster" + pointer + struct.pack(">I", serial) + timers
    )
    out = [
        _HEADER.pack(qid, _FLAG_QR | _FLAG_AA | (flags & _FLAG_RD_CD) | 3, 1, 0, 1, 1 if edns else 0),
        wire[12:question_end],
        pointer + struct.pack(">HHIH", 6, _CLASS_IN, negative_ttl, len(rdata)),
        rdata,
    ]
    if edns:
        out.append(_opt(do_bit))
    reply = b"".join(out)
    return None if len(reply) > limit else reply
