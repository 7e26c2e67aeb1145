"""The stored record codec and the Resolve wire helpers, against protobuf itself."""

from __future__ import annotations

import contextlib
import importlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idnode.proto import resolver_pb2
from idnode.registry.values import AdminData, Reference, Value

IMPLEMENTATIONS = ["idnode._fastpath._record_py"]
try:
    importlib.import_module("idnode._fastpath._record_c")
    IMPLEMENTATIONS.append("idnode._fastpath._record_c")
except ImportError:
    pass


@pytest.fixture(params=IMPLEMENTATIONS)
def rec(request):
    return importlib.import_module(request.param)


VALUES = [
    Value(1, "URL", b"https://example.com/a", permissions=0b1110),
    Value(2, "EMAIL", b"ops@example.com", permissions=0b1100),
    Value(3, "URL.alt", b"https://example.com/b"),
    Value(100, "HS_ADMIN", AdminData("88.1/ADMIN", 300, 0b011111110011), "admin"),
    Value(7, "HS_VLIST", (Reference("88.1/a", 1), Reference("88.1/b", 2)), "vlist"),
    Value(8, "BLOB", b"\x00\xff", "hex", ttl=60, ttl_absolute=True, timestamp=1700000000),
]


def frames():
    return [(v.permissions, v.index, v.to_frame()) for v in VALUES]


@pytest.mark.parametrize("handle", ["", "88.1/x"])
@pytest.mark.parametrize("tombstone", [False, True])
def test_record_round_trip(rec, handle, tombstone):
    fr = [] if tombstone else frames()
    raw = rec.encode_record(fr, 10, 20, "1.0", handle, tombstone)
    flags, created, updated, tv, got_handle, offset = rec.decode_header(raw)
    assert (created, updated, tv, got_handle) == (10, 20, "1.0", handle)
    assert bool(flags & 1) is tombstone
    assert rec.iter_frames(raw, offset) == fr
    assert [Value.from_frame(f) for _, _, f in rec.iter_frames(raw, offset)] == ([] if tombstone else VALUES)


def test_truncated_and_trailing_records_fail(rec):
    raw = rec.encode_record(frames(), 1, 2, "v", "", False)
    for cut in range(len(raw)):
        with pytest.raises(rec.RecordError if hasattr(rec, "RecordError") else ValueError):
            head = rec.decode_header(raw[:cut])
            rec.iter_frames(raw[:cut], head[5])
    head = rec.decode_header(raw + b"x")
    with pytest.raises(ValueError, match="trailing bytes"):
        rec.iter_frames(raw + b"x", head[5])


def test_unknown_format_version(rec):
    raw = bytearray(rec.encode_record([], 1, 2))
    raw[0] = 9
    with pytest.raises(ValueError, match="format version 9 is not supported"):
        rec.decode_header(bytes(raw))


def test_select_frames_by_permission_index_and_type(rec):
    raw = rec.encode_record(frames(), 1, 2)
    offset = rec.decode_header(raw)[5]
    pick = lambda **kw: [Value.from_frame(f).index for f in rec.select_frames(raw, offset, **kw)]  # noqa: E731
    assert pick(required_perms=0) == [1, 2, 3, 100, 7, 8]
    assert pick(required_perms=0b0010) == [1, 3, 100, 7, 8]  # EMAIL is not public
    assert pick(required_perms=0, indexes=(2, 8)) == [2, 8]
    assert pick(required_perms=0, types=("URL",)) == [1]
    assert pick(required_perms=0, types=("URL.",)) == [3]
    assert pick(required_perms=0, types=("HS_ADMIN", "BLOB")) == [100, 8]


def test_resolve_response_is_valid_protobuf(rec):
    fr = [f for _, _, f in frames()]
    raw = rec.encode_resolve_response(1, "88.1/产品", fr)
    msg = resolver_pb2.ResolveResponse.FromString(raw)
    assert msg.response_code == 1 and msg.handle == "88.1/产品"
    assert [Value.from_pb(v) for v in msg.values] == VALUES
    err = resolver_pb2.ResolveResponse.FromString(rec.encode_resolve_response(100, "88.1/x", [], "handle not found"))
    assert (err.response_code, err.message, list(err.values)) == (100, "handle not found", [])
    batch = resolver_pb2.BatchResolveResponse.FromString(rec.encode_batch_response([raw, raw]))
    assert len(batch.results) == 2 and batch.results[1].handle == "88.1/产品"


@given(
    handle=st.text(max_size=50),
    indexes=st.lists(st.integers(0, 2**32 - 1), max_size=5),
    types=st.lists(st.text(max_size=10), max_size=3),
)
def test_request_decoding_matches_protobuf(handle, indexes, types):
    from idnode import _fastpath

    req = resolver_pb2.ResolveRequest(handle=handle, indexes=indexes, types=types)
    assert _fastpath.decode_resolve_request(req.SerializeToString()) == (handle, tuple(indexes), tuple(types))
    batch = resolver_pb2.BatchResolveRequest(handles=[handle, handle], indexes=indexes, types=types)
    assert _fastpath.decode_batch_request(batch.SerializeToString()) == ([handle, handle], tuple(indexes), tuple(types))


def test_request_decoding_accepts_unpacked_indexes_and_unknown_fields():
    from idnode import _fastpath

    # field 2 as two unpacked varints, field 9 unknown varint, field 1 handle
    raw = b"\x10\x05\x10\x06\x48\x01\x0a\x04ab/c"
    assert _fastpath.decode_resolve_request(raw) == ("ab/c", (5, 6), ())


@given(st.binary(max_size=64))
def test_request_decoding_survives_garbage(raw):
    from idnode import _fastpath

    with contextlib.suppress(_fastpath.RecordError):
        _fastpath.decode_batch_request(raw)
