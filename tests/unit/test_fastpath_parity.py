"""The compiled twins against the pure-Python specification, failures included.

Hypothesis feeds both implementations the same random, malformed and edge
input; results must be equal (with the same types) and failures must raise the
same exception class with the same message (STYLE.md points 5 and 6). Skipped
when the extensions are not built, except under ``CI`` or with
``IDNODE_REQUIRE_EXTENSIONS`` set, where a missing build fails.
"""

from __future__ import annotations

import importlib
import inspect
import os
import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from idnode._fastpath import _common, _identifiers_py, _record_py
from idnode.registry.errors import HandleError
from idnode.registry.values import AdminData, Reference, Value

try:
    _identifiers_c = importlib.import_module("idnode._fastpath._identifiers_c")
    _record_c = importlib.import_module("idnode._fastpath._record_c")
except ImportError as exc:  # pragma: no cover - depends on the build
    if os.environ.get("IDNODE_REQUIRE_EXTENSIONS") or os.environ.get("CI"):
        raise
    pytest.skip(f"compiled twins not built: {exc}", allow_module_level=True)

PAIRS = [(_identifiers_py, _identifiers_c), (_record_py, _record_c)]


def outcome(fn, *args, **kwargs):
    """What a call did: its result with the types inside, or its exception."""
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:
        extra = (exc.code, exc.message, exc.handle) if isinstance(exc, HandleError) else ()
        return ("raised", type(exc), str(exc), extra)
    return ("returned", _typed(result))


def _typed(value):
    if isinstance(value, tuple | list):
        return (type(value), [_typed(v) for v in value])
    return (type(value), value)


class Fresh:
    """An argument made anew for each implementation (an iterator is used up by one call)."""

    def __init__(self, make):
        self.make = make

    def __repr__(self):
        return f"Fresh({list(self.make())!r})"


def same(name, *args, **kwargs):
    """Call ``name`` on both twins and require the same outcome."""
    module = _identifiers_py if name in _identifiers_py.__all__ else _record_py
    twin = _identifiers_c if module is _identifiers_py else _record_c
    outcomes = []
    for impl in (module, twin):
        call_args = [a.make() if isinstance(a, Fresh) else a for a in args]
        outcomes.append(outcome(getattr(impl, name), *call_args, **kwargs))
    expected, got = outcomes
    assert got == expected, f"{name}{args!r}"
    return expected


# -- the surface --------------------------------------------------------------


@pytest.mark.parametrize("py, c", PAIRS, ids=["identifiers", "record"])
def test_same_public_names_and_signatures(py, c):
    assert c.__all__ == py.__all__
    for name in py.__all__:
        expected = inspect.signature(getattr(py, name)).parameters
        got = inspect.signature(getattr(c, name)).parameters
        assert [(p.name, p.kind, p.default) for p in got.values()] == [
            (p.name, p.kind, p.default) for p in expected.values()
        ], name


def test_errors_and_constants_are_shared():
    assert _record_py.RecordError is _common.RecordError is _record_c.RecordError
    assert _identifiers_c.MAX_KEY_BYTES == _identifiers_py.MAX_KEY_BYTES == _common.MAX_KEY_BYTES
    with pytest.raises(_common.RecordError):
        _record_c.decode_header(b"")


def test_selector_follows_the_environment(monkeypatch):
    import idnode._fastpath as fastpath

    try:
        for value, implementation in (("1", "python"), ("yes", "python"), ("0", "cython"), ("", "cython")):
            monkeypatch.setenv("IDNODE_NO_EXTENSIONS", value)
            importlib.reload(fastpath)
            compiled = implementation == "cython"
            assert fastpath.COMPILED is compiled
            assert implementation == fastpath.IMPLEMENTATION
            assert bool(fastpath.BUILD_ERROR) is not compiled
            assert fastpath.parse_handle is (_identifiers_c if compiled else _identifiers_py).parse_handle
            assert fastpath.select_frames is (_record_c if compiled else _record_py).select_frames
            assert fastpath.RecordError is _common.RecordError
    finally:
        monkeypatch.undo()
        importlib.reload(fastpath)


# -- identifiers --------------------------------------------------------------

# Characters that exercise every rule: separators, controls (C0, DEL, C1),
# whitespace that is not a control, NFC-sensitive sequences and singletons,
# case folding that changes length, wide characters, lone surrogates.
TRICKY = (
    "8", "1", "a", "Z", ".", "/", "-", " ", "\t", "\n", "\x00", "\x07", "\x1f", "\x7f", "\x85", "\x9f",
    "\xa0", "\u3000", "\u2028", "\u200b", "\ufeff", "e", "\u0301", "\u00e9", "\u212b", "\u2126", "\u0130",
    "\u00df", "\u1e9e", "\u0345", "\uff0f", "\u4ea7", "\U0001f600", "\ud800", "\udfff", "\udc80",
)  # fmt: skip
tricky_text = st.text(alphabet=st.sampled_from(TRICKY), max_size=12)
any_text = st.text(st.characters(exclude_categories=()), max_size=40)  # includes surrogates


@st.composite
def handle_like(draw):
    """``<prefix>/<suffix>`` near every limit, with tricky characters mixed in."""
    segments = draw(st.lists(st.text("0123456789AbZ.", max_size=6) | tricky_text, min_size=1, max_size=4))
    prefix = ".".join(segments)
    prefix += draw(st.sampled_from(["", "8" * 50, "8" * (64 - len(prefix)), "8" * (65 - len(prefix))]))
    suffix = draw(st.text("JXDY0123/", max_size=10) | tricky_text)
    suffix += draw(st.sampled_from(["", "x" * 60, "x" * max(0, 254 - len(prefix) - len(suffix)), "y" * 200]))
    return draw(st.sampled_from([prefix + "/" + suffix, prefix, prefix + "/", "/" + suffix]))


handles = handle_like() | tricky_text | any_text | st.text(max_size=300)
not_text = st.one_of(st.none(), st.integers(), st.binary(max_size=8), st.builds(bytearray, st.binary(max_size=8)))


@given(handles | not_text)
@example("88.118.8/JXDY2106023")
@example("88.1/e\u0301")
@example("88.1/\ud800")
@example("\u00e9\u0301\ud800/x")  # not NFC, and a surrogate: reported before normalising
@example("88.\u0130/x")  # lower() grows the prefix
@example("a" * 81 + "\x00/x")  # the message shows 77 characters and "..."
def test_parse_and_normalise(text):
    same("parse_handle", text)
    same("normalise_handle", text)


@given(handles | not_text)
@example("88.118.ABC")
@example("8" * 64)
@example("8" * 65)
@example("88..1")
@example("88 1")
@example("")
def test_parse_prefix(text):
    same("parse_prefix", text)


@given(any_text | tricky_text, any_text | tricky_text | st.text("\u4e00ab", min_size=150, max_size=300))
@example("88.1", "\u4e00" * 200 + "a")
@example("8" * 600, "x")
@example("88.1", "\ud800")
@example("\udfff", "\ud800")
def test_handle_and_prefix_keys(prefix, suffix):
    same("handle_key", prefix, suffix)
    same("prefix_key", prefix)
    same("handle_key", prefix.encode("utf-8", "replace"), suffix)  # not text: the twin's error


@given(st.binary(max_size=600) | st.builds(lambda t: t.encode("utf-8", "surrogatepass"), any_text))
@example(b"88.118.8\x00JXDY2106023")
@example(b"no-nul")
@example(b"\x00")
@example(b"a\x00b\x00c")
@example(b"88.1\x00\xe4\xba\xa7")
@example(b"\xff\x00x")
@example(b"88.1\x00\xff")
def test_key_handle(key):
    same("key_handle", key)
    same("key_handle", bytearray(key))
    same("key_handle", memoryview(key))
    same("key_is_digested", key)
    same("key_is_digested", bytes(511))


def test_key_handle_round_trip_matches():
    for prefix, suffix in [("88.118.8", "JX"), ("88.1", "产品-01"), ("88.1", "a\x00b")]:
        key = same("handle_key", prefix, suffix)[1][1]
        same("key_handle", key)


# -- record codec -------------------------------------------------------------

REAL_FRAMES = [
    Value(1, "URL", b"https://example.com/a", permissions=0b1110).to_frame(),
    Value(2, "EMAIL", b"ops@example.com", permissions=0b1100).to_frame(),
    Value(3, "URL.alt", b"https://example.com/b").to_frame(),
    Value(100, "HS_ADMIN", AdminData("88.1/ADMIN", 300, 0b011111110011), "admin").to_frame(),
    Value(7, "HS_VLIST", (Reference("88.1/a", 1), Reference("88.1/b", 2)), "vlist").to_frame(),
    Value(8, "产品", b"\x00\xff", "hex", ttl=60, ttl_absolute=True, timestamp=1700000000).to_frame(),
]


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


varints = st.one_of(
    st.integers(0, 300),
    st.integers(0, 2**32 + 5),
    st.integers(2**63 - 2, 2**64 + 2),
    st.integers(2**64, 2**70 - 1),  # ten bytes carrying more than 64 bits
).map(varint) | st.sampled_from([b"\x80" * 10 + b"\x00", b"\xff" * 9 + b"\x7f", b"\x80", b"\xff" * 11])


@st.composite
def field(draw):
    """One protobuf field, sometimes well formed, sometimes not."""
    number = draw(st.sampled_from([0, 1, 2, 3, 4, 15, 2**29 - 1, 2**61]))
    wire = draw(st.sampled_from([0, 0, 1, 2, 2, 2, 3, 5, 6, 7]))
    tag = varint((number << 3) | wire)
    if draw(st.integers(0, 9)) == 0:
        tag = draw(varints)
    if wire == 0:
        payload = draw(varints)
    elif wire == 2:
        body = draw(
            st.binary(max_size=12)
            | st.text(max_size=8).map(str.encode)
            | st.lists(varints, max_size=4).map(b"".join)
            | st.sampled_from([b"URL", b"URL.alt", b"\xff\xfe", b"\xed\xa0\x80", b"HS_ADMIN"])
        )
        length = draw(st.sampled_from([len(body), len(body), len(body) + 1, max(0, len(body) - 1), 2**40]))
        payload = varint(length) + body
    else:
        payload = draw(st.binary(max_size=9))
    return tag + payload


messages = st.lists(field(), max_size=6).map(b"".join) | st.binary(max_size=80)


@st.composite
def records(draw):
    """A record built by the twin (sometimes with garbage frames), then maybe damaged."""
    frames = draw(
        st.lists(
            st.tuples(st.integers(0, 255), st.integers(0, 2**32 - 1), st.sampled_from(REAL_FRAMES) | messages),
            max_size=6,
        )
    )
    raw = _record_py.encode_record(
        frames,
        draw(st.integers(0, 2**64 - 1)),
        draw(st.integers(0, 2**64 - 1)),
        draw(st.sampled_from(["", "1.0", "模板-2"])),
        draw(st.sampled_from(["", "88.1/" + "x" * 300, "88.1/产品"])),
        draw(st.booleans()),
    )
    damage = draw(st.sampled_from(["none", "none", "cut", "append", "flip"]))
    if damage == "cut":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif damage == "append":
        raw += draw(st.binary(min_size=1, max_size=4))
    elif damage == "flip" and raw:
        at = draw(st.integers(0, len(raw) - 1))
        raw = raw[:at] + bytes([draw(st.integers(0, 255))]) + raw[at + 1 :]
    return raw


any_records = records() | st.binary(max_size=64) | st.just(b"\x01\x00" + bytes(16) + b"\x02\xff\xfe\x00\x00")


def buffers(raw: bytes):
    """The same bytes as every type the twin reads."""
    return [raw, bytearray(raw), memoryview(raw)]


@given(any_records)
def test_decode_header_and_iter_frames(raw):
    for buf in buffers(raw):
        kind, *rest = same("decode_header", buf)
        offset = rest[0][1][5][1] if kind == "returned" else 19
        for at in (offset, 0, len(raw), len(raw) + 3, -1, -len(raw) - 5):
            same("iter_frames", buf, at)
    same("decode_header", "x" * 40)  # not bytes: the twin's error
    same("iter_frames", raw, 2**70)
    same("iter_frames", raw, True)


perms = st.sampled_from([0, 1, 2, 8, 0b1110, 0xFF, 256, -1, 2**70, -(2**70)])
index_filters = st.lists(st.sampled_from([1, 2, 3, 7, 8, 100, 0, -1, 2**32 + 1, 2**70]), max_size=4)
type_filters = st.lists(
    st.sampled_from(["URL", "URL.", "EMAIL", "HS_", "HS_ADMIN", "", ".", "产品", "产", "\ud800", "URL.alt"])
    | st.text(max_size=4),
    max_size=3,
)


@given(any_records, perms, index_filters, type_filters, st.sampled_from([tuple, list]))
def test_select_frames(raw, required, indexes, types, container):
    offset = 19
    head = outcome(_record_py.decode_header, raw)
    if head[0] == "returned":
        offset = head[1][1][5][1]
    for buf in buffers(raw):
        same("select_frames", buf, offset, required, container(indexes), container(types))
    same("select_frames", raw, offset, required)
    same("select_frames", raw, offset, required, indexes=set(indexes), types=tuple(types))
    same("select_frames", raw, offset, True, (True,), (b"URL",))


@given(st.sampled_from(REAL_FRAMES) | messages)
@example(varint(2**64 + (2 << 3 | 2)) + b"\x03URL")  # field 2 only in the low 64 bits of the tag
@example(b"\x12\x03UR")  # type cut short
@example(b"\x1a\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x12\x01x")  # a skip past the end ends the walk
@example(b"\x0b")  # group start: unsupported
def test_frame_type(frame):
    for buf in buffers(frame):
        same("frame_type", buf)


@given(st.text(max_size=6) | st.sampled_from(["URL", "URL.alt", "URL.", ""]), type_filters)
def test_type_matches(value_type, types):
    same("type_matches", value_type, tuple(types))
    same("type_matches", value_type, list(types))
    same("type_matches", value_type, Fresh(lambda: iter(types)))
    same("type_matches", value_type, (*types, 5))
    same("type_matches", value_type.encode(errors="replace"), tuple(types))


@given(
    st.lists(
        st.tuples(st.integers(-1, 256), st.integers(-1, 2**32), st.binary(max_size=20))
        | st.tuples(st.integers(0, 255), st.integers(0, 9), st.sampled_from(REAL_FRAMES)),
        max_size=4,
    ),
    st.integers(-1, 2**64) | st.sampled_from([0, 2**64 - 1]),
    st.sampled_from([0, 1700000000, 2**64 - 1, 2**64, -5]),
    st.sampled_from(["", "1.0", "x" * 255, "x" * 256, "é" * 128, "\ud800"]),
    st.sampled_from(["", "88.1/x", "88.1/" + "产" * 200, "a" * 70000, "\udfff"]),
    st.sampled_from([False, True, 0, 1, None, "yes"]),
)
def test_encode_record(frames, created, updated, template_version, handle, tombstone):
    same("encode_record", frames, created, updated, template_version, handle, tombstone)
    same("encode_record", tuple(frames), created, updated, template_version=template_version, handle=handle)
    same("encode_record", [list(f) for f in frames], created, updated)
    same("encode_record", [(p, i, bytearray(f)) for p, i, f in frames], created, updated)


def test_encode_record_count_limit():
    same("encode_record", [(2, 1, b"")] * 65536, 0, 0)
    same("encode_record", [(2, 1, b"")] * 65535, 0, 0)


codes = st.sampled_from([0, 1, 100, 200, 127, 128, 2**63, 2**64 - 1, 2**64, 2**70, -1]) | st.integers(0, 2**20)


@given(
    codes, any_text | st.sampled_from(["88.1/x", "88.1/产品"]), st.lists(st.binary(max_size=300), max_size=4), any_text
)
@example(1, "88.1/x", [b"x" * 200], "")
@example(1, 5, [], "")
@example(1, "88.1/x", [b"a", "b"], "")
@example(1, "88.1/x", [bytearray(b"a")], "m")
@example(1, "88.1/x", (b"a", b"b"), b"msg")
def test_encode_resolve_and_batch_responses(code, handle, frames, message):
    reply = same("encode_resolve_response", code, handle, frames, message)
    same("encode_resolve_response", code, handle, frames)
    same("encode_resolve_response", code, handle, Fresh(lambda: iter(frames)), message)
    replies = [*frames, *([reply[1][1]] if reply[0] == "returned" else [])]
    same("encode_batch_response", replies)
    same("encode_batch_response", tuple(replies))
    same("encode_batch_response", [*replies, bytearray(b"x")])
    same("encode_batch_response", Fresh(lambda: iter(replies)))


@given(messages)
@example(b"\x10\x05\x10\x06\x48\x01\x0a\x04ab/c")
@example(b"\x0a\x02\xff\xfe")  # handle not UTF-8
@example(b"\x1a\x01\x80")  # type not UTF-8
@example(b"\x12\x02\x80\x80\x01")  # packed varint runs past its list
@example(b"\x0a\x01a\x0a\x01b")  # last handle wins in a ResolveRequest
@example(b"\x09\x01")  # fixed64 past the end
@example(b"\x22\x85\x80\x80\x80\x80\x80\x80\x80\x80\x01")  # huge length
@example(b"\x8a\x80\x80\x80\x80\x80\x80\x80\x80\x01\x00")  # field number over 2**60
@example(varint(2**64 + (1 << 3 | 2)) + b"\x01a")  # field 1 only in the low 64 bits of the tag
@example(b"\x10" + varint(2**70 - 1))  # index keeps its low 32 bits
def test_decode_requests(raw):
    for buf in (raw, bytearray(raw), memoryview(raw)):
        same("decode_resolve_request", buf)
        same("decode_batch_request", buf)


@given(messages)
def test_decode_requests_cut_and_with_trailing_bytes(raw):
    for cut in range(len(raw) + 1):
        same("decode_batch_request", raw[:cut])
        same("decode_resolve_request", raw[:cut] + b"\x00")
    same("decode_batch_request", "text")


def test_batch_request_of_many_handles():
    raw = b"".join(b"\x0a" + varint(len(h)) + h for h in (f"88.118.8/JXDY{i:07d}".encode() for i in range(1000)))
    raw += b"\x12\x03\x01\x02\x64\x1a\x03URL"
    assert same("decode_batch_request", raw)[0] == "returned"


def test_struct_layout_matches_the_twin():
    # The compiled module writes the header by hand; the twin with struct.
    raw = _record_c.encode_record([(0xFF, 0xFFFFFFFF, b"f")], 2**64 - 1, 1, "v", "h", True)
    assert raw[:19] == struct.pack(">BBQQB", 1, 3, 2**64 - 1, 1, 1)


class _Refuse:
    """Stands in for the twin: the compiled code must not hand these inputs over."""

    def __getattr__(self, name):
        raise AssertionError(f"{name} was handed to the pure-Python twin")


def test_common_input_stays_compiled(monkeypatch):
    from idnode._fastpath import bench

    monkeypatch.setattr(_identifiers_c, "_py", _Refuse())
    monkeypatch.setattr(_record_c, "_py", _Refuse())
    resolve_c = importlib.import_module("idnode._fastpath._resolve_c")
    for _, name, args in bench.CASES:
        module = next(m for m in (_identifiers_c, _record_c, resolve_c) if name in m.__all__)
        getattr(module, name)(*args)
    # Failures of well-typed input are raised by the compiled code itself.
    for text in ("", "88.1", "/x", "88.1/", "88..1/x", "88 1/x", "88.1/a\x07", "88.1/\ud800", "é\u0301/\x00"):
        with pytest.raises(HandleError):
            _identifiers_c.parse_handle(text)
    with pytest.raises(HandleError):
        _identifiers_c.parse_prefix("88/1")
    assert len(_identifiers_c.handle_key("88.1", "产" * 300)) == 511
    for raw in (b"", b"\x09\x00" + bytes(17), bench.RECORD[:-1], bench.RECORD + b"x"):
        with pytest.raises(_common.RecordError):
            head = _record_c.decode_header(raw)
            _record_c.select_frames(raw, head[5], 0, (1, 2), ("URL",))
    for raw in (b"\x0a\x05ab", b"\x0a\x01\xff", b"\x0b", b"\x80"):
        with pytest.raises(_common.RecordError):
            _record_c.decode_batch_request(bytearray(raw))
    assert _record_c.decode_header(memoryview(bench.RECORD)) == _record_py.decode_header(bench.RECORD)
