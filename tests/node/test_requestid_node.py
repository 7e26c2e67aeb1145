"""One request id across processes and nodes: a write forwarded from a prefork worker to the writer process
(HTTP and gRPC), and a resolution node B makes through the top-level node at node A; the JSON log lines of
every process involved carry the caller's id."""

from __future__ import annotations

import http.client
import json

import grpc
import pytest

from idnode.proto import common_pb2, registry_pb2, resolver_pb2

from .conftest import TopNode, auth, setup_enterprise
from .test_hierarchy_node import HANDLE, approve_on_top, create_when_allowed

pytestmark = pytest.mark.node

LOGS = ("--log-format", "json", "--log-level", "debug")


def logged(node, request_id: str) -> list[dict]:
    """idnode's JSON log lines of ``node`` (stopped, so its output is complete) carrying ``request_id``
    (grpcio's own debug lines about the call carry it too; they are left out)."""
    entries = [json.loads(line) for line in node.output if line.startswith("{")]
    return [e for e in entries if e.get("request_id") == request_id and e["logger"].startswith("idnode")]


def test_a_forwarded_write_keeps_its_id_in_worker_and_writer(node_factory):
    node = node_factory("--workers", "2", *LOGS)
    token = setup_enterprise(node, "91440300192203821", "88.118.8")

    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=15)
    body = json.dumps([{"index": 1, "type": "URL", "data": "https://example.com/h"}])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json", "X-Request-Id": "put-http-1"}
    conn.request("PUT", "/api/handles/88.118.8/RID-H", body=body, headers=headers)
    reply = conn.getresponse()
    assert (reply.status, reply.getheader("X-Request-Id")) == (201, "put-http-1")
    reply.read()
    conn.close()

    write = registry_pb2.IdentifierWrite(
        handle="88.118.8/RID-G", values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://example.com/g")]
    )
    result, call = node.registry().CreateIdentifier.with_call(
        write, metadata=(*auth(token), ("x-request-id", "put-grpc-1"))
    )
    assert result.created and dict(call.trailing_metadata())["x-request-id"] == "put-grpc-1"
    other = registry_pb2.IdentifierWrite(
        handle="88.118.8/RID-G", values=[common_pb2.HandleValue(index=1, type="URL", data=b"https://example.com/2")]
    )
    with pytest.raises(grpc.RpcError) as info:  # an error from the writer keeps the id too
        node.registry().CreateIdentifier(other, metadata=(*auth(token), ("x-request-id", "put-grpc-2")))
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert dict(info.value.trailing_metadata())["x-request-id"] == "put-grpc-2"

    assert node.stop() == 0
    for request_id, expected in (
        ("put-http-1", "HTTP PUT /api/handles/88.118.8/RID-H 201"),
        ("put-grpc-1", "gRPC /idnode.v1.Registry/CreateIdentifier"),
    ):
        lines = logged(node, request_id)
        assert {e["message"] for e in lines} == {expected}, lines
        assert len({e["pid"] for e in lines}) == 2, lines  # a worker and the writer process


def test_a_recursive_resolution_keeps_its_id_on_both_nodes(tmp_path, node_factory):
    top = TopNode(tmp_path / "top").start()
    try:
        a = node_factory(
            "--node-prefix", "88.118", "--top", top.target, "--workers", "1", *LOGS, data_dir=tmp_path / "a"
        )
        b = node_factory(
            "--node-prefix", "88.200", "--top", top.target, "--workers", "1", *LOGS, data_dir=tmp_path / "b"
        )
        token = setup_enterprise(a, "91350100M000100Y4", "88.118.8")
        approve_on_top(top, a, "88.118.8")
        create_when_allowed(a, token)

        reply, call = b.resolver().Resolve.with_call(
            resolver_pb2.ResolveRequest(handle=HANDLE), metadata=(("x-request-id", "resolve-1"),), timeout=10
        )
        assert (reply.response_code, reply.non_authoritative) == (1, True)
        assert dict(call.trailing_metadata())["x-request-id"] == "resolve-1"

        conn = http.client.HTTPConnection("127.0.0.1", b.http_port, timeout=15)
        conn.request("GET", "/api/handles/88.118.8/NOT-THERE", headers={"X-Request-Id": "resolve-2"})
        answer = conn.getresponse()
        assert (answer.status, answer.getheader("X-Request-Id")) == (404, "resolve-2")
        answer.read()
        conn.close()
    finally:
        top.stop()
    assert b.stop() == 0 and a.stop() == 0
    assert [e["message"] for e in logged(b, "resolve-1")] == ["gRPC /idnode.v1.Resolver/Resolve"]
    assert [e["message"] for e in logged(a, "resolve-1")] == ["gRPC /idnode.v1.Resolver/Resolve"]
    assert [e["message"] for e in logged(b, "resolve-2")] == ["HTTP GET /api/handles/88.118.8/NOT-THERE 404"]
    assert [e["message"] for e in logged(a, "resolve-2")] == ["gRPC /idnode.v1.Resolver/Resolve"]
