"""Pure-Python codec of the stored record and of the Resolve wire messages.

The record is what LMDB keeps per identifier (DESIGN.md, on-disk formats)::

    u8  format version (1)
    u8  flags            1 = tombstone, 2 = full handle stored (digested key)
    u64 created          seconds since 1970 UTC
    u64 updated
    u8  template version length, then its UTF-8 bytes
    [u16 handle length, then the handle's UTF-8 bytes]   when flags & 2
    u16 value count
    per value:  u32 frame length | u8 permissions | u32 index | frame

Each frame is the value's protobuf wire form (``idnode.v1.HandleValue``), so
a Resolve reply is the frames concatenated behind their field tags, without
building protobuf objects. Permissions and index sit before the frame so a
public-only answer or an index filter skips values without decoding them.
All integers are big-endian. This twin is the specification of the compiled
module: same results, same exceptions, same messages.
"""

from __future__ import annotations

import struct

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

_HEAD = struct.Struct(">BBQQB")
_FRAME = struct.Struct(">IBI")
_U16 = struct.Struct(">H")


def encode_record(
    frames: list[tuple[int, int, bytes]],
    created: int,
    updated: int,
    template_version: str = "",
    handle: str = "",
    tombstone: bool = False,
) -> bytes:
    """Build a record.

    Args:
        frames: ``(permissions, index, HandleValue wire bytes)`` in index order.
        created, updated: seconds since 1970 UTC.
        template_version: kept in the header (and at index 1001 by the registry).
        handle: the full handle, given only when the key was digested.
        tombstone: a deleted identifier (no frames).
    """
    tv = template_version.encode()
    if len(tv) > 255:
        raise RecordError("template version longer than 255 bytes")
    flags = (FLAG_TOMBSTONE if tombstone else 0) | (FLAG_FULL_HANDLE if handle else 0)
    parts = [_HEAD.pack(FORMAT_VERSION, flags, created, updated, len(tv)), tv]
    if handle:
        raw = handle.encode()
        parts.append(_U16.pack(len(raw)))
        parts.append(raw)
    parts.append(_U16.pack(len(frames)))
    for perms, index, frame in frames:
        parts.append(_FRAME.pack(len(frame), perms, index))
        parts.append(frame)
    return b"".join(parts)


def _field_text(raw: bytes | bytearray | memoryview, what: str) -> str:
    """UTF-8 text of a record field; damaged bytes are a :class:`RecordError` like every other damage."""
    try:
        return bytes(raw).decode()
    except UnicodeDecodeError:
        raise RecordError(f"{what} is not valid UTF-8") from None


def decode_header(record: bytes) -> tuple[int, int, int, str, str, int]:
    """Return ``(flags, created, updated, template_version, handle, frames_offset)``.

    ``handle`` is empty unless the record stores it; ``frames_offset`` points
    at the u16 value count.

    Raises:
        RecordError: truncated record or unknown format version.
    """
    if len(record) < _HEAD.size:
        raise RecordError("record truncated in header")
    version, flags, created, updated, tv_len = _HEAD.unpack_from(record, 0)
    if version != FORMAT_VERSION:
        raise RecordError(f"record format version {version} is not supported")
    offset = _HEAD.size
    if len(record) < offset + tv_len:
        raise RecordError("record truncated in template version")
    template_version = _field_text(record[offset : offset + tv_len], "record template version")
    offset += tv_len
    handle = ""
    if flags & FLAG_FULL_HANDLE:
        if len(record) < offset + 2:
            raise RecordError("record truncated in handle")
        (h_len,) = _U16.unpack_from(record, offset)
        offset += 2
        if len(record) < offset + h_len:
            raise RecordError("record truncated in handle")
        handle = _field_text(record[offset : offset + h_len], "record handle")
        offset += h_len
    return flags, created, updated, template_version, handle, offset


def iter_frames(record: bytes, offset: int) -> list[tuple[int, int, bytes]]:
    """Every ``(permissions, index, frame)`` of a record from its frames offset."""
    if len(record) < offset + 2:
        raise RecordError("record truncated in value count")
    (count,) = _U16.unpack_from(record, offset)
    offset += 2
    out = []
    size = len(record)
    for _ in range(count):
        if size < offset + _FRAME.size:
            raise RecordError("record truncated in value header")
        length, perms, index = _FRAME.unpack_from(record, offset)
        offset += _FRAME.size
        end = offset + length
        if size < end:
            raise RecordError("record truncated in value")
        out.append((perms, index, bytes(record[offset:end])))
        offset = end
    if offset != size:
        raise RecordError("trailing bytes after the last value")
    return out


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    size = len(buf)
    while True:
        if pos >= size:
            raise RecordError("truncated varint")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise RecordError("varint longer than 10 bytes")


def frame_type(frame: bytes) -> str:
    """The ``type`` (field 2) of a HandleValue frame, read without decoding the rest."""
    pos = 0
    size = len(frame)
    while pos < size:
        tag, pos = _read_varint(frame, pos)
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, pos = _read_varint(frame, pos)
        elif wire == 2:
            length, pos = _read_varint(frame, pos)
            if field == 2:
                if pos + length > size:
                    raise RecordError("truncated value type")
                return _field_text(frame[pos : pos + length], "value type")
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise RecordError(f"unsupported wire type {wire}")
    return ""


def type_matches(value_type: str, types: tuple[str, ...]) -> bool:
    """Handle type filter: equal, or ``A.`` matching ``A.x`` subtypes."""
    return any(value_type == wanted or (wanted.endswith(".") and value_type.startswith(wanted)) for wanted in types)


def select_frames(
    record: bytes,
    offset: int,
    required_perms: int,
    indexes: tuple[int, ...] = (),
    types: tuple[str, ...] = (),
) -> list[bytes]:
    """The frames a reader may see: permission bits ``required_perms`` set
    (0 = everything), index in ``indexes`` and type matching ``types`` when
    those are given."""
    out = []
    for perms, index, frame in iter_frames(record, offset):
        if required_perms and not perms & required_perms:
            continue
        if indexes and index not in indexes:
            continue
        if types and not type_matches(frame_type(frame), types):
            continue
        out.append(frame)
    return out


def encode_resolve_response(code: int, handle: str, frames: list[bytes], message: str = "") -> bytes:
    """``idnode.v1.ResolveResponse`` wire bytes from stored value frames."""
    raw = handle.encode()
    parts = [b"\x08", _varint(code), b"\x12", _varint(len(raw)), raw]
    for frame in frames:
        parts.append(b"\x1a")
        parts.append(_varint(len(frame)))
        parts.append(frame)
    if message:
        msg = message.encode()
        parts.append(b"\x22")
        parts.append(_varint(len(msg)))
        parts.append(msg)
    return b"".join(parts)


def encode_batch_response(replies: list[bytes]) -> bytes:
    """``idnode.v1.BatchResolveResponse`` from encoded ResolveResponse messages."""
    parts = []
    for reply in replies:
        parts.append(b"\x0a")
        parts.append(_varint(len(reply)))
        parts.append(reply)
    return b"".join(parts)


def _decode_filters(buf: bytes, handle_field_repeated: bool) -> tuple[list[str], tuple[int, ...], tuple[str, ...]]:
    handles: list[str] = []
    indexes: list[int] = []
    types: list[str] = []
    pos = 0
    size = len(buf)
    while pos < size:
        tag, pos = _read_varint(buf, pos)
        field, wire = tag >> 3, tag & 7
        if field == 1 and wire == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > size:
                raise RecordError("truncated handle")
            try:
                handles.append(buf[pos : pos + length].decode())
            except UnicodeDecodeError:
                raise RecordError("handle is not valid UTF-8") from None
            pos += length
        elif field == 2 and wire == 0:
            value, pos = _read_varint(buf, pos)
            indexes.append(value & 0xFFFFFFFF)
        elif field == 2 and wire == 2:  # packed
            length, pos = _read_varint(buf, pos)
            end = pos + length
            if end > size:
                raise RecordError("truncated index list")
            while pos < end:
                value, pos = _read_varint(buf, pos)
                indexes.append(value & 0xFFFFFFFF)
            if pos != end:
                raise RecordError("truncated index list")
        elif field == 3 and wire == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > size:
                raise RecordError("truncated type")
            try:
                types.append(buf[pos : pos + length].decode())
            except UnicodeDecodeError:
                raise RecordError("type is not valid UTF-8") from None
            pos += length
        elif wire == 0:
            _, pos = _read_varint(buf, pos)
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise RecordError(f"unsupported wire type {wire}")
        if pos > size:
            raise RecordError("truncated message")
    if not handle_field_repeated and len(handles) > 1:
        handles = handles[-1:]  # proto3: the last value of a singular field wins
    return handles, tuple(indexes), tuple(types)


def decode_resolve_request(buf: bytes) -> tuple[str, tuple[int, ...], tuple[str, ...]]:
    """``idnode.v1.ResolveRequest`` wire bytes -> ``(handle, indexes, types)``."""
    handles, indexes, types = _decode_filters(buf, False)
    return (handles[0] if handles else ""), indexes, types


def decode_batch_request(buf: bytes) -> tuple[list[str], tuple[int, ...], tuple[str, ...]]:
    """``idnode.v1.BatchResolveRequest`` wire bytes -> ``(handles, indexes, types)``."""
    return _decode_filters(buf, True)
