"""The Handle.Net REST API of a real node: one process and prefork (writes forwarded to the writer), sessions
across connections, and a round trip with an unmodified Handle client library (pyhandle)."""

from __future__ import annotations

import base64
import http.client
import json

import pytest

from .conftest import setup_enterprise

pytestmark = pytest.mark.node

HEAD = "91350100M000100Y4"
IDENTITY = "300%3A88.118.8/ADMIN"


def call(node, method, path, headers=None, body=None):
    """One request on a new connection (so a prefork node's kernel may pick either worker)."""
    conn = http.client.HTTPConnection("127.0.0.1", node.http_port, timeout=15)
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        reply = conn.getresponse()
        return reply.status, json.loads(reply.read())
    finally:
        conn.close()


def basic(user, secret):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.mark.parametrize("workers", ["1", "2"])
def test_create_read_modify_delete_and_sessions(node_factory, workers):
    node = node_factory("--workers", workers)
    token = setup_enterprise(node, HEAD, "88.118.8")
    owner = basic(IDENTITY, token)
    handle = "88.118.8/NODE-1"
    values = [
        {"index": 1, "type": "URL", "data": "https://example.com/1"},
        {"index": 2, "type": "productName", "data": {"format": "string", "value": "电机"}},
    ]
    assert call(node, "PUT", f"/api/handles/{handle}", owner, values) == (201, {"responseCode": 1, "handle": handle})
    for _ in range(4):  # every worker sees the write
        status, record = call(node, "GET", f"/api/handles/{handle}")
        assert status == 200 and [v["data"]["value"] for v in record["values"]] == ["https://example.com/1", "电机"]
    changed = [{"index": 2, "type": "productName", "data": "泵"}]
    assert call(node, "PUT", f"/api/handles/{handle}?index=2", owner, changed)[0] == 200
    assert call(node, "GET", f"/api/handles/{handle}?index=2")[1]["values"][0]["data"]["value"] == "泵"
    assert call(node, "DELETE", f"/api/handles/{handle}?index=2", owner)[0] == 200
    assert [v["index"] for v in call(node, "GET", f"/api/handles/{handle}")[1]["values"]] == [1]
    status, listing = call(node, "GET", "/api/handles?prefix=88.118.8", owner)
    assert (status, listing["totalCount"], listing["handles"]) == (200, 1, [handle])

    status, opened = call(node, "POST", "/api/sessions", owner)
    assert status == 201
    in_session = {"Authorization": f'Handle sessionId="{opened["sessionId"]}"'}
    for _ in range(4):  # the session was written by the writer; every worker reads it from LMDB
        assert call(node, "GET", "/api/sessions/this", in_session)[0] == 200
    assert call(node, "PUT", "/api/handles/88.118.8/NODE-2", in_session, values[:1])[0] == 201
    assert call(node, "DELETE", "/api/sessions/this", in_session)[0] == 200
    for _ in range(4):
        assert call(node, "GET", "/api/sessions/this", in_session)[0] == 403
    assert call(node, "PUT", "/api/handles/88.118.8/NODE-3", in_session, values[:1])[0] == 403

    assert call(node, "PUT", f"/api/handles/{handle}", {}, values)[0] == 401
    assert call(node, "DELETE", f"/api/handles/{handle}", owner) == (200, {"responseCode": 1, "handle": handle})
    assert call(node, "GET", f"/api/handles/{handle}")[0] == 404


def test_pyhandle_round_trip(node_factory):
    """pyhandle (EUDAT's Handle client, unmodified) over plain HTTP: Basic `300:88.118.8/ADMIN` + a node token."""
    handleclient = pytest.importorskip("pyhandle.handleclient")
    from pyhandle.handleexceptions import HandleAlreadyExistsException

    node = node_factory("--workers", "2")
    token = setup_enterprise(node, HEAD, "88.118.8")
    # pyhandle checks that the user's handle exists before it writes: give the enterprise's admin identity a record.
    admin_record = [
        {
            "index": 100,
            "type": "HS_ADMIN",
            "data": {"format": "admin", "value": {"handle": "88.118.8/ADMIN", "index": 300}},
        }
    ]
    assert call(node, "PUT", "/api/handles/88.118.8/ADMIN", basic(IDENTITY, token), admin_record)[0] == 201
    client = handleclient.PyHandleClient("rest").instantiate_with_username_and_password(
        node.http, "300:88.118.8/ADMIN", token, HTTPS_verify=False
    )
    handle = "88.118.8/PYHANDLE-1"
    assert client.register_handle(handle, "https://example.com/py", CHECKSUM="abc") == handle
    record = client.retrieve_handle_record(handle)
    assert record["URL"] == "https://example.com/py" and record["CHECKSUM"] == "abc"
    assert client.get_value_from_handle(handle, "URL") == "https://example.com/py"
    client.modify_handle_value(handle, URL="https://example.com/moved", NOTE="added")
    record = client.retrieve_handle_record(handle)
    assert (record["URL"], record["CHECKSUM"], record["NOTE"]) == ("https://example.com/moved", "abc", "added")
    client.delete_handle_value(handle, "CHECKSUM")
    assert "CHECKSUM" not in client.retrieve_handle_record(handle)
    with pytest.raises(HandleAlreadyExistsException):
        client.register_handle(handle, "https://example.com/again")
    assert client.delete_handle(handle) == handle
    assert client.retrieve_handle_record(handle) is None
