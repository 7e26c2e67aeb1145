# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True
"""Compiled identifier parsing, normalisation and LMDB key encoding.

The twin of ``_identifiers_py.py``, which is the specification: same names,
signatures, results, exception types and messages. Arguments of the exact
types the functions are for (``str``; ``bytes`` for :func:`key_handle`) are
handled in C on the string's own buffer; any other argument is handed to the
twin, so unusual input fails (or succeeds) exactly as the specification says.
"""

import hashlib
import unicodedata

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport (
    Py_UNICODE_ISSPACE,
    PyUnicode_1BYTE_DATA,
    PyUnicode_AsUTF8AndSize,
    PyUnicode_DATA,
    PyUnicode_DecodeUTF8,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
    PyUnicode_New,
    PyUnicode_READ,
    PyUnicode_Substring,
)
from libc.string cimport memchr, memcpy

from idnode._fastpath import _identifiers_py as _py
from idnode._fastpath._common import MAX_HANDLE_CHARS, MAX_KEY_BYTES, MAX_PREFIX_CHARS
from idnode.registry.errors import InvalidHandle

__all__ = [
    "handle_key",
    "key_handle",
    "key_is_digested",
    "normalise_handle",
    "parse_handle",
    "parse_prefix",
    "prefix_key",
]


cdef extern from "Python.h":
    ctypedef unsigned char Py_UCS1
    bint PyUnicode_IS_ASCII(object o)


cdef enum:
    _MAX_HANDLE = 255
    _MAX_PREFIX = 64
    _MAX_KEY = 511
    _KEY_HEAD = 511 - 32  # the SHA-256 digest ends a shortened key

if (MAX_HANDLE_CHARS, MAX_PREFIX_CHARS, MAX_KEY_BYTES) != (_MAX_HANDLE, _MAX_PREFIX, _MAX_KEY):
    raise ImportError("_identifiers_c was built against other limits than _common.py; rebuild it")

cdef object _is_normalized = unicodedata.is_normalized
cdef object _normalize = unicodedata.normalize
cdef object _sha256 = hashlib.sha256

# What _scan learns about the prefix, so the result is built without another pass.
cdef enum:
    _LOWER_ASCII = 0  # the prefix is already its own lower case
    _UPPER_ASCII = 1  # ASCII with capitals: fold in C
    _NON_ASCII = 2  # str.lower() decides


cdef object _bad(str text, str what):
    shown = text if len(text) <= 80 else text[:77] + "..."
    return InvalidHandle(f"invalid handle {shown!r}: {what}", handle=shown)


cdef inline bint _is_control(Py_UCS4 c) noexcept nogil:
    # unicodedata.category(c) == "Cc": fixed by Unicode's stability policy
    return c < 0x20 or (0x7F <= c <= 0x9F)


cdef inline bint _is_surrogate(Py_UCS4 c) noexcept nogil:
    return 0xD800 <= c <= 0xDFFF


cdef int _check_chars(str whole, Py_ssize_t start, Py_ssize_t end) except -1:
    """Raise for the first control character or lone surrogate in whole[start:end]."""
    cdef int kind = PyUnicode_KIND(whole)
    cdef void *data = PyUnicode_DATA(whole)
    cdef Py_ssize_t i
    cdef Py_UCS4 c
    for i in range(start, end):
        c = PyUnicode_READ(kind, data, i)
        if _is_control(c):
            raise _bad(whole, f"control character U+{<long>c:04X} at position {i}")
        if _is_surrogate(c):
            raise _bad(whole, f"unpaired surrogate U+{<long>c:04X} at position {i}")
    return 0


cdef str _scan(str text, Py_ssize_t *slash_out, int *state_out):
    """Validate ``text`` as the twin's parse_handle does, in the same order.

    Returns the text the result is cut from (NFC-normalised when needed) and
    sets the position of the first '/' and what the prefix needs to fold.
    """
    cdef Py_ssize_t n, i, slash, seg_start
    cdef int kind, state
    cdef void *data
    cdef const Py_UCS1 *p
    cdef Py_UCS4 c
    if not PyUnicode_IS_ASCII(text) and not _is_normalized("NFC", text):
        _check_chars(text, 0, PyUnicode_GET_LENGTH(text))  # normalize() would pass surrogates through
        text = _normalize("NFC", text)
    n = PyUnicode_GET_LENGTH(text)

    if PyUnicode_IS_ASCII(text):
        # The common case: one pass over the bytes finds the slash and proves
        # every rule; any doubt goes to the general loop below for its message.
        p = PyUnicode_1BYTE_DATA(text)
        slash = -1
        state = _LOWER_ASCII
        seg_start = 0
        for i in range(n):
            c = p[i]
            if c == 0x2F:  # '/'
                slash = i
                break
            if c <= 0x20 or c == 0x7F:  # controls and space (the only ASCII whitespace that is not Cc)
                slash = -2
                break
            if c == 0x2E:  # '.'
                if i == seg_start:
                    slash = -2
                    break
                seg_start = i + 1
            elif 0x41 <= c <= 0x5A:
                state = _UPPER_ASCII
        if slash > 0 and slash != seg_start and slash < n - 1 and n <= _MAX_HANDLE and slash <= _MAX_PREFIX:
            for i in range(slash + 1, n):
                c = p[i]
                if c < 0x20 or c == 0x7F:
                    break
            else:
                slash_out[0] = slash
                state_out[0] = state
                return text

    kind = PyUnicode_KIND(text)
    data = PyUnicode_DATA(text)
    slash = -1
    for i in range(n):
        if PyUnicode_READ(kind, data, i) == 0x2F:
            slash = i
            break
    if slash < 0:
        if n == 0:
            raise _bad(text, "empty handle")
        raise _bad(text, "no '/' between prefix and suffix")
    if slash == 0:
        raise _bad(text, "empty prefix before '/' at position 0")
    if slash == n - 1:
        raise _bad(text, f"empty suffix after '/' at position {slash}")
    if n > _MAX_HANDLE:
        raise _bad(text, f"{n} characters, at most {MAX_HANDLE_CHARS} allowed")
    if slash > _MAX_PREFIX:
        raise _bad(text, f"prefix of {slash} characters, at most {MAX_PREFIX_CHARS} allowed")
    _check_chars(text, 0, slash)
    _check_chars(text, slash + 1, n)
    state = _LOWER_ASCII
    seg_start = 0
    for i in range(slash):
        c = PyUnicode_READ(kind, data, i)
        if c == 0x2E:
            if i == seg_start:
                raise _bad(text, f"empty prefix segment at position {seg_start}")
            seg_start = i + 1
        elif Py_UNICODE_ISSPACE(c):
            raise _bad(text, f"whitespace in prefix at position {i}")
        elif c >= 0x80:
            state = _NON_ASCII
        elif 0x41 <= c <= 0x5A and state == _LOWER_ASCII:
            state = _UPPER_ASCII
    if seg_start == slash:
        raise _bad(text, f"empty prefix segment at position {seg_start}")
    slash_out[0] = slash
    state_out[0] = state
    return text


cdef inline void _fold_ascii(const Py_UCS1 *src, Py_UCS1 *dst, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    cdef Py_UCS1 c
    for i in range(n):
        c = src[i]
        dst[i] = c + 32 if 0x41 <= c <= 0x5A else c


cdef str _prefix_of(str text, Py_ssize_t slash, int state):
    cdef str out
    cdef int kind
    cdef void *data
    cdef Py_UCS1 *dst
    cdef Py_ssize_t i
    if state == _LOWER_ASCII:
        return PyUnicode_Substring(text, 0, slash)
    if state == _UPPER_ASCII:  # the suffix may still be wide: read by kind
        out = PyUnicode_New(slash, 127)
        dst = PyUnicode_1BYTE_DATA(out)
        kind = PyUnicode_KIND(text)
        data = PyUnicode_DATA(text)
        if kind == 1:
            _fold_ascii(<const Py_UCS1 *>data, dst, slash)
        else:
            for i in range(slash):
                dst[i] = <Py_UCS1>PyUnicode_READ(kind, data, i)
            _fold_ascii(dst, dst, slash)
        return out
    return PyUnicode_Substring(text, 0, slash).lower()


def parse_handle(text):
    """Split and normalise ``<prefix>/<suffix>`` (see ``_identifiers_py.parse_handle``)."""
    cdef Py_ssize_t slash
    cdef int state
    if type(text) is not str:
        return _py.parse_handle(text)
    text = _scan(<str>text, &slash, &state)
    return _prefix_of(<str>text, slash, state), PyUnicode_Substring(text, slash + 1, PyUnicode_GET_LENGTH(text))


def normalise_handle(text):
    """The canonical text of a handle (see :func:`parse_handle`)."""
    cdef Py_ssize_t slash, n
    cdef int state
    cdef str out
    if type(text) is not str:
        return _py.normalise_handle(text)
    text = _scan(<str>text, &slash, &state)
    if state == _LOWER_ASCII:
        return text  # already canonical: prefix + "/" + suffix is the text itself
    if state == _UPPER_ASCII and PyUnicode_IS_ASCII(text):
        n = PyUnicode_GET_LENGTH(text)
        out = PyUnicode_New(n, 127)
        _fold_ascii(PyUnicode_1BYTE_DATA(text), PyUnicode_1BYTE_DATA(out), slash)
        memcpy(PyUnicode_1BYTE_DATA(out) + slash, PyUnicode_1BYTE_DATA(text) + slash, n - slash)
        return out
    return _prefix_of(<str>text, slash, state) + "/" + PyUnicode_Substring(text, slash + 1, PyUnicode_GET_LENGTH(text))


def parse_prefix(text):
    """Normalise a bare prefix (``88.118.8``); same rules as the prefix part."""
    cdef Py_ssize_t n, i, seg_start, slash
    cdef const Py_UCS1 *p
    cdef Py_UCS1 c
    cdef int state
    cdef bint upper = False
    if type(text) is not str:
        return _py.parse_prefix(text)
    n = PyUnicode_GET_LENGTH(text)
    if PyUnicode_IS_ASCII(text) and 0 < n <= _MAX_PREFIX:
        p = PyUnicode_1BYTE_DATA(text)
        seg_start = 0
        for i in range(n):
            c = p[i]
            if c <= 0x20 or c == 0x7F or c == 0x2F:
                break
            if c == 0x2E:
                if i == seg_start:
                    break
                seg_start = i + 1
            elif 0x41 <= c <= 0x5A:
                upper = True
        else:
            if seg_start < n:
                return _prefix_of(<str>text, n, _UPPER_ASCII if upper else _LOWER_ASCII)
    # Anything unusual takes the twin's route, for the same messages.
    if n == 0 or "/" in text:
        raise InvalidHandle(f"invalid prefix {text!r}: expected dot-separated segments, no '/'")
    whole = _scan(text + "/x", &slash, &state)
    return _prefix_of(<str>whole, slash, state)


def handle_key(prefix, suffix):
    """The LMDB key of a normalised handle: prefix, 0x00, suffix (UTF-8).

    Keys over LMDB's 511-byte limit keep a fixed head and end in the SHA-256
    of the whole key (see ``_identifiers_py.handle_key``).
    """
    cdef const char *p
    cdef const char *s
    cdef Py_ssize_t pn, sn, total
    cdef bytes key
    cdef char *out
    if type(prefix) is not str or type(suffix) is not str:
        return _py.handle_key(prefix, suffix)
    try:
        p = PyUnicode_AsUTF8AndSize(prefix, &pn)
        s = PyUnicode_AsUTF8AndSize(suffix, &sn)
    except UnicodeEncodeError:
        return _py.handle_key(prefix, suffix)  # raises the twin's own error
    total = pn + 1 + sn
    key = PyBytes_FromStringAndSize(NULL, total)
    out = PyBytes_AS_STRING(key)
    memcpy(out, p, pn)
    out[pn] = 0
    memcpy(out + pn + 1, s, sn)
    if total > _MAX_KEY:
        digest = _sha256(key).digest()
        full = key
        key = PyBytes_FromStringAndSize(NULL, _MAX_KEY)
        out = PyBytes_AS_STRING(key)
        memcpy(out, PyBytes_AS_STRING(full), _KEY_HEAD)
        memcpy(out + _KEY_HEAD, PyBytes_AS_STRING(digest), _MAX_KEY - _KEY_HEAD)
    return key


def key_is_digested(key):
    """True when ``key`` was shortened (its record stores the full handle)."""
    return len(key) == _MAX_KEY


def prefix_key(prefix):
    """The first key of a normalised prefix's range (every key starts with it)."""
    cdef const char *p
    cdef Py_ssize_t pn
    cdef bytes key
    if type(prefix) is not str:
        return _py.prefix_key(prefix)
    try:
        p = PyUnicode_AsUTF8AndSize(prefix, &pn)
    except UnicodeEncodeError:
        return _py.prefix_key(prefix)
    key = PyBytes_FromStringAndSize(NULL, pn + 1)
    memcpy(PyBytes_AS_STRING(key), p, pn)
    PyBytes_AS_STRING(key)[pn] = 0
    return key


def key_handle(key):
    """The handle text of a key that was not digested."""
    cdef const unsigned char *p
    cdef const unsigned char *nul
    cdef Py_ssize_t n, i, cut
    cdef unsigned char high = 0
    cdef str out
    cdef Py_UCS1 *dst
    if type(key) is not bytes:
        return _py.key_handle(key)
    p = <const unsigned char *>PyBytes_AS_STRING(key)
    n = PyBytes_GET_SIZE(key)
    nul = <const unsigned char *>memchr(p, 0, n)
    cut = nul - p if nul != NULL else n
    for i in range(n):
        high |= p[i]
    if high < 0x80:  # ASCII: the key is the text, with '/' for the first NUL
        out = PyUnicode_New(n if nul != NULL else n + 1, 127)
        dst = PyUnicode_1BYTE_DATA(out)
        memcpy(dst, p, n)
        dst[cut] = 0x2F
        return out
    prefix = PyUnicode_DecodeUTF8(<char *>p, cut, NULL)
    if nul == NULL:
        return prefix + "/"
    return prefix + "/" + PyUnicode_DecodeUTF8(<char *>p + cut + 1, n - cut - 1, NULL)
