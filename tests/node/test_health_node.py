"""Health and lifecycle of a real node: /readyz and gRPC health follow the writer process; SIGTERM drains the HTTP
and DNS front ends (an in-flight request completes, new connections are refused, the node exits within grace)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import struct
import time

import dns.message
import dns.rcode
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from idnode.resolver.dns import names

from .conftest import setup_enterprise

pytestmark = pytest.mark.node

HEAD = "91440300192203821"
GRACE = 5.0
MARGIN = 10.0  # process start-up and shut-down on a shared 2-core machine


def get(node, path: str) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=10)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def writer_pid(node) -> int:
    for line in node.output:
        match = re.search(r"writer started \(pid (\d+)\)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("no writer start line:\n" + "".join(node.output))


def test_readiness_follows_the_writer_process(node_factory):
    node = node_factory("--workers", "2")
    for _ in range(4):  # new connections: both workers answer
        assert get(node, "/readyz") == (200, {"status": "ready", "checks": ["store", "writer"], "problems": []})
    health = health_pb2_grpc.HealthStub(node.channel())
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING

    os.kill(writer_pid(node), signal.SIGKILL)
    seen: list[tuple[int, dict]] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the supervisor's new writer answers again
        seen.append(get(node, "/readyz"))
        if seen[-1][0] == 200 and any(status == 503 for status, _ in seen):
            break
        time.sleep(0.01)
    unready = [body for status, body in seen if status == 503]
    assert unready, f"/readyz never reported the dead writer: {seen[:3]}"
    assert unready[0]["status"] == "not ready"
    assert [p.split(" not reachable")[0] for p in unready[0]["problems"]] == ["writer: the writer process"]
    assert seen[-1] == (200, {"status": "ready", "checks": ["store", "writer"], "problems": []})
    assert get(node, "/healthz") == (200, {"status": "alive"})


def _partial_put(node, token: str, handle: str) -> tuple[socket.socket, bytes]:
    """A PUT whose headers and first half of the body are sent; returns the socket and the rest of the body."""
    body = json.dumps([{"index": 1, "type": "URL", "data": "https://example.com/drained"}]).encode()
    head = (
        f"PUT /api/handles/{handle} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", node.http_port), timeout=20)
    half = len(body) // 2
    sock.sendall(head + body[:half])
    return sock, body[half:]


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_an_http_request_in_flight(node_factory, workers):
    node = node_factory("--workers", workers, "--grace", str(GRACE))
    token = setup_enterprise(node, HEAD, "88.118.8")
    sock, rest = _partial_put(node, token, "88.118.8/DRAINED")
    time.sleep(0.3)  # the handler is reading the body now
    assert node.proc is not None
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)  # draining
    assert _refused(node.http_port), "a new HTTP connection was accepted while draining"
    sock.sendall(rest)
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    sock.close()
    assert reply.startswith(b"HTTP/1.1 201"), reply[:200]
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"responseCode": 1, "handle": "88.118.8/DRAINED"}
    assert node.proc.wait(GRACE + MARGIN) == 0
    assert time.monotonic() - started < GRACE + MARGIN


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_a_dns_tcp_query_in_flight(node_factory, workers):
    node = node_factory("--workers", workers, "--grace", str(GRACE), "--demo")
    query = dns.message.make_query(names.handle_to_name("88.118.8/DEMO-000001"), "NAPTR").to_wire()
    sock = socket.create_connection(("127.0.0.1", node.dns_port), timeout=20)
    sock.sendall(struct.pack(">H", len(query)) + query[:5])  # the length and a few bytes: a query in flight
    time.sleep(0.3)
    assert node.proc is not None
    started = time.monotonic()
    node.proc.send_signal(signal.SIGTERM)
    time.sleep(1.0)
    assert _refused(node.dns_port), "a new DNS TCP connection was accepted while draining"
    sock.sendall(query[5:])
    (length,) = struct.unpack(">H", sock.recv(2, socket.MSG_WAITALL))
    answer = dns.message.from_wire(sock.recv(length, socket.MSG_WAITALL))
    sock.close()
    assert answer.rcode() == dns.rcode.NOERROR and len(answer.answer) == 1
    assert node.proc.wait(GRACE + MARGIN) == 0
    assert time.monotonic() - started < GRACE + MARGIN


def test_grpc_health_reports_not_serving_while_draining(node_factory):
    """Between SIGTERM and the end of the grace period a Watch sees NOT_SERVING (balancers stop sending)."""
    node = node_factory("--workers", "1", "--grace", str(GRACE))
    with grpc.insecure_channel(node.target) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(), timeout=GRACE + MARGIN)
        assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
        assert node.proc is not None
        node.proc.send_signal(signal.SIGTERM)
        assert next(stream).status == health_pb2.HealthCheckResponse.NOT_SERVING
        stream.cancel()
    assert node.proc.wait(GRACE + MARGIN) == 0
