"""The enterprise API of a real prefork node: token, create, detail, update, batches and delete over HTTP,
with every write forwarded by a worker to the writer process."""

from __future__ import annotations

import http.client
import json

import pytest

from .conftest import setup_enterprise

pytestmark = pytest.mark.node

HEAD = "91350100M000100Y4"
OTHER = "91110000600037341"


def call(node, method, path, token=None, body=None):
    """One request on a new connection (so the kernel may pick either worker); (HTTP status, answer)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=15)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers=headers)
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def value(index, vtype, text, auth="public"):
    return {"index": index, "type": vtype, "data": {"format": "string", "value": text}, "auth": auth}


def test_the_enterprise_api_on_a_prefork_node(node_factory):
    node = node_factory("--workers", "2")
    credential = setup_enterprise(node, HEAD, "88.118.8")
    other = setup_enterprise(node, OTHER, "88.118.9")

    status, answer = call(node, "POST", "/identity/token", body={"credential": credential})
    assert (status, answer["status"], answer["data"]["prefixes"]) == (200, 1, ["88.118.8"])
    token = answer["data"]["token"]
    assert call(node, "POST", "/identity/token", body={"credential": credential + "x"})[0] == 401

    template = {"prefix": "88.118.8", "version": "1.0", "items": [{"name": "URL"}, {"name": "productName"}]}
    assert call(node, "POST", "/identityv2/template", token, template)[1]["status"] == 1
    assert call(node, "GET", "/identityv2/template?prefix=88.118.8", token)[1]["data"]["version"] == "1.0"

    handle = "88.118.8/ENT-1"
    body = {
        "handle": handle,
        "templateVersion": "1.0",
        "value": [value(1, "URL", "https://example.com/1"), value(2, "productName", "电机", "private")],
    }
    status, answer = call(node, "POST", "/identityv2/data", token, body)
    assert (status, answer["status"], answer["data"]) == (200, 1, {"handle": handle, "created": True})
    status, answer = call(node, "POST", "/identityv2/data", token, body)  # a retry: success, not created
    assert (status, answer["status"], answer["data"]["created"]) == (200, 1, False)
    assert call(node, "POST", "/identityv2/data", other, dict(body, handle="88.118.8/ENT-X"))[0] == 403

    for _ in range(4):  # every worker reads the write; others see public values only
        status, answer = call(node, "GET", f"/identityv2/data/detail?handle={handle}", token)
        assert status == 200 and answer["data"]["templateVersion"] == "1.0"
        assert [v["data"]["value"] for v in answer["data"]["value"]] == ["https://example.com/1", "电机"]
        _, answer = call(node, "GET", f"/identityv2/data/detail?handle={handle}", other)
        assert [v["index"] for v in answer["data"]["value"]] == [1]

    update = {"handle": handle, "mode": "modify", "value": [value(1, "URL", "https://example.com/2")]}
    assert call(node, "PUT", "/identityv2/data", token, update)[1]["status"] == 1
    _, answer = call(node, "GET", f"/identityv2/data/detail?handle={handle}")
    assert answer["data"]["value"][0]["data"]["value"] == "https://example.com/2"

    batch = [{"handle": f"88.118.8/B{i}", "value": [value(1, "URL", f"https://example.com/b{i}")]} for i in range(5)]
    batch.append({"handle": "88.118.8/B9", "templateVersion": "1.0", "value": [value(1, "colour", "red")]})
    status, answer = call(node, "POST", "/identityv2/data/batchCreate", token, batch)
    assert (status, answer["status"]) == (200, -2)
    assert [(r["handle"], r["code"]) for r in answer["data"]] == [(f"88.118.8/B{i}", 1) for i in range(5)] + [
        ("88.118.8/B9", 202)
    ]
    renamed = [{"handle": "88.118.8/B0", "value": [value(1, "URL", "https://example.com/new")]}]
    assert call(node, "POST", "/identityv2/data/batchUpdate", token, renamed)[1]["data"][0]["code"] == 1
    gone = [{"handle": f"88.118.8/B{i}"} for i in range(5)]
    status, answer = call(node, "POST", "/identityv2/data/batchDelete", token, gone)
    assert (status, answer["status"], [r["code"] for r in answer["data"]]) == (200, 1, [1] * 5)
    assert call(node, "GET", "/identityv2/data/detail?handle=88.118.8/B0")[1]["code"] == 100

    status, answer = call(node, "DELETE", "/identityv2/data", token, {"handle": handle})
    assert (status, answer["status"]) == (200, 1)
    status, answer = call(node, "GET", f"/identityv2/data/detail?handle={handle}", token)
    assert (status, answer["status"], answer["code"]) == (200, -2, 100)
    status, answer = call(node, "DELETE", "/identityv2/template?prefix=88.118.8&version=1.0", token)
    assert (status, answer["status"]) == (200, 1)
    status, answer = call(node, "POST", "/identityv2/data", token, {"handle": handle, "value": "x"})
    assert (status, answer["status"], answer["code"]) == (400, -2, 4)
