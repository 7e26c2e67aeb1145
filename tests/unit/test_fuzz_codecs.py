"""Fuzzing the parsers and codecs: identifiers, stored records, change-log entries, DNS messages.

Each target takes arbitrary input and must either succeed with a
self-consistent result or raise the error its docstring documents, never
anything else; where a compiled twin exists both twins must agree (the
parity tests, test_fastpath_parity.py and test_dns_codec_parity.py, cover the
twins' exact outcomes on their own inputs; here the same twins get mutated
real input and the documented-error property). ``HYPOTHESIS_PROFILE=fuzz``
turns the bounded CI run into a long one (tests/README.md, "Fuzzing").
"""

from __future__ import annotations

import contextlib
import importlib

import dns.exception
import dns.flags
import dns.message
import pytest
from fuzz_strategies import mutated  # tests/unit/fuzz_strategies.py
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idnode import _fastpath
from idnode._fastpath import RecordError, _dns_py, _identifiers_py, _record_py
from idnode.registry import _records, changelog
from idnode.registry.auth import Principal
from idnode.registry.errors import HandleError, InvalidHandle
from idnode.registry.values import AdminData, Value
from idnode.resolver.dns import names
from idnode.resolver.dns.answer import DnsResponder, Pending, ZoneConfig

ZONE = "id.local."
ADMIN = Principal("node-admin", token_id="0123456789abcdef")
PRODUCT_VALUES = (
    Value(1, "URL", b"https://example.com/p/JXDY2106023", permissions=0b1110),
    Value(2, "productName", "\u7535\u673a".encode(), permissions=0b1110),
    Value(100, "HS_ADMIN", AdminData("88.118.8/ADMIN", 300), format="admin", permissions=0b1100),
)


def twins(name: str) -> list:
    """The pure-Python module ``name`` and its compiled twin when built (the parity tests require the build in CI)."""
    modules = [importlib.import_module(f"idnode._fastpath.{name}_py")]
    with contextlib.suppress(ImportError):  # not built: the Python twin alone
        modules.append(importlib.import_module(f"idnode._fastpath.{name}_c"))
    return modules


def outcome(fn, *args):
    try:
        return ("returned", fn(*args))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


# -- identifiers -------------------------------------------------------------------------------

handle_like = st.one_of(
    st.text(max_size=300),
    st.builds(
        lambda p, s: f"{p}/{s}",
        st.from_regex(r"\A[0-9]{1,3}(\.[0-9A-Za-z]{1,5}){0,4}\Z") | st.text(max_size=20),
        st.text(max_size=200),
    ),
    st.sampled_from(["0.NA/88.118", "88.118.8/JXDY2106023", "/", "88.118.8/", "88.118.8//", "\ud800/x"]),
)


@given(handle_like)
def test_identifier_parser(text):
    """parse/normalise raise InvalidHandle or return parts whose normal form is stable and keys round-trip."""
    results = {impl.__name__: outcome(impl.parse_handle, text) for impl in twins("_identifiers")}
    assert len(set(map(repr, results.values()))) == 1, results
    try:
        prefix, suffix = _identifiers_py.parse_handle(text)
    except InvalidHandle as exc:
        assert exc.code == InvalidHandle.code and str(exc)
        return
    normal = _identifiers_py.normalise_handle(text)
    assert normal == f"{prefix}/{suffix}"
    assert _identifiers_py.normalise_handle(normal) == normal
    assert _identifiers_py.parse_handle(normal) == (prefix, suffix)
    for impl in twins("_identifiers"):
        key = impl.handle_key(prefix, suffix)
        assert impl.key_handle(key) == normal or impl.key_is_digested(key)


@given(handle_like)
def test_prefix_parser(text):
    for impl in twins("_identifiers"):
        try:
            prefix = impl.parse_prefix(text)
        except InvalidHandle:
            continue
        assert impl.parse_prefix(prefix) == prefix
        assert impl.handle_key(prefix, "x").startswith(impl.prefix_key(prefix))  # the prefix's key range


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(handle_like)
def test_registry_lookups_reject_with_handle_errors(registry, text):
    """The registry facade parses what callers send: any text gives a record, None, or a Handle error."""
    head = registry.store.last_sequence()
    try:
        registry.get_record(ADMIN, text)
    except HandleError as exc:
        assert 1 <= exc.code <= 1000 and exc.message
    assert registry.store.last_sequence() == head  # reads never write


# -- stored records ----------------------------------------------------------------------------

REAL_RECORD = _fastpath.encode_record(
    [(v.index, v.permissions, v.to_frame(1_700_000_000)) for v in PRODUCT_VALUES],
    1_700_000_000,
    1_700_000_100,
    "v1",
    "88.118.8/JXDY2106023",
)
records = st.binary(max_size=200) | mutated(REAL_RECORD)


@given(records)
def test_record_decode_raises_only_record_errors(raw):
    """decode_header/iter_frames on arbitrary bytes: a result, or RecordError, the same in both twins."""
    seen = []
    for impl in twins("_record"):
        try:
            header = impl.decode_header(raw)
            frames = impl.iter_frames(raw, header[5])
            seen.append(("ok", header, frames))
        except RecordError as exc:
            seen.append(("error", str(exc)))
    assert all(s == seen[0] for s in seen), seen


@given(records)
def test_stored_record_decode_raises_only_documented_errors(raw):
    """The registry's whole-record decode (export, REST, CLI) fails with RecordError only, never anything else."""
    key = _fastpath.handle_key("88.118.8", "JXDY2106023")
    try:
        record = _records.decode(key, raw)
    except RecordError:
        return
    assert all(isinstance(v, Value) for v in record.values)


@given(st.binary(max_size=120) | mutated(PRODUCT_VALUES[0].to_frame(1)) | mutated(PRODUCT_VALUES[2].to_frame(1)))
def test_value_frames_raise_only_documented_errors(frame):
    try:
        value = Value.from_frame(frame)
    except RecordError:
        return
    assert Value.from_frame(value.to_frame(value.timestamp)) == value


# -- change-log entries ------------------------------------------------------------------------

REAL_ENTRY = changelog.encode_entry(changelog.OP_CREATE, "identifiers", 1, "actor", b"key", REAL_RECORD, bytes(32))


@given(st.binary(max_size=120) | mutated(REAL_ENTRY), st.integers(1, 1 << 40))
def test_change_log_entries_decode_or_raise_change_log_error(raw, sequence):
    try:
        entry = changelog.decode_entry(sequence, raw)
    except changelog.ChangeLogError as exc:
        assert f"entry {sequence}" in str(exc)
        return
    again = changelog.encode_entry(
        entry.op, entry.db, entry.time, entry.actor, entry.key, entry.payload, entry.prev_digest
    )
    assert again == raw
    entry.handle  # noqa: B018 - must not raise for any decodable entry either
    walked = changelog.walk_chain([(sequence, raw)], (sequence - 1, entry.prev_digest))
    assert walked.broken is None and walked.checked == 1


# -- DNS ------------------------------------------------------------------------------------------

QUERIES = [
    dns.message.make_query(name, rdtype, use_edns=edns, want_dnssec=edns == 0).to_wire()
    for name, rdtype, edns in [
        (names.handle_to_name("88.118.8/JXDY2106023", ZONE), "NAPTR", None),
        (names.handle_to_name("88.118.8/JXDY2106023", ZONE), "TXT", 0),
        (names.handle_to_name("88.118.8/GONE", ZONE), "URI", 0),
        (ZONE, "SOA", None),
        (ZONE, "NS", 0),
        ("9.9.9.gtin." + ZONE, "NAPTR", None),
        ("1.2.oid." + ZONE, "ANY", 0),
        ("example.com.", "A", None),
    ]
]
wires = st.binary(max_size=100) | st.one_of(*(mutated(q) for q in QUERIES))


@given(wires)
def test_dns_parse_query(wire):
    """parse_query: a query, or a DnsError (format, not implemented) in both twins alike."""
    results = []
    for impl in twins("_dns"):
        try:
            results.append(("ok", impl.parse_query(wire)))
        except _dns_py.DnsError as exc:
            results.append(("error", type(exc).__name__, str(exc)))
    assert all(r == results[0] for r in results), results


@pytest.fixture
def responder(seeded):
    return DnsResponder(seeded.registry, ZoneConfig(zone=ZONE, nameserver_addresses=("127.0.0.1",)))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wires, st.booleans())
def test_dns_responder_answers_every_message_well_formed(responder, seeded, wire, tcp):
    """The full responder: None (a response or a fragment: dropped), or a reply dnspython reads, with the
    query's id, QR set, no SERVFAIL (a healthy store never fails), within the size the query allows."""
    head = seeded.registry.store.last_sequence()
    reply = responder.respond(wire, tcp)
    assert seeded.registry.store.last_sequence() == head
    if reply is None:
        assert len(wire) < 12 or wire[2] & 0x80 or _parses_as_nothing(wire)
        return
    if isinstance(reply, Pending):
        return
    assert reply[:2] == wire[:2]
    try:
        message = dns.message.from_wire(reply, question_only=True)
    except dns.exception.DNSException as exc:  # pragma: no cover - the failure being looked for
        pytest.fail(f"reply to {wire!r} does not parse: {exc}: {reply!r}")
    assert message.flags & dns.flags.QR
    assert message.rcode() != 2, f"SERVFAIL for {wire!r}"
    limit = 65535
    if not tcp:
        try:
            limit = _dns_py.max_udp_size(_dns_py.parse_query(wire))
        except _dns_py.DnsError:
            limit = 512
    assert len(reply) <= limit


def _parses_as_nothing(wire: bytes) -> bool:
    """Why a message with a header got no reply: build_error drops replies the parser calls 'not a query'."""
    try:
        _dns_py.parse_query(wire)
    except _dns_py.DnsNotAQuery:
        return True
    except _dns_py.DnsError as exc:
        return _dns_py.build_error(exc) is None
    return False


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(wires, st.booleans())
def test_dns_direct_path_twins_agree_on_any_bytes(responder, seeded, wire, tcp):
    """The compiled direct answer and its Python twin on any bytes: the same reply or the same deferral."""
    modules = twins("_dnsanswer")
    with seeded.registry.snapshot() as snap:
        serial = snap.last_sequence() & 0xFFFFFFFF
        args = (snap.get, responder._zone_wire, "88.118", tcp, lambda: serial, responder._soa_direct)
        outcomes = [outcome(m.answer_direct, wire, *args) for m in modules]
        assert all(o == outcomes[0] for o in outcomes), outcomes
        assert outcomes[0][0] == "returned"
        direct = outcomes[0][1]
        if direct is not None:
            assert direct == responder._respond_full(snap, wire, tcp)


def test_record_corpus_is_real():
    """The seeds the mutators start from decode (so mutations explore near-valid input)."""
    assert _record_py.decode_header(REAL_RECORD)[4] == "88.118.8/JXDY2106023"
    assert changelog.decode_entry(1, REAL_ENTRY).payload == REAL_RECORD
    assert all(_dns_py.parse_query(q) for q in QUERIES)
