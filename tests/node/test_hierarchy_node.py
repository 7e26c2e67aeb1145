"""Recursive resolution across real processes: `idnode topnode serve`, node A
(`--node-prefix 88.118 --top`) and node B (`--node-prefix 88.200 --top`). A
allocates 88.118.8, the prefix is approved on the top node, A registers
88.118.8/X, and B resolves it over gRPC, HTTP and DNS — non-authoritative —
the second time from its cache, and still from its cache with the top node
down. Unknown prefixes answer 100; with --no-recursion, a 303 referral."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request

import dns.flags
import dns.message
import dns.query
import dns.rcode
import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2, resolver_pb2, toplevel_pb2, toplevel_pb2_grpc
from idnode.resolver.dns import names
from idnode.resolver.grpc import handle_error_from_rpc

from .conftest import TopNode, auth, setup_enterprise

HANDLE = "88.118.8/X"
URL = "https://example.com/x"


def approve_on_top(top: TopNode, a, prefix: str, timeout: float = 20) -> None:
    """Ask for ``prefix`` on the top node with A's own credential (harmless when A
    already asked: RequestPrefix is idempotent), then `idnode topnode approve`."""
    deadline = time.monotonic() + timeout
    credential = a.data_dir / "top.credential"
    with grpc.insecure_channel(f"127.0.0.1:{top.port}") as channel:
        stub = toplevel_pb2_grpc.TopLevelStub(channel)
        while True:  # the outbox registers A shortly after it starts
            try:
                token = credential.read_text().strip()
                stub.RequestPrefix(
                    toplevel_pb2.RequestPrefixRequest(node_prefix="88.118", prefix=prefix, credit_code="C1"),
                    metadata=auth(token),
                    timeout=5,
                )
                break
            except (OSError, grpc.RpcError):
                assert time.monotonic() < deadline, "node A never registered with the top node"
                time.sleep(0.1)
    command = [sys.executable, "-m", "idnode", "topnode", "approve", prefix]
    command += ["--top", f"127.0.0.1:{top.port}", "--data-dir", str(top.data_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr


def create_when_allowed(a, token: str, timeout: float = 20) -> None:
    """Create 88.118.8/X on A (retrying while A still holds the prefix pending approval)."""
    item = registry_pb2.IdentifierWrite(
        handle=HANDLE,
        values=[
            common_pb2.HandleValue(index=1, type="URL", data=URL.encode(), ttl=3600),
            common_pb2.HandleValue(index=2, type="productName", data=b"motor", ttl=3600),
        ],
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            a.registry().CreateIdentifier(item, metadata=auth(token), timeout=10)
            return
        except grpc.RpcError:
            assert time.monotonic() < deadline, "node A never accepted a write under the approved prefix"
            time.sleep(0.1)


def http_get(url: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def dns_query(node, handle: str, rdtype: str = "TXT", tcp: bool = False) -> dns.message.Message:
    query = dns.message.make_query(names.handle_to_name(handle, "id.local."), rdtype)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(query, "127.0.0.1", port=node.dns_port, timeout=10)


@pytest.fixture
def hierarchy(tmp_path, node_factory):
    top = TopNode(tmp_path / "top").start()
    try:
        target = f"127.0.0.1:{top.port}"
        a = node_factory("--node-prefix", "88.118", "--top", target, "--workers", "1", data_dir=tmp_path / "a")
        b = node_factory("--node-prefix", "88.200", "--top", target, "--workers", "1", data_dir=tmp_path / "b")
        token = setup_enterprise(a, "91350100M000100Y4", "88.118.8")
        approve_on_top(top, a, "88.118.8")
        create_when_allowed(a, token)
        yield top, a, b
    finally:
        top.stop()


def test_b_resolves_a_handle_of_a_over_grpc_http_and_dns(hierarchy, node_factory, tmp_path):
    top, a, b = hierarchy
    resolver = b.resolver()

    started = time.perf_counter()
    reply = resolver.Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    cold = time.perf_counter() - started
    assert (reply.response_code, reply.handle, reply.non_authoritative) == (1, HANDLE, True)
    assert [(v.index, v.data) for v in reply.values] == [(1, URL.encode()), (2, b"motor")]
    cached = []
    for _ in range(20):
        started = time.perf_counter()
        again = resolver.Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
        cached.append(time.perf_counter() - started)
        assert again == reply
    local = a.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    assert local.response_code == 1 and not local.non_authoritative
    print(f"\ngRPC via B: cold {cold * 1e3:.2f} ms, cached median {sorted(cached)[10] * 1e3:.3f} ms")

    batch = resolver.BatchResolve(resolver_pb2.BatchResolveRequest(handles=[HANDLE, "88.118.8/NOPE"]), timeout=10)
    assert [(r.response_code, r.non_authoritative) for r in batch.results] == [(1, True), (100, False)]

    # HTTP: the Handle REST read and the resolver page.
    status, headers, body = http_get(f"{b.http}/api/handles/{HANDLE}")
    assert status == 200 and headers.get("X-Idnode-Authoritative") == "false"
    assert b'"responseCode": 1' in body or b'"responseCode":1' in body
    status, headers, _ = http_get(f"{b.http}/{HANDLE}?noredirect")
    assert status == 200 and headers.get("X-Idnode-Authoritative") == "false"
    status, headers, _ = http_get(f"{a.http}/api/handles/{HANDLE}")
    assert status == 200 and "X-Idnode-Authoritative" not in headers

    # DNS, UDP and TCP: the owner's values with the AA bit clear (A answers with AA set).
    for tcp in (False, True):
        answer = dns_query(b, HANDLE, "TXT", tcp=tcp)
        assert answer.rcode() == dns.rcode.NOERROR and not answer.flags & dns.flags.AA
        texts = sorted(b"".join(r.strings).decode() for rrset in answer.answer for r in rrset)
        assert texts == [f"1 URL {URL}", "2 productName motor"]
    naptr = dns_query(b, "88.118.8/Y-COLD", "NAPTR")  # not cached: resolved recursively, not found at A
    assert naptr.rcode() == dns.rcode.NXDOMAIN and not naptr.flags & dns.flags.AA
    assert dns_query(a, HANDLE).flags & dns.flags.AA

    # An unknown prefix: 100 (the top node knows no node for it); DNS NXDOMAIN.
    with pytest.raises(grpc.RpcError) as caught:
        resolver.Resolve(resolver_pb2.ResolveRequest(handle="77.1/X"), timeout=10)
    assert handle_error_from_rpc(caught.value).code == 100
    assert http_get(f"{b.http}/api/handles/77.1/X")[0] == 404
    assert dns_query(b, "77.1/X").rcode() == dns.rcode.NXDOMAIN

    # The top node down: cached answers still serve (until their TTL); new prefixes fail 301.
    top.stop()
    assert resolver.Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10) == reply
    assert http_get(f"{b.http}/api/handles/{HANDLE}")[0] == 200
    assert dns_query(b, HANDLE).rcode() == dns.rcode.NOERROR
    with pytest.raises(grpc.RpcError) as caught:
        resolver.Resolve(resolver_pb2.ResolveRequest(handle="66.1/X"), timeout=15)
    error = handle_error_from_rpc(caught.value)
    assert error.code == 301 and str(top.port) in error.message


def test_no_recursion_answers_a_referral(hierarchy, node_factory, tmp_path):
    top, a, _ = hierarchy
    c = node_factory(
        "--node-prefix", "88.300", "--top", f"127.0.0.1:{top.port}", "--no-recursion", "--workers", "1",
        data_dir=tmp_path / "c",
    )  # fmt: skip
    with pytest.raises(grpc.RpcError) as caught:
        c.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10)
    error = handle_error_from_rpc(caught.value)
    assert error.code == 303 and f"grpc://127.0.0.1:{a.port}" in error.message
    assert dns_query(c, HANDLE).rcode() == dns.rcode.REFUSED
