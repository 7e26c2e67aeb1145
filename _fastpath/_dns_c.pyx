# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True
"""Compiled sans-IO DNS codec: the twin of ``_dns_py.py``.

``_dns_py.py`` is the specification (policies, results, exception types and
messages); the constants, the errors and the result types (:class:`DnsQuery`,
:class:`Edns`) are the twin's own objects, re-exported, so ``except
DnsFormatError`` catches the errors of either module. Queries are read in place
(``bytes`` directly, ``bytearray`` and one-dimensional ``"B"`` memoryviews
through the buffer protocol) and responses are written into one growing C
buffer, with a hash table of name suffixes for compression. Arguments of
the exact types the functions are for are handled in C, failures included;
any other argument (other types, subclasses, text that cannot be encoded)
is handed to the twin, so unusual input fails (or succeeds) exactly as the
specification says.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport Py_DECREF, Py_INCREF, PyObject
from cpython.tuple cimport PyTuple_GET_SIZE, PyTuple_New, PyTuple_SET_ITEM
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset

from idnode._fastpath import _dns_py as _py
from idnode._fastpath._dns_py import (  # the constants, errors and result types: the twin's own objects
    A,
    AAAA,
    ANY,
    AXFR,
    BADVERS,
    CLASS_ANY,
    CLASS_CH,
    CLASS_IN,
    CNAME,
    DnsEncodeError,
    DnsError,
    DnsFormatError,
    DnsNotAQuery,
    DnsNotImplemented,
    DnsQuery,
    EDNS_PAYLOAD,
    Edns,
    FLAG_AA,
    FLAG_AD,
    FLAG_CD,
    FLAG_QR,
    FLAG_RA,
    FLAG_RD,
    FLAG_TC,
    FORMERR,
    IXFR,
    MAX_LABEL_OCTETS,
    MAX_MESSAGE,
    MAX_NAME_OCTETS,
    MIN_UDP_PAYLOAD,
    MX,
    NAPTR,
    NOERROR,
    NOTIMP,
    NS,
    NXDOMAIN,
    OPCODE_QUERY,
    OPT,
    PTR,
    REFUSED,
    SERVFAIL,
    SOA,
    TXT,
    URI,
)

cdef type _DnsQuery = DnsQuery
cdef type _Edns = Edns
if len(DnsQuery._fields) != 9 or len(Edns._fields) != 3:
    raise ImportError("_dns_c was built for other DnsQuery/Edns fields than _dns_py.py; rebuild it")

__all__ = list(_py.__all__)  # the same public names, in the same order

cdef enum:
    _HEADER = 12
    _QR = 0x8000
    _AA = 0x0400
    _TC = 0x0200
    _RD = 0x0100
    _CD = 0x0010
    _OPCODE_MASK = 0x7800
    _EDNS_DO = 0x8000
    _OPT = 41
    _NS = 2
    _CNAME = 5
    _SOA = 6
    _PTR = 12
    _MX = 15
    _EDNS_PAYLOAD = 1232
    _MIN_UDP = 512
    _MAX_MESSAGE = 65535
    _MAX_NAME = 255
    _MAX_LABEL = 63
    _POINTER_LIMIT = 0x4000
    _MAX_LABELS = 128  # a name of 255 octets holds at most 127 labels

if (
    _py.OPT, _py.NS, _py.CNAME, _py.SOA, _py.PTR, _py.MX, _py.EDNS_PAYLOAD, _py.MIN_UDP_PAYLOAD, _py.MAX_MESSAGE,
    _py.MAX_NAME_OCTETS, _py.MAX_LABEL_OCTETS, _py.FLAG_QR, _py.FLAG_AA, _py.FLAG_TC, _py.FLAG_RD, _py.FLAG_CD,
    _py._OPCODE_MASK, _py._EDNS_DO, _py._POINTER_LIMIT, _py._COMPRESSIBLE,
) != (
    _OPT, _NS, _CNAME, _SOA, _PTR, _MX, _EDNS_PAYLOAD, _MIN_UDP, _MAX_MESSAGE, _MAX_NAME, _MAX_LABEL, _QR, _AA, _TC,
    _RD, _CD, _OPCODE_MASK, _EDNS_DO, _POINTER_LIMIT, frozenset((_NS, _CNAME, _PTR, _SOA, _MX)),
):
    raise ImportError("_dns_c was built against other DNS constants than _dns_py.py; rebuild it")

cdef extern from "Python.h":
    ctypedef struct _TypeObject "PyTypeObject":
        PyObject *(*tp_alloc)(_TypeObject *, Py_ssize_t)


cdef object _named(type cls, Py_ssize_t n):
    """A new NamedTuple of class ``cls`` with ``n`` empty items, allocated as ``tuple.__new__`` does.

    The caller sets every item (``PyTuple_SET_ITEM``) before the tuple is used.
    """
    cdef PyObject *raw = (<_TypeObject *>cls).tp_alloc(<_TypeObject *>cls, n)
    if raw == NULL:
        raise MemoryError()
    result = <object>raw
    Py_DECREF(result)  # the allocation's own reference: ``result`` holds the one left
    return result


cdef inline void _set(object t, Py_ssize_t i, object value):
    Py_INCREF(value)
    PyTuple_SET_ITEM(t, i, value)


# -- small helpers ------------------------------------------------------------------

cdef inline unsigned int _u16(const uint8_t *p) noexcept nogil:
    return (<unsigned int>p[0] << 8) | p[1]


cdef inline uint32_t _u32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void _put16(uint8_t *p, unsigned int v) noexcept nogil:
    p[0] = <uint8_t>(v >> 8)
    p[1] = <uint8_t>v


cdef inline void _put32(uint8_t *p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline uint8_t _lower(uint8_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef inline bint _is_bytes(object b) noexcept:
    """Exactly ``bytes`` or ``bytearray``: what the C paths read."""
    return type(b) is bytes or type(b) is bytearray


cdef inline const uint8_t *_data(object b, Py_ssize_t *n) noexcept:
    """The buffer of an exact ``bytes`` or ``bytearray`` (nothing runs Python code while it is read)."""
    if type(b) is bytes:
        n[0] = PyBytes_GET_SIZE(b)
        return <const uint8_t *>PyBytes_AS_STRING(b)
    n[0] = PyByteArray_GET_SIZE(b)
    return <const uint8_t *>PyByteArray_AS_STRING(b)


cdef inline bint _is_seq(object s) noexcept:
    return type(s) is tuple or type(s) is list


cdef inline Py_ssize_t _seq_len(object s) noexcept:
    if type(s) is tuple:
        return PyTuple_GET_SIZE(s)
    return PyList_GET_SIZE(s)


cdef inline object _seq_item(object s, Py_ssize_t i):
    if type(s) is tuple:
        return (<tuple>s)[i]
    return (<list>s)[i]


cdef int _int_in(object value, long long high, long long *out) except -2:
    """1: an exact int (or bool) in 0..high; 0: an exact int out of it; -1: another type (the twin's case)."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is not int and type(value) is not bool:
        return -1
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or v < 0 or v > high:
        return 0
    out[0] = v
    return 1


cdef bint _plain_view(object mv):
    """A memoryview whose ``bytes()`` is its buffer as is: 1-D, unsigned bytes, contiguous."""
    try:
        return mv.ndim == 1 and mv.format == "B" and mv.c_contiguous
    except ValueError:  # released
        return False


# -- parsing ------------------------------------------------------------------------


def parse_query(wire):
    """Parse one DNS query message (see ``_dns_py.parse_query``)."""
    cdef type t = type(wire)
    cdef Py_buffer view
    if t is bytes:
        return _parse(<const uint8_t *>PyBytes_AS_STRING(wire), PyBytes_GET_SIZE(wire))
    if t is bytearray or (t is memoryview and _plain_view(wire)):
        PyObject_GetBuffer(wire, &view, PyBUF_SIMPLE)  # pins a bytearray's size while it is read
        try:
            return _parse(<const uint8_t *>view.buf, view.len)
        finally:
            PyBuffer_Release(&view)
    return _py.parse_query(wire)


cdef Py_ssize_t _skip_name(const uint8_t *w, Py_ssize_t size, Py_ssize_t pos, unsigned int qid,
                           unsigned int flags) except -1:
    """The offset after a (possibly compressed) name; a pointer must point back and is not followed."""
    cdef Py_ssize_t start = pos
    cdef Py_ssize_t octets = 1
    cdef unsigned int length, target
    while True:
        if pos >= size:
            raise DnsFormatError(f"message truncated in a name at offset {pos}", id=qid, flags=flags)
        length = w[pos]
        if length == 0:
            return pos + 1
        if length > _MAX_LABEL:
            if length >= 0xC0:
                if pos + 2 > size:
                    raise DnsFormatError(f"message truncated in a name at offset {pos}", id=qid, flags=flags)
                target = _u16(w + pos) & 0x3FFF
                if not (_HEADER <= target and target < start):
                    raise DnsFormatError(
                        f"compression pointer at offset {pos} to offset {target}, not back into the message",
                        id=qid,
                        flags=flags,
                    )
                return pos + 2
            raise DnsFormatError(
                f"unsupported label type 0x{length & 0xC0:02x} at offset {pos}", id=qid, flags=flags
            )
        octets += length + 1
        if octets > _MAX_NAME:
            raise DnsFormatError(f"name longer than 255 octets at offset {pos}", id=qid, flags=flags)
        pos += 1 + length


cdef object _parse(const uint8_t *w, Py_ssize_t size):
    cdef unsigned int qid, flags, qdcount, ancount, nscount, arcount, opcode, length, qtype, qclass
    cdef unsigned int rtype, rclass, rdlength, e_payload = 0, e_version = 0
    cdef uint32_t ttl
    cdef bint have_edns = False, e_do = False, upper = False
    cdef Py_ssize_t pos, end, start, rdata_end, option, question_end, octets, index, records, j
    cdef int nl = 0, i
    cdef Py_ssize_t starts[_MAX_LABELS]
    cdef uint8_t lens[_MAX_LABELS]
    cdef uint8_t folded[_MAX_LABEL]
    cdef object label, qname, qname_lower, edns, short_id, query
    if size < _HEADER:
        short_id = None
        if size >= 2:
            short_id = _u16(w)
        raise DnsFormatError(
            f"message of {size} bytes is shorter than the 12-byte header",
            id=short_id,
            flags=_u16(w + 2) if size >= 4 else 0,
        )
    qid = _u16(w)
    flags = _u16(w + 2)
    qdcount = _u16(w + 4)
    ancount = _u16(w + 6)
    nscount = _u16(w + 8)
    arcount = _u16(w + 10)
    if flags & _QR:
        raise DnsNotAQuery(id=qid, flags=flags)
    opcode = (flags & _OPCODE_MASK) >> 11
    if opcode != 0:
        raise DnsNotImplemented(f"opcode {opcode} is not implemented", id=qid, flags=flags)
    if qdcount != 1:
        raise DnsFormatError(f"{qdcount} questions, expected 1", id=qid, flags=flags)

    pos = _HEADER
    octets = 1
    while True:
        if pos >= size:
            raise DnsFormatError(f"message truncated in the question name at offset {pos}", id=qid, flags=flags)
        length = w[pos]
        if length == 0:
            pos += 1
            break
        if length > _MAX_LABEL:
            if length >= 0xC0:
                raise DnsFormatError(
                    f"compression pointer in the question name at offset {pos}", id=qid, flags=flags
                )
            raise DnsFormatError(
                f"unsupported label type 0x{length & 0xC0:02x} at offset {pos}", id=qid, flags=flags
            )
        end = pos + 1 + length
        if end > size:
            raise DnsFormatError(f"message truncated in the question name at offset {pos}", id=qid, flags=flags)
        octets += length + 1
        if octets > _MAX_NAME:
            raise DnsFormatError("question name longer than 255 octets", id=qid, flags=flags)
        starts[nl] = pos + 1
        lens[nl] = <uint8_t>length
        nl += 1
        if not upper:
            for j in range(pos + 1, end):
                if 65 <= w[j] <= 90:
                    upper = True
                    break
        pos = end
    if pos + 4 > size:
        raise DnsFormatError(
            f"message truncated in the question type and class at offset {pos}", id=qid, flags=flags
        )
    qtype = _u16(w + pos)
    qclass = _u16(w + pos + 2)
    pos += 4
    question_end = pos

    records = <Py_ssize_t>ancount + nscount + arcount
    for index in range(records):
        start = pos
        pos = _skip_name(w, size, pos, qid, flags)
        if pos + 10 > size:
            raise DnsFormatError(f"message truncated in a record at offset {pos}", id=qid, flags=flags)
        rtype = _u16(w + pos)
        rclass = _u16(w + pos + 2)
        ttl = _u32(w + pos + 4)
        rdlength = _u16(w + pos + 8)
        pos += 10
        rdata_end = pos + rdlength
        if rdata_end > size:
            raise DnsFormatError(f"message truncated in record data at offset {pos}", id=qid, flags=flags)
        if rtype == _OPT:
            if index < <Py_ssize_t>ancount + nscount:
                raise DnsFormatError(
                    f"OPT record outside the additional section at offset {start}", id=qid, flags=flags
                )
            if have_edns:
                raise DnsFormatError(f"second OPT record at offset {start}", id=qid, flags=flags)
            if pos - 10 - start != 1:
                raise DnsFormatError(f"OPT record not owned by the root at offset {start}", id=qid, flags=flags)
            option = pos
            while option < rdata_end:
                if option + 4 > rdata_end or option + 4 + _u16(w + option + 2) > rdata_end:
                    raise DnsFormatError(f"EDNS option truncated at offset {option}", id=qid, flags=flags)
                option += 4 + _u16(w + option + 2)
            have_edns = True
            e_payload = rclass
            e_do = (ttl & _EDNS_DO) != 0
            e_version = (ttl >> 16) & 0xFF
        pos = rdata_end
    if pos != size:
        raise DnsFormatError(f"{size - pos} bytes after the last record", id=qid, flags=flags)

    qname = PyTuple_New(nl)
    for i in range(nl):
        label = PyBytes_FromStringAndSize(<const char *>w + starts[i], lens[i])
        Py_INCREF(label)
        PyTuple_SET_ITEM(qname, i, label)
    if upper:
        qname_lower = PyTuple_New(nl)
        for i in range(nl):
            # Fold into a scratch buffer, not into a new bytes object: CPython shares
            # the one-byte bytes objects, and changing one would change b"X" everywhere.
            for j in range(lens[i]):
                folded[j] = _lower(w[starts[i] + j])
            label = PyBytes_FromStringAndSize(<const char *>folded, lens[i])
            Py_INCREF(label)
            PyTuple_SET_ITEM(qname_lower, i, label)
    else:
        qname_lower = qname  # nothing to fold: the same (immutable) labels
    edns = None
    if have_edns:
        edns = _named(_Edns, 3)
        _set(edns, 0, e_payload)
        _set(edns, 1, e_do)
        _set(edns, 2, e_version)
    query = _named(_DnsQuery, 9)
    _set(query, 0, qid)
    _set(query, 1, flags)
    _set(query, 2, opcode)
    _set(query, 3, qname)
    _set(query, 4, qname_lower)
    _set(query, 5, qtype)
    _set(query, 6, qclass)
    _set(query, 7, edns)
    _set(query, 8, question_end)
    return query


def max_udp_size(query):
    """The largest UDP response ``query`` may get (see ``_dns_py.max_udp_size``)."""
    cdef object edns, payload
    cdef long long size = 0
    cdef int overflow = 0
    if type(query) is DnsQuery:
        edns = (<tuple>query)[7]
        if edns is None:
            return _MIN_UDP
        if type(edns) is Edns:
            payload = (<tuple>edns)[0]
            if type(payload) is int:
                size = PyLong_AsLongLongAndOverflow(payload, &overflow)
                if overflow > 0 or size > _EDNS_PAYLOAD:
                    return _EDNS_PAYLOAD
                if overflow < 0 or size < _MIN_UDP:
                    return _MIN_UDP
                return size
    return _py.max_udp_size(query)


# -- building: the output buffer and the compression table --------------------------

cdef enum:
    _SMALL_OUT = 1536
    _SMALL_SLOTS = 64


cdef struct _Out:
    uint8_t *p
    Py_ssize_t n
    Py_ssize_t cap
    bint heap


cdef int _reserve(_Out *o, Py_ssize_t extra) except -1:
    cdef Py_ssize_t need = o.n + extra
    cdef Py_ssize_t cap = o.cap
    cdef uint8_t *grown
    if need <= cap:
        return 0
    while cap < need:
        cap *= 2
    if o.heap:
        grown = <uint8_t *>PyMem_Realloc(o.p, cap)
    else:
        grown = <uint8_t *>PyMem_Malloc(cap)
        if grown != NULL:
            memcpy(grown, o.p, o.n)
    if grown == NULL:
        raise MemoryError()
    o.p = grown
    o.cap = cap
    o.heap = True
    return 0


cdef inline int _append(_Out *o, const uint8_t *data, Py_ssize_t n) except -1:
    _reserve(o, n)
    memcpy(o.p + o.n, data, n)
    o.n += n
    return 0


# The compression table maps the lower-cased wire form of every name suffix
# written so far (below offset 0x4000) to its offset, as the twin's dict does.
# Keys are not stored: a slot holds the suffix's hash and its offset, and a
# candidate is confirmed by reading the name back from the output (following
# the pointers written there, which always point back to earlier labels).

cdef struct _Slot:
    uint64_t hash
    Py_ssize_t target  # 0: empty (every name starts after the 12-byte header)


cdef struct _Table:
    _Slot *slots
    Py_ssize_t mask
    Py_ssize_t count
    bint heap


cdef inline Py_ssize_t _slot_of(uint64_t h, Py_ssize_t mask) noexcept nogil:
    return <Py_ssize_t>((h ^ (h >> 29)) & <uint64_t>mask)


cdef int _add(_Table *t, uint64_t h, Py_ssize_t target) except -1:
    cdef Py_ssize_t i, size, old_size
    cdef _Slot *old
    cdef _Slot *grown
    if (t.count + 1) * 2 > t.mask + 1:  # keep it at most half full
        old = t.slots
        old_size = t.mask + 1
        size = old_size * 2
        grown = <_Slot *>PyMem_Malloc(size * sizeof(_Slot))
        if grown == NULL:
            raise MemoryError()
        memset(grown, 0, size * sizeof(_Slot))
        t.slots = grown
        t.mask = size - 1
        for i in range(old_size):
            if old[i].target:
                _insert(t, old[i].hash, old[i].target)
        if t.heap:
            PyMem_Free(old)
        t.heap = True
    _insert(t, h, target)
    t.count += 1
    return 0


cdef inline void _insert(_Table *t, uint64_t h, Py_ssize_t target) noexcept nogil:
    cdef Py_ssize_t i = _slot_of(h, t.mask)
    while t.slots[i].target:
        i = (i + 1) & t.mask
    t.slots[i].hash = h
    t.slots[i].target = target


cdef bint _same(const _Out *o, Py_ssize_t at, const uint8_t *key, Py_ssize_t keylen) noexcept nogil:
    """Whether the name written at ``at`` is ``key`` (lower-cased, uncompressed), ignoring ASCII case."""
    cdef Py_ssize_t i = 0, j
    cdef uint8_t c
    while True:
        if at >= o.n or i >= keylen:  # not written yet (a suffix of the name being written)
            return False
        c = o.p[at]
        if c >= 0xC0:
            if at + 1 >= o.n:
                return False
            at = ((c & 0x3F) << 8) | o.p[at + 1]
            continue
        if c != key[i]:
            return False
        if c == 0:
            return True
        if at + 1 + c > o.n:
            return False
        for j in range(c):
            if _lower(o.p[at + 1 + j]) != key[i + 1 + j]:
                return False
        at += 1 + c
        i += 1 + c


cdef inline Py_ssize_t _find(const _Out *o, const _Table *t, uint64_t h, const uint8_t *key,
                             Py_ssize_t keylen) noexcept nogil:
    cdef Py_ssize_t i = _slot_of(h, t.mask)
    while t.slots[i].target:
        if t.slots[i].hash == h and _same(o, t.slots[i].target, key, keylen):
            return t.slots[i].target
        i = (i + 1) & t.mask
    return -1


# A name ready to be written: its uncompressed wire form, lower-cased copy and label offsets.
cdef struct _Name:
    uint8_t enc[256]
    uint8_t low[256]
    Py_ssize_t offs[_MAX_LABELS]
    int count  # labels
    Py_ssize_t size  # octets, the final zero included


cdef Py_ssize_t _name_of(object labels, _Name *name) except -1:
    """Encode a sequence (tuple or list) of labels as the twin's ``_encode_name`` does.

    Returns:
        1 when encoded; 0 when a label is a subclass of bytes or bytearray (the twin's case).
    Raises:
        DnsEncodeError: the twin's, in its order (every label checked, then the total).
    """
    cdef Py_ssize_t count = _seq_len(labels), i, length, octets = 1, j
    cdef const uint8_t *data
    cdef object label
    name.count = 0
    for i in range(count):
        label = _seq_item(labels, i)
        if not _is_bytes(label):
            if isinstance(label, (bytes, bytearray)):
                return 0
            raise DnsEncodeError(f"a label must be bytes, not {type(label).__name__}")
        data = _data(label, &length)
        if not 0 < length <= _MAX_LABEL:
            raise DnsEncodeError(f"label of {length} octets, expected 1..63")
        if octets + length + 1 <= _MAX_NAME:  # past that the name fails below; only count
            name.offs[name.count] = octets - 1
            name.count += 1
            name.enc[octets - 1] = <uint8_t>length
            name.low[octets - 1] = <uint8_t>length
            memcpy(name.enc + octets, data, length)
            for j in range(length):
                name.low[octets + j] = _lower(data[j])
        octets += length + 1
    if octets > _MAX_NAME:
        raise DnsEncodeError(f"name of {octets} octets, at most 255")
    name.enc[octets - 1] = 0
    name.low[octets - 1] = 0
    name.size = octets
    return 1


cdef Py_ssize_t _read_name(const uint8_t *d, Py_ssize_t n, Py_ssize_t pos, long long rtype, _Name *name) except -1:
    """Read an uncompressed name from record data as the twin's ``_read_name`` + ``_encode_name``; the offset after it."""
    cdef unsigned int length
    cdef Py_ssize_t octets = 1, j
    name.count = 0
    while True:
        if pos >= n:
            raise DnsEncodeError(f"type {rtype} data ends inside a name")
        length = d[pos]
        if length == 0:
            pos += 1
            break
        if length > _MAX_LABEL:
            raise DnsEncodeError(f"type {rtype} data holds a compressed or unsupported label at offset {pos}")
        if pos + 1 + length >= n:  # the twin reads a short label, then finds no end
            raise DnsEncodeError(f"type {rtype} data ends inside a name")
        if octets + length + 1 <= _MAX_NAME:
            name.offs[name.count] = octets - 1
            name.count += 1
            memcpy(name.enc + octets - 1, d + pos, length + 1)
            name.low[octets - 1] = <uint8_t>length
            for j in range(length):
                name.low[octets + j] = _lower(d[pos + 1 + j])
        octets += length + 1
        pos += 1 + length
    if octets > _MAX_NAME:
        raise DnsEncodeError(f"name of {octets} octets, at most 255")
    name.enc[octets - 1] = 0
    name.low[octets - 1] = 0
    name.size = octets
    return pos


cdef int _put_name(_Out *o, _Table *t, const _Name *name) except -1:
    """Append ``name``, pointing at an earlier occurrence of its longest known suffix (the twin's ``_put_name``)."""
    cdef uint64_t hashes[_MAX_LABELS]
    cdef uint64_t h = 0xCBF29CE484222325
    cdef Py_ssize_t i, k = name.count - 1, off, target, here
    # Hash every suffix from the end: each hash depends on the suffix's bytes only.
    i = name.size - 1
    while i >= 0:
        h = (h ^ name.low[i]) * <uint64_t>0x100000001B3
        if k >= 0 and i == name.offs[k]:
            hashes[k] = h
            k -= 1
        i -= 1
    for k in range(name.count):
        off = name.offs[k]
        target = _find(o, t, hashes[k], name.low + off, name.size - off)
        if target >= 0:
            _reserve(o, off + 2)
            memcpy(o.p + o.n, name.enc, off)
            o.n += off
            _put16(o.p + o.n, 0xC000 | target)
            o.n += 2
            return 0
        here = o.n + off
        if here < _POINTER_LIMIT:
            _add(t, hashes[k], here)
    return _append(o, name.enc, name.size)


# -- building -----------------------------------------------------------------------


cdef bint _labels_ok(object labels) noexcept:
    """A tuple or list of exact bytes/bytearray labels (lengths are checked while writing)."""
    cdef Py_ssize_t i
    if not _is_seq(labels):
        return False
    for i in range(_seq_len(labels)):
        if not _is_bytes(_seq_item(labels, i)):
            return False
    return True


cdef bint _records_ok(object records) noexcept:
    """Records the C path writes: a tuple or list of 5-item tuples/lists of the exact types."""
    cdef Py_ssize_t i
    cdef object record
    if not _is_seq(records):
        return False
    for i in range(_seq_len(records)):
        record = _seq_item(records, i)
        if not _is_seq(record) or _seq_len(record) != 5:
            return False
        if (
            not _labels_ok(_seq_item(record, 0))
            or type(_seq_item(record, 1)) is not int
            or type(_seq_item(record, 2)) is not int
            or type(_seq_item(record, 3)) is not int
            or not _is_bytes(_seq_item(record, 4))
        ):
            return False
    return True


cdef bint _u16_field(object value) noexcept:
    cdef long long v
    return _int_in(value, 0xFFFF, &v) == 1 and type(value) is int


cdef bint _query_ok(object query) noexcept:
    """A DnsQuery whose fields the twin would write without a struct.error (else the twin writes it)."""
    cdef tuple q
    cdef object edns
    cdef long long opcode
    if type(query) is not DnsQuery:
        return False
    q = <tuple>query
    edns = q[7]
    return (
        _u16_field(q[0])
        and _u16_field(q[1])
        and type(q[2]) is int
        and _int_in(q[2], 15, &opcode) == 1
        and _labels_ok(q[3])
        and _u16_field(q[5])
        and _u16_field(q[6])
        and (edns is None or (type(edns) is Edns and type((<tuple>edns)[1]) is bool))
    )


cdef bint _same_owner(object a, object b) noexcept:
    """Whether two owners (sequences of exact bytes/bytearray) hold equal labels, as ``tuple(a) == tuple(b)``."""
    cdef Py_ssize_t i, n, na, nb
    cdef const uint8_t *pa
    cdef const uint8_t *pb
    if a is b:
        return True
    n = _seq_len(a)
    if n != _seq_len(b):
        return False
    for i in range(n):
        pa = _data(_seq_item(a, i), &na)
        pb = _data(_seq_item(b, i), &nb)
        if na != nb or (pa != pb and memcmp(pa, pb, na) != 0):
            return False
    return True


def build_response(query, rcode, answers=(), authority=(), additional=(), *, aa=True, max_size=None):
    """The response to ``query`` (see ``_dns_py.build_response``)."""
    cdef long long c_rcode = 0, v = 0, limit, room
    cdef int overflow = 0, section
    cdef tuple q
    cdef bint has_opt, truncated = False, fitted = True
    cdef unsigned int flags
    cdef Py_ssize_t counts[3]
    cdef _Out o
    cdef _Table t
    cdef uint8_t small_out[_SMALL_OUT]
    cdef _Slot small_slots[_SMALL_SLOTS]
    cdef _Name name
    cdef object edns
    if (
        type(rcode) is not int
        or (max_size is not None and type(max_size) is not int)
        or not _query_ok(query)
        or not _records_ok(answers)
        or not _records_ok(authority)
        or not _records_ok(additional)
    ):
        return _py.build_response(query, rcode, answers, authority, additional, aa=aa, max_size=max_size)
    if _int_in(rcode, 0xFFF, &c_rcode) != 1:
        raise DnsEncodeError(f"rcode {rcode!r} is outside 0..4095")
    q = <tuple>query
    edns = q[7]
    has_opt = edns is not None
    if c_rcode > 0xF and not has_opt:
        raise DnsEncodeError(f"extended rcode {rcode} needs a query with EDNS")
    if max_size is None:
        limit = _MAX_MESSAGE
    else:
        v = PyLong_AsLongLongAndOverflow(max_size, &overflow)
        limit = _MAX_MESSAGE if overflow > 0 or v > _MAX_MESSAGE else (_MIN_UDP if overflow < 0 or v < _MIN_UDP else v)
    room = limit - (11 if has_opt else 0)

    o.p = small_out
    o.n = _HEADER
    o.cap = _SMALL_OUT
    o.heap = False
    memset(small_slots, 0, sizeof(small_slots))
    t.slots = small_slots
    t.mask = _SMALL_SLOTS - 1
    t.count = 0
    t.heap = False
    counts[0] = counts[1] = counts[2] = 0
    try:
        _name_of(q[3], &name)
        _put_name(&o, &t, &name)
        _reserve(&o, 4)
        _put16(o.p + o.n, <unsigned int>q[5])
        _put16(o.p + o.n + 2, <unsigned int>q[6])
        o.n += 4
        for section in range(3):
            records = answers if section == 0 else (authority if section == 1 else additional)
            fitted = _put_records(&o, &t, records, room, &counts[section])
            if not fitted:
                truncated = section < 2
                break
        if has_opt:
            _reserve(&o, 11)
            o.p[o.n] = 0
            _put16(o.p + o.n + 1, _OPT)
            _put16(o.p + o.n + 3, _EDNS_PAYLOAD)
            _put32(o.p + o.n + 5, <uint32_t>(((c_rcode >> 4) << 24) | (_EDNS_DO if (<tuple>edns)[1] else 0)))
            _put16(o.p + o.n + 9, 0)
            o.n += 11
        flags = _QR | ((<unsigned int>q[2]) << 11) | ((<unsigned int>q[1]) & (_RD | _CD)) | <unsigned int>(c_rcode & 0xF)
        if aa:
            flags |= _AA
        if truncated:
            flags |= _TC
        _put16(o.p, <unsigned int>q[0])
        _put16(o.p + 2, flags)
        _put16(o.p + 4, 1)
        _put16(o.p + 6, <unsigned int>counts[0])
        _put16(o.p + 8, <unsigned int>counts[1])
        _put16(o.p + 10, <unsigned int>(counts[2] + (1 if has_opt else 0)))
        return PyBytes_FromStringAndSize(<const char *>o.p, o.n)
    finally:
        if o.heap:
            PyMem_Free(o.p)
        if t.heap:
            PyMem_Free(t.slots)


cdef bint _put_records(_Out *o, _Table *t, object records, long long room, Py_ssize_t *count) except -1:
    """Append whole RRsets while they fit in ``room`` (the twin's ``_put_records``); False when one did not.

    An RRset that does not fit is cut off the output but its suffixes stay in
    the table: the twin forgets them, but nothing is written after a misfit
    (the message ends there), so the table is not read again.
    """
    cdef Py_ssize_t i, n = _seq_len(records), written = 0, rrset_start = o.n, rrset_count = 0
    cdef long long rtype = 0, rclass = 0, ttl = 0, prev_type = -1, prev_class = -1
    cdef object record, owner, rdata, prev_owner = None
    for i in range(n):
        record = _seq_item(records, i)
        owner = _seq_item(record, 0)
        if _int_in(_seq_item(record, 1), 0xFFFF, &rtype) != 1:
            raise DnsEncodeError(f"record type {_seq_item(record, 1)!r} is outside 0..65535")
        if _int_in(_seq_item(record, 2), 0xFFFF, &rclass) != 1:
            raise DnsEncodeError(f"record class {_seq_item(record, 2)!r} is outside 0..65535")
        if _int_in(_seq_item(record, 3), 0x7FFFFFFF, &ttl) != 1:
            raise DnsEncodeError(f"TTL {_seq_item(record, 3)!r} is outside 0..2147483647")
        rdata = _seq_item(record, 4)
        # (the twin compares the RRset key before these checks; a failing check ends the call either way)
        if prev_owner is None or rtype != prev_type or rclass != prev_class or not _same_owner(owner, prev_owner):
            written += rrset_count
            rrset_start = o.n
            rrset_count = 0
            prev_owner, prev_type, prev_class = owner, rtype, rclass
        _put_record(o, t, owner, rtype, rclass, ttl, rdata)
        rrset_count += 1
        if o.n > room:
            o.n = rrset_start
            count[0] = written
            return False
    count[0] = written + rrset_count
    return True


cdef int _put_record(_Out *o, _Table *t, object owner, long long rtype, long long rclass, long long ttl,
                     object rdata) except -1:
    cdef _Name name
    cdef Py_ssize_t head, n, pos, rdlength
    cdef const uint8_t *d
    _name_of(owner, &name)
    _put_name(o, t, &name)
    head = o.n
    _reserve(o, 10)
    _put16(o.p + head, <unsigned int>rtype)
    _put16(o.p + head + 2, <unsigned int>rclass)
    _put32(o.p + head + 4, <uint32_t>ttl)
    o.n += 10
    d = _data(rdata, &n)
    if rtype == _NS or rtype == _CNAME or rtype == _PTR or rtype == _SOA or rtype == _MX:
        # Re-emit the uncompressed name(s) with compression (the twin's _put_compressed_rdata).
        pos = 0
        if rtype == _MX:
            if n < 2:
                raise DnsEncodeError("MX data shorter than its preference")
            _append(o, d, 2)
            pos = 2
        pos = _read_name(d, n, pos, rtype, &name)
        _put_name(o, t, &name)
        if rtype == _SOA:
            pos = _read_name(d, n, pos, rtype, &name)
            _put_name(o, t, &name)
            if n - pos != 20:
                raise DnsEncodeError("SOA data must end in five 32-bit numbers")
            _append(o, d + pos, n - pos)
        elif pos != n:
            raise DnsEncodeError(f"{n - pos} bytes after the name in type {rtype} data")
    else:
        _append(o, d, n)
    rdlength = o.n - head - 10
    if rdlength > 0xFFFF:
        raise DnsEncodeError(f"record data of {rdlength} bytes, at most 65535")
    _put16(o.p + head + 8, <unsigned int>rdlength)
    return 0


def build_error(exc):
    """A header-only response for a query ``parse_query`` refused (see ``_dns_py.build_error``)."""
    cdef long long qid, flags, rcode
    cdef bytes out
    cdef uint8_t *p
    if isinstance(exc, DnsNotAQuery):
        return None
    ident = exc.id
    if ident is None:
        return None
    word = exc.flags
    code = exc.rcode
    if (
        type(ident) is not int
        or _int_in(ident, 0xFFFF, &qid) != 1
        or type(word) is not int
        or _int_in(word, 0xFFFF, &flags) != 1
        or type(code) is not int
        or _int_in(code, 0xFFFF, &rcode) != 1
    ):
        return _py.build_error(exc)
    out = PyBytes_FromStringAndSize(NULL, _HEADER)
    p = <uint8_t *>PyBytes_AS_STRING(out)
    memset(p, 0, _HEADER)
    _put16(p, <unsigned int>qid)
    _put16(p + 2, <unsigned int>(_QR | (flags & (_OPCODE_MASK | _RD | _CD)) | rcode))
    return out


# -- record data --------------------------------------------------------------------


cdef int _text(object value, const uint8_t **p, Py_ssize_t *n) except -1:
    """The bytes of an exact str (UTF-8), bytes or bytearray: 1; anything else (or a lone surrogate): 0, the twin's case."""
    cdef const char *s
    if type(value) is str:
        try:
            s = PyUnicode_AsUTF8AndSize(value, n)
        except UnicodeEncodeError:
            return 0
        p[0] = <const uint8_t *>s
        return 1
    if _is_bytes(value):
        p[0] = _data(value, n)
        return 1
    return 0


def rdata_naptr(order, preference, flags, service, regexp, replacement=()):
    """NAPTR record data (see ``_dns_py.rdata_naptr``)."""
    cdef long long c_order = 0, c_pref = 0
    cdef const uint8_t *strings[3]
    cdef Py_ssize_t lengths[3]
    cdef Py_ssize_t total, i
    cdef _Name name
    cdef bytes out
    cdef uint8_t *p
    cdef int r
    cdef tuple values = (flags, service, regexp)
    cdef tuple whats = ("NAPTR flags", "NAPTR service", "NAPTR regexp")
    r = _int_in(order, 0xFFFF, &c_order)
    if r < 0:
        return _py.rdata_naptr(order, preference, flags, service, regexp, replacement)
    if r == 0:
        raise DnsEncodeError(f"NAPTR order {order!r} is outside 0..65535")
    r = _int_in(preference, 0xFFFF, &c_pref)
    if r < 0:
        return _py.rdata_naptr(order, preference, flags, service, regexp, replacement)
    if r == 0:
        raise DnsEncodeError(f"NAPTR preference {preference!r} is outside 0..65535")
    total = 4
    for i in range(3):
        if not _text(values[i], &strings[i], &lengths[i]):
            return _py.rdata_naptr(order, preference, flags, service, regexp, replacement)
        if lengths[i] > 255:
            raise DnsEncodeError(f"{whats[i]} of {lengths[i]} bytes, at most 255")
        total += 1 + lengths[i]
    if not _is_seq(replacement) or not _name_of(replacement, &name):
        return _py.rdata_naptr(order, preference, flags, service, regexp, replacement)
    total += name.size
    out = PyBytes_FromStringAndSize(NULL, total)
    p = <uint8_t *>PyBytes_AS_STRING(out)
    _put16(p, <unsigned int>c_order)
    _put16(p + 2, <unsigned int>c_pref)
    p += 4
    for i in range(3):
        p[0] = <uint8_t>lengths[i]
        memcpy(p + 1, strings[i], lengths[i])
        p += 1 + lengths[i]
    memcpy(p, name.enc, name.size)
    return out


def rdata_uri(priority, weight, target):
    """URI record data (see ``_dns_py.rdata_uri``)."""
    cdef const uint8_t *raw
    cdef Py_ssize_t n
    cdef long long c_priority = 0, c_weight = 0
    cdef int r
    cdef bytes out
    cdef uint8_t *p
    if not _text(target, &raw, &n):
        return _py.rdata_uri(priority, weight, target)
    if n == 0:
        raise DnsEncodeError("URI target is empty")
    if n > 0xFFFF - 4:
        raise DnsEncodeError(f"URI target of {n} bytes, at most 65531")
    r = _int_in(priority, 0xFFFF, &c_priority)
    if r < 0:
        return _py.rdata_uri(priority, weight, target)
    if r == 0:
        raise DnsEncodeError(f"URI priority {priority!r} is outside 0..65535")
    r = _int_in(weight, 0xFFFF, &c_weight)
    if r < 0:
        return _py.rdata_uri(priority, weight, target)
    if r == 0:
        raise DnsEncodeError(f"URI weight {weight!r} is outside 0..65535")
    out = PyBytes_FromStringAndSize(NULL, 4 + n)
    p = <uint8_t *>PyBytes_AS_STRING(out)
    _put16(p, <unsigned int>c_priority)
    _put16(p + 2, <unsigned int>c_weight)
    memcpy(p + 4, raw, n)
    return out


def rdata_txt(text):
    """TXT record data (see ``_dns_py.rdata_txt``)."""
    cdef const uint8_t *raw
    cdef Py_ssize_t n, size, start, chunk
    cdef bytes out
    cdef uint8_t *p
    if not _text(text, &raw, &n):
        return _py.rdata_txt(text)
    size = n + (n + 254) // 255 if n else 1
    if size > 0xFFFF:
        raise DnsEncodeError(f"TXT data of {size} bytes, at most 65535")
    out = PyBytes_FromStringAndSize(NULL, size)
    p = <uint8_t *>PyBytes_AS_STRING(out)
    if n == 0:
        p[0] = 0
        return out
    start = 0
    while start < n:
        chunk = n - start if n - start < 255 else 255
        p[0] = <uint8_t>chunk
        memcpy(p + 1, raw + start, chunk)
        p += 1 + chunk
        start += chunk
    return out


def rdata_soa(mname, rname, serial, refresh, retry, expire, minimum):
    """SOA record data (see ``_dns_py.rdata_soa``)."""
    cdef _Name m, r
    cdef long long values[5]
    cdef tuple numbers = (serial, refresh, retry, expire, minimum)
    cdef tuple whats = ("SOA serial", "SOA refresh", "SOA retry", "SOA expire", "SOA minimum")
    cdef int i, ok
    cdef bytes out
    cdef uint8_t *p
    if not _is_seq(mname) or not _name_of(mname, &m) or not _is_seq(rname) or not _name_of(rname, &r):
        return _py.rdata_soa(mname, rname, serial, refresh, retry, expire, minimum)
    for i in range(5):
        ok = _int_in(numbers[i], 0xFFFFFFFF, &values[i])
        if ok < 0:
            return _py.rdata_soa(mname, rname, serial, refresh, retry, expire, minimum)
        if ok == 0:
            raise DnsEncodeError(f"{whats[i]} {numbers[i]!r} is outside 0..4294967295")
    out = PyBytes_FromStringAndSize(NULL, m.size + r.size + 20)
    p = <uint8_t *>PyBytes_AS_STRING(out)
    memcpy(p, m.enc, m.size)
    p += m.size
    memcpy(p, r.enc, r.size)
    p += r.size
    for i in range(5):
        _put32(p + 4 * i, <uint32_t>values[i])
    return out


def rdata_ns(name):
    """NS record data (see ``_dns_py.rdata_ns``)."""
    cdef _Name n
    if not _is_seq(name) or not _name_of(name, &n):
        return _py.rdata_ns(name)
    return PyBytes_FromStringAndSize(<const char *>n.enc, n.size)


# -- TCP framing --------------------------------------------------------------------


def tcp_frame(message):
    """``message`` behind its 2-byte big-endian length (see ``_dns_py.tcp_frame``)."""
    cdef const uint8_t *data
    cdef Py_ssize_t n
    cdef bytes out
    cdef uint8_t *p
    if not _is_bytes(message):
        return _py.tcp_frame(message)
    data = _data(message, &n)
    if n > _MAX_MESSAGE:
        raise DnsEncodeError(f"message of {n} bytes, at most 65535 over TCP")
    out = PyBytes_FromStringAndSize(NULL, n + 2)
    p = <uint8_t *>PyBytes_AS_STRING(out)
    _put16(p, <unsigned int>n)
    memcpy(p + 2, data, n)
    return out


@cython.embedsignature(False)  # the signature line below is the class's __text_signature__
cdef class TcpBuffer:
    """TcpBuffer(max_message=65535)
--

Split a TCP byte stream into DNS messages (see ``_dns_py.TcpBuffer``).
"""

    cdef bytearray _buf
    cdef object _error
    cdef object _max
    cdef Py_ssize_t _cmax  # the limit as a C integer; -1 when it is not an exact int (compared as objects)

    def __init__(self, max_message=MAX_MESSAGE):
        if not 0 < max_message <= MAX_MESSAGE:
            raise DnsEncodeError(f"max_message {max_message} is outside 1..65535")
        self._buf = bytearray()
        self._max = max_message
        self._cmax = <Py_ssize_t>max_message if type(max_message) is int else -1
        self._error = None

    @property
    def pending(self):
        """Bytes received that do not complete a message yet."""
        return PyByteArray_GET_SIZE(self._buf)

    def feed(self, data):
        """Add received bytes; the complete messages, in order, without their length prefix."""
        cdef bytearray buf
        cdef list out = []
        cdef Py_ssize_t pos = 0, size, end
        cdef unsigned int length
        cdef const uint8_t *p
        cdef bint refused
        if self._error is not None:
            raise self._error
        buf = self._buf
        buf += data
        size = PyByteArray_GET_SIZE(buf)
        while size - pos >= 2:
            p = <const uint8_t *>PyByteArray_AS_STRING(buf)
            length = _u16(p + pos)
            if self._cmax >= 0:
                refused = length == 0 or length > <unsigned int>self._cmax
            else:
                refused = length == 0 or length > self._max
            if refused:
                what = "a zero-length message" if length == 0 else f"a message of {length} bytes"
                self._error = DnsFormatError(f"{what} on TCP (at most {self._max})")
                del buf[:]
                raise self._error
            end = pos + 2 + length
            if end > size:
                break
            out.append(PyBytes_FromStringAndSize(<const char *>p + pos + 2, length))
            pos = end
        if pos:
            del buf[:pos]
        return out
