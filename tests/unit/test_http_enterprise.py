"""The enterprise API (resolver/http/enterprise_api.py) on a real loopback aiohttp server over a seeded registry.

Every answer is also checked against the schema ``OPENAPI_PATHS`` documents
for its operation and HTTP status, so the document stays true.
"""

from __future__ import annotations

import json

import pytest
from aiohttp.test_utils import TestClient, TestServer

from idnode import _fastpath
from idnode.registry.model import MAX_BATCH
from idnode.resolver.http import _shape
from idnode.resolver.http.enterprise_api import OPENAPI_PATHS, ROUTES
from idnode.resolver.http.server import RUNNER_ARGS, build_app
from idnode.settings import Settings

PRODUCT = "88.118.8/JXDY2106023"
URL_VALUE = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com/a"}}
TEMPLATE = {
    "prefix": "88.118.8",
    "version": "1.0",
    "industryCode": "C3812",
    "carrierType": "RFID",
    "description": "电机",
    "items": [
        {"name": "URL", "idType": "url", "required": True, "metadata": {"type": "url", "maxLength": 200}},
        {"name": "weight", "metadata": {"type": "number"}},
    ],
}


@pytest.fixture
def registry(registry_factory):
    return registry_factory(map_size=32 << 20)  # room for a whole batch of 2000 without growing


async def client_of(app) -> TestClient:
    """A test client of ``app`` on a real loopback server with the node's runner limits."""
    server = TestServer(app)
    await server.start_server(**RUNNER_ARGS)
    return TestClient(server)


class Api:
    """A client of the app that checks each answer against the OpenAPI document."""

    def __init__(self, client: TestClient, seeded) -> None:
        self.client = client
        self.seeded = seeded
        self.registry = seeded.registry

    async def call(self, method: str, path: str, who: str | None = None, body=None, raw=None, params=None):
        headers = {}
        if who is not None:
            token = self.seeded.tokens.get(who, who)
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        if data is not None:
            headers["Content-Type"] = "application/json"
        reply = await self.client.request(method, path, data=data, params=params, headers=headers)
        answer = await reply.json()
        documented = OPENAPI_PATHS[path][method.lower()]["responses"][str(reply.status)]
        _shape.check(documented["content"]["application/json"]["schema"], answer, f"{method} {path} {reply.status}")
        if reply.status == 401:
            assert reply.headers["WWW-Authenticate"].startswith("Bearer")
        return reply.status, answer

    def exists(self, handle: str) -> bool:
        raw = self.registry.lookup(*_fastpath.parse_handle(handle))
        return raw is not None and not _fastpath.decode_header(raw)[0] & _fastpath.FLAG_TOMBSTONE


@pytest.fixture
async def api(seeded, tmp_path):
    async with await client_of(build_app(seeded.registry, Settings(data_dir=tmp_path))) as client:
        yield Api(client, seeded)


def item(handle: str, *values: dict, **extra) -> dict:
    return {"handle": handle, "value": list(values) or [URL_VALUE], **extra}


# -- token ---------------------------------------------------------------------


async def test_token_checks_a_credential_and_says_who_it_is(api):
    status, answer = await api.call("POST", "/identity/token", body={"credential": api.seeded.tokens["owner"]})
    assert status == 200 and answer["status"] == 1 and answer["code"] == 1
    data = answer["data"]
    assert data["token"] == api.seeded.tokens["owner"] and data["tokenType"] == "Bearer" and data["expiresIn"] == 0
    assert (data["role"], data["creditCode"], data["prefixes"]) == (
        "enterprise",
        api.seeded.owner.credit_code,
        ["88.118.8"],
    )
    assert data["tokenId"] == api.seeded.owner.token_id
    status, answer = await api.call("POST", "/identity/token", body={"credential": api.seeded.tokens["auditor"]})
    assert (answer["data"]["role"], answer["data"]["creditCode"], answer["data"]["prefixes"]) == ("auditor", "", [])


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"credential": "idn1.0123456789abcdef.nope"}, 401, 403),  # unknown
        ({"credential": "not a token"}, 401, 403),  # malformed
        ({"credential": ""}, 400, 4),
        ({}, 400, 4),
        ({"credential": 5}, 400, 4),
        ({"credential": "x", "secret": "y"}, 400, 4),
        ([], 400, 4),
    ],
)
async def test_token_refusals(api, body, status, code):
    got, answer = await api.call("POST", "/identity/token", body=body)
    assert (got, answer["status"], answer["code"]) == (status, -2, code)


async def test_a_revoked_token_is_refused_everywhere(api):
    owner = api.seeded.owner
    await api.registry.revoke_token(api.seeded.principals["admin"], owner.token_id)
    status, answer = await api.call("POST", "/identity/token", body={"credential": api.seeded.tokens["owner"]})
    assert (status, answer["status"], answer["code"]) == (401, -2, 403) and "revoked" in answer["message"]
    status, answer = await api.call("GET", "/identityv2/data/detail", "owner", params={"handle": PRODUCT})
    assert (status, answer["code"]) == (401, 403)
    status, answer = await api.call("POST", "/identityv2/data", "owner", body=item("88.118.8/R1"))
    assert (status, answer["code"]) == (401, 403) and not api.exists("88.118.8/R1")


# -- detail --------------------------------------------------------------------


async def test_detail_shows_what_the_caller_may_read(api):
    status, answer = await api.call("GET", "/identityv2/data/detail", "owner", params={"handle": PRODUCT})
    assert status == 200 and answer["status"] == 1 and answer["message"] == "success"
    data = answer["data"]
    assert (data["prefix"], data["handle"], data["templateVersion"]) == ("88.118.8", PRODUCT, "")
    by_index = {v["index"]: v for v in data["value"]}
    assert sorted(by_index) == [1, 2, 3, 4, 100]
    assert by_index[2] == {
        "index": 2,
        "type": "productName",
        "data": {"format": "string", "value": "电机"},
        "auth": "1110",
        "ttl": 86400,
    }
    assert by_index[4]["auth"] == "1100"  # private: the owner sees it
    assert by_index[100]["data"] == {
        "format": "admin",
        "value": {"handle": "88.118.8/ADMIN", "index": 300, "permissions": "111111111111"},
    }
    for who, seen in (("auditor", [1, 2, 3, 4, 100]), ("admin", [1, 2, 3, 4, 100]), ("stranger", [1, 2, 3])):
        _, answer = await api.call("GET", "/identityv2/data/detail", who, params={"handle": PRODUCT})
        assert [v["index"] for v in answer["data"]["value"]] == seen, who
    _, answer = await api.call("GET", "/identityv2/data/detail", params={"handle": PRODUCT})
    assert [v["index"] for v in answer["data"]["value"]] == [1, 2, 3]  # anonymous: public values
    _, answer = await api.call("GET", "/identityv2/data/detail", params={"handle": "88.118.8/SECRET"})
    assert answer["status"] == 1 and answer["data"]["value"] == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"handle": "88.118.8/NOPE"}, 200, 100),
        ({"handle": "88.118.8/GONE"}, 200, 100),
        ({"handle": "no-slash"}, 200, 102),
        ({"handle": ""}, 400, 4),
        ({}, 400, 4),
    ],
)
async def test_detail_refusals(api, params, status, code):
    got, answer = await api.call("GET", "/identityv2/data/detail", "owner", params=params)
    assert (got, answer["status"], answer["code"]) == (status, -2, code)


# -- create, update, delete ------------------------------------------------------


async def test_create_is_idempotent_and_refuses_other_content(api):
    body = item("88.118.8/N1", URL_VALUE, {"index": 2, "type": "note", "data": "内部", "auth": "private"})
    status, answer = await api.call("POST", "/identityv2/data", "owner", body=body)
    assert (status, answer["status"], answer["data"]) == (200, 1, {"handle": "88.118.8/N1", "created": True})
    status, answer = await api.call("POST", "/identityv2/data", "owner", body=body)  # a retry after a timeout
    assert (status, answer["status"], answer["data"]["created"]) == (200, 1, False)
    assert "identical" in answer["message"]
    other = item("88.118.8/N1", {"index": 1, "type": "URL", "data": "https://other.example/"})
    status, answer = await api.call("POST", "/identityv2/data", "owner", body=other)
    assert (status, answer["status"], answer["code"], answer["handle"]) == (200, -2, 101, "88.118.8/N1")
    _, answer = await api.call("GET", "/identityv2/data/detail", params={"handle": "88.118.8/N1"})
    assert [v["data"]["value"] for v in answer["data"]["value"]] == ["https://example.com/a"]  # note is private
    record = api.registry.get_record(api.seeded.owner, "88.118.8/N1")
    assert [(v.index, v.permissions) for v in record.values] == [(1, 0b1110), (2, 0b1100)]


async def test_detail_round_trips_into_create(api):
    _, answer = await api.call("GET", "/identityv2/data/detail", "owner", params={"handle": PRODUCT})
    copy = dict(answer["data"], handle="88.118.8/COPY")
    status, answer = await api.call("POST", "/identityv2/data", "owner", body=copy)
    assert (status, answer["status"]) == (200, 1)
    copied = api.registry.get_record(api.seeded.owner, "88.118.8/COPY").values
    assert all(a.same_content(b) for a, b in zip(copied, api.seeded.product, strict=True))


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (item("88.118.8/B1", {"index": 0, "type": "URL", "data": "x"}), 202, "index"),
        (item("88.118.8/B2", {"index": 1001, "type": "URL", "data": "x"}), 202, "reserved"),
        (item("88.118.8/B3", URL_VALUE, URL_VALUE), 202, "twice"),
        (item("88.118.8/B4", {"index": 1, "type": "URL", "data": {"format": "hex", "value": "zz"}}), 202, "hex"),
        (item("88.118.8/B5", {"index": 1, "type": "URL", "data": {"value": 5}}), 202, "text"),
        (item("88.118.8/B6", {"index": 1, "type": "URL", "data": "x", "auth": "1111"}), 1, ""),
        (item("88.118.8/B7", prefix="88.118.9"), 202, "prefix"),
        ({"handle": "88.118.8/B8", "value": []}, 202, "at least one value"),
        (item("88.118.8/B9", templateVersion="9.9"), 202, "template version 9.9"),
        (item("no-slash"), 102, ""),
        (item("99.1/B10"), 301, ""),
    ],
)
async def test_create_validation(api, body, code, fragment):
    status, answer = await api.call("POST", "/identityv2/data", "owner", body=body)
    assert status == 200 and answer["code"] == code and fragment in answer["message"]
    assert answer["status"] == (1 if code == 1 else -2)
    if code != 1 and "/" in body["handle"] and body["handle"].startswith("88.118.8"):
        assert not api.exists(body["handle"])


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [(None, 401, 402), ("stranger", 403, 401), ("auditor", 403, 401), ("admin", 200, 1), ("owner", 200, 1)],
)
async def test_the_write_auth_matrix(api, who, status, code):
    handle = f"88.118.8/M-{who}"
    got, answer = await api.call("POST", "/identityv2/data", who, body=item(handle))
    assert (got, answer["code"]) == (status, code)
    assert api.exists(handle) == (code == 1)
    got, answer = await api.call("PUT", "/identityv2/data", who, body=item(PRODUCT))
    assert (got, answer["code"]) == (status, code)
    got, answer = await api.call("DELETE", "/identityv2/data", who, body={"handle": "88.118.8/SECRET"})
    assert (got, answer["code"]) == (status, code)
    assert api.exists("88.118.8/SECRET") == (code != 1)


async def test_the_stranger_writes_its_own_prefix(api):
    status, answer = await api.call("POST", "/identityv2/data", "stranger", body=item("88.118.9/S1"))
    assert (status, answer["status"]) == (200, 1)
    status, answer = await api.call("DELETE", "/identityv2/data", "owner", body={"handle": "88.118.9/S1"})
    assert (status, answer["code"]) == (403, 401) and api.exists("88.118.9/S1")


async def test_update_modes(api):
    await api.call("POST", "/identityv2/data", "owner", body=item("88.118.8/U1"))
    email = {"index": 2, "type": "EMAIL", "data": "a@example.com"}
    status, answer = await api.call("PUT", "/identityv2/data", "owner", body=item("88.118.8/U1", email, mode="add"))
    assert (status, answer["status"], answer["data"]) == (200, 1, {"handle": "88.118.8/U1"})
    _, answer = await api.call("PUT", "/identityv2/data", "owner", body=item("88.118.8/U1", email, mode="add"))
    assert (answer["status"], answer["code"]) == (-2, 201)  # value already exists
    changed = dict(email, data="b@example.com")
    _, answer = await api.call("PUT", "/identityv2/data", "owner", body=item("88.118.8/U1", changed, mode="modify"))
    assert answer["status"] == 1
    body = {"handle": "88.118.8/U1", "mode": "remove", "indexes": [1]}
    _, answer = await api.call("PUT", "/identityv2/data", "owner", body=body)
    assert answer["status"] == 1
    _, answer = await api.call("GET", "/identityv2/data/detail", "owner", params={"handle": "88.118.8/U1"})
    assert [(v["index"], v["data"]["value"]) for v in answer["data"]["value"]] == [(2, "b@example.com")]
    _, answer = await api.call("PUT", "/identityv2/data", "owner", body=item("88.118.8/U1"))  # replace
    _, answer = await api.call("GET", "/identityv2/data/detail", "owner", params={"handle": "88.118.8/U1"})
    assert [v["index"] for v in answer["data"]["value"]] == [1]
    for body, code in (
        (item("88.118.8/NOPE"), 100),
        ({"handle": "88.118.8/U1", "mode": "remove"}, 202),
        ({"handle": "88.118.8/U1", "mode": "remove", "indexes": [9]}, 200),
    ):
        status, answer = await api.call("PUT", "/identityv2/data", "owner", body=body)
        assert (status, answer["status"], answer["code"]) == (200, -2, code)


async def test_delete_leaves_a_deleted_identifier(api):
    status, answer = await api.call("DELETE", "/identityv2/data", "owner", body={"handle": PRODUCT})
    assert (status, answer["status"], answer["data"]) == (200, 1, {"handle": PRODUCT})
    _, answer = await api.call("GET", "/identityv2/data/detail", "owner", params={"handle": PRODUCT})
    assert (answer["status"], answer["code"]) == (-2, 100) and "deleted" in answer["message"]
    status, answer = await api.call("DELETE", "/identityv2/data", "owner", body={"handle": PRODUCT})
    assert (status, answer["status"], answer["code"]) == (200, -2, 100)


# -- batches -----------------------------------------------------------------------


async def test_batch_create_reports_each_item(api):
    await api.call("POST", "/identityv2/data", "owner", body=item("88.118.8/K0"))
    items = [
        item("88.118.8/K1"),
        item("88.118.8/K0"),  # identical repeat: success
        item("88.118.8/K0", {"index": 1, "type": "URL", "data": "https://other/"}),
        item("88.118.8/K2", {"index": 0, "type": "URL", "data": "x"}),
        item("88.118.9/K3"),  # the stranger's prefix
        item("no-slash"),
        item("88.118.8/K4"),
    ]
    status, answer = await api.call("POST", "/identityv2/data/batchCreate", "owner", body=items)
    assert status == 200 and answer["status"] == -2 and answer["message"].startswith("4 of 7 items failed")
    assert [(r["handle"], r["code"]) for r in answer["data"]] == [
        ("88.118.8/K1", 1),
        ("88.118.8/K0", 1),
        ("88.118.8/K0", 101),
        ("88.118.8/K2", 202),
        ("88.118.9/K3", 401),
        ("no-slash", 102),
        ("88.118.8/K4", 1),
    ]
    assert answer["data"][0]["msg"] == "success" and "identical" in answer["data"][1]["msg"]
    assert [api.exists(h) for h in ("88.118.8/K1", "88.118.8/K2", "88.118.9/K3", "88.118.8/K4")] == [
        True,
        False,
        False,
        True,
    ]
    status, answer = await api.call("POST", "/identityv2/data/batchCreate", "owner", body=[item("88.118.8/K5")])
    assert (status, answer["status"], answer["data"]) == (
        200,
        1,
        [{"handle": "88.118.8/K5", "code": 1, "msg": "success"}],
    )


async def test_the_batch_limit(api):
    too_many = [item(f"88.118.8/L{i}") for i in range(MAX_BATCH + 1)]
    status, answer = await api.call("POST", "/identityv2/data/batchCreate", "owner", body=too_many)
    assert (status, answer["status"], answer["code"]) == (400, -2, 4) and str(MAX_BATCH) in answer["message"]
    assert not api.exists("88.118.8/L0")
    for path in ("/identityv2/data/batchUpdate", "/identityv2/data/batchDelete"):
        status, answer = await api.call("POST", path, "owner", body=[{"handle": PRODUCT}] * (MAX_BATCH + 1))
        assert (status, answer["status"]) == (400, -2)
    assert api.exists(PRODUCT)
    status, answer = await api.call("POST", "/identityv2/data/batchCreate", "owner", body=too_many[:MAX_BATCH])
    assert (status, answer["status"], len(answer["data"])) == (200, 1, MAX_BATCH)
    assert api.exists(f"88.118.8/L{MAX_BATCH - 1}")


async def test_batch_update_and_delete(api):
    await api.call("POST", "/identityv2/data/batchCreate", "owner", body=[item("88.118.8/D1"), item("88.118.8/D2")])
    changed = {"index": 1, "type": "URL", "data": "https://example.com/new"}
    updates = [
        item("88.118.8/D1", changed),
        item("88.118.8/NOPE"),
        {"handle": "88.118.8/D2", "mode": "modify", "value": [{"index": 5, "type": "X", "data": "y"}]},
        item("88.118.9/X"),
    ]
    status, answer = await api.call("POST", "/identityv2/data/batchUpdate", "owner", body=updates)
    assert status == 200 and answer["status"] == -2
    assert [r["code"] for r in answer["data"]] == [1, 100, 200, 401]
    assert api.registry.get_record(api.seeded.owner, "88.118.8/D1").values[0].data == b"https://example.com/new"
    deletes = [{"handle": "88.118.8/D1"}, {"handle": "88.118.8/D1"}, {"handle": "bad"}, {"handle": "88.118.8/D2"}]
    status, answer = await api.call("POST", "/identityv2/data/batchDelete", "owner", body=deletes)
    assert [r["code"] for r in answer["data"]] == [1, 100, 102, 1]
    assert not api.exists("88.118.8/D1") and not api.exists("88.118.8/D2")
    status, answer = await api.call("POST", "/identityv2/data/batchDelete", "owner", body=[])
    assert (status, answer["status"], answer["data"]) == (200, 1, [])


@pytest.mark.parametrize("who", [None, "auditor", "stranger"])
async def test_batches_need_a_writer(api, who):
    body = [item("88.118.8/W1")]
    status, answer = await api.call("POST", "/identityv2/data/batchCreate", who, body=body)
    if who is None:
        assert (status, answer["code"]) == (401, 402)
    else:  # authenticated: each item is refused on its own
        assert (status, answer["status"], answer["data"][0]["code"]) == (200, -2, 401)
    assert not api.exists("88.118.8/W1")


# -- templates ------------------------------------------------------------------------


async def test_templates_publish_read_check_and_delete(api):
    status, answer = await api.call("POST", "/identityv2/template", "owner", body=TEMPLATE)
    assert (status, answer["status"]) == (200, 1)
    stored = answer["data"]
    assert stored["created"] > 0 and stored["items"][0]["metadata"] == {"type": "url", "minLength": 0, "maxLength": 200}
    status, answer = await api.call("POST", "/identityv2/template", "owner", body=dict(stored))  # a repeat
    assert (status, answer["status"], answer["data"]) == (200, 1, stored)
    other = dict(TEMPLATE, items=TEMPLATE["items"][:1])
    _, answer = await api.call("POST", "/identityv2/template", "owner", body=other)
    assert (answer["status"], answer["code"]) == (-2, 101)
    for who in ("owner", "stranger", "auditor"):
        _, answer = await api.call("GET", "/identityv2/template", who, params={"prefix": "88.118.8"})
        assert answer["data"] == stored
    _, answer = await api.call("GET", "/identityv2/template", "owner", params={"prefix": "88.118.8", "version": "1.0"})
    assert answer["data"] == stored

    weight = {"index": 2, "type": "weight", "data": "heavy"}
    _, answer = await api.call(
        "POST", "/identityv2/data", "owner", body=item("88.118.8/T1", weight, templateVersion="1.0")
    )
    assert (answer["status"], answer["code"]) == (-2, 202) and "weight" in answer["message"]
    colour = {"index": 3, "type": "colour", "data": "red"}
    _, answer = await api.call(
        "POST", "/identityv2/data", "owner", body=item("88.118.8/T1", URL_VALUE, colour, templateVersion="1.0")
    )
    assert (answer["status"], answer["code"]) == (-2, 202) and "not in template" in answer["message"]
    assert not api.exists("88.118.8/T1")
    _, answer = await api.call("POST", "/identityv2/data", "owner", body=item("88.118.8/T1", templateVersion="1.0"))
    assert answer["status"] == 1
    _, answer = await api.call("GET", "/identityv2/data/detail", params={"handle": "88.118.8/T1"})
    assert answer["data"]["templateVersion"] == "1.0" and [v["index"] for v in answer["data"]["value"]] == [1]

    key = {"prefix": "88.118.8", "version": "1.0"}
    for who, status, code in (("stranger", 403, 401), ("auditor", 403, 401), (None, 401, 402)):
        got, answer = await api.call("DELETE", "/identityv2/template", who, params=key)
        assert (got, answer["code"]) == (status, code)
    status, answer = await api.call("DELETE", "/identityv2/template", "owner", params=key)
    assert (status, answer["status"], answer["data"]) == (200, 1, key)
    status, answer = await api.call("GET", "/identityv2/template", "owner", params=key)
    assert (status, answer["status"], answer["code"]) == (200, -2, 100)
    status, answer = await api.call("DELETE", "/identityv2/template", "owner", params=key)
    assert (status, answer["status"], answer["code"]) == (200, -2, 100)


@pytest.mark.parametrize(
    ("method", "who", "params", "body", "status", "code"),
    [
        ("GET", None, {"prefix": "88.118.8"}, None, 401, 402),
        ("GET", "owner", {}, None, 400, 4),
        ("GET", "owner", {"prefix": "88.118.8", "version": ""}, None, 400, 4),
        ("GET", "owner", {"prefix": "88/1"}, None, 200, 102),
        ("DELETE", "owner", {"prefix": "88.118.8"}, None, 400, 4),
        ("POST", "stranger", None, TEMPLATE, 403, 401),
        ("POST", "auditor", None, TEMPLATE, 403, 401),
        ("POST", None, None, TEMPLATE, 401, 402),
        ("POST", "owner", None, dict(TEMPLATE, items=[]), 200, 202),
        ("POST", "owner", None, dict(TEMPLATE, version="1 0"), 200, 202),
        ("POST", "owner", None, dict(TEMPLATE, prefix="88.118.77"), 200, 100),
        ("POST", "owner", None, dict(TEMPLATE, colour="red"), 400, 4),
        ("POST", "owner", None, dict(TEMPLATE, items=[{"name": "URL", "metadata": {"type": "colour"}}]), 400, 4),
        ("POST", "owner", None, dict(TEMPLATE, items=[{"name": "URL", "required": "yes"}]), 400, 4),
    ],
)
async def test_template_refusals(api, method, who, params, body, status, code):
    got, answer = await api.call(method, "/identityv2/template", who, body=body, params=params)
    assert (got, answer["status"], answer["code"]) == (status, -2, code)
    with pytest.raises(Exception, match="no template"):
        api.registry.get_template(api.seeded.owner, "88.118.8")


# -- malformed requests change nothing --------------------------------------------------


def _one_value(value: str) -> bytes:
    return b'{"handle": "88.118.8/X1", "value": [' + value.encode() + b"]}"


@pytest.mark.parametrize(
    ("path", "method", "raw"),
    [
        ("/identityv2/data", "POST", b'{"handle": "88.118.8/X1", "value": ['),
        ("/identityv2/data", "POST", b"\xff\xfe"),
        ("/identityv2/data", "POST", b""),
        ("/identityv2/data", "POST", b'[{"handle": "88.118.8/X1"}]'),
        ("/identityv2/data", "POST", b'{"handle": "88.118.8/X1"}'),
        ("/identityv2/data", "POST", b'{"handle": 5, "value": []}'),
        ("/identityv2/data", "POST", b'{"handle": "88.118.8/X1", "value": {}}'),
        ("/identityv2/data", "POST", _one_value('{"index": "1", "type": "URL", "data": "x"}')),
        ("/identityv2/data", "POST", b'{"handle": "88.118.8/X1", "value": [{"index": 1, "type": "URL", "data": 5}]}'),
        ("/identityv2/data", "POST", _one_value('{"index": true, "type": "URL", "data": "x"}')),
        ("/identityv2/data", "POST", _one_value('{"index": 1.5, "type": "URL", "data": "x"}')),
        ("/identityv2/data", "POST", _one_value('{"index": 1, "type": "URL", "data": "x", "auth": "all"}')),
        ("/identityv2/data", "POST", _one_value('{"index": 1, "type": "URL", "data": "x", "colour": 1}')),
        (
            "/identityv2/data",
            "POST",
            _one_value('{"index": 1, "type": "URL", "data": {"format": "png", "value": "x"}}'),
        ),
        ("/identityv2/data", "POST", b'{"handle": "88.118.8/X1", "value": [], "owner": "me"}'),
        ("/identityv2/data", "PUT", b'{"handle": "88.118.8/JXDY2106023", "mode": "drop"}'),
        ("/identityv2/data", "PUT", b'{"handle": "88.118.8/JXDY2106023", "mode": "remove", "indexes": ["1"]}'),
        ("/identityv2/data", "DELETE", b'{"handle": "88.118.8/JXDY2106023", "force": true}'),
        ("/identityv2/data", "DELETE", b'"88.118.8/JXDY2106023"'),
        ("/identityv2/data/batchCreate", "POST", b'{"items": []}'),
        ("/identityv2/data/batchCreate", "POST", b'[{"handle": "88.118.8/X1", "value": []}, 7]'),
        ("/identityv2/data/batchDelete", "POST", b'["88.118.8/JXDY2106023"]'),
        ("/identityv2/data/batchUpdate", "POST", b'[{"handle": "88.118.8/JXDY2106023", "extra": 1}]'),
        ("/identity/token", "POST", b"credential=x"),
    ],
)
async def test_malformed_requests_change_nothing(api, path, method, raw):
    before = api.registry.store.last_sequence()
    status, answer = await api.call(method, path, "owner", raw=raw)
    assert (status, answer["status"], answer["code"]) == (400, -2, 4), answer
    assert api.registry.store.last_sequence() == before
    assert api.exists(PRODUCT) and not api.exists("88.118.8/X1")


async def test_an_integral_float_index_is_an_integer(api):  # JSON Schema: 1.0 is an integer
    body = item("88.118.8/F1", {"index": 1.0, "type": "URL", "data": "https://example.com/f"})
    status, answer = await api.call("POST", "/identityv2/data", "owner", raw=json.dumps(body).encode())
    assert (status, answer["status"]) == (200, 1)


# -- the writer process unreachable (a prefork worker) ------------------------------------


async def test_busy_when_the_writer_is_unreachable(seeded, tmp_path):
    app = build_app(seeded.registry, Settings(data_dir=tmp_path), forward_to=str(tmp_path / "missing.sock"))
    async with TestClient(TestServer(app)) as client:
        reply = await client.post(
            "/identityv2/data", json=item("88.118.8/Q1"), headers={"Authorization": f"Bearer {seeded.tokens['owner']}"}
        )
        answer = await reply.json()
        assert (reply.status, answer["status"], answer["code"]) == (503, -1, 3)
        assert reply.headers["Retry-After"] == "1"
        schema = OPENAPI_PATHS["/identityv2/data"]["post"]["responses"]["503"]["content"]["application/json"]
        _shape.check(schema["schema"], answer)
        reply = await client.get("/identityv2/data/detail", params={"handle": PRODUCT})  # reads stay in the worker
        assert reply.status == 200 and (await reply.json())["status"] == 1
        reply = await client.put("/api/handles/88.118.8/X", json={})  # other APIs keep their own shape
        assert reply.status == 503 and (await reply.json())["responseCode"] == 3


# -- the document ---------------------------------------------------------------------------


def test_every_route_is_documented_with_its_request_schema():
    assert {(path, method.lower()) for method, path, _ in ROUTES} == {
        (path, method) for path, item in OPENAPI_PATHS.items() for method in item
    }
    for item in OPENAPI_PATHS.values():
        for operation in item.values():
            assert {"200", "400", "401"} <= set(operation["responses"])
            for response in operation["responses"].values():
                assert "description" in response


@pytest.mark.parametrize(
    ("schema", "value", "problem"),
    [
        ({"type": "integer"}, True, "must be an integer, got boolean"),
        ({"type": "integer"}, 1.5, "must be an integer, got number"),
        ({"type": "string", "minLength": 1}, "", "at least 1 characters"),
        ({"type": "array", "maxItems": 1}, [1, 2], "at most 1 items"),
        ({"type": "object", "required": ["a"]}, {}, "body.a is missing"),
        ({"type": "object", "additionalProperties": False}, {"b": 1}, "unknown field(s) 'b'"),
        (
            {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}},
            {"a": [1]},
            "body.a[0]",
        ),
        ({"oneOf": [{"type": "string"}, {"type": "object"}]}, 5, "none of its documented forms"),
        ({"enum": ["x"]}, "y", "must be one of x"),
        ({"type": "string", "pattern": "^[01]{4}$"}, "12345", "does not match"),
        ({"type": "integer", "minimum": 0}, -1, "at least 0"),
    ],
)
def test_shape_checks(schema, value, problem):
    with pytest.raises(_shape.ShapeError) as info:
        _shape.check(schema, value)
    assert problem in info.value.message and info.value.code == 4


def test_shape_accepts_and_normalises():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}, "any": {}}}
    assert _shape.check(schema, {"n": 2.0, "any": [None], "extra": 1}) == {"n": 2, "any": [None], "extra": 1}
    assert type(_shape.check(schema, {"n": 2.0})["n"]) is int
