"""The compiled DNS codec (_dns_c) against its pure-Python specification (_dns_py), failures included.

Hypothesis feeds both the same queries (made by dnspython with random names,
types, classes, flags, EDNS and records), the same damaged and random bytes,
record sets, sizes and record data; results must be equal with equal types,
and failures must raise the same exception class with the same message (and,
for DNS errors, the same ``id`` and ``flags``): STYLE.md points 5 and 6.
Skipped when the extension is not built, except under ``CI`` or with
``IDNODE_REQUIRE_EXTENSIONS`` set, where a missing build fails.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rrset
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from idnode._fastpath import _dns_py

try:
    _dns_c = importlib.import_module("idnode._fastpath._dns_c")
except ImportError as exc:  # pragma: no cover - depends on the build
    if os.environ.get("IDNODE_REQUIRE_EXTENSIONS") or os.environ.get("CI"):
        raise
    pytest.skip(f"compiled DNS codec not built: {exc}", allow_module_level=True)

py = _dns_py
NAME = (b"8h2kqjpd60o30c1g64", b"_h", b"8", b"118", b"88", b"id", b"local")
ZONE = (b"id", b"local")


def outcome(fn, *args, **kwargs):
    """What a call did: its result with the types inside, or its exception with the DNS fields."""
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:
        return ("raised", *error_fields(exc))
    return ("returned", _typed(result))


def error_fields(exc):
    extra = tuple(getattr(exc, name, "-") for name in ("message", "id", "flags", "opcode", "rcode"))
    return (type(exc), str(exc), extra)


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
    """Call ``name`` on both modules and require the same outcome; return the twin's."""
    outcomes = []
    for impl in (py, _dns_c):
        call_args = [a.make() if isinstance(a, Fresh) else a for a in args]
        call_kwargs = {k: v.make() if isinstance(v, Fresh) else v for k, v in kwargs.items()}
        outcomes.append(outcome(getattr(impl, name), *call_args, **call_kwargs))
    expected, got = outcomes
    assert got == expected, f"{name}{args!r} {kwargs!r}"
    return expected


# -- the surface --------------------------------------------------------------------


def test_same_public_names_signatures_and_shared_objects():
    assert _dns_c.__all__ == py.__all__
    for name in py.__all__:
        ours, theirs = getattr(_dns_c, name), getattr(py, name)
        if inspect.isfunction(theirs) or name == "TcpBuffer":
            expected = inspect.signature(theirs).parameters
            got = inspect.signature(ours).parameters
            assert [(p.name, p.kind, p.default) for p in got.values()] == [
                (p.name, p.kind, p.default) for p in expected.values()
            ], name
        else:  # constants, errors and result types are the twin's own objects
            assert ours is theirs, name
    for method in ("feed",):
        assert list(inspect.signature(getattr(_dns_c.TcpBuffer, method)).parameters) == list(
            inspect.signature(getattr(py.TcpBuffer, method)).parameters
        )


def test_errors_are_shared():
    with pytest.raises(py.DnsFormatError):
        _dns_c.parse_query(b"")
    with pytest.raises(py.DnsEncodeError):
        _dns_c.rdata_txt(b"x" * 70000)
    assert isinstance(_dns_c.parse_query(query_wire()), py.DnsQuery)


def test_selector_picks_the_codec_module(monkeypatch):
    import idnode._fastpath as fastpath

    try:
        for value in ("1", "0", ""):
            monkeypatch.setenv("IDNODE_NO_EXTENSIONS", value)
            importlib.reload(fastpath)
            assert fastpath.dns is (_dns_c if fastpath.COMPILED else _dns_py)
            if value == "1":
                assert not fastpath.COMPILED
            else:  # _dns_c is built (or this module is skipped): only another module can be missing
                assert fastpath.COMPILED or "compiled modules not importable" in fastpath.BUILD_ERROR
    finally:
        monkeypatch.undo()
        importlib.reload(fastpath)


def test_selector_without_the_compiled_codec(monkeypatch):
    """When only _dns_c fails to import, every hot path falls back together (one COMPILED)."""
    import idnode._fastpath as fastpath
    from idnode._fastpath import _identifiers_py

    try:
        monkeypatch.delenv("IDNODE_NO_EXTENSIONS", raising=False)
        monkeypatch.setitem(sys.modules, "idnode._fastpath._dns_c", None)  # import raises ImportError
        monkeypatch.delattr(fastpath, "_dns_c", raising=False)
        importlib.reload(fastpath)
        assert fastpath.COMPILED is False and fastpath.IMPLEMENTATION == "python"
        assert "_dns_c" in fastpath.BUILD_ERROR
        assert fastpath.dns is _dns_py
        assert fastpath.parse_handle is _identifiers_py.parse_handle
    finally:
        monkeypatch.undo()
        importlib.reload(fastpath)
    assert fastpath.dns is (_dns_c if fastpath.COMPILED else _dns_py)


# -- queries ------------------------------------------------------------------------

LABELS = [b"id", b"ID", b"local", b"Local", b"_h", b"8", b"118", b"88", b"x" * 63, b"A\x00b", b"\xff\xc0", b"a.b"]
labels = st.sampled_from(LABELS) | st.binary(min_size=1, max_size=63)
names = st.lists(labels, max_size=6)
QTYPES = [1, 2, 5, 6, 12, 15, 16, 28, 35, 41, 251, 252, 255, 256, 65280, 65535]
RD, CD, AD = int(dns.flags.RD), int(dns.flags.CD), int(dns.flags.AD)


def query_wire(qname=NAME, rdtype=35, qid=4660, **kwargs) -> bytes:
    message = dns.message.make_query(dns.name.Name([*qname, b""]), rdtype, **kwargs)
    message.id = qid
    return message.to_wire()


def _rrset(owner, rdtype, text):
    return dns.rrset.from_text(owner, 300, "IN", rdtype, text)


def _prefixed(label: bytes, name: dns.name.Name) -> str:
    try:
        return dns.name.Name([label]).concatenate(name).to_text()
    except dns.name.NameTooLong:
        return name.to_text()


@st.composite
def queries(draw) -> bytes:
    """A query as dnspython writes it: random name, type, class, id, flags, EDNS, extra records."""
    qname_labels = draw(names)
    try:
        qname = dns.name.Name([*qname_labels, b""])
    except dns.name.NameTooLong:
        qname = dns.name.Name([*NAME, b""])
    kwargs = {}
    if draw(st.booleans()):
        kwargs = {
            "use_edns": draw(st.sampled_from([0, 0, 1, 255])),
            "payload": draw(st.sampled_from([512, 1232, 4096, 0, 100, 65535]) | st.integers(0, 65535)),
            "want_dnssec": draw(st.booleans()),
            "options": draw(
                st.lists(st.builds(dns.edns.GenericOption, st.integers(0, 65535), st.binary(max_size=12)), max_size=2)
            ),
        }
    rdtype = draw(st.sampled_from(QTYPES) | st.integers(0, 65535))
    rdclass = draw(st.sampled_from([1, 1, 3, 255]) | st.integers(0, 65535))
    try:
        message = dns.message.make_query(qname, rdtype, rdclass, **kwargs)
    except Exception:  # a type dnspython refuses to ask for (a meta type); ask for NAPTR
        message = dns.message.make_query(qname, 35, **kwargs)
    message.id = draw(st.integers(0, 65535))
    message.flags = draw(st.sampled_from([0, RD, RD | CD, RD | AD, CD]) | st.integers(0, 0xFFFF))
    extra = [
        _rrset(dns.name.from_text(_prefixed(b"x", qname)), "A", "127.0.0.1"),
        _rrset(qname, "NS", _prefixed(b"ns1", qname)),
        _rrset(dns.name.Name([*ZONE, b""]), "TXT", '"hello" "world"'),
        _rrset(qname, "MX", "10 " + _prefixed(b"mail", qname)),
    ]
    for section in (message.answer, message.authority, message.additional):
        if draw(st.integers(0, 4)) == 0:  # records to skip, compressed against the question
            section.append(draw(st.sampled_from(extra)))
    return message.to_wire()


def header(qid=0x1234, flags=0x0100, qd=1, an=0, ns=0, ar=0) -> bytes:
    return b"".join(v.to_bytes(2, "big") for v in (qid, flags, qd, an, ns, ar))


@st.composite
def damaged(draw) -> bytes:
    """A valid query, then bits flipped, bytes cut, appended or inserted, header fields set."""
    data = bytearray(draw(queries()))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.integers(0, 4))
        if action == 0 and data:
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif action == 1:
            del data[draw(st.integers(0, len(data))) :]
        elif action == 2:
            data += draw(st.binary(min_size=1, max_size=6))
        elif action == 3:
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.binary(min_size=1, max_size=6) | st.sampled_from([b"\xc0\x0c", b"\xc0", b"\x40"]))
        elif len(data) >= 12:
            at = draw(st.integers(2, 11))
            data[at] = draw(st.sampled_from([0, 1, 2, 0x29, 0x80, 0xC0, 0xFF]))
    return bytes(data)


wires = (
    queries()
    | damaged()
    | st.binary(max_size=300)
    | st.builds(lambda head, tail: head + tail, st.sampled_from([header(), header(ar=1), header(an=2)]), st.binary())
)


@given(wires)
@example(b"")
@example(b"\x12")
@example(b"\x12\x34\x01")
@example(header(flags=0x8100))
@example(header(flags=0x2100))
@example(header() + b"\x80abc\x00\x00\x01\x00\x01")
@example(header() + (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01")
@example(header(ar=1) + b"\x01a\x00\x00\x01\x00\x01" + b"\xc0\x02\x00\x29\x04\xd0\x00\x00\x80\x00\x00\x00")
@example(
    header(ar=1) + b"\x01a\x00\x00\x01\x00\x01" + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x05\x00\x0a\x00\x08\x00"
)
@example(header(an=1) + b"\x00\x00\x01\x00\x01" + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00")
@example(query_wire((b"8H2KQjpd60o30c1g64", b"_H", b"ID")))
def test_parse_query(wire):
    for buf in (wire, bytearray(wire), memoryview(wire)):
        result = same("parse_query", buf)
    try:
        query = py.parse_query(wire)
    except py.DnsError as exc:
        same("build_error", exc)
        try:
            _dns_c.parse_query(wire)
        except py.DnsError as c_exc:
            same("build_error", c_exc)
        return
    assert result[0] == "returned"
    same("max_udp_size", query)
    same("max_udp_size", _dns_c.parse_query(wire))
    same("build_response", query, py.NOERROR, [(NAME, py.TXT, 1, 60, b"\x02hi")], max_size=py.max_udp_size(query))


def test_parse_leaves_shared_bytes_alone():
    """One-byte labels are CPython's shared bytes objects: folding their case must not write into them."""
    query = _dns_c.parse_query(query_wire((b"X", b"Yz", b"ID")))
    assert query.qname == (b"X", b"Yz", b"ID") and query.qname_lower == (b"x", b"yz", b"id")
    assert b"X"[0] == 0x58 and bytes((0x58,)) == b"X" and b"AX"[1:] == b"X"
    assert py.parse_query(query_wire((b"X",))).qname == (bytes((0x58,)),)


def test_parse_query_other_types():
    wire = query_wire()
    for value in ("text", 5, None, memoryview(wire).cast("c"), memoryview(b"\x00" * 24).cast("H"), [1, 2]):
        same("parse_query", value)
    released = memoryview(wire)
    released.release()
    same("parse_query", released)
    with pytest.raises(TypeError):  # not bytes(12), a message of zeros
        _dns_c.parse_query(12)


# -- responses ----------------------------------------------------------------------


BAD_NAMES = [(b"a" * 64,), (b"",), (b"a" * 63,) * 4, (b"x" * 40,) * 6]


def owner_for(qname, pick: int, case: int):
    """One of the names that share suffixes with the question and each other (rarely a bad one).

    ``case`` upper-cases labels, so compression must match names case-insensitively.
    """
    if pick >= 60:
        return BAD_NAMES[pick % 4]
    choices = [qname, qname[-2:], qname[1:], ZONE, (b"ns1", *ZONE), (), (b"X", *qname)]
    name = choices[pick % len(choices)]
    return tuple(label.upper() if case >> i & 1 else label for i, label in enumerate(name))


def rdata_for(rtype, name, kind: int, size: int):
    """Record data for ``rtype``: mostly valid, rarely damaged (``kind`` 0) or large (``kind`` 1 and 2)."""
    if kind == 0:
        return [b"\xc0\x0c", b"\x02id", b"\x00\x00", b"\x00", b"\x01a\x00\x00", bytes(size % 30)][size % 6]
    if kind in (1, 2):
        return [b"x" * 700, b"x" * 3000, b"x" * 1200, bytes(65536)][size % 4 if kind == 1 else size % 3]
    try:
        if rtype in (py.NS, py.CNAME, py.PTR):
            return py.rdata_ns(name)
        if rtype == py.MX:
            return b"\x00\x0a" + py.rdata_ns(name)
        if rtype == py.SOA:
            return py.rdata_soa(name, (b"hostmaster", *ZONE), 1, 2, 3, 4, 5)
        if rtype == py.NAPTR:
            return py.rdata_naptr(
                100, 10, "U", "E2U+URL", "!^.*$!" + "x" * (size % 200) + "!", name if kind & 1 else ()
            )
        if rtype == py.URI:
            return py.rdata_uri(1, 2, b"u" * (1 + size % 300))
        if rtype == py.TXT:
            return py.rdata_txt(b"t" * size)
    except py.DnsEncodeError:
        pass
    return bytes(size % 17)


def mostly_valid(valid: list, invalid: list):
    """An index strategy and a lookup: a valid value 29 times in 30, else an invalid one."""
    return st.integers(0, 30 * len(invalid) - 1), lambda i: invalid[i // 30] if i % 30 == 29 else valid[i % len(valid)]


RTYPES, rtype_of = mostly_valid(
    [py.A, py.NS, py.CNAME, py.SOA, py.PTR, py.MX, py.TXT, py.NAPTR, py.URI, 28, 65280, py.TXT, py.NAPTR],
    [-1, 65536, 2**70],
)
RCLASSES, rclass_of = mostly_valid([1, 1, 1, 1, 3, 255, 65535], [-1, 65536])
TTLS, ttl_of = mostly_valid([60, 300, 0, 2**31 - 1], [-1, 2**31, 2**64])

# One record: owner choice and case, type, class, TTL, rdata kind and size (few draws keep generation fast).
record_draws = st.tuples(
    st.integers(0, 61), st.integers(0, 255), RTYPES, RCLASSES, TTLS, st.integers(0, 29), st.integers(0, 600)
)


@st.composite
def sections(draw, qname):
    """Records grouped in RRsets (runs of records with one owner, type and class), names sharing suffixes."""
    records = []
    for pick, case, rtype, rclass, ttl, kind, size in draw(st.lists(record_draws, max_size=6)):
        owner = owner_for(qname, pick, case)
        for i in range(1 + size % 3):
            name = owner_for(qname, (pick + i + 1) % 60, case >> 3)
            data = rdata_for(rtype_of(rtype), name, kind, size + i * 37)
            records.append((owner, rtype_of(rtype), rclass_of(rclass), ttl_of(ttl), data))
    return records


def odd_types(records, draw):
    """The same records in the other shapes the twin accepts (or refuses): lists, bytearrays, bools."""
    out = []
    for owner, rtype, rclass, ttl, rdata in records:
        choice = draw(st.integers(0, 8))
        if choice == 0:
            out.append([list(owner), rtype, rclass, ttl, bytearray(rdata)])
        elif choice == 1:
            out.append((tuple(bytearray(label) for label in owner), rtype, rclass, ttl, rdata))
        elif choice == 2:
            out.append((owner, True if rtype == 1 else rtype, rclass, ttl, rdata))
        elif choice == 3:
            out.append((owner, rtype, rclass, ttl, draw(st.sampled_from(["text", None, memoryview(rdata)]))))
        elif choice == 4:
            out.append((owner, rtype, rclass))
        elif choice == 5:
            out.append((tuple(label.decode("latin-1") for label in owner), rtype, rclass, ttl, rdata))
        else:
            out.append((owner, rtype, rclass, ttl, rdata))
    return out


max_sizes = st.one_of(
    st.sampled_from([512, 512, 513, 600, 1232, 1232, None, 65535, 0, 100, -5, 65536, 2**70, -(2**70)]),
    st.integers(512, 4096),
    st.integers(512, 65535),
)
rcodes = st.sampled_from([0, 0, 3, 5, 15, 16, 4095]) | st.sampled_from([-1, 4096, 2**70])


@st.composite
def responses(draw):
    wire = draw(queries())
    try:
        query = py.parse_query(wire)
    except py.DnsError:
        query = py.parse_query(query_wire())
    return query, [draw(sections(query.qname)) for _ in range(3)]


@given(responses(), rcodes, max_sizes, st.booleans())
@example(
    (py.parse_query(query_wire(NAME, use_edns=0)), [[(NAME, py.TXT, 1, 60, py.rdata_txt(b"x" * 400))] * 3, [], []]),
    0,
    512,
    True,
)
def test_build_response(case, rcode, max_size, aa):
    query, (answers, authority, additional) = case
    same("build_response", query, rcode, answers, authority, additional, aa=aa, max_size=max_size)
    same("build_response", query, rcode, tuple(answers), authority, max_size=max_size)
    same("build_response", query, rcode, answers)


@given(responses())
def test_build_response_at_the_size_limit(case):
    """Limits of exactly the size of each prefix of the records, and one byte less: where truncation starts."""
    query, (answers, authority, additional) = case
    records = answers + authority
    sizes = set()
    for cut in range(len(records) + 1):
        result = outcome(py.build_response, query, 0, records[:cut], (), additional)
        if result[0] == "returned":
            sizes.add(len(result[1][1]))
    for size in sorted(sizes):
        for max_size in (size, size - 1):
            same("build_response", query, 0, answers, authority, additional, max_size=max_size)


@given(responses(), max_sizes, st.data())
def test_build_response_other_shapes(case, max_size, data):
    query, (answers, authority, additional) = case
    odd = odd_types(answers, data.draw)
    same("build_response", query, 0, odd, authority, additional, max_size=max_size)
    same("build_response", query, 0, Fresh(lambda: iter(answers)), Fresh(lambda: iter(authority)), max_size=max_size)
    same("build_response", query, 0, answers, aa=data.draw(st.sampled_from([0, 1, None, "", "x"])))
    same("build_response", query, data.draw(st.sampled_from([True, 1.0, "0", None])), answers)
    same("build_response", query, 0, answers, max_size=data.draw(st.sampled_from([600.5, True, "512"])))
    edns = data.draw(st.sampled_from([None, py.Edns(1232, True, 0), py.Edns(1232, 1, 0), (1232, True, 0)]))
    fields = {
        "edns": edns,
        "id": data.draw(st.sampled_from([0, 65535, 65536, -1, True])),
        "flags": data.draw(st.sampled_from([0, 0x0110, 0x1FFFF, -1])),
        "opcode": data.draw(st.sampled_from([0, 15, 16, -1])),
        "qname": data.draw(st.sampled_from([query.qname, list(query.qname), (b"a" * 64,), ("a",), (bytearray(b"a"),)])),
        "qtype": data.draw(st.sampled_from([1, 65535, 65536, -1])),
    }
    same("build_response", query._replace(**fields), 0, answers, max_size=max_size)
    same("build_response", query._replace(edns=edns), 16, answers)


class FakeQuery:
    """Not a DnsQuery, but has its fields: the twin reads attributes, so does the compiled module."""

    def __init__(self, query):
        for field in query._fields:
            setattr(self, field, getattr(query, field))


def test_build_response_duck_typed_query():
    query = py.parse_query(query_wire(use_edns=0))
    same("build_response", FakeQuery(query), 0, [(NAME, py.A, 1, 60, b"\x7f\x00\x00\x01")])
    same("max_udp_size", FakeQuery(query))
    same("max_udp_size", query._replace(edns=py.Edns(2**70, False, 0)))
    same("max_udp_size", query._replace(edns=py.Edns(-(2**70), False, 0)))
    same("max_udp_size", query._replace(edns=py.Edns(700.5, False, 0)))
    same("max_udp_size", query._replace(edns=(4096, False, 0)))


def test_compression_across_many_names():
    """More names than the compression table starts with, and offsets past the 14-bit pointer limit."""
    query = py.parse_query(query_wire())
    answers = [
        ((b"n%d" % i, b"Sub%d" % (i % 7), *NAME), py.NS, 1, 60, py.rdata_ns((b"ns%d" % i, *ZONE))) for i in range(400)
    ]
    answers += [((b"big%d" % i, *ZONE), py.TXT, 1, 60, py.rdata_txt(b"y" * 1000)) for i in range(30)]
    answers += [
        ((b"n%d" % i, b"SUB%d" % (i % 7), *NAME), py.CNAME, 1, 60, py.rdata_ns((b"n%d" % i, *NAME))) for i in range(50)
    ]
    for max_size in (None, 512, 1232, 20000, 65535):
        same("build_response", query, 0, answers, max_size=max_size)
        same("build_response", query, 0, answers[::-1], answers[:40], answers[5:70], max_size=max_size)


# -- build_error --------------------------------------------------------------------


class NotAnError:
    id = 5
    flags = 0x0100
    rcode = 1


@pytest.mark.parametrize(
    "exc",
    [
        py.DnsFormatError("x", id=None),
        py.DnsFormatError("x", id=7, flags=0xFFFF),
        py.DnsFormatError("x", id=70000, flags=0),
        py.DnsFormatError("x", id=1, flags=-1),
        py.DnsFormatError("x", id=True, flags=0),
        py.DnsNotImplemented(id=9, flags=5 << 11),
        py.DnsNotAQuery(id=9, flags=0x8000),
        py.DnsEncodeError("x"),
        ValueError("x"),
        NotAnError(),
    ],
)
def test_build_error(exc):
    same("build_error", exc)


# -- record data --------------------------------------------------------------------

ints16 = st.integers(-2, 65537) | st.sampled_from([0, 65535, True, False, 2**70, 1.5, None, "1"])
ints32 = st.integers(-2, 2**32 + 1) | st.sampled_from([0, 2**32 - 1, True, 2**70, 1.5, None])
texts = (
    st.binary(max_size=300)
    | st.text(max_size=100)
    | st.sampled_from(
        ["x" * 255, "x" * 256, "é" * 128, "\ud800", "a\udfff", bytearray(b"ab"), 5, None, memoryview(b"m")]
    )
)
label_lists = st.lists(
    st.binary(max_size=70) | st.sampled_from([b"a" * 63, b"a" * 64, b"", "a", 5, bytearray(b"Ab")]), max_size=6
)
name_args = (
    label_lists.map(tuple)
    | label_lists
    | st.sampled_from([(b"a" * 63,) * 4, (b"a" * 63,) * 3 + (b"b" * 61,), (b"a" * 63,) * 5 + (b"a" * 64,), "ns1", None])
)


@given(ints16, ints16, texts, texts, texts, name_args)
@example(0, 0, "", "", "", ())
@example(-1, 2**70, "\ud800", 5, "", ())
@example(1, 1, "x", "\ud800", "y" * 300, ())
def test_rdata_naptr(order, preference, flags, service, regexp, replacement):
    same("rdata_naptr", order, preference, flags, service, regexp, replacement)
    same("rdata_naptr", order, preference, flags, service, regexp)
    same("rdata_naptr", order, preference, flags, service, regexp, Fresh(lambda: iter(replacement or ())))


@given(ints16, ints16, texts | st.sampled_from([b"x" * 65531, b"x" * 65532, ""]))
def test_rdata_uri(priority, weight, target):
    same("rdata_uri", priority, weight, target)


@given(texts | st.sampled_from([b"z" * 65279, b"z" * 65280, "é" * 40000, bytearray(b"q" * 510)]))
def test_rdata_txt(text):
    same("rdata_txt", text)


@given(name_args, name_args, ints32, ints32, ints32, ints32, ints32)
def test_rdata_soa_and_ns(mname, rname, serial, refresh, retry, expire, minimum):
    same("rdata_soa", mname, rname, serial, refresh, retry, expire, minimum)
    same("rdata_ns", mname)
    same("rdata_ns", Fresh(lambda: iter(rname or ())))


# -- TCP ----------------------------------------------------------------------------


@given(st.binary(max_size=300) | st.sampled_from([b"x" * 65535, b"x" * 65536, bytearray(b"ab"), "text", None]))
def test_tcp_frame(message):
    same("tcp_frame", message)
    if isinstance(message, bytes):
        same("tcp_frame", memoryview(message))


@st.composite
def streams(draw):
    """Length-prefixed messages (some of length 0 or over the limit, some cut short), and how to cut them."""
    parts = []
    for _ in range(draw(st.integers(0, 6))):
        body = draw(st.binary(max_size=40))
        length = draw(st.sampled_from([len(body)] * 6 + [0, 513, 65535]))
        parts.append(length.to_bytes(2, "big") + body)
    stream = b"".join(parts) + draw(st.sampled_from([b"", b"\x00", b"\x00\x05ab"]))
    cuts = draw(st.lists(st.integers(0, 50), max_size=12))
    return stream, cuts


@given(streams(), st.sampled_from([65535, 65535, 512, 40, 1, 0, 65536, -1, 100.5, True, "x"]), st.data())
def test_tcp_buffer(stream_and_cuts, max_message, data):
    stream, cuts = stream_and_cuts
    made = [outcome(impl.TcpBuffer, max_message) for impl in (py, _dns_c)]
    assert [m[0] for m in made] == [made[0][0]] * 2
    if made[0][0] == "raised":
        assert made[0] == made[1]
        return
    buffers = [py.TcpBuffer(max_message), _dns_c.TcpBuffer(max_message)]
    pieces, pos = [], 0
    for cut in cuts:
        pieces.append(stream[pos : pos + cut])
        pos += cut
    pieces.append(stream[pos:])
    pieces.append(b"\x00\x01z")  # after an error: the same error again
    for piece in pieces:
        kind = data.draw(st.sampled_from([bytes, bytes, bytearray, memoryview]))
        results = [outcome(buffer.feed, kind(piece)) for buffer in buffers]
        assert results[1] == results[0], piece
        assert buffers[1].pending == buffers[0].pending
    assert outcome(buffers[1].feed, "text") == outcome(buffers[0].feed, "text")


def test_tcp_buffer_default_and_keyword():
    assert _dns_c.TcpBuffer().feed(b"\x00\x01a\x00") == [b"a"]
    assert _dns_c.TcpBuffer(max_message=1).pending == 0


# -- the common case stays compiled -------------------------------------------------


class _Refuse:
    """Stands in for the twin: the compiled code must not hand these inputs over."""

    def __getattr__(self, name):
        raise AssertionError(f"{name} was handed to the pure-Python twin")


def test_common_input_stays_compiled(monkeypatch):
    from idnode._fastpath import bench

    monkeypatch.setattr(_dns_c, "_py", _Refuse())
    for _, name, args, kwargs in bench.DNS_CASES:
        getattr(_dns_c, name)(*args, **kwargs)
    for wire in (query_wire(), query_wire(use_edns=0, want_dnssec=True), b"", header(flags=0x8000), header() + b"\xc0"):
        for buf in (wire, bytearray(wire), memoryview(wire)):
            try:
                query = _dns_c.parse_query(buf)
            except (py.DnsFormatError, py.DnsNotImplemented) as exc:
                _dns_c.build_error(exc)
            else:
                _dns_c.max_udp_size(query)
                soa = _dns_c.rdata_soa((b"ns1", *ZONE), [b"hostmaster", *ZONE], 1, 2, 3, 4, 5)
                records = [
                    (NAME, py.NAPTR, 1, 60, _dns_c.rdata_naptr(1, 2, "U", b"E2U+URL", bytearray(b"!x!"), ())),
                    [list(NAME), py.URI, 1, 60, bytearray(_dns_c.rdata_uri(1, 2, "https://example.com/"))],
                    (ZONE, py.SOA, 1, 60, soa),
                    (ZONE, py.NS, 1, 60, _dns_c.rdata_ns((b"ns1", *ZONE))),
                    (ZONE, py.MX, 1, 60, b"\x00\x01" + _dns_c.rdata_ns([b"mx", *ZONE])),
                    (ZONE, py.TXT, 1, 60, _dns_c.rdata_txt("x" * 600)),
                ]
                _dns_c.build_response(query, py.NOERROR, records, (), records[2:], aa=False, max_size=512)
    for bad in ([(NAME, py.A, 1, -1, b"")], [((b"",), py.A, 1, 1, b"")], [(NAME, py.NS, 1, 1, b"\xc0\x0c")]):
        with pytest.raises(py.DnsEncodeError):
            _dns_c.build_response(py.parse_query(query_wire()), 0, bad)
    for call in (
        lambda: _dns_c.rdata_naptr(70000, 0, "", "", ""),
        lambda: _dns_c.rdata_naptr(0, 0, "", "", "", (b"a" * 64,)),
        lambda: _dns_c.rdata_naptr(0, 0, "", "", "", ("a",)),
        lambda: _dns_c.rdata_uri(0, 0, ""),
        lambda: _dns_c.rdata_txt(b"x" * 65280),
        lambda: _dns_c.tcp_frame(b"x" * 65536),
        lambda: _dns_c.TcpBuffer(0),
    ):
        with pytest.raises(py.DnsEncodeError):
            call()
    buffer = _dns_c.TcpBuffer(512)
    assert buffer.feed(bytearray(b"\x00\x01a\x00")) == [b"a"] and buffer.pending == 1
    with pytest.raises(py.DnsFormatError):
        buffer.feed(memoryview(b"\x00"))
    assert _dns_c.tcp_frame(bytearray(b"ab")) == b"\x00\x02ab"
