"""Pure-Python sans-IO DNS codec: parse queries, build responses, frame TCP messages.

Bytes in, typed values out and back: no socket, clock, event loop or
dnspython in here (STYLE.md point 1). This twin is the specification a
compiled module will copy: same names, signatures, results, exception types
and messages (STYLE.md points 5 and 6). A server moves bytes and calls::

    try:
        query = parse_query(datagram)
    except (DnsFormatError, DnsNotImplemented) as exc:
        reply = build_error(exc)  # None: drop silently (a response, or no id to echo)
    else:
        reply = build_response(query, rcode, answers, authority, max_size=max_udp_size(query))

Names are tuples of labels (``bytes``, without length octets, the root being
``()``). Resource records are ``(owner labels, rtype, rclass, ttl, rdata)``
tuples with ``rdata`` in wire form, as the ``rdata_*`` encoders build it.

Policies (RFC 1035, 2181, 6891, 9619):

- A query has exactly one question, QR=0 and opcode QUERY; anything else in
  the answer and authority sections is checked for structure and skipped;
  the additional section may hold one OPT record (owner the root). TSIG and
  SIG(0) records are skipped, not verified.
- Compression pointers are refused in the question name (the only place
  before it is the header, so any pointer there is garbage or a loop). In
  the other sections a pointer must point back, after the header and before
  the name it ends; it is not followed (nothing there is used but OPT).
- Bytes after the last counted record are a format error (as dnspython's
  ``from_wire`` does by default).
- Responses advertise an EDNS payload of 1232 bytes and copy the DO bit.
  Truncation drops whole RRsets: an answer or authority RRset that does not
  fit sets TC and ends the message; additional RRsets that do not fit are
  left out without TC (RFC 2181 section 9). The OPT record always fits.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

__all__ = [
    "AAAA",
    "ANY",
    "AXFR",
    "BADVERS",
    "CLASS_ANY",
    "CLASS_CH",
    "CLASS_IN",
    "CNAME",
    "EDNS_PAYLOAD",
    "FLAG_AA",
    "FLAG_AD",
    "FLAG_CD",
    "FLAG_QR",
    "FLAG_RA",
    "FLAG_RD",
    "FLAG_TC",
    "FORMERR",
    "IXFR",
    "MAX_LABEL_OCTETS",
    "MAX_NAME_OCTETS",
    "MIN_UDP_PAYLOAD",
    "MX",
    "NAPTR",
    "NOERROR",
    "NOTIMP",
    "NS",
    "NXDOMAIN",
    "OPCODE_QUERY",
    "OPT",
    "PTR",
    "REFUSED",
    "SERVFAIL",
    "SOA",
    "TXT",
    "URI",
    "A",
    "DnsEncodeError",
    "DnsError",
    "DnsFormatError",
    "DnsNotAQuery",
    "DnsNotImplemented",
    "DnsQuery",
    "Edns",
    "TcpBuffer",
    "build_error",
    "build_response",
    "max_udp_size",
    "parse_query",
    "rdata_naptr",
    "rdata_ns",
    "rdata_soa",
    "rdata_txt",
    "rdata_uri",
    "tcp_frame",
]

# -- constants ----------------------------------------------------------------------

# Response codes (RFC 1035 4.1.1; BADVERS is an extended code, RFC 6891 9).
NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5
BADVERS = 16

# Record types.
A = 1
NS = 2
CNAME = 5
SOA = 6
PTR = 12
MX = 15
TXT = 16
AAAA = 28
NAPTR = 35
OPT = 41
IXFR = 251
AXFR = 252
ANY = 255
URI = 256

# Classes.
CLASS_IN = 1
CLASS_CH = 3
CLASS_ANY = 255

OPCODE_QUERY = 0

# Header flag bits (the second 16-bit word of the header).
FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080
FLAG_AD = 0x0020
FLAG_CD = 0x0010

EDNS_PAYLOAD = 1232  # advertised UDP payload (DNS flag day 2020)
MIN_UDP_PAYLOAD = 512  # RFC 1035; smaller EDNS sizes count as 512 (RFC 6891 6.2.5)
MAX_NAME_OCTETS = 255
MAX_LABEL_OCTETS = 63
MAX_MESSAGE = 65535  # a TCP length prefix is 16 bits

_OPCODE_MASK = 0x7800
_EDNS_DO = 0x8000
_POINTER_LIMIT = 0x4000  # compression pointers carry 14 bits of offset
_COMPRESSIBLE = frozenset((NS, CNAME, PTR, SOA, MX))  # RFC 3597 4: only the RFC 1035 types

_HEADER = struct.Struct(">HHHHHH")
_U16 = struct.Struct(">H")
_QTAIL = struct.Struct(">HH")
_RR_TAIL = struct.Struct(">HHIH")  # type, class, ttl, rdlength
_SOA_TAIL = struct.Struct(">IIIII")
_U16_U16 = struct.Struct(">HH")
_LENGTH_OCTET = [bytes((length,)) for length in range(MAX_LABEL_OCTETS + 1)]


# -- errors -------------------------------------------------------------------------


class DnsError(ValueError):
    """malformed DNS data"""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or (self.__doc__ or "").strip()
        super().__init__(self.message)


class DnsFormatError(DnsError):
    """malformed DNS message"""

    rcode = FORMERR

    def __init__(self, message: str | None = None, *, id: int | None = None, flags: int = 0) -> None:
        super().__init__(message)
        self.id = id  # the query id, None when the message was too short to hold one
        self.flags = flags  # the query's header flags word, 0 when unread


class DnsNotAQuery(DnsFormatError):
    """a DNS response (QR=1) where a query was expected; never answer it"""


class DnsNotImplemented(DnsError):
    """DNS opcode not implemented"""

    rcode = NOTIMP

    def __init__(self, message: str | None = None, *, id: int, flags: int) -> None:
        super().__init__(message)
        self.id = id
        self.flags = flags
        self.opcode = (flags & _OPCODE_MASK) >> 11


class DnsEncodeError(DnsError):
    """a value a DNS message cannot carry"""


# -- the parsed query ---------------------------------------------------------------


class Edns(NamedTuple):
    """The OPT record of a query (RFC 6891)."""

    payload: int  # the client's UDP payload size, as sent
    do: bool  # DNSSEC OK
    version: int  # EDNS version; only 0 exists (answer BADVERS otherwise)


class DnsQuery(NamedTuple):
    """A parsed query: the header fields, the one question and its EDNS options.

    ``qname`` keeps the labels as received (a response must echo them, case
    and all, for resolvers that randomise case); ``qname_lower`` is the same
    labels with ASCII folded to lower case, for matching. ``question_end`` is
    the byte offset just after the question.
    """

    id: int
    flags: int  # the header's second word as received
    opcode: int
    qname: tuple[bytes, ...]
    qname_lower: tuple[bytes, ...]
    qtype: int
    qclass: int
    edns: Edns | None
    question_end: int

    @property
    def rd(self) -> bool:
        """Recursion desired (copied into the response)."""
        return bool(self.flags & FLAG_RD)

    @property
    def cd(self) -> bool:
        """Checking disabled (copied into the response)."""
        return bool(self.flags & FLAG_CD)


# -- parsing ------------------------------------------------------------------------


def parse_query(wire: bytes) -> DnsQuery:
    """Parse one DNS query message (a UDP datagram, or a TCP message without its length).

    Args:
        wire: the message; ``bytearray`` and ``memoryview`` are copied to ``bytes``.

    Returns:
        The :class:`DnsQuery`. Its labels are new ``bytes`` objects.

    Raises:
        DnsNotAQuery: QR is set (a response; never answer it).
        DnsNotImplemented: the opcode is not QUERY (answer NOTIMP).
        DnsFormatError: shorter than a header, a question count other than 1,
            a truncated name, record or option, an unsupported label type, a
            compression pointer in the question, a name over 255 octets, an
            OPT record that is not owned by the root or appears twice, or
            bytes after the last record (answer FORMERR). ``id`` and
            ``flags`` carry the header's when it could be read.
        TypeError: ``wire`` is not a bytes-like object.
    """
    if not isinstance(wire, bytes):
        wire = memoryview(wire).tobytes()  # bytes-like objects only: bytes(12) would be a message of zeros
    size = len(wire)
    if size < _HEADER.size:
        raise DnsFormatError(
            f"message of {size} bytes is shorter than the 12-byte header",
            id=_U16.unpack_from(wire)[0] if size >= 2 else None,
            flags=_U16.unpack_from(wire, 2)[0] if size >= 4 else 0,
        )
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(wire)
    if flags & FLAG_QR:
        raise DnsNotAQuery(id=qid, flags=flags)
    opcode = (flags & _OPCODE_MASK) >> 11
    if opcode != OPCODE_QUERY:
        raise DnsNotImplemented(f"opcode {opcode} is not implemented", id=qid, flags=flags)
    if qdcount != 1:
        raise DnsFormatError(f"{qdcount} questions, expected 1", id=qid, flags=flags)

    labels = []
    pos = _HEADER.size
    octets = 1
    while True:
        if pos >= size:
            raise DnsFormatError(f"message truncated in the question name at offset {pos}", id=qid, flags=flags)
        length = wire[pos]
        if length == 0:
            pos += 1
            break
        if length > MAX_LABEL_OCTETS:
            if length >= 0xC0:
                raise DnsFormatError(f"compression pointer in the question name at offset {pos}", id=qid, flags=flags)
            raise DnsFormatError(f"unsupported label type 0x{length & 0xC0:02x} at offset {pos}", id=qid, flags=flags)
        end = pos + 1 + length
        if end > size:
            raise DnsFormatError(f"message truncated in the question name at offset {pos}", id=qid, flags=flags)
        octets += length + 1
        if octets > MAX_NAME_OCTETS:
            raise DnsFormatError("question name longer than 255 octets", id=qid, flags=flags)
        labels.append(wire[pos + 1 : end])
        pos = end
    if pos + 4 > size:
        raise DnsFormatError(f"message truncated in the question type and class at offset {pos}", id=qid, flags=flags)
    qtype, qclass = _QTAIL.unpack_from(wire, pos)
    pos += 4
    question_end = pos

    edns = None
    for index in range(ancount + nscount + arcount):
        start = pos
        pos = _skip_name(wire, pos, qid, flags)
        if pos + 10 > size:
            raise DnsFormatError(f"message truncated in a record at offset {pos}", id=qid, flags=flags)
        rtype, rclass, ttl, rdlength = _RR_TAIL.unpack_from(wire, pos)
        pos += 10
        rdata_end = pos + rdlength
        if rdata_end > size:
            raise DnsFormatError(f"message truncated in record data at offset {pos}", id=qid, flags=flags)
        if rtype == OPT:
            if index < ancount + nscount:
                raise DnsFormatError(
                    f"OPT record outside the additional section at offset {start}", id=qid, flags=flags
                )
            if edns is not None:
                raise DnsFormatError(f"second OPT record at offset {start}", id=qid, flags=flags)
            if pos - 10 - start != 1:
                raise DnsFormatError(f"OPT record not owned by the root at offset {start}", id=qid, flags=flags)
            option = pos
            while option < rdata_end:
                if option + 4 > rdata_end or option + 4 + _U16.unpack_from(wire, option + 2)[0] > rdata_end:
                    raise DnsFormatError(f"EDNS option truncated at offset {option}", id=qid, flags=flags)
                option += 4 + _U16.unpack_from(wire, option + 2)[0]
            edns = Edns(rclass, bool(ttl & _EDNS_DO), (ttl >> 16) & 0xFF)
        pos = rdata_end
    if pos != size:
        raise DnsFormatError(f"{size - pos} bytes after the last record", id=qid, flags=flags)
    return DnsQuery(
        qid,
        flags,
        opcode,
        tuple(labels),
        tuple([label.lower() for label in labels]),
        qtype,
        qclass,
        edns,
        question_end,
    )


def _skip_name(wire: bytes, pos: int, qid: int, flags: int) -> int:
    """The offset after a (possibly compressed) name.

    A pointer must point back, between the header and the start of this
    name (so it cannot loop back to itself); it is not followed, as nothing
    outside the question is used.
    """
    size = len(wire)
    start = pos
    octets = 1
    while True:
        if pos >= size:
            raise DnsFormatError(f"message truncated in a name at offset {pos}", id=qid, flags=flags)
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length > MAX_LABEL_OCTETS:
            if length >= 0xC0:
                if pos + 2 > size:
                    raise DnsFormatError(f"message truncated in a name at offset {pos}", id=qid, flags=flags)
                target = _U16.unpack_from(wire, pos)[0] & 0x3FFF
                if not _HEADER.size <= target < start:
                    raise DnsFormatError(
                        f"compression pointer at offset {pos} to offset {target}, not back into the message",
                        id=qid,
                        flags=flags,
                    )
                return pos + 2
            raise DnsFormatError(f"unsupported label type 0x{length & 0xC0:02x} at offset {pos}", id=qid, flags=flags)
        octets += length + 1
        if octets > MAX_NAME_OCTETS:
            raise DnsFormatError(f"name longer than 255 octets at offset {pos}", id=qid, flags=flags)
        pos += 1 + length


def max_udp_size(query: DnsQuery) -> int:
    """The largest UDP response ``query`` may get.

    Returns:
        512 without EDNS; with EDNS the client's payload size, at least 512
        and at most :data:`EDNS_PAYLOAD` (1232).
    """
    if query.edns is None:
        return MIN_UDP_PAYLOAD
    return min(max(query.edns.payload, MIN_UDP_PAYLOAD), EDNS_PAYLOAD)


# -- building -----------------------------------------------------------------------


def build_error(exc: DnsFormatError | DnsNotImplemented) -> bytes | None:
    """A header-only response for a query :func:`parse_query` refused.

    Args:
        exc: the error :func:`parse_query` (or :class:`TcpBuffer`) raised.

    Returns:
        Twelve bytes: the query's id, opcode, RD and CD, QR set and the
        error's ``rcode`` (FORMERR or NOTIMP), no sections. ``None`` when
        nothing must be sent: the message was a response (QR=1), or too
        short to carry an id.
    """
    if isinstance(exc, DnsNotAQuery) or exc.id is None:
        return None
    flags = FLAG_QR | (exc.flags & (_OPCODE_MASK | FLAG_RD | FLAG_CD)) | exc.rcode
    return _HEADER.pack(exc.id, flags, 0, 0, 0, 0)


def build_response(
    query: DnsQuery,
    rcode: int,
    answers=(),
    authority=(),
    additional=(),
    *,
    aa: bool = True,
    max_size: int | None = None,
) -> bytes:
    """The response to ``query``.

    The header copies the id, RD and CD, sets QR (and AA when ``aa``), never
    RA; the question is echoed as received. Owner names, and the names inside
    NS, CNAME, PTR, MX and SOA data, are compressed (matching ignores ASCII
    case, so a compressed name takes the case of its first occurrence); names
    inside NAPTR and URI data are not (RFC 3597 section 4). When the query had
    EDNS an OPT record advertising 1232 bytes closes the message, with the DO
    bit copied and the upper bits of an extended ``rcode``.

    Args:
        query: what :func:`parse_query` returned.
        rcode: 0-15, or up to 4095 when the query had EDNS (e.g. BADVERS).
        answers, authority, additional: ``(owner labels, rtype, rclass, ttl,
            rdata)`` tuples; consecutive records with the same owner labels,
            type and class form one RRset, kept or dropped whole.
        aa: set the Authoritative Answer bit.
        max_size: the largest message allowed, :func:`max_udp_size` over UDP;
            values below 512 count as 512; ``None`` (TCP) allows 65535. When
            the records do not fit, whole RRsets are dropped: in the answer
            or authority section that sets TC and ends the message, in the
            additional section it does not (RFC 2181 section 9).

    Returns:
        The message; never longer than ``max_size``.

    Raises:
        DnsEncodeError: an rcode out of range (or extended without EDNS), a
            label empty or over 63 octets, a name over 255 octets, a TTL
            outside 0..2**31-1, a type or class outside 16 bits, record data
            over 65535 bytes, or NS/CNAME/PTR/MX/SOA data that is not one
            uncompressed name where one belongs.
    """
    if not isinstance(rcode, int) or not 0 <= rcode <= 0xFFF:
        raise DnsEncodeError(f"rcode {rcode!r} is outside 0..4095")
    if rcode > 0xF and query.edns is None:
        raise DnsEncodeError(f"extended rcode {rcode} needs a query with EDNS")
    limit = MAX_MESSAGE if max_size is None else min(max(max_size, MIN_UDP_PAYLOAD), MAX_MESSAGE)
    buf = bytearray(_HEADER.size)
    compress: dict[bytes, int] = {}
    _put_name(buf, query.qname, compress, [])
    buf += _QTAIL.pack(query.qtype, query.qclass)
    opt = b""
    if query.edns is not None:
        ttl = (rcode >> 4) << 24 | (_EDNS_DO if query.edns.do else 0)
        opt = b"\x00" + _RR_TAIL.pack(OPT, EDNS_PAYLOAD, ttl, 0)
    room = limit - len(opt)  # the question always fits: at most 12 + 255 + 4 + 11 < 512
    counts = [0, 0, 0]
    truncated = False
    for section, records in enumerate((answers, authority, additional)):
        counts[section], fitted = _put_records(buf, records, compress, room)
        if not fitted:
            truncated = section < 2
            break
    buf += opt
    flags = FLAG_QR | (query.opcode << 11) | (query.flags & (FLAG_RD | FLAG_CD)) | (rcode & 0xF)
    if aa:
        flags |= FLAG_AA
    if truncated:
        flags |= FLAG_TC
    _HEADER.pack_into(buf, 0, query.id, flags, 1, counts[0], counts[1], counts[2] + (1 if opt else 0))
    return bytes(buf)


def _put_records(buf: bytearray, records, compress: dict[bytes, int], room: int) -> tuple[int, bool]:
    """Append whole RRsets while they fit in ``room``; return (records written, all fitted)."""
    written = 0
    rrset_start = len(buf)
    rrset_count = 0
    rrset_key = None
    added: list[bytes] = []  # compression entries made by the current RRset
    for record in records:
        owner, rtype, rclass, ttl, rdata = record
        key = (tuple(owner), rtype, rclass)
        if key != rrset_key:
            written += rrset_count
            rrset_key, rrset_start, rrset_count = key, len(buf), 0
            added = []
        _put_record(buf, owner, rtype, rclass, ttl, rdata, compress, added)
        rrset_count += 1
        if len(buf) > room:
            del buf[rrset_start:]
            for entry in added:
                del compress[entry]
            return written, False
    return written + rrset_count, True


def _put_record(buf, owner, rtype, rclass, ttl, rdata, compress, added) -> None:
    if not isinstance(rtype, int) or not 0 <= rtype <= 0xFFFF:
        raise DnsEncodeError(f"record type {rtype!r} is outside 0..65535")
    if not isinstance(rclass, int) or not 0 <= rclass <= 0xFFFF:
        raise DnsEncodeError(f"record class {rclass!r} is outside 0..65535")
    if not isinstance(ttl, int) or not 0 <= ttl <= 0x7FFFFFFF:
        raise DnsEncodeError(f"TTL {ttl!r} is outside 0..2147483647")
    if not isinstance(rdata, bytes | bytearray):
        raise DnsEncodeError(f"record data must be bytes, not {type(rdata).__name__}")
    _put_name(buf, owner, compress, added)
    head = len(buf)
    buf += _RR_TAIL.pack(rtype, rclass, ttl, 0)
    if rtype in _COMPRESSIBLE:
        _put_compressed_rdata(buf, rtype, rdata, compress, added)
    else:
        buf += rdata
    rdlength = len(buf) - head - 10
    if rdlength > 0xFFFF:
        raise DnsEncodeError(f"record data of {rdlength} bytes, at most 65535")
    _U16.pack_into(buf, head + 8, rdlength)


def _put_compressed_rdata(buf, rtype, rdata, compress, added) -> None:
    """Re-emit the uncompressed name(s) of NS/CNAME/PTR/MX/SOA data with compression."""
    pos = 0
    if rtype == MX:
        if len(rdata) < 2:
            raise DnsEncodeError("MX data shorter than its preference")
        buf += rdata[:2]
        pos = 2
    labels, pos = _read_name(rdata, pos, rtype)
    _put_name(buf, labels, compress, added)
    if rtype == SOA:
        labels, pos = _read_name(rdata, pos, rtype)
        _put_name(buf, labels, compress, added)
        if len(rdata) - pos != _SOA_TAIL.size:
            raise DnsEncodeError("SOA data must end in five 32-bit numbers")
        buf += rdata[pos:]
    elif pos != len(rdata):
        raise DnsEncodeError(f"{len(rdata) - pos} bytes after the name in type {rtype} data")


def _read_name(rdata: bytes, pos: int, rtype: int) -> tuple[list[bytes], int]:
    labels = []
    while True:
        if pos >= len(rdata):
            raise DnsEncodeError(f"type {rtype} data ends inside a name")
        length = rdata[pos]
        if length == 0:
            return labels, pos + 1
        if length > MAX_LABEL_OCTETS:
            raise DnsEncodeError(f"type {rtype} data holds a compressed or unsupported label at offset {pos}")
        labels.append(bytes(rdata[pos + 1 : pos + 1 + length]))
        pos += 1 + length


def _put_name(buf: bytearray, labels, compress: dict[bytes, int], added: list[bytes]) -> None:
    """Append ``labels`` as a name, pointing at an earlier occurrence of its longest known suffix.

    ``compress`` maps the lower-cased wire form of each name suffix written so
    far (length octets are below 64, so lowering leaves them alone) to its
    offset; ``added`` collects the keys this call adds, for a rollback.
    """
    encoded = _encode_name(labels)
    lowered = encoded.lower()
    offset = 0
    for label in labels:
        suffix = lowered[offset:]
        target = compress.get(suffix)
        if target is not None:
            buf += encoded[:offset]
            buf += _U16.pack(0xC000 | target)
            return
        here = len(buf) + offset
        if here < _POINTER_LIMIT:
            compress[suffix] = here
            added.append(suffix)
        offset += len(label) + 1
    buf += encoded


def _encode_name(labels) -> bytes:
    """The uncompressed wire form of ``labels``, checked."""
    parts = []
    octets = 1
    for label in labels:
        if not isinstance(label, bytes | bytearray):
            raise DnsEncodeError(f"a label must be bytes, not {type(label).__name__}")
        length = len(label)
        if not 0 < length <= MAX_LABEL_OCTETS:
            raise DnsEncodeError(f"label of {length} octets, expected 1..63")
        octets += length + 1
        parts.append(_LENGTH_OCTET[length])
        parts.append(label)
    if octets > MAX_NAME_OCTETS:
        raise DnsEncodeError(f"name of {octets} octets, at most 255")
    parts.append(b"\x00")
    return b"".join(parts)


# -- record data --------------------------------------------------------------------


def _u16(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= 0xFFFF:
        raise DnsEncodeError(f"{what} {value!r} is outside 0..65535")
    return value


def _u32(value: int, what: str) -> int:
    if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise DnsEncodeError(f"{what} {value!r} is outside 0..4294967295")
    return value


def _text_bytes(value: bytes | str, what: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    raise DnsEncodeError(f"{what} must be bytes or str, not {type(value).__name__}")


def _character_string(value: bytes | str, what: str) -> bytes:
    raw = _text_bytes(value, what)
    if len(raw) > 255:
        raise DnsEncodeError(f"{what} of {len(raw)} bytes, at most 255")
    return bytes((len(raw),)) + raw


def rdata_naptr(
    order: int,
    preference: int,
    flags: bytes | str,
    service: bytes | str,
    regexp: bytes | str,
    replacement: tuple[bytes, ...] = (),
) -> bytes:
    """NAPTR record data (RFC 3403 section 4.1).

    Args:
        order, preference: 0..65535.
        flags, service, regexp: character-strings of at most 255 bytes
            (``str`` is encoded as UTF-8), e.g. ``"U"``, ``"E2U+URL"``,
            ``"!^.*$!https://example.com/!"``.
        replacement: name labels; ``()`` (the root) when a regexp is given.

    Returns:
        The data; the replacement name is never compressed.

    Raises:
        DnsEncodeError: a number out of range, a string over 255 bytes, a bad name.
    """
    return b"".join(
        (
            _U16_U16.pack(_u16(order, "NAPTR order"), _u16(preference, "NAPTR preference")),
            _character_string(flags, "NAPTR flags"),
            _character_string(service, "NAPTR service"),
            _character_string(regexp, "NAPTR regexp"),
            _encode_name(replacement),
        )
    )


def rdata_uri(priority: int, weight: int, target: bytes | str) -> bytes:
    """URI record data (RFC 7553 section 4.5): priority, weight, then the URI to the end.

    Args:
        priority, weight: 0..65535.
        target: the URI, not empty (``str`` is encoded as UTF-8).

    Returns:
        The data.

    Raises:
        DnsEncodeError: a number out of range, an empty target, data over 65535 bytes.
    """
    raw = _text_bytes(target, "URI target")
    if not raw:
        raise DnsEncodeError("URI target is empty")
    if len(raw) > 0xFFFF - 4:
        raise DnsEncodeError(f"URI target of {len(raw)} bytes, at most 65531")
    return _U16_U16.pack(_u16(priority, "URI priority"), _u16(weight, "URI weight")) + raw


def rdata_txt(text: bytes | str) -> bytes:
    """TXT record data: ``text`` split into character-strings of at most 255 bytes.

    Args:
        text: any bytes (``str`` is encoded as UTF-8); empty gives one empty string.

    Returns:
        The data; a reader joins the strings to get ``text`` back.

    Raises:
        DnsEncodeError: data over 65535 bytes.
    """
    raw = _text_bytes(text, "TXT text")
    parts = []
    for start in range(0, len(raw), 255):
        chunk = raw[start : start + 255]
        parts.append(bytes((len(chunk),)))
        parts.append(chunk)
    data = b"".join(parts) if parts else b"\x00"
    if len(data) > 0xFFFF:
        raise DnsEncodeError(f"TXT data of {len(data)} bytes, at most 65535")
    return data


def rdata_soa(
    mname: tuple[bytes, ...],
    rname: tuple[bytes, ...],
    serial: int,
    refresh: int,
    retry: int,
    expire: int,
    minimum: int,
) -> bytes:
    """SOA record data (RFC 1035 section 3.3.13), names uncompressed (the builder compresses them).

    Args:
        mname: the primary server's name labels.
        rname: the mailbox as name labels (``hostmaster.id.local.``).
        serial, refresh, retry, expire, minimum: 0..2**32-1; ``minimum`` is
            the negative-answer TTL (RFC 2308).

    Returns:
        The data.

    Raises:
        DnsEncodeError: a number out of range, a bad name.
    """
    return (
        _encode_name(mname)
        + _encode_name(rname)
        + _SOA_TAIL.pack(
            _u32(serial, "SOA serial"),
            _u32(refresh, "SOA refresh"),
            _u32(retry, "SOA retry"),
            _u32(expire, "SOA expire"),
            _u32(minimum, "SOA minimum"),
        )
    )


def rdata_ns(name: tuple[bytes, ...]) -> bytes:
    """NS record data: the server's name, uncompressed (the builder compresses it).

    Raises:
        DnsEncodeError: a label empty or over 63 octets, a name over 255.
    """
    return _encode_name(name)


# -- TCP framing --------------------------------------------------------------------


def tcp_frame(message: bytes) -> bytes:
    """``message`` behind its 2-byte big-endian length (RFC 1035 4.2.2, RFC 7766).

    Raises:
        DnsEncodeError: a message over 65535 bytes.
    """
    if len(message) > MAX_MESSAGE:
        raise DnsEncodeError(f"message of {len(message)} bytes, at most 65535 over TCP")
    return _U16.pack(len(message)) + message


class TcpBuffer:
    """Split a TCP byte stream into DNS messages.

    ``feed`` whatever the connection read; it returns the messages completed
    so far. Between calls at most one partial message is kept, so the buffer
    never holds more than ``max_message + 1`` bytes. After an error the
    stream cannot be resynchronised: every later ``feed`` raises the same
    error, and the caller should close the connection.
    """

    __slots__ = ("_buf", "_error", "_max")

    def __init__(self, max_message: int = MAX_MESSAGE) -> None:
        """Args:
        max_message: the longest message accepted, 1..65535 (queries are
            small; a server may lower it).
        """
        if not 0 < max_message <= MAX_MESSAGE:
            raise DnsEncodeError(f"max_message {max_message} is outside 1..65535")
        self._buf = bytearray()
        self._max = max_message
        self._error: DnsFormatError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not complete a message yet."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes]:
        """Add received bytes.

        Args:
            data: the next bytes of the stream (any length, empty included).

        Returns:
            The complete messages, in order, without their length prefix.

        Raises:
            DnsFormatError: a length prefix of 0 or over ``max_message``.
        """
        if self._error is not None:
            raise self._error
        buf = self._buf
        buf += data
        out = []
        pos = 0
        size = len(buf)
        while size - pos >= 2:
            length = buf[pos] << 8 | buf[pos + 1]
            if length == 0 or length > self._max:
                what = "a zero-length message" if length == 0 else f"a message of {length} bytes"
                self._error = DnsFormatError(f"{what} on TCP (at most {self._max})")
                del buf[:]
                raise self._error
            end = pos + 2 + length
            if end > size:
                break
            out.append(bytes(buf[pos + 2 : end]))
            pos = end
        if pos:
            del buf[:pos]
        return out
