# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True
"""Compiled direct DNS answer of the common case: the twin of ``_dnsanswer_py.py``.

Same contract: the response bytes of a NAPTR or URI query for a live local
identifier, ``None`` for everything else (answered by the full path in
``resolver/dns/answer.py``). The query, the name, the base32hex suffix and
the stored record are read in place and the response is written into one
stack buffer; only ``parse_handle``, ``handle_key`` and the LMDB ``get`` are
Python calls.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from idnode._fastpath._common import FLAG_FULL_HANDLE, FLAG_TOMBSTONE, MAX_KEY_BYTES, PERM_PUBLIC_READ
from idnode._fastpath._identifiers_c import handle_key, parse_handle
from idnode.registry.errors import InvalidHandle

__all__ = ["answer_direct"]

cdef enum:
    _NAPTR = 35
    _URI = 256
    _OPT = 41
    _EDNS_PAYLOAD = 1232
    _OUT = 4096  # larger answers take the full path
    _MAX_RECORDS = 128
    _DEFAULT_TTL = 86400
    _MAX_TTL = 0x7FFFFFFF
    _TOMBSTONE = 1
    _FULL_HANDLE = 2
    _PUBLIC_READ = 2
    _MAX_KEY = 511

if (FLAG_TOMBSTONE, FLAG_FULL_HANDLE, PERM_PUBLIC_READ, MAX_KEY_BYTES) != (_TOMBSTONE, _FULL_HANDLE, _PUBLIC_READ, _MAX_KEY):
    raise ImportError("_dnsanswer_c was built against other record constants than _common.py; rebuild it")


cdef inline int _b32(uint8_t c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 97 <= c <= 118:
        return c - 87
    return -1


cdef inline bint _segment_char(uint8_t c) noexcept nogil:
    return (97 <= c <= 122) or (48 <= c <= 57) or c == 45 or c == 95


cdef inline uint32_t _u32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline Py_ssize_t _varint(const uint8_t *p, Py_ssize_t pos, Py_ssize_t size, uint64_t *value) noexcept nogil:
    """The position after a varint, or -1 when it is truncated or longer than 64 bits."""
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef uint8_t byte
    while True:
        if pos >= size or shift >= 64:
            return -1
        byte = p[pos]
        pos += 1
        result |= (<uint64_t>(byte & 0x7F)) << shift
        if not byte & 0x80:
            value[0] = result
            return pos
        shift += 7


cdef inline void _put16(uint8_t *p, uint32_t v) noexcept nogil:
    p[0] = (v >> 8) & 0xFF
    p[1] = v & 0xFF


cdef inline void _put32(uint8_t *p, uint32_t v) noexcept nogil:
    p[0] = (v >> 24) & 0xFF
    p[1] = (v >> 16) & 0xFF
    p[2] = (v >> 8) & 0xFF
    p[3] = v & 0xFF


cdef inline Py_ssize_t _put_opt(uint8_t *out, Py_ssize_t o, bint do_bit) noexcept nogil:
    """The OPT record closing every EDNS answer: payload 1232, the DO bit copied; the offset after it."""
    memcpy(out + o, b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", 11)
    if do_bit:
        out[o + 7] = 0x80
    return o + 11


def answer_direct(wire, get, zone, node_prefix, bint tcp=False, serial=None, soa=None):
    """The response to a NAPTR or URI query for an identifier of this node, or None to defer."""
    if type(wire) is not bytes or type(zone) is not bytes or type(node_prefix) is not str:
        return None
    cdef const uint8_t *w = <const uint8_t *>PyBytes_AS_STRING(wire)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(wire)
    cdef const uint8_t *z = <const uint8_t *>PyBytes_AS_STRING(zone)
    cdef Py_ssize_t zlen = PyBytes_GET_SIZE(zone)
    cdef Py_ssize_t plen = 0
    cdef const char *np = PyUnicode_AsUTF8AndSize(node_prefix, &plen)
    cdef uint8_t lname[256]
    cdef Py_ssize_t starts[128]
    cdef int nlabels = 0
    cdef Py_ssize_t pos, length, name_len, qend, end, rdlength, i, j
    cdef uint32_t flags, qtype, qclass, payload, ext
    cdef bint edns = False, do_bit = False
    cdef Py_ssize_t limit = 512
    if size < 12:
        return None
    flags = (<uint32_t>w[2] << 8) | w[3]
    if flags & 0xF800 or w[4] != 0 or w[5] != 1 or w[6] or w[7] or w[8] or w[9] or w[10] or w[11] > 1:
        return None
    # the question name, lowered
    pos = 12
    name_len = 0
    while True:
        if pos >= size:
            return None
        length = w[pos]
        if length == 0:
            pos += 1
            break
        if length > 63 or pos + 1 + length > size or name_len + 1 + length > 254 or nlabels >= 127:
            return None
        starts[nlabels] = name_len
        nlabels += 1
        lname[name_len] = <uint8_t>length
        for i in range(length):
            j = w[pos + 1 + i]
            lname[name_len + 1 + i] = <uint8_t>(j + 32 if 65 <= j <= 90 else j)
        name_len += 1 + length
        pos += 1 + length
    lname[name_len] = 0
    name_len += 1
    if pos + 4 > size:
        return None
    qtype = (<uint32_t>w[pos] << 8) | w[pos + 1]
    qclass = (<uint32_t>w[pos + 2] << 8) | w[pos + 3]
    if (qtype != _NAPTR and qtype != _URI) or qclass != 1:
        return None
    qend = pos + 4
    pos = qend
    if w[11]:  # one additional record: an OPT of version 0
        if pos + 11 > size or w[pos] != 0:
            return None
        if ((<uint32_t>w[pos + 1] << 8) | w[pos + 2]) != _OPT or w[pos + 6] != 0:
            return None
        payload = (<uint32_t>w[pos + 3] << 8) | w[pos + 4]
        do_bit = (w[pos + 7] & 0x80) != 0
        rdlength = (<Py_ssize_t>w[pos + 9] << 8) | w[pos + 10]
        pos += 11
        end = pos + rdlength
        if end > size:
            return None
        while pos < end:
            if pos + 4 > end:
                return None
            pos += 4 + ((<Py_ssize_t>w[pos + 2] << 8) | w[pos + 3])
        if pos != end:
            return None
        edns = True
        limit = payload if payload > 512 else 512
        if limit > _EDNS_PAYLOAD:
            limit = _EDNS_PAYLOAD
    if pos != size:
        return None
    if tcp:
        limit = 65535
    # zone, marker, prefix labels, suffix pieces
    if name_len < zlen or memcmp(lname + name_len - zlen, z, zlen) != 0:
        return None
    cdef int k = -1, marker = -1
    for i in range(nlabels):
        if starts[i] == name_len - zlen:
            k = <int>i
            break
    if k < 0:
        if name_len - zlen == name_len - 1 and zlen == 1:  # the root zone: every label is inner
            k = nlabels
        else:
            return None
    for i in range(k):
        if lname[starts[i]] == 2 and lname[starts[i] + 1] == 95 and lname[starts[i] + 2] == 104:  # "_h"
            marker = <int>i
            break
    if marker < 1 or marker + 1 >= k:
        return None
    cdef Py_ssize_t s, ln
    for i in range(marker + 1, k):
        s = starts[i]
        ln = lname[s]
        if ln == 2 and lname[s + 1] == 95 and lname[s + 2] == 104:
            return None
        for j in range(ln):
            if not _segment_char(lname[s + 1 + j]):
                return None
    s = starts[k - 1]
    ln = lname[s]
    if (ln == 4 and memcmp(lname + s + 1, b"gtin", 4) == 0) or (ln == 3 and memcmp(lname + s + 1, b"oid", 3) == 0):
        return None
    for i in range(1, marker):
        if lname[starts[i]] != 63:
            return None
    # base32hex of the pieces in suffix order (the label next to the marker first)
    cdef uint8_t raw[160]
    cdef Py_ssize_t nraw = 0, chars = 0
    cdef uint64_t acc = 0
    cdef int bits = 0, digit
    for i in range(marker - 1, -1, -1):
        s = starts[i]
        ln = lname[s]
        for j in range(ln):
            digit = _b32(lname[s + 1 + j])
            if digit < 0:
                return None
            acc = (acc << 5) | <uint64_t>digit
            bits += 5
            chars += 1
            if bits >= 8:
                bits -= 8
                if nraw >= 160:
                    return None
                raw[nraw] = <uint8_t>((acc >> bits) & 0xFF)
                if raw[nraw] >= 0x80:  # non-ASCII suffixes take the full path
                    return None
                nraw += 1
                acc &= (<uint64_t>1 << bits) - 1
    if chars % 8 not in (0, 2, 4, 5, 7) or acc != 0:
        return None
    # the prefix text: labels after the marker, reversed
    cdef uint8_t ptext[256]
    cdef Py_ssize_t npt = 0
    for i in range(k - 1, marker, -1):
        s = starts[i]
        ln = lname[s]
        if npt:
            ptext[npt] = 46
            npt += 1
        memcpy(ptext + npt, lname + s + 1, ln)
        npt += ln
    if not (npt == plen or (npt > plen and ptext[plen] == 46)) or memcmp(ptext, np, plen) != 0:
        return None  # not this node's prefix nor under it
    prefix = PyBytes_FromStringAndSize(<char *>ptext, npt).decode("ascii")
    suffix = PyBytes_FromStringAndSize(<char *>raw, nraw).decode("ascii")
    try:
        if parse_handle(prefix + "/" + suffix) != (prefix, suffix):
            return None
    except InvalidHandle:
        return None
    key = handle_key(prefix, suffix)
    if PyBytes_GET_SIZE(key) == _MAX_KEY:
        return None
    record = get(key)
    cdef const uint8_t *r
    cdef Py_ssize_t rsize = 0
    if record is not None:
        if type(record) is not bytes:
            return None
        r = <const uint8_t *>PyBytes_AS_STRING(record)
        rsize = PyBytes_GET_SIZE(record)
        if rsize < 19 or r[0] != 1:
            return None
    if record is None or r[1] & _TOMBSTONE:
        if serial is None or soa is None or lname[starts[0]] == 63 or zlen == 1:
            return None
        ns_label, negative_ttl, timers = soa
        s = starts[k - 1]
        ln = lname[s]
        if (ln == PyBytes_GET_SIZE(ns_label) and memcmp(lname + s + 1, PyBytes_AS_STRING(ns_label), ln) == 0) or (
            ln == 10 and memcmp(lname + s + 1, b"hostmaster", 10) == 0
        ):
            return None
        return _nxdomain(w, qend, 12 + name_len - zlen, flags, edns, do_bit, limit, serial(), ns_label,
                         negative_ttl, timers)
    return _render(w, qend, r, rsize, qtype, flags, edns, do_bit, limit)


cdef object _render(const uint8_t *w, Py_ssize_t qend, const uint8_t *r, Py_ssize_t rsize, uint32_t qtype,
                    uint32_t flags, bint edns, bint do_bit, Py_ssize_t limit):
    cdef uint8_t out[_OUT]
    cdef Py_ssize_t ttl_at[_MAX_RECORDS]
    cdef int count = 0
    cdef Py_ssize_t o, pos, tv, nvalues, frame_len, fpos, fend, vpos, n, i, extra
    cdef uint64_t tag, number, ttl, min_ttl = _MAX_TTL
    cdef uint32_t field, wtype
    cdef uint64_t fmt
    cdef const uint8_t *vtype
    cdef const uint8_t *data
    cdef Py_ssize_t vtype_len, data_len
    cdef uint8_t perms
    if rsize < 19 or r[0] != 1 or r[1] & (_TOMBSTONE | _FULL_HANDLE):
        return None
    tv = r[18]
    pos = 19 + tv
    if pos + 2 > rsize:
        return None
    nvalues = (<Py_ssize_t>r[pos] << 8) | r[pos + 1]
    pos += 2
    o = qend  # header, then the question copied as received
    if o > _OUT:
        return None
    memcpy(out + 12, w + 12, qend - 12)
    for i in range(nvalues):
        if pos + 9 > rsize:
            return None
        frame_len = _u32(r + pos)
        perms = r[pos + 4]
        fpos = pos + 9
        fend = fpos + frame_len
        if fend > rsize:
            return None
        pos = fend
        if not perms & _PUBLIC_READ:
            continue
        # the value's fields
        vtype = NULL
        vtype_len = 0
        data = <const uint8_t *>b""
        data_len = 0
        fmt = 0
        ttl = _DEFAULT_TTL
        while fpos < fend:
            fpos = _varint(r, fpos, fend, &tag)
            if fpos < 0:
                return None
            field = <uint32_t>(tag >> 3)
            wtype = <uint32_t>(tag & 7)
            if wtype == 0:
                fpos = _varint(r, fpos, fend, &number)
                if fpos < 0:
                    return None
                if field == 3:
                    fmt = number
                elif field == 7:
                    ttl = number
                elif field == 8 and number:
                    return None  # an absolute TTL: the full path computes it
            elif wtype == 2:
                fpos = _varint(r, fpos, fend, &number)
                if fpos < 0 or number > <uint64_t>(fend - fpos):
                    return None
                if field == 2:
                    vtype = r + fpos
                    vtype_len = <Py_ssize_t>number
                elif field == 4:
                    data = r + fpos
                    data_len = <Py_ssize_t>number
                fpos += <Py_ssize_t>number
            elif wtype == 1:
                fpos += 8
            elif wtype == 5:
                fpos += 4
            else:
                return None
        if fpos != fend:
            return None
        if fmt > 1 or vtype == NULL or vtype_len < 3 or memcmp(vtype, b"URL", 3) != 0:
            continue
        if vtype_len > 3 and vtype[3] != 46:  # "URL" or "URL.<subtype>"
            continue
        for n in range(data_len):
            if data[n] >= 0x80:
                return None  # non-ASCII URL: the full path
        if ttl > _MAX_TTL:
            ttl = _MAX_TTL
        if qtype == _NAPTR:
            extra = 0
            for n in range(data_len):
                if data[n] == 92 or data[n] == 33:  # \ and ! are escaped
                    extra += 1
            if vtype_len > 255 or 7 + data_len + extra > 255:
                continue
            if o + 12 + 6 + 1 + vtype_len + 1 + 7 + data_len + extra + 1 > _OUT or count >= _MAX_RECORDS:
                return None
            _put16(out + o, 0xC00C)
            _put16(out + o + 2, _NAPTR)
            _put16(out + o + 4, 1)
            ttl_at[count] = o + 6
            _put16(out + o + 10, <uint32_t>(6 + 1 + vtype_len + 1 + 7 + data_len + extra + 1))
            o += 12
            memcpy(out + o, b"\x00\x64\x00\x0a\x01U", 6)
            o += 6
            out[o] = <uint8_t>vtype_len
            memcpy(out + o + 1, vtype, vtype_len)
            o += 1 + vtype_len
            out[o] = <uint8_t>(7 + data_len + extra)
            memcpy(out + o + 1, b"!^.*$!", 6)
            o += 7
            for n in range(data_len):
                if data[n] == 92 or data[n] == 33:
                    out[o] = 92
                    o += 1
                out[o] = data[n]
                o += 1
            out[o] = 33
            out[o + 1] = 0
            o += 2
        else:
            if data_len == 0:
                continue
            if o + 12 + 4 + data_len > _OUT or count >= _MAX_RECORDS:
                return None
            _put16(out + o, 0xC00C)
            _put16(out + o + 2, _URI)
            _put16(out + o + 4, 1)
            ttl_at[count] = o + 6
            _put16(out + o + 10, <uint32_t>(4 + data_len))
            o += 12
            memcpy(out + o, b"\x00\x0a\x00\x01", 4)
            memcpy(out + o + 4, data, data_len)
            o += 4 + data_len
        count += 1
        if ttl < min_ttl:
            min_ttl = ttl
    if pos != rsize or count == 0:
        return None
    for i in range(count):
        _put32(out + ttl_at[i], <uint32_t>min_ttl)
    if edns:
        if o + 11 > _OUT:
            return None
        o = _put_opt(out, o, do_bit)
    if o > limit:
        return None
    _put16(out, (<uint32_t>w[0] << 8) | w[1])
    _put16(out + 2, 0x8000 | 0x0400 | (flags & 0x0110))
    _put16(out + 4, 1)
    _put16(out + 6, <uint32_t>count)
    _put16(out + 8, 0)
    _put16(out + 10, 1 if edns else 0)
    return PyBytes_FromStringAndSize(<char *>out, o)


cdef object _nxdomain(const uint8_t *w, Py_ssize_t qend, Py_ssize_t zone_at, uint32_t flags, bint edns, bint do_bit,
                      Py_ssize_t limit, object serial, bytes ns_label, object negative_ttl, bytes timers):
    cdef uint8_t out[1024]
    cdef Py_ssize_t o = qend, nl = PyBytes_GET_SIZE(ns_label), rdlength
    cdef uint32_t pointer = 0xC000 | <uint32_t>zone_at
    if nl < 1 or nl > 63 or PyBytes_GET_SIZE(timers) != 16:
        return None
    rdlength = 1 + nl + 2 + 11 + 2 + 4 + 16
    if qend + 12 + rdlength + 11 > 1024:
        return None
    memcpy(out + 12, w + 12, qend - 12)
    _put16(out + o, pointer)
    _put16(out + o + 2, 6)
    _put16(out + o + 4, 1)
    _put32(out + o + 6, <uint32_t>negative_ttl)
    _put16(out + o + 10, <uint32_t>rdlength)
    o += 12
    out[o] = <uint8_t>nl
    memcpy(out + o + 1, PyBytes_AS_STRING(ns_label), nl)
    o += 1 + nl
    _put16(out + o, pointer)
    memcpy(out + o + 2, b"\x0ahostmaster", 11)
    o += 13
    _put16(out + o, pointer)
    _put32(out + o + 2, <uint32_t>serial)
    memcpy(out + o + 6, PyBytes_AS_STRING(timers), 16)
    o += 22
    if edns:
        o = _put_opt(out, o, do_bit)
    if o > limit:
        return None
    _put16(out, (<uint32_t>w[0] << 8) | w[1])
    _put16(out + 2, 0x8000 | 0x0400 | (flags & 0x0110) | 3)
    _put16(out + 4, 1)
    _put16(out + 6, 0)
    _put16(out + 8, 1)
    _put16(out + 10, 1 if edns else 0)
    return PyBytes_FromStringAndSize(<char *>out, o)
