"""The Handle.Net REST API (resolver/http/handle_api.py) on a real loopback server over the seeded registry."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from idnode.resolver.http.handle_api import OPENAPI_PATHS
from idnode.resolver.http.server import MAX_BODY_BYTES

PRODUCT = "88.118.8/JXDY2106023"
OWNER_ID = "300%3A88.118.8/ADMIN"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


def session(session_id: str) -> dict[str, str]:
    return {"Authorization": f'Handle sessionId="{session_id}"'}


@pytest.fixture
def who(seeded):
    """Authorization headers of each user: anonymous, the owner of 88.118.8 (bearer and Basic), the
    owner of 88.118.9 ("stranger"), node admin, auditor."""
    t = seeded.tokens
    return {
        "anonymous": {},
        "owner": bearer(t["owner"]),
        "owner-basic": basic(OWNER_ID, t["owner"]),
        "owner-basic-unencoded": basic("300:88.118.8/ADMIN", t["owner"]),
        "stranger": bearer(t["stranger"]),
        "stranger-basic": basic("300%3A88.118.9/ADMIN", t["stranger"]),
        "admin": bearer(t["admin"]),
        "admin-basic": basic("300%3A0.NA/88.118", t["admin"]),
        "auditor": bearer(t["auditor"]),
    }


async def fetch(client, method, path, headers=None, body=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body))
    reply = await client.request(method, path, headers=headers or {}, data=data)
    return reply.status, await reply.json(), reply.headers


async def indexes_of(client, handle, headers=None):
    status, body, _ = await fetch(client, "GET", f"/api/handles/{handle}", headers)
    assert status == 200, body
    return [v["index"] for v in body["values"]]


# -- GET ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "indexes"),
    [
        ("anonymous", [1, 2, 3]),
        ("stranger", [1, 2, 3]),
        ("stranger-basic", [1, 2, 3]),
        ("owner", [1, 2, 3, 4, 100]),
        ("owner-basic", [1, 2, 3, 4, 100]),
        ("admin", [1, 2, 3, 4, 100]),
        ("admin-basic", [1, 2, 3, 4, 100]),
        ("auditor", [1, 2, 3, 4, 100]),
    ],
)
async def test_get_shows_what_the_caller_may_read(client, who, user, indexes):
    assert await indexes_of(client, PRODUCT, who[user]) == indexes


async def test_get_answer_shape(client, seeded):
    status, body, headers = await fetch(client, "GET", f"/api/handles/{PRODUCT}?index=1&index=2")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert body == {
        "responseCode": 1,
        "handle": PRODUCT,
        "values": [seeded.product[0].to_json(), seeded.product[1].to_json()],
    }
    assert body["values"][1]["data"] == {"format": "string", "value": "电机"}


@pytest.mark.parametrize(
    ("query", "user", "indexes"),
    [
        ("type=contact.", "owner", [3, 4]),
        ("type=contact.", "anonymous", [3]),
        ("type=URL&type=HS_ADMIN", "owner", [1, 100]),
        ("index=4&type=URL", "owner", [1, 4]),  # filters combine: index AND type
        ("publicOnly=true", "owner", [1, 2, 3]),
        ("auth=true", "owner", [1, 2, 3, 4, 100]),
    ],
)
async def test_get_filters(client, who, query, user, indexes):
    status, body, _ = await fetch(client, "GET", f"/api/handles/{PRODUCT}?{query}", who[user])
    got = [v["index"] for v in body["values"]]
    if query.startswith("index=4&type=URL"):  # index AND type: nothing has both
        assert status == 200 and body["responseCode"] == 200 and got == []
    else:
        assert status == 200 and body["responseCode"] == 1 and got == indexes


@pytest.mark.parametrize("query", ["type=nothing", "index=99", "type=contact.&index=1", "index=4"])
async def test_filters_matching_nothing_are_values_not_found_with_http_200(client, query):
    status, body, _ = await fetch(client, "GET", f"/api/handles/{PRODUCT}?{query}")  # anonymous: 4 is private
    assert status == 200
    assert body == {"responseCode": 200, "handle": PRODUCT, "message": "values not found", "values": []}


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/handles/88.118.8/NOPE", 404, 100),
        ("/api/handles/88.118.8/GONE", 404, 100),
        ("/api/handles/no-slash", 400, 102),
        (f"/api/handles/{PRODUCT}?index=x", 400, 4),
        (f"/api/handles/{PRODUCT}?publicOnly=maybe", 400, 4),
    ],
)
async def test_get_errors(client, path, status, code):
    got, body, _ = await fetch(client, "GET", path)
    assert (got, body["responseCode"]) == (status, code)
    assert body["message"] and "values" not in body
    if code == 100:
        assert body["handle"] == path.removeprefix("/api/handles/")


async def test_an_unknown_handle_has_no_secret_values(client, who):
    assert await indexes_of(client, "88.118.8/SECRET", who["anonymous"]) == []
    assert await indexes_of(client, "88.118.8/SECRET", who["owner"]) == [1]


# -- PUT ---------------------------------------------------------------------------------

URL_VALUE = {"index": 1, "type": "URL", "data": {"format": "string", "value": "https://example.com/a"}}
NAME_VALUE = {"index": 2, "type": "productName", "data": "pump"}  # a bare-string data, as clients send it
ADMIN_VALUE = {
    "index": 100,
    "type": "HS_ADMIN",
    "data": {"format": "admin", "value": {"handle": "88.118.8/ADMIN", "index": "300", "permissions": "011111110011"}},
}


@pytest.mark.parametrize(
    "body",
    [
        [URL_VALUE, NAME_VALUE, ADMIN_VALUE],
        {"values": [URL_VALUE, NAME_VALUE, ADMIN_VALUE]},
        {"handle": "88.118.8/NEW", "values": [URL_VALUE, NAME_VALUE, ADMIN_VALUE]},
    ],
    ids=["array", "values", "values+handle"],
)
async def test_put_creates_then_replaces(client, who, body):
    status, answer, headers = await fetch(client, "PUT", "/api/handles/88.118.8/NEW", who["owner"], body)
    assert (status, answer) == (201, {"responseCode": 1, "handle": "88.118.8/NEW"})
    assert headers["Location"] == "/api/handles/88.118.8/NEW"
    status, record, _ = await fetch(client, "GET", "/api/handles/88.118.8/NEW", who["owner"])
    assert [v["index"] for v in record["values"]] == [1, 2, 100]
    assert record["values"][1]["data"] == {"format": "string", "value": "pump"}
    assert record["values"][2]["data"]["value"] == {
        "handle": "88.118.8/ADMIN",
        "index": 300,
        "permissions": "011111110011",
    }
    status, answer, _ = await fetch(client, "PUT", "/api/handles/88.118.8/NEW", who["owner"], [NAME_VALUE])
    assert (status, answer) == (200, {"responseCode": 1, "handle": "88.118.8/NEW"})
    assert await indexes_of(client, "88.118.8/NEW", who["owner"]) == [2]


async def test_put_one_value(client, who):
    status, _, _ = await fetch(client, "PUT", "/api/handles/88.118.8/ONE", who["owner"], URL_VALUE)
    assert status == 201
    assert await indexes_of(client, "88.118.8/ONE") == [1]


async def test_put_over_a_deleted_handle_creates_it(client, who):
    status, _, _ = await fetch(client, "PUT", "/api/handles/88.118.8/GONE", who["owner"], [URL_VALUE])
    assert status == 201


async def test_overwrite_false(client, who):
    status, answer, _ = await fetch(client, "PUT", f"/api/handles/{PRODUCT}?overwrite=false", who["owner"], [URL_VALUE])
    assert (status, answer["responseCode"]) == (409, 101)
    same = [{"index": 1, "type": "URL", "data": "https://example.com/p/JXDY2106023"}]
    status, answer, _ = await fetch(client, "PUT", f"/api/handles/{PRODUCT}?overwrite=false", who["owner"], same)
    assert (status, answer["responseCode"]) == (409, 101)  # even with the same content: the handle exists
    status, answer, _ = await fetch(
        client, "PUT", f"/api/handles/{PRODUCT}?index=1&overwrite=false", who["owner"], [URL_VALUE]
    )
    assert (status, answer["responseCode"]) == (409, 201)  # the value exists
    status, _, _ = await fetch(client, "PUT", "/api/handles/88.118.8/FRESH?overwrite=false", who["owner"], [URL_VALUE])
    assert status == 201
    assert await indexes_of(client, PRODUCT, who["owner"]) == [1, 2, 3, 4, 100]


async def test_put_with_index_sets_only_those_values(client, who, seeded):
    changed = {"index": 2, "type": "productName", "data": "泵"}
    status, answer, _ = await fetch(client, "PUT", f"/api/handles/{PRODUCT}?index=2", who["owner"], [changed])
    assert (status, answer) == (200, {"responseCode": 1, "handle": PRODUCT})
    _, record, _ = await fetch(client, "GET", f"/api/handles/{PRODUCT}", who["owner"])
    assert [v["index"] for v in record["values"]] == [1, 2, 3, 4, 100]
    assert record["values"][1]["data"]["value"] == "泵"
    assert record["values"][3] == seeded.product[3].to_json()  # untouched, private
    added = {"index": 7, "type": "EMAIL", "data": "a@b.c"}
    status, _, _ = await fetch(client, "PUT", f"/api/handles/{PRODUCT}?index=various", who["owner"], [added, changed])
    assert status == 200
    assert await indexes_of(client, PRODUCT, who["owner"]) == [1, 2, 3, 4, 7, 100]
    status, _, _ = await fetch(client, "PUT", "/api/handles/88.118.8/PART?index=1", who["owner"], [URL_VALUE])
    assert status == 201  # index= on a missing handle creates it


async def test_put_keeps_the_template_version_value(client, who):
    body = [URL_VALUE, {"index": 1001, "type": "TEMPLATE_VERSION", "data": "9"}]
    status, answer, _ = await fetch(client, "PUT", "/api/handles/88.118.8/T", who["owner"], body)
    assert (status, answer["responseCode"]) == (400, 202)  # template version 9 does not exist
    assert "template version 9" in answer["message"]


async def test_mint_new_suffix(client, who):
    for path in ("/api/handles/88.118.8/?mintNewSuffix=true", "/api/handles/88.118.8/BOX-?mintNewSuffix=true"):
        status, answer, headers = await fetch(client, "PUT", path, who["owner"], [URL_VALUE])
        assert status == 201 and answer["responseCode"] == 1
        stem = path.removeprefix("/api/handles/").partition("?")[0]
        assert answer["handle"].startswith(stem) and len(answer["handle"]) == len(stem) + 36
        assert headers["Location"] == "/api/handles/" + answer["handle"]
        assert await indexes_of(client, answer["handle"]) == [1]
    _, first, _ = await fetch(client, "PUT", "/api/handles/88.118.8?mintNewSuffix=true", who["owner"], [URL_VALUE])
    _, second, _ = await fetch(client, "PUT", "/api/handles/88.118.8?mintNewSuffix=true", who["owner"], [URL_VALUE])
    assert first["handle"] != second["handle"]


# -- DELETE --------------------------------------------------------------------------------


async def test_delete_values_then_the_handle(client, who):
    status, answer, _ = await fetch(client, "DELETE", f"/api/handles/{PRODUCT}?index=3&index=4", who["owner"])
    assert (status, answer) == (200, {"responseCode": 1, "handle": PRODUCT})
    assert await indexes_of(client, PRODUCT, who["owner"]) == [1, 2, 100]
    status, answer, _ = await fetch(client, "DELETE", f"/api/handles/{PRODUCT}?index=3", who["owner"])
    assert (status, answer["responseCode"]) == (400, 200)  # values not found, on a write
    status, answer, _ = await fetch(client, "DELETE", f"/api/handles/{PRODUCT}", who["owner"])
    assert (status, answer) == (200, {"responseCode": 1, "handle": PRODUCT})
    status, answer, _ = await fetch(client, "GET", f"/api/handles/{PRODUCT}")
    assert (status, answer["responseCode"]) == (404, 100)
    status, answer, _ = await fetch(client, "DELETE", f"/api/handles/{PRODUCT}", who["owner"])
    assert (status, answer["responseCode"]) == (404, 100)


# -- who may write -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "status", "code"),
    [
        ("anonymous", 401, 402),
        ("stranger", 403, 401),
        ("stranger-basic", 403, 401),
        ("auditor", 403, 401),
        ("owner", 200, 1),
        ("owner-basic", 200, 1),
        ("owner-basic-unencoded", 200, 1),
        ("admin", 200, 1),
        ("admin-basic", 200, 1),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_write_auth_matrix(client, who, user, status, code, method):
    path = f"/api/handles/{PRODUCT}?index=3"
    body = [{"index": 3, "type": "contact.email", "data": "x@example.com"}] if method == "PUT" else None
    got, answer, headers = await fetch(client, method, path, who[user], body)
    assert (got, answer["responseCode"]) == (status, code), answer
    assert ("WWW-Authenticate" in headers) == (status == 401)
    if status == 401:
        assert headers["WWW-Authenticate"].startswith("Basic realm=")


@pytest.mark.parametrize(
    ("scheme", "user", "secret"),
    [
        ("Basic", OWNER_ID, "idn1.0123456789abcdef.wrong"),  # unknown credential
        ("Basic", "300%3A88.118.9/ADMIN", "owner"),  # an identity the owner does not hold
        ("Basic", "300%3A88.118.8/OTHER", "owner"),  # not an admin identity of this node
        ("Basic", "200%3A88.118.8/ADMIN", "owner"),  # another index
        ("Basic", "88.118.8/ADMIN", "owner"),  # no index
        ("Basic", OWNER_ID, "not-a-token"),
        ("Basic", "300%3A0.NA/88.118", "owner"),  # the node's identity: node admin and auditors only
        ("Handle", "", "no-such-session"),
        ("Bearer", "", "idn1.0123456789abcdef.wrong"),
        ("Digest", "", "x"),
    ],
)
async def test_wrong_credentials_are_403(client, seeded, scheme, user, secret):
    secret = seeded.tokens.get(secret, secret)
    header = {
        "Basic": lambda: basic(user, secret),
        "Handle": lambda: session(secret),
        "Bearer": lambda: bearer(secret),
        "Digest": lambda: {"Authorization": f"Digest {secret}"},
    }[scheme]()
    for method in ("GET", "PUT"):
        status, answer, _ = await fetch(client, method, f"/api/handles/{PRODUCT}", header, [URL_VALUE])
        assert (status, answer["responseCode"]) == (403, 403), answer
    assert await indexes_of(client, PRODUCT, bearer(seeded.tokens["owner"])) == [1, 2, 3, 4, 100]


async def test_a_revoked_token_is_refused(client, seeded, who):
    registry = seeded.registry
    admin = seeded.principals["admin"]
    issued = await registry.create_token(admin, "enterprise", seeded.owner.credit_code, "to revoke")
    status, _, _ = await fetch(client, "PUT", "/api/handles/88.118.8/R", bearer(issued.token), [URL_VALUE])
    assert status == 201
    _, opened, _ = await fetch(client, "POST", "/api/sessions", basic(OWNER_ID, issued.token))
    await registry.revoke_token(admin, issued.token_id)
    for headers in (bearer(issued.token), basic(OWNER_ID, issued.token), session(opened["sessionId"])):
        status, answer, _ = await fetch(client, "PUT", "/api/handles/88.118.8/R", headers, [NAME_VALUE])
        assert (status, answer["responseCode"]) == (403, 403)
    assert await indexes_of(client, "88.118.8/R") == [1]


# -- sessions ------------------------------------------------------------------------------------


async def test_sessions(client, who):
    status, answer, _ = await fetch(client, "POST", "/api/sessions", who["owner-basic"])
    assert status == 201 and answer["authenticated"] is True and answer["expires"].endswith("Z")
    sid = answer["sessionId"]
    status, info, _ = await fetch(client, "GET", "/api/sessions/this", session(sid))
    assert (status, info["sessionId"], info["expires"]) == (200, sid, answer["expires"])
    assert await indexes_of(client, PRODUCT, session(sid)) == [1, 2, 3, 4, 100]
    status, _, _ = await fetch(client, "PUT", "/api/handles/88.118.8/S", session(sid), [URL_VALUE])
    assert status == 201
    status, answer, _ = await fetch(client, "DELETE", "/api/sessions/this", session(sid))
    assert (status, answer["responseCode"]) == (200, 1)
    for method, path in (("GET", "/api/sessions/this"), ("PUT", "/api/handles/88.118.8/S")):
        status, answer, _ = await fetch(client, method, path, session(sid), [NAME_VALUE])
        assert (status, answer["responseCode"]) == (403, 403)
    status, answer, _ = await fetch(client, "DELETE", "/api/sessions/this", session(sid))
    assert status == 403


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/api/sessions", "anonymous"),
        ("GET", "/api/sessions/this", "anonymous"),
        ("GET", "/api/sessions/this", "owner"),
    ],
)
async def test_sessions_need_credentials(client, who, method, path, headers):
    status, answer, reply_headers = await fetch(client, method, path, who[headers])
    assert (status, answer["responseCode"]) == (401, 402)
    assert "WWW-Authenticate" in reply_headers


async def test_a_bearer_session_of_the_stranger_cannot_write_the_owners_prefix(client, who):
    _, answer, _ = await fetch(client, "POST", "/api/sessions", who["stranger"])
    status, answer, _ = await fetch(client, "PUT", f"/api/handles/{PRODUCT}", session(answer["sessionId"]), [URL_VALUE])
    assert (status, answer["responseCode"]) == (403, 401)


# -- listing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "prefix", "status", "code"),
    [
        ("anonymous", "88.118.8", 401, 402),
        ("stranger", "88.118.8", 403, 401),
        ("owner", "88.118.8", 200, 1),
        ("owner-basic", "88.118.8", 200, 1),
        ("auditor", "88.118.8", 200, 1),
        ("admin", "88.118.8", 200, 1),
        ("owner", "88.118.9", 403, 401),
        ("stranger", "88.118.9", 200, 1),
    ],
)
async def test_list_who_may(client, who, user, prefix, status, code):
    got, answer, _ = await fetch(client, "GET", f"/api/handles?prefix={prefix}", who[user])
    assert (got, answer["responseCode"]) == (status, code)


async def test_list_pages(client, who):
    for n in range(5):
        await fetch(client, "PUT", f"/api/handles/88.118.8/P{n}", who["owner"], [URL_VALUE])
    everything = ["88.118.8/JXDY2106023", *(f"88.118.8/P{n}" for n in range(5)), "88.118.8/SECRET"]
    _, answer, _ = await fetch(client, "GET", "/api/handles?prefix=88.118.8", who["owner"])
    assert answer == {"responseCode": 1, "prefix": "88.118.8", "totalCount": 7, "handles": everything}
    _, answer, _ = await fetch(client, "GET", "/api/handles?prefix=88.118.8&pageSize=0", who["owner"])
    assert (answer["totalCount"], answer["handles"]) == (7, [])
    pages = []
    for page in range(4):
        _, answer, _ = await fetch(client, "GET", f"/api/handles?prefix=88.118.8&page={page}&pageSize=2", who["owner"])
        assert answer["totalCount"] == 7
        pages.append(answer["handles"])
    assert pages == [everything[0:2], everything[2:4], everything[4:6], everything[6:]]
    _, answer, _ = await fetch(client, "GET", "/api/handles?prefix=88.118.8&page=9&pageSize=2", who["owner"])
    assert answer["handles"] == []
    _, answer, _ = await fetch(client, "GET", "/api/handles?prefix=0.NA&pageSize=5", who["admin"])
    assert answer["handles"] == ["0.na/88.118.8", "0.na/88.118.9"] and answer["totalCount"] == 2


@pytest.mark.parametrize(
    "query", ["", "prefix=", "prefix=88.118.8&page=-1", "prefix=88.118.8&pageSize=x", "prefix=a/b"]
)
async def test_list_bad_queries(client, who, query):
    status, answer, _ = await fetch(client, "GET", f"/api/handles?{query}", who["admin"])
    assert status == 400 and answer["responseCode"] in (4, 102)


# -- bad input changes nothing -----------------------------------------------------------------------

BAD_BODIES = [
    ("{not json", 4),
    ("", 4),
    ("[]", 202),
    ('"text"', 202),
    ("42", 202),
    ('{"values": "x"}', 202),
    ('{"values": [], "extra": 1}', 202),
    ('{"handle": "88.118.8/OTHER", "values": [{"index": 1, "type": "URL", "data": "x"}]}', 202),
    ('[{"index": 1, "type": "URL", "data": "x", "colour": "red"}]', 202),
    ('[{"index": 1, "type": "URL", "data": {"format": "string", "value": "x", "extra": 1}}]', 202),
    ('[{"index": "one", "type": "URL", "data": "x"}]', 202),
    ('[{"index": true, "type": "URL", "data": "x"}]', 202),
    ('[{"index": 1, "type": 5, "data": "x"}]', 202),
    ('[{"index": 1, "type": "URL"}]', 202),
    ('[{"index": 1, "type": "URL", "data": 5}]', 202),
    ('[{"index": 1, "type": "URL", "data": "x", "ttl": "long"}]', 202),
    ('[{"index": 1, "type": "URL", "data": {"format": "base64", "value": "!!"}}]', 202),
    ('[{"index": 1, "type": "URL", "data": "x"}, {"index": 1, "type": "URL", "data": "y"}]', 202),
    ('[{"index": 1, "type": "HS_ADMIN", "data": {"format": "admin", "value": {"handle": 3}}}]', 202),
    ("[" * 100000 + "]" * 100000, 4),
]


@pytest.mark.parametrize(("raw", "code"), BAD_BODIES)
async def test_bad_bodies_change_nothing(client, who, seeded, raw, code):
    for path in (f"/api/handles/{PRODUCT}", f"/api/handles/{PRODUCT}?index=1", "/api/handles/88.118.8/NEW2"):
        status, answer, _ = await fetch(client, "PUT", path, who["owner"], raw=raw.encode())
        assert (status, answer["responseCode"]) == (400, code), (path, answer)
    assert seeded.registry.get_record(seeded.principals["admin"], PRODUCT).values == seeded.product
    status, _, _ = await fetch(client, "GET", "/api/handles/88.118.8/NEW2")
    assert status == 404


@pytest.mark.parametrize("query", ["index=2", "index=1&index=2&index=3", "index=various&index=1", "overwrite=perhaps"])
async def test_index_mismatch_and_bad_parameters_change_nothing(client, who, seeded, query):
    status, answer, _ = await fetch(client, "PUT", f"/api/handles/{PRODUCT}?{query}", who["owner"], [URL_VALUE])
    assert status == 400 and answer["responseCode"] in (4, 202)
    assert seeded.registry.get_record(seeded.principals["admin"], PRODUCT).values == seeded.product


async def test_oversized_body_is_413_and_changes_nothing(client, who, seeded):
    raw = json.dumps([{"index": 1, "type": "URL", "data": "x" * (MAX_BODY_BYTES + 10)}]).encode()
    status, answer, _ = await fetch(client, "PUT", f"/api/handles/{PRODUCT}", who["owner"], raw=raw)
    assert (status, answer["responseCode"]) == (413, 4)
    assert seeded.registry.get_record(seeded.principals["admin"], PRODUCT).values == seeded.product


async def test_concurrent_puts_leave_one_consistent_record(client, who, seeded):
    bodies = [
        [{"index": 1, "type": "URL", "data": f"https://example.com/{n}"}, {"index": 2 + n, "type": "N", "data": str(n)}]
        for n in range(8)
    ]
    replies = await asyncio.gather(
        *(fetch(client, "PUT", "/api/handles/88.118.8/RACE", who["owner"], body) for body in bodies)
    )
    statuses = sorted(status for status, _, _ in replies)
    assert statuses == [200] * 7 + [201]
    values = seeded.registry.get_record(seeded.principals["admin"], "88.118.8/RACE").values
    (n,) = [n for n, body in enumerate(bodies) if [v.index for v in values] == [1, 2 + n]]
    assert values[0].text == f"https://example.com/{n}" and values[1].text == str(n)
    partial = await asyncio.gather(
        *(
            fetch(
                client,
                "PUT",
                f"/api/handles/88.118.8/RACE?index={20 + k}",
                who["owner"],
                [{"index": 20 + k, "type": "K", "data": str(k)}],
            )
            for k in range(8)
        )
    )
    assert all(status == 200 for status, _, _ in partial)
    assert [v.index for v in seeded.registry.get_record(seeded.principals["admin"], "88.118.8/RACE").values] == [
        1, 2 + n, *range(20, 28)
    ]  # fmt: skip


def test_openapi_paths_name_every_route_and_status():
    assert set(OPENAPI_PATHS) == {"/api/handles/{handle}", "/api/handles", "/api/sessions", "/api/sessions/this"}
    assert set(OPENAPI_PATHS["/api/handles/{handle}"]) == {"get", "put", "delete"}
    put = OPENAPI_PATHS["/api/handles/{handle}"]["put"]["responses"]
    assert {"200", "201", "400", "401", "403", "404", "409", "413"} <= set(put)
