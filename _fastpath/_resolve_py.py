"""Pure-Python batch resolution of the common case: local, live, readable.

``resolve_local`` answers every handle of a batch whose record is stored
here, live and has values to show, in one loop over the codec functions;
it returns ``None`` for every other handle (not found, deleted, invalid,
filters matching nothing, unreadable or over-long keys), which the caller
resolves through the full stage pipeline (``resolver/pipeline.py``) — the
pipeline stays the definition of every answer. This twin is the
specification of the compiled module: same results for the same input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from idnode._fastpath._common import FLAG_TOMBSTONE, MAX_KEY_BYTES, RecordError
from idnode._fastpath._identifiers_py import handle_key, parse_handle
from idnode._fastpath._record_py import decode_header, encode_resolve_response, select_frames
from idnode.registry.errors import InvalidHandle

__all__ = ["resolve_local"]


def resolve_local(
    handles: Sequence[str],
    get: Callable[[bytes], bytes | None],
    required_perms: int,
    indexes: tuple[int, ...],
    types: tuple[str, ...],
) -> list[bytes | None]:
    """Encoded ``ResolveResponse`` (code 1) per handle, or ``None`` to defer.

    Args:
        handles: handle texts as received.
        get: the LMDB lookup of one read transaction (key -> record or None).
        required_perms, indexes, types: as :func:`select_frames`.
    """
    out: list[bytes | None] = []
    for text in handles:
        try:
            prefix, suffix = parse_handle(text)
        except InvalidHandle:
            out.append(None)
            continue
        key = handle_key(prefix, suffix)
        if len(key) == MAX_KEY_BYTES:  # digested key: the stages compare the stored handle
            out.append(None)
            continue
        record = get(key)
        if record is None:
            out.append(None)
            continue
        try:
            flags, _, _, _, _, offset = decode_header(record)
            if flags & FLAG_TOMBSTONE:
                out.append(None)
                continue
            frames = select_frames(record, offset, required_perms, indexes, types)
        except RecordError:
            out.append(None)
            continue
        if not frames and (indexes or types):
            out.append(None)
            continue
        out.append(encode_resolve_response(1, prefix + "/" + suffix, frames))
    return out
