"""Whole-node DNS tests: a real `idnode serve` on loopback, dnspython as the client over UDP and TCP.

The answer rules are covered in tests/unit/test_dns_answer.py; here the
transports: UDP and TCP on one port, truncation then TCP fallback, TCP
pipelining and framing, SO_REUSEPORT workers, freshness after a gRPC write,
and a running server fed random and mutated packets.
"""

from __future__ import annotations

import socket
import struct
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idnode.proto import common_pb2, registry_pb2
from idnode.resolver.dns import names

from .conftest import auth, setup_enterprise

pytestmark = pytest.mark.node

HEAD = "91440300192203821"
HOST = "127.0.0.1"


def create(node, token: str, handle: str, *urls: str) -> None:
    values = [common_pb2.HandleValue(index=i, type="URL", data=url.encode()) for i, url in enumerate(urls, start=1)]
    result = node.registry().CreateIdentifier(
        registry_pb2.IdentifierWrite(handle=handle, values=values), metadata=auth(token)
    )
    assert result.response_code == 1, result


def udp(node, name: str, rdtype: str = "NAPTR", **kwargs) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, rdtype, **kwargs), HOST, port=node.dns_port, timeout=5)


def tcp(node, name: str, rdtype: str = "NAPTR", **kwargs) -> dns.message.Message:
    return dns.query.tcp(dns.message.make_query(name, rdtype, **kwargs), HOST, port=node.dns_port, timeout=5)


@pytest.fixture
def served(node):
    token = setup_enterprise(node, HEAD, "88.118.8")
    create(node, token, "88.118.8/P-1", "https://a.example/p/1")
    return node, token


def test_udp_and_tcp_on_one_port(served):
    node, _ = served
    assert node.dns_port > 0
    name = names.handle_to_name("88.118.8/P-1")
    for reply in (udp(node, name), tcp(node, name), udp(node, name, use_edns=0)):
        assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
        (naptr,) = reply.answer
        assert naptr[0].regexp == b"!^.*$!https://a.example/p/1!"
    missing = udp(node, names.handle_to_name("88.118.8/NOPE"))
    assert missing.rcode() == dns.rcode.NXDOMAIN and missing.authority[0].rdtype == dns.rdatatype.SOA
    assert udp(node, "example.com.", "A").rcode() == dns.rcode.REFUSED
    assert tcp(node, "id.local.", "SOA").answer[0][0].serial > 0


def test_truncated_over_udp_then_full_over_tcp(served):
    node, token = served
    create(node, token, "88.118.8/BIG", *(f"https://a.example/{i}/{'x' * 150}" for i in range(12)))
    name = names.handle_to_name("88.118.8/BIG")
    assert udp(node, name, use_edns=0).flags & dns.flags.TC
    query = dns.message.make_query(name, "NAPTR", use_edns=0)
    reply, used_tcp = dns.query.udp_with_fallback(query, HOST, port=node.dns_port, timeout=5)
    assert used_tcp and not reply.flags & dns.flags.TC and len(reply.answer[0]) == 12


def test_tcp_pipelining_and_bad_framing(served):
    node, _ = served
    queries = [dns.message.make_query(names.handle_to_name(f"88.118.8/P-{i}"), "NAPTR") for i in (1, 2, 1)]
    with socket.create_connection((HOST, node.dns_port), timeout=5) as sock:
        sock.sendall(b"".join(struct.pack(">H", len(w)) + w for w in (q.to_wire() for q in queries)))
        replies = [dns.query.receive_tcp(sock, time.time() + 5)[0] for _ in queries]
    assert [r.id for r in replies] == [q.id for q in queries]
    assert [r.rcode() for r in replies] == [dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.NOERROR]
    with socket.create_connection((HOST, node.dns_port), timeout=5) as sock:
        sock.sendall(b"\x00\x05\x12\x34\x01")  # a 3-byte fragment where 5 were announced, then EOF
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""  # closed without a reply
    assert udp(node, names.handle_to_name("88.118.8/P-1")).rcode() == dns.rcode.NOERROR


def test_a_write_is_visible_over_dns_when_it_commits(served):
    node, token = served
    name = names.handle_to_name("88.118.8/NEW")
    assert udp(node, name).rcode() == dns.rcode.NXDOMAIN
    create(node, token, "88.118.8/NEW", "https://a.example/new")
    assert udp(node, name).answer[0][0].regexp == b"!^.*$!https://a.example/new!"  # no cache to expire
    result = node.registry().DeleteIdentifier(
        registry_pb2.IdentifierDelete(handle="88.118.8/NEW"), metadata=auth(token)
    )
    assert result.response_code == 1
    assert udp(node, name).rcode() == dns.rcode.NXDOMAIN


def test_prefork_workers_share_the_port(node_factory):
    node = node_factory("--workers", "2")
    token = setup_enterprise(node, HEAD, "88.118.8")
    create(node, token, "88.118.8/P-1", "https://a.example/p/1")
    name = names.handle_to_name("88.118.8/P-1")
    for _ in range(20):  # a new socket (source port) each time: SO_REUSEPORT spreads them over the workers
        assert udp(node, name).rcode() == dns.rcode.NOERROR
        assert tcp(node, name).rcode() == dns.rcode.NOERROR
    create(node, token, "88.118.8/P-2", "https://a.example/p/2")  # written by the writer process
    assert udp(node, names.handle_to_name("88.118.8/P-2")).rcode() == dns.rcode.NOERROR


def test_dns_can_be_switched_off(node_factory):
    node = node_factory("--dns-listen", "off")
    assert node.dns_port == 0
    assert not any("DNS listening" in line for line in node.output)


# -- a running server fed random and mutated packets -------------------------------------------

_VALID = [
    dns.message.make_query(names.handle_to_name("88.118.8/P-1"), "NAPTR").to_wire(),
    dns.message.make_query(names.handle_to_name("88.118.8/P-1"), "URI", use_edns=0, want_dnssec=True).to_wire(),
    dns.message.make_query("id.local.", "SOA").to_wire(),
]


@st.composite
def packets(draw):
    if draw(st.booleans()):
        return draw(st.binary(max_size=600))
    wire = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "cut", "add", "set"]))
        if action == "flip" and wire:
            at = draw(st.integers(0, len(wire) - 1))
            wire[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut" and wire:
            del wire[draw(st.integers(0, len(wire) - 1)) :]
        elif action == "add":
            wire += draw(st.binary(min_size=1, max_size=40))
        elif action == "set" and wire:
            wire[draw(st.integers(0, len(wire) - 1))] = draw(st.sampled_from([0, 0xC0, 0x3F, 0x40, 0xFF]))
    return bytes(wire)


def test_the_server_survives_any_input(served):
    node, _ = served
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(0.2)
    answered = silent = 0

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(packets())
    def feed(packet):
        nonlocal answered, silent
        sock.sendto(packet, (HOST, node.dns_port))
        try:
            reply = sock.recv(65535)
        except TimeoutError:
            silent += 1
            # silence only for what has no id to echo, or is a response (QR set)
            assert len(packet) < 2 or (len(packet) >= 12 and packet[2] & 0x80), "a query went unanswered"
            return
        answered += 1
        assert len(reply) >= 12 and reply[:2] == packet[:2] and reply[2] & 0x80  # our id, QR set
        message = dns.message.from_wire(reply, question_only=True)  # a valid DNS message
        assert message.rcode() in (
            dns.rcode.NOERROR,
            dns.rcode.FORMERR,
            dns.rcode.NXDOMAIN,
            dns.rcode.NOTIMP,
            dns.rcode.REFUSED,
            dns.rcode.BADVERS,
        )

    try:
        feed()
    finally:
        sock.close()
    assert answered > 0
    with socket.create_connection((HOST, node.dns_port), timeout=5) as conn:  # garbage over TCP too
        conn.sendall(b"\x00\x10" + b"\xff" * 16 + b"\x00\x02\x00")
        conn.shutdown(socket.SHUT_WR)
        while conn.recv(4096):
            pass
    assert udp(node, names.handle_to_name("88.118.8/P-1")).rcode() == dns.rcode.NOERROR
    assert node.proc is not None and node.proc.poll() is None
