# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True
"""Compiled codec of the stored record and of the Resolve wire messages.

The twin of ``_record_py.py``, which is the specification (record layout,
results, exception types and messages). Bytes are read in place (``bytes``
directly; ``bytearray`` and one-dimensional ``"B"`` memoryviews through the
buffer protocol where the twin accepts them) and replies are written into one
preallocated ``bytes``. Arguments of any other type, ints outside the C
ranges and text that cannot be encoded are handed to the twin, so unusual
input fails (or succeeds) exactly as the specification says.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_DecodeUTF8, PyUnicode_GET_LENGTH, PyUnicode_Tailmatch
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

from idnode._fastpath import _record_py as _py
from idnode._fastpath._common import FLAG_FULL_HANDLE, FLAG_TOMBSTONE, FORMAT_VERSION, RecordError

__all__ = [
    "decode_batch_request",
    "decode_header",
    "decode_resolve_request",
    "encode_batch_response",
    "encode_record",
    "encode_resolve_response",
    "frame_type",
    "iter_frames",
    "select_frames",
    "type_matches",
]

cdef enum:
    _VERSION = 1
    _TOMBSTONE = 1
    _FULL_HANDLE = 2
    _HEAD_SIZE = 19  # >BBQQB
    _FRAME_SIZE = 9  # >IBI

if (FORMAT_VERSION, FLAG_TOMBSTONE, FLAG_FULL_HANDLE) != (_VERSION, _TOMBSTONE, _FULL_HANDLE):
    raise ImportError("_record_c was built against another record format than _common.py; rebuild it")


# -- reading bytes in place ---------------------------------------------------

cdef struct _In:
    const uint8_t *p
    Py_ssize_t n
    bint held
    Py_buffer view


cdef bint _plain_view(object mv):
    """A memoryview the twin reads exactly as bytes: 1-D, unsigned bytes, contiguous."""
    try:
        return mv.ndim == 1 and mv.format == "B" and mv.c_contiguous
    except ValueError:  # released
        return False


cdef bint _open(_In *b, object obj, bint views) except -1:
    """Point ``b`` at the bytes of ``obj``; False when the twin must handle it."""
    cdef type t = type(obj)
    b.held = False
    if t is bytes:
        b.p = <const uint8_t *>PyBytes_AS_STRING(obj)
        b.n = PyBytes_GET_SIZE(obj)
        return True
    if t is bytearray or (views and t is memoryview and _plain_view(obj)):
        PyObject_GetBuffer(obj, &b.view, PyBUF_SIMPLE)  # pins a bytearray's size while we read
        b.held = True
        b.p = <const uint8_t *>b.view.buf
        b.n = b.view.len
        return True
    return False


cdef inline void _close(_In *b) noexcept:
    if b.held:
        PyBuffer_Release(&b.view)
        b.held = False


cdef inline uint32_t _u32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t _u64(const uint8_t *p) noexcept nogil:
    return (<uint64_t>_u32(p) << 32) | _u32(p + 4)


cdef inline object _text(const uint8_t *p, Py_ssize_t n):
    return PyUnicode_DecodeUTF8(<char *>p, n, NULL)


cdef object _field_text(const uint8_t *p, Py_ssize_t n, str what):
    """UTF-8 text of a record field; damaged bytes raise RecordError as the twin's ``_field_text`` does."""
    try:
        return PyUnicode_DecodeUTF8(<char *>p, n, NULL)
    except UnicodeDecodeError:
        raise RecordError(f"{what} is not valid UTF-8") from None


cdef bint _offset(object offset, Py_ssize_t *out) except -1:
    """A non-negative exact int that fits; anything else goes to the twin."""
    cdef int overflow = 0
    cdef long long value
    if type(offset) is not int:
        return False
    value = PyLong_AsLongLongAndOverflow(offset, &overflow)
    if overflow or value < 0:
        return False
    out[0] = <Py_ssize_t>value
    return True


# -- protobuf varints ---------------------------------------------------------
# A varint of up to 10 bytes can carry up to 70 bits; the twin keeps them all.
# Here the low 64 bits are exact and ``huge`` says the value is 2**64 or more,
# which is all any caller compares (lengths against sizes, fields against 1-3).

cdef inline Py_ssize_t _varint(const uint8_t *p, Py_ssize_t pos, Py_ssize_t size, uint64_t *value, bint *huge) except -1:
    cdef uint64_t result = 0
    cdef int shift = 0
    cdef uint8_t byte
    huge[0] = False
    while True:
        if pos >= size:
            raise RecordError("truncated varint")
        byte = p[pos]
        pos += 1
        if shift == 63:
            if byte & 0x7E:
                huge[0] = True
            result |= (<uint64_t>(byte & 1)) << 63
        else:
            result |= (<uint64_t>(byte & 0x7F)) << shift
        if not byte & 0x80:
            value[0] = result
            return pos
        shift += 7
        if shift >= 64:
            raise RecordError("varint longer than 10 bytes")


cdef inline bint _fits(uint64_t length, bint huge, Py_ssize_t pos, Py_ssize_t size) noexcept nogil:
    """pos + length <= size, without overflow."""
    return not huge and length <= <uint64_t>(size - pos)


cdef inline Py_ssize_t _varint_size(uint64_t value) noexcept nogil:
    cdef Py_ssize_t n = 1
    while value > 0x7F:
        value >>= 7
        n += 1
    return n


cdef inline uint8_t *_put_varint(uint8_t *out, uint64_t value) noexcept nogil:
    while value > 0x7F:
        out[0] = <uint8_t>((value & 0x7F) | 0x80)
        out += 1
        value >>= 7
    out[0] = <uint8_t>value
    return out + 1


# -- record -------------------------------------------------------------------

cdef bint _u64_of(object value, uint64_t *out) except -1:
    """An exact int in [0, 2**64); anything else goes to the twin."""
    if type(value) is not int or value < 0 or value > 0xFFFFFFFFFFFFFFFF:
        return False
    out[0] = <uint64_t>value
    return True


cdef bint _small_of(object value, long long limit, long long *out) except -1:
    """An exact int in [0, limit]; anything else goes to the twin."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is not int:
        return False
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow or v < 0 or v > limit:
        return False
    out[0] = v
    return True


cdef object _utf8(object text, const char **p, Py_ssize_t *n):
    """UTF-8 of an exact str, or None when it has none (lone surrogates)."""
    try:
        p[0] = PyUnicode_AsUTF8AndSize(text, n)
    except UnicodeEncodeError:
        return None
    return text


def encode_record(frames, created, updated, template_version="", handle="", tombstone=False):
    """Build a record (see ``_record_py.encode_record``)."""
    cdef uint64_t c_created, c_updated
    cdef const char *tv
    cdef const char *hd
    cdef Py_ssize_t tv_n, hd_n = 0, count, i, total, fn
    cdef long long perms = 0, index = 0
    cdef bint tomb
    cdef uint8_t flags
    cdef uint8_t *out
    cdef bytes result
    cdef tuple items
    if (
        type(template_version) is not str
        or type(handle) is not str
        or (type(frames) is not list and type(frames) is not tuple)
        or (tombstone is not True and tombstone is not False and tombstone is not None and type(tombstone) is not int)
        or not _u64_of(created, &c_created)
        or not _u64_of(updated, &c_updated)
        or _utf8(template_version, &tv, &tv_n) is None
        or tv_n > 255
    ):
        return _py.encode_record(frames, created, updated, template_version, handle, tombstone)
    tomb = bool(tombstone)
    if PyUnicode_GET_LENGTH(handle):
        if _utf8(handle, &hd, &hd_n) is None or hd_n > 0xFFFF:
            return _py.encode_record(frames, created, updated, template_version, handle, tombstone)
    items = tuple(frames)
    count = len(items)
    if count > 0xFFFF:
        return _py.encode_record(frames, created, updated, template_version, handle, tombstone)
    total = _HEAD_SIZE + tv_n + (2 + hd_n if hd_n else 0) + 2
    for item in items:
        if (
            type(item) is not tuple
            or len(<tuple>item) != 3
            or not _small_of((<tuple>item)[0], 0xFF, &perms)
            or not _small_of((<tuple>item)[1], 0xFFFFFFFF, &index)
            or type((<tuple>item)[2]) is not bytes
            or PyBytes_GET_SIZE((<tuple>item)[2]) > 0xFFFFFFFF
        ):
            return _py.encode_record(frames, created, updated, template_version, handle, tombstone)
        total += _FRAME_SIZE + PyBytes_GET_SIZE((<tuple>item)[2])
    flags = (_TOMBSTONE if tomb else 0) | (_FULL_HANDLE if hd_n else 0)
    result = PyBytes_FromStringAndSize(NULL, total)
    out = <uint8_t *>PyBytes_AS_STRING(result)
    out[0] = _VERSION
    out[1] = flags
    for i in range(8):
        out[2 + i] = <uint8_t>(c_created >> (56 - 8 * i))
        out[10 + i] = <uint8_t>(c_updated >> (56 - 8 * i))
    out[18] = <uint8_t>tv_n
    out += _HEAD_SIZE
    memcpy(out, tv, tv_n)
    out += tv_n
    if hd_n:
        out[0] = <uint8_t>(hd_n >> 8)
        out[1] = <uint8_t>hd_n
        memcpy(out + 2, hd, hd_n)
        out += 2 + hd_n
    out[0] = <uint8_t>(count >> 8)
    out[1] = <uint8_t>count
    out += 2
    for item in items:
        frame = (<tuple>item)[2]
        fn = PyBytes_GET_SIZE(frame)
        _small_of((<tuple>item)[0], 0xFF, &perms)
        _small_of((<tuple>item)[1], 0xFFFFFFFF, &index)
        out[0] = <uint8_t>(fn >> 24)
        out[1] = <uint8_t>(fn >> 16)
        out[2] = <uint8_t>(fn >> 8)
        out[3] = <uint8_t>fn
        out[4] = <uint8_t>perms
        out[5] = <uint8_t>(index >> 24)
        out[6] = <uint8_t>(index >> 16)
        out[7] = <uint8_t>(index >> 8)
        out[8] = <uint8_t>index
        memcpy(out + _FRAME_SIZE, PyBytes_AS_STRING(frame), fn)
        out += _FRAME_SIZE + fn
    return result


def decode_header(record):
    """Return ``(flags, created, updated, template_version, handle, frames_offset)``.

    Raises:
        RecordError: truncated record or unknown format version.
    """
    cdef _In b
    cdef Py_ssize_t off, tv_n, h_n
    cdef uint8_t flags
    if not _open(&b, record, True):
        return _py.decode_header(record)
    try:
        if b.n < _HEAD_SIZE:
            raise RecordError("record truncated in header")
        if b.p[0] != _VERSION:
            raise RecordError(f"record format version {b.p[0]} is not supported")
        flags = b.p[1]
        tv_n = b.p[18]
        off = _HEAD_SIZE
        if b.n < off + tv_n:
            raise RecordError("record truncated in template version")
        template_version = _field_text(b.p + off, tv_n, "record template version")
        off += tv_n
        handle = ""
        if flags & _FULL_HANDLE:
            if b.n < off + 2:
                raise RecordError("record truncated in handle")
            h_n = (b.p[off] << 8) | b.p[off + 1]
            off += 2
            if b.n < off + h_n:
                raise RecordError("record truncated in handle")
            handle = _field_text(b.p + off, h_n, "record handle")
            off += h_n
        return flags, _u64(b.p + 2), _u64(b.p + 10), template_version, handle, off
    finally:
        _close(&b)


cdef Py_ssize_t _walk(const uint8_t *p, Py_ssize_t n, Py_ssize_t off) except -1:
    """Check the value frames from ``off`` as the twin's iter_frames does; return the count."""
    cdef Py_ssize_t count, i
    cdef uint32_t length
    if off > n - 2:
        raise RecordError("record truncated in value count")
    count = (p[off] << 8) | p[off + 1]
    off += 2
    for i in range(count):
        if n - off < _FRAME_SIZE:
            raise RecordError("record truncated in value header")
        length = _u32(p + off)
        off += _FRAME_SIZE
        if n - off < <Py_ssize_t>length:
            raise RecordError("record truncated in value")
        off += length
    if off != n:
        raise RecordError("trailing bytes after the last value")
    return count


def iter_frames(record, offset):
    """Every ``(permissions, index, frame)`` of a record from its frames offset."""
    cdef _In b
    cdef Py_ssize_t off, count, i
    cdef uint32_t length
    cdef list out
    if not _offset(offset, &off) or not _open(&b, record, True):
        return _py.iter_frames(record, offset)
    try:
        count = _walk(b.p, b.n, off)
        out = [None] * count
        off += 2
        for i in range(count):
            length = _u32(b.p + off)
            out[i] = (b.p[off + 4], _u32(b.p + off + 5), PyBytes_FromStringAndSize(<char *>b.p + off + _FRAME_SIZE, length))
            off += _FRAME_SIZE + length
        return out
    finally:
        _close(&b)


cdef int _find_type(const uint8_t *p, Py_ssize_t size, Py_ssize_t *start, Py_ssize_t *length) except -1:
    """Where the ``type`` (field 2) of a HandleValue frame is: 1 found, 0 absent."""
    cdef Py_ssize_t pos = 0
    cdef uint64_t tag, value
    cdef bint huge, tag_huge
    cdef int wire
    while pos < size:
        pos = _varint(p, pos, size, &tag, &tag_huge)
        wire = tag & 7
        if wire == 0:
            pos = _varint(p, pos, size, &value, &huge)
        elif wire == 2:
            pos = _varint(p, pos, size, &value, &huge)
            if not tag_huge and tag >> 3 == 2:
                if not _fits(value, huge, pos, size):
                    raise RecordError("truncated value type")
                start[0] = pos
                length[0] = <Py_ssize_t>value
                return 1
            if not _fits(value, huge, pos, size):
                return 0  # the twin steps past the end and stops
            pos += <Py_ssize_t>value
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise RecordError(f"unsupported wire type {wire}")
    return 0


def frame_type(frame):
    """The ``type`` (field 2) of a HandleValue frame, read without decoding the rest."""
    cdef _In b
    cdef Py_ssize_t start, length
    if not _open(&b, frame, False):
        return _py.frame_type(frame)
    try:
        if _find_type(b.p, b.n, &start, &length):
            return _field_text(b.p + start, length, "value type")
        return ""
    finally:
        _close(&b)


def type_matches(value_type, types):
    """Handle type filter: equal, or ``A.`` matching ``A.x`` subtypes."""
    if type(value_type) is not str or (type(types) is not tuple and type(types) is not list):
        return _py.type_matches(value_type, types)
    for wanted in tuple(types):
        if type(wanted) is not str:
            return _py.type_matches(value_type, types)
        if value_type == wanted:
            return True
        if (
            PyUnicode_GET_LENGTH(wanted)
            and (<str>wanted).endswith(".")
            and PyUnicode_Tailmatch(value_type, wanted, 0, PyUnicode_GET_LENGTH(value_type), -1)
        ):
            return True
    return False


cdef struct _Wanted:
    const char *p
    Py_ssize_t n
    bint dot  # "A." also matches "A.x"
    bint never  # text with lone surrogates equals no decoded type


cdef bint _type_ok(const uint8_t *p, Py_ssize_t n, _Wanted *wanted, Py_ssize_t count) noexcept nogil:
    # Byte comparison of valid UTF-8 is code point comparison, and a UTF-8
    # prefix on a character boundary is a str prefix: same answer as the twin.
    cdef Py_ssize_t i
    for i in range(count):
        if wanted[i].never:
            continue
        if wanted[i].n == n and memcmp(wanted[i].p, p, n) == 0:
            return True
        if wanted[i].dot and wanted[i].n <= n and memcmp(wanted[i].p, p, wanted[i].n) == 0:
            return True
    return False


def select_frames(record, offset, required_perms, indexes=(), types=()):
    """The frames a reader may see: permission bits ``required_perms`` set
    (0 = everything), index in ``indexes`` and type matching ``types`` when
    those are given."""
    cdef _In b
    cdef Py_ssize_t off, count, i, j, n_idx = 0, n_types = 0, t_start, t_len
    cdef uint32_t length, index
    cdef uint8_t perms, rp_low
    cdef bint rp_any, found, huge_index
    cdef long long v
    cdef int overflow
    cdef uint64_t *idx = NULL
    cdef bint *idx_ok = NULL
    cdef _Wanted *wanted = NULL
    cdef const uint8_t *frame
    cdef uint8_t high
    cdef list out
    cdef tuple idx_t, types_t
    cdef const char *tp

    if (
        not _offset(offset, &off)
        or type(required_perms) is not int
        or (type(indexes) is not tuple and type(indexes) is not list)
        or (type(types) is not tuple and type(types) is not list)
    ):
        return _py.select_frames(record, offset, required_perms, indexes, types)
    idx_t = tuple(indexes)
    types_t = tuple(types)
    for item in idx_t:
        if type(item) is not int:
            return _py.select_frames(record, offset, required_perms, indexes, types)
    for item in types_t:
        if type(item) is not str:
            return _py.select_frames(record, offset, required_perms, indexes, types)
    if not _open(&b, record, True):
        return _py.select_frames(record, offset, required_perms, indexes, types)
    try:
        count = _walk(b.p, b.n, off)  # the twin decodes every frame before filtering
        rp_any = required_perms != 0
        rp_low = <uint8_t>(<long long>(required_perms & 0xFF))
        n_idx = len(idx_t)
        if n_idx:
            idx = <uint64_t *>PyMem_Malloc(n_idx * sizeof(uint64_t))
            idx_ok = <bint *>PyMem_Malloc(n_idx * sizeof(bint))
            if idx == NULL or idx_ok == NULL:
                raise MemoryError()
            for i in range(n_idx):
                overflow = 0
                v = PyLong_AsLongLongAndOverflow(idx_t[i], &overflow)
                idx_ok[i] = not overflow and 0 <= v <= 0xFFFFFFFF
                idx[i] = <uint64_t>v if idx_ok[i] else 0
        n_types = len(types_t)
        if n_types:
            wanted = <_Wanted *>PyMem_Malloc(n_types * sizeof(_Wanted))
            if wanted == NULL:
                raise MemoryError()
            for i in range(n_types):
                wanted[i].never = _utf8(types_t[i], &wanted[i].p, &wanted[i].n) is None
                wanted[i].dot = False
                if not wanted[i].never and wanted[i].n > 0:
                    wanted[i].dot = wanted[i].p[wanted[i].n - 1] == 0x2E
        out = []
        off += 2
        for i in range(count):
            length = _u32(b.p + off)
            perms = b.p[off + 4]
            index = _u32(b.p + off + 5)
            frame = b.p + off + _FRAME_SIZE
            off += _FRAME_SIZE + length
            if rp_any and not (perms & rp_low):
                continue
            if n_idx:
                found = False
                for j in range(n_idx):
                    if idx_ok[j] and idx[j] == index:
                        found = True
                        break
                if not found:
                    continue
            if n_types:
                if _find_type(frame, length, &t_start, &t_len):
                    high = 0
                    for j in range(t_len):
                        high |= frame[t_start + j]
                    if high & 0x80:
                        _field_text(frame + t_start, t_len, "value type")  # the twin's decode: same RecordError
                    tp = <const char *>frame + t_start
                else:
                    tp = ""
                    t_len = 0
                if not _type_ok(<const uint8_t *>tp, t_len, wanted, n_types):
                    continue
            out.append(PyBytes_FromStringAndSize(<char *>frame, length))
        return out
    finally:
        PyMem_Free(idx)
        PyMem_Free(idx_ok)
        PyMem_Free(wanted)
        _close(&b)


# -- Resolve wire messages ----------------------------------------------------

cdef tuple _frames_of(object frames, Py_ssize_t *size):
    """Exact bytes in an exact list or tuple (else None), and their size with tags and lengths."""
    cdef Py_ssize_t total = 0, n
    cdef tuple items
    if type(frames) is not list and type(frames) is not tuple:
        return None
    items = tuple(frames)
    for frame in items:
        if type(frame) is not bytes:
            return None
        n = PyBytes_GET_SIZE(frame)
        total += 1 + _varint_size(<uint64_t>n) + n
    size[0] = total
    return items


cdef uint8_t *_put_frames(uint8_t *out, uint8_t tag, tuple items) noexcept:
    cdef Py_ssize_t n
    for frame in items:
        n = PyBytes_GET_SIZE(frame)
        out[0] = tag
        out = _put_varint(out + 1, <uint64_t>n)
        memcpy(out, PyBytes_AS_STRING(frame), n)
        out += n
    return out


def encode_resolve_response(code, handle, frames, message=""):
    """``idnode.v1.ResolveResponse`` wire bytes from stored value frames."""
    cdef uint64_t c_code
    cdef const char *hd
    cdef const char *msg
    cdef Py_ssize_t hd_n, msg_n = 0, total, frames_size
    cdef tuple items
    cdef bytes result
    cdef uint8_t *out
    if (
        type(handle) is not str
        or type(message) is not str
        or not _u64_of(code, &c_code)
        or _utf8(handle, &hd, &hd_n) is None
        or (PyUnicode_GET_LENGTH(message) > 0 and _utf8(message, &msg, &msg_n) is None)
    ):
        return _py.encode_resolve_response(code, handle, frames, message)
    items = _frames_of(frames, &frames_size)
    if items is None:
        return _py.encode_resolve_response(code, handle, frames, message)
    total = 1 + _varint_size(c_code) + 1 + _varint_size(<uint64_t>hd_n) + hd_n + frames_size
    if msg_n:
        total += 1 + _varint_size(<uint64_t>msg_n) + msg_n
    result = PyBytes_FromStringAndSize(NULL, total)
    out = <uint8_t *>PyBytes_AS_STRING(result)
    out[0] = 0x08
    out = _put_varint(out + 1, c_code)
    out[0] = 0x12
    out = _put_varint(out + 1, <uint64_t>hd_n)
    memcpy(out, hd, hd_n)
    out = _put_frames(out + hd_n, 0x1A, items)
    if msg_n:
        out[0] = 0x22
        out = _put_varint(out + 1, <uint64_t>msg_n)
        memcpy(out, msg, msg_n)
    return result


def encode_batch_response(replies):
    """``idnode.v1.BatchResolveResponse`` from encoded ResolveResponse messages."""
    cdef tuple items
    cdef Py_ssize_t total
    cdef bytes result
    items = _frames_of(replies, &total)
    if items is None:
        return _py.encode_batch_response(replies)
    result = PyBytes_FromStringAndSize(NULL, total)
    _put_frames(<uint8_t *>PyBytes_AS_STRING(result), 0x0A, items)
    return result


cdef tuple _decode_filters(const uint8_t *p, Py_ssize_t size, bint handle_field_repeated):
    # Lists are made on first use: most requests carry no filters.
    cdef list handles = [] if handle_field_repeated else None
    cdef object last = ""  # a singular handle: the last one wins (proto3)
    cdef list indexes = None
    cdef list types = None
    cdef Py_ssize_t pos = 0, end
    cdef uint64_t tag, value
    cdef bint huge
    cdef int wire
    cdef uint64_t field
    while pos < size:
        pos = _varint(p, pos, size, &tag, &huge)
        field = 0xFFFFFFFFFFFFFFFF if huge else tag >> 3  # huge: no field this code knows
        wire = tag & 7
        if field == 1 and wire == 2:
            pos = _varint(p, pos, size, &value, &huge)
            if not _fits(value, huge, pos, size):
                raise RecordError("truncated handle")
            try:
                last = _text(p + pos, <Py_ssize_t>value)
            except UnicodeDecodeError:
                raise RecordError("handle is not valid UTF-8") from None
            if handle_field_repeated:
                handles.append(last)
            pos += <Py_ssize_t>value
        elif field == 2 and wire == 0:
            pos = _varint(p, pos, size, &value, &huge)
            if indexes is None:
                indexes = []
            indexes.append(<uint32_t>value)
        elif field == 2 and wire == 2:  # packed
            pos = _varint(p, pos, size, &value, &huge)
            if not _fits(value, huge, pos, size):
                raise RecordError("truncated index list")
            end = pos + <Py_ssize_t>value
            if indexes is None:
                indexes = []
            while pos < end:
                pos = _varint(p, pos, size, &value, &huge)  # may run past end: checked below
                indexes.append(<uint32_t>value)
            if pos != end:
                raise RecordError("truncated index list")
        elif field == 3 and wire == 2:
            pos = _varint(p, pos, size, &value, &huge)
            if not _fits(value, huge, pos, size):
                raise RecordError("truncated type")
            if types is None:
                types = []
            try:
                types.append(_text(p + pos, <Py_ssize_t>value))
            except UnicodeDecodeError:
                raise RecordError("type is not valid UTF-8") from None
            pos += <Py_ssize_t>value
        elif wire == 0:
            pos = _varint(p, pos, size, &value, &huge)
        elif wire == 2:
            pos = _varint(p, pos, size, &value, &huge)
            if not _fits(value, huge, pos, size):
                raise RecordError("truncated message")
            pos += <Py_ssize_t>value
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise RecordError(f"unsupported wire type {wire}")
        if pos > size:
            raise RecordError("truncated message")
    return (
        handles if handle_field_repeated else last,
        () if indexes is None else tuple(indexes),
        () if types is None else tuple(types),
    )


def decode_resolve_request(buf):
    """``idnode.v1.ResolveRequest`` wire bytes -> ``(handle, indexes, types)``."""
    cdef _In b
    if not _open(&b, buf, False):
        return _py.decode_resolve_request(buf)
    try:
        return _decode_filters(b.p, b.n, False)
    finally:
        _close(&b)


def decode_batch_request(buf):
    """``idnode.v1.BatchResolveRequest`` wire bytes -> ``(handles, indexes, types)``."""
    cdef _In b
    if not _open(&b, buf, False):
        return _py.decode_batch_request(buf)
    try:
        return _decode_filters(b.p, b.n, True)
    finally:
        _close(&b)
