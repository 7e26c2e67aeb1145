"""DNS answers (resolver/dns/answer.py) from a real registry, read back with dnspython.

The responder is sans-IO, so these tests feed it query bytes built by
dnspython and parse its replies with dnspython: every rule of the README's
answer table, both the direct (compiled) path and the full path, and the
parity of the two.
"""

from __future__ import annotations

import importlib

import dns.asyncquery
import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from idnode.registry.errors import InvalidValue
from idnode.registry.model import IdentifierUpdate, IdentifierWrite
from idnode.registry.templates import gtin_check_digit
from idnode.registry.values import Value
from idnode.resolver.dns import names
from idnode.resolver.dns.answer import DnsResponder, ZoneConfig
from idnode.resolver.dns.server import DnsServer

ZONE = "id.local."
PRODUCT = "88.118.8/JXDY2106023"
PRODUCT_URL = "https://example.com/p/JXDY2106023"
GTIN = "0690123456789" + gtin_check_digit("0690123456789")  # GTIN-14
OID = "2.16.156.101818.102.1"


@pytest.fixture
def responder(seeded) -> DnsResponder:
    return DnsResponder(seeded.registry, ZoneConfig(zone=ZONE, nameserver_addresses=("127.0.0.1", "::1")))


_TRANSPORT = ["udp"]
_SERVERS: dict[int, DnsServer] = {}


@pytest.fixture(autouse=True, params=["udp", "tcp"])
async def transport(request):
    """Every question goes over a real DNS server on loopback, once over UDP and once over TCP."""
    _TRANSPORT[0] = request.param
    yield request.param
    while _SERVERS:
        await _SERVERS.popitem()[1].stop()


async def ask(responder: DnsResponder, name: str, rdtype: str = "NAPTR", *, over: str = "", **query_args):
    """The reply over ``over`` ("udp" or "tcp"), by default the transport of this run."""
    server = _SERVERS.get(id(responder))
    if server is None:
        server = _SERVERS[id(responder)] = DnsServer(responder)
        await server.start("127.0.0.1", 0)
    query = dns.message.make_query(name, rdtype, **query_args)
    if (over or _TRANSPORT[0]) == "tcp":
        reply = await dns.asyncquery.tcp(query, "127.0.0.1", port=server.port, timeout=5)
    else:
        reply = await dns.asyncquery.udp(query, "127.0.0.1", port=server.port, timeout=5)
    assert reply.id == query.id and reply.question == query.question
    return reply


def rrset(reply, rdtype: str):
    found = [r for r in reply.answer if r.rdtype == dns.rdatatype.from_text(rdtype)]
    assert len(found) == 1, reply
    return found[0]


def assert_negative(reply, rcode: int, negative_ttl: int = 60) -> None:
    assert reply.rcode() == rcode, reply
    assert reply.flags & dns.flags.AA
    assert not reply.answer
    (soa,) = reply.authority
    assert soa.rdtype == dns.rdatatype.SOA and soa.name == dns.name.from_text(ZONE)
    assert soa.ttl == negative_ttl and soa[0].minimum == negative_ttl


# -- identifier names ------------------------------------------------------------------


async def test_naptr_for_each_public_url_value(responder):
    name = names.handle_to_name(PRODUCT)
    reply = await ask(responder, name.upper(), "NAPTR")  # resolvers randomise case: the reply echoes it
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA and not reply.flags & dns.flags.RA
    naptr = rrset(reply, "NAPTR")
    assert naptr.name == dns.name.from_text(name) and naptr.ttl == 86400
    (record,) = naptr
    assert (record.order, record.preference, record.flags, record.service) == (100, 10, b"U", b"URL")
    assert record.regexp == f"!^.*$!{PRODUCT_URL}!".encode() and record.replacement == dns.name.root
    assert reply.question[0].name.to_text() == name.upper()


async def test_uri_record(responder):
    (record,) = rrset(await ask(responder, names.handle_to_name(PRODUCT), "URI"), "URI")
    assert (record.priority, record.weight, record.target) == (10, 1, PRODUCT_URL.encode())


async def test_txt_shows_every_public_value_and_nothing_private(responder):
    txt = rrset(await ask(responder, names.handle_to_name(PRODUCT), "TXT"), "TXT")
    texts = sorted(b"".join(r.strings).decode() for r in txt)
    assert texts == sorted(
        [f"1 URL {PRODUCT_URL}", "2 productName 电机", "3 contact.email sales@example.com"]
    )  # contact.phone and HS_ADMIN are not public-readable


async def test_long_txt_is_split_into_255_byte_strings(seeded, responder):
    long = "x" * 250
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/LONG", (Value(7, "note", long.encode()),)))
    (record,) = rrset(await ask(responder, names.handle_to_name("88.118.8/LONG"), "TXT"), "TXT")
    assert [len(s) for s in record.strings] == [255, len(f"7 note {long}") - 255]
    assert b"".join(record.strings) == f"7 note {long}".encode()


async def test_any_gets_one_rrset(responder):
    reply = await ask(responder, names.handle_to_name(PRODUCT), "ANY")
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.NAPTR]  # RFC 8482


async def test_unknown_and_deleted_identifiers_are_nxdomain(responder):
    assert_negative(await ask(responder, names.handle_to_name("88.118.8/NOPE")), dns.rcode.NXDOMAIN)
    assert_negative(await ask(responder, names.handle_to_name("88.118.8/GONE")), dns.rcode.NXDOMAIN)


async def test_absent_type_and_no_public_value_are_nodata(responder):
    assert_negative(await ask(responder, names.handle_to_name(PRODUCT), "A"), dns.rcode.NOERROR)
    assert_negative(await ask(responder, names.handle_to_name("88.118.8/SECRET"), "NAPTR"), dns.rcode.NOERROR)
    assert_negative(await ask(responder, names.handle_to_name("88.118.8/SECRET"), "TXT"), dns.rcode.NOERROR)


@pytest.mark.parametrize(
    ("name", "rcode"),
    [
        ("_h.8.118.88.id.local.", dns.rcode.NOERROR),  # identifiers with prefix 88.118.8 exist
        ("8.118.88.id.local.", dns.rcode.NOERROR),
        ("118.88.id.local.", dns.rcode.NOERROR),
        ("88.id.local.", dns.rcode.NOERROR),
        ("9.118.88.id.local.", dns.rcode.NXDOMAIN),  # allocated, but no identifier under it
        ("_h.118.88.id.local.", dns.rcode.NXDOMAIN),  # nothing has exactly the prefix 88.118
        ("www.id.local.", dns.rcode.NXDOMAIN),
        ("zz._h.8.118.88.id.local.", dns.rcode.NXDOMAIN),  # not base32hex
        ("gtin.id.local.", dns.rcode.NXDOMAIN),  # no GTIN indexed yet
        ("oid.id.local.", dns.rcode.NXDOMAIN),
    ],
)
async def test_ancestors_of_names_are_nodata_others_nxdomain(responder, name, rcode):
    assert_negative(await ask(responder, name, "NAPTR"), rcode)


async def test_ancestor_of_a_long_suffix_name_is_nodata(seeded, responder):
    handle = "88.118.8/" + "L" * 50  # 80 base32hex characters: two suffix labels
    await seeded.registry.create(seeded.owner, IdentifierWrite(handle, (Value(1, "URL", b"https://e.x/l"),)))
    labels = names.handle_to_labels(handle, ZONE)
    parent = names.labels_to_text(labels[1:])  # the first 63 characters only
    assert_negative(await ask(responder, parent), dns.rcode.NOERROR)
    other = names.labels_to_text((b"0" * 63, *labels[2:]))
    assert_negative(await ask(responder, other), dns.rcode.NXDOMAIN)
    await seeded.registry.delete(seeded.owner, handle)
    assert_negative(await ask(responder, parent), dns.rcode.NXDOMAIN)
    assert_negative(await ask(responder, names.handle_to_name(handle)), dns.rcode.NXDOMAIN)


async def test_outside_the_zone_and_foreign_prefixes_are_refused(responder):
    for name in ("www.example.com.", "local.", names.handle_to_name("99.1/x")):
        reply = await ask(responder, name)
        assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & dns.flags.AA and not reply.authority


# -- the apex -------------------------------------------------------------------------


async def test_apex_soa_ns_and_glue(seeded, responder):
    (soa,) = rrset(await ask(responder, ZONE, "SOA"), "SOA")
    assert soa.mname == dns.name.from_text("ns.id.local.") and soa.rname == dns.name.from_text("hostmaster.id.local.")
    assert soa.serial == seeded.registry.store.last_sequence() > 0
    assert (soa.refresh, soa.retry, soa.expire, soa.minimum) == (3600, 600, 1209600, 60)
    reply = await ask(responder, ZONE, "NS")
    assert [r.target.to_text() for r in rrset(reply, "NS")] == ["ns.id.local."]
    assert sorted(r.rdtype for r in reply.additional) == [dns.rdatatype.A, dns.rdatatype.AAAA]
    (a,) = rrset(await ask(responder, "ns.id.local.", "A"), "A")
    assert a.address == "127.0.0.1"
    assert [r.rdtype for r in (await ask(responder, ZONE, "ANY")).answer] == [dns.rdatatype.SOA]
    assert_negative(await ask(responder, ZONE, "TXT"), dns.rcode.NOERROR)


async def test_soa_serial_follows_the_change_log(seeded, responder):
    before = rrset(await ask(responder, ZONE, "SOA"), "SOA")[0].serial
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/NEW", (Value(1, "URL", b"https://e.x/n"),)))
    assert rrset(await ask(responder, ZONE, "SOA"), "SOA")[0].serial > before


async def test_negative_ttl_is_configurable(seeded):
    responder = DnsResponder(seeded.registry, ZoneConfig(zone="ids.example.cn", negative_ttl=5))
    reply = await ask(responder, names.handle_to_name("88.118.8/NOPE", "ids.example.cn"))
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.authority[0].ttl == 5
    assert reply.authority[0].name == dns.name.from_text("ids.example.cn.")


# -- freshness --------------------------------------------------------------------------


async def test_every_answer_reflects_the_latest_commit(seeded, responder):
    name = names.handle_to_name("88.118.8/FRESH")
    assert_negative(await ask(responder, name), dns.rcode.NXDOMAIN)
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/FRESH", (Value(1, "URL", b"https://e.x/1"),)))
    assert rrset(await ask(responder, name), "NAPTR")[0].regexp == b"!^.*$!https://e.x/1!"
    await seeded.registry.update(
        seeded.owner, IdentifierUpdate("88.118.8/FRESH", values=(Value(1, "URL", b"https://e.x/2", ttl=30),))
    )
    naptr = rrset(await ask(responder, name), "NAPTR")
    assert naptr[0].regexp == b"!^.*$!https://e.x/2!" and naptr.ttl == 30
    await seeded.registry.delete(seeded.owner, "88.118.8/FRESH")
    assert_negative(await ask(responder, name), dns.rcode.NXDOMAIN)


# -- values and TTLs ----------------------------------------------------------------------


async def test_rrset_ttl_is_the_smallest_and_absolute_ttls_count_down(seeded):
    now = 1_900_000_000.0
    responder = DnsResponder(seeded.registry, ZoneConfig(zone=ZONE), clock=lambda: now)
    values = (
        Value(1, "URL", b"https://e.x/a", ttl=600),
        Value(2, "URL.product", b"https://e.x/b!c\\d", ttl=int(now) + 120, ttl_absolute=True),
        Value(3, "URL", b"https://e.x/private", permissions=0b1100),
        Value(4, "EMAIL", b"a@b.c"),
    )
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/TTL", values))
    naptr = rrset(await ask(responder, names.handle_to_name("88.118.8/TTL")), "NAPTR")
    assert naptr.ttl == 120
    assert sorted((r.service, r.regexp) for r in naptr) == [
        (b"URL", b"!^.*$!https://e.x/a!"),
        (b"URL.product", b"!^.*$!https://e.x/b\\!c\\\\d!"),  # RFC 3402: the delimiter and \\ escaped
    ]


async def test_url_too_long_for_naptr_still_gets_uri(seeded, responder):
    url = "https://e.x/" + "u" * 240
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/LONGURL", (Value(1, "URL", url.encode()),)))
    name = names.handle_to_name("88.118.8/LONGURL")
    assert_negative(await ask(responder, name, "NAPTR"), dns.rcode.NOERROR)  # the regexp would pass 255 bytes
    assert rrset(await ask(responder, name, "URI"), "URI")[0].target == url.encode()


# -- EDNS, truncation and TCP -----------------------------------------------------------------


async def test_edns_truncation_and_tcp(seeded, responder):
    values = tuple(Value(i, "URL", f"https://e.x/{i}/{'p' * 180}".encode()) for i in range(1, 21))
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/BIG", values))
    name = names.handle_to_name("88.118.8/BIG")
    plain = await ask(responder, name, over="udp")  # no EDNS: 512 bytes
    assert plain.flags & dns.flags.TC and not plain.answer and plain.edns < 0
    edns = await ask(responder, name, over="udp", use_edns=0, payload=4096, want_dnssec=True)
    assert edns.flags & dns.flags.TC and not edns.answer
    assert edns.edns == 0 and edns.payload == 1232 and edns.ednsflags & dns.flags.DO  # advertised 1232, DO copied
    full = await ask(responder, name, over="tcp")
    assert not full.flags & dns.flags.TC and len(rrset(full, "NAPTR")) == 20


async def test_edns_reply_and_badvers(responder):
    reply = await ask(responder, names.handle_to_name(PRODUCT), use_edns=0)
    assert reply.edns == 0 and reply.payload == 1232 and not reply.ednsflags & dns.flags.DO
    query = dns.message.make_query(names.handle_to_name(PRODUCT), "NAPTR", use_edns=1)
    bad = dns.message.from_wire(responder.respond(query.to_wire()))
    assert bad.rcode() == dns.rcode.BADVERS and not bad.answer


async def test_malformed_queries_other_opcodes_classes_and_transfers(responder):
    query = dns.message.make_query(names.handle_to_name(PRODUCT), "NAPTR")
    wire = query.to_wire()
    formerr = dns.message.from_wire(responder.respond(wire[:-3]), question_only=True)
    assert formerr.rcode() == dns.rcode.FORMERR and formerr.id == query.id
    notify = dns.message.make_query(ZONE, "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    notimp = dns.message.from_wire(responder.respond(notify.to_wire()), question_only=True)
    assert notimp.rcode() == dns.rcode.NOTIMP
    assert responder.respond(dns.message.make_response(query).to_wire()) is None  # never answer a response
    assert responder.respond(b"\x01") is None
    assert (await ask(responder, names.handle_to_name(PRODUCT), "NAPTR", rdclass="CH")).rcode() == dns.rcode.REFUSED
    assert (await ask(responder, ZONE, "AXFR", over="tcp")).rcode() == dns.rcode.REFUSED


# -- GS1 and OID names ------------------------------------------------------------------------


async def test_gtin_and_oid_names_point_at_the_identifier(seeded):
    responder = DnsResponder(seeded.registry, ZoneConfig(zone=ZONE, resolve_url="https://node.example.cn/"))
    values = (Value(1, "URL", b"https://e.x/g"), Value(2, "GTIN", GTIN[1:].encode()), Value(3, "OID", OID.encode()))
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/G 1", values))  # GTIN stored as GTIN-13
    target = "https://node.example.cn/88.118.8/G%201"
    for name in (names.gtin_to_name(GTIN), names.oid_to_name(OID)):
        naptr = rrset(await ask(responder, name), "NAPTR")
        assert [(r.flags, r.service, r.regexp) for r in naptr] == [(b"U", b"HANDLE", f"!^.*$!{target}!".encode())]
        assert rrset(await ask(responder, name, "URI"), "URI")[0].target == target.encode()
        assert b"".join(rrset(await ask(responder, name, "TXT"), "TXT")[0].strings) == b"88.118.8/G 1"
    hidden = (Value(1, "GTIN", GTIN.encode(), permissions=0b1100), Value(2, "OID", OID.encode(), permissions=0b1100))
    await seeded.registry.create(seeded.owner, IdentifierWrite("88.118.8/HIDDEN", hidden))  # not public: not shown
    assert len(rrset(await ask(responder, names.gtin_to_name(GTIN), "TXT"), "TXT")) == 1
    assert len(rrset(await ask(responder, names.oid_to_name(OID), "URI"), "URI")) == 1
    gtin_labels = names.gtin_to_labels(GTIN, ZONE)
    assert_negative(await ask(responder, names.labels_to_text(gtin_labels[5:])), dns.rcode.NOERROR)  # an ancestor
    assert_negative(await ask(responder, "9.9.9.gtin.id.local."), dns.rcode.NXDOMAIN)
    assert_negative(await ask(responder, "156.16.2.oid.id.local."), dns.rcode.NOERROR)
    assert_negative(await ask(responder, "157.16.2.oid.id.local."), dns.rcode.NXDOMAIN)
    await seeded.registry.delete(seeded.owner, "88.118.8/G 1")
    await seeded.registry.delete(seeded.owner, "88.118.8/HIDDEN")
    assert_negative(await ask(responder, names.gtin_to_name(GTIN)), dns.rcode.NXDOMAIN)
    assert_negative(await ask(responder, names.oid_to_name(OID)), dns.rcode.NXDOMAIN)


# -- the direct path against the full path --------------------------------------------------------

TWINS = ["idnode._fastpath._dnsanswer_py"]
try:
    importlib.import_module("idnode._fastpath._dnsanswer_c")
    TWINS.append("idnode._fastpath._dnsanswer_c")
except ImportError:  # pragma: no cover - depends on the build
    import os

    if os.environ.get("CI") or os.environ.get("IDNODE_REQUIRE_EXTENSIONS"):
        raise


def direct_args(responder: DnsResponder, snap, tcp: bool = False) -> tuple:
    """answer_direct's arguments after the wire, as DnsResponder.respond passes them."""
    serial = snap.last_sequence() & 0xFFFFFFFF
    return snap.get, responder._zone_wire, "88.118", tcp, lambda: serial, responder._soa_direct


@pytest.mark.parametrize("twin", TWINS)
@pytest.mark.parametrize("qtype", ["NAPTR", "URI"])
@pytest.mark.parametrize("edns", [None, 0])
@pytest.mark.parametrize("handle", [PRODUCT, "88.118.8/NOPE", "88.118.8/GONE"])
def test_direct_path_takes_the_common_case(seeded, responder, twin, qtype, edns, handle):
    wire = dns.message.make_query(names.handle_to_name(handle).upper(), qtype, use_edns=edns).to_wire()
    with seeded.registry.snapshot() as snap:
        direct = importlib.import_module(twin).answer_direct(wire, *direct_args(responder, snap))
        assert direct is not None and direct == responder._respond_full(snap, wire, False)
    rcode = dns.message.from_wire(direct).rcode()
    assert rcode == (dns.rcode.NOERROR if handle == PRODUCT else dns.rcode.NXDOMAIN)


@pytest.mark.parametrize("twin", TWINS)
def test_direct_path_defers_everything_else(seeded, responder, twin):
    direct = importlib.import_module(twin).answer_direct
    long_parent = names.labels_to_text(names.handle_to_labels("88.118.8/" + "L" * 50, ZONE)[1:])
    with seeded.registry.snapshot() as snap:
        for name, qtype in [
            (names.handle_to_name(PRODUCT), "TXT"),
            (names.handle_to_name("88.118.8/SECRET"), "NAPTR"),  # NODATA
            (long_parent, "NAPTR"),  # may have names below it
            (names.handle_to_name("99.1/x"), "NAPTR"),
            (names.handle_to_name("88.118.8/é"), "NAPTR"),  # non-ASCII: NFC checks in the full path
            (ZONE, "SOA"),
            ("www.example.com.", "NAPTR"),
        ]:
            wire = dns.message.make_query(name, qtype).to_wire()
            assert direct(wire, *direct_args(responder, snap)) is None, (name, qtype)
        assert direct(b"\x00" * 11, *direct_args(responder, snap)) is None
        unknown = dns.message.make_query(names.handle_to_name("88.118.8/NOPE"), "NAPTR").to_wire()
        assert direct(unknown, snap.get, responder._zone_wire, "88.118") is None  # no SOA given: no NXDOMAIN


_suffixes = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60)
_urls = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=0, max_size=260)
_values = st.lists(
    st.tuples(
        st.sampled_from(["URL", "URL.product", "URLX", "EMAIL", "note"]),
        _urls,
        st.integers(0, 2**31 + 5),
        st.sampled_from([0b1110, 0b1100]),
    ),
    min_size=1,
    max_size=8,
)


@hsettings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    suffix=_suffixes,
    values=_values,
    qtype=st.sampled_from(["NAPTR", "URI", "TXT", "A"]),
    edns=st.sampled_from([None, 0]),
    payload=st.integers(0, 5000),
    dnssec=st.booleans(),
    tcp=st.booleans(),
    upper=st.booleans(),
    state=st.sampled_from(["live", "live", "unknown", "deleted"]),
)
async def test_direct_path_answers_exactly_as_the_full_path(
    seeded, suffix, values, qtype, edns, payload, dnssec, tcp, upper, state
):
    handle = "88.118.8/" + suffix.strip()
    if handle.endswith("/") or len(suffix.encode()) > names.max_suffix_bytes("88.118.8", ZONE):
        return
    try:
        stored = tuple(
            Value(i, t, (d or "x").encode(), ttl=ttl, permissions=p) for i, (t, d, ttl, p) in enumerate(values, start=1)
        )
    except InvalidValue:
        assume(False)
    registry = seeded.registry
    if registry.lookup(*handle.split("/", 1)) is None and state != "unknown":
        await registry.create(seeded.owner, IdentifierWrite(handle, stored))
        if state == "deleted":
            await registry.delete(seeded.owner, handle)
    responder = DnsResponder(registry, ZoneConfig(zone=ZONE))
    name = names.handle_to_name(handle, ZONE)
    query = dns.message.make_query(
        name.upper() if upper else name, qtype, use_edns=edns, payload=max(payload, 1), want_dnssec=dnssec and edns == 0
    )
    wire = query.to_wire()
    with registry.snapshot() as snap:
        full = responder._respond_full(snap, wire, tcp)
        direct = [
            importlib.import_module(twin).answer_direct(wire, *direct_args(responder, snap, tcp)) for twin in TWINS
        ]
    assert all(d == direct[0] for d in direct), "the twins disagree"
    assert direct[0] is None or direct[0] == full
    assert responder.respond(wire, tcp=tcp) == full
