"""Whole-node request timeouts and resolve-limit exemptions: a client trickling an HTTP body (or its
headers) is cut off after --request-timeout while other clients are served; a trusted resolver's
address (--rate-limit-resolve-exempt) is never limited while another address is."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import dns.message
import dns.query
import dns.rcode
import pytest

from idnode.proto import resolver_pb2
from idnode.resolver.dns import names

from .conftest import Node, setup_enterprise
from .test_dns_node import create
from .test_metrics_node import sample, wait_for

pytestmark = pytest.mark.node

HEAD = "91440300192203821"
HANDLE = "88.118.8/T-1"
TRICKLE_BYTES = 200  # one every 0.05 s: 10 s at most, ten times the node's timeout
OTHER_REQUESTS = 400  # the other client's requests at most, while the trickle lasts


@pytest.fixture(scope="module", params=["1", "2"], ids=["one-process", "prefork"])
def node(request, tmp_path_factory):
    node = Node(
        tmp_path_factory.mktemp("timeouts"),
        "--workers",
        request.param,  # one process: one event loop, where a held slot would show as the other client waiting
        "--request-timeout",
        "1",
        "--rate-limit-resolve",
        "40/80",
        "--rate-limit-resolve-exempt",
        "127.0.0.2",
    ).start()
    try:
        create(node, setup_enterprise(node, HEAD, "88.118.8"), HANDLE, "https://a.example/t/1")
        yield node
    finally:
        node.stop()


def _trickle(port: int, head: bytes, body: bytes, result: dict[str, object]) -> None:
    """Send ``head``, then ``body`` a byte every 0.05 s until the server answers or closes; keep what
    it sent (``answer``), how many body bytes went (``sent``) and whether it ended with a reset."""
    received, sent, reset = b"", 0, False
    with socket.create_connection(("127.0.0.1", port), timeout=15) as conn:
        conn.sendall(head)
        conn.settimeout(0.05)
        try:
            for byte in body:
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    chunk = None  # nothing yet: keep trickling
                if chunk is not None:
                    received += chunk
                    break  # an answer, or b"": closed
                conn.sendall(bytes((byte,)))
                sent += 1
            conn.settimeout(10)
            while chunk := conn.recv(65536):  # the rest, until the server closes
                received += chunk
        except ConnectionResetError:
            reset = True
    result.update(answer=received, sent=sent, reset=reset)


def _served_while(port: int, trickler: threading.Thread) -> tuple[int, int]:
    """GET the handle from another connection, one request after another, while ``trickler`` runs."""
    asked = served = 0
    while trickler.is_alive() and asked < OTHER_REQUESTS:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10, source_address=("127.0.0.2", 0))  # exempt
        try:
            conn.request("GET", f"/api/handles/{HANDLE}")
            response = conn.getresponse()
            response.read()
            served += response.status == 200
        finally:
            conn.close()
        asked += 1
        time.sleep(0.02)
    return asked, served


def test_trickled_body_is_cut_off_with_408_while_others_are_served(node):
    head = (
        f"PUT /api/handles/{HANDLE} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {node.admin_token}\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    result: dict[str, object] = {}
    trickler = threading.Thread(target=_trickle, args=(node.http_port, head, b"[" + b" " * TRICKLE_BYTES, result))
    trickler.start()
    asked, served = _served_while(node.http_port, trickler)
    trickler.join(30)
    answer, sent = result["answer"], result["sent"]
    assert isinstance(answer, bytes) and isinstance(sent, int)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert not result["reset"]  # the 408 and the server's FIN came before any reset
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["responseCode"] == 3
    assert sent < TRICKLE_BYTES  # cut off before the trickle ran out (and the body could never complete)
    assert asked >= 5 and served == asked  # the other client was answered all along
    text = wait_for(node, lambda t: sample(t, "idnode_requests_total", frontend="http", code="408") >= 1)
    assert sample(text, "idnode_requests_total", frontend="http", code="408") == 1
    values = node.resolver().Resolve(resolver_pb2.ResolveRequest(handle=HANDLE), timeout=10).values  # as it was
    assert [v.data for v in values] == [b"https://a.example/t/1"]


def test_trickled_headers_are_cut_off_while_others_are_served(node):
    result: dict[str, object] = {}
    trickler = threading.Thread(
        target=_trickle,
        args=(node.http_port, b"GET /healthz HTTP/1.1\r\n", b"X-Slow: " + b"a" * TRICKLE_BYTES, result),
    )
    trickler.start()
    asked, served = _served_while(node.http_port, trickler)
    trickler.join(30)
    assert result["answer"] == b""  # closed: the head never completed
    assert isinstance(result["sent"], int) and result["sent"] < TRICKLE_BYTES + 8
    assert asked >= 5 and served == asked


def test_exempt_resolver_is_not_limited_another_address_is(node):
    name = names.handle_to_name(HANDLE)
    refused = {"127.0.0.2": 0, "127.0.0.1": 0}
    for source in refused:
        for _ in range(300):  # far past the burst of 80 (of each worker: up to 2 buckets per address)
            reply = dns.query.udp(
                dns.message.make_query(name, "NAPTR"), "127.0.0.1", port=node.dns_port, timeout=5, source=source
            )
            refused[source] += reply.rcode() == dns.rcode.REFUSED
    assert refused["127.0.0.2"] == 0
    assert refused["127.0.0.1"] > 0
