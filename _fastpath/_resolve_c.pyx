# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True
"""Compiled batch resolution of the common case: the twin of ``_resolve_py.py``.

Same contract: an encoded ``ResolveResponse`` per local, live, readable
handle, ``None`` for every other handle (resolved by the stage pipeline).
It calls the compiled codec functions directly, without the pipeline's
per-handle objects and stage calls.
"""

from idnode._fastpath._common import FLAG_TOMBSTONE, MAX_KEY_BYTES, RecordError
from idnode._fastpath._identifiers_c import handle_key, parse_handle
from idnode._fastpath._record_c import decode_header, encode_resolve_response, select_frames
from idnode.registry.errors import InvalidHandle

__all__ = ["resolve_local"]


def resolve_local(handles, get, int required_perms, indexes, types):
    """Encoded ``ResolveResponse`` (code 1) per handle, or ``None`` to defer."""
    cdef list out = []
    cdef object text, prefix, suffix, key, record, frames, header
    cdef Py_ssize_t max_key = MAX_KEY_BYTES
    cdef long tombstone = FLAG_TOMBSTONE
    cdef bint filtered = bool(indexes) or bool(types)
    for text in handles:
        try:
            prefix, suffix = parse_handle(text)
        except InvalidHandle:
            out.append(None)
            continue
        key = handle_key(prefix, suffix)
        if len(<bytes>key) == max_key:
            out.append(None)
            continue
        record = get(key)
        if record is None:
            out.append(None)
            continue
        try:
            header = decode_header(record)
            if (<long>header[0]) & tombstone:
                out.append(None)
                continue
            frames = select_frames(record, header[5], required_perms, indexes, types)
        except RecordError:
            out.append(None)
            continue
        if filtered and not frames:
            out.append(None)
            continue
        out.append(encode_resolve_response(1, prefix + "/" + suffix, frames))
    return out
