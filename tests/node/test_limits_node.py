"""Whole-node fairness under per-client rate limits: a flooding client is refused (gRPC
RESOURCE_EXHAUSTED, HTTP 429, DNS REFUSED) while another client is still served."""

from __future__ import annotations

import http.client
import time

import dns.message
import dns.query
import dns.rcode
import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from idnode.proto import resolver_pb2
from idnode.resolver.dns import names

from .conftest import auth, setup_enterprise
from .test_dns_node import create
from .test_metrics_node import sample, wait_for

pytestmark = pytest.mark.node

HEAD = "91440300192203821"
HANDLE = "88.118.8/P-1"
FLOOD = 1500  # requests at most per front end, and at most SECONDS each
SECONDS = 15.0
EVERY = 25  # the other client asks once per this many flood requests


@pytest.fixture
def limited(node_factory):
    # Burst 80: the other clients ask at most FLOOD / EVERY = 60 times in all, so never reach their limit.
    node = node_factory("--workers", "1", "--rate-limit-resolve", "40/80")
    create(node, setup_enterprise(node, HEAD, "88.118.8"), HANDLE, "https://a.example/p/1")
    return node


def test_grpc_flooder_gets_resource_exhausted_others_served(limited):
    flooder, other = limited.resolver(), limited.resolver()
    admin = auth(limited.admin_token)  # the other client: its credential is its bucket
    request = resolver_pb2.ResolveRequest(handle=HANDLE)
    answered = refused = asked = served = 0
    deadline = time.monotonic() + SECONDS
    for _ in range(FLOOD // EVERY):
        if time.monotonic() > deadline:
            break
        for future in [flooder.Resolve.future(request, timeout=10) for _ in range(EVERY)]:  # EVERY in flight
            try:
                assert future.result().response_code == 1
                answered += 1
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
                assert "rate limit" in err.details()
                refused += 1
        asked += 1
        reply = other.Resolve(request, metadata=admin, timeout=10)
        served += reply.response_code == 1
    assert refused > 0 and answered >= 80  # the burst, then about 40/s
    assert answered + refused == asked * EVERY
    assert served == asked  # every request of the other client answered
    # Refused calls are counted with their Handle code (metrics flush once a second).
    text = wait_for(limited, lambda t: sample(t, "idnode_requests_total", frontend="grpc", method="Resolve", code="3"))
    assert sample(text, "idnode_requests_total", frontend="grpc", method="Resolve", code="3") == refused


def _http_get(port: int, source: str, token: str = "") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=(source, 0))
    try:
        conn.request("GET", f"/api/handles/{HANDLE}", headers={"Authorization": f"Bearer {token}"} if token else {})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Retry-After") or ""
    finally:
        conn.close()


def http_429(text: str) -> float:
    """The HTTP requests counted with status 429, summed over methods."""
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "idnode_requests_total" and s.labels.get("frontend") == "http" and s.labels.get("code") == "429"
    )


def test_http_flooder_gets_429_others_served(limited):
    statuses: dict[int, int] = {}
    retry_after = set()
    served = asked = 0
    deadline = time.monotonic() + SECONDS
    for n in range(FLOOD // 5):  # one connection per request: slower, so fewer
        if time.monotonic() > deadline:
            break
        status, retry = _http_get(limited.http_port, "127.0.0.1")
        statuses[status] = statuses.get(status, 0) + 1
        if status == 429:
            retry_after.add(retry)
        if n % EVERY == 0:  # another address (127.0.0.2 is loopback too) and a credential: other buckets
            asked += 2
            served += _http_get(limited.http_port, "127.0.0.2")[0] == 200
            served += _http_get(limited.http_port, "127.0.0.1", limited.admin_token)[0] == 200
    assert set(statuses) == {200, 429}, statuses
    text = wait_for(limited, lambda t: http_429(t) >= statuses[429])
    assert http_429(text) == statuses[429]  # every 429 counted, under whatever method label
    assert all(value.isdigit() and int(value) >= 1 for value in retry_after)
    assert served == asked


def test_dns_flooder_gets_refused_others_served(limited):
    name = names.handle_to_name(HANDLE)
    rcodes: dict[int, int] = {}
    served = asked = 0
    deadline = time.monotonic() + SECONDS
    for n in range(FLOOD):
        if time.monotonic() > deadline:
            break
        query = dns.message.make_query(name, "NAPTR")
        reply = dns.query.udp(query, "127.0.0.1", port=limited.dns_port, timeout=5)
        assert reply.id == query.id and reply.question == query.question
        assert len(reply.to_wire()) <= len(query.to_wire()) or reply.rcode() != dns.rcode.REFUSED  # no amplification
        rcodes[reply.rcode()] = rcodes.get(reply.rcode(), 0) + 1
        if n % EVERY == 0:
            asked += 1
            other = dns.query.udp(
                dns.message.make_query(name, "NAPTR"), "127.0.0.1", port=limited.dns_port, timeout=5, source="127.0.0.2"
            )
            served += other.rcode() == dns.rcode.NOERROR and bool(other.answer)
    assert rcodes.get(dns.rcode.REFUSED, 0) > 0 and rcodes.get(dns.rcode.NOERROR, 0) >= 80, rcodes
    assert served == asked
